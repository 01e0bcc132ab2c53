public import NetlinkPush
internal import Synchronization
internal import Dispatch
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// An in-memory nlpush kernel module for host tests: what `genltest` is to Go's
/// `genetlink`.
///
/// It speaks the real protocol in bytes (the messages the module sends, its ACKs with
/// errno and extack, its dumps and controller notifications), so a
/// ``NetlinkPush/NetlinkPushChannel`` opened on it with
/// ``NetlinkPush/NetlinkPushChannel/init(kernel:logger:)`` runs its decoders, reader
/// thread, recovery, reconnection and control I/O exactly as on Linux. On top of the
/// module's behaviour (a replay ring, subscribers, responders and requests, statistics)
/// it injects what is hard to provoke on a real kernel: socket overruns (`ENOBUFS`),
/// truncated datagrams, events that never reach the socket, reordered or duplicated
/// delivery, a receive queue that fills up behind a slow consumer, and module unloads
/// and reloads (the family disappears, comes back with a new id and epoch, and
/// sequence numbers restart at 1).
///
/// ```swift
/// let kernel = FakeKernel(ringCapacity: 64)
/// let channel = try NetlinkPushChannel(kernel: kernel)
/// let sub = try channel.subscribe(name: "test")
/// kernel.atomically {
///     kernel.dropNext(2)
///     kernel.publish(count: 4)
/// }
/// // sub.events: events 1 and 2 (replayed from the ring), 3 (which revealed the
/// // gap), `.recovered(count: 2)`, then 4.
/// ```
///
/// All methods are thread-safe: the library's reader and control threads use the
/// kernel while the test publishes.
public final class FakeKernel: Sendable {
    let state: Mutex<KernelState>

    /// A kernel with the module loaded.
    ///
    /// - Parameters:
    ///   - ringCapacity: events the replay ring holds (module parameter `ring_events`).
    ///   - epoch: the first load's epoch (each ``reload()`` picks the next number).
    ///   - privileged: whether the test process has `CAP_NET_ADMIN`; without it,
    ///     `SUBSCRIBE`, `EMIT`, `ACK` and `REPLAY` fail with `EPERM` and joining the
    ///     events group is refused, as on Linux.
    ///   - unprivilegedListen: module parameter `unprivileged_listen`: anyone may join
    ///     the events group and replay.
    public init(ringCapacity: Int = 1024, epoch: UInt64 = 0x5eed_0001, privileged: Bool = true, unprivilegedListen: Bool = false) {
        state = Mutex(
            KernelState(
                ringCapacity: max(ringCapacity, 1), epoch: epoch, privileged: privileged,
                unprivilegedListen: unprivilegedListen))
    }

    // MARK: publishing

    /// Publishes one event, as a kernel producer does: it takes the next sequence
    /// number, enters the replay ring and is multicast to every socket in the events
    /// group (subject to the injected faults). Returns its sequence number, or nil
    /// while the module is unloaded.
    @discardableResult
    public func publish(type: UInt32 = 0, payload: [UInt8] = [], flags: EventFlags = []) -> UInt64? {
        state.withLock { s in s.loaded ? s.publish(type: type, payload: payload, flags: flags.rawValue) : nil }
    }

    /// Publishes `count` events at once, payload `[i]` (as bytes of the index, modulo
    /// 256) unless `payload` says otherwise. Returns the sequence numbers.
    @discardableResult
    public func publish(count: Int, type: UInt32 = 0, payload: (Int) -> [UInt8] = { [UInt8(truncatingIfNeeded: $0)] })
        -> [UInt64]
    {
        (0..<count).compactMap { publish(type: type, payload: payload($0)) }
    }

    /// Runs `body` (publications, injected faults, unload and reload) as one step for
    /// the readers: the sockets poll readable only once it returned, so a reader idle
    /// in `poll()` sees its whole outcome at once. Makes the order of what a
    /// subscription yields independent of thread scheduling.
    @discardableResult
    public func atomically<R>(_ body: () throws -> R) rethrows -> R {
        state.withLock { $0.readinessHeld = true }
        defer {
            state.withLock { s in
                s.readinessHeld = false
                s.updateAllReadiness()
            }
        }
        return try body()
    }

    // MARK: faults

    /// The next `count` events enter the ring but reach no socket (as if the multicast
    /// was lost): the event after them reveals a gap.
    public func dropNext(_ count: Int) { state.withLock { $0.faults.drop += count } }

    /// Every socket in the events group overruns now: its next receive fails with
    /// `ENOBUFS`, and the next `dropping` events are lost on the way to it, as when the
    /// kernel finds the receive queue full.
    public func injectOverrun(dropping count: Int = 0) {
        state.withLock { s in
            s.faults.drop += count
            for port in s.eventSockets() { s.sockets[port]?.overrun = true }
            s.updateAllReadiness()
        }
    }

    /// The next `count` events arrive truncated (`MSG_TRUNC`): the datagram did not fit
    /// the reader's buffer and its content is lost.
    public func truncateNext(_ count: Int = 1) { state.withLock { $0.faults.truncate += count } }

    /// The next event is held back and reaches the sockets after the one that follows
    /// it (events `n, n+1` arrive as `n+1, n`).
    public func reorderNext() { state.withLock { $0.faults.reorder = true } }

    /// The next `count` events reach every socket twice.
    public func duplicateNext(_ count: Int = 1) { state.withLock { $0.faults.duplicate += count } }

    /// A slow consumer: each event socket holds at most `datagrams` unread events
    /// (nil: unlimited). Beyond, the kernel drops the event for that socket and the
    /// socket's next receive fails with `ENOBUFS` (counted in ``NetlinkPush/Stats/deliveryErrors``).
    public func setReceiveQueueLimit(_ datagrams: Int?) { state.withLock { $0.receiveQueueLimit = datagrams } }

    /// The next request with this command (an `NLPUSH_CMD_*` number, see
    /// ``Command``) fails with `errno` and the extack message `extack`.
    public func failNext(_ command: Command, errno: Int32, extack: String? = nil) {
        state.withLock { $0.faults.failures[command.rawValue, default: []].append((errno, extack)) }
    }

    /// The next `count` requests with this command get no answer at all (the caller
    /// times out).
    public func ignoreNext(_ command: Command, count: Int = 1) {
        state.withLock { $0.faults.ignore[command.rawValue, default: 0] += count }
    }

    /// Sends a datagram to every socket in the events group from a user-space port
    /// (`nl_pid` not 0): the library must ignore it.
    public func sendForeignDatagram() {
        state.withLock { s in
            for port in s.eventSockets() {
                s.enqueue(port, Datagram(bytes: [0, 0, 0, 0], sender: 4242))
            }
        }
    }

    /// The nlpush commands, for ``failNext(_:errno:extack:)`` and ``ignoreNext(_:count:)``.
    public enum Command: UInt8, Sendable {
        case ack = 2, subscribe, unsubscribe, getStats, getSubscribers, replay, emit
    }

    // MARK: module load

    /// Unloads the module: waiting requests fail with `ESHUTDOWN`, the registrations and
    /// the ring go, the events group is left by every socket, and the controller
    /// multicasts `CTRL_CMD_DELFAMILY`. Requests to the family fail with `ENOENT`.
    public func unload() {
        state.withLock { $0.unload() }
    }

    /// Loads the module again: a new family id, events group and epoch, sequence
    /// numbers from 1, an empty ring; the controller multicasts `CTRL_CMD_NEWFAMILY`.
    public func reload() {
        state.withLock { $0.load() }
    }

    /// Whether the module is loaded.
    public var isLoaded: Bool { state.withLock { $0.loaded } }

    /// The current load's epoch (``NetlinkPush/Event/epoch``).
    public var epoch: UInt64 { state.withLock { $0.epoch } }

    /// The current family id.
    public var familyID: UInt16 { state.withLock { $0.familyID } }

    // MARK: inspection

    /// The counters `GET_STATS` reports.
    public var stats: Stats { state.withLock { $0.statsSnapshot() } }

    /// The sequence numbers the replay ring holds, oldest first.
    public var ringSequence: [UInt64] { state.withLock { $0.ring.map(\.seq) } }

    /// Names of the registered subscribers, in registration order.
    public var subscriberNames: [String] { state.withLock { $0.subscribers.map(\.name) } }

    /// How many sockets are open (control and event sockets of every channel and
    /// subscription): a stopped subscription closes its two.
    public var openSockets: Int { state.withLock { $0.sockets.count } }

    /// How many messages with `command` the family received since the fake kernel was
    /// made (across reloads), whatever their outcome.
    public func received(_ command: Command) -> Int {
        state.withLock { $0.commandsReceived[command.rawValue] ?? 0 }
    }

    /// Sequence numbers of the requests waiting for a responder's answer.
    public var pendingRequests: [UInt64] { state.withLock { $0.pending.keys.sorted() } }

    /// Expires a waiting request now, as its timeout would (`REPLY` with `-ETIMEDOUT`).
    func expire(seq: UInt64, epoch: UInt64) {
        state.withLock { s in
            guard s.epoch == epoch, s.pending[seq] != nil else { return }
            s.requestTimeouts += 1
            s.finishRequest(seq: seq, error: -ETIMEDOUT)
        }
    }
}

/// One datagram on a socket's receive queue.
struct Datagram {
    var bytes: [UInt8]
    var sender: UInt32 = 0
    var truncated = false
}

/// What the fake kernel knows of one socket.
struct SocketEntry {
    var isEvents: Bool
    var groups: Set<Int32> = []
    var queue: [Datagram] = []
    var queueHead = 0
    var overrun = false
    let readFD: Int32
    let writeFD: Int32
    var signalled = false

    var queued: Int { queue.count - queueHead }

    mutating func pop() -> Datagram? {
        guard queueHead < queue.count else { return nil }
        let d = queue[queueHead]
        queueHead += 1
        if queueHead > 64 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        return d
    }
}

struct RingEvent {
    var seq: UInt64
    var type: UInt32
    var flags: UInt32
    var timestampNs: UInt64
    var payload: [UInt8]
}

struct SubscriberEntry {
    var port: UInt32
    var name: String
    var flags: UInt32
    var acks: UInt64 = 0
    var lastAckedSeq: UInt64 = 0
    var replies: UInt64 = 0
    var subscribedNs: UInt64
    var isResponder: Bool { flags & K.flagResponder != 0 }
}

struct PendingRequest {
    var requesterPort: UInt32
    var requestSeq: UInt32
}

struct Faults {
    var drop = 0
    var truncate = 0
    var duplicate = 0
    var reorder = false
    var heldBack: [UInt8]?
    var failures: [UInt8: [(Int32, String?)]] = [:]
    var ignore: [UInt8: Int] = [:]
}

/// CLOCK_MONOTONIC in nanoseconds (the kernel's event timestamps).
func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
