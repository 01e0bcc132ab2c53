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
 * waits for the kernel's answer. With --respond that socket subscribes as a
 * responder first (NLPUSH_F_RESPONDER).
 */
#include "listen.h"

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "nlb_libnl.h"

struct state {
	int family;
	bool ack, respond;
	struct nl_sock *ctl;
	struct listen_tally t;
	uint64_t payload_bytes, type_sum, parse_errors;
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

/* NLPUSH_CMD_SUBSCRIBE of the control socket as a responder */
static int subscribe_responder(struct state *st)
{
	struct nl_msg *msg = nlmsg_alloc();
	char name[NLPUSH_NAME_MAX];

	if (!msg)
		return -NLE_NOMEM;
	snprintf(name, sizeof(name), "nlpush_libnl-%d", (int)getpid());
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, st->family, 0, 0,
			 NLPUSH_CMD_SUBSCRIBE, NLPUSH_FAMILY_VERSION) ||
	    nla_put_string(msg, NLPUSH_A_NAME, name) ||
	    nla_put_u32(msg, NLPUSH_A_FLAGS, NLPUSH_F_RESPONDER)) {
		nlmsg_free(msg);
		return -NLE_NOMEM;
	}
	return nl_send_sync(st->ctl, msg);	/* frees msg, waits for the ack */
}

static int on_event(struct nl_msg *msg, void *arg)
{
	struct state *st = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct genlmsghdr *g = nlmsg_data(nlh);
	struct nlattr *tb[NLPUSH_A_MAX + 1];
	uint64_t now = nlr_now_ns(), seq;
	uint32_t flags;

	if (nlh->nlmsg_type != st->family ||
	    (g->cmd != NLPUSH_CMD_EVENT && g->cmd != NLPUSH_CMD_REPLAY))
		return NL_SKIP;
	if (genlmsg_parse(nlh, 0, tb, NLPUSH_A_MAX, nlb_event_policy) < 0 ||
	    !tb[NLPUSH_A_SEQ] || !tb[NLPUSH_A_TIMESTAMP_NS] ||
	    !tb[NLPUSH_A_TYPE] || !tb[NLPUSH_A_FLAGS] ||
	    !tb[NLPUSH_A_PAYLOAD]) {
		st->parse_errors++;
		return NL_SKIP;
	}
	seq = nla_get_u64(tb[NLPUSH_A_SEQ]);
	flags = nla_get_u32(tb[NLPUSH_A_FLAGS]);
	st->type_sum += nla_get_u32(tb[NLPUSH_A_TYPE]);
	st->payload_bytes += (uint64_t)nla_len(tb[NLPUSH_A_PAYLOAD]);
	listen_count(&st->t, seq, nla_get_u64(tb[NLPUSH_A_TIMESTAMP_NS]),
		     nlh->nlmsg_len, now);

	if (st->respond && (flags & NLPUSH_F_REPLY_WANTED))
		listen_answered(&st->t, true, send_ack(st, seq, true) < 0);
	else if (st->ack && !(flags & NLPUSH_F_REPLY_WANTED))
		listen_answered(&st->t, false, send_ack(st, seq, false) < 0);
	return NL_OK;
}

int main(int argc, char **argv)
{
	struct state st = { 0 };
	struct listen_opts o;
	uint64_t start, deadline = 0;
	struct nl_sock *sk;
	char more[64];
	int grp, err;

	listen_parse(&o, "nlpush_libnl_listen", 0, argc, argv);
	st.ack = o.ack;
	st.respond = o.respond;
	listen_catch_signals();

	sk = nl_socket_alloc();
	if (!sk)
		nlr_die("nl_socket_alloc failed");
	nl_socket_disable_seq_check(sk);	/* multicast: no sequence numbers */
	nl_socket_disable_auto_ack(sk);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_event, &st);
	if ((err = genl_connect(sk)) < 0)
		nlr_die("genl_connect: %s", nl_geterror(err));
	st.family = genl_ctrl_resolve(sk, NLPUSH_FAMILY_NAME);
	grp = genl_ctrl_resolve_grp(sk, NLPUSH_FAMILY_NAME, NLPUSH_MCGRP_EVENTS);
	if (st.family < 0 || grp < 0)
		nlr_die("generic netlink family \"%s\" not found: is nlpush.ko loaded?",
			NLPUSH_FAMILY_NAME);
	/* a 60 KiB event must fit in one read */
	nl_socket_set_msg_buf_size(sk, NLR_RX_MAX);
	nlr_set_rcvbuf(nl_socket_get_fd(sk), o.rcvbuf);
	if (st.ack || st.respond) {
		st.ctl = nl_socket_alloc();
		if (!st.ctl || genl_connect(st.ctl) < 0)
			nlr_die("control socket: genl_connect failed");
	}
	if (st.respond && (err = subscribe_responder(&st)) < 0)
		nlr_die("subscribing as a responder: %s", nl_geterror(err));
	if ((err = nl_socket_add_membership(sk, grp)) < 0)
		nlr_die("joining \"events\": %s", nl_geterror(err));
	nlb_touch(o.ready);

	start = nlr_now_ns();
	if (o.timeout_ns)
		deadline = start + o.timeout_ns;
	while (!listen_done(&o, &st.t, deadline, nlr_now_ns())) {
		struct pollfd p = { .fd = nl_socket_get_fd(sk), .events = POLLIN };

		if (poll(&p, 1, 1000) <= 0)
			continue;
		err = nl_recvmsgs_default(sk);
		if (err == -NLE_NOMEM)	/* ENOBUFS: the queue overflowed */
			st.t.overruns++;
		else if (err < 0 && err != -NLE_INTR && err != -NLE_AGAIN)
			nlr_die("nl_recvmsgs: %s", nl_geterror(err));
	}

	snprintf(more, sizeof(more), ",\"parse_errors\":%llu",
		 (unsigned long long)st.parse_errors);
	listen_report(&st.t, "nlpush_libnl_listen", o.label, more,
		      nlr_get_rcvbuf(nl_socket_get_fd(sk)));
	if (st.ctl)
		nl_socket_free(st.ctl);
	nl_socket_free(sk);
	return 0;
}
