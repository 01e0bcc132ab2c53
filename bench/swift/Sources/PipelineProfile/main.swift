// Drives a whole subscription (reader thread, hand-off, consumer) over the in-memory
// FakeKernel: ROUNDS rounds of BURST events of SIZE bytes, each round published at
// once and consumed with nextBatch() before the next. For valgrind --tool=callgrind
// (instructions per event of the library's own pipeline; the fake kernel's share is
// attributed to its own functions).
//
//   PipelineProfile ROUNDS [BURST] [SIZE] [views|owned]
import NetlinkPush
import NetlinkPushTesting
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
let rounds = args.count > 1 ? Int(args[1]) ?? 10 : 10
let burst = args.count > 2 ? Int(args[2]) ?? 256 : 256
let size = args.count > 3 ? Int(args[3]) ?? 64 : 64
/// "views": the consumer takes EventBatch (nextEventBatch), else owned events (nextBatch).
let views = args.count > 4 && args[4] == "views"

let kernel = FakeKernel(ringCapacity: 1 << 22)  // never full: no ring eviction in the profile
let channel = try NetlinkPushChannel(kernel: kernel)
let sub = try channel.subscribe(name: "profile")
let payload = [UInt8](repeating: 0xab, count: size)
nonisolated func run(_ sub: Subscription, _ kernel: FakeKernel, views: Bool) async throws -> (Int, UInt64) {
var it = sub.events.makeAsyncIterator()
var received = 0
var checksum: UInt64 = 0
var last: UInt64 = 0
for _ in 0..<rounds {
    kernel.atomically {
        for _ in 0..<burst { kernel.publish(type: 7, payload: payload) }
    }
    var got = 0
    while got < burst {
        if views {
            guard let batch = try await it.nextEventBatch() else { fatalError("ended") }
            for item in batch {
                guard case .event(let e) = item else { continue }
                precondition(e.seq == last + 1)
                last = e.seq
                checksum &+= UInt64(e.payload.count) &+ e.timestampNs
                got += 1
            }
            continue
        }
        guard let batch = try await it.nextBatch() else { fatalError("ended") }
        for item in batch {
            guard case .event(let e) = item else { continue }
            precondition(e.seq == last + 1)
            last = e.seq
            checksum &+= UInt64(e.payload.count) &+ e.timestampNs
            got += 1
        }
    }
    received += got
}
return (received, checksum)
}
// Synchronous top level: valgrind does not survive the exit of an async main
// (libdispatch's signal thread).
let done = DispatchSemaphore(value: 0)
Task.detached {
    let (received, checksum) = try await run(sub, kernel, views: views)
    print("received \(received) checksum \(checksum)")
    done.signal()
}
done.wait()
exit(0)
