import Testing
@testable import NetlinkPush

@Suite("SequenceTracker: gaps, duplicates, lost ranges")
struct SequenceTrackerTests {
    @Test func inOrderDelivery() {
        var t = SequenceTracker(last: 0)
        for s in UInt64(1)...100 {
            #expect(t.classifyLive(s) == .deliver)
            t.delivered(s)
        }
        #expect(t.last == 100)
        #expect(t.nextExpected == 101)
    }

    @Test func withoutBaselineFirstEventIsAccepted() {
        var t = SequenceTracker()
        #expect(t.nextExpected == nil)
        #expect(t.classifyLive(500) == .deliver)
        t.delivered(500)
        #expect(t.classifyLive(501) == .deliver)
        #expect(t.classifyReplayed(499) == .duplicate)
    }

    @Test func duplicatesAreDropped() {
        var t = SequenceTracker(last: 10)
        #expect(t.classifyLive(10) == .duplicate)
        #expect(t.classifyLive(3) == .duplicate)
        t.delivered(11)
        #expect(t.classifyLive(11) == .duplicate)
        #expect(t.classifyReplayed(11) == .duplicate)
        // delivered() never moves backwards
        t.delivered(5)
        #expect(t.last == 11)
    }

    @Test func gapIsReported() {
        let t = SequenceTracker(last: 10)
        #expect(t.classifyLive(11) == .deliver)
        #expect(t.classifyLive(12) == .gap(11...11))
        #expect(t.classifyLive(20) == .gap(11...19))
    }

    /// The recovery flow: live 15 reveals a gap after 10; the replay returns 11...17;
    /// live 15...17 arriving afterwards are duplicates; 18 continues.
    @Test func replayFillsGapThenLiveDuplicatesDropped() {
        var t = SequenceTracker(last: 10)
        #expect(t.classifyLive(15) == .gap(11...14))
        for s in UInt64(11)...17 {
            #expect(t.classifyReplayed(s) == .deliver)
            t.delivered(s)
        }
        #expect(t.declareLost(before: 15) == nil)  // nothing missing below the revealing event
        for s in UInt64(15)...17 { #expect(t.classifyLive(s) == .duplicate) }
        #expect(t.classifyLive(18) == .deliver)
    }

    /// The ring no longer holds 11...99: replay starts at 100.
    @Test func replayStartingAboveRequestedSeqReportsLostRange() {
        var t = SequenceTracker(last: 10)
        #expect(t.classifyReplayed(100) == .deliverAfterLoss(11...99))
        #expect(t.declareLost(before: 100) == 11...99)
        t.delivered(100)
        #expect(t.classifyReplayed(101) == .deliver)
        #expect(t.last == 100)
    }

    /// Replay returned nothing (ring empty or disabled): everything below the revealing
    /// live event is lost, reported once.
    @Test func emptyReplayDeclaresGapLost() {
        var t = SequenceTracker(last: 10)
        guard case .gap(let r) = t.classifyLive(50) else {
            Issue.record("expected a gap")
            return
        }
        #expect(r == 11...49)
        #expect(t.declareLost(before: 50) == 11...49)
        #expect(t.declareLost(before: 50) == nil)
        #expect(t.classifyLive(50) == .deliver)
    }

    @Test func resetAfterReload() {
        var t = SequenceTracker(last: 5000)
        t.reset(last: 0)
        #expect(t.classifyLive(1) == .deliver)
        #expect(t.classifyLive(3) == .gap(1...2))
    }
    // The whole-stream behaviour (drops, replays from a small ring) is tested through
    // the real reader: RecoveryTests.randomDrops.
}
