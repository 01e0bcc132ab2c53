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
