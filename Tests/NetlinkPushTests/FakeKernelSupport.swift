import Foundation
import Testing
@testable import NetlinkPush
import NetlinkPushTesting

/// A compact, comparable spelling of what a subscription yields, so that tests assert
/// exact sequences: `e3` (event 3), `e3@7` (with its epoch when asked), `lost 3...5`,
/// `recovered 2`, `disconnected`, `reconnected`, `reloaded 5->7`.
func describe(_ item: SubscriptionItem, epochs: Bool = false) -> String {
    switch item {
    case .event(let e): epochs ? "e\(e.seq)@\(e.epoch)" : "e\(e.seq)"
    case .lost(let r): "lost \(r.lowerBound)...\(r.upperBound)"
    case .recovered(let n): "recovered \(n)"
    case .disconnected: "disconnected"
    case .reconnected: "reconnected"
    case .reloaded(let p, let e): "reloaded \(p.map(String.init) ?? "nil")->\(e)"
    }
}

/// Reads a subscription's items in steps (one iteration for the whole test).
struct Reading {
    var iterator: Subscription.Events.AsyncIterator

    init(_ sub: Subscription) { iterator = sub.events.makeAsyncIterator() }

    /// The next `count` items, described (see ``describe(_:epochs:)``); fewer when the
    /// sequence ends.
    mutating func next(_ count: Int, epochs: Bool = false) async throws -> [String] {
        var out: [String] = []
        while out.count < count, let item = try await iterator.next() {
            out.append(describe(item, epochs: epochs))
        }
        return out
    }

    /// The items up to and including `last` (described), or up to the end of the sequence.
    mutating func next(through last: String) async throws -> [String] {
        var out: [String] = []
        while out.last != last, let item = try await iterator.next() { out.append(describe(item, epochs: false)) }
        return out
    }

    /// The next `count` items, as they are.
    mutating func items(_ count: Int) async throws -> [SubscriptionItem] {
        var out: [SubscriptionItem] = []
        while out.count < count, let item = try await iterator.next() { out.append(item) }
        return out
    }
}

/// `e<from>` ... `e<to>`.
func events(_ seqs: ClosedRange<UInt64>) -> [String] { seqs.map { "e\($0)" } }

/// Waits until `condition` holds, checking every millisecond, at most `limit`; returns
/// how long it took, or nil when it never held.
func waitUntil(_ limit: Duration, _ condition: () -> Bool) async -> Duration? {
    let clock = ContinuousClock()
    let start = clock.now
    while clock.now - start <= limit {
        if condition() { return clock.now - start }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition() ? clock.now - start : nil
}

/// Why the fake-kernel suites do not run in the test VM: they need no kernel, and on a
/// TCG-emulated guest their threads only compete with the VM tests (which share the
/// one control I/O thread) and push those past their timing bounds.
let fakeKernelInVM: Comment = "host tests: the test VM runs the same paths against the real module"
