import ArgumentParser
import Foundation
import NetlinkPush

struct Emit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish events through the kernel (NLPUSH_CMD_EMIT), or a request and wait for its reply."
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .shortAndLong, help: "Copies to publish (1-1000000).")
    var count: UInt32 = 1

    @Option(name: .shortAndLong, help: "Payload of this many pattern bytes (i % 251), e.g. 1k.")
    var size: ByteCount?

    @Option(name: .shortAndLong, help: "Event type.")
    var type: UInt32 = 0

    @Option(help: "Payload text (UTF-8).")
    var payload: String?

    @Option(help: "Payload as hex digits.")
    var payloadHex: String?

    @Flag(help: "Publish one request (reply wanted) and print the reply of the responder that answers it ('nlpush respond'); fails at once when no responder is registered.")
    var waitReply = false

    @Option(help: "With --wait-reply: how long the kernel waits for a responder's answer, 1ms...60s (default 1s).", transform: DurationArgument.parse)
    var timeout = DurationArgument.seconds(1)

    func validate() throws {
        let sources = [size != nil, payload != nil, payloadHex != nil].filter { $0 }.count
        if sources > 1 { throw ValidationError("give at most one of --size, --payload, --payload-hex") }
        guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be 1...1000000") }
        if waitReply && count != 1 { throw ValidationError("--wait-reply publishes exactly one event (--count 1)") }
        guard (1_000_000...60_000_000_000).contains(timeout.nanoseconds) else {
            throw ValidationError("--timeout must be 1ms...60s")
        }
        if let size, size.value > 61440 { throw ValidationError("--size must be at most 61440 bytes") }
        if let payloadHex, Emit.hexBytes(payloadHex) == nil {
            throw ValidationError("--payload-hex needs an even number of hex digits")
        }
        if let payload, payload.utf8.count > 61440 { throw ValidationError("--payload must be at most 61440 bytes") }
    }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let digits = Array(s.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let b = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
            i += 2
        }
        return out
    }

    var bytes: [UInt8] {
        if let size { return Pattern.bytes(size.value) }
        if let payload { return Array(payload.utf8) }
        if let payloadHex { return Emit.hexBytes(payloadHex) ?? [] }
        return []
    }

    func run() async throws {
        Out.setUp()
        try await guarded("emit") {
            let channel = try NetlinkPushChannel(logger: common.logger("nlpush"))
            if waitReply {
                let r = try await channel.request(type: type, payload: bytes, timeout: .milliseconds(Int64(timeout.milliseconds)))
                if common.json {
                    var j = JSONLine()
                    j.add("kind", "reply")
                    j.add("seq", r.seq)
                    j.add("status", r.status)
                    j.add("portid", r.portID)
                    j.add("payload", Data(r.payload).base64EncodedString())
                    Out.line(j.text)
                } else {
                    Out.line(
                        "reply to seq \(r.seq) from port \(r.portID): status \(r.status), \(r.payload.count) bytes \(Format.preview(r.payload, max: 64))"
                    )
                }
                return
            }
            let r = try await channel.emit(type: type, payload: bytes, count: count)
            if common.json {
                var j = JSONLine()
                j.add("kind", "emit")
                j.add("first_seq", r.firstSeq)
                j.add("count", r.count)
                j.add("epoch", r.epoch)
                Out.line(j.text)
            } else {
                let last = r.firstSeq + UInt64(r.count) - 1
                Out.line("published \(r.count) event(s) of \(bytes.count) bytes, type \(type): seq \(r.firstSeq)...\(last)")
            }
        }
    }
}
