import Foundation
import Testing
@testable import NetlinkPush

/// The Swift side takes every protocol number from the C headers, so these tests check
/// what can still drift: that each value the nlpush UAPI header defines has a Swift
/// name (a header regenerated with a new attribute fails here until Swift knows it),
/// that each Swift name maps to the C constant of the same name, and that the netlink
/// numbers are the kernel ABI's.
@Suite("Constants: Swift names against the C headers")
struct ConstantsTests {
    /// kmod/include/uapi/linux/nlpush.h, parsed as text (independently of the C import).
    struct Header {
        var enums: [String: [(name: String, value: Int)]] = [:]
        var defines: [String: String] = [:]

        init() throws {
            let url = URL(fileURLWithPath: #filePath)
                .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("kmod/include/uapi/linux/nlpush.h")
            let text = try String(contentsOf: url, encoding: .utf8)
            var current: String?
            var next = 0
            for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("#define ") {
                    let parts = line.dropFirst(8).split(whereSeparator: { $0 == " " || $0 == "\t" })
                    if parts.count >= 2 { defines[String(parts[0])] = parts[1...].joined(separator: " ") }
                } else if line.hasPrefix("enum "), line.hasSuffix("{") {
                    current = String(line.dropFirst(5).dropLast().trimmingCharacters(in: .whitespaces))
                    next = 0
                    enums[current!] = []
                } else if line.hasPrefix("}") {
                    current = nil
                } else if let c = current, line.hasPrefix("NLPUSH_") || line.hasPrefix("__NLPUSH_") {
                    let entry = line.trimmingCharacters(in: CharacterSet(charactersIn: ","))
                    let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    var value = next
                    if parts.count == 2 {
                        if let v = Int(parts[1]) {
                            value = v
                        } else {
                            // `(__NLPUSH_X_MAX - 1)`
                            let expr = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "()"))
                            let ops = expr.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
                            let base = enums[c]?.first { $0.name == ops[0] }?.value ?? -1000
                            value = base - (Int(ops.last ?? "0") ?? 0)
                        }
                    }
                    enums[c, default: []].append((parts[0], value))
                    next = value + 1
                }
            }
        }

        /// The members named `prefix*` with a value in 1...MAX (UNSPEC and the MAX markers left out).
        func members(_ enumName: String, prefix: String) -> [(name: String, value: Int)] {
            let all = enums[enumName] ?? []
            return all.filter { $0.name.hasPrefix(prefix) && $0.name != prefix + "UNSPEC" && $0.name != prefix + "MAX" }
        }
        func value(_ enumName: String, _ name: String) -> Int? { enums[enumName]?.first { $0.name == name }?.value }
    }

    static func check<N: CNumber>(_ type: N.Type, _ enumName: String, prefix: String, header: Header) {
        let members = header.members(enumName, prefix: prefix)
        #expect(!members.isEmpty, "no \(prefix)* members in enum \(enumName)")
        // Every header value has a Swift name, and it is the C name.
        for m in members {
            let raw = N.RawValue(m.value)
            let swift = N(known: raw)
            #expect(swift != nil, "\(m.name) = \(m.value) has no Swift name")
            #expect(swift?.cName == String(m.name.dropFirst(prefix.count)), "\(m.name): Swift calls it \(swift?.cName ?? "-")")
        }
        // Nothing Swift-only, no value twice, and the same MAX.
        #expect(N.allCases.count == members.count)
        #expect(Set(N.allCases).count == N.allCases.count)
        #expect(Int(N.max) == header.value(enumName, prefix + "MAX"))
        #expect(N(known: N.max + 1) == nil)
        #expect(N(known: 0) == nil)
    }

    @Test("every nlpush enum value has its Swift name, and only those")
    func enumsMatchHeader() throws {
        let header = try Header()
        Self.check(Proto.Cmd.self, "nlpush_cmd", prefix: "NLPUSH_CMD_", header: header)
        Self.check(Proto.Attr.self, "nlpush_attr", prefix: "NLPUSH_A_", header: header)
        Self.check(Proto.StatsAttr.self, "nlpush_stats_attr", prefix: "NLPUSH_STATS_A_", header: header)
        Self.check(Proto.SubscriberAttr.self, "nlpush_subscriber_attr", prefix: "NLPUSH_SUBSCRIBER_A_", header: header)
        // Spot checks of the Swift names the code uses.
        #expect(Int(Proto.Attr.seq.rawValue) == header.value("nlpush_attr", "NLPUSH_A_SEQ"))
        #expect(Int(Proto.Attr.epoch.rawValue) == header.value("nlpush_attr", "NLPUSH_A_EPOCH"))
        #expect(Int(Proto.Cmd.reply.rawValue) == header.value("nlpush_cmd", "NLPUSH_CMD_REPLY"))
        #expect(Int(Proto.StatsAttr.txqDrops.rawValue) == header.value("nlpush_stats_attr", "NLPUSH_STATS_A_TXQ_DROPS"))
        #expect(Int(Proto.SubscriberAttr.flags.rawValue) == header.value("nlpush_subscriber_attr", "NLPUSH_SUBSCRIBER_A_FLAGS"))
        #expect(Proto.Attr.nameOf(Proto.Attr.timeoutMs.rawValue) == "TIMEOUT_MS")
        #expect(Proto.Attr.nameOf(999) == "#999")
        #expect(ControllerDecoder.commandName(UInt32(Proto.Cmd.getSubscribers.rawValue)) == "GET_SUBSCRIBERS")
        #expect(ControllerDecoder.commandName(300) == "cmd 300")
    }

    @Test("limits, names and flags match the header's defines")
    func definesMatchHeader() throws {
        let h = try Header()
        #expect(h.defines["NLPUSH_FAMILY_NAME"] == "\"\(Proto.familyName)\"")
        #expect(h.defines["NLPUSH_MCGRP_EVENTS"] == "\"\(Proto.eventsGroupName)\"")
        #expect(h.defines["NLPUSH_FAMILY_VERSION"] == "\(Proto.version)")
        #expect(h.defines["NLPUSH_PAYLOAD_MAX"] == "\(Proto.payloadMax)")
        #expect(h.defines["NLPUSH_NAME_MAX"] == "\(Proto.nameMax)")
        #expect(h.defines["NLPUSH_EMIT_COUNT_MAX"] == "\(Proto.emitCountMax)")
        #expect(h.defines["NLPUSH_TIMEOUT_MS_MAX"] == "\(Proto.timeoutMsMax)")
        let flags = h.enums["nlpush_event_flags"] ?? []
        #expect(flags.map(\.name) == ["NLPUSH_F_REPLY_WANTED", "NLPUSH_F_REPLAYED", "NLPUSH_F_RESPONDER"])
        #expect(flags.map { UInt32($0.value) } == [Proto.flagReplyWanted, Proto.flagReplayed, Proto.flagResponder])
        #expect(EventFlags.replyWanted.rawValue == Proto.flagReplyWanted)
        #expect(EventFlags.replayed.rawValue == Proto.flagReplayed)
    }

    /// The netlink numbers are kernel ABI, fixed for good: a Swift name mapped to the
    /// wrong C macro shows up here.
    @Test("netlink and genetlink constants are the kernel ABI's")
    func netlinkABI() {
        #expect(NL.headerSize == 16)
        #expect(NL.genlHeaderSize == 4)
        #expect(NL.attrHeaderSize == 4)
        #expect([NL.typeNoop, NL.typeError, NL.typeDone, NL.typeOverrun, NL.genlIDCtrl] == [1, 2, 3, 4, 16])
        #expect([NL.fRequest, NL.fMulti, NL.fAck, NL.fDumpIntr, NL.fDump] == [0x1, 0x2, 0x4, 0x10, 0x300])
        #expect([NL.fCapped, NL.fAckTLVs] == [0x100, 0x200])
        #expect(NL.nlaTypeMask == 0x3fff)
        #expect(NL.nlaFNested == 0x8000)
        #expect([NL.errAttrMsg, NL.errAttrOffs, NL.errAttrMissType] == [1, 2, 5])
        #expect([NL.ctrlCmdNewFamily, NL.ctrlCmdDelFamily, NL.ctrlCmdGetFamily, NL.ctrlCmdGetPolicy] == [1, 2, 3, 10])
        #expect(
            [NL.ctrlAttrFamilyID, NL.ctrlAttrFamilyName, NL.ctrlAttrVersion, NL.ctrlAttrMaxAttr, NL.ctrlAttrOps,
             NL.ctrlAttrMcastGroups, NL.ctrlAttrPolicy, NL.ctrlAttrOpPolicy] == [1, 2, 3, 5, 6, 7, 8, 9])
        #expect([NL.ctrlAttrOpID, NL.ctrlAttrOpFlags, NL.ctrlAttrMcastGrpName, NL.ctrlAttrMcastGrpID] == [1, 2, 1, 2])
        #expect([NL.ctrlAttrPolicyDo, NL.ctrlAttrPolicyDump] == [1, 2])
        #expect(
            [NL.genlAdminPerm, NL.genlCmdCapDo, NL.genlCmdCapDump, NL.genlCmdCapHasPolicy, NL.genlUnsAdminPerm]
                == [0x1, 0x2, 0x4, 0x8, 0x10])
        #expect(
            [NL.msgTypeOffset, NL.msgFlagsOffset, NL.msgSeqOffset, NL.msgPortIDOffset, NL.attrTypeOffset,
             NL.genlCommandOffset, NL.genlVersionOffset, NL.errMsgOffset] == [Int]([4, 6, 8, 12, 2, 0, 1, 4]))
        #expect([NL.align(0), NL.align(1), NL.align(4), NL.align(5)] == [Int]([0, 4, 4, 8]))
        #expect(ControllerDecoder.opFlags(0x1f) == ["do", "dump", "admin-perm", "uns-admin-perm", "has-policy"])
        #expect(ControllerDecoder.kindName(3) == "u16")
        #expect(ControllerDecoder.kindName(17) == "uint")
        #expect(ControllerDecoder.kindName(99) == "type 99")
    }
}
