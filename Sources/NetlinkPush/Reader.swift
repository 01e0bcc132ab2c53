internal import Logging

/// The reader thread of one subscription. Owns the event socket and the sequence
/// tracker; nothing here is touched by any other thread (shared state lives in
/// ``SubscriptionCore`` behind its lock).
final class Reader {
    private let core: SubscriptionCore
    private let events: NLSocket
    private let slots: ReceiveSlots
    private var tracker: SequenceTracker
    private var family: FamilyInfo?
    /// The stream buffer filled up: live events are skipped until recovery.
    private var overflowed = false
    private var nextReconnectAttempt: UInt64 = 0
    private var finished = false
    /// Items not yet handed to the stream (see ``flush()``).
    private var batch = ItemBatch()
    /// Without recovery: an overrun or a full stream buffer dropped events, and no later
    /// event revealed how many yet (see ``checkTrailingLoss()``).
    private var trailingLoss: (deadline: UInt64, horizon: UInt64?)?

    /// How long a published event may take to reach the socket before a drained,
    /// quiet subscription declares it lost (without recovery).
    static let trailingLossGraceNs: UInt64 = 100_000_000
    private var logger: Logger { core.logger }

    /// Most items handed over in one stream element.
    static let maxBatchItems = 256
    /// Most payload bytes handed over in one stream element (several items may exceed
    /// it by one event).
    static let maxBatchBytes = 1 << 20

    init(core: SubscriptionCore, events: NLSocket, family: FamilyInfo, baseline: UInt64?) {
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
    func catchUp() {
        recover(revealedBy: nil, reason: "initial")
        flush()
    }

    func run() {
        defer { shutdown() }
        logger.debug("nlpush reader started", metadata: ["subscription": "\(core.name)", "port": "\(core.control.portID)"])
        do {
            while !finished {
                var timeout: Int32 = family == nil ? Int32(clamping: max(core.options.reconnectPollIntervalMs, 10)) : -1
                if let t = trailingLoss {
                    let now = monotonicNanoseconds()
                    let ms = Int32(clamping: t.deadline > now ? (t.deadline - now) / 1_000_000 + 1 : 0)
                    timeout = timeout < 0 ? ms : min(timeout, ms)
                }
                let ready = try Poll.wait(events.fd, core.wake.fd, timeoutMs: timeout)
                if ready.second { core.wake.drain() }
                if core.isStopping { break }
                if overflowed && !core.isWaitingForSpace {
                    recover(revealedBy: nil, reason: "stream buffer overflow")
                }
                if ready.first { try readAvailable() }
                if family == nil && !finished && monotonicNanoseconds() >= nextReconnectAttempt {
                    tryReconnect()
                }
                if let t = trailingLoss, !ready.first, monotonicNanoseconds() >= t.deadline {
                    checkTrailingLoss()
                }
                flush()
            }
        } catch {
            logger.error("nlpush reader failed", metadata: ["subscription": "\(core.name)", "error": "\(error)"])
            finish(throwing: error)
        }
    }

    private func shutdown() {
        if !finished { finish(throwing: nil) }
        events.close()
        core.readerDidExit()
        logger.debug("nlpush reader stopped", metadata: ["subscription": "\(core.name)"])
    }

    private func finish(throwing error: (any Error)?) {
        flush()
        finished = true
        core.continuation.finish(throwing: error)
    }

    /// Reads what is queued on the event socket, up to 16 datagrams per recvmmsg()
    /// and 256 per call (to keep checking for the stop signal). A short read means the
    /// queue is empty: back to poll() without a recvmsg() that would only say EAGAIN.
    /// What it decodes is handed to the stream in batches, by the caller's ``flush()``
    /// or when a batch is full.
    private func readAvailable() throws(NetlinkPushError) {
        for _ in 0..<(256 / Reader.datagramsPerCall) {
            if finished || core.isStopping { return }
            switch try events.receiveMany(into: slots) {
            case .wouldBlock:
                return
            case .overrun:
                logger.warning("nlpush event socket overrun (ENOBUFS)", metadata: ["subscription": "\(core.name)"])
                recover(revealedBy: nil, reason: "ENOBUFS")
            case .received(let n):
                let now = monotonicNanoseconds()
                for i in 0..<n {
                    if finished { return }
                    switch slots.result(i) {
                    case .foreign:
                        continue
                    case .truncated(let size):
                        logger.warning("nlpush message truncated", metadata: ["size": "\(size)"])
                        recover(revealedBy: nil, reason: "truncated message")
                    case .data(let bytes):
                        try handleBatch(bytes, receivedNs: now)
                    }
                }
                if n < slots.count { return }
            }
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
                logger.error("nlpush: malformed datagram dropped", metadata: ["error": "\(error)"])
                return
            }
            if let fam = family, m.type == fam.id {
                do throws(NetlinkPushError) {
                    let g = try GenlMessage(m)
                    guard g.command == Proto.Cmd.event.rawValue else { continue }
                    handleLive(try MessageDecoder.event(g, receivedNs: receivedNs))
                } catch {
                    logger.error("nlpush: malformed event dropped", metadata: ["error": "\(error)"])
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

    private func handleLive(_ e: Event) {
        if overflowed { return }  // skipped; recovery replays it later
        switch tracker.classifyLive(e.seq) {
        case .duplicate:
            return
        case .deliver:
            deliver(e)
        case .gap(let range):
            if core.options.recovery {
                logger.debug("nlpush sequence gap", metadata: ["missing": "\(range)"])
                recover(revealedBy: e, reason: "sequence gap")
            } else {
                lost(range)
                _ = tracker.declareLost(before: e.seq)
                deliver(e)
            }
        }
    }

    @discardableResult
    private func deliver(_ e: Event) -> Bool {
        guard core.reserve(bytes: e.payload.count) else {
            if !overflowed {
                logger.warning(
                    "nlpush stream buffer full: skipping events until the consumer catches up",
                    metadata: ["subscription": "\(core.name)", "last": "\(tracker.last ?? 0)"])
            }
            overflowed = true
            return false
        }
        tracker.delivered(e.seq)
        enqueue(.event(e), bytes: e.payload.count)
        return true
    }

    private func lost(_ range: ClosedRange<UInt64>) {
        logger.warning("nlpush events lost", metadata: ["subscription": "\(core.name)", "range": "\(range)"])
        notice(.lost(range))
    }

    private func notice(_ item: SubscriptionItem) {
        core.reserveNotice()
        enqueue(item, bytes: 0)
    }

    private func enqueue(_ item: SubscriptionItem, bytes: Int) {
        batch.items.append(item)
        batch.bytes += bytes
        if batch.items.count >= Reader.maxBatchItems || batch.bytes >= Reader.maxBatchBytes { flush() }
    }

    /// Hands the pending items to the consumer: one stream element, so one task
    /// resumption, per batch.
    func flush() {
        guard !batch.items.isEmpty else { return }
        let full = batch
        batch = ItemBatch()
        batch.items.reserveCapacity(min(full.items.count * 2, Reader.maxBatchItems))
        if finished { return }
        if case .terminated = core.continuation.yield(full) { finished = true }
    }

    // MARK: recovery

    /// Replays from the ring everything after the last delivered event. `revealedBy` is
    /// the live event that exposed a gap: what the replay cannot provide below it is
    /// reported lost, then it is delivered.
    private func recover(revealedBy revealed: Event?, reason: String) {
        guard let fam = family, !finished else { return }
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
                // the gap; if none comes, checkTrailingLoss() reports it.
                trailingLoss = (monotonicNanoseconds() + Reader.trailingLossGraceNs, nil)
            }
            return
        }
        guard let last = tracker.last else {
            // No baseline (stats unavailable at subscription): start from here.
            if let revealed { deliver(revealed) }
            return
        }
        var replayed = 0
        do throws(NetlinkPushError) {
            try core.control.perform(.replay(from: last + 1), familyID: fam.id, timeoutMs: 30_000) {
                (g) throws(NetlinkPushError) in
                guard !self.overflowed, !self.finished else { return }  // drain, discard
                let e = try MessageDecoder.event(g, receivedNs: monotonicNanoseconds())
                switch self.tracker.classifyReplayed(e.seq) {
                case .duplicate:
                    return
                case .deliver:
                    if self.deliver(e) { replayed += 1 }
                case .deliverAfterLoss(let range):
                    self.lost(range)
                    _ = self.tracker.declareLost(before: e.seq)
                    if self.deliver(e) { replayed += 1 }
                }
            }
        } catch {
            logger.warning("nlpush replay failed", metadata: ["reason": "\(reason)", "error": "\(error)"])
            if !familyStillPresent() {
                handleDisconnect()
                return
            }
        }
        if overflowed || finished { return }  // retried once the consumer made room
        if let revealed {
            if let range = tracker.declareLost(before: revealed.seq) { lost(range) }
            if tracker.classifyLive(revealed.seq) == .deliver { deliver(revealed) }
        }
        // After subscribing or reconnecting, replayed events are simply the first ones,
        // not a recovery from loss.
        if replayed > 0 && reason != "initial" && reason != "reconnect" {
            logger.info(
                "nlpush recovered events from the replay ring",
                metadata: ["subscription": "\(core.name)", "count": "\(replayed)", "reason": "\(reason)"])
            notice(.recovered(count: replayed))
        }
    }

    /// Without recovery, after events were dropped and the socket has stayed quiet: asks
    /// the kernel for the last sequence number published. What lies between the last
    /// event accounted for and it is reported lost once it stayed the same for a whole
    /// grace period (a published event reaches the socket within microseconds; anything
    /// newer arriving later is delivered normally).
    private func checkTrailingLoss() {
        guard let t = trailingLoss, let fam = family else {
            trailingLoss = nil
            return
        }
        var published: UInt64?
        do throws(NetlinkPushError) {
            try core.control.perform(.getStats, familyID: fam.id) { (g) throws(NetlinkPushError) in
                let s = try MessageDecoder.stats(g)
                published = s.nextSeq > 0 ? s.nextSeq - 1 : 0
            }
        } catch {
            logger.debug("nlpush: stats for the loss check failed", metadata: ["error": "\(error)"])
        }
        guard let published, let last = tracker.last, published > last else {
            trailingLoss = nil  // nothing missing (or cannot tell: the next event will)
            return
        }
        if t.horizon == published {
            if let range = tracker.declareLost(before: published + 1) { lost(range) }
            trailingLoss = nil
        } else {
            trailingLoss = (monotonicNanoseconds() + Reader.trailingLossGraceNs, published)
        }
    }

    private func handleLiveWithoutRecovery(_ e: Event) {
        if let range = tracker.declareLost(before: e.seq) { lost(range) }
        deliver(e)
    }

    private func familyStillPresent() -> Bool {
        guard let fam = family else { return false }
        guard let now = try? core.control.resolveFamily() else { return false }
        return now == fam
    }

    // MARK: unload / reload

    private func handleDisconnect() {
        guard let fam = family else { return }
        logger.info("nlpush family disappeared (module unloaded)", metadata: ["subscription": "\(core.name)"])
        events.dropMembership(fam.eventsGroup)
        family = nil
        overflowed = false
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
            try events.addMembership(fam.eventsGroup)
            if core.options.registerSubscriber {
                do throws(NetlinkPushError) {
                    try core.control.perform(.subscribe(name: core.name), familyID: fam.id)
                } catch {
                    guard case .rejected(_, let e, _) = error, e == 17 /* EEXIST */ else { throw error }
                }
            }
        } catch {
            logger.warning("nlpush reconnect failed, will retry", metadata: ["error": "\(error)"])
            events.dropMembership(fam.eventsGroup)
            return
        }
        family = fam
        core.setFamily(fam)
        tracker.reset(last: 0)  // sequence numbers restart at 1 after a reload
        overflowed = false
        logger.info(
            "nlpush reconnected", metadata: ["subscription": "\(core.name)", "family": "\(fam.id)"])
        notice(.reconnected)
        recover(revealedBy: nil, reason: "reconnect")
    }
}
