# SPDX-License-Identifier: GPL-2.0
"""Spec-driven netlink message generator for the nlpush fuzzer.

Reads the YNL spec (kmod/nlpush.yaml) with PyYAML and builds generic
netlink requests from it: valid ones (every op that has a do or dump, with
values inside every check), boundary ones (min/max of every range check,
one past them, empty and maximum payloads and strings, wrong fixed
lengths) and malformed ones (truncated netlink, genetlink and attribute
headers, lying lengths, garbage in the spec's nests, unknown attribute
types and commands, wrong versions, dump flags on do-only ops and the
reverse, odd ack flags).

Everything is drawn from one random.Random(seed): the same seed gives the
same messages, byte for byte, for the same live values. Live values are
those only the running module knows (the family id, the current sequence
numbers, the epoch); the generator draws an index into the pools the
driver passes, never the values themselves, so the choices stay the same
whatever the pools hold.

Each Msg knows what the kernel must do with it (`expect`, `must_fail`),
derived from the netlink rules (netlink_rcv_skb, genl_rcv_msg) and the
spec's policies, so the driver can check every answer.
"""
import random
import struct

NLMSG_HDR = struct.Struct("=IHHII")   # len, type, flags, seq, pid
GENL_HDR = struct.Struct("=BBH")      # cmd, version, reserved
NLA_HDR = struct.Struct("=HH")        # len, type
NLMSG_HDRLEN = 16
GENL_HDRLEN = 4
NLA_HDRLEN = 4

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ECHO = 0x8
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_ATOMIC = 0x400
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLMSG_MIN_TYPE = 0x10
NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = 0x3FFF

# family ids no generic netlink family gets in a test VM (ids are handed
# out from 0x1a upwards), for messages to a family that does not exist
UNUSED_FAMILY_IDS = (0x3FF0, 0x7FFF, 0xFFF0, 0xFFFF)

INT_TYPES = {"u8": (1, False), "u16": (2, False), "u32": (4, False),
             "u64": (8, False), "s8": (1, True), "s16": (2, True),
             "s32": (4, True), "s64": (8, True)}
PACK = {1: "B", 2: "H", 4: "I", 8: "Q"}


def align4(n):
    return (n + 3) & ~3


def nla(atype, data):
    """One attribute with its padding."""
    n = NLA_HDRLEN + len(data)
    return NLA_HDR.pack(n, atype) + data + b"\0" * (align4(n) - n)


def pack_int(value, size, signed):
    fmt = "=" + (PACK[size].lower() if signed else PACK[size])
    return struct.pack(fmt, value)


def walk_attrs(buf, off, end):
    """(type with flags, data offset, data length) of each attribute; raises
    ValueError on a malformed stream (what the kernel's strict parse rejects)."""
    out = []
    while off < end:
        if end - off < NLA_HDRLEN:
            raise ValueError("trailing %d bytes" % (end - off))
        alen, atype = NLA_HDR.unpack_from(buf, off)
        if alen < NLA_HDRLEN or off + alen > end:
            raise ValueError("attribute length %d at %d" % (alen, off))
        out.append((atype, off + NLA_HDRLEN, alen - NLA_HDRLEN))
        off += align4(alen)
    return out


class Attr:
    def __init__(self, name, value, raw, consts):
        self.name = name
        self.value = value
        self.type = raw["type"]
        self.nested = raw.get("nested-attributes")
        self.enum = raw.get("enum")
        checks = raw.get("checks", {})

        def const(v):
            return consts[v] if isinstance(v, str) else v
        self.min = const(checks["min"]) if "min" in checks else None
        self.max = const(checks["max"]) if "max" in checks else None
        self.max_len = const(checks["max-len"]) if "max-len" in checks else None

    @property
    def int_size(self):
        return INT_TYPES[self.type][0] if self.type in INT_TYPES else None

    def int_bounds(self):
        size, signed = INT_TYPES[self.type]
        if signed:
            return -(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1
        return 0, (1 << (8 * size)) - 1

    def __repr__(self):
        return "Attr(%s=%d %s)" % (self.name, self.value, self.type)


class Op:
    def __init__(self, raw, value):
        self.name = raw["name"]
        self.value = value
        self.set = raw.get("attribute-set")
        self.admin = "admin-perm" in raw.get("flags", [])
        self.do = raw.get("do")
        self.dump = raw.get("dump")
        self.event = raw.get("event")

        def attrs(part, key):
            return list(((part or {}).get(key) or {}).get("attributes", []))
        self.do_request = attrs(self.do, "request")
        self.dump_request = attrs(self.dump, "request")
        self.do_reply = attrs(self.do, "reply")
        self.dump_reply = attrs(self.dump, "reply")
        self.event_attrs = list((self.event or {}).get("attributes", []))

    @property
    def has_do(self):
        return self.do is not None

    @property
    def has_dump(self):
        return self.dump is not None

    @property
    def accepted(self):
        return self.has_do or self.has_dump

    def request_attrs(self, dump):
        return self.dump_request if dump else self.do_request

    def __repr__(self):
        return "Op(%s=%d)" % (self.name, self.value)


class Spec:
    """The parts of a YNL spec the fuzzer needs."""

    def __init__(self, path):
        import yaml
        with open(path) as f:
            raw = yaml.safe_load(f)
        self.name = raw["name"]
        self.version = raw.get("version", 1)
        self.consts = {}
        self.flag_values = {}
        for d in raw.get("definitions", []):
            if d["type"] == "const":
                self.consts[d["name"]] = d["value"]
            elif d["type"] == "flags":
                self.flag_values[d["name"]] = {
                    e if isinstance(e, str) else e["name"]: 1 << i
                    for i, e in enumerate(d["entries"])}
        self.sets = {}
        for s in raw["attribute-sets"]:
            attrs, value = {}, 1
            for a in s["attributes"]:
                value = a.get("value", value)
                attrs[a["name"]] = Attr(a["name"], value, a, self.consts)
                value += 1
            self.sets[s["name"]] = attrs
        self.ops, value = [], 1
        for o in raw["operations"]["list"]:
            value = o.get("value", value)
            self.ops.append(Op(o, value))
            value += 1
        self.mcgrps = [g["name"] for g in raw.get("mcast-groups", {}).get("list", [])]
        self.by_name = {o.name: o for o in self.ops}
        self.by_value = {o.value: o for o in self.ops}

    def attr(self, set_name, name):
        return self.sets[set_name][name]

    def reply_attrs(self, op):
        """Attribute names a message of command @op may carry from the kernel."""
        return set(op.do_reply) | set(op.dump_reply) | set(op.event_attrs)

    def max_attr(self, set_name):
        return max(a.value for a in self.sets[set_name].values())

    def flags_mask(self, attr):
        return sum(self.flag_values.get(attr.enum, {}).values())


class Msg:
    """One request: its bytes and what the kernel must do with it."""
    __slots__ = ("data", "kind", "label", "op", "cmd", "standalone",
                 "expect", "must_fail", "dump", "seq_off", "heavy",
                 "flags", "to_family")

    def __init__(self, data, kind, label, op=None, cmd=None,
                 must_fail=False, standalone=False):
        self.data = data
        self.kind = kind            # valid, boundary, malformed
        self.label = label
        self.op = op                # Op or None (unknown command)
        self.cmd = cmd
        self.must_fail = must_fail  # the spec's policy rejects it
        self.standalone = standalone
        self.heavy = False
        self.expect = None          # none, answer, maybe
        self.dump = False
        self.seq_off = None
        self.flags = 0
        self.to_family = False

    def __repr__(self):
        return "Msg(%s/%s %dB)" % (self.kind, self.label, len(self.data))


class Live:
    """Values only the running module knows; the generator draws indexes."""

    def __init__(self, family_id=0x20, epoch=1, oldest=1, next_seq=1):
        self.family_id = family_id
        self.set_state(epoch, oldest, next_seq)

    def set_state(self, epoch, oldest, next_seq):
        self.epoch = epoch
        # mostly recent ones: a dump from the oldest sends the whole ring
        self.seqs = [0, oldest, max(oldest, next_seq - 1), next_seq,
                     next_seq + 1, (1 << 64) - 1, max(oldest, next_seq - 16),
                     max(oldest, next_seq - 2), next_seq, max(oldest, next_seq - 1)]
        self.epochs = [epoch, epoch, epoch, epoch ^ 1, 0, (1 << 64) - 1]


class Generator:
    """Deterministic message source: Generator(spec, seed).next(live)."""

    # valid values drawn from these sub-ranges keep the run cheap; the
    # checks' real min and max come from the boundary cases
    CHEAP = {"count": (1, 8), "timeout-ms": (1, 2000)}
    # values of these attributes come from the live pools
    LIVE = {"seq": "seqs", "epoch": "epochs"}
    # integer attributes whose large values are expensive (EMIT count): never
    # drawn at random, sent once by the driver (heavy_cases())
    HEAVY = {"count"}
    HEAVY_OPS = {"emit"}

    KINDS = (("valid", 35), ("boundary", 25), ("malformed", 40))

    def __init__(self, spec, seed):
        self.spec = spec
        self.rng = random.Random(seed)
        self._req_cache = {}
        self.ops = [o for o in spec.ops if o.accepted]
        self.root_set = self.ops[0].set
        self.unknown_cmds = sorted(
            {o.value for o in spec.ops if not o.accepted} |
            {max(o.value for o in spec.ops) + 1, 0x7F, 0xFF})
        self.nest_attrs = [a for a in spec.sets[self.root_set].values()
                           if a.type == "nest"]
        self.boundaries = self._boundary_cases()
        self.malformers = [getattr(self, n) for n in sorted(dir(self))
                           if n.startswith("_mal_")]
        self._kind_total = sum(w for _, w in self.KINDS)

    # ------------------------------------------------------------ helpers
    def _hdr(self, live, cmd, flags, version=None, mtype=None):
        return bytearray(NLMSG_HDR.pack(0, live.family_id if mtype is None else mtype,
                                        flags, 0, 0) +
                         GENL_HDR.pack(cmd, self.spec.version if version is None
                                       else version, 0))

    def _finish(self, buf, msg_len=None):
        struct.pack_into("=I", buf, 0, len(buf) if msg_len is None else msg_len)
        return buf

    def _valid_int(self, attr, live):
        r = self.rng
        if attr.name in self.LIVE:
            pool = getattr(live, self.LIVE[attr.name])
            i = r.randrange(len(pool) + 1)
            if i < len(pool):
                return pool[i] & ((1 << (8 * attr.int_size)) - 1)
        if attr.enum:
            mask = self.spec.flags_mask(attr)
            return r.randrange(mask + 1) & mask
        if attr.name in self.CHEAP:
            lo, hi = self.CHEAP[attr.name]
            return r.randint(lo, hi)
        lo, hi = attr.int_bounds()
        if attr.min is not None:
            lo = attr.min
        if attr.max is not None:
            hi = attr.max
        # mostly small numbers, sometimes anywhere in range
        if r.random() < 0.7:
            return r.randint(max(lo, 0), min(hi, max(lo, 0) + 1000))
        return r.randint(lo, hi)

    def _pick(self, seq):
        """rng.choice() without its rejection loop: one random() per pick."""
        return seq[int(self.rng.random() * len(seq))]

    def _payload(self, n):
        if n > 64:
            return bytes([self.rng.getrandbits(8)]) * n
        return self.rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""

    def _valid_value(self, attr, live):
        """Bytes of a value inside every check of @attr."""
        r = self.rng
        t = attr.type
        if t in INT_TYPES:
            size, signed = INT_TYPES[t]
            return pack_int(self._valid_int(attr, live), size, signed)
        if t == "binary":
            hi = attr.max_len if attr.max_len is not None else 256
            n = self._pick((0, r.randint(1, 16), r.randint(1, min(hi, 256))))
            return self._payload(n)
        if t == "string":
            hi = attr.max_len if attr.max_len is not None else 31
            n = r.randint(1, hi)
            return bytes(97 + x % 26 for x in self._payload(n)) + b"\0"
        if t == "flag":
            return b""
        if t == "nest":
            return self._nest_body(attr, live, garbage=False)
        return b""

    def _nest_body(self, attr, live, garbage):
        inner = list(self.spec.sets[attr.nested].values())
        out = b""
        for _ in range(self.rng.randint(0, 4)):
            a = self._pick(inner)
            if garbage and self.rng.random() < 0.5:
                out += nla(self._pick((a.value, self.rng.randint(0, 0x3FFF))),
                           self._payload(self.rng.randint(0, 24)))
            else:
                out += nla(a.value, self._valid_value(a, live)
                           if a.type != "nest" else b"")
        return out

    def _op_request(self, op, dump):
        key = (op.value, dump)
        r = self._req_cache.get(key)
        if r is None:
            r = self._req_cache[key] = [self.spec.attr(op.set, n)
                                        for n in op.request_attrs(dump)]
        return r

    def _valid_attrs(self, op, dump, live, exclude=()):
        out = b""
        for a in self._op_request(op, dump):
            # the bounded ones are rarely left out: a REPLAY without count
            # dumps the whole ring (thousands of messages)
            if a.name in exclude or self.rng.random() < (0.05 if a.name in self.CHEAP else 0.4):
                continue
            out += nla(a.value, self._valid_value(a, live))
        return out

    def _mode_flags(self, op, dump):
        """Header flags of a correct request for @op (do, or dump)."""
        if dump:
            return NLM_F_REQUEST | NLM_F_DUMP
        return NLM_F_REQUEST | (NLM_F_ACK if self.rng.random() < 0.8 else 0)

    def _pick_mode(self, op):
        if op.has_do and op.has_dump:
            return self.rng.random() < 0.5
        return op.has_dump

    def _msg(self, live, op, dump, body, kind, label, must_fail=False,
             flags=None, version=None):
        cmd = op.value
        buf = self._hdr(live, cmd, self._mode_flags(op, dump) if flags is None
                        else flags, version)
        buf += body
        return Msg(self._finish(buf), kind, label, op, cmd, must_fail)

    # -------------------------------------------------------------- valid
    def valid(self, live):
        op = self._pick(self.ops)
        dump = self._pick_mode(op)
        return self._msg(live, op, dump, self._valid_attrs(op, dump, live),
                         "valid", "%s-%s" % (op.name, "dump" if dump else "do"))

    # ----------------------------------------------------------- boundary
    def _boundary_cases(self):
        """(op, dump, attr name or None, label, value bytes fn, must_fail, heavy)
        for every check of every request attribute, and the empty and
        fullest message of every op."""
        cases = []
        for op in self.ops:
            for dump in (False, True):
                if (dump and not op.has_dump) or (not dump and not op.has_do):
                    continue
                mode = "dump" if dump else "do"
                cases.append((op, dump, None, "%s-%s-empty" % (op.name, mode),
                              None, False, False))
                cases.append((op, dump, "*max", "%s-%s-all-max" % (op.name, mode),
                              None, False, False))
                for a in self._op_request(op, dump):
                    lab = "%s-%s-%s" % (op.name, mode, a.name)
                    for c in self._attr_boundaries(a, op):
                        cases.append((op, dump, a.name, "%s-%s" % (lab, c[0]),
                                      c[1], c[2], c[3]))
        return cases

    def _attr_boundaries(self, a, op):
        """(name, bytes, must_fail, heavy) of @a's boundary values."""
        out = []
        t = a.type
        if t in INT_TYPES:
            size, signed = INT_TYPES[t]
            lo, hi = a.int_bounds()
            heavy_ok = a.name in self.HEAVY and op.name in self.HEAVY_OPS

            def add(name, v, fail, heavy=False):
                if lo <= v <= hi:
                    out.append((name, pack_int(v, size, signed), fail, heavy))
            if a.min is not None:
                add("min", a.min, False)
                add("min-1", a.min - 1, True)
            if a.max is not None:
                add("max", a.max, False, heavy_ok and a.max > 4096)
                add("max+1", a.max + 1, True)
            if a.min is None and a.max is None and not a.enum:
                add("type-min", lo, False)
                add("type-max", hi, False)
                if signed:
                    add("zero", 0, False)
            if a.enum:
                mask = self.spec.flags_mask(a)
                add("all-flags", mask, False)
                add("unknown-flag", mask + 1, True)
                add("high-bit", 1 << (8 * size - 1), True)
            for n in sorted({0, 1, size - 1, size + 1, 2 * size} - {size}):
                out.append(("len-%d" % n, bytes(n), True, False))
        elif t == "binary":
            out.append(("empty", b"", False, False))
            if a.max_len is not None:
                out.append(("max-len", b"\xa5" * a.max_len, False, False))
                out.append(("max-len+1", b"\xa5" * (a.max_len + 1), True, False))
        elif t == "string":
            hi = a.max_len if a.max_len is not None else 255
            out.append(("max-len", b"s" * hi + b"\0", False, False))
            out.append(("max-len+1", b"s" * (hi + 1) + b"\0", True, False))
            out.append(("nul-only", b"\0", False, False))
            out.append(("unterminated", b"abc", True, False))
            out.append(("zero-length", b"", False, False))
        return out

    def _max_value(self, a):
        if a.type in INT_TYPES:
            size, signed = INT_TYPES[a.type]
            v = a.max if a.max is not None else a.int_bounds()[1]
            if a.name in self.CHEAP:
                v = self.CHEAP[a.name][1]
            if a.enum:
                v = self.spec.flags_mask(a)
            return pack_int(v, size, signed)
        if a.type == "binary":
            return b"\x5a" * (a.max_len if a.max_len is not None else 1024)
        if a.type == "string":
            return b"m" * (a.max_len if a.max_len is not None else 31) + b"\0"
        return b""

    def boundary(self, live):
        op, dump, which, label, value, fail, heavy = self._pick(self.boundaries)
        if heavy:
            # the cheap neighbour of the expensive value; heavy_cases() has it
            a = self.spec.attr(op.set, which)
            value = pack_int(self.CHEAP.get(a.name, (1, 8))[1], *INT_TYPES[a.type])
            label += "-cheap"
            heavy = False
        if which is None:
            body = b""
        elif which == "*max":
            body = b"".join(nla(a.value, self._max_value(a))
                            for a in self._op_request(op, dump))
        else:
            a = self.spec.attr(op.set, which)
            # the attribute alone, or with valid others
            body = nla(a.value, value)
            if self.rng.random() < 0.5:
                body = self._valid_attrs(op, dump, live, exclude=(which,)) + body
        m = self._msg(live, op, dump, body, "boundary", label, must_fail=fail)
        m.heavy = heavy
        return m

    def heavy_cases(self, live):
        """The boundary messages too expensive to draw at random (EMIT of
        count max: a million events), each alone, for the driver to send
        once where their cost is bounded (right before rmmod)."""
        out = []
        for op, dump, which, label, value, fail, heavy in self.boundaries:
            if heavy:
                a = self.spec.attr(op.set, which)
                m = self._msg(live, op, dump, nla(a.value, value), "boundary", label,
                              must_fail=fail, flags=NLM_F_REQUEST | NLM_F_ACK)
                m.heavy = True
                classify(m, self.spec, live)
                out.append(m)
        return out

    # ---------------------------------------------------------- malformed
    def _any_op_msg(self, live, kind_label, body_fn=None, flags=None):
        op = self._pick(self.ops)
        dump = self._pick_mode(op)
        body = body_fn(op, dump) if body_fn else self._valid_attrs(op, dump, live)
        return op, dump, self._msg(live, op, dump, body, "malformed",
                                   "%s-%s" % (kind_label, op.name), flags=flags)

    def _mal_short_datagram(self, live):
        n = self.rng.randint(1, NLMSG_HDRLEN - 1)
        m = Msg(bytearray(self._payload(n)), "malformed", "short-datagram",
                standalone=True)
        return m

    def _mal_nlmsg_len_small(self, live):
        _, _, m = self._any_op_msg(live, "nlmsg-len-below-header")
        struct.pack_into("=I", m.data, 0, self.rng.randint(0, NLMSG_HDRLEN - 1))
        m.standalone = True
        return m

    def _mal_nlmsg_len_past_end(self, live):
        _, _, m = self._any_op_msg(live, "nlmsg-len-past-end")
        struct.pack_into("=I", m.data, 0, len(m.data) + self._pick(
            (1, 4, 100, 0xFFFF, 0xFFFFFFFF - len(m.data))))
        m.standalone = True
        return m

    def _mal_genl_truncated(self, live):
        _, _, m = self._any_op_msg(live, "genl-truncated")
        cut = NLMSG_HDRLEN + self.rng.randint(0, GENL_HDRLEN - 1)
        m.data = self._finish(m.data[:cut])
        m.data += b"\0" * (align4(len(m.data)) - len(m.data))
        m.must_fail = True
        return m

    def _mal_attr_truncated(self, live):
        """nlmsg_len cuts the last attribute (the datagram ends there too)."""
        op, dump, m = self._any_op_msg(live, "attr-truncated")
        a = self._pick(self._op_request(op, dump) or
                            list(self.spec.sets[op.set].values())[2:3])
        off = len(m.data)
        attr = nla(a.value, self._valid_value(a, live) or b"\0" * 8)
        m.data += attr
        # 1..7 bytes short of the attribute's unpadded end (padding cut
        # away would leave it whole), never all of it
        alen = NLA_HDR.unpack_from(attr, 0)[0]
        cut = off + alen - self.rng.randint(1, min(7, alen - 1))
        m.data = self._finish(m.data[:cut])
        m.data += b"\0" * (align4(cut) - cut)
        m.must_fail = True
        return m

    def _mal_nla_len_lies(self, live):
        op, dump, m = self._any_op_msg(live, "nla-len-lies")
        a = self._pick(list(self.spec.sets[op.set].values()))
        off = len(m.data)
        m.data += nla(a.value, self._valid_value(a, live) or b"\0" * 4)
        rest = len(m.data) - off
        bad = self._pick((0, 1, 2, 3, rest + 1, rest + 4, 0xFFFF))
        struct.pack_into("=H", m.data, off, bad)
        self._finish(m.data)
        m.must_fail = True
        return m

    def _mal_trailing_bytes(self, live):
        _, _, m = self._any_op_msg(live, "trailing-bytes")
        n = self.rng.randint(1, 3)
        m.data += self._payload(n)
        self._finish(m.data)
        m.data += b"\0" * (align4(len(m.data)) - len(m.data))
        m.must_fail = True
        return m

    def _mal_unknown_attr(self, live):
        op, dump, m = self._any_op_msg(live, "unknown-attr")
        hi = self.spec.max_attr(op.set)
        atype = self._pick((0, hi + 1, hi + 2, self.rng.randint(hi + 1, NLA_TYPE_MASK),
                                 NLA_TYPE_MASK))
        m.data += nla(atype, self._payload(self._pick((0, 4, 8, 13))))
        self._finish(m.data)
        m.must_fail = True
        return m

    def _mal_foreign_attr(self, live):
        """An attribute of the set the op does not take (another op's, a reply's)."""
        op, dump, m = self._any_op_msg(live, "foreign-attr")
        mine = set(op.request_attrs(dump))
        others = [a for a in self.spec.sets[op.set].values() if a.name not in mine]
        a = self._pick(others)
        value = self._valid_value(a, live) if a.type != "nest" else b""
        m.data += nla(a.value | (NLA_F_NESTED if a.type == "nest" else 0), value)
        self._finish(m.data)
        m.must_fail = True
        return m

    def _mal_nest_garbage(self, live):
        """One of the spec's nests (stats, subscriber) full of garbage."""
        op, dump, m = self._any_op_msg(live, "nest-garbage")
        a = self._pick(self.nest_attrs)
        body = self._nest_body(a, live, garbage=True)
        if self.rng.random() < 0.3:
            # a nest in the nest, with a lying inner length
            inner = bytearray(nla(a.value | NLA_F_NESTED, body))
            struct.pack_into("=H", inner, 0, len(inner) + self.rng.randint(1, 64))
            body = bytes(inner)
        flag = NLA_F_NESTED if self.rng.random() < 0.7 else 0
        m.data += nla(a.value | flag, body)
        m.label = "nest-garbage-%s-%s" % (a.name, op.name)
        self._finish(m.data)
        m.must_fail = True
        return m

    def _mal_attr_flags(self, live):
        """NLA_F_NESTED or NLA_F_NET_BYTEORDER on a request attribute."""
        op, dump, m = self._any_op_msg(live, "attr-flag-bits", body_fn=lambda o, d: b"")
        req = self._op_request(op, dump)
        if not req:
            m.data += nla(NLA_F_NESTED | 1, b"")
            self._finish(m.data)
            m.must_fail = True
            return m
        a = self._pick(req)
        nested = self.rng.random() < 0.6
        m.data += nla(a.value | (NLA_F_NESTED if nested else NLA_F_NET_BYTEORDER),
                      self._valid_value(a, live))
        self._finish(m.data)
        m.must_fail = nested
        m.label = "attr-%s-%s" % ("nested-flag" if nested else "byteorder-flag", op.name)
        return m

    def _mal_wrong_length(self, live):
        op, dump, m = self._any_op_msg(live, "wrong-length", body_fn=lambda o, d: b"")
        ints = [a for a in self._op_request(op, dump) if a.type in INT_TYPES]
        if not ints:
            ints = [a for a in self.spec.sets[op.set].values() if a.type in INT_TYPES]
        a = self._pick(ints)
        n = self._pick([x for x in (0, 1, 2, 3, 5, 7, 9, 12, 16) if x != a.int_size])
        m.data += nla(a.value, self._payload(n))
        self._finish(m.data)
        m.must_fail = True
        return m

    def _mal_version(self, live):
        op = self._pick(self.ops)
        dump = self._pick_mode(op)
        v = self._pick([x for x in (0, 1, 3, 0x7F, 0xFF) if x != self.spec.version])
        m = self._msg(live, op, dump, self._valid_attrs(op, dump, live),
                      "malformed", "version-%d-%s" % (v, op.name), version=v)
        if self.rng.random() < 0.3:
            struct.pack_into("=H", m.data, NLMSG_HDRLEN + 2, self.rng.getrandbits(16))
        return m

    def _mal_wrong_mode(self, live):
        """NLM_F_DUMP on a do-only op, a do of a dump-only op."""
        op = self._pick([o for o in self.ops if o.has_do != o.has_dump])
        dump = not op.has_dump
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        m = self._msg(live, op, dump, self._valid_attrs(op, not dump, live),
                      "malformed", "%s-on-%s-only-%s" % ("dump" if dump else "do",
                                                         "dump" if op.has_dump else "do",
                                                         op.name),
                      must_fail=True, flags=flags)
        return m

    def _mal_flags(self, live):
        """Odd header flags: no NLM_F_REQUEST, echo, half a dump, random."""
        op = self._pick(self.ops)
        dump = self._pick_mode(op)
        base = self._mode_flags(op, dump)
        f = self._pick((
            base & ~NLM_F_REQUEST, (base & ~NLM_F_REQUEST) | NLM_F_ACK,
            base | NLM_F_ECHO, base | NLM_F_MULTI, base | NLM_F_DUMP_INTR,
            NLM_F_REQUEST | NLM_F_ROOT, NLM_F_REQUEST | NLM_F_MATCH,
            NLM_F_REQUEST | NLM_F_ATOMIC | NLM_F_ACK, base | NLM_F_ACK,
            self.rng.getrandbits(16)))
        return self._msg(live, op, dump, self._valid_attrs(op, dump, live),
                         "malformed", "flags-%#x-%s" % (f, op.name), flags=f)

    def _mal_unknown_cmd(self, live):
        cmd = self._pick(self.unknown_cmds + [self.rng.randint(0, 255)])
        if cmd in self.spec.by_value and self.spec.by_value[cmd].accepted:
            cmd = 0
        f = self._pick((NLM_F_REQUEST | NLM_F_ACK, NLM_F_REQUEST | NLM_F_DUMP,
                             NLM_F_REQUEST))
        buf = self._hdr(live, cmd, f)
        if self.rng.random() < 0.5:
            a = self._pick(list(self.spec.sets[self.root_set].values()))
            buf += nla(a.value, self._valid_value(a, live) if a.type != "nest" else b"")
        m = Msg(self._finish(buf), "malformed", "unknown-cmd-%d" % cmd,
                self.spec.by_value.get(cmd), cmd, must_fail=True)
        return m

    def _mal_unknown_family(self, live):
        op = self._pick(self.ops)
        t = self._pick(UNUSED_FAMILY_IDS + (1, 2, 3, 4, 0x0F))
        f = self._pick((NLM_F_REQUEST | NLM_F_ACK, NLM_F_REQUEST))
        buf = self._hdr(live, op.value, f, mtype=t)
        buf += self._valid_attrs(op, False, live)
        return Msg(self._finish(buf), "malformed", "type-%#x" % t, op, op.value,
                   must_fail=t >= NLMSG_MIN_TYPE)

    def _mal_random_bytes(self, live):
        """A correct netlink header, random bytes after it."""
        f = self._pick((NLM_F_REQUEST | NLM_F_ACK, NLM_F_REQUEST | NLM_F_DUMP))
        cmd = self._pick([o.value for o in self.ops] + [self.rng.randint(0, 255)])
        buf = bytearray(NLMSG_HDR.pack(0, live.family_id, f, 0, 0))
        buf += self._payload(self.rng.randint(0, 64))
        if len(buf) > NLMSG_HDRLEN:
            buf[NLMSG_HDRLEN] = cmd
        self._finish(buf)
        buf += b"\0" * (align4(len(buf)) - len(buf))
        op = self.spec.by_value.get(buf[NLMSG_HDRLEN]) if len(buf) > NLMSG_HDRLEN else None
        return Msg(buf, "malformed", "random-body", op,
                   buf[NLMSG_HDRLEN] if len(buf) > NLMSG_HDRLEN else None)

    def malformed(self, live):
        return self._pick(self.malformers)(live)

    # ------------------------------------------------------------- driver
    def next(self, live):
        x = self.rng.randrange(self._kind_total)
        for kind, w in self.KINDS:
            if x < w:
                break
            x -= w
        m = getattr(self, kind)(live)
        classify(m, self.spec, live)
        return m


def classify(m, spec, live):
    """Sets m.expect, m.dump, m.seq_off, m.flags from the bytes, by the
    rules of netlink_rcv_skb() and genl_rcv_msg():
      none   the kernel must not answer (dropped, or a non-request or
             control message without NLM_F_ACK);
      answer at least one answer: an error, an ack, data, a dump's end;
      maybe  a do without NLM_F_ACK whose op has no reply: silent on success."""
    d = m.data
    if len(d) < NLMSG_HDRLEN:
        m.expect = "none"
        m.standalone = True
        return
    mlen, mtype, flags, _, _ = NLMSG_HDR.unpack_from(d, 0)
    m.flags = flags
    m.seq_off = 8
    if mlen < NLMSG_HDRLEN or mlen > len(d):
        m.expect = "none"
        m.standalone = True
        return
    if not flags & NLM_F_REQUEST or mtype < NLMSG_MIN_TYPE:
        m.expect = "answer" if flags & NLM_F_ACK else "none"
        m.must_fail = False
        return
    m.to_family = mtype == live.family_id
    if not m.to_family:
        m.expect = "answer"
        return
    if mlen < NLMSG_HDRLEN + GENL_HDRLEN:
        m.expect = "answer"
        m.must_fail = True
        return
    cmd = d[NLMSG_HDRLEN]
    m.cmd = cmd
    op = spec.by_value.get(cmd)
    m.op = op
    is_dump = (flags & NLM_F_DUMP) == NLM_F_DUMP
    if op is None or not op.accepted or (is_dump and not op.has_dump) or \
            (not is_dump and not op.has_do):
        m.expect = "answer"
        m.must_fail = True
        return
    m.dump = is_dump
    if not is_dump and not (flags & NLM_F_ACK) and not op.do_reply and not m.must_fail:
        m.expect = "maybe"
    else:
        m.expect = "answer"
    # an op that takes no attributes refuses any byte after the header
    if not op.request_attrs(is_dump) and mlen > NLMSG_HDRLEN + GENL_HDRLEN:
        m.must_fail = True
        m.expect = "answer"
