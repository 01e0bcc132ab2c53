// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest - userspace selftest of the nlpush generic netlink family
 * and of its in-kernel producer nlpush_test.ko.
 *
 * Talks raw netlink (no libnl) so that every errno and extack is checked
 * exactly. Output is kselftest/TAP style; the last line is
 * "N passed, N failed[, N skipped]".
 *
 *   nlpush_selftest [-v] [all|family|delivery|reply|timeout|replay|
 *                         subscribers|concurrency|badattr]
 *   nlpush_selftest [-v] [--listen=0|1] unpriv
 *   nlpush_selftest [-v] [--ko-dir DIR] rmmod-under-load
 *
 * Needs nlpush.ko and nlpush_test.ko loaded, debugfs mounted and (except
 * for "unpriv", which drops its privileges itself when run as root) root.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "nlraw.h"	/* raw netlink; -I../include/uapi comes first */

#define DBG_DIR		"/sys/kernel/debug/nlpush_test"
#define PARAM_DIR	"/sys/module/nlpush/parameters"
#define BIG_RCVBUF	(16 * 1024 * 1024)
#define NOBODY		65534

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static int verbose;

/* ------------------------------------------------------------------ */
/* TAP output                                                           */

static int n_test, n_pass, n_fail, n_skip;

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void vdiag(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static bool check(bool ok, const char *fmt, ...)
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

static void skip(const char *why, const char *fmt, ...)
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

static int finish(void)
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
static void bail(const char *fmt, ...)
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

static const char *ename(int err)
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

static void msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000l };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* netlink plumbing (nlraw.h) and family resolution                     */

static uint16_t family_id;
static uint32_t events_grp;

static struct nlr_msg *cmd_new(uint8_t cmd, uint16_t flags)
{
	return nlr_msg_new(family_id, cmd, flags);
}

static int transact(struct nlr_sock *s, struct nlr_msg *m, nlr_cb cb,
		    void *arg)
{
	return nlr_transact(s, m, cb, arg, NULL, NULL);
}

/* send and free */
static int transact_free(struct nlr_sock *s, struct nlr_msg *m, nlr_cb cb,
			 void *arg)
{
	int err = transact(s, m, cb, arg);

	nlr_msg_free(m);
	return err;
}

/* resolve into the globals, bail out when the family is missing */
static void need_family(struct nlr_sock *s, bool report)
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
}

/* ------------------------------------------------------------------ */
/* stats, subscribers                                                   */

struct stats {
	uint64_t v[NLPUSH_STATS_A_MAX + 1];
	int len[NLPUSH_STATS_A_MAX + 1];	/* -1: absent */
	bool nest;
};

static void stats_cb(struct nlmsghdr *nlh, void *arg)
{
	struct stats *st = arg;
	struct nlattr *tb[NLPUSH_A_MAX + 1];
	struct nlattr *sb[NLPUSH_STATS_A_MAX + 1];
	int i;

	if (nlr_genl_cmd(nlh) != NLPUSH_CMD_GET_STATS)
		return;
	nlr_genl_attrs(nlh, tb, NLPUSH_A_MAX);
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

static int get_stats(struct nlr_sock *s, struct stats *st)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_GET_STATS, NLM_F_ACK);
	int i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i <= NLPUSH_STATS_A_MAX; i++)
		st->len[i] = -1;
	return transact_free(s, m, stats_cb, st);
}

/* stats snapshot that must succeed */
static void stats_now(struct nlr_sock *s, struct stats *st)
{
	int err = get_stats(s, st);

	if (err || !st->nest)
		bail("GET_STATS failed: %s", ename(err));
}

#define ST(st, x)	((st)->v[NLPUSH_STATS_A_##x])
#define DELTA(a, b, x)	(ST(b, x) - ST(a, x))

static bool check_delta(struct stats *a, struct stats *b, int attr,
			const char *name, uint64_t want)
{
	uint64_t d = b->v[attr] - a->v[attr];

	if (!check(d == want, "stats %s += %llu", name,
		   (unsigned long long)want))
		diag("%s moved by %llu", name, (unsigned long long)d);
	return d == want;
}

#define CHECK_DELTA(a, b, x, want) \
	check_delta(a, b, NLPUSH_STATS_A_##x, #x, want)

struct sub {
	uint32_t portid, pid;
	char name[64];
	uint64_t acks, last_acked, replies, subscribed_ns;
	bool complete;
};

struct sub_list {
	struct sub s[64];
	int n;
};

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

static int get_subs(struct nlr_sock *s, struct sub_list *l)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_GET_SUBSCRIBERS, NLM_F_DUMP);

	memset(l, 0, sizeof(*l));
	return transact_free(s, m, subs_cb, l);
}

static struct sub *find_sub(struct sub_list *l, uint32_t portid)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (l->s[i].portid == portid)
			return &l->s[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* commands                                                             */

static int do_simple(struct nlr_sock *s, uint8_t cmd)
{
	return transact_free(s, cmd_new(cmd, NLM_F_ACK), NULL, NULL);
}

static int do_subscribe(struct nlr_sock *s, const char *name)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_SUBSCRIBE, NLM_F_ACK);

	nlr_put_str(m, NLPUSH_A_NAME, name);
	return transact_free(s, m, NULL, NULL);
}

/* ACK; status/payload only when has_status / payload != NULL */
static int do_ack(struct nlr_sock *s, uint64_t seq, bool has_status,
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

struct emit_reply {
	bool got;
	uint64_t seq;
	uint32_t count;
	bool has_status, has_payload, has_portid;
	int32_t status;
	uint32_t portid;
	unsigned char payload[NLPUSH_PAYLOAD_MAX];
	int len;
};

static void emit_cb(struct nlmsghdr *nlh, void *arg)
{
	struct emit_reply *r = arg;
	struct nlattr *tb[NLPUSH_A_MAX + 1];

	if (nlr_genl_cmd(nlh) != NLPUSH_CMD_EMIT)
		return;
	nlr_genl_attrs(nlh, tb, NLPUSH_A_MAX);
	r->got = true;
	if (tb[NLPUSH_A_SEQ])
		r->seq = nlr_uint(tb[NLPUSH_A_SEQ]);
	if (tb[NLPUSH_A_COUNT])
		r->count = nlr_u32(tb[NLPUSH_A_COUNT]);
	r->has_status = tb[NLPUSH_A_STATUS];
	if (r->has_status)
		r->status = (int32_t)nlr_u32(tb[NLPUSH_A_STATUS]);
	r->has_portid = tb[NLPUSH_A_PORTID];
	if (r->has_portid)
		r->portid = nlr_u32(tb[NLPUSH_A_PORTID]);
	r->has_payload = tb[NLPUSH_A_PAYLOAD];
	if (r->has_payload) {
		r->len = nlr_len(tb[NLPUSH_A_PAYLOAD]);
		if (r->len > (int)sizeof(r->payload))
			r->len = sizeof(r->payload);
		memcpy(r->payload, nlr_data(tb[NLPUSH_A_PAYLOAD]), r->len);
	}
}

struct emit_args {
	bool has_type;
	uint32_t type;
	const void *payload;	/* NULL: no PAYLOAD attribute */
	size_t len;
	bool has_count;
	uint32_t count;
	bool has_flags;
	uint32_t flags;
	bool has_timeout;
	uint32_t timeout_ms;
};

static int do_emit(struct nlr_sock *s, const struct emit_args *a,
		   struct emit_reply *r)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_EMIT, NLM_F_ACK);

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
	return transact_free(s, m, emit_cb, r);
}

/* ------------------------------------------------------------------ */
/* events                                                               */

struct event {
	uint64_t seq, ts;
	uint32_t type, flags;
	const unsigned char *payload;
	int len;
};

/* 0: complete event; -1: not an event; -2: event missing attributes */
static int parse_event(struct nlmsghdr *nlh, struct event *ev)
{
	struct nlattr *tb[NLPUSH_A_MAX + 1];

	if (nlh->nlmsg_type != family_id ||
	    nlr_genl_cmd(nlh) != NLPUSH_CMD_EVENT)
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
	return 0;
}

static bool pattern_ok(uint64_t seq, const unsigned char *p, int len)
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
struct burst {
	uint64_t first;		/* seq of the first event */
	uint32_t count, size, type;
	const unsigned char *fixed;	/* NULL: test-module pattern */
};

struct verifier {
	struct burst b[16];
	int nb;
	uint64_t next;		/* next expected seq */
	uint64_t got;
	uint64_t last_ts;
	uint32_t want_flags;
	/* errors */
	uint64_t gaps, bad_type, bad_size, bad_payload, bad_ts, bad_flags;
	uint64_t incomplete, foreign;
	char first_err[160];
};

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

static void verifier_cb(struct nlmsghdr *nlh, void *arg)
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

static bool verifier_clean(struct verifier *v)
{
	return !v->gaps && !v->bad_type && !v->bad_size && !v->bad_payload &&
	       !v->bad_ts && !v->bad_flags && !v->incomplete && !v->foreign;
}

static void verifier_init(struct verifier *v, uint64_t first)
{
	memset(v, 0, sizeof(*v));
	v->next = first;
}

static void verifier_add(struct verifier *v, uint64_t first, uint32_t count,
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
static uint64_t recv_events(struct nlr_sock *s, uint64_t want, int timeout_ms,
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
static int do_replay_count(struct nlr_sock *s, uint64_t seq, uint32_t count,
			   bool has_count, nlr_cb cb, void *arg)
{
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_REPLAY, NLM_F_DUMP);

	if (seq)
		nlr_put_u64(m, NLPUSH_A_SEQ, seq);
	if (has_count)
		nlr_put_u32(m, NLPUSH_A_COUNT, count);
	return transact_free(s, m, cb, arg);
}

static int do_replay(struct nlr_sock *s, uint64_t seq, nlr_cb cb, void *arg)
{
	return do_replay_count(s, seq, 0, false, cb, arg);
}

/* ------------------------------------------------------------------ */
/* debugfs of nlpush_test                                               */

static int dbg_write(const char *file, const char *fmt, ...)
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
static int dbg_read(const char *file, char *buf, size_t size)
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
struct req_result {
	bool is_error;
	int error;
	int status;
	unsigned char reply[NLPUSH_PAYLOAD_MAX];
	int reply_len;
	long long latency_ns;
	bool parsed;
};

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

static int dbg_request(unsigned int size, unsigned int timeout_ms,
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

struct responder {
	struct nlr_sock *sk;
	pthread_t th;
	pthread_mutex_t lock;
	volatile int stop;
	int32_t status;
	/* results, under lock */
	int requests;
	int bad_requests;	/* test-module request with a bad pattern */
	int ack_ok, ack_err, last_ack_err;
	uint64_t last_seq;
	unsigned char last_req[256];
	int last_req_len;
	uint64_t events;
};

/* the reply the responder sends for a request payload */
static int reply_for(const unsigned char *p, int len, unsigned char *out)
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
			pthread_mutex_unlock(&r->lock);
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

static void responder_start(struct responder *r, struct nlr_sock *sk,
			    int32_t status)
{
	memset(r, 0, sizeof(*r));
	r->sk = sk;
	r->status = status;
	pthread_mutex_init(&r->lock, NULL);
	if (pthread_create(&r->th, NULL, responder_main, r)) {
		perror("pthread_create");
		exit(2);
	}
}

static void responder_stop(struct responder *r)
{
	msleep(100);	/* let the last ack's answer arrive */
	r->stop = 1;
	pthread_join(r->th, NULL);
}

static void hexdump_diag(const char *what, const unsigned char *p, int len)
{
	char buf[200];
	int i, o = 0;

	for (i = 0; i < len && o < (int)sizeof(buf) - 3; i++)
		o += snprintf(buf + o, sizeof(buf) - o, "%02x", p[i]);
	diag("%s (%d bytes): %s%s", what, len, buf, i < len ? "..." : "");
}

/* ------------------------------------------------------------------ */
/* tests                                                                */

static bool check_err(int err, int want, const char *extack_sub,
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

static void test_family(struct nlr_sock *c)
{
	static const struct {
		int cmd;
		bool admin;
		bool dump;
		const char *name;
	} ops[] = {
		{ NLPUSH_CMD_ACK, true, false, "ACK" },
		{ NLPUSH_CMD_SUBSCRIBE, true, false, "SUBSCRIBE" },
		{ NLPUSH_CMD_UNSUBSCRIBE, true, false, "UNSUBSCRIBE" },
		{ NLPUSH_CMD_GET_STATS, false, false, "GET_STATS" },
		{ NLPUSH_CMD_GET_SUBSCRIBERS, false, true, "GET_SUBSCRIBERS" },
		{ NLPUSH_CMD_REPLAY, false, true, "REPLAY" },
		{ NLPUSH_CMD_EMIT, true, false, "EMIT" },
	};
	struct nlr_family fi;
	struct stats st;
	unsigned int i;
	bool ok;
	int err;

	need_family(c, true);

	err = nlr_resolve_family(c, &fi);
	ok = !err;
	for (i = 0; ok && i < ARRAY_SIZE(ops); i++) {
		uint32_t f = fi.op_flags[ops[i].cmd];
		bool admin = f & GENL_ADMIN_PERM;
		bool dump = f & GENL_CMD_CAP_DUMP;

		if (!fi.op_found[ops[i].cmd]) {
			diag("op %s not advertised", ops[i].name);
			ok = false;
		} else if (admin != ops[i].admin ||
			   (ops[i].dump && !dump)) {
			diag("op %s flags %#x", ops[i].name, f);
			ok = false;
		}
	}
	check(ok, "ops advertised with the right admin-perm/dump flags");

	err = get_stats(c, &st);
	ok = !err && st.nest;
	for (i = NLPUSH_STATS_A_PUBLISHED; ok && i <= NLPUSH_STATS_A_MAX; i++) {
		int want = (i == NLPUSH_STATS_A_REQUESTS_PENDING ||
			    i == NLPUSH_STATS_A_SUBSCRIBERS ||
			    i == NLPUSH_STATS_A_RING_EVENTS ||
			    i == NLPUSH_STATS_A_RING_MAX_EVENTS) ? 4 : 8;

		if (st.len[i] != want) {
			diag("stats attr %u has length %d, expected %d", i,
			     st.len[i], want);
			ok = false;
		}
	}
	if (!check(ok, "GET_STATS returns every counter with its type"))
		diag("GET_STATS: %s", ename(err));
	check(!err && ST(&st, NEXT_SEQ) >= 1 &&
	      ST(&st, OLDEST_SEQ) <= ST(&st, NEXT_SEQ) &&
	      ST(&st, RING_EVENTS) == ST(&st, NEXT_SEQ) - ST(&st, OLDEST_SEQ) &&
	      ST(&st, RING_EVENTS) <= ST(&st, RING_MAX_EVENTS) &&
	      ST(&st, RING_BYTES) <= ST(&st, RING_MAX_BYTES),
	      "ring state consistent (oldest <= next, "
	      "events == next - oldest)");
	vdiag("next_seq %llu oldest %llu ring %llu/%llu bytes %llu/%llu",
	      (unsigned long long)ST(&st, NEXT_SEQ),
	      (unsigned long long)ST(&st, OLDEST_SEQ),
	      (unsigned long long)ST(&st, RING_EVENTS),
	      (unsigned long long)ST(&st, RING_MAX_EVENTS),
	      (unsigned long long)ST(&st, RING_BYTES),
	      (unsigned long long)ST(&st, RING_MAX_BYTES));

	/* init_net only */
	{
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			struct nlr_family f2;
			struct nlr_sock *s;

			if (unshare(CLONE_NEWNET))
				_exit(3);
			s = nlr_open(0);
			_exit(nlr_resolve_family(s, &f2) == -ENOENT ? 0 : 1);
		}
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
			skip("unshare(CLONE_NEWNET) failed",
			     "family invisible in another network namespace");
		else
			check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "family invisible in another network namespace");
	}

	err = dbg_read("request", (char[128]){ 0 }, 128);
	check(!access(DBG_DIR "/emit", W_OK) &&
	      !access(DBG_DIR "/emit_atomic", W_OK) &&
	      !access(DBG_DIR "/request", W_OK) && !err,
	      "nlpush_test debugfs files present");
}

#define NLISTEN 3

static void test_delivery(struct nlr_sock *c)
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
	memset(&ea, 0, sizeof(ea));
	ea.has_type = true;
	ea.type = 13;
	ea.payload = fixed;
	ea.len = sizeof(fixed);
	ea.has_count = true;
	ea.count = 100;
	err = do_emit(c, &ea, er);
	if (!check(!err && er->got && er->seq == seq && er->count == 100,
		   "EMIT COUNT=100 replies SEQ=first and COUNT"))
		diag("err %s, reply %d seq %llu (want %llu) count %u",
		     ename(err), er->got, (unsigned long long)er->seq,
		     (unsigned long long)seq, er->count);
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

static void test_reply(struct nlr_sock *c)
{
	struct req_result *rr = nlr_alloc(sizeof(*rr));
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	unsigned char want[256];
	struct responder r;
	struct emit_args ea;
	struct stats s0, s1, s2;
	char line[1024];
	struct nlr_sock *rs;
	uint64_t req_seq, plain_seq;
	int err, wlen;
	bool ok;

	rs = nlr_open(BIG_RCVBUF);
	if (nlr_join(rs, events_grp))
		bail("join");
	stats_now(c, &s0);

	responder_start(&r, rs, 42);

	/* 1: debugfs request, 16 bytes */
	err = dbg_request(16, 10000, 21, rr, line, sizeof(line));
	pthread_mutex_lock(&r.lock);
	wlen = reply_for(r.last_req, r.last_req_len, want);
	req_seq = r.last_seq;
	pthread_mutex_unlock(&r.lock);
	ok = !err && rr->parsed && !rr->is_error && rr->status == 42 &&
	     rr->reply_len == wlen && !memcmp(rr->reply, want, wlen) &&
	     rr->latency_ns > 0 && r.last_req_len == 16;
	check(ok, "debugfs request answered: status and reply payload "
	      "round-trip");
	if (!ok) {
		diag("err %s, line \"%s\"", ename(err), line);
		hexdump_diag("request payload seen by the listener",
			     r.last_req, r.last_req_len);
	}
	vdiag("request line: %s", line);

	/* 2: debugfs request with an empty payload, negative status */
	r.status = -5;
	err = dbg_request(0, 10000, 22, rr, line, sizeof(line));
	ok = !err && rr->parsed && !rr->is_error && rr->status == -5 &&
	     rr->reply_len == 5 && !memcmp(rr->reply, "empty", 5);
	if (!check(ok, "debugfs request with empty payload, negative status"))
		diag("err %s, line \"%s\"", ename(err), line);

	/* 3: EMIT with REPLY_WANTED */
	r.status = 7;
	memset(&ea, 0, sizeof(ea));
	ea.has_type = true;
	ea.type = 123;
	ea.payload = "ping-nlpush";
	ea.len = 11;
	ea.has_flags = true;
	ea.flags = NLPUSH_F_REPLY_WANTED;
	ea.has_timeout = true;
	ea.timeout_ms = 10000;
	err = do_emit(c, &ea, er);
	wlen = reply_for((const unsigned char *)"ping-nlpush", 11, want);
	ok = !err && er->got && er->count == 1 && er->has_status &&
	     er->status == 7 && er->has_payload && er->len == wlen &&
	     !memcmp(er->payload, want, wlen) && er->has_portid &&
	     er->portid == rs->portid;
	if (!check(ok, "EMIT REPLY_WANTED returns STATUS, PAYLOAD, PORTID"))
		diag("err %s (%s) got %d count %u status %d/%d payload %d "
		     "len %d portid %u (want %u)", ename(err), c->extack,
		     er->got, er->count, er->has_status, er->status,
		     er->has_payload, er->len, er->portid, rs->portid);
	pthread_mutex_lock(&r.lock);
	check(er->seq == r.last_seq && er->seq > req_seq,
	      "EMIT REPLY_WANTED reply SEQ is the request's seq");
	pthread_mutex_unlock(&r.lock);

	responder_stop(&r);
	check(r.requests == 3 && r.bad_requests == 0 && r.ack_ok == 3 &&
	      r.ack_err == 0,
	      "listener saw 3 requests with intact payloads, its 3 ACKs "
	      "accepted");
	if (r.requests != 3 || r.ack_ok != 3)
		diag("requests %d bad %d ack_ok %d ack_err %d (last %s)",
		     r.requests, r.bad_requests, r.ack_ok, r.ack_err,
		     ename(r.last_ack_err));
	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, REQUESTS, 3);
	CHECK_DELTA(&s0, &s1, REPLIES, 3);
	CHECK_DELTA(&s0, &s1, ACKS, 3);
	check(ST(&s1, REQUESTS_PENDING) == 0, "no request pending");

	/* second answers for an answered request */
	err = do_ack(c, er->seq, true, 1, NULL, 0);
	check_err(err, -ENOENT, "no pending request", c,
		  "second ACK (with STATUS) for an answered request -> ENOENT");
	err = do_ack(c, er->seq, false, 0, "x", 1);
	check_err(err, -ENOENT, "no pending request", c,
		  "second ACK (with PAYLOAD) -> ENOENT");
	if (ST(&s1, RING_MAX_EVENTS)) {
		err = do_ack(c, er->seq, false, 0, NULL, 0);
		check_err(err, -ENOENT, "no pending request", c,
			  "plain ACK for an answered request still in the "
			  "ring -> ENOENT");
	} else {
		skip("ring disabled", "plain ACK for an answered request");
	}

	/* plain ack of an ordinary event */
	memset(&ea, 0, sizeof(ea));
	err = do_emit(c, &ea, er);
	plain_seq = er->seq;
	err = err ? err : do_ack(c, plain_seq, false, 0, NULL, 0);
	check_err(err, 0, NULL, c, "plain ACK of an ordinary event accepted");
	err = do_ack(c, plain_seq, true, 0, NULL, 0);
	check_err(err, -ENOENT, "no pending request", c,
		  "ACK with STATUS for an event that wanted no reply -> "
		  "ENOENT");
	stats_now(c, &s2);
	CHECK_DELTA(&s1, &s2, ACKS, 1);
	CHECK_DELTA(&s1, &s2, ACKS_REJECTED,
		    ST(&s1, RING_MAX_EVENTS) ? 4 : 3);
	CHECK_DELTA(&s1, &s2, REPLIES, 0);

	/* sequence numbers that never existed */
	err = do_ack(c, ST(&s2, NEXT_SEQ), false, 0, NULL, 0);
	check_err(err, -EINVAL, "never published", c,
		  "ACK for the next (unpublished) seq -> EINVAL");
	err = do_ack(c, ST(&s2, NEXT_SEQ) + 1000000, true, 0, NULL, 0);
	check_err(err, -EINVAL, "never published", c,
		  "ACK for a far future seq -> EINVAL");
	err = do_ack(c, 0, false, 0, NULL, 0);
	check_err(err, -EINVAL, "never published", c,
		  "ACK for seq 0 -> EINVAL");
	{
		struct nlr_msg *m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);

		nlr_put_s32(m, NLPUSH_A_STATUS, 0);
		err = transact_free(c, m, NULL, NULL);
		ok = err == -EINVAL &&
		     (c->miss_type == NLPUSH_A_SEQ || c->extack[0]);
		if (!check(ok, "ACK without SEQ -> EINVAL naming the missing "
			   "attribute"))
			diag("got %s, miss_type %d, extack \"%s\"", ename(err),
			     c->miss_type, c->extack);
	}
	nlr_close(rs);
	free(rr);
	free(er);
}

/* a requester killed while it waits leaves nothing pending behind */
static void test_killed_requesters(struct nlr_sock *c)
{
	static const char *const how[] = { "EMIT", "debugfs request" };
	struct stats s0, s1;
	int k, i, status;
	pid_t pid;
	bool ok;

	for (k = 0; k < 2; k++) {
		stats_now(c, &s0);
		pid = fork();
		if (pid == 0) {
			if (k == 0) {
				struct nlr_sock *s = nlr_open(0);
				struct emit_reply *er = nlr_alloc(sizeof(*er));
				struct emit_args ea = {
					.has_flags = true,
					.flags = NLPUSH_F_REPLY_WANTED,
					.has_timeout = true,
					.timeout_ms = 30000,
				};

				s->timeout_ms = 60000;
				do_emit(s, &ea, er);
			} else {
				dbg_write("request", "4 30000 34");
			}
			_exit(0);
		}
		for (i = 0; i < 500; i++) {
			stats_now(c, &s1);
			if (ST(&s1, REQUESTS_PENDING) > ST(&s0, REQUESTS_PENDING))
				break;
			msleep(10);
		}
		ok = ST(&s1, REQUESTS_PENDING) == ST(&s0, REQUESTS_PENDING) + 1;
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ok = ok && WIFSIGNALED(status);
		for (i = 0; i < 200; i++) {
			stats_now(c, &s1);
			if (ST(&s1, REQUESTS_PENDING) == ST(&s0, REQUESTS_PENDING))
				break;
			msleep(10);
		}
		ok = ok &&
		     ST(&s1, REQUESTS_PENDING) == ST(&s0, REQUESTS_PENDING) &&
		     DELTA(&s0, &s1, REQUESTS) == 1 &&
		     DELTA(&s0, &s1, REQUEST_TIMEOUTS) == 0 &&
		     DELTA(&s0, &s1, REPLIES) == 0;
		if (!check(ok, "SIGKILLed %s requester: request withdrawn, "
			   "not counted as timeout", how[k]))
			diag("pending %llu -> %llu, requests +%llu, timeouts "
			     "+%llu",
			     (unsigned long long)ST(&s0, REQUESTS_PENDING),
			     (unsigned long long)ST(&s1, REQUESTS_PENDING),
			     (unsigned long long)DELTA(&s0, &s1, REQUESTS),
			     (unsigned long long)DELTA(&s0, &s1,
						       REQUEST_TIMEOUTS));
		/* its event is still in the ring, flagged REPLY_WANTED */
		if (ST(&s1, RING_MAX_EVENTS)) {
			int err = do_ack(c, ST(&s1, NEXT_SEQ) - 1, true, 0,
					 NULL, 0);

			check_err(err, -ENOENT, "no pending request", c,
				  "ACK for the killed %s -> ENOENT", how[k]);
		}
	}
}

static void test_timeout(struct nlr_sock *c)
{
	struct req_result *rr = nlr_alloc(sizeof(*rr));
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct stats s0, s1;
	struct emit_args ea;
	char line[256];
	struct nlr_sock *l;
	uint64_t t0, el;
	int err;

	l = nlr_open(BIG_RCVBUF);
	if (nlr_join(l, events_grp))
		bail("join");
	stats_now(c, &s0);

	t0 = nlr_now_ns();
	err = dbg_request(8, 300, 31, rr, line, sizeof(line));
	el = (nlr_now_ns() - t0) / 1000000;
	if (!check(!err && rr->is_error && rr->error == -ETIMEDOUT,
		   "unanswered debugfs request -> error=-110"))
		diag("err %s, line \"%s\"", ename(err), line);
	check(el >= 280 && el < 10000,
	      "request timed out after its 300 ms (%llu ms)",
	      (unsigned long long)el);

	memset(&ea, 0, sizeof(ea));
	ea.has_flags = true;
	ea.flags = NLPUSH_F_REPLY_WANTED;
	ea.has_timeout = true;
	ea.timeout_ms = 300;
	ea.payload = "t";
	ea.len = 1;
	t0 = nlr_now_ns();
	err = do_emit(c, &ea, er);
	el = (nlr_now_ns() - t0) / 1000000;
	check_err(err, -ETIMEDOUT, NULL, c,
		  "unanswered EMIT REPLY_WANTED -> ETIMEDOUT");
	check(el >= 280 && el < 10000, "EMIT honoured TIMEOUT_MS 300 (%llu ms)",
	      (unsigned long long)el);

	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, REQUESTS, 2);
	CHECK_DELTA(&s0, &s1, REQUEST_TIMEOUTS, 2);
	CHECK_DELTA(&s0, &s1, REPLIES, 0);
	check(ST(&s1, REQUESTS_PENDING) == 0, "no request pending after "
	      "timeouts");

	/* a late answer for the timed-out request */
	{
		struct event ev;
		uint64_t late = 0;
		ssize_t n;

		while ((n = nlr_recv(l, 200)) > 0) {
			struct nlmsghdr *nlh = (struct nlmsghdr *)l->rx;

			if (!parse_event(nlh, &ev) &&
			    (ev.flags & NLPUSH_F_REPLY_WANTED))
				late = ev.seq;
		}
		err = late ? do_ack(c, late, true, 0, NULL, 0) : -ENODATA;
		check_err(err, -ENOENT, "no pending request", c,
			  "late ACK after the timeout -> ENOENT");
	}
	test_killed_requesters(c);
	nlr_close(l);

	/* nobody listening */
	err = dbg_request(8, 300, 32, rr, line, sizeof(line));
	if (!check(!err && rr->is_error && rr->error == -ENOTCONN,
		   "debugfs request with nobody joined -> error=-107"))
		diag("err %s, line \"%s\"", ename(err), line);
	err = do_emit(c, &ea, er);
	check_err(err, -ENOTCONN, NULL, c,
		  "EMIT REPLY_WANTED with nobody joined -> ENOTCONN");
	free(rr);
	free(er);
}

/* collects seqs of live events on the overrun listener */
struct live {
	uint64_t first, last, n;
	bool gap;
};

static void live_cb(struct nlmsghdr *nlh, void *arg)
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
	stats_now(c, &s1);
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

static void test_replay(struct nlr_sock *c)
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

	/* the first recv reports the overrun */
	n = recv(o->fd, o->rx, NLR_RX_MAX, MSG_DONTWAIT);
	if (!check(n < 0 && errno == ENOBUFS,
		   "overrun listener: recv() fails with ENOBUFS"))
		diag("recv returned %zd (%s)", n, n < 0 ? ename(errno) : "");
	/* whatever was queued before the overrun */
	recv_events(o, 2000, 200, live_cb, &lv);
	check(!lv.gap && (!lv.n || lv.first == s_first) && lv.n < 2000,
	      "overrun listener: %llu queued events before the loss, in "
	      "order", (unsigned long long)lv.n);

	stats_now(c, &s1);
	check(DELTA(&s0, &s1, DELIVERY_ERRORS) >= 1,
	      "stats DELIVERY_ERRORS counts the overrun");
	if (!check(DELTA(&s0, &s1, NO_LISTENERS) == 0,
		   "stats NO_LISTENERS unchanged (a listener was joined)"))
		diag("no_listeners +%llu",
		     (unsigned long long)DELTA(&s0, &s1, NO_LISTENERS));
	if (!check(DELTA(&s0, &s1, DELIVERED) +
		   DELTA(&s0, &s1, DELIVERY_ERRORS) == 2000,
		   "stats DELIVERED + DELIVERY_ERRORS == 2000"))
		diag("delivered +%llu, delivery_errors +%llu",
		     (unsigned long long)DELTA(&s0, &s1, DELIVERED),
		     (unsigned long long)DELTA(&s0, &s1, DELIVERY_ERRORS));
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
	ok = ST(&s3, OLDEST_SEQ) > s_first &&
	     ST(&s3, RING_EVENTS) == ST(&s3, NEXT_SEQ) - ST(&s3, OLDEST_SEQ) &&
	     ST(&s3, RING_EVENTS) <= ST(&s3, RING_MAX_EVENTS) &&
	     ST(&s3, RING_BYTES) <= ST(&s3, RING_MAX_BYTES);
	if (!check(ok, "ring dropped the oldest events within its limits"))
		diag("oldest %llu next %llu events %llu/%llu bytes %llu/%llu",
		     (unsigned long long)ST(&s3, OLDEST_SEQ),
		     (unsigned long long)ST(&s3, NEXT_SEQ),
		     (unsigned long long)ST(&s3, RING_EVENTS),
		     (unsigned long long)ST(&s3, RING_MAX_EVENTS),
		     (unsigned long long)ST(&s3, RING_BYTES),
		     (unsigned long long)ST(&s3, RING_MAX_BYTES));
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

static void test_subscribers(struct nlr_sock *c)
{
	struct req_result *rr = nlr_alloc(sizeof(*rr));
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct sub_list *sl = nlr_alloc(sizeof(*sl));
	struct stats s0, s1, s2;
	struct emit_args ea;
	struct responder r;
	struct nlr_sock *s1k, *s2k;
	struct sub *sb;
	char line[256];
	int err, pfd[2], i;
	uint64_t t0, req_seq;
	uint32_t child_port = 0;
	pid_t pid;
	bool ok;

	stats_now(c, &s0);
	s1k = nlr_open(BIG_RCVBUF);
	t0 = nlr_now_ns();
	err = do_subscribe(s1k, "selftest-sub1");
	check_err(err, 0, NULL, s1k, "SUBSCRIBE with a name");
	err = do_subscribe(s1k, "selftest-again");
	check_err(err, -EEXIST, NULL, s1k, "second SUBSCRIBE -> EEXIST");
	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, SUBSCRIBERS, 1);

	err = get_subs(c, sl);
	sb = find_sub(sl, s1k->portid);
	ok = !err && sb && sb->complete && !strcmp(sb->name, "selftest-sub1") &&
	     sb->pid == (uint32_t)getpid() && sb->acks == 0 &&
	     sb->replies == 0 && sb->subscribed_ns >= t0 &&
	     sb->subscribed_ns <= nlr_now_ns();
	if (!check(ok, "GET_SUBSCRIBERS shows name, portid, pid, counters, "
		   "subscribe time"))
		diag("err %s, n %d, found %d: name \"%s\" pid %u acks %llu",
		     ename(err), sl->n, !!sb, sb ? sb->name : "",
		     sb ? sb->pid : 0,
		     (unsigned long long)(sb ? sb->acks : 0));

	/* plain acks counted for the subscriber */
	memset(&ea, 0, sizeof(ea));
	err = do_emit(c, &ea, er);
	err = err ? err : do_ack(s1k, er->seq, false, 0, NULL, 0);
	err = err ? err : do_ack(s1k, er->seq, false, 0, NULL, 0);
	check_err(err, 0, NULL, s1k, "subscriber sends two plain ACKs");

	/* and its reply to a request */
	if (nlr_join(s1k, events_grp))
		bail("join");
	responder_start(&r, s1k, 3);
	err = dbg_request(4, 10000, 33, rr, line, sizeof(line));
	responder_stop(&r);
	req_seq = r.last_seq;
	if (!check(!err && rr->parsed && !rr->is_error && rr->status == 3,
		   "subscriber answers a request"))
		diag("err %s line \"%s\"", ename(err), line);
	err = get_subs(c, sl);
	sb = find_sub(sl, s1k->portid);
	ok = !err && sb && sb->acks == 3 && sb->replies == 1 &&
	     sb->last_acked == req_seq;
	if (!check(ok, "per-subscriber ACKS 3, REPLIES 1, LAST_ACKED_SEQ"))
		diag("err %s found %d acks %llu replies %llu last %llu "
		     "(want %llu)", ename(err), !!sb,
		     (unsigned long long)(sb ? sb->acks : 0),
		     (unsigned long long)(sb ? sb->replies : 0),
		     (unsigned long long)(sb ? sb->last_acked : 0),
		     (unsigned long long)req_seq);

	/* closing the socket unregisters */
	i = s1k->portid;
	nlr_close(s1k);
	err = get_subs(c, sl);
	check(!err && !find_sub(sl, i), "closing the socket removes the "
	      "subscriber");
	stats_now(c, &s2);
	CHECK_DELTA(&s0, &s2, SUBSCRIBERS, 0);

	/* UNSUBSCRIBE */
	s2k = nlr_open(0);
	err = do_subscribe(s2k, "selftest-sub2");
	err = err ? err : do_simple(s2k, NLPUSH_CMD_UNSUBSCRIBE);
	check_err(err, 0, NULL, s2k, "SUBSCRIBE then UNSUBSCRIBE");
	err = get_subs(c, sl);
	check(!err && !find_sub(sl, s2k->portid),
	      "UNSUBSCRIBE removes the subscriber");
	err = do_simple(s2k, NLPUSH_CMD_UNSUBSCRIBE);
	check_err(err, -ENOENT, NULL, s2k, "UNSUBSCRIBE when not subscribed "
		  "-> ENOENT");
	err = do_subscribe(s2k, "selftest-sub2b");
	check_err(err, 0, NULL, s2k, "SUBSCRIBE again after UNSUBSCRIBE");
	nlr_close(s2k);

	/* a killed process vanishes */
	if (pipe(pfd))
		bail("pipe");
	pid = fork();
	if (pid < 0)
		bail("fork");
	if (pid == 0) {
		struct nlr_sock *k = nlr_open(0);
		uint32_t port = do_subscribe(k, "selftest-child") ? 0 :
				k->portid;

		close(pfd[0]);
		if (write(pfd[1], &port, sizeof(port)) != sizeof(port))
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	if (read(pfd[0], &child_port, sizeof(child_port)) !=
	    sizeof(child_port))
		child_port = 0;
	close(pfd[0]);
	err = get_subs(c, sl);
	sb = find_sub(sl, child_port);
	check(child_port && !err && sb && sb->pid == (uint32_t)pid &&
	      !strcmp(sb->name, "selftest-child"),
	      "forked child subscribed (pid %d)", pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (i = 0; i < 50; i++) {
		err = get_subs(c, sl);
		if (!err && !find_sub(sl, child_port))
			break;
		msleep(20);
	}
	check(!err && !find_sub(sl, child_port),
	      "SIGKILLed subscriber disappears");
	stats_now(c, &s2);
	CHECK_DELTA(&s0, &s2, SUBSCRIBERS, 0);
	free(rr);
	free(er);
	free(sl);
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
	ok = ok && ev.flags == 0 && ev.ts >= cc->last_ts;
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
	struct emit_args ea;

	memset(&ea, 0, sizeof(ea));
	ea.has_type = true;
	ea.type = 180 + q->idx;
	ea.payload = q->payload;
	ea.len = q->len;
	ea.has_flags = true;
	ea.flags = NLPUSH_F_REPLY_WANTED;
	ea.has_timeout = true;
	ea.timeout_ms = 20000;
	q->err = do_emit(s, &ea, q->er);
	nlr_close(s);
	return NULL;
}

#define NCONC_REQ 4

static void test_concurrency(struct nlr_sock *c)
{
	struct conc cc[2];
	struct nlr_sock *l[2], *rs;
	struct responder r;
	struct conc_req q[NCONC_REQ];
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct emit_args ea;
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
	memset(&ea, 0, sizeof(ea));
	ea.has_type = true;
	ea.type = 74;
	ea.payload = conc_fixed;
	ea.len = sizeof(conc_fixed);
	ea.has_count = true;
	ea.count = 50;
	for (i = 0; i < 4 && !err; i++)
		err = do_emit(c, &ea, er);
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
	rs = nlr_open(BIG_RCVBUF);
	if (nlr_join(rs, events_grp))
		bail("join");
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
		if (!q[i].err && q[i].er->status == 11 &&
		    q[i].er->len == wlen &&
		    !memcmp(q[i].er->payload, want, wlen) &&
		    q[i].er->portid == rs->portid)
			ok_req++;
		else
			diag("request %d: %s, status %d, %d bytes", i,
			     ename(q[i].err), q[i].er->status, q[i].er->len);
		free(q[i].er);
	}
	responder_stop(&r);
	check(ok_req == NCONC_REQ, "%d concurrent EMIT requests each got "
	      "their own reply", NCONC_REQ);
	nlr_close(rs);
	free(er);
}

/* hand-built message with raw attribute bytes */
static int raw_cmd(struct nlr_sock *s, uint8_t cmd, uint16_t type,
		   const void *d, size_t len)
{
	struct nlr_msg *m = cmd_new(cmd, NLM_F_ACK);

	nlr_put(m, type, d, len);
	return transact_free(s, m, NULL, NULL);
}

static void test_badattr(struct nlr_sock *c)
{
	static unsigned char big[NLPUSH_PAYLOAD_MAX + 1];
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct stats s0, s1;
	struct emit_args ea;
	struct nlr_msg *m;
	uint32_t u32v = 5;
	uint64_t u64v = 1;
	char name[64];
	int err;

	stats_now(c, &s0);

	err = raw_cmd(c, NLPUSH_CMD_ACK, NLPUSH_A_SEQ, &u32v, 4);
	check_err(err, -EINVAL, "", c, "ACK with a 4-byte SEQ -> EINVAL, "
		  "with extack");
	err = raw_cmd(c, NLPUSH_CMD_ACK, NLPUSH_A_SEQ, &u64v, 2);
	check_err(err, -EINVAL, NULL, c, "ACK with a 2-byte SEQ -> EINVAL");
	m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);
	nlr_put_u64(m, NLPUSH_A_SEQ, 1);
	nlr_put(m, NLPUSH_A_STATUS, &u64v, 8);
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, c, "ACK with an 8-byte STATUS -> EINVAL");

	memset(&ea, 0, sizeof(ea));
	ea.payload = big;
	ea.len = sizeof(big);
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, "", c, "EMIT with a %d-byte payload -> "
		  "ERANGE, with extack", NLPUSH_PAYLOAD_MAX + 1);
	m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);
	nlr_put_u64(m, NLPUSH_A_SEQ, 1);
	nlr_put(m, NLPUSH_A_PAYLOAD, big, sizeof(big));
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -ERANGE, NULL, c, "ACK with a %d-byte payload -> ERANGE",
		  NLPUSH_PAYLOAD_MAX + 1);

	err = raw_cmd(c, NLPUSH_CMD_EMIT, 200, &u32v, 4);
	check_err(err, -EINVAL, "Unknown attribute type", c,
		  "EMIT with unknown attribute type 200 -> EINVAL");
	err = raw_cmd(c, NLPUSH_CMD_EMIT, NLPUSH_A_SEQ, &u64v, 8);
	check_err(err, -EINVAL, "", c,
		  "EMIT with SEQ (not in its policy) -> EINVAL, with extack");
	err = raw_cmd(c, NLPUSH_CMD_SUBSCRIBE, NLPUSH_A_COUNT, &u32v, 4);
	check_err(err, -EINVAL, NULL, c,
		  "SUBSCRIBE with COUNT (not in its policy) -> EINVAL");

	memset(name, 'n', sizeof(name));
	name[NLPUSH_NAME_MAX] = 0;	/* 32 chars */
	err = do_subscribe(c, name);
	check_err(err, -EINVAL, NULL, c, "SUBSCRIBE with a 32-char name -> "
		  "EINVAL");
	err = raw_cmd(c, NLPUSH_CMD_SUBSCRIBE, NLPUSH_A_NAME, "abc", 3);
	check_err(err, -EINVAL, NULL, c, "SUBSCRIBE with an unterminated name "
		  "-> EINVAL");
	err = do_subscribe(c, "");
	check_err(err, -EINVAL, NULL, c, "SUBSCRIBE with an empty name -> "
		  "EINVAL");
	err = do_simple(c, NLPUSH_CMD_SUBSCRIBE);
	check_err(err, -EINVAL, NULL, c, "SUBSCRIBE without NAME -> EINVAL");
	name[NLPUSH_NAME_MAX - 1] = 0;	/* 31 chars */
	err = do_subscribe(c, name);
	err = err ? err : do_simple(c, NLPUSH_CMD_UNSUBSCRIBE);
	check_err(err, 0, NULL, c, "SUBSCRIBE with a 31-char name accepted");

	memset(&ea, 0, sizeof(ea));
	ea.has_count = true;
	ea.count = 0;
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, "", c, "EMIT COUNT 0 -> ERANGE, with extack");
	ea.count = NLPUSH_EMIT_COUNT_MAX + 1;
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, NULL, c, "EMIT COUNT %d -> ERANGE",
		  NLPUSH_EMIT_COUNT_MAX + 1);

	memset(&ea, 0, sizeof(ea));
	ea.has_flags = true;
	ea.flags = NLPUSH_F_REPLAYED;
	err = do_emit(c, &ea, er);
	check_err(err, -EINVAL, NULL, c, "EMIT FLAGS=REPLAYED -> EINVAL");
	ea.flags = 1u << 7;
	err = do_emit(c, &ea, er);
	check_err(err, -EINVAL, "", c, "EMIT FLAGS with an unknown bit -> "
		  "EINVAL, with extack");

	memset(&ea, 0, sizeof(ea));
	ea.has_flags = true;
	ea.flags = NLPUSH_F_REPLY_WANTED;
	ea.has_count = true;
	ea.count = 2;
	err = do_emit(c, &ea, er);
	check_err(err, -EINVAL, "", c, "EMIT REPLY_WANTED with COUNT 2 -> "
		  "EINVAL, with extack");

	memset(&ea, 0, sizeof(ea));
	ea.has_timeout = true;
	ea.timeout_ms = 0;
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, NULL, c, "EMIT TIMEOUT_MS 0 -> ERANGE");
	ea.timeout_ms = NLPUSH_TIMEOUT_MS_MAX + 1;
	err = do_emit(c, &ea, er);
	check_err(err, -ERANGE, NULL, c, "EMIT TIMEOUT_MS %d -> ERANGE",
		  NLPUSH_TIMEOUT_MS_MAX + 1);
	err = raw_cmd(c, NLPUSH_CMD_EMIT, NLPUSH_A_TYPE, &u64v, 8);
	check_err(err, -EINVAL, NULL, c, "EMIT with an 8-byte TYPE -> EINVAL");

	/* ops without attributes take none; dumps are strict too */
	err = raw_cmd(c, NLPUSH_CMD_GET_STATS, NLPUSH_A_SEQ, &u64v, 8);
	check_err(err, -EINVAL, NULL, c, "GET_STATS with an attribute -> "
		  "EINVAL");
	err = raw_cmd(c, NLPUSH_CMD_UNSUBSCRIBE, NLPUSH_A_NAME, "x", 2);
	check_err(err, -EINVAL, NULL, c, "UNSUBSCRIBE with an attribute -> "
		  "EINVAL");
	m = cmd_new(NLPUSH_CMD_REPLAY, NLM_F_DUMP);
	nlr_put_u32(m, NLPUSH_A_TYPE, 1);
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, c, "REPLAY with TYPE (not in its policy) "
		  "-> EINVAL");
	m = cmd_new(NLPUSH_CMD_REPLAY, NLM_F_DUMP);
	nlr_put_u32(m, NLPUSH_A_SEQ, 1);
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, c, "REPLAY with a 4-byte SEQ -> EINVAL");

	/* truncated messages */
	m = cmd_new(NLPUSH_CMD_GET_STATS, NLM_F_ACK);
	m->len = NLMSG_HDRLEN + 2;	/* half a genetlink header */
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, NULL, NULL,
		  "message shorter than the genetlink header -> EINVAL");
	m = cmd_new(NLPUSH_CMD_ACK, NLM_F_ACK);
	nlr_put_u64(m, NLPUSH_A_SEQ, 1);
	((struct nlattr *)(m->buf + NLMSG_HDRLEN + GENL_HDRLEN))->nla_len = 40;
	err = transact_free(c, m, NULL, NULL);
	check_err(err, -EINVAL, "", c, "attribute running past the message "
		  "end -> EINVAL, with extack");

	/* commands the family does not implement */
	err = do_simple(c, NLPUSH_CMD_EVENT);
	check_err(err, -EOPNOTSUPP, NULL, c, "EVENT sent to the kernel -> "
		  "EOPNOTSUPP");
	err = do_simple(c, 99);
	check_err(err, -EOPNOTSUPP, NULL, c, "unknown command 99 -> "
		  "EOPNOTSUPP");

	/* nothing of the above published anything */
	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, PUBLISHED, 0);
	CHECK_DELTA(&s0, &s1, SUBSCRIBERS, 0);
	free(er);
}

/* ------------------------------------------------------------------ */
/* unprivileged mode                                                    */

static bool read_param_bool(const char *name, bool *val)
{
	char path[256], buf[16] = "";
	FILE *f;

	snprintf(path, sizeof(path), PARAM_DIR "/%s", name);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	*val = buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1';
	return true;
}

static bool no_caps(void)
{
	char line[256];
	bool ok = false;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			ok = strtoull(line + 7, NULL, 16) == 0;
	fclose(f);
	return ok;
}

/*
 * @to_parent/@from_parent: pipes to the privileged parent that emits
 * events on request (-1 when running unprivileged on our own).
 */
static void unpriv_checks(int listen, int to_parent, int from_parent)
{
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct sub_list *sl = nlr_alloc(sizeof(*sl));
	struct verifier rv;
	struct emit_args ea;
	struct stats st;
	struct nlr_sock *c = nlr_open(0);
	struct nlr_sock *l;
	int err;

	check(getuid() != 0 && geteuid() != 0 && no_caps(),
	      "running unprivileged (uid %d, no capabilities)", geteuid());
	need_family(c, true);

	err = get_stats(c, &st);
	check_err(err, 0, NULL, c, "GET_STATS works unprivileged");
	err = get_subs(c, sl);
	check_err(err, 0, NULL, c, "GET_SUBSCRIBERS works unprivileged");

	memset(&ea, 0, sizeof(ea));
	err = do_emit(c, &ea, er);
	check_err(err, -EPERM, NULL, c, "EMIT -> EPERM");
	err = do_ack(c, 1, false, 0, NULL, 0);
	check_err(err, -EPERM, NULL, c, "ACK -> EPERM");
	err = do_subscribe(c, "unpriv");
	check_err(err, -EPERM, NULL, c, "SUBSCRIBE -> EPERM");
	err = do_simple(c, NLPUSH_CMD_UNSUBSCRIBE);
	check_err(err, -EPERM, NULL, c, "UNSUBSCRIBE -> EPERM");

	l = nlr_open(0);
	err = nlr_join(l, events_grp);
	verifier_init(&rv, 0);
	rv.want_flags = NLPUSH_F_REPLAYED;
	if (!listen) {
		check_err(err, -EPERM, NULL, NULL,
			  "joining \"events\" -> EPERM");
		err = do_replay(c, 0, NULL, NULL);
		check_err(err, -EPERM, NULL, c, "REPLAY -> EPERM");
	} else {
		struct live lv = { 0 };

		check_err(err, 0, NULL, NULL, "joining \"events\" allowed with "
			  "unprivileged_listen=1");
		err = do_replay(c, 0, live_cb, &lv);
		check(!err && !lv.gap && lv.n == ST(&st, RING_EVENTS),
		      "REPLAY allowed with unprivileged_listen=1");
		if (err || lv.n != ST(&st, RING_EVENTS))
			diag("err %s, %llu events, ring had %llu", ename(err),
			     (unsigned long long)lv.n,
			     (unsigned long long)ST(&st, RING_EVENTS));
		if (to_parent >= 0) {
			char ch = 'E';

			memset(&lv, 0, sizeof(lv));
			if (write(to_parent, &ch, 1) != 1 ||
			    read(from_parent, &ch, 1) != 1)
				ch = 0;
			recv_events(l, 3, 3000, live_cb, &lv);
			check(ch == 'D' && lv.n == 3 && !lv.gap,
			      "unprivileged listener receives events");
		} else {
			skip("not started as root", "unprivileged listener "
			     "receives events");
		}
	}
	nlr_close(l);
	nlr_close(c);
	free(er);
	free(sl);
}

static int run_unpriv(int listen)
{
	int up[2], down[2], status;
	pid_t pid;
	char ch;

	if (listen < 0) {
		bool v = false;

		read_param_bool("unprivileged_listen", &v);
		listen = v;
	}
	printf("# unprivileged checks, unprivileged_listen=%d\n", listen);
	if (geteuid() != 0) {
		unpriv_checks(listen, -1, -1);
		return finish();
	}
	if (pipe(up) || pipe(down))
		bail("pipe");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork");
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) {
			perror("dropping privileges");
			_exit(2);
		}
		unpriv_checks(listen, up[1], down[0]);
		_exit(finish());
	}
	close(up[1]);
	close(down[0]);
	/* serve emit requests of the child */
	while (read(up[0], &ch, 1) == 1) {
		ch = dbg_write("emit", "3 8 51") ? 'F' : 'D';
		if (write(down[1], &ch, 1) != 1)
			break;
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return 1;
	return WEXITSTATUS(status);
}

/* ------------------------------------------------------------------ */
/* rmmod under load                                                     */

struct waiter {
	pthread_t th;
	int err;
	volatile int done;
	uint64_t end_ns;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct emit_args ea;
	struct nlr_sock *s = nlr_open(0);

	s->timeout_ms = 90000;
	memset(&ea, 0, sizeof(ea));
	ea.has_flags = true;
	ea.flags = NLPUSH_F_REPLY_WANTED;
	ea.has_timeout = true;
	ea.timeout_ms = 30000;
	ea.payload = "wait";
	ea.len = 4;
	w->err = do_emit(s, &ea, er);
	w->end_ns = nlr_now_ns();
	w->done = 1;
	nlr_close(s);
	free(er);
	return NULL;
}

static int rm_module(const char *name, int tries, int *attempts)
{
	int i, e = 0;

	for (i = 0; i < tries; i++) {
		if (!syscall(SYS_delete_module, name, O_NONBLOCK)) {
			*attempts = i + 1;
			return 0;
		}
		e = errno;
		if (e != EAGAIN && e != EBUSY)
			break;
		msleep(20);
	}
	*attempts = i + 1;
	return -e;
}

static int ins_module(const char *dir, const char *file)
{
	char path[512];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = syscall(SYS_finit_module, fd, "", 0);
	r = r ? -errno : 0;
	close(fd);
	return r;
}

static pid_t spawn_debugfs_producer(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		uint64_t end = nlr_now_ns() + 90ull * 1000000000ull;

		while (nlr_now_ns() < end) {
			int err = dbg_write("emit", "20 64 61");

			if (err == -ENOENT)
				_exit(0);	/* nlpush_test is gone */
			msleep(10);
		}
		_exit(3);
	}
	return pid;
}

static pid_t spawn_netlink_producer(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct emit_reply *er = nlr_alloc(sizeof(*er));
		uint64_t end = nlr_now_ns() + 90ull * 1000000000ull;
		struct nlr_sock *s = nlr_open(0);
		struct emit_args ea;

		memset(&ea, 0, sizeof(ea));
		ea.payload = "load";
		ea.len = 4;
		ea.has_count = true;
		ea.count = 10;
		ea.has_type = true;
		ea.type = 62;
		while (nlr_now_ns() < end) {
			int err = do_emit(s, &ea, er);

			if (err)
				_exit(err < 0 && -err < 200 ? -err : 201);
			msleep(5);
		}
		_exit(200);
	}
	return pid;
}

/* waitpid with a timeout; returns true when reaped */
static bool reap(pid_t pid, int *status, int timeout_ms)
{
	int i;

	for (i = 0; i < timeout_ms / 10; i++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return true;
		msleep(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return false;
}

static int run_rmmod(const char *ko_dir)
{
	struct nlr_sock *c = nlr_open(0);
	struct nlr_sock *l[NLISTEN];
	struct waiter w = { 0 };
	struct nlr_family fi;
	struct stats st;
	pid_t dbg_pid, nl_pid;
	uint64_t t_rm, el;
	int err, k, i, att, status, rcv = 16384;
	bool ok, reaped;

	need_family(c, true);
	for (k = 0; k < NLISTEN; k++) {
		l[k] = nlr_open(0);
		setsockopt(l[k]->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		if (nlr_join(l[k], events_grp))
			bail("join");
	}
	dbg_pid = spawn_debugfs_producer();
	nl_pid = spawn_netlink_producer();
	if (pthread_create(&w.th, NULL, waiter_main, &w))
		bail("pthread_create");

	for (i = 0; i < 500; i++) {
		if (!get_stats(c, &st) && ST(&st, REQUESTS_PENDING) >= 1)
			break;
		msleep(10);
	}
	check(ST(&st, REQUESTS_PENDING) >= 1 && !w.done,
	      "EMIT REPLY_WANTED (30 s timeout) pending under load");
	msleep(500);
	get_stats(c, &st);
	check(ST(&st, PUBLISHED) > 0, "producers running (%llu published)",
	      (unsigned long long)ST(&st, PUBLISHED));

	err = rm_module("nlpush_test", 250, &att);
	if (!check(!err, "rmmod nlpush_test while its producer writes"))
		diag("delete_module: %s after %d attempts", ename(err), att);
	else
		vdiag("rmmod nlpush_test took %d attempt(s)", att);
	reaped = reap(dbg_pid, &status, 10000);
	check(reaped && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "debugfs producer saw the file go away");
	check(!w.done, "request still pending after rmmod nlpush_test");

	t_rm = nlr_now_ns();
	err = rm_module("nlpush", 250, &att);
	el = (nlr_now_ns() - t_rm) / 1000000;
	if (!check(!err, "rmmod nlpush with listeners, producer and a waiter"))
		diag("delete_module: %s after %d attempts", ename(err), att);
	vdiag("rmmod nlpush took %llu ms, %d attempt(s)",
	      (unsigned long long)el, att);

	for (i = 0; i < 2000 && !w.done; i++)
		msleep(10);
	el = w.done ? (w.end_ns - t_rm) / 1000000 : 99999;
	ok = w.done && (w.err == -ESHUTDOWN || w.err == -ENOENT);
	if (!check(ok, "waiting EMIT ended with ESHUTDOWN or family-gone"))
		diag("done %d err %s", w.done, ename(w.err));
	else
		diag("waiting EMIT returned %s", ename(w.err));
	if (!check(w.done && el < 10000, "... %llu ms after rmmod started "
		   "(limit 10000, timeout 30000)", (unsigned long long)el))
		diag("waiter still blocked or late");
	if (w.done)
		pthread_join(w.th, NULL);

	reaped = reap(nl_pid, &status, 10000);
	ok = reaped && WIFEXITED(status) &&
	     (WEXITSTATUS(status) == ENOENT ||
	      WEXITSTATUS(status) == ESHUTDOWN);
	check(ok, "netlink producer stopped with family-gone/ESHUTDOWN");
	diag("netlink producer: reaped %d, exit %s", reaped,
	     WIFEXITED(status) ? ename(WEXITSTATUS(status)) : "signal");

	ok = true;
	for (k = 0; k < NLISTEN; k++) {
		struct live lv = { 0 };
		int drop = events_grp;

		recv_events(l[k], ~0ull, 100, live_cb, &lv);
		if (setsockopt(l[k]->fd, SOL_NETLINK, NETLINK_DROP_MEMBERSHIP,
			       &drop, sizeof(drop)) && errno != ENOENT) {
			diag("listener %d: DROP_MEMBERSHIP: %s", k,
			     ename(errno));
		}
		if (lv.gap)
			ok = false;
		vdiag("listener %d drained %llu events", k,
		      (unsigned long long)lv.n);
		err = get_stats(l[k], &st);
		if (err != -ENOENT) {
			diag("listener %d: GET_STATS after rmmod: %s", k,
			     ename(err));
			ok = false;
		}
		if (close(l[k]->fd))
			ok = false;
		l[k]->fd = -1;
		free(l[k]->rx);
		free(l[k]);
	}
	check(ok, "listener sockets drain, stay usable, close");
	err = nlr_resolve_family(c, &fi);
	check(err == -ENOENT && access("/sys/module/nlpush", F_OK),
	      "family and module gone");

	if (!ko_dir) {
		skip("no --ko-dir", "insmod again");
		nlr_close(c);
		return finish();
	}
	err = ins_module(ko_dir, "nlpush.ko");
	err = err ? err : ins_module(ko_dir, "nlpush_test.ko");
	if (!check(!err, "insmod nlpush.ko and nlpush_test.ko again"))
		diag("finit_module: %s", ename(err));
	need_family(c, false);
	err = get_stats(c, &st);
	check(!err && ST(&st, NEXT_SEQ) == 1 && ST(&st, PUBLISHED) == 0,
	      "fresh module: NEXT_SEQ 1, nothing published");
	for (i = 0; i < 100 && access(DBG_DIR "/emit", W_OK); i++)
		msleep(10);
	err = dbg_write("emit", "3 10 1");
	err = err ? err : get_stats(c, &st);
	check(!err && ST(&st, PUBLISHED) == 3, "reloaded modules publish");
	nlr_close(c);
	return finish();
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: nlpush_selftest [-v] [--listen=0|1] [--ko-dir DIR] "
		"[MODE]\n"
		"  MODE: all (default) family delivery reply timeout replay\n"
		"        subscribers concurrency badattr unpriv\n"
		"        rmmod-under-load\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(struct nlr_sock *c);
	} tests[] = {
		{ "family", test_family },
		{ "delivery", test_delivery },
		{ "reply", test_reply },
		{ "timeout", test_timeout },
		{ "replay", test_replay },
		{ "subscribers", test_subscribers },
		{ "concurrency", test_concurrency },
		{ "badattr", test_badattr },
	};
	const char *mode = "all", *ko_dir = NULL;
	int listen = -1, i;
	struct nlr_sock *c;
	bool found = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strncmp(argv[i], "--listen=", 9))
			listen = atoi(argv[i] + 9);
		else if (!strcmp(argv[i], "--ko-dir") && i + 1 < argc)
			ko_dir = argv[++i];
		else if (argv[i][0] == '-')
			usage();
		else
			mode = argv[i];
	}
	if (strcmp(mode, "all") && strcmp(mode, "unpriv") &&
	    strcmp(mode, "rmmod-under-load")) {
		for (i = 0; i < (int)ARRAY_SIZE(tests); i++)
			if (!strcmp(mode, tests[i].name))
				found = true;
		if (!found)
			usage();
	}
	signal(SIGPIPE, SIG_IGN);
	printf("TAP version 13\n");
	printf("# nlpush_selftest %s\n", mode);

	if (!strcmp(mode, "unpriv"))
		return run_unpriv(listen);
	if (!strcmp(mode, "rmmod-under-load"))
		return run_rmmod(ko_dir);

	c = nlr_open(BIG_RCVBUF);
	if (strcmp(mode, "all") && strcmp(mode, "family"))
		need_family(c, false);
	for (i = 0; i < (int)ARRAY_SIZE(tests); i++) {
		if (strcmp(mode, "all") && strcmp(mode, tests[i].name))
			continue;
		printf("# --- %s\n", tests[i].name);
		tests[i].fn(c);
	}
	nlr_close(c);
	return finish();
}
