import ArgumentParser
import Foundation
import NetlinkPush

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show the channel's counters and replay ring (open to everyone).")

    @OptionGroup var common: CommonOptions

    @Flag(help: "Print the counters once in Prometheus' text format, as 'nlpush exporter' serves them (for node_exporter's textfile collector). With the module not loaded: 'nlpush_up 0', exit 0.")
    var prometheus = false

    func validate() throws {
        if prometheus && common.json { throw ValidationError("--prometheus and --json exclude each other") }
    }

    func run() async throws {
        Out.setUp()
        if prometheus {
            try await printExposition()
            return
        }
        try await guarded("stats") {
            let s = try await NetlinkPushChannel(logger: common.logger("nlpush")).stats()
            let rows = StatsField.all.map { ($0.key, "\($0.value(s))") } + [("epoch", "\(s.epoch)")]
            if common.json {
                var j = JSONLine()
                j.add("kind", "stats")
                for (k, v) in rows { j.addRaw(k, v) }
                Out.line(j.text)
            } else {
                var t = Table(header: ["counter", "value"])
                t.rows = rows.map { [$0.0, $0.1] }
                for l in t.render() { Out.line(l) }
            }
        }
    }
}

extension StatsCommand {
    /// `--prometheus`: a module that is not loaded is data (`nlpush_up 0`), not an error;
    /// any other failure (permission, socket) is one line on stderr and its exit code.
    private func printExposition() async throws {
        var stats: Stats?
        do {
            stats = try await NetlinkPushChannel(logger: common.logger("nlpush")).stats()
        } catch .familyNotFound {
            Out.info("nlpush stats: the nlpush module is not loaded: nlpush_up 0")
        } catch {
            Out.error("nlpush stats: \(describe(error))")
            throw ExitCode(code(for: error))
        }
        let text = String(decoding: Exposition.render(stats), as: UTF8.self)
        for line in text.split(separator: "\n") { Out.line(String(line)) }
    }
}

struct Subscribers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the registered subscribers (open to everyone).")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        Out.setUp()
        try await guarded("subscribers") {
            let list = try await NetlinkPushChannel(logger: common.logger("nlpush")).subscribers()
            let now = monotonicNow()
            if common.json {
                for s in list {
                    var j = JSONLine()
                    j.add("kind", "subscriber")
                    j.add("portid", s.portID)
                    j.add("pid", s.pid)
                    j.add("name", s.name)
                    j.add("acks", s.acks)
                    j.add("last_acked_seq", s.lastAckedSeq)
                    j.add("replies", s.replies)
                    j.add("subscribed_ns", s.subscribedNs)
                    j.add("flags", s.flags)
                    j.add("responder", s.isResponder)
                    Out.line(j.text)
                }
                return
            }
            if list.isEmpty {
                Out.line("no subscribers")
                return
            }
            var t = Table(header: ["name", "pid", "port", "role", "acks", "last acked", "replies", "age"])
            for s in list {
                t.rows.append([
                    s.name, "\(s.pid)", "\(s.portID)", s.isResponder ? "responder" : "listener", "\(s.acks)",
                    "\(s.lastAckedSeq)", "\(s.replies)",
                    Format.duration(ns: now > s.subscribedNs ? now - s.subscribedNs : 0),
                ])
            }
            for l in t.render() { Out.line(l) }
        }
    }
}

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe the nlpush family as the kernel's controller reports it: id, version, groups, operations and their policies.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        Out.setUp()
        try await guarded("info") {
            let d = try NetlinkPushChannel(logger: common.logger("nlpush")).describe()
            if common.json {
                var j = JSONLine()
                j.add("kind", "info")
                j.add("name", d.name)
                j.add("id", d.id)
                j.add("version", d.version)
                j.add("max_attr", d.maxAttribute)
                j.addRaw("groups", "[" + d.groups.map { g in
                    var o = JSONLine()
                    o.add("name", g.name)
                    o.add("id", g.id)
                    return o.text
                }.joined(separator: ",") + "]")
                j.addRaw("operations", "[" + d.operations.map { op in
                    var o = JSONLine()
                    o.add("cmd", op.command)
                    o.add("name", op.name)
                    o.addRaw("flags", "[" + op.flags.map(JSONLine.quote).joined(separator: ",") + "]")
                    o.addRaw("attributes", "[" + op.attributes.map { a in
                        var x = JSONLine()
                        x.add("type", a.type)
                        x.add("name", a.name)
                        x.add("kind", a.kind)
                        if let r = a.range { x.add("range", r) }
                        return x.text
                    }.joined(separator: ",") + "]")
                    return o.text
                }.joined(separator: ",") + "]")
                Out.line(j.text)
                return
            }
            Out.line("family \(d.name): id \(d.id), version \(d.version)")
            for g in d.groups { Out.line("multicast group \(g.name): id \(g.id)") }
            Out.line("operations:")
            for op in d.operations {
                Out.line("  \(op.name) (cmd \(op.command))  [\(op.flags.joined(separator: ", "))]")
                for a in op.attributes {
                    Out.line("      \(a.name) (\(a.type)): \(a.kind)\(a.range.map { " " + $0 } ?? "")")
                }
            }
        }
    }
}
