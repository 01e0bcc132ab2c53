internal import Logging

/// A named subscription to the nlpush events, created by
/// ``NetlinkPushChannel/subscribe(name:options:)``.
///
/// It owns two netlink sockets: an *event socket* that joins the `events` multicast
/// group (and the controller's `notify` group, to notice module unloads), read by one
/// dedicated thread, and a *control socket* that registered the subscriber and sends
/// acknowledgements, answers and replay requests (the kernel attributes acks to its
/// port id, and knows responders by it).
///
/// Consume ``events``; the subscription stops when the consuming task is cancelled,
/// when ``cancel()`` is called, or when both this object and every copy of ``events``
/// are gone. Stopping closes both sockets and ends the reader thread.
public final class Subscription: Sendable {
    /// The name the subscriber registered with.
    public let name: String
    /// Netlink port id of the control socket (what ``SubscriberInfo/portID`` shows).
    public let portID: UInt32
    /// The events, in sequence order, interleaved with loss and connection notices.
    public let events: Events

    let core: SubscriptionCore
    private let lifetime: SubscriptionLifetime

    init(core: SubscriptionCore, stream: AsyncThrowingStream<ItemBatch, any Error>) {
        self.core = core
        name = core.name
        portID = core.control.portID
        lifetime = SubscriptionLifetime(core)
        events = Events(stream: stream, core: core, lifetime: lifetime)
    }

    /// Acknowledges `event`, or answers it when it is a request, with a unicast
    /// `NLPUSH_CMD_ACK` from the control socket, and waits for the kernel's answer.
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
    ///   ``NetlinkPushError/closed`` after cancellation.
    public func ack(_ event: Event, status: Int32? = nil, reply: [UInt8]? = nil) throws(NetlinkPushError) {
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
        try core.perform(request)
    }

    /// Whether this subscription registered as a responder (``SubscriptionOptions/responder``).
    public var isResponder: Bool { core.options.responder }

    /// Stops the subscription: the reader thread wakes up through its eventfd and exits,
    /// both sockets close (the kernel drops the registration) and ``events`` ends.
    public func cancel() { core.stop() }

    /// Whether the reader thread is still running.
    public var isActive: Bool { core.isRunning }

    /// The async sequence of a subscription's items.
    ///
    /// It is backed by an `AsyncThrowingStream` whose size the library bounds itself
    /// (see ``SubscriptionOptions/bufferCapacity``). The reader thread hands items over
    /// in batches (everything one wake-up read from the socket), so a busy subscription
    /// costs one task resumption per batch rather than per event. It throws only when
    /// the event socket fails beyond recovery.
    public struct Events: AsyncSequence, Sendable {
        /// Items of the subscription.
        public typealias Element = SubscriptionItem

        let stream: AsyncThrowingStream<ItemBatch, any Error>
        let core: SubscriptionCore
        let lifetime: SubscriptionLifetime

        /// Starts the (single) iteration. Iterate once, from one task: when the iterator
        /// goes away the subscription stops.
        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(base: stream.makeAsyncIterator(), core: core, lifetime: lifetime)
        }

        /// Iterator of ``Subscription/Events``.
        public struct AsyncIterator: AsyncIteratorProtocol {
            var base: AsyncThrowingStream<ItemBatch, any Error>.AsyncIterator
            let core: SubscriptionCore
            let lifetime: SubscriptionLifetime
            var batch = ItemBatch()
            var index = 0

            init(
                base: AsyncThrowingStream<ItemBatch, any Error>.AsyncIterator, core: SubscriptionCore,
                lifetime: SubscriptionLifetime
            ) {
                self.base = base
                self.core = core
                self.lifetime = lifetime
            }

            /// The next item, or nil once the subscription stopped.
            public mutating func next() async throws -> SubscriptionItem? {
                if index < batch.items.count {
                    defer { index += 1 }
                    return batch.items[index]
                }
                if !batch.items.isEmpty {
                    // The whole previous batch left the buffer: give its room back.
                    core.consumed(items: batch.items.count, bytes: batch.bytes)
                    batch = ItemBatch()
                }
                index = 0
                guard let next = try await base.next() else { return nil }
                batch = next
                guard !batch.items.isEmpty else { return nil }
                index = 1
                return batch.items[0]
            }
        }
    }
}

/// Items the reader thread hands to the consumer in one stream element, with the
/// payload bytes they hold (for the buffer accounting).
struct ItemBatch: Sendable {
    var items: [SubscriptionItem] = []
    var bytes = 0
}

/// Stops the subscription when the last user-visible handle (the Subscription or a
/// copy of its events sequence / iterator) goes away.
final class SubscriptionLifetime: Sendable {
    let core: SubscriptionCore
    init(_ core: SubscriptionCore) { self.core = core }
    deinit { core.stop() }
}

/// State shared between the reader thread, the consumer and callers of `ack`.
final class SubscriptionCore: Sendable {
    struct Shared {
        var family: FamilyInfo?
        var stopping = false
        var readerExited = false
        var buffered = 0
        var bufferedBytes = 0
        var waitingForSpace = false
    }

    let name: String
    let options: SubscriptionOptions
    let logger: Logger
    let control: ControlConnection
    let wake: EventFD
    let continuation: AsyncThrowingStream<ItemBatch, any Error>.Continuation
    let shared: Locked<Shared>

    init(
        name: String, options: SubscriptionOptions, logger: Logger, control: ControlConnection, wake: EventFD,
        family: FamilyInfo, continuation: AsyncThrowingStream<ItemBatch, any Error>.Continuation
    ) {
        self.name = name
        self.options = options
        self.logger = logger
        self.control = control
        self.wake = wake
        self.continuation = continuation
        shared = Locked(Shared(family: family))
    }

    var family: FamilyInfo? { shared.withLock { $0.family } }
    var isStopping: Bool { shared.withLock { $0.stopping } }
    var isRunning: Bool { shared.withLock { !$0.readerExited } }
    var isWaitingForSpace: Bool { shared.withLock { $0.waitingForSpace } }

    func setFamily(_ f: FamilyInfo?) { shared.withLock { $0.family = f } }

    func perform(_ request: ControlRequest) throws(NetlinkPushError) {
        let state = shared.withLock { ($0.family, $0.stopping) }
        if state.1 { throw .closed }
        guard let family = state.0 else { throw .familyNotFound(family: nlpushFamilyName) }
        try control.perform(request, familyID: family.id)
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
    /// reader then skips events and recovers them once the consumer caught up).
    func reserve(bytes: Int) -> Bool {
        shared.withLock { s in
            if s.waitingForSpace { return false }
            if s.buffered >= options.bufferCapacity
                || (s.buffered > 0 && s.bufferedBytes + bytes > options.bufferByteLimit)
            {
                s.waitingForSpace = true
                return false
            }
            s.buffered += 1
            s.bufferedBytes += bytes
            return true
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
        control.close()
    }
}
