/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nlb_libnl.h - what the libnl tools (nlpush_libnl_listen, genlparse_bench)
 * share: the policy they genlmsg_parse() nlpush events with, the way a
 * typical C daemon would. Include after nlb.h.
 */
#ifndef NLB_LIBNL_H
#define NLB_LIBNL_H

#include <netlink/attr.h>

static struct nla_policy nlb_event_policy[NLPUSH_A_MAX + 1] = {
	[NLPUSH_A_SEQ] = { .type = NLA_U64 },
	[NLPUSH_A_TIMESTAMP_NS] = { .type = NLA_U64 },
	[NLPUSH_A_TYPE] = { .type = NLA_U32 },
	[NLPUSH_A_FLAGS] = { .type = NLA_U32 },
	[NLPUSH_A_PAYLOAD] = { .type = NLA_UNSPEC, .maxlen = NLPUSH_PAYLOAD_MAX },
	[NLPUSH_A_EPOCH] = { .type = NLA_U64 },
};

#endif /* NLB_LIBNL_H */
