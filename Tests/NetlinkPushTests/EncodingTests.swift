import Testing
@testable import NetlinkPush

@Suite("Encoding: every request against hand-computed bytes")
struct EncodingTests {
    static let cases: [(String, ControlRequest, [UInt8])] = [
        ("subscribe", .subscribe(name: "audit"), Fixture.subscribeAudit),
        ("unsubscribe", .unsubscribe, Fixture.unsubscribe),
        ("ack plain", .ack(seq: 5, status: nil, payload: nil), Fixture.ackPlain),
        ("ack reply", .ack(seq: 5, status: -1, payload: [1, 2, 3]), Fixture.ackReply),
        ("get stats", .getStats, Fixture.getStats),
        ("get subscribers", .getSubscribers, Fixture.getSubscribers),
        ("replay from", .replay(from: 100), Fixture.replayFrom100),
        ("replay all", .replay(from: nil), Fixture.replayAll),
        ("replay bounded", .replay(from: 100, count: 5), Fixture.replayFrom100Count5),
        ("emit", .emit(type: 7, payload: [0xaa], count: 3, flags: nil, timeoutMs: nil), Fixture.emit3),
        ("request", .emit(type: 9, payload: [], count: 1, flags: 1, timeoutMs: 5000), Fixture.requestEmit),
        ("subscribe responder", .subscribe(name: "audit", flags: 4), Fixture.subscribeResponder),
        ("ack with epoch", .ack(seq: 5, status: nil, payload: nil, epoch: 0x1122_3344_5566_7788), Fixture.ackEpoch),
        (
            "answer with epoch", .ack(seq: 5, status: -1, payload: [1, 2, 3], epoch: 0x1122_3344_5566_7788),
            Fixture.answerEpoch
        ),
        ("ack range", .ackRange(seq: 5, count: 100, epoch: 0x1122_3344_5566_7788), Fixture.ackRange),
    ]

    @Test("pure Swift encoder matches the fixture", arguments: 0..<cases.count)
    func pureSwift(_ i: Int) {
        let (name, request, expected) = Self.cases[i]
        #expect(request.encode(familyID: Fixture.family, seq: 1) == expected, "\(name)")
    }

    @Test("libnl (genlmsg_put + nla_put_*) matches the fixture", arguments: 0..<cases.count)
    func libnl(_ i: Int) throws {
        let (name, request, expected) = Self.cases[i]
        let bytes = try NLSocket.libnlEncode(request, familyID: Fixture.family, seq: 1)
        #expect(bytes == expected, "\(name)")
    }

    @Test func largePayloadEncodesIdenticallyWithBothEncoders() throws {
        let payload = (0..<61440).map { UInt8($0 % 251) }
        let request = ControlRequest.ack(seq: 9, status: 3, payload: payload)
        let a = try NLSocket.libnlEncode(request, familyID: 77, seq: 4242, portID: 99)
        let b = request.encode(familyID: 77, seq: 4242, portID: 99)
        #expect(a == b)
        #expect(a.count == 16 + 4 + 12 + 8 + 4 + 61440)
    }

    @Test func ackOfPlainEventCarriesOnlySeq() {
        // What Subscription.ack sends for an event without REPLY_WANTED and without epoch.
        let e = Event(seq: 5)
        let request: ControlRequest =
            e.wantsReply ? .ack(seq: e.seq, status: 0, payload: nil) : .ack(seq: e.seq, status: nil, payload: nil)
        #expect(request.encode(familyID: Fixture.family, seq: 1) == Fixture.ackPlain)
    }

    @Test func subscribeRequestOfOptions() {
        #expect(SubscriptionOptions().subscribeRequest(name: "audit") == .subscribe(name: "audit"))
        #expect(
            SubscriptionOptions(responder: true).subscribeRequest(name: "audit")
                .encode(familyID: Fixture.family, seq: 1) == Fixture.subscribeResponder)
    }

    @Test("ack ranges: runs of consecutive plain events of one epoch, requests left out, split at COUNT's maximum")
    func ackRanges() {
        typealias R = AckRange
        func ranges(_ events: some Sequence<Event>) -> [R] { Array(AckRanges(events)) }
        #expect(ranges([Event]()).isEmpty)
        #expect(ranges((1...5).map { Event(seq: $0, epoch: 7) }) == [R(first: 1, count: 5, epoch: 7)])
        // a gap (lost events), a request, another epoch, an older event: new runs
        let mixed = [
            Event(seq: 1, epoch: 7), Event(seq: 2, epoch: 7), Event(seq: 4, epoch: 7),
            Event(seq: 5, flags: .replyWanted, epoch: 7), Event(seq: 6, epoch: 7),
            Event(seq: 7, epoch: 8), Event(seq: 3, epoch: 8), Event(seq: 4),
        ]
        #expect(
            ranges(mixed) == [
                R(first: 1, count: 2, epoch: 7), R(first: 4, count: 1, epoch: 7), R(first: 6, count: 1, epoch: 7),
                R(first: 7, count: 1, epoch: 8), R(first: 3, count: 1, epoch: 8), R(first: 4, count: 1, epoch: nil),
            ])
        #expect(ranges([Event(seq: 5, flags: .replyWanted)]).isEmpty)
        // split at the kernel's COUNT limit (3 here: a million events would take a
        // minute on the debug kernel under TCG and hold up the other tests)
        #expect(
            Array(AckRanges((1...8).map { Event(seq: $0) }, maxCount: 3)) == [
                R(first: 1, count: 3, epoch: nil), R(first: 4, count: 3, epoch: nil), R(first: 7, count: 2, epoch: nil),
            ])
        #expect(Proto.emitCountMax == 1_000_000, "the default limit is the spec's emit-count-max")
        #expect(throws: NetlinkPushError.self) { try ControlRequest.ackRange(seq: 1, count: 0, epoch: nil).validate() }
        #expect(throws: Never.self) { try ControlRequest.ackRange(seq: 1, count: 2, epoch: nil).validate() }
    }

    @Test func requestValidation() {
        #expect(throws: NetlinkPushError.self) { try ControlRequest.subscribe(name: "").validate() }
        #expect(throws: NetlinkPushError.self) {
            try ControlRequest.subscribe(name: String(repeating: "x", count: 32)).validate()
        }
        #expect(throws: Never.self) { try ControlRequest.subscribe(name: String(repeating: "x", count: 31)).validate() }
        #expect(throws: NetlinkPushError.self) {
            try ControlRequest.ack(seq: 1, status: 0, payload: [UInt8](repeating: 0, count: 61441)).validate()
        }
        #expect(throws: NetlinkPushError.self) {
            try ControlRequest.emit(type: 0, payload: nil, count: 0, flags: nil, timeoutMs: nil).validate()
        }
        #expect(throws: NetlinkPushError.self) {
            try ControlRequest.emit(type: 0, payload: nil, count: 1, flags: 1, timeoutMs: 60_001).validate()
        }
        // A request publishes exactly one event; EMIT takes no other flag.
        #expect(throws: NetlinkPushError.self) {
            try ControlRequest.emit(type: 0, payload: nil, count: 2, flags: 1, timeoutMs: nil).validate()
        }
        #expect(throws: NetlinkPushError.self) {
            try ControlRequest.emit(type: 0, payload: nil, count: 1, flags: 2, timeoutMs: nil).validate()
        }
        #expect(throws: Never.self) {
            try ControlRequest.emit(type: 0, payload: nil, count: 1, flags: 1, timeoutMs: 60_000).validate()
        }
    }

    @Test("libnl's nla_for_each_attr agrees with the Swift attribute walker")
    func attributeWalkersAgree() throws {
        let attrs = Array(Fixture.event42[20...])
        #expect(CHeader.countAttributes(attrs) == 6)
        var n = 0
        try attrs.withUnsafeBytes { (raw) throws in
            var it = AttributeIterator(ByteView(base: raw))
            while try it.next() != nil { n += 1 }
        }
        #expect(n == 6)
    }
}
