// SPDX-License-Identifier: GPL-2.0
/*
 * nlpush_selftest - userspace selftest of the nlpush generic netlink family
 * (protocol version 2) and of its in-kernel producer nlpush_test.ko.
 *
 * Talks raw netlink (no libnl) so that every errno and extack is checked
 * exactly. Output is kselftest/TAP style; the last line is
 * "N passed, N failed[, N skipped]".
 *
 *   nlpush_selftest [-v] [all|AREA...]
 *   nlpush_selftest [-v] [--listen=0|1] unpriv
 *   nlpush_selftest [-v] [--ko-dir DIR] rmmod-under-load
 *
 * AREA: family delivery concurrency bulk flush reply timeout responders
 * responsive replay subscribers ackrange badattr netns stress batch (see
 * common.h for the file of each). Needs nlpush.ko and nlpush_test.ko loaded, debugfs mounted and
 * (except for "unpriv", which drops its privileges itself when run as
 * root) root. "responsive" loads and removes wireguard.ko.
 */
#include "common.h"

static const struct {
	const char *name;
	void (*fn)(struct nlr_sock *c);
} tests[] = {
	{ "family", test_family },
	{ "delivery", test_delivery },
	{ "reply", test_reply },
	{ "timeout", test_timeout },
	{ "responders", test_responders },
	{ "replay", test_replay },
	{ "subscribers", test_subscribers },
	{ "ackrange", test_ack_ranges },
	{ "concurrency", test_concurrency },
	{ "bulk", test_bulk },
	{ "flush", test_flush },
	{ "badattr", test_badattr },
	{ "netns", test_netns },
	{ "responsive", test_responsive },
	{ "stress", test_stress },
	{ "batch", test_batch },
};

static void usage(void)
{
	unsigned int i;

	fprintf(stderr,
		"usage: nlpush_selftest [-v] [--listen=0|1] [--ko-dir DIR] "
		"[MODE...]\n"
		"  MODE: all (default), unpriv, rmmod-under-load, or areas:\n"
		"       ");
	for (i = 0; i < ARRAY_SIZE(tests); i++)
		fprintf(stderr, " %s", tests[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

static int find_test(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(tests); i++)
		if (!strcmp(name, tests[i].name))
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	const char *modes[ARRAY_SIZE(tests) + 1], *ko_dir = NULL;
	int listen = -1, i, n_modes = 0;
	bool all = false, want[ARRAY_SIZE(tests)] = { false };
	struct nlr_sock *c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strncmp(argv[i], "--listen=", 9))
			listen = atoi(argv[i] + 9);
		else if (!strcmp(argv[i], "--ko-dir") && i + 1 < argc)
			ko_dir = argv[++i];
		else if (argv[i][0] == '-')
			usage();
		else if (n_modes < (int)ARRAY_SIZE(modes))
			modes[n_modes++] = argv[i];
		else
			usage();
	}
	if (!n_modes)
		modes[n_modes++] = "all";
	for (i = 0; i < n_modes; i++) {
		int t = find_test(modes[i]);

		if (!strcmp(modes[i], "all"))
			all = true;
		else if (t >= 0)
			want[t] = true;
		else if ((strcmp(modes[i], "unpriv") &&
			  strcmp(modes[i], "rmmod-under-load")) || n_modes > 1)
			usage();
	}
	signal(SIGPIPE, SIG_IGN);
	printf("TAP version 13\n");
	printf("# nlpush_selftest");
	for (i = 0; i < n_modes; i++)
		printf(" %s", modes[i]);
	printf("\n");

	if (!strcmp(modes[0], "unpriv"))
		return run_unpriv(listen);
	if (!strcmp(modes[0], "rmmod-under-load"))
		return run_rmmod(ko_dir);

	c = nlr_open(BIG_RCVBUF);
	/* "family" checks the resolution itself */
	if (!all && !want[find_test("family")])
		need_family(c, false);
	for (i = 0; i < (int)ARRAY_SIZE(tests); i++) {
		if (!all && !want[i])
			continue;
		printf("# --- %s\n", tests[i].name);
		tests[i].fn(c);
	}
	nlr_close(c);
	return finish();
}
