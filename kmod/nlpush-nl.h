/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	kmod/nlpush.yaml */
/* YNL-GEN kernel header */

#ifndef _LINUX_NLPUSH_GEN_H
#define _LINUX_NLPUSH_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include <uapi/linux/nlpush.h>
#include <../compat.h>

/* Ops table for nlpush */
extern const struct genl_split_ops nlpush_nl_ops[7];

int nlpush_nl_get_subscribers_start(struct netlink_callback *cb);
int nlpush_nl_replay_start(struct netlink_callback *cb);

int nlpush_nl_ack_doit(struct sk_buff *skb, struct genl_info *info);
int nlpush_nl_subscribe_doit(struct sk_buff *skb, struct genl_info *info);
int nlpush_nl_unsubscribe_doit(struct sk_buff *skb, struct genl_info *info);
int nlpush_nl_get_stats_doit(struct sk_buff *skb, struct genl_info *info);
int nlpush_nl_get_subscribers_dumpit(struct sk_buff *skb,
				     struct netlink_callback *cb);
int nlpush_nl_replay_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int nlpush_nl_emit_doit(struct sk_buff *skb, struct genl_info *info);

enum {
	NLPUSH_NLGRP_EVENTS,
};

#endif /* _LINUX_NLPUSH_GEN_H */
