import Foundation
import Logging
import Testing
@testable import NetlinkPush

/// A subscription with its real core (control socket and eventfd, opened on the host)
/// but no reader thread: the test plays the reader through the core's continuation.
private struct Harness {
    let sub: Subscription
    let core: SubscriptionCore

    init(name: String = "host") throws {
        let (stream, continuation) = AsyncStream<EventBatch>.makeStream()
        let core = SubscriptionCore(
            name: name, options: .init(), logger: NetlinkPushChannel.silentLogger, control: try ControlConnection(),
            wake: try EventFD(), family: FamilyInfo(id: 0x7ff0, version: 2, eventsGroup: 1),
            continuation: continuation)
        continuation.onTermination = { _ in core.stop() }
        self.core = core
        sub = Subscription(core: core, stream: stream)
    }

    /// What the reader thread hands over.
    func yield(_ seqs: ClosedRange<UInt64>) {
        for _ in seqs { core.reserveNotice() }
        _ = core.continuation.yield(EventBatch(items: seqs.map { .event(Event(seq: $0)) }))
    }

    /// Closes the sockets, as the reader thread does when it exits.
    func close() { core.readerDidExit() }
}

private struct BodyFailed: Error {}

@Suite("subscription lifetime follows its iteration (no kernel needed)")
struct LifetimeTests {
    @Test("breaking out of the loop stops the subscription")
    func breakStops() async throws {
        let h = try Harness()
        defer { h.close() }
        h.yield(1...3)
        var seen: [UInt64] = []
        for try await item in h.sub.events {
            seen.append(item.event?.seq ?? 0)
            if seen.count == 2 { break }
        }
        #expect(seen == [1, 2])
        #expect(h.core.isStopping, "the loop ended but the subscription runs on")
        // the subscription object is still held, and says so
        await #expect(throws: NetlinkPushError.closed) { try await h.sub.ack(Event(seq: 1)) }
    }

    @Test("an error thrown in the loop body stops the subscription")
    func errorInBodyStops() async throws {
        let h = try Harness()
        defer { h.close() }
        h.yield(1...1)
        await #expect(throws: BodyFailed.self) {
            for try await _ in h.sub.events { throw BodyFailed() }
        }
        #expect(h.core.isStopping)
    }

    @Test("releasing the iterator stops the subscription; a second iterator is a typed error")
    func iteratorReleaseAndSecondIterator() async throws {
        let h = try Harness()
        defer { h.close() }
        h.yield(1...2)
        var first: Subscription.Events.AsyncIterator? = h.sub.events.makeAsyncIterator()
        var second = h.sub.events.makeAsyncIterator()
        await #expect(throws: NetlinkPushError.alreadyIterated(subscription: "host")) { _ = try await second.next() }
        // the first one is not disturbed
        #expect(try await first?.next()?.event?.seq == 1)
        #expect(!h.core.isStopping)
        // copies of the iterator share the iteration: the last one going away stops it
        var copy = first
        first = nil
        #expect(!h.core.isStopping)
        #expect(try await copy?.next()?.event?.seq == 2)
        copy = nil
        #expect(h.core.isStopping)
        // iterating again later is the same error, never a crash
        await #expect(throws: NetlinkPushError.self) {
            for try await _ in h.sub.events {}
        }
    }

    @Test("cancelling the consuming task ends the sequence and stops the subscription")
    func cancellationStops() async throws {
        let h = try Harness()
        defer { h.close() }
        let events = h.sub.events
        let started = AsyncStream<Void>.makeStream()
        let consumer = Task {
            var n = 0
            for try await _ in events {
                n += 1
                started.continuation.yield()
            }
            return n
        }
        h.yield(1...1)
        for await _ in started.stream { break }
        consumer.cancel()
        #expect(try await consumer.value == 1)
        #expect(h.core.isStopping)
    }

    @Test("the reader's failure is thrown typed, once, then the sequence ends")
    func failureIsTyped() async throws {
        let h = try Harness()
        defer { h.close() }
        h.yield(1...1)
        h.core.finish(throwing: .socket(operation: .receive, errno: 9, detail: "poll"))
        var it = h.sub.events.makeAsyncIterator()
        #expect(try await it.next()?.event?.seq == 1)
        do {
            _ = try await it.next()
            Issue.record("no error")
        } catch {
            // typed: `error` is a NetlinkPushError, no cast
            #expect(error == .socket(operation: .receive, errno: 9, detail: "poll"))
        }
        #expect(try await it.next() == nil)
        #expect(h.core.isStopping)
    }

    @Test("iterating a subscription nobody else holds keeps it alive until the loop ends")
    func iteratedTemporary() async throws {
        var h: Harness? = try Harness()
        let core = try #require(h?.core)
        defer { core.readerDidExit() }
        var it = try #require(h?.sub.events.makeAsyncIterator())
        h = nil  // the subscription and its sequence are gone: only the iterator is left
        #expect(!core.isStopping)
        core.reserveNotice()
        _ = core.continuation.yield(EventBatch(items: [.event(Event(seq: 1))]))
        #expect(try await it.next()?.event?.seq == 1)
        #expect(!core.isStopping)
        _ = consume it
        #expect(core.isStopping)
    }

    @Test("a subscription never iterated stops when its last handle goes away")
    func unusedSubscriptionStops() throws {
        var h: Harness? = try Harness()
        let core = try #require(h?.core)
        defer { core.readerDidExit() }
        h = nil
        #expect(core.isStopping)
    }
}

@Suite("resuming from a sequence number (no kernel needed)")
struct ResumePlanTests {
    @Test func sameLoad() throws {
        let p = try ResumePlan(resuming: ResumePoint(seq: 41, epoch: 7), kernelEpoch: 7, newest: 100)
        #expect(p == ResumePlan(baseline: 41, notice: nil))
        // up to date, or from the start of the load
        #expect(try ResumePlan(resuming: ResumePoint(seq: 100, epoch: 7), kernelEpoch: 7, newest: 100).baseline == 100)
        #expect(try ResumePlan(resuming: ResumePoint(seq: 0, epoch: nil), kernelEpoch: 7, newest: 100).baseline == 0)
        // no epoch known: taken as this load's when it could be
        #expect(try ResumePlan(resuming: ResumePoint(seq: 41, epoch: nil), kernelEpoch: 7, newest: 100).baseline == 41)
        #expect(try ResumePlan(resuming: ResumePoint(seq: 41, epoch: 0), kernelEpoch: 7, newest: 100).baseline == 41)
    }

    @Test func anotherLoadIsReported() throws {
        // the caller's epoch is not the kernel's: a reload, whatever the numbers say
        #expect(
            try ResumePlan(resuming: ResumePoint(seq: 41, epoch: 5), kernelEpoch: 7, newest: 100)
                == ResumePlan(baseline: 0, notice: .reloaded(previousEpoch: 5, epoch: 7)))
        // no epoch, but beyond the newest event: numbers went back, only a reload does that
        #expect(
            try ResumePlan(resuming: ResumePoint(seq: 500, epoch: nil), kernelEpoch: 7, newest: 100)
                == ResumePlan(baseline: 0, notice: .reloaded(previousEpoch: nil, epoch: 7)))
    }

    @Test func futureSequenceOfTheCurrentLoadIsRefused() {
        #expect(throws: NetlinkPushError.self) {
            try ResumePlan(resuming: ResumePoint(seq: 101, epoch: 7), kernelEpoch: 7, newest: 100)
        }
    }
}

@Suite("logging")
struct LoggingTests {
    @Test("without a logger the library logs nowhere")
    func defaultLoggerIsNoOp() {
        #expect(NetlinkPushChannel.silentLogger.handler is SwiftLogNoOpLogHandler)
        #expect(NetlinkPushChannel.silentLogger.label == "nlpush")
    }

    @Test("the library logs at debug and trace levels only")
    func onlyDebugAndTrace() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/NetlinkPush").standardized
        let files = (FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty)
        let louder = try Regex(#"logger\.(info|notice|warning|error|critical|log)\("#)
        for f in files {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            for line in text.split(separator: "\n") where line.contains(louder) {
                Issue.record("\(f): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
    }
}
