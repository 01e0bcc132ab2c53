// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_cat - the minimal nlpush listener: one raw generic netlink socket
 * joined to "events" and a plain recv() loop that counts messages and bytes.
 * It reads only SEQ (to count gaps), TIMESTAMP_NS (latency) and, when it
 * must answer, FLAGS. This is the practical ceiling a listener can reach.
 *
 *   nlpush_cat [--count N] [--rcvbuf BYTES] [--ack] [--respond]
 *              [--ready-file PATH] [--timeout SEC] [--idle SEC]
 *              [--record FILE] [--label TEXT] [--hold] [--ack-batch]
 *
 *   --count N        stop once N events are accounted for (received + gaps)
 *   --rcvbuf BYTES   socket receive buffer (SO_RCVBUFFORCE), e.g. 4M
 *   --ack            NLPUSH_CMD_ACK every plain event from a control socket,
 *                    waiting for the kernel's answer (as the Swift library);
 *                    requests (reply wanted) are never acked
 *   --ack-batch      --ack with one message per run of consecutive plain
 *                    events of a datagram (ACK SEQ COUNT), sent once the
 *                    datagram is read (as 'nlpush monitor --ack' per batch)
 *   --respond        subscribe the control socket as a responder
 *                    (NLPUSH_F_RESPONDER) and answer reply-wanted events:
 *                    STATUS 0, PAYLOAD "ok"
 *   --ready-file P   create P once joined (the driver then starts producing)
 *   --timeout SEC    give up after SEC seconds in all (default: never)
 *   --idle SEC       stop after SEC seconds without an event, once one came
 *   --record FILE    append every event message as received (the fixed
 *                    stream the decode benchmarks replay)
 *   --label TEXT     copied into the JSON line
 *   --hold           join, then never read until signalled: a listener whose
 *                    queue just fills (the kernel-side cost of one more
 *                    member, without waking a reader)
 *
 * SIGINT/SIGTERM stop it too. Prints one JSON line on stdout at the end:
 * events, bytes (netlink message bytes), gaps (events missed: sequence
 * holes), overruns (recv() ENOBUFS), seconds (first event's publication in
 * the kernel to the last reception), events_per_s, latency percentiles
 * (TIMESTAMP_NS to the CLOCK_MONOTONIC time of the recv() that returned it).
 */
#include "listen.h"

int main(int argc, char **argv)
{
	struct listen_opts o;
	struct listen_tally t = { 0 };
	struct nlr_sock *ev, *ctl = NULL;
	struct nlr_family fam;
	uint64_t start, deadline = 0;
	int rec_fd = -1, err;

	listen_parse(&o, "nlpush_cat", LISTEN_RECORD | LISTEN_HOLD | LISTEN_ACK_BATCH,
		     argc, argv);
	listen_catch_signals();

	if (o.record) {
		rec_fd = open(o.record, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0644);
		if (rec_fd < 0)
			nlr_die("cannot create %s: %s", o.record,
				strerror(errno));
	}

	ev = nlr_open(o.rcvbuf);
	fam = nlb_resolve(ev);
	if (o.ack || o.respond)
		ctl = nlr_open(0);
	if (o.respond) {
		char name[NLPUSH_NAME_MAX];

		snprintf(name, sizeof(name), "nlpush_cat-%d", (int)getpid());
		err = nlb_subscribe(ctl, fam.id, name, NLPUSH_F_RESPONDER);
		if (err)
			nlr_die("subscribing as a responder: %s%s%s", strerror(-err),
				ctl->extack[0] ? ": " : "", ctl->extack);
	}
	err = nlr_join(ev, fam.events_grp);
	if (err)
		nlr_die("joining \"events\": %s", strerror(-err));
	nlb_touch(o.ready);

	start = nlr_now_ns();
	if (o.timeout_ns)
		deadline = start + o.timeout_ns;
	while (o.hold && !listen_stop && (!deadline || nlr_now_ns() < deadline))
		poll(NULL, 0, 1000);	/* a signal ends it */
	while (!o.hold && !listen_done(&o, &t, deadline, nlr_now_ns())) {
		struct pollfd p = { .fd = ev->fd, .events = POLLIN };
		struct nlmsghdr *nlh;
		uint64_t now, run_first;
		uint32_t run_n;
		ssize_t n;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = recv(ev->fd, ev->rx, NLR_RX_MAX, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS)
				t.overruns++;
			else if (errno != EAGAIN && errno != EINTR)
				nlr_die("recv: %s", strerror(errno));
			continue;
		}
		now = nlr_now_ns();
		run_first = 0;
		run_n = 0;
		for (nlh = (struct nlmsghdr *)ev->rx; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			struct nlattr *tb[NLPUSH_A_FLAGS + 1];
			uint64_t seq, flags;

			if (nlh->nlmsg_type != fam.id || !nlb_is_event(nlh))
				continue;
			nlr_genl_attrs(nlh, tb, NLPUSH_A_FLAGS);
			if (!tb[NLPUSH_A_SEQ] || !tb[NLPUSH_A_TIMESTAMP_NS])
				continue;
			seq = nlr_uint(tb[NLPUSH_A_SEQ]);
			listen_count(&t, seq, nlr_uint(tb[NLPUSH_A_TIMESTAMP_NS]),
				     nlh->nlmsg_len, now);
			if (rec_fd >= 0 &&
			    write(rec_fd, nlh, nlh->nlmsg_len) != (ssize_t)nlh->nlmsg_len)
				nlr_die("write %s: %s", o.record, strerror(errno));
			flags = tb[NLPUSH_A_FLAGS] ? nlr_uint(tb[NLPUSH_A_FLAGS]) : 0;
			if (o.respond && (flags & NLPUSH_F_REPLY_WANTED))
				listen_answered(&t, true,
						nlb_ack(ctl, fam.id, seq, "ok"));
			else if (o.ack_batch && !(flags & NLPUSH_F_REPLY_WANTED)) {
				if (run_n && seq == run_first + run_n) {
					run_n++;
					continue;
				}
				if (run_n)
					listen_acked_range(&t, run_n,
						nlb_ack_range(ctl, fam.id,
							      run_first, run_n));
				run_first = seq;
				run_n = 1;
			} else if (o.ack && !(flags & NLPUSH_F_REPLY_WANTED))
				listen_answered(&t, false,
						nlb_ack(ctl, fam.id, seq, NULL));
		}
		if (run_n)
			listen_acked_range(&t, run_n,
					   nlb_ack_range(ctl, fam.id, run_first,
							 run_n));
	}

	listen_report(&t, "nlpush_cat", o.label, NULL, nlr_get_rcvbuf(ev->fd));
	if (rec_fd >= 0)
		close(rec_fd);
	return 0;
}
