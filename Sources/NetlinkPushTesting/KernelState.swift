#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif
internal import NetlinkPush

/// Everything the fake kernel knows, guarded by ``FakeKernel``'s mutex. The logic
/// follows kmod/ (docs/protocol.md): the ring, the subscriber table, requests, and
/// what a socket's receive queue holds.
struct KernelState {
    var loaded = true
    var generation = 0
    var epoch: UInt64
    var nextSeq: UInt64 = 1
    var ring: [RingEvent] = []
    let ringCapacity: Int
    let privileged: Bool
    let unprivilegedListen: Bool

    var sockets: [UInt32: SocketEntry] = [:]
    var nextPort: UInt32 = 0x1000
    var subscribers: [SubscriberEntry] = []
    var pending: [UInt64: PendingRequest] = [:]
    var receiveQueueLimit: Int?
    var faults = Faults()
    /// Inside ``FakeKernel/atomically(_:)``: the sockets do not poll readable yet.
    var readinessHeld = false
    /// When a socket was last closed (CLOCK_MONOTONIC ns): tests time releases by it.
    var lastCloseNs: UInt64 = 0

    // counters
    var published: UInt64 = 0
    var delivered: UInt64 = 0
    var noListeners: UInt64 = 0
    var deliveryErrors: UInt64 = 0
    var acks: UInt64 = 0
    var acksRejected: UInt64 = 0
    var requests: UInt64 = 0
    var replies: UInt64 = 0
    var requestTimeouts: UInt64 = 0
    var requestsFailed: UInt64 = 0
    var replayed: UInt64 = 0
    /// Messages to the family by command byte (whatever their outcome).
    var commandsReceived: [UInt8: Int] = [:]

    init(ringCapacity: Int, epoch: UInt64, privileged: Bool, unprivilegedListen: Bool) {
        self.ringCapacity = ringCapacity
        self.epoch = epoch
        self.privileged = privileged
        self.unprivilegedListen = unprivilegedListen
    }

    /// The family id of the current load (genetlink hands out a new one at each).
    var familyID: UInt16 { 0x20 + UInt16(generation % 0x100) }
    /// The events group id of the current load.
    var eventsGroup: Int32 { 0x40 + Int32(generation % 0x100) }

    // MARK: sockets

    mutating func openSocket(isEvents: Bool) throws(NetlinkPushError) -> (port: UInt32, fd: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw .socket(operation: .connect, errno: errno, detail: "pipe (fake kernel)")
        }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let port = nextPort
        nextPort += 1
        sockets[port] = SocketEntry(isEvents: isEvents, readFD: fds[0], writeFD: fds[1])
        return (port, fds[0])
    }

    /// The socket is released: its registration goes, as the module's netlink
    /// notifier drops it.
    mutating func closeSocket(_ port: UInt32) {
        guard let entry = sockets.removeValue(forKey: port) else { return }
        lastCloseNs = monotonicNow()
        Glibc.close(entry.readFD)
        Glibc.close(entry.writeFD)
        removeSubscriber(port)
    }

    mutating func removeSubscriber(_ port: UInt32) {
        guard let i = subscribers.firstIndex(where: { $0.port == port }) else { return }
        subscribers.remove(at: i)
        if !subscribers.contains(where: \.isResponder) {
            for seq in pending.keys.sorted() {
                requestsFailed += 1
                finishRequest(seq: seq, error: -ENOTCONN)
            }
        }
    }

    func eventSockets() -> [UInt32] {
        sockets.filter { $0.value.groups.contains(eventsGroup) }.keys.sorted()
    }

    mutating func enqueue(_ port: UInt32, _ d: Datagram) {
        sockets[port]?.queue.append(d)
        updateReadiness(port)
    }

    /// The poll descriptor is readable exactly while something is queued (or an
    /// overrun is pending): one byte in the pipe.
    mutating func updateReadiness(_ port: UInt32) {
        guard var e = sockets[port], !readinessHeld else { return }
        let readable = e.queued > 0 || e.overrun
        if readable && !e.signalled {
            var one: UInt8 = 1
            _ = write(e.writeFD, &one, 1)
            e.signalled = true
        } else if !readable && e.signalled {
            var byte: UInt8 = 0
            _ = read(e.readFD, &byte, 1)
            e.signalled = false
        }
        sockets[port] = e
    }

    mutating func updateAllReadiness() {
        for port in sockets.keys { updateReadiness(port) }
    }

    // MARK: publishing

    mutating func publish(type: UInt32, payload: [UInt8], flags: UInt32) -> UInt64 {
        let e = RingEvent(seq: nextSeq, type: type, flags: flags, timestampNs: monotonicNow(), payload: payload)
        nextSeq += 1
        published += 1
        if flags & K.flagReplyWanted != 0 { requests += 1 }
        ring.append(e)
        if ring.count > ringCapacity { ring.removeFirst(ring.count - ringCapacity) }
        multicast(e)
        return e.seq
    }

    private mutating func multicast(_ e: RingEvent) {
        let listeners = eventSockets()
        if listeners.isEmpty {
            noListeners += 1
            return
        }
        delivered += 1
        if faults.drop > 0 {
            faults.drop -= 1
            return
        }
        var datagram = Datagram(bytes: eventMessage(e, command: K.cmdEvent, flags: 0, seq: 0))
        if faults.truncate > 0 {
            faults.truncate -= 1
            datagram.truncated = true
        }
        if faults.reorder {
            faults.reorder = false
            faults.heldBack = datagram.bytes
            return
        }
        var copies = [datagram]
        if faults.duplicate > 0 {
            faults.duplicate -= 1
            copies.append(datagram)
        }
        if let held = faults.heldBack {
            faults.heldBack = nil
            copies.append(Datagram(bytes: held))
        }
        for port in listeners {
            for d in copies { deliver(port, d) }
        }
    }

    /// A full receive queue drops the event for this socket and overruns it.
    mutating func deliver(_ port: UInt32, _ d: Datagram) {
        if let limit = receiveQueueLimit, let e = sockets[port], e.queued >= limit {
            sockets[port]?.overrun = true
            deliveryErrors += 1
            updateReadiness(port)
            return
        }
        enqueue(port, d)
    }

    func eventMessage(_ e: RingEvent, command: UInt8, flags: UInt16, seq: UInt32, port: UInt32 = 0) -> [UInt8] {
        var m = MessageWriter(type: familyID, flags: flags, seq: seq, portID: port, command: command)
        m.u64(K.attrSeq, e.seq)
        m.u64(K.attrTimestamp, e.timestampNs)
        m.u32(K.attrType, e.type)
        m.u32(K.attrFlags, command == K.cmdReplay ? e.flags | K.flagReplayed : e.flags)
        m.binary(K.attrPayload, e.payload)
        m.u64(K.attrEpoch, epoch)
        return m.finish()
    }

    // MARK: load / unload

    mutating func unload() {
        guard loaded else { return }
        for seq in pending.keys.sorted() {
            requestsFailed += 1
            finishRequest(seq: seq, error: -ESHUTDOWN)
        }
        let oldID = familyID
        loaded = false
        subscribers = []
        ring = []
        faults.heldBack = nil
        let group = eventsGroup
        for port in sockets.keys { sockets[port]?.groups.remove(group) }
        controllerNotify(K.ctrlCmdDelFamily, familyID: oldID)
    }

    mutating func load() {
        guard !loaded else { return }
        generation += 1
        epoch &+= 1
        nextSeq = 1
        ring = []
        loaded = true
        published = 0
        delivered = 0
        noListeners = 0
        deliveryErrors = 0
        acks = 0
        acksRejected = 0
        requests = 0
        replies = 0
        requestTimeouts = 0
        requestsFailed = 0
        replayed = 0
        controllerNotify(K.ctrlCmdNewFamily, familyID: familyID)
    }

    private mutating func controllerNotify(_ command: UInt8, familyID id: UInt16) {
        var m = MessageWriter(type: K.genlIDCtrl, command: command)
        m.u16(K.ctrlAttrFamilyID, id)
        m.string(K.ctrlAttrFamilyName, K.familyName)
        let bytes = m.finish()
        for port in sockets.keys.sorted() where sockets[port]?.groups.contains(K.ctrlNotifyGroup) == true {
            deliver(port, Datagram(bytes: bytes))
        }
    }

    // MARK: requests

    /// Sends the `REPLY` that ends request `seq` to its requester.
    mutating func finishRequest(
        seq: UInt64, error: Int32, status: Int32? = nil, responder: UInt32? = nil, payload: [UInt8]? = nil
    ) {
        guard let p = pending.removeValue(forKey: seq) else { return }
        var m = MessageWriter(type: familyID, seq: p.requestSeq, portID: p.requesterPort, command: K.cmdReply)
        m.u64(K.attrSeq, seq)
        m.u64(K.attrEpoch, epoch)
        m.s32(K.attrError, error)
        if let status { m.s32(K.attrStatus, status) }
        if let responder { m.u32(K.attrPortID, responder) }
        if let payload { m.binary(K.attrPayload, payload) }
        enqueue(p.requesterPort, Datagram(bytes: m.finish()))
    }

    func statsSnapshot() -> Stats {
        var s = Stats()
        s.published = published
        s.delivered = delivered
        s.noListeners = noListeners
        s.deliveryErrors = deliveryErrors
        s.acks = acks
        s.acksRejected = acksRejected
        s.requests = requests
        s.replies = replies
        s.requestTimeouts = requestTimeouts
        s.requestsPending = UInt32(pending.count)
        s.subscribers = UInt32(subscribers.count)
        s.oldestSeq = ring.first?.seq ?? nextSeq
        s.nextSeq = nextSeq
        s.ringEvents = UInt32(ring.count)
        s.ringBytes = UInt64(ring.reduce(0) { $0 + $1.payload.count })
        s.ringMaxEvents = UInt32(ringCapacity)
        s.ringMaxBytes = 64 << 20
        s.replayed = replayed
        s.responders = UInt32(subscribers.filter(\.isResponder).count)
        s.requestsFailed = requestsFailed
        s.epoch = epoch
        return s
    }
}
