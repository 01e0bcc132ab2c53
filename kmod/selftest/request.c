// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest, requests: a request is published with REPLY_WANTED and
 * answered by a responder (a socket subscribed with NLPUSH_F_RESPONDER)
 * through an ACK with STATUS; an EMIT request returns at once and its
 * answer comes as a NLPUSH_CMD_REPLY message. Timeouts, killed requesters,
 * the ACK rules (EPERM, EINVAL, ENOENT, ESTALE), the last responder going
 * away, and the host staying responsive while a request waits.
 */
#include "common.h"

/* EMIT request answered: REPLY matched by nlmsg_seq, answer and portid */
static bool reply_ok(const struct emit_reply *er, int32_t status,
		     const void *want, int wlen, uint32_t portid)
{
	return er->got && er->count == 1 && er->has_epoch &&
	       er->epoch == module_epoch && er->got_reply &&
	       er->n_replies == 1 && er->reply_nl_seq == er->nl_seq &&
	       er->reply_seq == er->seq && er->reply_has_epoch &&
	       er->reply_epoch == module_epoch && er->has_error &&
	       er->error == 0 && er->has_status && er->status == status &&
	       er->has_payload && er->len == wlen &&
	       !memcmp(er->payload, want, wlen) && er->has_portid &&
	       er->portid == portid;
}

static void reply_diag(const char *what, int err, const struct nlr_sock *s,
		       const struct emit_reply *er)
{
	diag("%s: err %s (\"%s\"), EMIT reply %d seq %llu epoch %d; REPLY "
	     "%d (x%d, nlmsg_seq %u of %u) seq %llu error %d:%s status %d:%d "
	     "portid %d:%u payload %d:%d", what, ename(err), s->extack,
	     er->got, (unsigned long long)er->seq, er->has_epoch,
	     er->got_reply, er->n_replies, er->reply_nl_seq, er->nl_seq,
	     (unsigned long long)er->reply_seq, er->has_error,
	     ename(er->error), er->has_status, er->status, er->has_portid,
	     er->portid, er->has_payload, er->len);
}

/* a failed request: REPLY with ERROR @want (and no answer) */
static bool reply_failed(const struct emit_reply *er, int want)
{
	return er->got && er->got_reply && er->n_replies == 1 &&
	       er->reply_seq == er->seq && er->has_error &&
	       er->error == want && !er->has_status && !er->has_portid;
}

void test_reply(struct nlr_sock *c)
{
	struct req_result *rr = nlr_alloc(sizeof(*rr));
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	unsigned char want[256];
	struct responder r;
	struct emit_args ea;
	struct stats s0, s1, s2;
	char line[1024];
	struct nlr_sock *rs;
	uint64_t req_seq, plain_seq, t0, el;
	int err, wlen;
	bool ok;

	stats_now(c, &s0);
	rs = open_responder("selftest-responder", true);
	stats_now(c, &s1);
	if (!check(ST(&s1, RESPONDERS) == ST(&s0, RESPONDERS) + 1,
		   "stats RESPONDERS counts the responder"))
		diag("RESPONDERS %llu -> %llu",
		     (unsigned long long)ST(&s0, RESPONDERS),
		     (unsigned long long)ST(&s1, RESPONDERS));

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

	/* 3: EMIT with REPLY_WANTED: the answer is a REPLY message */
	r.status = 7;
	t0 = nlr_now_ns();
	err = do_request(c, 123, "ping-nlpush", 11, 10000, er, 15000);
	el = ms_since(t0);
	wlen = reply_for((const unsigned char *)"ping-nlpush", 11, want);
	ok = !err && reply_ok(er, 7, want, wlen, rs->portid) &&
	     !er->bad_extra;
	if (!check(ok, "EMIT REPLY_WANTED: EMIT reply (SEQ, COUNT 1, EPOCH), "
		   "then REPLY with STATUS, PAYLOAD, PORTID, same nlmsg_seq"))
		reply_diag("EMIT request", err, c, er);
	vdiag("EMIT request answered in %llu ms", (unsigned long long)el);
	pthread_mutex_lock(&r.lock);
	check(er->seq == r.last_seq && er->seq > req_seq,
	      "EMIT request SEQ is the seq of the event the responder saw");
	pthread_mutex_unlock(&r.lock);

	responder_stop(&r);
	check(r.requests == 3 && r.bad_requests == 0 && r.ack_ok == 3 &&
	      r.ack_err == 0,
	      "responder saw 3 requests with intact payloads, its 3 ACKs "
	      "accepted");
	if (r.requests != 3 || r.ack_ok != 3)
		diag("requests %d bad %d ack_ok %d ack_err %d (last %s)",
		     r.requests, r.bad_requests, r.ack_ok, r.ack_err,
		     ename(r.last_ack_err));
	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, REQUESTS, 3);
	CHECK_DELTA(&s0, &s1, REPLIES, 3);
	CHECK_DELTA(&s0, &s1, REQUESTS_FAILED, 0);
	CHECK_DELTA(&s0, &s1, ACKS, 3);
	check(ST(&s1, REQUESTS_PENDING) == 0, "no request pending");

	/* second answers for an answered request */
	err = do_ack(rs, er->seq, true, 1, NULL, 0);
	check_err(err, -ENOENT, "", rs, "second answer (STATUS, from the "
		  "responder) for an answered request -> ENOENT");
	err = do_ack(c, er->seq, true, 1, NULL, 0);
	check_err(err, -EPERM, "responder", c, "answer (STATUS) from a "
		  "socket that is no responder -> EPERM");
	err = do_ack(rs, er->seq, false, 0, "x", 1);
	check_err(err, -EINVAL, "status", rs, "ACK with PAYLOAD but no STATUS "
		  "-> EINVAL");
	if (ST(&s1, RING_MAX_EVENTS)) {
		err = do_ack(rs, er->seq, false, 0, NULL, 0);
		check_err(err, -EINVAL, "status", rs, "plain ACK of an "
			  "answered request still in the ring -> EINVAL");
	} else {
		skip("ring disabled", "plain ACK for an answered request");
	}

	/* plain ack of an ordinary event */
	memset(&ea, 0, sizeof(ea));
	err = do_emit(c, &ea, er);
	plain_seq = er->seq;
	err = err ? err : do_ack(c, plain_seq, false, 0, NULL, 0);
	check_err(err, 0, NULL, c, "plain ACK of an ordinary event accepted");
	err = do_ack_epoch(c, plain_seq, module_epoch, false, 0);
	check_err(err, 0, NULL, c, "plain ACK with the module's EPOCH "
		  "accepted");
	err = do_ack(rs, plain_seq, true, 0, NULL, 0);
	check_err(err, -ENOENT, "", rs, "answer (STATUS) for an event that "
		  "wanted no reply -> ENOENT");
	err = do_ack(c, plain_seq, true, 0, NULL, 0);
	check_err(err, -EPERM, "responder", c, "... and from a non-responder "
		  "-> EPERM");
	err = do_ack_epoch(c, plain_seq, module_epoch ^ 0x5a5a5a5a5a5aull,
			   false, 0);
	check_err(err, -ESTALE, "epoch", c, "ACK with another EPOCH -> "
		  "ESTALE");
	err = do_ack_epoch(rs, plain_seq, module_epoch + 1, true, 0);
	check_err(err, -ESTALE, "epoch", rs, "answer with another EPOCH -> "
		  "ESTALE (checked first)");
	stats_now(c, &s2);
	CHECK_DELTA(&s1, &s2, ACKS, 2);
	CHECK_DELTA(&s1, &s2, ACKS_REJECTED,
		    ST(&s1, RING_MAX_EVENTS) ? 8 : 7);
	CHECK_DELTA(&s1, &s2, REPLIES, 0);

	/* sequence numbers that never existed */
	err = do_ack(c, ST(&s2, NEXT_SEQ), false, 0, NULL, 0);
	check_err(err, -EINVAL, "never published", c,
		  "ACK for the next (unpublished) seq -> EINVAL");
	err = do_ack(rs, ST(&s2, NEXT_SEQ) + 1000000, true, 0, NULL, 0);
	check_err(err, -EINVAL, "never published", rs,
		  "answer for a far future seq -> EINVAL");
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
static void test_killed_requesters(struct nlr_sock *c, struct nlr_sock *rs)
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

				do_request(s, 34, "kill", 4, 30000, er, 60000);
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
		for (i = 0; i < 400; i++) {
			stats_now(c, &s1);
			if (ST(&s1, REQUESTS_PENDING) == ST(&s0, REQUESTS_PENDING))
				break;
			msleep(10);
		}
		/* withdrawn at once: failed, not timed out */
		ok = ok &&
		     ST(&s1, REQUESTS_PENDING) == ST(&s0, REQUESTS_PENDING) &&
		     DELTA(&s0, &s1, REQUESTS) == 1 &&
		     DELTA(&s0, &s1, REPLIES) == 0 &&
		     DELTA(&s0, &s1, REQUEST_TIMEOUTS) == 0 &&
		     DELTA(&s0, &s1, REQUESTS_FAILED) == 1;
		if (!check(ok, "SIGKILLed %s requester: request withdrawn, "
			   "counted in REQUESTS_FAILED, not as timeout",
			   how[k]))
			diag("pending %llu -> %llu, requests +%llu, timeouts "
			     "+%llu, failed +%llu",
			     (unsigned long long)ST(&s0, REQUESTS_PENDING),
			     (unsigned long long)ST(&s1, REQUESTS_PENDING),
			     (unsigned long long)DELTA(&s0, &s1, REQUESTS),
			     (unsigned long long)DELTA(&s0, &s1,
						       REQUEST_TIMEOUTS),
			     (unsigned long long)DELTA(&s0, &s1,
						       REQUESTS_FAILED));
		vdiag("killed %s: timeouts +%llu failed +%llu undelivered "
		      "+%llu", how[k],
		      (unsigned long long)DELTA(&s0, &s1, REQUEST_TIMEOUTS),
		      (unsigned long long)DELTA(&s0, &s1, REQUESTS_FAILED),
		      (unsigned long long)DELTA(&s0, &s1,
						REPLIES_UNDELIVERED));
		/* its event is still in the ring, flagged REPLY_WANTED */
		if (ST(&s1, RING_MAX_EVENTS)) {
			int err = do_ack(rs, ST(&s1, NEXT_SEQ) - 1, true, 0,
					 NULL, 0);

			check_err(err, -ENOENT, "", rs,
				  "answer for the killed %s -> ENOENT", how[k]);
		}
	}
}

void test_timeout(struct nlr_sock *c)
{
	struct req_result *rr = nlr_alloc(sizeof(*rr));
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct stats s0, s1;
	char line[256];
	struct nlr_sock *l;
	uint64_t t0, el, el_reply;
	int err;

	/* a responder that never answers */
	l = open_responder("selftest-silent", true);
	stats_now(c, &s0);

	t0 = nlr_now_ns();
	err = dbg_request(8, 300, 31, rr, line, sizeof(line));
	el = ms_since(t0);
	if (!check(!err && rr->is_error && rr->error == -ETIMEDOUT,
		   "unanswered debugfs request -> error=-110"))
		diag("err %s, line \"%s\"", ename(err), line);
	check(el >= 280 && el < 10000,
	      "request timed out after its 300 ms (%llu ms)",
	      (unsigned long long)el);

	t0 = nlr_now_ns();
	err = do_request(c, 0, "t", 1, 300, er, 10000);
	el_reply = er->got_reply ? (er->reply_ns - t0) / 1000000 : 99999;
	if (!check(!err && reply_failed(er, -ETIMEDOUT) && er->reply_epoch ==
		   module_epoch, "unanswered EMIT request: EMIT succeeds, then "
		   "REPLY with ERROR -ETIMEDOUT"))
		reply_diag("EMIT request, silent responder", err, c, er);
	check(el_reply >= 280 && el_reply < 10000,
	      "REPLY came after TIMEOUT_MS 300 (%llu ms)",
	      (unsigned long long)el_reply);
	(void)el;

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

			for (; NLMSG_OK(nlh, n); nlh = NLMSG_NEXT(nlh, n))
				if (!parse_event(nlh, &ev) &&
				    (ev.flags & NLPUSH_F_REPLY_WANTED))
					late = ev.seq;
		}
		err = late ? do_ack(l, late, true, 0, NULL, 0) : -ENODATA;
		check_err(err, -ENOENT, "", l,
			  "late answer after the timeout -> ENOENT");
	}
	test_killed_requesters(c, l);
	nlr_close(l);

	/* nobody answers requests */
	stats_now(c, &s1);
	if (ST(&s1, RESPONDERS)) {
		skip("another responder is registered",
		     "requests with no responder");
	} else {
		err = dbg_request(8, 300, 32, rr, line, sizeof(line));
		if (!check(!err && rr->is_error && rr->error == -ENOTCONN,
			   "debugfs request with no responder -> error=-107"))
			diag("err %s, line \"%s\"", ename(err), line);
		err = do_request(c, 0, "t", 1, 300, er, 2000);
		check_err(err, -ENOTCONN, "responder", c,
			  "EMIT request with no responder -> ENOTCONN");
	}
	free(rr);
	free(er);
}

/* ------------------------------------------------------------------ */
/* responders                                                           */

struct dbg_req_th {
	pthread_t th;
	struct req_result rr;
	char line[256];
	int err;
	uint64_t end_ns;
	volatile int done;
};

static void *dbg_req_main(void *arg)
{
	struct dbg_req_th *t = arg;

	t->err = dbg_request(4, 8000, 35, &t->rr, t->line, sizeof(t->line));
	t->end_ns = nlr_now_ns();
	t->done = 1;
	return NULL;
}

void test_responders(struct nlr_sock *c)
{
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct sub_list *sl = nlr_alloc(sizeof(*sl));
	struct dbg_req_th *dt = nlr_alloc(sizeof(*dt));
	struct responder acker, r;
	struct nlr_sock *ak, *rs;
	struct stats s0, s1, s_mid;
	struct sub *sb;
	unsigned char want[64];
	uint64_t t0, el;
	int err, i, wlen, answered = 0;
	bool ok;

	stats_now(c, &s0);
	if (ST(&s0, RESPONDERS)) {
		skip("another responder is registered", "responders");
		goto out;
	}
	/* a subscribed listener that plain-ACKs everything, no responder */
	ak = nlr_open(BIG_RCVBUF);
	if (nlr_join(ak, events_grp))
		bail("join");
	err = do_subscribe(ak, "selftest-acker");
	check_err(err, 0, NULL, ak, "non-responder subscribed, acking every "
		  "event");
	responder_start_mode(&acker, ak, 0, RESP_ACK_ALL);

	t0 = nlr_now_ns();
	err = do_request(c, 130, "anyone?", 7, 3000, er, 4000);
	el = ms_since(t0);
	if (!check_err(err, -ENOTCONN, "responder", c, "EMIT request with a "
		       "subscribed acker but no responder -> ENOTCONN"))
		reply_diag("request, acker only", err, c, er);
	if (!check(el < 100, "... at once (%llu ms, limit 100)",
		   (unsigned long long)el))
		diag("took %llu ms", (unsigned long long)el);
	{
		struct req_result rr;
		char line[256];

		t0 = nlr_now_ns();
		err = dbg_request(4, 3000, 36, &rr, line, sizeof(line));
		el = ms_since(t0);
		if (!check(!err && rr.is_error && rr.error == -ENOTCONN &&
			   el < 100, "debugfs request with the acker only -> "
			   "error=-107 at once (%llu ms)",
			   (unsigned long long)el))
			diag("err %s line \"%s\"", ename(err), line);
	}

	/* a responder joins: it answers, the acker's plain ACKs are refused */
	rs = open_responder("selftest-answerer", true);
	responder_start(&r, rs, 9);
	for (i = 0; i < 5; i++) {
		char p[16];

		snprintf(p, sizeof(p), "who-%d", i);
		err = do_request(c, 131, p, strlen(p), 10000, er, 15000);
		wlen = reply_for((unsigned char *)p, strlen(p), want);
		if (!err && reply_ok(er, 9, want, wlen, rs->portid))
			answered++;
		else
			reply_diag("request with acker and responder", err, c,
				   er);
	}
	check(answered == 5, "5 requests with an acker and a responder: each "
	      "answered by the responder (REPLY PORTID %u)", rs->portid);
	responder_stop(&r);
	msleep(100);
	pthread_mutex_lock(&acker.lock);
	ok = acker.ack_err >= 5 && acker.last_ack_err == -EINVAL;
	if (!check(ok, "the acker's plain ACKs of requests -> EINVAL"))
		diag("acker: %llu events, %d acks ok, %d refused (last %s)",
		     (unsigned long long)acker.events, acker.ack_ok,
		     acker.ack_err, ename(acker.last_ack_err));
	pthread_mutex_unlock(&acker.lock);
	responder_stop(&acker);

	err = get_subs(c, sl);
	sb = find_sub(sl, rs->portid);
	ok = !err && sb && sb->has_flags && sb->flags == NLPUSH_F_RESPONDER &&
	     sb->replies == 5;
	if (!check(ok, "GET_SUBSCRIBERS: responder FLAGS=RESPONDER, "
		   "REPLIES 5"))
		diag("found %d flags %d:%#x replies %llu", !!sb,
		     sb ? sb->has_flags : 0, sb ? sb->flags : 0,
		     (unsigned long long)(sb ? sb->replies : 0));
	sb = find_sub(sl, ak->portid);
	check(!err && sb && sb->has_flags && sb->flags == 0 &&
	      sb->replies == 0, "GET_SUBSCRIBERS: acker FLAGS=0, REPLIES 0");

	/* ACK rules on a request that waits (the responder is silent now) */
	err = do_emit(c, &(struct emit_args){
			.has_flags = true, .flags = NLPUSH_F_REPLY_WANTED,
			.has_timeout = true, .timeout_ms = 10000,
			.payload = "rules", .len = 5 }, er);
	check_err(err, 0, NULL, c, "EMIT request to a silent responder "
		  "returns at once");
	err = do_ack(ak, er->seq, true, 1, NULL, 0);
	check_err(err, -EPERM, "responder", ak, "answer (STATUS) from a "
		  "subscribed non-responder -> EPERM");
	err = do_ack(ak, er->seq, false, 0, NULL, 0);
	check_err(err, -EINVAL, "status", ak, "plain ACK of a waiting request "
		  "-> EINVAL");
	err = do_ack(rs, er->seq, false, 0, NULL, 0);
	check_err(err, -EINVAL, "status", rs, "plain ACK of a waiting request "
		  "from the responder -> EINVAL");
	err = do_ack_epoch(rs, er->seq, module_epoch ^ 1, true, 3);
	check_err(err, -ESTALE, "epoch", rs, "answer with a stale EPOCH -> "
		  "ESTALE");
	err = do_ack_epoch(rs, er->seq, module_epoch, true, 3);
	check_err(err, 0, NULL, rs, "answer with the right EPOCH accepted");
	err = wait_reply(c, er, 5000);
	if (!check(!err && er->got_reply && !er->error && er->status == 3 &&
		   er->portid == rs->portid && er->has_payload && !er->len,
		   "REPLY: STATUS 3, empty PAYLOAD, PORTID of the responder"))
		reply_diag("request answered by hand", err, c, er);

	/* the last responder leaves while a request waits */
	stats_now(c, &s_mid);
	err = do_emit(c, &(struct emit_args){
			.has_flags = true, .flags = NLPUSH_F_REPLY_WANTED,
			.has_timeout = true, .timeout_ms = 8000,
			.payload = "bye", .len = 3 }, er);
	check_err(err, 0, NULL, c, "EMIT request (8 s timeout)");
	msleep(50);
	t0 = nlr_now_ns();
	nlr_close(rs);
	err = wait_reply(c, er, 10000);
	el = er->got_reply ? (er->reply_ns - t0) / 1000000 : 99999;
	if (!check(!err && reply_failed(er, -ENOTCONN) && el < 2000,
		   "last responder closes its socket: REPLY ERROR -ENOTCONN "
		   "(%llu ms, limit 2000)", (unsigned long long)el))
		reply_diag("request, responder gone", err, c, er);

	/* and the in-kernel requester (nlpush_test's debugfs request) */
	rs = open_responder("selftest-leaving", false);
	if (pthread_create(&dt->th, NULL, dbg_req_main, dt))
		bail("pthread_create");
	ok = wait_pending(c, ST(&s0, REQUESTS_PENDING) + 1, 5000);
	t0 = nlr_now_ns();
	nlr_close(rs);
	for (i = 0; i < 1000 && !dt->done; i++)
		msleep(10);
	el = dt->done ? (dt->end_ns - t0) / 1000000 : 99999;
	if (!check(ok && dt->done && !dt->err && dt->rr.is_error &&
		   dt->rr.error == -ENOTCONN && el < 2000,
		   "last responder leaves during a debugfs request: "
		   "error=-107 (%llu ms, limit 2000)", (unsigned long long)el))
		diag("pending seen %d, done %d, err %s, line \"%s\"", ok,
		     dt->done, ename(dt->err), dt->line);
	pthread_join(dt->th, NULL);

	stats_now(c, &s1);
	check(ST(&s1, RESPONDERS) == 0 && ST(&s1, REQUESTS_PENDING) == 0,
	      "no responder, nothing pending afterwards");
	CHECK_DELTA(&s_mid, &s1, REQUESTS_FAILED, 2);
	CHECK_DELTA(&s_mid, &s1, REQUEST_TIMEOUTS, 0);
	nlr_close(ak);
out:
	free(dt);
	free(sl);
	free(er);
}

/* ------------------------------------------------------------------ */
/* the host stays responsive while a request waits                      */

/* runs @argv with stdout/stderr to /dev/null; its run time in ms or -1 */
static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* waits at most @timeout_ms; exit code or -1 (killed after the timeout) */
static int reap_ms(pid_t pid, uint64_t t0, int timeout_ms, uint64_t *ms)
{
	int status;

	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			*ms = ms_since(t0);
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		if ((int64_t)ms_since(t0) > timeout_ms) {
			*ms = ms_since(t0);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		msleep(5);
	}
}

static int run_quiet(char *const argv[])
{
	uint64_t ms;

	return reap_ms(spawn(argv), nlr_now_ns(), 60000, &ms);
}

struct hold {
	pthread_t th;
	struct nlr_sock *s;
	struct emit_reply *er;
	int err, rerr;
	uint64_t emit_ms, reply_ms, t0;
};

static void *hold_main(void *arg)
{
	struct hold *h = arg;

	/*
	 * 30 s: longer than the modprobe and controller steps below take on
	 * a slow, loaded TCG guest (8 s ran out there before the responder
	 * left); the old module blocked them for the request's whole timeout,
	 * far beyond their limits.
	 */
	h->s->timeout_ms = 45000;
	h->err = do_emit(h->s, &(struct emit_args){
			.has_flags = true, .flags = NLPUSH_F_REPLY_WANTED,
			.has_timeout = true, .timeout_ms = 30000,
			.payload = "hold", .len = 4 }, h->er);
	h->emit_ms = ms_since(h->t0);
	h->rerr = h->err ? h->err : wait_reply(h->s, h->er, 45000);
	h->reply_ms = ms_since(h->t0);
	return NULL;
}

void test_responsive(struct nlr_sock *c)
{
	static char *const mp[] = { "modprobe", "wireguard", NULL };
	static char *const mp_r[] = { "modprobe", "-r", "wireguard", NULL };
	static char *const rm[] = { "rmmod", "wireguard", NULL };
	static char *const genl[] = { "genl", "ctrl", "get", "name", "nlctrl",
				      NULL };
	struct hold h = { 0 };
	struct nlr_sock *rs;
	uint64_t t_mp, t_genl, ms_mp = 0, ms_genl = 0, ms_base, limit;
	uint64_t ms_genl_base = 0, limit_genl;
	pid_t p_mp, p_genl;
	int rc_mp, rc_genl;
	bool ok;

	if (!access("/sys/module/wireguard", F_OK)) {
		skip("wireguard already loaded", "host responsive while a "
		     "request waits");
		return;
	}
	/* loads wireguard's dependencies and warms the page cache */
	if (run_quiet(mp) || run_quiet(rm) || run_quiet(genl)) {
		skip("modprobe wireguard / genl unavailable",
		     "host responsive while a request waits");
		run_quiet(mp_r);
		return;
	}

	/*
	 * What a warm modprobe costs here with nothing waiting: the limit is
	 * 1 s, or twice that cost on a guest so slow or loaded that it alone
	 * takes more than half a second (the old module blocked for the
	 * request's whole 8 s timeout).
	 */
	t_mp = nlr_now_ns();
	run_quiet(mp);
	ms_base = ms_since(t_mp);
	run_quiet(rm);
	limit = ms_base > 500 ? 2 * ms_base : 1000;
	/*
	 * And what the controller query costs while modprobe runs, with
	 * nothing waiting (a loaded TCG guest: 588 ms on 5.10; one 5.10 run
	 * saw 2352 ms while a request waited). Same rule: 1 s, or twice that
	 * where it alone takes more than half a second.
	 */
	p_mp = spawn(mp);
	msleep(100);
	t_genl = nlr_now_ns();
	p_genl = spawn(genl);
	reap_ms(p_genl, t_genl, 20000, &ms_genl_base);
	reap_ms(p_mp, t_mp, 20000, &ms_mp);
	run_quiet(rm);
	limit_genl = ms_genl_base > 500 ? 2 * ms_genl_base : 1000;

	rs = open_responder("selftest-never", true);
	h.s = nlr_open(0);
	h.er = nlr_alloc(sizeof(*h.er));
	h.t0 = nlr_now_ns();
	if (pthread_create(&h.th, NULL, hold_main, &h))
		bail("pthread_create");
	ok = wait_pending(c, 1, 5000);
	check(ok, "an EMIT request waits for a responder that never answers "
	      "(TIMEOUT_MS 30000)");
	msleep(100);

	/* family registration (modprobe) and a controller query, at once */
	t_mp = nlr_now_ns();
	p_mp = spawn(mp);
	msleep(100);
	t_genl = nlr_now_ns();
	p_genl = spawn(genl);
	rc_genl = reap_ms(p_genl, t_genl, 20000, &ms_genl);
	rc_mp = reap_ms(p_mp, t_mp, 20000, &ms_mp);
	if (!check(rc_mp == 0 && ms_mp < limit, "modprobe wireguard while the "
		   "request waits: %llu ms (limit %llu; %llu ms with nothing "
		   "waiting)", (unsigned long long)ms_mp,
		   (unsigned long long)limit, (unsigned long long)ms_base))
		diag("modprobe exit %d after %llu ms", rc_mp,
		     (unsigned long long)ms_mp);
	if (!check(rc_genl == 0 && ms_genl < limit_genl, "genl ctrl get name "
		   "nlctrl while the request waits: %llu ms (limit %llu; %llu "
		   "ms during a modprobe with nothing waiting)",
		   (unsigned long long)ms_genl, (unsigned long long)limit_genl,
		   (unsigned long long)ms_genl_base))
		diag("genl exit %d after %llu ms", rc_genl,
		     (unsigned long long)ms_genl);
	check(!access("/sys/module/wireguard", F_OK) && run_quiet(mp_r) == 0,
	      "wireguard loaded, then removed (modprobe -r)");

	/* end the request: its only responder goes away */
	nlr_close(rs);
	pthread_join(h.th, NULL);
	if (!check(!h.err && h.emit_ms < 1000 && !h.rerr &&
		   h.er->got_reply && h.er->error == -ENOTCONN,
		   "the held EMIT returned at once (%llu ms), its REPLY "
		   "(%s) came when the responder left",
		   (unsigned long long)h.emit_ms, ename(h.er->error)))
		diag("EMIT %s after %llu ms, REPLY %s after %llu ms",
		     ename(h.err), (unsigned long long)h.emit_ms,
		     ename(h.rerr), (unsigned long long)h.reply_ms);
	nlr_close(h.s);
	free(h.er);
}
