/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nlraw.h - raw generic netlink plumbing shared by the nlpush userspace
 * tools: the selftest next to it and the benchmark tools in bench/c.
 * Sockets, message building, attribute walking, request/answer exchanges
 * (with the kernel's extack), the resolution of the nlpush family through
 * the generic netlink controller, and the one-call reads and writes that
 * nlpush_test's debugfs files want. No libnl: header-only (static
 * inline functions), and every name starts with nlr_, so a tool that also
 * uses libnl can include it.
 *
 * Include it first, or define _GNU_SOURCE before any system header. Our
 * UAPI directory (kmod/include/uapi) must come first on the include path,
 * so that <linux/nlpush.h> is ours and never a system copy.
 */
#ifndef NLRAW_H
#define NLRAW_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

#include <linux/nlpush.h>

#ifndef NLPUSH_FAMILY_NAME
#error "linux/nlpush.h did not resolve to the nlpush UAPI header"
#endif

#define NLR_MSG_MAX	(72 * 1024)	/* a request with a 60 KiB payload */
#define NLR_RX_MAX	(256 * 1024)	/* a 60 KiB event, a dump skb */
#define NLR_TIMEOUT_MS	40000		/* default wait for an answer */

static inline uint64_t nlr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* prints the message and a newline on stderr, exits with status 2 */
static inline __attribute__((noreturn, format(printf, 1, 2)))
void nlr_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* zeroed memory or death */
static inline void *nlr_alloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p)
		nlr_die("out of memory (%zu bytes)", n);
	return p;
}

/* ------------------------------------------------------------------ */
/* sockets                                                              */

struct nlr_sock {
	int fd;
	uint32_t portid;
	uint32_t seq;		/* of the last request sent */
	unsigned char *rx;	/* NLR_RX_MAX bytes */
	char extack[256];	/* NLMSGERR_ATTR_MSG of the last error */
	int miss_type;		/* NLMSGERR_ATTR_MISS_TYPE or -1 */
	int overruns;		/* recv() returned ENOBUFS */
	int timeout_ms;		/* nlr_transact() wait limit */
};

static inline void nlr_set_rcvbuf(int fd, int bytes)
{
	if (bytes <= 0)
		return;
	/* FORCE passes rmem_max (root); plain SO_RCVBUF is the fallback */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)))
		perror("SO_RCVBUF");
}

static inline int nlr_get_rcvbuf(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &l);
	return v;
}

/* A bound NETLINK_GENERIC socket with extended acks; dies on failure. */
static inline struct nlr_sock *nlr_open(int rcvbuf)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t salen = sizeof(sa);
	struct nlr_sock *s = nlr_alloc(sizeof(*s));
	int one = 1;

	s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (s->fd < 0)
		nlr_die("socket(NETLINK_GENERIC): %s", strerror(errno));
	nlr_set_rcvbuf(s->fd, rcvbuf);
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &salen))
		nlr_die("bind(netlink): %s", strerror(errno));
	setsockopt(s->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(s->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	s->portid = sa.nl_pid;
	s->rx = nlr_alloc(NLR_RX_MAX);
	s->miss_type = -1;
	s->timeout_ms = NLR_TIMEOUT_MS;
	return s;
}

static inline void nlr_close(struct nlr_sock *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s->rx);
	free(s);
}

static inline int nlr_join(struct nlr_sock *s, uint32_t grp)
{
	if (setsockopt(s->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp,
		       sizeof(grp)))
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------ */
/* messages and attributes                                              */

struct nlr_msg {
	size_t len;
	unsigned char *buf;	/* NLR_MSG_MAX bytes */
};

/*
 * (Re)starts @m as a generic netlink request to family @type (the
 * controller, GENL_ID_CTRL, or nlpush) with the family's version, without
 * attributes; NLM_F_REQUEST is added to @flags.
 */
static inline void nlr_msg_init(struct nlr_msg *m, uint16_t type, uint8_t cmd,
				uint16_t flags)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)m->buf;
	struct genlmsghdr *g = NLMSG_DATA(nlh);

	memset(m->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	g->cmd = cmd;
	g->version = type == GENL_ID_CTRL ? 2 : NLPUSH_FAMILY_VERSION;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

/* a new message, as nlr_msg_init() makes it; free with nlr_msg_free() */
static inline struct nlr_msg *nlr_msg_new(uint16_t type, uint8_t cmd,
					  uint16_t flags)
{
	struct nlr_msg *m = nlr_alloc(sizeof(*m));

	m->buf = nlr_alloc(NLR_MSG_MAX);
	nlr_msg_init(m, type, cmd, flags);
	return m;
}

static inline void nlr_msg_free(struct nlr_msg *m)
{
	if (!m)
		return;
	free(m->buf);
	free(m);
}

static inline void nlr_put(struct nlr_msg *m, uint16_t type, const void *data,
			   size_t len)
{
	struct nlattr *a = (struct nlattr *)(m->buf + m->len);

	if (m->len + NLA_ALIGN(NLA_HDRLEN + len) > NLR_MSG_MAX)
		nlr_die("netlink message too big");
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	memset((char *)a + NLA_HDRLEN + len, 0,
	       NLA_ALIGN(NLA_HDRLEN + len) - (NLA_HDRLEN + len));
	m->len += NLA_ALIGN(NLA_HDRLEN + len);
}

static inline void nlr_put_u32(struct nlr_msg *m, uint16_t type, uint32_t v)
{
	nlr_put(m, type, &v, sizeof(v));
}

static inline void nlr_put_s32(struct nlr_msg *m, uint16_t type, int32_t v)
{
	nlr_put(m, type, &v, sizeof(v));
}

static inline void nlr_put_u64(struct nlr_msg *m, uint16_t type, uint64_t v)
{
	nlr_put(m, type, &v, sizeof(v));
}

/* a NUL-terminated string attribute */
static inline void nlr_put_str(struct nlr_msg *m, uint16_t type,
			       const char *s)
{
	nlr_put(m, type, s, strlen(s) + 1);
}

static inline void *nlr_data(const struct nlattr *a)
{
	return (char *)a + NLA_HDRLEN;
}

static inline int nlr_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

/* an unsigned attribute of 2, 4 or 8 bytes; 0 for any other length */
static inline uint64_t nlr_uint(const struct nlattr *a)
{
	uint64_t v64 = 0;
	uint32_t v32 = 0;
	uint16_t v16 = 0;

	switch (nlr_len(a)) {
	case 8: memcpy(&v64, nlr_data(a), 8); return v64;
	case 4: memcpy(&v32, nlr_data(a), 4); return v32;
	case 2: memcpy(&v16, nlr_data(a), 2); return v16;
	}
	return 0;
}

static inline uint32_t nlr_u32(const struct nlattr *a)
{
	return (uint32_t)nlr_uint(a);
}

/* fills tb[0..max] from the attribute stream @data, @len bytes */
static inline void nlr_attrs(const void *data, int len, struct nlattr **tb,
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

/* the attributes of a generic netlink message */
static inline void nlr_genl_attrs(const struct nlmsghdr *nlh,
				  struct nlattr **tb, int max)
{
	nlr_attrs((const char *)NLMSG_DATA(nlh) + GENL_HDRLEN,
		  (int)nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN, tb, max);
}

static inline uint8_t nlr_genl_cmd(const struct nlmsghdr *nlh)
{
	return ((const struct genlmsghdr *)NLMSG_DATA(nlh))->cmd;
}

/* ------------------------------------------------------------------ */
/* sending, receiving, request/answer                                   */

static inline int nlr_send(struct nlr_sock *s, struct nlr_msg *m)
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

/*
 * One recv() into s->rx, waiting at most @timeout_ms: the byte count, 0
 * on timeout, or -errno. ENOBUFS is counted in s->overruns and returned.
 */
static inline ssize_t nlr_recv(struct nlr_sock *s, int timeout_ms)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	ssize_t n;
	int r;

	r = poll(&p, 1, timeout_ms);
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	n = recv(s->fd, s->rx, NLR_RX_MAX, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0) {
		if (errno == ENOBUFS)
			s->overruns++;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
	if (n > NLR_RX_MAX)
		nlr_die("netlink message truncated (%zd bytes)", n);
	return n;
}

/*
 * nlr_recv() until a batch arrives or @deadline (nlr_now_ns()) passes: the
 * byte count in s->rx, -ETIME, or -errno. Overruns (ENOBUFS, counted in
 * s->overruns), EINTR and empty polls are waited through.
 */
static inline ssize_t nlr_recv_until(struct nlr_sock *s, uint64_t deadline)
{
	for (;;) {
		int64_t left = (int64_t)(deadline - nlr_now_ns()) / 1000000;
		ssize_t n;

		if (left <= 0)
			return -ETIME;
		n = nlr_recv(s, left);
		if (n == -ENOBUFS || n == -EINTR || n == 0)
			continue;
		return n;
	}
}

/* the extack message and missing attribute of an error or done message */
static inline void nlr_parse_extack(struct nlr_sock *s,
				    const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = NLMSG_DATA(nlh);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t off;
	int len;

	s->extack[0] = 0;
	s->miss_type = -1;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	off = NLMSG_HDRLEN + sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	off = NLMSG_ALIGN(off);
	len = (int)nlh->nlmsg_len - (int)off;
	if (len <= 0)
		return;
	nlr_attrs((const char *)nlh + off, len, tb, NLMSGERR_ATTR_MAX);
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(s->extack, sizeof(s->extack), "%.*s",
			 nlr_len(tb[NLMSGERR_ATTR_MSG]),
			 (char *)nlr_data(tb[NLMSGERR_ATTR_MSG]));
	if (tb[NLMSGERR_ATTR_MISS_TYPE])
		s->miss_type = nlr_u32(tb[NLMSGERR_ATTR_MISS_TYPE]);
}

typedef void (*nlr_cb)(struct nlmsghdr *nlh, void *arg);

/*
 * Sends @m and processes the answer: every message carrying our sequence
 * number goes to @cb, until the ack or error (a do) or NLMSG_DONE (a
 * dump). Messages of other sequence numbers (multicast events) go to
 * @other. Returns 0, -errno from the kernel (its extack in s->extack), or
 * -ETIME when s->timeout_ms passed without the answer.
 */
static inline int nlr_transact(struct nlr_sock *s, struct nlr_msg *m,
			       nlr_cb cb, void *arg, nlr_cb other, void *oarg)
{
	uint64_t deadline;
	int err;

	s->extack[0] = 0;
	s->miss_type = -1;
	err = nlr_send(s, m);
	if (err)
		return err;
	deadline = nlr_now_ns() + (uint64_t)s->timeout_ms * 1000000ull;
	for (;;) {
		struct nlmsghdr *nlh;
		ssize_t n = nlr_recv_until(s, deadline);

		if (n < 0)
			return n;
		for (nlh = (struct nlmsghdr *)s->rx; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_seq != s->seq) {
				if (other)
					other(nlh, oarg);
				continue;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nlh);

				nlr_parse_extack(s, nlh);
				return e->error;
			}
			if (nlh->nlmsg_type == NLMSG_DONE) {
				int *e = NLMSG_DATA(nlh);

				if (nlh->nlmsg_len >= NLMSG_LENGTH(4) &&
				    *e < 0) {
					nlr_parse_extack(s, nlh);
					return *e;
				}
				return 0;
			}
			if (cb)
				cb(nlh, arg);
		}
	}
}

/*
 * Reads @s until *@done or @deadline (nlr_now_ns()): every message with
 * sequence number @seq goes to @cb, which sets *@done. For an answer that
 * may come after nlr_transact() returned (a REPLY after the EMIT's ack).
 * Returns 0, -ETIME, or -errno.
 */
static inline int nlr_wait_seq(struct nlr_sock *s, uint32_t seq,
			       uint64_t deadline, const bool *done, nlr_cb cb,
			       void *arg)
{
	while (!*done) {
		struct nlmsghdr *nlh;
		ssize_t n = nlr_recv_until(s, deadline);

		if (n < 0)
			return (int)n;
		for (nlh = (struct nlmsghdr *)s->rx; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n))
			if (nlh->nlmsg_seq == seq)
				cb(nlh, arg);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* the nlpush family                                                    */

struct nlr_family {
	uint16_t id;
	uint32_t version;
	uint32_t events_grp;		/* id of the "events" group */
	bool grp_found;
	uint32_t op_flags[256];		/* GENL_ADMIN_PERM... by command */
	bool op_found[256];
};

/* walks the nested attributes @a inside @arr; @rem counts down */
#define nlr_for_each_nest(a, rem, arr)					\
	for ((a) = nlr_data(arr), (rem) = nlr_len(arr);			\
	     (rem) >= NLA_HDRLEN && (a)->nla_len >= NLA_HDRLEN &&	\
	     (a)->nla_len <= (rem);					\
	     (rem) -= NLA_ALIGN((a)->nla_len),				\
	     (a) = (struct nlattr *)((char *)(a) + NLA_ALIGN((a)->nla_len)))

/* CTRL_CMD_GETFAMILY answer into a struct nlr_family */
static inline void nlr_family_cb(struct nlmsghdr *nlh, void *arg)
{
	struct nlr_family *f = arg;
	struct nlattr *tb[CTRL_ATTR_MAX + 1];
	struct nlattr *a;
	int rem;

	nlr_genl_attrs(nlh, tb, CTRL_ATTR_MAX);
	if (tb[CTRL_ATTR_FAMILY_ID])
		f->id = (uint16_t)nlr_uint(tb[CTRL_ATTR_FAMILY_ID]);
	if (tb[CTRL_ATTR_VERSION])
		f->version = nlr_u32(tb[CTRL_ATTR_VERSION]);
	if (tb[CTRL_ATTR_MCAST_GROUPS]) {
		nlr_for_each_nest(a, rem, tb[CTRL_ATTR_MCAST_GROUPS]) {
			struct nlattr *g[CTRL_ATTR_MCAST_GRP_MAX + 1];

			nlr_attrs(nlr_data(a), nlr_len(a), g,
				  CTRL_ATTR_MCAST_GRP_MAX);
			if (g[CTRL_ATTR_MCAST_GRP_NAME] &&
			    g[CTRL_ATTR_MCAST_GRP_ID] &&
			    !strcmp(nlr_data(g[CTRL_ATTR_MCAST_GRP_NAME]),
				    NLPUSH_MCGRP_EVENTS)) {
				f->events_grp =
					nlr_u32(g[CTRL_ATTR_MCAST_GRP_ID]);
				f->grp_found = true;
			}
		}
	}
	if (tb[CTRL_ATTR_OPS]) {
		nlr_for_each_nest(a, rem, tb[CTRL_ATTR_OPS]) {
			struct nlattr *o[CTRL_ATTR_OP_MAX + 1];
			uint32_t id;

			nlr_attrs(nlr_data(a), nlr_len(a), o, CTRL_ATTR_OP_MAX);
			if (!o[CTRL_ATTR_OP_ID])
				continue;
			id = nlr_u32(o[CTRL_ATTR_OP_ID]);
			if (id < 256) {
				f->op_found[id] = true;
				f->op_flags[id] = o[CTRL_ATTR_OP_FLAGS] ?
					nlr_u32(o[CTRL_ATTR_OP_FLAGS]) : 0;
			}
		}
	}
}

/*
 * Asks the generic netlink controller for the nlpush family: 0 and @f
 * filled in, or -errno (-ENOENT: the module is not loaded).
 */
static inline int nlr_resolve_family(struct nlr_sock *s,
				     struct nlr_family *f)
{
	struct nlr_msg *m = nlr_msg_new(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
					NLM_F_ACK);
	int err;

	memset(f, 0, sizeof(*f));
	nlr_put_str(m, CTRL_ATTR_FAMILY_NAME, NLPUSH_FAMILY_NAME);
	err = nlr_transact(s, m, nlr_family_cb, f, NULL, NULL);
	nlr_msg_free(m);
	return err;
}

/* ------------------------------------------------------------------ */
/* debugfs files (nlpush_test)                                          */

/* @len bytes of @buf into @path in one write(2): 0 or -errno */
static inline int nlr_write_file(const char *path, const void *buf,
				 size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	close(fd);
	return err;
}

/* up to @size - 1 bytes of @path in one read(2), NUL-terminated in @buf */
static inline int nlr_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

#endif /* NLRAW_H */
