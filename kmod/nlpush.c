// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush: a kernel-to-userspace push channel over generic netlink.
 *
 * Producers call nlpush_publish() to multicast a typed, sequenced and
 * timestamped event to the "events" group of the "nlpush" family, or
 * nlpush_request() to publish an event and sleep until the first listener
 * answers it with a unicast NLPUSH_CMD_ACK. A bounded replay ring keeps
 * recent events so that a listener that lost some (socket overrun) can
 * fetch them again with NLPUSH_CMD_REPLAY. See docs/protocol.md.
 *
 * Locking:
 *  - nlpush_lock (spinlock, always taken with interrupts disabled, because
 *    producers may hold their own irq-safe locks) protects the sequence
 *    counter, the replay ring, the transmit queue, the pending-request list,
 *    the shutdown flag and the publish/request counters. It is held only to
 *    assign a sequence number and queue the event; nlpush_fill_t callbacks
 *    run under it.
 *  - nlpush_tx_lock (spinlock, bottom halves disabled) makes one context at
 *    a time the flusher that takes events off the transmit queue, in
 *    sequence order, and multicasts them. Multicasting (socket wake-ups,
 *    nlmon taps) thus never runs with interrupts disabled, and listeners see
 *    events in sequence order. A producer flushes itself unless interrupts
 *    are disabled, in which case nlpush_tx_work flushes shortly after.
 *  - nlpush_sub_lock (spinlock) protects the subscriber list and the
 *    per-subscriber counters. It is taken in process context and from the
 *    netlink release notifier; never nested with the other locks.
 *  - Everything that may sleep is allocated before taking a lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/completion.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/sock.h>

#include <nlpush.h>
#include "compat.h"

#define NLPUSH_SUBSCRIBERS_MAX		1024
#define NLPUSH_EMIT_TIMEOUT_MS_DEFAULT	1000

static unsigned int ring_events = 4096;
module_param(ring_events, uint, 0444);
MODULE_PARM_DESC(ring_events,
		 "Events kept for NLPUSH_CMD_REPLAY (0 disables the ring; default 4096, max 1000000)");

static unsigned int ring_bytes = 4 << 20;
module_param(ring_bytes, uint, 0444);
MODULE_PARM_DESC(ring_bytes,
		 "Bytes kept for NLPUSH_CMD_REPLAY, counted as allocated: payload plus header rounded up by kmalloc (default 4 MiB, max 1 GiB)");

static bool unprivileged_listen;
module_param(unprivileged_listen, bool, 0444);
MODULE_PARM_DESC(unprivileged_listen,
		 "Let processes without CAP_NET_ADMIN join \"events\" and replay (default: no)");

/* One event kept in the replay ring. */
struct nlpush_entry {
	u64 seq;
	u64 ts;
	u32 type;
	u32 flags;
	u32 len;
	u32 charge;	/* bytes allocated, added to ring_used */
	u8 data[];
};

/* An nlpush_request() waiting for its reply, on nlpush_pending. */
struct nlpush_pending {
	struct list_head node;
	struct completion done;
	u64 seq;
	bool answered;
	int err;
	struct nlpush_reply reply;
};

/* A socket registered with NLPUSH_CMD_SUBSCRIBE, on nlpush_subs. */
struct nlpush_sub {
	struct list_head node;
	u64 id;
	const struct net *net;	/* identity only, never dereferenced */
	u32 portid;
	u32 pid;
	u64 acks;
	u64 last_acked_seq;
	u64 replies;
	u64 subscribed_ns;
	char name[NLPUSH_NAME_MAX];
};

/* Where a payload comes from: a buffer, or a callback given the seq. */
struct nlpush_src {
	const void *data;
	nlpush_fill_t fill;
	void *ctx;
};

static DEFINE_SPINLOCK(nlpush_lock);
/* protected by nlpush_lock */
static u64 nlpush_next_seq = 1;
static bool nlpush_shutting_down;
static struct sk_buff_head nlpush_txq;	/* events to multicast, in order */
static LIST_HEAD(nlpush_pending);
static u32 nlpush_pending_count;
static struct nlpush_entry **ring;	/* circular, ring_events slots */
static u32 ring_head;			/* index of the oldest entry */
static u32 ring_count;
static u64 ring_used;			/* sum of the entries' charge */
static struct {
	u64 published;
	u64 requests;
	u64 replies;
	u64 request_timeouts;
	u64 acks;
	u64 acks_rejected;
	u64 replayed;
} nlpush_stats;
static atomic64_t nlpush_publish_failures = ATOMIC64_INIT(0);
static atomic64_t nlpush_delivered = ATOMIC64_INIT(0);
static atomic64_t nlpush_no_listeners = ATOMIC64_INIT(0);
static atomic64_t nlpush_delivery_errors = ATOMIC64_INIT(0);

static DEFINE_SPINLOCK(nlpush_tx_lock);
static void nlpush_tx_workfn(struct work_struct *work);
static DECLARE_WORK(nlpush_tx_work, nlpush_tx_workfn);

static DEFINE_SPINLOCK(nlpush_sub_lock);
/* protected by nlpush_sub_lock */
static LIST_HEAD(nlpush_subs);
static u32 nlpush_sub_count;
static u64 nlpush_sub_next_id = 1;

enum nlpush_mcgrp {
	NLPUSH_MCGRP_EVENTS_IDX,
};

/* .flags set at init from unprivileged_listen, before registration */
static struct genl_multicast_group nlpush_mcgrps[] = {
	[NLPUSH_MCGRP_EVENTS_IDX] = { .name = NLPUSH_MCGRP_EVENTS },
};

static struct genl_family nlpush_family;

/* ---------------------------------------------------------------------- */
/* Replay ring (nlpush_lock held)                                          */

/*
 * The memory an entry with @len payload bytes takes: header and payload
 * rounded up to the kmalloc size class they come from (a 1 KiB event takes
 * a 2 KiB object). The entry is allocated with exactly this size and
 * ring_used counts it, so ring_bytes bounds the memory really held.
 */
static size_t nlpush_entry_charge(size_t len)
{
	size_t size = struct_size((struct nlpush_entry *)NULL, data, len);

	return nlpush_kmalloc_size_roundup(size);
}

static struct nlpush_entry *ring_at(u32 i)
{
	return ring[(ring_head + i) % ring_events];
}

static void ring_drop_oldest(void)
{
	struct nlpush_entry *e = ring[ring_head];

	ring[ring_head] = NULL;
	ring_head = (ring_head + 1) % ring_events;
	ring_count--;
	ring_used -= e->charge;
	kfree(e);
}

static void ring_add(struct nlpush_entry *e)
{
	while (ring_count &&
	       (ring_count == ring_events || ring_used + e->charge > ring_bytes))
		ring_drop_oldest();
	ring[(ring_head + ring_count) % ring_events] = e;
	ring_count++;
	ring_used += e->charge;
}

/* Index of the first entry with seq >= @seq (ring_count when none). */
static u32 ring_find(u64 seq)
{
	u32 lo = 0, hi = ring_count;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (ring_at(mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static u64 ring_oldest_seq(void)
{
	return ring_count ? ring_at(0)->seq : nlpush_next_seq;
}

/* ---------------------------------------------------------------------- */
/* Publishing                                                              */

static size_t nlpush_event_size(size_t len)
{
	return nla_total_size_64bit(sizeof(u64)) +	/* SEQ */
	       nla_total_size_64bit(sizeof(u64)) +	/* TIMESTAMP_NS */
	       nla_total_size(sizeof(u32)) +		/* TYPE */
	       nla_total_size(sizeof(u32)) +		/* FLAGS */
	       nla_total_size(len);			/* PAYLOAD */
}

static bool nlpush_has_listeners(void)
{
	return genl_has_listeners(&nlpush_family, &init_net,
				  NLPUSH_MCGRP_EVENTS_IDX) > 0;
}

static struct sk_buff *nlpush_txq_pop(void)
{
	unsigned long irqflags;
	struct sk_buff *skb;

	spin_lock_irqsave(&nlpush_lock, irqflags);
	skb = __skb_dequeue(&nlpush_txq);
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
	return skb;
}

/*
 * Multicast every queued event, in order, unless another context is already
 * doing so. The queue is re-checked after dropping nlpush_tx_lock: an event
 * queued while we held it, by a producer whose trylock failed, is ours.
 */
static void nlpush_tx_flush(void)
{
	struct sk_buff *skb;
	int err;

	do {
		if (!spin_trylock_bh(&nlpush_tx_lock))
			return;
		while ((skb = nlpush_txq_pop())) {
			/*
			 * Consumes skb. -ESRCH: no socket took it, because
			 * nobody listens any more or because every listener's
			 * queue was full. -ENOBUFS: a listener that asked for
			 * NETLINK_BROADCAST_ERROR overran.
			 */
			err = genlmsg_multicast(&nlpush_family, skb, 0,
						NLPUSH_MCGRP_EVENTS_IDX,
						GFP_ATOMIC);
			if (!err)
				atomic64_inc(&nlpush_delivered);
			else if (err == -ESRCH && !nlpush_has_listeners())
				atomic64_inc(&nlpush_no_listeners);
			else
				atomic64_inc(&nlpush_delivery_errors);
		}
		spin_unlock_bh(&nlpush_tx_lock);
	} while (!skb_queue_empty_lockless(&nlpush_txq));
}

static void nlpush_tx_workfn(struct work_struct *work)
{
	nlpush_tx_flush();
}

static void nlpush_tx_kick(void)
{
	if (irqs_disabled() || in_hardirq())
		schedule_work(&nlpush_tx_work);
	else
		nlpush_tx_flush();
}

/*
 * Publish one event. When @req is given, it is put on the pending list
 * under the same lock hold that assigns the sequence number, so an ACK can
 * never arrive before the request is findable.
 */
static s64 nlpush_do_publish(u32 type, u32 flags, const struct nlpush_src *src,
			     size_t len, gfp_t gfp, struct nlpush_pending *req)
{
	struct nlpush_entry *e = NULL;
	struct sk_buff *skb = NULL;
	struct nlattr *seq_attr = NULL, *ts_attr = NULL, *pl_attr = NULL;
	unsigned long irqflags;
	size_t charge;
	void *hdr;
	u64 seq, ts;

	if (len > NLPUSH_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (len && !src->data && !src->fill)
		return -EINVAL;
	if (READ_ONCE(nlpush_shutting_down))
		return -ESHUTDOWN;

	charge = nlpush_entry_charge(len);
	if (ring_events && charge <= ring_bytes) {
		e = kmalloc(charge, gfp | __GFP_NOWARN);
		if (!e)
			goto nomem;
		e->charge = charge;
		e->type = type;
		e->flags = flags;
		e->len = len;
		if (src->data)
			memcpy(e->data, src->data, len);
	}

	if (nlpush_has_listeners()) {
		skb = genlmsg_new(nlpush_event_size(len), gfp | __GFP_NOWARN);
		if (!skb)
			goto nomem;
		hdr = genlmsg_put(skb, 0, 0, &nlpush_family, 0,
				  NLPUSH_CMD_EVENT);
		if (!hdr)
			goto nomem;
		seq_attr = nla_reserve_64bit(skb, NLPUSH_A_SEQ, sizeof(u64),
					     NLPUSH_A_PAD);
		ts_attr = nla_reserve_64bit(skb, NLPUSH_A_TIMESTAMP_NS,
					    sizeof(u64), NLPUSH_A_PAD);
		if (!seq_attr || !ts_attr ||
		    nla_put_u32(skb, NLPUSH_A_TYPE, type) ||
		    nla_put_u32(skb, NLPUSH_A_FLAGS, flags))
			goto nomem;
		pl_attr = nla_reserve(skb, NLPUSH_A_PAYLOAD, len);
		if (!pl_attr)
			goto nomem;
		if (src->data)
			memcpy(nla_data(pl_attr), src->data, len);
		genlmsg_end(skb, hdr);
	}

	spin_lock_irqsave(&nlpush_lock, irqflags);
	if (nlpush_shutting_down) {
		spin_unlock_irqrestore(&nlpush_lock, irqflags);
		kfree(e);
		nlmsg_free(skb);
		return -ESHUTDOWN;
	}
	seq = nlpush_next_seq++;
	ts = ktime_get_ns();
	nlpush_stats.published++;

	if (src->fill) {
		void *buf = e ? e->data : (pl_attr ? nla_data(pl_attr) : NULL);

		if (buf) {
			src->fill(buf, len, seq, src->ctx);
			if (e && pl_attr)
				memcpy(nla_data(pl_attr), buf, len);
		}
	}
	if (e) {
		e->seq = seq;
		e->ts = ts;
		ring_add(e);
	}
	if (req) {
		req->seq = seq;
		list_add_tail(&req->node, &nlpush_pending);
		nlpush_pending_count++;
		nlpush_stats.requests++;
	}

	if (skb) {
		memcpy(nla_data(seq_attr), &seq, sizeof(seq));
		memcpy(nla_data(ts_attr), &ts, sizeof(ts));
		__skb_queue_tail(&nlpush_txq, skb);
	} else {
		atomic64_inc(&nlpush_no_listeners);
	}
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	if (skb)
		nlpush_tx_kick();
	return seq;

nomem:
	atomic64_inc(&nlpush_publish_failures);
	kfree(e);
	nlmsg_free(skb);
	return -ENOMEM;
}

s64 nlpush_publish(u32 type, const void *payload, size_t len, gfp_t gfp)
{
	struct nlpush_src src = { .data = payload };

	return nlpush_do_publish(type, 0, &src, len, gfp, NULL);
}
EXPORT_SYMBOL_GPL(nlpush_publish);

s64 nlpush_publish_fill(u32 type, size_t len, nlpush_fill_t fill, void *ctx,
			gfp_t gfp)
{
	struct nlpush_src src = { .fill = fill, .ctx = ctx };

	if (!fill)
		return -EINVAL;
	return nlpush_do_publish(type, 0, &src, len, gfp, NULL);
}
EXPORT_SYMBOL_GPL(nlpush_publish_fill);

/* ---------------------------------------------------------------------- */
/* Requests                                                                */

static int nlpush_do_request(u32 type, const struct nlpush_src *src,
			     size_t len, unsigned int timeout_ms,
			     struct nlpush_reply *reply)
{
	struct nlpush_pending req = { };
	unsigned long irqflags;
	long left;
	s64 seq;
	int err;

	might_sleep();
	if (!reply || !timeout_ms || timeout_ms > NLPUSH_TIMEOUT_MS_MAX)
		return -EINVAL;
	memset(reply, 0, sizeof(*reply));
	if (!nlpush_has_listeners())
		return -ENOTCONN;

	init_completion(&req.done);
	seq = nlpush_do_publish(type, NLPUSH_F_REPLY_WANTED, src, len,
				GFP_KERNEL, &req);
	if (seq < 0)
		return seq;

	left = wait_for_completion_killable_timeout(&req.done,
						    msecs_to_jiffies(timeout_ms));

	spin_lock_irqsave(&nlpush_lock, irqflags);
	if (req.answered) {
		/* the ACK handler (or shutdown) took it off the list */
		err = req.err;
	} else {
		list_del(&req.node);
		nlpush_pending_count--;
		if (left == 0) {
			nlpush_stats.request_timeouts++;
			err = -ETIMEDOUT;
		} else {
			err = -EINTR;
		}
	}
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	if (!err)
		*reply = req.reply;
	return err;
}

int nlpush_request(u32 type, const void *payload, size_t len,
		   unsigned int timeout_ms, struct nlpush_reply *reply)
{
	struct nlpush_src src = { .data = payload };

	return nlpush_do_request(type, &src, len, timeout_ms, reply);
}
EXPORT_SYMBOL_GPL(nlpush_request);

int nlpush_request_fill(u32 type, size_t len, nlpush_fill_t fill, void *ctx,
			unsigned int timeout_ms, struct nlpush_reply *reply)
{
	struct nlpush_src src = { .fill = fill, .ctx = ctx };

	if (!fill)
		return -EINVAL;
	return nlpush_do_request(type, &src, len, timeout_ms, reply);
}
EXPORT_SYMBOL_GPL(nlpush_request_fill);

void nlpush_reply_free(struct nlpush_reply *reply)
{
	if (!reply)
		return;
	kfree(reply->data);
	reply->data = NULL;
	reply->len = 0;
}
EXPORT_SYMBOL_GPL(nlpush_reply_free);

/* ---------------------------------------------------------------------- */
/* Subscribers                                                             */

/* nlpush_sub_lock held */
static struct nlpush_sub *nlpush_sub_find(const struct net *net, u32 portid)
{
	struct nlpush_sub *s;

	list_for_each_entry(s, &nlpush_subs, node)
		if (s->net == net && s->portid == portid)
			return s;
	return NULL;
}

static void nlpush_sub_account_ack(const struct net *net, u32 portid,
				   u64 seq, bool reply)
{
	struct nlpush_sub *s;

	spin_lock(&nlpush_sub_lock);
	s = nlpush_sub_find(net, portid);
	if (s) {
		s->acks++;
		if (seq > s->last_acked_seq)
			s->last_acked_seq = seq;
		if (reply)
			s->replies++;
	}
	spin_unlock(&nlpush_sub_lock);
}

/*
 * The netlink release notifier runs after the port id was unhashed, and
 * port ids are only unique per network namespace: match on both.
 */
static int nlpush_netlink_notify(struct notifier_block *nb,
				 unsigned long state, void *ptr)
{
	struct netlink_notify *n = ptr;
	struct nlpush_sub *s;

	if (state != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC)
		return NOTIFY_DONE;

	spin_lock(&nlpush_sub_lock);
	s = nlpush_sub_find(n->net, n->portid);
	if (s) {
		list_del(&s->node);
		nlpush_sub_count--;
	}
	spin_unlock(&nlpush_sub_lock);
	kfree(s);
	return NOTIFY_DONE;
}

static struct notifier_block nlpush_netlink_notifier = {
	.notifier_call = nlpush_netlink_notify,
};

/* ---------------------------------------------------------------------- */
/* Netlink operations                                                      */

static int nlpush_cmd_ack(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *pl = info->attrs[NLPUSH_A_PAYLOAD];
	struct nlpush_pending *p, *found = NULL;
	const struct net *net = genl_info_net(info);
	bool is_reply = info->attrs[NLPUSH_A_STATUS] || pl;
	bool replied = false;
	unsigned long irqflags;
	void *data = NULL;
	size_t len = 0;
	s32 status = 0;
	int err = 0;
	u64 seq;
	u32 i;

	if (GENL_REQ_ATTR_CHECK(info, NLPUSH_A_SEQ))
		return -EINVAL;
	seq = nla_get_u64(info->attrs[NLPUSH_A_SEQ]);
	if (info->attrs[NLPUSH_A_STATUS])
		status = nla_get_s32(info->attrs[NLPUSH_A_STATUS]);
	if (pl && nla_len(pl)) {
		len = nla_len(pl);
		data = kmemdup(nla_data(pl), len, GFP_KERNEL);
		if (!data)
			return -ENOMEM;
	}

	spin_lock_irqsave(&nlpush_lock, irqflags);
	if (!seq || seq >= nlpush_next_seq) {
		nlpush_stats.acks_rejected++;
		spin_unlock_irqrestore(&nlpush_lock, irqflags);
		kfree(data);
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NLPUSH_A_SEQ],
				    "sequence number was never published");
		return -EINVAL;
	}
	list_for_each_entry(p, &nlpush_pending, node) {
		if (p->seq == seq) {
			found = p;
			break;
		}
	}
	if (found) {
		list_del(&found->node);
		nlpush_pending_count--;
		found->answered = true;
		found->err = 0;
		found->reply.seq = seq;
		found->reply.status = status;
		found->reply.portid = info->snd_portid;
		found->reply.data = data;
		found->reply.len = len;
		data = NULL;
		nlpush_stats.acks++;
		nlpush_stats.replies++;
		replied = true;
		complete(&found->done);
	} else {
		if (!is_reply) {
			i = ring_find(seq);
			is_reply = i < ring_count && ring_at(i)->seq == seq &&
				   (ring_at(i)->flags & NLPUSH_F_REPLY_WANTED);
		}
		if (is_reply) {
			nlpush_stats.acks_rejected++;
			err = -ENOENT;
		} else {
			nlpush_stats.acks++;
		}
	}
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
	kfree(data);

	if (err) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NLPUSH_A_SEQ],
				    "no pending request for this sequence number (expired or already answered)");
		return err;
	}
	nlpush_sub_account_ack(net, info->snd_portid, seq, replied);
	return 0;
}

static int nlpush_cmd_subscribe(struct sk_buff *skb, struct genl_info *info)
{
	const struct net *net = genl_info_net(info);
	struct nlattr *name = info->attrs[NLPUSH_A_NAME];
	struct nlpush_sub *s;
	int err = 0;

	if (GENL_REQ_ATTR_CHECK(info, NLPUSH_A_NAME))
		return -EINVAL;
	if (nla_len(name) < 2) {
		NL_SET_ERR_MSG_ATTR(info->extack, name,
				    "subscriber name must not be empty");
		return -EINVAL;
	}

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	nla_strscpy(s->name, name, sizeof(s->name));
	s->net = net;
	s->portid = info->snd_portid;
	s->pid = task_tgid_nr(current);
	s->subscribed_ns = ktime_get_ns();

	spin_lock(&nlpush_sub_lock);
	if (nlpush_sub_find(net, s->portid)) {
		NL_SET_ERR_MSG(info->extack,
			       "this socket is already subscribed");
		err = -EEXIST;
	} else if (nlpush_sub_count >= NLPUSH_SUBSCRIBERS_MAX) {
		NL_SET_ERR_MSG(info->extack, "too many subscribers");
		err = -ENOSPC;
	} else {
		s->id = nlpush_sub_next_id++;
		list_add_tail(&s->node, &nlpush_subs);
		nlpush_sub_count++;
		s = NULL;
	}
	spin_unlock(&nlpush_sub_lock);
	kfree(s);
	return err;
}

static int nlpush_cmd_unsubscribe(struct sk_buff *skb, struct genl_info *info)
{
	struct nlpush_sub *s;

	spin_lock(&nlpush_sub_lock);
	s = nlpush_sub_find(genl_info_net(info), info->snd_portid);
	if (s) {
		list_del(&s->node);
		nlpush_sub_count--;
	}
	spin_unlock(&nlpush_sub_lock);
	if (!s) {
		NL_SET_ERR_MSG(info->extack, "this socket is not subscribed");
		return -ENOENT;
	}
	kfree(s);
	return 0;
}

static int nlpush_put_stats(struct sk_buff *skb)
{
	unsigned long irqflags;
	struct nlattr *nest;
	u64 v[NLPUSH_STATS_A_MAX + 1] = { };
	u32 pending, ring_n, subs;
	int a;

	spin_lock_irqsave(&nlpush_lock, irqflags);
	v[NLPUSH_STATS_A_PUBLISHED] = nlpush_stats.published;
	v[NLPUSH_STATS_A_ACKS] = nlpush_stats.acks;
	v[NLPUSH_STATS_A_ACKS_REJECTED] = nlpush_stats.acks_rejected;
	v[NLPUSH_STATS_A_REQUESTS] = nlpush_stats.requests;
	v[NLPUSH_STATS_A_REPLIES] = nlpush_stats.replies;
	v[NLPUSH_STATS_A_REQUEST_TIMEOUTS] = nlpush_stats.request_timeouts;
	v[NLPUSH_STATS_A_OLDEST_SEQ] = ring_oldest_seq();
	v[NLPUSH_STATS_A_NEXT_SEQ] = nlpush_next_seq;
	v[NLPUSH_STATS_A_RING_BYTES] = ring_used;
	v[NLPUSH_STATS_A_REPLAYED] = nlpush_stats.replayed;
	pending = nlpush_pending_count;
	ring_n = ring_count;
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
	v[NLPUSH_STATS_A_PUBLISH_FAILURES] =
		atomic64_read(&nlpush_publish_failures);
	v[NLPUSH_STATS_A_DELIVERED] = atomic64_read(&nlpush_delivered);
	v[NLPUSH_STATS_A_NO_LISTENERS] = atomic64_read(&nlpush_no_listeners);
	v[NLPUSH_STATS_A_DELIVERY_ERRORS] =
		atomic64_read(&nlpush_delivery_errors);
	v[NLPUSH_STATS_A_RING_MAX_BYTES] = ring_bytes;

	spin_lock(&nlpush_sub_lock);
	subs = nlpush_sub_count;
	spin_unlock(&nlpush_sub_lock);

	nest = nla_nest_start(skb, NLPUSH_A_STATS);
	if (!nest)
		return -EMSGSIZE;
	for (a = NLPUSH_STATS_A_PUBLISHED; a <= NLPUSH_STATS_A_MAX; a++) {
		switch (a) {
		case NLPUSH_STATS_A_REQUESTS_PENDING:
		case NLPUSH_STATS_A_SUBSCRIBERS:
		case NLPUSH_STATS_A_RING_EVENTS:
		case NLPUSH_STATS_A_RING_MAX_EVENTS:
			continue;	/* u32, below */
		}
		if (nla_put_u64_64bit(skb, a, v[a], NLPUSH_STATS_A_PAD))
			goto cancel;
	}
	if (nla_put_u32(skb, NLPUSH_STATS_A_REQUESTS_PENDING, pending) ||
	    nla_put_u32(skb, NLPUSH_STATS_A_SUBSCRIBERS, subs) ||
	    nla_put_u32(skb, NLPUSH_STATS_A_RING_EVENTS, ring_n) ||
	    nla_put_u32(skb, NLPUSH_STATS_A_RING_MAX_EVENTS, ring_events))
		goto cancel;
	nla_nest_end(skb, nest);
	return 0;

cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

static int nlpush_cmd_get_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	int err;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &nlpush_family, 0,
				NLPUSH_CMD_GET_STATS);
	if (!hdr) {
		err = -EMSGSIZE;
		goto free;
	}
	err = nlpush_put_stats(msg);
	if (err)
		goto free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

free:
	nlmsg_free(msg);
	return err;
}

static int nlpush_put_sub(struct sk_buff *skb, struct netlink_callback *cb,
			  const struct nlpush_sub *s)
{
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &nlpush_family, NLM_F_MULTI,
			  NLPUSH_CMD_GET_SUBSCRIBERS);
	if (!hdr)
		return -EMSGSIZE;
	nest = nla_nest_start(skb, NLPUSH_A_SUBSCRIBER);
	if (!nest ||
	    nla_put_u32(skb, NLPUSH_SUBSCRIBER_A_PORTID, s->portid) ||
	    nla_put_string(skb, NLPUSH_SUBSCRIBER_A_NAME, s->name) ||
	    nla_put_u32(skb, NLPUSH_SUBSCRIBER_A_PID, s->pid) ||
	    nla_put_u64_64bit(skb, NLPUSH_SUBSCRIBER_A_ACKS, s->acks,
			      NLPUSH_SUBSCRIBER_A_PAD) ||
	    nla_put_u64_64bit(skb, NLPUSH_SUBSCRIBER_A_LAST_ACKED_SEQ,
			      s->last_acked_seq, NLPUSH_SUBSCRIBER_A_PAD) ||
	    nla_put_u64_64bit(skb, NLPUSH_SUBSCRIBER_A_REPLIES, s->replies,
			      NLPUSH_SUBSCRIBER_A_PAD) ||
	    nla_put_u64_64bit(skb, NLPUSH_SUBSCRIBER_A_SUBSCRIBED_NS,
			      s->subscribed_ns, NLPUSH_SUBSCRIBER_A_PAD)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
}

/* cb->args[0]: id of the next subscriber to dump */
static int nlpush_dump_subscribers(struct sk_buff *skb,
				   struct netlink_callback *cb)
{
	const struct net *net = sock_net(cb->skb->sk);
	struct nlpush_sub *s;
	int err = 0;

	spin_lock(&nlpush_sub_lock);
	list_for_each_entry(s, &nlpush_subs, node) {
		if (s->id < cb->args[0] || s->net != net)
			continue;
		err = nlpush_put_sub(skb, cb, s);
		if (err)
			break;
		cb->args[0] = s->id + 1;
	}
	spin_unlock(&nlpush_sub_lock);
	/* a message that does not fit an empty skb would never fit */
	if (err && !skb->len)
		return err;
	return skb->len;
}

static bool nlpush_may_listen(const struct sk_buff *skb)
{
	return unprivileged_listen || netlink_capable(skb, CAP_NET_ADMIN);
}

/* COUNT of EMIT, and the optional bound of REPLAY */
static struct netlink_range_validation nlpush_count_range = {
	.min = 1,
	.max = NLPUSH_EMIT_COUNT_MAX,
};

static const struct nla_policy nlpush_replay_policy[NLPUSH_A_MAX + 1] = {
	[NLPUSH_A_SEQ] = { .type = NLA_U64 },
	[NLPUSH_A_COUNT] = NLA_POLICY_FULL_RANGE(NLA_U32, &nlpush_count_range),
};

/*
 * cb->args[0]: next sequence number to dump
 * cb->args[1]: events still to send when COUNT bounds the dump
 * cb->args[2]: 1 when COUNT was given
 */
static int nlpush_replay_start(struct netlink_callback *cb)
{
	struct nlattr *tb[NLPUSH_A_MAX + 1];
	int err;

	if (!nlpush_may_listen(cb->skb)) {
		NL_SET_ERR_MSG(cb->extack,
			       "replay needs CAP_NET_ADMIN (or nlpush.unprivileged_listen=1)");
		return -EPERM;
	}
	/* already validated by the core against the same policy */
	err = genlmsg_parse(cb->nlh, &nlpush_family, tb, NLPUSH_A_MAX,
			    nlpush_replay_policy, cb->extack);
	if (err)
		return err;
	cb->args[0] = tb[NLPUSH_A_SEQ] ? nla_get_u64(tb[NLPUSH_A_SEQ]) : 0;
	if (tb[NLPUSH_A_COUNT]) {
		cb->args[1] = nla_get_u32(tb[NLPUSH_A_COUNT]);
		cb->args[2] = 1;
	}
	/* every dump skb must hold at least one event of the largest size */
	cb->min_dump_alloc = nlmsg_total_size(GENL_HDRLEN +
				nlpush_event_size(NLPUSH_PAYLOAD_MAX));
	return 0;
}

static int nlpush_put_entry(struct sk_buff *skb, struct netlink_callback *cb,
			    const struct nlpush_entry *e)
{
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &nlpush_family, NLM_F_MULTI, NLPUSH_CMD_EVENT);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, NLPUSH_A_SEQ, e->seq, NLPUSH_A_PAD) ||
	    nla_put_u64_64bit(skb, NLPUSH_A_TIMESTAMP_NS, e->ts,
			      NLPUSH_A_PAD) ||
	    nla_put_u32(skb, NLPUSH_A_TYPE, e->type) ||
	    nla_put_u32(skb, NLPUSH_A_FLAGS, e->flags | NLPUSH_F_REPLAYED) ||
	    nla_put(skb, NLPUSH_A_PAYLOAD, e->len, e->data)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int nlpush_replay_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long irqflags;
	u32 i, sent = 0;
	int err = 0;

	spin_lock_irqsave(&nlpush_lock, irqflags);
	for (i = ring_find(cb->args[0]); i < ring_count; i++) {
		const struct nlpush_entry *e = ring_at(i);

		if (cb->args[2] && !cb->args[1])
			break;	/* COUNT events sent */
		err = nlpush_put_entry(skb, cb, e);
		if (err)
			break;
		cb->args[0] = e->seq + 1;
		if (cb->args[2])
			cb->args[1]--;
		sent++;
	}
	nlpush_stats.replayed += sent;
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
	if (err && !skb->len)
		return err;
	return skb->len;
}

static const struct nla_policy nlpush_ack_policy[NLPUSH_A_MAX + 1] = {
	[NLPUSH_A_SEQ] = { .type = NLA_U64 },
	[NLPUSH_A_STATUS] = { .type = NLA_S32 },
	[NLPUSH_A_PAYLOAD] = { .type = NLA_BINARY, .len = NLPUSH_PAYLOAD_MAX },
};

static const struct nla_policy nlpush_subscribe_policy[NLPUSH_A_MAX + 1] = {
	[NLPUSH_A_NAME] = { .type = NLA_NUL_STRING,
			    .len = NLPUSH_NAME_MAX - 1 },
};

static struct netlink_range_validation nlpush_timeout_range = {
	.min = 1,
	.max = NLPUSH_TIMEOUT_MS_MAX,
};

static const struct nla_policy nlpush_emit_policy[NLPUSH_A_MAX + 1] = {
	[NLPUSH_A_TYPE] = { .type = NLA_U32 },
	[NLPUSH_A_FLAGS] = NLA_POLICY_MASK(NLA_U32, NLPUSH_F_REPLY_WANTED),
	[NLPUSH_A_PAYLOAD] = { .type = NLA_BINARY, .len = NLPUSH_PAYLOAD_MAX },
	[NLPUSH_A_COUNT] = NLA_POLICY_FULL_RANGE(NLA_U32, &nlpush_count_range),
	[NLPUSH_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32,
						      &nlpush_timeout_range),
};

static int nlpush_emit_reply(struct genl_info *info, u64 seq, u32 count,
			     const struct nlpush_reply *r)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(nla_total_size_64bit(sizeof(u64)) +
			  3 * nla_total_size(sizeof(u32)) +
			  nla_total_size(r ? r->len : 0), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &nlpush_family, 0, NLPUSH_CMD_EMIT);
	if (!hdr)
		goto nospace;
	if (nla_put_u64_64bit(msg, NLPUSH_A_SEQ, seq, NLPUSH_A_PAD) ||
	    nla_put_u32(msg, NLPUSH_A_COUNT, count))
		goto nospace;
	if (r && (nla_put_s32(msg, NLPUSH_A_STATUS, r->status) ||
		  nla_put_u32(msg, NLPUSH_A_PORTID, r->portid) ||
		  nla_put(msg, NLPUSH_A_PAYLOAD, r->len, r->data)))
		goto nospace;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int nlpush_cmd_emit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **tb = info->attrs;
	struct nlpush_src src = { };
	struct nlpush_reply reply;
	u32 type = 0, flags = 0, count = 1, i;
	unsigned int timeout_ms = NLPUSH_EMIT_TIMEOUT_MS_DEFAULT;
	size_t len = 0;
	s64 seq, first = 0;
	int err;

	if (tb[NLPUSH_A_TYPE])
		type = nla_get_u32(tb[NLPUSH_A_TYPE]);
	if (tb[NLPUSH_A_FLAGS])
		flags = nla_get_u32(tb[NLPUSH_A_FLAGS]);
	if (tb[NLPUSH_A_COUNT])
		count = nla_get_u32(tb[NLPUSH_A_COUNT]);
	if (tb[NLPUSH_A_TIMEOUT_MS])
		timeout_ms = nla_get_u32(tb[NLPUSH_A_TIMEOUT_MS]);
	if (tb[NLPUSH_A_PAYLOAD]) {
		src.data = nla_data(tb[NLPUSH_A_PAYLOAD]);
		len = nla_len(tb[NLPUSH_A_PAYLOAD]);
	}

	if (flags & NLPUSH_F_REPLY_WANTED) {
		if (count != 1) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[NLPUSH_A_COUNT],
					    "a request publishes exactly one event");
			return -EINVAL;
		}
		err = nlpush_do_request(type, &src, len, timeout_ms, &reply);
		if (err == -ENOTCONN)
			NL_SET_ERR_MSG(info->extack,
				       "nobody listens to the events group");
		else if (err == -ETIMEDOUT)
			NL_SET_ERR_MSG(info->extack,
				       "no listener answered in time");
		else if (err == -ESHUTDOWN)
			NL_SET_ERR_MSG(info->extack,
				       "nlpush is being unloaded");
		if (err)
			return err;
		err = nlpush_emit_reply(info, reply.seq, 1, &reply);
		nlpush_reply_free(&reply);
		return err;
	}

	for (i = 0; i < count; i++) {
		seq = nlpush_do_publish(type, 0, &src, len, GFP_KERNEL, NULL);
		if (seq < 0) {
			NL_SET_ERR_MSG_FMT(info->extack,
					   "publishing failed after %u of %u events",
					   i, count);
			return seq;
		}
		if (!first)
			first = seq;
		if (fatal_signal_pending(current)) {
			NL_SET_ERR_MSG(info->extack, "interrupted");
			return -EINTR;
		}
		cond_resched();
	}
	return nlpush_emit_reply(info, first, count, NULL);
}

/*
 * Plain genl_ops with per-op policies: strict validation on every kernel of
 * the matrix (resv_start_op = 0). Ops without a policy accept no attribute.
 */
static const struct genl_ops nlpush_ops[] = {
	{
		.cmd = NLPUSH_CMD_ACK,
		.doit = nlpush_cmd_ack,
		.policy = nlpush_ack_policy,
		.maxattr = NLPUSH_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = NLPUSH_CMD_SUBSCRIBE,
		.doit = nlpush_cmd_subscribe,
		.policy = nlpush_subscribe_policy,
		.maxattr = NLPUSH_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = NLPUSH_CMD_UNSUBSCRIBE,
		.doit = nlpush_cmd_unsubscribe,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = NLPUSH_CMD_GET_STATS,
		.doit = nlpush_cmd_get_stats,
	},
	{
		.cmd = NLPUSH_CMD_GET_SUBSCRIBERS,
		.dumpit = nlpush_dump_subscribers,
	},
	{
		.cmd = NLPUSH_CMD_REPLAY,
		.start = nlpush_replay_start,
		.dumpit = nlpush_replay_dump,
		.policy = nlpush_replay_policy,
		.maxattr = NLPUSH_A_MAX,
	},
	{
		.cmd = NLPUSH_CMD_EMIT,
		.doit = nlpush_cmd_emit,
		.policy = nlpush_emit_policy,
		.maxattr = NLPUSH_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family nlpush_family = {
	.name = NLPUSH_FAMILY_NAME,
	.version = NLPUSH_FAMILY_VERSION,
	.netnsok = false,
	/* an EMIT waiting for its reply must not block the ACK */
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = nlpush_ops,
	.n_ops = ARRAY_SIZE(nlpush_ops),
	.resv_start_op = 0,
	.mcgrps = nlpush_mcgrps,
	.n_mcgrps = ARRAY_SIZE(nlpush_mcgrps),
};

/* ---------------------------------------------------------------------- */
/* Module load and unload                                                  */

static int __init nlpush_init(void)
{
	int err;

	if (ring_events > 1000000 || ring_bytes > (1U << 30)) {
		pr_err("ring_events (max 1000000) or ring_bytes (max 1 GiB) too large\n");
		return -EINVAL;
	}
	if (!unprivileged_listen) {
		if (!NLPUSH_HAVE_MCAST_CAP) {
			pr_err("this kernel cannot restrict joining multicast groups; load with unprivileged_listen=1 to accept that\n");
			return -EOPNOTSUPP;
		}
		nlpush_mcgrps[NLPUSH_MCGRP_EVENTS_IDX].flags =
			NLPUSH_MCGRP_ADMIN_FLAGS;
	}
	skb_queue_head_init(&nlpush_txq);
	if (ring_events) {
		ring = kvcalloc(ring_events, sizeof(*ring), GFP_KERNEL);
		if (!ring)
			return -ENOMEM;
	}

	err = netlink_register_notifier(&nlpush_netlink_notifier);
	if (err)
		goto free_ring;
	err = genl_register_family(&nlpush_family);
	if (err)
		goto unregister_notifier;

	pr_info("loaded: ring %u events / %u bytes, %sprivileged listeners\n",
		ring_events, ring_bytes, unprivileged_listen ? "un" : "");
	return 0;

unregister_notifier:
	netlink_unregister_notifier(&nlpush_netlink_notifier);
free_ring:
	kvfree(ring);
	return err;
}

static void __exit nlpush_exit(void)
{
	struct nlpush_pending *p, *tmp;
	struct nlpush_sub *s, *stmp;
	unsigned long irqflags;

	/*
	 * Fail every waiting request first: an EMIT sleeping in its doit holds
	 * genetlink's cb_lock for reading, and genl_unregister_family() waits
	 * for it. New publications and requests fail with -ESHUTDOWN.
	 */
	spin_lock_irqsave(&nlpush_lock, irqflags);
	nlpush_shutting_down = true;
	list_for_each_entry_safe(p, tmp, &nlpush_pending, node) {
		list_del(&p->node);
		nlpush_pending_count--;
		p->answered = true;
		p->err = -ESHUTDOWN;
		complete(&p->done);
	}
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	/* events already queued still go out, then nothing more can queue */
	nlpush_tx_flush();
	cancel_work_sync(&nlpush_tx_work);
	skb_queue_purge(&nlpush_txq);

	/* waits for running operations and dumps */
	genl_unregister_family(&nlpush_family);
	/* synchronizes with a running notifier */
	netlink_unregister_notifier(&nlpush_netlink_notifier);

	list_for_each_entry_safe(s, stmp, &nlpush_subs, node) {
		list_del(&s->node);
		kfree(s);
	}
	while (ring_count)
		ring_drop_oldest();
	kvfree(ring);
	pr_info("unloaded\n");
}

module_init(nlpush_init);
module_exit(nlpush_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("nlpush developers");
MODULE_DESCRIPTION("Kernel-to-userspace push channel over generic netlink");
MODULE_ALIAS_GENL_FAMILY(NLPUSH_FAMILY_NAME);
