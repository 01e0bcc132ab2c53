import Foundation
import Testing
@testable import NetlinkPush
@testable import NetlinkPushTesting

@Suite("fake kernel: the channel's requests over real netlink bytes", .timeLimit(.minutes(1)), .disabled(if: Timing.inVM, fakeKernelInVM))
struct FakeKernelTests {
    @Test("a subscription receives the events published after subscribe, in order")
    func liveEvents() async throws {
        let kernel = FakeKernel()
        kernel.publish(count: 2)  // before the subscription: not delivered
        let channel = try NetlinkPushChannel(kernel: kernel)
        #expect(channel.familyID == kernel.familyID)
        #expect(channel.version == 2)
        let sub = try channel.subscribe(name: "live")
        #expect(kernel.subscriberNames == ["live"])
        var r = Reading(sub)
        kernel.publish(type: 7, payload: [1, 2, 3])
        kernel.publish(count: 2)
        let items = try await r.items(3)
        #expect(items.map { describe($0) } == events(3...5))
        let first = try #require(items.first?.event)
        #expect(first.type == 7)
        #expect(first.payload == [1, 2, 3])
        #expect(first.epoch == kernel.epoch)
        #expect(first.flags == [])
        #expect(first.receivedNs >= first.timestampNs)
    }

    @Test("stats, subscribers, emit and replay decode what the kernel sends")
    func queries() async throws {
        let kernel = FakeKernel(ringCapacity: 4)
        let channel = try NetlinkPushChannel(kernel: kernel)
        let emitted = try await channel.emit(type: 3, payload: [9], count: 6)
        #expect(emitted == EmitResult(firstSeq: 1, count: 6, epoch: kernel.epoch))
        let stats = try await channel.stats()
        #expect(stats.published == 6)
        #expect(stats.nextSeq == 7)
        #expect(stats.oldestSeq == 3)
        #expect(stats.ringEvents == 4)
        #expect(stats.ringMaxEvents == 4)
        #expect(stats.ringBytes == 4)
        #expect(stats.noListeners == 6)
        #expect(stats.epoch == kernel.epoch)
        let replayed = try await channel.replay(from: 4, count: 2)
        #expect(replayed.map(\.seq) == [4, 5])
        #expect(replayed.allSatisfy { $0.flags.contains(.replayed) && $0.type == 3 && $0.payload == [9] })
        #expect(try await channel.replay().map(\.seq) == [3, 4, 5, 6])
        #expect(try await channel.stats().replayed == 6)

        let sub = try channel.respond(name: "answers")
        let watcher = try channel.subscribe(name: "watch")
        let list = try await channel.subscribers()
        #expect(list.map(\.name) == ["answers", "watch"])
        #expect(list.map(\.portID) == [sub.portID, watcher.portID])
        #expect(list.map(\.flags) == [4, 0])
        #expect(sub.isResponder && !watcher.isResponder)
        #expect(try await channel.stats().responders == 1)
    }

    @Test("describe() decodes the controller's family and policies")
    func describeFamily() throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let d = try channel.describe()
        #expect(d.name == "nlpush")
        #expect(d.id == kernel.familyID)
        #expect(d.version == 2)
        #expect(d.maxAttribute == 15)
        #expect(d.groups == [.init(name: "events", id: channel.eventsGroupID)])
        #expect(d.operations.map(\.name) == ["ACK", "SUBSCRIBE", "UNSUBSCRIBE", "GET_STATS", "GET_SUBSCRIBERS", "REPLAY", "EMIT"])
        #expect(d.operations[1].flags == ["do", "admin-perm", "has-policy"])
        #expect(d.operations[4].flags == ["dump"])
        let subscribe = try #require(d.operations.first { $0.name == "SUBSCRIBE" })
        #expect(subscribe.attributes.map(\.name) == ["FLAGS", "NAME"])
        #expect(subscribe.attributes.map(\.kind) == ["u32", "nul-string"])
        #expect(subscribe.attributes.map(\.range) == ["mask 0x4", "len <= 32"])
        let emit = try #require(d.operations.first { $0.name == "EMIT" })
        #expect(emit.attributes.map(\.range) == ["-2147483648...2147483647", "1...1000000"])
        #expect(emit.attributes.map(\.kind) == ["s32", "u32"])
    }

    @Test("a refusal carries the kernel's errno and extack")
    func errorsCarryErrnoAndExtack() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        kernel.failNext(.getStats, errno: EIO, extack: "ring is on fire")
        do {
            _ = try await channel.stats()
            Issue.record("no error")
        } catch {
            #expect(error == .rejected(operation: .stats, errno: EIO, extack: "ring is on fire"))
            #expect(error.errno == EIO)
            #expect(error.extack == "ring is on fire")
        }
        // the next call is answered again
        #expect(try await channel.stats().nextSeq == 1)
        // EPERM is a permission error, with the extack
        kernel.failNext(.emit, errno: EPERM, extack: "needs CAP_NET_ADMIN")
        await #expect(throws: NetlinkPushError.permissionDenied(operation: .emit, errno: EPERM, extack: "needs CAP_NET_ADMIN")) {
            _ = try await channel.emit()
        }
        // a second SUBSCRIBE of the same socket: EEXIST, the registration is not doubled
        let sub = try channel.subscribe(name: "once")
        await #expect(throws: NetlinkPushError.rejected(operation: .subscribe, errno: EEXIST, extack: "this socket is already subscribed")) {
            try await sub.core.perform(.subscribe(name: "twice"))
        }
        #expect(kernel.subscriberNames == ["once"])
    }

    @Test("without CAP_NET_ADMIN: subscribe is refused with EPERM; a listener may join with unprivileged_listen")
    func unprivileged() async throws {
        let kernel = FakeKernel(privileged: false)
        let channel = try NetlinkPushChannel(kernel: kernel)
        #expect(throws: NetlinkPushError.permissionDenied(operation: .subscribe, errno: EPERM, extack: "needs CAP_NET_ADMIN")) {
            _ = try channel.subscribe(name: "nope")
        }
        #expect(throws: NetlinkPushError.self) {
            _ = try channel.subscribe(name: "listen", options: .init(registerSubscriber: false))
        }
        #expect(await waitUntil(.seconds(1)) { kernel.openSockets == 1 } != nil, "a failed subscribe closes its sockets")

        let open = FakeKernel(privileged: false, unprivilegedListen: true)
        let listener = try NetlinkPushChannel(kernel: open).subscribe(name: "listen", options: .init(registerSubscriber: false))
        var r = Reading(listener)
        open.publish(count: 2)
        #expect(try await r.next(2) == events(1...2))
        #expect(open.subscriberNames.isEmpty)
    }

    @Test("bad arguments are refused before anything is sent")
    func invalidArguments() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        #expect(throws: NetlinkPushError.self) { _ = try channel.subscribe(name: "") }
        #expect(throws: NetlinkPushError.self) {
            _ = try channel.subscribe(name: "x", options: .init(registerSubscriber: false, responder: true))
        }
        await #expect(throws: NetlinkPushError.self) { _ = try await channel.replay(count: 0) }
        await #expect(throws: NetlinkPushError.self) { _ = try await channel.request(timeout: .seconds(61)) }
        #expect(kernel.stats.published == 0)
        #expect(await waitUntil(.seconds(1)) { kernel.openSockets == 1 } != nil)
    }

    @Test("the family id changed (module reloaded): a request re-resolves it and retries")
    func staleFamilyID() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let before = channel.familyID
        kernel.unload()
        await #expect(throws: NetlinkPushError.familyNotFound(family: "nlpush")) { _ = try await channel.stats() }
        kernel.reload()
        let stats = try await channel.stats()
        #expect(stats.epoch == kernel.epoch)
        #expect(channel.familyID == kernel.familyID)
        #expect(channel.familyID != before)
        kernel.unload()
        kernel.reload()
        try channel.refresh()
        #expect(channel.familyID == kernel.familyID)
    }

    @Test("a channel cannot open while the module is unloaded")
    func notLoaded() async {
        let kernel = FakeKernel()
        kernel.unload()
        #expect(throws: NetlinkPushError.familyNotFound(family: "nlpush")) { _ = try NetlinkPushChannel(kernel: kernel) }
        #expect(await waitUntil(.seconds(1)) { kernel.openSockets == 0 } != nil)
    }

    @Test("control calls time out when the kernel does not answer, and many run at once")
    func controlTimeoutsAndConcurrency() async throws {
        let kernel = FakeKernel()
        let control = try ControlConnection(transport: FakeTransport(kernel: kernel))
        kernel.ignoreNext(.getStats)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: NetlinkPushError.timedOut(operation: .stats)) {
            try await control.perform(.getStats, familyID: kernel.familyID, timeoutMs: 50)
        }
        #expect(clock.now - start < (Timing.inVM ? .seconds(10) : .seconds(2)))
        // a blocking call times out the same way
        kernel.ignoreNext(.getStats)
        #expect(throws: NetlinkPushError.timedOut(operation: .stats)) {
            try control.performBlocking(.getStats, familyID: kernel.familyID, timeoutMs: 50)
        }
        // 200 calls in flight on one socket, each matched to its own answer; replays (dumps)
        // are queued one at a time
        kernel.publish(count: 5)
        let counts = await withTaskGroup(of: Int.self) { group in
            for i in 0..<200 {
                group.addTask {
                    var n = 0
                    do throws(NetlinkPushError) {
                        if i % 2 == 0 {
                            try await control.perform(.replay(from: UInt64(i % 5) + 1), familyID: kernel.familyID) { _ in n += 1 }
                        } else {
                            try await control.perform(.getStats, familyID: kernel.familyID) { _ in n += 1 }
                        }
                    } catch {
                        return -1
                    }
                    return n
                }
            }
            var all: [Int] = []
            for await n in group { all.append(n) }
            return all
        }
        #expect(counts.count == 200)
        #expect(!counts.contains(-1))
        // 100 GET_STATS answers; 100 replays from 1, 2, 3, 4 and 5 (20 each) of 5...1 events
        let ones = counts.filter { $0 == 1 }.count
        let total = counts.reduce(0, +)
        #expect(ones == 120)
        #expect(total == 400)
        // closing fails what is pending and later calls
        control.close()
        await #expect(throws: NetlinkPushError.closed) { try await control.perform(.getStats, familyID: kernel.familyID) }
    }

    @Test("a replay of 60 KB events: one datagram each through the control socket")
    func largeReplay() async throws {
        let kernel = FakeKernel()
        let small = try ControlConnection(transport: FakeTransport(kernel: kernel), bufferSize: 0)
        kernel.publish(payload: [UInt8](repeating: 1, count: 60_000))
        kernel.publish(payload: [UInt8](repeating: 2, count: 60_000))
        kernel.publish(payload: [UInt8](repeating: 3, count: 60_000))
        var sizes: [Int] = []
        try await small.perform(.replay(from: 1), familyID: kernel.familyID) { g in
            sizes.append((try? MessageDecoder.event(g, receivedNs: 0))?.payload.count ?? -1)
        }
        #expect(sizes == [60_000, 60_000, 60_000])
    }
}
