/// A responder's answer to a request (an event that ``Event/wantsReply``), as an answer
/// handler returns it: see ``NetlinkPushChannel/respond(name:options:answer:)``.
public struct Answer: Sendable, Hashable {
    /// The status the producer receives (0 for success by convention).
    public var status: Int32
    /// The reply payload (at most 61440 bytes; may be empty).
    public var reply: [UInt8]

    /// Creates an answer.
    public init(status: Int32 = 0, reply: [UInt8] = []) {
        self.status = status
        self.reply = reply
    }
}

/// What became of a request's answer given by an answer handler on the reader thread
/// (``NetlinkPushChannel/respond(name:options:answer:)``): ``Event/answered`` of the
/// request as the subscription's ``Subscription/events`` delivers it.
public struct AnsweredRequest: Sendable, Hashable {
    /// The answer the handler gave.
    public var answer: Answer
    /// nil when the kernel took the answer (the producer has it); otherwise why it
    /// refused it, as ``Subscription/ack(_:status:reply:)`` would throw it: `ENOENT`
    /// when the request had expired or another responder answered first, `ESTALE` for a
    /// request of an earlier load of the module,
    /// ``NetlinkPushError/invalidArgument(reason:)`` for a reply over 61440 bytes.
    public var error: NetlinkPushError?
    /// Nanoseconds from the library's reception of the request to the kernel's answer to
    /// the acknowledgement (the handler's time included).
    public var tookNs: UInt64

    /// Creates an outcome (mostly useful in tests).
    public init(answer: Answer, error: NetlinkPushError? = nil, tookNs: UInt64 = 0) {
        self.answer = answer
        self.error = error
        self.tookNs = tookNs
    }

    /// Whether the kernel took the answer.
    public var isAccepted: Bool { error == nil }
}
