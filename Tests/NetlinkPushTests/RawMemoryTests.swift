#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import NetlinkPush

/// The decoders read raw, unbound, unaligned memory (what recvmmsg() writes into the
/// receive slots), and the descriptor owners close exactly once.
@Suite("Raw memory and descriptor ownership")
struct RawMemoryTests {
    /// Every byte offset 0..<8 into raw memory allocated with `allocate(byteCount:)` and
    /// never bound: a u64 attribute then sits at every alignment.
    @Test("events decode from raw, unbound memory at every alignment", arguments: 0..<8)
    func decodesUnalignedRawMemory(_ shift: Int) throws {
        let message = Fixture.event42
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: message.count + 8, alignment: 16)
        defer { raw.deallocate() }
        let region = UnsafeMutableRawBufferPointer(rebasing: raw[shift..<shift + message.count])
        region.copyBytes(from: message)
        var it = NetlinkMessageIterator(UnsafeRawBufferPointer(region))
        let m = try #require(try it.next())
        let e = try MessageDecoder.event(try GenlMessage(m), receivedNs: 0)
        #expect(e == (try Event(decoding: message)))
        #expect(e.seq == 42)
        #expect(e.payload == [1, 2, 3, 4, 5])
        #expect(try it.next() == nil)
        let view = ByteView(base: UnsafeRawBufferPointer(region))
        #expect(view.bytes == message)
        #expect(try view.slice(4, 2).bytes == Array(message[4..<6]))
        #expect(try view.u32(0) == UInt32(message.count))
    }

    @Test("a FileDescriptor closes its descriptor when it goes away")
    func fileDescriptorClosesOnce() throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { close(ends[1]) }
        func readerGone() -> Bool {
            var p = pollfd(fd: ends[1], events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 0)
            return p.revents & Int16(POLLERR) != 0
        }
        do {
            let owner = FileDescriptor(raw: ends[0])
            #expect(owner.raw == ends[0])
            #expect(!readerGone())
        }
        #expect(readerGone())
    }

    @Test("an EventFD wakes poll(), and after close() a signal is a no-op")
    func eventFDSignalAndClose() throws {
        let wake = try EventFD()
        func readable() -> Bool {
            var p = pollfd(fd: wake.fd, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, 0) == 1 && p.revents & Int16(POLLIN) != 0
        }
        #expect(!readable())
        wake.signal()
        #expect(readable())
        wake.drain()
        #expect(!readable())
        wake.close()
        wake.signal()  // must not write to the (closed, maybe reused) descriptor number
        wake.drain()
        wake.close()  // idempotent
    }
}
