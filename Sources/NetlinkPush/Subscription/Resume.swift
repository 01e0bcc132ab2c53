/// Where a resumed subscription picks up (``NetlinkPushChannel/subscribe(name:from:epoch:options:)``).
struct ResumePoint: Sendable, Hashable {
    /// The last event the caller processed.
    var seq: UInt64
    /// The module load `seq` belongs to, if the caller knows it (0 counts as unknown).
    var epoch: UInt64?
}

/// What a resume amounts to, given the kernel's state: free of I/O so that it can be
/// unit-tested. The reader's initial catch-up then replays from `baseline + 1` and
/// reports what the ring no longer holds as lost, exactly as it fills any gap.
struct ResumePlan: Sendable, Hashable {
    /// The highest sequence number taken as already seen.
    var baseline: UInt64
    /// Yielded before anything else: the caller's position belongs to another load.
    var notice: SubscriptionItem?

    /// - Parameters:
    ///   - point: the caller's position.
    ///   - kernelEpoch: the module's epoch from `GET_STATS` (0: a module without epochs).
    ///   - newest: the newest sequence number published (`NEXT_SEQ - 1`).
    /// - Throws: ``NetlinkPushError/invalidArgument(reason:)`` when the caller names the
    ///   current epoch and a sequence number it never published.
    init(resuming point: ResumePoint, kernelEpoch: UInt64, newest: UInt64) throws(NetlinkPushError) {
        let given = point.epoch == 0 ? nil : point.epoch
        let comparable = given != nil && kernelEpoch != 0
        if comparable, given != kernelEpoch {
            // Another load: its events after `seq` are gone, this load's start at 1.
            self.init(baseline: 0, notice: .reloaded(previousEpoch: given, epoch: kernelEpoch))
            return
        }
        guard point.seq > newest else {
            self.init(baseline: point.seq, notice: nil)
            return
        }
        if comparable {
            throw .invalidArgument(
                reason: "seq \(point.seq) was never published in epoch \(kernelEpoch) (the newest is \(newest))")
        }
        // Beyond the newest event: sequence numbers went back, the module was reloaded.
        self.init(baseline: 0, notice: .reloaded(previousEpoch: given, epoch: kernelEpoch))
    }

    init(baseline: UInt64, notice: SubscriptionItem?) {
        self.baseline = baseline
        self.notice = notice
    }
}
