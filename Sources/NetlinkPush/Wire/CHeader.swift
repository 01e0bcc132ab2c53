internal import CNetlink

/// libnl's own walkers, for the tests' cross-check of the pure Swift parser.
enum CHeader {
    /// libnl's nla_for_each_attr over `bytes` (-1 when the attributes do not parse).
    static func countAttributes(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { Int(cnl_count_attrs($0.baseAddress, Int32($0.count))) }
    }
}
