/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version differences, keyed on feature macros rather than
 * LINUX_VERSION_CODE: distributions backport features into stable kernels
 * (Debian's 6.1 already has GENL_MCAST_CAP_NET_ADMIN, for example).
 */
#ifndef _NLPUSH_COMPAT_H
#define _NLPUSH_COMPAT_H

#include <linux/netlink.h>
#include <linux/preempt.h>
#include <linux/slab.h>
#include <linux/timer.h>
#include <linux/version.h>
#include <net/genetlink.h>

/*
 * Multicast groups that need a capability to join. GENL_MCAST_CAP_NET_ADMIN
 * came with "genetlink: Use internal flags for multicast groups" (6.7) and
 * was backported to stable kernels (Debian's 6.1 has it). Debian's 5.10
 * got only its predecessor, "drop_monitor: Require 'CAP_SYS_ADMIN' when
 * joining "events" group": the bit cap_sys_admin in struct
 * genl_multicast_group, which makes genl_bind() require CAP_SYS_ADMIN. A
 * struct member has no macro, so kmod/Makefile looks for it in the
 * kernel's include/net/genetlink.h and defines NLPUSH_HAVE_MCGRP_SYS_ADMIN.
 * There, listeners need CAP_SYS_ADMIN instead of CAP_NET_ADMIN (stricter:
 * nobody unprivileged gets in either way). With neither, anyone can join
 * "events": the module refuses to load unless unprivileged_listen=1 says
 * that is wanted. NLPUSH_MCAST_CAP names the capability (modinfo
 * listen_cap, which the VM tests read).
 */
#if defined(GENL_MCAST_CAP_NET_ADMIN)
#define NLPUSH_HAVE_MCAST_CAP	1
#define NLPUSH_MCAST_CAP	"CAP_NET_ADMIN"
#define nlpush_mcgrp_restrict(grp)	((grp)->flags = GENL_MCAST_CAP_NET_ADMIN)
#elif defined(NLPUSH_HAVE_MCGRP_SYS_ADMIN)
#define NLPUSH_HAVE_MCAST_CAP	1
#define NLPUSH_MCAST_CAP	"CAP_SYS_ADMIN"
#define nlpush_mcgrp_restrict(grp)	((grp)->cap_sys_admin = 1)
#else
#define NLPUSH_HAVE_MCAST_CAP	0
#define NLPUSH_MCAST_CAP	"none"
#define nlpush_mcgrp_restrict(grp)	do { } while (0)
#endif

/* in_hardirq() (5.11) was in_irq() before; both are macros. */
#ifndef in_hardirq
#define in_hardirq()	in_irq()
#endif

/*
 * GENL_REQ_ATTR_CHECK() (6.1) reports a missing attribute in the extack's
 * NLMSGERR_ATTR_MISS_TYPE, which older kernels cannot carry; there the
 * extack gets a message naming the attribute instead.
 */
#ifndef GENL_REQ_ATTR_CHECK
#define GENL_REQ_ATTR_CHECK(info, attr) ({				\
	const struct genl_info *__info = (info);			\
	int __missing = !__info->attrs[(attr)];			\
									\
	if (__missing)							\
		NL_SET_ERR_MSG(__info->extack, "missing attribute " #attr); \
	__missing;							\
})
#endif

/*
 * nla_strlcpy() became nla_strscpy() in 5.11 ("treewide: rename
 * nla_strlcpy to nla_strscpy"); a function, no macro tells. nlpush
 * ignores the result, so the return types (size_t, ssize_t) do not matter.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 11, 0)
#define nla_strscpy(dst, nla, size)	nla_strlcpy(dst, nla, size)
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
 * Ops without a policy: since "genetlink: piggy back on resv_op to default
 * to a reject policy" (6.1, with .resv_start_op from "genetlink: start to
 * validate reserved header bytes") the core rejects every attribute sent
 * to them. Before, the core parses nothing for an op whose .maxattr is 0,
 * so attributes sent to UNSUBSCRIBE, GET_STATS or GET_SUBSCRIBERS would be
 * ignored silently. Both are a struct member and a static table, no
 * macro, so this one is keyed on the version. There, the family gets a
 * writable copy of the generated table in which every op without a policy
 * has an explicit one that rejects each attribute (and, validation being
 * strict, any type above NLPUSH_A_MAX too):
 *	NLPUSH_DEFINE_GENL_OPS(nlpush_nl_ops);	at file scope
 *	NLPUSH_FAMILY_OPS(nlpush_nl_ops),	in the family's initializer
 *	nlpush_genl_ops_init(nlpush_nl_ops);	before genl_register_family()
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 0)
#define NLPUSH_DEFINE_GENL_OPS(table)	static_assert(1)
#define NLPUSH_FAMILY_OPS(table)	\
	NLPUSH_GENL_OPS(table),		\
	.resv_start_op = 0	/* strict validation of every op */
#define nlpush_genl_ops_init(table)	do { } while (0)
#else
#define NLPUSH_DEFINE_GENL_OPS(table)					\
static const struct nla_policy nlpush_reject_policy[NLPUSH_A_MAX + 1] = { \
	[0 ... NLPUSH_A_MAX] = { .type = NLA_REJECT },			\
};									\
static struct genl_ops nlpush_ops_copy[ARRAY_SIZE(table)] __ro_after_init
#define NLPUSH_FAMILY_OPS(table)	\
	.ops = nlpush_ops_copy, .n_ops = ARRAY_SIZE(table)
#define nlpush_genl_ops_init(table)					\
do {									\
	unsigned int i_;						\
									\
	for (i_ = 0; i_ < ARRAY_SIZE(table); i_++) {			\
		nlpush_ops_copy[i_] = (table)[i_];			\
		if (!nlpush_ops_copy[i_].policy) {			\
			nlpush_ops_copy[i_].policy = nlpush_reject_policy; \
			nlpush_ops_copy[i_].maxattr = NLPUSH_A_MAX;	\
		}							\
	}								\
} while (0)
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
