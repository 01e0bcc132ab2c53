/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nlb.h - the few raw netlink helpers the benchmark tools share: sockets,
 * family resolution through the generic netlink controller, attribute
 * building and walking, acknowledgements, latency percentiles and JSON
 * output. Header-only (static functions) so each tool is one C file.
 */
#ifndef NLB_H
#define NLB_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/nlpush.h>	/* ours: -I../../kmod/include/uapi comes first */

#ifndef NLPUSH_FAMILY_NAME
#error "linux/nlpush.h did not resolve to the nlpush UAPI header"
#endif

#define NLB_RX_MAX	(256 * 1024)	/* > one 60 KiB event or dump skb */
#define NLB_TX_MAX	(64 * 1024 + 256)

static inline uint64_t nlb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void nlb_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static inline void *nlb_alloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p)
		nlb_die("out of memory (%zu bytes)", n);
	return p;
}

/* Parses "123", "64k", "4M", "1g" (powers of 1024). */
static inline unsigned long long nlb_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		nlb_die("bad number: %s", s);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end && strcmp(end, "B") && strcmp(end, "iB"))
		nlb_die("bad number: %s", s);
	return v;
}

/* ------------------------------------------------------------------ */
/* sockets                                                              */

struct nlb_sock {
	int fd;
	uint32_t portid;
	uint32_t seq;
	unsigned char *rx;
};

static inline void nlb_set_rcvbuf(int fd, int bytes)
{
	if (bytes <= 0)
		return;
	/* FORCE passes rmem_max (root); plain SO_RCVBUF is the fallback */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)))
		perror("SO_RCVBUF");
}

static inline int nlb_get_rcvbuf(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &l);
	return v;
}

static inline struct nlb_sock *nlb_open(int rcvbuf)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t salen = sizeof(sa);
	struct nlb_sock *s = nlb_alloc(sizeof(*s));
	int one = 1;

	s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (s->fd < 0)
		nlb_die("socket(NETLINK_GENERIC): %s", strerror(errno));
	nlb_set_rcvbuf(s->fd, rcvbuf);
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &salen))
		nlb_die("bind(netlink): %s", strerror(errno));
	setsockopt(s->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(s->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	s->portid = sa.nl_pid;
	s->rx = nlb_alloc(NLB_RX_MAX);
	return s;
}

static inline int nlb_join(struct nlb_sock *s, uint32_t grp)
{
	if (setsockopt(s->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp,
		       sizeof(grp)))
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------ */
/* messages                                                             */

struct nlb_msg {
	size_t len;
	unsigned char buf[NLB_TX_MAX];
};

static inline void nlb_msg_init(struct nlb_msg *m, uint16_t type, uint8_t cmd,
				uint8_t version, uint16_t flags)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)m->buf;
	struct genlmsghdr *g = NLMSG_DATA(nlh);

	memset(m->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	g->cmd = cmd;
	g->version = version;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

static inline void nlb_put(struct nlb_msg *m, uint16_t type, const void *data,
			   size_t len)
{
	struct nlattr *a = (struct nlattr *)(m->buf + m->len);

	if (m->len + NLA_ALIGN(NLA_HDRLEN + len) > sizeof(m->buf))
		nlb_die("netlink message too big");
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	memset((char *)a + NLA_HDRLEN + len, 0,
	       NLA_ALIGN(NLA_HDRLEN + len) - (NLA_HDRLEN + len));
	m->len += NLA_ALIGN(NLA_HDRLEN + len);
}

static inline void nlb_put_u32(struct nlb_msg *m, uint16_t type, uint32_t v)
{
	nlb_put(m, type, &v, sizeof(v));
}

static inline void nlb_put_u64(struct nlb_msg *m, uint16_t type, uint64_t v)
{
	nlb_put(m, type, &v, sizeof(v));
}

static inline void *nlb_data(const struct nlattr *a)
{
	return (char *)a + NLA_HDRLEN;
}

static inline int nlb_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

static inline uint64_t nlb_uint(const struct nlattr *a)
{
	uint64_t v64 = 0;
	uint32_t v32 = 0;
	uint16_t v16 = 0;

	switch (nlb_len(a)) {
	case 8: memcpy(&v64, nlb_data(a), 8); return v64;
	case 4: memcpy(&v32, nlb_data(a), 4); return v32;
	case 2: memcpy(&v16, nlb_data(a), 2); return v16;
	}
	return 0;
}

/* fills tb[0..max] from the attribute stream data/len */
static inline void nlb_attrs(const void *data, int len, struct nlattr **tb,
			     int max)
{
	const struct nlattr *a = data;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	       a->nla_len <= len) {
		int type = a->nla_type & NLA_TYPE_MASK;

		if (type <= max)
			tb[type] = (struct nlattr *)a;
		len -= NLA_ALIGN(a->nla_len);
		a = (const struct nlattr *)((const char *)a +
					    NLA_ALIGN(a->nla_len));
	}
}

static inline void nlb_genl_attrs(const struct nlmsghdr *nlh,
				  struct nlattr **tb, int max)
{
	nlb_attrs((const char *)NLMSG_DATA(nlh) + GENL_HDRLEN,
		  (int)nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN, tb, max);
}

static inline int nlb_send(struct nlb_sock *s, struct nlb_msg *m)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct nlmsghdr *nlh = (struct nlmsghdr *)m->buf;
	ssize_t n;

	nlh->nlmsg_len = m->len;
	nlh->nlmsg_seq = ++s->seq;
	nlh->nlmsg_pid = 0;
	n = sendto(s->fd, m->buf, m->len, 0, (struct sockaddr *)&sa,
		   sizeof(sa));
	if (n < 0)
		return -errno;
	return (size_t)n == m->len ? 0 : -EIO;
}

typedef void (*nlb_cb)(const struct nlmsghdr *nlh, void *arg);

/*
 * Sends @m and reads until its ack, error or NLMSG_DONE: every message
 * with our sequence number goes to @cb. Returns 0 or -errno (the kernel's
 * error, or -ETIME after @timeout_ms of silence).
 */
static inline int nlb_transact(struct nlb_sock *s, struct nlb_msg *m,
			       nlb_cb cb, void *arg, int timeout_ms)
{
	int err = nlb_send(s, m);

	if (err)
		return err;
	for (;;) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		struct nlmsghdr *nlh;
		ssize_t n;
		int r = poll(&p, 1, timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIME;
		n = recv(s->fd, s->rx, NLB_RX_MAX, 0);
		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			return -errno;
		}
		for (nlh = (struct nlmsghdr *)s->rx; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_seq != s->seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(nlh))->error;
			if (nlh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (cb)
				cb(nlh, arg);
		}
	}
}

/* ------------------------------------------------------------------ */
/* family resolution                                                    */

struct nlb_family {
	uint16_t id;
	uint32_t events_grp;
};

static inline void nlb_family_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct nlb_family *f = arg;
	struct nlattr *tb[CTRL_ATTR_MAX + 1];
	struct nlattr *a;
	int rem;

	nlb_genl_attrs(nlh, tb, CTRL_ATTR_MAX);
	if (tb[CTRL_ATTR_FAMILY_ID])
		f->id = (uint16_t)nlb_uint(tb[CTRL_ATTR_FAMILY_ID]);
	if (!tb[CTRL_ATTR_MCAST_GROUPS])
		return;
	a = nlb_data(tb[CTRL_ATTR_MCAST_GROUPS]);
	rem = nlb_len(tb[CTRL_ATTR_MCAST_GROUPS]);
	while (rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	       a->nla_len <= rem) {
		struct nlattr *g[CTRL_ATTR_MCAST_GRP_MAX + 1];

		nlb_attrs(nlb_data(a), nlb_len(a), g, CTRL_ATTR_MCAST_GRP_MAX);
		if (g[CTRL_ATTR_MCAST_GRP_NAME] && g[CTRL_ATTR_MCAST_GRP_ID] &&
		    !strcmp(nlb_data(g[CTRL_ATTR_MCAST_GRP_NAME]),
			    NLPUSH_MCGRP_EVENTS))
			f->events_grp = (uint32_t)nlb_uint(g[CTRL_ATTR_MCAST_GRP_ID]);
		rem -= NLA_ALIGN(a->nla_len);
		a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
	}
}

/* Resolves the nlpush family and its "events" group; dies if absent. */
static inline struct nlb_family nlb_resolve(struct nlb_sock *s)
{
	struct nlb_family f = { 0, 0 };
	struct nlb_msg *m = nlb_alloc(sizeof(*m));
	int err;

	nlb_msg_init(m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2, NLM_F_ACK);
	nlb_put(m, CTRL_ATTR_FAMILY_NAME, NLPUSH_FAMILY_NAME,
		sizeof(NLPUSH_FAMILY_NAME));
	err = nlb_transact(s, m, nlb_family_cb, &f, 5000);
	free(m);
	if (err || !f.id || !f.events_grp)
		nlb_die("generic netlink family \"%s\" not found (%s): is nlpush.ko loaded?",
			NLPUSH_FAMILY_NAME, strerror(-err));
	return f;
}

/*
 * NLPUSH_CMD_ACK for @seq from the control socket @s, waiting for the
 * kernel's answer like the Swift library does. With @reply, also STATUS 0
 * and PAYLOAD @reply (answering a request). Returns 0 or -errno.
 */
static inline int nlb_ack(struct nlb_sock *s, uint16_t family, uint64_t seq,
			  const char *reply)
{
	struct nlb_msg m;
	int32_t status = 0;

	nlb_msg_init(&m, family, NLPUSH_CMD_ACK, NLPUSH_FAMILY_VERSION,
		     NLM_F_ACK);
	nlb_put_u64(&m, NLPUSH_A_SEQ, seq);
	if (reply) {
		nlb_put(&m, NLPUSH_A_STATUS, &status, sizeof(status));
		nlb_put(&m, NLPUSH_A_PAYLOAD, reply, strlen(reply));
	}
	return nlb_transact(s, &m, NULL, NULL, 5000);
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
			nlb_die("out of memory");
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
		nlb_die("cannot create %s: %s", path, strerror(errno));
	close(fd);
}

#endif /* NLB_H */
