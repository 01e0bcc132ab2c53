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
 * outside the lock; they are written under it. Producers read
 * txq_flushing, txq_open_room, txq_last_end and txq_last_cost without it
 * (READ_ONCE), as a hint for the skb they bring: the lock decides.
 *
 * Batching (module parameter tx_batch_bytes, 0 turns it off): a producer
 * writes its EVENT message into the open batch, the skb at the tail of the
 * queue, while that has room (up to tx_batch_bytes), in the lock hold that
 * gives it its sequence number; only when it has none does the producer
 * bring an skb of its own, allocated before the lock: one of
 * tx_batch_bytes when a burst is under way (the events behind it will
 * fill it), else one of the message's size. Queued skbs thus hold one or
 * more messages, each NLMSG_ALIGNed, in sequence order; the flusher takes
 * the open batch off the queue with the rest (it is closed from then on)
 * and, when several small skbs are queued, copies those that fit in
 * tx_batch_bytes into one. Each datagram is multicast once: one clone per
 * listener and one wake-up for all its events. A message larger than the
 * limit goes out alone, as does the head when a batch skb cannot be
 * allocated (the others follow one by one: nothing is lost). The counters
 * count events (NLPUSH_TX_CB). A producer that finds the queue idle
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

/* Events an skb on the queue carries, in its cb until it is sent. */
struct nlpush_tx_cb {
	unsigned int events;
};

#define NLPUSH_TX_CB(skb) ((struct nlpush_tx_cb *)(skb)->cb)

/* nlpush_lock */
static struct sk_buff_head txq;
static u64 txq_bytes;
static struct sk_buff *txq_open;	/* the tail, still taking messages */
/* nlpush_lock; read without it as a hint (nlpush_txq_may_append/alloc) */
static bool txq_flushing;
static unsigned int txq_open_room;	/* bytes txq_open can still take */
/* nlpush_lock; read by the owner of the flush, and as a hint */
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

/* Events arrive faster than they are sent (nlpush_lock, or a hint). */
static bool nlpush_tx_bursting(u64 now)
{
	return now - READ_ONCE(txq_last_end) < READ_ONCE(txq_last_cost);
}

/* Bytes the open batch @skb can still take: tailroom, up to the limit. */
static unsigned int nlpush_tx_room(const struct sk_buff *skb)
{
	unsigned int limit = nlpush_tx_batch_bytes;

	if (skb->len >= limit)
		return 0;
	return min_t(unsigned int, skb_tailroom(skb), limit - skb->len);
}

/*
 * Without nlpush_lock, a hint: whether a message of @size bytes would fit
 * in the open batch now, so that its producer need not allocate an skb.
 * nlpush_txq_target() decides under the lock.
 */
bool nlpush_txq_may_append(unsigned int size)
{
	return size <= READ_ONCE(txq_open_room);
}

/*
 * Without nlpush_lock: an skb for a message of @size bytes. With batching
 * on and a burst under way, one of tx_batch_bytes, for the events behind
 * it; else (or if that cannot be had) one of @size.
 */
struct sk_buff *nlpush_txq_alloc(unsigned int size, gfp_t gfp)
{
	unsigned int limit = nlpush_tx_batch_bytes;
	struct sk_buff *skb;

	if (limit && size < limit &&
	    (READ_ONCE(txq_flushing) || nlpush_tx_bursting(ktime_get_ns()))) {
		skb = alloc_skb(limit, gfp | __GFP_NOWARN);
		if (skb)
			return skb;
	}
	return alloc_skb(size, gfp | __GFP_NOWARN);
}

/*
 * nlpush_lock held. The skb a message of @size bytes goes into: the open
 * batch if it has room, else @own (NULL when the caller has none yet).
 */
struct sk_buff *nlpush_txq_target(unsigned int size, struct sk_buff *own)
{
	if (txq_open && size <= txq_open_room)
		return txq_open;
	return own;
}

/*
 * nlpush_lock held. @skb, from nlpush_txq_target(), now carries one more
 * message, published at @now (ktime_get_ns()). The open batch is on the
 * queue already; an skb of the caller's own is queued, and becomes the
 * open batch, or is refused when the queue is full (returns false with
 * *@dropped set: the caller frees it after unlocking). Returns true when
 * the caller became the flusher and must call nlpush_txq_kick() once it
 * dropped the lock.
 */
bool nlpush_txq_add(struct sk_buff *skb, u64 now, bool *dropped)
{
	*dropped = false;
	if (skb == txq_open) {
		/* the queue is not empty: its flusher will send it */
		NLPUSH_TX_CB(skb)->events++;
		WRITE_ONCE(txq_open_room, nlpush_tx_room(skb));
		return false;
	}
	if (txq_bytes + skb->truesize > nlpush_txq_bytes) {
		nlpush_stats.txq_drops++;
		*dropped = true;
		return false;
	}
	NLPUSH_TX_CB(skb)->events = 1;
	__skb_queue_tail(&txq, skb);
	txq_bytes += skb->truesize;
	if (nlpush_tx_batch_bytes) {
		txq_open = skb;
		WRITE_ONCE(txq_open_room, nlpush_tx_room(skb));
	}
	if (txq_flushing)
		return false;
	WRITE_ONCE(txq_flushing, true);
	/* a burst: the work item sends it in batches */
	txq_handoff = nlpush_tx_batch_bytes && nlpush_tx_bursting(now);
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
 * Sends the @n skbs of @batch (@events EVENT messages, @len bytes once
 * aligned) as one datagram, or one by one when that cannot be allocated.
 */
static void nlpush_tx_send_batch(struct sk_buff_head *batch, unsigned int n,
				 unsigned int events, unsigned int len,
				 gfp_t gfp)
{
	struct sk_buff *skb, *one;

	if (n == 1) {
		nlpush_tx_send(__skb_dequeue(batch), events);
		return;
	}
	skb = alloc_skb(len, gfp | __GFP_NOWARN);
	if (!skb) {
		while ((one = __skb_dequeue(batch)))
			nlpush_tx_send(one, NLPUSH_TX_CB(one)->events);
		return;
	}
	while ((one = __skb_dequeue(batch))) {
		skb_put_data(skb, one->data, one->len);
		skb_put_zero(skb, NLMSG_ALIGN(one->len) - one->len);
		consume_skb(one);
	}
	nlpush_tx_send(skb, events);
}

/*
 * nlpush_lock held, queue not empty. Moves the head and, with batching on,
 * the skbs behind it whose messages still fit in tx_batch_bytes, to
 * @batch; the open batch among them is closed. Returns how many skbs;
 * *@events is how many messages they carry, *@len their aligned length.
 */
static unsigned int nlpush_tx_take(struct sk_buff_head *batch,
				   unsigned int *events, unsigned int *len)
{
	unsigned int limit = nlpush_tx_batch_bytes, n = 0;
	struct sk_buff *skb;

	*events = 0;
	*len = 0;
	while ((skb = skb_peek(&txq))) {
		if (n && *len + NLMSG_ALIGN(skb->len) > limit)
			break;
		__skb_unlink(skb, &txq);
		txq_bytes -= skb->truesize;
		if (skb == txq_open) {
			txq_open = NULL;
			WRITE_ONCE(txq_open_room, 0);
		}
		__skb_queue_tail(batch, skb);
		*events += NLPUSH_TX_CB(skb)->events;
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
	unsigned int sent = 0, n, events, len;
	struct sk_buff_head batch;
	unsigned long irqflags;
	u64 t0 = 0, t1 = 0;

	__skb_queue_head_init(&batch);
	for (;;) {
		spin_lock_irqsave(&nlpush_lock, irqflags);
		if (t1) {
			WRITE_ONCE(txq_last_end, t1);
			WRITE_ONCE(txq_last_cost, t1 - t0);
		}
		n = skb_queue_empty(&txq) ? 0 :
		    nlpush_tx_take(&batch, &events, &len);
		if (!n)
			WRITE_ONCE(txq_flushing, false);
		spin_unlock_irqrestore(&nlpush_lock, irqflags);
		if (!n)
			return;
		if (nlpush_tx_batch_bytes)
			t0 = ktime_get_ns();
		nlpush_tx_send_batch(&batch, n, events, len, gfp);
		if (nlpush_tx_batch_bytes)
			t1 = ktime_get_ns();
		sent += events;
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
			txq_open = NULL;
			WRITE_ONCE(txq_open_room, 0);
		}
		spin_unlock_irqrestore(&nlpush_lock, irqflags);
		if (!busy)
			break;
		usleep_range(500, 1000);
	}
	cancel_work_sync(&nlpush_tx_work);
	__skb_queue_purge(&left);
}
