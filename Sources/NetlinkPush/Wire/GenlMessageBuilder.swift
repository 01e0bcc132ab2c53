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
