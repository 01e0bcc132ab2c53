// SPDX-License-Identifier: GPL-2.0
/*
 * The subscriber table: sockets registered with SUBSCRIBE, by name, with
 * their ack counters; those registered with NLPUSH_F_RESPONDER may answer
 * requests.
 *
 * The table is protected by nlpush_sub_lock (process context and the
 * netlink release notifier). nlpush_lock nests inside it, to keep the
 * responder count in step with the table; never the other way round. A registration
 * ends with UNSUBSCRIBE or when its socket is released: port ids are only
 * unique per network namespace, so a socket is matched on both.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <net/genetlink.h>
#include <net/sock.h>

#include "internal.h"
#include "nlpush-nl.h"

#define NLPUSH_SUBSCRIBERS_MAX		1024

struct nlpush_sub {
	struct list_head node;
	u64 id;
	const struct net *net;	/* identity only, never dereferenced */
	u32 portid;
	u32 pid;
	u32 flags;		/* NLPUSH_F_RESPONDER */
	u64 acks;
	u64 last_acked_seq;
	u64 replies;
	u64 subscribed_ns;
	char name[NLPUSH_NAME_MAX];
};

static DEFINE_SPINLOCK(nlpush_sub_lock);
/* nlpush_sub_lock */
static LIST_HEAD(nlpush_subs);
static u32 nlpush_sub_count;
static u64 nlpush_sub_next_id = 1;

/* nlpush_sub_lock held */
static struct nlpush_sub *nlpush_sub_find(const struct net *net, u32 portid)
{
	struct nlpush_sub *s;

	list_for_each_entry(s, &nlpush_subs, node)
		if (s->net == net && s->portid == portid)
			return s;
	return NULL;
}

bool nlpush_sub_is_responder(const struct net *net, u32 portid)
{
	struct nlpush_sub *s;
	bool yes;

	spin_lock(&nlpush_sub_lock);
	s = nlpush_sub_find(net, portid);
	yes = s && (s->flags & NLPUSH_F_RESPONDER);
	spin_unlock(&nlpush_sub_lock);
	return yes;
}

void nlpush_sub_account_ack(const struct net *net, u32 portid, u64 seq,
			    u32 count, bool reply)
{
	struct nlpush_sub *s;

	spin_lock(&nlpush_sub_lock);
	s = nlpush_sub_find(net, portid);
	if (s) {
		s->acks += count;
		if (seq > s->last_acked_seq)
			s->last_acked_seq = seq;
		if (reply)
			s->replies++;
	}
	spin_unlock(&nlpush_sub_lock);
}

u32 nlpush_subscribers_now(void)
{
	u32 n;

	spin_lock(&nlpush_sub_lock);
	n = nlpush_sub_count;
	spin_unlock(&nlpush_sub_lock);
	return n;
}

/*
 * Takes @s off the table; the caller frees it. nlpush_sub_lock held: the
 * responder count changes in the same critical section as the table.
 */
static void nlpush_sub_unlink(struct nlpush_sub *s)
{
	list_del(&s->node);
	nlpush_sub_count--;
	if (s->flags & NLPUSH_F_RESPONDER)
		nlpush_responders_changed(-1);
}

/*
 * The release notifier runs in atomic context, after the port id was
 * unhashed: the socket's registration and its unanswered EMIT requests
 * go away with it.
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
	if (s)
		nlpush_sub_unlink(s);
	spin_unlock(&nlpush_sub_lock);
	kfree(s);
	nlpush_requests_emitter_gone(n->net, n->portid);
	return NOTIFY_DONE;
}

static struct notifier_block nlpush_netlink_notifier = {
	.notifier_call = nlpush_netlink_notify,
};

int nlpush_subscribers_init(void)
{
	return netlink_register_notifier(&nlpush_netlink_notifier);
}

/* After the family is gone: no handler and no notifier runs any more. */
void nlpush_subscribers_exit(void)
{
	struct nlpush_sub *s, *tmp;

	/* synchronizes with a running notifier */
	netlink_unregister_notifier(&nlpush_netlink_notifier);
	list_for_each_entry_safe(s, tmp, &nlpush_subs, node) {
		list_del(&s->node);
		kfree(s);
	}
	nlpush_sub_count = 0;
}

int nlpush_nl_subscribe_doit(struct sk_buff *skb, struct genl_info *info)
{
	const struct net *net = genl_info_net(info);
	struct nlattr *name = info->attrs[NLPUSH_A_NAME];
	struct nlattr *flags = info->attrs[NLPUSH_A_FLAGS];
	struct nlpush_sub *s;
	int err = 0;

	if (GENL_REQ_ATTR_CHECK(info, NLPUSH_A_NAME))
		return -EINVAL;
	if (nla_len(name) < 2) {
		NL_SET_ERR_MSG_ATTR(info->extack, name,
				    "subscriber name must not be empty");
		return -EINVAL;
	}
	if (flags && (nla_get_u32(flags) & ~NLPUSH_F_RESPONDER)) {
		NL_SET_ERR_MSG_ATTR(info->extack, flags,
				    "subscribe takes only the responder flag");
		return -EINVAL;
	}

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	nla_strscpy(s->name, name, sizeof(s->name));
	s->net = net;
	s->portid = info->snd_portid;
	s->pid = task_tgid_nr(current);
	s->flags = flags ? nla_get_u32(flags) : 0;
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
		if (s->flags & NLPUSH_F_RESPONDER)
			nlpush_responders_changed(1);
		s = NULL;
	}
	spin_unlock(&nlpush_sub_lock);
	kfree(s);
	return err;
}

int nlpush_nl_unsubscribe_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlpush_sub *s;
	int err;

	err = nlpush_refuse_attrs(info->nlhdr, info->extack);
	if (err)
		return err;
	spin_lock(&nlpush_sub_lock);
	s = nlpush_sub_find(genl_info_net(info), info->snd_portid);
	if (s)
		nlpush_sub_unlink(s);
	spin_unlock(&nlpush_sub_lock);
	if (!s) {
		NL_SET_ERR_MSG(info->extack, "this socket is not subscribed");
		return -ENOENT;
	}
	kfree(s);
	return 0;
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
			      s->subscribed_ns, NLPUSH_SUBSCRIBER_A_PAD) ||
	    nla_put_u32(skb, NLPUSH_SUBSCRIBER_A_FLAGS, s->flags)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
}

int nlpush_nl_get_subscribers_start(struct netlink_callback *cb)
{
	return nlpush_refuse_attrs(cb->nlh, cb->extack);
}

/* cb->args[0]: id of the next subscriber to dump */
int nlpush_nl_get_subscribers_dumpit(struct sk_buff *skb,
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
