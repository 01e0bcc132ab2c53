/// Flags of an ``Event`` (`enum nlpush_event_flags`).
public struct EventFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The `NLPUSH_A_FLAGS` bits.
    public let rawValue: UInt32
    /// Creates flags from `NLPUSH_A_FLAGS` bits (unknown bits are kept).
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The producer waits for an answer: a responder subscription (``SubscriptionOptions/responder``)
    /// answers it with ``Subscription/ack(_:status:reply:)`` and a status; other
    /// subscriptions must not acknowledge it.
    public static let replyWanted = EventFlags(rawValue: Proto.flagReplyWanted)
    /// The event was delivered by a replay dump, not by the multicast group.
    public static let replayed = EventFlags(rawValue: Proto.flagReplayed)

    /// The set flags, e.g. `[replyWanted, replayed]`.
    public var description: String {
        var parts: [String] = []
        if contains(.replyWanted) { parts.append("replyWanted") }
        if contains(.replayed) { parts.append("replayed") }
        let rest = rawValue & ~(EventFlags.replyWanted.rawValue | EventFlags.replayed.rawValue)
        if rest != 0 { parts.append("0x" + String(rest, radix: 16)) }
        return "[" + parts.joined(separator: ", ") + "]"
    }
}

/// One event published by a kernel producer.
///
/// Events of a subscription arrive in strict sequence order; see ``SubscriptionItem``
/// for how gaps are reported.
public struct Event: Sendable, Hashable, CustomStringConvertible {
    /// Sequence number: starts at 1 when the module loads and grows by one per event.
    public var seq: UInt64
    /// Event type, chosen by the producer.
    public var type: UInt32
    /// Flags (``EventFlags/replyWanted``, ``EventFlags/replayed``).
    public var flags: EventFlags
    /// `CLOCK_MONOTONIC` time of publication in the kernel, in nanoseconds.
    public var timestampNs: UInt64
    /// The payload (0 to 61440 bytes).
    public var payload: [UInt8]
    /// `CLOCK_MONOTONIC` time at which the library received the message, in nanoseconds
    /// (0 for events decoded by hand).
    public var receivedNs: UInt64
    /// The module load this event belongs to (`NLPUSH_A_EPOCH`): a random non-zero number
    /// the kernel module picks when it loads, carried by every event since protocol
    /// version 2. Sequence numbers restart at 1 with a new epoch, so `(epoch, seq)` names
    /// an event for good. 0 when the message carried no epoch (a version 1 module, or an
    /// event created by hand); acknowledgements carry it back when it is not 0, and the
    /// kernel refuses them with `ESTALE` once the module was reloaded.
    public var epoch: UInt64
    /// For a request answered on the reader thread by the subscription's answer handler
    /// (``NetlinkPushChannel/respond(name:options:answer:)``): the answer and whether the
    /// kernel took it. nil for every other event (do not answer such a request again).
    public var answered: AnsweredRequest? {
        get { answeredBox?.value }
        set { answeredBox = newValue.map(AnsweredBox.init) }
    }
    /// Boxed: rare, and large inline (an `Event` is copied and destroyed per event).
    var answeredBox: AnsweredBox?

    /// Creates an event (mostly useful in tests).
    public init(
        seq: UInt64, type: UInt32 = 0, flags: EventFlags = [], timestampNs: UInt64 = 0,
        payload: [UInt8] = [], receivedNs: UInt64 = 0, epoch: UInt64 = 0
    ) {
        self.epoch = epoch
        self.seq = seq
        self.type = type
        self.flags = flags
        self.timestampNs = timestampNs
        self.payload = payload
        self.receivedNs = receivedNs
        answeredBox = nil
    }

    /// Whether the producer waits for an answer (``EventFlags/replyWanted``).
    public var wantsReply: Bool { flags.contains(.replyWanted) }

    /// Latency from publication to reception, in nanoseconds (0 if unknown).
    public var latencyNs: UInt64 {
        receivedNs > timestampNs && receivedNs != 0 ? receivedNs - timestampNs : 0
    }

    /// Decodes one complete netlink message (nlmsghdr + genlmsghdr + attributes) holding
    /// an event: an `NLPUSH_CMD_EVENT` multicast, or an `NLPUSH_CMD_REPLAY` dump message.
    ///
    /// The message type (generic netlink family id) is not checked: it is assigned at
    /// run time. Everything else is validated: truncated headers, attribute lengths that
    /// overrun the message, attributes of the wrong size, an oversize payload, a missing
    /// or zero sequence number, or trailing bytes after the message all throw
    /// ``NetlinkPushError/malformed(reason:)``.
    public init(decoding bytes: [UInt8], receivedNs: UInt64 = 0) throws(NetlinkPushError) {
        self = try MessageDecoder.decodeSingle(bytes) { (m) throws(NetlinkPushError) in
            try MessageDecoder.event(try GenlMessage(m), receivedNs: receivedNs)
        }
    }

    /// A short summary (the payload is not printed).
    public var description: String {
        "Event(seq: \(seq), type: \(type), flags: \(flags), \(payload.count) bytes)"
    }
}

/// The storage of ``Event/answered``: compared and hashed by value.
final class AnsweredBox: Sendable, Hashable {
    let value: AnsweredRequest
    init(_ value: AnsweredRequest) { self.value = value }
    static func == (a: AnsweredBox, b: AnsweredBox) -> Bool { a.value == b.value }
    func hash(into h: inout Hasher) { h.combine(value) }
}
