// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_cat - the minimal nlpush listener: one raw generic netlink socket
 * joined to "events" and a plain recv() loop that counts messages and bytes.
 * It reads only SEQ (to count gaps), TIMESTAMP_NS (latency) and, when it
 * must answer, FLAGS. This is the practical ceiling a listener can reach.
 *
 *   nlpush_cat [--count N] [--rcvbuf BYTES] [--ack] [--respond]
 *              [--ready-file PATH] [--timeout SEC] [--idle SEC]
 *              [--record FILE] [--label TEXT] [--hold]
 *
 *   --count N        stop once N events are accounted for (received + gaps)
 *   --rcvbuf BYTES   socket receive buffer (SO_RCVBUFFORCE), e.g. 4M
 *   --ack            NLPUSH_CMD_ACK every event from a control socket,
 *                    waiting for the kernel's answer (as the Swift library)
 *   --respond        answer reply-wanted events: STATUS 0, PAYLOAD "ok"
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
#include "nlb.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nlpush_cat [--count N] [--rcvbuf BYTES] [--ack] [--respond]\n"
		"                  [--ready-file PATH] [--timeout SEC] [--idle SEC]\n"
		"                  [--record FILE] [--label TEXT] [--hold]\n");
	exit(64);
}

int main(int argc, char **argv)
{
	uint64_t count = 0, events = 0, bytes = 0, gaps = 0, overruns = 0;
	uint64_t acks = 0, ack_errors = 0, replies = 0, last_seq = 0;
	uint64_t first_seq = 0, first_ts = 0, first_rx = 0, last_rx = 0;
	uint64_t start, deadline = 0, idle_ns = 0, max_lat = 0;
	const char *ready = NULL, *label = NULL, *record = NULL;
	bool ack = false, respond = false, sorted = false, hold = false;
	struct nlb_sock *ev, *ctl = NULL;
	struct nlb_lat lat = { 0 };
	struct nlb_family fam;
	struct sigaction sa;
	int rcvbuf = 0, rec_fd = -1, i, err;
	double secs;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--ack")) {
			ack = true;
			continue;
		}
		if (!strcmp(a, "--respond")) {
			respond = true;
			continue;
		}
		if (!strcmp(a, "--hold")) {
			hold = true;
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
		else if (!strcmp(a, "--record"))
			record = v;
		else if (!strcmp(a, "--label"))
			label = v;
		else
			usage();
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: interrupt poll() */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (record) {
		rec_fd = open(record, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0644);
		if (rec_fd < 0)
			nlb_die("cannot create %s: %s", record, strerror(errno));
	}

	ev = nlb_open(rcvbuf);
	fam = nlb_resolve(ev);
	if (ack || respond)
		ctl = nlb_open(0);
	err = nlb_join(ev, fam.events_grp);
	if (err)
		nlb_die("joining \"events\": %s", strerror(-err));
	nlb_touch(ready);

	start = nlb_now_ns();
	if (deadline)
		deadline += start;
	while (hold && !stop && (!deadline || nlb_now_ns() < deadline))
		poll(NULL, 0, 1000);	/* a signal ends it */
	while (!hold && !stop && !(count && events + gaps >= count)) {
		struct pollfd p = { .fd = ev->fd, .events = POLLIN };
		struct nlmsghdr *nlh;
		uint64_t now;
		ssize_t n;
		int wait = 1000;

		now = nlb_now_ns();
		if (deadline && now >= deadline)
			break;
		if (idle_ns && last_rx && now - last_rx >= idle_ns)
			break;
		if (poll(&p, 1, wait) <= 0)
			continue;
		n = recv(ev->fd, ev->rx, NLB_RX_MAX, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS)
				overruns++;
			else if (errno != EAGAIN && errno != EINTR)
				nlb_die("recv: %s", strerror(errno));
			continue;
		}
		now = nlb_now_ns();
		for (nlh = (struct nlmsghdr *)ev->rx; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			struct nlattr *tb[NLPUSH_A_FLAGS + 1];
			uint64_t seq, ts, l;

			if (nlh->nlmsg_type != fam.id)
				continue;
			nlb_genl_attrs(nlh, tb, NLPUSH_A_FLAGS);
			if (!tb[NLPUSH_A_SEQ] || !tb[NLPUSH_A_TIMESTAMP_NS])
				continue;
			seq = nlb_uint(tb[NLPUSH_A_SEQ]);
			ts = nlb_uint(tb[NLPUSH_A_TIMESTAMP_NS]);
			if (!first_seq) {
				first_seq = seq;
				first_ts = ts;
				first_rx = now;
			} else if (seq > last_seq + 1) {
				gaps += seq - last_seq - 1;
			}
			if (seq > last_seq)
				last_seq = seq;
			events++;
			bytes += nlh->nlmsg_len;
			last_rx = now;
			l = now > ts ? now - ts : 0;
			nlb_lat_add(&lat, l);
			if (l > max_lat)
				max_lat = l;
			if (rec_fd >= 0 &&
			    write(rec_fd, nlh, nlh->nlmsg_len) != (ssize_t)nlh->nlmsg_len)
				nlb_die("write %s: %s", record, strerror(errno));
			if (respond && tb[NLPUSH_A_FLAGS] &&
			    (nlb_uint(tb[NLPUSH_A_FLAGS]) & NLPUSH_F_REPLY_WANTED)) {
				err = nlb_ack(ctl, fam.id, seq, "ok");
				if (err)
					ack_errors++;
				else
					replies++;
			} else if (ack) {
				err = nlb_ack(ctl, fam.id, seq, NULL);
				if (err)
					ack_errors++;
				else
					acks++;
			}
		}
	}

	secs = last_rx > first_ts ? (double)(last_rx - first_ts) / 1e9 : 0;
	printf("{\"tool\":\"nlpush_cat\"");
	if (label)
		printf(",\"label\":\"%s\"", label);
	printf(",\"events\":%llu,\"bytes\":%llu,\"gaps\":%llu,\"overruns\":%llu"
	       ",\"first_seq\":%llu,\"last_seq\":%llu,\"acks\":%llu,\"replies\":%llu"
	       ",\"ack_errors\":%llu,\"rcvbuf\":%d,\"seconds\":%.6f"
	       ",\"recv_seconds\":%.6f,\"events_per_s\":%.1f"
	       ",\"latency_p50_ns\":%llu,\"latency_p99_ns\":%llu"
	       ",\"latency_max_ns\":%llu,\"first_ts_ns\":%llu"
	       ",\"last_rx_ns\":%llu}\n",
	       (unsigned long long)events, (unsigned long long)bytes,
	       (unsigned long long)gaps, (unsigned long long)overruns,
	       (unsigned long long)first_seq, (unsigned long long)last_seq,
	       (unsigned long long)acks, (unsigned long long)replies,
	       (unsigned long long)ack_errors, nlb_get_rcvbuf(ev->fd), secs,
	       last_rx > first_rx ? (double)(last_rx - first_rx) / 1e9 : 0.0,
	       secs > 0 ? (double)events / secs : 0.0,
	       (unsigned long long)nlb_lat_pct(&lat, 50, &sorted),
	       (unsigned long long)nlb_lat_pct(&lat, 99, &sorted),
	       (unsigned long long)max_lat, (unsigned long long)first_ts,
	       (unsigned long long)last_rx);
	fflush(stdout);
	if (rec_fd >= 0)
		close(rec_fd);
	return 0;
}
