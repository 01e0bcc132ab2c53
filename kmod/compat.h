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

#endif /* _NLPUSH_COMPAT_H */
