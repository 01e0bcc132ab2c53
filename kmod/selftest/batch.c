// SPDX-License-Identifier: GPL-2.0
/*
 * batch.c - batched delivery (module parameter tx_batch_bytes). A listener
 * that reads only after a burst was published counts the EVENT messages of
 * every datagram: with batching on, some datagrams must carry several and
 * none with several may be longer than tx_batch_bytes, a message longer
 * than the limit must come alone; with tx_batch_bytes=0 every datagram
 * carries exactly one. Either way every event arrives once, in order, with
 * its payload intact, and the delivery counters count events.
 */
#include "common.h"

/* listeners that join but never read: each multicast costs more */
#define NHOLD		7
#define BURST		4000
#define T_SMALL		91
#define T_HALF		92
#define T_UNDER		93
#define T_OVER		94
#define T_LONE		95
/* an EVENT message without payload: nlmsghdr, genlmsghdr, attributes */
#define EVENT_OVERHEAD	76

struct dgrams {
	struct verifier v;
	unsigned int limit;
	uint64_t events, dgrams, multi, max_msgs, max_multi_len;
	uint64_t over_limit;	/* several messages, longer than the limit */
	uint64_t big_shared;	/* a message over the limit, not alone */
	int overruns;
};

static void dgrams_init(struct dgrams *d, uint64_t first, unsigned int limit)
{
	memset(d, 0, sizeof(*d));
	verifier_init(&d->v, first);
	d->v.want_flags = 0;
	d->limit = limit;
}

/* Reads until @want events or @timeout_ms of silence. */
static void dgrams_read(struct nlr_sock *s, struct dgrams *d, uint64_t want,
			int timeout_ms)
{
	while (d->events < want) {
		uint64_t msgs = 0, biggest = 0, len;
		struct nlmsghdr *nlh;
		ssize_t n = nlr_recv(s, timeout_ms);

		if (n == -ENOBUFS) {
			d->overruns++;
			continue;
		}
		if (n <= 0)
			break;
		len = n;	/* NLMSG_NEXT() counts n down */
		for (nlh = (struct nlmsghdr *)s->rx; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			struct event ev;

			if (parse_event(nlh, &ev))
				continue;
			msgs++;
			if (nlh->nlmsg_len > biggest)
				biggest = nlh->nlmsg_len;
			verifier_cb(nlh, &d->v);
		}
		if (!msgs)
			continue;
		d->events += msgs;
		d->dgrams++;
		if (msgs > d->max_msgs)
			d->max_msgs = msgs;
		if (msgs == 1)
			continue;
		d->multi++;
		if (len > d->max_multi_len)
			d->max_multi_len = len;
		if (len > d->limit)
			d->over_limit++;
		if (biggest > d->limit)
			d->big_shared++;
	}
}

static void dgrams_diag(const struct dgrams *d)
{
	diag("%llu events in %llu datagrams, %llu with several messages "
	     "(at most %llu, longest %llu bytes), %d overruns",
	     (unsigned long long)d->events, (unsigned long long)d->dgrams,
	     (unsigned long long)d->multi, (unsigned long long)d->max_msgs,
	     (unsigned long long)d->max_multi_len, d->overruns);
	if (d->v.first_err[0])
		diag("first error: %s", d->v.first_err);
}

static bool read_limit(unsigned int *limit)
{
	char buf[32] = "";

	if (nlr_read_file(PARAM_DIR "/tx_batch_bytes", buf, sizeof(buf)))
		return false;
	*limit = strtoul(buf, NULL, 10);
	return true;
}

/* Publishes @n events of @size bytes and type @type from process context. */
static bool emit(struct verifier *v, uint64_t *seq, unsigned int n,
		 unsigned int size, unsigned int type)
{
	int err = dbg_write("emit", "%u %u %u", n, size, type);

	if (err) {
		diag("emit %u x %u B: %s", n, size, ename(err));
		return false;
	}
	verifier_add(v, *seq, n, size, type, NULL);
	*seq += n;
	return true;
}

/*
 * The listener a test reads and NHOLD listeners that hold what they get
 * (each one a clone to deliver), all joined to "events".
 */
static struct nlr_sock *open_listeners(struct nlr_sock *hold[NHOLD])
{
	struct nlr_sock *l = nlr_open(BIG_RCVBUF);
	unsigned int k;

	if (nlr_join(l, events_grp))
		bail("joining events as root");
	for (k = 0; k < NHOLD; k++) {
		hold[k] = nlr_open(BIG_RCVBUF);
		if (nlr_join(hold[k], events_grp))
			bail("joining events as root");
	}
	return l;
}

/* A burst of 64-byte events, read only once it has all been published. */
static void batch_burst(struct nlr_sock *c, unsigned int limit)
{
	struct nlr_sock *hold[NHOLD], *l;
	struct dgrams *d = nlr_alloc(sizeof(*d));
	struct stats s0, s1;
	uint64_t seq;
	unsigned int k;
	bool ok;

	l = open_listeners(hold);
	stats_now(c, &s0);
	seq = ST(&s0, NEXT_SEQ);
	dgrams_init(d, seq, limit);
	ok = emit(&d->v, &seq, BURST, 64, T_SMALL);
	check(ok, "burst of %u events of 64 B, %u listeners not reading yet",
	      BURST, NHOLD + 1);
	dgrams_read(l, d, BURST, 2000);
	for (k = 0; k < NHOLD; k++)
		nlr_close(hold[k]);
	stats_now(c, &s1);

	ok = d->events == BURST && verifier_clean(&d->v) && !d->overruns;
	if (!check(ok, "every event of the burst arrived once, in order, "
		   "intact"))
		dgrams_diag(d);
	if (limit) {
		ok = d->multi > 0 && !d->over_limit;
		if (!check(ok, "batching on (%u bytes): %llu of %llu datagrams "
			   "carried several events (up to %llu), none longer "
			   "than the limit", limit,
			   (unsigned long long)d->multi,
			   (unsigned long long)d->dgrams,
			   (unsigned long long)d->max_msgs))
			dgrams_diag(d);
	} else {
		if (!check(d->max_msgs == 1 && d->dgrams == d->events,
			   "batching off: one event per datagram (%llu "
			   "datagrams)", (unsigned long long)d->dgrams))
			dgrams_diag(d);
	}
	if (verbose)
		dgrams_diag(d);
	if (!CHECK_DELTA(&s0, &s1, DELIVERED, BURST))
		diag("DELIVERED must count events, not datagrams");
	CHECK_DELTA(&s0, &s1, PUBLISHED, BURST);
	nlr_close(l);
	free(d);
}

/*
 * Messages of about half the limit (two fit), just under it (one fits)
 * and over it (must go alone), between bursts of small ones.
 */
static void batch_sizes(struct nlr_sock *c, unsigned int limit)
{
	unsigned int lim = limit ? limit : 3776;	/* sizes for limit 0 */
	unsigned int half = lim / 2 - EVENT_OVERHEAD - 8;
	unsigned int under = lim - EVENT_OVERHEAD - 8;
	unsigned int over = lim + 100;
	struct dgrams *d = nlr_alloc(sizeof(*d));
	struct nlr_sock *l, *hold[NHOLD];
	struct stats s0;
	uint64_t seq, first;
	unsigned int k;
	bool ok = true;

	/* a limit near 64 KiB: sizes the module accepts */
	if (under > NLPUSH_PAYLOAD_MAX)
		under = NLPUSH_PAYLOAD_MAX;
	if (over > NLPUSH_PAYLOAD_MAX)
		over = NLPUSH_PAYLOAD_MAX;
	l = open_listeners(hold);
	stats_now(c, &s0);
	seq = first = ST(&s0, NEXT_SEQ);
	dgrams_init(d, seq, limit);
	ok = emit(&d->v, &seq, 300, 64, T_SMALL) &&
	     emit(&d->v, &seq, 60, half, T_HALF) &&
	     emit(&d->v, &seq, 60, under, T_UNDER) &&
	     emit(&d->v, &seq, 60, over, T_OVER) &&
	     emit(&d->v, &seq, 300, 64, T_SMALL);
	check(ok, "bursts of 64 B, %u B, %u B and %u B events (limit %u)",
	      half, under, over, limit);
	dgrams_read(l, d, seq - first, 2000);
	for (k = 0; k < NHOLD; k++)
		nlr_close(hold[k]);
	ok = d->events == seq - first && verifier_clean(&d->v) &&
	     !d->overruns;
	if (!check(ok, "every event, small and large, arrived once, in "
		   "order, intact"))
		dgrams_diag(d);
	if (limit) {
		ok = !d->over_limit && !d->big_shared;
		if (!check(ok, "no datagram of several events longer than %u "
			   "bytes, an event over the limit always alone",
			   limit))
			dgrams_diag(d);
	} else {
		if (!check(d->max_msgs == 1, "batching off: one event per "
			   "datagram, whatever the size"))
			dgrams_diag(d);
	}
	if (verbose)
		dgrams_diag(d);
	nlr_close(l);
	free(d);
}

/* With the queue idle, one event is sent at once, alone. */
static void batch_lone(struct nlr_sock *c, unsigned int limit)
{
	struct dgrams *d = nlr_alloc(sizeof(*d));
	struct nlr_sock *l;
	struct stats s0;
	uint64_t seq;

	(void)limit;
	l = nlr_open(BIG_RCVBUF);
	if (nlr_join(l, events_grp))
		bail("joining events as root");
	msleep(50);	/* whatever was sent before is long done */
	stats_now(c, &s0);
	seq = ST(&s0, NEXT_SEQ);
	dgrams_init(d, seq, limit);
	emit(&d->v, &seq, 1, 64, T_LONE);
	dgrams_read(l, d, 1, 2000);
	if (!check(d->events == 1 && d->dgrams == 1 &&
		   verifier_clean(&d->v), "a lone event arrives, alone"))
		dgrams_diag(d);
	nlr_close(l);
	free(d);
}

void test_batch(struct nlr_sock *c)
{
	unsigned int limit;

	if (!read_limit(&limit)) {
		skip("no " PARAM_DIR "/tx_batch_bytes (module without "
		     "batching)", "batched delivery");
		return;
	}
	diag("tx_batch_bytes=%u", limit);
	batch_lone(c, limit);
	batch_burst(c, limit);
	batch_sizes(c, limit);
}
