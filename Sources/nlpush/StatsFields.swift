import NetlinkPush

/// The values of `GET_STATS` the CLI shows, listed once: `nlpush stats` prints them
/// under `key` (in this order, then `epoch`), `nlpush exporter` and
/// `nlpush stats --prometheus` serve them as `nlpush_<key>` (`_total` for a counter)
/// with `help` as the `# HELP` text. The epoch is the `nlpush_info` label there.
struct StatsField: Sendable {
    enum Kind: Sendable {
        /// Only grows within one load of the module.
        case counter
        /// A level or a limit.
        case gauge
    }

    var key: String
    var kind: Kind
    var help: String
    var value: @Sendable (Stats) -> UInt64

    /// The Prometheus metric name.
    var metricName: String { "nlpush_\(key)" + (kind == .counter ? "_total" : "") }

    private init(_ key: String, _ kind: Kind, _ help: String, _ value: @escaping @Sendable (Stats) -> UInt64) {
        self.key = key
        self.kind = kind
        self.help = help
        self.value = value
    }

    static let all: [StatsField] = [
        .init("published", .counter, "Events published (each took one sequence number).") { $0.published },
        .init("delivered", .counter, "Events the multicast reached at least one listener with.") { $0.delivered },
        .init("no_listeners", .counter, "Events published while no socket listened.") { $0.noListeners },
        .init("delivery_errors", .counter, "Events whose multicast failed for some listener (overrun, no memory).") {
            $0.deliveryErrors
        },
        .init("publish_failures", .counter, "Publications refused before a sequence number was assigned.") {
            $0.publishFailures
        },
        .init("acks", .counter, "Events acknowledged and requests answered (a range ack counts each event).") { $0.acks },
        .init("acks_rejected", .counter, "Acknowledgements the kernel rejected.") { $0.acksRejected },
        .init("requests", .counter, "Requests published (events that want a reply).") { $0.requests },
        .init("replies", .counter, "Requests answered by a responder.") { $0.replies },
        .init("request_timeouts", .counter, "Requests that timed out.") { $0.requestTimeouts },
        .init("requests_pending", .gauge, "Requests waiting for an answer.") { UInt64($0.requestsPending) },
        .init("subscribers", .gauge, "Registered subscribers.") { UInt64($0.subscribers) },
        .init("oldest_seq", .gauge, "Oldest sequence number the replay ring holds.") { $0.oldestSeq },
        .init("next_seq", .gauge, "Sequence number the next event gets.") { $0.nextSeq },
        .init("ring_events", .gauge, "Events in the replay ring.") { UInt64($0.ringEvents) },
        .init("ring_bytes", .gauge, "Bytes in the replay ring.") { $0.ringBytes },
        .init("ring_max_events", .gauge, "Capacity of the replay ring in events (module parameter ring_events).") {
            UInt64($0.ringMaxEvents)
        },
        .init("ring_max_bytes", .gauge, "Capacity of the replay ring in bytes (module parameter ring_bytes).") {
            $0.ringMaxBytes
        },
        .init("replayed", .counter, "Events sent by replay dumps.") { $0.replayed },
        .init("responders", .gauge, "Subscribers registered as responders.") { UInt64($0.responders) },
        .init("txq_drops", .counter, "Events not multicast because the transmit queue was full (still in the replay ring).") {
            $0.txqDrops
        },
        .init(
            "requests_failed", .counter,
            "Requests that ended unanswered for another reason than a timeout (no responder left, unload)."
        ) { $0.requestsFailed },
        .init("replies_undelivered", .counter, "REPLY messages the kernel could not deliver to the requesting socket.") {
            $0.repliesUndelivered
        },
    ]
}
