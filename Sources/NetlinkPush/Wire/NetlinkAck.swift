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
        let echo = NL.errMsgOffset  // the echoed request header follows the error
        guard p.count >= echo else { throw .malformed(reason: "truncated NLMSG_ERROR: \(p.count) bytes") }
        errno = -Int32(bitPattern: try p.u32(0))
        var tlvStart = echo
        if p.count >= echo + NL.headerSize {
            let origLen = Int(try p.u32(echo))
            if msg.flags & NL.fCapped != 0 || origLen < NL.headerSize {
                tlvStart = echo + NL.headerSize
            } else {
                tlvStart = echo + NL.align(origLen)
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
        // NLMSG_DONE carries the dump's int error, then the extack TLVs.
        let size = MemoryLayout<Int32>.size
        errno = p.count >= size ? -Int32(bitPattern: try p.u32(0)) : 0
        (extack, missingAttribute) = (nil, nil)
        if msg.flags & NL.fAckTLVs != 0, p.count > size {
            try parseTLVs(try p.slice(size, p.count - size))
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
