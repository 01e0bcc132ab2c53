import ArgumentParser
import Foundation
import Logging
import NetlinkPush

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@main
struct NLPush: AsyncParsableCommand {
    /// The CLI's version: the one place it is written (kmod/dkms.conf carries the module's).
    static let cliVersion = "1.1.0"

    static let configuration = CommandConfiguration(
        commandName: "nlpush",
        abstract: "Watch, answer and drive the nlpush kernel-to-userspace push channel.",
        discussion: """
            Data goes to stdout, one line at a time; banners, progress and errors go to \
            stderr. Durations take a unit: 500ms, 2s, 1.5m (ns, us, ms, s, m, h). \
            Short options mean the same everywhere: -c count, -t type, -s size, \
            -d duration, -j jobs, -q quiet, -v verbose. \
            Exit codes: 0 success, 1 a command failed, 64 bad arguments, 65 kernel \
            rejected the request (its extack message is printed), 69 nlpush module not \
            loaded, 74 other I/O or socket error, 75 timed out, 77 permission denied \
            (most commands need CAP_NET_ADMIN).
            """,
        subcommands: subcommands
    )

    /// `exporter` only with the package trait `Exporter` (on by default).
    static var subcommands: [any ParsableCommand.Type] {
        var all: [any ParsableCommand.Type] = [
            Monitor.self, Replay.self, Respond.self, Emit.self, StatsCommand.self, Subscribers.self, Info.self,
            Bench.self,
        ]
        #if Exporter
        all.append(Exporter.self)
        #endif
        return all
    }

    @Flag(name: .long, help: "Print the CLI's version, the protocol version it speaks, and the loaded module's.")
    var version = false

    func run() async throws {
        guard version else { throw CleanExit.helpRequest(self) }
        Out.line("nlpush \(NLPush.cliVersion) (protocol version \(NetlinkPushChannel.protocolVersion))")
        var quiet = Logger(label: "nlpush") { _ in SwiftLogNoOpLogHandler() }
        quiet.logLevel = .critical
        do {
            let channel = try NetlinkPushChannel(logger: quiet)
            let epoch = (try? await channel.stats()).map { String($0.epoch, radix: 16) } ?? "?"
            Out.line("module: nlpush loaded, family version \(channel.version), epoch \(epoch)")
        } catch {
            Out.line("module: not loaded")
        }
    }

    /// `main` of `AsyncParsableCommand`, except that every error is one line on stderr
    /// (ArgumentParser prints the usage after it; `nlpush help COMMAND` has it) and
    /// SIGPIPE is ignored: a closed pipe is an EPIPE the CLI handles where it writes.
    static func main() async {
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if error is CleanExit || error is ExitCode || code.rawValue == 0 {
                exit(withError: error)  // help, or an exit whose message was printed already
            }
            let text = message(for: error).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: "; ")
            Out.error("nlpush: \(text) (see 'nlpush help')")
            Glibc.exit(code.rawValue)
        }
    }
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
    case .permissionDenied(let op, _, _) where op == .joinGroup || op == .replay:
        return "\(op): permission denied: listening needs CAP_NET_ADMIN, "
            + "or the module loaded with unprivileged_listen=1"
    case .permissionDenied(let op, _, let extack):
        return "\(op): permission denied (needs CAP_NET_ADMIN; run as root)"
            + (extack.map { ": \($0)" } ?? "")
    case .rejected(.request, let errno, let extack) where errno == ENOTCONN:
        return "no responder: the request was not answered (ENOTCONN"
            + (extack.map { ": \($0)" } ?? "") + "); start one with 'nlpush respond'"
    case .timedOut(.request), .rejected(.request, ETIMEDOUT, _):
        return "timed out: no responder answered the request in time (ETIMEDOUT)"
    case .invalidArgument(let reason):
        return reason
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

/// A duration with its unit, the one spelling of every timeout and duration of the CLI:
/// `500ms`, `2s`, `1.5m`, `100us`, `250ns`, `1h`. A bare number is refused (a unit-less
/// timeout meant milliseconds in one command and seconds in another before).
struct DurationArgument: Sendable, CustomStringConvertible {
    var nanoseconds: UInt64

    init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }
    static func seconds(_ s: UInt64) -> DurationArgument { .init(nanoseconds: s * 1_000_000_000) }
    static func milliseconds(_ ms: UInt64) -> DurationArgument { .init(nanoseconds: ms * 1_000_000) }

    private static let units: [(String, Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ]

    /// The `transform` of every duration option: a readable error for a bad value.
    static func parse(_ text: String) throws -> DurationArgument {
        let s = text.trimmingCharacters(in: .whitespaces).lowercased()
        let number = s.prefix { $0.isNumber || $0 == "." }
        let unit = s.dropFirst(number.count)
        guard let value = Double(number), value.isFinite, value >= 0 else {
            throw ValidationError("'\(text)' is not a duration: write a number and a unit, e.g. 500ms or 2s")
        }
        if unit.isEmpty {
            throw ValidationError("'\(text)' has no unit: write \(text)ms or \(text)s")
        }
        guard let mult = units.first(where: { $0.0 == unit })?.1 else {
            throw ValidationError("'\(text)': unknown unit '\(unit)' (ns, us, ms, s, m, h)")
        }
        let ns = value * mult
        guard ns < 1e18 else { throw ValidationError("'\(text)' is too long") }
        return DurationArgument(nanoseconds: UInt64(ns.rounded()))
    }

    var duration: Duration { .nanoseconds(Int64(nanoseconds)) }
    /// Whole milliseconds, rounded up (a 1.5 ms timeout waits 2 ms, not 1).
    var milliseconds: UInt64 { (nanoseconds + 999_999) / 1_000_000 }
    var seconds: Double { Double(nanoseconds) / 1e9 }

    var description: String {
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        if nanoseconds % 1_000 == 0 { return "\(nanoseconds / 1_000)us" }
        return "\(nanoseconds)ns"
    }
}

/// `--type 4 --type 5,6`: the event types a command shows or answers (none: all).
struct TypeFilter: Sendable {
    var types: Set<UInt32> = []

    init(_ arguments: [String]) throws {
        for a in arguments {
            for part in a.split(separator: ",", omittingEmptySubsequences: false) {
                let p = part.trimmingCharacters(in: .whitespaces)
                let v = p.hasPrefix("0x") ? UInt32(p.dropFirst(2), radix: 16) : UInt32(p)
                guard let v else {
                    throw ValidationError("--type: '\(p)' is not an event type (0...4294967295, or 0x hex)")
                }
                types.insert(v)
            }
        }
    }

    func admits(_ type: UInt32) -> Bool { types.isEmpty || types.contains(type) }
}
