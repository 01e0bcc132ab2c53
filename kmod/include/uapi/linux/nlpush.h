/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * nlpush: a kernel-to-userspace push channel over generic netlink.
 *
 * This header is the protocol's single source of truth together with
 * kmod/nlpush.yaml (a YNL spec of the same family); tests/check-spec.py
 * fails the test suite when the two drift apart. It is included by the
 * kernel module, the C selftest and the Swift package.
 *
 * See docs/protocol.md for what every command and attribute means.
 */
#ifndef _UAPI_LINUX_NLPUSH_H
#define _UAPI_LINUX_NLPUSH_H

#define NLPUSH_FAMILY_NAME	"nlpush"
#define NLPUSH_FAMILY_VERSION	1
#define NLPUSH_MCGRP_EVENTS	"events"

/* Largest event or reply payload, in bytes (60 KiB). */
#define NLPUSH_PAYLOAD_MAX	61440
/* Size of a subscriber name buffer, including the terminating NUL. */
#define NLPUSH_NAME_MAX		32
/* Largest NLPUSH_A_COUNT accepted by NLPUSH_CMD_EMIT and NLPUSH_CMD_REPLAY. */
#define NLPUSH_EMIT_COUNT_MAX	1000000
/* Largest NLPUSH_A_TIMEOUT_MS accepted by NLPUSH_CMD_EMIT. */
#define NLPUSH_TIMEOUT_MS_MAX	60000

/* NLPUSH_A_FLAGS bits */
enum nlpush_event_flags {
	/* the producer waits for a reply: answer with NLPUSH_CMD_ACK */
	NLPUSH_F_REPLY_WANTED	= 1 << 0,
	/* set on events sent by a NLPUSH_CMD_REPLAY dump */
	NLPUSH_F_REPLAYED	= 1 << 1,
};

enum nlpush_cmd {
	NLPUSH_CMD_UNSPEC,
	NLPUSH_CMD_EVENT,		/* kernel to "events"; replay dumps */
	NLPUSH_CMD_ACK,			/* listener to kernel, unicast */
	NLPUSH_CMD_SUBSCRIBE,
	NLPUSH_CMD_UNSUBSCRIBE,
	NLPUSH_CMD_GET_STATS,
	NLPUSH_CMD_GET_SUBSCRIBERS,	/* dump */
	NLPUSH_CMD_REPLAY,		/* dump */
	NLPUSH_CMD_EMIT,

	__NLPUSH_CMD_MAX,
	NLPUSH_CMD_MAX = __NLPUSH_CMD_MAX - 1
};

enum nlpush_attr {
	NLPUSH_A_UNSPEC,
	NLPUSH_A_PAD,
	NLPUSH_A_SEQ,			/* u64 */
	NLPUSH_A_TIMESTAMP_NS,		/* u64, CLOCK_MONOTONIC at publish */
	NLPUSH_A_TYPE,			/* u32, chosen by the producer */
	NLPUSH_A_FLAGS,			/* u32, enum nlpush_event_flags */
	NLPUSH_A_PAYLOAD,		/* binary, 0..NLPUSH_PAYLOAD_MAX bytes */
	NLPUSH_A_STATUS,		/* s32 */
	NLPUSH_A_NAME,			/* NUL-terminated string */
	NLPUSH_A_COUNT,			/* u32 */
	NLPUSH_A_PORTID,		/* u32 */
	NLPUSH_A_STATS,			/* nest, enum nlpush_stats_attr */
	NLPUSH_A_SUBSCRIBER,		/* nest, enum nlpush_subscriber_attr */
	NLPUSH_A_TIMEOUT_MS,		/* u32 */

	__NLPUSH_A_MAX,
	NLPUSH_A_MAX = __NLPUSH_A_MAX - 1
};

enum nlpush_stats_attr {
	NLPUSH_STATS_A_UNSPEC,
	NLPUSH_STATS_A_PAD,
	NLPUSH_STATS_A_PUBLISHED,		/* u64 */
	NLPUSH_STATS_A_DELIVERED,		/* u64 */
	NLPUSH_STATS_A_NO_LISTENERS,		/* u64 */
	NLPUSH_STATS_A_DELIVERY_ERRORS,		/* u64 */
	NLPUSH_STATS_A_PUBLISH_FAILURES,	/* u64 */
	NLPUSH_STATS_A_ACKS,			/* u64 */
	NLPUSH_STATS_A_ACKS_REJECTED,		/* u64 */
	NLPUSH_STATS_A_REQUESTS,		/* u64 */
	NLPUSH_STATS_A_REPLIES,			/* u64 */
	NLPUSH_STATS_A_REQUEST_TIMEOUTS,	/* u64 */
	NLPUSH_STATS_A_REQUESTS_PENDING,	/* u32 */
	NLPUSH_STATS_A_SUBSCRIBERS,		/* u32 */
	NLPUSH_STATS_A_OLDEST_SEQ,		/* u64 */
	NLPUSH_STATS_A_NEXT_SEQ,		/* u64 */
	NLPUSH_STATS_A_RING_EVENTS,		/* u32 */
	NLPUSH_STATS_A_RING_BYTES,		/* u64 */
	NLPUSH_STATS_A_RING_MAX_EVENTS,		/* u32 */
	NLPUSH_STATS_A_RING_MAX_BYTES,		/* u64 */
	NLPUSH_STATS_A_REPLAYED,		/* u64 */

	__NLPUSH_STATS_A_MAX,
	NLPUSH_STATS_A_MAX = __NLPUSH_STATS_A_MAX - 1
};

enum nlpush_subscriber_attr {
	NLPUSH_SUBSCRIBER_A_UNSPEC,
	NLPUSH_SUBSCRIBER_A_PAD,
	NLPUSH_SUBSCRIBER_A_PORTID,		/* u32 */
	NLPUSH_SUBSCRIBER_A_NAME,		/* string */
	NLPUSH_SUBSCRIBER_A_PID,		/* u32, tgid that subscribed */
	NLPUSH_SUBSCRIBER_A_ACKS,		/* u64 */
	NLPUSH_SUBSCRIBER_A_LAST_ACKED_SEQ,	/* u64 */
	NLPUSH_SUBSCRIBER_A_REPLIES,		/* u64 */
	NLPUSH_SUBSCRIBER_A_SUBSCRIBED_NS,	/* u64, CLOCK_MONOTONIC */

	__NLPUSH_SUBSCRIBER_A_MAX,
	NLPUSH_SUBSCRIBER_A_MAX = __NLPUSH_SUBSCRIBER_A_MAX - 1
};

#endif /* _UAPI_LINUX_NLPUSH_H */
