import Foundation
import Testing
@testable import NetlinkPush
import NetlinkPushTesting

/// The name of the calling thread (the reader's is "nlpush-reader").
private func threadName() -> String {
    let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
    return comm.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("consuming on the reader thread: Subscription.readerExecutor (fake kernel)", .timeLimit(.minutes(1)),
       .disabled(if: Timing.inVM, fakeKernelInVM))
struct ReaderExecutorTests {
    @Test("every batch is taken on the reader thread; a small stream buffer pauses and resumes it; nothing lost")
    func consumesOnReaderThread() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let sub = try channel.subscribe(name: "inline", options: SubscriptionOptions(bufferCapacity: 16))
        let total = 2_000
        let result = await withTaskExecutorPreference(sub.readerExecutor) { () async -> (seqs: [UInt64], threads: Set<String>, other: [String]) in
            var seqs: [UInt64] = []
            var threads: Set<String> = []
            var other: [String] = []
            var items = sub.events.makeAsyncIterator()
            _ = kernel.publish(count: total)
            do {
                while seqs.count < total, let batch = try await items.nextEventBatch() {
                    threads.insert(threadName())
                    for item in batch {
                        if let e = item.event { seqs.append(e.seq) } else { other.append(describe(item.item)) }
                    }
                }
            } catch {
                other.append("\(error)")
            }
            return (seqs, threads, other)
        }
        #expect(result.threads == ["nlpush-reader"])
        #expect(result.other.isEmpty)
        #expect(result.seqs == Array(1...UInt64(total)))
    }

    @Test("an ack from the reader thread goes through; so does a publish between two batches")
    func ackFromReaderThread() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let sub = try channel.subscribe(name: "acker")
        let acked = try await withTaskExecutorPreference(sub.readerExecutor) { () async throws -> [String] in
            var reading = Reading(sub)
            var seen: [String] = []
            _ = kernel.publish(count: 3)
            for item in try await reading.items(3) {
                guard let e = item.event else { continue }
                #expect(threadName() == "nlpush-reader")
                try await sub.ack(e)
                #expect(threadName() == "nlpush-reader", "resumed after the ack elsewhere")
                seen.append(describe(item))
            }
            _ = kernel.publish()
            seen += try await reading.next(1)
            return seen
        }
        #expect(acked == events(1...4))
        #expect(kernel.stats.acks == 3)
    }

    @Test("once the subscription ended, code that prefers its reader thread runs on elsewhere")
    func runsOnAfterTheEnd() async throws {
        let kernel = FakeKernel()
        let channel = try NetlinkPushChannel(kernel: kernel)
        let sub = try channel.subscribe(name: "ending")
        let after = try await withTaskExecutorPreference(sub.readerExecutor) { () async throws -> [String] in
            var reading = Reading(sub)
            _ = kernel.publish(count: 2)
            var steps = try await reading.next(2)
            sub.cancel()
            steps += try await reading.next(1)  // the sequence ends
            // the reader thread is gone: these suspensions resume on the global executor
            #expect(await waitUntil(.seconds(2)) { !sub.isActive } != nil)
            try await Task.sleep(for: .milliseconds(5))
            steps.append(threadName() == "nlpush-reader" ? "on the reader" : "elsewhere")
            return steps
        }
        #expect(after == events(1...2) + ["elsewhere"])
        #expect(await waitUntil(.milliseconds(500)) { kernel.openSockets == 1 } != nil)
    }
}
