// Pure Swift netlink framing: nlmsghdr / genlmsghdr / nlattr parsing and building.
// No C calls: this is the hot receive path and what the host tests exercise with
// byte fixtures. Every read is bounds-checked; malformed input throws, never traps.

/// Netlink constants (linux/netlink.h, linux/genetlink.h). Kept as Swift literals
/// so that the pure decoding layer needs no C module.
enum NL {
    static let headerSize = 16          // NLMSG_HDRLEN
    static let genlHeaderSize = 4       // GENL_HDRLEN
    static let attrHeaderSize = 4       // NLA_HDRLEN

    static let typeNoop: UInt16 = 1     // NLMSG_NOOP
    static let typeError: UInt16 = 2    // NLMSG_ERROR
    static let typeDone: UInt16 = 3     // NLMSG_DONE
    static let typeOverrun: UInt16 = 4  // NLMSG_OVERRUN
    static let genlIDCtrl: UInt16 = 16  // GENL_ID_CTRL

    static let fRequest: UInt16 = 0x01
    static let fMulti: UInt16 = 0x02
    static let fAck: UInt16 = 0x04
    static let fDumpIntr: UInt16 = 0x10
    static let fDump: UInt16 = 0x300    // NLM_F_ROOT | NLM_F_MATCH
    static let fCapped: UInt16 = 0x100  // in NLMSG_ERROR
    static let fAckTLVs: UInt16 = 0x200 // in NLMSG_ERROR / NLMSG_DONE

    static let nlaTypeMask: UInt16 = 0x3fff

    // NLMSGERR_ATTR_*
    static let errAttrMsg: UInt16 = 1
    static let errAttrOffs: UInt16 = 2
    static let errAttrMissType: UInt16 = 5

    // CTRL_CMD_* / CTRL_ATTR_*
    static let ctrlCmdNewFamily: UInt8 = 1
    static let ctrlCmdDelFamily: UInt8 = 2
    static let ctrlCmdGetFamily: UInt8 = 3
    static let ctrlCmdGetPolicy: UInt8 = 10
    static let ctrlAttrFamilyID: UInt16 = 1
    static let ctrlAttrFamilyName: UInt16 = 2
    static let ctrlAttrVersion: UInt16 = 3
    static let ctrlAttrMaxAttr: UInt16 = 5
    static let ctrlAttrOps: UInt16 = 6
    static let ctrlAttrMcastGroups: UInt16 = 7
    static let ctrlAttrPolicy: UInt16 = 8
    static let ctrlAttrOpPolicy: UInt16 = 9

    @inline(__always) static func align(_ n: Int) -> Int { (n + 3) & ~3 }
}

/// nlpush numbers (kmod/include/uapi/linux/nlpush.h). The test suite checks that
/// they match the C header imported through CNetlink.
enum Proto {
    static let version: UInt8 = 2
    static let payloadMax = 61440
    static let nameMax = 32

    enum Cmd: UInt8 {
        case event = 1, ack, subscribe, unsubscribe, getStats, getSubscribers, replay, emit, reply
    }
    enum Attr: UInt16 {
        case pad = 1, seq, timestampNs, type, flags, payload, status, name, count, portID, stats,
            subscriber, timeoutMs, epoch, error
    }
    enum StatsAttr: UInt16 {
        case pad = 1, published, delivered, noListeners, deliveryErrors, publishFailures, acks,
            acksRejected, requests, replies, requestTimeouts, requestsPending, subscribers, oldestSeq,
            nextSeq, ringEvents, ringBytes, ringMaxEvents, ringMaxBytes, replayed, responders, txqDrops,
            requestsFailed, repliesUndelivered
    }
    enum SubscriberAttr: UInt16 {
        case pad = 1, portID, name, pid, acks, lastAckedSeq, replies, subscribedNs, flags
    }
    static let flagReplyWanted: UInt32 = 1 << 0
    static let flagReplayed: UInt32 = 1 << 1
    static let flagResponder: UInt32 = 1 << 2

    /// Whether a genl command carries an event: live (`EVENT`) or from a replay dump
    /// (`REPLAY`: since version 2, dump messages carry the request's command number).
    @inline(__always) static func isEventCommand(_ cmd: UInt8) -> Bool {
        cmd == Cmd.event.rawValue || cmd == Cmd.replay.rawValue
    }
}

// MARK: - Reading

/// A bounds-checked view over received bytes.
///
/// The checked readers are inlined (they are the receive path's inner loop); the
/// error, with its formatted reason, is built out of line only when a check fails.
struct ByteView {
    let base: UnsafeRawBufferPointer

    @inline(__always) var count: Int { base.count }

    @inline(__always) func u16(_ off: Int) throws(NetlinkPushError) -> UInt16 {
        guard off >= 0, off &+ 2 <= base.count else { throw ByteView.pastEnd(off) }
        return loadUnchecked(off)
    }
    @inline(__always) func u32(_ off: Int) throws(NetlinkPushError) -> UInt32 {
        guard off >= 0, off &+ 4 <= base.count else { throw ByteView.pastEnd(off) }
        return loadUnchecked(off)
    }
    @inline(__always) func u64(_ off: Int) throws(NetlinkPushError) -> UInt64 {
        guard off >= 0, off &+ 8 <= base.count else { throw ByteView.pastEnd(off) }
        return loadUnchecked(off)
    }
    @inline(__always) func u8(_ off: Int) throws(NetlinkPushError) -> UInt8 {
        guard off >= 0, off < base.count else { throw ByteView.pastEnd(off) }
        return loadUnchecked(off)
    }
    @inline(__always) func slice(_ off: Int, _ len: Int) throws(NetlinkPushError) -> ByteView {
        guard off >= 0, len >= 0, off &+ len <= base.count else { throw ByteView.outside(off, len, base.count) }
        return sliceUnchecked(off, len)
    }

    /// A read the caller has bounds-checked already (`off + size <= count`).
    @inline(__always) func loadUnchecked<T: FixedWidthInteger>(_ off: Int) -> T {
        assert(off >= 0 && off + MemoryLayout<T>.size <= base.count)
        // off + size <= count, so count > 0 and the buffer has a base address.
        return base.baseAddress.unsafelyUnwrapped.loadUnaligned(fromByteOffset: off, as: T.self)
    }
    /// A sub-view the caller has bounds-checked already.
    @inline(__always) func sliceUnchecked(_ off: Int, _ len: Int) -> ByteView {
        assert(off >= 0 && len >= 0 && off + len <= base.count)
        guard let p = base.baseAddress else { return self }
        return ByteView(base: UnsafeRawBufferPointer(start: p + off, count: len))
    }

    /// A copy of the bytes. (Array(UnsafeBufferPointer<UInt8>) is the specialized
    /// copy: one allocation and a memcpy; unsafeUninitializedCapacity measured twice
    /// its instructions, in a generic metadata lookup.)
    var bytes: [UInt8] { Array(base.assumingMemoryBound(to: UInt8.self)) }

    @inline(never) static func pastEnd(_ off: Int) -> NetlinkPushError {
        .malformed(reason: "read past end at offset \(off)")
    }
    @inline(never) static func outside(_ off: Int, _ len: Int, _ count: Int) -> NetlinkPushError {
        .malformed(reason: "range \(off)..<\(off + len) outside \(count) bytes")
    }
}

/// One netlink message inside a receive buffer.
struct NetlinkMessage {
    var length: UInt32
    var type: UInt16
    var flags: UInt16
    var seq: UInt32
    var portID: UInt32
    /// Everything after the 16-byte nlmsghdr, up to nlmsg_len.
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
        // remaining >= 16: the header reads below are in bounds.
        let len = Int(view.loadUnchecked(offset) as UInt32)
        guard len >= NL.headerSize else { throw NetlinkMessageIterator.short(len) }
        guard len <= remaining else { throw NetlinkMessageIterator.overrun(len, remaining) }
        let msg = NetlinkMessage(
            length: UInt32(truncatingIfNeeded: len),
            type: view.loadUnchecked(offset + 4),
            flags: view.loadUnchecked(offset + 6),
            seq: view.loadUnchecked(offset + 8),
            portID: view.loadUnchecked(offset + 12),
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

/// One attribute: type (flags masked off) and its value bytes.
struct Attribute {
    var type: UInt16
    var nested: Bool
    var value: ByteView

    @inline(__always) func u64(_ name: @autoclosure () -> String) throws(NetlinkPushError) -> UInt64 {
        guard value.count == 8 else { throw Attribute.wrongSize(name(), value.count, 8) }
        return value.loadUnchecked(0)
    }
    @inline(__always) func u32(_ name: @autoclosure () -> String) throws(NetlinkPushError) -> UInt32 {
        guard value.count == 4 else { throw Attribute.wrongSize(name(), value.count, 4) }
        return value.loadUnchecked(0)
    }
    @inline(__always) func u16(_ name: @autoclosure () -> String) throws(NetlinkPushError) -> UInt16 {
        guard value.count == 2 else { throw Attribute.wrongSize(name(), value.count, 2) }
        return value.loadUnchecked(0)
    }
    @inline(never) static func wrongSize(_ name: String, _ count: Int, _ want: Int) -> NetlinkPushError {
        .malformed(reason: "\(name) attribute is \(count) bytes, must be \(want)")
    }
    func s32(_ name: @autoclosure () -> String) throws(NetlinkPushError) -> Int32 { Int32(bitPattern: try u32(name())) }
    /// A NUL-terminated (or unterminated) string, decoded as UTF-8 with repair.
    func string() -> String {
        var end = value.count
        if let nul = value.base.firstIndex(of: 0) { end = nul }
        return String(decoding: UnsafeRawBufferPointer(rebasing: value.base[0..<end]), as: UTF8.self)
    }
}

/// Walks a run of attributes (nla_for_each_attr, checked).
struct AttributeIterator {
    private let view: ByteView
    private var offset = 0

    init(_ view: ByteView) { self.view = view }

    @inline(__always) mutating func next() throws(NetlinkPushError) -> Attribute? {
        let remaining = view.count - offset
        if remaining <= 0 { return nil }
        guard remaining >= NL.attrHeaderSize else {
            throw .malformed(reason: "truncated attribute header: \(remaining) bytes left")
        }
        // remaining >= 4: the header reads are in bounds.
        let len = Int(view.loadUnchecked(offset) as UInt16)
        let rawType: UInt16 = view.loadUnchecked(offset + 2)
        guard len >= NL.attrHeaderSize, len <= remaining else {
            throw AttributeIterator.badLength(rawType & NL.nlaTypeMask, len, remaining)
        }
        let attr = Attribute(
            type: rawType & NL.nlaTypeMask, nested: rawType & 0x8000 != 0,
            value: view.sliceUnchecked(offset + NL.attrHeaderSize, len - NL.attrHeaderSize))
        offset += min(NL.align(len), remaining)
        return attr
    }

    @inline(never) static func badLength(_ type: UInt16, _ len: Int, _ remaining: Int) -> NetlinkPushError {
        if len < NL.attrHeaderSize { return .malformed(reason: "attribute \(type) has length \(len) < 4") }
        return .malformed(reason: "attribute \(type) length \(len) overruns the \(remaining) bytes left")
    }
}

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
        command = try msg.payload.u8(0)
        version = try msg.payload.u8(1)
        attributes = try msg.payload.slice(NL.genlHeaderSize, msg.payload.count - NL.genlHeaderSize)
    }

    /// Calls `body` for each attribute.
    func forEachAttribute(_ body: (Attribute) throws(NetlinkPushError) -> Void) throws(NetlinkPushError) {
        var it = AttributeIterator(attributes)
        while let a = try it.next() { try body(a) }
    }
}

/// The error an NLMSG_ERROR (or a dump's NLMSG_DONE) carries.
struct NetlinkAck: Equatable {
    /// 0 for an ACK, else a positive errno.
    var errno: Int32
    var extack: String?
    /// NLMSGERR_ATTR_MISS_TYPE, when the kernel named a missing attribute.
    var missingAttribute: UInt16?

    /// Parses the payload of an NLMSG_ERROR message.
    init(error msg: NetlinkMessage) throws(NetlinkPushError) {
        let p = msg.payload
        guard p.count >= 4 else { throw .malformed(reason: "truncated NLMSG_ERROR: \(p.count) bytes") }
        errno = -Int32(bitPattern: try p.u32(0))
        var tlvStart = 4
        if p.count >= 4 + NL.headerSize {
            let origLen = Int(try p.u32(4))
            if msg.flags & NL.fCapped != 0 || origLen < NL.headerSize {
                tlvStart = 4 + NL.headerSize
            } else {
                tlvStart = 4 + NL.align(origLen)
            }
        } else {
            tlvStart = p.count
        }
        (extack, missingAttribute) = (nil, nil)
        if msg.flags & NL.fAckTLVs != 0, tlvStart < p.count {
            try parseTLVs(try p.slice(tlvStart, p.count - tlvStart))
        }
    }

    /// Parses the payload of a dump's NLMSG_DONE message.
    init(done msg: NetlinkMessage) throws(NetlinkPushError) {
        let p = msg.payload
        errno = p.count >= 4 ? -Int32(bitPattern: try p.u32(0)) : 0
        (extack, missingAttribute) = (nil, nil)
        if msg.flags & NL.fAckTLVs != 0, p.count > 4 {
            try parseTLVs(try p.slice(4, p.count - 4))
        }
    }

    init(errno: Int32, extack: String? = nil, missingAttribute: UInt16? = nil) {
        self.errno = errno
        self.extack = extack
        self.missingAttribute = missingAttribute
    }

    private mutating func parseTLVs(_ v: ByteView) throws(NetlinkPushError) {
        var it = AttributeIterator(v)
        while let a = try it.next() {
            switch a.type {
            case NL.errAttrMsg: extack = a.string()
            case NL.errAttrMissType: missingAttribute = try? a.u32("MISS_TYPE").clampedU16
            default: break
            }
        }
    }

    /// The extack text, or a synthesized one naming the missing attribute.
    var message: String? {
        if let extack, !extack.isEmpty {
            if let m = missingAttribute { return "\(extack) (missing attribute \(Proto.Attr.nameOf(m)))" }
            return extack
        }
        if let m = missingAttribute { return "missing attribute \(Proto.Attr.nameOf(m))" }
        return nil
    }
}

extension UInt32 {
    var clampedU16: UInt16 { UInt16(truncatingIfNeeded: self) }
}

extension Proto.Attr {
    static func nameOf(_ raw: UInt16) -> String {
        guard let a = Proto.Attr(rawValue: raw) else { return "#\(raw)" }
        switch a {
        case .pad: return "PAD"
        case .seq: return "SEQ"
        case .timestampNs: return "TIMESTAMP_NS"
        case .type: return "TYPE"
        case .flags: return "FLAGS"
        case .payload: return "PAYLOAD"
        case .status: return "STATUS"
        case .name: return "NAME"
        case .count: return "COUNT"
        case .portID: return "PORTID"
        case .stats: return "STATS"
        case .subscriber: return "SUBSCRIBER"
        case .timeoutMs: return "TIMEOUT_MS"
        case .epoch: return "EPOCH"
        case .error: return "ERROR"
        }
    }
}

// MARK: - Writing

/// One attribute of a request, before encoding.
enum WireAttribute: Equatable, Sendable {
    case u16(UInt16, UInt16)
    case u32(UInt16, UInt32)
    case s32(UInt16, Int32)
    case u64(UInt16, UInt64)
    case binary(UInt16, [UInt8])
    /// Encoded with its terminating NUL (nla_put_string).
    case string(UInt16, String)

    var type: UInt16 {
        switch self {
        case .u16(let t, _), .u32(let t, _), .s32(let t, _), .u64(let t, _), .binary(let t, _), .string(let t, _):
            return t
        }
    }

    /// Bytes of the value, without the attribute header and padding.
    var valueSize: Int {
        switch self {
        case .u16: return 2
        case .u32, .s32: return 4
        case .u64: return 8
        case .binary(_, let b): return b.count
        case .string(_, let s): return s.utf8.count + 1
        }
    }
}

/// Builds a generic netlink message byte by byte (pure Swift twin of
/// genlmsg_put + nla_put_*; the tests check both produce the same bytes).
struct GenlMessageBuilder {
    private(set) var bytes: [UInt8] = []

    init(type: UInt16, flags: UInt16, seq: UInt32, portID: UInt32, command: UInt8, version: UInt8) {
        bytes.reserveCapacity(64)
        append(UInt32(0))  // length, patched by finish()
        append(type)
        append(flags)
        append(seq)
        append(portID)
        bytes.append(command)
        bytes.append(version)
        append(UInt16(0))
    }

    mutating func put(_ attr: WireAttribute) {
        switch attr {
        case .u16(let t, let v): putRaw(t, withBytes: v)
        case .u32(let t, let v): putRaw(t, withBytes: v)
        case .s32(let t, let v): putRaw(t, withBytes: v)
        case .u64(let t, let v): putRaw(t, withBytes: v)
        case .binary(let t, let v): putRaw(t, v)
        case .string(let t, let s): putRaw(t, Array(s.utf8) + [0])
        }
    }

    mutating func finish() -> [UInt8] {
        let len = UInt32(bytes.count)
        withUnsafeBytes(of: len) { raw in
            for i in 0..<4 { bytes[i] = raw[i] }
        }
        return bytes
    }

    private mutating func putRaw<T: FixedWidthInteger>(_ type: UInt16, withBytes value: T) {
        var v = value
        let data = withUnsafeBytes(of: &v) { Array($0) }
        putRaw(type, data)
    }

    private mutating func putRaw(_ type: UInt16, _ data: [UInt8]) {
        append(UInt16(NL.attrHeaderSize + data.count))
        append(type)
        bytes.append(contentsOf: data)
        let pad = NL.align(data.count) - data.count
        if pad > 0 { bytes.append(contentsOf: repeatElement(0, count: pad)) }
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        var v = value
        withUnsafeBytes(of: &v) { bytes.append(contentsOf: $0) }
    }
}
