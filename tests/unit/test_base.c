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
