// SPDX-License-Identifier: GPL-2.0
/*
 * Requests: an event with NLPUSH_F_REPLY_WANTED that waits for a
 * responder's answer.
 *
 * Two kinds share one pending list (nlpush_lock, at most
 * NLPUSH_REQUESTS_MAX entries):
 *  - nlpush_request() from a driver sleeps on a completion, in the
 *    driver's own process context, never in a netlink handler;
 *  - EMIT with NLPUSH_F_REPLY_WANTED returns at once; its answer, or its
 *    failure, is unicast later to the emitting socket as NLPUSH_CMD_REPLY.
 *    Such a request's deadline is kept by one delayed work item, armed for
 *    the earliest deadline, which also sends the REPLY of requests failed
 *    from atomic context (the last responder went away).
 *
 * A request is admitted only while a responder is registered; when the
 * last responder goes away, every pending request fails with -ENOTCONN.
 * When the emitting socket goes away, its requests are dropped silently.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>

#include "internal.h"
#include "nlpush-nl.h"

/* nlpush_lock */
static LIST_HEAD(nlpush_reqs);		/* pending, in seq order */
static u32 nlpush_reqs_count;
static LIST_HEAD(nlpush_reqs_failed);	/* async, REPLY still to send */
static unsigned long nlpush_req_next_deadline;
static bool nlpush_req_armed;
u32 nlpush_responders;

static void nlpush_req_workfn(struct work_struct *work);
static DECLARE_DELAYED_WORK(nlpush_req_work, nlpush_req_workfn);

/* nlpush_lock held */
u32 nlpush_requests_pending_now(void)
{
	return nlpush_reqs_count;
}

/* nlpush_lock held: may one more request be published? */
int nlpush_req_admit(void)
{
	if (!nlpush_responders)
		return -ENOTCONN;
	if (nlpush_reqs_count >= NLPUSH_REQUESTS_MAX)
		return -EBUSY;
	return 0;
}

/* nlpush_lock held */
static void nlpush_req_arm(unsigned long deadline)
{
	if (nlpush_req_armed &&
	    !time_before(deadline, nlpush_req_next_deadline))
		return;
	nlpush_req_armed = true;
	nlpush_req_next_deadline = deadline;
	mod_delayed_work(system_wq, &nlpush_req_work,
			 time_after(deadline, jiffies) ? deadline - jiffies : 0);
}

/* nlpush_lock held, after nlpush_req_admit() */
void nlpush_req_add(struct nlpush_req *req, u64 seq)
{
	req->seq = seq;
	list_add_tail(&req->node, &nlpush_reqs);
	nlpush_reqs_count++;
	nlpush_stats.requests++;
	if (req->async)
		nlpush_req_arm(req->deadline);
}

/* nlpush_lock held */
bool nlpush_req_pending(u64 seq)
{
	struct nlpush_req *req;

	list_for_each_entry(req, &nlpush_reqs, node)
		if (req->seq == seq)
			return true;
	return false;
}

/* nlpush_lock held: end @req with @err (sync: wake it; async: REPLY later) */
static bool nlpush_req_fail_locked(struct nlpush_req *req, int err)
{
	list_del(&req->node);
	nlpush_reqs_count--;
	nlpush_stats.requests_failed++;
	if (!req->async) {
		req->err = err;
		req->finished = true;
		complete(&req->done);
		return false;
	}
	req->err = err;
	list_add_tail(&req->node, &nlpush_reqs_failed);
	return true;
}

/* nlpush_lock held */
static bool nlpush_req_fail_all_locked(int err)
{
	struct nlpush_req *req, *tmp;
	bool queued = false;

	list_for_each_entry_safe(req, tmp, &nlpush_reqs, node)
		queued |= nlpush_req_fail_locked(req, err);
	return queued;
}

/*
 * nlpush_lock held. Answers the pending request @seq: a sync one is
 * completed here (it takes over *@data); an async one is taken off the
 * list and returned, for nlpush_req_reply() once the lock is dropped.
 * Returns NULL when a sync request was answered, ERR_PTR(-ENOENT) when
 * @seq is not pending.
 */
struct nlpush_req *nlpush_req_answer(u64 seq, s32 status, u32 portid,
				     void **data, size_t len)
{
	struct nlpush_req *req;

	list_for_each_entry(req, &nlpush_reqs, node) {
		if (req->seq != seq)
			continue;
		list_del(&req->node);
		nlpush_reqs_count--;
		nlpush_stats.replies++;
		if (req->async)
			return req;
		req->reply.seq = seq;
		req->reply.status = status;
		req->reply.portid = portid;
		req->reply.data = *data;
		req->reply.len = len;
		*data = NULL;
		req->err = 0;
		req->finished = true;
		complete(&req->done);
		return NULL;
	}
	return ERR_PTR(-ENOENT);
}

static size_t nlpush_reply_size(size_t len)
{
	return 2 * nla_total_size_64bit(sizeof(u64)) +	/* SEQ, EPOCH */
	       3 * nla_total_size(sizeof(u32)) +	/* ERROR, STATUS, PORTID */
	       nla_total_size(len);			/* PAYLOAD */
}

/* A REPLY message with room for an answer carrying @len bytes. */
struct sk_buff *nlpush_reply_new(size_t len, gfp_t gfp)
{
	return genlmsg_new(nlpush_reply_size(len), gfp);
}

static void nlpush_req_free(struct nlpush_req *req)
{
	nlmsg_free(req->reply_msg);	/* NULL-safe */
	kfree(req);
}

/*
 * Sends the REPLY of an async request (@error 0: answered with @status,
 * @data from the responder @portid) and frees it. @msg is a message of
 * nlpush_reply_new(@len), or NULL for the one allocated with the request
 * (enough for an answer without payload). Process context; allocates
 * nothing, so a REPLY is lost only when the emitter's socket is full.
 */
void nlpush_req_reply(struct nlpush_req *req, struct sk_buff *msg, int error,
		      s32 status, u32 portid, const void *data, size_t len)
{
	void *hdr;
	int err;

	if (!msg) {
		msg = req->reply_msg;
		req->reply_msg = NULL;
	}
	hdr = genlmsg_put(msg, 0, req->emitter_nlseq, &nlpush_family, 0,
			  NLPUSH_CMD_REPLY);
	if (WARN_ON_ONCE(!hdr ||
			 nla_put_u64_64bit(msg, NLPUSH_A_SEQ, req->seq,
					   NLPUSH_A_PAD) ||
			 nla_put_u64_64bit(msg, NLPUSH_A_EPOCH, nlpush_epoch,
					   NLPUSH_A_PAD) ||
			 nla_put_s32(msg, NLPUSH_A_ERROR, error) ||
			 (!error &&
			  (nla_put_s32(msg, NLPUSH_A_STATUS, status) ||
			   nla_put_u32(msg, NLPUSH_A_PORTID, portid) ||
			   nla_put(msg, NLPUSH_A_PAYLOAD, len, data))))) {
		/* cannot happen: the message was sized for this answer */
		nlmsg_free(msg);
		err = -EMSGSIZE;
	} else {
		genlmsg_end(msg, hdr);
		/* the family lives in the initial netns only (not netnsok) */
		err = genlmsg_unicast(&init_net, msg, req->emitter_portid);
	}
	if (err)
		atomic64_inc(&nlpush_replies_undelivered);
	nlpush_req_free(req);
}

static void nlpush_req_send_failed(struct list_head *failed)
{
	struct nlpush_req *req, *tmp;

	list_for_each_entry_safe(req, tmp, failed, node) {
		list_del(&req->node);
		nlpush_req_reply(req, NULL, req->err, 0, 0, NULL, 0);
	}
}

/* Times out expired async requests and sends the REPLY of failed ones. */
static void nlpush_req_workfn(struct work_struct *work)
{
	struct nlpush_req *req, *tmp;
	unsigned long irqflags, next = 0;
	bool any = false;
	LIST_HEAD(failed);

	spin_lock_irqsave(&nlpush_lock, irqflags);
	nlpush_req_armed = false;
	list_for_each_entry_safe(req, tmp, &nlpush_reqs, node) {
		if (!req->async)
			continue;
		if (time_after_eq(jiffies, req->deadline)) {
			list_move_tail(&req->node, &failed);
			nlpush_reqs_count--;
			nlpush_stats.request_timeouts++;
			req->err = -ETIMEDOUT;
		} else if (!any || time_before(req->deadline, next)) {
			next = req->deadline;
			any = true;
		}
	}
	list_splice_tail_init(&nlpush_reqs_failed, &failed);
	if (any && !nlpush_shutting_down)
		nlpush_req_arm(next);
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	nlpush_req_send_failed(&failed);
}

/*
 * A responder registered (+1) or went away (-1). From process context or
 * the netlink release notifier (atomic).
 */
void nlpush_responders_changed(int delta)
{
	unsigned long irqflags;
	bool queued = false;

	spin_lock_irqsave(&nlpush_lock, irqflags);
	nlpush_responders += delta;
	if (!nlpush_responders)
		queued = nlpush_req_fail_all_locked(-ENOTCONN);
	if (queued && !nlpush_shutting_down)
		mod_delayed_work(system_wq, &nlpush_req_work, 0);
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
}

/* nlpush_lock held */
u32 nlpush_responders_now(void)
{
	return nlpush_responders;
}

/* The socket @portid of @net is gone: nobody will read its REPLYs. */
void nlpush_requests_emitter_gone(const struct net *net, u32 portid)
{
	struct nlpush_req *req, *tmp;
	unsigned long irqflags;
	LIST_HEAD(gone);

	spin_lock_irqsave(&nlpush_lock, irqflags);
	list_for_each_entry_safe(req, tmp, &nlpush_reqs, node) {
		if (req->async && req->emitter_net == net &&
		    req->emitter_portid == portid) {
			list_move_tail(&req->node, &gone);
			nlpush_reqs_count--;
			nlpush_stats.requests_failed++;
		}
	}
	list_for_each_entry_safe(req, tmp, &nlpush_reqs_failed, node) {
		if (req->emitter_net == net && req->emitter_portid == portid)
			list_move_tail(&req->node, &gone);
	}
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	list_for_each_entry_safe(req, tmp, &gone, node)
		nlpush_req_free(req);
}

/*
 * The EMIT that published the async request @seq could not be acknowledged
 * (its socket is full): take the request back, so that no REPLY follows an
 * EMIT that returned an error. False when it was no longer pending (its
 * REPLY is on its way).
 */
bool nlpush_req_withdraw(u64 seq)
{
	struct nlpush_req *req, *found = NULL;
	unsigned long irqflags;

	spin_lock_irqsave(&nlpush_lock, irqflags);
	list_for_each_entry(req, &nlpush_reqs, node) {
		if (req->seq == seq) {
			list_del(&req->node);
			nlpush_reqs_count--;
			nlpush_stats.requests_failed++;
			found = req;
			break;
		}
	}
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
	if (found)
		nlpush_req_free(found);
	return found;
}

/* EMIT with NLPUSH_F_REPLY_WANTED: publish, and answer later by REPLY. */
int nlpush_emit_request(struct genl_info *info, u32 type,
			const struct nlpush_src *src, size_t len,
			unsigned int timeout_ms, u64 *seq)
{
	struct nlpush_req *req;
	s64 ret;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	req->reply_msg = nlpush_reply_new(0, GFP_KERNEL);
	if (!req->reply_msg) {
		kfree(req);
		return -ENOMEM;
	}
	req->async = true;
	req->emitter_net = genl_info_net(info);
	req->emitter_portid = info->snd_portid;
	req->emitter_nlseq = info->snd_seq;
	req->deadline = jiffies + msecs_to_jiffies(timeout_ms);

	/* from here on, the request belongs to the pending list */
	ret = nlpush_do_publish(type, NLPUSH_F_REPLY_WANTED, src, len,
				GFP_KERNEL, req);
	if (ret < 0) {
		nlpush_req_free(req);
		return ret;
	}
	*seq = ret;
	return 0;
}

static int nlpush_do_request(u32 type, const struct nlpush_src *src,
			     size_t len, unsigned int timeout_ms,
			     struct nlpush_reply *reply)
{
	struct nlpush_req req = { };
	unsigned long irqflags;
	long left;
	s64 seq;
	int err;

	might_sleep();
	if (!reply || !timeout_ms || timeout_ms > NLPUSH_TIMEOUT_MS_MAX)
		return -EINVAL;
	memset(reply, 0, sizeof(*reply));

	init_completion(&req.done);
	seq = nlpush_do_publish(type, NLPUSH_F_REPLY_WANTED, src, len,
				GFP_KERNEL, &req);
	if (seq < 0)
		return seq;

	left = wait_for_completion_killable_timeout(&req.done,
						    msecs_to_jiffies(timeout_ms));

	spin_lock_irqsave(&nlpush_lock, irqflags);
	if (req.finished) {
		/* answered, or failed by the last responder leaving or rmmod */
		err = req.err;
	} else {
		list_del(&req.node);
		nlpush_reqs_count--;
		if (left == 0) {
			nlpush_stats.request_timeouts++;
			err = -ETIMEDOUT;
		} else {
			nlpush_stats.requests_failed++;
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

/*
 * Unload, after nlpush_shutting_down was set (nothing new is admitted):
 * every pending request fails with -ESHUTDOWN; async ones get their REPLY
 * before the family goes away.
 */
void nlpush_requests_shutdown(void)
{
	unsigned long irqflags;
	LIST_HEAD(failed);

	spin_lock_irqsave(&nlpush_lock, irqflags);
	nlpush_req_fail_all_locked(-ESHUTDOWN);
	spin_unlock_irqrestore(&nlpush_lock, irqflags);

	cancel_delayed_work_sync(&nlpush_req_work);

	spin_lock_irqsave(&nlpush_lock, irqflags);
	list_splice_tail_init(&nlpush_reqs_failed, &failed);
	spin_unlock_irqrestore(&nlpush_lock, irqflags);
	nlpush_req_send_failed(&failed);
}
