// Swift-side cost of one nlpush event message, natively on the host (no VM):
// `Event(decoding:receivedNs:)`, the public decoder, over the event stream
// recorded from the real kernel module (bench/data/stream-SIZE.bin, written by
// bench/c/nlpush_cat --record inside the benchmark VM).
//
// Every iteration decodes 1,000 messages (scalingFactor .kilo): the wall clock
// of one iteration in microseconds is the cost of one message in nanoseconds.
//
// The reader's own path (BenchmarkBatchDecoder, @_spi(Benchmarks)): the same
// messages decoded in place into EventBatches of 256, as nextEventBatch() hands
// them over, without an allocation per event.
//
// Encoding: what the library encodes per event is the NLPUSH_CMD_ACK it sends
// (Subscription.ack), built with libnl exactly as the library builds it, through
// the @_spi(Benchmarks) entry point BenchmarkSupport.encodeAck (encode + free,
// no send).
import Benchmark
@_spi(Benchmarks) import NetlinkPush

#if canImport(Glibc)
import Glibc
#endif

/// bench/data, found from this file's path (the benchmark runs from anywhere).
func streamPath(_ size: Int) -> String {
    if let dir = getenv("NLPUSH_BENCH_STREAMS") { return "\(String(cString: dir))/stream-\(size).bin" }
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(5)  // bench/swift/Benchmarks/NetlinkPushBenchmarks/this.swift
    return parts.joined(separator: "/") + "/bench/data/stream-\(size).bin"
}

/// The messages of a recorded stream, one [UInt8] each.
func loadStream(_ size: Int) -> [[UInt8]] {
    let path = streamPath(size)
    guard let f = fopen(path, "rb") else { fatalError("cannot open \(path): run scripts/bench.sh first") }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    var msgs: [[UInt8]] = []
    var off = 0
    while off + 16 <= bytes.count {
        let len = Int(bytes[off]) | Int(bytes[off + 1]) << 8 | Int(bytes[off + 2]) << 16 | Int(bytes[off + 3]) << 24
        precondition(len >= 20 && off + len <= bytes.count, "bad message at offset \(off) of \(path)")
        msgs.append(Array(bytes[off..<off + len]))
        off += (len + 3) & ~3
    }
    precondition(!msgs.isEmpty, "\(path) holds no message")
    return msgs
}

let benchmarks: @Sendable () -> Void = {
    let smoke = getenv("NLPUSH_BENCH_SMOKE") != nil  // scripts/bench.sh --smoke
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        warmupIterations: smoke ? 1 : 3,
        scalingFactor: .kilo,
        maxDuration: smoke ? .milliseconds(200) : .seconds(3),
        maxIterations: smoke ? 20 : 100_000
    )

    for size in [64, 1024] where access(streamPath(size), R_OK) == 0 {
        let msgs = loadStream(size)
        Benchmark("Event(decoding:) \(size) B payload") { benchmark in
            var i = 0
            for _ in benchmark.scaledIterations {
                blackHole(try Event(decoding: msgs[i], receivedNs: 1))
                i += 1
                if i == msgs.count { i = 0 }
            }
        }
    }

    for size in [64, 1024] where access(streamPath(size), R_OK) == 0 {
        let msgs = loadStream(size)
        // What the reader thread does per received event on the way to
        // nextEventBatch(): decoded in place, payload copied into the batch's buffer.
        Benchmark("EventBatch append (reader path) \(size) B payload") { benchmark in
            var decoder = BenchmarkBatchDecoder()
            var i = 0
            for _ in benchmark.scaledIterations {
                blackHole(try decoder.decode(msgs[i], receivedNs: 1))
                i += 1
                if i == msgs.count { i = 0 }
            }
        }
    }

    Benchmark("ack encode (libnl), plain ack") { benchmark in
        var seq: UInt64 = 1
        for _ in benchmark.scaledIterations {
            blackHole(try BenchmarkSupport.encodeAck(seq: seq))
            seq &+= 1
        }
    }
    let reply = [UInt8](repeating: 0x5a, count: 64)
    Benchmark("ack encode (libnl), status + 64 B reply") { benchmark in
        var seq: UInt64 = 1
        for _ in benchmark.scaledIterations {
            blackHole(try BenchmarkSupport.encodeAck(seq: seq, status: 0, reply: reply))
            seq &+= 1
        }
    }
}
