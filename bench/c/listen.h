/* SPDX-License-Identifier: GPL-2.0 */
/*
 * listen.h - what the two C listeners, nlpush_cat (raw netlink) and
 * nlpush_libnl_listen (libnl), share: their command line, their stop
 * signals, the accounting of received events and the JSON line they print
 * at the end. Include after nlb.h.
 *
 *   TOOL [--count N] [--rcvbuf BYTES] [--ack] [--respond]
 *        [--ready-file PATH] [--timeout SEC] [--idle SEC]
 *        [--record FILE] [--label TEXT] [--hold] [--ack-batch]
 *
 * --record, --hold and --ack-batch only where the tool asks for them
 * (LISTEN_RECORD, LISTEN_HOLD, LISTEN_ACK_BATCH); nlpush_cat.c says what
 * every option does.
 */
#ifndef LISTEN_H
#define LISTEN_H

#include "nlb.h"

#include <signal.h>

/* options beyond the common ones */
#define LISTEN_RECORD	1u	/* --record FILE */
#define LISTEN_HOLD	2u	/* --hold */
#define LISTEN_ACK_BATCH 4u	/* --ack-batch */

struct listen_opts {
	uint64_t count;		/* 0: no limit */
	uint64_t timeout_ns;	/* 0: never */
	uint64_t idle_ns;	/* 0: never */
	int rcvbuf;		/* 0: the default */
	bool ack, ack_batch, respond, hold;
	const char *ready, *record, *label;
};

static void listen_usage(const char *tool, unsigned int extra)
{
	int w = (int)strlen("usage: ") + (int)strlen(tool) + 1;

	fprintf(stderr,
		"usage: %s [--count N] [--rcvbuf BYTES] [--ack] [--respond]\n"
		"%*s[--ready-file PATH] [--timeout SEC] [--idle SEC]\n"
		"%*s%s[--label TEXT]%s%s\n",
		tool, w, "", w, "",
		extra & LISTEN_RECORD ? "[--record FILE] " : "",
		extra & LISTEN_HOLD ? " [--hold]" : "",
		extra & LISTEN_ACK_BATCH ? " [--ack-batch]" : "");
	exit(64);
}

/* parses argv into @o; anything else prints the usage and exits with 64 */
static void listen_parse(struct listen_opts *o, const char *tool,
			 unsigned int extra, int argc, char **argv)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--ack")) {
			o->ack = true;
			continue;
		}
		if (!strcmp(a, "--respond")) {
			o->respond = true;
			continue;
		}
		if ((extra & LISTEN_ACK_BATCH) && !strcmp(a, "--ack-batch")) {
			o->ack = o->ack_batch = true;
			continue;
		}
		if ((extra & LISTEN_HOLD) && !strcmp(a, "--hold")) {
			o->hold = true;
			continue;
		}
		if (!v)
			listen_usage(tool, extra);
		i++;
		if (!strcmp(a, "--count"))
			o->count = nlb_size(v);
		else if (!strcmp(a, "--rcvbuf"))
			o->rcvbuf = (int)nlb_size(v);
		else if (!strcmp(a, "--ready-file"))
			o->ready = v;
		else if (!strcmp(a, "--timeout"))
			o->timeout_ns = (uint64_t)(atof(v) * 1e9);
		else if (!strcmp(a, "--idle"))
			o->idle_ns = (uint64_t)(atof(v) * 1e9);
		else if ((extra & LISTEN_RECORD) && !strcmp(a, "--record"))
			o->record = v;
		else if (!strcmp(a, "--label"))
			o->label = v;
		else
			listen_usage(tool, extra);
	}
}

/* SIGINT and SIGTERM set listen_stop */
static volatile sig_atomic_t listen_stop;

static void listen_on_signal(int sig)
{
	(void)sig;
	listen_stop = 1;
}

static void listen_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = listen_on_signal;	/* no SA_RESTART: ends poll() */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ------------------------------------------------------------------ */
/* accounting                                                           */

struct listen_tally {
	uint64_t events, bytes, gaps, overruns;
	uint64_t first_seq, last_seq, first_ts, first_rx, last_rx, max_lat;
	uint64_t acks, replies, ack_errors;
	struct nlb_lat lat;
};

/* true once @o's --count, --timeout (@deadline) or --idle says stop */
static inline bool listen_done(const struct listen_opts *o,
			       const struct listen_tally *t, uint64_t deadline,
			       uint64_t now)
{
	return listen_stop || (o->count && t->events + t->gaps >= o->count) ||
	       (deadline && now >= deadline) ||
	       (o->idle_ns && t->last_rx && now - t->last_rx >= o->idle_ns);
}

/*
 * One event: sequence number @seq published at @ts, a netlink message of
 * @len bytes received at @now (CLOCK_MONOTONIC). A hole in the sequence
 * numbers counts as gaps.
 */
static inline void listen_count(struct listen_tally *t, uint64_t seq,
				uint64_t ts, uint32_t len, uint64_t now)
{
	uint64_t l;

	if (!t->first_seq) {
		t->first_seq = seq;
		t->first_ts = ts;
		t->first_rx = now;
	} else if (seq > t->last_seq + 1) {
		t->gaps += seq - t->last_seq - 1;
	}
	if (seq > t->last_seq)
		t->last_seq = seq;
	t->events++;
	t->bytes += len;
	t->last_rx = now;
	l = now > ts ? now - ts : 0;
	nlb_lat_add(&t->lat, l);
	if (l > t->max_lat)
		t->max_lat = l;
}

/* the outcome (0 or an error) of an ack, or of a reply when @reply */
static inline void listen_answered(struct listen_tally *t, bool reply, int err)
{
	if (err)
		t->ack_errors++;
	else if (reply)
		t->replies++;
	else
		t->acks++;
}

/* the outcome of a range ack of @count events */
static inline void listen_acked_range(struct listen_tally *t, uint32_t count,
				      int err)
{
	if (err)
		t->ack_errors++;
	else
		t->acks += count;
}

/*
 * The JSON line at the end: events, bytes (netlink message bytes), gaps,
 * overruns, seconds (first event's publication to the last reception),
 * events_per_s and latency percentiles. @more, when not NULL, is put
 * after ack_errors (",\"name\":value...").
 */
static void listen_report(struct listen_tally *t, const char *tool,
			  const char *label, const char *more, int rcvbuf)
{
	double secs = t->last_rx > t->first_ts ?
		(double)(t->last_rx - t->first_ts) / 1e9 : 0;
	bool sorted = false;

	printf("{\"tool\":\"%s\"", tool);
	if (label)
		printf(",\"label\":\"%s\"", label);
	printf(",\"events\":%llu,\"bytes\":%llu,\"gaps\":%llu,\"overruns\":%llu"
	       ",\"first_seq\":%llu,\"last_seq\":%llu,\"acks\":%llu,\"replies\":%llu"
	       ",\"ack_errors\":%llu%s,\"rcvbuf\":%d,\"seconds\":%.6f"
	       ",\"recv_seconds\":%.6f,\"events_per_s\":%.1f"
	       ",\"latency_p50_ns\":%llu,\"latency_p99_ns\":%llu"
	       ",\"latency_max_ns\":%llu,\"first_ts_ns\":%llu"
	       ",\"last_rx_ns\":%llu}\n",
	       (unsigned long long)t->events, (unsigned long long)t->bytes,
	       (unsigned long long)t->gaps, (unsigned long long)t->overruns,
	       (unsigned long long)t->first_seq,
	       (unsigned long long)t->last_seq,
	       (unsigned long long)t->acks, (unsigned long long)t->replies,
	       (unsigned long long)t->ack_errors, more ? more : "", rcvbuf,
	       secs,
	       t->last_rx > t->first_rx ?
	       (double)(t->last_rx - t->first_rx) / 1e9 : 0.0,
	       secs > 0 ? (double)t->events / secs : 0.0,
	       (unsigned long long)nlb_lat_pct(&t->lat, 50, &sorted),
	       (unsigned long long)nlb_lat_pct(&t->lat, 99, &sorted),
	       (unsigned long long)t->max_lat, (unsigned long long)t->first_ts,
	       (unsigned long long)t->last_rx);
	fflush(stdout);
}

#endif /* LISTEN_H */
