/// A bounds-checked view over received bytes.
///
/// Reads are `loadUnaligned` from raw memory: the view never binds the memory it
/// reads (a recvmmsg() slot, a caller's array) to a type, and needs no alignment.
///
/// The checked readers are inlined (they are the receive path's inner loop); the
/// error, with its formatted reason, is built out of line only when a check fails.
struct ByteView {
    let base: UnsafeRawBufferPointer

    @inline(__always) var count: Int { base.count }

    @inline(__always) func u16(_ off: Int) throws(NetlinkPushError) -> UInt16 {
        guard off >= 0, off &+ 2 <= base.count else { throw ByteView.pastEnd(off) }
        return loadUnchecked(off)
    }
    @inline(__always) func u32(_ off: Int) throws(NetlinkPushError) -> UInt32 {
        guard off >= 0, off &+ 4 <= base.count else { throw ByteView.pastEnd(off) }
        return loadUnchecked(off)
    }
    @inline(__always) func u64(_ off: Int) throws(NetlinkPushError) -> UInt64 {
        guard off >= 0, off &+ 8 <= base.count else { throw ByteView.pastEnd(off) }
        return loadUnchecked(off)
    }
    @inline(__always) func u8(_ off: Int) throws(NetlinkPushError) -> UInt8 {
        guard off >= 0, off < base.count else { throw ByteView.pastEnd(off) }
        return loadUnchecked(off)
    }
    @inline(__always) func slice(_ off: Int, _ len: Int) throws(NetlinkPushError) -> ByteView {
        guard off >= 0, len >= 0, off &+ len <= base.count else { throw ByteView.outside(off, len, base.count) }
        return sliceUnchecked(off, len)
    }

    /// A read the caller has bounds-checked already (`off + size <= count`).
    @inline(__always) func loadUnchecked<T: FixedWidthInteger>(_ off: Int) -> T {
        assert(off >= 0 && off + MemoryLayout<T>.size <= base.count)
        // off + size <= count, so count > 0 and the buffer has a base address.
        return base.baseAddress.unsafelyUnwrapped.loadUnaligned(fromByteOffset: off, as: T.self)
    }
    /// A sub-view the caller has bounds-checked already.
    @inline(__always) func sliceUnchecked(_ off: Int, _ len: Int) -> ByteView {
        assert(off >= 0 && len >= 0 && off + len <= base.count)
        guard let p = base.baseAddress else { return self }
        return ByteView(base: UnsafeRawBufferPointer(start: p + off, count: len))
    }

    /// A copy of the bytes: one allocation and a memmove (UnsafeRawBufferPointer's own
    /// `_copyContents`), reading the receive buffer as raw bytes, never bound to a type.
    /// Callgrind, recorded 64 B stream: 1,036 instructions per decoded event against
    /// 1,028 with the former `assumingMemoryBound` copy; `unsafeUninitializedCapacity`
    /// with `copyMemory` measured 1,444.
    var bytes: [UInt8] { Array(base) }

    @inline(never) static func pastEnd(_ off: Int) -> NetlinkPushError {
        .malformed(reason: "read past end at offset \(off)")
    }
    @inline(never) static func outside(_ off: Int, _ len: Int, _ count: Int) -> NetlinkPushError {
        .malformed(reason: "range \(off)..<\(off + len) outside \(count) bytes")
    }
}
