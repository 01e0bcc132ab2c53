/// The nlpush family as the kernel's generic netlink controller describes it:
/// what ``NetlinkPushChannel/describe()`` returns and `nlpush info` prints.
public struct FamilyDescription: Sendable, Hashable {
    /// A multicast group of the family.
    public struct Group: Sendable, Hashable {
        public var name: String
        public var id: UInt32
    }

    /// One attribute an operation accepts, from its netlink policy.
    public struct PolicyAttribute: Sendable, Hashable {
        /// Attribute number (`NLPUSH_A_*`).
        public var type: UInt16
        /// Attribute name, e.g. `SEQ`.
        public var name: String
        /// Netlink type, e.g. `u64`, `binary`, `nul-string`.
        public var kind: String
        /// Value range or length limit, e.g. `1...1000000` or `len <= 61440`, when the policy has one.
        public var range: String?
    }

    /// One operation (command) of the family.
    public struct Operation: Sendable, Hashable {
        /// Command number (`NLPUSH_CMD_*`).
        public var command: UInt32
        /// Command name, e.g. `EMIT`.
        public var name: String
        /// `do`, `dump`, `admin-perm`, `has-policy`, ...
        public var flags: [String]
        /// The attributes its policy accepts (do policy, or dump policy for dumps).
        public var attributes: [PolicyAttribute]
    }

    public var name: String
    public var id: UInt16
    public var version: UInt32
    public var maxAttribute: UInt32
    public var groups: [Group]
    public var operations: [Operation]
}

extension NetlinkPushChannel {
    /// Asks the generic netlink controller for the family's id, version, multicast
    /// groups, operations and per-operation policies (`CTRL_CMD_GETFAMILY` and the
    /// `CTRL_CMD_GETPOLICY` dump). Open to everyone.
    public func describe() throws(NetlinkPushError) -> FamilyDescription {
        var desc = FamilyDescription(name: "", id: 0, version: 0, maxAttribute: 0, groups: [], operations: [])
        try control.performBlocking(.ctrlGetFamily(name: nlpushFamilyName), familyID: NL.genlIDCtrl) {
            (g) throws(NetlinkPushError) in
            desc = try ControllerDecoder.family(g)
        }
        var policies: [UInt32: [FamilyDescription.PolicyAttribute]] = [:]
        var opPolicy: [UInt32: (do: UInt32?, dump: UInt32?)] = [:]
        try control.performBlocking(.ctrlGetPolicy(familyID: desc.id), familyID: NL.genlIDCtrl) {
            (g) throws(NetlinkPushError) in
            try ControllerDecoder.policy(g, policies: &policies, opPolicy: &opPolicy)
        }
        for i in desc.operations.indices {
            let p = opPolicy[desc.operations[i].command]
            if let idx = p?.do ?? p?.dump {
                desc.operations[i].attributes = (policies[idx] ?? []).sorted { $0.type < $1.type }
            }
        }
        return desc
    }
}

/// Decodes the controller's answers (linux/genetlink.h, linux/netlink.h NL_POLICY_TYPE_ATTR_*).
enum ControllerDecoder {
    static func family(_ g: GenlMessage) throws(NetlinkPushError) -> FamilyDescription {
        var d = FamilyDescription(name: "", id: 0, version: 0, maxAttribute: 0, groups: [], operations: [])
        try g.forEachAttribute { (a) throws(NetlinkPushError) in
            switch a.type {
            case NL.ctrlAttrFamilyID: d.id = try a.u16("CTRL_ATTR_FAMILY_ID")
            case NL.ctrlAttrFamilyName: d.name = a.string()
            case NL.ctrlAttrVersion: d.version = try a.u32("CTRL_ATTR_VERSION")
            case NL.ctrlAttrMaxAttr: d.maxAttribute = try a.u32("CTRL_ATTR_MAXATTR")
            case NL.ctrlAttrOps:
                try forEach(a.value) { (op) throws(NetlinkPushError) in
                    var cmd: UInt32 = 0
                    var flags: UInt32 = 0
                    try forEach(op.value) { (f) throws(NetlinkPushError) in
                        if f.type == 1 { cmd = try f.u32("CTRL_ATTR_OP_ID") }
                        if f.type == 2 { flags = try f.u32("CTRL_ATTR_OP_FLAGS") }
                    }
                    d.operations.append(.init(command: cmd, name: commandName(cmd), flags: opFlags(flags), attributes: []))
                }
            case NL.ctrlAttrMcastGroups:
                try forEach(a.value) { (grp) throws(NetlinkPushError) in
                    var group = FamilyDescription.Group(name: "", id: 0)
                    try forEach(grp.value) { (f) throws(NetlinkPushError) in
                        if f.type == 1 { group.name = f.string() }
                        if f.type == 2 { group.id = try f.u32("CTRL_ATTR_MCAST_GRP_ID") }
                    }
                    d.groups.append(group)
                }
            default: break
            }
        }
        return d
    }

    static func policy(
        _ g: GenlMessage, policies: inout [UInt32: [FamilyDescription.PolicyAttribute]],
        opPolicy: inout [UInt32: (do: UInt32?, dump: UInt32?)]
    ) throws(NetlinkPushError) {
        try g.forEachAttribute { (a) throws(NetlinkPushError) in
            switch a.type {
            case NL.ctrlAttrPolicy:
                // nest: policy index -> attribute type -> NL_POLICY_TYPE_ATTR_*
                try forEach(a.value) { (pol) throws(NetlinkPushError) in
                    try forEach(pol.value) { (attr) throws(NetlinkPushError) in
                        policies[UInt32(pol.type), default: []].append(try policyAttribute(attr))
                    }
                }
            case NL.ctrlAttrOpPolicy:
                // nest: command -> CTRL_ATTR_POLICY_DO / CTRL_ATTR_POLICY_DUMP
                try forEach(a.value) { (op) throws(NetlinkPushError) in
                    var entry: (do: UInt32?, dump: UInt32?) = (nil, nil)
                    try forEach(op.value) { (f) throws(NetlinkPushError) in
                        if f.type == 1 { entry.do = try f.u32("CTRL_ATTR_POLICY_DO") }
                        if f.type == 2 { entry.dump = try f.u32("CTRL_ATTR_POLICY_DUMP") }
                    }
                    opPolicy[UInt32(op.type)] = entry
                }
            default: break
            }
        }
    }

    private static func policyAttribute(_ attr: Attribute) throws(NetlinkPushError) -> FamilyDescription.PolicyAttribute {
        var kind: UInt32 = 0
        var minS: Int64?
        var maxS: Int64?
        var minU: UInt64?
        var maxU: UInt64?
        var minLen: UInt32?
        var maxLen: UInt32?
        var mask: UInt64?
        try forEach(attr.value) { (f) throws(NetlinkPushError) in
            switch f.type {
            case 1: kind = try f.u32("NL_POLICY_TYPE_ATTR_TYPE")
            case 2: minS = Int64(bitPattern: try f.u64("MIN_VALUE_S"))
            case 3: maxS = Int64(bitPattern: try f.u64("MAX_VALUE_S"))
            case 4: minU = try f.u64("MIN_VALUE_U")
            case 5: maxU = try f.u64("MAX_VALUE_U")
            case 6: minLen = try f.u32("MIN_LENGTH")
            case 7: maxLen = try f.u32("MAX_LENGTH")
            case 12: mask = try f.u64("MASK")
            default: break
            }
        }
        var range: String?
        if let mask {
            range = "mask 0x" + String(mask, radix: 16)
        } else if let minU, let maxU, !(minU == 0 && maxU == typeMax(kind)) {
            range = "\(minU)...\(maxU)"
        } else if let minS, let maxS {
            range = "\(minS)...\(maxS)"
        } else if let maxLen {
            range = (minLen ?? 0) > 0 ? "len \(minLen ?? 0)...\(maxLen)" : "len <= \(maxLen)"
        }
        return .init(type: attr.type, name: Proto.Attr.nameOf(attr.type), kind: kindName(kind), range: range)
    }

    private static func forEach(_ v: ByteView, _ body: (Attribute) throws(NetlinkPushError) -> Void)
        throws(NetlinkPushError)
    {
        var it = AttributeIterator(v)
        while let a = try it.next() { try body(a) }
    }

    private static func typeMax(_ kind: UInt32) -> UInt64 {
        switch kind {
        case 2: UInt64(UInt8.max)
        case 3: UInt64(UInt16.max)
        case 4: UInt64(UInt32.max)
        default: UInt64.max
        }
    }

    static func kindName(_ k: UInt32) -> String {
        let names = [
            "invalid", "flag", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "binary", "string",
            "nul-string", "nested", "nested-array", "bitfield32", "sint", "uint",
        ]
        return k < names.count ? names[Int(k)] : "type \(k)"
    }

    static func opFlags(_ f: UInt32) -> [String] {
        var r: [String] = []
        if f & 0x02 != 0 { r.append("do") }
        if f & 0x04 != 0 { r.append("dump") }
        if f & 0x01 != 0 { r.append("admin-perm") }
        if f & 0x10 != 0 { r.append("uns-admin-perm") }
        if f & 0x08 != 0 { r.append("has-policy") }
        return r
    }

    static func commandName(_ c: UInt32) -> String {
        switch Proto.Cmd(rawValue: UInt8(truncatingIfNeeded: c)) {
        case .event: "EVENT"
        case .ack: "ACK"
        case .subscribe: "SUBSCRIBE"
        case .unsubscribe: "UNSUBSCRIBE"
        case .getStats: "GET_STATS"
        case .getSubscribers: "GET_SUBSCRIBERS"
        case .replay: "REPLAY"
        case .emit: "EMIT"
        case .reply: "REPLY"
        case nil: "cmd \(c)"
        }
    }
}
