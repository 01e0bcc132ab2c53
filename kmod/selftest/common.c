// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest: the shared part (see common.h): TAP output, netlink
 * plumbing on top of nlraw.h, commands, events, the stream verifier,
 * nlpush_test's debugfs files and the responder threads.
 */
#include "common.h"

int verbose;
/* ------------------------------------------------------------------ */
/* TAP output                                                           */

int n_test, n_pass, n_fail, n_skip;

static void diag_ap(const char *fmt, va_list ap)
{
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_ap(fmt, ap);
	va_end(ap);
}

void vdiag(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	diag_ap(fmt, ap);
	va_end(ap);
}

bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	n_test++;
	if (ok)
		n_pass++;
	else
		n_fail++;
	printf("%sok %d - ", ok ? "" : "not ", n_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return ok;
}

void skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	n_test++;
	n_skip++;
	printf("ok %d - ", n_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", why);
	fflush(stdout);
}

int finish(void)
{
	printf("1..%d\n", n_test);
	if (n_skip)
		printf("%d passed, %d failed, %d skipped\n", n_pass, n_fail,
		       n_skip);
	else
		printf("%d passed, %d failed\n", n_pass, n_fail);
	fflush(stdout);
	return n_fail ? 1 : 0;
}

/* stop here; counts as a failed check unless one failed already */
void bail(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!n_fail)
		check(false, "%s", msg);
	printf("Bail out! %s\n", msg);
	exit(finish());
}

const char *ename(int err)
{
	static __thread char buf[32];
	const char *n;

	if (err == 0)
		return "0";
	if (err == -ETIME)
		return "no answer (timeout)";
	n = strerrorname_np(err < 0 ? -err : err);
	if (!n) {
		snprintf(buf, sizeof(buf), "errno %d", err);
		return buf;
	}
	return n;
}

void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000l };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* netlink plumbing (nlraw.h) and family resolution                     */

uint16_t family_id;
uint32_t events_grp;
uint64_t module_epoch;

struct nlr_msg *cmd_new(uint8_t cmd, uint16_t flags)
{
	return nlr_msg_new(family_id, cmd, flags);
}

int transact(struct nlr_sock *s, struct nlr_msg *m, nlr_cb cb,
		    void *arg)
{
	return nlr_transact(s, m, cb, arg, NULL, NULL);
}

/* send and free */
int transact_free(struct nlr_sock *s, struct nlr_msg *m, nlr_cb cb,
			 void *arg)
{
	int err = transact(s, m, cb, arg);

	nlr_msg_free(m);
	return err;
}

/* resolve into the globals, bail out when the family is missing */
void need_family(struct nlr_sock *s, bool report)
{
	struct nlr_family fi;
	int err = nlr_resolve_family(s, &fi);

	if (report) {
		check(!err && fi.id, "family \"%s\" resolved",
		      NLPUSH_FAMILY_NAME);
		if (err || !fi.id)
			diag("CTRL_CMD_GETFAMILY: %s", ename(err));
	}
	if (err || !fi.id)
		bail("nlpush family not registered (%s); modules loaded?",
		     ename(err));
	family_id = fi.id;
	events_grp = fi.events_grp;
	if (report) {
		check(fi.version == NLPUSH_FAMILY_VERSION,
		      "family version is %d", NLPUSH_FAMILY_VERSION);
		if (fi.version != NLPUSH_FAMILY_VERSION)
			diag("version %u", fi.version);
		check(fi.grp_found && fi.events_grp,
		      "multicast group \"%s\" exists", NLPUSH_MCGRP_EVENTS);
	}
	if (!fi.grp_found)
		bail("no \"%s\" group", NLPUSH_MCGRP_EVENTS);
	/* the module's epoch: events, replies and acks carry it */
	{
		struct stats st;

		module_epoch = 0;
		if (!get_stats(s, &st) && st.has_epoch)
			module_epoch = st.epoch;
		if (report && !check(st.has_epoch && st.epoch != 0,
				     "GET_STATS carries a non-zero EPOCH"))
			diag("EPOCH %s", st.has_epoch ? "is 0" : "missing");
	}
}

/* ------------------------------------------------------------------ */
/* stats, subscribers                                                   */


static void stats_cb(struct nlmsghdr *nlh, void *arg)
{
	struct stats *st = arg;
	struct nlattr *tb[NLPUSH_A_MAX + 1];
	struct nlattr *sb[NLPUSH_STATS_A_MAX + 1];
	int i;

	if (nlr_genl_cmd(nlh) != NLPUSH_CMD_GET_STATS)
		return;
	nlr_genl_attrs(nlh, tb, NLPUSH_A_MAX);
	if (tb[NLPUSH_A_EPOCH] && nlr_len(tb[NLPUSH_A_EPOCH]) == 8) {
		st->has_epoch = true;
		st->epoch = nlr_uint(tb[NLPUSH_A_EPOCH]);
	}
	if (!tb[NLPUSH_A_STATS])
		return;
	st->nest = true;
	nlr_attrs(nlr_data(tb[NLPUSH_A_STATS]), nlr_len(tb[NLPUSH_A_STATS]),
		  sb, NLPUSH_STATS_A_MAX);
	for (i = 0; i <= NLPUSH_STATS_A_MAX; i++) {
		st->len[i] = sb[i] ? nlr_len(sb[i]) : -1;
		st->v[i] = sb[i] ? nlr_uint(sb[i]) : 0;
	}
}

int get_stats(struct nlr_sock *s, struct stats *st)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_GET_STATS, NLM_F_ACK);
	int i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i <= NLPUSH_STATS_A_MAX; i++)
		st->len[i] = -1;
	return transact_free(s, m, stats_cb, st);
}

/* stats snapshot that must succeed */
void stats_now(struct nlr_sock *s, struct stats *st)
{
	int err = get_stats(s, st);

	if (err || !st->nest)
		bail("GET_STATS failed: %s", ename(err));
}

/*
 * Reads the counters into @s1 once the @n events published since @s0 are
 * all counted as sent (DELIVERED + DELIVERY_ERRORS + NO_LISTENERS), 5 s at
 * most: with batching, a burst may still be on the transmit queue (the
 * work item's) when its producer's call returned.
 */
void stats_counted(struct nlr_sock *s, const struct stats *s0,
		   struct stats *s1, uint64_t n)
{
	uint64_t t0 = nlr_now_ns();

	for (;; msleep(10)) {
		stats_now(s, s1);
		if (DELTA(s0, s1, DELIVERED) + DELTA(s0, s1, DELIVERY_ERRORS) +
		    DELTA(s0, s1, NO_LISTENERS) >= n || ms_since(t0) > 5000)
			return;
	}
}

/* RING_EVENTS == NEXT_SEQ - OLDEST_SEQ, events and bytes within the limits */
bool ring_consistent(const struct stats *st)
{
	return ST(st, RING_EVENTS) == ST(st, NEXT_SEQ) - ST(st, OLDEST_SEQ) &&
	       ST(st, RING_EVENTS) <= ST(st, RING_MAX_EVENTS) &&
	       ST(st, RING_BYTES) <= ST(st, RING_MAX_BYTES);
}

/* the ring's counters as one diagnostic line */
void ring_diag(const struct stats *st)
{
	diag("next_seq %llu oldest %llu ring %llu/%llu bytes %llu/%llu",
	     (unsigned long long)ST(st, NEXT_SEQ),
	     (unsigned long long)ST(st, OLDEST_SEQ),
	     (unsigned long long)ST(st, RING_EVENTS),
	     (unsigned long long)ST(st, RING_MAX_EVENTS),
	     (unsigned long long)ST(st, RING_BYTES),
	     (unsigned long long)ST(st, RING_MAX_BYTES));
}

bool check_delta(struct stats *a, struct stats *b, int attr,
			const char *name, uint64_t want)
{
	uint64_t d = b->v[attr] - a->v[attr];

	if (!check(d == want, "stats %s += %llu", name,
		   (unsigned long long)want))
		diag("%s moved by %llu", name, (unsigned long long)d);
	return d == want;
}




static void subs_cb(struct nlmsghdr *nlh, void *arg)
{
	struct sub_list *l = arg;
	struct nlattr *tb[NLPUSH_A_MAX + 1];
	struct nlattr *sb[NLPUSH_SUBSCRIBER_A_MAX + 1];
	struct sub *s;
	int i;

	if (nlr_genl_cmd(nlh) != NLPUSH_CMD_GET_SUBSCRIBERS)
		return;
	nlr_genl_attrs(nlh, tb, NLPUSH_A_MAX);
	if (!tb[NLPUSH_A_SUBSCRIBER] || l->n >= (int)ARRAY_SIZE(l->s))
		return;
	nlr_attrs(nlr_data(tb[NLPUSH_A_SUBSCRIBER]),
		  nlr_len(tb[NLPUSH_A_SUBSCRIBER]), sb,
		  NLPUSH_SUBSCRIBER_A_MAX);
	s = &l->s[l->n++];
	memset(s, 0, sizeof(*s));
	s->complete = true;
	for (i = NLPUSH_SUBSCRIBER_A_PORTID; i <= NLPUSH_SUBSCRIBER_A_MAX; i++)
		if (!sb[i])
			s->complete = false;
	s->has_flags = sb[NLPUSH_SUBSCRIBER_A_FLAGS];
	if (s->has_flags)
		s->flags = nlr_u32(sb[NLPUSH_SUBSCRIBER_A_FLAGS]);
	if (sb[NLPUSH_SUBSCRIBER_A_PORTID])
		s->portid = nlr_u32(sb[NLPUSH_SUBSCRIBER_A_PORTID]);
	if (sb[NLPUSH_SUBSCRIBER_A_PID])
		s->pid = nlr_u32(sb[NLPUSH_SUBSCRIBER_A_PID]);
	if (sb[NLPUSH_SUBSCRIBER_A_NAME])
		snprintf(s->name, sizeof(s->name), "%.*s",
			 nlr_len(sb[NLPUSH_SUBSCRIBER_A_NAME]),
			 (char *)nlr_data(sb[NLPUSH_SUBSCRIBER_A_NAME]));
	if (sb[NLPUSH_SUBSCRIBER_A_ACKS])
		s->acks = nlr_uint(sb[NLPUSH_SUBSCRIBER_A_ACKS]);
	if (sb[NLPUSH_SUBSCRIBER_A_LAST_ACKED_SEQ])
		s->last_acked = nlr_uint(sb[NLPUSH_SUBSCRIBER_A_LAST_ACKED_SEQ]);
	if (sb[NLPUSH_SUBSCRIBER_A_REPLIES])
		s->replies = nlr_uint(sb[NLPUSH_SUBSCRIBER_A_REPLIES]);
	if (sb[NLPUSH_SUBSCRIBER_A_SUBSCRIBED_NS])
		s->subscribed_ns =
			nlr_uint(sb[NLPUSH_SUBSCRIBER_A_SUBSCRIBED_NS]);
}

int get_subs(struct nlr_sock *s, struct sub_list *l)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_GET_SUBSCRIBERS, NLM_F_DUMP);

	memset(l, 0, sizeof(*l));
	return transact_free(s, m, subs_cb, l);
}

struct sub *find_sub(struct sub_list *l, uint32_t portid)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (l->s[i].portid == portid)
			return &l->s[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* commands                                                             */

int do_simple(struct nlr_sock *s, uint8_t cmd)
{
	return transact_free(s, cmd_new(cmd, NLM_F_ACK), NULL, NULL);
}

int do_subscribe(struct nlr_sock *s, const char *name)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_SUBSCRIBE, NLM_F_ACK);

	nlr_put_str(m, NLPUSH_A_NAME, name);
	return transact_free(s, m, NULL, NULL);
}

int do_subscribe_flags(struct nlr_sock *s, const char *name, uint32_t flags)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_SUBSCRIBE, NLM_F_ACK);

	nlr_put_str(m, NLPUSH_A_NAME, name);
	nlr_put_u32(m, NLPUSH_A_FLAGS, flags);
	return transact_free(s, m, NULL, NULL);
}

int do_ack_range(struct nlr_sock *s, uint64_t seq, uint32_t count,
		 const int32_t *status, const uint64_t *epoch)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);

	nlr_put_u64(m, NLPUSH_A_SEQ, seq);
	nlr_put_u32(m, NLPUSH_A_COUNT, count);
	if (status)
		nlr_put_s32(m, NLPUSH_A_STATUS, *status);
	if (epoch)
		nlr_put_u64(m, NLPUSH_A_EPOCH, *epoch);
	return transact_free(s, m, NULL, NULL);
}

int do_ack_epoch(struct nlr_sock *s, uint64_t seq, uint64_t epoch,
		 bool has_status, int32_t status)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);

	nlr_put_u64(m, NLPUSH_A_SEQ, seq);
	if (has_status)
		nlr_put_s32(m, NLPUSH_A_STATUS, status);
	nlr_put_u64(m, NLPUSH_A_EPOCH, epoch);
	return transact_free(s, m, NULL, NULL);
}

/* ACK; status/payload only when has_status / payload != NULL */
int do_ack(struct nlr_sock *s, uint64_t seq, bool has_status,
		  int32_t status, const void *payload, size_t len)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);

	nlr_put_u64(m, NLPUSH_A_SEQ, seq);
	if (has_status)
		nlr_put_s32(m, NLPUSH_A_STATUS, status);
	if (payload)
		nlr_put(m, NLPUSH_A_PAYLOAD, payload, len);
	return transact_free(s, m, NULL, NULL);
}


/*
 * The EMIT reply (cmd EMIT: SEQ, COUNT, EPOCH) and the REPLY of a request
 * (cmd REPLY, same nlmsg_seq: SEQ, EPOCH, ERROR, STATUS, PORTID,
 * PAYLOAD), in whichever order they come.
 */
void emit_cb(struct nlmsghdr *nlh, void *arg)
{
	struct emit_reply *r = arg;
	struct nlattr *tb[NLPUSH_A_MAX + 1];
	uint8_t cmd = nlr_genl_cmd(nlh);

	if (nlh->nlmsg_type != family_id)
		return;
	nlr_genl_attrs(nlh, tb, NLPUSH_A_MAX);
	if (cmd == NLPUSH_CMD_EMIT) {
		r->got = true;
		if (tb[NLPUSH_A_SEQ])
			r->seq = nlr_uint(tb[NLPUSH_A_SEQ]);
		if (tb[NLPUSH_A_COUNT])
			r->count = nlr_u32(tb[NLPUSH_A_COUNT]);
		r->has_epoch = tb[NLPUSH_A_EPOCH] &&
			       nlr_len(tb[NLPUSH_A_EPOCH]) == 8;
		if (r->has_epoch)
			r->epoch = nlr_uint(tb[NLPUSH_A_EPOCH]);
		/* v1 answered in the EMIT reply itself */
		r->bad_extra = tb[NLPUSH_A_STATUS] || tb[NLPUSH_A_PORTID] ||
			       tb[NLPUSH_A_PAYLOAD];
		return;
	}
	if (cmd != NLPUSH_CMD_REPLY)
		return;
	r->got_reply = true;
	r->n_replies++;
	r->reply_ns = nlr_now_ns();
	r->reply_nl_seq = nlh->nlmsg_seq;
	if (tb[NLPUSH_A_SEQ])
		r->reply_seq = nlr_uint(tb[NLPUSH_A_SEQ]);
	r->reply_has_epoch = tb[NLPUSH_A_EPOCH] &&
			     nlr_len(tb[NLPUSH_A_EPOCH]) == 8;
	if (r->reply_has_epoch)
		r->reply_epoch = nlr_uint(tb[NLPUSH_A_EPOCH]);
	r->has_error = tb[NLPUSH_A_ERROR];
	if (r->has_error)
		r->error = (int32_t)nlr_u32(tb[NLPUSH_A_ERROR]);
	r->has_status = tb[NLPUSH_A_STATUS];
	if (r->has_status)
		r->status = (int32_t)nlr_u32(tb[NLPUSH_A_STATUS]);
	r->has_portid = tb[NLPUSH_A_PORTID];
	if (r->has_portid)
		r->portid = nlr_u32(tb[NLPUSH_A_PORTID]);
	r->has_payload = tb[NLPUSH_A_PAYLOAD];
	r->len = 0;
	if (r->has_payload) {
		r->len = nlr_len(tb[NLPUSH_A_PAYLOAD]);
		if (r->len > (int)sizeof(r->payload))
			r->len = sizeof(r->payload);
		memcpy(r->payload, nlr_data(tb[NLPUSH_A_PAYLOAD]), r->len);
	}
}

int do_emit(struct nlr_sock *s, const struct emit_args *a,
	    struct emit_reply *r)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_EMIT, NLM_F_ACK);
	int err;

	if (a->has_type)
		nlr_put_u32(m, NLPUSH_A_TYPE, a->type);
	if (a->payload)
		nlr_put(m, NLPUSH_A_PAYLOAD, a->payload, a->len);
	if (a->has_count)
		nlr_put_u32(m, NLPUSH_A_COUNT, a->count);
	if (a->has_flags)
		nlr_put_u32(m, NLPUSH_A_FLAGS, a->flags);
	if (a->has_timeout)
		nlr_put_u32(m, NLPUSH_A_TIMEOUT_MS, a->timeout_ms);
	memset(r, 0, sizeof(*r));
	err = transact(s, m, emit_cb, r);
	r->nl_seq = s->seq;
	nlr_msg_free(m);
	return err;
}

int do_emit_count(struct nlr_sock *s, uint32_t type, const void *payload,
		  size_t len, uint32_t count, struct emit_reply *r)
{
	struct emit_args ea = {
		.has_type = true, .type = type, .payload = payload, .len = len,
		.has_count = true, .count = count,
	};

	return do_emit(s, &ea, r);
}

int wait_reply(struct nlr_sock *s, struct emit_reply *r, int timeout_ms)
{
	uint64_t deadline = nlr_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	/* answered in the EMIT reply (protocol v1): no REPLY will come */
	if (r->bad_extra && !r->got_reply)
		return -EPROTO;
	/* emit_cb() passes over what is not of the family (the EMIT's ack) */
	return nlr_wait_seq(s, r->nl_seq, deadline, &r->got_reply, emit_cb, r);
}

int do_request(struct nlr_sock *s, uint32_t type, const void *payload,
	       size_t len, uint32_t timeout_ms, struct emit_reply *r,
	       int wait_ms)
{
	struct emit_args ea;
	int err;

	memset(&ea, 0, sizeof(ea));
	ea.has_type = true;
	ea.type = type;
	ea.payload = payload;
	ea.len = len;
	ea.has_flags = true;
	ea.flags = NLPUSH_F_REPLY_WANTED;
	ea.has_timeout = true;
	ea.timeout_ms = timeout_ms;
	err = do_emit(s, &ea, r);
	if (err)
		return err;
	return wait_reply(s, r, wait_ms);
}

/* ------------------------------------------------------------------ */
/* events                                                               */


/* 0: complete event; -1: not an event; -2: event missing attributes */
int parse_event(struct nlmsghdr *nlh, struct event *ev)
{
	struct nlattr *tb[NLPUSH_A_MAX + 1];

	uint8_t cmd;

	if (nlh->nlmsg_type != family_id)
		return -1;
	/* live events are cmd EVENT, the messages of a REPLAY dump REPLAY */
	cmd = nlr_genl_cmd(nlh);
	if (cmd != NLPUSH_CMD_EVENT && cmd != NLPUSH_CMD_REPLAY)
		return -1;
	nlr_genl_attrs(nlh, tb, NLPUSH_A_MAX);
	if (!tb[NLPUSH_A_SEQ] || !tb[NLPUSH_A_TIMESTAMP_NS] ||
	    !tb[NLPUSH_A_TYPE] || !tb[NLPUSH_A_FLAGS] ||
	    !tb[NLPUSH_A_PAYLOAD] ||
	    nlr_len(tb[NLPUSH_A_SEQ]) != 8 ||
	    nlr_len(tb[NLPUSH_A_TIMESTAMP_NS]) != 8 ||
	    nlr_len(tb[NLPUSH_A_TYPE]) != 4 || nlr_len(tb[NLPUSH_A_FLAGS]) != 4)
		return -2;
	ev->seq = nlr_uint(tb[NLPUSH_A_SEQ]);
	ev->ts = nlr_uint(tb[NLPUSH_A_TIMESTAMP_NS]);
	ev->type = nlr_u32(tb[NLPUSH_A_TYPE]);
	ev->flags = nlr_u32(tb[NLPUSH_A_FLAGS]);
	ev->payload = nlr_data(tb[NLPUSH_A_PAYLOAD]);
	ev->len = nlr_len(tb[NLPUSH_A_PAYLOAD]);
	ev->cmd = cmd;
	ev->has_epoch = tb[NLPUSH_A_EPOCH] && nlr_len(tb[NLPUSH_A_EPOCH]) == 8;
	ev->epoch = ev->has_epoch ? nlr_uint(tb[NLPUSH_A_EPOCH]) : 0;
	return 0;
}

bool pattern_ok(uint64_t seq, const unsigned char *p, int len)
{
	int i;

	for (i = 0; i < len; i++)
		if (p[i] != (seq + i) % 251)
			return false;
	return true;
}

/*
 * Expected stream of events: consecutive seqs from @next, each checked
 * against the burst it belongs to.
 */


static void verr(struct verifier *v, const char *fmt, ...)
{
	va_list ap;

	if (v->first_err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(v->first_err, sizeof(v->first_err), fmt, ap);
	va_end(ap);
}

static struct burst *burst_of(struct verifier *v, uint64_t seq)
{
	int i;

	for (i = 0; i < v->nb; i++)
		if (seq >= v->b[i].first && seq < v->b[i].first + v->b[i].count)
			return &v->b[i];
	return NULL;
}

static void verify_event(struct verifier *v, const struct event *ev)
{
	struct burst *b;
	uint64_t now = nlr_now_ns();

	v->got++;
	if (ev->seq != v->next) {
		v->gaps++;
		verr(v, "seq %llu, expected %llu", (unsigned long long)ev->seq,
		     (unsigned long long)v->next);
	}
	v->next = ev->seq + 1;
	if (ev->ts < v->last_ts || ev->ts > now || ev->ts == 0) {
		v->bad_ts++;
		verr(v, "seq %llu: timestamp %llu after %llu (now %llu)",
		     (unsigned long long)ev->seq, (unsigned long long)ev->ts,
		     (unsigned long long)v->last_ts, (unsigned long long)now);
	}
	v->last_ts = ev->ts;
	if (!ev->has_epoch || ev->epoch != module_epoch || !module_epoch) {
		v->bad_epoch++;
		verr(v, "seq %llu: EPOCH %s%llx, module's %llx",
		     (unsigned long long)ev->seq,
		     ev->has_epoch ? "" : "missing, ",
		     (unsigned long long)ev->epoch,
		     (unsigned long long)module_epoch);
	}
	if (ev->cmd != ((v->want_flags & NLPUSH_F_REPLAYED) ?
			NLPUSH_CMD_REPLAY : NLPUSH_CMD_EVENT)) {
		v->bad_cmd++;
		verr(v, "seq %llu: genl cmd %u (flags %#x)",
		     (unsigned long long)ev->seq, ev->cmd, ev->flags);
	}
	if (ev->flags != v->want_flags) {
		v->bad_flags++;
		verr(v, "seq %llu: flags %#x, expected %#x",
		     (unsigned long long)ev->seq, ev->flags, v->want_flags);
	}
	b = burst_of(v, ev->seq);
	if (!b) {
		v->foreign++;
		verr(v, "seq %llu belongs to no burst",
		     (unsigned long long)ev->seq);
		return;
	}
	if (ev->type != b->type) {
		v->bad_type++;
		verr(v, "seq %llu: type %u, expected %u",
		     (unsigned long long)ev->seq, ev->type, b->type);
	}
	if (ev->len != (int)b->size) {
		v->bad_size++;
		verr(v, "seq %llu: %d payload bytes, expected %u",
		     (unsigned long long)ev->seq, ev->len, b->size);
		return;
	}
	if (b->fixed ? memcmp(ev->payload, b->fixed, b->size) :
		       !pattern_ok(ev->seq, ev->payload, ev->len)) {
		v->bad_payload++;
		verr(v, "seq %llu: payload corrupted",
		     (unsigned long long)ev->seq);
	}
}

void verifier_cb(struct nlmsghdr *nlh, void *arg)
{
	struct verifier *v = arg;
	struct event ev;
	int r = parse_event(nlh, &ev);

	if (r == -2) {
		v->incomplete++;
		verr(v, "event with missing/misfit attributes");
	}
	if (r == 0)
		verify_event(v, &ev);
}

bool verifier_clean(struct verifier *v)
{
	return !v->gaps && !v->bad_type && !v->bad_size && !v->bad_payload &&
	       !v->bad_ts && !v->bad_flags && !v->incomplete && !v->foreign &&
	       !v->bad_epoch && !v->bad_cmd;
}

void verifier_init(struct verifier *v, uint64_t first)
{
	memset(v, 0, sizeof(*v));
	v->next = first;
}

void verifier_add(struct verifier *v, uint64_t first, uint32_t count,
			 uint32_t size, uint32_t type,
			 const unsigned char *fixed)
{
	struct burst *b = &v->b[v->nb++];

	b->first = first;
	b->count = count;
	b->size = size;
	b->type = type;
	b->fixed = fixed;
}

/*
 * Read multicast events from @s until @want were seen or @timeout_ms of
 * silence; each one goes through @cb. Returns the number of events.
 */
uint64_t recv_events(struct nlr_sock *s, uint64_t want, int timeout_ms,
			    nlr_cb cb, void *arg)
{
	uint64_t got = 0;

	while (got < want) {
		struct nlmsghdr *nlh;
		ssize_t n = nlr_recv(s, timeout_ms);

		if (n == -ENOBUFS)
			continue;
		if (n <= 0)
			break;
		for (nlh = (struct nlmsghdr *)s->rx; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			struct event ev;

			if (parse_event(nlh, &ev) == -1)
				continue;
			got++;
			cb(nlh, arg);
		}
	}
	return got;
}

/* REPLAY dump; @seq 0 means "no SEQ attribute" */
/* REPLAY from @seq (0: no SEQ), at most @count events (0: no COUNT) */
int do_replay_count(struct nlr_sock *s, uint64_t seq, uint32_t count,
			   bool has_count, nlr_cb cb, void *arg)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_REPLAY, NLM_F_DUMP);

	if (seq)
		nlr_put_u64(m, NLPUSH_A_SEQ, seq);
	if (has_count)
		nlr_put_u32(m, NLPUSH_A_COUNT, count);
	return transact_free(s, m, cb, arg);
}

int do_replay(struct nlr_sock *s, uint64_t seq, nlr_cb cb, void *arg)
{
	return do_replay_count(s, seq, 0, false, cb, arg);
}

/* ------------------------------------------------------------------ */
/* debugfs of nlpush_test                                               */

int dbg_write(const char *file, const char *fmt, ...)
{
	char path[256], buf[128];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), DBG_DIR "/%s", file);
	return nlr_write_file(path, buf, len);
}

/* the file's text without trailing blanks and newlines */
int dbg_read(const char *file, char *buf, size_t size)
{
	char path[256];
	size_t n;
	int err;

	snprintf(path, sizeof(path), DBG_DIR "/%s", file);
	err = nlr_read_file(path, buf, size);
	if (err)
		return err;
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

/* parsed `request` file */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dbg_request(unsigned int size, unsigned int timeout_ms,
		       unsigned int type, struct req_result *r, char *line,
		       size_t linesz)
{
	const char *p;
	int err;

	memset(r, 0, sizeof(*r));
	err = dbg_write("request", "%u %u %u", size, timeout_ms, type);
	if (err)
		return err;
	err = dbg_read("request", line, linesz);
	if (err)
		return err;
	if (sscanf(line, "error=%d", &r->error) == 1) {
		r->is_error = true;
		r->parsed = true;
		return 0;
	}
	if (sscanf(line, "status=%d", &r->status) != 1)
		return 0;
	p = strstr(line, "reply=");
	if (!p)
		return 0;
	p += 6;
	while (hexval(p[0]) >= 0 && hexval(p[1]) >= 0 &&
	       r->reply_len < (int)sizeof(r->reply)) {
		r->reply[r->reply_len++] = hexval(p[0]) << 4 | hexval(p[1]);
		p += 2;
	}
	p = strstr(p, "latency_ns=");
	if (!p || sscanf(p, "latency_ns=%lld", &r->latency_ns) != 1)
		return 0;
	r->parsed = true;
	return 0;
}

/* ------------------------------------------------------------------ */
/* responder thread: answers reply-wanted events                        */


/* the reply the responder sends for a request payload */
int reply_for(const unsigned char *p, int len, unsigned char *out)
{
	int i;

	if (len == 0) {
		memcpy(out, "empty", 5);
		return 5;
	}
	for (i = 0; i < len; i++)
		out[i] = ~p[i];
	return len;
}

static void *responder_main(void *arg)
{
	struct responder *r = arg;
	static __thread unsigned char rep[NLPUSH_PAYLOAD_MAX];

	while (!r->stop) {
		struct nlmsghdr *nlh;
		ssize_t n = nlr_recv(r->sk, 50);

		if (n <= 0)
			continue;
		for (nlh = (struct nlmsghdr *)r->sk->rx; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			struct event ev;
			struct nlr_msg *m;
			int len;

			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nlh);

				pthread_mutex_lock(&r->lock);
				if (e->error) {
					r->ack_err++;
					r->last_ack_err = e->error;
				} else {
					r->ack_ok++;
				}
				pthread_mutex_unlock(&r->lock);
				continue;
			}
			if (parse_event(nlh, &ev))
				continue;
			pthread_mutex_lock(&r->lock);
			r->events++;
			if (ev.flags & NLPUSH_F_REPLY_WANTED)
				r->last_seq = ev.seq;
			pthread_mutex_unlock(&r->lock);
			if (r->mode == RESP_ACK_ALL) {
				/* plain ACK of everything, requests too */
				m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);
				nlr_put_u64(m, NLPUSH_A_SEQ, ev.seq);
				if (nlr_send(r->sk, m)) {
					pthread_mutex_lock(&r->lock);
					r->ack_err++;
					pthread_mutex_unlock(&r->lock);
				}
				nlr_msg_free(m);
				continue;
			}
			if (!(ev.flags & NLPUSH_F_REPLY_WANTED))
				continue;
			len = reply_for(ev.payload, ev.len, rep);
			pthread_mutex_lock(&r->lock);
			r->requests++;
			/* types >= 100 come from EMIT, with free payloads */
			if (ev.type < 100 &&
			    !pattern_ok(ev.seq, ev.payload, ev.len))
				r->bad_requests++;
			r->last_seq = ev.seq;
			r->last_req_len = ev.len < 256 ? ev.len : 256;
			memcpy(r->last_req, ev.payload, r->last_req_len);
			pthread_mutex_unlock(&r->lock);
			m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);
			nlr_put_u64(m, NLPUSH_A_SEQ, ev.seq);
			nlr_put_s32(m, NLPUSH_A_STATUS, r->status);
			nlr_put(m, NLPUSH_A_PAYLOAD, rep, len);
			if (nlr_send(r->sk, m)) {
				pthread_mutex_lock(&r->lock);
				r->ack_err++;
				pthread_mutex_unlock(&r->lock);
			}
			nlr_msg_free(m);
		}
	}
	return NULL;
}

void responder_start_mode(struct responder *r, struct nlr_sock *sk,
			  int32_t status, enum responder_mode mode)
{
	memset(r, 0, sizeof(*r));
	r->sk = sk;
	r->status = status;
	r->mode = mode;
	pthread_mutex_init(&r->lock, NULL);
	if (pthread_create(&r->th, NULL, responder_main, r)) {
		perror("pthread_create");
		exit(2);
	}
}

void responder_start(struct responder *r, struct nlr_sock *sk, int32_t status)
{
	responder_start_mode(r, sk, status, RESP_ANSWER);
}

struct nlr_sock *open_responder(const char *name, bool join)
{
	struct nlr_sock *s = nlr_open(BIG_RCVBUF);
	int err;

	if (join && nlr_join(s, events_grp))
		bail("joining events as root: %s", ename(-errno));
	err = do_subscribe_flags(s, name, NLPUSH_F_RESPONDER);
	if (err)
		check_err(err, 0, NULL, s, "SUBSCRIBE \"%s\" with "
			  "FLAGS=RESPONDER", name);
	return s;
}

bool wait_pending(struct nlr_sock *c, uint64_t n, int timeout_ms)
{
	struct stats st;
	int i;

	for (i = 0; i <= timeout_ms / 10; i++) {
		if (!get_stats(c, &st) && ST(&st, REQUESTS_PENDING) >= n)
			return true;
		msleep(10);
	}
	return false;
}

void responder_stop(struct responder *r)
{
	msleep(100);	/* let the last ack's answer arrive */
	r->stop = 1;
	pthread_join(r->th, NULL);
}

void hexdump_diag(const char *what, const unsigned char *p, int len)
{
	char buf[200];
	int i, o = 0;

	for (i = 0; i < len && o < (int)sizeof(buf) - 3; i++)
		o += snprintf(buf + o, sizeof(buf) - o, "%02x", p[i]);
	diag("%s (%d bytes): %s%s", what, len, buf, i < len ? "..." : "");
}

/* ------------------------------------------------------------------ */
/* tests                                                                */

bool check_err(int err, int want, const char *extack_sub,
		      struct nlr_sock *s, const char *fmt, ...)
{
	char name[256];
	va_list ap;
	bool ok;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	ok = err == want;
	/* "" means: any non-empty extack message */
	if (ok && extack_sub && s &&
	    (!s->extack[0] || !strstr(s->extack, extack_sub)))
		ok = false;
	check(ok, "%s", name);
	if (!ok)
		diag("expected %s%s%s%s, got %s (extack \"%s\")", ename(want),
		     extack_sub ? " with extack \"" : "",
		     extack_sub ? extack_sub : "", extack_sub ? "...\"" : "",
		     ename(err), s ? s->extack : "");
	else if (s && s->extack[0])
		vdiag("extack: \"%s\"", s->extack);
	return ok;
}

void live_cb(struct nlmsghdr *nlh, void *arg)
{
	struct live *lv = arg;
	struct event ev;

	if (parse_event(nlh, &ev))
		return;
	if (lv->n && ev.seq != lv->last + 1)
		lv->gap = true;
	if (!lv->n)
		lv->first = ev.seq;
	lv->last = ev.seq;
	lv->n++;
}
