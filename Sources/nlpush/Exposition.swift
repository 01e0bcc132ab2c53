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

    private struct Metric: Sendable {
        var name: String
        var help: String
        var value: @Sendable (Stats) -> UInt64

        var descriptor: MetricNameDescriptor { Exposition.descriptor(name, help) }
    }

    /// A whole metric name and its `# HELP` text.
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Counters of `GET_STATS`: they only grow within one load of the module.
    private static let counters: [Metric] = [
        .init(name: "nlpush_published_total", help: "Events published (each took one sequence number).") { $0.published },
        .init(name: "nlpush_delivered_total", help: "Events the multicast reached at least one listener with.") {
            $0.delivered
        },
        .init(name: "nlpush_no_listeners_total", help: "Events published while no socket listened.") { $0.noListeners },
        .init(name: "nlpush_delivery_errors_total", help: "Events whose multicast failed for some listener (overrun, no memory).") {
            $0.deliveryErrors
        },
        .init(name: "nlpush_publish_failures_total", help: "Publications refused before a sequence number was assigned.") {
            $0.publishFailures
        },
        .init(name: "nlpush_txq_drops_total", help: "Events not multicast because the transmit queue was full (still in the replay ring).") {
            $0.txqDrops
        },
        .init(name: "nlpush_acks_total", help: "Events acknowledged and requests answered (a range ack counts each event).") { $0.acks },
        .init(name: "nlpush_acks_rejected_total", help: "Acknowledgements the kernel rejected.") { $0.acksRejected },
        .init(name: "nlpush_requests_total", help: "Requests published (events that want a reply).") { $0.requests },
        .init(name: "nlpush_replies_total", help: "Requests answered by a responder.") { $0.replies },
        .init(name: "nlpush_request_timeouts_total", help: "Requests that timed out.") { $0.requestTimeouts },
        .init(name: "nlpush_requests_failed_total", help: "Requests that ended unanswered for another reason than a timeout (no responder left, unload).") {
            $0.requestsFailed
        },
        .init(name: "nlpush_replies_undelivered_total", help: "REPLY messages the kernel could not deliver to the requesting socket.") {
            $0.repliesUndelivered
        },
        .init(name: "nlpush_replayed_total", help: "Events sent by replay dumps.") { $0.replayed },
    ]

    /// Gauges of `GET_STATS`: levels and limits.
    private static let gauges: [Metric] = [
        .init(name: "nlpush_subscribers", help: "Registered subscribers.") { UInt64($0.subscribers) },
        .init(name: "nlpush_responders", help: "Subscribers registered as responders.") { UInt64($0.responders) },
        .init(name: "nlpush_requests_pending", help: "Requests waiting for an answer.") { UInt64($0.requestsPending) },
        .init(name: "nlpush_ring_events", help: "Events in the replay ring.") { UInt64($0.ringEvents) },
        .init(name: "nlpush_ring_bytes", help: "Bytes in the replay ring.") { $0.ringBytes },
        .init(name: "nlpush_ring_max_events", help: "Capacity of the replay ring in events (module parameter ring_events).") {
            UInt64($0.ringMaxEvents)
        },
        .init(name: "nlpush_ring_max_bytes", help: "Capacity of the replay ring in bytes (module parameter ring_bytes).") {
            $0.ringMaxBytes
        },
        .init(name: "nlpush_oldest_seq", help: "Oldest sequence number the replay ring holds.") { $0.oldestSeq },
        .init(name: "nlpush_next_seq", help: "Sequence number the next event gets.") { $0.nextSeq },
    ]

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
            for m in counters {
                registry.makeCounter(descriptor: m.descriptor).increment(by: Int64(clamping: m.value(stats)))
            }
            for m in gauges {
                registry.makeGauge(descriptor: m.descriptor).set(to: Double(m.value(stats)))
            }
        }
        return registry.emitToBuffer()
    }
}
