internal import CoreMetrics

/// The metrics of one subscription (see ``MetricsOptions`` for the names). Made once,
/// when the subscription starts, from `MetricsSystem.factory` (the bootstrapped one, or
/// a task-local one bound with `withMetricsFactory` around `subscribe`); every method
/// is a no-op when metrics are disabled.
struct SubscriptionMetrics: Sendable {
    private struct Handles: Sendable {
        let received: Counter
        let lost: Counter
        let recovered: Counter
        let socketOverruns: Counter
        let bufferOverruns: Counter
        let disconnects: Counter
        let reconnects: Counter
        let bufferDepth: Gauge
        let bufferBytes: Gauge
        let ackLatency: CoreMetrics.Timer
    }

    private let handles: Handles?

    /// Whether anything is recorded: callers skip gathering the values otherwise.
    var isEnabled: Bool { handles != nil }

    init(subscription name: String, options: MetricsOptions) {
        guard options.isEnabled else {
            handles = nil
            return
        }
        let p = options.labelPrefix
        let dims = [("subscription", name)]
        handles = Handles(
            received: Counter(label: p + "events_received_total", dimensions: dims),
            lost: Counter(label: p + "events_lost_total", dimensions: dims),
            recovered: Counter(label: p + "events_recovered_total", dimensions: dims),
            socketOverruns: Counter(label: p + "overruns_total", dimensions: dims + [("cause", "socket")]),
            bufferOverruns: Counter(label: p + "overruns_total", dimensions: dims + [("cause", "buffer")]),
            disconnects: Counter(label: p + "disconnects_total", dimensions: dims),
            reconnects: Counter(label: p + "reconnects_total", dimensions: dims),
            bufferDepth: Gauge(label: p + "subscription_buffer_depth", dimensions: dims),
            bufferBytes: Gauge(label: p + "subscription_buffer_bytes", dimensions: dims),
            ackLatency: CoreMetrics.Timer(label: p + "ack_latency_seconds", dimensions: dims))
    }

    /// The reader thread handed `batch` to the consumer (one stream element).
    func handedOver(_ batch: EventBatch) {
        guard let h = handles else { return }
        var lost: UInt64 = 0
        var recovered = 0
        for notice in batch.notices {
            switch notice {
            case .event: break  // events are not notices
            case .lost(let range): lost &+= range.upperBound &- range.lowerBound &+ 1
            case .recovered(let count): recovered += count
            case .disconnected: h.disconnects.increment()
            case .reconnected: h.reconnects.increment()
            case .reloaded: break
            }
        }
        let events = batch.count - batch.notices.count
        if events > 0 { h.received.increment(by: Int64(events)) }
        if lost > 0 { h.lost.increment(by: Int64(clamping: lost)) }
        if recovered > 0 { h.recovered.increment(by: Int64(recovered)) }
    }

    /// The event socket reported `ENOBUFS`.
    func socketOverrun() { handles?.socketOverruns.increment() }

    /// The stream buffer filled up: the reader stops reading its socket until the consumer made room.
    func bufferOverrun() { handles?.bufferOverruns.increment() }

    /// What the stream buffer holds now (0, 0 once the subscription stopped).
    func buffer(items: Int, bytes: Int) {
        guard let h = handles else { return }
        h.bufferDepth.record(items)
        h.bufferBytes.record(bytes)
    }

    /// An ack (or answer) that started at `start` ended.
    func ackEnded(startedAt start: ContinuousClock.Instant) {
        handles?.ackLatency.recordNanoseconds(nanoseconds(since: start))
    }
}

/// The metrics of a channel (see ``MetricsOptions``); subscriptions take the channel's
/// ``MetricsOptions`` unless their ``SubscriptionOptions/metrics`` says otherwise.
struct ChannelMetrics: Sendable {
    let options: MetricsOptions
    private let requestLatency: CoreMetrics.Timer?

    init(_ options: MetricsOptions) {
        self.options = options
        requestLatency =
            options.isEnabled ? CoreMetrics.Timer(label: options.labelPrefix + "request_latency_seconds") : nil
    }

    /// A request that started at `start` ended (answered, failed or timed out).
    func requestEnded(startedAt start: ContinuousClock.Instant) {
        requestLatency?.recordNanoseconds(nanoseconds(since: start))
    }
}

private func nanoseconds(since start: ContinuousClock.Instant) -> Int64 {
    let d = ContinuousClock.now - start
    return d.components.seconds &* 1_000_000_000 &+ d.components.attoseconds / 1_000_000_000
}
