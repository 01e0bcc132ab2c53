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

/* Bytes one EVENT message with @len bytes of payload takes in a datagram. */
unsigned int nlpush_event_msg_size(size_t len)
{
	return nlmsg_total_size(GENL_HDRLEN + nlpush_event_size(len));
}

/*
 * nlpush_lock held. Appends the EVENT message of sequence number @seq to
 * @skb, which has room for it (nlpush_txq_target()). The payload comes
 * from @data, or, when that is NULL, from @src's fill callback writing it
 * in place.
 */
static int nlpush_event_put(struct sk_buff *skb, u32 type, u32 flags,
			    u64 seq, u64 ts, const void *data,
			    const struct nlpush_src *src, size_t len)
{
	struct nlattr *payload;
	void *hdr;

	hdr = genlmsg_put(skb, 0, 0, &nlpush_family, 0, NLPUSH_CMD_EVENT);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, NLPUSH_A_SEQ, seq, NLPUSH_A_PAD) ||
	    nla_put_u64_64bit(skb, NLPUSH_A_TIMESTAMP_NS, ts, NLPUSH_A_PAD) ||
	    nla_put_u32(skb, NLPUSH_A_TYPE, type) ||
	    nla_put_u32(skb, NLPUSH_A_FLAGS, flags))
		goto nospace;
	payload = nla_reserve(skb, NLPUSH_A_PAYLOAD, len);
	if (!payload)
		goto nospace;
	if (data)
		memcpy(nla_data(payload), data, len);
	else if (len)
		src->fill(nla_data(payload), len, seq, src->ctx);
	if (nla_put_u64_64bit(skb, NLPUSH_A_EPOCH, nlpush_epoch, NLPUSH_A_PAD))
		goto nospace;
	genlmsg_end(skb, hdr);
	return 0;

nospace:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
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
	struct sk_buff *own = NULL, *skb = NULL;
	bool kick = false, dropped = false, queued = false, listening;
	unsigned int msg_size = 0;
	struct nlpush_entry *e;
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
	 *
	 * The message goes into the open batch at the tail of the transmit
	 * queue when that has room (a burst: no allocation per event), else
	 * into an skb of its own, allocated here, outside the lock.
	 */
	listening = genl_has_listeners(&nlpush_family, &init_net,
				       NLPUSH_NLGRP_EVENTS);
	if (listening) {
		msg_size = nlpush_event_msg_size(len);
		if (!nlpush_txq_may_append(msg_size)) {
			own = nlpush_txq_alloc(msg_size, gfp);
			if (!own)
				goto nomem;
		}
	}

relock:
	spin_lock_irqsave(&nlpush_lock, irqflags);
	if (nlpush_shutting_down) {
		err = -ESHUTDOWN;
		goto refuse;
	}
	if (listening) {
		skb = nlpush_txq_target(msg_size, own);
		if (!skb) {
			/* the open batch filled up or went out meanwhile */
			spin_unlock_irqrestore(&nlpush_lock, irqflags);
			own = nlpush_txq_alloc(msg_size, gfp);
			if (!own)
				goto nomem;
			goto relock;
		}
	}
	if (req) {
		err = nlpush_req_admit();
		if (err)
			goto refuse;
	}
	seq = nlpush_next_seq++;
	ts = ktime_get_ns();
	nlpush_stats.published++;

	if (src->fill && e)
		src->fill(e->data, len, seq, src->ctx);
	if (skb) {
		/* cannot fail: nlpush_txq_target() checked the room */
		if (WARN_ON_ONCE(nlpush_event_put(skb, type, flags, seq, ts,
						  e ? e->data : src->data,
						  src, len))) {
			nlpush_stats.txq_drops++;	/* replayable */
		} else {
			kick = nlpush_txq_add(skb, ts, &dropped);
			queued = skb == own && !dropped;
		}
	}
	if (e) {
		e->seq = seq;
		e->ts = ts;
		nlpush_ring_add(e);	/* e belongs to the ring now */
	}
	if (req)
		nlpush_req_add(req, seq);
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	if (!listening)
		atomic64_inc(&nlpush_no_listeners);
	if (!queued)
		nlmsg_free(own);	/* unused, or refused by a full queue */
	if (kick)
		nlpush_txq_kick();
	return seq;

refuse:
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
	nlpush_entry_put(e);
	nlmsg_free(own);
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
