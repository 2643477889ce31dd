/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"

static struct test_case *tests_head;
static int failed_in_child;
static char tmpdir_buf[PATH_MAX];

#define SKIP_EXIT 77

void test_register(struct test_case *tc)
{
	/* Append to keep file order. */
	struct test_case **p = &tests_head;
	while (*p)
		p = &(*p)->next;
	*p = tc;
}

void test_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "  FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failed_in_child = 1;
}

void test_skip(const char *why)
{
	fprintf(stderr, "  skip: %s\n", why);
	fflush(NULL);
	_exit(SKIP_EXIT);
}

const char *test_shared_guest_dir(void)
{
	static const char *cands[] = {"../shared/guest", "../../shared/guest",
				      "../../../shared/guest"};
	const char *env = getenv("VIREO_GUEST_DIR");
	struct stat st;
	if (env && stat(env, &st) == 0)
		return env;
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (stat(cands[i], &st) == 0 && S_ISDIR(st.st_mode))
			return cands[i];
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The test's scratch directory goes with it, whatever the test left there. */
static void tmpdir_remove(void)
{
	if (tmpdir_buf[0])
		nftw(tmpdir_buf, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir_buf[0] = 0;
}

const char *test_tmpdir(void)
{
	if (!tmpdir_buf[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir_buf, sizeof(tmpdir_buf), "%s/vireo-unit.XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tmpdir_buf)) {
			perror("mkdtemp");
			_exit(1);
		}
	}
	return tmpdir_buf;
}

int main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0, skipped = 0;
	const char *pattern = argc > 1 ? argv[1] : NULL;

	signal(SIGPIPE, SIG_IGN);
	for (struct test_case *tc = tests_head; tc; tc = tc->next) {
		if (pattern && !strstr(tc->name, pattern))
			continue;
		fflush(NULL);
		(void)test_tmpdir(); /* made here, so that this process removes it afterwards */
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			alarm(120);
			tc->fn();
			fflush(NULL);
			_exit(failed_in_child ? 1 : 0);
		}
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		tmpdir_remove();
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			passed++;
			printf("ok   %s\n", tc->name);
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_EXIT) {
			skipped++;
			printf("skip %s\n", tc->name);
		} else {
			failed++;
			if (WIFSIGNALED(st))
				printf("FAIL %s (signal %d)\n", tc->name, WTERMSIG(st));
			else
				printf("FAIL %s\n", tc->name);
		}
	}
	printf("unit: %u passed, %u failed, %u skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
