// SPDX-License-Identifier: GPL-2.0
/*
 * The transmit queue: events wait here, in sequence order, until the one
 * context that owns the flush multicasts them.
 *
 * Everything is decided under nlpush_lock, so no barrier is needed and no
 * event can be left behind: a producer queues its event and, in the same
 * lock hold, becomes the flusher if nobody is (txq_flushing). The flusher
 * takes events off under the lock and gives up ownership only when it
 * finds the queue empty, again under the lock. A producer with interrupts
 * disabled cannot multicast (socket wake-ups, taps) and hands the flush to
 * the work item (unbound: it may run beside the producer); an inline flush
 * sends at most NLPUSH_TX_BUDGET events and hands the rest to the work
 * item, which yields every NLPUSH_TX_BUDGET events. Only the
 * owner of the flush touches txq_handoff, txq_last_end and txq_last_cost
 * outside the lock; they are written under it.
 *
 * Batching (module parameter tx_batch_bytes, 0 turns it off): the flusher
 * takes the head of the queue and the events behind it while their
 * messages, each NLMSG_ALIGNed, fit in tx_batch_bytes, copies them into
 * one skb and multicasts that once: one clone per listener and one wake-up
 * for all of them. Each queued skb holds exactly one EVENT message; a
 * message larger than the limit goes out alone, as does the head when the
 * batch skb cannot be allocated (the others follow one by one: nothing is
 * lost). The counters count events. A producer that finds the queue idle
 * sends its event at once, inline, unless events arrive faster than they
 * are sent: when the time since the last send ended is shorter than that
 * send took (txq_last_end, txq_last_cost), the producer only queues and
 * hands the flush to the work item, so that a burst is sent in batches
 * instead of costing its producer one multicast per event. A lone event
 * after a quiet spell goes out at once; no timer is involved.
 *
 * The queue is bounded by the module parameter txq_bytes (skb truesize);
 * an event that does not fit is not multicast, counted in TXQ_DROPS and
 * stays in the replay ring, so listeners see a gap they can fill.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/skbuff.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>

#include "internal.h"
#include "nlpush-nl.h"

/* nlpush_lock */
static struct sk_buff_head txq;
static u64 txq_bytes;
static bool txq_flushing;
/* nlpush_lock; read by the owner of the flush */
static bool txq_handoff;	/* the owner is the work item */
static u64 txq_last_end;	/* ktime_get_ns() when the last send ended */
static u64 txq_last_cost;	/* how long it took, ns */

static void nlpush_tx_workfn(struct work_struct *work);
static DECLARE_WORK(nlpush_tx_work, nlpush_tx_workfn);

/*
 * Unbound: the work item may run on another CPU while the producer that
 * handed it a burst goes on publishing.
 */
static void nlpush_tx_schedule(void)
{
	queue_work(system_unbound_wq, &nlpush_tx_work);
}

void nlpush_txq_init(void)
{
	skb_queue_head_init(&txq);
}

/* nlpush_lock held */
u64 nlpush_txq_bytes_now(void)
{
	return txq_bytes;
}

/*
 * nlpush_lock held. Queues @skb, published at @now (ktime_get_ns()), or
 * refuses it when the queue is full (returns false with *@dropped set: the
 * caller frees it after unlocking). Returns true when the caller became
 * the flusher and must call nlpush_txq_kick() once it dropped the lock.
 */
bool nlpush_txq_add(struct sk_buff *skb, u64 now, bool *dropped)
{
	*dropped = false;
	if (txq_bytes + skb->truesize > nlpush_txq_bytes) {
		nlpush_stats.txq_drops++;
		*dropped = true;
		return false;
	}
	__skb_queue_tail(&txq, skb);
	txq_bytes += skb->truesize;
	if (txq_flushing)
		return false;
	txq_flushing = true;
	/* a burst: the work item sends it in batches */
	txq_handoff = nlpush_tx_batch_bytes &&
		      now - txq_last_end < txq_last_cost;
	return true;
}

/* Counts @n events sent in one multicast that returned @err. */
static void nlpush_tx_count(int err, unsigned int n)
{
	if (!err)
		atomic64_add(n, &nlpush_delivered);
	else if (err == -ESRCH)
		atomic64_add(n, &nlpush_no_listeners);
	else
		atomic64_add(n, &nlpush_delivery_errors);
}

static void nlpush_tx_send(struct sk_buff *skb, unsigned int n)
{
	/*
	 * Consumes skb. -ESRCH: no socket of the initial netns took it;
	 * members of "events" in other namespaces never get it. -ENOBUFS: a
	 * listener that asked for NETLINK_BROADCAST_ERROR overran.
	 */
	nlpush_tx_count(genlmsg_multicast(&nlpush_family, skb, 0,
					  NLPUSH_NLGRP_EVENTS, GFP_ATOMIC), n);
}

/*
 * Sends the @n skbs of @batch (one EVENT message each, @len bytes once
 * aligned) as one datagram, or one by one when that cannot be allocated.
 */
static void nlpush_tx_send_batch(struct sk_buff_head *batch, unsigned int n,
				 unsigned int len, gfp_t gfp)
{
	struct sk_buff *skb, *one;

	if (n == 1) {
		nlpush_tx_send(__skb_dequeue(batch), 1);
		return;
	}
	skb = alloc_skb(len, gfp | __GFP_NOWARN);
	if (!skb) {
		while ((one = __skb_dequeue(batch)))
			nlpush_tx_send(one, 1);
		return;
	}
	while ((one = __skb_dequeue(batch))) {
		skb_put_data(skb, one->data, one->len);
		skb_put_zero(skb, NLMSG_ALIGN(one->len) - one->len);
		consume_skb(one);
	}
	nlpush_tx_send(skb, n);
}

/*
 * nlpush_lock held, queue not empty. Moves the head and, with batching on,
 * the events behind it whose messages still fit in tx_batch_bytes, to
 * @batch. Returns how many; *@len is their aligned length.
 */
static unsigned int nlpush_tx_take(struct sk_buff_head *batch,
				   unsigned int *len)
{
	unsigned int limit = nlpush_tx_batch_bytes, n = 0;
	struct sk_buff *skb;

	*len = 0;
	while ((skb = skb_peek(&txq))) {
		if (n && *len + NLMSG_ALIGN(skb->len) > limit)
			break;
		__skb_unlink(skb, &txq);
		txq_bytes -= skb->truesize;
		__skb_queue_tail(batch, skb);
		*len += NLMSG_ALIGN(skb->len);
		n++;
		if (!limit)
			break;
	}
	return n;
}

/*
 * Only the owner of the flush calls this. Inline (@inline_flush), it hands
 * the flush to the work item after NLPUSH_TX_BUDGET events; the work item
 * yields every NLPUSH_TX_BUDGET events instead. Inline, the caller may be
 * in softirq context or hold its own locks: GFP_ATOMIC for the batch.
 */
static void nlpush_tx_flush(bool inline_flush)
{
	gfp_t gfp = inline_flush ? GFP_ATOMIC : GFP_KERNEL;
	unsigned int sent = 0, n, len;
	struct sk_buff_head batch;
	unsigned long irqflags;
	u64 t0 = 0, t1 = 0;

	__skb_queue_head_init(&batch);
	for (;;) {
		spin_lock_irqsave(&nlpush_lock, irqflags);
		if (t1) {
			txq_last_end = t1;
			txq_last_cost = t1 - t0;
		}
		n = skb_queue_empty(&txq) ? 0 : nlpush_tx_take(&batch, &len);
		if (!n)
			txq_flushing = false;
		spin_unlock_irqrestore(&nlpush_lock, irqflags);
		if (!n)
			return;
		if (nlpush_tx_batch_bytes)
			t0 = ktime_get_ns();
		nlpush_tx_send_batch(&batch, n, len, gfp);
		if (nlpush_tx_batch_bytes)
			t1 = ktime_get_ns();
		sent += n;
		if (sent < NLPUSH_TX_BUDGET)
			continue;
		sent = 0;
		if (inline_flush) {
			/* still the owner: the work item takes over */
			nlpush_tx_schedule();
			return;
		}
		cond_resched();
	}
}

static void nlpush_tx_workfn(struct work_struct *work)
{
	nlpush_tx_flush(false);
}

/* After nlpush_txq_add() returned true, with nlpush_lock dropped. */
void nlpush_txq_kick(void)
{
	if (txq_handoff || irqs_disabled() || in_hardirq())
		nlpush_tx_schedule();
	else
		nlpush_tx_flush(true);
}

/*
 * Unload: no producer can queue any more (nlpush_shutting_down). Let the
 * owner of the flush, inline or the work item, send what is queued, then
 * purge whatever is left under the queue's own lock.
 */
void nlpush_txq_stop(void)
{
	struct sk_buff_head left;
	unsigned long irqflags;
	bool busy;

	__skb_queue_head_init(&left);
	for (;;) {
		flush_work(&nlpush_tx_work);
		spin_lock_irqsave(&nlpush_lock, irqflags);
		busy = txq_flushing;
		if (!busy) {
			skb_queue_splice_init(&txq, &left);
			txq_bytes = 0;
		}
		spin_unlock_irqrestore(&nlpush_lock, irqflags);
		if (!busy)
			break;
		usleep_range(500, 1000);
	}
	cancel_work_sync(&nlpush_tx_work);
	__skb_queue_purge(&left);
}
