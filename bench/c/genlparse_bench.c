// SPDX-License-Identifier: GPL-2.0
/*
 * genlparse_bench - decodes a recorded stream of nlpush event messages
 * (as written by nlpush_cat --record: netlink messages back to back) with
 * libnl's genlmsg_parse() and a policy, REPEAT times over, reading every
 * attribute. Used under callgrind: the instructions of REPEAT=R2 minus
 * REPEAT=R1, divided by (R2 - R1) x events, are the cost of one decode.
 *
 *   genlparse_bench FILE [REPEAT] [--copy]
 *
 * --copy also copies each payload into a fresh malloc()ed buffer (and frees
 * it), like a decoder that hands out an owned payload, as the Swift
 * library's Event does. Prints one JSON line.
 */
#include "nlb.h"

#include <sys/stat.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "nlb_libnl.h"

struct event {
	uint64_t seq, ts;
	uint32_t type, flags;
	const void *payload;
	uint8_t *owned;
	int len;
};

/* not inlined, so callgrind shows the per-message cost under one name */
__attribute__((noinline)) static int decode_one(struct nlmsghdr *nlh,
						struct event *e, bool copy)
{
	struct nlattr *tb[NLPUSH_A_MAX + 1];

	if (genlmsg_parse(nlh, 0, tb, NLPUSH_A_MAX, nlb_event_policy) < 0)
		return -1;
	if (!tb[NLPUSH_A_SEQ] || !tb[NLPUSH_A_TIMESTAMP_NS] ||
	    !tb[NLPUSH_A_TYPE] || !tb[NLPUSH_A_FLAGS] || !tb[NLPUSH_A_PAYLOAD])
		return -1;
	e->seq = nla_get_u64(tb[NLPUSH_A_SEQ]);
	e->ts = nla_get_u64(tb[NLPUSH_A_TIMESTAMP_NS]);
	e->type = nla_get_u32(tb[NLPUSH_A_TYPE]);
	e->flags = nla_get_u32(tb[NLPUSH_A_FLAGS]);
	e->payload = nla_data(tb[NLPUSH_A_PAYLOAD]);
	e->len = nla_len(tb[NLPUSH_A_PAYLOAD]);
	e->owned = NULL;
	if (copy) {
		e->owned = malloc(e->len ? e->len : 1);
		if (!e->owned)
			return -1;
		memcpy(e->owned, e->payload, e->len);
		e->payload = e->owned;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct nlmsghdr **msgs;
	uint64_t sum = 0, decoded = 0;
	unsigned long repeat = 1, r;
	size_t nmsg = 0, off, i;
	bool copy = false;
	unsigned char *buf;
	const char *path = NULL;
	struct stat stt;
	int fd, a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--copy"))
			copy = true;
		else if (!path)
			path = argv[a];
		else
			repeat = strtoul(argv[a], NULL, 10);
	}
	if (!path) {
		fprintf(stderr, "usage: genlparse_bench FILE [REPEAT] [--copy]\n");
		return 64;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &stt))
		nlr_die("%s: %s", path, strerror(errno));
	buf = nlr_alloc(stt.st_size);
	for (off = 0; off < (size_t)stt.st_size;) {
		ssize_t n = read(fd, buf + off, stt.st_size - off);

		if (n <= 0)
			nlr_die("read %s: %s", path, strerror(errno));
		off += n;
	}
	close(fd);

	/* index the messages once (not part of the per-event cost) */
	msgs = nlr_alloc(sizeof(*msgs) * (stt.st_size / NLMSG_HDRLEN + 1));
	for (off = 0; off + NLMSG_HDRLEN <= (size_t)stt.st_size;) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(buf + off);

		if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN ||
		    off + nlh->nlmsg_len > (size_t)stt.st_size)
			nlr_die("%s: bad message at offset %zu", path, off);
		msgs[nmsg++] = nlh;
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}

	for (r = 0; r < repeat; r++) {
		for (i = 0; i < nmsg; i++) {
			struct event e;

			if (decode_one(msgs[i], &e, copy))
				nlr_die("message %zu does not decode", i);
			sum += e.seq + e.ts + e.type + e.flags + (uint64_t)e.len +
			       ((const uint8_t *)e.payload)[e.len ? e.len - 1 : 0];
			free(e.owned);
			decoded++;
		}
	}
	printf("{\"tool\":\"genlparse_bench\",\"messages\":%zu,\"repeat\":%lu"
	       ",\"decoded\":%llu,\"copy\":%s,\"checksum\":%llu}\n",
	       nmsg, repeat, (unsigned long long)decoded,
	       copy ? "true" : "false", (unsigned long long)sum);
	free(msgs);
	free(buf);
	return 0;
}
