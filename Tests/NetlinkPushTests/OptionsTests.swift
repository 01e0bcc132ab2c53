import Testing
@testable import NetlinkPush

@Suite("SubscriptionOptions are validated before anything is opened")
struct OptionsTests {
    @Test("the defaults and the range bounds are valid")
    func defaultsAndBoundsAreValid() throws {
        try SubscriptionOptions().validate()
        try SubscriptionOptions(
            receiveBufferSize: SubscriptionOptions.receiveBufferSizeRange.lowerBound, bufferCapacity: 1,
            bufferByteLimit: 1, messageBufferSize: SubscriptionOptions.messageBufferSizeRange.lowerBound,
            reconnectPollIntervalMs: SubscriptionOptions.reconnectPollIntervalMsRange.lowerBound
        ).validate()
        try SubscriptionOptions(
            receiveBufferSize: SubscriptionOptions.receiveBufferSizeRange.upperBound,
            messageBufferSize: SubscriptionOptions.messageBufferSizeRange.upperBound,
            reconnectPollIntervalMs: SubscriptionOptions.reconnectPollIntervalMsRange.upperBound,
            responder: true
        ).validate()
    }

    static let invalid: [(String, SubscriptionOptions)] = [
        ("bufferCapacity", .init(bufferCapacity: 0)),
        ("bufferCapacity", .init(bufferCapacity: -5)),
        ("bufferByteLimit", .init(bufferByteLimit: 0)),
        ("receiveBufferSize", .init(receiveBufferSize: 0)),
        ("receiveBufferSize", .init(receiveBufferSize: -1)),
        ("receiveBufferSize", .init(receiveBufferSize: 4095)),
        ("receiveBufferSize", .init(receiveBufferSize: Int(Int32.max))),
        ("messageBufferSize", .init(messageBufferSize: 0)),
        ("messageBufferSize", .init(messageBufferSize: 64 * 1024)),
        ("messageBufferSize", .init(messageBufferSize: 1 << 30)),
        ("reconnectPollIntervalMs", .init(reconnectPollIntervalMs: 0)),
        ("reconnectPollIntervalMs", .init(reconnectPollIntervalMs: -1000)),
        ("reconnectPollIntervalMs", .init(reconnectPollIntervalMs: Int.max)),
        ("responder", .init(registerSubscriber: false, responder: true)),
    ]

    @Test("nonsense is rejected with .invalidOption naming the property", arguments: 0..<invalid.count)
    func rejectsNonsense(_ i: Int) {
        let (name, options) = Self.invalid[i]
        let error = #expect(throws: NetlinkPushError.self) { try options.validate() }
        guard case .invalidOption(let got, let reason)? = error else {
            Issue.record("expected .invalidOption, got \(String(describing: error))")
            return
        }
        #expect(got == name)
        #expect(!reason.isEmpty)
        #expect(error?.description.hasPrefix("invalid subscription option \(name): ") == true)
        #expect(error?.errno == nil)
    }

    @Test("Operation is an open set: equality, names, pattern matching")
    func operationIsOpen() {
        let op = NetlinkPushError.Operation.joinGroup
        #expect(op.description == "join group")
        #expect(NetlinkPushError.Operation(rawValue: "ack") == .ack)
        #expect(NetlinkPushError.Operation(rawValue: "future operation") == nil)
        #expect(NetlinkPushError.Operation.reconnect.rawValue == "reconnect")
        #expect(MemoryLayout<NetlinkPushError.Operation>.size == 1)
        let e = NetlinkPushError.rejected(operation: .request, errno: 107, extack: nil)
        if case .rejected(.request, _, _) = e {} else { Issue.record("payload pattern .request did not match") }
        if case .rejected(.ack, _, _) = e { Issue.record("payload pattern .ack matched .request") }
        #expect(e.operation == .request)
        #expect(NetlinkPushError.timedOut(operation: .stats).description == "stats timed out")
    }
}
