// The only file that calls C: libnl (struct nl_sock, struct nl_msg, genl_ctrl_*) and
// the few raw syscalls libnl cannot do for us (recvmsg into our own buffer so that
// ENOBUFS and the kernel's extack survive, poll, eventfd). Nothing here is public.
//
// Thread-safety: an NLSocket is not thread-safe (neither is struct nl_sock). Each one
// is owned by exactly one thread, or used under a lock (see ControlConnection).

internal import CNetlink
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// A generic netlink socket managed by libnl.
///
/// A class, not a `~Copyable` owner like ``FileDescriptor``: the descriptor belongs to
/// libnl's `struct nl_sock` (freed with `nl_socket_free`, which closes it), and the
/// socket is closed explicitly by its owner (``close()``, idempotent, then `deinit`) at
/// points a move-only value would make awkward: the subscription setup closes the
/// event socket on every error path after handing it to the reader, and the control
/// I/O thread closes a connection's socket inside its `Mutex` while callers may still
/// hold the connection. It is not Sendable: each one is confined to one thread or
/// moved (`sending`) into a `Mutex`.
final class NLSocket {
    private var sk: OpaquePointer?
    /// The socket's file descriptor (owned by libnl; closed by `close()`).
    let fd: Int32
    /// The socket's netlink port id (nl_pid of its address).
    let portID: UInt32

    /// Allocates a libnl socket and connects it to NETLINK_GENERIC.
    init() throws(NetlinkPushError) {
        guard let sk = nl_socket_alloc() else {
            throw .socket(operation: .connect, errno: ENOMEM, detail: "nl_socket_alloc failed")
        }
        // We match replies ourselves and ask for ACKs explicitly per request.
        nl_socket_disable_auto_ack(sk)
        let err = genl_connect(sk)
        if err < 0 {
            let e = Glibc.errno
            nl_socket_free(sk)
            throw .socket(operation: .connect, errno: e == 0 ? EIO : e, detail: Self.libnlError(err))
        }
        self.sk = sk
        fd = nl_socket_get_fd(sk)
        portID = nl_socket_get_local_port(sk)
    }

    deinit { close() }

    /// Frees the libnl socket (closing its descriptor). Idempotent.
    func close() {
        if let sk {
            nl_socket_free(sk)
            self.sk = nil
        }
    }

    var isOpen: Bool { sk != nil }

    private func handle(_ op: NetlinkPushError.Operation) throws(NetlinkPushError) -> OpaquePointer {
        guard let sk else { throw .closed }
        return sk
    }

    static func libnlError(_ code: Int32) -> String {
        String(cString: nl_geterror(code))
    }

    // MARK: socket options

    private func setIntOption(level: Int32, name: Int32, value: Int32) throws(NetlinkPushError) {
        var v = value
        if setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw .socket(operation: .setOption, errno: Glibc.errno, detail: "setsockopt(\(level), \(name))")
        }
    }

    /// NETLINK_EXT_ACK (the kernel's error strings) + NETLINK_CAP_ACK (errors do not
    /// echo the whole request back).
    func enableExtendedAck() throws(NetlinkPushError) {
        try setIntOption(level: cnl_sol_netlink(), name: cnl_netlink_ext_ack(), value: 1)
        try? setIntOption(level: cnl_sol_netlink(), name: cnl_netlink_cap_ack(), value: 1)
    }

    /// NETLINK_BROADCAST_ERROR: when this socket overruns, the kernel reports the failed
    /// delivery to the multicast's sender, so nlpush counts it in `delivery_errors`.
    func enableBroadcastErrors() {
        try? setIntOption(level: cnl_sol_netlink(), name: cnl_netlink_broadcast_error(), value: 1)
    }

    /// Sets the receive buffer: SO_RCVBUFFORCE first (needs CAP_NET_ADMIN, may exceed
    /// net.core.rmem_max), then libnl's nl_socket_set_buffer_size (SO_RCVBUF, capped by
    /// rmem_max). Returns the size the kernel reports (it doubles the request).
    @discardableResult
    func setReceiveBufferSize(_ bytes: Int) throws(NetlinkPushError) -> Int {
        let sk = try handle(.setOption)
        let size = Int32(clamping: bytes)
        if (try? setIntOption(level: SOL_SOCKET, name: SO_RCVBUFFORCE, value: size)) == nil {
            let err = nl_socket_set_buffer_size(sk, size, 0)
            if err < 0 {
                throw .socket(operation: .setOption, errno: Glibc.errno, detail: Self.libnlError(err))
            }
        }
        return receiveBufferSize
    }

    /// SO_RCVBUF as the kernel reports it.
    var receiveBufferSize: Int {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0 ? Int(v) : 0
    }

    /// O_NONBLOCK (control sockets: only the I/O thread reads them, after poll()).
    func setNonBlocking() throws(NetlinkPushError) {
        let flags = fcntl(fd, F_GETFL)
        if flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 {
            throw .socket(operation: .setOption, errno: Glibc.errno, detail: "fcntl(O_NONBLOCK)")
        }
    }

    /// SO_RCVTIMEO: bounds libnl's blocking receives (family resolution).
    func setReceiveTimeout(milliseconds: Int) {
        var tv = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Joins a multicast group (nl_socket_add_membership). EPERM without CAP_NET_ADMIN.
    func addMembership(_ group: Int32) throws(NetlinkPushError) {
        let sk = try handle(.joinGroup)
        Glibc.errno = 0
        let err = nl_socket_add_membership(sk, group)
        if err < 0 {
            let e = Glibc.errno != 0 ? Glibc.errno : EINVAL
            if e == EPERM || e == EACCES {
                throw .permissionDenied(
                    operation: .joinGroup, errno: e,
                    extack: "joining the nlpush events group needs CAP_NET_ADMIN (or unprivileged_listen=1)")
            }
            throw .socket(operation: .joinGroup, errno: e, detail: Self.libnlError(err))
        }
    }

    /// Leaves a multicast group; errors are ignored (the group may be gone already).
    func dropMembership(_ group: Int32) {
        if let sk { _ = nl_socket_drop_membership(sk, group) }
    }

    // MARK: resolution (libnl genl_ctrl_*)

    /// genl_ctrl_resolve: the family id, or nil when the family is not registered.
    func resolveFamily(_ name: String) throws(NetlinkPushError) -> UInt16? {
        let sk = try handle(.resolve)
        drainPending()
        let id = genl_ctrl_resolve(sk, name)
        if id >= 0 { return UInt16(truncatingIfNeeded: id) }
        if -id == NLE_OBJ_NOTFOUND { return nil }
        throw .socket(operation: .resolve, errno: Glibc.errno == 0 ? EIO : Glibc.errno, detail: Self.libnlError(id))
    }

    /// genl_ctrl_resolve_grp: a multicast group id, or nil when absent.
    func resolveGroup(family: String, group: String) throws(NetlinkPushError) -> Int32? {
        let sk = try handle(.resolve)
        drainPending()
        let id = genl_ctrl_resolve_grp(sk, family, group)
        if id >= 0 { return id }
        if -id == NLE_OBJ_NOTFOUND { return nil }
        throw .socket(operation: .resolve, errno: Glibc.errno == 0 ? EIO : Glibc.errno, detail: Self.libnlError(id))
    }

    /// The family's version, from a libnl controller cache (genl_ctrl_alloc_cache).
    func familyVersion(_ name: String) -> UInt8? {
        guard let sk else { return nil }
        drainPending()
        var cache: OpaquePointer?
        guard genl_ctrl_alloc_cache(sk, &cache) == 0, let cache else { return nil }
        defer { nl_cache_free(cache) }
        guard let fam = genl_ctrl_search_by_name(cache, name) else { return nil }
        defer { genl_family_put(fam) }
        return genl_family_get_version(fam)
    }

    // MARK: messages (libnl genlmsg_put + nla_put_*)

    /// Builds `request` as a struct nl_msg with libnl and hands it to `body`.
    static func withLibnlMessage<R>(
        _ request: ControlRequest, familyID: UInt16, seq: UInt32, portID: UInt32,
        _ body: (OpaquePointer) throws(NetlinkPushError) -> R
    ) throws(NetlinkPushError) -> R {
        let attributes = request.attributes
        // Exactly what the message needs (nlmsg_alloc_size zeroes the whole buffer, so
        // a page per ack would cost more than the encoding itself).
        var size = Int(cnl_nlmsg_hdrlen()) + Int(cnl_genl_hdrlen())
        for a in attributes { size += NL.align(NL.attrHeaderSize + a.valueSize) }
        guard let msg = nlmsg_alloc_size(size) else {
            throw .socket(operation: request.operation, errno: ENOMEM, detail: "nlmsg_alloc failed")
        }
        defer { nlmsg_free(msg) }
        guard
            genlmsg_put(
                msg, portID, seq, Int32(familyID), 0, Int32(request.netlinkFlags),
                request.command, Proto.version) != nil
        else {
            throw .socket(operation: request.operation, errno: EMSGSIZE, detail: "genlmsg_put failed")
        }
        for attr in attributes {
            let type = Int32(attr.type)
            let rc: Int32
            switch attr {
            case .u16(_, let v): rc = nla_put_u16(msg, type, v)
            case .u32(_, let v): rc = nla_put_u32(msg, type, v)
            case .s32(_, let v): rc = nla_put_s32(msg, type, v)
            case .u64(_, let v): rc = nla_put_u64(msg, type, v)
            case .string(_, let s): rc = nla_put_string(msg, type, s)
            case .binary(_, let b):
                rc = b.withUnsafeBytes { raw in
                    var zero: UInt8 = 0
                    if let p = raw.baseAddress, raw.count > 0 { return nla_put(msg, type, Int32(raw.count), p) }
                    return nla_put(msg, type, 0, &zero)
                }
            }
            if rc < 0 {
                throw .socket(operation: request.operation, errno: EMSGSIZE, detail: Self.libnlError(rc))
            }
        }
        return try body(msg)
    }

    /// The bytes libnl produces for `request` (used by the tests against fixtures).
    static func libnlEncode(_ request: ControlRequest, familyID: UInt16, seq: UInt32, portID: UInt32 = 0)
        throws(NetlinkPushError) -> [UInt8]
    {
        try withLibnlMessage(request, familyID: familyID, seq: seq, portID: portID) { msg in
            var len: UInt32 = 0
            let p = cnl_msg_bytes(msg, &len)
            return Array(UnsafeRawBufferPointer(start: p, count: Int(len)))
        }
    }

    /// Builds `request` with libnl and sends it with nl_send_auto (which fills in our
    /// port id). `seq` must be non-zero: it is how the answer is matched.
    func send(_ request: ControlRequest, familyID: UInt16, seq: UInt32) throws(NetlinkPushError) {
        let sk = try handle(request.operation)
        try Self.withLibnlMessage(request, familyID: familyID, seq: seq, portID: 0) { (msg) throws(NetlinkPushError) in
            Glibc.errno = 0
            let rc = nl_send_auto(sk, msg)
            if rc < 0 {
                let e = Glibc.errno != 0 ? Glibc.errno : EIO
                throw .socket(operation: .send, errno: e, detail: Self.libnlError(rc))
            }
        }
    }

    // MARK: raw receive

    typealias ReceiveResult = DatagramResult

    /// One recvmsg() on a raw descriptor (the control I/O thread's non-blocking read).
    static func receive(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, blocking: Bool = false)
        throws(NetlinkPushError) -> ReceiveResult
    {
        var addr = sockaddr_nl()
        var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        while true {
            let n: Int = withUnsafeMutablePointer(to: &addr) { ap in
                withUnsafeMutablePointer(to: &iov) { ip in
                    var mh = msghdr()
                    mh.msg_name = UnsafeMutableRawPointer(ap)
                    mh.msg_namelen = socklen_t(MemoryLayout<sockaddr_nl>.size)
                    mh.msg_iov = ip
                    mh.msg_iovlen = 1
                    let r = recvmsg(fd, &mh, blocking ? 0 : Int32(MSG_DONTWAIT))
                    if r >= 0, mh.msg_flags & Int32(MSG_TRUNC) != 0 { return -2 - r }  // encode truncation
                    return r
                }
            }
            if n >= 0 {
                if addr.nl_pid != 0 { return .foreign }
                return .data(n)
            }
            if n <= -2 { return .truncated(-2 - n) }
            let e = Glibc.errno
            switch e {
            case EINTR: continue
            case EAGAIN: return .wouldBlock
            case ENOBUFS: return .overrun
            default: throw .socket(operation: .receive, errno: e, detail: "recvmsg")
            }
        }
    }

    /// One recvmmsg(): up to `slots.count` datagrams in one syscall, non-blocking.
    /// Returns how many slots were filled (read each with ``ReceiveSlots/result(_:)``),
    /// or `.wouldBlock` / `.overrun` when the first datagram could not be read. An
    /// error after the first datagram stays pending on the socket for the next call.
    func receiveMany(into slots: ReceiveSlots) throws(NetlinkPushError) -> ReceiveManyResult {
        guard sk != nil else { throw .closed }
        while true {
            slots.prepare()
            let n = cnl_recvmmsg(fd, slots.headers, UInt32(slots.count), Int32(MSG_DONTWAIT))
            if n > 0 { return .received(Int(n)) }
            if n == 0 { return .wouldBlock }
            let e = Glibc.errno
            switch e {
            case EINTR: continue
            case EAGAIN: return .wouldBlock
            case ENOBUFS: return .overrun
            default: throw .socket(operation: .receive, errno: e, detail: "recvmmsg")
            }
        }
    }

    typealias ReceiveManyResult = BatchResult

    /// Discards whatever is queued (stale answers) before libnl reads the socket.
    func drainPending() {
        var scratch = [UInt8](repeating: 0, count: 512)
        while true {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_TRUNC)) }
            if n < 0 && Glibc.errno == EINTR { continue }
            if n < 0 && Glibc.errno == ENOBUFS { continue }
            if n < 0 { return }
        }
    }
}
