import Synchronization
import Foundation
import Testing
@testable import NetlinkPush

/// Helpers of the VM tests (they need nlpush.ko and nlpush_test.ko loaded).
enum Debugfs {
    static let dir = "/sys/kernel/debug/nlpush_test"

    /// Writes `text` to a debugfs file with one write() (blocking until the kernel is
    /// done), on a separate thread so that no task of the cooperative pool blocks.
    /// Returns write()'s result (bytes or -errno).
    static func write(_ file: String, _ text: String) async -> Int {
        await blocking {
            let fd = open("\(dir)/\(file)", O_WRONLY)
            guard fd >= 0 else { return -Int(errno) }
            defer { close(fd) }
            let bytes = Array(text.utf8)
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            return n < 0 ? -Int(errno) : n
        }
    }

    static func read(_ file: String) -> String {
        (try? String(contentsOfFile: "\(dir)/\(file)", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
}

/// Waits until the module's transmit queue is empty: every event published so far was
/// multicast, found no listener or was dropped (protocol v2 multicasts from a queue,
/// partly from a work item, so a debugfs `emit` write returns before its events reach
/// the sockets). Tests that stall their consumer on purpose wait for this instead of a
/// fixed sleep.
func waitTransmitted(_ channel: NetlinkPushChannel, timeout: Double = 120) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        let s = try await channel.stats()
        let settled = s.delivered + s.noListeners + s.deliveryErrors + s.txqDrops
        if settled >= s.published { return }
        guard Date() < deadline else {
            throw TimedOut(what: "transmit queue: \(s.published - settled) of \(s.published) events not sent")
        }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
}

/// Inodes of this process's open sockets (from /proc/self/fd).
func socketInodes() -> Set<UInt64> {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    var set = Set<UInt64>()
    for fd in fds {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
            target.hasPrefix("socket:["), target.hasSuffix("]"),
            let inode = UInt64(target.dropFirst(8).dropLast())
        else { continue }
        set.insert(inode)
    }
    return set
}

/// Bytes queued on the receive queues of the netlink sockets `inodes` (the Rmem
/// column of /proc/net/netlink).
func queuedBytes(_ inodes: Set<UInt64>) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/net/netlink", encoding: .utf8) else { return 0 }
    var lines = text.split(separator: "\n").makeIterator()
    guard let header = lines.next()?.split(separator: " ", omittingEmptySubsequences: true),
        let rmem = header.firstIndex(of: "Rmem"), let ino = header.firstIndex(of: "Inode")
    else { return 0 }
    var total = 0
    while let line = lines.next() {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        guard f.count > max(rmem, ino), let i = UInt64(f[ino]), inodes.contains(i) else { continue }
        total += Int(f[rmem]) ?? 0
    }
    return total
}

/// Waits until the sockets `inodes` (a subscription's, see ``socketInodes()``) have
/// nothing queued: its reader thread has read every event that reached it. Under
/// software emulation a debug build reads a burst of thousands of events for longer
/// than any fixed sleep a test would like to take.
func waitDrained(_ inodes: Set<UInt64>, timeout: Double = 120) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while queuedBytes(inodes) > 0 {
        guard Date() < deadline else { throw TimedOut(what: "subscription sockets still hold \(queuedBytes(inodes)) bytes") }
        try await Task.sleep(nanoseconds: 20_000_000)
    }
}

/// Runs blocking work on its own thread.
func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in
        Thread.detachNewThread { c.resume(returning: work()) }
    }
}

/// Runs a command (rmmod / insmod), returning its exit status.
func run(_ path: String, _ args: [String]) async -> Int32 {
    await blocking {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out: \(what)" }
}

/// Races `body` against a deadline.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            throw TimedOut(what: what)
        }
        guard let first = try await group.next() else { throw TimedOut(what: what) }
        group.cancelAll()
        return first
    }
}

/// What a consumer saw.
struct Collected: Sendable {
    var events: [Event] = []
    var lost: [ClosedRange<UInt64>] = []
    var recovered = 0
    var disconnected = 0
    var reconnected = 0
    /// `.reloaded` items (resumed subscriptions only).
    var reloaded: [SubscriptionItem] = []
    /// Every item, in order, when the collector keeps them (``collect(_:timeout:_:keepItems:onEvent:until:)``).
    var items: [SubscriptionItem] = []

    mutating func add(_ item: SubscriptionItem, keepItem: Bool) {
        if keepItem { items.append(item) }
        switch item {
        case .event(let e): events.append(e)
        case .lost(let r): lost.append(r)
        case .recovered(let n): recovered += n
        case .disconnected: disconnected += 1
        case .reconnected: reconnected += 1
        case .reloaded: reloaded.append(item)
        }
    }

    /// What a timeout reports.
    var summary: String {
        let seqs = events.first.map { "seq \($0.seq)...\(events.last?.seq ?? $0.seq)" } ?? "no seq"
        return "\(events.count) events, \(seqs), lost \(lost.count) ranges \(lost.prefix(4))\(lost.count > 4 ? "..." : ""), recovered \(recovered), disconnected \(disconnected), reconnected \(reconnected)"
    }

    /// Checks the events are consecutive from `first` through `last` (or sit in a lost
    /// range), and every payload follows nlpush_test's rule.
    func check(first: UInt64, last: UInt64, size: Int, type: UInt32, allowLoss: Bool = false) {
        let evs = events.filter { $0.seq >= first }
        var expected = first
        var lostIdx = 0
        let lostRanges = lost.sorted { $0.lowerBound < $1.lowerBound }
        var bad = 0
        for e in evs {
            while lostIdx < lostRanges.count, lostRanges[lostIdx].lowerBound == expected {
                expected = lostRanges[lostIdx].upperBound + 1
                lostIdx += 1
            }
            if e.seq != expected {
                Issue.record("expected seq \(expected), got \(e.seq)")
                return
            }
            expected += 1
            if e.type != type || e.payload.count != size || !payloadOK(e) { bad += 1 }
        }
        #expect(expected == last + 1, "events end at \(expected - 1), expected \(last)")
        #expect(bad == 0, "\(bad) events with a wrong type, size or payload")
        if !allowLoss { #expect(lost.isEmpty, "unexpected loss: \(lost)") }
    }

    func payloadOK(_ e: Event) -> Bool {
        e.payload.withUnsafeBufferPointer { p in
            var v = Int(e.seq % 251)
            for b in p {
                if b != UInt8(v) { return false }
                v += 1
                if v == 251 { v = 0 }
            }
            return true
        }
    }
}

/// Consumes `events` until `done` says so.
func collect(
    _ events: Subscription.Events, timeout: Double, _ what: String, keepItems: Bool = false,
    onEvent: (@Sendable (Event) -> Void)? = nil,
    until done: @escaping @Sendable (Collected) -> Bool
) async throws -> Collected {
    // Kept outside the consuming task, so that a wait that ends without its condition
    // says how far it got.
    let seen = Mutex(Collected())
    do {
        return try await withTimeout(timeout, what) {
            for try await item in events {
                if case .event(let e) = item { onEvent?(e) }
                if seen.withLock({ c in
                    c.add(item, keepItem: keepItems)
                    return done(c)
                }) { break }
            }
            return seen.withLock { $0 }
        }
    } catch let e as TimedOut {
        throw TimedOut(what: "\(e.what) (seen: \(seen.withLock { $0.summary }))")
    }
}

/// Threads of this process (/proc/self/task).
func threadCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? -1
}

/// Reader threads of subscriptions in this process (named "nlpush-reader").
func readerThreadCount() -> Int {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.filter {
        (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) == "nlpush-reader"
    }.count
}

func openFDCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// Consumes a subscription in a background task (one iterator for its whole life) and
/// lets the test wait for conditions on what arrived.
final class Recorder: Sendable {
    private let collected = Mutex(Collected())
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(_ events: Subscription.Events) {
        let consumer = Task { [self] in
            do {
                for try await item in events {
                    collected.withLock { collected in
                        switch item {
                        case .event(let e): collected.events.append(e)
                        case .lost(let r): collected.lost.append(r)
                        case .recovered(let n): collected.recovered += n
                        case .disconnected: collected.disconnected += 1
                        case .reconnected:
                            collected.reconnected += 1
                            collected.events.removeAll()  // sequence numbers restart
                        case .reloaded: collected.reloaded.append(item)
                        }
                    }
                }
            } catch {}
        }
        task.withLock { $0 = consumer }
    }

    var snapshot: Collected { collected.withLock { $0 } }

    func wait(_ seconds: Double, _ what: String, until done: (Collected) -> Bool) async throws -> Collected {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let s = snapshot
            if done(s) { return s }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        throw TimedOut(what: what)
    }

    func stop() { task.withLock { $0 }?.cancel() }
}

/// The outcome of an async call as a `Result` (typed errors kept).
func asyncResult<T: Sendable>(_ work: () async throws(NetlinkPushError) -> T) async -> Result<T, NetlinkPushError> {
    do throws(NetlinkPushError) { return .success(try await work()) } catch { return .failure(error) }
}
