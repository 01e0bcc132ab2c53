// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush: a kernel-to-userspace push channel over generic netlink.
 *
 * Producers call nlpush_publish() to multicast a typed, sequenced and
 * timestamped event to the "events" group of the "nlpush" family, or
 * nlpush_request() to publish an event and sleep until a responder answers
 * it. A bounded replay ring keeps recent events so that a listener that
 * lost some can fetch them again. See docs/protocol.md, docs/kernel-api.md
 * and internal.h for how the module is laid out and locked.
 *
 * This file holds the module parameters, the epoch and the order in which
 * the pieces start and stop.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/random.h>
#include <linux/spinlock.h>
#include <net/genetlink.h>

#include "internal.h"
#include "nlpush-nl.h"

unsigned int nlpush_ring_events = 4096;
module_param_named(ring_events, nlpush_ring_events, uint, 0444);
MODULE_PARM_DESC(ring_events,
		 "Events kept for NLPUSH_CMD_REPLAY (0 disables the ring; default 4096, max 1000000)");

unsigned int nlpush_ring_bytes = 4 << 20;
module_param_named(ring_bytes, nlpush_ring_bytes, uint, 0444);
MODULE_PARM_DESC(ring_bytes,
		 "Bytes kept for NLPUSH_CMD_REPLAY, counted as allocated: payload plus header rounded up by kmalloc (default 4 MiB, max 1 GiB)");

unsigned int nlpush_txq_bytes = 16 << 20;
module_param_named(txq_bytes, nlpush_txq_bytes, uint, 0444);
MODULE_PARM_DESC(txq_bytes,
		 "Bytes of event messages waiting to be multicast (skb truesize); events beyond are counted in TXQ_DROPS and stay replayable (default 16 MiB, min 256 KiB, max 1 GiB)");

unsigned int nlpush_tx_batch_bytes = NLMSG_GOODSIZE;
module_param_named(tx_batch_bytes, nlpush_tx_batch_bytes, uint, 0444);
MODULE_PARM_DESC(tx_batch_bytes,
		 "Bytes of EVENT messages one multicast datagram may carry when events queue up (0: one event per datagram; default NLMSG_GOODSIZE, min 1 KiB, max 64 KiB)");

bool nlpush_unprivileged_listen;
module_param_named(unprivileged_listen, nlpush_unprivileged_listen, bool, 0444);
MODULE_PARM_DESC(unprivileged_listen,
		 "Let processes without CAP_NET_ADMIN join \"events\" and replay (default: no)");

DEFINE_SPINLOCK(nlpush_lock);
/* nlpush_lock */
u64 nlpush_next_seq = 1;
bool nlpush_shutting_down;
struct nlpush_counters nlpush_stats;

atomic64_t nlpush_publish_failures = ATOMIC64_INIT(0);
atomic64_t nlpush_delivered = ATOMIC64_INIT(0);
atomic64_t nlpush_no_listeners = ATOMIC64_INIT(0);
atomic64_t nlpush_delivery_errors = ATOMIC64_INIT(0);
atomic64_t nlpush_replies_undelivered = ATOMIC64_INIT(0);

u64 nlpush_epoch __read_mostly;

/*
 * The generated table names the group; ours is writable because whether
 * joining needs CAP_NET_ADMIN depends on unprivileged_listen.
 */
static struct genl_multicast_group nlpush_mcgrps[] = {
	[NLPUSH_NLGRP_EVENTS] = { .name = NLPUSH_MCGRP_EVENTS },
};

NLPUSH_DEFINE_GENL_OPS(nlpush_nl_ops);

struct genl_family nlpush_family __ro_after_init = {
	.name		= NLPUSH_FAMILY_NAME,
	.version	= NLPUSH_FAMILY_VERSION,
	.netnsok	= false,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	NLPUSH_FAMILY_OPS(nlpush_nl_ops),
	.mcgrps		= nlpush_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(nlpush_mcgrps),
};

static int __init nlpush_init(void)
{
	int err;

	if (nlpush_ring_events > 1000000 || nlpush_ring_bytes > (1U << 30) ||
	    nlpush_txq_bytes < (256U << 10) || nlpush_txq_bytes > (1U << 30)) {
		pr_err("ring_events (max 1000000), ring_bytes (max 1 GiB) or txq_bytes (256 KiB to 1 GiB) out of range\n");
		return -EINVAL;
	}
	if (nlpush_tx_batch_bytes &&
	    (nlpush_tx_batch_bytes < 1024 || nlpush_tx_batch_bytes > 65536)) {
		pr_err("tx_batch_bytes (0, or 1 KiB to 64 KiB) out of range\n");
		return -EINVAL;
	}
	if (!nlpush_unprivileged_listen) {
		if (!NLPUSH_HAVE_MCAST_CAP) {
			pr_err("this kernel cannot restrict joining multicast groups; load with unprivileged_listen=1 to accept that\n");
			return -EOPNOTSUPP;
		}
		nlpush_mcgrp_restrict(&nlpush_mcgrps[NLPUSH_NLGRP_EVENTS]);
	}
	do {
		nlpush_epoch = get_random_u64();
	} while (!nlpush_epoch);

	nlpush_genl_ops_init(nlpush_nl_ops);
	nlpush_txq_init();
	err = nlpush_ring_init();
	if (err)
		return err;
	err = nlpush_subscribers_init();
	if (err)
		goto free_ring;
	err = genl_register_family(&nlpush_family);
	if (err)
		goto subscribers_exit;

	pr_info("loaded: epoch %016llx, ring %u events / %u bytes, batches of %u bytes, %s\n",
		nlpush_epoch, nlpush_ring_events, nlpush_ring_bytes,
		nlpush_tx_batch_bytes,
		nlpush_unprivileged_listen ? "unprivileged listeners" :
		"listeners need " NLPUSH_MCAST_CAP);
	return 0;

subscribers_exit:
	nlpush_subscribers_exit();
free_ring:
	nlpush_ring_free();
	return err;
}

/*
 * Stop producers, let the transmit queue drain, fail waiters, then take
 * the family away (which waits for running handlers and ends dumps) and
 * free what is left. An unread REPLAY or GET_SUBSCRIBERS dump holds a
 * reference on the module: rmmod fails with EBUSY until it is read to the
 * end or its socket is closed.
 */
static void __exit nlpush_exit(void)
{
	unsigned long irqflags;

	spin_lock_irqsave(&nlpush_lock, irqflags);
	nlpush_shutting_down = true;	/* publish and admit nothing more */
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	nlpush_bulk_stop();
	nlpush_txq_stop();
	nlpush_requests_shutdown();

	genl_unregister_family(&nlpush_family);
	nlpush_subscribers_exit();
	nlpush_ring_free();
	pr_info("unloaded\n");
}

module_init(nlpush_init);
module_exit(nlpush_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("nlpush developers");
MODULE_DESCRIPTION("Kernel-to-userspace push channel over generic netlink");
MODULE_ALIAS_GENL_FAMILY(NLPUSH_FAMILY_NAME);
/* what joining "events" needs (see compat.h): modinfo -F listen_cap */
MODULE_INFO(listen_cap, NLPUSH_MCAST_CAP);
