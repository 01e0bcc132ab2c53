import ArgumentParser
import Foundation
import NetlinkPush

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the events the kernel's replay ring holds, then exit.",
        discussion: """
            Dumps the ring (NLPUSH_CMD_REPLAY) from --from SEQ on, or all of it, in the \
            format of 'nlpush monitor' (text or --json, without subscriber and latency). \
            When the ring no longer holds SEQ, the missing range is reported lost first. \
            Needs CAP_NET_ADMIN unless the module was loaded with unprivileged_listen=1.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "The first event to print (default: the oldest the ring holds).")
    var from: UInt64?

    @Option(name: .shortAndLong, help: "Print at most this many events.")
    var count: UInt32?

    @Option(name: .shortAndLong, help: "Print only events of these types (repeat it, or a comma list: -t 4,5).")
    var type: [String] = []

    @Option(help: "Payload bytes shown per event line.")
    var preview = 16

    func validate() throws {
        if let count, !(1...1_000_000).contains(count) { throw ValidationError("--count must be 1...1000000") }
        guard (0...4096).contains(preview) else { throw ValidationError("--preview must be 0...4096") }
        _ = try TypeFilter(type)
    }

    func run() async throws {
        try await guarded("replay") {
            let filter = try TypeFilter(type)
            let channel = try NetlinkPushChannel(logger: common.logger("nlpush"))
            // The kernel's COUNT limits the dump before the type filter: ask for everything then.
            var events = try await channel.replay(from: from, count: filter.types.isEmpty ? count : nil)
            // seq 0 is never published: --from 0 is --from 1
            if let from = from.map({ max($0, 1) }) {
                if let first = events.first {
                    if first.seq > from { lost(from...(first.seq - 1)) }
                } else {
                    let next = try await channel.stats().nextSeq
                    if next > from { lost(from...(next - 1)) }  // published since, and gone already
                }
            }
            events = events.filter { filter.admits($0.type) }
            if let count { events = Array(events.prefix(Int(count))) }
            let format = EventFormat(json: common.json, preview: preview)
            for e in events {
                Out.line(format.line(e, subscriber: nil, latencyNs: nil, intact: nil))
            }
            if !common.json {
                let range = events.first.map { f in " (seq \(f.seq)...\(events.last?.seq ?? f.seq))" } ?? ""
                Out.info("replayed \(events.count) event(s)\(range)")
            }
        }
    }

    private func lost(_ range: ClosedRange<UInt64>) {
        Out.lost(range, subscriber: nil, json: common.json)
    }
}
