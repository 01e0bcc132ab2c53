// SPDX-License-Identifier: GPL-2.0
/*
 * The transmit queue: events wait here, in sequence order, until the one
 * context that owns the flush multicasts them.
 *
 * Everything is decided under nlpush_lock, so no barrier is needed and no
 * event can be left behind: a producer queues its event and, in the same
 * lock hold, becomes the flusher if nobody is (txq_flushing). The flusher
 * takes events off one at a time and gives up ownership only when it finds
 * the queue empty, again under the lock. A producer with interrupts
 * disabled cannot multicast (socket wake-ups, taps) and hands the flush to
 * the work item; an inline flush sends at most NLPUSH_TX_BUDGET events and
 * hands the rest to the work item, which yields between batches.
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

static void nlpush_tx_workfn(struct work_struct *work);
static DECLARE_WORK(nlpush_tx_work, nlpush_tx_workfn);

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
 * nlpush_lock held. Queues @skb, or refuses it when the queue is full
 * (returns false with *@dropped set: the caller frees it after unlocking).
 * Returns true when the caller became the flusher and must call
 * nlpush_txq_kick() once it dropped the lock.
 */
bool nlpush_txq_add(struct sk_buff *skb, bool *dropped)
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
	return true;
}

static void nlpush_tx_send(struct sk_buff *skb)
{
	int err;

	/*
	 * Consumes skb. -ESRCH: no socket of the initial netns took it;
	 * members of "events" in other namespaces never get it. -ENOBUFS: a
	 * listener that asked for NETLINK_BROADCAST_ERROR overran.
	 */
	err = genlmsg_multicast(&nlpush_family, skb, 0, NLPUSH_NLGRP_EVENTS,
				GFP_ATOMIC);
	if (!err)
		atomic64_inc(&nlpush_delivered);
	else if (err == -ESRCH)
		atomic64_inc(&nlpush_no_listeners);
	else
		atomic64_inc(&nlpush_delivery_errors);
}

/*
 * Only the owner of the flush calls this. Inline (@inline_flush), it hands
 * the flush to the work item after NLPUSH_TX_BUDGET events; the work item
 * yields every NLPUSH_TX_BUDGET events instead.
 */
static void nlpush_tx_flush(bool inline_flush)
{
	unsigned int sent = 0;
	unsigned long irqflags;
	struct sk_buff *skb;

	for (;;) {
		spin_lock_irqsave(&nlpush_lock, irqflags);
		skb = __skb_dequeue(&txq);
		if (skb)
			txq_bytes -= skb->truesize;
		else
			txq_flushing = false;
		spin_unlock_irqrestore(&nlpush_lock, irqflags);
		if (!skb)
			return;
		nlpush_tx_send(skb);
		if (++sent % NLPUSH_TX_BUDGET)
			continue;
		if (inline_flush) {
			/* still the owner: the work item takes over */
			schedule_work(&nlpush_tx_work);
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
	if (irqs_disabled() || in_hardirq())
		schedule_work(&nlpush_tx_work);
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
