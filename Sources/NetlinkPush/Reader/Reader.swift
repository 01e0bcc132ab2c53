internal import Logging
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// The reader thread of one subscription. Owns the event socket and the sequence
/// tracker; nothing here is touched by any other thread (shared state lives in
/// ``SubscriptionCore`` behind its lock).
///
/// The state every received event touches is `@exclusivity(unchecked)`: only the
/// reader thread uses it, and no access to it overlaps another (no method runs while
/// a caller holds one of these properties `inout`), so the runtime's dynamic
/// exclusivity checks guard nothing here; they cost about 190 instructions per event
/// (callgrind, `bench/swift` PipelineProfile).
final class Reader {
    private let core: SubscriptionCore
    private let events: any TransportSocket
    private let slots: ReceiveSlots
    @exclusivity(unchecked) private var tracker: SequenceTracker
    @exclusivity(unchecked) private var family: FamilyInfo?
    /// A replay (or held-back events) found the stream buffer full: what it could not
    /// deliver, and live events until then, are replayed once the consumer made room.
    /// (Live events alone never set it: a full buffer pauses the socket, see ``run()``.)
    @exclusivity(unchecked) private var overflowed = false
    private var nextReconnectAttempt: UInt64 = 0
    @exclusivity(unchecked) private var finished = false
    /// Items not yet handed to the stream (see ``flush()``).
    @exclusivity(unchecked) private var batch = EventBatch()
    /// The socket reported ENOBUFS (or a truncated datagram): events were dropped
    /// somewhere in what is queued. Recovery waits until the queue is drained: the
    /// queued events are still good, and the gaps they reveal that the ring still
    /// holds are replayed together (``heldBack``).
    @exclusivity(unchecked) private var overrunPending = false
    /// ``readAvailable()`` stopped (its budget spent) before it saw the queue empty
    /// while recovery waits for exactly that: read again without waiting in poll().
    @exclusivity(unchecked) private var recheck = false
    /// Events may have been dropped after the last one read (the tail of an overrun,
    /// or what was skipped while the stream buffer was full), and no later event has
    /// revealed them yet. The next live event does, as an ordinary gap, and clears
    /// this; if none comes before `deadline` and the socket is quiet, ``checkTail()``
    /// asks the kernel. `horizon`: the newest event published at the previous check
    /// (without recovery), and `sent`: how many events the kernel's transmit queue had
    /// dealt with then (``transmit``).
    @exclusivity(unchecked) private var tail: (deadline: UInt64, horizon: UInt64?, sent: UInt64?)?
    /// From the last GET_STATS: events published, and events the kernel's transmit
    /// queue has dealt with (multicast, found no listener, failed or dropped). Since
    /// protocol v2 events are multicast from a queue, partly by a work item: while
    /// `sent < published`, published events are still on their way to the socket.
    private var transmit: (published: UInt64, sent: UInt64)?
    /// With recovery, how long the tail of an overrun waits for the next event before
    /// it is replayed (see ``drained()``).
    static let tailGraceNs: UInt64 = 10_000_000
    /// Without recovery, how long a published event may take to reach the socket
    /// before a drained, quiet subscription declares it lost.
    static let trailingLossGraceNs: UInt64 = 100_000_000
    /// No sequence number below this is in the kernel's replay ring any more (learnt
    /// from replays that started past where they were asked to; the ring only moves
    /// forward). Gaps below it are reported lost without a futile replay, which would
    /// only keep the reader from its socket while it overruns further.
    private var ringOldestAtLeast: UInt64 = 0
    /// After an overrun, live events that came after a gap wait here, in order, until
    /// the socket is drained: then one replay fills every gap at once
    /// (``resolveHeldBack()``), instead of a round trip per gap while the socket
    /// keeps overrunning.
    @exclusivity(unchecked) private var heldBack: [Event] = []
    /// Events and payload bytes the fast path delivered since the last
    /// ``reserveFastPathEvents()``.
    @exclusivity(unchecked) private var unreserved = (items: 0, bytes: 0)
    private var heldBackBytes = 0
    /// Held-back events are resolved at the latest when one this new arrives: the
    /// producer has then published enough to evict the gap (see ``gapInRing(_:)``).
    private var resolveHeldBackAt: UInt64?
    static let maxHeldBack = 4096
    static let maxHeldBackBytes = 16 << 20
    /// Events replayed to fill gaps that no ``SubscriptionItem/recovered(count:)``
    /// notice has counted yet. A replay that a full stream buffer cuts short goes on
    /// once the consumer made room, possibly over many rounds; one notice follows the
    /// last event of the whole recovery and counts every round (see
    /// ``announceRecovered(reason:)``).
    private var recoveredUnannounced = 0
    /// The replay under way is the catch-up after subscribing or reconnecting: its
    /// events are simply the first ones, not a recovery from loss, in every round.
    private var catchingUp = false
    private var logger: Logger { core.logger }

    init(core: SubscriptionCore, events: any TransportSocket, family: FamilyInfo, baseline: UInt64?) {
        self.core = core
        self.events = events
        self.family = family
        tracker = SequenceTracker(last: baseline)
        slots = ReceiveSlots(
            count: Reader.datagramsPerCall, slotSize: max(core.options.messageBufferSize, 64 * 1024 + 4096))
    }

    /// Datagrams one recvmmsg() reads at most.
    static let datagramsPerCall = 16

    // MARK: main loop

    /// Runs on the subscribing thread, before the reader thread starts: replays the
    /// events published between the baseline (stats) and joining the group, so that the
    /// subscription boundary is exactly the return of `subscribe`.
    ///
    /// `notice` (a resume across a module reload) goes first.
    func catchUp(notice first: SubscriptionItem? = nil) {
        if let first { notice(first) }
        recover(revealedBy: nil, reason: "initial")
        flush()
    }

    func run() {
        defer { shutdown() }
        logger.debug("nlpush reader started", metadata: ["subscription": "\(core.name)", "port": "\(core.control.portID)"])
        do throws(NetlinkPushError) {
            while !finished {
                // A full stream buffer: the socket is not read (its events wait in its
                // receive buffer) until the consumer has made room and wakes us.
                let paused = core.isWaitingForSpace
                var timeout: Int32 = family == nil ? Int32(clamping: max(core.options.reconnectPollIntervalMs, 10)) : -1
                if let t = tail, !paused {
                    let now = monotonicNanoseconds()
                    let ms = Int32(clamping: t.deadline > now ? (t.deadline - now) / 1_000_000 + 1 : 0)
                    timeout = timeout < 0 ? ms : min(timeout, ms)
                }
                if recheck && !paused { timeout = 0 }
                let ready = try Poll.wait(paused ? -1 : events.pollDescriptor, core.wake.fd, timeoutMs: timeout)
                if ready.second { core.wake.drain() }
                if core.isStopping { break }
                let pausedNow = core.isWaitingForSpace
                if overflowed && !pausedNow {
                    recover(revealedBy: nil, reason: "stream buffer overflow")
                }
                // After a pause the socket may hold a whole burst: read it.
                if (ready.first || recheck || paused) && !pausedNow { try readAvailable() }
                if family == nil && !finished && monotonicNanoseconds() >= nextReconnectAttempt {
                    tryReconnect()
                }
                // Not while paused: the events the tail is waiting for may be in the socket.
                if let t = tail, !ready.first, !pausedNow, monotonicNanoseconds() >= t.deadline {
                    checkTail()
                }
                flush()
            }
        } catch {
            logger.debug("nlpush reader failed", metadata: ["subscription": "\(core.name)", "error": "\(error)"])
            finish(throwing: error)
        }
    }

    private func shutdown() {
        if !finished { finish(throwing: nil) }
        events.close()
        core.readerDidExit()
        logger.debug("nlpush reader stopped", metadata: ["subscription": "\(core.name)"])
    }

    private func finish(throwing error: NetlinkPushError?) {
        flush()
        finished = true
        core.finish(throwing: error)
    }

    /// Reads what is queued on the event socket, up to 16 datagrams per recvmmsg()
    /// and 256 per call (to keep checking for the stop signal). A short read means the
    /// queue is empty: back to poll() without a recvmsg() that would only say EAGAIN
    /// (unless recovery is pending: see below).
    /// What it decodes is handed to the stream in batches, by the caller's ``flush()``
    /// or when a batch is full.
    private func readAvailable() throws(NetlinkPushError) {
        recheck = false
        defer { if !finished { recheck = overrunPending || !heldBack.isEmpty } }
        for _ in 0..<(256 / Reader.datagramsPerCall) {
            if finished || core.isStopping { return }
            // The stream buffer is full: leave the rest in the socket (run() waits for room).
            if core.isWaitingForSpace { return }
            switch try events.receiveBatch(into: slots) {
            case .wouldBlock:
                drained()
                return
            case .overrun:
                core.metrics.socketOverrun()
                if !overrunPending {
                    logger.debug("nlpush event socket overrun (ENOBUFS)", metadata: ["subscription": "\(core.name)"])
                }
                overrunPending = true
            case .received(let n):
                let now = monotonicNanoseconds()
                for i in 0..<n {
                    if finished { return }
                    switch slots.result(i) {
                    case .foreign:
                        continue
                    case .truncated(let size):
                        logger.debug("nlpush message truncated", metadata: ["size": "\(size)"])
                        overrunPending = true
                    case .data(let bytes):
                        try handleBatch(bytes, receivedNs: now)
                    }
                }
                // before the next read looks at isWaitingForSpace
                reserveFastPathEvents()
                if n < slots.count {
                    // recvmmsg() also stops short at an overrun (the ENOBUFS comes
                    // with the next call): where drained() would start a replay, ask
                    // once more instead of replaying while the socket keeps filling.
                    if overrunPending || !heldBack.isEmpty { continue }
                    drained()
                    return
                }
            }
        }
    }

    /// Whether the kernel's replay ring still holds part of a gap revealed after an
    /// overrun (one small GET_STATS tells): only then are the events after it held
    /// back for a replay, and only until the producer has published enough to evict
    /// the gap (``resolveHeldBackAt``). Under a producer that outruns the reader the
    /// socket queue is as deep as the ring, the gaps it reveals are gone or about to
    /// go, and holding would only cost the reader its pace (every held event is fresh
    /// memory): such a gap is reported lost at once, as without recovery.
    private func gapInRing(_ gap: ClosedRange<UInt64>) -> Bool {
        if gap.upperBound < ringOldestAtLeast || family == nil { return false }
        let newest = askRing()
        guard gap.upperBound >= ringOldestAtLeast else { return false }
        // A full ring evicts one event per event published: after this many more, the
        // gap is gone (if the ring had room, resolving early only replays sooner).
        if let newest { resolveHeldBackAt = newest + (gap.upperBound - ringOldestAtLeast) + 1 }
        return true
    }

    private func hold(_ e: Event) {
        heldBack.append(e)
        heldBackBytes += e.payload.count
        if heldBack.count >= Reader.maxHeldBack || heldBackBytes >= Reader.maxHeldBackBytes
            || e.seq >= resolveHeldBackAt ?? .max
        {
            resolveHeldBack()
        }
    }

    /// Fills every gap before the held-back events with one replay, bounded by the
    /// newest held event, and delivers replayed and held events merged in order;
    /// what the ring no longer holds is reported lost.
    private func resolveHeldBack() {
        resolveHeldBackAt = nil
        let held = heldBack
        heldBack = []
        heldBackBytes = 0
        guard let newest = held.last, let fam = family, !finished else { return }
        if core.isWaitingForSpace {
            overflowed = true  // the overflow recovery replays these too, once there is room
            return
        }
        guard let last = tracker.last else {
            for e in held { deliver(e) }
            return
        }
        _ = askRing()
        var i = 0
        // Once the stream buffer is full (``overflowed``) nothing more is taken in this
        // pass: the overflow recovery replays from the last event delivered, held
        // events included. (Merging on past an event that found the buffer full would
        // take it for lost when the next one came.)
        func emit(_ e: Event, fromReplay: Bool) {
            if overflowed { return }
            switch tracker.classifyReplayed(e.seq) {
            case .duplicate:
                return
            case .deliver:
                break
            case .deliverAfterLoss(let range):
                lost(range)
                _ = tracker.declareLost(before: e.seq)
            }
            if fromReplay { deliverReplayed(e) } else { deliver(e) }
        }
        let from = max(last + 1, ringOldestAtLeast)
        if from < newest.seq {
            do throws(NetlinkPushError) {
                let count = UInt32(clamping: min(newest.seq - from, UInt64(Proto.emitCountMax)))
                try replay(from: from, count: count, familyID: fam.id, reason: "overrun") {
                    (g) throws(NetlinkPushError) in
                    guard !self.overflowed, !self.finished, !self.core.isStopping else { return }  // drain, discard
                    let e = try MessageDecoder.event(g, receivedNs: monotonicNanoseconds())
                    if e.seq >= newest.seq { return }
                    while i < held.count, held[i].seq < e.seq {
                        emit(held[i], fromReplay: false)
                        i += 1
                    }
                    if i < held.count, held[i].seq == e.seq { return }  // the live copy follows
                    emit(e, fromReplay: true)
                }
            } catch {
                logger.debug("nlpush replay failed", metadata: ["reason": "overrun", "error": "\(error)"])
                if !familyStillPresent() {
                    handleDisconnect()
                    return
                }
            }
        }
        if overflowed || finished { return }
        while i < held.count {
            emit(held[i], fromReplay: false)
            i += 1
        }
        if overflowed { return }  // the rest of the held events found the buffer full
        announceRecovered(reason: "overrun")
    }

    /// Delivers an event of a replay that fills a gap, and counts it for the
    /// recovery's notice (not during the catch-up after subscribing or reconnecting:
    /// those events are simply the first ones, not a recovery from loss).
    private func deliverReplayed(_ e: Event) {
        if deliver(e) && !catchingUp { recoveredUnannounced += 1 }
    }

    /// The recovery is complete (no round left for a full stream buffer to resume):
    /// one ``SubscriptionItem/recovered(count:)`` notice, after the last replayed event,
    /// counts what every round replayed.
    private func announceRecovered(reason: String) {
        catchingUp = false
        guard recoveredUnannounced > 0 else { return }
        logger.debug(
            "nlpush recovered events from the replay ring",
            metadata: ["subscription": "\(core.name)", "count": "\(recoveredUnannounced)", "reason": "\(reason)"])
        notice(.recovered(count: recoveredUnannounced))
        recoveredUnannounced = 0
    }

    /// The socket's queue is empty. After an overrun, the gaps the queued events
    /// revealed are filled (``resolveHeldBack()``). What they did not reveal (events
    /// dropped after the last one queued) is revealed by the next live event as an
    /// ordinary gap, which recovery fills from the ring; only when none comes within
    /// ``tailGraceNs`` (the burst is over) is the tail replayed up to the newest
    /// event published. Replaying it at once would fetch from the ring, while the
    /// producer is still publishing, the very events it is queueing on the socket,
    /// and leave the socket unread meanwhile.
    private func drained() {
        if !heldBack.isEmpty { resolveHeldBack() }
        guard overrunPending, !finished else { return }
        overrunPending = false
        if core.options.recovery {
            tail = (monotonicNanoseconds() + Reader.tailGraceNs, nil, nil)
        } else {
            recover(revealedBy: nil, reason: "ENOBUFS")
        }
    }

    private func handleBatch(_ bytes: UnsafeRawBufferPointer, receivedNs: UInt64) throws(NetlinkPushError) {
        var it = NetlinkMessageIterator(bytes)
        while true {
            let m: NetlinkMessage
            do throws(NetlinkPushError) {
                guard let next = try it.next() else { return }
                m = next
            } catch {
                logger.debug("nlpush: malformed datagram dropped", metadata: ["error": "\(error)"])
                return
            }
            if let fam = family, m.type == fam.id {
                do throws(NetlinkPushError) {
                    let g = try GenlMessage(m)
                    guard Proto.isEventCommand(g.command) else { continue }
                    let raw = try MessageDecoder.rawEvent(g)
                    if !deliverInOrder(raw, receivedNs: receivedNs) {
                        // the slow path may look at the buffer's fill level
                        reserveFastPathEvents()
                        handleLive(raw.event(receivedNs: receivedNs))
                    }
                } catch {
                    logger.debug("nlpush: malformed event dropped", metadata: ["error": "\(error)"])
                }
            } else if m.type == NL.genlIDCtrl {
                guard let g = try? GenlMessage(m), let n = try? MessageDecoder.controllerNotification(g),
                    n.familyName == nlpushFamilyName
                else { continue }
                if n.command == NL.ctrlCmdDelFamily {
                    handleDisconnect()
                } else if n.command == NL.ctrlCmdNewFamily, family == nil {
                    tryReconnect()
                }
            }
            if finished { return }
        }
    }

    // MARK: delivery

    /// The common case, without an ``Event`` of its own: the next live event in
    /// sequence, nothing held back or skipped, not a request for the answer handler. Its
    /// payload goes straight from the receive buffer into the batch. false: nothing
    /// done, ``handleLive(_:)`` takes it.
    @inline(__always)
    private func deliverInOrder(_ raw: MessageDecoder.RawEvent, receivedNs: UInt64) -> Bool {
        guard !overflowed, heldBack.isEmpty, tracker.classifyLive(raw.seq) == .deliver,
            !(raw.wantsReply && core.answerer != nil)
        else { return false }
        unreserved.items += 1
        unreserved.bytes += raw.payload.count
        tail = nil
        tracker.delivered(raw.seq)
        batch.append(
            seq: raw.seq, type: raw.type, flags: raw.flags, timestampNs: raw.timestampNs, receivedNs: receivedNs,
            epoch: raw.epoch, payload: raw.payload)
        flushIfFull()
        return true
    }

    private func handleLive(_ e: Event) {
        tail = nil  // it reveals whether events before it were dropped
        if overflowed { return }  // skipped; recovery replays it later
        if let held = heldBack.last {
            if e.seq > held.seq { hold(e) }
            return
        }
        switch tracker.classifyLive(e.seq) {
        case .duplicate:
            return
        case .deliver:
            deliver(e, live: true)
        case .gap(let range):
            if core.options.recovery {
                logger.debug("nlpush sequence gap", metadata: ["missing": "\(range)"])
                if overrunPending {
                    if gapInRing(range) {
                        hold(e)
                    } else {
                        lost(range)
                        _ = tracker.declareLost(before: e.seq)
                        deliver(e, live: true)
                    }
                } else {
                    recover(revealedBy: e, reason: "sequence gap")
                }
            } else {
                lost(range)
                _ = tracker.declareLost(before: e.seq)
                deliver(e, live: true)
            }
        }
    }

    /// Hands `e` to the stream. A full stream buffer stops the reader from reading its
    /// socket (``run()``): a `live` event, read from the socket already, is buffered
    /// beyond the limit (at most what one `recvmmsg()` read); the rest waits in the
    /// socket's receive buffer, and is lost (and recovered) only if that overruns too.
    /// An event of a replay is skipped instead (``overflowed``): the replay is repeated
    /// once there is room again.
    @discardableResult
    private func deliver(_ e: Event, live: Bool = false) -> Bool {
        if live {
            core.reserveLive(bytes: e.payload.count)
        } else if !core.reserve(bytes: e.payload.count) {
            if !overflowed {
                logger.debug(
                    "nlpush stream buffer full: skipping events until the consumer catches up",
                    metadata: ["subscription": "\(core.name)", "last": "\(tracker.last ?? 0)"])
            }
            overflowed = true
            return false
        }
        tracker.delivered(e.seq)
        if e.wantsReply, let answerer = core.answerer {
            var e = e
            e.answered = answerInline(e, answerer)
            enqueue(e)
        } else {
            enqueue(e)
        }
        return true
    }

    /// Calls the subscription's answer handler for request `e` and, when it answers,
    /// sends the answer from this thread. The kernel handles an `NLPUSH_CMD_ACK` within
    /// the `sendmsg()` (the producer has its `REPLY` when it returns) and queues its
    /// verdict at once, so the wait below is for a message already there (read on this
    /// thread by ``ControlIO/submit``); its deadline only guards against a stuck kernel.
    private func answerInline(_ e: Event, _ answerer: AnswerHandler) -> AnsweredRequest? {
        guard let answer = answerer(e) else { return nil }
        let started = ContinuousClock.now
        defer { core.metrics.ackEnded(startedAt: started) }
        var error: NetlinkPushError?
        do throws(NetlinkPushError) {
            guard let fam = family else { throw .familyNotFound(family: nlpushFamilyName) }
            try core.control.performBlocking(
                .ack(seq: e.seq, status: answer.status, payload: answer.reply, epoch: e.epoch == 0 ? nil : e.epoch),
                familyID: fam.id)
        } catch let failure {
            error = failure
            logger.debug(
                "nlpush answer refused",
                metadata: ["subscription": "\(core.name)", "seq": "\(e.seq)", "error": "\(failure)"])
        }
        let now = monotonicNanoseconds()
        let since = e.receivedNs != 0 && e.receivedNs <= now ? e.receivedNs : now
        return AnsweredRequest(answer: answer, error: error, tookNs: now - since)
    }

    private func lost(_ range: ClosedRange<UInt64>) {
        logger.debug("nlpush events lost", metadata: ["subscription": "\(core.name)", "range": "\(range)"])
        notice(.lost(range))
    }

    private func notice(_ item: SubscriptionItem) {
        core.reserveNotice()
        batch.append(notice: item)
        flushIfFull()
    }

    private func enqueue(_ e: Event) {
        batch.append(e)
        flushIfFull()
    }

    @inline(__always)
    /// Counts the events ``deliverInOrder(_:receivedNs:)`` put in the batch against the
    /// stream buffer, all at once: one lock round trip per read of up to 16 datagrams (or
    /// per batch handed over), not one per event. A buffer this fills stops the reader
    /// before its next read, as one filled by a single event would.
    private func reserveFastPathEvents() {
        guard unreserved.items > 0 else { return }
        core.reserveLive(items: unreserved.items, bytes: unreserved.bytes)
        unreserved = (0, 0)
    }

    private func flushIfFull() {
        if batch.isFull { flush() }
    }

    /// Hands the pending items to the consumer: one stream element, so one task
    /// resumption, per batch.
    func flush() {
        reserveFastPathEvents()
        guard !batch.isEmpty else { return }
        let full = batch.handOff()
        if finished { return }
        if case .terminated = core.yield(full) { finished = true }
    }

    // MARK: recovery

    /// Replays from the ring everything after the last delivered event. `revealedBy` is
    /// the live event that exposed a gap: what the replay cannot provide below it is
    /// reported lost, then it is delivered.
    private func recover(revealedBy revealed: Event?, reason: String) {
        guard let fam = family, !finished else { return }
        if reason == "initial" || reason == "reconnect" { catchingUp = core.options.recovery }
        if core.isWaitingForSpace {
            // The consumer is behind: replaying now would only be discarded. The
            // consumer wakes us once it drained half of the buffer.
            overflowed = true
            return
        }
        overflowed = false
        guard core.options.recovery else {
            if let revealed {
                handleLiveWithoutRecovery(revealed)
            } else {
                // Events were dropped (overrun, full buffer): a later event will reveal
                // the gap; if none comes, checkTail() reports it.
                tail = (monotonicNanoseconds() + Reader.trailingLossGraceNs, nil, nil)
            }
            return
        }
        guard let last = tracker.last else {
            // No baseline (stats unavailable at subscription): start from here.
            if let revealed { deliver(revealed, live: true) }
            return
        }
        // What does the ring hold? One small GET_STATS answer: no dump that would start
        // past the gap (all discarded), and none that chases a producer still
        // publishing (the dump would run as long as the burst, the socket unread).
        let newest = askRing()
        // What the ring is known not to hold any more is lost without asking.
        let from = max(last + 1, ringOldestAtLeast)
        if from > last + 1, let range = tracker.declareLost(before: revealed.map { min($0.seq, from) } ?? from) {
            lost(range)
        }
        var firstReplayed: UInt64?
        do throws(NetlinkPushError) {
            // A gap revealed by a live event needs only the missing events: the ones
            // after it are (or will be) in the socket queue. Without a revealing event
            // (the tail of a burst, a full stream buffer) replay everything newer.
            var count: UInt32?
            if let revealed {
                count = revealed.seq > from ? UInt32(clamping: min(revealed.seq - from, UInt64(Proto.emitCountMax))) : 0
            } else if let newest {
                count = newest >= from ? UInt32(clamping: min(newest - from + 1, UInt64(Proto.emitCountMax))) : 0
            }
            if count != 0 {
                try replay(from: from, count: count, familyID: fam.id, reason: reason) {
                    (g) throws(NetlinkPushError) in
                    guard !self.overflowed, !self.finished, !self.core.isStopping else { return }  // drain, discard
                    let e = try MessageDecoder.event(g, receivedNs: monotonicNanoseconds())
                    if firstReplayed == nil { firstReplayed = e.seq }
                    // Only the gap: from the revealing event on, the socket queue has the
                    // events (when the ring no longer holds the gap, the dump starts past
                    // it; taking those would declare the queued events lost).
                    if let revealed, e.seq >= revealed.seq { return }
                    switch self.tracker.classifyReplayed(e.seq) {
                    case .duplicate:
                        return
                    case .deliver:
                        self.deliverReplayed(e)
                    case .deliverAfterLoss(let range):
                        self.lost(range)
                        _ = self.tracker.declareLost(before: e.seq)
                        self.deliverReplayed(e)
                    }
                }
                // The ring started past `from`, or (asked for a gap) held none of it.
                if let first = firstReplayed, first > from {
                    ringOldestAtLeast = max(ringOldestAtLeast, first)
                } else if firstReplayed == nil, let revealed {
                    ringOldestAtLeast = max(ringOldestAtLeast, revealed.seq)
                }
            }
        } catch {
            logger.debug("nlpush replay failed", metadata: ["reason": "\(reason)", "error": "\(error)"])
            if !familyStillPresent() {
                handleDisconnect()
                return
            }
        }
        if overflowed || finished { return }  // resumed once the consumer made room
        if let revealed {
            if let range = tracker.declareLost(before: revealed.seq) { lost(range) }
            if tracker.classifyLive(revealed.seq) == .deliver { deliver(revealed, live: true) }
        }
        announceRecovered(reason: reason)
    }

    /// The socket stayed quiet past the ``tail`` deadline. With recovery, the tail is
    /// replayed from the ring (up to the newest event published). Without, the kernel
    /// is asked for the last sequence number published: what lies between the last
    /// event accounted for and it is reported lost once it stayed the same for a whole
    /// grace period and the kernel's transmit queue is empty or made no progress in
    /// it (a queued event reaches the socket within microseconds unless the queue is
    /// long; anything newer arriving later is delivered normally).
    private func checkTail() {
        guard let t = tail, family != nil else {
            tail = nil
            return
        }
        if core.options.recovery {
            tail = nil
            recover(revealedBy: nil, reason: "ENOBUFS")
            return
        }
        guard let published = askRing(), let last = tracker.last, published > last else {
            tail = nil  // nothing missing (or cannot tell: the next event will)
            return
        }
        let sent = transmit?.sent
        let queueSettled = transmit.map { $0.sent >= $0.published } ?? true
        if t.horizon == published && (queueSettled || t.sent == sent) {
            if let range = tracker.declareLost(before: published + 1) { lost(range) }
            tail = nil
        } else {
            tail = (monotonicNanoseconds() + Reader.trailingLossGraceNs, published, sent)
        }
    }

    /// How many times a replay is tried when it fails for a reason that may pass.
    static let replayAttempts = 3

    /// Runs one `REPLAY` dump into `onMessage`, and runs it again (at most
    /// ``replayAttempts`` in all, 1 and 10 ms apart) when it failed for a reason that
    /// may pass: the kernel short of memory for the dump (`ENOMEM`, `ENOBUFS`), busy
    /// (`EBUSY`, `EAGAIN`, `EINTR`), or the control socket's queue overflowing. Giving
    /// up at once would report events lost that the ring still holds. A repeated dump
    /// starts at `from` again: what an attempt delivered before it failed is a
    /// duplicate for the sequence tracker the next time. Anything else (no
    /// permission, a timeout, the channel closed) is thrown at once.
    private func replay(
        from: UInt64, count: UInt32?, familyID: UInt16, reason: String,
        _ onMessage: (GenlMessage) throws(NetlinkPushError) -> Void
    ) throws(NetlinkPushError) {
        var attempt = 1
        while true {
            do throws(NetlinkPushError) {
                try core.control.performBlocking(
                    .replay(from: from, count: count), familyID: familyID, timeoutMs: 30_000, onMessage: onMessage)
                return
            } catch {
                guard attempt < Reader.replayAttempts, Reader.mayPass(error), !finished, !core.isStopping else {
                    throw error
                }
                logger.debug(
                    "nlpush replay failed; trying again",
                    metadata: ["reason": "\(reason)", "attempt": "\(attempt)", "error": "\(error)"])
                usleep(attempt == 1 ? 1_000 : 10_000)
                attempt += 1
            }
        }
    }

    /// Whether a failed replay may succeed when tried again (see ``replay(from:count:familyID:reason:_:)``).
    static func mayPass(_ error: NetlinkPushError) -> Bool {
        switch error {
        case .rejected(_, let e, _), .socket(_, let e, _):
            return [ENOMEM, ENOBUFS, EBUSY, EAGAIN, EINTR].contains(e)
        default:
            return false
        }
    }

    /// One small `GET_STATS`: returns the newest sequence number published (nil when
    /// the kernel cannot be asked) and learns the oldest one the ring still holds
    /// (``ringOldestAtLeast``).
    private func askRing() -> UInt64? {
        guard let fam = family else { return nil }
        var newest: UInt64?
        do throws(NetlinkPushError) {
            try core.control.performBlocking(.getStats, familyID: fam.id) { (g) throws(NetlinkPushError) in
                let s = try MessageDecoder.stats(g)
                self.ringOldestAtLeast = max(self.ringOldestAtLeast, s.oldestSeq)
                newest = s.nextSeq > 0 ? s.nextSeq - 1 : 0
                let sent = s.delivered &+ s.noListeners &+ s.deliveryErrors &+ s.txqDrops
                self.transmit = (s.published, sent)
            }
        } catch {
            logger.debug("nlpush: GET_STATS failed", metadata: ["error": "\(error)"])
        }
        return newest
    }

    private func handleLiveWithoutRecovery(_ e: Event) {
        if let range = tracker.declareLost(before: e.seq) { lost(range) }
        deliver(e, live: true)
    }

    private func familyStillPresent() -> Bool {
        guard let fam = family else { return false }
        guard let now = try? core.control.resolveFamily() else { return false }
        return now == fam
    }

    // MARK: unload / reload

    private func handleDisconnect() {
        guard let fam = family else { return }
        logger.debug("nlpush family disappeared (module unloaded)", metadata: ["subscription": "\(core.name)"])
        events.leaveGroup(fam.eventsGroup)
        family = nil
        overflowed = false
        tail = nil
        core.setFamily(nil)
        notice(.disconnected)
        if !core.options.autoReconnect {
            finish(throwing: nil)
            return
        }
        nextReconnectAttempt = monotonicNanoseconds() + UInt64(max(core.options.reconnectPollIntervalMs, 10)) * 1_000_000
    }

    private func tryReconnect() {
        guard family == nil, !finished else { return }
        nextReconnectAttempt = monotonicNanoseconds() + UInt64(max(core.options.reconnectPollIntervalMs, 10)) * 1_000_000
        let fam: FamilyInfo
        do throws(NetlinkPushError) {
            fam = try core.control.resolveFamily()
        } catch {
            if case .familyNotFound = error { return }
            logger.debug("nlpush reconnect: resolve failed", metadata: ["error": "\(error)"])
            return
        }
        do throws(NetlinkPushError) {
            try events.joinGroup(fam.eventsGroup)
            if core.options.registerSubscriber {
                do throws(NetlinkPushError) {
                    try core.control.performBlocking(core.options.subscribeRequest(name: core.name), familyID: fam.id)
                } catch {
                    guard case .rejected(_, let e, _) = error, e == EEXIST else { throw error }
                }
            }
        } catch {
            logger.debug("nlpush reconnect failed, will retry", metadata: ["error": "\(error)"])
            events.leaveGroup(fam.eventsGroup)
            return
        }
        family = fam
        core.setFamily(fam)
        tracker.reset(last: 0)  // sequence numbers restart at 1 after a reload
        ringOldestAtLeast = 0
        heldBack = []
        heldBackBytes = 0
        resolveHeldBackAt = nil
        overflowed = false
        logger.debug(
            "nlpush reconnected", metadata: ["subscription": "\(core.name)", "family": "\(fam.id)"])
        notice(.reconnected)
        recover(revealedBy: nil, reason: "reconnect")
    }
}
