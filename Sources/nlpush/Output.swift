#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import Synchronization

/// Line-oriented output written straight to the file descriptors: every line
/// leaves the process as soon as it is complete (the CLI can be piped, e.g.
/// `nlpush monitor --json | jq`), and a lock keeps lines printed by
/// concurrent subscribers whole.
enum Out {
    private static let lock = Mutex(())

    static func setUp() {}

    static func line(_ s: String) { write(s + "\n", to: STDOUT_FILENO) }

    static func error(_ s: String) { write(s + "\n", to: STDERR_FILENO) }

    private static func write(_ s: String, to fd: Int32) {
        var s = s
        s.withUTF8 { buf in
            lock.withLock { _ in
                var off = 0
                while off < buf.count {
                    let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                    if n > 0 {
                        off += n
                    } else if n < 0 && errno == EINTR {
                        continue
                    } else {
                        return  // EPIPE and friends: the reader went away
                    }
                }
            }
        }
    }
}

/// A JSON object written field by field, for JSON-lines output.
struct JSONLine {
    private var s = "{"
    private var first = true

    private mutating func key(_ k: String) {
        if !first { s += "," }
        first = false
        s += "\"\(k)\":"
    }

    mutating func add(_ k: String, _ v: String) {
        key(k)
        s += JSONLine.quote(v)
    }

    mutating func add<T: BinaryInteger>(_ k: String, _ v: T) {
        key(k)
        s += String(v)
    }

    mutating func add(_ k: String, _ v: Double, decimals: Int = 3) {
        key(k)
        s += v.isFinite ? String(format: "%.\(decimals)f", v) : "null"
    }

    mutating func add(_ k: String, _ v: Bool) {
        key(k)
        s += v ? "true" : "false"
    }

    mutating func addRaw(_ k: String, _ json: String) {
        key(k)
        s += json
    }

    var text: String { s + "}" }

    static func quote(_ v: String) -> String {
        var r = "\""
        for u in v.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            case _ where u.value < 0x20: r += String(format: "\\u%04x", u.value)
            default: r.unicodeScalars.append(u)
            }
        }
        return r + "\""
    }
}

/// A plain text table with right-aligned numeric columns.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    func render() -> [String] {
        var widths = header.map(\.count)
        for r in rows {
            for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) }
        }
        func fmt(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return i == 0 ? c + pad : pad + c
            }.joined(separator: "  ")
        }
        return [fmt(header)] + rows.map(fmt)
    }
}

/// Fixed-memory latency histogram: 16 linear sub-buckets per power of two,
/// so percentiles are within ~6% and memory stays flat however many samples.
struct Histogram: Sendable {
    private var buckets = [UInt64](repeating: 0, count: 64 * 16)
    private(set) var count: UInt64 = 0
    private(set) var max: UInt64 = 0

    private static func index(_ v: UInt64) -> Int {
        if v < 16 { return Int(v) }
        let exp = 63 - v.leadingZeroBitCount  // >= 4
        let sub = Int((v >> UInt64(exp - 4)) & 15)
        return (exp - 3) * 16 + sub
    }

    private static func lowerBound(_ i: Int) -> UInt64 {
        if i < 16 { return UInt64(i) }
        let exp = i / 16 + 3
        let sub = UInt64(i % 16)
        return (16 + sub) << UInt64(exp - 4)
    }

    mutating func record(_ v: UInt64) {
        buckets[Histogram.index(v)] += 1
        count += 1
        if v > max { max = v }
    }

    mutating func merge(_ other: Histogram) {
        for i in buckets.indices { buckets[i] += other.buckets[i] }
        count += other.count
        if other.max > max { max = other.max }
    }

    func percentile(_ p: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let target = UInt64((Double(count) * p / 100).rounded(.up))
        var seen: UInt64 = 0
        for (i, n) in buckets.enumerated() where n > 0 {
            seen += n
            if seen >= Swift.max(target, 1) { return Swift.min(Histogram.lowerBound(i), max) }
        }
        return max
    }
}

enum Format {
    static func duration(ns: UInt64) -> String {
        let v = Double(ns)
        if v < 1_000 { return "\(ns)ns" }
        if v < 1_000_000 { return String(format: "%.1fus", v / 1_000) }
        if v < 1_000_000_000 { return String(format: "%.2fms", v / 1_000_000) }
        return String(format: "%.2fs", v / 1_000_000_000)
    }

    static func rate(_ perSecond: Double) -> String {
        if !perSecond.isFinite { return "-" }
        if perSecond >= 1_000_000 { return String(format: "%.2fM/s", perSecond / 1_000_000) }
        if perSecond >= 1_000 { return String(format: "%.1fk/s", perSecond / 1_000) }
        return String(format: "%.0f/s", perSecond)
    }

    static func hex(_ bytes: some Collection<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// A short, printable view of a payload: text when it is text, hex otherwise.
    static func preview(_ bytes: [UInt8], max: Int) -> String {
        let head = bytes.prefix(max)
        let printable = !head.isEmpty && head.allSatisfy { $0 >= 0x20 && $0 < 0x7f }
        let more = bytes.count > max ? "..." : ""
        if printable { return "\"" + String(decoding: head, as: UTF8.self) + "\"" + more }
        return head.isEmpty ? "-" : hex(head) + more
    }
}

func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
