/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nlpush internals shared by the module's files. Each file owns one
 * concept and the state that goes with it:
 *
 *   main.c         module parameters, the epoch, load and unload order
 *   publish.c      nlpush_publish(): sequence numbers, the event message
 *   ring.c         the replay ring and the REPLAY dump
 *   txq.c          the transmit queue and its flusher
 *   request.c      requests waiting for a responder, REPLY messages
 *   subscribers.c  the subscriber table, SUBSCRIBE, UNSUBSCRIBE, dumps
 *   netlink.c      ACK, GET_STATS and EMIT handlers
 *   nlpush-nl.c    policies and the ops table, generated from nlpush.yaml
 *
 * Locking (the only nesting: nlpush_lock inside nlpush_sub_lock, where a
 * responder joins or leaves; no lock is held while sending):
 *  - nlpush_lock (spinlock, irqs disabled: producers may hold their own
 *    irq-safe locks) protects the sequence counter, the replay ring, the
 *    transmit queue and its flusher flag, the pending requests, the
 *    responder count, the shutdown flag and the counters in nlpush_stats.
 *  - nlpush_sub_lock (spinlock, process context and the netlink release
 *    notifier) protects the subscriber table.
 *  - nlpush_bulk_lock (spinlock) protects the list of bulk EMIT jobs.
 * Nothing sleeps under any of them; sends (multicast, unicast) happen with
 * no lock held, from process context or softirq (the flusher).
 */
#ifndef _NLPUSH_INTERNAL_H
#define _NLPUSH_INTERNAL_H

#include <linux/completion.h>
#include <linux/list.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>

#include <nlpush.h>
#include "compat.h"

/* Requests waiting at once (sync and async); -EBUSY beyond. */
#define NLPUSH_REQUESTS_MAX		1024
/* Default NLPUSH_A_TIMEOUT_MS of EMIT with NLPUSH_F_REPLY_WANTED. */
#define NLPUSH_EMIT_TIMEOUT_MS_DEFAULT	1000
/* Events one EMIT publishes before replying; a work item does the rest. */
#define NLPUSH_EMIT_INLINE		256
/* Bulk EMITs (COUNT > NLPUSH_EMIT_INLINE) in flight; -EBUSY beyond. */
#define NLPUSH_BULK_MAX			16
/* Events one flush sends before it yields to the work item. */
#define NLPUSH_TX_BUDGET		64

/* main.c: module parameters, read-only once loaded */
extern unsigned int nlpush_ring_events;
extern unsigned int nlpush_ring_bytes;
extern unsigned int nlpush_txq_bytes;
extern unsigned int nlpush_tx_batch_bytes;
extern bool nlpush_unprivileged_listen;

extern struct genl_family nlpush_family;
extern u64 nlpush_epoch;	/* random, non-zero, set before registration */

extern spinlock_t nlpush_lock;

/* Counters under nlpush_lock. */
struct nlpush_counters {
	u64 published;
	u64 requests;
	u64 replies;
	u64 request_timeouts;
	u64 requests_failed;
	u64 acks;
	u64 acks_rejected;
	u64 replayed;
	u64 txq_drops;
};
extern struct nlpush_counters nlpush_stats;
/* nlpush_lock */
extern bool nlpush_shutting_down;
extern u64 nlpush_next_seq;

/* Counters updated without nlpush_lock. */
extern atomic64_t nlpush_publish_failures;
extern atomic64_t nlpush_delivered;
extern atomic64_t nlpush_no_listeners;
extern atomic64_t nlpush_delivery_errors;
extern atomic64_t nlpush_replies_undelivered;

/* ring.c: one event kept for replay, shared with dumps by refcount */
struct nlpush_entry {
	refcount_t ref;
	u64 seq;
	u64 ts;
	u32 type;
	u32 flags;
	u32 len;
	u32 charge;	/* bytes allocated, added to the ring's usage */
	u8 data[];
};

struct nlpush_ring_state {
	u32 events;	/* held now */
	u64 bytes;
	u64 oldest_seq;
};

int nlpush_ring_init(void);
void nlpush_ring_free(void);
struct nlpush_entry *nlpush_entry_alloc(size_t len, gfp_t gfp);
void nlpush_entry_put(struct nlpush_entry *e);
void nlpush_ring_add(struct nlpush_entry *e);			/* nlpush_lock */
bool nlpush_ring_is_request(u64 seq);				/* nlpush_lock */
void nlpush_ring_state(struct nlpush_ring_state *st);		/* nlpush_lock */
int nlpush_put_event(struct sk_buff *skb, u32 portid, u32 nlseq,
		     u8 cmd, u16 nlflags, const struct nlpush_entry *e,
		     u32 extra_flags);

/* publish.c */
struct nlpush_src {
	const void *data;
	nlpush_fill_t fill;
	void *ctx;
};
struct nlpush_req;
s64 nlpush_do_publish(u32 type, u32 flags, const struct nlpush_src *src,
		      size_t len, gfp_t gfp, struct nlpush_req *req);
size_t nlpush_event_size(size_t len);
unsigned int nlpush_event_msg_size(size_t len);

/* txq.c */
void nlpush_txq_init(void);
bool nlpush_txq_may_append(unsigned int size);
struct sk_buff *nlpush_txq_alloc(unsigned int size, gfp_t gfp);
struct sk_buff *nlpush_txq_target(unsigned int size,
				  struct sk_buff *own);		/* nlpush_lock */
bool nlpush_txq_add(struct sk_buff *skb, u64 now, bool *dropped); /* nlpush_lock */
void nlpush_txq_kick(void);
void nlpush_txq_stop(void);
u64 nlpush_txq_bytes_now(void);					/* nlpush_lock */

/* request.c: a request waiting for a responder's answer */
struct nlpush_req {
	struct list_head node;		/* pending or failed list, nlpush_lock */
	u64 seq;
	bool async;			/* from EMIT: answered by a REPLY message */
	int err;
	/* sync (nlpush_request()) */
	struct completion done;
	bool finished;
	struct nlpush_reply reply;
	/* async: when it times out and where the REPLY goes */
	unsigned long deadline;		/* jiffies */
	const struct net *emitter_net;	/* identity only */
	u32 emitter_portid;
	u32 emitter_nlseq;
	/*
	 * async: the REPLY, allocated with the request, sized for an answer
	 * without payload: a timeout or failure never needs memory to be told
	 */
	struct sk_buff *reply_msg;
};

extern u32 nlpush_responders;					/* nlpush_lock */
int nlpush_req_admit(void);					/* nlpush_lock */
void nlpush_req_add(struct nlpush_req *req, u64 seq);		/* nlpush_lock */
bool nlpush_req_pending(u64 seq);				/* nlpush_lock */
struct nlpush_req *nlpush_req_answer(u64 seq, s32 status, u32 portid,
				     void **data, size_t len);	/* nlpush_lock */
struct sk_buff *nlpush_reply_new(size_t len, gfp_t gfp);
void nlpush_req_reply(struct nlpush_req *req, struct sk_buff *msg, int error,
		      s32 status, u32 portid, const void *data, size_t len);
bool nlpush_req_withdraw(u64 seq);				/* process */
void nlpush_responders_changed(int delta);
u32 nlpush_responders_now(void);				/* nlpush_lock */
u32 nlpush_requests_pending_now(void);				/* nlpush_lock */
void nlpush_requests_emitter_gone(const struct net *net, u32 portid);
int nlpush_emit_request(struct genl_info *info, u32 type,
			const struct nlpush_src *src, size_t len,
			unsigned int timeout_ms, u64 *seq);
void nlpush_requests_shutdown(void);

/* subscribers.c */
int nlpush_subscribers_init(void);
void nlpush_subscribers_exit(void);
bool nlpush_sub_is_responder(const struct net *net, u32 portid);
/* @seq: the last sequence number acknowledged; @count: events (1 for an answer) */
void nlpush_sub_account_ack(const struct net *net, u32 portid, u64 seq,
			    u32 count, bool reply);
u32 nlpush_subscribers_now(void);

/* netlink.c */
void nlpush_bulk_stop(void);

bool nlpush_may_listen(const struct sk_buff *skb);
int nlpush_refuse_attrs(const struct nlmsghdr *nlh,
			struct netlink_ext_ack *extack);

#endif /* _NLPUSH_INTERNAL_H */
