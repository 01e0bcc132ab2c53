/// Flags of an ``Event`` (`enum nlpush_event_flags`).
public struct EventFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The `NLPUSH_A_FLAGS` bits.
    public let rawValue: UInt32
    /// Creates flags from `NLPUSH_A_FLAGS` bits (unknown bits are kept).
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The producer waits for an answer: a responder subscription (``SubscriptionOptions/responder``)
    /// answers it with ``Subscription/ack(_:status:reply:)`` and a status; other
    /// subscriptions must not acknowledge it.
    public static let replyWanted = EventFlags(rawValue: 1 << 0)
    /// The event was delivered by a replay dump, not by the multicast group.
    public static let replayed = EventFlags(rawValue: 1 << 1)

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

/// What a subscription's ``Subscription/events`` sequence yields.
public enum SubscriptionItem: Sendable, Hashable {
    /// The next event, in sequence order (live, or from a replay during recovery).
    case event(Event)
    /// These sequence numbers are gone for good: the kernel's replay ring no longer held
    /// them when the subscription tried to recover them. Loss is never silent.
    case lost(ClosedRange<UInt64>)
    /// A recovery replay after an overrun (socket `ENOBUFS`, sequence gap or a full
    /// stream buffer) delivered this many events that would otherwise have been lost.
    case recovered(count: Int)
    /// The `nlpush` family disappeared (the module was unloaded). With
    /// ``SubscriptionOptions/autoReconnect`` the subscription waits for it to come back;
    /// otherwise the sequence ends after this item.
    case disconnected
    /// The family is back: the subscription re-resolved it, rejoined the events group and
    /// registered again. Sequence numbers restart at 1 after a reload.
    case reconnected
    /// A resumed subscription (``NetlinkPushChannel/subscribe(name:from:epoch:options:)``)
    /// started from a position of another load of the module: the kernel's epoch is
    /// `epoch`, not `previousEpoch` (nil when the caller gave none and its sequence number
    /// was beyond the newest one published, which only a reload explains). The events
    /// of the earlier load after that position are gone for good, and their number is
    /// unknown; the events that follow are the current load's, from sequence number 1
    /// (with a ``lost(_:)`` range for those its ring no longer holds). Always the first
    /// item when it comes.
    case reloaded(previousEpoch: UInt64?, epoch: UInt64)

    /// The event, if this item is one.
    public var event: Event? {
        if case .event(let e) = self { return e }
        return nil
    }
}

/// Counters and replay-ring state of the channel (`NLPUSH_CMD_GET_STATS`).
public struct Stats: Sendable, Hashable {
    /// Events published (each consumed one sequence number).
    public var published: UInt64 = 0
    /// Events the multicast reached at least one listener with.
    public var delivered: UInt64 = 0
    /// Events published while nobody had joined the events group.
    public var noListeners: UInt64 = 0
    /// Multicasts that failed for some listener (overrun, no memory).
    public var deliveryErrors: UInt64 = 0
    /// Publications refused before a sequence number was assigned.
    public var publishFailures: UInt64 = 0
    /// Accepted acknowledgements.
    public var acks: UInt64 = 0
    /// Rejected acknowledgements (no pending request for the sequence number).
    public var acksRejected: UInt64 = 0
    /// Requests published (events with reply wanted).
    public var requests: UInt64 = 0
    /// Requests answered.
    public var replies: UInt64 = 0
    /// Requests that timed out.
    public var requestTimeouts: UInt64 = 0
    /// Requests currently waiting for an answer.
    public var requestsPending: UInt32 = 0
    /// Registered subscribers.
    public var subscribers: UInt32 = 0
    /// Oldest sequence number the replay ring holds (equals ``nextSeq`` when empty).
    public var oldestSeq: UInt64 = 0
    /// Sequence number the next event will get (1 after load).
    public var nextSeq: UInt64 = 0
    /// Events in the replay ring.
    public var ringEvents: UInt32 = 0
    /// Bytes in the replay ring.
    public var ringBytes: UInt64 = 0
    /// Capacity of the replay ring, in events (module parameter `ring_events`).
    public var ringMaxEvents: UInt32 = 0
    /// Capacity of the replay ring, in bytes (module parameter `ring_bytes`).
    public var ringMaxBytes: UInt64 = 0
    /// Events sent by replay dumps.
    public var replayed: UInt64 = 0
    /// Subscribers registered as responders (``SubscriptionOptions/responder``).
    public var responders: UInt32 = 0
    /// Events not multicast because the kernel's transmit queue was full (they are still
    /// in the replay ring).
    public var txqDrops: UInt64 = 0
    /// Requests that ended without an answer for another reason than a timeout (the last
    /// responder went away, the module is unloading).
    public var requestsFailed: UInt64 = 0
    /// `NLPUSH_CMD_REPLY` messages the kernel could not deliver to the requesting socket.
    public var repliesUndelivered: UInt64 = 0
    /// The module load these counters belong to (see ``Event/epoch``; 0 when absent).
    public var epoch: UInt64 = 0

    /// All counters zero.
    public init() {}
}

/// One registered subscriber (`NLPUSH_CMD_GET_SUBSCRIBERS`).
public struct SubscriberInfo: Sendable, Hashable {
    /// Netlink port id of the subscriber's control socket.
    public var portID: UInt32 = 0
    /// Name given at subscription.
    public var name: String = ""
    /// Process (tgid) that subscribed.
    public var pid: UInt32 = 0
    /// Acknowledgements it sent.
    public var acks: UInt64 = 0
    /// Highest sequence number it acknowledged.
    public var lastAckedSeq: UInt64 = 0
    /// Requests it answered.
    public var replies: UInt64 = 0
    /// `CLOCK_MONOTONIC` time of subscription, in nanoseconds.
    public var subscribedNs: UInt64 = 0
    /// Flags it subscribed with (`NLPUSH_F_RESPONDER`, bit 2).
    public var flags: UInt32 = 0

    /// Whether it registered as a responder (``SubscriptionOptions/responder``): only
    /// responders may answer requests.
    public var isResponder: Bool { flags & Proto.flagResponder != 0 }

    /// An empty record.
    public init() {}
}

/// Answer of ``NetlinkPushChannel/emit(type:payload:count:)``.
public struct EmitResult: Sendable, Hashable {
    /// Sequence number of the first event published.
    public var firstSeq: UInt64
    /// Number of events published (consecutive sequence numbers from ``firstSeq``).
    ///
    /// Beyond 256, the kernel publishes the first 256 before it answers and the rest
    /// right after, in order: they may not all be published yet when this returns.
    public var count: UInt32
    /// The module load the events belong to (see ``Event/epoch``; 0 when absent).
    public var epoch: UInt64

    /// Creates a result.
    public init(firstSeq: UInt64, count: UInt32, epoch: UInt64 = 0) {
        self.firstSeq = firstSeq
        self.count = count
        self.epoch = epoch
    }

    /// The sequence numbers published.
    public var seqs: ClosedRange<UInt64>? {
        count == 0 ? nil : firstSeq...(firstSeq + UInt64(count) - 1)
    }
}

/// A responder's answer to ``NetlinkPushChannel/request(type:payload:timeout:)``.
public struct Reply: Sendable, Hashable {
    /// Sequence number of the request event.
    public var seq: UInt64
    /// Status the responder answered with (0 for success by convention).
    public var status: Int32
    /// The reply payload (possibly empty).
    public var payload: [UInt8]
    /// Netlink port id of the responder socket that answered (its control socket:
    /// ``Subscription/portID``).
    public var portID: UInt32

    /// Creates a reply.
    public init(seq: UInt64, status: Int32, payload: [UInt8], portID: UInt32) {
        self.seq = seq
        self.status = status
        self.payload = payload
        self.portID = portID
    }
}
