import ArgumentParser
import Dispatch
import Foundation
import NetlinkPush
import Synchronization

/// What one subscription saw, for the summary.
struct SubscriberSummary: Sendable {
    var index: Int
    var name: String
    var received: UInt64 = 0
    var lost: UInt64 = 0
    var recovered: UInt64 = 0
    /// Longest time from publication to reception of an event recovered by replay.
    var recoveredDelayMaxNs: UInt64 = 0
    var acked: UInt64 = 0
    var ackErrors: UInt64 = 0
    var corrupt: UInt64 = 0
    var latency = Histogram()
    var firstNs: UInt64 = 0
    /// Publication time (kernel `CLOCK_MONOTONIC`) of the first event received.
    var firstPublishedNs: UInt64 = 0
    var lastNs: UInt64 = 0
    var error: String?

    /// Events per second between the first and the last event received (with acks:
    /// until the last ack was taken).
    var rate: Double {
        guard received > 1, lastNs > firstNs else { return .nan }
        return Double(received - 1) / (Double(lastNs - firstNs) / 1e9)
    }
}

struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive events with one or more independent subscriptions.",
        discussion: """
            Each subscription has its own sockets and receives every event. One line per \
            event on stdout (publication time in UTC with microseconds, subscriber, seq, \
            type, size, latency, payload preview; with --json also the raw CLOCK_MONOTONIC \
            timestamp_ns and the epoch); on exit (--count, --duration, Ctrl-C) a summary \
            per subscriber: received, rate, lost, recovered, latency p50/p99. Lost events \
            are always reported, never dropped silently. Banners and notices go to stderr. \
            With --from SEQ it starts with the events the kernel's replay ring still holds \
            from SEQ on (what it no longer holds is reported lost), then goes on live. \
            Without CAP_NET_ADMIN, when the module was loaded with unprivileged_listen=1, \
            it listens without registering (not listed by 'nlpush subscribers', no --ack).
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Independent subscriptions to open in this process (1-1024).")
    var subscribers = 1

    @Option(name: .shortAndLong, help: "Stop once every subscription received (or was told it lost) this many events.")
    var count: UInt64?

    @Option(name: .shortAndLong, help: "Stop after this long, e.g. 30s, 500ms.", transform: DurationArgument.parse)
    var duration: DurationArgument?

    @Option(name: .shortAndLong, help: "Show only events of these types (repeat it, or a comma list: -t 4,5).")
    var type: [String] = []

    @Option(help: "Start with the event SEQ: replay what the kernel's ring still holds from it on, then go on live (resume with the last seq seen + 1).")
    var from: UInt64?

    @Option(help: "With --from: the epoch SEQ belongs to (the 'epoch' of --json events); a reload since is then reported, not mistaken for the same numbers.")
    var epoch: UInt64?

    @Flag(help: "Acknowledge every plain event: once the events read in one go are handled, with one message per run of consecutive sequence numbers (sent while the next events are handled; those handled meanwhile go in the next ack). Requests (reply wanted) are never acked: only a responder ('nlpush respond') answers them.")
    var ack = false

    @Flag(help: "With --ack: one ack message per event, as soon as it is handled.")
    var ackEach = false

    @Flag(name: .shortAndLong, help: "Print only the summary (and loss notices).")
    var quiet = false

    @Option(help: "Subscriber name prefix shown by 'nlpush subscribers'.")
    var name = "monitor"

    @Option(help: "Kernel receive buffer per subscription (e.g. 4M).")
    var rcvbuf: ByteCount?

    @Option(help: "Payload bytes shown per event line.")
    var preview = 16

    @Flag(help: "Check payloads against nlpush_test's pattern (byte i of event s is (s+i)%251).")
    var verify = false

    @Flag(help: "Do not replay lost events from the kernel's ring (report them as lost at once).")
    var noRecovery = false

    func validate() throws {
        guard (1...1024).contains(subscribers) else {
            throw ValidationError("--subscribers must be between 1 and 1024")
        }
        if let duration, duration.nanoseconds == 0 { throw ValidationError("--duration must be positive") }
        _ = try TypeFilter(type)
        if epoch != nil && from == nil { throw ValidationError("--epoch goes with --from SEQ") }
        if count == 0 { throw ValidationError("--count must be at least 1") }
        if ackEach && !ack { throw ValidationError("--ack-each goes with --ack") }
        guard (0...4096).contains(preview) else { throw ValidationError("--preview must be 0...4096") }
    }

    func run() async throws {
        Out.setUp()
        try await guarded("monitor") {
            let channel = try NetlinkPushChannel(logger: common.logger("nlpush"))
            let filter = try TypeFilter(type)
            let (subs, registered) = try openSubscriptions(
                channel, count: subscribers, prefix: name, rcvbuf: rcvbuf, recovery: !noRecovery,
                from: from, epoch: epoch, listenOnlyWithoutPrivilege: !ack)
            if !registered {
                Out.info(
                    "nlpush monitor: no CAP_NET_ADMIN: listening only (the module allows unprivileged_listen); "
                        + "not registered as a subscriber, not acking")
            }
            if !quiet {
                let what = filter.types.isEmpty ? "" : ", types \(filter.types.sorted().map(String.init).joined(separator: ","))"
                let start = from.map { ", from seq \($0)" } ?? ""
                Out.info("monitoring with \(subscribers) subscription(s)\(start)\(what); Ctrl-C to stop")
            }
            let stopper = Stopper(subs)
            stopper.installSignalHandlers()
            if let duration { stopper.stop(after: duration) }
            let started = monotonicNow()
            let config = Consumer(
                format: EventFormat(json: common.json, preview: preview), quiet: quiet, ack: ack, ackEach: ackEach,
                count: count, verify: verify, filter: filter)
            let summaries = await config.consumeAll(subs)
            stopper.stop()
            printSummary(summaries, elapsedNs: monotonicNow() - started, json: common.json)
            if summaries.contains(where: { $0.error != nil }) { throw ExitCode(Exit.ioError) }
        }
    }
}

/// Opens `count` independent subscriptions named PREFIX-PID-INDEX, from the event `from`
/// on when given (the library resumes after the last event seen: `from - 1`).
///
/// With `listenOnlyWithoutPrivilege`, a refused `NLPUSH_CMD_SUBSCRIBE` (no
/// `CAP_NET_ADMIN`) is not an error: the subscriptions then only join the events group,
/// which the module allows with `unprivileged_listen=1` (else that join fails in turn);
/// `registered` tells which it was.
func openSubscriptions(
    _ channel: NetlinkPushChannel, count: Int, prefix: String, rcvbuf: ByteCount?, recovery: Bool,
    from: UInt64? = nil, epoch: UInt64? = nil, listenOnlyWithoutPrivilege: Bool = false
) throws(NetlinkPushError) -> (subscriptions: [Subscription], registered: Bool) {
    var options = SubscriptionOptions()
    if let rcvbuf { options.receiveBufferSize = rcvbuf.value }
    options.recovery = recovery
    var subs: [Subscription] = []
    func open(_ i: Int) throws(NetlinkPushError) -> Subscription {
        let name = "\(prefix)-\(getpid())-\(i)"
        if let from {
            return try channel.subscribe(name: name, from: from > 0 ? from - 1 : 0, epoch: epoch, options: options)
        }
        return try channel.subscribe(name: name, options: options)
    }
    for i in 0..<count {
        do {
            subs.append(try open(i))
        } catch .permissionDenied(.subscribe, _, _) where listenOnlyWithoutPrivilege && options.registerSubscriber {
            options.registerSubscriber = false
            subs.append(try open(i))
        }
    }
    return (subs, options.registerSubscriber)
}

/// Ends every subscription on SIGINT/SIGTERM, on a timer, or when the monitor is done.
final class Stopper: Sendable {
    let subs: [Subscription]
    nonisolated(unsafe) private var sources: [DispatchSourceSignal] = []

    init(_ subs: [Subscription]) { self.subs = subs }

    func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { [self] in stop() }
            src.resume()
            sources.append(src)
        }
    }

    func stop() {
        for s in subs { s.cancel() }
    }

    func stop(after duration: DurationArgument) {
        Task.detached { [self] in
            try? await Task.sleep(for: duration.duration)
            stop()
        }
    }
}

/// Consumes one subscription and prints what it sees.
struct Consumer: Sendable {
    var format: EventFormat
    var quiet: Bool
    var ack: Bool
    /// With `ack`: one ACK per event, as soon as it is handled (else one per batch).
    var ackEach = false
    var count: UInt64?
    var verify: Bool
    var filter: TypeFilter

    private var json: Bool { format.json }

    /// Consumes every subscription concurrently; summaries in subscription order.
    func consumeAll(_ subs: [Subscription]) async -> [SubscriberSummary] {
        await withTaskGroup(of: SubscriberSummary.self) { group in
            for (i, s) in subs.enumerated() {
                group.addTask { await consume(index: i, subscription: s) }
            }
            var all: [SubscriberSummary] = []
            for await r in group { all.append(r) }
            return all.sorted { $0.index < $1.index }
        }
    }

    func consume(index: Int, subscription s: Subscription) async -> SubscriberSummary {
        var sum = SubscriberSummary(index: index, name: s.name)
        // Batches of views: the payloads stay in the batch's buffer (no allocation per
        // event); an owned Event is made only to print one or to ack one on its own.
        // Plain events of the batch in hand, acknowledged together once it is handled.
        // A monitor is no responder: it never touches requests (a plain ack of one is
        // refused, and an answer must come from a responder).
        // A batch's ack is a round trip to the kernel, made off the consumer's path
        // (AckQueue): while one is on its way, the events handled meanwhile collect and
        // go in the next. All are settled before the subscriber finishes.
        let acks = AckQueue()
        // Outlives the senders: the subscription's stream (and the reader, which an
        // ack needs) ends once the iterator is gone.
        var items = s.events.makeAsyncIterator()
        await withDiscardingTaskGroup { senders in
            var toAck: [EventView] = []
            func handOver() {
                guard !toAck.isEmpty else { return }
                if acks.add(toAck) { senders.addTask { await acks.send(on: s) } }
                toAck.removeAll(keepingCapacity: true)
            }
            do {
                batches: while let batch = try await items.nextEventBatch() {
                    for item in batch {
                        guard case .event(let e) = item else {
                            if case .notice(let n) = item { handle(n, index: index, into: &sum) }
                            continue
                        }
                        if filter.admits(e.type) { record(e, into: &sum) }
                        if ack, !e.wantsReply {
                            if ackEach {
                                let o = await AckOutcome(e.seq...e.seq, count: 1) {
                                    () async throws(NetlinkPushError) in try await s.ack(e.event)
                                }
                                account(o, index: index, into: &sum)
                            } else {
                                toAck.append(e)
                            }
                        }
                        if done(sum) { break batches }
                    }
                    handOver()
                    for o in acks.takeOutcomes() { account(o, index: index, into: &sum) }
                }
            } catch {
                sum.error = "\(error)"
                Out.error("subscriber \(index): \(error)")
            }
            handOver()  // --count reached amid a batch: what was handled of it
        }
        withExtendedLifetime(items) {}
        for o in acks.takeOutcomes() { account(o, index: index, into: &sum) }
        if done(sum) { s.cancel() }
        return sum
    }

    /// What one batch's ack came to, accounted by the consumer once it is settled.
    struct AckOutcome: Sendable {
        var seqs: ClosedRange<UInt64>
        var count: Int
        var error: NetlinkPushError?
        /// When the kernel took it (or refused it).
        var settledNs: UInt64

        /// Runs one ack call for `count` events, `seqs` the first to the last.
        init(
            _ seqs: ClosedRange<UInt64>, count: Int, _ call: () async throws(NetlinkPushError) -> Void
        ) async {
            self.seqs = seqs
            self.count = count
            do throws(NetlinkPushError) {
                try await call()
            } catch {
                self.error = error
            }
            settledNs = monotonicNow()
        }

        /// Acknowledges `views`, which is not empty (one message per run of
        /// consecutive sequence numbers).
        init(acking views: [EventView], on s: Subscription) async {
            await self.init((views.first?.seq ?? 0)...(views.last?.seq ?? 0), count: views.count) {
                () async throws(NetlinkPushError) in try await s.ack(views)
            }
        }
    }

    /// A subscriber's batch acks, sent by one task at a time: while one ack is on its
    /// way to the kernel, the events handled meanwhile collect here and go in the next
    /// (one message per run of consecutive sequence numbers), so the consumer never
    /// waits for an ack and a busy subscriber sends fewer, larger ones.
    final class AckQueue: Sendable {
        private struct State {
            var views: [EventView] = []
            var sending = false
            var outcomes: [AckOutcome] = []
        }
        private let state = Mutex(State())

        /// Adds `views`; true when no sender is running and the caller must start one.
        func add(_ views: [EventView]) -> Bool {
            state.withLock { st in
                st.views += views
                if st.sending { return false }
                st.sending = true
                return true
            }
        }

        /// The sender: acks what has collected until nothing is left.
        func send(on s: Subscription) async {
            while true {
                let views: [EventView] = state.withLock { st in
                    let v = st.views
                    st.views = []
                    if v.isEmpty { st.sending = false }
                    return v
                }
                if views.isEmpty { return }
                let o = await AckOutcome(acking: views, on: s)
                state.withLock { $0.outcomes.append(o) }
            }
        }

        /// The outcomes settled since the last call.
        func takeOutcomes() -> [AckOutcome] {
            state.withLock { st in
                let o = st.outcomes
                st.outcomes = []
                return o
            }
        }
    }

    /// Accounts for a settled batch ack: the events are done once the kernel took it.
    private func account(_ o: AckOutcome, index: Int, into sum: inout SubscriberSummary) {
        if let error = o.error {
            sum.ackErrors += 1
            if sum.ackErrors == 1 { Out.error("subscriber \(index): ack of seq \(o.seqs) failed: \(error)") }
        } else {
            sum.acked += UInt64(o.count)
            sum.lastNs = max(sum.lastNs, o.settledNs)
        }
    }

    /// Records and prints one notice (events go to ``record(_:into:)``).
    private func handle(_ item: SubscriptionItem, index: Int, into sum: inout SubscriberSummary) {
        switch item {
        case .event:
            break  // not a notice
        case .lost(let range):
            sum.lost += UInt64(range.count)
            if !done(sum) { Out.lost(range, subscriber: index, json: json) }
        case .recovered(let n):
            if !json && !quiet { Out.info("[\(index)] recovered \(n) events from the kernel's replay ring") }
            if json { notice(index, "recovered", extra: ("count", n)) }
        case .disconnected:
            if json { notice(index, "disconnected") } else { Out.info("[\(index)] nlpush module unloaded; waiting for it to come back") }
        case .reconnected:
            if json { notice(index, "reconnected") } else { Out.info("[\(index)] nlpush module is back; subscribed again (sequence numbers restart at 1)") }
        case .reloaded(_, let epoch):
            // --from SEQ --epoch E of an earlier load: what follows is this load's, from seq 1
            if json {
                notice(index, "reloaded", extra: ("epoch", epoch))
            } else {
                Out.info("[\(index)] nlpush module was reloaded since (epoch now \(epoch)): its events after --from are gone; this load's follow, from seq 1")
            }
        }
    }

    /// --count: this many sequence numbers seen, received or reported lost.
    private func done(_ sum: SubscriberSummary) -> Bool {
        guard let count else { return false }
        return sum.received + sum.lost >= count
    }

    private func notice<N: BinaryInteger>(_ index: Int, _ kind: String, extra: (String, N)) {
        var j = JSONLine()
        j.add("kind", kind)
        j.add("subscriber", index)
        j.add(extra.0, extra.1)
        Out.line(j.text)
    }

    private func notice(_ index: Int, _ kind: String) {
        var j = JSONLine()
        j.add("kind", kind)
        j.add("subscriber", index)
        Out.line(j.text)
    }

    private func record(_ e: EventView, into sum: inout SubscriberSummary) {
        sum.received += 1
        if sum.firstNs == 0 {
            sum.firstNs = e.receivedNs
            sum.firstPublishedNs = e.timestampNs
        }
        sum.lastNs = e.receivedNs
        let latency = e.latencyNs
        if e.flags.contains(.replayed) {
            sum.recovered += 1  // its latency includes the recovery, not the channel's
            sum.recoveredDelayMaxNs = max(sum.recoveredDelayMaxNs, latency)
        } else {
            sum.latency.record(latency)
        }
        var ok = true
        if verify {
            ok = Pattern.check(e.payload, seq: e.seq)
            if !ok { sum.corrupt += 1 }
        }
        if quiet { return }
        Out.line(format.line(e.event, subscriber: sum.index, latencyNs: latency, intact: verify ? ok : nil))
    }
}

/// nlpush_test's payload rule: byte i of the event with sequence number s is (s + i) % 251.
enum Pattern {
    static func check(_ payload: some Collection<UInt8>, seq: UInt64) -> Bool {
        var v = Int(seq % 251)
        for b in payload {
            if b != UInt8(v) { return false }
            v += 1
            if v == 251 { v = 0 }
        }
        return true
    }

    /// A seq-independent payload of `size` bytes for EMIT (i % 251).
    static func bytes(_ size: Int) -> [UInt8] {
        (0..<size).map { UInt8($0 % 251) }
    }
}

func printSummary(_ summaries: [SubscriberSummary], elapsedNs: UInt64, json: Bool) {
    if json {
        for s in summaries {
            var j = JSONLine()
            j.add("kind", "summary")
            j.add("subscriber", s.index)
            j.add("name", s.name)
            j.add("received", s.received)
            j.add("rate", s.rate.isFinite ? s.rate : 0)
            j.add("lost", s.lost)
            j.add("recovered", s.recovered)
            j.add("acked", s.acked)
            j.add("ack_errors", s.ackErrors)
            j.add("corrupt", s.corrupt)
            j.add("latency_p50_ns", s.latency.percentile(50))
            j.add("latency_p99_ns", s.latency.percentile(99))
            j.add("latency_max_ns", s.latency.max)
            j.add("elapsed_ns", elapsedNs)
            if let e = s.error { j.add("error", e) }
            Out.line(j.text)
        }
        return
    }
    var t = Table(header: ["subscriber", "received", "rate", "lost", "recovered", "acked", "p50", "p99", "max"])
    for s in summaries {
        t.rows.append([
            "\(s.index) \(s.name)", "\(s.received)", Format.rate(s.rate), "\(s.lost)", "\(s.recovered)",
            "\(s.acked)", Format.duration(ns: s.latency.percentile(50)),
            Format.duration(ns: s.latency.percentile(99)), Format.duration(ns: s.latency.max),
        ])
    }
    Out.line("")
    for l in t.render() { Out.line(l) }
    let corrupt = summaries.reduce(0) { $0 + $1.corrupt }
    if corrupt > 0 { Out.line("CORRUPT payloads: \(corrupt)") }
}
