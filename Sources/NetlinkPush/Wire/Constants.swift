// The protocol's numbers: netlink, generic netlink and nlpush, every one taken from
// the C headers through CNetlink (the kernel module compiles against the same nlpush
// header), so Swift holds no second table that could drift.
internal import CNetlink

/// Netlink and generic netlink constants, read from linux/netlink.h and
/// linux/genetlink.h through CNetlink (expression macros through the shim's
/// `cnl_*` helpers). Computed, so that each use folds to the C constant with no
/// lazy-global check on the receive path.
enum NL {
    static var headerSize: Int { Int(cnl_nlmsg_hdrlen()) }
    static var genlHeaderSize: Int { Int(cnl_genl_hdrlen()) }
    static var attrHeaderSize: Int { Int(cnl_nla_hdrlen()) }

    // Field offsets: struct nlmsghdr (nlmsg_len at 0), struct nlattr (nla_len at 0),
    // struct genlmsghdr, and struct nlmsgerr (error at 0, then the echoed header).
    static var msgTypeOffset: Int { Int(cnl_nlmsg_type_offset()) }
    static var msgFlagsOffset: Int { Int(cnl_nlmsg_flags_offset()) }
    static var msgSeqOffset: Int { Int(cnl_nlmsg_seq_offset()) }
    static var msgPortIDOffset: Int { Int(cnl_nlmsg_pid_offset()) }
    static var attrTypeOffset: Int { Int(cnl_nla_type_offset()) }
    static var genlCommandOffset: Int { Int(cnl_genl_cmd_offset()) }
    static var genlVersionOffset: Int { Int(cnl_genl_version_offset()) }
    static var errMsgOffset: Int { Int(cnl_nlmsgerr_msg_offset()) }

    static var typeNoop: UInt16 { UInt16(NLMSG_NOOP) }
    static var typeError: UInt16 { UInt16(NLMSG_ERROR) }
    static var typeDone: UInt16 { UInt16(NLMSG_DONE) }
    static var typeOverrun: UInt16 { UInt16(NLMSG_OVERRUN) }
    static var genlIDCtrl: UInt16 { UInt16(GENL_ID_CTRL) }

    static var fRequest: UInt16 { UInt16(NLM_F_REQUEST) }
    static var fMulti: UInt16 { UInt16(NLM_F_MULTI) }
    static var fAck: UInt16 { UInt16(NLM_F_ACK) }
    static var fDumpIntr: UInt16 { UInt16(NLM_F_DUMP_INTR) }
    static var fDump: UInt16 { UInt16(NLM_F_DUMP) }
    /// In NLMSG_ERROR: the original request is not echoed.
    static var fCapped: UInt16 { UInt16(NLM_F_CAPPED) }
    /// In NLMSG_ERROR / NLMSG_DONE: extended ack attributes follow.
    static var fAckTLVs: UInt16 { UInt16(NLM_F_ACK_TLVS) }

    static var nlaTypeMask: UInt16 { cnl_nla_type_mask() }
    static var nlaFNested: UInt16 { UInt16(NLA_F_NESTED) }

    // NLMSGERR_ATTR_*
    static var errAttrMsg: UInt16 { UInt16(NLMSGERR_ATTR_MSG.rawValue) }
    static var errAttrOffs: UInt16 { UInt16(NLMSGERR_ATTR_OFFS.rawValue) }
    static var errAttrMissType: UInt16 { UInt16(NLMSGERR_ATTR_MISS_TYPE.rawValue) }

    // CTRL_CMD_* / CTRL_ATTR_*
    static var ctrlCmdNewFamily: UInt8 { UInt8(CTRL_CMD_NEWFAMILY) }
    static var ctrlCmdDelFamily: UInt8 { UInt8(CTRL_CMD_DELFAMILY) }
    static var ctrlCmdGetFamily: UInt8 { UInt8(CTRL_CMD_GETFAMILY) }
    static var ctrlCmdGetPolicy: UInt8 { UInt8(CTRL_CMD_GETPOLICY) }
    static var ctrlAttrFamilyID: UInt16 { UInt16(CTRL_ATTR_FAMILY_ID) }
    static var ctrlAttrFamilyName: UInt16 { UInt16(CTRL_ATTR_FAMILY_NAME) }
    static var ctrlAttrVersion: UInt16 { UInt16(CTRL_ATTR_VERSION) }
    static var ctrlAttrMaxAttr: UInt16 { UInt16(CTRL_ATTR_MAXATTR) }
    static var ctrlAttrOps: UInt16 { UInt16(CTRL_ATTR_OPS) }
    static var ctrlAttrMcastGroups: UInt16 { UInt16(CTRL_ATTR_MCAST_GROUPS) }
    static var ctrlAttrPolicy: UInt16 { UInt16(CTRL_ATTR_POLICY) }
    static var ctrlAttrOpPolicy: UInt16 { UInt16(CTRL_ATTR_OP_POLICY) }
    // Nested in CTRL_ATTR_OPS / CTRL_ATTR_MCAST_GROUPS / CTRL_ATTR_OP_POLICY.
    static var ctrlAttrOpID: UInt16 { UInt16(CTRL_ATTR_OP_ID) }
    static var ctrlAttrOpFlags: UInt16 { UInt16(CTRL_ATTR_OP_FLAGS) }
    static var ctrlAttrMcastGrpName: UInt16 { UInt16(CTRL_ATTR_MCAST_GRP_NAME) }
    static var ctrlAttrMcastGrpID: UInt16 { UInt16(CTRL_ATTR_MCAST_GRP_ID) }
    static var ctrlAttrPolicyDo: UInt16 { UInt16(CTRL_ATTR_POLICY_DO) }
    static var ctrlAttrPolicyDump: UInt16 { UInt16(CTRL_ATTR_POLICY_DUMP) }

    // GENL_* operation flags (CTRL_ATTR_OP_FLAGS).
    static var genlAdminPerm: UInt32 { UInt32(GENL_ADMIN_PERM) }
    static var genlCmdCapDo: UInt32 { UInt32(GENL_CMD_CAP_DO) }
    static var genlCmdCapDump: UInt32 { UInt32(GENL_CMD_CAP_DUMP) }
    static var genlCmdCapHasPolicy: UInt32 { UInt32(GENL_CMD_CAP_HASPOL) }
    static var genlUnsAdminPerm: UInt32 { UInt32(GENL_UNS_ADMIN_PERM) }

    /// NLMSG_ALIGN / NLA_ALIGN (both align to NLMSG_ALIGNTO, 4 bytes).
    @inline(__always) static func align(_ n: Int) -> Int {
        let a = Int(cnl_nlmsg_alignto())
        return (n + a - 1) & ~(a - 1)
    }
}

/// A number of the nlpush UAPI header, typed by the C enum it comes from: equality
/// and pattern matching compare raw values, so `case .seq:` works in a `switch`
/// (with a `default:`, as a struct is never exhaustive).
protocol CNumber: RawRepresentable, Hashable, Sendable, CustomStringConvertible
where RawValue: FixedWidthInteger {
    init(rawValue: RawValue)
    static var known: [(Self, String)] { get }
    static var max: RawValue { get }
}

extension CNumber {
    init(_ rawValue: RawValue) { self.init(rawValue: rawValue) }
    /// The value when the header defines it (1...MAX), else nil.
    init?(known rawValue: RawValue) {
        guard rawValue >= 1, rawValue <= Self.max else { return nil }
        self.init(rawValue: rawValue)
    }
    static var allCases: [Self] { known.map(\.0) }
    /// The C name without its prefix (`SEQ`), or `#n` for a number the header does not define.
    var cName: String { Self.known.first { $0.0 == self }?.1 ?? "#\(rawValue)" }
    var description: String { cName }
}

/// nlpush numbers, all from kmod/include/uapi/linux/nlpush.h (generated from
/// kmod/nlpush.yaml) through CNetlink: no second table. They are structs, not enums,
/// because a Swift enum's raw values must be literals.
enum Proto {
    static var version: UInt8 { UInt8(NLPUSH_FAMILY_VERSION) }
    static var payloadMax: Int { Int(NLPUSH_PAYLOAD_MAX) }
    static var nameMax: Int { Int(NLPUSH_NAME_MAX) }
    /// Largest COUNT of an EMIT or a REPLAY.
    static var emitCountMax: UInt32 { UInt32(NLPUSH_EMIT_COUNT_MAX) }
    /// Largest TIMEOUT_MS of a request.
    static var timeoutMsMax: UInt32 { UInt32(NLPUSH_TIMEOUT_MS_MAX) }
    static var familyName: String { NLPUSH_FAMILY_NAME }
    static var eventsGroupName: String { NLPUSH_MCGRP_EVENTS }

    /// Commands (`enum nlpush_cmd`).
    struct Cmd: CNumber {
        typealias RawValue = UInt8
        let rawValue: UInt8
        /// Every value `NLPUSH_CMD_*` the header defines (UNSPEC excluded), with its C name.
        static let known: [(Self, String)] = [
            (.event, "EVENT"),
            (.ack, "ACK"),
            (.subscribe, "SUBSCRIBE"),
            (.unsubscribe, "UNSUBSCRIBE"),
            (.getStats, "GET_STATS"),
            (.getSubscribers, "GET_SUBSCRIBERS"),
            (.replay, "REPLAY"),
            (.emit, "EMIT"),
            (.reply, "REPLY"),
        ]
        static var max: UInt8 { UInt8(NLPUSH_CMD_MAX.rawValue) }

        static var event: Self { Self(UInt8(NLPUSH_CMD_EVENT.rawValue)) }
        static var ack: Self { Self(UInt8(NLPUSH_CMD_ACK.rawValue)) }
        static var subscribe: Self { Self(UInt8(NLPUSH_CMD_SUBSCRIBE.rawValue)) }
        static var unsubscribe: Self { Self(UInt8(NLPUSH_CMD_UNSUBSCRIBE.rawValue)) }
        static var getStats: Self { Self(UInt8(NLPUSH_CMD_GET_STATS.rawValue)) }
        static var getSubscribers: Self { Self(UInt8(NLPUSH_CMD_GET_SUBSCRIBERS.rawValue)) }
        static var replay: Self { Self(UInt8(NLPUSH_CMD_REPLAY.rawValue)) }
        static var emit: Self { Self(UInt8(NLPUSH_CMD_EMIT.rawValue)) }
        static var reply: Self { Self(UInt8(NLPUSH_CMD_REPLY.rawValue)) }
    }
    /// Top-level attributes (`enum nlpush_attr`).
    struct Attr: CNumber {
        typealias RawValue = UInt16
        let rawValue: UInt16
        /// Every value `NLPUSH_A_*` the header defines (UNSPEC excluded), with its C name.
        static let known: [(Self, String)] = [
            (.pad, "PAD"),
            (.seq, "SEQ"),
            (.timestampNs, "TIMESTAMP_NS"),
            (.type, "TYPE"),
            (.flags, "FLAGS"),
            (.payload, "PAYLOAD"),
            (.status, "STATUS"),
            (.name, "NAME"),
            (.count, "COUNT"),
            (.portID, "PORTID"),
            (.stats, "STATS"),
            (.subscriber, "SUBSCRIBER"),
            (.timeoutMs, "TIMEOUT_MS"),
            (.epoch, "EPOCH"),
            (.error, "ERROR"),
        ]
        static var max: UInt16 { UInt16(NLPUSH_A_MAX.rawValue) }

        static var pad: Self { Self(UInt16(NLPUSH_A_PAD.rawValue)) }
        static var seq: Self { Self(UInt16(NLPUSH_A_SEQ.rawValue)) }
        static var timestampNs: Self { Self(UInt16(NLPUSH_A_TIMESTAMP_NS.rawValue)) }
        static var type: Self { Self(UInt16(NLPUSH_A_TYPE.rawValue)) }
        static var flags: Self { Self(UInt16(NLPUSH_A_FLAGS.rawValue)) }
        static var payload: Self { Self(UInt16(NLPUSH_A_PAYLOAD.rawValue)) }
        static var status: Self { Self(UInt16(NLPUSH_A_STATUS.rawValue)) }
        static var name: Self { Self(UInt16(NLPUSH_A_NAME.rawValue)) }
        static var count: Self { Self(UInt16(NLPUSH_A_COUNT.rawValue)) }
        static var portID: Self { Self(UInt16(NLPUSH_A_PORTID.rawValue)) }
        static var stats: Self { Self(UInt16(NLPUSH_A_STATS.rawValue)) }
        static var subscriber: Self { Self(UInt16(NLPUSH_A_SUBSCRIBER.rawValue)) }
        static var timeoutMs: Self { Self(UInt16(NLPUSH_A_TIMEOUT_MS.rawValue)) }
        static var epoch: Self { Self(UInt16(NLPUSH_A_EPOCH.rawValue)) }
        static var error: Self { Self(UInt16(NLPUSH_A_ERROR.rawValue)) }
    }
    /// Attributes nested in STATS (`enum nlpush_stats_attr`).
    struct StatsAttr: CNumber {
        typealias RawValue = UInt16
        let rawValue: UInt16
        /// Every value `NLPUSH_STATS_A_*` the header defines (UNSPEC excluded), with its C name.
        static let known: [(Self, String)] = [
            (.pad, "PAD"),
            (.published, "PUBLISHED"),
            (.delivered, "DELIVERED"),
            (.noListeners, "NO_LISTENERS"),
            (.deliveryErrors, "DELIVERY_ERRORS"),
            (.publishFailures, "PUBLISH_FAILURES"),
            (.acks, "ACKS"),
            (.acksRejected, "ACKS_REJECTED"),
            (.requests, "REQUESTS"),
            (.replies, "REPLIES"),
            (.requestTimeouts, "REQUEST_TIMEOUTS"),
            (.requestsPending, "REQUESTS_PENDING"),
            (.subscribers, "SUBSCRIBERS"),
            (.oldestSeq, "OLDEST_SEQ"),
            (.nextSeq, "NEXT_SEQ"),
            (.ringEvents, "RING_EVENTS"),
            (.ringBytes, "RING_BYTES"),
            (.ringMaxEvents, "RING_MAX_EVENTS"),
            (.ringMaxBytes, "RING_MAX_BYTES"),
            (.replayed, "REPLAYED"),
            (.responders, "RESPONDERS"),
            (.txqDrops, "TXQ_DROPS"),
            (.requestsFailed, "REQUESTS_FAILED"),
            (.repliesUndelivered, "REPLIES_UNDELIVERED"),
        ]
        static var max: UInt16 { UInt16(NLPUSH_STATS_A_MAX.rawValue) }

        static var pad: Self { Self(UInt16(NLPUSH_STATS_A_PAD.rawValue)) }
        static var published: Self { Self(UInt16(NLPUSH_STATS_A_PUBLISHED.rawValue)) }
        static var delivered: Self { Self(UInt16(NLPUSH_STATS_A_DELIVERED.rawValue)) }
        static var noListeners: Self { Self(UInt16(NLPUSH_STATS_A_NO_LISTENERS.rawValue)) }
        static var deliveryErrors: Self { Self(UInt16(NLPUSH_STATS_A_DELIVERY_ERRORS.rawValue)) }
        static var publishFailures: Self { Self(UInt16(NLPUSH_STATS_A_PUBLISH_FAILURES.rawValue)) }
        static var acks: Self { Self(UInt16(NLPUSH_STATS_A_ACKS.rawValue)) }
        static var acksRejected: Self { Self(UInt16(NLPUSH_STATS_A_ACKS_REJECTED.rawValue)) }
        static var requests: Self { Self(UInt16(NLPUSH_STATS_A_REQUESTS.rawValue)) }
        static var replies: Self { Self(UInt16(NLPUSH_STATS_A_REPLIES.rawValue)) }
        static var requestTimeouts: Self { Self(UInt16(NLPUSH_STATS_A_REQUEST_TIMEOUTS.rawValue)) }
        static var requestsPending: Self { Self(UInt16(NLPUSH_STATS_A_REQUESTS_PENDING.rawValue)) }
        static var subscribers: Self { Self(UInt16(NLPUSH_STATS_A_SUBSCRIBERS.rawValue)) }
        static var oldestSeq: Self { Self(UInt16(NLPUSH_STATS_A_OLDEST_SEQ.rawValue)) }
        static var nextSeq: Self { Self(UInt16(NLPUSH_STATS_A_NEXT_SEQ.rawValue)) }
        static var ringEvents: Self { Self(UInt16(NLPUSH_STATS_A_RING_EVENTS.rawValue)) }
        static var ringBytes: Self { Self(UInt16(NLPUSH_STATS_A_RING_BYTES.rawValue)) }
        static var ringMaxEvents: Self { Self(UInt16(NLPUSH_STATS_A_RING_MAX_EVENTS.rawValue)) }
        static var ringMaxBytes: Self { Self(UInt16(NLPUSH_STATS_A_RING_MAX_BYTES.rawValue)) }
        static var replayed: Self { Self(UInt16(NLPUSH_STATS_A_REPLAYED.rawValue)) }
        static var responders: Self { Self(UInt16(NLPUSH_STATS_A_RESPONDERS.rawValue)) }
        static var txqDrops: Self { Self(UInt16(NLPUSH_STATS_A_TXQ_DROPS.rawValue)) }
        static var requestsFailed: Self { Self(UInt16(NLPUSH_STATS_A_REQUESTS_FAILED.rawValue)) }
        static var repliesUndelivered: Self { Self(UInt16(NLPUSH_STATS_A_REPLIES_UNDELIVERED.rawValue)) }
    }
    /// Attributes nested in SUBSCRIBER (`enum nlpush_subscriber_attr`).
    struct SubscriberAttr: CNumber {
        typealias RawValue = UInt16
        let rawValue: UInt16
        /// Every value `NLPUSH_SUBSCRIBER_A_*` the header defines (UNSPEC excluded), with its C name.
        static let known: [(Self, String)] = [
            (.pad, "PAD"),
            (.portID, "PORTID"),
            (.name, "NAME"),
            (.pid, "PID"),
            (.acks, "ACKS"),
            (.lastAckedSeq, "LAST_ACKED_SEQ"),
            (.replies, "REPLIES"),
            (.subscribedNs, "SUBSCRIBED_NS"),
            (.flags, "FLAGS"),
        ]
        static var max: UInt16 { UInt16(NLPUSH_SUBSCRIBER_A_MAX.rawValue) }

        static var pad: Self { Self(UInt16(NLPUSH_SUBSCRIBER_A_PAD.rawValue)) }
        static var portID: Self { Self(UInt16(NLPUSH_SUBSCRIBER_A_PORTID.rawValue)) }
        static var name: Self { Self(UInt16(NLPUSH_SUBSCRIBER_A_NAME.rawValue)) }
        static var pid: Self { Self(UInt16(NLPUSH_SUBSCRIBER_A_PID.rawValue)) }
        static var acks: Self { Self(UInt16(NLPUSH_SUBSCRIBER_A_ACKS.rawValue)) }
        static var lastAckedSeq: Self { Self(UInt16(NLPUSH_SUBSCRIBER_A_LAST_ACKED_SEQ.rawValue)) }
        static var replies: Self { Self(UInt16(NLPUSH_SUBSCRIBER_A_REPLIES.rawValue)) }
        static var subscribedNs: Self { Self(UInt16(NLPUSH_SUBSCRIBER_A_SUBSCRIBED_NS.rawValue)) }
        static var flags: Self { Self(UInt16(NLPUSH_SUBSCRIBER_A_FLAGS.rawValue)) }
    }
    static var flagReplyWanted: UInt32 { NLPUSH_F_REPLY_WANTED.rawValue }
    static var flagReplayed: UInt32 { NLPUSH_F_REPLAYED.rawValue }
    static var flagResponder: UInt32 { NLPUSH_F_RESPONDER.rawValue }

    /// Whether a genl command carries an event: live (`EVENT`) or from a replay dump
    /// (`REPLAY`: since version 2, dump messages carry the request's command number).
    @inline(__always) static func isEventCommand(_ cmd: UInt8) -> Bool {
        cmd == Cmd.event.rawValue || cmd == Cmd.replay.rawValue
    }
}
