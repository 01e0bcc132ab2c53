// SPDX-License-Identifier: GPL-2.0
/*
 * ringbuf_bench - BPF ring buffer producer -> consumer benchmark, the
 * yardstick for nlpush's throughput (BENCHMARKS.md, "nlpush vs BPF ring
 * buffer"). Needs root (or CAP_BPF + CAP_PERFMON) and a kernel with BTF.
 *
 *   ringbuf_bench --count N [--size BYTES] [--batch N] [--ring BYTES]
 *                 [--timeout SEC] [--idle SEC]
 *
 * Loads ringbuf_bench.bpf.c (skeleton), then a producer thread calls
 * getpgid() until the BPF program, attached to its entry, has produced
 * --count records of a 16-byte header (sequence number, timestamp) and
 * --size payload bytes (default 64), --batch per call (default 1000).
 * The main thread consumes them with ring_buffer__poll() and checks each
 * record's length, sequence number and payload.
 *
 * Throughput as bench/vmbench.py defines it for nlpush: records from the
 * first record's timestamp (bpf_ktime_get_ns(), CLOCK_MONOTONIC) to the
 * CLOCK_MONOTONIC time its last one was consumed. The ring holds the whole
 * burst by default (--ring: a power of two >= count * record footprint),
 * as the nlpush cells use a receive buffer that does.
 *
 * Prints one JSON line: records, dropped (by the producer: ring full),
 * gaps (holes in the sequence numbers), corrupt, seconds, records_per_s,
 * latency percentiles (timestamp to consumption), produce_ns (the
 * producer thread's time for all getpgid() calls). Exits 1 on any error,
 * 2 when not every record arrived intact, 64 on a bad argument.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#include "ringbuf_bench.h"
#include "ringbuf_bench.skel.h"

#define RB_HDR		8		/* the ring's own header per record */
#define RB_RING_MIN	(256u << 10)
#define RB_RING_MAX	(1u << 30)

struct opts {
	uint64_t count;
	uint32_t size, batch;
	uint64_t ring;		/* 0: sized for the whole burst */
	uint64_t timeout_ns, idle_ns;
};

struct tally {
	uint32_t size;
	uint64_t records, gaps, corrupt, last_seq;
	uint64_t first_ts, last_rx, max_lat;
	uint64_t *lat;
	size_t nlat, cap;
};

struct producer {
	struct ringbuf_bench_bpf *skel;
	uint64_t count;
	int stop;
	uint64_t ns;
	int err;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("ringbuf_bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ringbuf_bench --count N [--size BYTES] [--batch N] [--ring BYTES]\n"
		"                     [--timeout SEC] [--idle SEC]\n");
	exit(64);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "123", "64k", "4M", "1G" (powers of 1024); anything else is fatal */
static uint64_t parse_size(const char *opt, const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || *s == '-')
		goto bad;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		goto bad;
	return v;
bad:
	fprintf(stderr, "ringbuf_bench: %s: bad number: %s\n", opt, s);
	exit(64);
}

static uint64_t parse_secs(const char *opt, const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v < 0 || v > 1e6) {
		fprintf(stderr, "ringbuf_bench: %s: bad number of seconds: %s\n", opt, s);
		exit(64);
	}
	return (uint64_t)(v * 1e9);
}

static void parse(struct opts *o, int argc, char **argv)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->size = 64;
	o->batch = 1000;
	o->timeout_ns = 120 * 1000000000ull;
	o->idle_ns = 5 * 1000000000ull;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;

		if (!strcmp(a, "-h") || !strcmp(a, "--help") || !v)
			usage();
		i++;
		if (!strcmp(a, "--count")) {
			o->count = parse_size(a, v);
		} else if (!strcmp(a, "--size")) {
			n = parse_size(a, v);
			if (n > RB_PAYLOAD_MAX) {
				fprintf(stderr, "ringbuf_bench: --size: at most %u bytes\n",
					RB_PAYLOAD_MAX);
				exit(64);
			}
			o->size = (uint32_t)n;
		} else if (!strcmp(a, "--batch")) {
			n = parse_size(a, v);
			if (!n || n > 1u << 23) {	/* bpf_loop()'s limit */
				fprintf(stderr, "ringbuf_bench: --batch: 1 to %u\n", 1u << 23);
				exit(64);
			}
			o->batch = (uint32_t)n;
		} else if (!strcmp(a, "--ring")) {
			n = parse_size(a, v);
			if (n < 4096 || n > RB_RING_MAX || (n & (n - 1))) {
				fprintf(stderr,
					"ringbuf_bench: --ring: a power of two from 4k to 1G\n");
				exit(64);
			}
			o->ring = n;
		} else if (!strcmp(a, "--timeout")) {
			o->timeout_ns = parse_secs(a, v);
		} else if (!strcmp(a, "--idle")) {
			o->idle_ns = parse_secs(a, v);
		} else {
			fprintf(stderr, "ringbuf_bench: unknown option %s\n", a);
			usage();
		}
	}
	if (!o->count) {
		fprintf(stderr, "ringbuf_bench: --count N (at least 1) is required\n");
		exit(64);
	}
}

/* what one record takes in the ring: its header, rounded up to 8 bytes */
static uint64_t footprint(uint32_t size)
{
	return (RB_HDR + sizeof(struct rb_record) + size + 7) & ~7ull;
}

/* the smallest power of two that holds @count records of @size bytes */
static uint64_t ring_for(uint64_t count, uint32_t size)
{
	uint64_t need = count * footprint(size), ring = RB_RING_MIN;

	if (count > RB_RING_MAX / footprint(size))
		die("%llu records of %u bytes do not fit in a %u MiB ring: give --ring",
		    (unsigned long long)count, size, RB_RING_MAX >> 20);
	while (ring < need)
		ring <<= 1;
	return ring;
}

static int on_record(void *ctx, void *data, size_t len)
{
	const struct rb_record *r = data;
	struct tally *t = ctx;
	uint64_t now = now_ns(), lat;
	uint32_t last;

	if (len != sizeof(*r) + t->size) {
		t->corrupt++;
		return 0;
	}
	last = t->size ? (uint32_t)((r->seq + t->size - 1) % RB_PAYLOAD_MOD) : 0;
	if (t->size && (r->payload[0] != r->seq % RB_PAYLOAD_MOD ||
			r->payload[t->size - 1] != last)) {
		t->corrupt++;
		return 0;
	}
	if (!t->records)
		t->first_ts = r->ts_ns;
	if (r->seq > t->last_seq + 1)
		t->gaps += r->seq - t->last_seq - 1;
	if (r->seq > t->last_seq)
		t->last_seq = r->seq;
	t->records++;
	t->last_rx = now;
	lat = now > r->ts_ns ? now - r->ts_ns : 0;
	if (lat > t->max_lat)
		t->max_lat = lat;
	if (t->nlat == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 65536;
		t->lat = realloc(t->lat, t->cap * sizeof(*t->lat));
		if (!t->lat)
			die("out of memory");
	}
	t->lat[t->nlat++] = lat;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile @p of the sorted samples */
static uint64_t pct(const struct tally *t, double p)
{
	size_t rank;

	if (!t->nlat)
		return 0;
	rank = (size_t)(p / 100.0 * (double)t->nlat + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > t->nlat)
		rank = t->nlat;
	return t->lat[rank - 1];
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	uint64_t t0 = now_ns();

	/* the BPF program's counters, read through the mmap()ed .bss */
	while (!__atomic_load_n(&p->stop, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&p->skel->bss->produced, __ATOMIC_RELAXED) < p->count) {
		if (syscall(SYS_getpgid, 0) < 0) {
			p->err = errno;
			break;
		}
	}
	p->ns = now_ns() - t0;
	return NULL;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	struct ringbuf_bench_bpf *skel;
	struct tally t = { 0 };
	struct producer p = { 0 };
	struct ring_buffer *rb;
	uint64_t deadline, dropped = 0, now;
	pthread_t thread;
	struct opts o;
	double secs;
	int err, i;

	parse(&o, argc, argv);
	if (!o.ring)
		o.ring = ring_for(o.count, o.size);
	libbpf_set_print(libbpf_print);

	skel = ringbuf_bench_bpf__open();
	if (!skel)
		die("cannot open the BPF object: %s", strerror(errno));
	skel->rodata->target_tgid = (uint32_t)getpid();
	skel->rodata->payload_size = o.size;
	skel->rodata->batch = o.batch;
	skel->rodata->total = o.count;
	for (i = 0; i < RB_PAYLOAD_MOD + RB_PAYLOAD_MAX; i++)
		skel->rodata->pattern[i] = i % RB_PAYLOAD_MOD;
	err = bpf_map__set_max_entries(skel->maps.rb, (uint32_t)o.ring);
	if (err)
		die("cannot size the ring to %llu bytes: %s",
		    (unsigned long long)o.ring, strerror(-err));
	err = ringbuf_bench_bpf__load(skel);
	if (err)
		die("cannot load the BPF program (root? BTF in /sys/kernel/btf/vmlinux?): %s",
		    strerror(-err));
	err = ringbuf_bench_bpf__attach(skel);
	if (err)
		die("cannot attach the BPF program to getpgid(): %s", strerror(-err));

	t.size = o.size;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), on_record, &t, NULL);
	if (!rb)
		die("ring_buffer__new: %s", strerror(errno));

	p.skel = skel;
	p.count = o.count;
	err = pthread_create(&thread, NULL, produce, &p);
	if (err)
		die("pthread_create: %s", strerror(err));

	deadline = now_ns() + o.timeout_ns;
	for (;;) {
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR)
			die("ring_buffer__poll: %s", strerror(-err));
		dropped = __atomic_load_n(&skel->bss->dropped, __ATOMIC_RELAXED);
		if (t.records + t.corrupt + dropped >= o.count)
			break;
		now = now_ns();
		if (now >= deadline || p.err ||
		    (o.idle_ns && t.last_rx && now - t.last_rx >= o.idle_ns))
			break;
	}
	__atomic_store_n(&p.stop, 1, __ATOMIC_RELAXED);
	pthread_join(thread, NULL);
	if (p.err)
		die("getpgid: %s", strerror(p.err));

	qsort(t.lat, t.nlat, sizeof(*t.lat), cmp_u64);
	secs = t.last_rx > t.first_ts ? (double)(t.last_rx - t.first_ts) / 1e9 : 0;
	printf("{\"tool\":\"ringbuf_bench\",\"count\":%llu,\"size\":%u"
	       ",\"record_bytes\":%zu,\"ring_bytes\":%llu,\"batch\":%u"
	       ",\"records\":%llu,\"dropped\":%llu,\"gaps\":%llu,\"corrupt\":%llu"
	       ",\"seconds\":%.6f,\"records_per_s\":%.1f"
	       ",\"latency_p50_ns\":%llu,\"latency_p99_ns\":%llu"
	       ",\"latency_max_ns\":%llu,\"produce_ns\":%llu"
	       ",\"first_ts_ns\":%llu,\"last_rx_ns\":%llu}\n",
	       (unsigned long long)o.count, o.size, sizeof(struct rb_record) + o.size,
	       (unsigned long long)o.ring, o.batch,
	       (unsigned long long)t.records, (unsigned long long)dropped,
	       (unsigned long long)t.gaps, (unsigned long long)t.corrupt,
	       secs, secs > 0 ? (double)t.records / secs : 0.0,
	       (unsigned long long)pct(&t, 50), (unsigned long long)pct(&t, 99),
	       (unsigned long long)t.max_lat, (unsigned long long)p.ns,
	       (unsigned long long)t.first_ts, (unsigned long long)t.last_rx);
	fflush(stdout);

	ring_buffer__free(rb);
	ringbuf_bench_bpf__destroy(skel);
	free(t.lat);
	return t.records == o.count && !t.corrupt ? 0 : 2;
}
