// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest, delivery: events reach every listener intact and in
 * order, from every producer, concurrently; bulk EMIT (COUNT > 256) is
 * finished by a work item, in order, at most 16 at a time; a lone event
 * after a quiet period is never left behind in the transmit queue.
 */
#include "common.h"

#define NLISTEN 3


void test_delivery(struct nlr_sock *c)
{
	static unsigned char fixed[33], big[NLPUSH_PAYLOAD_MAX];
	static const struct {
		const char *file;
		uint32_t count, size, type;
	} bursts[] = {
		{ "emit", 200, 0, 7 },
		{ "emit", 200, 1, 8 },
		{ "emit", 50, 1024, 9 },
		{ "emit", 4, NLPUSH_PAYLOAD_MAX, 10 },
		{ "emit_atomic", 200, 16, 11 },
		{ "emit_atomic", 3, 1024, 12 },
	};
	struct nlr_sock *l[NLISTEN];
	struct verifier v[NLISTEN];
	struct stats s0, s1;
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct emit_args ea;
	uint64_t total = 0, seq, big_first = 0;
	unsigned int i, k;
	bool ok;
	int err;

	for (i = 0; i < sizeof(fixed); i++)
		fixed[i] = 0xa0 + i;
	for (k = 0; k < NLISTEN; k++) {
		l[k] = nlr_open(BIG_RCVBUF);
		err = nlr_join(l[k], events_grp);
		if (err)
			bail("joining events as root: %s", ename(err));
	}
	stats_now(c, &s0);
	seq = ST(&s0, NEXT_SEQ);
	for (k = 0; k < NLISTEN; k++) {
		verifier_init(&v[k], seq);
		v[k].want_flags = 0;
	}

	for (i = 0; i < ARRAY_SIZE(bursts); i++) {
		err = dbg_write(bursts[i].file, "%u %u %u", bursts[i].count,
				bursts[i].size, bursts[i].type);
		if (!check(!err, "%s: %u events of %u bytes", bursts[i].file,
			   bursts[i].count, bursts[i].size))
			diag("write: %s", ename(err));
		if (bursts[i].size == NLPUSH_PAYLOAD_MAX)
			big_first = seq;
		for (k = 0; k < NLISTEN; k++) {
			uint64_t got;

			verifier_add(&v[k], seq, bursts[i].count,
				     bursts[i].size, bursts[i].type, NULL);
			got = recv_events(l[k], bursts[i].count, 2000,
					  verifier_cb, &v[k]);
			if (got != bursts[i].count)
				diag("listener %u got %llu of %u", k,
				     (unsigned long long)got, bursts[i].count);
		}
		seq += bursts[i].count;
		total += bursts[i].count;
	}

	/* EMIT: COUNT copies of a given payload */
	err = do_emit_count(c, 13, fixed, sizeof(fixed), 100, er);
	if (!check(!err && er->got && er->seq == seq && er->count == 100,
		   "EMIT COUNT=100 replies SEQ=first and COUNT"))
		diag("err %s, reply %d seq %llu (want %llu) count %u",
		     ename(err), er->got, (unsigned long long)er->seq,
		     (unsigned long long)seq, er->count);
	if (!check(!err && er->has_epoch && er->epoch == module_epoch &&
		   !er->bad_extra, "EMIT reply carries the module's EPOCH "
		   "(and no STATUS/PORTID/PAYLOAD)"))
		diag("epoch %d %llx (module %llx), extra %d", er->has_epoch,
		     (unsigned long long)er->epoch,
		     (unsigned long long)module_epoch, er->bad_extra);
	for (k = 0; k < NLISTEN; k++) {
		verifier_add(&v[k], seq, 100, sizeof(fixed), 13, fixed);
		recv_events(l[k], 100, 2000, verifier_cb, &v[k]);
	}
	seq += 100;
	total += 100;

	/* EMIT without TYPE/PAYLOAD/COUNT: one empty event of type 0 */
	memset(&ea, 0, sizeof(ea));
	err = do_emit(c, &ea, er);
	check(!err && er->seq == seq && er->count == 1,
	      "EMIT with defaults publishes one event");
	for (k = 0; k < NLISTEN; k++) {
		verifier_add(&v[k], seq, 1, 0, 0, big);
		recv_events(l[k], 1, 2000, verifier_cb, &v[k]);
	}
	seq++;
	total++;

	/* EMIT of the largest payload */
	for (i = 0; i < sizeof(big); i++)
		big[i] = i * 7;
	memset(&ea, 0, sizeof(ea));
	ea.has_type = true;
	ea.type = 14;
	ea.payload = big;
	ea.len = sizeof(big);
	err = do_emit(c, &ea, er);
	check(!err && er->seq == seq, "EMIT with a %d-byte payload",
	      NLPUSH_PAYLOAD_MAX);
	for (k = 0; k < NLISTEN; k++) {
		verifier_add(&v[k], seq, 1, sizeof(big), 14, big);
		recv_events(l[k], 1, 2000, verifier_cb, &v[k]);
	}
	seq++;
	total++;

	for (k = 0; k < NLISTEN; k++) {
		ok = v[k].got == total && v[k].next == seq &&
		     !v[k].gaps && !v[k].foreign;
		if (!check(ok, "listener %u: all %llu events, consecutive seqs",
			   k, (unsigned long long)total))
			diag("got %llu, next %llu (want %llu), gaps %llu: %s",
			     (unsigned long long)v[k].got,
			     (unsigned long long)v[k].next,
			     (unsigned long long)seq,
			     (unsigned long long)v[k].gaps, v[k].first_err);
		ok = verifier_clean(&v[k]);
		if (!check(ok, "listener %u: payloads, sizes, types, flags, "
			   "monotonic timestamps", k))
			diag("%s", v[k].first_err);
		check(l[k]->overruns == 0, "listener %u: no overrun", k);
	}

	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, PUBLISHED, total);
	CHECK_DELTA(&s0, &s1, DELIVERED, total);
	CHECK_DELTA(&s0, &s1, NO_LISTENERS, 0);
	CHECK_DELTA(&s0, &s1, DELIVERY_ERRORS, 0);
	check(ST(&s1, NEXT_SEQ) == seq, "stats NEXT_SEQ follows the events");

	/* the 60 KiB events come back intact from the replay ring */
	if (ST(&s1, RING_MAX_EVENTS) == 0) {
		skip("ring disabled", "REPLAY of 60 KiB events");
	} else if (big_first >= ST(&s1, OLDEST_SEQ)) {
		struct verifier rv;

		verifier_init(&rv, big_first);
		rv.want_flags = NLPUSH_F_REPLAYED;
		for (i = 0; i < (unsigned int)v[0].nb; i++)
			if (v[0].b[i].first >= big_first)
				rv.b[rv.nb++] = v[0].b[i];
		err = do_replay(c, big_first, verifier_cb, &rv);
		ok = !err && rv.got == seq - big_first && verifier_clean(&rv);
		if (!check(ok, "REPLAY returns 60 KiB events intact, "
			   "flagged REPLAYED"))
			diag("err %s, got %llu of %llu: %s", ename(err),
			     (unsigned long long)rv.got,
			     (unsigned long long)(seq - big_first),
			     rv.first_err);
	} else {
		skip("ring too small", "REPLAY of 60 KiB events");
	}

	for (k = 0; k < NLISTEN; k++)
		nlr_close(l[k]);
	free(er);
}

/* events of concurrent producers, told apart by type */
struct conc {
	uint64_t next, got, gaps, bad, last_ts;
	uint64_t per_type[8];
	char first_err[160];
};

static const unsigned char conc_fixed[] = "concurrent EMIT payload";

static void conc_cb(struct nlmsghdr *nlh, void *arg)
{
	struct conc *cc = arg;
	struct event ev;
	bool ok;

	if (parse_event(nlh, &ev)) {
		cc->bad++;
		return;
	}
	if (ev.seq != cc->next) {
		if (!cc->gaps++)
			snprintf(cc->first_err, sizeof(cc->first_err),
				 "seq %llu, expected %llu",
				 (unsigned long long)ev.seq,
				 (unsigned long long)cc->next);
	}
	cc->next = ev.seq + 1;
	cc->got++;
	switch (ev.type) {
	case 71:
	case 72:
		ok = ev.len == 64 && pattern_ok(ev.seq, ev.payload, 64);
		break;
	case 73:
		ok = ev.len == 32 && pattern_ok(ev.seq, ev.payload, 32);
		break;
	case 74:
		ok = ev.len == sizeof(conc_fixed) &&
		     !memcmp(ev.payload, conc_fixed, sizeof(conc_fixed));
		break;
	default:
		ok = false;
	}
	ok = ok && ev.flags == 0 && ev.ts >= cc->last_ts &&
	     ev.cmd == NLPUSH_CMD_EVENT && ev.has_epoch &&
	     ev.epoch == module_epoch;
	cc->last_ts = ev.ts;
	if (ok)
		cc->per_type[ev.type - 70]++;
	else if (!cc->bad++)
		snprintf(cc->first_err, sizeof(cc->first_err),
			 "seq %llu type %u len %d: bad event",
			 (unsigned long long)ev.seq, ev.type, ev.len);
}

struct conc_req {
	pthread_t th;
	int idx;
	int err;
	struct emit_reply *er;
	unsigned char payload[40];
	int len;
};

static void *conc_req_main(void *arg)
{
	struct conc_req *q = arg;
	struct nlr_sock *s = nlr_open(0);

	q->err = do_request(s, 180 + q->idx, q->payload, q->len, 20000, q->er,
			    30000);
	nlr_close(s);
	return NULL;
}

#define NCONC_REQ 4

void test_concurrency(struct nlr_sock *c)
{
	struct conc cc[2];
	struct nlr_sock *l[2], *rs;
	struct responder r;
	struct conc_req q[NCONC_REQ];
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct stats s0, s1;
	pid_t pids[2];
	int k, i, status, err, wlen, ok_req = 0;
	unsigned char want[64];
	uint64_t total = 2 * 500 + 300 + 200, seq0;
	bool ok;

	for (k = 0; k < 2; k++) {
		l[k] = nlr_open(BIG_RCVBUF);
		if (nlr_join(l[k], events_grp))
			bail("join");
	}
	stats_now(c, &s0);
	seq0 = ST(&s0, NEXT_SEQ);
	for (k = 0; k < 2; k++) {
		memset(&cc[k], 0, sizeof(cc[k]));
		cc[k].next = seq0;
	}

	/* two processes on "emit", the timer on "emit_atomic", and EMIT */
	for (k = 0; k < 2; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			for (i = 0; i < 5; i++)
				if (dbg_write("emit", "100 64 %d", 71 + k))
					_exit(1);
			_exit(0);
		}
	}
	err = dbg_write("emit_atomic", "300 32 73");
	for (i = 0; i < 4 && !err; i++)
		err = do_emit_count(c, 74, conc_fixed, sizeof(conc_fixed), 50,
				    er);
	ok = !err;
	for (k = 0; k < 2; k++)
		if (waitpid(pids[k], &status, 0) != pids[k] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			ok = false;
	check(ok, "4 producers at once: 2 x emit, emit_atomic, EMIT");

	for (k = 0; k < 2; k++) {
		recv_events(l[k], total, 3000, conc_cb, &cc[k]);
		ok = cc[k].got == total && !cc[k].gaps && !cc[k].bad &&
		     cc[k].per_type[1] == 500 && cc[k].per_type[2] == 500 &&
		     cc[k].per_type[3] == 300 && cc[k].per_type[4] == 200;
		if (!check(ok, "listener %d: %llu interleaved events in seq "
			   "order, intact", k, (unsigned long long)total))
			diag("got %llu gaps %llu bad %llu (%llu/%llu/%llu/%llu)"
			     ": %s", (unsigned long long)cc[k].got,
			     (unsigned long long)cc[k].gaps,
			     (unsigned long long)cc[k].bad,
			     (unsigned long long)cc[k].per_type[1],
			     (unsigned long long)cc[k].per_type[2],
			     (unsigned long long)cc[k].per_type[3],
			     (unsigned long long)cc[k].per_type[4],
			     cc[k].first_err);
	}
	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, PUBLISHED, total);
	CHECK_DELTA(&s0, &s1, DELIVERED, total);
	for (k = 0; k < 2; k++)
		nlr_close(l[k]);

	/* concurrent requests, each gets its own answer */
	rs = open_responder("selftest-conc", true);
	responder_start(&r, rs, 11);
	for (i = 0; i < NCONC_REQ; i++) {
		q[i].idx = i;
		q[i].er = nlr_alloc(sizeof(*q[i].er));
		q[i].len = 8 + 8 * i;
		memset(q[i].payload, 0x10 * (i + 1), q[i].len);
		if (pthread_create(&q[i].th, NULL, conc_req_main, &q[i]))
			bail("pthread_create");
	}
	for (i = 0; i < NCONC_REQ; i++) {
		pthread_join(q[i].th, NULL);
		wlen = reply_for(q[i].payload, q[i].len, want);
		if (!q[i].err && q[i].er->got_reply && !q[i].er->error &&
		    q[i].er->n_replies == 1 && q[i].er->status == 11 &&
		    q[i].er->len == wlen &&
		    !memcmp(q[i].er->payload, want, wlen) &&
		    q[i].er->portid == rs->portid)
			ok_req++;
		else
			diag("request %d: %s, REPLY %d error %s status %d, "
			     "%d bytes", i, ename(q[i].err),
			     q[i].er->got_reply, ename(q[i].er->error),
			     q[i].er->status, q[i].er->len);
		free(q[i].er);
	}
	responder_stop(&r);
	check(ok_req == NCONC_REQ, "%d concurrent EMIT requests each got "
	      "their own reply", NCONC_REQ);
	nlr_close(rs);
	free(er);
}


/* ------------------------------------------------------------------ */
/* bulk EMIT: COUNT > 256 is finished by a work item                    */

#define BULK_COUNT	3000
#define NBULK		(EMIT_BULK_MAX + 1)
#define BULK_EACH	600

struct bulk_th {
	pthread_t th;
	int idx;
	pthread_barrier_t *bar;
	int err;
	char extack[256];
	struct emit_reply *er;
};

static void *bulk_main(void *arg)
{
	struct bulk_th *b = arg;
	struct nlr_sock *s = nlr_open(0);

	pthread_barrier_wait(b->bar);
	b->err = do_emit_count(s, 200 + b->idx, NULL, 0, BULK_EACH, b->er);
	snprintf(b->extack, sizeof(b->extack), "%s", s->extack);
	nlr_close(s);
	return NULL;
}

/* events of the concurrent bulk EMITs, by type */
struct bulk_seen {
	uint64_t next, got, gaps, bad;
	uint64_t per[NBULK], last[NBULK];
	bool order_bad;
};

static void bulk_cb(struct nlmsghdr *nlh, void *arg)
{
	struct bulk_seen *bs = arg;
	struct event ev;
	unsigned int k;

	if (parse_event(nlh, &ev))
		return;
	if (ev.seq != bs->next)
		bs->gaps++;
	bs->next = ev.seq + 1;
	bs->got++;
	k = ev.type - 200;
	if (k >= NBULK || ev.len != 0 || ev.cmd != NLPUSH_CMD_EVENT ||
	    ev.epoch != module_epoch) {
		bs->bad++;
		return;
	}
	if (bs->per[k] && ev.seq <= bs->last[k])
		bs->order_bad = true;
	bs->per[k]++;
	bs->last[k] = ev.seq;
}

/* waits until NEXT_SEQ reaches @want (the work items are done) */
static bool wait_next_seq(struct nlr_sock *c, uint64_t want, int timeout_ms,
			  struct stats *st)
{
	int i;

	for (i = 0; i <= timeout_ms / 20; i++) {
		stats_now(c, st);
		if (ST(st, NEXT_SEQ) >= want)
			return ST(st, NEXT_SEQ) == want;
		msleep(20);
	}
	return false;
}

void test_bulk(struct nlr_sock *c)
{
	static unsigned char fixed[16] = "bulk emit 16 b.";
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct bulk_th bt[NBULK];
	struct bulk_seen bs;
	pthread_barrier_t bar;
	struct nlr_sock *l;
	struct verifier v;
	struct stats s0, s1;
	uint64_t seq, got, want = 0;
	int err, k, n_ok = 0, n_busy = 0, n_other = 0;
	bool ok;

	l = nlr_open(BIG_RCVBUF);
	if (nlr_join(l, events_grp))
		bail("join");
	stats_now(c, &s0);
	seq = ST(&s0, NEXT_SEQ);
	verifier_init(&v, seq);
	verifier_add(&v, seq, BULK_COUNT, sizeof(fixed), 15, fixed);

	err = do_emit_count(c, 15, fixed, sizeof(fixed), BULK_COUNT, er);
	ok = !err && er->got && er->seq == seq && er->count == BULK_COUNT &&
	     er->has_epoch && er->epoch == module_epoch;
	if (!check(ok, "EMIT COUNT=%d (> %d) replies SEQ=first, COUNT, EPOCH",
		   BULK_COUNT, EMIT_SYNC_MAX))
		diag("err %s (%s), reply %d seq %llu (want %llu) count %u "
		     "epoch %d", ename(err), c->extack, er->got,
		     (unsigned long long)er->seq, (unsigned long long)seq,
		     er->count, er->has_epoch);
	got = recv_events(l, BULK_COUNT, 5000, verifier_cb, &v);
	ok = got == BULK_COUNT && v.next == seq + BULK_COUNT &&
	     verifier_clean(&v) && !l->overruns;
	if (!check(ok, "all %d events of the bulk EMIT arrive in order, intact",
		   BULK_COUNT))
		diag("got %llu, next %llu (want %llu), overruns %d: %s",
		     (unsigned long long)got, (unsigned long long)v.next,
		     (unsigned long long)(seq + BULK_COUNT), l->overruns,
		     v.first_err);
	ok = wait_next_seq(c, seq + BULK_COUNT, 5000, &s1);
	ok = ok && DELTA(&s0, &s1, PUBLISHED) == BULK_COUNT &&
	     DELTA(&s0, &s1, DELIVERED) == BULK_COUNT;
	if (!check(ok, "stats PUBLISHED and DELIVERED += %d", BULK_COUNT))
		diag("published +%llu delivered +%llu",
		     (unsigned long long)DELTA(&s0, &s1, PUBLISHED),
		     (unsigned long long)DELTA(&s0, &s1, DELIVERED));

	/* 17 bulk EMITs at once: the 17th may find 16 in flight */
	stats_now(c, &s0);
	seq = ST(&s0, NEXT_SEQ);
	pthread_barrier_init(&bar, NULL, NBULK);
	for (k = 0; k < NBULK; k++) {
		bt[k].idx = k;
		bt[k].bar = &bar;
		bt[k].er = nlr_alloc(sizeof(*bt[k].er));
		if (pthread_create(&bt[k].th, NULL, bulk_main, &bt[k]))
			bail("pthread_create");
	}
	for (k = 0; k < NBULK; k++) {
		pthread_join(bt[k].th, NULL);
		if (!bt[k].err && bt[k].er->count == BULK_EACH) {
			n_ok++;
			want += BULK_EACH;
		} else if (bt[k].err == -EBUSY) {
			n_busy++;
			vdiag("bulk EMIT %d: EBUSY (\"%s\")", k, bt[k].extack);
		} else {
			n_other++;
			diag("bulk EMIT %d: %s (\"%s\")", k, ename(bt[k].err),
			     bt[k].extack);
		}
	}
	pthread_barrier_destroy(&bar);
	diag("%d concurrent bulk EMITs: %d published, %d EBUSY", NBULK, n_ok,
	     n_busy);
	check(!n_other && n_ok + n_busy == NBULK && n_ok >= 1 &&
	      (n_busy >= 1 || n_ok == NBULK),
	      "%d concurrent bulk EMITs of %d: each published or EBUSY",
	      NBULK, BULK_EACH);
	ok = wait_next_seq(c, seq + want, 10000, &s1);
	if (!check(ok && DELTA(&s0, &s1, PUBLISHED) == want,
		   "the accepted bulk EMITs published all %llu events",
		   (unsigned long long)want))
		diag("published +%llu", (unsigned long long)DELTA(&s0, &s1,
								   PUBLISHED));
	memset(&bs, 0, sizeof(bs));
	bs.next = seq;
	recv_events(l, want, 5000, bulk_cb, &bs);
	ok = bs.got == want && !bs.gaps && !bs.bad && !bs.order_bad;
	for (k = 0; k < NBULK; k++)
		if (bs.per[k] != (bt[k].err ? 0 : BULK_EACH))
			ok = false;
	if (!check(ok, "listener: every accepted bulk EMIT complete, each in "
		   "order, no gap"))
		diag("got %llu of %llu, gaps %llu bad %llu order %d",
		     (unsigned long long)bs.got, (unsigned long long)want,
		     (unsigned long long)bs.gaps, (unsigned long long)bs.bad,
		     bs.order_bad);
	for (k = 0; k < NBULK; k++)
		free(bt[k].er);
	nlr_close(l);
	free(er);
}

/* ------------------------------------------------------------------ */
/* lost flush: a lone event after a quiet period must go out at once    */

#define FLUSH_ROUNDS	10000
#define FLUSH_LIMIT_MS	10
/*
 * A round whose events are not queued within FLUSH_LIMIT_MS gets this much
 * longer, with nothing published meanwhile: a lost flush (the events wait
 * for the next publication) never delivers them; a transmit work item
 * merely descheduled on a loaded TCG guest with KASAN does (one round of
 * 10,000 in a CI run of the debug lane, 2026-12-07).
 */
#define FLUSH_GRACE_MS	1000

struct flush_prod {
	pthread_t th;
	int idx;
	pthread_barrier_t *bar;
	int err;
	uint64_t seq;
	uint32_t count;
};

static volatile int flush_stop;

static void *flush_prod_main(void *arg)
{
	struct flush_prod *p = arg;
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct nlr_sock *s = nlr_open(0);
	struct emit_args ea;
	int round;

	memset(&ea, 0, sizeof(ea));
	ea.has_type = true;
	ea.type = 90 + p->idx;
	ea.has_count = true;
	for (round = 0;; round++) {
		pthread_barrier_wait(p->bar);
		if (flush_stop)
			break;
		/* bursts of 1 to 3 events, both producers at once */
		ea.count = 1 + (round + p->idx) % 3;
		p->err = do_emit(s, &ea, er);
		p->seq = er->seq;
		p->count = p->err ? 0 : er->count;
		pthread_barrier_wait(p->bar);
	}
	nlr_close(s);
	free(er);
	return NULL;
}

void test_flush(struct nlr_sock *c)
{
	struct flush_prod p[2];
	struct stats s0, s1;
	pthread_barrier_t bar;
	struct nlr_sock *l;
	uint64_t t0, max_lat = 0, late = 0, missed = 0, errs = 0, stale = 0;
	uint64_t slow = 0;
	int round, k;
	char first[200] = "";

	l = nlr_open(BIG_RCVBUF);
	if (nlr_join(l, events_grp))
		bail("join");
	flush_stop = 0;
	stats_now(c, &s0);
	pthread_barrier_init(&bar, NULL, 3);
	for (k = 0; k < 2; k++) {
		p[k].idx = k;
		p[k].bar = &bar;
		if (pthread_create(&p[k].th, NULL, flush_prod_main, &p[k]))
			bail("pthread_create");
	}
	t0 = nlr_now_ns();
	for (round = 0; round < FLUSH_ROUNDS; round++) {
		uint64_t lo, hi, got = 0, want, deadline, now, grace;
		bool final = false;

		pthread_barrier_wait(&bar);	/* go */
		pthread_barrier_wait(&bar);	/* both EMITs returned */
		now = nlr_now_ns();
		if (p[0].err || p[1].err) {
			if (!errs++)
				snprintf(first, sizeof(first),
					 "round %d: EMIT %s / %s", round,
					 ename(p[0].err), ename(p[1].err));
			continue;
		}
		/*
		 * Nothing else publishes: the round's events are the next
		 * @want seqs, the two EMITs' events possibly interleaved.
		 */
		lo = p[0].seq < p[1].seq ? p[0].seq : p[1].seq;
		want = p[0].count + p[1].count;
		hi = lo + want;
		deadline = now + FLUSH_LIMIT_MS * 1000000ull;
		grace = deadline + FLUSH_GRACE_MS * 1000000ull;
		while (got < want) {
			int64_t left = ((int64_t)(deadline - nlr_now_ns()) +
					999999) / 1000000;
			struct nlmsghdr *nlh;
			ssize_t n;

			/*
			 * Past the limit (this thread may have been descheduled
			 * itself): whatever is queued already counts, so drain
			 * the socket without waiting, to its last datagram.
			 * Then, still short, wait out the grace period.
			 */
			if (left <= 0 && !final) {
				final = true;
				left = 0;
			} else if (final) {
				left = ((int64_t)(grace - nlr_now_ns()) +
					999999) / 1000000;
				if (left <= 0)
					break;
			}
			n = nlr_recv(l, left);
			if (n <= 0)
				continue;	/* the next turn ends at the grace */
			now = nlr_now_ns();
			for (nlh = (struct nlmsghdr *)l->rx; NLMSG_OK(nlh, n);
			     nlh = NLMSG_NEXT(nlh, n)) {
				struct event ev;

				if (parse_event(nlh, &ev))
					continue;
				if (ev.seq < lo) {
					stale++;	/* of an earlier round */
					continue;
				}
				if (ev.seq >= hi)
					continue;
				got++;
				if (now > ev.ts && now - ev.ts > max_lat)
					max_lat = now - ev.ts;
				if (now > ev.ts + FLUSH_LIMIT_MS * 1000000ull)
					late++;
			}
		}
		if (got == want && final)
			slow++;
		if (got < want && !missed++)
			snprintf(first, sizeof(first),
				 "round %d: %llu of %llu events (seqs "
				 "%llu..%llu) not received %d ms after "
				 "publication, nor within the grace period",
				 round, (unsigned long long)got,
				 (unsigned long long)want,
				 (unsigned long long)lo,
				 (unsigned long long)(hi - 1), FLUSH_LIMIT_MS);
	}
	flush_stop = 1;
	pthread_barrier_wait(&bar);
	for (k = 0; k < 2; k++)
		pthread_join(p[k].th, NULL);
	pthread_barrier_destroy(&bar);
	diag("lost flush: %d rounds in %llu ms, worst latency %llu us, "
	     "%llu read after %d ms, %llu from earlier rounds, %llu rounds "
	     "complete only after %d ms (the reader or the transmit work "
	     "descheduled; within the %d ms grace, nothing published "
	     "meanwhile)", FLUSH_ROUNDS,
	     (unsigned long long)ms_since(t0),
	     (unsigned long long)(max_lat / 1000), (unsigned long long)late,
	     FLUSH_LIMIT_MS, (unsigned long long)stale,
	     (unsigned long long)slow, FLUSH_LIMIT_MS, FLUSH_GRACE_MS);
	if (!check(!missed && !errs && !l->overruns,
		   "%d bursts of 2 producers after a quiet period: every "
		   "event sent without waiting for the next publication "
		   "(queued within %d ms, or %d ms on a descheduled guest)",
		   FLUSH_ROUNDS, FLUSH_LIMIT_MS, FLUSH_GRACE_MS))
		diag("%llu rounds missed events, %llu EMIT errors, %d "
		     "overruns; first: %s", (unsigned long long)missed,
		     (unsigned long long)errs, l->overruns, first);
	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, TXQ_DROPS, 0);
	CHECK_DELTA(&s0, &s1, DELIVERY_ERRORS, 0);
	nlr_close(l);
}
