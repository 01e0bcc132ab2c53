#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Spec-driven fuzzer of the nlpush generic netlink family.

Messages come from kmod/nlpush.yaml (Tests/fuzz/nlspec.py): valid,
boundary and malformed, for every op and for unknown ones. They are sent
in batches from several sockets as root, as uid 65534 and from a user +
network namespace, while nlpush_test publishes (emit, emit_atomic),
requests wait for a responder (nlpush_test request, EMIT with
reply-wanted), REPLAY dumps run (some left half read) and, between
rounds, both modules are reloaded (the family id is resolved again).
With /sys/kernel/debug/failslab and fail_page_alloc (a debug kernel),
allocations made from the nlpush module fail for part of every round.

Every answer is read and checked: well-formed, for a message we sent,
never a success for a message the spec's policy rejects or an op the
sender may not use, and every request answered (a sentinel GET_STATS ends
each batch; dumps are read to their end; sockets have timeouts). The
module must then deliver a 1,000-event burst in full and unload cleanly.

    nlpush_fuzz.py --self-test             host check of the generator
    nlpush_fuzz.py [--seed N] [--messages N] [--rounds N] [--ko-dir DIR]
    nlpush_fuzz.py --show SEED:N           print the first N messages of a
                                           generator seed (hex)

The seed is printed first; the same seed gives the same messages (the
live values, sequence numbers, epoch and family id, come from the module).
Output: TAP-style "ok - ..." / "not ok - ..." lines, then
"N passed, N failed".
"""
import argparse
import ctypes
import errno
import json
import os
import random
import select
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True      # no __pycache__ in the tree (read-only in the VM)
import nlspec as ns  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
SPEC_PATH = os.path.join(ROOT, "kmod", "nlpush.yaml")
DEBUGFS = "/sys/kernel/debug/nlpush_test"
FAIL_DIRS = ("/sys/kernel/debug/failslab", "/sys/kernel/debug/fail_page_alloc")
NOBODY = 65534

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_DUMPABLE = 4
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
GENL_ID_CTRL = 16
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_MCAST_GRP_NAME = 1
CTRL_ATTR_MCAST_GRP_ID = 2
RX_BYTES = 1 << 20
# time.monotonic() after which no more fuzz messages are sent (--time-limit;
# CLOCK_MONOTONIC, the same in the forked children)
DEADLINE = float("inf")
ANSWER_TIMEOUT = 30.0          # no answer within this is a hang
MAX_DATAGRAM = 160 * 1024

ERRNO_NAMES = dict(errno.errorcode)
ERRNO_NAMES[errno.EOPNOTSUPP] = "EOPNOTSUPP"    # not its alias ENOTSUP


def ename(e):
    return ERRNO_NAMES.get(abs(e), str(e)) if e else "0"


def say(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- sockets
class NLSock:
    """A bound NETLINK_GENERIC socket."""

    def __init__(self, rcvbuf=1 << 20, ext_ack=True, cap_ack=True, seq0=1000):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        for opt, fallback in ((SO_RCVBUFFORCE, socket.SO_RCVBUF),
                              (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
            try:
                self.s.setsockopt(socket.SOL_SOCKET, opt, rcvbuf)
            except OSError:
                self.s.setsockopt(socket.SOL_SOCKET, fallback, rcvbuf)
        self.s.bind((0, 0))
        self.portid = self.s.getsockname()[0]
        self.cap_ack = cap_ack
        self.ext_ack = ext_ack
        if ext_ack:
            self.s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        if cap_ack:
            self.s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self.rcvbuf = self.s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.seq = seq0
        self.rx = bytearray(RX_BYTES)
        self.overruns = 0

    def next_seq(self):
        self.seq = (self.seq + 1) & 0xFFFFFFFF or 1
        return self.seq

    def send(self, data):
        return self.s.sendto(data, (0, 0))

    def recv(self, timeout):
        """One datagram: bytes, None on timeout; raises OSError."""
        try:
            # what is queued needs no poll (one syscall less per answer)
            n = self.s.recv_into(self.rx, RX_BYTES, socket.MSG_TRUNC | socket.MSG_DONTWAIT)
        except BlockingIOError:
            r, _, _ = select.select([self.s], [], [], timeout)
            if not r:
                return None
            try:
                n = self.s.recv_into(self.rx, RX_BYTES, socket.MSG_TRUNC | socket.MSG_DONTWAIT)
            except BlockingIOError:
                return None
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.overruns += 1
                raise
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                self.overruns += 1
            raise
        if n > RX_BYTES:
            raise OSError(errno.EMSGSIZE, "datagram of %d bytes truncated" % n)
        return bytes(self.rx[:n])

    def join(self, grp):
        self.s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, grp)

    def close(self):
        self.s.close()


def nlmsgs(buf):
    """(offset, len, type, flags, seq) of each message of a datagram; raises
    ValueError when a length does not fit."""
    out, off = [], 0
    while off < len(buf):
        if len(buf) - off < ns.NLMSG_HDRLEN:
            raise ValueError("%d trailing bytes" % (len(buf) - off))
        ln, t, f, seq, _ = ns.NLMSG_HDR.unpack_from(buf, off)
        if ln < ns.NLMSG_HDRLEN or off + ln > len(buf):
            raise ValueError("nlmsg_len %d at %d of %d" % (ln, off, len(buf)))
        out.append((off, ln, t, f, seq))
        off += ns.align4(ln)
    return out


def request(family, cmd, flags, attrs=b"", version=1, seq=0):
    body = ns.GENL_HDR.pack(cmd, version, 0) + attrs
    return ns.NLMSG_HDR.pack(ns.NLMSG_HDRLEN + len(body), family, flags, seq, 0) + body


class KernelError(Exception):
    def __init__(self, err, extack=""):
        super().__init__("%s%s" % (ename(err), ": " + extack if extack else ""))
        self.err = err
        self.extack = extack


def extack_msg(buf, off, ln, flags):
    """The NLMSGERR_ATTR_MSG of an error message, or ''."""
    if not flags & NLM_F_ACK_TLVS:
        return ""
    inner_len = struct.unpack_from("=I", buf, off + 20)[0]
    toff = off + 20 + (16 if flags & NLM_F_CAPPED else inner_len)
    try:
        for t, d, n in ns.walk_attrs(buf, ns.align4(toff), off + ln):
            if t & ns.NLA_TYPE_MASK == 1:
                return buf[d:d + n].rstrip(b"\0").decode(errors="replace")
    except ValueError:
        return "<bad extack>"
    return ""


def transact(sk, data, timeout=ANSWER_TIMEOUT):
    """Sends one request, returns its data messages (bytes) until the ack,
    error or dump end; raises KernelError; skips other sequence numbers."""
    seq = sk.next_seq()
    data = bytearray(data)
    struct.pack_into("=I", data, 8, seq)
    sk.send(bytes(data))
    out = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise KernelError(-errno.ETIME, "no answer")
        try:
            buf = sk.recv(left)
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                continue
            raise
        if buf is None:
            continue
        for off, ln, t, f, s in nlmsgs(buf):
            if s != seq:
                continue
            if t == NLMSG_ERROR:
                err = struct.unpack_from("=i", buf, off + 16)[0]
                if err:
                    raise KernelError(err, extack_msg(buf, off, ln, f))
                return out
            if t == NLMSG_DONE:
                err = struct.unpack_from("=i", buf, off + 16)[0] if ln >= 20 else 0
                if err:
                    raise KernelError(err, extack_msg(buf, off, ln, f))
                return out
            out.append(buf[off:off + ln])


def genl_attrs(msg):
    """{type: bytes} of a generic netlink message's top-level attributes."""
    return {t & ns.NLA_TYPE_MASK: msg[d:d + n]
            for t, d, n in ns.walk_attrs(msg, ns.NLMSG_HDRLEN + ns.GENL_HDRLEN, len(msg))}


def u(b):
    return int.from_bytes(b, "little") if b else 0


def resolve_family(sk, name):
    """(family id, {group name: id}) or None when the family is not registered."""
    attrs = ns.nla(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0")
    try:
        msgs = transact(sk, request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0x5, attrs, 2))
    except KernelError as e:
        if e.err == -errno.ENOENT:
            return None
        raise
    for m in msgs:
        a = genl_attrs(m)
        grps = {}
        if CTRL_ATTR_MCAST_GROUPS in a:
            g = a[CTRL_ATTR_MCAST_GROUPS]
            for _, d, n in ns.walk_attrs(g, 0, len(g)):
                inner = {t: g[x:x + k] for t, x, k in ns.walk_attrs(g, d, d + n)}
                grps[inner[CTRL_ATTR_MCAST_GRP_NAME].rstrip(b"\0").decode()] = \
                    u(inner[CTRL_ATTR_MCAST_GRP_ID])
        return u(a[CTRL_ATTR_FAMILY_ID]), grps
    return None


class Family:
    def __init__(self, spec, fid, groups):
        self.spec = spec
        self.id = fid
        self.groups = groups
        self.a = {n: a.value for n, a in spec.sets["nlpush"].items()}
        self.stats_names = {a.value: n for n, a in spec.sets["stats"].items()}
        self.cmd = {o.name: o.value for o in spec.ops}
        self.flag = spec.flag_values["event-flags"]

    def msg(self, op, flags, attrs=b""):
        return request(self.id, self.cmd[op], flags, attrs, self.spec.version)

    def stats(self, sk):
        m = transact(sk, self.msg("get-stats", 0x5))[0]
        a = genl_attrs(m)
        nest = a[self.a["stats"]]
        st = {self.stats_names.get(t, t): u(nest[d:d + n])
              for t, d, n in ns.walk_attrs(nest, 0, len(nest))}
        st["epoch"] = u(a[self.a["epoch"]])
        return st

    def subscribe(self, sk, name, flags=0):
        attrs = ns.nla(self.a["name"], name.encode() + b"\0")
        if flags:
            attrs += ns.nla(self.a["flags"], struct.pack("=I", flags))
        transact(sk, self.msg("subscribe", 0x5, attrs))


def load_family(spec, sk, wait=10.0):
    deadline = time.monotonic() + wait
    while True:
        r = resolve_family(sk, spec.name)
        if r:
            return Family(spec, *r)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


# ------------------------------------------------------------ the checker
class Results:
    """Counters, the errno histogram and findings of one context."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.sent = 0
        self.datagrams = 0
        self.side = 0               # sentinels, acks of the responder...
        self.hist = {}              # outcome -> count
        self.kind_hist = {}         # kind -> outcome -> count
        self.findings = []
        self.notes = {}             # counters that are no failure
        self.elapsed = 0.0

    def count(self, key, n=1):
        self.notes[key] = self.notes.get(key, 0) + n

    def outcome(self, kind, key):
        self.hist[key] = self.hist.get(key, 0) + 1
        k = self.kind_hist.setdefault(kind, {})
        k[key] = k.get(key, 0) + 1

    def find(self, what, **detail):
        if len(self.findings) < 200:
            self.findings.append(dict(what=what, ctx=self.ctx, **detail))
        self.count("finding:" + what)

    def to_json(self):
        return json.dumps(self.__dict__)

    @staticmethod
    def merge(items):
        r = Results("all")
        for x in items:
            r.sent += x.sent
            r.datagrams += x.datagrams
            r.side += x.side
            r.elapsed += x.elapsed
            for k, v in x.hist.items():
                r.hist[k] = r.hist.get(k, 0) + v
            for kind, h in x.kind_hist.items():
                dst = r.kind_hist.setdefault(kind, {})
                for k, v in h.items():
                    dst[k] = dst.get(k, 0) + v
            for k, v in x.notes.items():
                r.notes[k] = r.notes.get(k, 0) + v
            r.findings += x.findings
        return r


def answer_class(buf, off, ln, t, f):
    if t == NLMSG_ERROR:
        err = struct.unpack_from("=i", buf, off + 16)[0]
        return "ack" if err == 0 else ename(err)
    if t == NLMSG_DONE:
        err = struct.unpack_from("=i", buf, off + 16)[0] if ln >= 20 else 0
        return "done" if err == 0 else "done-" + ename(err)
    return "data"


class Checker:
    """Sanity of one answer message, from the spec."""

    def __init__(self, spec):
        self.spec = spec
        root = spec.sets["nlpush"]
        self.by_value = {a.value: a for a in root.values()}
        self.reply_types = {}
        for op in spec.ops:
            names = spec.reply_attrs(op)
            if names:
                self.reply_types[op.value] = {root[n].value for n in names} | {root["pad"].value}
        self.nested = {a.value: spec.sets[a.nested] for a in root.values() if a.type == "nest"}

    def problem(self, buf, off, ln, t, f, family_id):
        """None, or what is wrong with the message at @off."""
        if t == NLMSG_ERROR:
            if ln < 36:
                return "error message of %d bytes" % ln
            err = struct.unpack_from("=i", buf, off + 16)[0]
            if err > 0 or err < -4095:
                return "error %d" % err
            if f & NLM_F_ACK_TLVS:
                inner = struct.unpack_from("=I", buf, off + 20)[0]
                toff = off + 20 + (16 if f & NLM_F_CAPPED else inner)
                if ns.align4(toff) > off + ln:
                    return "extack offset past the message"
                try:
                    ns.walk_attrs(buf, ns.align4(toff), off + ln)
                except ValueError as e:
                    return "extack TLVs: %s" % e
            return None
        if t == NLMSG_DONE:
            return None if ln in (16, 20) or ln >= 20 else "done of %d bytes" % ln
        if t != family_id:
            return "message type %#x" % t
        if ln < 20:
            return "family message of %d bytes" % ln
        cmd = buf[off + 16]
        allowed = self.reply_types.get(cmd)
        if allowed is None:
            return "command %d the kernel never sends" % cmd
        try:
            attrs = ns.walk_attrs(buf, off + 20, off + ln)
        except ValueError as e:
            return "attributes: %s" % e
        for at, d, n in attrs:
            typ = at & ns.NLA_TYPE_MASK
            if typ not in allowed:
                return "attribute %d not in the reply of command %d" % (typ, cmd)
            a = self.by_value[typ]
            size = a.int_size
            if size and n != size:
                return "attribute %s of %d bytes" % (a.name, n)
            if typ in self.nested:
                inner = self.nested[typ]
                vals = {x.value: x for x in inner.values()}
                try:
                    for it, idd, inn in ns.walk_attrs(buf, d, d + n):
                        x = vals.get(it & ns.NLA_TYPE_MASK)
                        if x is None:
                            return "%s: unknown attribute %d" % (a.name, it)
                        if x.int_size and inn != x.int_size:
                            return "%s.%s of %d bytes" % (a.name, x.name, inn)
                except ValueError as e:
                    return "%s: %s" % (a.name, e)
        return None


class Fuzzer:
    """Sends the generator's messages from several sockets and checks
    every answer."""

    def __init__(self, spec, res, ctx, gen_seed, fam_id, live, nsock=4,
                 privileged=True, unpriv_listen=False, in_netns=False):
        self.spec = spec
        self.res = res
        self.ctx = ctx
        self.gen_seed = gen_seed
        self.gen = ns.Generator(spec, gen_seed)
        self.fam_id = fam_id
        self.live = live
        self.live.family_id = fam_id
        self.checker = Checker(spec)
        self.privileged = privileged
        self.unpriv_listen = unpriv_listen
        self.in_netns = in_netns
        # ext ack and capped acks on some sockets, full echoes on others
        self.socks = [NLSock(4 << 20, ext_ack=i % 4 != 3, cap_ack=i % 4 < 2)
                      for i in range(nsock)]
        self.budget = {sk: sk.rcvbuf // 3 for sk in self.socks}
        self.index = 0              # messages drawn from the generator
        self.timing = dict(generate=0.0, send=0.0, collect=0.0, between=0.0)
        self.old_ids = set()        # ids of the family before a reload

    def close(self):
        for sk in self.socks:
            sk.close()

    def set_family(self, fam_id):
        if fam_id != self.fam_id:
            self.old_ids.add(self.fam_id)
        self.fam_id = fam_id
        self.live.family_id = fam_id

    def _cost(self, m, sk):
        c = 1200 + (0 if sk.cap_ack else len(m.data))
        if m.dump:
            c += 72 * 1024
        elif m.op is not None and m.op.do_reply:
            c += 6000
        return c

    def _sentinel(self, sk):
        seq = sk.next_seq()
        return seq, request(self.fam_id, self.spec.by_name["get-stats"].value, 0x1,
                            b"", self.spec.version, seq)

    def batch(self, sk, limit):
        """Datagrams and records of one batch for @sk."""
        dgrams, cur, recs, cost = [], bytearray(), {}, 0
        budget = self.budget[sk]
        n = 0
        while n < limit:
            m = self.gen.next(self.live)
            idx = self.index
            self.index += 1
            n += 1
            if m.seq_off is not None:
                seq = sk.next_seq()
                struct.pack_into("=I", m.data, 8, seq)
                recs[seq] = [m, [], False, idx]
            else:
                self.res.outcome(m.kind, "ignored")
            if m.standalone or len(cur) + len(m.data) > MAX_DATAGRAM:
                if cur:
                    dgrams.append(bytes(cur))
                    cur = bytearray()
            if m.standalone:
                dgrams.append(bytes(m.data))
            else:
                cur += m.data
            cost += self._cost(m, sk)
            if cost > budget:
                break
        if cur:
            dgrams.append(bytes(cur))
        return dgrams, recs, n

    def run(self, total, between=None, stop=None):
        """Sends @total messages; @between() runs after every cycle."""
        t0 = time.monotonic()
        tick = t0 + 15
        sent = 0
        clock = time.monotonic
        while sent < total and not (stop and stop()):
            plans = []
            for sk in self.socks:
                left = total - sent
                if left <= 0:
                    break
                ta = clock()
                dgrams, recs, n = self.batch(sk, min(64, left))
                tb = clock()
                sent += n
                self.res.sent += n
                sseq, sentinel = self._sentinel(sk)
                for d in dgrams:
                    try:
                        sk.send(d)
                    except OSError as e:
                        self.res.outcome("send", "send-" + ename(e.errno))
                    self.res.datagrams += 1
                sk.send(sentinel)
                self.res.side += 1
                plans.append((sk, recs, sseq))
                self.timing["generate"] += tb - ta
                self.timing["send"] += clock() - tb
            ta = clock()
            for sk, recs, sseq in plans:
                self.collect(sk, recs, sseq)
            tb = clock()
            self.timing["collect"] += tb - ta
            if between:
                between()
                self.timing["between"] += clock() - tb
            if clock() > tick:
                tick = clock() + 15
                dt = clock() - t0
                say("# %s: %d of %d messages in %.1f s (%.0f/s; %s)" % (
                    self.ctx, sent, total, dt, sent / dt if dt else 0,
                    ", ".join("%s %.1f s" % kv for kv in self.timing.items())))
        self.res.elapsed += time.monotonic() - t0
        return sent

    def collect(self, sk, recs, sseq):
        """Reads until the sentinel is answered and every dump ended."""
        fam = self.fam_id
        got_sentinel = False
        overrun = False
        deadline = time.monotonic() + ANSWER_TIMEOUT
        dumps = [r for r in recs.values() if r[0].dump]
        while not got_sentinel or not all(r[2] for r in dumps):
            left = deadline - time.monotonic()
            if left <= 0:
                self.res.find("hang", detail="no sentinel/dump end within %.0f s" %
                              ANSWER_TIMEOUT, open_dumps=[self._describe(r) for r in dumps
                                                          if not r[2]][:3])
                break
            try:
                buf = sk.recv(min(left, 5.0))
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    overrun = True
                    self.res.count("rcv-overrun")
                    self.budget[sk] = max(8192, self.budget[sk] // 2)
                    continue
                raise
            if buf is None:
                continue
            try:
                msgs = nlmsgs(buf)
            except ValueError as e:
                self.res.find("bad-datagram", detail=str(e), bytes=buf[:256].hex())
                continue
            for i, (off, ln, t, f, seq) in enumerate(msgs):
                if i and i % 32 and t == fam and f & ns.NLM_F_MULTI and seq in recs:
                    # the rest of a dump datagram: headers only (a dump of
                    # the whole ring is thousands of messages)
                    self.res.count("dump-messages")
                    continue
                if t in self.old_ids and ln >= 20 and \
                        buf[off + 16] == self.spec.by_name["reply"].value:
                    # a request of the previous load failed by rmmod (ESHUTDOWN)
                    self._async_reply(buf, off, ln)
                    self.res.count("REPLY-from-previous-load")
                    continue
                bad = self.checker.problem(buf, off, ln, t, f, fam)
                if bad:
                    self.res.find("bad-answer", detail=bad, bytes=buf[off:off + min(ln, 256)].hex(),
                                  request=self._describe(recs.get(seq)))
                    continue
                if t == fam and buf[off + 16] == self.spec.by_name["reply"].value:
                    self._async_reply(buf, off, ln)
                    continue
                if seq == sseq:
                    got_sentinel = True
                    if t == fam and self.privileged:
                        self._refresh_live(buf[off:off + ln])
                    continue
                r = recs.get(seq)
                if r is None:
                    self.res.count("late-or-stray-answer")
                    continue
                cls = answer_class(buf, off, ln, t, f)
                r[1].append(cls)
                if t in (NLMSG_ERROR, NLMSG_DONE):
                    r[2] = True
        for seq, r in recs.items():
            self._judge(r, overrun)

    def _describe(self, r):
        if r is None:
            return None
        m = r[0]
        return dict(gen_seed=self.gen_seed, index=r[3], kind=m.kind, label=m.label,
                    answers=r[1][:4], bytes=bytes(m.data[:512]).hex(), length=len(m.data))

    def _refresh_live(self, msg):
        try:
            a = genl_attrs(msg)
            nest = a[self.spec.sets["nlpush"]["stats"].value]
            st = {t: u(nest[d:d + n]) for t, d, n in ns.walk_attrs(nest, 0, len(nest))}
            sv = self.spec.sets["stats"]
            self.live.set_state(u(a[self.spec.sets["nlpush"]["epoch"].value]),
                                st[sv["oldest-seq"].value], st[sv["next-seq"].value])
        except (KeyError, ValueError):
            self.res.find("bad-stats", bytes=msg[:256].hex())

    def _async_reply(self, buf, off, ln):
        a = genl_attrs(buf[off:off + ln])
        root = self.spec.sets["nlpush"]
        err = struct.unpack("=i", a.get(root["error"].value, b"\0\0\0\x80"))[0]
        self.res.count("async-REPLY-" + ename(err))
        if root["seq"].value not in a or root["epoch"].value not in a or \
                err not in (0, -errno.ETIMEDOUT, -errno.ENOTCONN, -errno.ESHUTDOWN):
            self.res.find("bad-REPLY", bytes=buf[off:off + min(ln, 256)].hex())

    def _judge(self, r, overrun):
        m, answers, closed, idx = r
        first = answers[0] if answers else None
        if m.expect == "none":
            self.res.outcome(m.kind, "ignored" if not answers else first)
            if answers:
                self.res.find("answered-ignored", request=self._describe(r))
            return
        if not answers:
            if m.expect == "answer" and not overrun:
                self.res.find("unanswered", request=self._describe(r))
            self.res.outcome(m.kind, "silent" if m.expect == "maybe" else "missing")
            return
        self.res.outcome(m.kind, first)
        success = any(a in ("ack", "data", "done") for a in answers)
        if not success:
            return
        if m.must_fail:
            self.res.find("policy-bypass", request=self._describe(r))
        if m.to_family and self.in_netns:
            self.res.find("netns-success", request=self._describe(r))
        elif m.to_family and not self.privileged and m.op is not None:
            if m.op.admin or (m.op.name == "replay" and not self.unpriv_listen):
                self.res.find("privilege-bypass", request=self._describe(r))


# ------------------------------------------------- live activity (root)
class Responder:
    """A registered responder joined to "events": answers most requests,
    checks every event it gets, counts the rest."""

    def __init__(self, spec, res, seed):
        self.spec = spec
        self.res = res
        self.rng = random.Random(seed)
        self.sk = None
        self.last_seq = None
        self.checker = Checker(spec)

    def start(self, fam):
        if self.sk:
            self.sk.close()
        self.fam = fam
        self.sk = NLSock(16 << 20)
        fam.subscribe(self.sk, "fuzz-responder", fam.flag["responder"])
        self.sk.join(fam.groups["events"])
        self.last_seq = None

    def poll(self):
        fam, a = self.fam, self.fam.a
        answers = bytearray()
        # everything queued: a request read late has timed out already
        for _ in range(4096):
            try:
                buf = self.sk.recv(0)
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.res.count("responder-overrun")
                    self.last_seq = None
                    continue
                raise
            if buf is None:
                break
            for off, ln, t, f, seq in nlmsgs(buf):
                if t == NLMSG_ERROR:
                    err = struct.unpack_from("=i", buf, off + 16)[0]
                    self.res.count("responder-ack-" + ename(err))
                    continue
                bad = self.checker.problem(buf, off, ln, t, f, fam.id)
                if bad:
                    self.res.find("bad-event", detail=bad, bytes=buf[off:off + min(ln, 256)].hex())
                    continue
                at = genl_attrs(buf[off:off + ln])
                ev = u(at.get(a["seq"]))
                self.res.count("events")
                if self.last_seq is not None and ev != self.last_seq + 1:
                    self.res.count("event-gaps")
                    if ev <= self.last_seq:
                        self.res.find("event-order", detail="seq %d after %d" % (ev, self.last_seq))
                self.last_seq = ev
                if not u(at.get(a["flags"])) & fam.flag["reply-wanted"]:
                    continue
                self.res.count("requests-seen")
                x = self.rng.random()
                if x < 0.12:
                    continue        # left to time out
                attrs = ns.nla(a["seq"], struct.pack("=Q", ev)) + \
                    ns.nla(a["status"], struct.pack("=i", self.rng.randint(-5, 5))) + \
                    ns.nla(a["epoch"], at.get(a["epoch"], b"\0" * 8))
                if x < 0.5:
                    attrs += ns.nla(a["payload"], bytes(self.rng.getrandbits(8)
                                                        for _ in range(self.rng.randint(0, 48))))
                msg = bytearray(fam.msg("ack", 0x5, attrs))
                struct.pack_into("=I", msg, 8, self.sk.next_seq())
                answers += msg
                if x > 0.95:        # a second answer: ENOENT
                    msg = bytearray(msg)
                    struct.pack_into("=I", msg, 8, self.sk.next_seq())
                    answers += msg
                if len(answers) > 32 * 1024:
                    self._send(answers)
                    answers = bytearray()
        if answers:
            self._send(answers)

    def _send(self, data):
        try:
            self.sk.send(bytes(data))
            self.res.side += 1
        except OSError as e:
            self.res.count("responder-send-" + ename(e.errno))

    def close(self):
        if self.sk:
            self.sk.close()
            self.sk = None


class Requester:
    """EMIT with reply-wanted: every accepted request must get exactly one
    REPLY, with an allowed error, by its deadline (plus slack)."""

    def __init__(self, spec, res, seed):
        self.spec = spec
        self.res = res
        self.rng = random.Random(seed)
        self.sk = NLSock(4 << 20)
        self.waiting = {}           # netlink seq -> deadline
        self.replied = set()

    def emit(self, fam):
        a = fam.a
        tmo = self.rng.randint(100, 1500)
        attrs = ns.nla(a["flags"], struct.pack("=I", fam.flag["reply-wanted"])) + \
            ns.nla(a["timeout-ms"], struct.pack("=I", tmo)) + \
            ns.nla(a["type"], struct.pack("=I", 500)) + \
            ns.nla(a["payload"], b"fuzz-request")
        seq = self.sk.next_seq()
        msg = bytearray(fam.msg("emit", 0x5, attrs))
        struct.pack_into("=I", msg, 8, seq)
        self.sk.send(bytes(msg))
        self.res.side += 1
        self.waiting[seq] = time.monotonic() + tmo / 1000 + 30
        self.pending_emit = seq

    def poll(self, fam, timeout=0.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                buf = self.sk.recv(max(0, deadline - time.monotonic()))
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.res.find("requester-overrun")
                    continue
                raise
            if buf is None:
                return
            for off, ln, t, f, seq in nlmsgs(buf):
                if t == NLMSG_ERROR:
                    err = struct.unpack_from("=i", buf, off + 16)[0]
                    self.res.count("request-emit-" + ename(err))
                    if err:
                        self.waiting.pop(seq, None)   # refused: no REPLY
                    continue
                if t != fam.id:
                    continue
                cmd = buf[off + 16]
                if cmd != fam.cmd["reply"]:
                    continue
                at = genl_attrs(buf[off:off + ln])
                err = struct.unpack("=i", at.get(fam.a["error"], b"\xff\xff\xff\x7f"))[0]
                self.res.count("request-REPLY-" + ename(err))
                if seq in self.replied:
                    self.res.find("duplicate-REPLY", seq=seq)
                elif seq not in self.waiting:
                    self.res.find("REPLY-without-request", seq=seq)
                self.waiting.pop(seq, None)
                self.replied.add(seq)
                if err == 0 and fam.a["status"] not in at:
                    self.res.find("REPLY-without-status", bytes=buf[off:off + ln].hex())

    def drain(self, fam, allow_missing):
        """Waits for every outstanding REPLY."""
        end = max(self.waiting.values(), default=0)
        while self.waiting and time.monotonic() < end:
            self.poll(fam, 0.5)
        if self.waiting:
            if allow_missing:
                self.res.count("REPLY-missing-under-fault-injection", len(self.waiting))
            else:
                self.res.find("REPLY-missing", seqs=sorted(self.waiting)[:10])
        self.waiting.clear()


class Publishers:
    """Threads writing nlpush_test's debugfs files while the fuzzer runs."""

    def __init__(self, res, seed):
        self.res = res
        self.seed = seed
        self.stop = threading.Event()
        self.threads = []
        self.lock = threading.Lock()

    def _count(self, key):
        with self.lock:
            self.res.count(key)

    def _write(self, name, text):
        try:
            fd = os.open(os.path.join(DEBUGFS, name), os.O_WRONLY)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
            return 0
        except OSError as e:
            return -e.errno

    def _loop(self, name, k):
        rng = random.Random(self.seed * 7 + k)
        sizes = (0, 1, 8, 64, 200, 1024, 4096)
        while not self.stop.is_set():
            if name == "request":
                text = "%d %d %d" % (rng.choice(sizes[:5]), rng.randint(100, 800), 600 + k)
            else:
                size = 61440 if rng.random() < 0.01 else rng.choice(sizes)
                # a few events per write: the responder must keep up to
                # answer requests before they time out
                text = "%d %d %d" % (rng.randint(1, 4), size, 600 + k)
            err = self._write(name, text)
            self._count("debugfs-%s-%s" % (name, ename(err)))
            if name == "request" and err == 0:
                try:
                    with open(os.path.join(DEBUGFS, "request")) as f:
                        r = f.read().strip()
                    key = r.split()[0] if r.startswith("status=") else r
                    res = "answered" if key.startswith("status=") else \
                        ename(int(key.split("=")[1])) if key.startswith("error=") else "bad"
                    self._count("debugfs-request-result-%s" % res)
                    # nlpush_request() ends answered, or with one of these
                    if res not in ("answered", "ETIMEDOUT", "ENOTCONN", "ESHUTDOWN", "EINTR",
                                   "ENOMEM", "EBUSY", "ENODATA"):
                        with self.lock:
                            self.res.find("debugfs-request-result", detail=r[:200])
                except (OSError, ValueError, IndexError):
                    self._count("debugfs-request-result-unreadable")
            self.stop.wait(rng.uniform(0.005, 0.05))

    def start(self):
        self.stop.clear()
        self.threads = [threading.Thread(target=self._loop, args=(n, k), daemon=True)
                        for k, n in enumerate(("emit", "emit_atomic", "request", "emit"))]
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(70)
            if t.is_alive():
                self.res.find("debugfs-writer-hung")


class HalfReadDumps:
    """REPLAY dumps read one batch deep; some are kept open (they pin the
    module: rmmod must then fail with EBUSY and leave it loaded)."""

    def __init__(self, res, seed):
        self.res = res
        self.rng = random.Random(seed)
        self.held = []

    def maybe(self, fam):
        if self.rng.random() > 0.08:
            return
        sk = NLSock(0)
        sk.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        attrs = b""
        if self.rng.random() < 0.5:
            attrs = ns.nla(fam.a["seq"], struct.pack("=Q", 0))
        msg = bytearray(fam.msg("replay", 0x301, attrs))
        struct.pack_into("=I", msg, 8, sk.next_seq())
        sk.send(bytes(msg))
        self.res.side += 1
        done = False
        try:
            buf = sk.recv(10.0)
            if buf:
                done = any(t in (NLMSG_ERROR, NLMSG_DONE) for _, _, t, _, _ in nlmsgs(buf))
        except OSError as e:
            self.res.count("half-dump-" + ename(e.errno))
        self.res.count("half-read-dumps")
        if not done and len(self.held) < 2 and self.rng.random() < 0.5:
            self.held.append(sk)
        else:
            sk.close()

    def close(self):
        for sk in self.held:
            sk.close()
        self.held = []


class FaultInjection:
    """failslab and fail_page_alloc, restricted to the nlpush module's text
    by the stack trace filter."""

    def __init__(self):
        self.dirs = [d for d in FAIL_DIRS if os.path.isdir(d)]
        self.why = None
        if not self.dirs:
            self.why = "no %s: this kernel has no fault injection (stock kernel)" % \
                " or ".join(FAIL_DIRS)
        elif not all(os.path.exists(os.path.join(d, "require-start")) for d in self.dirs):
            self.why = "no require-start: no CONFIG_FAULT_INJECTION_STACKTRACE_FILTER"
        self.active = False
        self.times = 0
        # failures the kernel injected, per directory ("times" counts down)
        self.injected = {d: 0 for d in self.dirs}

    @property
    def available(self):
        return self.why is None

    @staticmethod
    def _put(d, name, value):
        p = os.path.join(d, name)
        if os.path.exists(p):
            with open(p, "w") as f:
                f.write("%s\n" % value)

    def module_range(self, name="nlpush"):
        kp = "/proc/sys/kernel/kptr_restrict"
        with open(kp) as f:
            old = f.read().strip()
        with open(kp, "w") as f:
            f.write("0\n")
        try:
            with open("/proc/modules") as f:
                for line in f:
                    p = line.split()
                    if p[0] == name:
                        start = int(p[5], 16)
                        if start == 0:
                            raise OSError("module address hidden")
                        return start, start + int(p[1])
        finally:
            with open(kp, "w") as f:
                f.write(old + "\n")
        raise OSError("module %s not in /proc/modules" % name)

    def enable(self, probability=10, times=2000):
        start, end = self.module_range()
        for d in self.dirs:
            for k, v in (("probability", 0), ("require-start", start), ("require-end", end),
                         ("stacktrace-depth", 32), ("reject-start", 0), ("reject-end", 0),
                         ("interval", 1), ("times", times), ("space", 0), ("verbose", 0),
                         ("task-filter", "N"), ("ignore-gfp-wait", "N"),
                         ("ignore-gfp-highmem", "N"), ("min-order", 0),
                         ("cache-filter", "N"), ("probability", probability)):
                self._put(d, k, v)
        self.active = True
        self.times = times
        return start, end

    def disable(self):
        for d in self.dirs:
            self._put(d, "probability", 0)
            try:
                with open(os.path.join(d, "times")) as f:
                    left = int(f.read().strip())
                if self.active and 0 <= left <= self.times:
                    self.injected[d] += self.times - left
            except (OSError, ValueError):
                pass
            self._put(d, "times", 0)
        self.active = False


# ------------------------------------------------------ module handling
def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout.strip()


def rmmod(name, tries=50):
    rc, out = 1, ""
    for _ in range(tries):
        rc, out = run(["rmmod", name])
        if rc == 0:
            return 0, out
        time.sleep(0.1)
    return rc, out


def past_deadline():
    return time.monotonic() > DEADLINE


def tainted():
    with open("/proc/sys/kernel/tainted") as f:
        return int(f.read())


# --------------------------------------------------- unprivileged children
def drop_privileges(netns):
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    if netns:
        libc = ctypes.CDLL(None, use_errno=True)
        # setuid() made /proc/self root's: dumpable again, to write the maps
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "unshare")
        for path, text in (("/proc/self/uid_map", "0 %d 1" % NOBODY),
                           ("/proc/self/setgroups", "deny"),
                           ("/proc/self/gid_map", "0 %d 1" % NOBODY)):
            with open(path, "w") as f:
                f.write(text)


def child_main(spec, ctx, gen_seed, fam_id, live, n, unpriv_listen, wfd):
    res = Results(ctx)
    try:
        drop_privileges(netns=ctx == "userns")
        sk = NLSock(1 << 20)
        r = resolve_family(sk, spec.name)
        if ctx == "userns":
            res.count("resolve-in-netns-" + ("visible" if r else "ENOENT"))
            if r:
                res.find("family-visible-in-netns")
        elif not r:
            res.find("family-invisible-unprivileged")
        sk.close()
        fz = Fuzzer(spec, res, ctx, gen_seed, fam_id, live, nsock=2, privileged=False,
                    unpriv_listen=unpriv_listen, in_netns=ctx == "userns")
        fz.run(n, stop=past_deadline)
        fz.close()
    except Exception as e:   # reported, the parent fails the run
        res.find("child-crashed", detail="%s: %s" % (type(e).__name__, e))
    data = res.to_json().encode()
    os.write(wfd, data)
    os.close(wfd)
    os._exit(0)


def fork_child(spec, ctx, gen_seed, fam_id, live, n, unpriv_listen):
    r, w = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            child_main(spec, ctx, gen_seed, fam_id, live, n, unpriv_listen, w)
        finally:
            os._exit(1)
    os.close(w)
    return pid, r


def reap_child(pid, rfd, ctx, timeout=600):
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        rr, _, _ = select.select([rfd], [], [], max(0, deadline - time.monotonic()))
        if not rr:
            os.kill(pid, 9)
            break
        b = os.read(rfd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(rfd)
    os.waitpid(pid, 0)
    res = Results(ctx)
    try:
        res.__dict__.update(json.loads(b"".join(chunks)))
    except ValueError:
        res.find("child-no-result")
    return res


# ------------------------------------------------------------- the run
def derive(seed, rnd, what):
    return (seed * 1000003 + rnd * 7919 + what) % (1 << 62)


class Tap:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def ok(self, cond, text, diag=None):
        if cond:
            self.passed += 1
            say("ok - " + text)
        else:
            self.failed += 1
            say("not ok - " + text)
            if diag:
                for line in str(diag).splitlines()[:20]:
                    say("#   " + line)
        return cond

    def skip(self, text, why):
        self.skipped += 1
        say("ok - %s # SKIP %s" % (text, why))


def check_burst(spec, tap, ctl, fam):
    """1,000 events from nlpush_test reach a listener with a large buffer:
    exactly 1,000 EVENT messages with consecutive seqs."""
    # wait for the module to settle (bulk EMITs still publishing)
    last, still = None, 0
    for _ in range(300):
        st = fam.stats(ctl)
        if st["next-seq"] == last:
            still += 1
            if still >= 5:
                break
        else:
            still = 0
        last = st["next-seq"]
        time.sleep(0.2)
    lis = NLSock(64 << 20)
    lis.join(fam.groups["events"])
    first = fam.stats(ctl)["next-seq"]
    with open(os.path.join(DEBUGFS, "emit"), "w") as f:
        f.write("1000 16 77")
    seqs, bad, overrun = [], [], False
    deadline = time.monotonic() + 60
    while len(seqs) < 1000 and time.monotonic() < deadline:
        try:
            buf = lis.recv(1.0)
        except OSError as e:
            overrun = overrun or e.errno == errno.ENOBUFS
            continue
        if buf is None:
            continue
        for off, ln, t, f, s in nlmsgs(buf):
            if t != fam.id or buf[off + 16] != fam.cmd["event"]:
                bad.append("message type %d" % t)
                continue
            at = genl_attrs(buf[off:off + ln])
            sq = u(at.get(fam.a["seq"]))
            pl = at.get(fam.a["payload"], b"")
            want = bytes((sq + i) % 251 for i in range(16))
            if u(at.get(fam.a["type"])) != 77 or pl != want:
                bad.append("seq %d: type %d payload %s" % (sq, u(at.get(fam.a["type"])), pl.hex()))
            seqs.append(sq)
    # anything beyond the 1,000 would be a duplicate
    try:
        extra = lis.recv(0.5)
    except OSError:
        extra = None
    if extra:
        seqs += [-1] * len(nlmsgs(extra))
    lis.close()
    want = list(range(first, first + 1000))
    tap.ok(len(seqs) == 1000 and seqs == want and not bad and not overrun,
           "check burst after fuzzing: exactly 1000 EVENT messages, seqs %d..%d consecutive, "
           "type 77, payload pattern, no overrun" % (first, first + 999),
           "got %d events%s%s%s" % (len(seqs), ", first %r" % seqs[:3] if seqs else "",
                                    "; " + "; ".join(bad[:5]) if bad else "",
                                    "; ENOBUFS" if overrun else ""))


def print_results(all_res, per_ctx, wall):
    say("# messages: %d fuzz messages in %d datagrams (+%d side messages: sentinels, "
        "responder acks, requests, dumps) in %.1f s wall: %.0f messages/s" % (
            all_res.sent, all_res.datagrams, all_res.side, wall,
            all_res.sent / wall if wall else 0))
    for r in per_ctx:
        say("# context %-6s: %7d messages, %5.1f s sending: %.0f messages/s" % (
            r.ctx, r.sent, r.elapsed, r.sent / r.elapsed if r.elapsed else 0))
    say("# outcome histogram (first answer of each message: errno, ack, data, done,"
        " silent = no answer allowed, ignored = dropped by netlink):")
    for k, v in sorted(all_res.hist.items(), key=lambda kv: -kv[1]):
        say("#   %-16s %8d" % (k, v))
    for r in per_ctx:
        say("# %s: %s" % (r.ctx, ", ".join("%s %d" % kv for kv in
                                            sorted(r.hist.items(), key=lambda kv: -kv[1]))))
    for kind in sorted(all_res.kind_hist):
        h = all_res.kind_hist[kind]
        say("# by kind %-9s: %s" % (kind, ", ".join("%s %d" % kv for kv in
                                                   sorted(h.items(), key=lambda kv: -kv[1]))))
    say("# counters: %s" % ", ".join("%s %d" % kv for kv in sorted(all_res.notes.items())))


def fuzz(args, spec, tap):
    global DEADLINE
    if args.time_limit:
        DEADLINE = time.monotonic() + args.time_limit
    seed = args.seed
    total = args.messages
    rounds = max(1, args.rounds)
    say("# nlpush fuzzer: seed %d, %d messages, %d rounds (reproduce: "
        "NLPUSH_FUZZ_SEED=%d, or %s --seed %d --messages %d --rounds %d)" % (
            seed, total, rounds, seed, sys.argv[0], seed, total, rounds))
    if os.geteuid() != 0:
        tap.ok(False, "running as root")
        return
    ctl = NLSock(4 << 20)
    fam = load_family(spec, ctl, 5)
    if not tap.ok(fam is not None, "family %s resolved" % spec.name):
        return
    taint0 = tainted()
    fi = FaultInjection()
    if fi.available:
        say("# fault injection: %s, restricted to the nlpush module" % ", ".join(fi.dirs))
    else:
        say("# fault injection skipped: %s" % fi.why)
    try:
        with open("/sys/module/nlpush/parameters/unprivileged_listen") as f:
            unpriv_listen = f.read().strip() in ("Y", "1")
    except OSError:
        unpriv_listen = False
    shares = {"root": 0.7, "unpriv": 0.15, "userns": 0.15}
    per_ctx = {c: [] for c in shares}
    side = Results("side")
    responder = Responder(spec, side, derive(seed, 0, 90))
    requester = Requester(spec, side, derive(seed, 0, 91))
    halfdumps = HalfReadDumps(side, derive(seed, 0, 92))
    root_live = ns.Live()
    root_fz = None
    t_start = time.monotonic()
    injected_rounds = 0
    for rnd in range(rounds):
        last = rnd == rounds - 1
        quota = {c: int(total * s / rounds) for c, s in shares.items()}
        if last:
            quota["root"] = total - sum(sum(r.sent for r in v) for v in per_ctx.values()) - \
                quota["unpriv"] - quota["userns"]
        st = fam.stats(ctl)
        root_live.set_state(st["epoch"], st["oldest-seq"], st["next-seq"])
        say("# round %d: family id %d, epoch %#x, next seq %d" % (
            rnd, fam.id, st["epoch"], st["next-seq"]))
        kids = []
        for k, ctx in enumerate(("unpriv", "userns")):
            live = ns.Live(fam.id, st["epoch"], st["oldest-seq"], st["next-seq"])
            kids.append((ctx,) + fork_child(spec, ctx, derive(seed, rnd, 1 + k), fam.id, live,
                                            quota[ctx], unpriv_listen))
        # root: several sockets, live activity around every cycle
        res = Results("root")
        if root_fz is None:
            root_fz = Fuzzer(spec, res, "root", derive(seed, rnd, 0), fam.id, root_live,
                             nsock=4)
        else:
            # same sockets across the reload; a new generator stream per round
            root_fz.res = res
            root_fz.gen = ns.Generator(spec, derive(seed, rnd, 0))
            root_fz.gen_seed = derive(seed, rnd, 0)
            root_fz.set_family(fam.id)
        responder.start(fam)
        pubs = Publishers(side, derive(seed, rnd, 93))
        pubs.start()
        cycle = [0]
        inject_window = (quota["root"] // 3, 2 * quota["root"] // 3) if fi.available else None

        def between():
            cycle[0] += 1
            responder.poll()
            requester.poll(fam)
            if cycle[0] % 2 == 0:
                try:
                    requester.emit(fam)
                except OSError as e:
                    side.count("request-send-" + ename(e.errno))
            halfdumps.maybe(fam)
            if inject_window:
                if not fi.active and inject_window[0] <= res.sent < inject_window[1]:
                    s, e = fi.enable()
                    say("# round %d: fault injection on (nlpush text %#x-%#x) after %d "
                        "messages" % (rnd, s, e, res.sent))
                elif fi.active and res.sent >= inject_window[1]:
                    fi.disable()
                    say("# round %d: fault injection off after %d messages" % (rnd, res.sent))

        root_fz.run(quota["root"], between, stop=past_deadline)
        if fi.active:
            fi.disable()
        if inject_window:
            injected_rounds += 1
        pubs.join()
        responder.poll()
        requester.drain(fam, allow_missing=bool(inject_window))
        for ctx, pid, rfd in kids:
            per_ctx[ctx].append(reap_child(pid, rfd, ctx))
        per_ctx["root"].append(res)
        t = tainted()
        tap.ok(t == taint0, "round %d: kernel taint unchanged (%d)" % (rnd, t),
               "tainted %d -> %d: see dmesg" % (taint0, t))
        stats_ok = True
        try:
            fam.stats(ctl)
        except (KernelError, OSError) as e:
            stats_ok = False
            say("# GET_STATS after round %d: %s" % (rnd, e))
        tap.ok(stats_ok, "round %d: module answers GET_STATS after %d messages" % (
            rnd, sum(v[-1].sent for v in per_ctx.values())))
        if last:
            break
        if past_deadline():
            say("# time limit reached in round %d: no more rounds" % rnd)
            break
        # reload both modules between rounds
        if not args.ko_dir:
            tap.skip("round %d: reload nlpush_test and nlpush" % rnd, "no --ko-dir")
            continue
        if not args.no_heavy:
            # EMIT of count max: a million events, bounded by the rmmod below
            for m in ns.Generator(spec, derive(seed, rnd, 5)).heavy_cases(root_live):
                root_live.family_id = fam.id
                struct.pack_into("=H", m.data, 4, fam.id)
                want = spec.attr("nlpush", "count").max
                try:
                    msgs = transact(ctl, bytes(m.data))
                    got = u(genl_attrs(msgs[0]).get(fam.a["count"])) if msgs else None
                except KernelError as e:
                    got = e
                tap.ok(got == want, "round %d: %s (COUNT %d) accepted right before rmmod, "
                       "which stops its bulk publication" % (rnd, m.label, want), "got %s" % got)
        rc, out = rmmod("nlpush_test")
        tap.ok(rc == 0, "round %d: rmmod nlpush_test" % rnd, out)
        if halfdumps.held:
            rc, out = run(["rmmod", "nlpush"])
            tap.ok(rc != 0 and os.path.isdir("/sys/module/nlpush"),
                   "round %d: rmmod nlpush while %d REPLAY dump(s) are half read fails, "
                   "module stays" % (rnd, len(halfdumps.held)), "rc %d: %s" % (rc, out))
            halfdumps.close()
        rc, out = rmmod("nlpush")
        tap.ok(rc == 0, "round %d: rmmod nlpush (fuzz sockets, responder and requester "
               "open)" % rnd, out)
        # the requester's pending requests end with ESHUTDOWN (or were answered)
        requester.poll(fam, 1.0)
        old_id = fam.id
        rc1, out1 = run(["insmod", os.path.join(args.ko_dir, "nlpush.ko")])
        rc2, out2 = run(["insmod", os.path.join(args.ko_dir, "nlpush_test.ko")])
        tap.ok(rc1 == 0 and rc2 == 0, "round %d: insmod nlpush and nlpush_test" % rnd,
               out1 + out2)
        fam = load_family(spec, ctl, 10)
        if not tap.ok(fam is not None, "round %d: family resolved again after reload "
                      "(id %d before)" % (rnd, old_id)):
            return
    halfdumps.close()
    wall = time.monotonic() - t_start
    root_fz.close()
    requester.sk.close()
    responder.close()

    results = [Results.merge(v) for v in per_ctx.values()]
    for r, ctx in zip(results, per_ctx):
        r.ctx = ctx
    all_res = Results.merge(results + [side])
    print_results(all_res, results, wall)
    tap.ok(all_res.sent >= total, "%d messages sent (asked for %d)" % (all_res.sent, total),
           "the time limit (%.0f s) ran out first" % args.time_limit if past_deadline() else None)
    if fi.available:
        made = ", ".join("%s %d" % (os.path.basename(d), n) for d, n in fi.injected.items())
        say("# fault injection: failures injected: %s" % made)
        tap.ok(injected_rounds == rounds and fi.injected.get(FAIL_DIRS[0], 0) > 0,
               "fault injection (failslab, fail_page_alloc) restricted to nlpush in %d of %d "
               "rounds: %s failures injected" % (injected_rounds, rounds, made))
    else:
        tap.skip("fault injection into the module's allocations", fi.why)
    by_what = {}
    for f in all_res.findings:
        by_what.setdefault(f["what"], []).append(f)
    for what, items in sorted(by_what.items()):
        say("# finding %s (%d): %s" % (what, all_res.notes.get("finding:" + what, len(items)),
                                       json.dumps(items[0], sort_keys=True)[:1500]))
    tap.ok(not all_res.findings, "no findings: every answer well-formed, every request "
           "answered, no policy or privilege bypass, no hang",
           "%d findings: %s" % (len(all_res.findings), ", ".join(sorted(by_what))))
    check_burst(spec, tap, ctl, fam)
    ctl.close()
    if args.ko_dir:
        rc, out = rmmod("nlpush_test", 1)
        rc2, out2 = run(["rmmod", "nlpush"])
        tap.ok(rc == 0 and rc2 == 0, "rmmod nlpush_test and nlpush after fuzzing: rc %d, %d "
               "(first attempt)" % (rc, rc2), out + out2)
        if rc2:
            rmmod("nlpush")
        rc1, out1 = run(["insmod", os.path.join(args.ko_dir, "nlpush.ko")])
        rc2, out2 = run(["insmod", os.path.join(args.ko_dir, "nlpush_test.ko")])
        tap.ok(rc1 == 0 and rc2 == 0, "modules loaded again for the suites after this one",
               out1 + out2)
    else:
        tap.skip("rmmod after fuzzing", "no --ko-dir")
    tap.ok(tainted() == taint0, "kernel taint unchanged at the end (%d)" % tainted())


# --------------------------------------------------------- self-test
def self_test(spec, tap, n=30000):
    """Host check of the generator: deterministic per seed, covers every op
    and attribute of the spec, every check's boundaries, every malformer."""
    live = ns.Live(0x20, 0x1234, 1, 100)

    def stream(seed, k):
        g = ns.Generator(spec, seed)
        return [g.next(live) for _ in range(k)]
    a = stream(7, 3000)
    b = stream(7, 3000)
    c = stream(8, 3000)
    tap.ok([bytes(m.data) for m in a] == [bytes(m.data) for m in b],
           "generator: the same seed gives the same 3000 messages, byte for byte")
    tap.ok([bytes(m.data) for m in a] != [bytes(m.data) for m in c],
           "generator: another seed gives other messages")
    t0 = time.monotonic()
    msgs = stream(12345, n)
    rate = n / (time.monotonic() - t0)
    ops_valid, attrs_valid, labels, kinds, expects = set(), set(), set(), {}, {}
    nests = set()
    heavy = sum(m.heavy for m in msgs)
    for m in msgs:
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
        expects[m.expect] = expects.get(m.expect, 0) + 1
        labels.add(m.label)
        if m.kind == "valid":
            ops_valid.add(m.label)
            off = ns.NLMSG_HDRLEN + ns.GENL_HDRLEN
            for t, d, ln in ns.walk_attrs(m.data, off, len(m.data)):
                attrs_valid.add((m.op.name, t))
        if m.label.startswith("nest-garbage-"):
            nests.add(m.label.split("-")[2])
    want_modes = set()
    for op in spec.ops:
        if op.has_do:
            want_modes.add("%s-do" % op.name)
        if op.has_dump:
            want_modes.add("%s-dump" % op.name)
    tap.ok(want_modes <= ops_valid, "valid messages for every op and mode of the spec (%s)" %
           ", ".join(sorted(want_modes)), "missing: %s" % (want_modes - ops_valid))
    want_attrs = {(op.name, spec.attr(op.set, a).value) for op in spec.ops
                  for a in op.do_request + op.dump_request}
    tap.ok(want_attrs <= attrs_valid, "valid messages carry every request attribute of every "
           "op (%d)" % len(want_attrs), "missing: %s" % (want_attrs - attrs_valid))
    gen = ns.Generator(spec, 1)
    want_bounds = {c[3] for c in gen.boundaries}
    got_bounds = {lab[:-len("-cheap")] if lab.endswith("-cheap") else lab for lab in labels}
    checks = [(op.name, a.name) for op in spec.ops for a in
              (spec.attr(op.set, x) for x in op.do_request + op.dump_request)
              if a.min is not None or a.max is not None or a.max_len is not None]
    for opn, an in checks:
        need = [b for b in want_bounds if b.startswith("%s-" % opn) and "-%s-" % an in b]
        if not need:
            tap.ok(False, "boundary cases for %s.%s" % (opn, an))
    tap.ok(want_bounds <= got_bounds, "every boundary case drawn (%d: min/max, one past, "
           "empty and maximum payloads, wrong lengths, for %d checked attributes)" % (
               len(want_bounds), len(checks)),
           "missing: %s" % sorted(want_bounds - got_bounds)[:10])
    mal = {f.__name__[5:] for f in gen.malformers}
    got_mal = set()
    for m in msgs:
        if m.kind == "malformed":
            for name in mal:
                if m.label.startswith(name.replace("_", "-")) or \
                        (name == "nest_garbage" and m.label.startswith("nest-garbage")) or \
                        (name == "wrong_mode" and "-only-" in m.label) or \
                        (name == "unknown_family" and m.label.startswith("type-")) or \
                        (name == "random_bytes" and m.label == "random-body") or \
                        (name == "attr_flags" and m.label.startswith("attr-")) or \
                        (name == "version" and m.label.startswith("version-")) or \
                        (name == "flags" and m.label.startswith("flags-")) or \
                        (name == "nlmsg_len_small" and m.label.startswith("nlmsg-len-below")):
                    got_mal.add(name)
    tap.ok(mal <= got_mal, "every malformer used (%s)" % ", ".join(sorted(mal)),
           "missing: %s" % (mal - got_mal))
    want_nests = {a.name for a in spec.sets["nlpush"].values() if a.type == "nest"}
    tap.ok(want_nests <= nests, "garbage in every nest of the spec (%s)" %
           ", ".join(sorted(want_nests)), "missing: %s" % (want_nests - nests))
    unknown = {m.label for m in msgs if m.label.startswith("unknown-cmd-")}
    for op in spec.ops:
        if not op.accepted:
            tap.ok("unknown-cmd-%d" % op.value in unknown,
                   "command %s (%d), which the kernel does not take, is sent" % (op.name, op.value))
    hc = ns.Generator(spec, 1).heavy_cases(live)
    tap.ok(heavy == 0 and [m.label for m in hc] == ["emit-do-count-max"] and
           all(m.expect == "answer" and not m.must_fail for m in hc),
           "the expensive boundary (EMIT count max) is never drawn at random, the driver "
           "sends it once per reload: %s" % [m.label for m in hc])
    tap.ok(all(m.expect in ("none", "answer", "maybe") for m in msgs) and
           all(m.must_fail is False or m.expect == "answer" for m in msgs if m.expect != "none"),
           "every message classified: %s" % ", ".join("%s %d" % kv for kv in sorted(expects.items())))
    say("# generator: %s; %.0f messages/s on this machine" % (
        ", ".join("%s %d" % kv for kv in sorted(kinds.items())), rate))


def show(spec, what):
    seed, n = (int(x) for x in what.split(":"))
    g = ns.Generator(spec, seed)
    live = ns.Live()
    for i in range(n):
        m = g.next(live)
        say("%d %s %s expect=%s must_fail=%s %s" % (i, m.kind, m.label, m.expect, m.must_fail,
                                                   bytes(m.data[:256]).hex()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    env_seed = os.environ.get("NLPUSH_FUZZ_SEED")
    ap.add_argument("--seed", type=int, default=int(env_seed) if env_seed else
                    int(time.time() * 1000) % 1000000007)
    ap.add_argument("--messages", type=int,
                    default=int(os.environ.get("NLPUSH_FUZZ_MESSAGES", "200000")))
    ap.add_argument("--rounds", type=int, default=3, help="module reloads in between")
    ap.add_argument("--ko-dir", help="nlpush.ko and nlpush_test.ko, to reload between rounds")
    ap.add_argument("--no-heavy", action="store_true",
                    help="no EMIT of count max (a million events) before each reload")
    ap.add_argument("--time-limit", type=float, default=0,
                    help="seconds of fuzzing at most: then the checks at the end run anyway "
                    "(and the message count fails)")
    ap.add_argument("--spec", default=SPEC_PATH)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--show", metavar="SEED:N")
    args = ap.parse_args()
    spec = ns.Spec(args.spec)
    tap = Tap()
    if args.show:
        show(spec, args.show)
        return 0
    try:
        if args.self_test:
            self_test(spec, tap)
        else:
            fuzz(args, spec, tap)
    except Exception:
        import traceback
        tap.ok(False, "the fuzzer ran to its end", traceback.format_exc())
    say("%d passed, %d failed, %d skipped" % (tap.passed, tap.failed, tap.skipped))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
