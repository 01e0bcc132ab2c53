/// Tuning of a ``Subscription``.
public struct SubscriptionOptions: Sendable, Hashable {
    // Every property documents its default; `SubscriptionOptions()` is the recommended
    // configuration.

    /// Kernel receive buffer of the event socket (`SO_RCVBUF`), in bytes. Default 4 MiB;
    /// valid ``receiveBufferSizeRange``.
    ///
    /// Set with `SO_RCVBUFFORCE` when the process has `CAP_NET_ADMIN` (so it may exceed
    /// `net.core.rmem_max`), else with `SO_RCVBUF` (capped at `rmem_max`). The kernel
    /// doubles the value for its bookkeeping. A burst larger than this buffer while the
    /// reader thread is descheduled overruns the socket (`ENOBUFS`); the subscription
    /// then recovers from the kernel's replay ring. Bigger buffers mean fewer recoveries.
    public var receiveBufferSize: Int

    /// Capacity of the stream buffer between the reader thread and the consumer, in
    /// items. Default 16384; at least 1. When the consumer falls this far behind, the
    /// reader stops reading its socket (memory stays bounded: what the read in progress
    /// already took, at most 16 datagrams, is buffered beyond the limit) until the
    /// consumer has drained half of it. Meanwhile events wait in the socket's receive
    /// buffer (``receiveBufferSize``); only when that overruns too does the kernel drop
    /// them, and the subscription then recovers them from the kernel's ring: slow
    /// consumers lose nothing the ring still holds, and get ``SubscriptionItem/lost(_:)``
    /// for the rest.
    public var bufferCapacity: Int

    /// Upper bound of payload bytes held in the stream buffer. Default 64 MiB; at least 1
    /// (one event is always let through, however large).
    public var bufferByteLimit: Int

    /// Size of the user-space buffer one datagram is read into, in bytes. Valid
    /// ``messageBufferSizeRange``: at least 64 KiB + 4 KiB (a replay dump message can
    /// carry a 60 KiB event). Default 128 KiB.
    /// The reader thread reads up to 16 datagrams per `recvmmsg()`, into 16 such
    /// buffers (address space; only the pages events actually fill become resident).
    public var messageBufferSize: Int

    /// Replay lost events from the kernel's ring after a gap or an `ENOBUFS` overrun.
    /// Default `true`. After an overrun the events still queued on
    /// the socket are read first and one bounded replay fills the gaps they reveal; a
    /// gap the ring no longer holds is reported lost at once, without a replay. A
    /// replay is time the reader does not spend on its socket, so against a producer
    /// that stays faster than the reader (the socket queue then is as deep as the
    /// ring and its gaps are gone), a larger ``receiveBufferSize`` is what prevents
    /// loss. When `false`, a gap is reported as
    /// ``SubscriptionItem/lost(_:)`` when the next event reveals it; events dropped at
    /// the very end of a burst, with no event after them, are reported once the socket
    /// stayed quiet for about 100 ms and the kernel's statistics confirm them published.
    public var recovery: Bool

    /// Follow module unloads and reloads: yield ``SubscriptionItem/disconnected``, wait
    /// for the family to come back, register again and yield
    /// ``SubscriptionItem/reconnected``. Default `true`. When `false` the sequence
    /// ends after ``SubscriptionItem/disconnected``.
    public var autoReconnect: Bool

    /// Register the subscriber with `NLPUSH_CMD_SUBSCRIBE` (needs `CAP_NET_ADMIN`).
    /// Default `true`. Set it to `false` to only listen, which an unprivileged process
    /// can do when the module runs with `unprivileged_listen=1`; it then does not appear
    /// in ``NetlinkPushChannel/subscribers()`` (and cannot acknowledge events).
    public var registerSubscriber: Bool

    /// Register as a responder (`NLPUSH_F_RESPONDER` in `NLPUSH_CMD_SUBSCRIBE`): the
    /// subscription answers requests (events with ``EventFlags/replyWanted``) with
    /// ``Subscription/ack(_:status:reply:)`` and a status. Default `false`.
    ///
    /// The kernel lets only responders answer (`EPERM` otherwise) and fails a request at
    /// once with `ENOTCONN` while no responder is registered, so set it only where
    /// requests are really answered; a subscription that merely watches must not. It
    /// needs ``registerSubscriber``: the subscribe and the answers go out of the same
    /// control socket, which the kernel identifies the responder by.
    /// ``NetlinkPushChannel/respond(name:options:)`` sets it.
    public var responder: Bool

    /// While disconnected, how often to look for the family in case a controller
    /// notification was missed, in milliseconds. Default 1000; valid
    /// ``reconnectPollIntervalMsRange``.
    public var reconnectPollIntervalMs: Int

    /// The subscription's metrics (see ``MetricsOptions`` for their names), recorded with
    /// a `subscription` dimension set to its name. Default `nil`: the channel's
    /// (``NetlinkPushChannel/init(logger:metrics:)``).
    public var metrics: MetricsOptions?

    /// Creates options; every parameter defaults to the documented value.
    public init(
        receiveBufferSize: Int = 4 * 1024 * 1024,
        bufferCapacity: Int = 16384,
        bufferByteLimit: Int = 64 * 1024 * 1024,
        messageBufferSize: Int = 128 * 1024,
        recovery: Bool = true,
        autoReconnect: Bool = true,
        registerSubscriber: Bool = true,
        reconnectPollIntervalMs: Int = 1000,
        responder: Bool = false,
        metrics: MetricsOptions? = nil
    ) {
        self.metrics = metrics
        self.responder = responder
        self.registerSubscriber = registerSubscriber
        self.receiveBufferSize = receiveBufferSize
        self.bufferCapacity = bufferCapacity
        self.bufferByteLimit = bufferByteLimit
        self.messageBufferSize = messageBufferSize
        self.recovery = recovery
        self.autoReconnect = autoReconnect
        self.reconnectPollIntervalMs = reconnectPollIntervalMs
    }
}

extension SubscriptionOptions {
    /// Valid ``receiveBufferSize``: from a page to 1 GiB (the kernel doubles the value
    /// into a signed 32-bit field).
    public static let receiveBufferSizeRange = 4096...(1 << 30)
    /// Valid ``messageBufferSize``: room for the largest message (a 60 KiB event in a
    /// replay dump) up to 16 MiB per slot (the reader maps 16 slots).
    public static let messageBufferSizeRange = (64 * 1024 + 4096)...(16 << 20)
    /// Valid ``reconnectPollIntervalMs``: 10 ms to one hour.
    public static let reconnectPollIntervalMsRange = 10...3_600_000

    /// Checks every value against its documented range.
    ///
    /// ``NetlinkPushChannel/subscribe(name:options:)`` and the other ways to subscribe
    /// call it before opening anything.
    ///
    /// - Throws: ``NetlinkPushError/invalidOption(name:reason:)`` naming the first
    ///   property out of range.
    public func validate() throws(NetlinkPushError) {
        func check(_ name: String, _ value: Int, _ range: ClosedRange<Int>) throws(NetlinkPushError) {
            guard range.contains(value) else {
                throw .invalidOption(name: name, reason: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
            }
        }
        try check("receiveBufferSize", receiveBufferSize, Self.receiveBufferSizeRange)
        guard bufferCapacity >= 1 else {
            throw .invalidOption(name: "bufferCapacity", reason: "\(bufferCapacity) items: the buffer must hold at least one")
        }
        guard bufferByteLimit >= 1 else {
            throw .invalidOption(name: "bufferByteLimit", reason: "\(bufferByteLimit) bytes: must be positive")
        }
        try check("messageBufferSize", messageBufferSize, Self.messageBufferSizeRange)
        try check("reconnectPollIntervalMs", reconnectPollIntervalMs, Self.reconnectPollIntervalMsRange)
        if responder && !registerSubscriber {
            throw .invalidOption(name: "responder", reason: "a responder must register (registerSubscriber: true)")
        }
    }

    /// The `NLPUSH_CMD_SUBSCRIBE` these options send (again after a module reload).
    func subscribeRequest(name: String) -> ControlRequest {
        .subscribe(name: name, flags: responder ? Proto.flagResponder : nil)
    }
}
