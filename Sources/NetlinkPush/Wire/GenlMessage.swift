/// A generic netlink message: genlmsghdr + attributes.
struct GenlMessage {
    var header: NetlinkMessage
    var command: UInt8
    var version: UInt8
    var attributes: ByteView

    init(_ msg: NetlinkMessage) throws(NetlinkPushError) {
        guard msg.payload.count >= NL.genlHeaderSize else {
            throw .malformed(reason: "truncated generic netlink header: \(msg.payload.count) bytes, need \(NL.genlHeaderSize)")
        }
        header = msg
        command = try msg.payload.u8(NL.genlCommandOffset)
        version = try msg.payload.u8(NL.genlVersionOffset)
        attributes = try msg.payload.slice(NL.genlHeaderSize, msg.payload.count - NL.genlHeaderSize)
    }

    /// Calls `body` for each attribute.
    func forEachAttribute(_ body: (Attribute) throws(NetlinkPushError) -> Void) throws(NetlinkPushError) {
        var it = AttributeIterator(attributes)
        while let a = try it.next() { try body(a) }
    }
}
