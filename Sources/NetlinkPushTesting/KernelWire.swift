internal import CNetlink

// The fake kernel's own netlink codec: how the kernel lays out its messages
// (nlmsghdr, genlmsghdr, attributes, NLMSG_ERROR with extack), written independently
// of the library's decoders so that host tests check one against the other.

/// Numbers of linux/netlink.h, linux/genetlink.h and the nlpush UAPI header, taken
/// from the headers themselves (through CNetlink), as the module takes them.
enum K {
    static let headerSize = Int(cnl_nlmsg_hdrlen())
    static let typeError = UInt16(NLMSG_ERROR)
    static let typeDone = UInt16(NLMSG_DONE)
    static let genlIDCtrl = UInt16(GENL_ID_CTRL)
    static let flagMulti = UInt16(NLM_F_MULTI)
    static let flagCapped = UInt16(NLM_F_CAPPED)
    static let flagAckTLVs = UInt16(NLM_F_ACK_TLVS)
    static let flagDump = UInt16(NLM_F_DUMP)
    static let protocolVersion = UInt8(NLPUSH_FAMILY_VERSION)
    static let familyName = NLPUSH_FAMILY_NAME

    static let errAttrMsg = K.u16(NLMSGERR_ATTR_MSG)
    static let errAttrMissType = K.u16(NLMSGERR_ATTR_MISS_TYPE)

    static let ctrlCmdNewFamily = K.u8(CTRL_CMD_NEWFAMILY)
    static let ctrlCmdDelFamily = K.u8(CTRL_CMD_DELFAMILY)
    static let ctrlCmdGetFamily = K.u8(CTRL_CMD_GETFAMILY)
    static let ctrlCmdGetPolicy = K.u8(CTRL_CMD_GETPOLICY)
    static let ctrlAttrFamilyID = K.u16(CTRL_ATTR_FAMILY_ID)
    static let ctrlAttrFamilyName = K.u16(CTRL_ATTR_FAMILY_NAME)
    static let ctrlAttrVersion = K.u16(CTRL_ATTR_VERSION)
    static let ctrlAttrMaxAttr = K.u16(CTRL_ATTR_MAXATTR)
    static let ctrlAttrOps = K.u16(CTRL_ATTR_OPS)
    static let ctrlAttrMcastGroups = K.u16(CTRL_ATTR_MCAST_GROUPS)
    static let ctrlAttrPolicy = K.u16(CTRL_ATTR_POLICY)
    static let ctrlAttrOpPolicy = K.u16(CTRL_ATTR_OP_POLICY)
    /// The controller's `notify` multicast group: the first group genetlink registers
    /// (`GENL_ID_CTRL`, which libnl resolves it to).
    static let ctrlNotifyGroup = Int32(GENL_ID_CTRL)

    static let cmdEvent = K.u8(NLPUSH_CMD_EVENT)
    static let cmdAck = K.u8(NLPUSH_CMD_ACK)
    static let cmdSubscribe = K.u8(NLPUSH_CMD_SUBSCRIBE)
    static let cmdUnsubscribe = K.u8(NLPUSH_CMD_UNSUBSCRIBE)
    static let cmdGetStats = K.u8(NLPUSH_CMD_GET_STATS)
    static let cmdGetSubscribers = K.u8(NLPUSH_CMD_GET_SUBSCRIBERS)
    static let cmdReplay = K.u8(NLPUSH_CMD_REPLAY)
    static let cmdEmit = K.u8(NLPUSH_CMD_EMIT)
    static let cmdReply = K.u8(NLPUSH_CMD_REPLY)

    static let attrSeq = attr(NLPUSH_A_SEQ)
    static let attrTimestamp = attr(NLPUSH_A_TIMESTAMP_NS)
    static let attrType = attr(NLPUSH_A_TYPE)
    static let attrFlags = attr(NLPUSH_A_FLAGS)
    static let attrPayload = attr(NLPUSH_A_PAYLOAD)
    static let attrStatus = attr(NLPUSH_A_STATUS)
    static let attrName = attr(NLPUSH_A_NAME)
    static let attrCount = attr(NLPUSH_A_COUNT)
    static let attrPortID = attr(NLPUSH_A_PORTID)
    static let attrStats = attr(NLPUSH_A_STATS)
    static let attrSubscriber = attr(NLPUSH_A_SUBSCRIBER)
    static let attrTimeoutMs = attr(NLPUSH_A_TIMEOUT_MS)
    static let attrEpoch = attr(NLPUSH_A_EPOCH)
    static let attrError = attr(NLPUSH_A_ERROR)
    static let attrMax = K.u32(NLPUSH_A_MAX)

    static let flagReplyWanted = NLPUSH_F_REPLY_WANTED.rawValue
    static let flagReplayed = NLPUSH_F_REPLAYED.rawValue
    static let flagResponder = NLPUSH_F_RESPONDER.rawValue

    static func attr(_ a: nlpush_attr) -> UInt16 { u16(a) }
    static func stat(_ a: nlpush_stats_attr) -> UInt16 { u16(a) }
    static func sub(_ a: nlpush_subscriber_attr) -> UInt16 { u16(a) }

    // C enumerations import as `Int` (anonymous ones) or as a type with a raw value.
    static func u16<T: BinaryInteger>(_ v: T) -> UInt16 { UInt16(v) }
    static func u16<E: RawRepresentable>(_ e: E) -> UInt16 where E.RawValue: BinaryInteger { UInt16(e.rawValue) }
    static func u8<T: BinaryInteger>(_ v: T) -> UInt8 { UInt8(v) }
    static func u8<E: RawRepresentable>(_ e: E) -> UInt8 where E.RawValue: BinaryInteger { UInt8(e.rawValue) }
    static func u32<T: BinaryInteger>(_ v: T) -> UInt32 { UInt32(v) }
    static func u32<E: RawRepresentable>(_ e: E) -> UInt32 where E.RawValue: BinaryInteger { UInt32(e.rawValue) }
}

/// Builds one kernel message: nlmsghdr, genlmsghdr, attributes (host byte order).
struct MessageWriter {
    private(set) var bytes: [UInt8] = []

    init(type: UInt16, flags: UInt16 = 0, seq: UInt32 = 0, portID: UInt32 = 0, command: UInt8) {
        put32(0)
        put16(type)
        put16(flags)
        put32(seq)
        put32(portID)
        bytes += [command, K.protocolVersion, 0, 0]
    }

    mutating func u16(_ type: UInt16, _ v: UInt16) { attribute(type, le(v)) }
    mutating func u32(_ type: UInt16, _ v: UInt32) { attribute(type, le(v)) }
    mutating func s32(_ type: UInt16, _ v: Int32) { attribute(type, le(UInt32(bitPattern: v))) }
    mutating func u64(_ type: UInt16, _ v: UInt64) { attribute(type, le(v)) }
    mutating func string(_ type: UInt16, _ s: String) { attribute(type, Array(s.utf8) + [0]) }
    mutating func binary(_ type: UInt16, _ b: [UInt8]) { attribute(type, b) }
    /// A nested attribute whose contents `body` writes.
    mutating func nest(_ type: UInt16, _ body: (inout AttributeWriter) -> Void) {
        var inner = AttributeWriter()
        body(&inner)
        attribute(type, inner.bytes)
    }

    private mutating func attribute(_ type: UInt16, _ value: [UInt8]) {
        var a = AttributeWriter()
        a.raw(type, value)
        bytes += a.bytes
    }

    func finish() -> [UInt8] {
        var b = bytes
        let len = le(UInt32(b.count))
        for i in 0..<4 { b[i] = len[i] }
        return b
    }

    private mutating func put16(_ v: UInt16) { bytes += le(v) }
    private mutating func put32(_ v: UInt32) { bytes += le(v) }
}

/// Attributes inside a nest.
struct AttributeWriter {
    var bytes: [UInt8] = []
    mutating func u16(_ type: UInt16, _ v: UInt16) { raw(type, le(v)) }
    mutating func u32(_ type: UInt16, _ v: UInt32) { raw(type, le(v)) }
    mutating func u64(_ type: UInt16, _ v: UInt64) { raw(type, le(v)) }
    mutating func string(_ type: UInt16, _ s: String) { raw(type, Array(s.utf8) + [0]) }
    mutating func nest(_ type: UInt16, _ body: (inout AttributeWriter) -> Void) {
        var inner = AttributeWriter()
        body(&inner)
        raw(type, inner.bytes)
    }
    mutating func raw(_ type: UInt16, _ value: [UInt8]) {
        bytes += le(UInt16(4 + value.count)) + le(type) + value
        bytes += [UInt8](repeating: 0, count: (4 - value.count % 4) % 4)
    }
}

func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    withUnsafeBytes(of: v.littleEndian) { Array($0) }
}

/// A netlink error message (`NLMSG_ERROR`): `errno` 0 is an ACK. Capped (the request's
/// header only, as with `NETLINK_CAP_ACK`), with the extack message and the missing
/// attribute as TLVs (`NETLINK_EXT_ACK`).
func errorMessage(
    to request: ParsedRequest, portID: UInt32, errno: Int32, extack: String? = nil, missing: UInt16? = nil
) -> [UInt8] {
    var tlvs = AttributeWriter()
    if let extack { tlvs.string(K.errAttrMsg, extack) }
    if let missing { tlvs.u32(K.errAttrMissType, UInt32(missing)) }
    let flags = K.flagCapped | (tlvs.bytes.isEmpty ? 0 : K.flagAckTLVs)
    var body = le(UInt32(bitPattern: -errno))
    body += Array(request.header)
    body += tlvs.bytes
    return le(UInt32(K.headerSize + body.count)) + le(K.typeError) + le(flags) + le(request.seq) + le(portID) + body
}

/// The `NLMSG_DONE` that ends a dump.
func doneMessage(to request: ParsedRequest, portID: UInt32) -> [UInt8] {
    le(UInt32(K.headerSize + 4)) + le(K.typeDone) + le(K.flagMulti) + le(request.seq) + le(portID) + le(UInt32(0))
}

/// A request as the kernel sees it: header fields, command and attributes by type.
struct ParsedRequest {
    var header: ArraySlice<UInt8>
    var type: UInt16
    var flags: UInt16
    var seq: UInt32
    var command: UInt8
    var attributes: [UInt16: [UInt8]]

    /// Parses one message; nil when it is not a well-formed generic netlink message.
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= K.headerSize + 4 else { return nil }
        let len = Int(Self.read32(bytes, 0))
        guard len >= K.headerSize + 4, len <= bytes.count else { return nil }
        header = bytes[0..<K.headerSize]
        type = Self.read16(bytes, 4)
        flags = Self.read16(bytes, 6)
        seq = Self.read32(bytes, 8)
        command = bytes[16]
        guard let attrs = Self.attributes(Array(bytes[20..<len])) else { return nil }
        attributes = attrs
    }

    static func attributes(_ b: [UInt8]) -> [UInt16: [UInt8]]? {
        var out: [UInt16: [UInt8]] = [:]
        var off = 0
        while off + 4 <= b.count {
            let alen = Int(read16(b, off))
            let atype = read16(b, off + 2) & 0x3fff
            guard alen >= 4, off + alen <= b.count else { return nil }
            out[atype] = Array(b[(off + 4)..<(off + alen)])
            off += (alen + 3) & ~3
        }
        return out
    }

    func u32(_ t: UInt16) -> UInt32? {
        guard let v = attributes[t], v.count == 4 else { return nil }
        return Self.read32(v, 0)
    }
    func s32(_ t: UInt16) -> Int32? { u32(t).map { Int32(bitPattern: $0) } }
    func u16(_ t: UInt16) -> UInt16? {
        guard let v = attributes[t], v.count == 2 else { return nil }
        return Self.read16(v, 0)
    }
    func u64(_ t: UInt16) -> UInt64? {
        guard let v = attributes[t], v.count == 8 else { return nil }
        return UInt64(Self.read32(v, 0)) | UInt64(Self.read32(v, 4)) << 32
    }
    func string(_ t: UInt16) -> String? {
        guard var v = attributes[t] else { return nil }
        if v.last == 0 { v.removeLast() }
        return String(decoding: v, as: UTF8.self)
    }

    static func read16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func read32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
}
