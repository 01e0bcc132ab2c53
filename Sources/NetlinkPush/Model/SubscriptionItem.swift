/// What a subscription's ``Subscription/events`` sequence yields.
///
/// A frozen enum (the package is built without library evolution): a new kind of
/// item would break an exhaustive `switch`, so it comes only with a new major version
/// (minor before 1.0). Handle the items you care about and end with `default:` to be
/// unaffected.
public enum SubscriptionItem: Sendable, Hashable {
    /// The next event, in sequence order (live, or from a replay during recovery).
    case event(Event)
    /// These sequence numbers are gone for good: the kernel's replay ring no longer held
    /// them when the subscription tried to recover them. Loss is never silent.
    case lost(ClosedRange<UInt64>)
    /// A recovery replay after an overrun (socket `ENOBUFS`, sequence gap or a full
    /// stream buffer) delivered this many events that would otherwise have been lost.
    /// It follows the last event the recovery replayed. A recovery that a slow
    /// consumer's full stream buffer holds up goes on in rounds as room appears; one
    /// notice at its end counts the events of every round.
    case recovered(count: Int)
    /// The `nlpush` family disappeared (the module was unloaded). With
    /// ``SubscriptionOptions/autoReconnect`` the subscription waits for it to come back;
    /// otherwise the sequence ends after this item.
    case disconnected
    /// The family is back: the subscription re-resolved it, rejoined the events group and
    /// registered again. Sequence numbers restart at 1 after a reload.
    case reconnected
    /// A resumed subscription (``NetlinkPushChannel/subscribe(name:from:epoch:options:)``)
    /// started from a position of another load of the module: the kernel's epoch is
    /// `epoch`, not `previousEpoch` (nil when the caller gave none and its sequence number
    /// was beyond the newest one published, which only a reload explains). The events
    /// of the earlier load after that position are gone for good, and their number is
    /// unknown; the events that follow are the current load's, from sequence number 1
    /// (with a ``lost(_:)`` range for those its ring no longer holds). Always the first
    /// item when it comes.
    case reloaded(previousEpoch: UInt64?, epoch: UInt64)

    /// The event, if this item is one.
    public var event: Event? {
        if case .event(let e) = self { return e }
        return nil
    }
}
