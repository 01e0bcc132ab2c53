public import NetlinkPush
public import Logging
internal import Dispatch
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

extension NetlinkPushChannel {
    /// Opens a channel on an in-memory ``FakeKernel`` instead of the Linux kernel: for
    /// host tests of code built on NetlinkPush. Everything else (subscriptions, control
    /// requests, recovery, reconnection) works as on a real kernel.
    ///
    /// - Throws: ``NetlinkPush/NetlinkPushError/familyNotFound(family:)`` while the
    ///   fake module is unloaded.
    public convenience init(kernel: FakeKernel, logger: Logger? = nil) throws(NetlinkPushError) {
        try self.init(transport: FakeTransport(kernel: kernel), logger: logger)
    }
}

/// The ``FakeKernel`` seen through the library's transport seam.
struct FakeTransport: Transport {
    let kernel: FakeKernel

    func openSocket(_ role: SocketRole) throws(NetlinkPushError) -> any TransportSocket {
        let isEvents: Bool
        switch role {
        case .control: isEvents = false
        case .events: isEvents = true
        }
        let (port, fd) = try kernel.state.withLock { (s) throws(NetlinkPushError) in try s.openSocket(isEvents: isEvents) }
        return FakeSocket(kernel: kernel, portID: port, pollDescriptor: fd)
    }

    func resolveFamily() throws(NetlinkPushError) -> FamilyInfo {
        try kernel.state.withLock { (s) throws(NetlinkPushError) -> FamilyInfo in
            guard s.loaded else { throw .familyNotFound(family: K.familyName) }
            return FamilyInfo(id: s.familyID, version: K.protocolVersion, eventsGroup: s.eventsGroup)
        }
    }

    func controllerNotifyGroup() -> Int32? { K.ctrlNotifyGroup }
}

/// One socket of the fake kernel. Its queue lives in the kernel's state; the poll
/// descriptor is the read end of a pipe that holds a byte while something is queued.
final class FakeSocket: TransportSocket, Sendable {
    let kernel: FakeKernel
    let portID: UInt32
    let pollDescriptor: Int32

    init(kernel: FakeKernel, portID: UInt32, pollDescriptor: Int32) {
        self.kernel = kernel
        self.portID = portID
        self.pollDescriptor = pollDescriptor
    }

    deinit { close() }

    func joinGroup(_ group: Int32) throws(NetlinkPushError) {
        try kernel.state.withLock { (s) throws(NetlinkPushError) in
            guard s.sockets[portID] != nil else { throw .closed }
            if group == s.eventsGroup && !s.privileged && !s.unprivilegedListen {
                throw .permissionDenied(
                    operation: .joinGroup, errno: EPERM,
                    extack: "joining the nlpush events group needs CAP_NET_ADMIN (or unprivileged_listen=1)")
            }
            guard group == K.ctrlNotifyGroup || (s.loaded && group == s.eventsGroup) else {
                throw .socket(operation: .joinGroup, errno: ENOENT, detail: "no multicast group \(group)")
            }
            s.sockets[portID]?.groups.insert(group)
        }
    }

    func leaveGroup(_ group: Int32) {
        kernel.state.withLock { s in _ = s.sockets[portID]?.groups.remove(group) }
    }

    func send(_ request: OutgoingRequest) throws(NetlinkPushError) {
        let timers = try kernel.state.withLock { (s) throws(NetlinkPushError) -> [RequestTimer] in
            guard s.sockets[portID] != nil else { throw .closed }
            return s.handle(request.encoded(portID: portID), from: portID)
        }
        for t in timers {
            let kernel = self.kernel
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(t.milliseconds)) {
                kernel.expire(seq: t.seq, epoch: t.epoch)
            }
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(NetlinkPushError) -> DatagramResult {
        try kernel.state.withLock { (s) throws(NetlinkPushError) -> DatagramResult in
            guard var e = s.sockets[portID] else { throw .closed }
            defer { s.updateReadiness(portID) }
            if e.overrun {
                s.sockets[portID]?.overrun = false
                return .overrun
            }
            guard let d = e.pop() else { return .wouldBlock }
            s.sockets[portID] = e
            if d.sender != 0 { return .foreign }
            let n = min(d.bytes.count, buffer.count)
            d.bytes.withUnsafeBytes { raw in
                if let base = buffer.baseAddress, let src = raw.baseAddress, n > 0 { base.copyMemory(from: src, byteCount: n) }
            }
            return d.truncated || d.bytes.count > buffer.count ? .truncated(d.bytes.count) : .data(n)
        }
    }

    func receiveBatch(into slots: ReceiveSlots) throws(NetlinkPushError) -> BatchResult {
        try kernel.state.withLock { (s) throws(NetlinkPushError) -> BatchResult in
            guard var e = s.sockets[portID] else { throw .closed }
            defer { s.updateReadiness(portID) }
            if e.overrun {
                s.sockets[portID]?.overrun = false
                return .overrun
            }
            var n = 0
            while n < slots.count, let d = e.pop() {
                slots.store(n, d.bytes, sender: d.sender, truncated: d.truncated)
                n += 1
            }
            s.sockets[portID] = e
            return n == 0 ? .wouldBlock : .received(n)
        }
    }

    func close() {
        kernel.state.withLock { s in s.closeSocket(portID) }
    }
}
