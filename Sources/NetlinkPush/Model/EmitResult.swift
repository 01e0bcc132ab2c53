/// Answer of ``NetlinkPushChannel/emit(type:payload:count:)``.
public struct EmitResult: Sendable, Hashable {
    /// Sequence number of the first event published.
    public var firstSeq: UInt64
    /// Number of events published (consecutive sequence numbers from ``firstSeq``).
    ///
    /// Beyond 256, the kernel publishes the first 256 before it answers and the rest
    /// right after, in order: they may not all be published yet when this returns.
    public var count: UInt32
    /// The module load the events belong to (see ``Event/epoch``; 0 when absent).
    public var epoch: UInt64

    /// Creates a result.
    public init(firstSeq: UInt64, count: UInt32, epoch: UInt64 = 0) {
        self.firstSeq = firstSeq
        self.count = count
        self.epoch = epoch
    }

    /// The sequence numbers published.
    public var seqs: ClosedRange<UInt64>? {
        count == 0 ? nil : firstSeq...(firstSeq + UInt64(count) - 1)
    }
}
