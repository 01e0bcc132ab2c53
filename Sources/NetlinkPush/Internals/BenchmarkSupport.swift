internal import CNetlink

/// Entry points for the host benchmarks (the nested `Benchmarks/` package) that time
/// internal steps of the library on their own. Not API: only visible to
/// `@_spi(Benchmarks) import NetlinkPush`, and free to change with any release.
@_spi(Benchmarks)
public enum BenchmarkSupport {
    /// Encodes the `NLPUSH_CMD_ACK` message that ``Subscription/ack(_:status:reply:)``
    /// sends, exactly as it does (a libnl `nl_msg`: `genlmsg_put` and `nla_put_*`), then
    /// frees it without sending. Returns the encoded length in bytes.
    ///
    /// `status` and `reply` are encoded when given, as for a request's answer.
    public static func encodeAck(
        seq: UInt64, status: Int32? = nil, reply: [UInt8]? = nil, familyID: UInt16 = 0x20
    ) throws(NetlinkPushError) -> Int {
        let request = ControlRequest.ack(seq: seq, status: status, payload: reply)
        try request.validate()
        return try NLSocket.withLibnlMessage(request, familyID: familyID, seq: 1, portID: 0) { msg in
            var len: UInt32 = 0
            _ = cnl_msg_bytes(msg, &len)
            return Int(len)
        }
    }
}
