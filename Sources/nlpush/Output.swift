#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import NetlinkPush
import Synchronization

/// Line-oriented output written straight to the file descriptors: every line
/// leaves the process as soon as it is complete (the CLI can be piped, e.g.
/// `nlpush monitor --json | jq`), and a lock keeps lines printed by
/// concurrent subscribers whole.
///
/// Data (events, replies, tables, JSON records) goes to stdout with ``line(_:)``;
/// banners and progress to stderr with ``info(_:)``, errors with ``error(_:)``.
/// When stdout's reader goes away (`nlpush monitor | head`), the next data line
/// ends the process quietly with exit 0: SIGPIPE is ignored, so that write fails
/// with EPIPE instead of killing the process.
enum Out {
    private static let lock = Mutex(())

    static func setUp() {}

    /// One line of data, on stdout.
    static func line(_ s: String) {
        if !write(s + "\n", to: STDOUT_FILENO) { _exit(0) }
    }

    /// A banner or progress notice, on stderr.
    static func info(_ s: String) { _ = write(s + "\n", to: STDERR_FILENO) }

    /// An error or warning, on stderr.
    static func error(_ s: String) { _ = write(s + "\n", to: STDERR_FILENO) }

    /// A gap the kernel's replay ring could no longer fill, on stdout (it is
    /// data: the events of `range` are gone): one JSON object or one
    /// "LOST seq A...B" line, prefixed with "[subscriber] " when there is one.
    static func lost(_ range: ClosedRange<UInt64>, subscriber: Int?, json: Bool) {
        if json {
            var j = JSONLine()
            j.add("kind", "lost")
            if let subscriber { j.add("subscriber", subscriber) }
            j.add("from", range.lowerBound)
            j.add("to", range.upperBound)
            j.add("count", range.count)
            line(j.text)
        } else {
            let prefix = subscriber.map { "[\($0)] " } ?? ""
            line("\(prefix)LOST seq \(range.lowerBound)...\(range.upperBound) (\(range.count) events no longer in the kernel's replay ring)")
        }
    }

    /// False when the reader of `fd` went away (EPIPE).
    private static func write(_ s: String, to fd: Int32) -> Bool {
        var s = s
        return s.withUTF8 { buf in
            lock.withLock { _ in
                guard let base = buf.baseAddress else { return true }
                var off = 0
                while off < buf.count {
                    let n = Glibc.write(fd, base + off, buf.count - off)
                    if n > 0 {
                        off += n
                    } else if n < 0 && errno == EINTR {
                        continue
                    } else {
                        return !(n < 0 && errno == EPIPE)  // other errors: the line is lost, go on
                    }
                }
                return true
            }
        }
    }
}

/// Converts the kernel's `CLOCK_MONOTONIC` event timestamps to wall-clock time with
/// the offset between `CLOCK_REALTIME` and `CLOCK_MONOTONIC` sampled once, when the
/// command starts (a clock step while it runs is not followed: the times stay
/// consistent with each other).
struct WallClock: Sendable {
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC`, in nanoseconds.
    let offsetNs: Int64

    init() {
        var m1 = timespec(), r = timespec(), m2 = timespec()
        clock_gettime(CLOCK_MONOTONIC, &m1)
        clock_gettime(CLOCK_REALTIME, &r)
        clock_gettime(CLOCK_MONOTONIC, &m2)
        let mono = (WallClock.ns(m1) + WallClock.ns(m2)) / 2
        offsetNs = WallClock.ns(r) - mono
    }

    private static func ns(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }

    /// Wall-clock nanoseconds since the epoch of a `CLOCK_MONOTONIC` timestamp.
    func wallNs(monotonic: UInt64) -> Int64 { Int64(clamping: monotonic) + offsetNs }

    /// ISO 8601 in UTC with microseconds, e.g. `2026-12-01T04:06:46.123456Z`.
    func iso8601(monotonic: UInt64) -> String {
        let wall = wallNs(monotonic: monotonic)
        var secs = time_t(wall / 1_000_000_000)
        let micros = Int((wall % 1_000_000_000) / 1000)
        var tm = Glibc.tm()
        gmtime_r(&secs, &tm)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
            Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), micros)
    }
}

/// How `monitor` and `replay` print an event: one text line starting with its
/// wall-clock publication time, or one JSON object that also keeps the kernel's raw
/// `CLOCK_MONOTONIC` timestamp (`timestamp_ns`) and the event's `epoch` (what
/// `monitor --from SEQ --epoch E` resumes from).
struct EventFormat: Sendable {
    var json: Bool
    var preview: Int
    var clock = WallClock()

    func line(_ e: Event, subscriber: Int?, latencyNs: UInt64?, intact: Bool?) -> String {
        if json {
            var j = JSONLine()
            j.add("kind", "event")
            if let subscriber { j.add("subscriber", subscriber) }
            j.add("seq", e.seq)
            j.add("type", e.type)
            j.add("flags", e.flags.rawValue)
            j.add("timestamp_ns", e.timestampNs)
            if let latencyNs { j.add("latency_ns", latencyNs) }
            j.add("size", e.payload.count)
            j.add("payload", Data(e.payload).base64EncodedString())
            j.add("time", clock.iso8601(monotonic: e.timestampNs))
            j.add("epoch", e.epoch)
            if let intact { j.add("intact", intact) }
            return j.text
        }
        var flags = ""
        if e.flags.contains(.replyWanted) { flags += " reply-wanted" }
        if e.flags.contains(.replayed) { flags += " replayed" }
        if intact == false { flags += " CORRUPT" }
        let who = subscriber.map { "[\($0)] " } ?? ""
        let latency = latencyNs.map { " latency=\(Format.duration(ns: $0))" } ?? ""
        return "\(clock.iso8601(monotonic: e.timestampNs)) \(who)seq=\(e.seq) type=\(e.type) size=\(e.payload.count)"
            + "\(latency)\(flags) \(Format.preview(e.payload, max: preview))"
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
