/// Pure decoders for every message the kernel sends. They validate everything and
/// throw ``NetlinkPushError/malformed(reason:)`` instead of trapping.
enum MessageDecoder {
    /// Parses `bytes` as exactly one netlink message and hands it to `body`.
    static func decodeSingle<T>(
        _ bytes: [UInt8], _ body: (NetlinkMessage) throws(NetlinkPushError) -> T
    ) throws(NetlinkPushError) -> T {
        let result: Result<T, NetlinkPushError> = bytes.withUnsafeBytes { raw in
            do throws(NetlinkPushError) {
                var it = NetlinkMessageIterator(raw)
                guard let m = try it.next() else { throw .malformed(reason: "empty buffer") }
                guard NL.align(Int(m.length)) >= raw.count else {
                    throw .malformed(reason: "\(raw.count - Int(m.length)) trailing bytes after the message")
                }
                return .success(try body(m))
            } catch {
                return .failure(error)
            }
        }
        // Moved out, not copied (get() would copy the value and destroy the Result).
        switch consume result {
        case .success(let value): return value
        case .failure(let error): throw error
        }
    }

    /// An event as decoded from a received message, its payload still in the receive
    /// buffer (valid only while that buffer is).
    struct RawEvent {
        var seq: UInt64
        var timestampNs: UInt64
        var type: UInt32
        var flags: UInt32
        var epoch: UInt64
        var payload: UnsafeRawBufferPointer

        var wantsReply: Bool { flags & Proto.flagReplyWanted != 0 }

        /// An owned ``Event`` (one allocation: the payload).
        func event(receivedNs: UInt64) -> Event {
            Event(
                seq: seq, type: type, flags: EventFlags(rawValue: flags), timestampNs: timestampNs,
                payload: Array(payload), receivedNs: receivedNs, epoch: epoch)
        }
    }

    static func event(_ g: GenlMessage, receivedNs: UInt64) throws(NetlinkPushError) -> Event {
        try rawEvent(g).event(receivedNs: receivedNs)
    }

    /// Decodes and validates an event message without copying its payload.
    static func rawEvent(_ g: GenlMessage) throws(NetlinkPushError) -> RawEvent {
        guard Proto.isEventCommand(g.command) else {
            throw .malformed(reason: "command \(g.command) is neither NLPUSH_CMD_EVENT nor NLPUSH_CMD_REPLAY")
        }
        if let e = canonicalEvent(g.attributes) { return e }
        return try anyLayoutEvent(g.attributes)
    }

    /// The general decoder of an event's attributes, in any order, PAD and unknown
    /// attributes skipped, the last of a repeated one kept.
    static func anyLayoutEvent(_ attributes: ByteView) throws(NetlinkPushError) -> RawEvent {
        var seq: UInt64?, ts: UInt64?, type: UInt32?, flags: UInt32?
        var epoch: UInt64 = 0
        var payload = UnsafeRawBufferPointer(start: nil, count: 0)
        // A plain loop: every layout the fast path above does not take.
        var it = AttributeIterator(attributes)
        while let a = try it.next() {
            switch a.type {
            case Proto.Attr.seq.rawValue: seq = try a.u64("SEQ")
            case Proto.Attr.timestampNs.rawValue: ts = try a.u64("TIMESTAMP_NS")
            case Proto.Attr.type.rawValue: type = try a.u32("TYPE")
            case Proto.Attr.flags.rawValue: flags = try a.u32("FLAGS")
            case Proto.Attr.payload.rawValue:
                guard a.value.count <= Proto.payloadMax else {
                    throw .malformed(reason: "PAYLOAD is \(a.value.count) bytes, more than \(Proto.payloadMax)")
                }
                payload = a.value.base
            case Proto.Attr.epoch.rawValue: epoch = try a.u64("EPOCH")
            default: break  // PAD and attributes of newer versions
            }
        }
        guard let seq else { throw .malformed(reason: "event without SEQ attribute") }
        guard seq != 0 else { throw .malformed(reason: "event with SEQ 0") }
        guard let ts else { throw .malformed(reason: "event \(seq) without TIMESTAMP_NS attribute") }
        guard let type else { throw .malformed(reason: "event \(seq) without TYPE attribute") }
        guard let flags else { throw .malformed(reason: "event \(seq) without FLAGS attribute") }
        return RawEvent(seq: seq, timestampNs: ts, type: type, flags: flags, epoch: epoch, payload: payload)
    }

    /// The layout the module writes (`nlpush_event_put()`: SEQ, TIMESTAMP_NS, TYPE,
    /// FLAGS, PAYLOAD, EPOCH, without the PAD attributes of machines where 64-bit
    /// values must be aligned), read at fixed offsets: each attribute's header (length
    /// and type, no flags) is compared whole, SEQ is not 0, the payload is within
    /// bounds and `Proto.payloadMax`, and EPOCH ends the message. Any other layout
    /// (another order, PAD, a repeated attribute, attributes of a newer version, a
    /// malformed message) returns nil and goes through the general loop, which
    /// accepts or rejects it as before. The hot path: every received event tries it.
    @inline(__always)
    static func canonicalEvent(_ v: ByteView) -> RawEvent? {
        // SEQ (12), TIMESTAMP_NS (12), TYPE (8), FLAGS (8), then PAYLOAD's header
        let payloadAt = 40
        guard v.count >= payloadAt + 4 + 12 else { return nil }
        let A = Proto.Attr.self
        guard header(v, 0) == headerWord(12, A.seq.rawValue),
            header(v, 12) == headerWord(12, A.timestampNs.rawValue),
            header(v, 24) == headerWord(8, A.type.rawValue),
            header(v, 32) == headerWord(8, A.flags.rawValue),
            v.loadUnchecked(payloadAt + 2) as UInt16 == A.payload.rawValue
        else { return nil }
        let payloadLen = Int(v.loadUnchecked(payloadAt) as UInt16) - 4
        guard payloadLen >= 0, payloadLen <= Proto.payloadMax else { return nil }
        let epochAt = payloadAt + NL.align(4 + payloadLen)
        // v.count >= payloadAt + 16, so neither sum overflows
        guard epochAt + 12 == v.count, header(v, epochAt) == headerWord(12, A.epoch.rawValue) else { return nil }
        let seq: UInt64 = v.loadUnchecked(4)
        guard seq != 0 else { return nil }
        return RawEvent(
            seq: seq, timestampNs: v.loadUnchecked(16), type: v.loadUnchecked(28), flags: v.loadUnchecked(36),
            epoch: v.loadUnchecked(epochAt + 4),
            payload: v.sliceUnchecked(payloadAt + 4, payloadLen).base)
    }

    /// An attribute header as one word: length, then type, each in host byte order.
    @inline(__always) private static func headerWord(_ len: UInt16, _ type: UInt16) -> UInt32 {
        #if _endian(big)
            UInt32(len) << 16 | UInt32(type)
        #else
            UInt32(type) << 16 | UInt32(len)
        #endif
    }
    @inline(__always) private static func header(_ v: ByteView, _ off: Int) -> UInt32 { v.loadUnchecked(off) }

    static func stats(_ g: GenlMessage) throws(NetlinkPushError) -> Stats {
        var s = Stats()
        var found = false
        try g.forEachAttribute { (outer) throws(NetlinkPushError) in
            if outer.type == Proto.Attr.epoch.rawValue {
                s.epoch = try outer.u64("EPOCH")
                return
            }
            guard outer.type == Proto.Attr.stats.rawValue else { return }
            found = true
            var it = AttributeIterator(outer.value)
            while let a = try it.next() {
                typealias K = Proto.StatsAttr
                switch K(rawValue: a.type) {
                case .published: s.published = try a.u64("PUBLISHED")
                case .delivered: s.delivered = try a.u64("DELIVERED")
                case .noListeners: s.noListeners = try a.u64("NO_LISTENERS")
                case .deliveryErrors: s.deliveryErrors = try a.u64("DELIVERY_ERRORS")
                case .publishFailures: s.publishFailures = try a.u64("PUBLISH_FAILURES")
                case .acks: s.acks = try a.u64("ACKS")
                case .acksRejected: s.acksRejected = try a.u64("ACKS_REJECTED")
                case .requests: s.requests = try a.u64("REQUESTS")
                case .replies: s.replies = try a.u64("REPLIES")
                case .requestTimeouts: s.requestTimeouts = try a.u64("REQUEST_TIMEOUTS")
                case .requestsPending: s.requestsPending = try a.u32("REQUESTS_PENDING")
                case .subscribers: s.subscribers = try a.u32("SUBSCRIBERS")
                case .oldestSeq: s.oldestSeq = try a.u64("OLDEST_SEQ")
                case .nextSeq: s.nextSeq = try a.u64("NEXT_SEQ")
                case .ringEvents: s.ringEvents = try a.u32("RING_EVENTS")
                case .ringBytes: s.ringBytes = try a.u64("RING_BYTES")
                case .ringMaxEvents: s.ringMaxEvents = try a.u32("RING_MAX_EVENTS")
                case .ringMaxBytes: s.ringMaxBytes = try a.u64("RING_MAX_BYTES")
                case .replayed: s.replayed = try a.u64("REPLAYED")
                case .responders: s.responders = try a.u32("RESPONDERS")
                case .txqDrops: s.txqDrops = try a.u64("TXQ_DROPS")
                case .requestsFailed: s.requestsFailed = try a.u64("REQUESTS_FAILED")
                case .repliesUndelivered: s.repliesUndelivered = try a.u64("REPLIES_UNDELIVERED")
                default: break
                }
            }
        }
        guard found else { throw .malformed(reason: "GET_STATS reply without STATS nest") }
        return s
    }

    static func subscriber(_ g: GenlMessage) throws(NetlinkPushError) -> SubscriberInfo {
        var s = SubscriberInfo()
        var found = false
        try g.forEachAttribute { (outer) throws(NetlinkPushError) in
            guard outer.type == Proto.Attr.subscriber.rawValue else { return }
            found = true
            var it = AttributeIterator(outer.value)
            while let a = try it.next() {
                switch Proto.SubscriberAttr(rawValue: a.type) {
                case .portID: s.portID = try a.u32("PORTID")
                case .name: s.name = a.string()
                case .pid: s.pid = try a.u32("PID")
                case .acks: s.acks = try a.u64("ACKS")
                case .lastAckedSeq: s.lastAckedSeq = try a.u64("LAST_ACKED_SEQ")
                case .replies: s.replies = try a.u64("REPLIES")
                case .subscribedNs: s.subscribedNs = try a.u64("SUBSCRIBED_NS")
                case .flags: s.flags = try a.u32("FLAGS")
                default: break
                }
            }
        }
        guard found else { throw .malformed(reason: "GET_SUBSCRIBERS message without SUBSCRIBER nest") }
        return s
    }

    /// The EMIT reply (genl cmd `EMIT`): first seq, count and the module's epoch.
    static func emitReply(_ g: GenlMessage) throws(NetlinkPushError) -> EmitResult {
        var seq: UInt64?, count: UInt32?
        var epoch: UInt64 = 0
        try g.forEachAttribute { (a) throws(NetlinkPushError) in
            switch Proto.Attr(rawValue: a.type) {
            case .seq: seq = try a.u64("SEQ")
            case .count: count = try a.u32("COUNT")
            case .epoch: epoch = try a.u64("EPOCH")
            default: break
            }
        }
        guard let seq else { throw .malformed(reason: "EMIT reply without SEQ") }
        return EmitResult(firstSeq: seq, count: count ?? 1, epoch: epoch)
    }

    /// The outcome of a request (genl cmd `REPLY`, unicast to the emitting socket).
    struct RequestOutcome: Equatable {
        var seq: UInt64
        var epoch: UInt64
        /// 0 when answered, else a negative errno (`-ETIMEDOUT`, `-ENOTCONN`, `-ESHUTDOWN`).
        var error: Int32
        var status: Int32
        var portID: UInt32
        var payload: [UInt8]

        var reply: Reply { Reply(seq: seq, status: status, payload: payload, portID: portID) }
    }

    static func requestOutcome(_ g: GenlMessage) throws(NetlinkPushError) -> RequestOutcome {
        guard g.command == Proto.Cmd.reply.rawValue else {
            throw .malformed(reason: "command \(g.command) is not NLPUSH_CMD_REPLY")
        }
        var seq: UInt64?, error: Int32?
        var o = RequestOutcome(seq: 0, epoch: 0, error: 0, status: 0, portID: 0, payload: [])
        try g.forEachAttribute { (a) throws(NetlinkPushError) in
            switch Proto.Attr(rawValue: a.type) {
            case .seq: seq = try a.u64("SEQ")
            case .epoch: o.epoch = try a.u64("EPOCH")
            case .error: error = try a.s32("ERROR")
            case .status: o.status = try a.s32("STATUS")
            case .portID: o.portID = try a.u32("PORTID")
            case .payload:
                guard a.value.count <= Proto.payloadMax else {
                    throw .malformed(reason: "PAYLOAD is \(a.value.count) bytes, more than \(Proto.payloadMax)")
                }
                o.payload = a.value.bytes
            default: break
            }
        }
        guard let seq else { throw .malformed(reason: "REPLY without SEQ") }
        guard let error else { throw .malformed(reason: "REPLY to seq \(seq) without ERROR") }
        o.seq = seq
        o.error = error
        return o
    }

    /// A controller notification (nlctrl "notify" group).
    struct ControllerNotification: Equatable {
        var command: UInt8
        var familyName: String?
        var familyID: UInt16?
    }

    static func controllerNotification(_ g: GenlMessage) throws(NetlinkPushError) -> ControllerNotification {
        var n = ControllerNotification(command: g.command)
        try g.forEachAttribute { (a) throws(NetlinkPushError) in
            switch a.type {
            case NL.ctrlAttrFamilyName: n.familyName = a.string()
            case NL.ctrlAttrFamilyID: n.familyID = try a.u16("CTRL_ATTR_FAMILY_ID")
            default: break
            }
        }
        return n
    }
}
