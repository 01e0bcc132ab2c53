import NetlinkPush
import Prometheus

/// The module's counters in the Prometheus text exposition format: what
/// `nlpush exporter` serves at `/metrics` and `nlpush stats --prometheus` prints.
///
/// The values are read from the kernel (`GET_STATS`) at each scrape, so they are
/// rendered from a registry made for that scrape: a counter shows exactly the kernel's
/// count, and drops to 0 when the module is reloaded (Prometheus' `rate()` and
/// `increase()` take that as a counter reset; `nlpush_info`'s `epoch` label tells a
/// reload apart). Names follow Prometheus' conventions: `nlpush_` + what, counters end
/// in `_total`.
enum Exposition {
    /// The content type of the text format, version 0.0.4.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// A whole metric name and its `# HELP` text.
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The exposition of `stats`, or of a module that did not answer (`nil`): then only
    /// `nlpush_up 0`.
    static func render(_ stats: Stats?) -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        registry.makeGauge(
            descriptor: descriptor(
                "nlpush_up", "1 when the nlpush module answered GET_STATS at this scrape, 0 when it is not loaded.")
        ).set(to: stats == nil ? 0 : 1)
        if let stats {
            registry.makeGauge(
                descriptor: descriptor(
                    "nlpush_info",
                    "Always 1; the label epoch is the module load the other values belong to (new at every load)."),
                labels: [("epoch", String(stats.epoch, radix: 16))]
            ).set(to: 1)
            for f in StatsField.all {
                let d = descriptor(f.metricName, f.help)
                switch f.kind {
                case .counter: registry.makeCounter(descriptor: d).increment(by: Int64(clamping: f.value(stats)))
                case .gauge: registry.makeGauge(descriptor: d).set(to: Double(f.value(stats)))
                }
            }
        }
        return registry.emitToBuffer()
    }
}
