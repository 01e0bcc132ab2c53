// Pure Swift netlink framing: nlmsghdr / genlmsghdr / nlattr parsing and building.
// No C calls: this is the hot receive path and what the host tests exercise with
// byte fixtures. Every read is bounds-checked; malformed input throws, never traps.

/// Netlink constants (linux/netlink.h, linux/genetlink.h). Kept as Swift literals
/// so that the pure decoding layer needs no C module.
enum NL {
    static let headerSize = 16          // NLMSG_HDRLEN
    static let genlHeaderSize = 4       // GENL_HDRLEN
    static let attrHeaderSize = 4       // NLA_HDRLEN

    static let typeNoop: UInt16 = 1     // NLMSG_NOOP
    static let typeError: UInt16 = 2    // NLMSG_ERROR
    static let typeDone: UInt16 = 3     // NLMSG_DONE
    static let typeOverrun: UInt16 = 4  // NLMSG_OVERRUN
    static let genlIDCtrl: UInt16 = 16  // GENL_ID_CTRL

    static let fRequest: UInt16 = 0x01
    static let fMulti: UInt16 = 0x02
    static let fAck: UInt16 = 0x04
    static let fDumpIntr: UInt16 = 0x10
    static let fDump: UInt16 = 0x300    // NLM_F_ROOT | NLM_F_MATCH
    static let fCapped: UInt16 = 0x100  // in NLMSG_ERROR
    static let fAckTLVs: UInt16 = 0x200 // in NLMSG_ERROR / NLMSG_DONE

    static let nlaTypeMask: UInt16 = 0x3fff

    // NLMSGERR_ATTR_*
    static let errAttrMsg: UInt16 = 1
    static let errAttrOffs: UInt16 = 2
    static let errAttrMissType: UInt16 = 5

    // CTRL_CMD_* / CTRL_ATTR_*
    static let ctrlCmdNewFamily: UInt8 = 1
    static let ctrlCmdDelFamily: UInt8 = 2
    static let ctrlCmdGetFamily: UInt8 = 3
    static let ctrlCmdGetPolicy: UInt8 = 10
    static let ctrlAttrFamilyID: UInt16 = 1
    static let ctrlAttrFamilyName: UInt16 = 2
    static let ctrlAttrVersion: UInt16 = 3
    static let ctrlAttrMaxAttr: UInt16 = 5
    static let ctrlAttrOps: UInt16 = 6
    static let ctrlAttrMcastGroups: UInt16 = 7
    static let ctrlAttrPolicy: UInt16 = 8
    static let ctrlAttrOpPolicy: UInt16 = 9

    @inline(__always) static func align(_ n: Int) -> Int { (n + 3) & ~3 }
}

/// nlpush numbers (kmod/include/uapi/linux/nlpush.h). The test suite checks that
/// they match the C header imported through CNetlink.
enum Proto {
    static let version: UInt8 = 2
    static let payloadMax = 61440
    static let nameMax = 32

    enum Cmd: UInt8 {
        case event = 1, ack, subscribe, unsubscribe, getStats, getSubscribers, replay, emit, reply
    }
    enum Attr: UInt16 {
        case pad = 1, seq, timestampNs, type, flags, payload, status, name, count, portID, stats,
            subscriber, timeoutMs, epoch, error
    }
    enum StatsAttr: UInt16 {
        case pad = 1, published, delivered, noListeners, deliveryErrors, publishFailures, acks,
            acksRejected, requests, replies, requestTimeouts, requestsPending, subscribers, oldestSeq,
            nextSeq, ringEvents, ringBytes, ringMaxEvents, ringMaxBytes, replayed, responders, txqDrops,
            requestsFailed, repliesUndelivered
    }
    enum SubscriberAttr: UInt16 {
        case pad = 1, portID, name, pid, acks, lastAckedSeq, replies, subscribedNs, flags
    }
    static let flagReplyWanted: UInt32 = 1 << 0
    static let flagReplayed: UInt32 = 1 << 1
    static let flagResponder: UInt32 = 1 << 2

    /// Whether a genl command carries an event: live (`EVENT`) or from a replay dump
    /// (`REPLAY`: since version 2, dump messages carry the request's command number).
    @inline(__always) static func isEventCommand(_ cmd: UInt8) -> Bool {
        cmd == Cmd.event.rawValue || cmd == Cmd.replay.rawValue
    }
}

// MARK: - Reading
