/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nlpush in-kernel API: publish events to userspace listeners and wait for
 * their replies. Exported by nlpush.ko; see docs/kernel-api.md.
 */
#ifndef _NLPUSH_H
#define _NLPUSH_H

#include <linux/types.h>
#include <linux/gfp.h>
#include <uapi/linux/nlpush.h>

/**
 * struct nlpush_reply - a listener's answer to nlpush_request()
 * @seq: sequence number of the request event
 * @status: status the listener sent (NLPUSH_A_STATUS, 0 when absent)
 * @portid: netlink port id of the socket that answered
 * @len: length of @data in bytes
 * @data: reply payload (kmalloc'ed, NULL when @len is 0);
 *	release with nlpush_reply_free()
 */
struct nlpush_reply {
	u64 seq;
	s32 status;
	u32 portid;
	size_t len;
	void *data;
};

/**
 * nlpush_publish() - send one event to every listener of "events"
 * @type: producer-chosen event type (NLPUSH_A_TYPE)
 * @payload: event payload, copied; may be NULL when @len is 0
 * @len: payload length, at most NLPUSH_PAYLOAD_MAX
 * @gfp: allocation flags for the caller's context (GFP_KERNEL, GFP_ATOMIC)
 *
 * Context: any context except hard interrupt handlers; does not sleep
 * unless @gfp allows it. Events are delivered in sequence-number order.
 *
 * Return: the event's sequence number (>= 1), or -EMSGSIZE, -ENOMEM,
 * -ESHUTDOWN (module going away). Publishing with no listener succeeds:
 * the event is counted and kept in the replay ring.
 */
s64 nlpush_publish(u32 type, const void *payload, size_t len, gfp_t gfp);

/**
 * nlpush_request() - publish an event and wait for a responder's answer
 * @type: producer-chosen event type
 * @payload: request payload, copied; may be NULL when @len is 0
 * @len: payload length, at most NLPUSH_PAYLOAD_MAX
 * @timeout_ms: how long to wait, 1..NLPUSH_TIMEOUT_MS_MAX
 * @reply: filled on success; release with nlpush_reply_free()
 *
 * The event carries NLPUSH_F_REPLY_WANTED. Only an NLPUSH_CMD_ACK with a
 * status, from a socket subscribed with NLPUSH_F_RESPONDER, completes the
 * request; the first one wins.
 *
 * Context: process context, may sleep (killable). Never call it with
 * genetlink locks held (from a generic netlink handler) or under a lock
 * such a handler may take: sleeping there stalls generic netlink for the
 * whole host.
 *
 * Return: 0 with @reply filled (the responder's verdict is @reply->status),
 * -ENOTCONN when no responder is registered (at once) or the last one went
 * away while waiting, -ETIMEDOUT, -EINTR on a fatal signal, -ESHUTDOWN when
 * the module is being removed, -EBUSY when too many requests wait, -EINVAL,
 * -EMSGSIZE, -ENOMEM.
 */
int nlpush_request(u32 type, const void *payload, size_t len,
		   unsigned int timeout_ms, struct nlpush_reply *reply);

/**
 * nlpush_reply_free() - release the payload of a reply
 * @reply: reply filled by nlpush_request(); may be NULL
 */
void nlpush_reply_free(struct nlpush_reply *reply);

/**
 * typedef nlpush_fill_t - writes a payload once its sequence number is known
 * @buf: where to write exactly @len bytes
 * @len: payload length requested by the producer
 * @seq: sequence number the event has been given
 * @ctx: the producer's context pointer
 *
 * Called with the channel's spinlock held and interrupts disabled: it must
 * be short and must not sleep.
 */
typedef void (*nlpush_fill_t)(void *buf, size_t len, u64 seq, void *ctx);

/**
 * nlpush_publish_fill() - nlpush_publish() for a payload that embeds or
 *	depends on the event's own sequence number
 * @type: producer-chosen event type
 * @len: payload length, at most NLPUSH_PAYLOAD_MAX
 * @fill: writes the payload (see &nlpush_fill_t)
 * @ctx: passed to @fill
 * @gfp: allocation flags for the caller's context
 *
 * Context and return value: as nlpush_publish().
 */
s64 nlpush_publish_fill(u32 type, size_t len, nlpush_fill_t fill, void *ctx,
			gfp_t gfp);

/**
 * nlpush_request_fill() - nlpush_request() with a payload written by @fill
 * @type: producer-chosen event type
 * @len: payload length, at most NLPUSH_PAYLOAD_MAX
 * @fill: writes the payload (see &nlpush_fill_t)
 * @ctx: passed to @fill
 * @timeout_ms: how long to wait, 1..NLPUSH_TIMEOUT_MS_MAX
 * @reply: filled on success; release with nlpush_reply_free()
 *
 * Context and return value: as nlpush_request().
 */
int nlpush_request_fill(u32 type, size_t len, nlpush_fill_t fill, void *ctx,
			unsigned int timeout_ms, struct nlpush_reply *reply);

#endif /* _NLPUSH_H */
