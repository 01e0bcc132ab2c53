/* SPDX-License-Identifier: GPL-2.0 */
/*
 * common.h - what every part of nlpush_selftest shares: the TAP harness,
 * the resolved family, GET_STATS / GET_SUBSCRIBERS, the commands
 * (SUBSCRIBE, ACK, EMIT and its REPLY), event parsing and the stream
 * verifier, nlpush_test's debugfs files and the responder threads.
 *
 * One file per area holds the tests themselves:
 *   family.c       family, ops, stats layout, debugfs files
 *   delivery.c     delivery, concurrency, bulk EMIT (COUNT > 256), lost flush
 *   request.c      requests and replies, timeouts, responders, host
 *                  responsiveness while a request waits
 *   replay.c       overrun, replay ring, REPLAY dumps
 *   subscribers.c  SUBSCRIBE / UNSUBSCRIBE / GET_SUBSCRIBERS
 *   badattr.c      policy validation
 *   privileges.c   unprivileged mode, listeners in another netns
 *   rmmod.c        rmmod under load
 *   stress.c       producers in every context x 16 listeners, bursts
 *   batch.c        batched delivery: events per datagram (tx_batch_bytes)
 *   main.c         argument parsing, modes
 */
#ifndef NLPUSH_SELFTEST_COMMON_H
#define NLPUSH_SELFTEST_COMMON_H

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
/* EMIT COUNT published before the EMIT reply; beyond: a work item */
#define EMIT_SYNC_MAX	256
/* bulk EMITs (COUNT > EMIT_SYNC_MAX) in flight at most */
#define EMIT_BULK_MAX	16

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

extern int verbose;

/* ---- TAP ---- */
extern int n_test, n_pass, n_fail, n_skip;

void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vdiag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void skip(const char *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int finish(void);
void bail(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
const char *ename(int err);
void msleep(unsigned int ms);
static inline uint64_t ms_since(uint64_t t0)
{
	return (nlr_now_ns() - t0) / 1000000;
}

/* ---- family ---- */
extern uint16_t family_id;
extern uint32_t events_grp;
extern uint64_t module_epoch;	/* EPOCH of GET_STATS; 0 when absent */

struct nlr_msg *cmd_new(uint8_t cmd, uint16_t flags);
int transact(struct nlr_sock *s, struct nlr_msg *m, nlr_cb cb, void *arg);
int transact_free(struct nlr_sock *s, struct nlr_msg *m, nlr_cb cb,
		  void *arg);
void need_family(struct nlr_sock *s, bool report);

/* ---- stats ---- */
struct stats {
	uint64_t v[NLPUSH_STATS_A_MAX + 1];
	int len[NLPUSH_STATS_A_MAX + 1];	/* -1: absent */
	bool nest;
	bool has_epoch;
	uint64_t epoch;
};

int get_stats(struct nlr_sock *s, struct stats *st);
void stats_now(struct nlr_sock *s, struct stats *st);
void stats_counted(struct nlr_sock *s, const struct stats *s0,
		   struct stats *s1, uint64_t n);
bool check_delta(struct stats *a, struct stats *b, int attr,
		 const char *name, uint64_t want);

#define ST(st, x)	((st)->v[NLPUSH_STATS_A_##x])
/* RING_EVENTS == NEXT_SEQ - OLDEST_SEQ, events and bytes within the limits */
bool ring_consistent(const struct stats *st);
/* NEXT_SEQ, OLDEST_SEQ and the ring's fill and limits as a diag() line */
void ring_diag(const struct stats *st);
#define DELTA(a, b, x)	(ST(b, x) - ST(a, x))
#define CHECK_DELTA(a, b, x, want) \
	check_delta(a, b, NLPUSH_STATS_A_##x, #x, want)

/* ---- subscribers ---- */
struct sub {
	uint32_t portid, pid, flags;
	char name[64];
	uint64_t acks, last_acked, replies, subscribed_ns;
	bool complete, has_flags;
};

struct sub_list {
	struct sub s[64];
	int n;
};

int get_subs(struct nlr_sock *s, struct sub_list *l);
struct sub *find_sub(struct sub_list *l, uint32_t portid);

/* ---- commands ---- */
int do_simple(struct nlr_sock *s, uint8_t cmd);
int do_subscribe(struct nlr_sock *s, const char *name);
/* SUBSCRIBE with NLPUSH_A_FLAGS */
int do_subscribe_flags(struct nlr_sock *s, const char *name, uint32_t flags);
/* ACK; status/payload only when has_status / payload != NULL */
int do_ack(struct nlr_sock *s, uint64_t seq, bool has_status, int32_t status,
	   const void *payload, size_t len);
/* the same with NLPUSH_A_EPOCH (always sent) */
/* ACK SEQ COUNT (a range), with STATUS / EPOCH when not NULL */
int do_ack_range(struct nlr_sock *s, uint64_t seq, uint32_t count,
		 const int32_t *status, const uint64_t *epoch);
int do_ack_epoch(struct nlr_sock *s, uint64_t seq, uint64_t epoch,
		 bool has_status, int32_t status);

/* EMIT reply and, for a request, the NLPUSH_CMD_REPLY that follows */
struct emit_reply {
	bool got;		/* EMIT reply */
	uint64_t seq;
	uint32_t count;
	bool has_epoch;
	uint64_t epoch;
	bool bad_extra;		/* EMIT reply with STATUS/PORTID/PAYLOAD */
	uint32_t nl_seq;	/* nlmsg_seq of the EMIT */
	/* NLPUSH_CMD_REPLY */
	bool got_reply;
	int n_replies;
	uint32_t reply_nl_seq;
	uint64_t reply_seq, reply_epoch;
	bool has_error, has_status, has_payload, has_portid, reply_has_epoch;
	int32_t error;
	int32_t status;
	uint32_t portid;
	uint64_t reply_ns;	/* CLOCK_MONOTONIC when the REPLY was read */
	unsigned char payload[NLPUSH_PAYLOAD_MAX];
	int len;
};

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

void emit_cb(struct nlmsghdr *nlh, void *arg);
int do_emit(struct nlr_sock *s, const struct emit_args *a,
	    struct emit_reply *r);
/* EMIT with TYPE and COUNT, and PAYLOAD unless @payload is NULL */
int do_emit_count(struct nlr_sock *s, uint32_t type, const void *payload,
		  size_t len, uint32_t count, struct emit_reply *r);
/* reads @s until the REPLY of the EMIT in @r: 0 or -ETIME */
int wait_reply(struct nlr_sock *s, struct emit_reply *r, int timeout_ms);
/* EMIT with REPLY_WANTED (TYPE, PAYLOAD, TIMEOUT_MS) and its REPLY */
int do_request(struct nlr_sock *s, uint32_t type, const void *payload,
	       size_t len, uint32_t timeout_ms, struct emit_reply *r,
	       int wait_ms);

/* ---- events ---- */
struct event {
	uint64_t seq, ts, epoch;
	uint32_t type, flags;
	uint8_t cmd;
	bool has_epoch;
	const unsigned char *payload;
	int len;
};

int parse_event(struct nlmsghdr *nlh, struct event *ev);
bool pattern_ok(uint64_t seq, const unsigned char *p, int len);

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
	uint64_t incomplete, foreign, bad_epoch, bad_cmd;
	char first_err[160];
};

void verifier_cb(struct nlmsghdr *nlh, void *arg);
bool verifier_clean(struct verifier *v);
void verifier_init(struct verifier *v, uint64_t first);
void verifier_add(struct verifier *v, uint64_t first, uint32_t count,
		  uint32_t size, uint32_t type, const unsigned char *fixed);
uint64_t recv_events(struct nlr_sock *s, uint64_t want, int timeout_ms,
		     nlr_cb cb, void *arg);

/* live events: seqs in order? */
struct live {
	uint64_t first, last, n;
	bool gap;
};
void live_cb(struct nlmsghdr *nlh, void *arg);

int do_replay_count(struct nlr_sock *s, uint64_t seq, uint32_t count,
		    bool has_count, nlr_cb cb, void *arg);
int do_replay(struct nlr_sock *s, uint64_t seq, nlr_cb cb, void *arg);

/* ---- debugfs of nlpush_test ---- */
int dbg_write(const char *file, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int dbg_read(const char *file, char *buf, size_t size);

struct req_result {
	bool is_error;
	int error;
	int status;
	unsigned char reply[NLPUSH_PAYLOAD_MAX];
	int reply_len;
	long long latency_ns;
	bool parsed;
};

int dbg_request(unsigned int size, unsigned int timeout_ms, unsigned int type,
		struct req_result *r, char *line, size_t linesz);

/* ---- responder threads ---- */
enum responder_mode {
	RESP_ANSWER,	/* answers requests with STATUS + PAYLOAD */
	RESP_ACK_ALL,	/* plain ACK of every event, like "monitor --ack" */
};

struct responder {
	struct nlr_sock *sk;
	pthread_t th;
	pthread_mutex_t lock;
	volatile int stop;
	int32_t status;
	enum responder_mode mode;
	/* results, under lock */
	int requests;
	int bad_requests;	/* test-module request with a bad pattern */
	int ack_ok, ack_err, last_ack_err;
	uint64_t last_seq;
	unsigned char last_req[256];
	int last_req_len;
	uint64_t events;
};

int reply_for(const unsigned char *p, int len, unsigned char *out);
void responder_start(struct responder *r, struct nlr_sock *sk,
		     int32_t status);
void responder_start_mode(struct responder *r, struct nlr_sock *sk,
			  int32_t status, enum responder_mode mode);
void responder_stop(struct responder *r);
/*
 * A socket subscribed as a responder (@join: also a member of "events").
 * Reports a failed SUBSCRIBE as a failed check and returns the socket
 * anyway.
 */
struct nlr_sock *open_responder(const char *name, bool join);

void hexdump_diag(const char *what, const unsigned char *p, int len);
bool check_err(int err, int want, const char *extack_sub, struct nlr_sock *s,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* waits until REQUESTS_PENDING >= @n (or @timeout_ms): true when reached */
bool wait_pending(struct nlr_sock *c, uint64_t n, int timeout_ms);

/* ---- the tests, one entry per area ---- */
void test_family(struct nlr_sock *c);
void test_delivery(struct nlr_sock *c);
void test_concurrency(struct nlr_sock *c);
void test_bulk(struct nlr_sock *c);
void test_flush(struct nlr_sock *c);
void test_reply(struct nlr_sock *c);
void test_timeout(struct nlr_sock *c);
void test_responders(struct nlr_sock *c);
void test_responsive(struct nlr_sock *c);
void test_stress(struct nlr_sock *c);
void test_batch(struct nlr_sock *c);
void test_replay(struct nlr_sock *c);
void test_subscribers(struct nlr_sock *c);
void test_ack_ranges(struct nlr_sock *c);
void test_badattr(struct nlr_sock *c);
void test_netns(struct nlr_sock *c);
void netns_member_checks(struct nlr_sock *c, bool as_nobody, int listen);

int run_unpriv(int listen);
int run_rmmod(const char *ko_dir);

#endif /* NLPUSH_SELFTEST_COMMON_H */
