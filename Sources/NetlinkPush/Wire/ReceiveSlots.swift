internal import CNetlink
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// The buffers of ``NLSocket/receiveMany(into:)``: `count` slots of `slotSize` bytes
/// each (a slot holds one datagram, so at least the largest message), with their
/// `msghdr`s, set up once. Only touched pages become resident: small events use the
/// first page of each slot. Another ``TransportSocket`` fills them with
/// ``store(_:_:sender:truncated:)``, as the kernel does.
package final class ReceiveSlots {
    /// How many datagrams one call reads at most.
    package let count: Int
    /// Bytes one slot holds.
    package let slotSize: Int
    let headers: UnsafeMutablePointer<cnl_mmsghdr>
    private let iovecs: UnsafeMutablePointer<iovec>
    private let addresses: UnsafeMutablePointer<sockaddr_nl>
    private let memory: UnsafeMutableRawPointer

    package init(count: Int, slotSize: Int) {
        self.count = count
        self.slotSize = slotSize
        memory = .allocate(byteCount: count * slotSize, alignment: 16)
        headers = .allocate(capacity: count)
        headers.initialize(repeating: cnl_mmsghdr(), count: count)
        iovecs = .allocate(capacity: count)
        addresses = .allocate(capacity: count)
        addresses.initialize(repeating: sockaddr_nl(), count: count)
        for i in 0..<count {
            (iovecs + i).initialize(to: iovec(iov_base: memory + i * slotSize, iov_len: slotSize))
            headers[i].msg_hdr.msg_name = UnsafeMutableRawPointer(addresses + i)
            headers[i].msg_hdr.msg_iov = iovecs + i
            headers[i].msg_hdr.msg_iovlen = 1
        }
    }

    deinit {
        memory.deallocate()
        headers.deallocate()
        iovecs.deallocate()
        addresses.deallocate()
    }

    /// Resets what the kernel writes back (address length, flags) before a call.
    func prepare() {
        for i in 0..<count {
            headers[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_nl>.size)
            headers[i].msg_hdr.msg_flags = 0
        }
    }

    /// Stores one datagram in slot `i`, as `recvmmsg()` does: the bytes that fit,
    /// its whole length, `MSG_TRUNC` when it did not fit (or `truncated`), and the
    /// sender's port (0 for the kernel).
    package func store(_ i: Int, _ datagram: [UInt8], sender: UInt32 = 0, truncated: Bool = false) {
        precondition(i >= 0 && i < count, "slot \(i) of \(count)")
        let n = min(datagram.count, slotSize)
        datagram.withUnsafeBytes { raw in
            if let base = raw.baseAddress, n > 0 { (memory + i * slotSize).copyMemory(from: base, byteCount: n) }
        }
        headers[i].msg_len = UInt32(truncatingIfNeeded: datagram.count)
        headers[i].msg_hdr.msg_flags = truncated || datagram.count > slotSize ? Int32(MSG_TRUNC) : 0
        addresses[i].nl_pid = sender
    }

    /// What slot `i` of the last call holds.
    func result(_ i: Int) -> SlotResult {
        let h = headers[i]
        let len = Int(h.msg_len)
        if h.msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 { return .truncated(len) }
        if addresses[i].nl_pid != 0 { return .foreign }
        return .data(UnsafeRawBufferPointer(start: memory + i * slotSize, count: min(len, slotSize)))
    }

    enum SlotResult {
        /// One datagram (a batch of netlink messages).
        case data(UnsafeRawBufferPointer)
        /// The datagram did not fit the slot (MSG_TRUNC): bytes were lost.
        case truncated(Int)
        /// A datagram that did not come from the kernel (ignored).
        case foreign
    }
}

// MARK: - eventfd, poll, clock
