/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nlb.h - what the benchmark tools share on top of the raw netlink
 * plumbing of kmod/selftest/nlraw.h (sockets, messages, attributes,
 * requests, family resolution): size arguments, a family lookup that
 * dies, acknowledgements, latency percentiles and ready files.
 * Header-only (static functions) so each tool is one C file.
 */
#ifndef NLB_H
#define NLB_H

#include "nlraw.h"	/* first: it defines _GNU_SOURCE */

/* Parses "123", "64k", "4M", "1g" (powers of 1024). */
static inline unsigned long long nlb_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		nlr_die("bad number: %s", s);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end && strcmp(end, "B") && strcmp(end, "iB"))
		nlr_die("bad number: %s", s);
	return v;
}

/* Resolves the nlpush family and its "events" group; dies if absent. */
static inline struct nlr_family nlb_resolve(struct nlr_sock *s)
{
	struct nlr_family f;
	int err = nlr_resolve_family(s, &f);

	if (err || !f.id || !f.events_grp)
		nlr_die("generic netlink family \"%s\" not found (%s): is nlpush.ko loaded?",
			NLPUSH_FAMILY_NAME, strerror(-err));
	return f;
}

/*
 * NLPUSH_CMD_SUBSCRIBE of the control socket @s under @name, with
 * NLPUSH_A_FLAGS @flags when not 0 (NLPUSH_F_RESPONDER: the socket answers
 * requests; the kernel knows responders by this socket's port id, so the
 * answers must go out of the same socket). Returns 0 or -errno.
 */
static inline int nlb_subscribe(struct nlr_sock *s, uint16_t family,
				const char *name, uint32_t flags)
{
	struct nlr_msg *m = nlr_msg_new(family, NLPUSH_CMD_SUBSCRIBE, NLM_F_ACK);
	int err;

	nlr_put_str(m, NLPUSH_A_NAME, name);
	if (flags)
		nlr_put_u32(m, NLPUSH_A_FLAGS, flags);
	err = nlr_transact(s, m, NULL, NULL, NULL, NULL);
	nlr_msg_free(m);
	return err;
}

/* whether @nlh (of the nlpush family) carries an event: live or replayed */
static inline bool nlb_is_event(const struct nlmsghdr *nlh)
{
	uint8_t cmd = nlr_genl_cmd(nlh);

	return cmd == NLPUSH_CMD_EVENT || cmd == NLPUSH_CMD_REPLAY;
}

/*
 * NLPUSH_CMD_ACK for @seq from the control socket @s, waiting for the
 * kernel's answer like the Swift library does. With @reply, also STATUS 0
 * and PAYLOAD @reply (answering a request: only a socket subscribed with
 * NLPUSH_F_RESPONDER may; a request is never acked without a status).
 * Returns 0 or -errno. One
 * message buffer is reused: no allocation per event.
 */
static inline int nlb_ack(struct nlr_sock *s, uint16_t family, uint64_t seq,
			  const char *reply)
{
	static struct nlr_msg *m;

	if (!m)
		m = nlr_msg_new(family, NLPUSH_CMD_ACK, NLM_F_ACK);
	else
		nlr_msg_init(m, family, NLPUSH_CMD_ACK, NLM_F_ACK);
	nlr_put_u64(m, NLPUSH_A_SEQ, seq);
	if (reply) {
		nlr_put_s32(m, NLPUSH_A_STATUS, 0);
		nlr_put(m, NLPUSH_A_PAYLOAD, reply, strlen(reply));
	}
	return nlr_transact(s, m, NULL, NULL, NULL, NULL);
}

/* ACK SEQ COUNT: the events @seq .. @seq + @count - 1, waiting for the answer */
static inline int nlb_ack_range(struct nlr_sock *s, uint16_t family,
				uint64_t seq, uint32_t count)
{
	static struct nlr_msg *m;

	if (count == 1)
		return nlb_ack(s, family, seq, NULL);
	if (!m)
		m = nlr_msg_new(family, NLPUSH_CMD_ACK, NLM_F_ACK);
	else
		nlr_msg_init(m, family, NLPUSH_CMD_ACK, NLM_F_ACK);
	nlr_put_u64(m, NLPUSH_A_SEQ, seq);
	nlr_put_u32(m, NLPUSH_A_COUNT, count);
	return nlr_transact(s, m, NULL, NULL, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* latency samples                                                      */

struct nlb_lat {
	uint64_t *v;
	size_t n, cap;
};

static inline void nlb_lat_add(struct nlb_lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			nlr_die("out of memory");
	}
	l->v[l->n++] = ns;
}

static int nlb_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* sorts the samples; nearest-rank percentile p (0..100) */
static inline uint64_t nlb_lat_pct(struct nlb_lat *l, double p, bool *sorted)
{
	size_t rank;

	if (!l->n)
		return 0;
	if (!*sorted) {
		qsort(l->v, l->n, sizeof(*l->v), nlb_u64_cmp);
		*sorted = true;
	}
	rank = (size_t)(p / 100.0 * (double)l->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > l->n)
		rank = l->n;
	return l->v[rank - 1];
}

static inline void nlb_touch(const char *path)
{
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		nlr_die("cannot create %s: %s", path, strerror(errno));
	close(fd);
}

#endif /* NLB_H */
