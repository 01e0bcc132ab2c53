// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	kmod/nlpush.yaml */
/* YNL-GEN kernel source */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "nlpush-nl.h"

#include <uapi/linux/nlpush.h>
#include <../compat.h>

/* Integer value ranges */
static const struct netlink_range_validation nlpush_a_count_range = {
	.min	= 1ULL,
	.max	= NLPUSH_EMIT_COUNT_MAX,
};

static const struct netlink_range_validation nlpush_a_timeout_ms_range = {
	.min	= 1ULL,
	.max	= NLPUSH_TIMEOUT_MS_MAX,
};

/* NLPUSH_CMD_ACK - do */
static const struct nla_policy nlpush_ack_nl_policy[NLPUSH_A_EPOCH + 1] = {
	[NLPUSH_A_SEQ] = { .type = NLA_U64, },
	[NLPUSH_A_STATUS] = { .type = NLA_S32, },
	[NLPUSH_A_PAYLOAD] = { .type = NLA_BINARY, .len = NLPUSH_PAYLOAD_MAX, },
	[NLPUSH_A_EPOCH] = { .type = NLA_U64, },
	[NLPUSH_A_COUNT] = NLA_POLICY_FULL_RANGE(NLA_U32, &nlpush_a_count_range),
};

/* NLPUSH_CMD_SUBSCRIBE - do */
static const struct nla_policy nlpush_subscribe_nl_policy[NLPUSH_A_NAME + 1] = {
	[NLPUSH_A_NAME] = { .type = NLA_NUL_STRING, .len = 31, },
	[NLPUSH_A_FLAGS] = NLA_POLICY_MASK(NLA_U32, 0x7),
};

/* NLPUSH_CMD_REPLAY - dump */
static const struct nla_policy nlpush_replay_nl_policy[NLPUSH_A_COUNT + 1] = {
	[NLPUSH_A_SEQ] = { .type = NLA_U64, },
	[NLPUSH_A_COUNT] = NLA_POLICY_FULL_RANGE(NLA_U32, &nlpush_a_count_range),
};

/* NLPUSH_CMD_EMIT - do */
static const struct nla_policy nlpush_emit_nl_policy[NLPUSH_A_TIMEOUT_MS + 1] = {
	[NLPUSH_A_TYPE] = { .type = NLA_U32, },
	[NLPUSH_A_FLAGS] = NLA_POLICY_MASK(NLA_U32, 0x7),
	[NLPUSH_A_PAYLOAD] = { .type = NLA_BINARY, .len = NLPUSH_PAYLOAD_MAX, },
	[NLPUSH_A_COUNT] = NLA_POLICY_FULL_RANGE(NLA_U32, &nlpush_a_count_range),
	[NLPUSH_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &nlpush_a_timeout_ms_range),
};

/* Ops table for nlpush */
const struct genl_split_ops nlpush_nl_ops[7] = {
	{
		.cmd		= NLPUSH_CMD_ACK,
		.doit		= nlpush_nl_ack_doit,
		.policy		= nlpush_ack_nl_policy,
		.maxattr	= NLPUSH_A_EPOCH,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= NLPUSH_CMD_SUBSCRIBE,
		.doit		= nlpush_nl_subscribe_doit,
		.policy		= nlpush_subscribe_nl_policy,
		.maxattr	= NLPUSH_A_NAME,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd	= NLPUSH_CMD_UNSUBSCRIBE,
		.doit	= nlpush_nl_unsubscribe_doit,
		.flags	= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd	= NLPUSH_CMD_GET_STATS,
		.doit	= nlpush_nl_get_stats_doit,
		.flags	= GENL_CMD_CAP_DO,
	},
	{
		.cmd	= NLPUSH_CMD_GET_SUBSCRIBERS,
		.start	= nlpush_nl_get_subscribers_start,
		.dumpit	= nlpush_nl_get_subscribers_dumpit,
		.flags	= GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= NLPUSH_CMD_REPLAY,
		.start		= nlpush_nl_replay_start,
		.dumpit		= nlpush_nl_replay_dumpit,
		.policy		= nlpush_replay_nl_policy,
		.maxattr	= NLPUSH_A_COUNT,
		.flags		= GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= NLPUSH_CMD_EMIT,
		.doit		= nlpush_nl_emit_doit,
		.policy		= nlpush_emit_nl_policy,
		.maxattr	= NLPUSH_A_TIMEOUT_MS,
		.flags		= GENL_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
};

static const struct genl_multicast_group nlpush_nl_mcgrps[] = {
	[NLPUSH_NLGRP_EVENTS] = { "events", },
};
