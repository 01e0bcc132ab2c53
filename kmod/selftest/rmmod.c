// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest, rmmod-under-load: nlpush_test and nlpush are unloaded
 * while listeners are joined, producers write, four threads EMIT (bulk
 * and requests), a request waits for its REPLY and a REPLAY dump is half
 * read. The dump pins the module: rmmod fails cleanly while its socket is
 * open and succeeds once it is closed. Then the modules are loaded again
 * and an ACK carrying the old epoch is refused.
 */
#include "common.h"

#define NLISTEN 3
#define NEMIT	4

/* an EMIT request that waits (30 s) for a REPLY that only rmmod sends */
struct waiter {
	pthread_t th;
	int err, rerr;
	struct emit_reply *er;
	volatile int done;
	uint64_t end_ns;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct nlr_sock *s = nlr_open(0);

	s->timeout_ms = 90000;
	w->er = nlr_alloc(sizeof(*w->er));
	w->err = do_emit(s, &(struct emit_args){
			.has_flags = true, .flags = NLPUSH_F_REPLY_WANTED,
			.has_timeout = true, .timeout_ms = 30000,
			.payload = "wait", .len = 4 }, w->er);
	w->rerr = w->err ? w->err : wait_reply(s, w->er, 90000);
	w->end_ns = nlr_now_ns();
	w->done = 1;
	nlr_close(s);
	return NULL;
}

/*
 * EMIT threads: even ones bulk (COUNT 1000, a work item finishes them),
 * odd ones requests (200 ms, to the silent responder). They run until an
 * EMIT fails; the family gone (ENOENT) or ESHUTDOWN is how they should end.
 */
struct emitter {
	pthread_t th;
	int idx;
	volatile int *stop;
	int err;		/* the EMIT error that ended the loop */
	uint64_t emits, replies, bad_replies;
	int last_reply_err;
};

static void *emitter_main(void *arg)
{
	struct emitter *e = arg;
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct nlr_sock *s = nlr_open(0);
	struct emit_args ea;

	s->timeout_ms = 60000;
	memset(&ea, 0, sizeof(ea));
	ea.has_type = true;
	ea.type = 63 + e->idx;
	if (e->idx % 2 == 0) {
		ea.has_count = true;
		ea.count = 1000;
	} else {
		ea.has_flags = true;
		ea.flags = NLPUSH_F_REPLY_WANTED;
		ea.has_timeout = true;
		ea.timeout_ms = 200;
	}
	while (!*e->stop) {
		e->err = do_emit(s, &ea, er);
		if (e->err == -EBUSY) {	/* too many bulk or pending */
			msleep(5);
			continue;
		}
		if (e->err)
			break;
		e->emits++;
		if (ea.has_flags) {
			if (wait_reply(s, er, 30000)) {
				e->bad_replies++;
				break;
			}
			e->replies++;
			e->last_reply_err = er->error;
			if (er->error == -ESHUTDOWN)
				break;
			if (er->error != -ETIMEDOUT)
				e->bad_replies++;
		} else {
			msleep(2);
		}
	}
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

/*
 * Starts a REPLAY dump of the whole ring on a new socket and reads only its
 * first batch: the dump stays open (and pins the module). NULL when the
 * ring held too little to leave the dump unfinished.
 */
static struct nlr_sock *half_read_dump(uint64_t *first_n)
{
	struct nlr_sock *d = nlr_open(0);
	struct nlr_msg *m = cmd_new(NLPUSH_CMD_REPLAY, NLM_F_DUMP);
	struct nlmsghdr *nlh;
	bool done = false;
	uint64_t n_ev = 0;
	int rcv = 4096;
	ssize_t n;

	/* a small queue: the kernel goes on dumping only as we read */
	setsockopt(d->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	nlr_send(d, m);
	nlr_msg_free(m);
	n = nlr_recv(d, 5000);
	for (nlh = (struct nlmsghdr *)d->rx; n > 0 && NLMSG_OK(nlh, n);
	     nlh = NLMSG_NEXT(nlh, n)) {
		struct event ev;

		if (nlh->nlmsg_type == NLMSG_DONE ||
		    nlh->nlmsg_type == NLMSG_ERROR)
			done = true;
		else if (!parse_event(nlh, &ev))
			n_ev++;
	}
	*first_n = n_ev;
	if (done || !n_ev) {
		nlr_close(d);
		return NULL;
	}
	return d;
}

int run_rmmod(const char *ko_dir)
{
	struct nlr_sock *c = nlr_open(0);
	struct nlr_sock *l[NLISTEN], *rs, *dump;
	struct emitter em[NEMIT];
	struct waiter w = { 0 };
	struct nlr_family fi;
	struct stats st;
	pid_t dbg_pid, nl_pid;
	uint64_t t_rm, el, epoch0, dump_first = 0;
	volatile int em_stop = 0;
	int err, k, i, att, status, rcv = 16384;
	bool ok, reaped;

	need_family(c, true);
	epoch0 = module_epoch;
	for (k = 0; k < NLISTEN; k++) {
		l[k] = nlr_open(0);
		setsockopt(l[k]->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		if (nlr_join(l[k], events_grp))
			bail("join");
	}
	/* a responder that never answers: requests wait */
	rs = open_responder("selftest-rmmod", true);
	setsockopt(rs->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	dbg_pid = spawn_debugfs_producer();
	nl_pid = spawn_netlink_producer();
	if (pthread_create(&w.th, NULL, waiter_main, &w))
		bail("pthread_create");
	for (k = 0; k < NEMIT; k++) {
		memset(&em[k], 0, sizeof(em[k]));
		em[k].idx = k;
		em[k].stop = &em_stop;
		if (pthread_create(&em[k].th, NULL, emitter_main, &em[k]))
			bail("pthread_create");
	}

	ok = wait_pending(c, 1, 5000);
	/*
	 * The emitter threads' requests can make one pending before the
	 * waiter's EMIT reply was read: give that reply the same 5 s.
	 */
	for (i = 0; i < 500 && !__atomic_load_n(&w.err, __ATOMIC_ACQUIRE) &&
		    !(__atomic_load_n(&w.er, __ATOMIC_ACQUIRE) &&
		      __atomic_load_n(&w.er->got, __ATOMIC_ACQUIRE)); i++)
		msleep(10);
	get_stats(c, &st);
	check(ok && !w.done, "EMIT requests (30 s timeout) pending under load");
	if (!check(!w.err && w.er && w.er->got && !w.er->got_reply,
		   "the waiting EMIT returned at once, no REPLY yet"))
		diag("waiter: done %d err %s", w.done, ename(w.err));
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

	/* a REPLAY dump, half read, pins nlpush */
	dump = half_read_dump(&dump_first);
	if (!dump) {
		skip("ring too small for an unfinished dump",
		     "rmmod nlpush while a REPLAY dump is half read");
	} else {
		vdiag("dump: %llu events in its first batch",
		      (unsigned long long)dump_first);
		err = rm_module("nlpush", 3, &att);
		ok = (err == -EAGAIN || err == -EBUSY) &&
		     !access("/sys/module/nlpush", F_OK);
		if (!check(ok, "rmmod nlpush while a REPLAY dump is half read "
			   "-> %s, module stays", ename(err)))
			diag("delete_module: %s", ename(err));
		err = get_stats(c, &st);
		check(!err && !w.done, "... and keeps working (GET_STATS), the "
		      "request still waits");
		nlr_close(dump);
	}

	t_rm = nlr_now_ns();
	err = rm_module("nlpush", 250, &att);
	el = ms_since(t_rm);
	if (!check(!err, "rmmod nlpush with listeners, a producer, %d EMIT "
		   "threads and a waiter%s", NEMIT,
		   dump ? ", once the dump socket is closed" : ""))
		diag("delete_module: %s after %d attempts", ename(err), att);
	vdiag("rmmod nlpush took %llu ms, %d attempt(s)",
	      (unsigned long long)el, att);

	for (i = 0; i < 2000 && !w.done; i++)
		msleep(10);
	el = w.done ? (w.end_ns - t_rm) / 1000000 : 99999;
	ok = w.done && !w.err && !w.rerr && w.er->got_reply &&
	     w.er->error == -ESHUTDOWN && w.er->reply_epoch == epoch0;
	if (!check(ok, "waiting request: REPLY with ERROR -ESHUTDOWN"))
		diag("done %d, EMIT %s, wait %s, REPLY %d error %s",
		     w.done, ename(w.err), ename(w.rerr),
		     w.er ? w.er->got_reply : 0,
		     w.er ? ename(w.er->error) : "-");
	if (!check(w.done && el < 10000, "... %llu ms after rmmod started "
		   "(limit 10000, timeout 30000)", (unsigned long long)el))
		diag("waiter still blocked or late");
	if (w.done)
		pthread_join(w.th, NULL);

	/* the EMIT threads end with the family gone */
	em_stop = 1;
	ok = true;
	for (k = 0; k < NEMIT; k++) {
		pthread_join(em[k].th, NULL);
		if ((em[k].err != -ENOENT && em[k].err != -ESHUTDOWN &&
		     !(em[k].idx % 2 && em[k].last_reply_err == -ESHUTDOWN)) ||
		    em[k].bad_replies || !em[k].emits)
			ok = false;
		diag("EMIT thread %d (%s): %llu EMITs, %llu REPLYs, ended "
		     "with %s (last REPLY %s)", k, k % 2 ? "requests" : "bulk",
		     (unsigned long long)em[k].emits,
		     (unsigned long long)em[k].replies, ename(em[k].err),
		     ename(em[k].last_reply_err));
	}
	check(ok, "%d EMIT threads (bulk and requests) ran and ended with "
	      "family-gone/ESHUTDOWN", NEMIT);

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
	nlr_close(rs);
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
	if (!check(!err && st.has_epoch && st.epoch && st.epoch != epoch0,
		   "fresh module: a new EPOCH"))
		diag("epoch %llx, before %llx", (unsigned long long)st.epoch,
		     (unsigned long long)epoch0);
	for (i = 0; i < 100 && access(DBG_DIR "/emit", W_OK); i++)
		msleep(10);
	err = dbg_write("emit", "3 10 1");
	err = err ? err : get_stats(c, &st);
	check(!err && ST(&st, PUBLISHED) == 3, "reloaded modules publish");
	err = do_ack_epoch(c, 1, epoch0, false, 0);
	check_err(err, -ESTALE, "epoch", c, "plain ACK of seq 1 with the "
		  "pre-reload EPOCH -> ESTALE");
	err = do_ack_epoch(c, 1, module_epoch, false, 0);
	check_err(err, 0, NULL, c, "the same ACK with the new EPOCH accepted");
	nlr_close(c);
	return finish();
}
