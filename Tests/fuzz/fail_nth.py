"""Each allocation of the request path, failed in turn (fail-nth).

For n = 1, 2, ... the n-th allocation that the nlpush module's code makes
during one message fails (/proc/thread-self/fail-nth, with failslab and
fail_page_alloc limited to the module's text by the stack trace filter),
until a message goes through with no failure left to inject. After every
message, what the sender was told must match what the module did:

  emit-request  EMIT with reply-wanted. An error answer: no REPLY ever
                comes and nothing stays pending. A success: exactly one
                REPLY (a timeout: nobody answers).
  emit          a plain EMIT. An error: nothing was published. A success:
                exactly one event.
  answer        a responder's ACK with a status and a payload. An error:
                the request is still pending (the emitter gets its
                timeout). A success: the emitter gets that answer.

Needs CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC and the stack trace
filter (the debug-kernel lane); skipped with the reason on other kernels.
Run as root with nlpush.ko loaded:

    python3 Tests/fuzz/fail_nth.py

Output: TAP-style lines, then "N passed, N failed, N skipped".
"""
import errno
import os
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nlpush_fuzz as fz  # noqa: E402
import nlspec as ns  # noqa: E402

FAIL_NTH = "/proc/thread-self/fail-nth"
MAX_N = 64                  # more allocations than any path makes
TIMEOUT_MS = 150            # deadline of requests nobody answers
ANSWER_TIMEOUT_MS = 2000    # deadline of the requests the responder answers
QUIET = 0.6                 # seconds to wait for a REPLY that must not come


def nlerr(buf, off):
    return struct.unpack_from("=i", buf, off + 16)[0]


class Run:
    def __init__(self, fam, tap):
        self.fam = fam
        self.tap = tap
        self.a = fam.a
        self.ctl = fz.NLSock()
        self.emitter = fz.NLSock(4 << 20)
        self.responder = fz.NLSock(4 << 20)
        fam.subscribe(self.responder, "fail-nth-responder", fam.flag["responder"])
        self.responder.join(fam.groups["events"])

    def close(self):
        for s in (self.ctl, self.emitter, self.responder):
            s.close()

    # ------------------------------------------------------------ fail-nth
    # (the file cannot seek: opened for each access; only allocations made
    # from the module's text count, so open and close do not)
    @staticmethod
    def _put(n):
        fd = os.open(FAIL_NTH, os.O_WRONLY)
        try:
            os.write(fd, b"%d" % n)
        finally:
            os.close(fd)

    def arm(self, n):
        self._put(n)

    def disarm(self):
        """True when the armed failure was injected (the count reached 0)."""
        fd = os.open(FAIL_NTH, os.O_RDONLY)
        try:
            left = int(os.read(fd, 32).strip() or b"0")
        finally:
            os.close(fd)
        self._put(0)
        return left == 0

    # ------------------------------------------------------------ messages
    def send(self, sk, op, attrs, n):
        """Sends op with the n-th module allocation failing (n 0: none).
        Returns (error, injected, data messages, netlink seq)."""
        seq = sk.next_seq()
        msg = bytearray(self.fam.msg(op, 0x5, attrs))
        struct.pack_into("=I", msg, 8, seq)
        if n:
            self.arm(n)
        try:
            sk.send(bytes(msg))
        finally:
            injected = self.disarm() if n else False
        data, deadline = [], time.monotonic() + 10
        while time.monotonic() < deadline:
            buf = sk.recv(deadline - time.monotonic())
            if buf is None:
                continue
            for off, ln, t, f, s in fz.nlmsgs(buf):
                if s != seq:
                    continue
                if t == fz.NLMSG_ERROR:
                    return nlerr(buf, off), injected, data, seq
                data.append(buf[off:off + ln])
        raise OSError(errno.ETIME, "no answer to %s" % op)

    def request_attrs(self, payload=b"fail-nth", timeout_ms=TIMEOUT_MS):
        a = self.a
        return ns.nla(a["flags"], struct.pack("=I", self.fam.flag["reply-wanted"])) + \
            ns.nla(a["timeout-ms"], struct.pack("=I", timeout_ms)) + \
            ns.nla(a["type"], struct.pack("=I", 501)) + \
            ns.nla(a["payload"], payload)

    def replies(self, nlseq, wait):
        """The REPLY messages for EMIT nlseq that arrive within wait s."""
        out, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            buf = self.emitter.recv(max(0.0, deadline - time.monotonic()))
            if buf is None:
                break
            for off, ln, t, f, s in fz.nlmsgs(buf):
                if t == self.fam.id and buf[off + 16] == self.fam.cmd["reply"] and s == nlseq:
                    out.append(fz.genl_attrs(buf[off:off + ln]))
        return out

    def drain_responder(self):
        """Request seqs the responder saw since the last call."""
        seqs = []
        while True:
            try:
                buf = self.responder.recv(0)
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    continue
                raise
            if buf is None:
                return seqs
            for off, ln, t, f, s in fz.nlmsgs(buf):
                if t != self.fam.id:
                    continue
                at = fz.genl_attrs(buf[off:off + ln])
                if fz.u(at.get(self.a["flags"])) & self.fam.flag["reply-wanted"]:
                    seqs.append(fz.u(at[self.a["seq"]]))

    def stats(self):
        return self.fam.stats(self.ctl)

    # ------------------------------------------------------------- checks
    def each_n(self, name, step):
        """step(n) -> (injected, problem or None); until nothing is injected."""
        problems, failed_at = [], []
        for n in range(1, MAX_N + 1):
            injected, problem = step(n)
            if problem:
                problems.append("n=%d: %s" % (n, problem))
            if injected:
                failed_at.append(n)
            else:
                break
        else:
            problems.append("still injecting after %d allocations" % MAX_N)
        self.tap.ok(failed_at, "%s: fault injection reached the module (%d allocation(s) failed in turn)"
                    % (name, len(failed_at)))
        self.tap.ok(not problems, "%s: every failed allocation left the module as the answer said"
                    % name, "\n".join(problems))

    def emit_request(self, n):
        err, injected, _, nlseq = self.send(self.emitter, "emit", self.request_attrs(), n)
        self.drain_responder()
        got = self.replies(nlseq, TIMEOUT_MS / 1000 + QUIET)
        pending = self.stats().get("requests-pending", 0)
        if err and got:
            return injected, "EMIT failed (%s) but %d REPLY came (error %s)" % (
                fz.ename(err), len(got),
                [fz.ename(struct.unpack("=i", r.get(self.a["error"], b"\0" * 4))[0]) for r in got])
        if not err and len(got) != 1:
            return injected, "EMIT succeeded, %d REPLY" % len(got)
        if pending:
            return injected, "%d request(s) still pending" % pending
        return injected, None

    def emit(self, n):
        before = self.stats()["published"]
        err, injected, _, _ = self.send(self.emitter, "emit",
                                        ns.nla(self.a["type"], struct.pack("=I", 502)) +
                                        ns.nla(self.a["payload"], b"fail-nth-event"), n)
        published = self.stats()["published"] - before
        if err and published:
            return injected, "EMIT failed (%s) but published %d event(s)" % (fz.ename(err), published)
        if not err and published != 1:
            return injected, "EMIT succeeded, published %d" % published
        return injected, None

    def answer(self, n):
        err, _, _, nlseq = self.send(self.emitter, "emit", self.request_attrs(b"ask", ANSWER_TIMEOUT_MS), 0)
        if err:
            return False, "EMIT without fault injection failed: %s" % fz.ename(err)
        deadline, seqs = time.monotonic() + 2, []
        while not seqs and time.monotonic() < deadline:
            seqs = self.drain_responder()
            time.sleep(0.005)
        if not seqs:
            return False, "the responder got no request"
        a = self.a
        payload = b"x" * 200
        attrs = ns.nla(a["seq"], struct.pack("=Q", seqs[-1])) + \
            ns.nla(a["status"], struct.pack("=i", 7)) + ns.nla(a["payload"], payload)
        aerr, injected, _, _ = self.send(self.responder, "ack", attrs, n)
        if aerr and not injected:
            return injected, "ACK failed with no failure injected: %s" % fz.ename(aerr)
        got = self.replies(nlseq, ANSWER_TIMEOUT_MS / 1000 + QUIET)
        if len(got) != 1:
            return injected, "ACK %s, then %d REPLY" % (fz.ename(aerr) if aerr else "ok", len(got))
        rerr = struct.unpack("=i", got[0].get(a["error"], b"\0" * 4))[0]
        if aerr and rerr != -errno.ETIMEDOUT:
            return injected, "ACK failed (%s), REPLY error %s (want ETIMEDOUT: still pending)" % (
                fz.ename(aerr), fz.ename(rerr))
        if not aerr and (rerr or got[0].get(a["payload"]) != payload):
            return injected, "ACK succeeded, REPLY error %s, payload %s" % (
                fz.ename(rerr), "same" if got[0].get(a["payload"]) == payload else "different")
        return injected, None


def main():
    tap = fz.Tap()
    fi = fz.FaultInjection()
    why = fi.why
    if why is None and not os.path.exists(FAIL_NTH):
        why = "no %s: no CONFIG_FAULT_INJECTION" % FAIL_NTH
    names = ("emit-request", "emit", "answer")
    if why:
        for name in names:
            tap.skip("%s: each allocation failed in turn" % name, why)
        print("%d passed, %d failed, %d skipped" % (tap.passed, tap.failed, tap.skipped))
        return 0
    spec = ns.Spec(fz.SPEC_PATH)
    ctl = fz.NLSock()
    fam = fz.load_family(spec, ctl)
    ctl.close()
    if fam is None:
        tap.ok(False, "nlpush family registered")
        print("%d passed, %d failed, %d skipped" % (tap.passed, tap.failed, tap.skipped))
        return 1
    # fail-nth only: probability 0, so nothing fails at random
    fi.enable(probability=0, times=-1)
    run = Run(fam, tap)
    try:
        run.each_n("emit-request", run.emit_request)
        run.each_n("emit", run.emit)
        run.each_n("answer", run.answer)
    finally:
        run.close()
        fi.disable()
        for d in fi.dirs:
            fi._put(d, "ignore-gfp-wait", "Y")
    print("%d passed, %d failed, %d skipped" % (tap.passed, tap.failed, tap.skipped))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
