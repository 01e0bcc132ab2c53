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
        // remaining >= the header size: the header reads are in bounds.
        let len = Int(view.loadUnchecked(offset) as UInt16)
        let rawType: UInt16 = view.loadUnchecked(offset + NL.attrTypeOffset)
        guard len >= NL.attrHeaderSize, len <= remaining else {
            throw AttributeIterator.badLength(rawType & NL.nlaTypeMask, len, remaining)
        }
        let attr = Attribute(
            type: rawType & NL.nlaTypeMask, nested: rawType & NL.nlaFNested != 0,
            value: view.sliceUnchecked(offset + NL.attrHeaderSize, len - NL.attrHeaderSize))
        offset += min(NL.align(len), remaining)
        return attr
    }

    @inline(never) static func badLength(_ type: UInt16, _ len: Int, _ remaining: Int) -> NetlinkPushError {
        if len < NL.attrHeaderSize { return .malformed(reason: "attribute \(type) has length \(len) < \(NL.attrHeaderSize)") }
        return .malformed(reason: "attribute \(type) length \(len) overruns the \(remaining) bytes left")
    }
}
