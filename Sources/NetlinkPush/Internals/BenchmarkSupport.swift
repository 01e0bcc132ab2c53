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

/// The reader thread's receive path for the host benchmarks: event messages decoded
/// in place and appended to an ``EventBatch`` (payloads copied into its one buffer),
/// batches of at most 256 items, the next one reserving what the last one used. Not
/// API (`@_spi(Benchmarks)`).
@_spi(Benchmarks)
public struct BenchmarkBatchDecoder {
    private var batch = EventBatch()
    /// Batches completed so far.
    public private(set) var batches = 0

    public init() {}

    /// Decodes one complete event message into the current batch; returns how many
    /// items it holds (a full batch is handed on, as the reader hands it to the stream).
    public mutating func decode(_ bytes: [UInt8], receivedNs: UInt64) throws(NetlinkPushError) -> Int {
        try MessageDecoder.decodeSingle(bytes) { (m) throws(NetlinkPushError) in
            let raw = try MessageDecoder.rawEvent(try GenlMessage(m))
            batch.append(
                seq: raw.seq, type: raw.type, flags: raw.flags, timestampNs: raw.timestampNs,
                receivedNs: receivedNs, epoch: raw.epoch, payload: raw.payload)
        }
        guard batch.isFull else { return batch.count }
        batches += 1
        return batch.handOff().count
    }
}
