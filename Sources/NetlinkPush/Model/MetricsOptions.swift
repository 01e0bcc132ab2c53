/// Whether and under which names the library reports metrics through swift-metrics.
///
/// The library records its metrics with the factory swift-metrics gives it when the
/// channel or subscription is created: the one the application bootstrapped
/// (`MetricsSystem.bootstrap`), or one bound with `withMetricsFactory` around the
/// creation (tests do this). With neither, nothing is recorded. It never bootstraps
/// the metrics system itself. The names follow Prometheus' conventions
/// (`labelPrefix` + name; counters end in `_total`, durations in `_seconds`):
///
/// | name | kind | dimensions | what |
/// |---|---|---|---|
/// | `events_received_total` | counter | `subscription` | events handed to the subscription's buffer (live or replayed) |
/// | `events_lost_total` | counter | `subscription` | events reported in ``SubscriptionItem/lost(_:)`` ranges |
/// | `events_recovered_total` | counter | `subscription` | events a recovery replay delivered (``SubscriptionItem/recovered(count:)``) |
/// | `overruns_total` | counter | `subscription`, `cause` | `cause="socket"`: the event socket overran (`ENOBUFS`); `cause="buffer"`: the consumer let the stream buffer fill up |
/// | `disconnects_total` | counter | `subscription` | the module went away (``SubscriptionItem/disconnected``) |
/// | `reconnects_total` | counter | `subscription` | the subscription registered again (``SubscriptionItem/reconnected``) |
/// | `subscription_buffer_depth` | gauge | `subscription` | items in the stream buffer, not yet consumed (0 once the subscription stopped) |
/// | `subscription_buffer_bytes` | gauge | `subscription` | payload bytes in the stream buffer |
/// | `ack_latency_seconds` | timer | `subscription` | ``Subscription/ack(_:status:reply:)``, from the call to the kernel's answer |
/// | `request_latency_seconds` | timer | none | ``NetlinkPushChannel/request(type:payload:timeout:)``, from the call to its end, failures included (a timed-out request records its timeout) |
///
/// Counters are updated once per batch the reader thread hands over, not per event.
public struct MetricsOptions: Sendable, Hashable {
    /// Record metrics. Default `true`.
    public var isEnabled: Bool
    /// Put before every metric name. Default `"nlpush_"`, which gives for example
    /// `nlpush_events_received_total`.
    public var labelPrefix: String

    /// Creates options; every parameter defaults to the documented value.
    public init(isEnabled: Bool = true, labelPrefix: String = "nlpush_") {
        self.isEnabled = isEnabled
        self.labelPrefix = labelPrefix
    }

    /// No metrics.
    public static let disabled = MetricsOptions(isEnabled: false)
}
