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
    /// Events acknowledged and requests answered: an ack of a range
    /// (``Subscription/ack(_:)``) counts each event of it.
    public var acks: UInt64 = 0
    /// Ack messages refused (a sequence number never published, no pending request for
    /// an answer, another load's epoch, ...).
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
