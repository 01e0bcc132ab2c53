// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest, family: the family, its version and ops, the shape of
 * GET_STATS, namespaces, nlpush_test's debugfs files.
 */
#include "common.h"

void test_family(struct nlr_sock *c)
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
			    i == NLPUSH_STATS_A_RESPONDERS ||
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
	ok = !err && st.has_epoch && st.epoch && st.epoch == module_epoch;
	if (!check(ok, "GET_STATS EPOCH: u64, non-zero, stable"))
		diag("has %d, %llx (first seen %llx)", st.has_epoch,
		     (unsigned long long)st.epoch,
		     (unsigned long long)module_epoch);
	check(!err && ST(&st, NEXT_SEQ) >= 1 &&
	      ST(&st, OLDEST_SEQ) <= ST(&st, NEXT_SEQ) && ring_consistent(&st),
	      "ring state consistent (oldest <= next, "
	      "events == next - oldest)");
	if (verbose)
		ring_diag(&st);

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
	      !access(DBG_DIR "/emit_irqoff", W_OK) &&
	      !access(DBG_DIR "/request", W_OK) && !err,
	      "nlpush_test debugfs files present");
}
