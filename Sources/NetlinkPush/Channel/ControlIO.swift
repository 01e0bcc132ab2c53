internal import Synchronization
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// The library's control I/O thread: reads every control socket of the process, matches
/// answers to requests by netlink sequence number and completes them; enforces their
/// timeouts with its poll deadline.
///
/// One thread serves all control sockets (`nlpush-control`); it starts with the first
/// control socket and exits when the last one closed. Callers send from their own
/// thread (non-blocking) and register the call before sending, so the answer always
/// finds it. Sockets close on this thread only, so a descriptor it polls is never
/// closed (and reused) under it.
///
/// The kernel handles a generic netlink request while the sender is still in
/// `sendmsg`, so most answers (an ack, `GET_STATS`, an error) are queued by the time
/// the send returns: the caller then reads them itself (`drain(_:until:)`, without
/// blocking) and its call completes on its own thread, with no wake-up of this one.
/// Only a call still unanswered after that (a request waiting for its reply) and a
/// dump (read here: the kernel fills its next part at each read) wake this thread,
/// which polls only the sockets with calls in flight. One thread at a time drains a
/// socket (`ConnState.draining`), so the datagrams of one answer are dispatched in
/// order; a caller claims its socket before it sends, so this thread, even when it
/// is in poll() on that socket already, leaves the answer to the caller.
///
/// `state` is a `Mutex`: the compiler checks that what goes in or comes out of it is
/// Sendable or moves (`sending`). Each connection's receive buffer is used under the
/// connection's socket lock only (by the thread draining it); this thread frees it.
final class ControlIO: Sendable {
    static let shared = ControlIO()

    typealias Answer = Result<[[UInt8]], NetlinkPushError>

    /// A call's completion, fired at most once (by the I/O thread, a failed send, or the
    /// caller's cancellation).
    final class Completion: Sendable {
        private let fired = Mutex(false)
        private let body: @Sendable (Answer) -> Void
        init(_ body: @escaping @Sendable (Answer) -> Void) { self.body = body }
        func fire(_ answer: Answer) {
            let first = fired.withLock { f in
                defer { f = true }
                return !f
            }
            if first { body(answer) }
        }
    }

    /// A control socket and its receive buffer. Neither leaves the connection's lock.
    struct Endpoint {
        var socket: (any TransportSocket)?
        var buffer: UnsafeMutableRawBufferPointer?
    }

    /// A registered control socket. Sending, receiving and closing go through `socket`'s
    /// lock (a non-blocking sendmsg or recvmsg, never a wait).
    final class Connection: Sendable {
        let id: Int
        /// The socket never leaves the lock: it moved in (`sending`) at registration,
        /// with the buffer the I/O thread receives into.
        let socket: Mutex<Endpoint>
        init(id: Int, socket: sending any TransportSocket, bufferSize: Int) {
            self.id = id
            self.socket = Mutex(Endpoint(socket: socket, buffer: .allocate(byteCount: bufferSize, alignment: 8)))
        }
        deinit {
            socket.withLock { ep in
                ep.socket?.close()
                ep.buffer?.deallocate()
            }
        }
    }

    private struct Op {
        var request: ControlRequest
        var familyID: UInt16
        var awaitingReply: Bool
        var deadline: UInt64
        var completion: Completion
        var acked = false
        var replied = false
        var sent = false
        var messages: [[UInt8]] = []
    }

    private final class ConnState {
        let conn: Connection
        let fd: Int32
        let bufferSize: Int
        var nextSeq: UInt32 = 1
        var ops: [UInt32: Op] = [:]
        var dumpInFlight: UInt32?
        var queuedDumps: [UInt32] = []
        var closing = false
        /// A thread (a caller or the I/O thread) is reading the socket.
        var draining = false
        init(conn: Connection, fd: Int32, bufferSize: Int) {
            self.conn = conn
            self.fd = fd
            self.bufferSize = bufferSize
        }
    }

    private struct State {
        var conns: [Int: ConnState] = [:]
        var wake: EventFD?
    }

    private let state = Mutex(State())
    private let nextID = Atomic<Int>(1)

    private typealias Fire = [(Completion, Answer)]
    private typealias Sends = [(Connection, ControlRequest, UInt16, UInt32)]

    // MARK: caller side

    /// Takes the socket over (it moves into the connection's lock); should this fail,
    /// the socket closes as it goes away.
    func register(_ sock: sending any TransportSocket, bufferSize: Int) throws(NetlinkPushError) -> Connection {
        let fd = sock.pollDescriptor
        let conn = Connection(
            id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue, socket: sock, bufferSize: bufferSize)
        // Starting the thread and adding the connection under one lock: the thread exits
        // when it finds no connection.
        try state.withLock { (s) throws(NetlinkPushError) in
            if s.wake == nil {
                let w = try EventFD()
                try DetachedThread.start(name: "nlpush-control") { self.run(wake: w) }
                s.wake = w
            }
            s.conns[conn.id] = ConnState(conn: conn, fd: fd, bufferSize: bufferSize)
        }
        return conn
    }

    /// Marks the connection closing; the I/O thread fails its calls with
    /// ``NetlinkPushError/closed`` and closes the socket at once.
    func close(_ conn: Connection) {
        state.withLock { s in
            guard let c = s.conns[conn.id], !c.closing else { return }
            c.closing = true
            s.wake?.signal()
        }
    }

    func submit(
        _ conn: Connection, _ request: ControlRequest, familyID: UInt16, timeoutMs: Int32, awaitingReply: Bool,
        completion: Completion
    ) {
        let deadline = monotonicNanoseconds() + UInt64(max(timeoutMs, 0)) * 1_000_000
        // `claimed`: this thread reads the answer (see below), and has told the I/O thread
        // to keep off the socket until then.
        let (seq, claimed): (UInt32?, Bool) = state.withLock { s in
            guard let c = s.conns[conn.id], !c.closing else { return (nil, false) }
            let seq = c.nextSeq
            c.nextSeq = c.nextSeq == UInt32.max ? 1 : c.nextSeq + 1
            var op = Op(
                request: request, familyID: familyID, awaitingReply: awaitingReply, deadline: deadline,
                completion: completion)
            // One dump at a time per socket (the kernel refuses a second with EBUSY):
            // later ones wait for NLMSG_DONE of the current one.
            if request.isDump && c.dumpInFlight != nil {
                c.ops[seq] = op
                c.queuedDumps.append(seq)
                s.wake?.signal()
                return (0, false)
            }
            if request.isDump { c.dumpInFlight = seq }
            op.sent = true
            c.ops[seq] = op
            // Before the send: an I/O thread already in poll() on this socket would
            // otherwise wake for the answer and race the caller to it.
            let claim = !request.isDump && !c.draining
            if claim { c.draining = true }
            return (seq, claim)
        }
        guard let seq else {
            completion.fire(.failure(.closed))
            return
        }
        guard seq != 0 else { return }
        send([(conn, request, familyID, seq)])
        // The answer is usually there already: read it on this thread. Not a dump's: the
        // kernel fills each next part while the socket is read, the whole dump would be
        // produced on the caller's thread. Nor while another thread reads the socket.
        if claimed { drain(conn.id, until: seq, claimed: true) }
        state.withLock { s in
            // Calls still unanswered (this one, or others on the socket that the I/O
            // thread left alone while this thread read it): the I/O thread polls for
            // them and enforces their deadlines.
            if let c = s.conns[conn.id], !c.ops.isEmpty { s.wake?.signal() }
        }
    }

    private func send(_ sends: Sends) {
        var pending = sends
        while let (conn, request, familyID, seq) = pending.popLast() {
            do throws(NetlinkPushError) {
                try conn.socket.withLock { (ep) throws(NetlinkPushError) in
                    guard let sock = ep.socket else { throw .closed }
                    try sock.send(OutgoingRequest(request: request, familyID: familyID, seq: seq))
                }
            } catch {
                var fire: Fire = []
                state.withLock { s in
                    guard let c = s.conns[conn.id] else { return }
                    finish(c, seq: seq, .failure(error), fire: &fire, sends: &pending)
                }
                for (c, a) in fire { c.fire(a) }
            }
        }
    }

    // MARK: I/O thread

    /// Removes a call and queues its completion; starts the next queued dump when it
    /// was the dump in flight. Called under the lock.
    private func finish(_ c: ConnState, seq: UInt32, _ answer: Answer, fire: inout Fire, sends: inout Sends) {
        guard let op = c.ops.removeValue(forKey: seq) else { return }
        fire.append((op.completion, answer))
        if c.dumpInFlight == seq {
            c.dumpInFlight = nil
            while !c.queuedDumps.isEmpty {
                let next = c.queuedDumps.removeFirst()
                guard var nop = c.ops[next] else { continue }
                nop.sent = true
                c.ops[next] = nop
                c.dumpInFlight = next
                sends.append((c.conn, nop.request, nop.familyID, next))
                break
            }
        }
    }

    private func run(wake: EventFD) {
        while true {
            var fire: Fire = []
            var sends: Sends = []
            var fds: [pollfd] = [pollfd(fd: wake.fd, events: Int16(POLLIN), revents: 0)]
            var ids: [Int] = []
            // Closed connections leave the state here, moving out of the lock.
            let (timeout, toClose) = state.withLock { s -> (Int32?, [ConnState]) in
                var toClose: [ConnState] = []
                let now = monotonicNanoseconds()
                var next = UInt64.max
                for (id, c) in s.conns {
                    if c.closing {
                        s.conns[id] = nil
                        for (_, op) in c.ops { fire.append((op.completion, .failure(.closed))) }
                        c.ops = [:]
                        toClose.append(c)
                        continue
                    }
                    for (seq, op) in c.ops where op.deadline <= now {
                        finish(c, seq: seq, .failure(.timedOut(operation: op.request.operation)), fire: &fire, sends: &sends)
                    }
                    for (_, op) in c.ops { next = min(next, op.deadline) }
                    // nothing to wait for on an idle socket (a late answer to a call that
                    // timed out is read and dropped with the next call's)
                    guard !c.ops.isEmpty else { continue }
                    // A caller reading its answer has the socket (it wakes this thread
                    // when it is done and calls are left).
                    guard !c.draining else { continue }
                    fds.append(pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0))
                    ids.append(id)
                }
                if s.conns.isEmpty {
                    s.wake = nil
                    return (nil, toClose)
                }
                if next == .max { return (-1, toClose) }
                return (Int32(clamping: (next - min(next, now) + 999_999) / 1_000_000), toClose)
            }
            for (c, a) in fire { c.fire(a) }
            for c in toClose {
                c.conn.socket.withLock { ep in
                    ep.socket?.close()
                    ep.socket = nil
                    ep.buffer?.deallocate()
                    ep.buffer = nil
                }
            }
            send(sends)
            guard let timeout else {
                wake.close()
                return
            }
            let n = poll(&fds, nfds_t(fds.count), timeout)
            if n <= 0 { continue }
            if fds[0].revents != 0 { wake.drain() }
            for (i, id) in ids.enumerated() where fds[i + 1].revents != 0 {
                drain(id)
            }
        }
    }

    /// Reads everything queued on a connection and dispatches it by sequence number;
    /// does nothing while another thread drains it (that one reads until the socket
    /// is empty; a caller whose call is still open afterwards wakes the I/O thread).
    /// With `until`, a caller's: stops once that call is complete (the rest, say a
    /// dump in flight on the same socket, is left to the I/O thread).
    private func drain(_ id: Int, until seq: UInt32? = nil, claimed: Bool = false) {
        guard
            let (conn, bufferSize) = state.withLock({ s -> (Connection, Int)? in
                guard let c = s.conns[id] else { return nil }
                if !claimed {
                    guard !c.draining else { return nil }
                    c.draining = true
                }
                return (c.conn, c.bufferSize)
            })
        else {
            return
        }
        defer { state.withLock { s in s.conns[id]?.draining = false } }
        while true {
            let result: DatagramResult
            let bytes: [UInt8]
            do throws(NetlinkPushError) {
                // Received under the socket's own lock (socket and buffer never leave
                // it; senders hold it only for a non-blocking send); the datagram comes
                // out as a copy.
                (result, bytes) = try conn.socket.withLock {
                    (ep) throws(NetlinkPushError) -> (DatagramResult, [UInt8]) in
                    guard let sock = ep.socket, let buffer = ep.buffer else { return (.wouldBlock, []) }
                    let r = try sock.receive(into: buffer)
                    guard case .data(let n) = r else { return (r, []) }
                    return (r, Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n])))
                }
            } catch {
                failAll(id, error)
                return
            }
            switch result {
            case .wouldBlock: return
            case .foreign: continue
            case .truncated(let size):
                failAll(id, .malformed(reason: "a \(size)-byte answer did not fit the \(bufferSize)-byte receive buffer"))
            case .overrun:
                failAll(id, nil)
            case .data(let count):
                bytes.withUnsafeBytes { dispatch(id, UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                if let seq, state.withLock({ s in s.conns[id]?.ops[seq] == nil }) { return }
            }
        }
    }

    /// Fails every call sent on the connection (their answers may be lost); `nil` means
    /// the receive queue overflowed.
    private func failAll(_ id: Int, _ error: NetlinkPushError?) {
        var fire: Fire = []
        var sends: Sends = []
        state.withLock { s in
            guard let c = s.conns[id] else { return }
            for (seq, op) in c.ops where op.sent {
                let e = error ?? .socket(
                    operation: op.request.operation, errno: ENOBUFS, detail: "control socket receive queue overflowed")
                finish(c, seq: seq, .failure(e), fire: &fire, sends: &sends)
            }
        }
        for (c, a) in fire { c.fire(a) }
        send(sends)
    }

    private func dispatch(_ id: Int, _ datagram: UnsafeRawBufferPointer) {
        var fire: Fire = []
        var sends: Sends = []
        state.withLock { s in
            guard let c = s.conns[id] else { return }
            var it = NetlinkMessageIterator(datagram)
            while true {
                let next: NetlinkMessage?
                do throws(NetlinkPushError) { next = try it.next() } catch {
                    return  // a malformed datagram: its calls time out
                }
                guard let m = next else { return }
                guard var op = c.ops[m.seq] else { continue }  // stale, cancelled or timed out
                let name = op.request.operation
                switch m.type {
                case NL.typeError:
                    guard let ack = try? NetlinkAck(error: m) else {
                        finish(c, seq: m.seq, .failure(.malformed(reason: "truncated netlink error message")), fire: &fire, sends: &sends)
                        continue
                    }
                    if ack.errno != 0 {
                        finish(c, seq: m.seq, .failure(.kernel(name, errno: ack.errno, extack: ack.message)), fire: &fire, sends: &sends)
                    } else if !op.request.isDump {
                        if !op.awaitingReply || op.replied {
                            finish(c, seq: m.seq, .success(op.messages), fire: &fire, sends: &sends)
                        } else {
                            op.acked = true
                            c.ops[m.seq] = op
                        }
                    }
                case NL.typeDone:
                    guard let ack = try? NetlinkAck(done: m) else {
                        finish(c, seq: m.seq, .failure(.malformed(reason: "truncated NLMSG_DONE")), fire: &fire, sends: &sends)
                        continue
                    }
                    if ack.errno != 0 {
                        finish(c, seq: m.seq, .failure(.kernel(name, errno: ack.errno, extack: ack.message)), fire: &fire, sends: &sends)
                    } else {
                        finish(c, seq: m.seq, .success(op.messages), fire: &fire, sends: &sends)
                    }
                case NL.typeNoop, NL.typeOverrun:
                    continue
                case op.familyID:
                    guard let start = m.payload.base.baseAddress else { continue }
                    let whole = UnsafeRawBufferPointer(start: start - NL.headerSize, count: NL.headerSize + m.payload.count)
                    op.messages.append(Array(whole))
                    let isReply = (try? GenlMessage(m))?.command == Proto.Cmd.reply.rawValue
                    if op.awaitingReply && isReply {
                        op.replied = true
                        if op.acked {
                            finish(c, seq: m.seq, .success(op.messages), fire: &fire, sends: &sends)
                            continue
                        }
                    }
                    c.ops[m.seq] = op
                default:
                    continue
                }
            }
        }
        for (c, a) in fire { c.fire(a) }
        send(sends)
    }
}
