import ArgumentParser
import Dispatch
import Foundation
import NetlinkPush
import Synchronization

struct Respond: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer reply-wanted events, in process or by running a command.",
        discussion: """
            For every event that wants a reply (published by nlpush_request() or \
            'nlpush emit --wait-reply'): with --exec, runs CMD with /bin/sh, the payload \
            on its stdin; its stdout (at most 61440 bytes) is the reply and its exit \
            status the status (a process per request: milliseconds each; 128+N when \
            signal N ended it). A command still running after --timeout is killed \
            and its request answered with -ETIMEDOUT (-110); --jobs N runs up to N at \
            once. A command that does not read its stdin is fine (its payload is \
            dropped). The first Ctrl-C (or SIGTERM) stops taking requests and waits \
            for the running commands to answer; a second one kills them (their \
            requests are answered with -ECANCELED, -125). Without \
            --exec, answers in process with --status, and --reply, --reply-hex or \
            --echo as the payload, on the library's reader thread the moment a request \
            arrives (one wake-up per request). It registers as a responder (NLPUSH_F_RESPONDER): \
            while none is registered, requests fail at once with ENOTCONN. The first \
            responder to answer wins; later answers are refused by the kernel.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Shell command to run for each request.")
    var exec: String?

    @Option(help: "In-process answer: the status to reply with (default 0).")
    var status: Int32?

    @Option(help: "In-process answer: reply with this text (UTF-8).")
    var reply: String?

    @Option(help: "In-process answer: reply with these bytes, in hex.")
    var replyHex: String?

    @Flag(help: "In-process answer: reply with the request's own payload.")
    var echo = false

    @Option(name: .shortAndLong, help: "Stop after answering this many requests.")
    var count: Int?

    @Option(name: .shortAndLong, help: "Answer only requests of these types (repeat it, or a comma list: -t 4,5).")
    var type: [String] = []

    @Option(help: "Subscriber name shown by 'nlpush subscribers'.")
    var name = "respond"

    @Flag(name: .shortAndLong, help: "Print nothing per request (errors still go to stderr).")
    var quiet = false

    @Option(help: "With --exec: kill a command still running after this long and answer its request with status -ETIMEDOUT (-110) (default 60s, the longest a request waits).", transform: DurationArgument.parse)
    var timeout: DurationArgument?

    @Option(name: .shortAndLong, help: "With --exec: run at most this many commands at once (1-256, default 1).")
    var jobs: Int?

    func validate() throws {
        let payloads = [reply != nil, replyHex != nil, echo].filter { $0 }.count
        if payloads > 1 { throw ValidationError("give at most one of --reply, --reply-hex, --echo") }
        if let exec {
            if exec.isEmpty { throw ValidationError("--exec needs a command") }
            if payloads > 0 || status != nil {
                throw ValidationError("--exec decides status and reply: drop --status/--reply/--reply-hex/--echo")
            }
        } else if payloads == 0 && status == nil {
            throw ValidationError("say how to answer: --exec CMD, or --status/--reply/--reply-hex/--echo")
        }
        if let replyHex, Emit.hexBytes(replyHex) == nil {
            throw ValidationError("--reply-hex needs an even number of hex digits")
        }
        if let n = fixedReply?.count, n > Respond.replyLimit {
            throw ValidationError("the reply is \(n) bytes, at most \(Respond.replyLimit)")
        }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if exec == nil && (jobs != nil || timeout != nil) {
            throw ValidationError("--jobs and --timeout apply to commands: use them with --exec")
        }
        if let jobs, !(1...256).contains(jobs) { throw ValidationError("--jobs must be 1...256") }
        if timeout?.nanoseconds == 0 { throw ValidationError("--timeout must be positive") }
        _ = try TypeFilter(type)
    }

    /// A request waits at most 60 s: a command running longer cannot answer anyway.
    private var commandTimeout: DurationArgument { timeout ?? .seconds(60) }
    private var commandJobs: Int { jobs ?? 1 }

    /// A replayed request published over a minute ago: it expired long since.
    static func longExpired(_ e: Event) -> Bool {
        e.flags.contains(.replayed) && e.latencyNs > 60_000_000_000
    }

    /// The largest reply payload the kernel takes.
    static let replyLimit = 61440

    /// The in-process reply payload (nil with --echo or --exec).
    private var fixedReply: [UInt8]? {
        if let reply { return Array(reply.utf8) }
        if let replyHex { return Emit.hexBytes(replyHex) }
        return nil
    }

    func run() async throws {
        try await guarded("respond") {
            let filter = try TypeFilter(type)
            let channel = try NetlinkPushChannel(logger: common.logger("nlpush"))
            let state = RespondState()
            let running = RunningCommands()
            let answerer = Answerer(
                exec: exec, timeout: commandTimeout.duration, status: status ?? 0, echo: echo, fixedReply: fixedReply ?? [],
                json: common.json, quiet: quiet, running: running)
            let sub: Subscription
            if exec == nil {
                // In process: answered on the library's reader thread as each request
                // arrives (one wake-up per request); the loop below prints the lines.
                let limit = count
                sub = try channel.respond(name: "\(name)-\(getpid())") { e in
                    guard filter.admits(e.type), !state.isStopping, !Respond.longExpired(e) else { return nil }
                    if let limit, !state.takeAnswer(below: limit) { return nil }
                    return answerer.inProcess(e)
                }
            } else {
                sub = try channel.respond(name: "\(name)-\(getpid())")
            }
            let slots = Slots(capacity: commandJobs)
            // Stop taking requests, let the running commands finish and answer, then end
            // (which unregisters: requests that came meanwhile fail with ENOTCONN, or go
            // to another responder).
            let stop: @Sendable () -> Void = {
                guard state.beginStopping() else { return }
                Task {
                    await slots.waitIdle()
                    sub.cancel()
                }
            }
            let signals = SignalCounter.install { n in
                if n == 1 {
                    let busy = running.count
                    if busy > 0 {
                        Out.info("nlpush respond: stopping: waiting for \(busy) running command(s); Ctrl-C again kills them")
                    }
                    stop()
                } else {
                    let busy = running.count
                    if busy > 0 { Out.info("nlpush respond: killing \(busy) running command(s)") }
                    running.killAll(as: .interrupted)
                }
            }
            if !quiet {
                if let exec {
                    Out.info("answering requests with: \(exec) (at most \(commandJobs) at once, \(commandTimeout) each); Ctrl-C to stop")
                } else {
                    let what = echo ? "the request's payload" : "\(fixedReply?.count ?? 0) bytes"
                    Out.info("answering requests in process: status \(status ?? 0), \(what); Ctrl-C to stop")
                }
            }
            var accepted = 0
            try await withThrowingTaskGroup(of: Void.self) { group in
                for try await item in sub.events {
                    guard case .event(let e) = item, e.wantsReply else { continue }
                    if let answered = e.answered {  // in process, by the reader thread
                        accepted += 1
                        if let error = answerer.report(e, answered) {
                            state.fail(error)
                            stop()
                        }
                        if let count, accepted >= count { stop() }
                        continue
                    }
                    guard exec != nil, filter.admits(e.type), !Respond.longExpired(e) else { continue }
                    if state.isStopping { continue }
                    await slots.acquire()
                    if state.isStopping {
                        await slots.release()
                        continue
                    }
                    accepted += 1
                    group.addTask {
                        if let error = await answerer.answer(e, on: sub) {
                            state.fail(error)
                            stop()
                        }
                        await slots.release()
                    }
                    if let count, accepted >= count { stop() }
                }
                try await group.waitForAll()
            }
            withExtendedLifetime(signals) {}
            if let error = state.failure.withLock({ $0 }) { throw error }
        }
    }
}

/// Answers one request, in process or with the command, and prints a line about it.
struct Answerer: Sendable {
    var exec: String?
    var timeout: Duration
    var status: Int32
    var echo: Bool
    var fixedReply: [UInt8]
    var json: Bool
    var quiet: Bool
    var running: RunningCommands

    /// nil, or the error that should end respond (the answer could not be sent).
    func answer(_ e: Event, on sub: Subscription) async -> NetlinkPushError? {
        let started = monotonicNow()
        var result: CommandResult
        if let exec {
            result = await CommandRunner.run(
                exec, input: e.payload, timeout: timeout, outputLimit: Respond.replyLimit, running: running)
        } else {
            let a = inProcess(e)
            result = CommandResult(ending: .exited(a.status), output: a.reply)
        }
        if case .notStarted = result.ending {
            Out.error("nlpush respond: cannot run /bin/sh: \(result.ending.text)")
        }
        let status = result.ending.status
        var outcome = "answered"
        do {
            try await sub.ack(e, status: status, reply: result.output)
        } catch {
            guard Self.expired(error) else { return error }
            outcome = "expired"
        }
        printLine(e, result, outcome: outcome, took: monotonicNow() - started)
        return nil
    }

    /// The answer without --exec: --status, and --reply/--reply-hex or --echo.
    func inProcess(_ e: Event) -> Answer { Answer(status: status, reply: echo ? e.payload : fixedReply) }

    /// A request the reader thread answered in process: nil, or the error that should
    /// end respond (the kernel refused the answer for another reason than its expiry).
    func report(_ e: Event, _ answered: AnsweredRequest) -> NetlinkPushError? {
        var outcome = "answered"
        if let error = answered.error {
            guard Self.expired(error) else { return error }
            outcome = "expired"
        }
        let result = CommandResult(ending: .exited(answered.answer.status), output: answered.answer.reply)
        printLine(e, result, outcome: outcome, took: answered.tookNs)
        return nil
    }

    /// The request timed out, another responder answered first, or the module was reloaded.
    private static func expired(_ error: NetlinkPushError) -> Bool {
        if case .rejected(_, let errno, _) = error, errno == ENOENT || errno == ESTALE { return true }
        return false
    }

    /// The line about one answered request (nothing with --quiet).
    private func printLine(_ e: Event, _ result: CommandResult, outcome: String, took: UInt64) {
        let status = result.ending.status
        if quiet { return }
        if json {
            var j = JSONLine()
            j.add("kind", "reply")
            j.add("seq", e.seq)
            j.add("type", e.type)
            j.add("request_size", e.payload.count)
            j.add("status", status)
            j.add("reply", Data(result.output).base64EncodedString())
            j.add("outcome", outcome)
            j.add("truncated", result.truncated)
            if exec != nil {
                j.add("ending", result.ending.text)
                j.add("input_unread", result.inputUnread)
            }
            j.add("took_ns", took)
            Out.line(j.text)
        } else {
            var notes = ""
            if result.truncated { notes += " (truncated)" }
            if exec != nil, result.ending != .exited(status) { notes += " (\(result.ending.text))" }
            if result.inputUnread { notes += " (did not read its input)" }
            Out.line(
                "seq=\(e.seq) type=\(e.type) request=\(e.payload.count)B -> status=\(status) reply=\(result.output.count)B\(notes) \(outcome) in \(Format.duration(ns: took)) \(Format.preview(result.output, max: 32))"
            )
        }
    }
}

/// At most `capacity` requests in hand at once.
actor Slots {
    private let capacity: Int
    private var used = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var idle: [CheckedContinuation<Void, Never>] = []

    init(capacity: Int) { self.capacity = capacity }

    func acquire() async {
        if used < capacity {
            used += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }  // the releaser hands its slot over
    }

    func release() {
        if !waiting.isEmpty {
            waiting.removeFirst().resume()
            return
        }
        used -= 1
        if used == 0 {
            for c in idle { c.resume() }
            idle = []
        }
    }

    /// Returns once no slot is in use.
    func waitIdle() async {
        if used == 0 { return }
        await withCheckedContinuation { idle.append($0) }
    }
}

/// Counts SIGINT/SIGTERM and tells the handler the count: respond stops gently on the
/// first, and kills its running commands on the next.
enum SignalCounter {
    /// Keep the returned sources alive for as long as the signals should be counted.
    static func install(_ handler: @escaping @Sendable (Int) -> Void) -> [DispatchSourceSignal] {
        let counter = Counter()
        return [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { handler(counter.next()) }
            src.resume()
            return src
        }
    }

    private final class Counter: Sendable {
        private let n = Atomic<Int>(0)
        func next() -> Int { n.add(1, ordering: .sequentiallyConsistent).newValue }
    }
}

/// What the tasks answering requests share with respond's loop.
private final class RespondState: Sendable {
    /// No more requests are taken (Ctrl-C, --count reached, or an answer failed).
    let stopping = Atomic<Bool>(false)
    /// The first error that ended respond.
    let failure = Mutex<NetlinkPushError?>(nil)
    /// Requests the reader thread answered (in process, with --count).
    private let answers = Atomic<Int>(0)

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    /// True the first time only.
    func beginStopping() -> Bool { !stopping.exchange(true, ordering: .sequentiallyConsistent) }

    func fail(_ error: NetlinkPushError) { failure.withLock { $0 = $0 ?? error } }

    /// True while fewer than `limit` answers were taken (and takes one).
    func takeAnswer(below limit: Int) -> Bool {
        answers.add(1, ordering: .sequentiallyConsistent).newValue <= limit
    }
}
