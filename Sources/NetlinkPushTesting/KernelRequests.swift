internal import CNetlink
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// A request timeout to arm once the kernel's lock is released.
struct RequestTimer {
    var seq: UInt64
    var epoch: UInt64
    var milliseconds: Int
}

/// The module's command handlers: what each request gets back (docs/protocol.md).
extension KernelState {
    /// Handles one message sent by socket `port`; returns the request timeouts to arm.
    mutating func handle(_ bytes: [UInt8], from port: UInt32) -> [RequestTimer] {
        guard let r = ParsedRequest(bytes) else { return [] }
        if r.type == K.genlIDCtrl {
            handleController(r, from: port)
            return []
        }
        guard loaded, r.type == familyID else {
            // genetlink: no such family id (no extack)
            reply(port, errorMessage(to: r, portID: port, errno: ENOENT))
            return []
        }
        commandsReceived[r.command, default: 0] += 1
        if let n = faults.ignore[r.command], n > 0 {
            faults.ignore[r.command] = n - 1
            return []
        }
        if var queued = faults.failures[r.command], !queued.isEmpty {
            let (e, extack) = queued.removeFirst()
            faults.failures[r.command] = queued
            reply(port, errorMessage(to: r, portID: port, errno: e, extack: extack))
            return []
        }
        var timers: [RequestTimer] = []
        let outcome: Result<[[UInt8]], Refusal>
        switch r.command {
        case K.cmdSubscribe: outcome = subscribe(r, port)
        case K.cmdUnsubscribe: outcome = unsubscribe(port)
        case K.cmdAck: outcome = ack(r, port)
        case K.cmdGetStats: outcome = .success([statsMessage(r, port)])
        case K.cmdGetSubscribers: outcome = .success(subscriberMessages(r, port))
        case K.cmdReplay: outcome = replay(r, port)
        case K.cmdEmit: outcome = emit(r, port, timers: &timers)
        default: outcome = .failure(Refusal(EOPNOTSUPP, nil))
        }
        switch outcome {
        case .success(let messages):
            for m in messages { reply(port, m) }
            if r.flags & K.flagDump == K.flagDump {
                reply(port, doneMessage(to: r, portID: port))
            } else {
                reply(port, errorMessage(to: r, portID: port, errno: 0))
            }
        case .failure(let refusal):
            reply(port, errorMessage(to: r, portID: port, errno: refusal.errno, extack: refusal.extack, missing: refusal.missing))
        }
        return timers
    }

    private mutating func reply(_ port: UInt32, _ bytes: [UInt8]) {
        enqueue(port, Datagram(bytes: bytes))
    }

    private var hasAdmin: Bool { privileged }

    private func needAdmin() -> Refusal? {
        hasAdmin ? nil : Refusal(EPERM, "needs CAP_NET_ADMIN")
    }

    private mutating func subscribe(_ r: ParsedRequest, _ port: UInt32) -> Result<[[UInt8]], Refusal> {
        if let refusal = needAdmin() { return .failure(refusal) }
        guard let name = r.string(K.attrName) else { return .failure(Refusal(EINVAL, "missing name", missing: K.attrName)) }
        let flags = r.u32(K.attrFlags) ?? 0
        if flags & ~K.flagResponder != 0 { return .failure(Refusal(EINVAL, "SUBSCRIBE takes no flag but NLPUSH_F_RESPONDER")) }
        if subscribers.contains(where: { $0.port == port }) {
            return .failure(Refusal(EEXIST, "this socket is already subscribed"))
        }
        subscribers.append(SubscriberEntry(port: port, name: name, flags: flags, subscribedNs: monotonicNow()))
        return .success([])
    }

    private mutating func unsubscribe(_ port: UInt32) -> Result<[[UInt8]], Refusal> {
        guard subscribers.contains(where: { $0.port == port }) else {
            return .failure(Refusal(ENOENT, "this socket is not subscribed"))
        }
        removeSubscriber(port)
        return .success([])
    }

    private mutating func ack(_ r: ParsedRequest, _ port: UInt32) -> Result<[[UInt8]], Refusal> {
        if let refusal = needAdmin() { return .failure(refusal) }
        guard let seq = r.u64(K.attrSeq) else { return .failure(Refusal(EINVAL, "missing seq", missing: K.attrSeq)) }
        let status = r.s32(K.attrStatus)
        let count = r.u32(K.attrCount)
        if let count, !(1...UInt32(NLPUSH_EMIT_COUNT_MAX)).contains(count) {
            return .failure(Refusal(ERANGE, "integer out of range"))  // the policy's
        }
        let refusal: Refusal?
        if let given = r.u64(K.attrEpoch), given != epoch {
            refusal = Refusal(ESTALE, "epoch belongs to another load of the module")
        } else if r.attributes[K.attrPayload] != nil && status == nil {
            refusal = Refusal(EINVAL, "a reply payload needs a status")
        } else if count != nil && status != nil {
            refusal = Refusal(
                EINVAL, "a range acknowledges events: a request is answered on its own, without a count")
        } else if seq == 0 || seq >= nextSeq {
            refusal = Refusal(EINVAL, "sequence number was never published")
        } else if let count, UInt64(count) > nextSeq - seq {
            refusal = Refusal(EINVAL, "the range goes beyond the newest published event")
        } else if let count {
            // a range: its content is not looked at; requests in it stay pending
            acks += UInt64(count)
            if let i = subscribers.firstIndex(where: { $0.port == port }) {
                subscribers[i].acks += UInt64(count)
                subscribers[i].lastAckedSeq = max(subscribers[i].lastAckedSeq, seq + UInt64(count) - 1)
            }
            refusal = nil
        } else if let status {
            let index = subscribers.firstIndex(where: { $0.port == port })
            if index == nil || !subscribers[index!].isResponder {
                refusal = Refusal(EPERM, "only a socket subscribed as responder may answer a request")
            } else if pending[seq] == nil {
                refusal = Refusal(ENOENT, "no pending request for this sequence number (expired or already answered)")
            } else {
                subscribers[index!].replies += 1
                replies += 1
                finishRequest(seq: seq, error: 0, status: status, responder: port, payload: r.attributes[K.attrPayload])
                refusal = nil
            }
        } else if pending[seq] != nil || ring.contains(where: { $0.seq == seq && $0.flags & K.flagReplyWanted != 0 }) {
            refusal = Refusal(EINVAL, "a request is answered with a status, by a responder")
        } else {
            acks += 1
            if let i = subscribers.firstIndex(where: { $0.port == port }) {
                subscribers[i].acks += 1
                subscribers[i].lastAckedSeq = max(subscribers[i].lastAckedSeq, seq)
            }
            refusal = nil
        }
        if let refusal {
            acksRejected += 1
            return .failure(refusal)
        }
        return .success([])
    }

    private func statsMessage(_ r: ParsedRequest, _ port: UInt32) -> [UInt8] {
        let s = statsSnapshot()
        var m = MessageWriter(type: familyID, seq: r.seq, portID: port, command: K.cmdGetStats)
        m.nest(K.attrStats) { a in
            a.u64(K.stat(NLPUSH_STATS_A_PUBLISHED), s.published)
            a.u64(K.stat(NLPUSH_STATS_A_DELIVERED), s.delivered)
            a.u64(K.stat(NLPUSH_STATS_A_NO_LISTENERS), s.noListeners)
            a.u64(K.stat(NLPUSH_STATS_A_DELIVERY_ERRORS), s.deliveryErrors)
            a.u64(K.stat(NLPUSH_STATS_A_PUBLISH_FAILURES), s.publishFailures)
            a.u64(K.stat(NLPUSH_STATS_A_ACKS), s.acks)
            a.u64(K.stat(NLPUSH_STATS_A_ACKS_REJECTED), s.acksRejected)
            a.u64(K.stat(NLPUSH_STATS_A_REQUESTS), s.requests)
            a.u64(K.stat(NLPUSH_STATS_A_REPLIES), s.replies)
            a.u64(K.stat(NLPUSH_STATS_A_REQUEST_TIMEOUTS), s.requestTimeouts)
            a.u32(K.stat(NLPUSH_STATS_A_REQUESTS_PENDING), s.requestsPending)
            a.u32(K.stat(NLPUSH_STATS_A_SUBSCRIBERS), s.subscribers)
            a.u64(K.stat(NLPUSH_STATS_A_OLDEST_SEQ), s.oldestSeq)
            a.u64(K.stat(NLPUSH_STATS_A_NEXT_SEQ), s.nextSeq)
            a.u32(K.stat(NLPUSH_STATS_A_RING_EVENTS), s.ringEvents)
            a.u64(K.stat(NLPUSH_STATS_A_RING_BYTES), s.ringBytes)
            a.u32(K.stat(NLPUSH_STATS_A_RING_MAX_EVENTS), s.ringMaxEvents)
            a.u64(K.stat(NLPUSH_STATS_A_RING_MAX_BYTES), s.ringMaxBytes)
            a.u64(K.stat(NLPUSH_STATS_A_REPLAYED), s.replayed)
            a.u32(K.stat(NLPUSH_STATS_A_RESPONDERS), s.responders)
            a.u64(K.stat(NLPUSH_STATS_A_TXQ_DROPS), s.txqDrops)
            a.u64(K.stat(NLPUSH_STATS_A_REQUESTS_FAILED), s.requestsFailed)
            a.u64(K.stat(NLPUSH_STATS_A_REPLIES_UNDELIVERED), s.repliesUndelivered)
        }
        m.u64(K.attrEpoch, epoch)
        return m.finish()
    }

    private func subscriberMessages(_ r: ParsedRequest, _ port: UInt32) -> [[UInt8]] {
        subscribers.map { sub in
            var m = MessageWriter(type: familyID, flags: K.flagMulti, seq: r.seq, portID: port, command: K.cmdGetSubscribers)
            m.nest(K.attrSubscriber) { a in
                a.u32(K.sub(NLPUSH_SUBSCRIBER_A_PORTID), sub.port)
                a.string(K.sub(NLPUSH_SUBSCRIBER_A_NAME), sub.name)
                a.u32(K.sub(NLPUSH_SUBSCRIBER_A_PID), UInt32(getpid()))
                a.u64(K.sub(NLPUSH_SUBSCRIBER_A_ACKS), sub.acks)
                a.u64(K.sub(NLPUSH_SUBSCRIBER_A_LAST_ACKED_SEQ), sub.lastAckedSeq)
                a.u64(K.sub(NLPUSH_SUBSCRIBER_A_REPLIES), sub.replies)
                a.u64(K.sub(NLPUSH_SUBSCRIBER_A_SUBSCRIBED_NS), sub.subscribedNs)
                a.u32(K.sub(NLPUSH_SUBSCRIBER_A_FLAGS), sub.flags)
            }
            return m.finish()
        }
    }

    private mutating func replay(_ r: ParsedRequest, _ port: UInt32) -> Result<[[UInt8]], Refusal> {
        if !unprivilegedListen, let refusal = needAdmin() { return .failure(refusal) }
        let from = r.u64(K.attrSeq) ?? 0
        let count = Int(r.u32(K.attrCount) ?? UInt32.max)
        let events = ring.lazy.filter { $0.seq >= from }.prefix(count)
        replayed += UInt64(events.count)
        return .success(
            events.map { eventMessage($0, command: K.cmdReplay, flags: K.flagMulti, seq: r.seq, port: port) })
    }

    private mutating func emit(_ r: ParsedRequest, _ port: UInt32, timers: inout [RequestTimer])
        -> Result<[[UInt8]], Refusal>
    {
        if let refusal = needAdmin() { return .failure(refusal) }
        let type = r.u32(K.attrType) ?? 0
        let payload = r.attributes[K.attrPayload] ?? []
        let count = r.u32(K.attrCount) ?? 1
        let flags = r.u32(K.attrFlags) ?? 0
        var first: UInt64 = 0
        if flags & K.flagReplyWanted != 0 {
            guard subscribers.contains(where: \.isResponder) else {
                return .failure(Refusal(ENOTCONN, "no responder is registered"))
            }
            first = publish(type: type, payload: payload, flags: K.flagReplyWanted)
            pending[first] = PendingRequest(requesterPort: port, requestSeq: r.seq)
            timers.append(RequestTimer(seq: first, epoch: epoch, milliseconds: Int(r.u32(K.attrTimeoutMs) ?? 1000)))
        } else {
            for i in 0..<count {
                let seq = publish(type: type, payload: payload, flags: 0)
                if i == 0 { first = seq }
            }
        }
        var m = MessageWriter(type: familyID, seq: r.seq, portID: port, command: K.cmdEmit)
        m.u64(K.attrSeq, first)
        m.u32(K.attrCount, count)
        m.u64(K.attrEpoch, epoch)
        return .success([m.finish()])
    }

    // MARK: controller (GENL_ID_CTRL)

    private mutating func handleController(_ r: ParsedRequest, from port: UInt32) {
        switch r.command {
        case K.ctrlCmdGetFamily:
            guard loaded, r.string(K.ctrlAttrFamilyName) == K.familyName else {
                reply(port, errorMessage(to: r, portID: port, errno: ENOENT))
                return
            }
            var m = MessageWriter(type: K.genlIDCtrl, seq: r.seq, portID: port, command: K.ctrlCmdNewFamily)
            m.u16(K.ctrlAttrFamilyID, familyID)
            m.string(K.ctrlAttrFamilyName, K.familyName)
            m.u32(K.ctrlAttrVersion, UInt32(K.protocolVersion))
            m.u32(K.ctrlAttrMaxAttr, K.attrMax)
            m.nest(K.ctrlAttrOps) { ops in
                for (i, cmd) in Self.operations.enumerated() {
                    ops.nest(UInt16(i + 1)) { op in
                        op.u32(K.u16(CTRL_ATTR_OP_ID), UInt32(cmd.command))
                        op.u32(K.u16(CTRL_ATTR_OP_FLAGS), cmd.flags)
                    }
                }
            }
            m.nest(K.ctrlAttrMcastGroups) { groups in
                groups.nest(1) { g in
                    g.string(K.u16(CTRL_ATTR_MCAST_GRP_NAME), "events")
                    g.u32(K.u16(CTRL_ATTR_MCAST_GRP_ID), UInt32(eventsGroup))
                }
            }
            reply(port, m.finish())
            reply(port, errorMessage(to: r, portID: port, errno: 0))
        case K.ctrlCmdGetPolicy:
            guard loaded, r.u16(K.ctrlAttrFamilyID) == familyID else {
                reply(port, errorMessage(to: r, portID: port, errno: ENOENT))
                return
            }
            // One policy (index 0) for SUBSCRIBE: NAME (nul-string, len <= 32) and FLAGS
            // (u32, mask); EMIT's COUNT (u32, 1...1000000) in policy 1.
            var p0 = MessageWriter(type: K.genlIDCtrl, flags: K.flagMulti, seq: r.seq, portID: port, command: K.ctrlCmdGetPolicy)
            p0.u16(K.ctrlAttrFamilyID, familyID)
            p0.nest(K.ctrlAttrPolicy) { pol in
                pol.nest(0) { attrs in
                    attrs.nest(K.attrName) { a in
                        a.u32(P.type, K.u32(NL_ATTR_TYPE_NUL_STRING))
                        a.u32(P.maxLength, UInt32(NLPUSH_NAME_MAX))
                    }
                    attrs.nest(K.attrFlags) { a in
                        a.u32(P.type, K.u32(NL_ATTR_TYPE_U32))
                        a.u64(P.mask, UInt64(K.flagResponder))
                    }
                }
                pol.nest(1) { attrs in
                    attrs.nest(K.attrCount) { a in
                        a.u32(P.type, K.u32(NL_ATTR_TYPE_U32))
                        a.u64(P.minU, 1)
                        a.u64(P.maxU, UInt64(NLPUSH_EMIT_COUNT_MAX))
                    }
                    attrs.nest(K.attrStatus) { a in
                        a.u32(P.type, K.u32(NL_ATTR_TYPE_S32))
                        a.u64(P.minS, UInt64(bitPattern: Int64(Int32.min)))
                        a.u64(P.maxS, UInt64(Int32.max))
                    }
                }
            }
            var p1 = MessageWriter(type: K.genlIDCtrl, flags: K.flagMulti, seq: r.seq, portID: port, command: K.ctrlCmdGetPolicy)
            p1.u16(K.ctrlAttrFamilyID, familyID)
            p1.nest(K.ctrlAttrOpPolicy) { ops in
                ops.nest(UInt16(K.cmdSubscribe)) { o in o.u32(K.u16(CTRL_ATTR_POLICY_DO), 0) }
                ops.nest(UInt16(K.cmdEmit)) { o in o.u32(K.u16(CTRL_ATTR_POLICY_DO), 1) }
            }
            reply(port, p0.finish())
            reply(port, p1.finish())
            reply(port, doneMessage(to: r, portID: port))
        default:
            reply(port, errorMessage(to: r, portID: port, errno: EOPNOTSUPP))
        }
    }

    /// The module's operations: command and `GENL_*` operation flags (admin-perm 0x01,
    /// do 0x02, dump 0x04, has-policy 0x08).
    static let operations: [(command: UInt8, flags: UInt32)] = [
        (K.cmdAck, 0x0b), (K.cmdSubscribe, 0x0b), (K.cmdUnsubscribe, 0x02), (K.cmdGetStats, 0x02),
        (K.cmdGetSubscribers, 0x04), (K.cmdReplay, 0x0c), (K.cmdEmit, 0x0b),
    ]
}

/// `NL_POLICY_TYPE_ATTR_*` (linux/netlink.h): one attribute of a policy dump.
enum P {
    static let type = K.u16(NL_POLICY_TYPE_ATTR_TYPE)
    static let minS = K.u16(NL_POLICY_TYPE_ATTR_MIN_VALUE_S)
    static let maxS = K.u16(NL_POLICY_TYPE_ATTR_MAX_VALUE_S)
    static let minU = K.u16(NL_POLICY_TYPE_ATTR_MIN_VALUE_U)
    static let maxU = K.u16(NL_POLICY_TYPE_ATTR_MAX_VALUE_U)
    static let maxLength = K.u16(NL_POLICY_TYPE_ATTR_MAX_LENGTH)
    static let mask = K.u16(NL_POLICY_TYPE_ATTR_MASK)
}

/// Why the module refuses a request: errno, extack message, missing attribute.
struct Refusal: Error {
    var errno: Int32
    var extack: String?
    var missing: UInt16?
    init(_ errno: Int32, _ extack: String?, missing: UInt16? = nil) {
        self.errno = errno
        self.extack = extack
        self.missing = missing
    }
}
