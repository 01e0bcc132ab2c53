// SPDX-License-Identifier: GPL-2.0
/*
 * Publishing: one event gets its sequence number, its timestamp, a place
 * in the replay ring and, when someone may listen, a multicast message on
 * the transmit queue, all in one hold of nlpush_lock so that sequence
 * order, ring order and transmit order are the same.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/net_namespace.h>

#include "internal.h"
#include "nlpush-nl.h"

size_t nlpush_event_size(size_t len)
{
	return nla_total_size_64bit(sizeof(u64)) +	/* SEQ */
	       nla_total_size_64bit(sizeof(u64)) +	/* TIMESTAMP_NS */
	       nla_total_size(sizeof(u32)) +		/* TYPE */
	       nla_total_size(sizeof(u32)) +		/* FLAGS */
	       nla_total_size(len) +			/* PAYLOAD */
	       nla_total_size_64bit(sizeof(u64));	/* EPOCH */
}

/* Where the message's SEQ, TIMESTAMP_NS and PAYLOAD go once known. */
struct nlpush_msg_slots {
	struct nlattr *seq;
	struct nlattr *ts;
	struct nlattr *payload;
};

static struct sk_buff *nlpush_event_msg(u32 type, u32 flags,
					const struct nlpush_src *src,
					size_t len, gfp_t gfp,
					struct nlpush_msg_slots *slots)
{
	struct sk_buff *skb;
	void *hdr;

	skb = genlmsg_new(nlpush_event_size(len), gfp | __GFP_NOWARN);
	if (!skb)
		return NULL;
	hdr = genlmsg_put(skb, 0, 0, &nlpush_family, 0, NLPUSH_CMD_EVENT);
	if (!hdr)
		goto nospace;
	slots->seq = nla_reserve_64bit(skb, NLPUSH_A_SEQ, sizeof(u64),
				       NLPUSH_A_PAD);
	slots->ts = nla_reserve_64bit(skb, NLPUSH_A_TIMESTAMP_NS, sizeof(u64),
				      NLPUSH_A_PAD);
	if (!slots->seq || !slots->ts ||
	    nla_put_u32(skb, NLPUSH_A_TYPE, type) ||
	    nla_put_u32(skb, NLPUSH_A_FLAGS, flags))
		goto nospace;
	slots->payload = nla_reserve(skb, NLPUSH_A_PAYLOAD, len);
	if (!slots->payload ||
	    nla_put_u64_64bit(skb, NLPUSH_A_EPOCH, nlpush_epoch, NLPUSH_A_PAD))
		goto nospace;
	if (src->data)
		memcpy(nla_data(slots->payload), src->data, len);
	genlmsg_end(skb, hdr);
	return skb;

nospace:
	nlmsg_free(skb);
	return NULL;
}

/*
 * Publish one event. When @req is given, the request is admitted (a
 * responder exists, the pending list has room) and put on the pending
 * list in the same lock hold that assigns the sequence number, so an ACK
 * can never arrive before the request is findable.
 */
s64 nlpush_do_publish(u32 type, u32 flags, const struct nlpush_src *src,
		      size_t len, gfp_t gfp, struct nlpush_req *req)
{
	struct nlpush_msg_slots slots = { };
	struct nlpush_entry *e;
	struct sk_buff *skb = NULL;
	bool kick = false, dropped = false;
	unsigned long irqflags;
	u64 seq, ts;
	int err;

	if (len > NLPUSH_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (len && !src->data && !src->fill)
		return -EINVAL;
	if (READ_ONCE(nlpush_shutting_down))
		return -ESHUTDOWN;
	if (req && !READ_ONCE(nlpush_responders))
		return -ENOTCONN;	/* checked again under the lock */

	e = nlpush_entry_alloc(len, gfp);
	if (IS_ERR(e))
		goto nomem;
	if (e) {
		e->type = type;
		e->flags = flags;
		if (src->data)
			memcpy(e->data, src->data, len);
	}

	/*
	 * No listener anywhere is proof that nobody listens; a listener is no
	 * proof (it may sit in another netns): a multicast that reaches
	 * nobody is counted as "no listener" by the flusher.
	 */
	if (genl_has_listeners(&nlpush_family, &init_net, NLPUSH_NLGRP_EVENTS)) {
		skb = nlpush_event_msg(type, flags, src, len, gfp, &slots);
		if (!skb)
			goto nomem;
	}

	spin_lock_irqsave(&nlpush_lock, irqflags);
	if (nlpush_shutting_down) {
		err = -ESHUTDOWN;
		goto refuse;
	}
	if (req) {
		err = nlpush_req_admit();
		if (err)
			goto refuse;
	}
	seq = nlpush_next_seq++;
	ts = ktime_get_ns();
	nlpush_stats.published++;

	if (src->fill) {
		void *buf = e ? e->data :
			    (slots.payload ? nla_data(slots.payload) : NULL);

		if (buf) {
			src->fill(buf, len, seq, src->ctx);
			if (e && slots.payload)
				memcpy(nla_data(slots.payload), buf, len);
		}
	}
	if (e) {
		e->seq = seq;
		e->ts = ts;
		nlpush_ring_add(e);	/* e belongs to the ring now */
	}
	if (req)
		nlpush_req_add(req, seq);
	if (skb) {
		memcpy(nla_data(slots.seq), &seq, sizeof(seq));
		memcpy(nla_data(slots.ts), &ts, sizeof(ts));
		kick = nlpush_txq_add(skb, ts, &dropped);
	}
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	if (!skb)
		atomic64_inc(&nlpush_no_listeners);
	if (dropped)
		nlmsg_free(skb);
	if (kick)
		nlpush_txq_kick();
	return seq;

refuse:
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
	nlpush_entry_put(e);
	nlmsg_free(skb);
	return err;

nomem:
	atomic64_inc(&nlpush_publish_failures);
	if (!IS_ERR(e))
		nlpush_entry_put(e);
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
