/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringbuf_bench.h - the record the BPF producer (ringbuf_bench.bpf.c)
 * writes into the ring buffer and the consumer (ringbuf_bench.c) reads:
 * a sequence number and a CLOCK_MONOTONIC timestamp (bpf_ktime_get_ns(),
 * the clock of nlpush's TIMESTAMP_NS), then the payload, filled like
 * nlpush_test fills an event's payload.
 */
#ifndef RINGBUF_BENCH_H
#define RINGBUF_BENCH_H

#define RB_PAYLOAD_MAX	16384	/* bytes; the verifier walks the fill loop */
#define RB_PAYLOAD_MOD	251	/* payload byte i of record seq: (seq + i) % 251 */

struct rb_record {
	__u64 seq;	/* 1, 2, ...: gaps are records the producer dropped */
	__u64 ts_ns;	/* bpf_ktime_get_ns() just before the payload is filled */
	__u8 payload[];
};

#endif /* RINGBUF_BENCH_H */
