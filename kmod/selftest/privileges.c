// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest, privileges: what an unprivileged process may do (with
 * and without unprivileged_listen=1), and a member of "events" in another
 * network namespace, which must not make the module believe that someone
 * listens (requests fail with ENOTCONN at once, events count as
 * NO_LISTENERS).
 */
#include "common.h"

#include <linux/capability.h>
#include <sys/prctl.h>

/*
 * fork() with two pipes: the child writes to up[1] and reads down[0], the
 * parent the other ends (each side's unused ends are closed).
 */
static pid_t fork_piped(int up[2], int down[2])
{
	pid_t pid;

	if (pipe(up) || pipe(down))
		bail("pipe");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork");
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
	} else {
		close(up[1]);
		close(down[0]);
	}
	return pid;
}

static void write_str(const char *path, const char *s)
{
	nlr_write_file(path, s, strlen(s));
}

/*
 * In a forked child: leave the initial network namespace (@as_nobody: as
 * uid nobody, in a new user namespace too, like `unshare -Urn`; else as
 * root, like `unshare -n`), check that the family is invisible there and
 * join the events group by its id. Reports { unshare, resolve, join }
 * through @fd, then stays until @hold is closed.
 */
static void __attribute__((noreturn)) netns_child(bool as_nobody, int fd,
						  int hold)
{
	int res[3] = { 0, 0, 0 };
	struct nlr_family fi;
	struct nlr_sock *s;
	char ch;

	if (as_nobody) {
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
			res[0] = -errno;
		else if (unshare(CLONE_NEWUSER | CLONE_NEWNET))
			res[0] = -errno;
		else {
			write_str("/proc/self/uid_map", "0 65534 1");
			write_str("/proc/self/setgroups", "deny");
			write_str("/proc/self/gid_map", "0 65534 1");
		}
	} else if (unshare(CLONE_NEWNET)) {
		res[0] = -errno;
	}
	if (!res[0]) {
		s = nlr_open(0);
		res[1] = nlr_resolve_family(s, &fi);
		res[2] = nlr_join(s, events_grp);
	}
	if (write(fd, res, sizeof(res)) != sizeof(res))
		_exit(1);
	if (!res[0] && !res[2])
		while (read(hold, &ch, 1) > 0)
			;
	_exit(0);
}

void netns_member_checks(struct nlr_sock *c, bool as_nobody, int listen)
{
	const char *who = as_nobody ? "nobody in unshare -Urn" :
				      "root in unshare -n";
	struct emit_reply *er = nlr_alloc(sizeof(*er));
	struct stats s0, s1;
	int up[2], down[2], res[3] = { -EIO, 0, 0 }, status, err;
	uint64_t t0, el;
	pid_t pid;

	pid = fork_piped(up, down);
	if (pid == 0)
		netns_child(as_nobody, up[1], down[0]);
	if (read(up[0], res, sizeof(res)) != sizeof(res))
		res[0] = -EIO;
	close(up[0]);

	if (res[0]) {
		skip(ename(res[0]), "%s: member of \"events\" in another "
		     "netns (cannot unshare)", who);
		goto out;
	}
	check(res[1] == -ENOENT, "%s: family invisible there", who);
	if (as_nobody && !listen) {
		/* the group's capability check is made in the netns' user ns */
		check(res[2] == 0 || res[2] == -EPERM,
		      "%s: joining \"events\" by id: %s (unprivileged_listen=0)",
		      who, ename(res[2]));
	} else {
		check_err(res[2], 0, NULL, NULL, "%s: joins \"events\" by its "
			  "id", who);
	}
	if (res[2]) {
		skip("not joined", "%s: requests and events ignore it", who);
		goto out;
	}

	stats_now(c, &s0);
	if (ST(&s0, RESPONDERS)) {
		skip("a responder is registered", "%s: requests", who);
	} else {
		t0 = nlr_now_ns();
		err = do_request(c, 140, "netns", 5, 2000, er, 3000);
		el = ms_since(t0);
		check_err(err, -ENOTCONN, NULL, c, "%s joined: EMIT request "
			  "with no responder -> ENOTCONN", who);
		if (!check(el < 100, "... in %llu ms (limit 100)",
			   (unsigned long long)el) || err != -ENOTCONN)
			diag("EMIT %s after %llu ms, REPLY %d error %s",
			     ename(err), (unsigned long long)el, er->got_reply,
			     ename(er->error));
	}
	stats_now(c, &s0);
	err = do_emit(c, &(struct emit_args){ .has_count = true, .count = 5,
					      .has_type = true, .type = 141 },
		      er);
	stats_counted(c, &s0, &s1, 5);
	check_err(err, 0, NULL, c, "%s joined: EMIT of 5 events", who);
	if (!check(DELTA(&s0, &s1, NO_LISTENERS) == 5 &&
		   DELTA(&s0, &s1, DELIVERED) == 0 &&
		   DELTA(&s0, &s1, DELIVERY_ERRORS) == 0,
		   "%s joined: 5 events count as NO_LISTENERS, not "
		   "DELIVERED / DELIVERY_ERRORS", who))
		diag("no_listeners +%llu delivered +%llu delivery_errors "
		     "+%llu", (unsigned long long)DELTA(&s0, &s1, NO_LISTENERS),
		     (unsigned long long)DELTA(&s0, &s1, DELIVERED),
		     (unsigned long long)DELTA(&s0, &s1, DELIVERY_ERRORS));
out:
	close(down[1]);
	waitpid(pid, &status, 0);
	free(er);
}

/* "all": root in a new network namespace (no user namespace) */
void test_netns(struct nlr_sock *c)
{
	netns_member_checks(c, false, 0);
}

/* ------------------------------------------------------------------ */
/* unprivileged mode                                                    */

/*
 * In a forked child: become uid nobody keeping CAP_NET_ADMIN alone, join
 * "events", report 0 or -errno through @fd.
 */
static void __attribute__((noreturn)) net_admin_child(int fd)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2] = { { 0 } };
	struct nlr_sock *s;
	int res = 0;

	d[0].effective = d[0].permitted = 1u << CAP_NET_ADMIN;
	if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) ||
	    setgid(NOBODY) || setuid(NOBODY) ||
	    syscall(SYS_capset, &h, d))
		res = -EIO;
	if (!res) {
		s = nlr_open(0);
		res = nlr_join(s, events_grp);
	}
	if (write(fd, &res, sizeof(res)) != sizeof(res))
		_exit(1);
	_exit(0);
}

/*
 * Which capability joining "events" needs is the module's build-time
 * choice (kmod/compat.h): CAP_NET_ADMIN where the kernel has
 * GENL_MCAST_CAP_NET_ADMIN, CAP_SYS_ADMIN on kernels with only the older
 * cap_sys_admin group bit (Debian's 5.10). in-vm.sh passes it from
 * `modinfo -F listen_cap nlpush.ko` in NLPUSH_LISTEN_CAP. A process of uid
 * nobody with CAP_NET_ADMIN alone joins in the first case, gets EPERM in
 * the second (and joins anyway with unprivileged_listen=1).
 */
static void net_admin_listener_checks(int listen)
{
	const char *cap = getenv("NLPUSH_LISTEN_CAP");
	int up[2], down[2], res = -EIO, status, want;
	pid_t pid;

	if (!cap || !*cap) {
		skip("NLPUSH_LISTEN_CAP unset (in-vm.sh sets it from modinfo)",
		     "a listener with CAP_NET_ADMIN alone");
		return;
	}
	if (!strcmp(cap, "CAP_NET_ADMIN") || listen)
		want = 0;
	else if (!strcmp(cap, "CAP_SYS_ADMIN"))
		want = -EPERM;
	else {
		check(false, "NLPUSH_LISTEN_CAP=%s: CAP_NET_ADMIN or "
		      "CAP_SYS_ADMIN expected", cap);
		return;
	}
	pid = fork_piped(up, down);
	if (pid == 0)
		net_admin_child(up[1]);
	if (read(up[0], &res, sizeof(res)) != sizeof(res))
		res = -EIO;
	close(up[0]);
	close(down[1]);
	waitpid(pid, &status, 0);
	check_err(res, want, NULL, NULL, "nobody with CAP_NET_ADMIN alone: "
		  "joining \"events\" -> %s (module: listeners need %s, "
		  "unprivileged_listen=%d)", want ? "EPERM" : "allowed", cap,
		  listen);
}

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
	err = do_subscribe_flags(c, "unpriv", NLPUSH_F_RESPONDER);
	check_err(err, -EPERM, NULL, c, "SUBSCRIBE as a responder -> EPERM");
	err = do_ack_epoch(c, 1, module_epoch, true, 0);
	check_err(err, -EPERM, NULL, c, "answer (ACK with STATUS) -> EPERM");
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

int run_unpriv(int listen)
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
	/* as root: a listener of uid nobody in `unshare -Urn` */
	{
		struct nlr_sock *c = nlr_open(0);

		need_family(c, false);
		printf("# --- netns (nobody, new user and network namespace)\n");
		netns_member_checks(c, true, listen);
		printf("# --- nobody with CAP_NET_ADMIN alone\n");
		net_admin_listener_checks(listen);
		nlr_close(c);
	}
	/* the child goes on counting from here */
	pid = fork_piped(up, down);
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) {
			perror("dropping privileges");
			_exit(2);
		}
		unpriv_checks(listen, up[1], down[0]);
		_exit(finish());
	}
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
