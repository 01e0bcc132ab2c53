// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_test: an nlpush producer driven from debugfs, for tests, demos and
 * benchmarks. Files in /sys/kernel/debug/nlpush_test/:
 *
 *   emit         write "COUNT SIZE [TYPE]": publish COUNT events of SIZE
 *                bytes from process context (GFP_KERNEL)
 *   emit_atomic  same, published from a timer (softirq) with GFP_ATOMIC
 *   emit_irqoff  same, from process context with interrupts disabled around
 *                each publish (GFP_ATOMIC), as a driver's hard-irq path would
 *   request      write "SIZE TIMEOUT_MS [TYPE]": nlpush_request(); read
 *                "status=<int> reply=<hex> latency_ns=<int>" or
 *                "error=<-errno>"
 *   bench        write "COUNT SIZE": time COUNT nlpush_publish() calls;
 *                read "count=N size=S total_ns=T ns_per_event=E"
 *
 * Byte i of the payload of the event with sequence number s is
 * (s + i) % 251, so every receiver can verify what it got.
 *
 * Locking: nlpush_test_mutex serializes writers of each file and guards the
 * result strings; the timer path only touches its own nlpush_test_atomic.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/irqflags.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/timer.h>
#include <linux/uaccess.h>

#include <nlpush.h>
#include "compat.h"

#define NLPUSH_TEST_BATCH	64	/* events per timer run */
#define NLPUSH_TEST_RESULT_MAX	(32 + 2 * NLPUSH_PAYLOAD_MAX + 64)
#define NLPUSH_TEST_COUNT_MAX	10000000

static struct dentry *nlpush_test_dir;
static DEFINE_MUTEX(nlpush_test_mutex);
static char *request_result;	/* under nlpush_test_mutex */
static char *bench_result;	/* under nlpush_test_mutex */

static void nlpush_test_fill(void *buf, size_t len, u64 seq, void *ctx)
{
	u8 *p = buf;
	u32 v = seq % 251;
	size_t i;

	for (i = 0; i < len; i++) {
		p[i] = v;
		if (++v == 251)
			v = 0;
	}
}

/* Parses up to three unsigned numbers; returns how many were found. */
static int nlpush_test_parse(const char __user *ubuf, size_t count,
			     u32 *a, u32 *b, u32 *c)
{
	char buf[64];

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	return sscanf(buf, "%u %u %u", a, b, c);
}

/* "COUNT SIZE [TYPE]" of the emit files: 0 or -EINVAL / -EMSGSIZE / -EFAULT */
static int nlpush_test_parse_emit(const char __user *ubuf, size_t count,
				  u32 *n, u32 *size, u32 *type)
{
	int ret;

	*type = 0;
	ret = nlpush_test_parse(ubuf, count, n, size, type);
	if (ret < 2 || *n > NLPUSH_TEST_COUNT_MAX)
		return ret < 0 ? ret : -EINVAL;
	if (*size > NLPUSH_PAYLOAD_MAX)
		return -EMSGSIZE;
	return 0;
}

static ssize_t emit_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	u32 n, size, type, i;
	s64 seq;
	int ret;

	ret = nlpush_test_parse_emit(ubuf, count, &n, &size, &type);
	if (ret)
		return ret;

	for (i = 0; i < n; i++) {
		seq = nlpush_publish_fill(type, size, nlpush_test_fill, NULL,
					  GFP_KERNEL);
		if (seq < 0)
			return seq;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return count;
}

#define NLPUSH_TEST_IRQOFF_BATCH	16	/* events between two cond_resched() */

static ssize_t emit_irqoff_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	u32 n, size, type, i;
	unsigned long flags;
	s64 seq;
	int ret;

	ret = nlpush_test_parse_emit(ubuf, count, &n, &size, &type);
	if (ret)
		return ret;

	for (i = 0; i < n; i++) {
		local_irq_save(flags);
		seq = nlpush_publish_fill(type, size, nlpush_test_fill, NULL,
					  GFP_ATOMIC);
		local_irq_restore(flags);
		if (seq < 0)
			return seq;
		if ((i + 1) % NLPUSH_TEST_IRQOFF_BATCH)
			continue;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return count;
}

struct nlpush_test_atomic {
	struct timer_list timer;
	struct completion done;
	u32 left;
	u32 size;
	u32 type;
	bool stop;
	int err;
};

/* Timer callback: softirq context, so GFP_ATOMIC. */
static void emit_atomic_timer(struct timer_list *t)
{
	struct nlpush_test_atomic *a = nlpush_from_timer(a, t, timer);
	u32 i;
	s64 seq;

	for (i = 0; i < NLPUSH_TEST_BATCH && a->left && !READ_ONCE(a->stop);
	     i++, a->left--) {
		seq = nlpush_publish_fill(a->type, a->size, nlpush_test_fill,
					  NULL, GFP_ATOMIC);
		if (seq < 0) {
			a->err = seq;
			break;
		}
	}
	if (a->left && !a->err && !READ_ONCE(a->stop))
		mod_timer(&a->timer, jiffies);
	else
		complete(&a->done);
}

static ssize_t emit_atomic_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct nlpush_test_atomic *a;
	u32 n, size, type;
	int ret;

	ret = nlpush_test_parse_emit(ubuf, count, &n, &size, &type);
	if (ret)
		return ret;
	if (!n)
		return count;

	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	a->left = n;
	a->size = size;
	a->type = type;
	init_completion(&a->done);
	timer_setup(&a->timer, emit_atomic_timer, 0);
	mod_timer(&a->timer, jiffies);

	if (wait_for_completion_killable(&a->done)) {
		WRITE_ONCE(a->stop, true);
		timer_delete_sync(&a->timer);
		ret = -EINTR;
	} else {
		/* the callback may still be returning from complete() */
		timer_delete_sync(&a->timer);
		ret = a->err ? a->err : count;
	}
	kfree(a);
	return ret;
}

/* Reads *@strp under the mutex: writers swap the pointer. */
static ssize_t nlpush_test_read(char __user *ubuf, size_t count,
				loff_t *ppos, char *const *strp)
{
	static const char none[] = "error=-61\n";	/* ENODATA */
	const char *str;
	ssize_t ret;

	mutex_lock(&nlpush_test_mutex);
	str = *strp ? *strp : none;
	ret = simple_read_from_buffer(ubuf, count, ppos, str, strlen(str));
	mutex_unlock(&nlpush_test_mutex);
	return ret;
}

static void nlpush_test_set(char **strp, char *str)
{
	mutex_lock(&nlpush_test_mutex);
	swap(*strp, str);
	mutex_unlock(&nlpush_test_mutex);
	kfree(str);
}

static ssize_t request_write(struct file *file, const char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	struct nlpush_reply reply;
	u32 size, timeout_ms, type = 0;
	u64 t0, latency;
	char *res;
	int ret, n;
	size_t i;

	ret = nlpush_test_parse(ubuf, count, &size, &timeout_ms, &type);
	if (ret < 2)
		return ret < 0 ? ret : -EINVAL;
	if (size > NLPUSH_PAYLOAD_MAX)
		return -EMSGSIZE;

	res = kmalloc(NLPUSH_TEST_RESULT_MAX, GFP_KERNEL);
	if (!res)
		return -ENOMEM;

	t0 = ktime_get_ns();
	ret = nlpush_request_fill(type, size, nlpush_test_fill, NULL,
				  timeout_ms, &reply);
	latency = ktime_get_ns() - t0;
	if (ret) {
		snprintf(res, NLPUSH_TEST_RESULT_MAX, "error=%d\n", ret);
	} else {
		n = snprintf(res, NLPUSH_TEST_RESULT_MAX, "status=%d reply=",
			     reply.status);
		for (i = 0; i < reply.len; i++)
			n += snprintf(res + n, NLPUSH_TEST_RESULT_MAX - n,
				      "%02x", ((u8 *)reply.data)[i]);
		snprintf(res + n, NLPUSH_TEST_RESULT_MAX - n,
			 " latency_ns=%llu\n", latency);
		nlpush_reply_free(&reply);
	}

	nlpush_test_set(&request_result, res);
	return count;
}

static ssize_t request_read(struct file *file, char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	return nlpush_test_read(ubuf, count, ppos, &request_result);
}

static ssize_t bench_write(struct file *file, const char __user *ubuf,
			   size_t count, loff_t *ppos)
{
	u32 n, size, unused, i;
	u64 t0, total;
	void *payload;
	s64 seq;
	int ret;

	ret = nlpush_test_parse(ubuf, count, &n, &size, &unused);
	if (ret < 2 || !n || n > NLPUSH_TEST_COUNT_MAX)
		return ret < 0 ? ret : -EINVAL;
	if (size > NLPUSH_PAYLOAD_MAX)
		return -EMSGSIZE;
	payload = kzalloc(size ? size : 1, GFP_KERNEL);
	if (!payload)
		return -ENOMEM;

	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		seq = nlpush_publish(0, payload, size, GFP_KERNEL);
		if (seq < 0) {
			kfree(payload);
			return seq;
		}
	}
	total = ktime_get_ns() - t0;
	kfree(payload);

	nlpush_test_set(&bench_result,
			kasprintf(GFP_KERNEL,
				  "count=%u size=%u total_ns=%llu ns_per_event=%llu\n",
				  n, size, total, div_u64(total, n)));
	return count;
}

static ssize_t bench_read(struct file *file, char __user *ubuf, size_t count,
			  loff_t *ppos)
{
	return nlpush_test_read(ubuf, count, ppos, &bench_result);
}

static const struct file_operations emit_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = emit_write,
};

static const struct file_operations emit_atomic_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = emit_atomic_write,
};

static const struct file_operations emit_irqoff_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = emit_irqoff_write,
};

static const struct file_operations request_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = request_read,
	.write = request_write,
	.llseek = default_llseek,
};

static const struct file_operations bench_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = bench_read,
	.write = bench_write,
	.llseek = default_llseek,
};

static int __init nlpush_test_init(void)
{
	nlpush_test_dir = debugfs_create_dir("nlpush_test", NULL);
	if (IS_ERR(nlpush_test_dir))
		return PTR_ERR(nlpush_test_dir);
	debugfs_create_file("emit", 0200, nlpush_test_dir, NULL, &emit_fops);
	debugfs_create_file("emit_atomic", 0200, nlpush_test_dir, NULL,
			    &emit_atomic_fops);
	debugfs_create_file("emit_irqoff", 0200, nlpush_test_dir, NULL,
			    &emit_irqoff_fops);
	debugfs_create_file("request", 0600, nlpush_test_dir, NULL,
			    &request_fops);
	debugfs_create_file("bench", 0600, nlpush_test_dir, NULL, &bench_fops);
	return 0;
}

static void __exit nlpush_test_exit(void)
{
	debugfs_remove_recursive(nlpush_test_dir);
	kfree(request_result);
	kfree(bench_result);
}

module_init(nlpush_test_init);
module_exit(nlpush_test_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("nlpush developers");
MODULE_DESCRIPTION("nlpush test producer driven from debugfs");
