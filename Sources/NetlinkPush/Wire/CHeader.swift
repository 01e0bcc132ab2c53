internal import CNetlink
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// Constants of the C headers, exposed for the tests' cross-check.
enum CHeader {
    static var payloadMax: Int { Int(NLPUSH_PAYLOAD_MAX) }
    static var nameMax: Int { Int(NLPUSH_NAME_MAX) }
    static var version: Int { Int(NLPUSH_FAMILY_VERSION) }
    static var familyName: String { NLPUSH_FAMILY_NAME }
    static var eventsGroup: String { NLPUSH_MCGRP_EVENTS }
    static var commands: [UInt32] {
        [NLPUSH_CMD_EVENT, NLPUSH_CMD_ACK, NLPUSH_CMD_SUBSCRIBE, NLPUSH_CMD_UNSUBSCRIBE, NLPUSH_CMD_GET_STATS,
         NLPUSH_CMD_GET_SUBSCRIBERS, NLPUSH_CMD_REPLAY, NLPUSH_CMD_EMIT, NLPUSH_CMD_REPLY].map { $0.rawValue }
    }
    static var attributes: [UInt32] {
        [NLPUSH_A_PAD, NLPUSH_A_SEQ, NLPUSH_A_TIMESTAMP_NS, NLPUSH_A_TYPE, NLPUSH_A_FLAGS, NLPUSH_A_PAYLOAD,
         NLPUSH_A_STATUS, NLPUSH_A_NAME, NLPUSH_A_COUNT, NLPUSH_A_PORTID, NLPUSH_A_STATS, NLPUSH_A_SUBSCRIBER,
         NLPUSH_A_TIMEOUT_MS, NLPUSH_A_EPOCH, NLPUSH_A_ERROR].map { $0.rawValue }
    }
    static var statsMax: UInt32 { NLPUSH_STATS_A_MAX.rawValue }
    static var subscriberMax: UInt32 { NLPUSH_SUBSCRIBER_A_MAX.rawValue }
    static var flags: [UInt32] {
        [NLPUSH_F_REPLY_WANTED.rawValue, NLPUSH_F_REPLAYED.rawValue, NLPUSH_F_RESPONDER.rawValue]
    }
    static var nlmsgHeaderSize: Int { Int(cnl_nlmsg_hdrlen()) }
    static var genlHeaderSize: Int { Int(cnl_genl_hdrlen()) }
    static var attrHeaderSize: Int { Int(cnl_nla_hdrlen()) }

    /// libnl's nla_for_each_attr over `bytes` (-1 when the attributes do not parse).
    static func countAttributes(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { Int(cnl_count_attrs($0.baseAddress, Int32($0.count))) }
    }
}
