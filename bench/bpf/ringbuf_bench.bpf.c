// SPDX-License-Identifier: GPL-2.0
/*
 * ringbuf_bench.bpf.c - the producer of the BPF ring buffer benchmark,
 * the yardstick nlpush is measured against (BENCHMARKS.md).
 *
 * Like the kernel's own bench (tools/testing/selftests/bpf/progs/
 * ringbuf_bench.c), a syscall triggers it: every getpgid() of the
 * benchmark's process runs bpf_loop() over up to `batch` records, each
 * reserved in the ring, stamped with its sequence number and
 * bpf_ktime_get_ns(), filled and submitted (default wake-up policy: the
 * consumer is woken only when it has caught up). It stops once `total`
 * records were produced; a record that does not fit (ring full) is
 * counted in `dropped` and its sequence number is skipped, so the
 * consumer sees the hole.
 *
 * No vmlinux.h and no CO-RE: the program reads nothing of the kernel's
 * structures; libbpf resolves the fentry target in the running kernel's
 * BTF (/sys/kernel/btf/vmlinux) at load time.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "ringbuf_bench.h"

#ifndef SYS_PREFIX
#error "SYS_PREFIX (the architecture's syscall symbol prefix, e.g. __x64_) not defined"
#endif

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);	/* resized by the consumer before load */
} rb SEC(".maps");

/* set by the consumer before load: constants for the verifier */
const volatile __u32 target_tgid;
const volatile __u32 payload_size = 64;	/* <= RB_PAYLOAD_MAX */
const volatile __u32 batch = 1000;	/* records per getpgid() */
const volatile __u64 total;		/* records to produce */
const volatile __u8 pattern[RB_PAYLOAD_MOD + RB_PAYLOAD_MAX];	/* k % 251 */

/* read by the consumer through the mmap()ed .bss */
__u64 produced;		/* sequence number of the last record produced */
__u64 dropped;		/* records that did not fit in the ring */

static long rb_produce_one(__u32 index, void *ctx)
{
	struct rb_record *r;
	__u64 n = payload_size, i, v;
	__u64 seq;

	if (produced >= total)
		return 1;		/* stop the loop */
	seq = ++produced;
	/*
	 * the first payload byte; the check, which clang cannot drop past
	 * barrier_var(), tells the verifier the table index is bounded
	 */
	v = seq % RB_PAYLOAD_MOD;
	barrier_var(v);
	if (v >= RB_PAYLOAD_MOD)
		return 1;
	r = bpf_ringbuf_reserve(&rb, sizeof(*r) + n, 0);
	if (!r) {
		dropped++;
		return 0;
	}
	r->seq = seq;
	r->ts_ns = bpf_ktime_get_ns();
	/*
	 * nlpush_test's fill, byte by byte: (seq + i) % 251, read from a table
	 * (a branch per byte would make the verifier walk every combination)
	 */
	for (i = 0; i < n && i < RB_PAYLOAD_MAX; i++)
		r->payload[i] = pattern[v + i];
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("fentry/" SYS_PREFIX "sys_getpgid")
int rb_produce(void *ctx)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	bpf_loop(batch, rb_produce_one, NULL, 0);
	return 0;
}
