/// The gap / duplicate bookkeeping of a subscription, free of I/O so that it can be
/// unit-tested.
///
/// `last` is the highest sequence number accounted for: delivered to the consumer, or
/// reported lost. Live events must continue it exactly (`last + 1`); anything at or
/// below it is a duplicate (an event seen both through a replay and live), anything
/// above reveals a gap that recovery must fill from the replay ring.
struct SequenceTracker: Sendable, Equatable {
    /// Highest sequence number delivered or declared lost; `nil` until known.
    private(set) var last: UInt64?

    init(last: UInt64? = nil) { self.last = last }

    enum LiveVerdict: Equatable, Sendable {
        /// The next expected event: deliver it.
        case deliver
        /// Already delivered (or declared lost): drop it.
        case duplicate
        /// These sequence numbers are missing before this event: recover them first.
        case gap(ClosedRange<UInt64>)
    }

    enum ReplayVerdict: Equatable, Sendable {
        case deliver
        case duplicate
        /// The ring no longer held the range: report it lost, then deliver this event.
        case deliverAfterLoss(ClosedRange<UInt64>)
    }

    /// The sequence number the next delivered event must have, if known.
    var nextExpected: UInt64? { last.map { $0 &+ 1 } }

    /// Classifies an event received from the multicast group. Without a baseline the
    /// first event is accepted as is.
    func classifyLive(_ seq: UInt64) -> LiveVerdict {
        guard let last else { return .deliver }
        if seq <= last { return .duplicate }
        if seq == last + 1 { return .deliver }
        return .gap((last + 1)...(seq - 1))
    }

    /// Classifies an event of a replay dump (ascending order): whatever the dump skips
    /// between `last` and the event is gone for good.
    func classifyReplayed(_ seq: UInt64) -> ReplayVerdict {
        guard let last else { return .deliver }
        if seq <= last { return .duplicate }
        if seq == last + 1 { return .deliver }
        return .deliverAfterLoss((last + 1)...(seq - 1))
    }

    /// Records that `seq` reached the consumer.
    mutating func delivered(_ seq: UInt64) {
        if let last, last >= seq { return }
        last = seq
    }

    /// Declares everything between `last` and `bound` (exclusive) lost and returns that
    /// range, or nil when nothing is missing.
    mutating func declareLost(before bound: UInt64) -> ClosedRange<UInt64>? {
        guard let last, bound > last + 1 else { return nil }
        self.last = bound - 1
        return (last + 1)...(bound - 1)
    }

    /// Starts over (after a module reload sequence numbers restart at 1: reset to 0).
    mutating func reset(last: UInt64?) { self.last = last }
}
