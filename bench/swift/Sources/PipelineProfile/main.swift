// Drives a whole subscription (reader thread, hand-off, consumer) over the in-memory
// FakeKernel: ROUNDS rounds of BURST events of SIZE bytes, each round published at
// once and consumed before the next, with nextEventBatch() ("views") or nextBatch()
// ("owned", the default). For valgrind --tool=callgrind (BENCHMARKS.md, profiling
// item 7): instructions per event of the library's own pipeline, by thread
// (--separate-threads=yes) or inside one function (--toggle-collect), two ROUNDS
// differenced to remove start-up; the fake kernel's share is in its own functions.
//
//   swift build -c release --product PipelineProfile
//   valgrind --tool=callgrind --toggle-collect='*ReaderC11handleBatch*' \
//       .build/release/PipelineProfile 120 256 64 views
//
//   PipelineProfile ROUNDS [BURST] [SIZE] [views|owned]
import Dispatch
import NetlinkPush
import NetlinkPushTesting

#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
let rounds = args.count > 1 ? Int(args[1]) ?? 10 : 10
let burst = args.count > 2 ? Int(args[2]) ?? 256 : 256
let size = args.count > 3 ? Int(args[3]) ?? 64 : 64
let views = args.count > 4 && args[4] == "views"

let kernel = FakeKernel(ringCapacity: 1 << 22)  // never full: no ring eviction in the profile
let channel = try NetlinkPushChannel(kernel: kernel)
let sub = try channel.subscribe(name: "profile")

nonisolated func run(_ sub: Subscription, _ kernel: FakeKernel) async throws -> (received: Int, checksum: UInt64) {
    let payload = [UInt8](repeating: 0xab, count: size)
    var it = sub.events.makeAsyncIterator()
    var received = 0
    var checksum: UInt64 = 0
    var last: UInt64 = 0
    // What the consumer does with each event: check its order, read its payload.
    func take(seq: UInt64, payloadCount: Int, timestampNs: UInt64) {
        precondition(seq == last + 1)
        last = seq
        checksum &+= UInt64(payloadCount) &+ timestampNs
        received += 1
    }
    for round in 1...rounds {
        kernel.atomically {
            for _ in 0..<burst { kernel.publish(type: 7, payload: payload) }
        }
        while received < round * burst {
            if views {
                guard let batch = try await it.nextEventBatch() else { fatalError("the subscription ended") }
                for case .event(let e) in batch {
                    take(seq: e.seq, payloadCount: e.payload.count, timestampNs: e.timestampNs)
                }
            } else {
                guard let batch = try await it.nextBatch() else { fatalError("the subscription ended") }
                for case .event(let e) in batch {
                    take(seq: e.seq, payloadCount: e.payload.count, timestampNs: e.timestampNs)
                }
            }
        }
    }
    return (received, checksum)
}

// Synchronous top level: valgrind does not survive the exit of an async main
// (libdispatch's signal thread).
let done = DispatchSemaphore(value: 0)
Task.detached {
    let (received, checksum) = try await run(sub, kernel)
    print("received \(received) checksum \(checksum)")
    done.signal()
}
done.wait()
exit(0)
