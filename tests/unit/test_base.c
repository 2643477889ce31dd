/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "base/ev_loop.h"
#include "base/util.h"
#include "harness.h"

TEST(parse_size_units)
{
	uint64_t v = 0;
	CHECK_EQ(parse_size("512M", &v), 0);
	CHECK_EQ(v, 512ULL << 20);
	CHECK_EQ(parse_size("2G", &v), 0);
	CHECK_EQ(v, 2ULL << 30);
	CHECK_EQ(parse_size("64k", &v), 0);
	CHECK_EQ(v, 64ULL << 10);
	CHECK_EQ(parse_size("1GiB", &v), 0);
	CHECK_EQ(v, 1ULL << 30);
	CHECK_EQ(parse_size("4096", &v), 0);
	CHECK_EQ(v, 4096);
	CHECK_EQ(parse_size("abc", &v), -EINVAL);
	CHECK_EQ(parse_size("", &v), -EINVAL);
	CHECK_EQ(parse_size("-1G", &v), -EINVAL);
	CHECK_EQ(parse_size("12X", &v), -EINVAL);
	CHECK_EQ(parse_size("1Mx", &v), -EINVAL);
	CHECK_EQ(parse_size("99999999999999T", &v), -ERANGE);
	CHECK_EQ(parse_size("99999999999999999999999", &v), -ERANGE);
}

TEST(parse_uint_bounds)
{
	uint64_t v = 0;
	CHECK_EQ(parse_uint("1", 1, 32, &v), 0);
	CHECK_EQ(v, 1);
	CHECK_EQ(parse_uint("32", 1, 32, &v), 0);
	CHECK_EQ(parse_uint("0", 1, 32, &v), -ERANGE);
	CHECK_EQ(parse_uint("33", 1, 32, &v), -ERANGE);
	CHECK_EQ(parse_uint("3x", 1, 32, &v), -EINVAL);
	CHECK_EQ(parse_uint("-3", 1, 32, &v), -EINVAL);
	CHECK_EQ(parse_uint(" 3", 1, 32, &v), -EINVAL);
}

struct ev_count {
	struct ev_loop *loop;
	int fd;
	int hits;
	struct ev_handler *h;
};

static void on_event(void *opaque, uint32_t events)
{
	struct ev_count *c = opaque;
	uint64_t v;
	CHECK(events & EPOLLIN);
	CHECK_EQ(read(c->fd, &v, sizeof(v)), sizeof(v));
	c->hits += (int)v;
	if (c->hits >= 3)
		ev_loop_stop(c->loop);
}

TEST(ev_loop_dispatches_and_stops)
{
	struct ev_loop *loop;
	REQUIRE(ev_loop_create(&loop) == 0);
	struct ev_count c = {loop, eventfd(0, EFD_NONBLOCK), 0, NULL};
	REQUIRE(ev_add(loop, c.fd, EPOLLIN, on_event, &c, &c.h) == 0);
	uint64_t one = 1;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(write(c.fd, &one, sizeof(one)), sizeof(one));
		CHECK(ev_loop_run_once(loop, 1000) >= 1);
	}
	CHECK_EQ(c.hits, 3);
	CHECK(ev_loop_stopped(loop));
	CHECK_EQ(ev_loop_run(loop), 0); /* returns at once when stopped */
	ev_del(loop, c.h);
	ev_loop_destroy(loop);
	close(c.fd);
}

static void on_timer(void *opaque, uint32_t events)
{
	int *n = opaque;
	(void)events;
	(*n)++;
}

TEST(ev_timer_fires_periodically)
{
	struct ev_loop *loop;
	int n = 0;
	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(ev_timer_add(loop, 1000000, 1000000, on_timer, &n, NULL) == 0);
	uint64_t end = time_now_ns() + 2000000000ULL;
	while (n < 3 && time_now_ns() < end)
		ev_loop_run_once(loop, 100);
	CHECK(n >= 3);
	ev_loop_destroy(loop);
}

TEST(ev_timer_rearm_and_disarm)
{
	struct ev_loop *loop;
	struct ev_handler *h;
	int n = 0;
	REQUIRE(ev_loop_create(&loop) == 0);
	REQUIRE(ev_timer_add(loop, 1000000, 0, on_timer, &n, &h) == 0);
	CHECK_EQ(ev_timer_arm(h, 0, 0), 0); /* disarmed before it fired */
	CHECK_EQ(ev_loop_run_once(loop, 50), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(ev_timer_arm(h, 1000000, 0), 0);
	CHECK(ev_loop_run_once(loop, 2000) >= 1);
	CHECK_EQ(n, 1);
	ev_del(loop, h);
	ev_loop_destroy(loop);
}

#include <pthread.h>

struct post_ctx {
	struct ev_loop *loop;
	struct ev_work w;
	pthread_t loop_thread;
	int runs;
	bool on_loop_thread;
};

static void on_work(void *opaque)
{
	struct post_ctx *c = opaque;
	c->runs++;
	c->on_loop_thread = pthread_equal(pthread_self(), c->loop_thread);
}

static void *post_from_thread(void *arg)
{
	struct post_ctx *c = arg;
	ev_post(c->loop, &c->w);
	ev_post(c->loop, &c->w); /* coalesced: still queued */
	return NULL;
}

/* Work posted from another thread runs once, on the thread running the loop. */
TEST(ev_post_runs_on_the_loop_thread)
{
	struct post_ctx c = {0};
	REQUIRE(ev_loop_create(&c.loop) == 0);
	c.loop_thread = pthread_self();
	ev_work_init(&c.w, on_work, &c);
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, post_from_thread, &c) == 0);
	pthread_join(t, NULL);
	CHECK_EQ(c.runs, 0);
	CHECK(ev_loop_run_once(c.loop, 1000) >= 1);
	CHECK_EQ(c.runs, 1);
	CHECK(c.on_loop_thread);
	CHECK_EQ(ev_loop_run_once(c.loop, 20), 0);
	CHECK_EQ(c.runs, 1);
	/* Cancelled before it ran: it never runs. */
	ev_post(c.loop, &c.w);
	ev_cancel(c.loop, &c.w);
	while (ev_loop_run_once(c.loop, 20) > 0) {
	}
	CHECK_EQ(c.runs, 1);
	/* Posted again: runs again. */
	ev_post(c.loop, &c.w);
	CHECK(ev_loop_run_once(c.loop, 1000) >= 1);
	CHECK_EQ(c.runs, 2);
	ev_loop_destroy(c.loop);
}
