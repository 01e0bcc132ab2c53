import ArgumentParser
import Logging
import NetlinkPush

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@main
struct NLPush: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nlpush",
        abstract: "Watch, answer and drive the nlpush kernel-to-userspace push channel.",
        discussion: """
            Exit codes: 0 success, 64 bad arguments, 65 kernel rejected the request \
            (its extack message is printed), 69 nlpush module not loaded, \
            77 permission denied (most commands need CAP_NET_ADMIN), 75 timed out, \
            74 other I/O or socket error.
            """,
        subcommands: [
            Monitor.self, Respond.self, Emit.self, StatsCommand.self, Subscribers.self, Info.self, Bench.self,
        ]
    )
}

/// Exit codes, from sysexits.h where one fits.
enum Exit {
    static let usage: Int32 = 64
    static let rejected: Int32 = 65
    static let unavailable: Int32 = 69
    static let ioError: Int32 = 74
    static let timedOut: Int32 = 75
    static let noPermission: Int32 = 77
    static let failed: Int32 = 1
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON (one object per line) instead of text.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log what the library does (to stderr).")
    var verbose = false

    func logger(_ label: String) -> Logger {
        var l = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        l.logLevel = verbose ? .debug : .warning
        return l
    }
}

/// Runs `body`, turning library errors into one readable line and a distinct exit code.
func guarded(_ what: String, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as NetlinkPushError {
        Out.error("nlpush \(what): \(describe(e))")
        throw ExitCode(code(for: e))
    }
}

func describe(_ e: NetlinkPushError) -> String {
    switch e {
    case .familyNotFound:
        return "the nlpush kernel module is not loaded (generic netlink family 'nlpush' not found); "
            + "load it with 'insmod kmod/nlpush.ko' or 'modprobe nlpush'"
    case .permissionDenied(let op, _, let extack?) where op == .ack:
        return "\(op): permission denied: \(extack)"  // e.g. an answer from a non-responder
    case .permissionDenied(let op, _, let extack):
        return "\(op): permission denied (needs CAP_NET_ADMIN; run as root)"
            + (extack.map { ": \($0)" } ?? "")
    case .rejected(.request, let errno, let extack) where errno == ENOTCONN:
        return "no responder: the request was not answered (ENOTCONN"
            + (extack.map { ": \($0)" } ?? "") + "); start one with 'nlpush respond'"
    case .timedOut(.request), .rejected(.request, ETIMEDOUT, _):
        return "timed out: no responder answered the request in time (ETIMEDOUT)"
    default:
        return e.description
    }
}

func code(for e: NetlinkPushError) -> Int32 {
    switch e {
    case .familyNotFound: return Exit.unavailable
    case .permissionDenied: return Exit.noPermission
    case .rejected(_, let errno, _) where errno == ETIMEDOUT: return Exit.timedOut
    case .rejected: return Exit.rejected
    case .timedOut: return Exit.timedOut
    case .invalidArgument, .invalidOption: return Exit.usage
    case .malformed, .socket, .closed, .alreadyIterated: return Exit.ioError
    case .cancelled: return Exit.failed
    }
}

/// Parses "1k", "64KiB", "2M" and plain byte counts.
struct ByteCount: ExpressibleByArgument, Sendable {
    var value: Int
    init?(argument: String) {
        let s = argument.lowercased().replacingOccurrences(of: "ib", with: "").replacingOccurrences(of: "b", with: "")
        var mult = 1
        var digits = Substring(s)
        if let last = s.last, "kmg".contains(last) {
            mult = last == "k" ? 1024 : last == "m" ? 1024 * 1024 : 1024 * 1024 * 1024
            digits = s.dropLast()
        }
        guard let n = Int(digits), n >= 0 else { return nil }
        value = n * mult
    }
    init(_ v: Int) { value = v }
    static var defaultCompletionKind: CompletionKind { .default }
}
