// SPDX-License-Identifier: GPL-2.0
/*
 * The replay ring: the most recent events, bounded by ring_events and
 * ring_bytes, and the REPLAY dump that sends them again.
 *
 * The ring's slots, head and usage are protected by nlpush_lock. Entries
 * are refcounted: the ring holds one reference, a dump takes another while
 * it copies an entry into its message, so the copy (up to 60 KiB) happens
 * with no lock held and interrupts enabled, and an entry dropped from the
 * ring meanwhile is freed by whoever puts it last.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "internal.h"
#include "nlpush-nl.h"

/* nlpush_lock */
static struct nlpush_entry **ring;	/* circular, nlpush_ring_events slots */
static u32 ring_head;			/* index of the oldest entry */
static u32 ring_count;
static u64 ring_used;			/* sum of the entries' charge */

int nlpush_ring_init(void)
{
	if (!nlpush_ring_events)
		return 0;
	ring = kvcalloc(nlpush_ring_events, sizeof(*ring), GFP_KERNEL);
	return ring ? 0 : -ENOMEM;
}

/*
 * The memory an entry with @len payload bytes takes: header and payload
 * rounded up to the kmalloc size class they come from (a 1 KiB event takes
 * a 2 KiB object). The entry is allocated with exactly this size and the
 * ring counts it, so ring_bytes bounds the memory really held.
 */
static size_t nlpush_entry_charge(size_t len)
{
	size_t size = struct_size((struct nlpush_entry *)NULL, data, len);

	return nlpush_kmalloc_size_roundup(size);
}

/* An entry for the ring, or NULL when the ring would not keep it. */
struct nlpush_entry *nlpush_entry_alloc(size_t len, gfp_t gfp)
{
	size_t charge = nlpush_entry_charge(len);
	struct nlpush_entry *e;

	if (!nlpush_ring_events || charge > nlpush_ring_bytes)
		return NULL;
	e = kmalloc(charge, gfp | __GFP_NOWARN);
	if (!e)
		return ERR_PTR(-ENOMEM);
	refcount_set(&e->ref, 1);
	e->charge = charge;
	e->len = len;
	return e;
}

void nlpush_entry_put(struct nlpush_entry *e)
{
	if (!IS_ERR_OR_NULL(e) && refcount_dec_and_test(&e->ref))
		kfree(e);
}

static struct nlpush_entry *ring_at(u32 i)
{
	return ring[(ring_head + i) % nlpush_ring_events];
}

static void ring_drop_oldest(void)
{
	struct nlpush_entry *e = ring[ring_head];

	ring[ring_head] = NULL;
	ring_head = (ring_head + 1) % nlpush_ring_events;
	ring_count--;
	ring_used -= e->charge;
	nlpush_entry_put(e);
}

/* nlpush_lock held; takes over the caller's reference */
void nlpush_ring_add(struct nlpush_entry *e)
{
	while (ring_count &&
	       (ring_count == nlpush_ring_events ||
		ring_used + e->charge > nlpush_ring_bytes))
		ring_drop_oldest();
	ring[(ring_head + ring_count) % nlpush_ring_events] = e;
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

/* nlpush_lock held: whether @seq is held and was a request */
bool nlpush_ring_is_request(u64 seq)
{
	u32 i = ring_find(seq);

	return i < ring_count && ring_at(i)->seq == seq &&
	       (ring_at(i)->flags & NLPUSH_F_REPLY_WANTED);
}

/* nlpush_lock held */
void nlpush_ring_state(struct nlpush_ring_state *st)
{
	st->events = ring_count;
	st->bytes = ring_used;
	st->oldest_seq = ring_count ? ring_at(0)->seq : nlpush_next_seq;
}

/* Called once nothing can reach the ring any more. */
void nlpush_ring_free(void)
{
	while (ring_count)
		ring_drop_oldest();
	kvfree(ring);
	ring = NULL;
}

/* One event message: @cmd is EVENT, or REPLAY for dump messages. */
int nlpush_put_event(struct sk_buff *skb, u32 portid, u32 nlseq,
		     u8 cmd, u16 nlflags, const struct nlpush_entry *e,
		     u32 extra_flags)
{
	void *hdr;

	hdr = genlmsg_put(skb, portid, nlseq, &nlpush_family, nlflags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, NLPUSH_A_SEQ, e->seq, NLPUSH_A_PAD) ||
	    nla_put_u64_64bit(skb, NLPUSH_A_TIMESTAMP_NS, e->ts,
			      NLPUSH_A_PAD) ||
	    nla_put_u32(skb, NLPUSH_A_TYPE, e->type) ||
	    nla_put_u32(skb, NLPUSH_A_FLAGS, e->flags | extra_flags) ||
	    nla_put(skb, NLPUSH_A_PAYLOAD, e->len, e->data) ||
	    nla_put_u64_64bit(skb, NLPUSH_A_EPOCH, nlpush_epoch,
			      NLPUSH_A_PAD)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

/*
 * REPLAY dump state in cb->args:
 *   [0] next sequence number to dump
 *   [1] events still to send when COUNT bounds the dump
 *   [2] 1 when COUNT was given
 */
int nlpush_nl_replay_start(struct netlink_callback *cb)
{
	struct nlattr **tb = nlpush_dump_attrs(cb);

	if (!nlpush_may_listen(cb->skb)) {
		NL_SET_ERR_MSG(cb->extack,
			       "replay needs CAP_NET_ADMIN (or nlpush.unprivileged_listen=1)");
		return -EPERM;
	}
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

/* The entry with the lowest seq >= @seq, referenced, or NULL. */
static struct nlpush_entry *ring_get_from(u64 seq)
{
	struct nlpush_entry *e = NULL;
	unsigned long irqflags;
	u32 i;

	spin_lock_irqsave(&nlpush_lock, irqflags);
	i = ring_find(seq);
	if (i < ring_count) {
		e = ring_at(i);
		refcount_inc(&e->ref);
	}
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
	return e;
}

int nlpush_nl_replay_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nlpush_entry *e;
	unsigned long irqflags;
	u32 sent = 0;
	int err = 0;

	while (!cb->args[2] || cb->args[1]) {
		e = ring_get_from(cb->args[0]);
		if (!e)
			break;
		err = nlpush_put_event(skb, NETLINK_CB(cb->skb).portid,
				       cb->nlh->nlmsg_seq, NLPUSH_CMD_REPLAY,
				       NLM_F_MULTI, e, NLPUSH_F_REPLAYED);
		if (!err)
			cb->args[0] = e->seq + 1;
		nlpush_entry_put(e);
		if (err)
			break;
		if (cb->args[2])
			cb->args[1]--;
		sent++;
	}
	if (sent) {
		spin_lock_irqsave(&nlpush_lock, irqflags);
		nlpush_stats.replayed += sent;
		spin_unlock_irqrestore(&nlpush_lock, irqflags);
	}
	/* a message that does not fit an empty skb would never fit */
	if (err && !skb->len)
		return err;
	return skb->len;
}
