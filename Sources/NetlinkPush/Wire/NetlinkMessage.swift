/// One netlink message inside a receive buffer.
struct NetlinkMessage {
    var length: UInt32
    var type: UInt16
    var flags: UInt16
    var seq: UInt32
    var portID: UInt32
    /// Everything after the nlmsghdr, up to nlmsg_len.
    var payload: ByteView
}

/// Splits a receive buffer into netlink messages (NLMSG_OK / NLMSG_NEXT, checked).
struct NetlinkMessageIterator {
    private let view: ByteView
    private var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) { view = ByteView(base: buffer) }

    @inline(__always) mutating func next() throws(NetlinkPushError) -> NetlinkMessage? {
        let remaining = view.count - offset
        if remaining <= 0 { return nil }
        guard remaining >= NL.headerSize else {
            throw .malformed(reason: "truncated netlink header: \(remaining) bytes, need \(NL.headerSize)")
        }
        // remaining >= the header size: the header reads below are in bounds.
        let len = Int(view.loadUnchecked(offset) as UInt32)
        guard len >= NL.headerSize else { throw NetlinkMessageIterator.short(len) }
        guard len <= remaining else { throw NetlinkMessageIterator.overrun(len, remaining) }
        let msg = NetlinkMessage(
            length: UInt32(truncatingIfNeeded: len),
            type: view.loadUnchecked(offset + NL.msgTypeOffset),
            flags: view.loadUnchecked(offset + NL.msgFlagsOffset),
            seq: view.loadUnchecked(offset + NL.msgSeqOffset),
            portID: view.loadUnchecked(offset + NL.msgPortIDOffset),
            payload: view.sliceUnchecked(offset + NL.headerSize, len - NL.headerSize))
        offset += min(NL.align(len), remaining)
        return msg
    }

    @inline(never) static func short(_ len: Int) -> NetlinkPushError {
        .malformed(reason: "netlink message length \(len) is shorter than its header")
    }
    @inline(never) static func overrun(_ len: Int, _ remaining: Int) -> NetlinkPushError {
        .malformed(reason: "netlink message length \(len) overruns the \(remaining) bytes received")
    }
}
