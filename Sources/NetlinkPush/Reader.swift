internal import Logging

/// The reader thread of one subscription. Owns the event socket and the sequence
/// tracker; nothing here is touched by any other thread (shared state lives in
/// ``SubscriptionCore`` behind its lock).
final class Reader {
    private let core: SubscriptionCore
    private let events: NLSocket
    private let buffer: UnsafeMutableRawBufferPointer
    private var tracker: SequenceTracker
    private var family: FamilyInfo?
    /// The stream buffer filled up: live events are skipped until recovery.
    private var overflowed = false
    private var nextReconnectAttempt: UInt64 = 0
    private var finished = false
    private var logger: Logger { core.logger }

    init(core: SubscriptionCore, events: NLSocket, family: FamilyInfo, baseline: UInt64?) {
        self.core = core
        self.events = events
        self.family = family
        tracker = SequenceTracker(last: baseline)
        buffer = .allocate(byteCount: max(core.options.messageBufferSize, 64 * 1024 + 4096), alignment: 8)
    }

    deinit { buffer.deallocate() }

    // MARK: main loop

    /// Runs on the subscribing thread, before the reader thread starts: replays the
    /// events published between the baseline (stats) and joining the group, so that the
    /// subscription boundary is exactly the return of `subscribe`.
    func catchUp() {
        recover(revealedBy: nil, reason: "initial")
    }

    func run() {
        defer { shutdown() }
        logger.debug("nlpush reader started", metadata: ["subscription": "\(core.name)", "port": "\(core.control.portID)"])
        do {
            while !finished {
                let timeout: Int32 = family == nil ? Int32(clamping: max(core.options.reconnectPollIntervalMs, 10)) : -1
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
        finished = true
        core.continuation.finish(throwing: error)
    }

    /// Reads every datagram queued on the event socket (bounded, to keep checking
    /// for the stop signal), one recvmsg() per datagram.
    private func readAvailable() throws(NetlinkPushError) {
        for _ in 0..<256 {
            if finished || core.isStopping { return }
            switch try events.receive(into: buffer, blocking: false) {
            case .wouldBlock:
                return
            case .foreign:
                continue
            case .overrun:
                logger.warning("nlpush event socket overrun (ENOBUFS)", metadata: ["subscription": "\(core.name)"])
                recover(revealedBy: nil, reason: "ENOBUFS")
            case .truncated(let size):
                logger.warning("nlpush message truncated", metadata: ["size": "\(size)"])
                recover(revealedBy: nil, reason: "truncated message")
            case .data(let n):
                try handleBatch(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), receivedNs: monotonicNanoseconds())
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
        notice(.event(e), reserved: true)
        return true
    }

    private func lost(_ range: ClosedRange<UInt64>) {
        logger.warning("nlpush events lost", metadata: ["subscription": "\(core.name)", "range": "\(range)"])
        notice(.lost(range))
    }

    private func notice(_ item: SubscriptionItem, reserved: Bool = false) {
        if !reserved { core.reserveNotice() }
        if case .terminated = core.continuation.yield(item) { finished = true }
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
            if let revealed { handleLiveWithoutRecovery(revealed) }
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
