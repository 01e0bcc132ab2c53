/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version differences, keyed on feature macros rather than
 * LINUX_VERSION_CODE: distributions backport features into stable kernels
 * (Debian's 6.1 already has GENL_MCAST_CAP_NET_ADMIN, for example).
 */
#ifndef _NLPUSH_COMPAT_H
#define _NLPUSH_COMPAT_H

#include <linux/netlink.h>
#include <linux/slab.h>
#include <linux/timer.h>
#include <linux/version.h>
#include <net/genetlink.h>

/*
 * Multicast groups that need a capability to join appeared in 6.7 and were
 * backported to stable kernels. Without them, anyone can join "events": the
 * module refuses to load unless unprivileged_listen=1 says that is wanted.
 */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define NLPUSH_HAVE_MCAST_CAP	1
#define NLPUSH_MCGRP_ADMIN_FLAGS	GENL_MCAST_CAP_NET_ADMIN
#else
#define NLPUSH_HAVE_MCAST_CAP	0
#define NLPUSH_MCGRP_ADMIN_FLAGS	0
#endif

/* Formatted extack messages (6.2+); older kernels get the bare format. */
#ifndef NL_SET_ERR_MSG_FMT
#define NL_SET_ERR_MSG_FMT(extack, fmt, args...) NL_SET_ERR_MSG(extack, fmt)
#endif

/* from_timer() became timer_container_of() in 6.16. */
#ifdef timer_container_of
#define nlpush_from_timer(var, t, field)	timer_container_of(var, t, field)
#else
#define nlpush_from_timer(var, t, field)	from_timer(var, t, field)
#endif

/*
 * kmalloc_size_roundup() (6.1+) is a function, so no macro announces it and
 * only the version tells. Before it, round up to a power of two: kmalloc()
 * of a power of two takes exactly that much, so allocating and charging
 * this size keeps the replay ring's accounting exact (only the 96- and
 * 192-byte classes go unused).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 0)
#define nlpush_kmalloc_size_roundup(size)	kmalloc_size_roundup(size)
#else
#include <linux/log2.h>
static inline size_t nlpush_kmalloc_size_roundup(size_t size)
{
	return roundup_pow_of_two(max_t(size_t, size, KMALLOC_MIN_SIZE));
}
#endif

/*
 * Split genetlink ops (6.2+), used by the ops table nlpush_nl_ops that
 * scripts/gen.sh generates into nlpush-nl.c. No macro announces them
 * (GENL_CMD_CAP_DO/DUMP are UAPI flags that 6.1 has too) and
 * struct genl_split_ops is a type, so this one is keyed on the version.
 * Before 6.2 the table is a plain genl_ops table: every field the generator
 * fills in (cmd, doit or start + dumpit, policy, maxattr, flags) exists in
 * genl_ops, and since no nlpush command has both a do and a dump, one
 * genl_ops per command means the same (a command listed twice would fail
 * genl_register_family()). The GENL_CMD_CAP_* bits left in .flags are the
 * ones 6.1 adds itself when it reports the ops. The family uses
 *	NLPUSH_GENL_OPS(nlpush_nl_ops),
 * in its initializer (.split_ops/.n_split_ops, or .ops/.n_ops before 6.2).
 * nlpush-nl.h includes this file, so the generated code needs nothing else.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define NLPUSH_HAVE_SPLIT_OPS	1
#define NLPUSH_GENL_OPS(table)	\
	.split_ops = (table), .n_split_ops = ARRAY_SIZE(table)
#else
#define NLPUSH_HAVE_SPLIT_OPS	0
#define genl_split_ops		genl_ops
#define NLPUSH_GENL_OPS(table)	.ops = (table), .n_ops = ARRAY_SIZE(table)
#endif

/*
 * The request attributes of a dump, as the core parsed and validated them
 * against the op's generated policy (indexes up to the op's .maxattr), for
 * its start and dumpit callbacks: struct genl_dumpit_info embeds a
 * struct genl_info since 6.6 (a struct layout, no macro).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define nlpush_dump_attrs(cb)	(genl_info_dump(cb)->attrs)
#else
#define nlpush_dump_attrs(cb)	(genl_dumpit_info(cb)->attrs)
#endif

/*
 * The generated policies point NLA_POLICY_FULL_RANGE() at static const
 * ranges; 6.1's struct nla_policy still has non-const range pointers (the
 * core only reads them). Same macros, with a cast to whatever type the
 * member has: a no-op where it is const, no discarded-qualifier warning where
 * it is not. Keyed on the member's type, not on a version.
 */
#undef NLA_POLICY_FULL_RANGE
#define NLA_POLICY_FULL_RANGE(tp, _range) {				\
	.type = NLA_ENSURE_UINT_OR_BINARY_TYPE(tp),			\
	.validation_type = NLA_VALIDATE_RANGE_PTR,			\
	.range = (typeof(((struct nla_policy *)0)->range))(_range),	\
}
#undef NLA_POLICY_FULL_RANGE_SIGNED
#define NLA_POLICY_FULL_RANGE_SIGNED(tp, _range) {			\
	.type = NLA_ENSURE_SINT_TYPE(tp),				\
	.validation_type = NLA_VALIDATE_RANGE_PTR,			\
	.range_signed =							\
		(typeof(((struct nla_policy *)0)->range_signed))(_range), \
}

#endif /* _NLPUSH_COMPAT_H */
