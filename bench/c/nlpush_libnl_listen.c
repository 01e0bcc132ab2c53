// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_libnl_listen - an nlpush listener written the usual libnl way:
 * nl_socket + genl_connect + genl_ctrl_resolve_grp + nl_recvmsgs_default()
 * with a valid-message callback that genlmsg_parse()s every event against
 * a policy and reads all of its attributes. What a typical C daemon costs.
 *
 *   nlpush_libnl_listen [--count N] [--rcvbuf BYTES] [--ack] [--respond]
 *                       [--ready-file PATH] [--timeout SEC] [--idle SEC]
 *                       [--label TEXT]
 *
 * Same options and the same JSON line as nlpush_cat (see there); acks and
 * replies go out through a second libnl socket with nl_send_sync(), which
 * waits for the kernel's answer.
 */
#include "nlb.h"

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct nla_policy policy[NLPUSH_A_MAX + 1] = {
	[NLPUSH_A_SEQ] = { .type = NLA_U64 },
	[NLPUSH_A_TIMESTAMP_NS] = { .type = NLA_U64 },
	[NLPUSH_A_TYPE] = { .type = NLA_U32 },
	[NLPUSH_A_FLAGS] = { .type = NLA_U32 },
	[NLPUSH_A_PAYLOAD] = { .type = NLA_UNSPEC, .maxlen = NLPUSH_PAYLOAD_MAX },
};

struct state {
	int family;
	bool ack, respond;
	struct nl_sock *ctl;
	uint64_t events, bytes, gaps, last_seq, first_seq, first_ts;
	uint64_t first_rx, last_rx, max_lat, payload_bytes, type_sum;
	uint64_t acks, replies, ack_errors, parse_errors;
	struct nlb_lat lat;
};

static int send_ack(struct state *st, uint64_t seq, bool reply)
{
	struct nl_msg *msg = nlmsg_alloc();
	int err;

	if (!msg)
		return -NLE_NOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, st->family, 0, 0,
			 NLPUSH_CMD_ACK, NLPUSH_FAMILY_VERSION) ||
	    nla_put_u64(msg, NLPUSH_A_SEQ, seq) ||
	    (reply && (nla_put_s32(msg, NLPUSH_A_STATUS, 0) ||
		       nla_put(msg, NLPUSH_A_PAYLOAD, 2, "ok")))) {
		nlmsg_free(msg);
		return -NLE_NOMEM;
	}
	err = nl_send_sync(st->ctl, msg);	/* frees msg, waits for the ack */
	return err;
}

static int on_event(struct nl_msg *msg, void *arg)
{
	struct state *st = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct genlmsghdr *g = nlmsg_data(nlh);
	struct nlattr *tb[NLPUSH_A_MAX + 1];
	uint64_t now = nlb_now_ns(), seq, ts, l;
	uint32_t flags;

	if (nlh->nlmsg_type != st->family || g->cmd != NLPUSH_CMD_EVENT)
		return NL_SKIP;
	if (genlmsg_parse(nlh, 0, tb, NLPUSH_A_MAX, policy) < 0 ||
	    !tb[NLPUSH_A_SEQ] || !tb[NLPUSH_A_TIMESTAMP_NS] ||
	    !tb[NLPUSH_A_TYPE] || !tb[NLPUSH_A_FLAGS] ||
	    !tb[NLPUSH_A_PAYLOAD]) {
		st->parse_errors++;
		return NL_SKIP;
	}
	seq = nla_get_u64(tb[NLPUSH_A_SEQ]);
	ts = nla_get_u64(tb[NLPUSH_A_TIMESTAMP_NS]);
	flags = nla_get_u32(tb[NLPUSH_A_FLAGS]);
	st->type_sum += nla_get_u32(tb[NLPUSH_A_TYPE]);
	st->payload_bytes += (uint64_t)nla_len(tb[NLPUSH_A_PAYLOAD]);

	if (!st->first_seq) {
		st->first_seq = seq;
		st->first_ts = ts;
		st->first_rx = now;
	} else if (seq > st->last_seq + 1) {
		st->gaps += seq - st->last_seq - 1;
	}
	if (seq > st->last_seq)
		st->last_seq = seq;
	st->events++;
	st->bytes += nlh->nlmsg_len;
	st->last_rx = now;
	l = now > ts ? now - ts : 0;
	nlb_lat_add(&st->lat, l);
	if (l > st->max_lat)
		st->max_lat = l;

	if (st->respond && (flags & NLPUSH_F_REPLY_WANTED)) {
		if (send_ack(st, seq, true) < 0)
			st->ack_errors++;
		else
			st->replies++;
	} else if (st->ack) {
		if (send_ack(st, seq, false) < 0)
			st->ack_errors++;
		else
			st->acks++;
	}
	return NL_OK;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nlpush_libnl_listen [--count N] [--rcvbuf BYTES] [--ack] [--respond]\n"
		"                           [--ready-file PATH] [--timeout SEC] [--idle SEC]\n"
		"                           [--label TEXT]\n");
	exit(64);
}

int main(int argc, char **argv)
{
	struct state st = { 0 };
	const char *ready = NULL, *label = NULL;
	uint64_t count = 0, start, deadline = 0, idle_ns = 0, overruns = 0;
	struct nl_sock *sk;
	struct sigaction sa;
	bool sorted = false;
	int rcvbuf = 0, grp, i, err;
	double secs;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--ack")) {
			st.ack = true;
			continue;
		}
		if (!strcmp(a, "--respond")) {
			st.respond = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--count"))
			count = nlb_size(v);
		else if (!strcmp(a, "--rcvbuf"))
			rcvbuf = (int)nlb_size(v);
		else if (!strcmp(a, "--ready-file"))
			ready = v;
		else if (!strcmp(a, "--timeout"))
			deadline = (uint64_t)(atof(v) * 1e9);
		else if (!strcmp(a, "--idle"))
			idle_ns = (uint64_t)(atof(v) * 1e9);
		else if (!strcmp(a, "--label"))
			label = v;
		else
			usage();
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	sk = nl_socket_alloc();
	if (!sk)
		nlb_die("nl_socket_alloc failed");
	nl_socket_disable_seq_check(sk);	/* multicast: no sequence numbers */
	nl_socket_disable_auto_ack(sk);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_event, &st);
	if ((err = genl_connect(sk)) < 0)
		nlb_die("genl_connect: %s", nl_geterror(err));
	st.family = genl_ctrl_resolve(sk, NLPUSH_FAMILY_NAME);
	grp = genl_ctrl_resolve_grp(sk, NLPUSH_FAMILY_NAME, NLPUSH_MCGRP_EVENTS);
	if (st.family < 0 || grp < 0)
		nlb_die("generic netlink family \"%s\" not found: is nlpush.ko loaded?",
			NLPUSH_FAMILY_NAME);
	/* a 60 KiB event must fit in one read */
	nl_socket_set_msg_buf_size(sk, NLB_RX_MAX);
	nlb_set_rcvbuf(nl_socket_get_fd(sk), rcvbuf);
	if (st.ack || st.respond) {
		st.ctl = nl_socket_alloc();
		if (!st.ctl || genl_connect(st.ctl) < 0)
			nlb_die("control socket: genl_connect failed");
	}
	if ((err = nl_socket_add_membership(sk, grp)) < 0)
		nlb_die("joining \"events\": %s", nl_geterror(err));
	nlb_touch(ready);

	start = nlb_now_ns();
	if (deadline)
		deadline += start;
	while (!stop && !(count && st.events + st.gaps >= count)) {
		struct pollfd p = { .fd = nl_socket_get_fd(sk), .events = POLLIN };
		uint64_t now = nlb_now_ns();

		if (deadline && now >= deadline)
			break;
		if (idle_ns && st.last_rx && now - st.last_rx >= idle_ns)
			break;
		if (poll(&p, 1, 1000) <= 0)
			continue;
		err = nl_recvmsgs_default(sk);
		if (err == -NLE_NOMEM)	/* ENOBUFS: the queue overflowed */
			overruns++;
		else if (err < 0 && err != -NLE_INTR && err != -NLE_AGAIN)
			nlb_die("nl_recvmsgs: %s", nl_geterror(err));
	}

	secs = st.last_rx > st.first_ts ? (double)(st.last_rx - st.first_ts) / 1e9 : 0;
	printf("{\"tool\":\"nlpush_libnl_listen\"");
	if (label)
		printf(",\"label\":\"%s\"", label);
	printf(",\"events\":%llu,\"bytes\":%llu,\"gaps\":%llu,\"overruns\":%llu"
	       ",\"first_seq\":%llu,\"last_seq\":%llu,\"acks\":%llu,\"replies\":%llu"
	       ",\"ack_errors\":%llu,\"parse_errors\":%llu,\"rcvbuf\":%d"
	       ",\"seconds\":%.6f,\"recv_seconds\":%.6f,\"events_per_s\":%.1f"
	       ",\"latency_p50_ns\":%llu,\"latency_p99_ns\":%llu"
	       ",\"latency_max_ns\":%llu,\"first_ts_ns\":%llu"
	       ",\"last_rx_ns\":%llu}\n",
	       (unsigned long long)st.events, (unsigned long long)st.bytes,
	       (unsigned long long)st.gaps, (unsigned long long)overruns,
	       (unsigned long long)st.first_seq, (unsigned long long)st.last_seq,
	       (unsigned long long)st.acks, (unsigned long long)st.replies,
	       (unsigned long long)st.ack_errors,
	       (unsigned long long)st.parse_errors,
	       nlb_get_rcvbuf(nl_socket_get_fd(sk)), secs,
	       st.last_rx > st.first_rx ? (double)(st.last_rx - st.first_rx) / 1e9 : 0.0,
	       secs > 0 ? (double)st.events / secs : 0.0,
	       (unsigned long long)nlb_lat_pct(&st.lat, 50, &sorted),
	       (unsigned long long)nlb_lat_pct(&st.lat, 99, &sorted),
	       (unsigned long long)st.max_lat, (unsigned long long)st.first_ts,
	       (unsigned long long)st.last_rx);
	fflush(stdout);
	if (st.ctl)
		nl_socket_free(st.ctl);
	nl_socket_free(sk);
	return 0;
}
