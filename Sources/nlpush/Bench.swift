#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import NetlinkPush

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure end-to-end throughput, loss and latency.",
        discussion: """
            Opens N subscriptions, has the kernel publish COUNT events of SIZE bytes \
            (through NLPUSH_CMD_EMIT, or nlpush_test's debugfs 'emit' file with \
            --producer test), and reports events/s per subscriber, loss, recovery and \
            latency percentiles (publish in the kernel to reception in the reader thread).
            """
    )

    enum Producer: String, ExpressibleByArgument, CaseIterable, Sendable {
        case emit, test
    }

    @OptionGroup var common: CommonOptions

    @Option(name: .shortAndLong, help: "Payload size, e.g. 64, 1k, 16k (at most 60k).")
    var size = ByteCount(64)

    @Option(name: .long, help: "Subscriptions receiving the burst.")
    var subscribers = 1

    @Option(name: .shortAndLong, help: "Events to publish.")
    var count = 10000

    @Option(help: "Who publishes: emit (NLPUSH_CMD_EMIT) or test (nlpush_test.ko's debugfs emit).")
    var producer = Producer.emit

    @Flag(help: "Acknowledge every event (measures the ack path too): one message per batch read or fewer, as 'monitor --ack' does.")
    var ack = false

    @Flag(help: "With --ack: one ack message per event.")
    var ackEach = false

    @Option(help: "Kernel receive buffer per subscription (e.g. 4M).")
    var rcvbuf: ByteCount?

    @Flag(help: "Do not replay lost events (measure raw loss).")
    var noRecovery = false

    @Flag(help: "Also check every payload against nlpush_test's pattern (--producer test only; costs consumer time).")
    var verify = false

    @Option(help: "Give up waiting for the events after this long (default 120s).", transform: DurationArgument.parse)
    var timeout = DurationArgument.seconds(120)

    func validate() throws {
        guard size.value <= 61440 else { throw ValidationError("--size must be at most 61440 bytes") }
        guard (1...1024).contains(subscribers) else { throw ValidationError("--subscribers must be 1...1024") }
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be 1...1000000") }
        if verify && producer != .test { throw ValidationError("--verify needs --producer test") }
        if ackEach && !ack { throw ValidationError("--ack-each goes with --ack") }
    }

    func run() async throws {
        Out.setUp()
        try await guarded("bench") {
            let channel = try NetlinkPushChannel(logger: common.logger("nlpush"))
            let (subs, _) = try openSubscriptions(
                channel, count: subscribers, prefix: "bench", rcvbuf: rcvbuf, recovery: !noRecovery)
            let stopper = Stopper(subs)
            stopper.installSignalHandlers()
            let config = Consumer(
                format: EventFormat(json: false, preview: 0), quiet: true, ack: ack, ackEach: ackEach,
                count: UInt64(count), verify: verify, filter: try TypeFilter([]))
            let started = monotonicNow()
            let produce = Task.detached { [producer, size, count] () throws -> UInt64 in
                let t0 = monotonicNow()
                switch producer {
                case .emit:
                    _ = try await channel.emit(type: 0xbe, payload: Pattern.bytes(size.value), count: UInt32(count))
                case .test:
                    try TestModule.emit(count: count, size: size.value, type: 0xbe)
                }
                return monotonicNow() - t0
            }
            stopper.stop(after: timeout)
            let summaries = await config.consumeAll(subs)
            stopper.stop()
            let produceNs = try await produce.value
            report(summaries, startedNs: started, produceNs: produceNs)
        }
    }

    private func report(_ summaries: [SubscriberSummary], startedNs: UInt64, produceNs: UInt64) {
        var latency = Histogram()
        var received: UInt64 = 0
        var lost: UInt64 = 0
        var recovered: UInt64 = 0
        var recoveredDelayMaxNs: UInt64 = 0
        var corrupt: UInt64 = 0
        var acked: UInt64 = 0
        var ackErrors: UInt64 = 0
        // From the publication of the first event (as the C listeners measure), else
        // from the start of the producer.
        var firstNs = UInt64.max
        var lastNs = startedNs
        for s in summaries {
            if s.firstPublishedNs > 0 { firstNs = min(firstNs, s.firstPublishedNs) }
            received += s.received
            lost += s.lost
            recovered += s.recovered
            recoveredDelayMaxNs = max(recoveredDelayMaxNs, s.recoveredDelayMaxNs)
            corrupt += s.corrupt
            acked += s.acked
            ackErrors += s.ackErrors
            lastNs = max(lastNs, s.lastNs)
        }
        for s in summaries { latency.merge(s.latency) }
        let expected = UInt64(count) * UInt64(subscribers)
        let missing = expected > received + lost ? expected - received - lost : 0
        if firstNs == .max || firstNs >= lastNs { firstNs = startedNs }
        let seconds = Double(lastNs - firstNs) / 1e9
        let perSub = Double(count) / seconds
        if common.json {
            var j = JSONLine()
            j.add("kind", "bench")
            j.add("producer", producer.rawValue)
            j.add("size", size.value)
            j.add("subscribers", subscribers)
            j.add("count", count)
            j.add("ack", ack)
            j.add("ack_mode", ack ? (ackEach ? "each" : "batch") : "none")
            j.add("acks", acked)
            j.add("ack_errors", ackErrors)
            j.add("received", received)
            j.add("lost", lost)
            j.add("missing", missing)
            j.add("recovered", recovered)
            j.add("corrupt", corrupt)
            j.add("recovered_delay_max_ns", recoveredDelayMaxNs)
            j.add("seconds", seconds, decimals: 6)
            j.add("events_per_second", perSub)
            j.add("deliveries_per_second", Double(received) / seconds)
            j.add("produce_ns", produceNs)
            j.add("latency_p50_ns", latency.percentile(50))
            j.add("latency_p99_ns", latency.percentile(99))
            j.add("latency_max_ns", latency.max)
            Out.line(j.text)
            return
        }
        Out.line(
            "bench: \(count) events x \(size.value) B, \(subscribers) subscriber(s), producer \(producer.rawValue)\(ack ? (ackEach ? ", one ack per event" : ", acked per batch") : "")"
        )
        Out.line(
            String(
                format: "  throughput: %.0f events/s per subscriber, %.0f deliveries/s in all (%.3f s)",
                perSub, Double(received) / seconds, seconds))
        Out.line("  received \(received) of \(expected), lost \(lost), missing \(missing), recovered by replay \(recovered)\(corrupt > 0 ? ", CORRUPT \(corrupt)" : "")")
        Out.line(
            "  latency: p50 \(Format.duration(ns: latency.percentile(50))), p99 \(Format.duration(ns: latency.percentile(99))), max \(Format.duration(ns: latency.max))"
        )
        Out.line("  producer: \(Format.duration(ns: produceNs)) for the whole burst")
    }
}

/// nlpush_test.ko's debugfs files.
enum TestModule {
    static let dir = "/sys/kernel/debug/nlpush_test"

    static func emit(count: Int, size: Int, type: UInt32) throws {
        try write("\(dir)/emit", "\(count) \(size) \(type)")
    }

    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else {
            throw NetlinkPushError.invalidArgument(
                reason: "cannot open \(path): \(String(cString: strerror(errno))) (is nlpush_test.ko loaded and debugfs mounted?)")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else {
            throw NetlinkPushError.rejected(operation: .emit, errno: errno, extack: "nlpush_test \(path)")
        }
    }
}
