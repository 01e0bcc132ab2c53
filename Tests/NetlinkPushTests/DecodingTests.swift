import Testing
@testable import NetlinkPush

@Suite("Decoding: kernel messages and malformed input")
struct DecodingTests {
    @Test func eventFixture() throws {
        let e = try Event(decoding: Fixture.event42, receivedNs: 1500)
        #expect(e.seq == 42)
        #expect(e.timestampNs == 1000)
        #expect(e.type == 7)
        #expect(e.flags == [.replyWanted])
        #expect(e.wantsReply)
        #expect(e.payload == [1, 2, 3, 4, 5])
        #expect(e.receivedNs == 1500)
        #expect(e.latencyNs == 500)
        #expect(e.epoch == Fixture.epoch)
    }

    @Test func replayDumpMessageIsAnEvent() throws {
        // Since version 2 a REPLAY dump's messages carry cmd REPLAY (7), not EVENT.
        let e = try Event(decoding: Fixture.replay43)
        #expect(e.seq == 43)
        #expect(e.timestampNs == 2000)
        #expect(e.type == 3)
        #expect(e.flags == [.replayed])
        #expect(!e.wantsReply)
        #expect(e.payload.isEmpty)
        #expect(e.epoch == Fixture.epoch)
        #expect(try Event(decoding: Fixture.event(cmd: 7)).seq == 7)
    }

    @Test func eventWithoutEpochHasEpochZero() throws {
        #expect(try Event(decoding: Fixture.event()).epoch == 0)
    }

    @Test func eventWithPadAndUnknownAttributesAndEmptyPayload() throws {
        let bytes = Fixture.event(
            seq: B.u64(3), flags: B.u32(2), payload: [],
            extra: B.attr(1, []) + B.attr(99, [1, 2, 3]))
        let e = try Event(decoding: bytes)
        #expect(e.seq == 3)
        #expect(e.flags == [.replayed])
        #expect(e.payload.isEmpty)
    }

    @Test func eventWithMaximumPayload() throws {
        let payload = (0..<61440).map { UInt8($0 % 251) }
        let e = try Event(decoding: Fixture.event(payload: payload))
        #expect(e.payload == payload)
    }

    @Test func eventWithoutPayloadAttributeHasEmptyPayload() throws {
        #expect(try Event(decoding: Fixture.event(payload: nil)).payload == [])
    }

    static let malformed: [(String, [UInt8])] = [
        ("empty", []),
        ("truncated nlmsghdr", Array(Fixture.event42[0..<10])),
        ("nlmsg_len shorter than header", B.u32(8) + Array(Fixture.event42[4..<20])),
        ("nlmsg_len beyond buffer", B.u32(400) + Array(Fixture.event42[4...])),
        ("truncated genl header", B.msg(type: 0x1c, [1, 1])),
        ("attribute length overrun", B.msg(type: 0x1c, B.genl(cmd: 1) + B.u16(200) + B.u16(2) + B.u64(1))),
        ("attribute length below 4", B.msg(type: 0x1c, B.genl(cmd: 1) + B.u16(2) + B.u16(2) + B.u64(1))),
        ("truncated attribute header", B.msg(type: 0x1c, B.genl(cmd: 1) + [0x08, 0x00])),
        ("SEQ of 4 bytes", Fixture.event(seq: B.u32(7))),
        ("SEQ of 9 bytes", Fixture.event(seq: B.u64(7) + [0])),
        ("TIMESTAMP of 4 bytes", Fixture.event(ts: B.u32(1))),
        ("TYPE of 8 bytes", Fixture.event(type: B.u64(1))),
        ("FLAGS of 2 bytes", Fixture.event(flags: B.u16(1))),
        ("oversize payload", Fixture.event(payload: [UInt8](repeating: 7, count: 61441))),
        ("missing SEQ", Fixture.event(seq: nil)),
        ("SEQ zero", Fixture.event(seq: B.u64(0))),
        ("missing TIMESTAMP", Fixture.event(ts: nil)),
        ("missing TYPE", Fixture.event(type: nil)),
        ("missing FLAGS", Fixture.event(flags: nil)),
        ("wrong command", Fixture.event(cmd: 8)),
        ("REPLY is no event", Fixture.event(cmd: 9)),
        ("EPOCH of 4 bytes", Fixture.event(extra: B.attr(14, B.u32(1)))),
        ("trailing bytes", Fixture.event42 + [0, 0, 0, 0, 0, 0, 0, 0]),
    ]

    @Test("malformed input throws .malformed", arguments: 0..<malformed.count)
    func rejectsMalformed(_ i: Int) {
        let (name, bytes) = Self.malformed[i]
        #expect(throws: NetlinkPushError.self, "\(name)") { _ = try Event(decoding: bytes) }
        do {
            _ = try Event(decoding: bytes)
        } catch {
            guard case .malformed(let reason) = error else {
                Issue.record("\(name): expected .malformed, got \(error)")
                return
            }
            #expect(!reason.isEmpty)
        }
    }

    @Test func randomAndMutatedInputNeverCrashes() {
        var rng = SplitMix(seed: 0x5eed)
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = Fixture.event42
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
                if rng.next() % 3 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
            } else {
                bytes = (0..<Int(rng.next() % 96)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            _ = try? Event(decoding: bytes)
            bytes.withUnsafeBytes { raw in
                var it = NetlinkMessageIterator(raw)
                while let m = try? it.next() {
                    if let g = try? GenlMessage(m) {
                        _ = try? MessageDecoder.stats(g)
                        _ = try? MessageDecoder.subscriber(g)
                        _ = try? MessageDecoder.emitReply(g)
                        _ = try? MessageDecoder.controllerNotification(g)
                    }
                    _ = try? NetlinkAck(error: m)
                    _ = try? NetlinkAck(done: m)
                }
            }
        }
    }

    // MARK: replies

    static func withFirst<T>(_ bytes: [UInt8], _ body: (NetlinkMessage) throws -> T) throws -> T {
        try bytes.withUnsafeBytes { (raw) throws -> T in
            var it = NetlinkMessageIterator(raw)
            guard let m = try it.next() else { throw NetlinkPushError.malformed(reason: "none") }
            return try body(m)
        }
    }

    static func withGenl<T>(_ bytes: [UInt8], _ body: (GenlMessage) throws -> T) throws -> T {
        try withFirst(bytes) { try body(try GenlMessage($0)) }
    }

    @Test func statsReply() throws {
        let nest =
            B.attr(2, B.u64(10)) + B.attr(1, []) + B.attr(3, B.u64(9)) + B.attr(12, B.u32(2))
            + B.attr(13, B.u32(3)) + B.attr(14, B.u64(1)) + B.attr(15, B.u64(11)) + B.attr(16, B.u32(10))
            + B.attr(17, B.u64(2560)) + B.attr(18, B.u32(4096)) + B.attr(19, B.u64(4_194_304))
            + B.attr(20, B.u64(5)) + B.attr(4, B.u64(1)) + B.attr(5, B.u64(6)) + B.attr(6, B.u64(0))
            + B.attr(7, B.u64(8)) + B.attr(8, B.u64(1)) + B.attr(9, B.u64(4)) + B.attr(10, B.u64(3))
            + B.attr(11, B.u64(1)) + B.attr(21, B.u32(2)) + B.attr(22, B.u64(12)) + B.attr(23, B.u64(13))
            + B.attr(24, B.u64(14))
        let bytes = B.msg(
            type: Fixture.family, B.genl(cmd: 5) + B.attr(0x8000 | 11, nest) + B.attr(14, B.u64(Fixture.epoch)))
        let s = try Self.withGenl(bytes) { try MessageDecoder.stats($0) }
        #expect(s.published == 10)
        #expect(s.delivered == 9)
        #expect(s.noListeners == 1)
        #expect(s.deliveryErrors == 6)
        #expect(s.publishFailures == 0)
        #expect(s.acks == 8)
        #expect(s.acksRejected == 1)
        #expect(s.requests == 4)
        #expect(s.replies == 3)
        #expect(s.requestTimeouts == 1)
        #expect(s.requestsPending == 2)
        #expect(s.subscribers == 3)
        #expect(s.oldestSeq == 1)
        #expect(s.nextSeq == 11)
        #expect(s.ringEvents == 10)
        #expect(s.ringBytes == 2560)
        #expect(s.ringMaxEvents == 4096)
        #expect(s.ringMaxBytes == 4_194_304)
        #expect(s.replayed == 5)
        #expect(s.responders == 2)
        #expect(s.txqDrops == 12)
        #expect(s.requestsFailed == 13)
        #expect(s.repliesUndelivered == 14)
        #expect(s.epoch == Fixture.epoch)
    }

    @Test func statsRejectsWrongSizesAndMissingNest() {
        let bad = B.msg(type: Fixture.family, B.genl(cmd: 5) + B.attr(11, B.attr(2, B.u32(10))))
        #expect(throws: NetlinkPushError.self) { try Self.withGenl(bad) { try MessageDecoder.stats($0) } }
        let none = B.msg(type: Fixture.family, B.genl(cmd: 5))
        #expect(throws: NetlinkPushError.self) { try Self.withGenl(none) { try MessageDecoder.stats($0) } }
    }

    @Test func subscriberDumpMessage() throws {
        let nest =
            B.attr(2, B.u32(1234)) + B.attr(3, Array("audit".utf8) + [0]) + B.attr(4, B.u32(99))
            + B.attr(5, B.u64(3)) + B.attr(6, B.u64(40)) + B.attr(7, B.u64(1)) + B.attr(8, B.u64(5))
            + B.attr(9, B.u32(4))
        let bytes = B.msg(type: Fixture.family, flags: 2, B.genl(cmd: 6) + B.attr(0x8000 | 12, nest))
        let s = try Self.withGenl(bytes) { try MessageDecoder.subscriber($0) }
        #expect(s.portID == 1234)
        #expect(s.name == "audit")
        #expect(s.pid == 99)
        #expect(s.acks == 3)
        #expect(s.lastAckedSeq == 40)
        #expect(s.replies == 1)
        #expect(s.subscribedNs == 5)
        #expect(s.flags == 4)
        #expect(s.isResponder)
        #expect(!SubscriberInfo().isResponder)
    }

    @Test func emitReplies() throws {
        let r1 = try Self.withGenl(Fixture.emitReply) { try MessageDecoder.emitReply($0) }
        #expect(r1 == EmitResult(firstSeq: 100, count: 3, epoch: Fixture.epoch))
        #expect(r1.seqs == 100...102)
        // A version 1 reply: no epoch.
        let plain = B.msg(type: Fixture.family, B.genl(cmd: 8) + B.attr(2, B.u64(7)))
        let r2 = try Self.withGenl(plain) { try MessageDecoder.emitReply($0) }
        #expect(r2 == EmitResult(firstSeq: 7, count: 1))
    }

    @Test func requestReplyMessages() throws {
        let answered = try Self.withGenl(Fixture.replyAnswered) { (g) throws in
            #expect(g.header.seq == 5)  // matched to the EMIT by nlmsg_seq
            return try MessageDecoder.requestOutcome(g)
        }
        #expect(answered.error == 0)
        #expect(answered.epoch == Fixture.epoch)
        #expect(answered.reply == Reply(seq: 42, status: 7, payload: Array("ok".utf8), portID: 0x1234))
        #expect(NetlinkPushError.request(failedWith: answered.error) == nil)

        let timedOut = try Self.withGenl(Fixture.replyTimedOut) { try MessageDecoder.requestOutcome($0) }
        #expect(timedOut.seq == 42)
        #expect(timedOut.error == -110)
        #expect(NetlinkPushError.request(failedWith: timedOut.error) == .timedOut(operation: .request))

        // REPLY without ERROR, or another command, is malformed.
        let noError = B.msg(type: Fixture.family, B.genl(cmd: 9) + B.attr(2, B.u64(1)))
        #expect(throws: NetlinkPushError.self) { try Self.withGenl(noError) { try MessageDecoder.requestOutcome($0) } }
        #expect(throws: NetlinkPushError.self) {
            try Self.withGenl(Fixture.emitReply) { try MessageDecoder.requestOutcome($0) }
        }
    }

    @Test func requestErrorsAreTyped() {
        let notConnected = NetlinkPushError.request(failedWith: -107)
        #expect(notConnected?.errno == 107)
        if case .rejected(.request, 107, let extack?) = notConnected {
            #expect(extack.contains("responder"))
        } else {
            Issue.record("ENOTCONN should be .rejected(.request): \(String(describing: notConnected))")
        }
        #expect(NetlinkPushError.request(failedWith: -108)?.errno == 108)  // ESHUTDOWN
        #expect(NetlinkPushError.request(failedWith: -16) == .rejected(operation: .request, errno: 16, extack: nil))
        #expect(NetlinkPushError.request(failedWith: Int32.min)?.errno == 5)
    }

    @Test func errorWithExtack() throws {
        let text = "sequence number was never published"
        let orig = B.u32(0x20) + B.u16(0x1c) + B.u16(5) + B.u32(7) + B.u32(1)
        let body = B.u32(UInt32(bitPattern: -22)) + orig + B.attr(1, Array(text.utf8) + [0])
        let bytes = B.msg(type: 2, flags: 0x300, seq: 7, body)
        #expect(bytes.count == 76)  // 16 + 4 + 16 + 4 + 35 chars + NUL
        let ack = try Self.withFirst(bytes) { try NetlinkAck(error: $0) }
        #expect(ack.errno == 22)
        #expect(ack.extack == text)
        #expect(ack.message == text)
    }

    @Test func errorNamingMissingAttribute() throws {
        let orig = B.u32(0x14) + B.u16(0x1c) + B.u16(5) + B.u32(7) + B.u32(1)
        let body = B.u32(UInt32(bitPattern: -22)) + orig + B.attr(5, B.u32(2))
        let bytes = B.msg(type: 2, flags: 0x300, seq: 7, body)
        let ack = try Self.withFirst(bytes) { try NetlinkAck(error: $0) }
        #expect(ack.missingAttribute == 2)
        #expect(ack.message == "missing attribute SEQ")
    }

    @Test func uncappedErrorSkipsEchoedRequest() throws {
        // Without NETLINK_CAP_ACK the kernel echoes the whole request before the TLVs.
        let orig = Fixture.subscribeAudit
        let body = B.u32(UInt32(bitPattern: -17)) + orig + B.attr(1, Array("exists".utf8) + [0])
        let bytes = B.msg(type: 2, flags: 0x200, seq: 1, body)
        let ack = try Self.withFirst(bytes) { try NetlinkAck(error: $0) }
        #expect(ack.errno == 17)
        #expect(ack.extack == "exists")
    }

    @Test func plainAckAndDone() throws {
        let ackBytes = B.msg(type: 2, flags: 0x100, seq: 3, B.u32(0) + B.u32(0x14) + B.u16(0x1c) + B.u16(5) + B.u32(3) + B.u32(0))
        let doneBytes = B.msg(type: 3, flags: 2, seq: 3, B.u32(0))
        let failedDone = B.msg(type: 3, flags: 0x202, seq: 3, B.u32(UInt32(bitPattern: -1)) + B.attr(1, Array("nope".utf8) + [0]))
        #expect(try Self.withFirst(ackBytes) { try NetlinkAck(error: $0) }.errno == 0)
        #expect(try Self.withFirst(doneBytes) { try NetlinkAck(done: $0) }.errno == 0)
        let ack = try Self.withFirst(failedDone) { try NetlinkAck(done: $0) }
        #expect(ack.errno == 1)
        #expect(ack.extack == "nope")
    }

    @Test func controllerNotification() throws {
        let bytes = B.msg(
            type: 16, B.genl(cmd: 2, version: 2) + B.attr(2, Array("nlpush".utf8) + [0]) + B.attr(1, B.u16(0x1c)))
        let n = try Self.withGenl(bytes) { try MessageDecoder.controllerNotification($0) }
        #expect(n == .init(command: 2, familyName: "nlpush", familyID: 0x1c))
    }

    @Test func batchOfSeveralMessages() throws {
        let batch = Fixture.event42 + Fixture.event(seq: B.u64(43)) + B.msg(type: 3, flags: 2, B.u32(0))
        var seqs: [UInt64] = []
        var types: [UInt16] = []
        try batch.withUnsafeBytes { (raw) throws in
            var it = NetlinkMessageIterator(raw)
            while let m = try it.next() {
                types.append(m.type)
                if m.type == Fixture.family { seqs.append(try MessageDecoder.event(try GenlMessage(m), receivedNs: 0).seq) }
            }
        }
        #expect(seqs == [42, 43])
        #expect(types == [0x1c, 0x1c, 3])
    }
}

/// Deterministic PRNG for the fuzz loop.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
