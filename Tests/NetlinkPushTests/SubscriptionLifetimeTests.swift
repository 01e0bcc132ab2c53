import Foundation
import Testing
@testable import NetlinkPush
@testable import NetlinkPushTesting

@Suite("a subscription releases the transport when its loop ends (fake kernel)", .timeLimit(.minutes(1)), .disabled(if: Timing.inVM, fakeKernelInVM))
struct SubscriptionLifetimeTests {
    @Test("breaking out of the loop closes both sockets and drops the registration within 100 ms")
    func breakReleases() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let sub = try channel.subscribe(name: "short")
        #expect(kernel.openSockets == 3)
        kernel.publish(count: 3)
        var seen: [UInt64] = []
        var loopEnd: UInt64 = 0
        for try await item in sub.events {
            seen.append(item.event?.seq ?? 0)
            if seen.count == 2 {
                loopEnd = monotonicNow()
                break
            }
        }
        #expect(seen == [1, 2])
        #expect(await waitUntil(.seconds(2)) { kernel.openSockets == 1 && kernel.subscriberNames.isEmpty } != nil,
                "the subscription's sockets stay open")
        // timed by the kernel's clock at the last close, not by this task's polling
        let closedAt = kernel.state.withLock { $0.lastCloseNs }
        #expect(closedAt > loopEnd)
        // 100 ms on a host; a TCG-emulated test VM is 5 to 20 times slower
        let limitNs: UInt64 = Timing.inVM ? 1_000_000_000 : 100_000_000
        #expect(closedAt - loopEnd <= limitNs, "released \((closedAt - loopEnd) / 1_000_000) ms after the loop ended")
        #expect(!sub.isActive)
        await #expect(throws: NetlinkPushError.closed) { try await sub.ack(Event(seq: 1)) }
    }

    @Test("a second iterator throws a typed error and does not disturb the first")
    func secondIterator() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let sub = try channel.subscribe(name: "twice")
        var first = sub.events.makeAsyncIterator()
        var second = sub.events.makeAsyncIterator()
        await #expect(throws: NetlinkPushError.alreadyIterated(subscription: "twice")) { _ = try await second.next() }
        kernel.publish()
        #expect(try await first.next()?.event?.seq == 1)
        #expect(sub.isActive)
    }

    @Test("cancelling the consuming task stops the subscription; so does releasing an unused one")
    func cancellationAndRelease() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let sub = try channel.subscribe(name: "task")
        let consumer = Task {
            var n = 0
            for try await _ in sub.events { n += 1 }
            return n
        }
        kernel.publish()
        #expect(await waitUntil(.seconds(2)) { kernel.stats.published == 1 } != nil)
        consumer.cancel()
        _ = try await consumer.value
        #expect(await waitUntil(.milliseconds(500)) { kernel.openSockets == 1 } != nil)

        var unused: Subscription? = try channel.subscribe(name: "unused")
        #expect(kernel.openSockets == 3)
        unused = nil
        #expect(await waitUntil(.milliseconds(500)) { kernel.openSockets == 1 } != nil)
        _ = unused
    }
}
