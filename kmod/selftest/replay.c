// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest, replay: overrun of a listener (ENOBUFS, stats), the
 * replay ring (bounded by events and by bytes) and REPLAY dumps (cmd
 * REPLAY, flagged REPLAYED, with the EPOCH).
 */
#include "common.h"

/* header of a replay ring entry in nlpush.c (struct nlpush_entry) */
#define RING_ENTRY_HDR	32

/*
 * The kmalloc size class an object of @size bytes comes from on x86-64
 * with SLUB: 8 bytes up to the 96- and 192-byte classes, powers of two up
 * to 8 KiB, whole pages rounded up to a power of two beyond.
 */
static uint64_t kmalloc_class(uint64_t size)
{
	uint64_t c = 8;

	if (size > 64 && size <= 96)
		return 96;
	if (size > 128 && size <= 192)
		return 192;
	while (c < size)
		c <<= 1;
	return c;
}

/*
 * The ring is bounded by bytes too: fill it with 2 KiB events. Each is
 * charged what it really takes, payload plus header rounded up to its
 * kmalloc class (4 KiB), not just payload plus header.
 */
static void test_ring_bytes(struct nlr_sock *c)
{
	struct stats s0, s1;
	struct verifier rv;
	uint64_t n, charge = kmalloc_class(2048 + RING_ENTRY_HDR);
	int err;
	bool ok;

	stats_now(c, &s0);
	/* enough 2 KiB events to overflow RING_MAX_BYTES, within 10000 */
	n = ST(&s0, RING_MAX_BYTES) / charge + 100;
	if (!ST(&s0, RING_MAX_EVENTS) || n > 10000 ||
	    ST(&s0, RING_MAX_BYTES) / charge >= ST(&s0, RING_MAX_EVENTS)) {
		skip("ring limits unsuited", "ring bounded by RING_MAX_BYTES");
		return;
	}
	err = dbg_write("emit", "%llu 2048 44", (unsigned long long)n);
	stats_now(c, &s1);
	/*
	 * only this fill is held, each entry charged exactly its kmalloc
	 * class, and one more entry would not fit
	 */
	ok = !err && ST(&s1, RING_EVENTS) < n &&
	     ST(&s1, RING_EVENTS) == ST(&s1, NEXT_SEQ) - ST(&s1, OLDEST_SEQ) &&
	     ST(&s1, RING_BYTES) == ST(&s1, RING_EVENTS) * charge &&
	     ST(&s1, RING_BYTES) <= ST(&s1, RING_MAX_BYTES) &&
	     ST(&s1, RING_BYTES) + charge > ST(&s1, RING_MAX_BYTES);
	if (!check(ok, "%llu events of 2 KiB: ring bounded by RING_MAX_BYTES, "
		   "%llu bytes charged per event", (unsigned long long)n,
		   (unsigned long long)charge))
		diag("err %s, events %llu bytes %llu/%llu oldest %llu next "
		     "%llu", ename(err),
		     (unsigned long long)ST(&s1, RING_EVENTS),
		     (unsigned long long)ST(&s1, RING_BYTES),
		     (unsigned long long)ST(&s1, RING_MAX_BYTES),
		     (unsigned long long)ST(&s1, OLDEST_SEQ),
		     (unsigned long long)ST(&s1, NEXT_SEQ));
	verifier_init(&rv, ST(&s1, OLDEST_SEQ));
	rv.want_flags = NLPUSH_F_REPLAYED;
	verifier_add(&rv, ST(&s1, NEXT_SEQ) - n, n, 2048, 44, NULL);
	err = do_replay(c, 0, verifier_cb, &rv);
	ok = !err && rv.got == ST(&s1, RING_EVENTS) && verifier_clean(&rv);
	if (!check(ok, "REPLAY of a byte-limited ring: %llu events, intact",
		   (unsigned long long)ST(&s1, RING_EVENTS)))
		diag("err %s, got %llu: %s", ename(err),
		     (unsigned long long)rv.got, rv.first_err);
}

/*
 * The same overrun with NETLINK_BROADCAST_ERROR set on the listener: the
 * kernel then reports the failed delivery to the sender as -ENOBUFS.
 */
static void test_overrun_broadcast_error(struct nlr_sock *c)
{
	struct stats s0, s1;
	struct nlr_sock *o = nlr_open(0);
	int one = 1, rcv = 4096, err;

	setsockopt(o->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	setsockopt(o->fd, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &one,
		   sizeof(one));
	if (nlr_join(o, events_grp))
		bail("join");
	stats_now(c, &s0);
	err = dbg_write("emit", "300 32 45");
	stats_counted(c, &s0, &s1, 300);
	if (!check(!err && DELTA(&s0, &s1, DELIVERY_ERRORS) >= 1 &&
		   DELTA(&s0, &s1, NO_LISTENERS) == 0 &&
		   DELTA(&s0, &s1, DELIVERED) +
		   DELTA(&s0, &s1, DELIVERY_ERRORS) == 300,
		   "overrun of a NETLINK_BROADCAST_ERROR listener counted in "
		   "DELIVERY_ERRORS"))
		diag("delivered +%llu, delivery_errors +%llu, no_listeners "
		     "+%llu", (unsigned long long)DELTA(&s0, &s1, DELIVERED),
		     (unsigned long long)DELTA(&s0, &s1, DELIVERY_ERRORS),
		     (unsigned long long)DELTA(&s0, &s1, NO_LISTENERS));
	nlr_close(o);
}

void test_replay(struct nlr_sock *c)
{
	struct stats s0, s1, s2, s3;
	struct verifier rv;
	struct live lv = { 0 };
	struct nlr_sock *o;
	uint64_t s_first, from, want, wrap;
	ssize_t n;
	int err, rcv = 4096;
	bool ok;

	/* a plain listener: no NETLINK_BROADCAST_ERROR, like real clients */
	o = nlr_open(0);
	setsockopt(o->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (nlr_join(o, events_grp))
		bail("join");
	stats_now(c, &s0);
	s_first = ST(&s0, NEXT_SEQ);
	if (ST(&s0, RING_MAX_EVENTS) < 2000) {
		skip("ring smaller than 2000 events", "overrun recovery");
		nlr_close(o);
		return;
	}

	err = dbg_write("emit", "2000 32 41");
	check(!err, "emit 2000 events to a listener that does not read");
	/*
	 * With batching the transmit work item may still be sending when
	 * EMIT returns: read only once every event was offered to the
	 * listener, or a drained queue takes later events after the loss.
	 */
	stats_counted(c, &s0, &s1, 2000);

	/* the first recv reports the overrun */
	n = recv(o->fd, o->rx, NLR_RX_MAX, MSG_DONTWAIT);
	if (!check(n < 0 && errno == ENOBUFS,
		   "overrun listener: recv() fails with ENOBUFS"))
		diag("recv returned %zd (%s)", n, n < 0 ? ename(errno) : "");
	/* whatever was queued before the overrun */
	recv_events(o, 2000, 200, live_cb, &lv);
	if (!check(!lv.gap && (!lv.n || lv.first == s_first) && lv.n < 2000,
		   "overrun listener: %llu queued events before the loss, in "
		   "order", (unsigned long long)lv.n))
		diag("first %llu (emitted from %llu), last %llu, gap %d",
		     (unsigned long long)lv.first,
		     (unsigned long long)s_first,
		     (unsigned long long)lv.last, lv.gap);

	/*
	 * Without NETLINK_BROADCAST_ERROR, a multicast that no socket of the
	 * initial netns took returns -ESRCH, which the module counts as "no
	 * listener" (it cannot tell a full queue from a member in another
	 * netns); the listener itself learnt of the loss through ENOBUFS.
	 */
	check(DELTA(&s0, &s1, NO_LISTENERS) >= 1,
	      "stats NO_LISTENERS counts the events nobody could take");
	if (!check(DELTA(&s0, &s1, DELIVERY_ERRORS) == 0,
		   "stats DELIVERY_ERRORS unchanged (no NETLINK_BROADCAST_ERROR)"))
		diag("delivery_errors +%llu",
		     (unsigned long long)DELTA(&s0, &s1, DELIVERY_ERRORS));
	if (!check(DELTA(&s0, &s1, DELIVERED) +
		   DELTA(&s0, &s1, NO_LISTENERS) == 2000,
		   "stats DELIVERED + NO_LISTENERS == 2000"))
		diag("delivered +%llu, no_listeners +%llu",
		     (unsigned long long)DELTA(&s0, &s1, DELIVERED),
		     (unsigned long long)DELTA(&s0, &s1, NO_LISTENERS));
	check(ST(&s1, NEXT_SEQ) == s_first + 2000 &&
	      ST(&s1, OLDEST_SEQ) <= s_first,
	      "OLDEST_SEQ <= first lost, NEXT_SEQ == last + 1");

	/* recover from the replay ring */
	from = lv.n ? lv.last + 1 : s_first;
	want = s_first + 2000 - from;
	verifier_init(&rv, from);
	rv.want_flags = NLPUSH_F_REPLAYED;
	verifier_add(&rv, s_first, 2000, 32, 41, NULL);
	err = do_replay(c, from, verifier_cb, &rv);
	ok = !err && rv.got == want && verifier_clean(&rv);
	if (!check(ok, "REPLAY from last seen + 1 recovers all %llu missing "
		   "events, flagged REPLAYED, intact",
		   (unsigned long long)want))
		diag("err %s, got %llu: %s", ename(err),
		     (unsigned long long)rv.got, rv.first_err);
	stats_now(c, &s2);
	if (!check(DELTA(&s1, &s2, REPLAYED) == want,
		   "stats REPLAYED += %llu", (unsigned long long)want))
		diag("REPLAYED moved by %llu",
		     (unsigned long long)DELTA(&s1, &s2, REPLAYED));

	/* COUNT bounds the dump: the oldest COUNT events from SEQ */
	verifier_init(&rv, s_first + 100);
	rv.want_flags = NLPUSH_F_REPLAYED;
	verifier_add(&rv, s_first, 2000, 32, 41, NULL);
	err = do_replay_count(c, s_first + 100, 300, true, verifier_cb, &rv);
	ok = !err && rv.got == 300 && verifier_clean(&rv);
	if (!check(ok, "REPLAY SEQ s+100 COUNT 300 dumps exactly s+100..s+399, "
		   "intact"))
		diag("err %s, got %llu: %s", ename(err),
		     (unsigned long long)rv.got, rv.first_err);
	err = do_replay_count(c, s_first, 0, true, verifier_cb, &rv);
	check_err(err, -ERANGE, "", c, "REPLAY COUNT 0 -> ERANGE, with extack");
	stats_now(c, &s2);

	/* drained: live events flow again */
	memset(&lv, 0, sizeof(lv));
	err = dbg_write("emit", "1 5 41");
	recv_events(o, 1, 2000, live_cb, &lv);
	check(!err && lv.n == 1 && lv.first == s_first + 2000,
	      "drained listener receives live events again");
	nlr_close(o);

	/* nobody joined: events are counted and kept */
	wrap = ST(&s2, RING_MAX_EVENTS) + 100;
	stats_now(c, &s2);
	err = dbg_write("emit", "%llu 0 42", (unsigned long long)wrap);
	stats_now(c, &s3);
	check(!err, "emit %llu events with nobody joined",
	      (unsigned long long)wrap);
	CHECK_DELTA(&s2, &s3, NO_LISTENERS, wrap);
	CHECK_DELTA(&s2, &s3, PUBLISHED, wrap);
	CHECK_DELTA(&s2, &s3, DELIVERED, 0);
	ok = ST(&s3, OLDEST_SEQ) > s_first && ring_consistent(&s3);
	if (!check(ok, "ring dropped the oldest events within its limits"))
		ring_diag(&s3);
	check(ST(&s3, RING_EVENTS) == ST(&s3, RING_MAX_EVENTS),
	      "ring full with 0-byte events: RING_EVENTS == RING_MAX_EVENTS");

	/* replay from before the ring: only what is retained */
	verifier_init(&rv, ST(&s3, OLDEST_SEQ));
	rv.want_flags = NLPUSH_F_REPLAYED;
	verifier_add(&rv, ST(&s3, NEXT_SEQ) - wrap, wrap, 0, 42, NULL);
	err = do_replay(c, s_first, verifier_cb, &rv);
	ok = !err && rv.got == ST(&s3, RING_EVENTS) &&
	     rv.next == ST(&s3, NEXT_SEQ) && verifier_clean(&rv);
	if (!check(ok, "REPLAY from a seq older than the ring returns only "
		   "OLDEST_SEQ..NEXT_SEQ-1"))
		diag("err %s, got %llu (want %llu), next %llu: %s", ename(err),
		     (unsigned long long)rv.got,
		     (unsigned long long)ST(&s3, RING_EVENTS),
		     (unsigned long long)rv.next, rv.first_err);

	verifier_init(&rv, ST(&s3, OLDEST_SEQ));
	rv.want_flags = NLPUSH_F_REPLAYED;
	verifier_add(&rv, ST(&s3, NEXT_SEQ) - wrap, wrap, 0, 42, NULL);
	err = do_replay(c, 0, verifier_cb, &rv);
	ok = !err && rv.got == ST(&s3, RING_EVENTS) && verifier_clean(&rv);
	if (!check(ok, "REPLAY without SEQ starts at OLDEST_SEQ"))
		diag("err %s, got %llu: %s", ename(err),
		     (unsigned long long)rv.got, rv.first_err);

	verifier_init(&rv, ST(&s3, NEXT_SEQ));
	err = do_replay(c, ST(&s3, NEXT_SEQ), verifier_cb, &rv);
	check(!err && rv.got == 0, "REPLAY from NEXT_SEQ is empty");

	test_ring_bytes(c);
	test_overrun_broadcast_error(c);
}
