import ArgumentParser
import Foundation
import NetlinkPush

struct Respond: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer reply-wanted events by running a command.",
        discussion: """
            For every event that wants a reply (published by nlpush_request() or \
            'nlpush emit --wait-reply'), runs CMD with /bin/sh, the payload on its stdin; \
            its stdout (at most 61440 bytes) is the reply and its exit status the status. \
            The first listener to answer wins; later answers are refused by the kernel.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Shell command to run for each request.")
    var exec: String

    @Option(name: .shortAndLong, help: "Stop after answering this many requests.")
    var count: Int?

    @Option(name: .shortAndLong, help: "Answer only requests of this event type.")
    var type: UInt32?

    @Option(help: "Subscriber name shown by 'nlpush subscribers'.")
    var name = "respond"

    func validate() throws {
        if exec.isEmpty { throw ValidationError("--exec needs a command") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        Out.setUp()
        try await guarded("respond") {
            let channel = try NetlinkPushChannel(logger: common.logger("nlpush"))
            let sub = try channel.subscribe(name: "\(name)-\(getpid())")
            let stopper = Stopper([sub])
            stopper.installSignalHandlers()
            if !common.json { Out.line("answering requests with: \(exec)") }
            var answered = 0
            for try await item in sub.events {
                guard case .event(let e) = item, e.wantsReply, type == nil || e.type == type else { continue }
                if e.flags.contains(.replayed) && e.latencyNs > 60_000_000_000 { continue }  // long expired
                let started = monotonicNow()
                let (status, output) = ShellCommand.run(exec, input: e.payload)
                var reply = output
                var truncated = false
                if reply.count > 61440 {
                    reply = Array(reply.prefix(61440))
                    truncated = true
                }
                var outcome = "answered"
                do {
                    try sub.ack(e, status: status, reply: reply)
                    answered += 1
                } catch let err as NetlinkPushError {
                    if case .rejected(_, let errno, _) = err, errno == ENOENT {
                        outcome = "expired"  // timed out, or another listener answered first
                    } else {
                        throw err
                    }
                }
                let took = monotonicNow() - started
                if common.json {
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
