// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest, subscribers: SUBSCRIBE (with and without
 * NLPUSH_F_RESPONDER), UNSUBSCRIBE, GET_SUBSCRIBERS and its counters, and
 * the subscriber going away with its socket or its process; ACK ranges
 * (SEQ + COUNT) and what they count.
 */
#include "common.h"

void test_subscribers(struct nlr_sock *c)
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
	err = do_subscribe_flags(s1k, "selftest-sub1", NLPUSH_F_RESPONDER);
	check_err(err, 0, NULL, s1k, "SUBSCRIBE with a name, FLAGS=RESPONDER");
	err = do_subscribe(s1k, "selftest-again");
	check_err(err, -EEXIST, NULL, s1k, "second SUBSCRIBE -> EEXIST");
	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, SUBSCRIBERS, 1);
	CHECK_DELTA(&s0, &s1, RESPONDERS, 1);

	err = get_subs(c, sl);
	sb = find_sub(sl, s1k->portid);
	ok = !err && sb && sb->complete && !strcmp(sb->name, "selftest-sub1") &&
	     sb->pid == (uint32_t)getpid() && sb->acks == 0 &&
	     sb->replies == 0 && sb->subscribed_ns >= t0 &&
	     sb->subscribed_ns <= nlr_now_ns() && sb->has_flags &&
	     sb->flags == NLPUSH_F_RESPONDER;
	if (!check(ok, "GET_SUBSCRIBERS shows name, portid, pid, counters, "
		   "subscribe time, FLAGS=RESPONDER"))
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
	CHECK_DELTA(&s0, &s2, RESPONDERS, 0);

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
	err = get_subs(c, sl);
	sb = find_sub(sl, s2k->portid);
	check(!err && sb && sb->has_flags && sb->flags == 0,
	      "a plain subscriber is listed with FLAGS 0");
	err = do_simple(s2k, NLPUSH_CMD_UNSUBSCRIBE);
	err = err ? err : do_subscribe_flags(s2k, "selftest-sub2c", 0);
	check_err(err, 0, NULL, s2k, "SUBSCRIBE with FLAGS 0 accepted");
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


/* ACK with COUNT: one message acknowledges SEQ .. SEQ + COUNT - 1 */
void test_ack_ranges(struct nlr_sock *c)
{
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct sub_list *sl = nlr_alloc(sizeof(*sl));
	uint64_t first, other_epoch = module_epoch ^ 0x5a5a5a5a5a5aull;
	int32_t status = 0;
	struct stats s0, s1, s2;
	struct nlr_sock *s;
	struct sub *sb;
	int err;
	bool ok;

	s = nlr_open(0);
	err = do_subscribe(s, "selftest-range");
	check_err(err, 0, NULL, s, "SUBSCRIBE for range acks");
	err = do_emit_count(c, 4, "r", 1, 100, er);
	check_err(err, 0, NULL, c, "EMIT 100 events");
	first = er->seq;
	stats_now(c, &s0);
	err = do_ack_range(s, first, 100, NULL, NULL);
	check_err(err, 0, NULL, s, "ACK SEQ COUNT 100: one message "
		  "acknowledges 100 events");
	err = do_ack_range(s, first + 10, 1, NULL, &module_epoch);
	check_err(err, 0, NULL, s, "ACK COUNT 1 with the module's EPOCH "
		  "accepted");
	stats_now(c, &s1);
	CHECK_DELTA(&s0, &s1, ACKS, 101);
	CHECK_DELTA(&s0, &s1, ACKS_REJECTED, 0);
	err = get_subs(c, sl);
	sb = find_sub(sl, s->portid);
	ok = !err && sb && sb->acks == 101 && sb->last_acked == first + 99;
	if (!check(ok, "per-subscriber ACKS += 101, LAST_ACKED_SEQ the "
		   "range's last (an older ack after it does not lower it)"))
		diag("err %s found %d acks %llu last %llu (want %llu)",
		     ename(err), !!sb,
		     (unsigned long long)(sb ? sb->acks : 0),
		     (unsigned long long)(sb ? sb->last_acked : 0),
		     (unsigned long long)(first + 99));

	/* refused by the handler, counted in ACKS_REJECTED */
	err = do_ack_range(s, first, 101, NULL, NULL);
	check_err(err, -EINVAL, "beyond the newest", s, "a range past the "
		  "newest event -> EINVAL");
	err = do_ack_range(s, first + 100, 1, NULL, NULL);
	check_err(err, -EINVAL, "never published", s, "a range starting at "
		  "the next (unpublished) seq -> EINVAL");
	err = do_ack_range(s, 0, 5, NULL, NULL);
	check_err(err, -EINVAL, "never published", s, "a range from seq 0 "
		  "-> EINVAL");
	err = do_ack_range(s, first, 2, &status, NULL);
	check_err(err, -EINVAL, "answered on its own", s, "COUNT with STATUS "
		  "(a range of answers) -> EINVAL");
	err = do_ack_range(s, first, 2, NULL, &other_epoch);
	check_err(err, -ESTALE, "epoch", s, "a range with another EPOCH -> "
		  "ESTALE");
	stats_now(c, &s2);
	CHECK_DELTA(&s1, &s2, ACKS, 0);
	CHECK_DELTA(&s1, &s2, ACKS_REJECTED, 5);

	/* refused by the policy (1 .. EMIT_COUNT_MAX) */
	err = do_ack_range(s, first, 0, NULL, NULL);
	check_err(err, -ERANGE, "", s, "COUNT 0 -> ERANGE, with extack");
	err = do_ack_range(s, first, NLPUSH_EMIT_COUNT_MAX + 1, NULL, NULL);
	check_err(err, -ERANGE, "", s, "COUNT above %u -> ERANGE",
		  NLPUSH_EMIT_COUNT_MAX);
	nlr_close(s);
	free(sl);
	free(er);
}
