extension Proto.Attr {
    /// The attribute's C name without `NLPUSH_A_` (`SEQ`), or `#n`.
    static func nameOf(_ raw: UInt16) -> String { Proto.Attr(rawValue: raw).cName }
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
