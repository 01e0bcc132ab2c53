// DecodeStream FILE [REPEAT]: decodes every netlink message of FILE (as written
// by bench/c/nlpush_cat --record) with the public `Event(decoding:receivedNs:)`,
// REPEAT times over, and prints one JSON line. Splitting the file into one
// [UInt8] per message happens once, before the loop, so that the instruction
// count of REPEAT=R2 minus REPEAT=R1 is the decode cost alone.
import NetlinkPush

#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String, _ code: Int32) -> Never {
    let bytes = Array("DecodeStream: \(message)\n".utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

func readFile(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { fail("cannot open \(path)", 66) }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n <= 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

func split(_ bytes: [UInt8]) -> [[UInt8]] {
    var msgs: [[UInt8]] = []
    var off = 0
    while off + 16 <= bytes.count {
        let len = Int(bytes[off]) | Int(bytes[off + 1]) << 8 | Int(bytes[off + 2]) << 16 | Int(bytes[off + 3]) << 24
        guard len >= 20, off + len <= bytes.count else { fail("bad message at offset \(off)", 65) }
        msgs.append(Array(bytes[off..<off + len]))
        off += (len + 3) & ~3
    }
    return msgs
}

@inline(never)
func decodeAll(_ msgs: [[UInt8]], repeat count: Int) -> (UInt64, UInt64) {
    var sum: UInt64 = 0
    var decoded: UInt64 = 0
    for _ in 0..<count {
        for m in msgs {
            do {
                let e = try Event(decoding: m, receivedNs: 1)
                sum &+= e.seq &+ e.timestampNs &+ UInt64(e.type) &+ UInt64(e.flags.rawValue)
                sum &+= UInt64(e.payload.count) &+ UInt64(e.payload.last ?? 0)
                decoded += 1
            } catch {
                fail("\(error)", 65)
            }
        }
    }
    return (decoded, sum)
}

let argv = CommandLine.arguments
guard argv.count >= 2 else { fail("usage: DecodeStream FILE [REPEAT]", 64) }
let msgs = split(readFile(argv[1]))
let repeatCount = argv.count > 2 ? Int(argv[2]) ?? 1 : 1
let (decoded, sum) = decodeAll(msgs, repeat: repeatCount)
print("{\"tool\":\"DecodeStream\",\"messages\":\(msgs.count),\"repeat\":\(repeatCount),\"decoded\":\(decoded),\"checksum\":\(sum)}")
