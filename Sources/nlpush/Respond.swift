import ArgumentParser
import Foundation
import NetlinkPush

struct Respond: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer reply-wanted events, in process or by running a command.",
        discussion: """
            For every event that wants a reply (published by nlpush_request() or \
            'nlpush emit --wait-reply'): with --exec, runs CMD with /bin/sh, the payload \
            on its stdin; its stdout (at most 61440 bytes) is the reply and its exit \
            status the status (a process per request: milliseconds each). Without \
            --exec, answers in process at once with --status, and --reply, --reply-hex \
            or --echo as the payload. It registers as a responder (NLPUSH_F_RESPONDER): \
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

    @Option(name: .shortAndLong, help: "Answer only requests of this event type.")
    var type: UInt32?

    @Option(help: "Subscriber name shown by 'nlpush subscribers'.")
    var name = "respond"

    @Flag(name: .shortAndLong, help: "Print nothing per request (errors still go to stderr).")
    var quiet = false

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
        if let n = fixedReply?.count, n > 61440 { throw ValidationError("the reply is \(n) bytes, at most 61440") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    /// The in-process reply payload (nil with --echo or --exec).
    private var fixedReply: [UInt8]? {
        if let reply { return Array(reply.utf8) }
        if let replyHex { return Emit.hexBytes(replyHex) }
        return nil
    }

    /// Status and reply for request `e`: from the command, or in process.
    private func answer(_ e: Event) -> (Int32, [UInt8]) {
        if let exec { return ShellCommand.run(exec, input: e.payload) }
        return (status ?? 0, echo ? e.payload : fixedReply ?? [])
    }

    func run() async throws {
        Out.setUp()
        try await guarded("respond") {
            let channel = try NetlinkPushChannel(logger: common.logger("nlpush"))
            let sub = try channel.respond(name: "\(name)-\(getpid())")
            let stopper = Stopper([sub])
            stopper.installSignalHandlers()
            if !common.json && !quiet {
                if let exec {
                    Out.line("answering requests with: \(exec)")
                } else {
                    let what = echo ? "the request's payload" : "\(fixedReply?.count ?? 0) bytes"
                    Out.line("answering requests in process: status \(status ?? 0), \(what)")
                }
            }
            var answered = 0
            for try await item in sub.events {
                guard case .event(let e) = item, e.wantsReply, type == nil || e.type == type else { continue }
                if e.flags.contains(.replayed) && e.latencyNs > 60_000_000_000 { continue }  // long expired
                let started = monotonicNow()
                let (status, output) = answer(e)
                var reply = output
                var truncated = false
                if reply.count > 61440 {
                    reply = Array(reply.prefix(61440))
                    truncated = true
                }
                var outcome = "answered"
                do {
                    try await sub.ack(e, status: status, reply: reply)
                    answered += 1
                } catch let err as NetlinkPushError {
                    if case .rejected(_, let errno, _) = err, errno == ENOENT || errno == ESTALE {
                        outcome = "expired"  // timed out, another responder answered first, or reloaded
                    } else {
                        throw err
                    }
                }
                let took = monotonicNow() - started
                if quiet {
                    // nothing per request
                } else if common.json {
                    var j = JSONLine()
                    j.add("kind", "reply")
                    j.add("seq", e.seq)
                    j.add("type", e.type)
                    j.add("request_size", e.payload.count)
                    j.add("status", status)
                    j.add("reply", Data(reply).base64EncodedString())
                    j.add("outcome", outcome)
                    j.add("truncated", truncated)
                    j.add("took_ns", took)
                    Out.line(j.text)
                } else {
                    Out.line(
                        "seq=\(e.seq) type=\(e.type) request=\(e.payload.count)B -> status=\(status) reply=\(reply.count)B\(truncated ? " (truncated)" : "") \(outcome) in \(Format.duration(ns: took)) \(Format.preview(reply, max: 32))"
                    )
                }
                if let count, answered >= count { break }
            }
            sub.cancel()
        }
    }
}

/// Runs a shell command with `input` on stdin; returns its exit status (128+signal when
/// killed) and its stdout.
enum ShellCommand {
    static func run(_ command: String, input: [UInt8]) -> (Int32, [UInt8]) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let stdin = Pipe()
        let stdout = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        do {
            try p.run()
        } catch {
            Out.error("respond: cannot run /bin/sh: \(error)")
            return (127, [])
        }
        // Feed stdin from another thread so a command that writes before reading
        // everything cannot deadlock against us.
        let writer = Thread {
            stdin.fileHandleForWriting.write(Data(input))
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
        return (status, [UInt8](out))
    }
}
