internal import CNetlink

/// The real ``Transport``: libnl sockets on `NETLINK_GENERIC`, raw `recvmsg`/`recvmmsg`
/// for the receive paths, `genl_ctrl_resolve*` for the family.
struct LibnlTransport: Transport {
    /// Default receive buffer of a control socket: room for the answers of many
    /// requests in flight (ACK, EMIT reply, REPLY each) while the I/O thread drains
    /// them. Capped by rmem_max when `SO_RCVBUFFORCE` is not allowed.
    static let controlReceiveBufferSize = 4 * 1024 * 1024

    func openSocket(_ role: SocketRole) throws(NetlinkPushError) -> any TransportSocket {
        let sock = try NLSocket()
        do throws(NetlinkPushError) {
            switch role {
            case .control(let size):
                try sock.enableExtendedAck()
                try sock.setReceiveBufferSize(size ?? Self.controlReceiveBufferSize)
                try sock.setNonBlocking()
            case .events(let size):
                try sock.setReceiveBufferSize(size)
                sock.enableBroadcastErrors()
            }
        } catch {
            sock.close()
            throw error
        }
        return sock
    }

    func resolveFamily() throws(NetlinkPushError) -> FamilyInfo {
        try Self.withResolverSocket { (sock) throws(NetlinkPushError) -> FamilyInfo in
            guard let id = try sock.resolveFamily(nlpushFamilyName) else {
                throw .familyNotFound(family: nlpushFamilyName)
            }
            guard let group = try sock.resolveGroup(family: nlpushFamilyName, group: "events") else {
                throw .malformed(reason: "family 'nlpush' has no 'events' multicast group")
            }
            let version = sock.familyVersion(nlpushFamilyName) ?? 0
            return FamilyInfo(id: id, version: version, eventsGroup: group)
        }
    }

    func controllerNotifyGroup() -> Int32? {
        (try? Self.withResolverSocket { (s) throws(NetlinkPushError) in
            try s.resolveGroup(family: "nlctrl", group: "notify")
        }) ?? nil
    }

    /// Runs `body` with a fresh libnl socket whose receives time out after 5 s (libnl
    /// reads it blocking).
    static func withResolverSocket<R>(_ body: (NLSocket) throws(NetlinkPushError) -> R) throws(NetlinkPushError) -> R {
        let sock = try NLSocket()
        defer { sock.close() }
        sock.setReceiveTimeout(milliseconds: Int(ControlConnection.defaultTimeoutMs))
        return try body(sock)
    }
}

extension NLSocket: TransportSocket {
    var pollDescriptor: Int32 { fd }

    func joinGroup(_ group: Int32) throws(NetlinkPushError) { try addMembership(group) }

    func leaveGroup(_ group: Int32) { dropMembership(group) }

    func send(_ request: OutgoingRequest) throws(NetlinkPushError) {
        try send(request.request, familyID: request.familyID, seq: request.seq)
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(NetlinkPushError) -> DatagramResult {
        guard isOpen else { throw .closed }
        return try Self.receive(fd: fd, into: buffer)
    }

    func receiveBatch(into slots: ReceiveSlots) throws(NetlinkPushError) -> BatchResult {
        try receiveMany(into: slots)
    }
}
