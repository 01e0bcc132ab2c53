/// A request the library sends to the nlpush family, independent of how it is
/// encoded (libnl in ``NLSocket``, or ``GenlMessageBuilder`` for fixtures).
enum ControlRequest: Equatable, Sendable {
    /// SUBSCRIBE; `flags` (`NLPUSH_F_RESPONDER`) only when given.
    case subscribe(name: String, flags: UInt32? = nil)
    case unsubscribe
    /// ACK: STATUS (and PAYLOAD) answer a request; EPOCH names the module load.
    case ack(seq: UInt64, status: Int32?, payload: [UInt8]?, epoch: UInt64? = nil)
    /// ACK with COUNT: the events `seq ..< seq + count` in one message.
    case ackRange(seq: UInt64, count: UInt32, epoch: UInt64?)
    case getStats
    case getSubscribers
    /// REPLAY from `from` (all when nil), at most `count` events (all when nil).
    case replay(from: UInt64?, count: UInt32? = nil)
    case emit(type: UInt32?, payload: [UInt8]?, count: UInt32?, flags: UInt32?, timeoutMs: UInt32?)
    /// To the generic netlink controller (family id `GENL_ID_CTRL`): CTRL_CMD_GETFAMILY.
    case ctrlGetFamily(name: String)
    /// To the controller: CTRL_CMD_GETPOLICY dump of a family's policies.
    case ctrlGetPolicy(familyID: UInt16)

    /// The genlmsghdr command byte.
    var command: UInt8 {
        switch self {
        case .subscribe: Proto.Cmd.subscribe.rawValue
        case .unsubscribe: Proto.Cmd.unsubscribe.rawValue
        case .ack, .ackRange: Proto.Cmd.ack.rawValue
        case .getStats: Proto.Cmd.getStats.rawValue
        case .getSubscribers: Proto.Cmd.getSubscribers.rawValue
        case .replay: Proto.Cmd.replay.rawValue
        case .emit: Proto.Cmd.emit.rawValue
        case .ctrlGetFamily: NL.ctrlCmdGetFamily
        case .ctrlGetPolicy: NL.ctrlCmdGetPolicy
        }
    }

    var isDump: Bool {
        switch self {
        case .getSubscribers, .replay, .ctrlGetPolicy: true
        default: false
        }
    }

    /// NLM_F_REQUEST plus NLM_F_DUMP for dumps, NLM_F_ACK for do-commands.
    var netlinkFlags: UInt16 { NL.fRequest | (isDump ? NL.fDump : NL.fAck) }

    var operation: NetlinkPushError.Operation {
        switch self {
        case .subscribe: .subscribe
        case .unsubscribe: .unsubscribe
        case .ack, .ackRange: .ack
        case .getStats: .stats
        case .getSubscribers: .subscribers
        case .replay: .replay
        case .emit(_, _, _, let flags, _): (flags ?? 0) & Proto.flagReplyWanted != 0 ? .request : .emit
        case .ctrlGetFamily, .ctrlGetPolicy: .describe
        }
    }

    /// Attributes in the order they are put into the message.
    var attributes: [WireAttribute] {
        typealias A = Proto.Attr
        switch self {
        case .subscribe(let name, let flags):
            var a: [WireAttribute] = [.string(A.name.rawValue, name)]
            if let flags { a.append(.u32(A.flags.rawValue, flags)) }
            return a
        case .unsubscribe, .getStats, .getSubscribers:
            return []
        case .ack(let seq, let status, let payload, let epoch):
            var a: [WireAttribute] = [.u64(A.seq.rawValue, seq)]
            if let status { a.append(.s32(A.status.rawValue, status)) }
            if let payload { a.append(.binary(A.payload.rawValue, payload)) }
            if let epoch { a.append(.u64(A.epoch.rawValue, epoch)) }
            return a
        case .ackRange(let seq, let count, let epoch):
            var a: [WireAttribute] = [.u64(A.seq.rawValue, seq), .u32(A.count.rawValue, count)]
            if let epoch { a.append(.u64(A.epoch.rawValue, epoch)) }
            return a
        case .replay(let from, let count):
            var a: [WireAttribute] = []
            if let from { a.append(.u64(A.seq.rawValue, from)) }
            if let count { a.append(.u32(A.count.rawValue, count)) }
            return a
        case .emit(let type, let payload, let count, let flags, let timeoutMs):
            var a: [WireAttribute] = []
            if let type { a.append(.u32(A.type.rawValue, type)) }
            if let payload { a.append(.binary(A.payload.rawValue, payload)) }
            if let count { a.append(.u32(A.count.rawValue, count)) }
            if let flags { a.append(.u32(A.flags.rawValue, flags)) }
            if let timeoutMs { a.append(.u32(A.timeoutMs.rawValue, timeoutMs)) }
            return a
        case .ctrlGetFamily(let name):
            return [.string(NL.ctrlAttrFamilyName, name)]
        case .ctrlGetPolicy(let id):
            return [.u16(NL.ctrlAttrFamilyID, id)]
        }
    }

    /// Checks arguments the kernel would refuse, before anything is sent.
    func validate() throws(NetlinkPushError) {
        switch self {
        case .subscribe(let name, _):
            let n = name.utf8.count
            guard n >= 1, n < Proto.nameMax else {
                throw .invalidArgument(reason: "subscriber name must be 1...\(Proto.nameMax - 1) bytes, got \(n)")
            }
            guard !name.utf8.contains(0) else { throw .invalidArgument(reason: "subscriber name contains NUL") }
        case .ack(_, _, let payload?, _), .emit(_, let payload?, _, _, _):
            guard payload.count <= Proto.payloadMax else {
                throw .invalidArgument(reason: "payload of \(payload.count) bytes exceeds \(Proto.payloadMax)")
            }
        default: break
        }
        if case .replay(_, let count?) = self, !(1...Proto.emitCountMax).contains(count) {
            throw .invalidArgument(reason: "replay count must be 1...\(Proto.emitCountMax), got \(count)")
        }
        if case .ackRange(_, let count, _) = self, !(1...Proto.emitCountMax).contains(count) {
            throw .invalidArgument(reason: "ack range count must be 1...\(Proto.emitCountMax), got \(count)")
        }
        if case .emit(_, _, let count, let flags, let timeout) = self {
            if let count, !(1...Proto.emitCountMax).contains(count) {
                throw .invalidArgument(reason: "count must be 1...\(Proto.emitCountMax), got \(count)")
            }
            if let flags, flags & ~Proto.flagReplyWanted != 0 {
                throw .invalidArgument(reason: "EMIT takes no flag but NLPUSH_F_REPLY_WANTED")
            }
            if let flags, flags & Proto.flagReplyWanted != 0, let count, count != 1 {
                throw .invalidArgument(reason: "a request publishes exactly one event (count 1)")
            }
            if let timeout, !(1...Proto.timeoutMsMax).contains(timeout) {
                throw .invalidArgument(reason: "timeout must be 1...\(Proto.timeoutMsMax) ms, got \(timeout)")
            }
        }
    }

    /// Pure Swift encoding (the twin of the libnl encoding in ``NLSocket``).
    func encode(familyID: UInt16, seq: UInt32, portID: UInt32 = 0) -> [UInt8] {
        var b = GenlMessageBuilder(
            type: familyID, flags: netlinkFlags, seq: seq, portID: portID,
            command: command, version: Proto.version)
        for a in attributes { b.put(a) }
        return b.finish()
    }
}
