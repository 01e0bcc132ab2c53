public import Logging
internal import Synchronization
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// A connection to the nlpush generic netlink family: resolves it, queries it and
/// creates subscriptions.
///
/// ```swift
/// let channel = try NetlinkPushChannel()
/// let sub = try channel.subscribe(name: "audit")
/// for try await item in sub.events {
///     if case .event(let e) = item { print(e.seq, e.payload.count) }
/// }
/// ```
///
/// Control requests (``stats()``, ``emit(type:payload:count:)``,
/// ``request(type:payload:timeout:)``...) are `async`: they go over one non-blocking
/// control socket, any number in flight at once (answers are matched by netlink
/// sequence number), and suspend the calling task, never a thread, until the library's
/// control I/O thread completes them. Timeouts are enforced by that thread; a cancelled
/// task stops waiting at once with ``NetlinkPushError/cancelled(operation:)``. The
/// channel can be shared between threads and tasks.
///
/// ```swift
/// let channel = try NetlinkPushChannel()
/// let stats = try await channel.stats()
/// let reply = try await channel.request(type: 7, payload: Array("ping".utf8))
/// ```
public final class NetlinkPushChannel: Sendable {
    /// The logger the channel and its subscriptions log to. The library logs at `debug`
    /// and `trace` levels only: it reports what matters through return values, errors
    /// and ``SubscriptionItem``s, and leaves it to the application to log them.
    public let logger: Logger
    let metrics: ChannelMetrics
    let control: ControlConnection
    private let family: Mutex<FamilyInfo>

    /// Opens a control socket and resolves the `nlpush` family with libnl.
    ///
    /// - Parameters:
    ///   - logger: where the library logs, at `debug` and `trace` levels only. The
    ///     library never bootstraps the logging system; without a logger it logs nowhere
    ///     (a `SwiftLogNoOpLogHandler`), whatever the application bootstrapped.
    ///   - metrics: whether and under which names the channel and its subscriptions
    ///     record metrics with the bootstrapped `MetricsSystem` (see ``MetricsOptions``).
    /// - Throws: ``NetlinkPushError/familyNotFound(family:)`` when the kernel module is
    ///   not loaded ("nlpush kernel module not loaded (generic netlink family 'nlpush'
    ///   not found)"), ``NetlinkPushError/socket(operation:errno:detail:)`` when no
    ///   netlink socket can be opened.
    public convenience init(logger: Logger? = nil, metrics: MetricsOptions = .init()) throws(NetlinkPushError) {
        try self.init(transport: LibnlTransport(), logger: logger, metrics: metrics)
    }

    /// Opens a channel over `transport`: the real kernel (``init(logger:metrics:)``), or
    /// the in-memory kernel of `NetlinkPushTesting` (which wraps this initializer in a
    /// public one taking its `FakeKernel`).
    package init(transport: any Transport, logger: Logger? = nil, metrics: MetricsOptions = .init())
        throws(NetlinkPushError)
    {
        let logger = logger ?? Self.silentLogger
        self.logger = logger
        self.metrics = ChannelMetrics(metrics)
        control = try ControlConnection(transport: transport)
        let info = try control.resolveFamily()
        family = Mutex(info)
        logger.debug(
            "nlpush family resolved",
            metadata: ["id": "\(info.id)", "version": "\(info.version)", "events": "\(info.eventsGroup)"])
    }

    /// Generic netlink family id of `nlpush` (assigned by the kernel at module load).
    public var familyID: UInt16 { family.withLock { $0.id } }
    /// Version the family registered with (``NetlinkPushChannel/protocolVersion`` for this library).
    public var version: UInt8 { family.withLock { $0.version } }
    /// Multicast group id of the `events` group.
    public var eventsGroupID: UInt32 { family.withLock { UInt32(bitPattern: $0.eventsGroup) } }
    /// The protocol version this library speaks (`NLPUSH_FAMILY_VERSION` of the header it was built with).
    public static let protocolVersion: UInt8 = Proto.version

    /// The logger used when the application passes none: logs nothing.
    static let silentLogger = Logger(label: "nlpush", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Resolves the family again, after the module was reloaded. Requests do this by
    /// themselves when the family id they used disappeared.
    public func refresh() throws(NetlinkPushError) {
        let info = try control.resolveFamily()
        family.withLock { $0 = info }
    }

    var familyInfo: FamilyInfo { family.withLock { $0 } }

    /// Performs a request; when the family id is stale (module reloaded) it resolves
    /// again and retries once.
    func perform(
        _ request: ControlRequest, timeoutMs: Int32 = ControlConnection.defaultTimeoutMs,
        awaitingReply: Bool = false,
        onMessage: (GenlMessage) throws(NetlinkPushError) -> Void = { _ in }
    ) async throws(NetlinkPushError) {
        let id = familyID
        do {
            try await control.perform(
                request, familyID: id, timeoutMs: timeoutMs, awaitingReply: awaitingReply, onMessage: onMessage)
        } catch {
            guard let fresh = try refreshFamily(after: error, used: id) else { throw error }
            try await control.perform(
                request, familyID: fresh.id, timeoutMs: timeoutMs, awaitingReply: awaitingReply,
                onMessage: onMessage)
        }
    }

    // MARK: subscriptions

    /// Registers a subscriber and starts receiving events.
    ///
    /// Opens the subscription's own control socket and sends `NLPUSH_CMD_SUBSCRIBE` from
    /// it, opens its event socket (receive buffer ``SubscriptionOptions/receiveBufferSize``),
    /// joins the `events` group and the controller's `notify` group, and starts the reader
    /// thread. The subscription delivers every event published from this call on, in
    /// order, recovering overruns from the kernel's replay ring. It runs until the loop
    /// over its ``Subscription/events`` ends (see ``Subscription``).
    ///
    /// - Parameters:
    ///   - name: 1 to 31 bytes, shown by ``subscribers()``.
    ///   - options: buffer sizes, recovery and reconnection behaviour.
    /// - Throws: ``NetlinkPushError/permissionDenied(operation:errno:extack:)`` without
    ///   `CAP_NET_ADMIN`, ``NetlinkPushError/rejected(operation:errno:extack:)`` (`ENOSPC`
    ///   beyond 1024 subscribers), ``NetlinkPushError/invalidArgument(reason:)`` for a bad name,
    ///   ``NetlinkPushError/invalidOption(name:reason:)`` for options out of range (see
    ///   ``SubscriptionOptions/validate()``).
    public func subscribe(name: String, options: SubscriptionOptions = .init()) throws(NetlinkPushError)
        -> Subscription
    {
        try start(name: name, options: options, resume: nil, answerer: nil)
    }

    /// Registers a subscriber that resumes after the event `seq`: it first delivers every
    /// later event the kernel's replay ring still holds, then live events, in order and
    /// without duplicates.
    ///
    /// Use it to continue after a restart from the last event a daemon processed (keep
    /// its ``Event/seq`` and ``Event/epoch``). What the ring no longer holds comes first
    /// as one explicit ``SubscriptionItem/lost(_:)`` range (`seq + 1` up to the oldest
    /// event held, `OLDEST_SEQ` of ``Stats``); `from: 0` delivers everything the ring
    /// holds.
    ///
    /// Sequence numbers restart at 1 when the module is reloaded, so a number alone
    /// cannot tell a resume within the same load from one across a reload: pass the
    /// `epoch` `seq` belongs to. When it is not the module's current one
    /// (``Stats/epoch``), the events after `seq` of that earlier load are gone and the
    /// numbers are not continuous: the first item is then
    /// ``SubscriptionItem/reloaded(previousEpoch:epoch:)``, followed by every event of the
    /// current load the ring holds (from sequence number 1; ``SubscriptionItem/lost(_:)``
    /// for those it no longer holds), then live ones. Without `epoch` (or with 0), a
    /// `seq` beyond the newest event published can only belong to an earlier load and is
    /// reported the same way (with `previousEpoch` nil); a smaller one is taken as this
    /// load's.
    ///
    /// - Parameters:
    ///   - name: 1 to 31 bytes, shown by ``subscribers()``.
    ///   - seq: the last event already processed; delivery starts at `seq + 1`.
    ///   - epoch: the ``Event/epoch`` of that event, if known (recommended).
    ///   - options: buffer sizes, recovery and reconnection behaviour. A
    ///     ``SubscriptionOptions/bufferCapacity`` smaller than what the ring holds is fine:
    ///     the rest is replayed once the consumer made room.
    /// - Throws: what ``subscribe(name:options:)`` throws;
    ///   ``NetlinkPushError/invalidArgument(reason:)`` when `seq` was never published in
    ///   the current epoch (`epoch` given and current, `seq` beyond the newest event).
    public func subscribe(
        name: String, from seq: UInt64, epoch: UInt64? = nil, options: SubscriptionOptions = .init()
    ) throws(NetlinkPushError) -> Subscription {
        try start(name: name, options: options, resume: ResumePoint(seq: seq, epoch: epoch), answerer: nil)
    }

    /// ``startOnce(name:options:resume:)``; when the family id it used is stale (the
    /// module was reloaded since the channel resolved it), it resolves again and retries
    /// once, as ``perform(_:timeoutMs:awaitingReply:onMessage:)`` does.
    private func start(
        name: String, options: SubscriptionOptions, resume: ResumePoint?, answerer: AnswerHandler?
    ) throws(NetlinkPushError) -> Subscription {
        let id = familyID
        do {
            return try startOnce(name: name, options: options, resume: resume, answerer: answerer)
        } catch {
            guard try refreshFamily(after: error, used: id) != nil else { throw error }
            return try startOnce(name: name, options: options, resume: resume, answerer: answerer)
        }
    }

    /// After `error` from a request to family `id`: when it says the id is unknown
    /// (genetlink answers ENOENT without extack) and the family now resolves to another
    /// id (the module was reloaded), keeps and returns the new family; nil otherwise.
    private func refreshFamily(after error: NetlinkPushError, used id: UInt16) throws(NetlinkPushError) -> FamilyInfo? {
        guard case .rejected(_, let e, nil) = error, e == ENOENT else { return nil }
        let fresh = try control.resolveFamily()
        guard fresh.id != id else { return nil }
        family.withLock { $0 = fresh }
        logger.debug("nlpush family re-resolved", metadata: ["id": "\(fresh.id)"])
        return fresh
    }

    private func startOnce(
        name: String, options: SubscriptionOptions, resume: ResumePoint?, answerer: AnswerHandler?
    ) throws(NetlinkPushError) -> Subscription {
        try ControlRequest.subscribe(name: name).validate()
        try options.validate()
        let fam = familyInfo
        let transport = control.transport
        let subControl = try ControlConnection(transport: transport, bufferSize: options.messageBufferSize)
        let events: any TransportSocket
        let wake: EventFD
        do throws(NetlinkPushError) {
            events = try transport.openSocket(.events(receiveBufferSize: options.receiveBufferSize))
        } catch {
            subControl.close()
            throw error
        }
        do throws(NetlinkPushError) {
            wake = try EventFD()
        } catch {
            events.close()
            subControl.close()
            throw error
        }
        let reader: Reader
        let subscription: Subscription
        do throws(NetlinkPushError) {
            // Baseline first, then join: anything published in between is replayed by
            // the reader's initial recovery, so the subscription starts exactly here (or,
            // resuming, right after the caller's sequence number).
            var stats: Stats?
            do throws(NetlinkPushError) {
                try subControl.performBlocking(.getStats, familyID: fam.id) { (g) throws(NetlinkPushError) in
                    stats = try MessageDecoder.stats(g)
                }
            } catch {
                if resume != nil { throw error }
            }
            var baseline = stats.map { $0.nextSeq > 0 ? $0.nextSeq - 1 : 0 }
            var firstNotice: SubscriptionItem?
            if let resume {
                guard let stats, let newest = baseline else {
                    throw NetlinkPushError.malformed(reason: "GET_STATS answered without a reply message")
                }
                let plan = try ResumePlan(resuming: resume, kernelEpoch: stats.epoch, newest: newest)
                baseline = plan.baseline
                firstNotice = plan.notice
            }
            if options.registerSubscriber {
                try subControl.performBlocking(options.subscribeRequest(name: name), familyID: fam.id)
            }
            try events.joinGroup(fam.eventsGroup)
            if let ctrlGroup = transport.controllerNotifyGroup() { try events.joinGroup(ctrlGroup) }

            // Unbounded: the reader bounds what it buffers itself (reserve/consumed).
            let (stream, continuation) = AsyncStream<EventBatch>.makeStream()
            let core = SubscriptionCore(
                name: name, options: options, logger: logger, control: subControl, wake: wake, family: fam,
                continuation: continuation, metrics: metrics.options, answerer: answerer)
            // The consuming task cancelled while waiting for items (or the stream gone).
            continuation.onTermination = { _ in core.stop() }
            reader = Reader(
                core: core, events: events, family: fam, baseline: baseline)
            reader.catchUp(notice: firstNotice)
            subscription = Subscription(core: core, stream: stream)
            logger.debug(
                "nlpush subscribed",
                metadata: ["name": "\(name)", "port": "\(subControl.portID)", "baseline": "\(baseline ?? 0)"])
        } catch {
            events.close()
            subControl.close()
            wake.close()
            throw error
        }
        // The reader (with the event socket) moves to its thread; nothing here touches
        // it afterwards. Should the thread not start, it goes away with the closure and
        // its socket closes with it (NLSocket.deinit).
        do throws(NetlinkPushError) {
            try DetachedThread.start(name: "nlpush-reader") { reader.run() }
        } catch {
            subControl.close()
            wake.close()
            throw error
        }
        return subscription
    }


    // MARK: queries

    /// All counters and the replay ring's state (`NLPUSH_CMD_GET_STATS`, open to everyone).
    public func stats() async throws(NetlinkPushError) -> Stats {
        var result: Stats?
        try await perform(.getStats) { (g) throws(NetlinkPushError) in result = try MessageDecoder.stats(g) }
        guard let result else { throw .malformed(reason: "GET_STATS answered without a reply message") }
        return result
    }

    /// The registered subscribers (`NLPUSH_CMD_GET_SUBSCRIBERS` dump, open to everyone).
    public func subscribers() async throws(NetlinkPushError) -> [SubscriberInfo] {
        var list: [SubscriberInfo] = []
        try await perform(.getSubscribers) { (g) throws(NetlinkPushError) in list.append(try MessageDecoder.subscriber(g)) }
        return list
    }

    /// The events the kernel's replay ring holds with `seq >= from` (all of them when
    /// `from` is nil), in order, flagged ``EventFlags/replayed`` (`NLPUSH_CMD_REPLAY` dump);
    /// with `count` (1 to 1,000,000), at most that many of them, the oldest first.
    /// Needs `CAP_NET_ADMIN` unless the module runs with `unprivileged_listen=1`.
    public func replay(from: UInt64? = nil, count: UInt32? = nil) async throws(NetlinkPushError) -> [Event] {
        var list: [Event] = []
        let now = monotonicNanoseconds()
        try await perform(.replay(from: from, count: count), timeoutMs: 30_000) { (g) throws(NetlinkPushError) in
            list.append(try MessageDecoder.event(g, receivedNs: now))
        }
        return list
    }

    /// Publishes `count` copies of an event (`NLPUSH_CMD_EMIT`, needs `CAP_NET_ADMIN`).
    ///
    /// - Parameters:
    ///   - type: event type.
    ///   - payload: at most 61440 bytes.
    ///   - count: 1 to 1,000,000.
    public func emit(type: UInt32 = 0, payload: [UInt8] = [], count: UInt32 = 1) async throws(NetlinkPushError)
        -> EmitResult
    {
        var result: EmitResult?
        try await perform(
            .emit(type: type, payload: payload, count: count, flags: nil, timeoutMs: nil), timeoutMs: 60_000
        ) { (g) throws(NetlinkPushError) in
            guard g.command == Proto.Cmd.emit.rawValue else { return }
            result = try MessageDecoder.emitReply(g)
        }
        guard let result else { throw .malformed(reason: "EMIT answered without a reply message") }
        return result
    }

    /// Publishes one event with ``EventFlags/replyWanted`` and waits for a responder's
    /// answer (`NLPUSH_CMD_EMIT` with `NLPUSH_F_REPLY_WANTED`).
    ///
    /// The kernel publishes the request and answers the EMIT at once; when a responder
    /// (a subscription with ``SubscriptionOptions/responder``, e.g. ``respond(name:options:)``)
    /// answers, or the request ends otherwise, it unicasts an `NLPUSH_CMD_REPLY` to the
    /// channel's control socket. This call suspends the task (no thread waits) until that
    /// message arrives, at most `timeout` plus two seconds (the library's control I/O
    /// thread enforces the deadline). Other control requests of the channel, including
    /// other requests, proceed meanwhile: any number can be in flight at once.
    ///
    /// Cancelling the calling task ends the wait at once with
    /// ``NetlinkPushError/cancelled(operation:)``; the request stays published, and its
    /// answer, when it comes, is dropped.
    ///
    /// - Parameters:
    ///   - type: event type of the request.
    ///   - payload: at most 61440 bytes.
    ///   - timeout: how long the kernel waits for an answer (1 ms to 60 s).
    /// - Throws: ``NetlinkPushError/rejected(operation:errno:extack:)`` with `ENOTCONN`
    ///   when no responder is registered (at once, nothing is published) or the last one
    ///   went away before answering, `ESHUTDOWN` when the module is being unloaded, `EBUSY`
    ///   with too many requests pending; ``NetlinkPushError/timedOut(operation:)`` (errno
    ///   `ETIMEDOUT`) when no answer came in time;
    ///   ``NetlinkPushError/permissionDenied(operation:errno:extack:)`` without
    ///   `CAP_NET_ADMIN`; ``NetlinkPushError/cancelled(operation:)`` when the task is
    ///   cancelled.
    public func request(type: UInt32 = 0, payload: [UInt8] = [], timeout: Duration = .seconds(1))
        async throws(NetlinkPushError) -> Reply
    {
        let ms = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        guard ms >= 1, ms <= Int64(Proto.timeoutMsMax) else {
            throw .invalidArgument(reason: "timeout must be 1...\(Proto.timeoutMsMax) ms")
        }
        let started = ContinuousClock.now
        defer { metrics.requestEnded(startedAt: started) }
        var emitted: EmitResult?
        var outcome: MessageDecoder.RequestOutcome?
        try await perform(
            .emit(type: type, payload: payload, count: 1, flags: Proto.flagReplyWanted, timeoutMs: UInt32(ms)),
            timeoutMs: Int32(ms) + Self.requestMarginMs, awaitingReply: true
        ) { (g) throws(NetlinkPushError) in
            switch g.command {
            case Proto.Cmd.emit.rawValue: emitted = try MessageDecoder.emitReply(g)
            case Proto.Cmd.reply.rawValue: outcome = try MessageDecoder.requestOutcome(g)
            default: break
            }
        }
        guard let outcome else { throw .malformed(reason: "request ended without an NLPUSH_CMD_REPLY message") }
        if let emitted, emitted.firstSeq != outcome.seq {
            throw .malformed(reason: "REPLY for seq \(outcome.seq) answers the request of seq \(emitted.firstSeq)")
        }
        if let error = NetlinkPushError.request(failedWith: outcome.error) { throw error }
        return outcome.reply
    }

    /// How much longer than the request's timeout ``request(type:payload:timeout:)`` waits
    /// for the kernel's `NLPUSH_CMD_REPLY` (which the kernel sends at the timeout).
    static let requestMarginMs: Int32 = 2_000

    /// Registers a responder and starts receiving events: ``subscribe(name:options:)``
    /// with ``SubscriptionOptions/responder`` set. Answer the events that want a reply
    /// with ``Subscription/ack(_:status:reply:)`` and a status; the kernel lets only
    /// responders answer, and fails requests at once with `ENOTCONN` while none is
    /// registered.
    public func respond(name: String, options: SubscriptionOptions = .init()) throws(NetlinkPushError)
        -> Subscription
    {
        var o = options
        o.responder = true
        return try subscribe(name: name, options: o)
    }

    /// Registers a responder that answers requests on its reader thread, the moment each
    /// arrives: one thread wakes up per request, as in a C responder, instead of the
    /// reader and then the task looping over ``Subscription/events``.
    ///
    /// `answer` is called for each request (an event that ``Event/wantsReply``) as it is
    /// delivered, live or replayed during recovery; the ``Answer`` it returns is sent at
    /// once from the same thread (`NLPUSH_CMD_ACK` with `STATUS` and `REPLY`, as
    /// ``Subscription/ack(_:status:reply:)`` sends it) and the kernel's verdict is read
    /// there too. The request is then delivered to ``Subscription/events`` as usual, with
    /// ``Event/answered`` telling the answer and whether the kernel took it (`ENOENT`:
    /// expired, or another responder was first); do not answer it again. Return nil to
    /// leave a request to the loop over ``Subscription/events`` (its
    /// ``Event/answered`` is then nil: answer it there with
    /// ``Subscription/ack(_:status:reply:)``).
    ///
    /// ```swift
    /// let sub = try channel.respond(name: "ping") { request in
    ///     request.type == 7 ? Answer(status: 0, reply: request.payload) : nil
    /// }
    /// for try await item in sub.events {
    ///     if case .event(let e) = item, let error = e.answered?.error {
    ///         print("seq \(e.seq): the kernel refused the answer: \(error)")
    ///     }
    /// }
    /// ```
    ///
    /// `answer` runs on the library's reader thread: while it runs, no other event of the
    /// subscription is read. Keep it short and never block in it (no I/O, no waiting for
    /// a lock held across `await`); work that takes time belongs in the loop. It is not
    /// called for a request the subscription's buffer has no room for until that request
    /// is replayed (see ``SubscriptionOptions/bufferCapacity``).
    ///
    /// - Throws: what ``subscribe(name:options:)`` throws.
    public func respond(
        name: String, options: SubscriptionOptions = .init(), answer: @escaping @Sendable (Event) -> Answer?
    ) throws(NetlinkPushError) -> Subscription {
        var o = options
        o.responder = true
        return try start(name: name, options: o, resume: nil, answerer: answer)
    }

    /// Registers a responder that resumes after the event `seq`:
    /// ``subscribe(name:from:epoch:options:)`` with ``SubscriptionOptions/responder`` set.
    /// Requests among the replayed events may have expired already: an answer to one
    /// then fails with `ENOENT`.
    public func respond(
        name: String, from seq: UInt64, epoch: UInt64? = nil, options: SubscriptionOptions = .init()
    ) throws(NetlinkPushError) -> Subscription {
        var o = options
        o.responder = true
        return try subscribe(name: name, from: seq, epoch: epoch, options: o)
    }
}
