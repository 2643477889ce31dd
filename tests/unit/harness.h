/* SPDX-License-Identifier: MIT */
/*
 * A small unit-test harness. Each TEST() runs in its own forked child so a crash fails one test,
 * not the run. The summary ends with "unit: N passed, N failed". `unit-tests PATTERN` runs the
 * tests whose names contain PATTERN.
 */
#ifndef VIREO_TESTS_HARNESS_H
#define VIREO_TESTS_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	const char *file;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Directory with ../shared/guest files, or NULL when absent (tests then skip). */
const char *test_shared_guest_dir(void);
/* A fresh temp directory for this test (removed by nobody: under $TMPDIR/vireo-unit.*). */
const char *test_tmpdir(void);
void test_skip(const char *why);

#define TEST(fn_)                                                                                  \
	static void fn_(void);                                                                     \
	static struct test_case tc_##fn_ = {#fn_, __FILE__, fn_, NULL};                            \
	__attribute__((constructor)) static void reg_##fn_(void)                                  \
	{                                                                                          \
		test_register(&tc_##fn_);                                                          \
	}                                                                                          \
	static void fn_(void)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail_at(__FILE__, __LINE__, "CHECK(%s)", #cond);                      \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
		if (a_ != b_)                                                                      \
			test_fail_at(__FILE__, __LINE__, "%s == %s: 0x%llx != 0x%llx", #a, #b, a_, \
				     b_);                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
			test_fail_at(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,     \
				     a_ ? a_ : "(null)", b_ ? b_ : "(null)");                      \
	} while (0)

/* Abort this test now (after a failed CHECK that later code depends on). */
#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			test_fail_at(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                    \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#endif
