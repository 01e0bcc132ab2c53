import Foundation
import Metrics
import MetricsTestKit
import Testing
@testable import NetlinkPush

/// A subscription core (real control socket and eventfd on the host, no reader thread)
/// whose metrics go to `metrics`: the test plays the reader through ``SubscriptionCore/yield(_:)``.
private func makeCore(
    _ name: String, metrics: TestMetrics, options: SubscriptionOptions = .init(),
    channelMetrics: MetricsOptions = .init()
) throws -> (Subscription, SubscriptionCore) {
    try withMetricsFactory(metrics) {
        let (stream, continuation) = AsyncStream<EventBatch>.makeStream()
        let core = SubscriptionCore(
            name: name, options: options, logger: NetlinkPushChannel.silentLogger, control: try ControlConnection(),
            wake: try EventFD(), family: FamilyInfo(id: 0x7ff0, version: 2, eventsGroup: 1),
            continuation: continuation, metrics: channelMetrics)
        continuation.onTermination = { _ in core.stop() }
        return (Subscription(core: core, stream: stream), core)
    }
}

/// Hands `items` over as the reader does: reserved in the buffer, then one stream element.
private func handOver(_ core: SubscriptionCore, _ items: [SubscriptionItem]) {
    for item in items {
        if case .event(let e) = item {
            #expect(core.reserve(bytes: e.payload.count))
        } else {
            core.reserveNotice()
        }
    }
    _ = core.yield(EventBatch(items: items))
}

@Suite("metrics: names, dimensions and values (swift-metrics TestMetrics, no kernel needed)")
struct MetricsTests {
    @Test("received, lost, recovered, reconnects and the buffer gauges follow what the reader hands over")
    func countersAndGauges() async throws {
        let metrics = TestMetrics()
        let (sub, core) = try makeCore("m1", metrics: metrics)
        defer { core.readerDidExit() }
        let dims = [("subscription", "m1")]
        handOver(core, (1...5).map { .event(Event(seq: $0, payload: [1, 2, 3])) })
        handOver(core, [.lost(6...9), .event(Event(seq: 10)), .recovered(count: 2), .disconnected, .reconnected])

        #expect(try metrics.expectCounter("nlpush_events_received_total", dims).totalValue == 6)
        #expect(try metrics.expectCounter("nlpush_events_lost_total", dims).totalValue == 4)
        #expect(try metrics.expectCounter("nlpush_events_recovered_total", dims).totalValue == 2)
        #expect(try metrics.expectCounter("nlpush_disconnects_total", dims).totalValue == 1)
        #expect(try metrics.expectCounter("nlpush_reconnects_total", dims).totalValue == 1)
        // 10 items buffered, 15 payload bytes
        #expect(try metrics.expectGauge("nlpush_subscription_buffer_depth", dims).lastValue == 10)
        #expect(try metrics.expectGauge("nlpush_subscription_buffer_bytes", dims).lastValue == 15)

        var n = 0
        for try await _ in sub.events {
            n += 1
            if n == 6 { break }  // the whole first batch left the buffer when the second is taken
        }
        #expect(try metrics.expectGauge("nlpush_subscription_buffer_depth", dims).lastValue == 5)
        core.readerDidExit()
        #expect(try metrics.expectGauge("nlpush_subscription_buffer_depth", dims).lastValue == 0)
        #expect(try metrics.expectGauge("nlpush_subscription_buffer_bytes", dims).lastValue == 0)
    }

    @Test("a full stream buffer counts as an overrun with cause=buffer")
    func bufferOverrun() throws {
        let metrics = TestMetrics()
        let (sub, core) = try makeCore("m2", metrics: metrics, options: SubscriptionOptions(bufferCapacity: 2))
        defer { core.readerDidExit() }
        #expect(core.reserve(bytes: 1))
        #expect(core.reserve(bytes: 1))
        #expect(!core.reserve(bytes: 1))
        #expect(!core.reserve(bytes: 1))  // still waiting for room: the same overrun
        let c = try metrics.expectCounter("nlpush_overruns_total", [("subscription", "m2"), ("cause", "buffer")])
        #expect(c.totalValue == 1)
        core.metrics.socketOverrun()
        #expect(
            try metrics.expectCounter("nlpush_overruns_total", [("subscription", "m2"), ("cause", "socket")])
                .totalValue == 1)
        withExtendedLifetime(sub) {}
    }

    @Test("an ack records its latency, also when the kernel refuses it")
    func ackLatency() async throws {
        let metrics = TestMetrics()
        let (sub, core) = try makeCore("m3", metrics: metrics)
        defer { core.readerDidExit() }
        // the host kernel has no family 0x7ff0: the ack is refused at once
        await #expect(throws: NetlinkPushError.self) { try await sub.ack(Event(seq: 1)) }
        let timer = try metrics.expectTimer("nlpush_ack_latency_seconds", [("subscription", "m3")])
        #expect(timer.values.count == 1)
        #expect(timer.values.allSatisfy { $0 > 0 && $0 < 10_000_000_000 })
    }

    @Test("the label prefix applies to every name; disabled metrics record nothing")
    func prefixAndDisabled() throws {
        let metrics = TestMetrics()
        // (a stream nobody holds any more takes nothing: the subscriptions are kept)
        let (subA, a) = try makeCore("p", metrics: metrics, channelMetrics: MetricsOptions(labelPrefix: "host_nlpush_"))
        handOver(a, [.event(Event(seq: 1))])
        a.readerDidExit()
        withExtendedLifetime(subA) {}
        #expect(try metrics.expectCounter("host_nlpush_events_received_total", [("subscription", "p")]).totalValue == 1)
        #expect(metrics.counters(label: "nlpush_events_received_total").isEmpty)

        // the subscription's own options win over the channel's
        let (subB, b) = try makeCore(
            "off", metrics: metrics, options: SubscriptionOptions(metrics: .disabled),
            channelMetrics: MetricsOptions(labelPrefix: "host_nlpush_"))
        handOver(b, [.event(Event(seq: 1)), .lost(2...3)])
        b.readerDidExit()
        withExtendedLifetime(subB) {}
        for counter in metrics.counters {
            #expect(!counter.dimensions.contains { $0 == ("subscription", "off") }, "\(counter.label)")
        }
        #expect(metrics.recorders.allSatisfy { !$0.dimensions.contains { $0 == ("subscription", "off") } })
    }
}
