import Foundation
import Synchronization
import Testing
@testable import NetlinkPush
import NetlinkPushTesting

@Suite("acks, responders and requests (fake kernel)", .timeLimit(.minutes(1)), .disabled(if: Timing.inVM, fakeKernelInVM))
struct RequestTests {
    let kernel = FakeKernel()
    let channel: NetlinkPushChannel

    init() throws { channel = try NetlinkPushChannel(kernel: kernel) }

    @Test("a plain ack reaches the kernel with the event's epoch; acks of another load are ESTALE")
    func plainAck() async throws {
        let sub = try channel.subscribe(name: "acker")
        var r = Reading(sub)
        kernel.publish(count: 3)
        let items = try await r.items(3)
        for item in items { try await sub.ack(try #require(item.event)) }
        #expect(kernel.stats.acks == 3)
        let me = try #require(try await channel.subscribers().first)
        #expect(me.acks == 3)
        #expect(me.lastAckedSeq == 3)
        // a sequence number never published
        await #expect(throws: NetlinkPushError.rejected(operation: .ack, errno: EINVAL, extack: "sequence number was never published")) {
            try await sub.ack(Event(seq: 99, epoch: kernel.epoch))
        }
        // after a reload, the old events' acks are refused
        let old = try #require(items.first?.event)
        kernel.unload()
        kernel.reload()
        #expect(try await r.next(2) == ["disconnected", "reconnected"])
        kernel.publish()
        #expect(try await r.next(1) == ["e1"])
        await #expect(throws: NetlinkPushError.rejected(operation: .ack, errno: ESTALE, extack: "epoch belongs to another load of the module")) {
            try await sub.ack(old)
        }
        #expect(kernel.stats.acksRejected == 1, "counters restart with the load")
    }

    @Test("a batch is acked with one message per run of consecutive plain events; requests are left out")
    func batchAck() async throws {
        let sub = try channel.subscribe(name: "batch-acker")
        var r = Reading(sub)
        kernel.publish(count: 5)  // 1...5
        _ = kernel.publish(flags: .replyWanted)  // 6: a request, not acked by a range
        kernel.publish(count: 3)  // 7...9
        var got: [SubscriptionItem] = []
        while got.count < 9, let batch = try await r.iterator.nextBatch() { got += batch }
        #expect(got.map { describe($0) } == events(1...9), "nextBatch hands every item over once, in order")
        let before = kernel.received(.ack)
        try await sub.ack(got.compactMap(\.event))
        #expect(kernel.received(.ack) - before == 2, "1...5 and 7...9: two ACK SEQ COUNT messages")
        #expect(kernel.stats.acks == 8, "each event of a range counts")
        let me = try #require(try await channel.subscribers().first)
        #expect(me.acks == 8 && me.lastAckedSeq == 9)
        // an empty batch, or requests only, sends nothing
        try await sub.ack([Event]())
        try await sub.ack([Event(seq: 6, flags: .replyWanted, epoch: kernel.epoch)])
        #expect(kernel.received(.ack) - before == 2)
        // a range past the newest event, with the kernel's extack
        await #expect(
            throws: NetlinkPushError.rejected(
                operation: .ack, errno: EINVAL, extack: "the range goes beyond the newest published event")
        ) {
            try await sub.ack([Event(seq: 9, epoch: kernel.epoch), Event(seq: 10, epoch: kernel.epoch)])
        }
        #expect(kernel.stats.acks == 8 && kernel.stats.acksRejected == 1)
    }

    @Test("nextBatch after next: the rest of the batch in hand, nothing twice")
    func nextBatchAfterNext() async throws {
        let sub = try channel.subscribe(name: "batches")
        var r = Reading(sub)
        kernel.publish(count: 50)
        var seen: [String] = []
        while seen.count < 50 {
            if let item = try await r.iterator.next() { seen.append(describe(item)) }
            guard seen.count < 50, let batch = try await r.iterator.nextBatch() else { continue }
            #expect(!batch.isEmpty)
            seen += batch.map { describe($0) }
        }
        #expect(seen == events(1...50))
    }

    @Test("a responder answers a request: the requester gets status, payload and the responder's port")
    func requestAnswered() async throws {
        let responder = try channel.respond(name: "answers")
        let answering = Task {
            for try await item in responder.events {
                guard case .event(let e) = item, e.wantsReply else { continue }
                try await responder.ack(e, status: 7, reply: e.payload.reversed())
                return e.seq
            }
            return 0
        }
        let reply = try await channel.request(type: 5, payload: [1, 2, 3], timeout: .seconds(5))
        #expect(reply.status == 7)
        #expect(reply.payload == [3, 2, 1])
        #expect(reply.portID == responder.portID)
        #expect(reply.seq == 1)
        #expect(try await answering.value == 1)
        let stats = kernel.stats
        #expect(stats.requests == 1)
        #expect(stats.replies == 1)
        #expect(stats.requestsPending == 0)
    }

    @Test("an answer handler answers on the reader thread, before anyone reads the events")
    func inlineAnswer() async throws {
        let calls = Mutex<[UInt64]>([])
        let responder = try channel.respond(name: "inline") { e in
            calls.withLock { $0.append(e.seq) }
            return e.type == 5 ? Answer(status: 7, reply: e.payload.reversed()) : nil
        }
        kernel.publish(count: 2)  // plain events: not the handler's
        // nobody iterates the events yet: only the reader thread can answer this one
        let reply = try await channel.request(type: 5, payload: [1, 2, 3], timeout: .seconds(5))
        #expect(reply.status == 7 && reply.payload == [3, 2, 1] && reply.portID == responder.portID)
        #expect(calls.withLock { $0 } == [3], "called for the request only")
        // a request the handler leaves (nil) is answered in the loop, as without a handler
        let left = Task { try await channel.request(type: 6, payload: [9], timeout: .seconds(5)) }
        var r = Reading(responder)
        let items = try await r.items(4)
        #expect(items.map { describe($0) } == events(1...4))
        #expect(items[0].event?.answered == nil && items[1].event?.answered == nil)
        let answered = try #require(items[2].event?.answered)
        #expect(answered.isAccepted && answered.answer == Answer(status: 7, reply: [3, 2, 1]))
        let request = try #require(items[3].event)
        #expect(request.wantsReply && request.answered == nil)
        try await responder.ack(request, status: 1, reply: [8])
        #expect(try await left.value.status == 1)
        #expect(calls.withLock { $0 } == [3, 4])
        #expect(kernel.stats.replies == 2 && kernel.stats.requestsPending == 0)
    }

    @Test("an answer the kernel refuses is reported in Event.answered; the request stays pending")
    func inlineAnswerRefused() async throws {
        let responder = try channel.respond(name: "inline-bad") { e in
            Answer(status: 0, reply: [UInt8](repeating: 1, count: 61441))  // over the limit
        }
        let requester = Task { try await channel.request(payload: [1], timeout: .milliseconds(300)) }
        var r = Reading(responder)
        let request = try #require(try await r.items(1).first?.event)
        let answered = try #require(request.answered)
        #expect(!answered.isAccepted)
        guard case .invalidArgument = answered.error else {
            Issue.record("want invalidArgument, got \(String(describing: answered.error))")
            return
        }
        await #expect(throws: NetlinkPushError.self) { _ = try await requester.value }  // its timeout
        #expect(kernel.stats.requestTimeouts == 1)
        // once expired, an answer is refused with ENOENT: what respond reports as "expired"
        await #expect(throws: NetlinkPushError.rejected(
            operation: .ack, errno: ENOENT,
            extack: "no pending request for this sequence number (expired or already answered)")
        ) { try await responder.ack(request, status: 0) }
    }

    @Test("answering twice: ENOENT; a request acked without status: invalid; by a watcher: EPERM")
    func answerRules() async throws {
        let responder = try channel.respond(name: "answers")
        let watcher = try channel.subscribe(name: "watch")
        var rr = Reading(responder)
        var rw = Reading(watcher)
        let requester = Task { try await channel.request(payload: [1], timeout: .seconds(5)) }
        let request = try #require(try await rr.items(1).first?.event)
        #expect(request.wantsReply)
        #expect(try await rw.items(1).first?.event?.seq == request.seq)
        await #expect(throws: NetlinkPushError.self) { try await responder.ack(request) }  // no status
        await #expect(
            throws: NetlinkPushError.permissionDenied(
                operation: .ack, errno: EPERM, extack: "only a socket subscribed as responder may answer a request")
        ) { try await watcher.ack(request, status: 1) }
        // a plain ack of a request is refused by the kernel too
        await #expect(throws: NetlinkPushError.rejected(operation: .ack, errno: EINVAL, extack: "a request is answered with a status, by a responder")) {
            try await watcher.core.perform(.ack(seq: request.seq, status: nil, payload: nil))
        }
        try await responder.ack(request, status: 0)
        #expect(try await requester.value.status == 0)
        await #expect(
            throws: NetlinkPushError.rejected(
                operation: .ack, errno: ENOENT,
                extack: "no pending request for this sequence number (expired or already answered)")
        ) { try await responder.ack(request, status: 1) }
    }

    @Test("no responder: ENOTCONN at once, nothing published")
    func noResponder() async throws {
        await #expect(throws: NetlinkPushError.rejected(operation: .request, errno: ENOTCONN, extack: "no responder is registered")) {
            _ = try await channel.request(timeout: .seconds(5))
        }
        #expect(kernel.stats.published == 0)
    }

    @Test("a request nobody answers times out with the kernel's REPLY")
    func requestTimeout() async throws {
        let responder = try channel.respond(name: "silent")
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: NetlinkPushError.timedOut(operation: .request)) {
            _ = try await channel.request(timeout: .milliseconds(50))
        }
        #expect(clock.now - start < (Timing.inVM ? .seconds(10) : .seconds(2)))
        #expect(kernel.stats.requestTimeouts == 1)
        _ = responder
    }

    @Test("the last responder going away fails waiting requests with ENOTCONN")
    func responderGone() async throws {
        var responder: Subscription? = try channel.respond(name: "leaving")
        let requester = Task { try await channel.request(timeout: .seconds(10)) }
        #expect(await waitUntil(.seconds(5)) { kernel.pendingRequests.count == 1 } != nil)
        responder?.cancel()
        responder = nil
        await #expect(throws: NetlinkPushError.rejected(operation: .request, errno: ENOTCONN, extack: "the last responder went away before answering")) {
            _ = try await requester.value
        }
    }

    @Test("unloading fails waiting requests with ESHUTDOWN")
    func unloadFailsRequests() async throws {
        let responder = try channel.respond(name: "unload")
        let requester = Task { try await channel.request(timeout: .seconds(10)) }
        #expect(await waitUntil(.seconds(5)) { kernel.pendingRequests.count == 1 } != nil)
        kernel.unload()
        await #expect(throws: NetlinkPushError.rejected(operation: .request, errno: ESHUTDOWN, extack: "the nlpush module is being unloaded")) {
            _ = try await requester.value
        }
        _ = responder
    }

    @Test("cancelling a request ends the wait at once; the late answer is dropped")
    func requestCancelled() async throws {
        let responder = try channel.respond(name: "slow")
        var r = Reading(responder)
        let requester = Task { try await channel.request(payload: [4], timeout: .seconds(10)) }
        let request = try #require(try await r.items(1).first?.event)
        let clock = ContinuousClock()
        let start = clock.now
        requester.cancel()
        await #expect(throws: NetlinkPushError.cancelled(operation: .request)) { _ = try await requester.value }
        #expect(clock.now - start < Timing.prompt * 4)
        // the answer still reaches the kernel, and the channel goes on
        try await responder.ack(request, status: 3)
        #expect(try await channel.stats().replies == 1)
    }

    @Test("emit and ack of a stopped subscription: closed")
    func ackAfterStop() async throws {
        let sub = try channel.subscribe(name: "stopped")
        var r = Reading(sub)
        kernel.publish()
        let e = try #require(try await r.items(1).first?.event)
        sub.cancel()
        #expect(await waitUntil(.seconds(1)) { !sub.isActive } != nil)
        await #expect(throws: NetlinkPushError.closed) { try await sub.ack(e) }
    }
}
