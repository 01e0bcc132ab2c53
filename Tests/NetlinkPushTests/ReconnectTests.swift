import Foundation
import Testing
@testable import NetlinkPush
import NetlinkPushTesting

@Suite("module unload and reload, resume (fake kernel)", .timeLimit(.minutes(1)), .disabled(if: Timing.inVM, fakeKernelInVM))
struct ReconnectTests {
    @Test("unload: disconnected; reload: reconnected, a new epoch, events from seq 1")
    func unloadReload() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let sub = try channel.subscribe(name: "follow")
        var r = Reading(sub)
        kernel.publish(count: 2)
        let firstEpoch = kernel.epoch
        #expect(try await r.next(2, epochs: true) == ["e1@\(firstEpoch)", "e2@\(firstEpoch)"])
        kernel.unload()
        #expect(try await r.next(1) == ["disconnected"])
        #expect(kernel.subscriberNames.isEmpty)
        // while disconnected, an ack is refused without reaching the kernel
        await #expect(throws: NetlinkPushError.familyNotFound(family: "nlpush")) { try await sub.ack(Event(seq: 1)) }
        kernel.reload()
        #expect(try await r.next(1) == ["reconnected"])
        #expect(await waitUntil(.seconds(5)) { kernel.subscriberNames == ["follow"] } != nil, "registered again")
        kernel.publish(count: 2)
        let epoch = kernel.epoch
        #expect(epoch != firstEpoch)
        #expect(try await r.next(2, epochs: true) == ["e1@\(epoch)", "e2@\(epoch)"])
        #expect(sub.isActive)
    }

    @Test("events published between the reload and the reconnection are replayed, not lost")
    func eventsBeforeReconnect() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        var r = Reading(try channel.subscribe(name: "catch-up"))
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
        kernel.atomically {
            kernel.unload()
            kernel.reload()
            kernel.publish(count: 3)
        }
        #expect(try await r.next(5) == ["disconnected", "reconnected", "e1", "e2", "e3"])
        kernel.publish()
        #expect(try await r.next(1) == ["e4"])
    }

    @Test("without autoReconnect the sequence ends after disconnected")
    func noAutoReconnect() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let sub = try channel.subscribe(name: "once", options: .init(autoReconnect: false))
        var r = Reading(sub)
        kernel.unload()
        #expect(try await r.next(5) == ["disconnected"])
        #expect(await waitUntil(.seconds(1)) { !sub.isActive && kernel.openSockets == 1 } != nil,
                "only the channel's control socket is left")
    }

    @Test("a missed controller notification: the reconnect poll finds the family")
    func reconnectByPolling() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        var r = Reading(try channel.subscribe(name: "poll", options: .init(reconnectPollIntervalMs: 20)))
        kernel.unload()
        #expect(try await r.next(1) == ["disconnected"])
        // the reload's NEWFAMILY is lost for this socket (its queue overruns)
        kernel.setReceiveQueueLimit(0)
        kernel.reload()
        kernel.setReceiveQueueLimit(nil)
        #expect(try await r.next(1) == ["reconnected"])
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
    }

    @Test("a failed replay while the family is gone is a disconnect")
    func replayFailsOnUnload() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        var r = Reading(try channel.subscribe(name: "replay-gone"))
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
        // the gap's replay fails: the family is gone, so the reader treats it as an unload
        // (the controller's DELFAMILY, queued behind the event, then changes nothing)
        kernel.atomically {
            kernel.dropNext(1)
            kernel.publish(count: 2)
            kernel.unload()
        }
        #expect(try await r.next(1) == ["disconnected"])
        kernel.reload()
        kernel.publish()
        #expect(try await r.next(2) == ["reconnected", "e1"])
    }

    @Test("resume within the same load: the events after seq, then live ones")
    func resumeSameLoad() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        kernel.publish(count: 5)
        var r = Reading(try channel.subscribe(name: "resume", from: 2, epoch: kernel.epoch))
        #expect(try await r.next(3) == events(3...5))
        kernel.publish()
        #expect(try await r.next(1) == ["e6"])
    }

    @Test("resume beyond the ring: an explicit lost range first")
    func resumeBeyondRing() async throws {
        let kernel = FakeKernel(ringCapacity: 4)
        let channel = try NetlinkPushChannel(kernel: kernel)
        kernel.publish(count: 10)
        var r = Reading(try channel.subscribe(name: "resume-lost", from: 2))
        #expect(try await r.next(5) == ["lost 3...6"] + events(7...10))
    }

    @Test("resume across a reload: reloaded first, then the current load from seq 1")
    func resumeAcrossReload() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        kernel.publish(count: 3)
        let old = kernel.epoch
        kernel.unload()
        kernel.reload()
        kernel.publish(count: 2)
        // the channel's family id is stale: subscribe resolves it again
        let sub = try channel.subscribe(name: "resume-reload", from: 3, epoch: old)
        var r = Reading(sub)
        #expect(try await r.next(3) == ["reloaded \(old)->\(kernel.epoch)", "e1", "e2"])
        // without an epoch, a seq beyond the newest can only be from an earlier load
        var r2 = Reading(try channel.subscribe(name: "resume-noepoch", from: 50))
        #expect(try await r2.next(3) == ["reloaded nil->\(kernel.epoch)", "e1", "e2"])
        // with the current epoch, a seq never published is refused
        #expect(throws: NetlinkPushError.self) {
            _ = try channel.subscribe(name: "resume-future", from: 50, epoch: kernel.epoch)
        }
    }

    @Test("resume needs the kernel's statistics: without them the subscription fails")
    func resumeWithoutStats() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        kernel.failNext(.getStats, errno: EIO, extack: "no stats")
        #expect(throws: NetlinkPushError.rejected(operation: .stats, errno: EIO, extack: "no stats")) {
            _ = try channel.subscribe(name: "resume", from: 1)
        }
        #expect(await waitUntil(.seconds(1)) { kernel.openSockets == 1 } != nil, "the failed subscription closed its sockets")
        // a plain subscription starts without a baseline then
        kernel.failNext(.getStats, errno: EIO)
        _ = try channel.subscribe(name: "plain")
    }
}
