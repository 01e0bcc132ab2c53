internal import Logging
internal import Synchronization

/// A named subscription to the nlpush events, created by
/// ``NetlinkPushChannel/subscribe(name:options:)`` (or resumed from a sequence number
/// with ``NetlinkPushChannel/subscribe(name:from:epoch:options:)``).
///
/// It owns two netlink sockets: an *event socket* that joins the `events` multicast
/// group (and the controller's `notify` group, to notice module unloads), read by one
/// dedicated thread, and a *control socket* that registered the subscriber and sends
/// acknowledgements, answers and replay requests (the kernel attributes acks to its
/// port id, and knows responders by it).
///
/// The subscription lives as long as its iteration. ``events`` can be iterated once;
/// when that loop ends (`break`, `return`, an error thrown in its body, the consuming
/// task cancelled, or the iterator released), the subscription stops: the reader thread
/// exits, both sockets and the eventfd close and the kernel drops the registration, all
/// within milliseconds, even while the `Subscription` object is still held. Call
/// ``cancel()`` to stop it from outside the loop. A subscription that is never iterated
/// stops when this object and every copy of ``events`` are gone.
///
/// After it stopped, ``ack(_:status:reply:)`` throws ``NetlinkPushError/closed``: ack
/// inside the loop.
public final class Subscription: Sendable {
    /// The name the subscriber registered with.
    public let name: String
    /// Netlink port id of the control socket (what ``SubscriberInfo/portID`` shows).
    public let portID: UInt32
    /// The events, in sequence order, interleaved with loss and connection notices.
    /// Iterate it once: a second iterator throws ``NetlinkPushError/alreadyIterated(subscription:)``.
    public let events: Events

    let core: SubscriptionCore
    private let lifetime: SubscriptionLifetime

    init(core: SubscriptionCore, stream: AsyncStream<EventBatch>) {
        self.core = core
        name = core.name
        portID = core.control.portID
        lifetime = SubscriptionLifetime(core)
        events = Events(stream: stream, core: core, lifetime: lifetime)
    }

    /// Acknowledges `event`, or answers it when it is a request, with a unicast
    /// `NLPUSH_CMD_ACK` from the control socket, and suspends until the kernel's answer
    /// arrives (no thread waits: the library's control I/O thread completes it, so an
    /// `ack` inside the `for try await` loop does not hold up other calls).
    ///
    /// ```swift
    /// for try await item in sub.events {
    ///     if case .event(let e) = item { try await sub.ack(e) }
    /// }
    /// ```
    ///
    /// For a plain event (not ``Event/wantsReply``) this is a "seen" acknowledgement
    /// carrying only the sequence number (and the event's ``Event/epoch``); `status` and
    /// `reply` are ignored. An event that wants a reply is a request: it is answered with
    /// `status` (required: there is no plain acknowledgement of a request) and the
    /// optional `reply` payload (at most 61440 bytes), and only a responder
    /// (``SubscriptionOptions/responder``) may answer. A subscription that merely watches
    /// must leave requests alone.
    ///
    /// - Throws: ``NetlinkPushError/invalidArgument(reason:)`` for a request without a
    ///   status; ``NetlinkPushError/permissionDenied(operation:errno:extack:)`` (`EPERM`,
    ///   with the kernel's extack) for an answer from a subscription that is not a
    ///   responder, or without `CAP_NET_ADMIN`;
    ///   ``NetlinkPushError/rejected(operation:errno:extack:)`` with `ENOENT` when the
    ///   request expired or was already answered, `ESTALE` for an event of an earlier
    ///   load of the module, `EINVAL` for a sequence number that was never published;
    ///   ``NetlinkPushError/familyNotFound(family:)`` while disconnected;
    ///   ``NetlinkPushError/closed`` once the subscription stopped (cancelled, or its
    ///   loop over ``events`` ended); ``NetlinkPushError/cancelled(operation:)`` when the
    ///   task is cancelled while waiting.
    public func ack(_ event: Event, status: Int32? = nil, reply: [UInt8]? = nil) async throws(NetlinkPushError) {
        let epoch = event.epoch == 0 ? nil : event.epoch
        let request: ControlRequest
        if event.wantsReply {
            guard let status else {
                throw .invalidArgument(
                    reason: "seq \(event.seq) is a request: a responder answers it with a status, nobody acks it plainly")
            }
            request = .ack(seq: event.seq, status: status, payload: reply, epoch: epoch)
        } else {
            request = .ack(seq: event.seq, status: nil, payload: nil, epoch: epoch)
        }
        let started = ContinuousClock.now
        defer { core.metrics.ackEnded(startedAt: started) }
        try await core.perform(request)
    }

    /// Acknowledges every plain event of `events` with as few messages as it can: each run
    /// of consecutive sequence numbers (of one ``Event/epoch``) becomes one
    /// `NLPUSH_CMD_ACK` carrying `SEQ` and `COUNT`, which the kernel takes in one step
    /// whatever the run's length. Suspends until the kernel accepted them all.
    ///
    /// Made for the batches of ``Subscription/Events/AsyncIterator/nextBatch()``: acking
    /// once per batch instead of once per event costs one round trip per wake-up of the
    /// reader rather than per event.
    ///
    /// ```swift
    /// var items = sub.events.makeAsyncIterator()
    /// while let batch = try await items.nextBatch() {
    ///     let events = batch.compactMap(\.event)
    ///     for e in events { process(e) }
    ///     try await sub.ack(events)
    /// }
    /// ```
    ///
    /// Requests (``Event/wantsReply``) are left out: a request is answered on its own,
    /// by a responder, with ``ack(_:status:reply:)``. An empty sequence (or one of
    /// requests only) sends nothing. The kernel counts each event of a range as one ack
    /// (``Stats/acks``, ``SubscriberInfo/acks``), and the range's last sequence number as
    /// ``SubscriberInfo/lastAckedSeq``.
    ///
    /// - Throws: what ``ack(_:status:reply:)`` throws for a plain event, for the first
    ///   range the kernel refused (`EINVAL` for a sequence number that was never
    ///   published, `ESTALE` for an earlier load's); ranges before it were acknowledged.
    public func ack(_ events: some Sequence<Event>) async throws(NetlinkPushError) {
        try await ack(ranges: AckRanges(events))
    }

    /// Acknowledges every plain event of `batch` (from
    /// ``Subscription/Events/AsyncIterator/nextEventBatch()``) as the `ack` of a sequence of events
    /// does: one `NLPUSH_CMD_ACK` per run of consecutive sequence numbers; requests and
    /// notices are left out.
    ///
    /// - Throws: what the `ack` of a sequence of events throws.
    public func ack(_ batch: EventBatch) async throws(NetlinkPushError) {
        try await ack(ranges: AckRanges(batch.events))
    }

    /// Acknowledges every plain event of `views` (events of ``EventBatch``es) as the
    /// `ack` of a sequence of events does.
    ///
    /// - Throws: what the `ack` of a sequence of events throws.
    public func ack(_ views: some Sequence<EventView>) async throws(NetlinkPushError) {
        try await ack(ranges: AckRanges(views))
    }

    private func ack<Events>(ranges: AckRanges<Events>) async throws(NetlinkPushError) {
        for range in ranges {
            let started = ContinuousClock.now
            defer { core.metrics.ackEnded(startedAt: started) }
            if range.count == 1 {
                try await core.perform(.ack(seq: range.first, status: nil, payload: nil, epoch: range.epoch))
            } else {
                try await core.perform(.ackRange(seq: range.first, count: range.count, epoch: range.epoch))
            }
        }
    }

    /// Whether this subscription registered as a responder (``SubscriptionOptions/responder``).
    public var isResponder: Bool { core.options.responder }

    /// Stops the subscription: the reader thread wakes up through its eventfd and exits,
    /// both sockets close (the kernel drops the registration) and ``events`` ends. It
    /// never blocks, and calling it again does nothing.
    public func cancel() { core.stop() }

    /// Whether the reader thread is still running.
    public var isActive: Bool { core.isRunning }

    /// The async sequence of a subscription's items.
    ///
    /// The reader thread hands items over in batches (everything one wake-up read from
    /// the socket), so a busy subscription costs one task resumption per batch rather
    /// than per event; the library bounds the buffer itself (see
    /// ``SubscriptionOptions/bufferCapacity``).
    ///
    /// Iterate it once, from one task. The iteration owns the subscription: when the
    /// loop ends for any reason (`break`, `return`, a thrown error, cancellation of the
    /// consuming task, or the iterator released), the subscription stops as if
    /// ``Subscription/cancel()`` had been called. Cancellation ends the sequence
    /// (`next()` returns nil). A second iterator of the same sequence does not receive
    /// anything: its first `next()` throws ``NetlinkPushError/alreadyIterated(subscription:)``. The
    /// sequence throws only ``NetlinkPushError``: that one, or the failure of the event
    /// socket beyond recovery.
    public struct Events: AsyncSequence, Sendable {
        /// Items of the subscription.
        public typealias Element = SubscriptionItem
        /// What iterating throws.
        public typealias Failure = NetlinkPushError

        let stream: AsyncStream<EventBatch>
        let core: SubscriptionCore
        let lifetime: SubscriptionLifetime

        /// Starts the (single) iteration. The first iterator owns the subscription (see
        /// ``Subscription/Events``); any later one throws
        /// ``NetlinkPushError/alreadyIterated(subscription:)`` from its first `next()`.
        public func makeAsyncIterator() -> AsyncIterator {
            guard core.claimIteration() else { return AsyncIterator(rejected: core) }
            return AsyncIterator(
                base: stream.makeAsyncIterator(), core: core, token: IterationToken(core), lifetime: lifetime)
        }

        /// Iterator of ``Subscription/Events``.
        public struct AsyncIterator: AsyncIteratorProtocol {
            /// What `next()` throws.
            public typealias Failure = NetlinkPushError

            private var base: AsyncStream<EventBatch>.AsyncIterator?
            private let core: SubscriptionCore
            /// Stops the subscription when the last copy of the iterator goes away.
            private let token: IterationToken?
            /// Keeps a subscription iterated as `channel.subscribe(...).events` (neither the
            /// subscription nor the sequence held by anyone else) alive while iterated.
            private let lifetime: SubscriptionLifetime?
            private var batch = EventBatch()
            private var index = 0
            private var ended = false

            init(
                base: AsyncStream<EventBatch>.AsyncIterator, core: SubscriptionCore, token: IterationToken,
                lifetime: SubscriptionLifetime
            ) {
                self.base = base
                self.core = core
                self.token = token
                self.lifetime = lifetime
            }

            init(rejected core: SubscriptionCore) {
                base = nil
                self.core = core
                token = nil
                lifetime = nil
            }

            /// The next item; nil once the subscription stopped (cancelled, the module
            /// gone without ``SubscriptionOptions/autoReconnect``) or the consuming task
            /// was cancelled.
            ///
            /// - Throws: ``NetlinkPushError/alreadyIterated(subscription:)`` on an iterator that is not the
            ///   first one of its sequence; the reader's error when the event socket failed
            ///   beyond recovery (once; then nil).
            public mutating func next() async throws(NetlinkPushError) -> SubscriptionItem? {
                guard base != nil else { throw .alreadyIterated(subscription: core.name) }
                if ended { return nil }
                if Task.isCancelled {
                    // Items still buffered here are dropped with the subscription.
                    end()
                    return nil
                }
                if index < batch.endIndex {
                    defer { index += 1 }
                    return batch.item(at: index)
                }
                guard try await receive() else { return nil }
                index = 1
                return batch.item(at: 0)
            }

            /// Waits for the reader's next batch (the previous one used up). false: the
            /// sequence ended (and its error thrown, once).
            private mutating func receive() async throws(NetlinkPushError) -> Bool {
                guard var it = base else { throw .alreadyIterated(subscription: core.name) }
                if !batch.isEmpty {
                    // The whole previous batch left the buffer: give its room back.
                    core.consumed(items: batch.count, bytes: batch.storage.count)
                    batch = EventBatch()
                }
                index = 0
                let next = await it.next()
                base = it
                guard let next, !next.isEmpty else {
                    end()
                    if let failure = core.failure { throw failure }
                    return false
                }
                batch = next
                return true
            }

            /// Every item the reader has handed over and ``next()`` has not returned yet,
            /// at least one: the rest of the current batch, or, when it is used up, the
            /// next batch once it arrives (all that one wake-up of the reader thread read
            /// from the socket). nil, and throws, where ``next()`` would. Mixes freely
            /// with ``next()``.
            ///
            /// One call per batch instead of one per item lets a consumer act per batch:
            /// acknowledge it with one message (``Subscription/ack(_:)``), write it
            /// in one system call, take one lock.
            public mutating func nextBatch() async throws(NetlinkPushError) -> [SubscriptionItem]? {
                guard let batch = try await nextEventBatch() else { return nil }
                return batch.items
            }

            /// The same items as ``nextBatch()``, as an ``EventBatch``: the events'
            /// payloads stay in the batch's one buffer, so taking a batch allocates
            /// nothing per event (``nextBatch()`` and ``next()`` copy each payload into
            /// its ``Event``). nil, and throws, where ``next()`` would. Mixes freely with
            /// ``next()`` and ``nextBatch()``.
            public mutating func nextEventBatch() async throws(NetlinkPushError) -> EventBatch? {
                guard base != nil else { throw .alreadyIterated(subscription: core.name) }
                if ended { return nil }
                if Task.isCancelled {
                    end()
                    return nil
                }
                if index >= batch.endIndex {
                    guard try await receive() else { return nil }
                }
                defer { index = batch.endIndex }
                return batch.suffix(from: index)
            }

            private mutating func end() {
                ended = true
                batch = EventBatch()
                core.stop()
            }
        }
    }
}

/// Held by the (first) iterator of ``Subscription/Events``: the end of the iteration
/// (the iterator and its copies released) stops the subscription.
final class IterationToken: Sendable {
    let core: SubscriptionCore
    init(_ core: SubscriptionCore) { self.core = core }
    deinit { core.stop() }
}


/// Stops the subscription when the last user-visible handle (the Subscription or a
/// copy of its events sequence) goes away, for a subscription that was never iterated.
final class SubscriptionLifetime: Sendable {
    let core: SubscriptionCore
    init(_ core: SubscriptionCore) { self.core = core }
    deinit { core.stop() }
}

/// An answer handler of ``NetlinkPushChannel/respond(name:options:answer:)``.
typealias AnswerHandler = @Sendable (Event) -> Answer?

/// State shared between the reader thread, the consumer and callers of `ack`.
final class SubscriptionCore: Sendable {
    struct Shared {
        var family: FamilyInfo?
        var stopping = false
        var readerExited = false
        var buffered = 0
        var bufferedBytes = 0
        var waitingForSpace = false
        /// An iterator of the events was made (only the first one receives them).
        var iterated = false
        /// Why the reader ended, if it failed.
        var failure: NetlinkPushError?
    }

    let name: String
    let options: SubscriptionOptions
    let logger: Logger
    let control: ControlConnection
    let wake: EventFD
    let continuation: AsyncStream<EventBatch>.Continuation
    let shared: Mutex<Shared>
    let metrics: SubscriptionMetrics
    /// Answers requests on the reader thread (``NetlinkPushChannel/respond(name:options:answer:)``).
    let answerer: AnswerHandler?

    init(
        name: String, options: SubscriptionOptions, logger: Logger, control: ControlConnection, wake: EventFD,
        family: FamilyInfo, continuation: AsyncStream<EventBatch>.Continuation, metrics: MetricsOptions = .init(),
        answerer: AnswerHandler? = nil
    ) {
        self.name = name
        self.answerer = answerer
        self.options = options
        self.metrics = SubscriptionMetrics(subscription: name, options: options.metrics ?? metrics)
        self.logger = logger
        self.control = control
        self.wake = wake
        self.continuation = continuation
        shared = Mutex(Shared(family: family))
    }

    var family: FamilyInfo? { shared.withLock { $0.family } }
    var isStopping: Bool { shared.withLock { $0.stopping } }
    var isRunning: Bool { shared.withLock { !$0.readerExited } }
    var isWaitingForSpace: Bool { shared.withLock { $0.waitingForSpace } }

    var failure: NetlinkPushError? { shared.withLock { $0.failure } }

    func setFamily(_ f: FamilyInfo?) { shared.withLock { $0.family = f } }

    /// Consumer side: true for the first iterator of the events, false afterwards.
    func claimIteration() -> Bool {
        shared.withLock { s in
            if s.iterated { return false }
            s.iterated = true
            return true
        }
    }

    /// Reader side: hands a batch to the consumer (one stream element) and counts it.
    func yield(_ batch: EventBatch) -> AsyncStream<EventBatch>.Continuation.YieldResult {
        let result = continuation.yield(batch)
        // Metrics off (the default without a factory): no extra lock on the per-batch path.
        if case .enqueued = result, metrics.isEnabled {
            metrics.handedOver(batch)
            shared.withLock { metrics.buffer(items: $0.buffered, bytes: $0.bufferedBytes) }
        }
        return result
    }

    /// Reader side: ends the stream, recording `error` for the iterator to throw.
    func finish(throwing error: NetlinkPushError?) {
        shared.withLock { s in
            if s.failure == nil { s.failure = error }
        }
        continuation.finish()
    }

    func perform(_ request: ControlRequest) async throws(NetlinkPushError) {
        let state = shared.withLock { ($0.family, $0.stopping) }
        if state.1 { throw .closed }
        guard let family = state.0 else { throw .familyNotFound(family: nlpushFamilyName) }
        try await control.perform(request, familyID: family.id)
    }

    /// Asks the reader thread to stop (idempotent, never blocks).
    func stop() {
        shared.withLock { s in
            guard !s.stopping else { return }
            s.stopping = true
            // The reader closes the eventfd under this same lock, after readerExited.
            if !s.readerExited { wake.signal() }
        }
    }

    /// Reader side: reserves room for an event; false when the buffer is full (the
    /// reader then stops reading its socket until the consumer made room; an event of a
    /// replay is skipped and replayed again then).
    func reserve(bytes: Int) -> Bool {
        shared.withLock { s in
            if s.waitingForSpace || fillsUp(&s, items: 1, bytes: bytes) { return false }
            s.buffered += 1
            s.bufferedBytes += bytes
            return true
        }
    }

    /// Whether `items` events of `bytes` in all do not fit in the buffer; if so, the
    /// reader waits for space from now on (counted as a buffer overrun).
    private func fillsUp(_ s: inout Shared, items: Int, bytes: Int) -> Bool {
        guard s.buffered + items > options.bufferCapacity
            || (s.buffered > 0 && s.bufferedBytes + bytes > options.bufferByteLimit)
        else { return false }
        s.waitingForSpace = true
        metrics.bufferOverrun()
        return true
    }

    /// Reader side: room for `items` events (`bytes` of payload in all) read from the
    /// socket, which is never refused. When they fill the buffer (or find it full: the
    /// rest of the read in progress), they are buffered beyond the limit and the reader
    /// stops reading its socket until the consumer made room (``isWaitingForSpace``).
    func reserveLive(items: Int = 1, bytes: Int) {
        shared.withLock { s in
            if !s.waitingForSpace { _ = fillsUp(&s, items: items, bytes: bytes) }
            s.buffered += items
            s.bufferedBytes += bytes
        }
    }

    /// Reader side: notices are never refused (they are few), but still counted.
    func reserveNotice() {
        shared.withLock { $0.buffered += 1 }
    }

    /// Consumer side: a batch of items left the buffer. Wakes the reader when a full
    /// buffer got half empty.
    func consumed(items: Int, bytes: Int) {
        shared.withLock { s in
            s.buffered -= items
            s.bufferedBytes -= bytes
            // Under the lock, so that the reader's and the consumer's values land in order.
            metrics.buffer(items: s.buffered, bytes: s.bufferedBytes)
            if s.waitingForSpace && s.buffered <= options.bufferCapacity / 2 {
                s.waitingForSpace = false
                if !s.readerExited { wake.signal() }
            }
        }
    }

    /// Reader side, last thing it does.
    func readerDidExit() {
        shared.withLock { s in
            s.readerExited = true
            s.stopping = true
            wake.close()
        }
        metrics.buffer(items: 0, bytes: 0)
        control.close()
    }
}

/// The runs of consecutive sequence numbers (one epoch each) of the plain events of a
/// sequence, in its order, each at most `maxCount` long (the kernel's `COUNT` limit).
struct AckRanges<Events: IteratorProtocol>: Sequence, IteratorProtocol where Events.Element: AckPosition {
    private var events: Events
    private var pending: AckRange?
    private let maxCount: UInt32

    init<S: Sequence>(_ events: S, maxCount: UInt32 = Proto.emitCountMax) where S.Iterator == Events {
        self.events = events.makeIterator()
        self.maxCount = Swift.max(maxCount, 1)
    }

    mutating func next() -> AckRange? {
        while let e = events.next() {
            if e.wantsReply { continue }
            let epoch = e.epoch == 0 ? nil : e.epoch
            if var run = pending, run.epoch == epoch, run.count < maxCount,
                e.seq == run.first &+ UInt64(run.count)
            {
                run.count += 1
                pending = run
                continue
            }
            let done = pending
            pending = AckRange(first: e.seq, count: 1, epoch: epoch)
            if let done { return done }
        }
        defer { pending = nil }
        return pending
    }
}

/// What ``AckRanges`` needs of an event.
protocol AckPosition {
    var seq: UInt64 { get }
    var epoch: UInt64 { get }
    var wantsReply: Bool { get }
}

extension Event: AckPosition {}
extension EventView: AckPosition {}

/// One `ACK SEQ COUNT` (see ``AckRanges``).
struct AckRange: Equatable {
    var first: UInt64
    var count: UInt32
    var epoch: UInt64?
}
