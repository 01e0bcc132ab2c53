

/// Resolved identity of the nlpush family.
struct FamilyInfo: Sendable, Equatable {
    var id: UInt16
    var version: UInt8
    var eventsGroup: Int32
}

/// A control socket: requests out, answers (replies, dumps, ACKs with the kernel's
/// real errno and extack) in. All use is serialized by a mutex, so it can be shared
/// by threads (a subscription's reader thread and callers of `ack`).
final class ControlConnection: Sendable {
    private final class State {
        let socket: NLSocket
        let buffer: UnsafeMutableRawBufferPointer
        var nextSeq: UInt32 = 1

        init(socket: NLSocket, bufferSize: Int) {
            self.socket = socket
            buffer = .allocate(byteCount: bufferSize, alignment: 8)
        }
        deinit {
            socket.close()
            buffer.deallocate()
        }
    }

    private let state: Locked<State?>
    /// Netlink port id of the socket (what the kernel registers subscribers by).
    let portID: UInt32

    /// Default time to wait for the kernel's answer.
    static let defaultTimeoutMs: Int32 = 5_000

    /// - Parameter bufferSize: the receive buffer of our recvmsg() calls; dump messages
    ///   can hold a 60 KiB event, so it must be well above 64 KiB.
    init(bufferSize: Int = 128 * 1024, socketReceiveBuffer: Int? = nil) throws(NetlinkPushError) {
        let sock = try NLSocket()
        try sock.enableExtendedAck()
        if let socketReceiveBuffer { try sock.setReceiveBufferSize(socketReceiveBuffer) }
        portID = sock.portID
        state = Locked(State(socket: sock, bufferSize: max(bufferSize, 64 * 1024 + 4096)))
    }

    /// Closes the socket; later calls throw ``NetlinkPushError/closed``.
    func close() {
        state.withLock { $0 = nil }
    }

    /// Runs `body` with exclusive use of the socket (for libnl's resolution calls).
    func withSocket<R: Sendable>(_ body: (NLSocket) throws(NetlinkPushError) -> R) throws(NetlinkPushError) -> R {
        try state.withLock { (s) throws(NetlinkPushError) -> R in
            guard let s else { throw .closed }
            return try body(s.socket)
        }
    }

    /// Resolves the nlpush family (id, version, events group) with libnl.
    func resolveFamily() throws(NetlinkPushError) -> FamilyInfo {
        try withSocket { (sock) throws(NetlinkPushError) -> FamilyInfo in
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

    /// Sends `request` and waits for its answer. Data messages (a do-command's reply,
    /// or each message of a dump) are handed to `onMessage` in order. Returns when the
    /// kernel's ACK (do) or NLMSG_DONE (dump) arrives; throws the kernel's errno and
    /// extack when it refuses.
    ///
    /// With `awaitingReply` (an EMIT with `NLPUSH_F_REPLY_WANTED`), it returns only once
    /// both the ACK and the `NLPUSH_CMD_REPLY` the kernel unicasts when the request ends
    /// have arrived, in either order (both carry the EMIT's nlmsg_seq); `timeoutMs` then
    /// bounds the whole wait.
    func perform(
        _ request: ControlRequest, familyID: UInt16, timeoutMs: Int32 = defaultTimeoutMs,
        awaitingReply: Bool = false,
        onMessage: (GenlMessage) throws(NetlinkPushError) -> Void = { _ in }
    ) throws(NetlinkPushError) {
        try request.validate()
        try state.withLock { (s) throws(NetlinkPushError) in
            guard let s else { throw .closed }
            let seq = s.nextSeq
            s.nextSeq = s.nextSeq == UInt32.max ? 1 : s.nextSeq + 1
            try s.socket.send(request, familyID: familyID, seq: seq)
            try Self.awaitAnswer(
                s, seq: seq, request: request, familyID: familyID, timeoutMs: timeoutMs,
                awaitingReply: awaitingReply, onMessage: onMessage)
        }
    }

    private static func awaitAnswer(
        _ s: State, seq: UInt32, request: ControlRequest, familyID: UInt16, timeoutMs: Int32,
        awaitingReply: Bool, onMessage: (GenlMessage) throws(NetlinkPushError) -> Void
    ) throws(NetlinkPushError) {
        let op = request.operation
        var acked = false
        var replied = false
        let deadline = monotonicNanoseconds() + UInt64(max(timeoutMs, 0)) * 1_000_000
        // The kernel handles a request inside sendmsg(): the answer to a do-command (an
        // ack above all) is usually queued before send() returns, so read first and
        // poll only when nothing is there yet (one syscall less per ack).
        var mustPoll = false
        while true {
            if mustPoll {
                let now = monotonicNanoseconds()
                guard now < deadline else { throw .timedOut(operation: op) }
                let ready = try Poll.wait(
                    s.socket.fd, nil, timeoutMs: Int32(clamping: (deadline - now + 999_999) / 1_000_000))
                guard ready.first else { continue }
            }
            mustPoll = true
            let n: Int
            switch try s.socket.receive(into: s.buffer, blocking: false) {
            case .data(let count): n = count
            case .wouldBlock, .foreign: continue
            case .truncated(let size):
                throw .malformed(reason: "a \(size)-byte answer did not fit the \(s.buffer.count)-byte receive buffer")
            case .overrun:
                throw .socket(operation: op, errno: ENOBUFS_, detail: "control socket receive queue overflowed")
            }
            var it = NetlinkMessageIterator(UnsafeRawBufferPointer(rebasing: s.buffer[0..<n]))
            while let m = try it.next() {
                guard m.seq == seq else { continue }  // a stale answer to an older request
                switch m.type {
                case NL.typeError:
                    let ack = try NetlinkAck(error: m)
                    if ack.errno != 0 { throw NetlinkPushError.kernel(op, errno: ack.errno, extack: ack.message) }
                    if !request.isDump {
                        if !awaitingReply || replied { return }
                        acked = true
                    }
                case NL.typeDone:
                    let ack = try NetlinkAck(done: m)
                    if ack.errno != 0 { throw NetlinkPushError.kernel(op, errno: ack.errno, extack: ack.message) }
                    return
                case NL.typeNoop, NL.typeOverrun:
                    continue
                case familyID:
                    let g = try GenlMessage(m)
                    try onMessage(g)
                    if awaitingReply && g.command == Proto.Cmd.reply.rawValue {
                        replied = true
                        if acked { return }
                    }
                default:
                    continue
                }
            }
        }
    }
}

/// ENOBUFS without importing Glibc in this file.
let ENOBUFS_: Int32 = 105
