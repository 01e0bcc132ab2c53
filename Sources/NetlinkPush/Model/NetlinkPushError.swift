#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// The error every NetlinkPush API throws.
///
/// Each case carries what is needed to act on it: the operation that failed, the
/// real `errno` the kernel or the C library reported and, for requests the kernel
/// refused, the kernel's extended-ACK message (`extack`), when it sent one.
///
/// ```swift
/// do {
///     let channel = try NetlinkPushChannel()
/// } catch .familyNotFound {
///     print("load nlpush.ko first")
/// }
/// ```
///
/// An enum because its payloads are matched (`catch .rejected(_, let errno, _)`). The
/// package is built without library evolution, so the enum is frozen: a new case
/// breaks an exhaustive `switch`, and so comes only with a new major version (minor
/// before 1.0). Open-ended parts are not cases: ``Operation`` is a struct, and every
/// kernel refusal is ``rejected(operation:errno:extack:)``. Match the cases you handle
/// and end a `switch` with `default:` to be unaffected (see "Source stability" in the
/// documentation catalog).
public enum NetlinkPushError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What the library was doing when an error happened.
    ///
    /// A struct with static members rather than an enum, so that a new operation in a
    /// later version breaks no `switch` (compare with `==` or match `.ack`-style
    /// members, with a `default`). One byte, like the enum it replaces: errors travel
    /// in the `Result`s of the receive path.
    public struct Operation: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        private let index: UInt8
        private init(_ index: UInt8) { self.index = index }

        /// The operation's name, as used in error descriptions (`"join group"`).
        public var rawValue: String { Self.names[Int(index)] }
        /// The operation of that name, if there is one.
        public init?(rawValue: String) {
            guard let i = Self.names.firstIndex(of: rawValue) else { return nil }
            self.init(UInt8(i))
        }

        /// Opening or connecting a netlink socket (or its eventfd / reader thread).
        public static let connect = Operation(0)
        /// Resolving the family or a multicast group through the controller.
        public static let resolve = Operation(1)
        /// `NLPUSH_CMD_SUBSCRIBE`.
        public static let subscribe = Operation(2)
        /// `NLPUSH_CMD_UNSUBSCRIBE`.
        public static let unsubscribe = Operation(3)
        /// `NLPUSH_CMD_ACK`.
        public static let ack = Operation(4)
        /// `NLPUSH_CMD_EMIT`.
        public static let emit = Operation(5)
        /// `NLPUSH_CMD_EMIT` with reply wanted.
        public static let request = Operation(6)
        /// `NLPUSH_CMD_GET_STATS`.
        public static let stats = Operation(7)
        /// `NLPUSH_CMD_GET_SUBSCRIBERS`.
        public static let subscribers = Operation(8)
        /// `NLPUSH_CMD_REPLAY`.
        public static let replay = Operation(9)
        /// Joining a multicast group.
        public static let joinGroup = Operation(10)
        /// Setting a socket option.
        public static let setOption = Operation(11)
        /// Sending a request.
        public static let send = Operation(12)
        /// Receiving (recvmsg, poll).
        public static let receive = Operation(13)
        /// Decoding a received message.
        public static let decode = Operation(14)
        /// Asking the generic netlink controller to describe the family.
        public static let describe = Operation(15)
        /// Re-registering after a module reload.
        public static let reconnect = Operation(16)

        /// Names by index, in the order of the static members above.
        private static let names = [
            "connect",
            "resolve",
            "subscribe",
            "unsubscribe",
            "ack",
            "emit",
            "request",
            "stats",
            "subscribers",
            "replay",
            "join group",
            "set socket option",
            "send",
            "receive",
            "decode",
            "describe",
            "reconnect",
        ]

        /// The operation's name, as used in error descriptions.
        public var description: String { rawValue }
    }

    /// The generic netlink family is not registered: the kernel module is not loaded
    /// (or the caller lives in another network namespace than the initial one).
    case familyNotFound(family: String)
    /// The kernel refused the operation for lack of privilege (`EPERM` / `EACCES`):
    /// most commands and joining the events group need `CAP_NET_ADMIN` (no extack), and
    /// only a responder subscription may answer a request (an ack with a status from
    /// any other socket: `EPERM`, extack "only a responder may answer a request").
    case permissionDenied(operation: Operation, errno: Int32, extack: String?)
    /// The kernel rejected a request with a netlink error (negative `errno`, made
    /// positive here) and, usually, an extended-ACK message explaining why. Among them:
    /// `ENOTCONN` for a request while no responder is registered (or when the last one
    /// went away), `ESTALE` for an ack naming an event of an earlier load of the module
    /// (another ``Event/epoch``), `ENOENT` for an answer to a request that is no longer
    /// waiting, `EINVAL` for a plain ack of a request.
    case rejected(operation: Operation, errno: Int32, extack: String?)
    /// A received message failed validation (truncated header, attribute overrun,
    /// wrong attribute size, oversize payload...).
    case malformed(reason: String)
    /// A socket-level failure (socket(), setsockopt(), send(), recv(), poll()...).
    /// `detail` holds libnl's error text when the failure came from libnl.
    case socket(operation: Operation, errno: Int32, detail: String?)
    /// No answer arrived in time.
    case timedOut(operation: Operation)
    /// An argument was refused before anything was sent.
    case invalidArgument(reason: String)
    /// A ``SubscriptionOptions`` property is out of its documented range (`name` is the
    /// property, e.g. `bufferCapacity`); nothing was opened.
    case invalidOption(name: String, reason: String)
    /// The subscription or channel was closed (cancelled) and can no longer be used.
    case closed
    /// A second iterator was made of a subscription's ``Subscription/events``: a
    /// subscription is consumed by one loop, whose end stops it. The second iterator
    /// throws this from its first `next()`; the first one is not disturbed.
    case alreadyIterated(subscription: String)
    /// The calling task was cancelled while the call waited for the kernel's answer: it
    /// returned at once (`errno` `ECANCELED`). The request may still take effect in the
    /// kernel; its answer, if it arrives later, is dropped.
    case cancelled(operation: Operation)

    /// The `errno` of the failure, if it has one.
    public var errno: Int32? {
        switch self {
        case .permissionDenied(_, let e, _), .rejected(_, let e, _), .socket(_, let e, _): return e
        case .timedOut: return ETIMEDOUT
        case .cancelled: return ECANCELED
        default: return nil
        }
    }

    /// The kernel's extended-ACK message, if the kernel sent one.
    public var extack: String? {
        switch self {
        case .permissionDenied(_, _, let m), .rejected(_, _, let m): return m
        default: return nil
        }
    }

    /// The operation that failed, when known.
    public var operation: Operation? {
        switch self {
        case .permissionDenied(let op, _, _), .rejected(let op, _, _), .socket(let op, _, _),
            .timedOut(let op), .cancelled(let op):
            return op
        case .familyNotFound: return .resolve
        case .malformed: return .decode
        default: return nil
        }
    }

    /// One readable line.
    public var description: String {
        switch self {
        case .familyNotFound(let family):
            if family == nlpushFamilyName {
                return "nlpush kernel module not loaded (generic netlink family '\(family)' not found)"
            }
            return "generic netlink family '\(family)' not found"
        case .permissionDenied(let op, let e, let m):
            // With an extack the kernel said why (e.g. "only a responder may answer a
            // request"); without one it is the CAP_NET_ADMIN check of the operation.
            return "\(op) failed: permission denied (\(Self.errnoName(e))\(m.map { ": \($0)" } ?? ""))"
                + (m == nil ? "; CAP_NET_ADMIN is needed" : "")
        case .rejected(let op, let e, let m):
            return "\(op) rejected by the kernel: \(Self.errnoName(e))\(m.map { ": \($0)" } ?? "")"
        case .malformed(let reason):
            return "malformed netlink message: \(reason)"
        case .socket(let op, let e, let detail):
            return "\(op) failed: \(Self.errnoName(e))\(detail.map { " (\($0))" } ?? "")"
        case .timedOut(let op):
            return "\(op) timed out"
        case .invalidArgument(let reason):
            return "invalid argument: \(reason)"
        case .invalidOption(let name, let reason):
            return "invalid subscription option \(name): \(reason)"
        case .closed:
            return "the nlpush subscription or channel is closed"
        case .cancelled(let op):
            return "\(op.rawValue) cancelled while waiting for the kernel's answer"
        case .alreadyIterated(let name):
            return "the events of subscription '\(name)' are already being iterated (one loop per subscription)"
        }
    }

    /// "ENOENT (No such file or directory)" style rendering of an errno value.
    static func errnoName(_ e: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENOMEM: "ENOMEM",
            EACCES: "EACCES", EBUSY: "EBUSY", EEXIST: "EEXIST", EINVAL: "EINVAL", ENOSPC: "ENOSPC",
            ERANGE: "ERANGE", EAGAIN: "EAGAIN", ENOBUFS: "ENOBUFS", ENOTCONN: "ENOTCONN",
            ESHUTDOWN: "ESHUTDOWN", ETIMEDOUT: "ETIMEDOUT", EOPNOTSUPP: "EOPNOTSUPP",
            EMSGSIZE: "EMSGSIZE", ENODATA: "ENODATA", EBADF: "EBADF", ECONNREFUSED: "ECONNREFUSED",
            ESTALE: "ESTALE",
        ]
        let text = strerror(e).map { String(cString: $0) } ?? "errno \(e)"
        if let name = names[e] { return "\(name) (\(text))" }
        return "errno \(e) (\(text))"
    }

    /// The error an `NLPUSH_CMD_REPLY`'s `NLPUSH_A_ERROR` (a negative errno) stands for;
    /// nil for 0 (answered).
    static func request(failedWith error: Int32) -> NetlinkPushError? {
        if error == 0 { return nil }
        let e = error == Int32.min ? EIO : (error < 0 ? -error : error)
        switch e {
        case ETIMEDOUT: return .timedOut(operation: .request)
        case ENOTCONN:
            return .rejected(operation: .request, errno: e, extack: "the last responder went away before answering")
        case ESHUTDOWN:
            return .rejected(operation: .request, errno: e, extack: "the nlpush module is being unloaded")
        default: return .kernel(.request, errno: e, extack: nil)
        }
    }

    /// Builds the right case for a negative-errno answer of the kernel.
    static func kernel(_ operation: Operation, errno e: Int32, extack: String?) -> NetlinkPushError {
        if e == EPERM || e == EACCES { return .permissionDenied(operation: operation, errno: e, extack: extack) }
        return .rejected(operation: operation, errno: e, extack: extack)
    }
}

/// The family name from the UAPI header, as a Swift string.
var nlpushFamilyName: String { Proto.familyName }
