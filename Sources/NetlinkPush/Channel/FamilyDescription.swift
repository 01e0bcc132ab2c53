internal import CNetlink

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
                        if f.type == NL.ctrlAttrOpID { cmd = try f.u32("CTRL_ATTR_OP_ID") }
                        if f.type == NL.ctrlAttrOpFlags { flags = try f.u32("CTRL_ATTR_OP_FLAGS") }
                    }
                    d.operations.append(.init(command: cmd, name: commandName(cmd), flags: opFlags(flags), attributes: []))
                }
            case NL.ctrlAttrMcastGroups:
                try forEach(a.value) { (grp) throws(NetlinkPushError) in
                    var group = FamilyDescription.Group(name: "", id: 0)
                    try forEach(grp.value) { (f) throws(NetlinkPushError) in
                        if f.type == NL.ctrlAttrMcastGrpName { group.name = f.string() }
                        if f.type == NL.ctrlAttrMcastGrpID { group.id = try f.u32("CTRL_ATTR_MCAST_GRP_ID") }
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
                        if f.type == NL.ctrlAttrPolicyDo { entry.do = try f.u32("CTRL_ATTR_POLICY_DO") }
                        if f.type == NL.ctrlAttrPolicyDump { entry.dump = try f.u32("CTRL_ATTR_POLICY_DUMP") }
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
            switch UInt32(f.type) {
            case NL_POLICY_TYPE_ATTR_TYPE.rawValue: kind = try f.u32("NL_POLICY_TYPE_ATTR_TYPE")
            case NL_POLICY_TYPE_ATTR_MIN_VALUE_S.rawValue: minS = Int64(bitPattern: try f.u64("MIN_VALUE_S"))
            case NL_POLICY_TYPE_ATTR_MAX_VALUE_S.rawValue: maxS = Int64(bitPattern: try f.u64("MAX_VALUE_S"))
            case NL_POLICY_TYPE_ATTR_MIN_VALUE_U.rawValue: minU = try f.u64("MIN_VALUE_U")
            case NL_POLICY_TYPE_ATTR_MAX_VALUE_U.rawValue: maxU = try f.u64("MAX_VALUE_U")
            case NL_POLICY_TYPE_ATTR_MIN_LENGTH.rawValue: minLen = try f.u32("MIN_LENGTH")
            case NL_POLICY_TYPE_ATTR_MAX_LENGTH.rawValue: maxLen = try f.u32("MAX_LENGTH")
            case NL_POLICY_TYPE_ATTR_MASK.rawValue: mask = try f.u64("MASK")
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
        case NL_ATTR_TYPE_U8.rawValue: UInt64(UInt8.max)
        case NL_ATTR_TYPE_U16.rawValue: UInt64(UInt16.max)
        case NL_ATTR_TYPE_U32.rawValue: UInt64(UInt32.max)
        default: UInt64.max
        }
    }

    static func kindName(_ k: UInt32) -> String {
        kindNames[k] ?? "type \(k)"
    }

    /// `enum netlink_attribute_type`. SINT and UINT (Linux 6.8) follow BITFIELD32 but
    /// are missing from the userspace headers this builds against.
    private static let kindNames: [UInt32: String] = [
        NL_ATTR_TYPE_INVALID.rawValue: "invalid", NL_ATTR_TYPE_FLAG.rawValue: "flag",
        NL_ATTR_TYPE_U8.rawValue: "u8", NL_ATTR_TYPE_U16.rawValue: "u16", NL_ATTR_TYPE_U32.rawValue: "u32",
        NL_ATTR_TYPE_U64.rawValue: "u64", NL_ATTR_TYPE_S8.rawValue: "s8", NL_ATTR_TYPE_S16.rawValue: "s16",
        NL_ATTR_TYPE_S32.rawValue: "s32", NL_ATTR_TYPE_S64.rawValue: "s64", NL_ATTR_TYPE_BINARY.rawValue: "binary",
        NL_ATTR_TYPE_STRING.rawValue: "string", NL_ATTR_TYPE_NUL_STRING.rawValue: "nul-string",
        NL_ATTR_TYPE_NESTED.rawValue: "nested", NL_ATTR_TYPE_NESTED_ARRAY.rawValue: "nested-array",
        NL_ATTR_TYPE_BITFIELD32.rawValue: "bitfield32",
        NL_ATTR_TYPE_BITFIELD32.rawValue + 1: "sint", NL_ATTR_TYPE_BITFIELD32.rawValue + 2: "uint",
    ]
    static func opFlags(_ f: UInt32) -> [String] {
        var r: [String] = []
        if f & NL.genlCmdCapDo != 0 { r.append("do") }
        if f & NL.genlCmdCapDump != 0 { r.append("dump") }
        if f & NL.genlAdminPerm != 0 { r.append("admin-perm") }
        if f & NL.genlUnsAdminPerm != 0 { r.append("uns-admin-perm") }
        if f & NL.genlCmdCapHasPolicy != 0 { r.append("has-policy") }
        return r
    }

    static func commandName(_ c: UInt32) -> String {
        guard let raw = UInt8(exactly: c), let cmd = Proto.Cmd(known: raw) else { return "cmd \(c)" }
        return cmd.cName
    }
}
