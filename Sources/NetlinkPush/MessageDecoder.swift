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
        return try result.get()
    }

    static func event(_ g: GenlMessage, receivedNs: UInt64) throws(NetlinkPushError) -> Event {
        guard g.command == Proto.Cmd.event.rawValue else {
            throw .malformed(reason: "command \(g.command) is not NLPUSH_CMD_EVENT")
        }
        var seq: UInt64?, ts: UInt64?, type: UInt32?, flags: UInt32?
        var payload: [UInt8] = []
        // A plain loop (the hot path: every received event goes through here).
        var it = AttributeIterator(g.attributes)
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
                payload = a.value.bytes
            default: break  // PAD and attributes of newer versions
            }
        }
        guard let seq else { throw .malformed(reason: "event without SEQ attribute") }
        guard seq != 0 else { throw .malformed(reason: "event with SEQ 0") }
        guard let ts else { throw .malformed(reason: "event \(seq) without TIMESTAMP_NS attribute") }
        guard let type else { throw .malformed(reason: "event \(seq) without TYPE attribute") }
        guard let flags else { throw .malformed(reason: "event \(seq) without FLAGS attribute") }
        return Event(
            seq: seq, type: type, flags: EventFlags(rawValue: flags), timestampNs: ts,
            payload: payload, receivedNs: receivedNs)
    }

    static func stats(_ g: GenlMessage) throws(NetlinkPushError) -> Stats {
        var s = Stats()
        var found = false
        try g.forEachAttribute { (outer) throws(NetlinkPushError) in
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
                case .pad, nil: break
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
                case .pad, nil: break
                }
            }
        }
        guard found else { throw .malformed(reason: "GET_SUBSCRIBERS message without SUBSCRIBER nest") }
        return s
    }

    /// The EMIT reply: first seq + count, plus the listener's answer for requests.
    static func emitReply(_ g: GenlMessage) throws(NetlinkPushError) -> (EmitResult, Reply?) {
        var seq: UInt64?, count: UInt32?, status: Int32?, portID: UInt32?
        var payload: [UInt8]?
        try g.forEachAttribute { (a) throws(NetlinkPushError) in
            switch Proto.Attr(rawValue: a.type) {
            case .seq: seq = try a.u64("SEQ")
            case .count: count = try a.u32("COUNT")
            case .status: status = try a.s32("STATUS")
            case .portID: portID = try a.u32("PORTID")
            case .payload:
                guard a.value.count <= Proto.payloadMax else {
                    throw .malformed(reason: "PAYLOAD is \(a.value.count) bytes, more than \(Proto.payloadMax)")
                }
                payload = a.value.bytes
            default: break
            }
        }
        guard let seq else { throw .malformed(reason: "EMIT reply without SEQ") }
        let result = EmitResult(firstSeq: seq, count: count ?? 1)
        if status != nil || payload != nil || portID != nil {
            return (result, Reply(seq: seq, status: status ?? 0, payload: payload ?? [], portID: portID ?? 0))
        }
        return (result, nil)
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
