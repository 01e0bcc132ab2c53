import Foundation
import Testing
@testable import NetlinkPush
import NetlinkPushTesting

/// The reader's recovery, through the fake kernel: what reaches the socket and what the
/// ring still holds decide what the subscription yields, exactly.
@Suite("recovery from the replay ring (fake kernel)", .timeLimit(.minutes(1)), .disabled(if: Timing.inVM, fakeKernelInVM))
struct RecoveryTests {
    let kernel: FakeKernel
    let channel: NetlinkPushChannel

    init() throws {
        kernel = FakeKernel(ringCapacity: 8)
        channel = try NetlinkPushChannel(kernel: kernel)
    }

    @Test("a gap revealed by the next event is replayed from the ring, exactly")
    func gapIsReplayed() async throws {
        var r = Reading(try channel.subscribe(name: "gap"))
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
        kernel.atomically {
            kernel.dropNext(2)
            kernel.publish(count: 4)
        }
        #expect(try await r.next(5) == ["e2", "e3", "e4", "recovered 2", "e5"])
        kernel.publish()
        #expect(try await r.next(1) == ["e6"])
        #expect(kernel.stats.replayed == 2)
    }

    @Test("an overrun (ENOBUFS) with events queued after it: one replay fills the gap before them")
    func overrunThenQueuedEvents() async throws {
        var r = Reading(try channel.subscribe(name: "overrun"))
        kernel.publish(count: 2)
        #expect(try await r.next(2) == events(1...2))
        kernel.atomically {
            kernel.injectOverrun(dropping: 2)
            kernel.publish(count: 4)
        }
        #expect(try await r.next(5) == ["e3", "e4", "e5", "e6", "recovered 2"])
        kernel.publish()
        #expect(try await r.next(1) == ["e7"])
    }

    @Test("an overrun at the end of a burst: the tail is replayed once the socket stays quiet")
    func overrunTail() async throws {
        var r = Reading(try channel.subscribe(name: "tail"))
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
        kernel.atomically {
            kernel.injectOverrun(dropping: 3)
            kernel.publish(count: 3)
        }
        #expect(try await r.next(4) == ["e2", "e3", "e4", "recovered 3"])
    }

    @Test("a slow consumer: the receive queue fills, the kernel drops, recovery replays the rest")
    func receiveQueueFull() async throws {
        var r = Reading(try channel.subscribe(name: "slow"))
        kernel.setReceiveQueueLimit(3)
        kernel.atomically { kernel.publish(count: 8) }
        #expect(try await r.next(9) == events(1...8) + ["recovered 5"])
        #expect(kernel.stats.deliveryErrors == 5)
        kernel.setReceiveQueueLimit(nil)
        kernel.publish()
        #expect(try await r.next(1) == ["e9"])
    }

    @Test("a gap the ring no longer holds is an explicit lost range")
    func gapBeyondRing() async throws {
        var r = Reading(try channel.subscribe(name: "lost"))
        // ring of 8: after 10 dropped events and the 11th, it holds 4...11
        kernel.atomically {
            kernel.dropNext(10)
            kernel.publish(count: 11)
        }
        #expect(try await r.next(10) == ["lost 1...3"] + events(4...11) + ["recovered 7"])
        #expect(kernel.ringSequence == Array(4...11))
    }

    @Test("an overrun whose gap left the ring: lost at once, no replay")
    func overrunBeyondRing() async throws {
        var r = Reading(try channel.subscribe(name: "lost-overrun"))
        // events 1...10 never reach the socket; 11...21 do, and the ring holds 14...21
        kernel.atomically {
            kernel.injectOverrun(dropping: 10)
            kernel.publish(count: 21)
        }
        #expect(try await r.next(12) == ["lost 1...10"] + events(11...21))
        #expect(kernel.stats.replayed == 0)
    }

    @Test("duplicates are dropped")
    func duplicates() async throws {
        var r = Reading(try channel.subscribe(name: "dup"))
        kernel.atomically {
            kernel.duplicateNext(2)
            kernel.publish(count: 3)
        }
        #expect(try await r.next(3) == events(1...3))
        kernel.publish()
        #expect(try await r.next(1) == ["e4"])
    }

    @Test("a reordered event: the early one reveals a gap, the late one is a duplicate")
    func reordered() async throws {
        var r = Reading(try channel.subscribe(name: "reorder"))
        kernel.atomically {
            kernel.reorderNext()
            kernel.publish(count: 3)
        }
        #expect(try await r.next(4) == ["e1", "e2", "recovered 1", "e3"])
    }

    @Test("a truncated datagram counts as an overrun: its event is replayed")
    func truncated() async throws {
        var r = Reading(try channel.subscribe(name: "trunc"))
        kernel.atomically {
            kernel.truncateNext()
            kernel.publish(count: 3)
        }
        #expect(try await r.next(4) == ["e1", "e2", "e3", "recovered 1"])
    }

    @Test("datagrams from user-space ports are ignored")
    func foreign() async throws {
        var r = Reading(try channel.subscribe(name: "foreign"))
        kernel.atomically {
            kernel.sendForeignDatagram()
            kernel.publish(count: 2)
        }
        #expect(try await r.next(2) == events(1...2))
    }

    @Test("without recovery, a gap is reported lost when the next event reveals it")
    func noRecovery() async throws {
        var r = Reading(try channel.subscribe(name: "norec", options: .init(recovery: false)))
        kernel.atomically {
            kernel.dropNext(2)
            kernel.publish(count: 4)
        }
        #expect(try await r.next(3) == ["lost 1...2", "e3", "e4"])
        #expect(kernel.stats.replayed == 0)
    }

    @Test("without recovery, events dropped at the end of a burst are reported once the kernel confirms them")
    func noRecoveryTail() async throws {
        var r = Reading(try channel.subscribe(name: "norec-tail", options: .init(recovery: false)))
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
        kernel.atomically {
            kernel.injectOverrun(dropping: 2)
            kernel.publish(count: 2)
        }
        #expect(try await r.next(1) == ["lost 2...3"])
    }

    @Test("a stream buffer that fills up: the reader stops reading its socket; the events wait there, nothing replayed")
    func streamBufferFull() async throws {
        let sub = try channel.subscribe(name: "buffer", options: .init(bufferCapacity: 4))
        var r = Reading(sub)
        kernel.publish(count: 8)
        // until the reader found the buffer full
        #expect(await waitUntil(.seconds(5)) { kernel.stats.published == 8 && sub.core.isWaitingForSpace } != nil)
        kernel.publish(count: 4)  // while it waits: into the socket
        let replays = kernel.received(.replay)
        #expect(try await r.next(12) == events(1...12))
        #expect(kernel.received(.replay) == replays, "no replay: the events waited in the socket")
        kernel.publish()
        #expect(try await r.next(1) == ["e13"], "nothing else came in between")
    }

    @Test("a full stream buffer and then a socket overrun: the dropped events are recovered from the ring")
    func streamBufferFullThenOverrun() async throws {
        let sub = try channel.subscribe(name: "buffer-overrun", options: .init(bufferCapacity: 4))
        var r = Reading(sub)
        // the socket holds 2 datagrams now: of the next 6 events, 4 are dropped there
        await overrunWhilePaused(kernel, sub, filling: 8, socketLimit: 2, burst: 6)
        // (how many the socket still held when the limit came depends on how much the
        // reader took before it paused: at least 4 of the 6 are dropped)
        kernel.publish()  // e15
        var items = try await r.next(through: "e15")
        kernel.publish()  // e16: after the recovery's notice, which follows the events it replayed
        items += try await r.next(through: "e16")
        let dropped = kernel.stats.deliveryErrors
        #expect(dropped >= 4)
        #expect(items.filter { $0.hasPrefix("e") } == events(1...16), "\(items)")
        let recovered = items.compactMap { $0.hasPrefix("recovered ") ? Int($0.dropFirst(10)) : nil }
        // (the count covers what the replays delivered that was missing: the dropped
        // events, and events skipped while a replay found the buffer full again)
        #expect(recovered.reduce(0, +) >= Int(dropped), "the recovery is reported: \(items)")
    }

    @Test("a recovery that a small stream buffer cuts into rounds: one notice, after the last replayed event, counts them all")
    func recoveryInRounds() async throws {
        // A ring that holds the whole burst: nothing is lost, everything dropped is replayed.
        let kernel = FakeKernel(ringCapacity: 64)
        let channel = try NetlinkPushChannel(kernel: kernel)
        let sub = try channel.subscribe(name: "rounds", options: .init(bufferCapacity: 4))
        var r = Reading(sub)
        // the socket takes 2 datagrams: of the next 30 events, at least 28 are dropped,
        // and the replay of a stream buffer of 4 takes many rounds
        await overrunWhilePaused(kernel, sub, filling: 8, socketLimit: 2, burst: 30)
        let dropped = Int(kernel.stats.deliveryErrors)
        #expect(dropped >= 28)
        kernel.publish()  // e39
        var items = try await r.next(through: "e39")
        kernel.publish()  // e40: after the notice, which follows the events replayed
        items += try await r.next(through: "e40")
        #expect(items.filter { $0.hasPrefix("e") } == events(1...40), "\(items)")
        #expect(!items.contains { $0.hasPrefix("lost") }, "\(items)")
        let notices = items.enumerated().filter { $0.element.hasPrefix("recovered ") }
        try #require(notices.count == 1, "one notice for the whole recovery: \(items)")
        // (it may count more than the socket dropped: live events the reader skipped
        // while a round found the buffer full are replayed too)
        let count = Int(notices[0].element.dropFirst(10)) ?? 0
        #expect(count >= dropped, "\(dropped) dropped, \(count) reported recovered: \(items)")
        #expect(count <= 31, "\(items)")
        let lastReplayed = items.firstIndex(of: "e38") ?? items.count
        #expect(notices[0].offset > lastReplayed, "the notice follows the replayed events: \(items)")
        sub.cancel()
    }

    @Test("a replay that fails once (ENOMEM): the gap is replayed again, not reported lost", arguments: [false, true])
    func replayFailsOnce(overrun: Bool) async throws {
        var r = Reading(try channel.subscribe(name: "replay-fails"))
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
        kernel.failNext(.replay, errno: ENOMEM, extack: "no memory for the dump")
        kernel.atomically {
            if overrun { kernel.injectOverrun(dropping: 2) } else { kernel.dropNext(2) }
            kernel.publish(count: 4)
        }
        let items = try await r.next(5)
        #expect(items.filter { $0.hasPrefix("e") } == events(2...5), "\(items)")
        #expect(!items.contains { $0.hasPrefix("lost") }, "\(items)")
        #expect(items.contains("recovered 2"), "\(items)")
        #expect(kernel.received(.replay) >= 2)
    }

    @Test("a replay that keeps failing, or fails for good (EPERM): the gap is reported lost, the events after it delivered", arguments: [(ENOMEM, 3), (EPERM, 1)])
    func replayFailsForGood(errno: Int32, attempts: Int) async throws {
        var r = Reading(try channel.subscribe(name: "replay-fails-for-good"))
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
        let before = kernel.received(.replay)
        for _ in 0..<3 { kernel.failNext(.replay, errno: errno) }
        kernel.atomically {
            kernel.dropNext(2)
            kernel.publish(count: 4)
        }
        #expect(try await r.next(3) == ["lost 2...3", "e4", "e5"])
        #expect(kernel.received(.replay) - before == attempts, "tried \(attempts) times")
    }

    @Test("events held back after an overrun that meet a full stream buffer: replayed later, none reported lost")
    func heldBackEventsMeetAFullBuffer() async throws {
        let kernel = FakeKernel(ringCapacity: 64)
        let channel = try NetlinkPushChannel(kernel: kernel)
        var r = Reading(try channel.subscribe(name: "held-full", options: .init(bufferCapacity: 2)))
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
        // ENOBUFS; e2, e3 dropped, e4 queued, e5 dropped, e6...e13 queued. The reader
        // holds e4 and e6... back until the socket is drained, then replays 2...12 and
        // merges: e2 and e3 fill the stream buffer of 2, so the held e4 finds it full,
        // and the replayed e5 comes next (it used to take e4 for lost).
        kernel.atomically {
            kernel.injectOverrun(dropping: 2)
            _ = kernel.publish(count: 3)
            kernel.dropNext(1)
            _ = kernel.publish(count: 9)
        }
        var items = try await r.next(through: "e13")
        kernel.publish()  // e14, after any notice
        items += try await r.next(through: "e14")
        #expect(items.filter { $0.hasPrefix("e") } == events(2...14), "\(items)")
        #expect(!items.contains { $0.hasPrefix("lost") }, "\(items)")
        let recovered = items.compactMap { $0.hasPrefix("recovered ") ? Int($0.dropFirst(10)) : nil }
        #expect(recovered.reduce(0, +) >= 3, "\(items)")
    }

    @Test("random drops with a small ring: every event exactly once, in order, or in a lost range")
    func randomDrops() async throws {
        var r = Reading(try channel.subscribe(name: "random"))
        var rng = SplitMix(seed: 7)
        var dropping = 0  // events of the current run of drops still to publish
        for i in 0..<200 {
            if dropping == 0, i < 180, rng.next() % 5 == 0 {
                // a run of up to 11 dropped events: some fit the ring of 8, some do not
                dropping = Int(rng.next() % 12)
                kernel.dropNext(dropping)
            }
            kernel.publish()
            dropping = max(0, dropping - 1)
        }
        kernel.publish()  // reveals a trailing gap, if any
        var seen: [UInt64] = []
        var lost: [ClosedRange<UInt64>] = []
        while (seen.last ?? 0) < 201 {
            guard let item = try await r.items(1).first else { break }
            switch item {
            case .event(let e): seen.append(e.seq)
            case .lost(let range): lost.append(range)
            default: break
            }
        }
        let covered = (seen + lost.flatMap { Array($0) }).sorted()
        #expect(covered == Array(1...201))
        #expect(seen == seen.sorted())
        #expect(Set(seen).count == seen.count)
        #expect(!lost.isEmpty, "a ring of 8 and drops of up to 11: some loss is expected")
    }
}

/// Publishes `filling` events nobody consumes until the reader found `sub`'s stream
/// buffer full and stopped reading, then a burst of `burst` into a socket that takes
/// `socketLimit` datagrams: the rest of the burst is dropped there.
private func overrunWhilePaused(
    _ kernel: FakeKernel, _ sub: Subscription, filling: Int, socketLimit: Int, burst: Int
) async {
    let published = kernel.stats.published
    kernel.publish(count: filling)
    #expect(
        await waitUntil(.seconds(5)) {
            kernel.stats.published == published + UInt64(filling) && sub.core.isWaitingForSpace
        } != nil)
    kernel.setReceiveQueueLimit(socketLimit)
    kernel.atomically { kernel.publish(count: burst) }
    kernel.setReceiveQueueLimit(nil)
}
