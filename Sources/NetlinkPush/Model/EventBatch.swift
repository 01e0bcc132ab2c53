/// Everything one wake-up of a subscription's reader thread handed over, with the
/// events' payloads in one shared buffer: the borrowing side of
/// ``Subscription/Events``.
///
/// ``Subscription/Events/AsyncIterator/nextEventBatch()`` returns it. Its events are
/// ``EventView``s: the same fields as an ``Event``, but the payload is a slice of the
/// batch's buffer instead of an array of its own, so reading a batch allocates nothing
/// per event (an ``Event`` owns its payload: one heap allocation each). A consumer that
/// looks at payloads and moves on (parses them, counts them, writes them out) should
/// take batches; one that keeps events takes ``EventView/event`` (an owned copy) of
/// those it keeps, or iterates ``Subscription/events`` as usual.
///
/// ```swift
/// var items = sub.events.makeAsyncIterator()
/// while let batch = try await items.nextEventBatch() {
///     for item in batch {
///         switch item {
///         case .event(let view):
///             view.payload.withUnsafeBytes { bytes in parse(bytes) }
///         case .notice(let notice):
///             print(notice)  // .lost, .recovered, .disconnected, ...
///         }
///     }
///     try await sub.ack(batch)  // one message per run of plain events
/// }
/// ```
///
/// A batch is an immutable value, `Sendable`, and may be kept: a view, or any slice of
/// a payload, keeps the whole batch's buffer alive as long as it exists (at most
/// 256 items or about 1 MiB of payloads).
public struct EventBatch: RandomAccessCollection, Sendable {
    /// One item of a batch.
    public enum Element: Sendable {
        /// An event, its payload borrowed from the batch's buffer.
        case event(EventView)
        /// Anything else a subscription reports, in order with the events:
        /// ``SubscriptionItem/lost(_:)``, ``SubscriptionItem/recovered(count:)``,
        /// ``SubscriptionItem/disconnected``, ``SubscriptionItem/reconnected`` or
        /// ``SubscriptionItem/reloaded(previousEpoch:epoch:)``; never
        /// ``SubscriptionItem/event(_:)``.
        case notice(SubscriptionItem)

        /// The event, if this item is one.
        public var event: EventView? {
            if case .event(let v) = self { return v }
            return nil
        }

        /// The item as ``Subscription/events`` yields it (an event is copied into an
        /// owned ``Event``).
        public var item: SubscriptionItem {
            switch self {
            case .event(let v): return .event(v.event)
            case .notice(let n): return n
            }
        }
    }

    /// Fixed-size record of one item (no reference inside: appending one costs no
    /// retain, and the reader builds them without a heap allocation per event).
    struct Entry: Sendable {
        /// 0 for a notice (events have sequence numbers from 1).
        var seq: UInt64
        var timestampNs: UInt64
        var receivedNs: UInt64
        var epoch: UInt64
        var type: UInt32
        var flags: UInt32
        /// Where the payload lies in ``storage``.
        var payloadStart: Int
        var payloadCount: Int
        /// A notice: its index in ``notices``. An event: its answer's index in
        /// ``answers``, or -1.
        var extra: Int
    }

    private(set) var storage: [UInt8] = []
    private(set) var entries: [Entry] = []
    private(set) var notices: [SubscriptionItem] = []
    private(set) var answers: [AnsweredBox] = []

    /// The first item of the batch (0 unless it is what was left of a batch).
    public private(set) var startIndex = 0
    /// One past the last item.
    public var endIndex: Int { entries.count }

    init() {}

    /// A batch of these items (tests).
    init(items: [SubscriptionItem]) {
        for item in items {
            if case .event(let e) = item { append(e) } else { append(notice: item) }
        }
    }

    /// The item at `position`.
    public subscript(position: Int) -> Element {
        precondition(position >= startIndex && position < endIndex, "EventBatch index out of range")
        let e = entries[position]
        if e.seq == 0 { return .notice(notices[e.extra]) }
        return .event(view(e))
    }

    /// The events of the batch, in order, without its notices.
    public var events: [EventView] {
        var out: [EventView] = []
        out.reserveCapacity(count)
        for i in startIndex..<endIndex where entries[i].seq != 0 { out.append(view(entries[i])) }
        return out
    }

    /// Every item as ``Subscription/events`` yields them (each event copied into an
    /// owned ``Event``).
    public var items: [SubscriptionItem] { (startIndex..<endIndex).map { item(at: $0) } }

    /// The batch from `index` on.
    func suffix(from index: Int) -> EventBatch {
        var rest = self
        rest.startIndex = Swift.max(index, startIndex)
        return rest
    }

    func item(at position: Int) -> SubscriptionItem {
        let e = entries[position]
        if e.seq == 0 { return notices[e.extra] }
        return .event(view(e).event)
    }

    private func view(_ e: Entry) -> EventView {
        EventView(
            seq: e.seq, type: e.type, flags: EventFlags(rawValue: e.flags), timestampNs: e.timestampNs,
            receivedNs: e.receivedNs, epoch: e.epoch,
            payload: storage[e.payloadStart..<(e.payloadStart + e.payloadCount)],
            answered: e.extra >= 0 ? answers[e.extra] : nil)
    }

    // MARK: building (the reader thread)

    /// Appends an event whose payload is still in the receive buffer: one copy into the
    /// batch's buffer, no allocation of its own.
    @inline(__always)
    mutating func append(
        seq: UInt64, type: UInt32, flags: UInt32, timestampNs: UInt64, receivedNs: UInt64, epoch: UInt64,
        payload: UnsafeRawBufferPointer, answered: AnsweredRequest? = nil
    ) {
        let start = storage.count
        storage.append(contentsOf: payload)
        var extra = -1
        if let answered {
            extra = answers.count
            answers.append(AnsweredBox(answered))
        }
        entries.append(
            Entry(
                seq: seq, timestampNs: timestampNs, receivedNs: receivedNs, epoch: epoch, type: type,
                flags: flags, payloadStart: start, payloadCount: payload.count, extra: extra))
    }

    mutating func append(_ e: Event) {
        e.payload.withUnsafeBytes { p in
            append(
                seq: e.seq, type: e.type, flags: e.flags.rawValue, timestampNs: e.timestampNs,
                receivedNs: e.receivedNs, epoch: e.epoch, payload: p, answered: e.answered)
        }
    }

    mutating func append(notice: SubscriptionItem) {
        precondition(notice.event == nil, "events go through append(_ e: Event)")
        entries.append(
            Entry(
                seq: 0, timestampNs: 0, receivedNs: 0, epoch: 0, type: 0, flags: 0, payloadStart: storage.count,
                payloadCount: 0, extra: notices.count))
        notices.append(notice)
    }

    /// Most items the reader puts in one batch.
    static let maxItems = 256
    /// Most payload bytes in one batch (several items may exceed it by one event).
    static let maxBytes = 1 << 20

    /// Whether the reader hands this batch over now (``maxItems`` or ``maxBytes``).
    @inline(__always) var isFull: Bool { entries.count >= EventBatch.maxItems || storage.count >= EventBatch.maxBytes }

    /// Returns the batch as built so far and starts the next one, reserving what this
    /// one used (twice that cost a fresh allocation's page faults per batch).
    mutating func handOff() -> EventBatch {
        let full = self
        self = EventBatch()
        entries.reserveCapacity(full.entries.count)
        storage.reserveCapacity(full.storage.count)
        return full
    }
}

/// An event of an ``EventBatch``: the fields of an ``Event``, with the payload borrowed
/// from the batch's buffer (a slice of it, no allocation of its own).
///
/// ``event`` copies it into an owned ``Event``. A view keeps its batch's whole buffer
/// alive: keep ``event`` instead when only a few events of many batches are kept.
public struct EventView: Sendable {
    /// Sequence number (see ``Event/seq``).
    public let seq: UInt64
    /// Event type, chosen by the producer.
    public let type: UInt32
    /// Flags (``EventFlags/replyWanted``, ``EventFlags/replayed``).
    public let flags: EventFlags
    /// `CLOCK_MONOTONIC` time of publication in the kernel, in nanoseconds.
    public let timestampNs: UInt64
    /// `CLOCK_MONOTONIC` time at which the library received the message, in nanoseconds.
    public let receivedNs: UInt64
    /// The module load the event belongs to (see ``Event/epoch``).
    public let epoch: UInt64
    /// The payload: a slice of the batch's buffer (its indices are the buffer's, not
    /// `0..<count`: use `payload.startIndex`, or `withUnsafeBytes`).
    public let payload: ArraySlice<UInt8>
    /// For a request answered on the reader thread (see ``Event/answered``).
    public var answered: AnsweredRequest? { answeredBox?.value }
    private let answeredBox: AnsweredBox?

    init(
        seq: UInt64, type: UInt32, flags: EventFlags, timestampNs: UInt64, receivedNs: UInt64, epoch: UInt64,
        payload: ArraySlice<UInt8>, answered: AnsweredBox?
    ) {
        self.seq = seq
        self.type = type
        self.flags = flags
        self.timestampNs = timestampNs
        self.receivedNs = receivedNs
        self.epoch = epoch
        self.payload = payload
        answeredBox = answered
    }

    /// Whether the producer waits for an answer (``EventFlags/replyWanted``).
    public var wantsReply: Bool { flags.contains(.replyWanted) }

    /// Latency from publication to reception, in nanoseconds (0 if unknown).
    public var latencyNs: UInt64 {
        receivedNs > timestampNs && receivedNs != 0 ? receivedNs - timestampNs : 0
    }

    /// An owned copy: the ``Event`` that ``Subscription/events`` would have yielded
    /// (one allocation, for the payload).
    public var event: Event {
        var e = Event(
            seq: seq, type: type, flags: flags, timestampNs: timestampNs, payload: Array(payload),
            receivedNs: receivedNs, epoch: epoch)
        e.answeredBox = answeredBox  // the same immutable box, not a new one
        return e
    }
}
