// SPDX-License-Identifier: GPL-2.0
/*
 * stress.c - concurrency stress: producers in process context, in a timer
 * (softirq) and with interrupts disabled, at once, with payloads up to
 * NLPUSH_PAYLOAD_MAX, while 16 listeners read; then a burst of ten times a
 * listener's socket buffer. The rule checked: nothing vanishes. Every
 * published event is received by the large-buffer listener or counted as
 * dropped by the kernel (TXQ_DROPS); a small-buffer listener that overruns
 * is told so (ENOBUFS) and finds what it missed in the replay ring.
 */
#include "common.h"

#define NLISTEN		16
#define HUGE_RCVBUF	(96 * 1024 * 1024)
/* types of the producers, to tell their events apart */
#define T_PROC		81	/* + child index: "emit", process context */
#define T_TIMER		83	/* "emit_atomic", timer (softirq) */
#define T_IRQOFF	84	/* "emit_irqoff", interrupts disabled */
#define T_EMIT		85	/* NLPUSH_CMD_EMIT, fixed payload */
#define T_BURST		86

static const unsigned int proc_sizes[] = { 64, 4096, NLPUSH_PAYLOAD_MAX };

/* what one listener thread saw */
struct stress_listener {
	struct nlr_sock *sk;
	pthread_t th;
	volatile int stop;
	uint64_t first;		/* first seq of the run */
	uint64_t next;		/* next seq expected */
	uint64_t got, missing, dup_or_reorder, bad, per_type[8];
	int overruns;
	char first_err[160];
};

static unsigned char emit_fixed[512];

static void stress_err(struct stress_listener *l, const char *fmt,
		       unsigned long long a, unsigned long long b)
{
	l->bad++;
	if (!l->first_err[0])
		snprintf(l->first_err, sizeof(l->first_err), fmt, a, b);
}

static void stress_event(struct stress_listener *l, struct nlmsghdr *nlh)
{
	struct event ev;
	bool ok;

	if (parse_event(nlh, &ev))
		return;
	if (ev.seq < l->next) {
		l->dup_or_reorder++;
		return;
	}
	l->missing += ev.seq - l->next;
	l->next = ev.seq + 1;
	l->got++;
	if (ev.type >= T_PROC && ev.type <= T_EMIT)
		l->per_type[ev.type - T_PROC]++;
	if (ev.type == T_EMIT)
		ok = ev.len == sizeof(emit_fixed) &&
		     !memcmp(ev.payload, emit_fixed, ev.len);
	else
		ok = pattern_ok(ev.seq, ev.payload, ev.len);
	if (!ok)
		stress_err(l, "seq %llu type %llu: payload damaged",
			   (unsigned long long)ev.seq,
			   (unsigned long long)ev.type);
	if (ev.epoch != module_epoch)
		stress_err(l, "seq %llu: epoch %llx", ev.seq, ev.epoch);
}

static void *stress_listen_main(void *arg)
{
	struct stress_listener *l = arg;
	int quiet = 0;

	/* after stop: read until the socket stays quiet for 1 s */
	while (quiet < 5) {
		struct nlmsghdr *nlh;
		ssize_t n = nlr_recv(l->sk, 200);

		if (n == -ENOBUFS) {
			l->overruns++;
			continue;
		}
		if (n <= 0) {
			if (l->stop)
				quiet++;
			continue;
		}
		quiet = 0;
		for (nlh = (struct nlmsghdr *)l->sk->rx; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n))
			stress_event(l, nlh);
	}
	return NULL;
}

struct stress_emit {
	pthread_t th;
	int err;
};

static void *stress_emit_main(void *arg)
{
	struct stress_emit *e = arg;
	struct nlr_sock *s = nlr_open(0);
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	int i;

	for (i = 0; i < 4 && !e->err; i++)
		e->err = do_emit_count(s, T_EMIT, emit_fixed,
				       sizeof(emit_fixed), 50, er);
	free(er);
	nlr_close(s);
	return NULL;
}

/* producers at once, 16 listeners, the large one accounts for every seq */
static void stress_producers(struct nlr_sock *c)
{
	struct stress_listener *l = nlr_alloc(NLISTEN * sizeof(*l));
	struct stress_emit em = { 0 };
	struct stats s0, s1;
	pid_t pids[2];
	uint64_t published, drops, t0;
	int k, i, status, err = 0, clean = 0;
	bool ok;

	for (i = 0; i < (int)sizeof(emit_fixed); i++)
		emit_fixed[i] = (unsigned char)(i * 7 + 3);
	stats_now(c, &s0);
	for (k = 0; k < NLISTEN; k++) {
		/* listener 0 reads into 96 MiB; the others keep the default */
		l[k].sk = nlr_open(k == 0 ? HUGE_RCVBUF : 0);
		if (nlr_join(l[k].sk, events_grp))
			bail("join");
		l[k].first = l[k].next = ST(&s0, NEXT_SEQ);
		if (pthread_create(&l[k].th, NULL, stress_listen_main, &l[k]))
			bail("pthread_create");
	}

	t0 = nlr_now_ns();
	for (k = 0; k < 2; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			unsigned int j;

			for (i = 0; i < 5; i++)
				for (j = 0; j < ARRAY_SIZE(proc_sizes); j++)
					if (dbg_write("emit", "10 %u %d",
						      proc_sizes[j],
						      T_PROC + k))
						_exit(1);
			_exit(0);
		}
	}
	if (pthread_create(&em.th, NULL, stress_emit_main, &em))
		bail("pthread_create");
	if (dbg_write("emit_irqoff", "100 %d %d", NLPUSH_PAYLOAD_MAX,
		      T_IRQOFF))
		err = -1;
	if (dbg_write("emit_atomic", "300 1024 %d", T_TIMER))
		err = -1;
	pthread_join(em.th, NULL);
	ok = !err && !em.err;
	for (k = 0; k < 2; k++)
		if (waitpid(pids[k], &status, 0) != pids[k] ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			ok = false;
	check(ok, "producers at once: 2 processes (64 B to %d B), a timer "
	      "(softirq), interrupts disabled (%d B), EMIT from a thread",
	      NLPUSH_PAYLOAD_MAX, NLPUSH_PAYLOAD_MAX);
	vdiag("producers done after %llu ms",
	      (unsigned long long)ms_since(t0));

	for (k = 0; k < NLISTEN; k++)
		l[k].stop = 1;
	for (k = 0; k < NLISTEN; k++)
		pthread_join(l[k].th, NULL);
	stats_now(c, &s1);
	published = DELTA(&s0, &s1, PUBLISHED);
	drops = DELTA(&s0, &s1, TXQ_DROPS);

	check(published == 2 * 5 * 3 * 10 + 100 + 300 + 4 * 50,
	      "every publish consumed a sequence number (%llu)",
	      (unsigned long long)published);
	l[0].missing += ST(&s1, NEXT_SEQ) - l[0].next;
	ok = l[0].overruns == 0 && !l[0].bad && !l[0].dup_or_reorder &&
	     l[0].got + drops == published && l[0].missing == drops;
	if (!check(ok, "nothing vanished: the 96 MiB listener received %llu, "
		   "the kernel counted %llu transmit-queue drops, of %llu "
		   "published", (unsigned long long)l[0].got,
		   (unsigned long long)drops, (unsigned long long)published))
		diag("overruns %d, missing %llu, damaged %llu, out of order "
		     "%llu: %s", l[0].overruns,
		     (unsigned long long)l[0].missing,
		     (unsigned long long)l[0].bad,
		     (unsigned long long)l[0].dup_or_reorder,
		     l[0].first_err);
	check(l[0].per_type[T_TIMER - T_PROC] + l[0].per_type[T_IRQOFF - T_PROC]
	      + l[0].per_type[0] + l[0].per_type[1] +
	      l[0].per_type[T_EMIT - T_PROC] == l[0].got,
	      "every event came from one of the producers");

	for (k = 1; k < NLISTEN; k++) {
		if (!l[k].bad && !l[k].dup_or_reorder)
			clean++;
		else
			diag("listener %d: %llu damaged, %llu out of order: %s",
			     k, (unsigned long long)l[k].bad,
			     (unsigned long long)l[k].dup_or_reorder,
			     l[k].first_err);
		vdiag("listener %d: got %llu, %d overruns, %llu missing", k,
		      (unsigned long long)l[k].got, l[k].overruns,
		      (unsigned long long)l[k].missing);
	}
	check(clean == NLISTEN - 1, "%d default-buffer listeners: what they "
	      "got is in order and intact (losses reported as ENOBUFS)",
	      NLISTEN - 1);
	ok = true;
	for (k = 1; k < NLISTEN; k++)
		if (l[k].missing + ST(&s1, NEXT_SEQ) - l[k].next > 0 &&
		    l[k].overruns == 0 && drops == 0)
			ok = false;
	check(ok, "a listener that missed events was told (ENOBUFS)");
	for (k = 0; k < NLISTEN; k++)
		nlr_close(l[k].sk);
	free(l);
}

/* REPLAY callback: events by seq into a bitmap */
struct burst_seen {
	uint64_t first;
	unsigned int n;
	unsigned char have[256];
	uint64_t bad, replayed;
};

static void burst_cb(struct nlmsghdr *nlh, void *arg)
{
	struct burst_seen *b = arg;
	struct event ev;

	if (parse_event(nlh, &ev) || ev.seq < b->first ||
	    ev.seq >= b->first + b->n)
		return;
	if (ev.type != T_BURST || !pattern_ok(ev.seq, ev.payload, ev.len))
		b->bad++;
	if (ev.flags & NLPUSH_F_REPLAYED)
		b->replayed++;
	b->have[ev.seq - b->first] = 1;
}

/* a burst of 10 x a listener's socket buffer while it does not read */
static void stress_burst(struct nlr_sock *c)
{
	struct nlr_sock *s = nlr_open(64 * 1024);
	struct burst_seen b = { 0 };
	struct stats s0, s1;
	int rcvbuf = nlr_get_rcvbuf(s->fd), size = 16384, overruns = 0;
	unsigned int n, i, have = 0, first_missing = 0;
	struct nlmsghdr *nlh;
	ssize_t r;

	if (nlr_join(s, events_grp))
		bail("join");
	n = 10 * rcvbuf / size;
	if (n > sizeof(b.have))
		n = sizeof(b.have);
	stats_now(c, &s0);
	b.first = ST(&s0, NEXT_SEQ);
	b.n = n;
	check(!dbg_write("emit", "%u %d %d", n, size, T_BURST),
	      "burst: %u events of %d B (10 x the %d B socket buffer)", n,
	      size, rcvbuf);
	stats_now(c, &s1);
	while ((r = nlr_recv(s, 300)) != 0 && r != -ETIME) {
		if (r == -ENOBUFS) {
			overruns++;
			continue;
		}
		if (r < 0)
			break;
		for (nlh = (struct nlmsghdr *)s->rx; NLMSG_OK(nlh, r);
		     nlh = NLMSG_NEXT(nlh, r))
			burst_cb(nlh, &b);
	}
	for (i = 0; i < n; i++)
		have += b.have[i];
	check(overruns > 0 && have < n, "the listener was told it overran "
	      "(ENOBUFS; it holds %u of %u)", have, n);
	for (i = 0; i < n && b.have[i]; i++)
		;
	first_missing = i;
	if (first_missing < n)
		do_replay(c, b.first + first_missing, burst_cb, &b);
	have = 0;
	for (i = 0; i < n; i++)
		have += b.have[i];
	if (!check(have == n && !b.bad && b.replayed > 0,
		   "the ring replays what it missed: all %u events, intact "
		   "(%llu replayed)", n, (unsigned long long)b.replayed))
		diag("have %u of %u, %llu damaged; ring %llu..%llu", have, n,
		     (unsigned long long)b.bad,
		     (unsigned long long)ST(&s1, OLDEST_SEQ),
		     (unsigned long long)ST(&s1, NEXT_SEQ));
	nlr_close(s);
}

void test_stress(struct nlr_sock *c)
{
	stress_producers(c);
	stress_burst(c);
}
