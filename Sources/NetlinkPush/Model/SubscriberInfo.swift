/// One registered subscriber (`NLPUSH_CMD_GET_SUBSCRIBERS`).
public struct SubscriberInfo: Sendable, Hashable {
    /// Netlink port id of the subscriber's control socket.
    public var portID: UInt32 = 0
    /// Name given at subscription.
    public var name: String = ""
    /// Process (tgid) that subscribed.
    public var pid: UInt32 = 0
    /// Events it acknowledged and requests it answered (an ack of a range counts each
    /// event of it).
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
