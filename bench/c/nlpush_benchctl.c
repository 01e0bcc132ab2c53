// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_benchctl - the producer and probe side of the benchmarks. Every
 * subcommand prints one JSON line.
 *
 *   nlpush_benchctl emit COUNT SIZE       NLPUSH_CMD_EMIT: the kernel publishes
 *                                         COUNT events of SIZE bytes
 *   nlpush_benchctl test-emit COUNT SIZE  nlpush_test's debugfs "emit" file
 *   nlpush_benchctl stats                 NLPUSH_CMD_GET_STATS, every counter
 *   nlpush_benchctl publish-cost COUNT SIZE
 *                                         nlpush_test's debugfs "bench" file:
 *                                         ns per nlpush_publish() in the kernel
 *   nlpush_benchctl request N SIZE TIMEOUT_MS [FILE]
 *                                         N nlpush_request()s through the
 *                                         debugfs "request" file, one after the
 *                                         other; latency percentiles of the
 *                                         answered ones (kernel-measured
 *                                         latency_ns: publish to reply); FILE
 *                                         gets every latency, one per line
 *   nlpush_benchctl emit-request N SIZE TIMEOUT_MS
 *                                         N requests from userspace, one after
 *                                         the other: NLPUSH_CMD_EMIT with
 *                                         NLPUSH_F_REPLY_WANTED, then the
 *                                         NLPUSH_CMD_REPLY the kernel unicasts
 *                                         back (matched by nlmsg_seq; it may
 *                                         come before the EMIT's ack); latency
 *                                         of the answered ones, send to REPLY
 */
#include "nlb.h"

#define DBG "/sys/kernel/debug/nlpush_test"
#define NLPUSH_TEST_TYPE 190	/* 0xbe, as nlpush bench */

static void usage(void)
{
	fprintf(stderr,
		"usage: nlpush_benchctl emit COUNT SIZE\n"
		"       nlpush_benchctl test-emit COUNT SIZE\n"
		"       nlpush_benchctl stats\n"
		"       nlpush_benchctl publish-cost COUNT SIZE\n"
		"       nlpush_benchctl request N SIZE TIMEOUT_MS [FILE]\n"
		"       nlpush_benchctl emit-request N SIZE TIMEOUT_MS\n");
	exit(64);
}

/* write(2) @text to @path in one call; returns 0 or -errno */
static int write_text(const char *path, const char *text)
{
	return nlr_write_file(path, text, strlen(text));
}

/* ------------------------------------------------------------------ */

struct emit_result {
	uint64_t seq;
	uint32_t count;
};

static void emit_cb(struct nlmsghdr *nlh, void *arg)
{
	struct emit_result *r = arg;
	struct nlattr *tb[NLPUSH_A_MAX + 1];

	nlr_genl_attrs(nlh, tb, NLPUSH_A_MAX);
	if (tb[NLPUSH_A_SEQ])
		r->seq = nlr_uint(tb[NLPUSH_A_SEQ]);
	if (tb[NLPUSH_A_COUNT])
		r->count = (uint32_t)nlr_uint(tb[NLPUSH_A_COUNT]);
}

static int cmd_emit(uint32_t count, uint32_t size)
{
	struct nlr_sock *s = nlr_open(0);
	struct nlr_family f = nlb_resolve(s);
	struct nlr_msg *m = nlr_msg_new(f.id, NLPUSH_CMD_EMIT, NLM_F_ACK);
	struct emit_result r = { 0, 0 };
	unsigned char *payload = nlr_alloc(size);
	uint64_t t0, t1;
	uint32_t i;
	int err;

	for (i = 0; i < size; i++)
		payload[i] = i % 251;
	nlr_put_u32(m, NLPUSH_A_TYPE, NLPUSH_TEST_TYPE);
	nlr_put_u32(m, NLPUSH_A_COUNT, count);
	nlr_put(m, NLPUSH_A_PAYLOAD, payload, size);
	s->timeout_ms = 600000;
	t0 = nlr_now_ns();
	err = nlr_transact(s, m, emit_cb, &r, NULL, NULL);
	t1 = nlr_now_ns();
	printf("{\"cmd\":\"emit\",\"count\":%u,\"size\":%u,\"error\":%d"
	       ",\"first_seq\":%llu,\"published\":%u,\"produce_ns\":%llu}\n",
	       count, size, err, (unsigned long long)r.seq, r.count,
	       (unsigned long long)(t1 - t0));
	return err ? 1 : 0;
}

static int cmd_test_emit(uint32_t count, uint32_t size)
{
	char text[64];
	uint64_t t0, t1;
	int err;

	snprintf(text, sizeof(text), "%u %u %u", count, size, NLPUSH_TEST_TYPE);
	t0 = nlr_now_ns();
	err = write_text(DBG "/emit", text);
	t1 = nlr_now_ns();
	printf("{\"cmd\":\"test-emit\",\"count\":%u,\"size\":%u,\"error\":%d"
	       ",\"produce_ns\":%llu}\n",
	       count, size, err, (unsigned long long)(t1 - t0));
	return err ? 1 : 0;
}

/* ------------------------------------------------------------------ */

static const char *const stat_names[NLPUSH_STATS_A_MAX + 1] = {
	[NLPUSH_STATS_A_PUBLISHED] = "published",
	[NLPUSH_STATS_A_DELIVERED] = "delivered",
	[NLPUSH_STATS_A_NO_LISTENERS] = "no_listeners",
	[NLPUSH_STATS_A_DELIVERY_ERRORS] = "delivery_errors",
	[NLPUSH_STATS_A_PUBLISH_FAILURES] = "publish_failures",
	[NLPUSH_STATS_A_ACKS] = "acks",
	[NLPUSH_STATS_A_ACKS_REJECTED] = "acks_rejected",
	[NLPUSH_STATS_A_REQUESTS] = "requests",
	[NLPUSH_STATS_A_REPLIES] = "replies",
	[NLPUSH_STATS_A_REQUEST_TIMEOUTS] = "request_timeouts",
	[NLPUSH_STATS_A_REQUESTS_PENDING] = "requests_pending",
	[NLPUSH_STATS_A_SUBSCRIBERS] = "subscribers",
	[NLPUSH_STATS_A_OLDEST_SEQ] = "oldest_seq",
	[NLPUSH_STATS_A_NEXT_SEQ] = "next_seq",
	[NLPUSH_STATS_A_RING_EVENTS] = "ring_events",
	[NLPUSH_STATS_A_RING_BYTES] = "ring_bytes",
	[NLPUSH_STATS_A_RING_MAX_EVENTS] = "ring_max_events",
	[NLPUSH_STATS_A_RING_MAX_BYTES] = "ring_max_bytes",
	[NLPUSH_STATS_A_REPLAYED] = "replayed",
	[NLPUSH_STATS_A_RESPONDERS] = "responders",
	[NLPUSH_STATS_A_TXQ_DROPS] = "txq_drops",
	[NLPUSH_STATS_A_REQUESTS_FAILED] = "requests_failed",
	[NLPUSH_STATS_A_REPLIES_UNDELIVERED] = "replies_undelivered",
};

static void stats_cb(struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[NLPUSH_A_MAX + 1], *st[NLPUSH_STATS_A_MAX + 1];
	int i, first = 1;

	(void)arg;
	nlr_genl_attrs(nlh, tb, NLPUSH_A_MAX);
	if (!tb[NLPUSH_A_STATS])
		return;
	nlr_attrs(nlr_data(tb[NLPUSH_A_STATS]), nlr_len(tb[NLPUSH_A_STATS]),
		  st, NLPUSH_STATS_A_MAX);
	printf("{\"cmd\":\"stats\"");
	for (i = 0; i <= NLPUSH_STATS_A_MAX; i++) {
		if (!stat_names[i] || !st[i])
			continue;
		printf(",\"%s\":%llu", stat_names[i],
		       (unsigned long long)nlr_uint(st[i]));
		first = 0;
	}
	(void)first;
	if (tb[NLPUSH_A_EPOCH])
		printf(",\"epoch\":%llu", (unsigned long long)nlr_uint(tb[NLPUSH_A_EPOCH]));
	printf("}\n");
}

static int cmd_stats(void)
{
	struct nlr_sock *s = nlr_open(0);
	struct nlr_family f = nlb_resolve(s);
	struct nlr_msg *m = nlr_msg_new(f.id, NLPUSH_CMD_GET_STATS, NLM_F_ACK);
	int err;

	s->timeout_ms = 5000;
	err = nlr_transact(s, m, stats_cb, NULL, NULL, NULL);
	if (err)
		fprintf(stderr, "GET_STATS: %s\n", strerror(-err));
	return err ? 1 : 0;
}

/* ------------------------------------------------------------------ */

static int cmd_publish_cost(uint32_t count, uint32_t size)
{
	char text[64], res[256];
	unsigned long long n = 0, sz = 0, total = 0, per = 0;
	int err;

	snprintf(text, sizeof(text), "%u %u", count, size);
	err = write_text(DBG "/bench", text);
	if (!err)
		err = nlr_read_file(DBG "/bench", res, sizeof(res));
	if (!err && sscanf(res, "count=%llu size=%llu total_ns=%llu ns_per_event=%llu",
			   &n, &sz, &total, &per) != 4)
		err = -EPROTO;
	printf("{\"cmd\":\"publish-cost\",\"count\":%llu,\"size\":%llu"
	       ",\"total_ns\":%llu,\"ns_per_event\":%llu,\"error\":%d}\n",
	       n, sz, total, per, err);
	return err ? 1 : 0;
}

/*
 * The closing fields of a request summary line: wall time, mean and
 * percentiles of the @ok answers' latencies (@sum: their total).
 */
static void print_timing(uint64_t wall, uint64_t sum, uint32_t ok,
			 struct nlb_lat *lat)
{
	bool sorted = false;

	printf(",\"wall_seconds\":%.3f,\"latency_mean_ns\":%llu"
	       ",\"latency_p50_ns\":%llu,\"latency_p99_ns\":%llu"
	       ",\"latency_max_ns\":%llu}\n",
	       (double)wall / 1e9, (unsigned long long)(ok ? sum / ok : 0),
	       (unsigned long long)nlb_lat_pct(lat, 50, &sorted),
	       (unsigned long long)nlb_lat_pct(lat, 99, &sorted),
	       (unsigned long long)nlb_lat_pct(lat, 100, &sorted));
}

static int cmd_request(uint32_t n, uint32_t size, uint32_t timeout_ms,
		       const char *dump)
{
	char text[64], *res = nlr_alloc(4 * 65536 + 256);
	struct nlb_lat lat = { 0 };
	uint64_t sum = 0, t0, wall;
	uint32_t i, ok = 0, errors = 0, other = 0;
	int err, last_err = 0;

	snprintf(text, sizeof(text), "%u %u %u", size, timeout_ms,
		 NLPUSH_TEST_TYPE);
	t0 = nlr_now_ns();
	for (i = 0; i < n; i++) {
		char *p;

		err = write_text(DBG "/request", text);
		if (!err)
			err = nlr_read_file(DBG "/request", res, 4 * 65536 + 256);
		if (err) {
			other++;
			last_err = err;
			continue;
		}
		if (!strncmp(res, "error=", 6)) {
			errors++;
			last_err = atoi(res + 6);
			continue;
		}
		p = strstr(res, "latency_ns=");
		if (!p || strncmp(res, "status=0 ", 9)) {
			other++;
			continue;
		}
		nlb_lat_add(&lat, strtoull(p + 11, NULL, 10));
		sum += lat.v[lat.n - 1];
		ok++;
	}
	wall = nlr_now_ns() - t0;
	if (dump) {
		FILE *f = fopen(dump, "w");

		if (!f)
			nlr_die("cannot create %s: %s", dump, strerror(errno));
		for (i = 0; i < lat.n; i++)
			fprintf(f, "%llu\n", (unsigned long long)lat.v[i]);
		fclose(f);
	}
	printf("{\"cmd\":\"request\",\"requests\":%u,\"size\":%u,\"answered\":%u"
	       ",\"errors\":%u,\"bad_answers\":%u,\"last_error\":%d",
	       n, size, ok, errors, other, last_err);
	print_timing(wall, sum, ok, &lat);
	free(res);
	return ok ? 0 : 1;
}

/* ------------------------------------------------------------------ */

/* the NLPUSH_CMD_REPLY of a request, when one came */
struct request_outcome {
	bool replied;
	int error;	/* NLPUSH_A_ERROR: 0 answered, else -errno */
	int status;
	uint32_t portid;
	uint64_t seq;
};

static void request_cb(struct nlmsghdr *nlh, void *arg)
{
	struct request_outcome *r = arg;
	struct nlattr *tb[NLPUSH_A_MAX + 1];

	if (nlr_genl_cmd(nlh) != NLPUSH_CMD_REPLY)
		return;		/* the EMIT's own reply (SEQ, COUNT, EPOCH) */
	nlr_genl_attrs(nlh, tb, NLPUSH_A_MAX);
	r->replied = true;
	r->error = tb[NLPUSH_A_ERROR] ? (int)nlr_u32(tb[NLPUSH_A_ERROR]) : -EPROTO;
	r->status = tb[NLPUSH_A_STATUS] ? (int)nlr_u32(tb[NLPUSH_A_STATUS]) : 0;
	r->portid = tb[NLPUSH_A_PORTID] ? nlr_u32(tb[NLPUSH_A_PORTID]) : 0;
	r->seq = tb[NLPUSH_A_SEQ] ? nlr_uint(tb[NLPUSH_A_SEQ]) : 0;
}

/*
 * One request: EMIT with REPLY_WANTED, then the REPLY with the EMIT's
 * nlmsg_seq, which may arrive before the EMIT's ack (nlr_transact hands it
 * to request_cb then) or after it (read here, for at most the request's
 * timeout plus a second). Returns 0 with @r filled, or -errno (the EMIT's
 * own error, e.g. -ENOTCONN with no responder, or -ETIME).
 */
static int one_request(struct nlr_sock *s, struct nlr_msg *m,
		       uint32_t timeout_ms, struct request_outcome *r)
{
	uint64_t deadline;
	int err;

	memset(r, 0, sizeof(*r));
	err = nlr_transact(s, m, request_cb, r, NULL, NULL);
	if (err)
		return err;
	deadline = nlr_now_ns() + ((uint64_t)timeout_ms + 1000) * 1000000ull;
	return nlr_wait_seq(s, s->seq, deadline, &r->replied, request_cb, r);
}

static int cmd_emit_request(uint32_t n, uint32_t size, uint32_t timeout_ms)
{
	struct nlr_sock *s = nlr_open(0);
	struct nlr_family f = nlb_resolve(s);
	struct nlr_msg *m = nlr_msg_new(f.id, NLPUSH_CMD_EMIT, NLM_F_ACK);
	unsigned char *payload = nlr_alloc(size ? size : 1);
	struct nlb_lat lat = { 0 };
	uint32_t i, ok = 0, failed = 0, bad = 0;
	uint32_t portid = 0;
	uint64_t sum = 0, t0, wall;
	int last_err = 0;

	for (i = 0; i < size; i++)
		payload[i] = i % 251;
	s->timeout_ms = 5000;
	t0 = nlr_now_ns();
	for (i = 0; i < n; i++) {
		struct request_outcome r;
		uint64_t t;
		int err;

		nlr_msg_init(m, f.id, NLPUSH_CMD_EMIT, NLM_F_ACK);
		nlr_put_u32(m, NLPUSH_A_TYPE, NLPUSH_TEST_TYPE);
		nlr_put(m, NLPUSH_A_PAYLOAD, payload, size);
		nlr_put_u32(m, NLPUSH_A_FLAGS, NLPUSH_F_REPLY_WANTED);
		nlr_put_u32(m, NLPUSH_A_TIMEOUT_MS, timeout_ms);
		t = nlr_now_ns();
		err = one_request(s, m, timeout_ms, &r);
		if (!err && r.error)
			err = r.error;
		if (err) {
			failed++;
			last_err = err;
			continue;
		}
		if (r.status) {
			bad++;
			continue;
		}
		nlb_lat_add(&lat, nlr_now_ns() - t);
		sum += lat.v[lat.n - 1];
		portid = r.portid;
		ok++;
	}
	wall = nlr_now_ns() - t0;
	printf("{\"cmd\":\"emit-request\",\"requests\":%u,\"size\":%u,\"answered\":%u"
	       ",\"errors\":%u,\"bad_answers\":%u,\"last_error\":%d,\"portid\":%u",
	       n, size, ok, failed, bad, last_err, portid);
	print_timing(wall, sum, ok, &lat);
	free(payload);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "emit") && argc == 4)
		return cmd_emit((uint32_t)nlb_size(argv[2]), (uint32_t)nlb_size(argv[3]));
	if (!strcmp(argv[1], "test-emit") && argc == 4)
		return cmd_test_emit((uint32_t)nlb_size(argv[2]),
				     (uint32_t)nlb_size(argv[3]));
	if (!strcmp(argv[1], "stats") && argc == 2)
		return cmd_stats();
	if (!strcmp(argv[1], "publish-cost") && argc == 4)
		return cmd_publish_cost((uint32_t)nlb_size(argv[2]),
					(uint32_t)nlb_size(argv[3]));
	if (!strcmp(argv[1], "request") && (argc == 5 || argc == 6))
		return cmd_request((uint32_t)nlb_size(argv[2]),
				   (uint32_t)nlb_size(argv[3]),
				   (uint32_t)nlb_size(argv[4]),
				   argc == 6 ? argv[5] : NULL);
	if (!strcmp(argv[1], "emit-request") && argc == 5)
		return cmd_emit_request((uint32_t)nlb_size(argv[2]),
					(uint32_t)nlb_size(argv[3]),
					(uint32_t)nlb_size(argv[4]));
	usage();
	return 64;
}
