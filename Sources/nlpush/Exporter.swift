#if Exporter
import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NetlinkPush
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `nlpush exporter`: the channel's counters for Prometheus, over HTTP.
///
/// The HTTP server is Hummingbird's (swift-nio underneath): it bounds what one client
/// can cost, which a server facing arbitrary clients needs — request headers are limited
/// (`431`/closed beyond 16 KiB), idle and slow connections are closed after
/// `--idle-timeout`, at most `--max-connections` are open at once (more wait in the
/// listen backlog), and an accept that fails (no file descriptors left) is retried, not
/// fatal. Every scrape asks the kernel for `GET_STATS` afresh.
struct Exporter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the channel's counters to Prometheus over HTTP (/metrics).",
        discussion: """
            GET /metrics answers with the module's GET_STATS counters in Prometheus' text \
            format (nlpush_published_total, nlpush_delivered_total, ... with # HELP \
            lines; nlpush_info{epoch="..."} names the module load). When the module is not \
            loaded it still answers, with nlpush_up 0, and picks the module up again when \
            it comes back. GET / is a one-line page. With --subscribe the exporter also \
            subscribes to the events (needs CAP_NET_ADMIN) and serves that subscription's \
            nlpush_events_received_total, nlpush_events_lost_total, \
            nlpush_events_recovered_total and a publish-to-receive latency histogram \
            (nlpush_publish_to_receive_seconds). It listens on loopback only unless \
            --allow-remote is given. The address it serves on is printed on stderr. \
            SIGINT or SIGTERM stop it.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "HOST:PORT to serve on ([IPv6]:PORT for IPv6; port 0 picks a free one).")
    var listen = "127.0.0.1:9464"

    @Flag(help: "Allow a --listen address other than loopback: other hosts can then read the counters.")
    var allowRemote = false

    @Flag(help: "Also subscribe to the events: received/lost/recovered counters and a publish-to-receive latency histogram.")
    var subscribe = false

    @Option(help: "Subscriber name with --subscribe (shown by 'nlpush subscribers').")
    var name = "exporter"

    @Option(help: "Close a connection that sends nothing for this long, e.g. 10s.", transform: DurationArgument.parse)
    var idleTimeout = DurationArgument.seconds(10)

    @Option(help: "Connections open at once (1-65536); more wait in the listen backlog.")
    var maxConnections = 512

    func validate() throws {
        let address = try ListenAddress(parsing: listen)
        if !address.isLoopback && !allowRemote {
            throw ValidationError(
                "--listen \(listen) is not a loopback address: add --allow-remote to serve other hosts")
        }
        guard idleTimeout.nanoseconds >= 1_000_000 else { throw ValidationError("--idle-timeout must be at least 1ms") }
        guard (1...65536).contains(maxConnections) else {
            throw ValidationError("--max-connections must be between 1 and 65536")
        }
        guard (1...31).contains(name.utf8.count) else { throw ValidationError("--name must be 1 to 31 bytes") }
    }

    func run() async throws {
        Out.setUp()
        let address = try ListenAddress(parsing: listen)
        let logger = common.logger("nlpush.exporter")
        let registry = PrometheusCollectorRegistry()
        if subscribe {
            // the library's subscription metrics (received, lost, ...) go to `registry`
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        }
        let source = ModuleSource(logger: logger)

        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            var body = Exposition.render(await source.stats())
            registry.emit(into: &body)
            return Response(
                status: .ok, headers: [.contentType: Exposition.contentType],
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "nlpush exporter: metrics at /metrics\n")))
        }

        let running = Mutex(false)
        let app = Application(
            router: router,
            server: .http1(
                configuration: .init(
                    idleTimeout: .nanoseconds(Int64(idleTimeout.nanoseconds)),
                    httpDecoderConfiguration: .init(
                        maxHeaderFieldSize: 8 * 1024, maxHeaderListSize: 16 * 1024, maxHeaderFieldCount: 100))),
            configuration: .init(
                address: .hostname(address.host, port: address.port), serverName: nil,
                availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: logger)),
            onServerRunning: { channel in
                running.withLock { $0 = true }
                let port = channel.localAddress?.port ?? address.port
                Out.info("nlpush exporter: serving http://\(address.hostForURL):\(port)/metrics; Ctrl-C to stop")
            },
            logger: logger)

        let subscriber = subscribe ? EventSubscriber(name: name, registry: registry, logger: logger) : nil
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService() }
                group.addTask { await source.run() }
                if let subscriber { group.addTask { try await subscriber.run() } }
                try await group.next()
                group.cancelAll()
            }
        } catch let e as NetlinkPushError {
            Out.error("nlpush exporter: \(describe(e))")
            throw ExitCode(code(for: e))
        } catch {
            if running.withLock({ $0 }) {
                Out.error("nlpush exporter: \(error)")
            } else {
                Out.error("nlpush exporter: cannot serve on \(listen): \(Self.errorText(error))")
            }
            throw ExitCode(Exit.ioError)
        }
        Out.info("nlpush exporter: stopped")
    }
}

extension Exporter {
    /// A socket error as strerror(3) says it; anything else as it describes itself.
    static func errorText(_ error: any Error) -> String {
        guard let io = error as? IOError else { return "\(error)" }
        return "\(String(cString: strerror(io.errnoCode))) (errno \(io.errnoCode))"
    }
}

/// `--listen`'s value: `HOST:PORT`, `[IPV6]:PORT`.
struct ListenAddress: Sendable {
    var host: String
    var port: Int

    init(parsing text: String) throws {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ValidationError("--listen \(text): write [IPV6]:PORT, e.g. [::1]:9464")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ValidationError("--listen \(text): write HOST:PORT, e.g. 127.0.0.1:9464 ([IPV6]:PORT for IPv6)")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw ValidationError("--listen \(text): the host is missing") }
        guard let port = Int(portPart), (0...65535).contains(port) else {
            throw ValidationError("--listen \(text): the port must be a number from 0 to 65535")
        }
        host = String(hostPart)
        self.port = port
    }

    /// `localhost`, 127.0.0.0/8 or ::1.
    var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        var v4 = in_addr()
        guard inet_pton(AF_INET, host, &v4) == 1 else { return false }
        return UInt32(bigEndian: v4.s_addr) >> 24 == 127
    }

    var hostForURL: String { host.contains(":") ? "[\(host)]" : host }
}

/// The module's counters at each scrape, over a channel kept between scrapes.
///
/// A scrape never opens the channel: ``run()`` does, once a second while there is none.
/// Opening resolves the family by name, and with the module absent the kernel then tries
/// to load it (a usermode `modprobe`), which on a slow machine can take longer than a
/// scrape's timeout; a scrape without a channel answers `nlpush_up 0` at once.
final class ModuleSource: Sendable {
    private let channel = Mutex<NetlinkPushChannel?>(nil)
    /// Whether the last scrape reached the module (nil before the first), to log changes only.
    private let wasUp = Mutex<Bool?>(nil)
    /// Why run() could not open the channel the last time it tried.
    private let openError = Mutex<NetlinkPushError?>(nil)
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Keeps a channel open: tries to open one every second while there is none, until
    /// the task is cancelled.
    func run() async {
        while !Task.isCancelled {
            if channel.withLock({ $0 }) == nil {
                do throws(NetlinkPushError) {
                    let ch = try NetlinkPushChannel(logger: logger, metrics: .disabled)
                    channel.withLock { $0 = ch }
                } catch {
                    openError.withLock { $0 = error }
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// `GET_STATS`, or nil when the module does not answer (or no channel is open yet).
    func stats() async -> Stats? {
        guard let ch = channel.withLock({ $0 }) else {
            note(up: false, openError.withLock { $0 })
            return nil
        }
        do throws(NetlinkPushError) {
            let s = try await ch.stats()
            note(up: true, nil)
            return s
        } catch {
            // run() opens a new one
            channel.withLock { if $0 === ch { $0 = nil } }
            note(up: false, error)
            return nil
        }
    }

    private func note(up: Bool, _ error: NetlinkPushError?) {
        let changed = wasUp.withLock { was in
            defer { was = up }
            return was != up
        }
        guard changed else { return }
        if up {
            Out.info("nlpush exporter: module answers (nlpush_up 1)")
        } else {
            Out.info("nlpush exporter: nlpush_up 0: \(error.map(describe) ?? "no answer")")
        }
    }
}

/// `--subscribe`: one subscription, kept open across module reloads (waiting while the
/// module is not loaded), feeding the publish-to-receive latency histogram; the library
/// itself counts received, lost and recovered events into the bootstrapped registry.
struct EventSubscriber: Sendable {
    let name: String
    let latency: DurationHistogram
    let logger: Logger

    init(name: String, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.name = name
        self.logger = logger
        let us = { (n: Int64) in Duration.microseconds(n) }
        latency = registry.makeDurationHistogram(
            descriptor: Exposition.descriptor(
                "nlpush_publish_to_receive_seconds",
                "Time from an event's publication in the kernel to its reception by the exporter's subscription (live events)."),
            labels: [("subscription", name)],
            buckets: [
                us(10), us(25), us(50), us(100), us(250), us(500), us(1000), us(2500), us(5000), us(10_000),
                us(25_000), us(50_000), us(100_000), us(250_000), us(500_000), us(1_000_000), us(5_000_000),
            ])
    }

    func run() async throws(NetlinkPushError) {
        var waiting = false
        while !Task.isCancelled {
            let subscription: Subscription
            do throws(NetlinkPushError) {
                subscription = try NetlinkPushChannel(logger: logger).subscribe(name: name)
            } catch {
                guard case .familyNotFound = error else { throw error }
                if !waiting { Out.info("nlpush exporter: --subscribe waits for the nlpush module to be loaded") }
                waiting = true
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            waiting = false
            Out.info("nlpush exporter: subscribed as '\(name)'")
            try await consume(subscription)
        }
    }

    private func consume(_ subscription: Subscription) async throws(NetlinkPushError) {
        do {
            try await withTaskCancellationHandler {
                for try await item in subscription.events {
                    switch item {
                    case .event(let e) where !e.flags.contains(.replayed) && e.latencyNs > 0:
                        latency.recordNanoseconds(Int64(clamping: e.latencyNs))
                    case .disconnected:
                        Out.info("nlpush exporter: the nlpush module went away; the subscription waits for it")
                    case .reconnected:
                        Out.info("nlpush exporter: the nlpush module is back; subscribed again")
                    default:
                        break
                    }
                }
            } onCancel: {
                subscription.cancel()
            }
        } catch let e as NetlinkPushError {
            if case .cancelled = e { return }
            throw e
        } catch {
            return
        }
    }
}
#endif
