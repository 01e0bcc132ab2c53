import Foundation
import Testing
@testable import NetlinkPush
import NetlinkPushTesting

@Suite("EventBatch: events with borrowed payloads (fake kernel)", .timeLimit(.minutes(1)), .disabled(if: Timing.inVM, fakeKernelInVM))
struct EventBatchTests {
    let kernel = FakeKernel()
    let channel: NetlinkPushChannel

    init() throws { channel = try NetlinkPushChannel(kernel: kernel) }

    /// Payload of event i: i bytes (0 to 39, then a 60 KiB one), a pattern of i.
    static func payload(_ i: Int) -> [UInt8] {
        let size = i == 40 ? 61440 : i
        return (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
    }

    @Test("nextEventBatch yields what next() yields: every item once, in order, payloads in one shared buffer")
    func sameItems() async throws {
        var options = SubscriptionOptions()
        options.recovery = false  // a dropped event is reported lost: a notice amid the events
        let owned = try channel.subscribe(name: "owned", options: options)
        let borrowed = try channel.subscribe(name: "borrowed", options: options)
        var ownedReader = Reading(owned)
        var views = borrowed.events.makeAsyncIterator()
        kernel.atomically {
            for i in 0..<20 { kernel.publish(type: UInt32(i), payload: Self.payload(i)) }
            kernel.dropNext(2)
            for i in 20..<41 { kernel.publish(type: UInt32(i), payload: Self.payload(i)) }
        }
        // 41 published, 2 of them (seq 21 and 22) dropped: 39 events and one loss notice
        let expected = try await ownedReader.items(40)
        #expect(expected.map { describe($0) } == events(1...20) + ["lost 21...22"] + events(23...41))
        var got: [EventBatch.Element] = []
        var batches = 0
        while got.count < 40, let batch = try await views.nextEventBatch() {
            #expect(!batch.isEmpty)
            batches += 1
            // the views of one batch lie back to back in one buffer: no allocation each
            var next: UnsafePointer<UInt8>?
            for view in batch.events {
                view.payload.withUnsafeBufferPointer { p in
                    guard let base = p.baseAddress else { return }
                    if let next { #expect(base == next, "seq \(view.seq): payload right after the previous one") }
                    next = base + p.count
                }
            }
            #expect(batch.items.map { describe($0) } == batch.map { describe($0.item) })
            got += batch
        }
        #expect(got.count == 40)
        #expect(batches >= 1)
        for (item, want) in zip(got, expected) {
            switch (item, want) {
            case (.event(let view), .event(let event)):
                var copy = view.event
                #expect(copy.receivedNs == view.receivedNs)
                copy.receivedNs = event.receivedNs  // two subscriptions: two receptions
                #expect(copy == event, "the owned copy of a view is the event next() yields")
                #expect(Array(view.payload) == event.payload)
                #expect(view.seq == event.seq && view.type == event.type && view.flags == event.flags)
                #expect(view.timestampNs == event.timestampNs && view.epoch == event.epoch)
                #expect(view.receivedNs > 0 && view.latencyNs == view.receivedNs - view.timestampNs)
                #expect(view.answered == nil && !view.wantsReply)
            case (.notice(let notice), let want):
                #expect(describe(notice) == describe(want))
                #expect(notice.event == nil)
            default:
                Issue.record("\(describe(item.item)) where next() gave \(describe(want))")
            }
        }
        let last = try #require(got.last?.event)
        #expect(last.payload.count == 61440 && Array(last.payload) == Self.payload(40))
    }

    @Test("nextEventBatch after next: the rest of the batch in hand, nothing twice; an ended sequence gives nil")
    func mixedWithNext() async throws {
        let sub = try channel.subscribe(name: "mixed")
        var it = sub.events.makeAsyncIterator()
        kernel.publish(count: 30)
        var seen: [String] = []
        while seen.count < 30 {
            if let item = try await it.next() { seen.append(describe(item)) }
            guard seen.count < 30, let batch = try await it.nextEventBatch() else { continue }
            #expect(!batch.isEmpty)
            seen += batch.map { describe($0.item) }
            if seen.count < 30, let more = try await it.nextBatch() { seen += more.map { describe($0) } }
        }
        #expect(seen == events(1...30))
        sub.cancel()
        let end = try await it.nextEventBatch()
        #expect(end?.count == nil, "the sequence ends with the subscription")
    }

    @Test("ack(batch) acknowledges each run of plain events with one message; requests are left out")
    func ackBatch() async throws {
        let sub = try channel.subscribe(name: "batch-acker")
        var it = sub.events.makeAsyncIterator()
        kernel.atomically {
            kernel.publish(count: 5)  // 1...5
            _ = kernel.publish(flags: .replyWanted)  // 6: a request
            kernel.publish(count: 3)  // 7...9
        }
        var seqs: [UInt64] = []
        var batches = 0
        let before = kernel.received(.ack)
        while seqs.count < 9, let batch = try await it.nextEventBatch() {
            seqs += batch.events.map(\.seq)
            batches += 1
            try await sub.ack(batch)
        }
        #expect(seqs == Array(1...9))
        #expect(kernel.stats.acks == 8, "every plain event acknowledged, the request not")
        let messages = kernel.received(.ack) - before
        #expect(messages >= 2 && messages <= 2 + (batches - 1), "one message per run (\(batches) batches)")
        let me = try #require(try await channel.subscribers().first)
        #expect(me.acks == 8 && me.lastAckedSeq == 9)
        // nothing to acknowledge: nothing sent
        try await sub.ack([EventView]())
        #expect(kernel.received(.ack) - before == messages)
    }
}
