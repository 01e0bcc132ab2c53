// SPDX-License-Identifier: GPL-2.0
/*
 * The ACK, GET_STATS and EMIT handlers (SUBSCRIBE, UNSUBSCRIBE and
 * GET_SUBSCRIBERS live in subscribers.c, REPLAY in ring.c). Attributes
 * reach them validated by the policies generated from nlpush.yaml; the
 * checks here are those a policy cannot express.
 *
 * No handler sleeps for long: genetlink's cb_lock is held for reading
 * around every handler, and a writer (any family registration on the host)
 * queued behind a sleeping handler would stall every genetlink user. A
 * request's answer is delivered later, by request.c; an EMIT of more than
 * NLPUSH_EMIT_INLINE events leaves the rest to a work item.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/err.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "internal.h"
#include "nlpush-nl.h"

bool nlpush_may_listen(const struct sk_buff *skb)
{
	return nlpush_unprivileged_listen || netlink_capable(skb, CAP_NET_ADMIN);
}

/*
 * For the commands that take no attribute: the generator gives them no
 * policy, and the core validates split ops only against a policy.
 */
int nlpush_refuse_attrs(const struct nlmsghdr *nlh,
			struct netlink_ext_ack *extack)
{
	if (!nlmsg_attrlen(nlh, GENL_HDRLEN))
		return 0;
	NL_SET_ERR_MSG(extack, "this command takes no attributes");
	return -EINVAL;
}

/* ---------------------------------------------------------------------- */
/* ACK                                                                     */

/* Counts a refused ACK; NL_SET_ERR_MSG_ATTR() wants a literal message. */
#define nlpush_ack_reject(info, attr, err, msg) ({			\
	unsigned long __flags;						\
									\
	spin_lock_irqsave(&nlpush_lock, __flags);			\
	nlpush_stats.acks_rejected++;					\
	spin_unlock_irqrestore(&nlpush_lock, __flags);			\
	NL_SET_ERR_MSG_ATTR((info)->extack, attr, msg);			\
	err;								\
})

int nlpush_nl_ack_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **tb = info->attrs;
	const struct net *net = genl_info_net(info);
	struct nlattr *seq_attr = tb[NLPUSH_A_SEQ];
	struct nlattr *count_attr = tb[NLPUSH_A_COUNT];
	struct nlpush_req *req = NULL;
	struct sk_buff *reply = NULL;
	bool answer = tb[NLPUSH_A_STATUS];
	unsigned long irqflags;
	void *data = NULL;
	size_t len = 0;
	s32 status = 0;
	u32 count = 1;
	int err = 0;
	u64 seq;

	if (GENL_REQ_ATTR_CHECK(info, NLPUSH_A_SEQ))
		return -EINVAL;
	seq = nla_get_u64(seq_attr);
	if (tb[NLPUSH_A_EPOCH] && nla_get_u64(tb[NLPUSH_A_EPOCH]) != nlpush_epoch)
		return nlpush_ack_reject(info, tb[NLPUSH_A_EPOCH], -ESTALE,
					 "epoch belongs to another load of the module");
	if (tb[NLPUSH_A_PAYLOAD] && !answer)
		return nlpush_ack_reject(info, tb[NLPUSH_A_PAYLOAD], -EINVAL,
					 "a reply payload needs a status");
	if (count_attr && answer)
		return nlpush_ack_reject(info, count_attr, -EINVAL,
					 "a range acknowledges events: a request is answered on its own, without a count");
	if (count_attr)
		count = nla_get_u32(count_attr);	/* 1 .. EMIT_COUNT_MAX */
	if (answer && !nlpush_sub_is_responder(net, info->snd_portid))
		return nlpush_ack_reject(info, tb[NLPUSH_A_STATUS], -EPERM,
					 "only a socket subscribed as responder may answer a request");
	if (answer) {
		status = nla_get_s32(tb[NLPUSH_A_STATUS]);
		if (tb[NLPUSH_A_PAYLOAD] && nla_len(tb[NLPUSH_A_PAYLOAD])) {
			len = nla_len(tb[NLPUSH_A_PAYLOAD]);
			data = kmemdup(nla_data(tb[NLPUSH_A_PAYLOAD]), len,
				       GFP_KERNEL);
			if (!data)
				return -ENOMEM;
			/*
			 * An EMIT's REPLY with this payload, allocated before
			 * the request is taken: on failure it stays pending
			 * (an answer without payload uses the request's own)
			 */
			reply = nlpush_reply_new(len, GFP_KERNEL);
			if (!reply) {
				kfree(data);
				return -ENOMEM;
			}
		}
	}

	spin_lock_irqsave(&nlpush_lock, irqflags);
	if (!seq || seq >= nlpush_next_seq) {
		err = -EINVAL;
		NL_SET_ERR_MSG_ATTR(info->extack, seq_attr,
				    "sequence number was never published");
	} else if (count > nlpush_next_seq - seq) {
		err = -EINVAL;
		NL_SET_ERR_MSG_ATTR(info->extack, count_attr,
				    "the range goes beyond the newest published event");
	} else if (count_attr) {
		/*
		 * A range: O(1), its content is not looked at. Requests inside
		 * it stay pending (only a responder's answer takes them).
		 */
	} else if (answer) {
		req = nlpush_req_answer(seq, status, info->snd_portid, &data,
					len);
		if (IS_ERR(req)) {
			err = PTR_ERR(req);
			req = NULL;
			NL_SET_ERR_MSG_ATTR(info->extack, seq_attr,
					    "no pending request for this sequence number (expired or already answered)");
		}
	} else if (nlpush_req_pending(seq) || nlpush_ring_is_request(seq)) {
		err = -EINVAL;
		NL_SET_ERR_MSG_ATTR(info->extack, seq_attr,
				    "a request is answered with a status, by a responder");
	}
	if (err)
		nlpush_stats.acks_rejected++;
	else
		nlpush_stats.acks += count;
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	if (req) {	/* an EMIT's request: its REPLY goes out now */
		nlpush_req_reply(req, reply, 0, status, info->snd_portid,
				 data, len);
		reply = NULL;
	}
	nlmsg_free(reply);	/* NULL-safe: not needed (sync or refused) */
	kfree(data);
	if (err)
		return err;
	nlpush_sub_account_ack(net, info->snd_portid, seq + count - 1, count,
			       answer);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* GET_STATS                                                               */

struct nlpush_stats_snapshot {
	struct nlpush_counters c;
	struct nlpush_ring_state ring;
	u64 next_seq;
	u32 pending;
	u32 responders;
};

static int nlpush_put_stats(struct sk_buff *skb)
{
	struct nlpush_stats_snapshot s;
	unsigned long irqflags;
	struct nlattr *nest;
	int i;

	spin_lock_irqsave(&nlpush_lock, irqflags);
	s.c = nlpush_stats;
	nlpush_ring_state(&s.ring);
	s.next_seq = nlpush_next_seq;
	s.pending = nlpush_requests_pending_now();
	s.responders = nlpush_responders_now();
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	{
		const struct {
			int attr;
			u64 val;
		} u64s[] = {
			{ NLPUSH_STATS_A_PUBLISHED, s.c.published },
			{ NLPUSH_STATS_A_DELIVERED,
			  atomic64_read(&nlpush_delivered) },
			{ NLPUSH_STATS_A_NO_LISTENERS,
			  atomic64_read(&nlpush_no_listeners) },
			{ NLPUSH_STATS_A_DELIVERY_ERRORS,
			  atomic64_read(&nlpush_delivery_errors) },
			{ NLPUSH_STATS_A_PUBLISH_FAILURES,
			  atomic64_read(&nlpush_publish_failures) },
			{ NLPUSH_STATS_A_ACKS, s.c.acks },
			{ NLPUSH_STATS_A_ACKS_REJECTED, s.c.acks_rejected },
			{ NLPUSH_STATS_A_REQUESTS, s.c.requests },
			{ NLPUSH_STATS_A_REPLIES, s.c.replies },
			{ NLPUSH_STATS_A_REQUEST_TIMEOUTS, s.c.request_timeouts },
			{ NLPUSH_STATS_A_OLDEST_SEQ, s.ring.oldest_seq },
			{ NLPUSH_STATS_A_NEXT_SEQ, s.next_seq },
			{ NLPUSH_STATS_A_RING_BYTES, s.ring.bytes },
			{ NLPUSH_STATS_A_RING_MAX_BYTES, nlpush_ring_bytes },
			{ NLPUSH_STATS_A_REPLAYED, s.c.replayed },
			{ NLPUSH_STATS_A_TXQ_DROPS, s.c.txq_drops },
			{ NLPUSH_STATS_A_REQUESTS_FAILED, s.c.requests_failed },
			{ NLPUSH_STATS_A_REPLIES_UNDELIVERED,
			  atomic64_read(&nlpush_replies_undelivered) },
		};
		const struct {
			int attr;
			u32 val;
		} u32s[] = {
			{ NLPUSH_STATS_A_REQUESTS_PENDING, s.pending },
			{ NLPUSH_STATS_A_SUBSCRIBERS, nlpush_subscribers_now() },
			{ NLPUSH_STATS_A_RING_EVENTS, s.ring.events },
			{ NLPUSH_STATS_A_RING_MAX_EVENTS, nlpush_ring_events },
			{ NLPUSH_STATS_A_RESPONDERS, s.responders },
		};

		nest = nla_nest_start(skb, NLPUSH_A_STATS);
		if (!nest)
			return -EMSGSIZE;
		for (i = 0; i < ARRAY_SIZE(u64s); i++)
			if (nla_put_u64_64bit(skb, u64s[i].attr, u64s[i].val,
					      NLPUSH_STATS_A_PAD))
				goto cancel;
		for (i = 0; i < ARRAY_SIZE(u32s); i++)
			if (nla_put_u32(skb, u32s[i].attr, u32s[i].val))
				goto cancel;
		nla_nest_end(skb, nest);
	}
	if (nla_put_u64_64bit(skb, NLPUSH_A_EPOCH, nlpush_epoch, NLPUSH_A_PAD))
		return -EMSGSIZE;
	return 0;

cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

int nlpush_nl_get_stats_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	int err;

	err = nlpush_refuse_attrs(info->nlhdr, info->extack);
	if (err)
		return err;
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

/* ---------------------------------------------------------------------- */
/* EMIT                                                                    */

/* The events of one EMIT beyond NLPUSH_EMIT_INLINE, published in order. */
struct nlpush_bulk {
	struct list_head node;
	u32 type;
	u32 left;
	u32 len;
	u8 data[];
};

static DEFINE_SPINLOCK(nlpush_bulk_lock);
/* nlpush_bulk_lock */
static LIST_HEAD(nlpush_bulk_jobs);
static u32 nlpush_bulk_count;
static bool nlpush_bulk_stopped;

static void nlpush_bulk_workfn(struct work_struct *work);
static DECLARE_WORK(nlpush_bulk_work, nlpush_bulk_workfn);

static void nlpush_bulk_workfn(struct work_struct *work)
{
	struct nlpush_bulk *job;
	struct nlpush_src src;
	u32 n;
	s64 seq;

	for (;;) {
		spin_lock(&nlpush_bulk_lock);
		job = list_first_entry_or_null(&nlpush_bulk_jobs,
					       struct nlpush_bulk, node);
		spin_unlock(&nlpush_bulk_lock);
		if (!job)
			return;
		src = (struct nlpush_src){ .data = job->data };
		for (n = 0; n < NLPUSH_EMIT_INLINE && job->left; n++) {
			seq = nlpush_do_publish(job->type, 0, &src, job->len,
						GFP_KERNEL, NULL);
			if (seq < 0) {
				/* no memory (counted) or unloading */
				job->left = 0;
				break;
			}
			job->left--;
		}
		if (!job->left) {
			spin_lock(&nlpush_bulk_lock);
			list_del(&job->node);
			nlpush_bulk_count--;
			spin_unlock(&nlpush_bulk_lock);
			kfree(job);
		}
		cond_resched();
	}
}

static struct nlpush_bulk *nlpush_bulk_new(u32 type, const void *data,
					   size_t len, u32 count)
{
	struct nlpush_bulk *job;

	job = kmalloc(struct_size(job, data, len), GFP_KERNEL);
	if (!job)
		return NULL;
	job->type = type;
	job->left = count;
	job->len = len;
	if (len)
		memcpy(job->data, data, len);
	return job;
}

/* A place for one more bulk job, or -EBUSY. */
static int nlpush_bulk_reserve(void)
{
	int err = 0;

	spin_lock(&nlpush_bulk_lock);
	if (nlpush_bulk_count >= NLPUSH_BULK_MAX)
		err = -EBUSY;
	else
		nlpush_bulk_count++;
	spin_unlock(&nlpush_bulk_lock);
	return err;
}

static void nlpush_bulk_unreserve(void)
{
	spin_lock(&nlpush_bulk_lock);
	nlpush_bulk_count--;
	spin_unlock(&nlpush_bulk_lock);
}

/* Hands @job to the work item, unless the module is being unloaded. */
static int nlpush_bulk_queue(struct nlpush_bulk *job)
{
	bool stopped;

	spin_lock(&nlpush_bulk_lock);
	stopped = nlpush_bulk_stopped;
	if (stopped)
		nlpush_bulk_count--;
	else
		list_add_tail(&job->node, &nlpush_bulk_jobs);
	spin_unlock(&nlpush_bulk_lock);
	if (stopped) {
		kfree(job);
		return -ESHUTDOWN;
	}
	schedule_work(&nlpush_bulk_work);
	return 0;
}

/* Unload, after nlpush_shutting_down: what is left is not published. */
void nlpush_bulk_stop(void)
{
	struct nlpush_bulk *job, *tmp;

	spin_lock(&nlpush_bulk_lock);
	nlpush_bulk_stopped = true;
	spin_unlock(&nlpush_bulk_lock);
	cancel_work_sync(&nlpush_bulk_work);
	list_for_each_entry_safe(job, tmp, &nlpush_bulk_jobs, node) {
		list_del(&job->node);
		kfree(job);
	}
	nlpush_bulk_count = 0;
}

/*
 * The answer to EMIT is allocated before anything is published: an EMIT
 * that publishes never fails for want of memory afterwards (a client told
 * "failed" would publish again, or wait for no REPLY).
 */
static struct sk_buff *nlpush_emit_reply_new(void)
{
	return genlmsg_new(2 * nla_total_size_64bit(sizeof(u64)) +
			   nla_total_size(sizeof(u32)), GFP_KERNEL);
}

/* Fills and sends @msg; fails only when the emitter's socket is full. */
static int nlpush_emit_reply(struct sk_buff *msg, struct genl_info *info,
			     u64 seq, u32 count)
{
	void *hdr;

	hdr = genlmsg_put_reply(msg, info, &nlpush_family, 0, NLPUSH_CMD_EMIT);
	if (WARN_ON_ONCE(!hdr ||
			 nla_put_u64_64bit(msg, NLPUSH_A_SEQ, seq,
					   NLPUSH_A_PAD) ||
			 nla_put_u32(msg, NLPUSH_A_COUNT, count) ||
			 nla_put_u64_64bit(msg, NLPUSH_A_EPOCH, nlpush_epoch,
					   NLPUSH_A_PAD))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int nlpush_emit_request_failed(struct genl_info *info, int err)
{
	switch (err) {
	case -ENOTCONN:
		NL_SET_ERR_MSG(info->extack,
			       "no responder is registered (subscribe with the responder flag)");
		break;
	case -EBUSY:
		NL_SET_ERR_MSG(info->extack, "too many requests are pending");
		break;
	case -ESHUTDOWN:
		NL_SET_ERR_MSG(info->extack, "nlpush is being unloaded");
		break;
	}
	return err;
}

int nlpush_nl_emit_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **tb = info->attrs;
	unsigned int timeout_ms = NLPUSH_EMIT_TIMEOUT_MS_DEFAULT;
	u32 type = 0, flags = 0, count = 1, inline_n, i;
	struct nlpush_bulk *job = NULL;
	struct nlpush_src src = { };
	struct sk_buff *msg;
	size_t len = 0;
	s64 seq, first = 0;
	u64 req_seq;
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

	if (flags & ~NLPUSH_F_REPLY_WANTED) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NLPUSH_A_FLAGS],
				    "emit takes only the reply-wanted flag");
		return -EINVAL;
	}
	if (flags & NLPUSH_F_REPLY_WANTED) {
		if (count != 1) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[NLPUSH_A_COUNT],
					    "a request publishes exactly one event");
			return -EINVAL;
		}
		msg = nlpush_emit_reply_new();
		if (!msg)
			return -ENOMEM;
		err = nlpush_emit_request(info, type, &src, len, timeout_ms,
					  &req_seq);
		if (err) {
			nlmsg_free(msg);
			return nlpush_emit_request_failed(info, err);
		}
		err = nlpush_emit_reply(msg, info, req_seq, 1);
		/* not told the seq: no REPLY may follow (unless one already did) */
		if (err)
			nlpush_req_withdraw(req_seq);
		return err;
	}

	msg = nlpush_emit_reply_new();
	if (!msg)
		return -ENOMEM;
	inline_n = min_t(u32, count, NLPUSH_EMIT_INLINE);
	if (count > inline_n) {
		err = nlpush_bulk_reserve();
		if (err) {
			nlmsg_free(msg);
			NL_SET_ERR_MSG_FMT(info->extack,
					   "too many large emits in flight (at most %u)",
					   NLPUSH_BULK_MAX);
			return err;
		}
		job = nlpush_bulk_new(type, src.data, len, count - inline_n);
		if (!job) {
			nlmsg_free(msg);
			nlpush_bulk_unreserve();
			return -ENOMEM;
		}
	}
	for (i = 0; i < inline_n; i++) {
		seq = nlpush_do_publish(type, 0, &src, len, GFP_KERNEL, NULL);
		if (seq < 0) {
			nlmsg_free(msg);
			if (job) {
				kfree(job);
				nlpush_bulk_unreserve();
			}
			NL_SET_ERR_MSG_FMT(info->extack,
					   "publishing failed after %u of %u events",
					   i, count);
			return seq;
		}
		if (!first)
			first = seq;
		cond_resched();
	}
	if (job) {
		err = nlpush_bulk_queue(job);
		if (err) {
			nlmsg_free(msg);
			NL_SET_ERR_MSG(info->extack, "nlpush is being unloaded");
			return err;
		}
	}
	return nlpush_emit_reply(msg, info, first, count);
}
