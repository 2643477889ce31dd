/* SPDX-License-Identifier: MIT */
/*
 * The VMM event loop: epoll over fds with callbacks, plus cross-thread wakeup, work posted
 * from other threads, and stop. One loop thread serves ioeventfd kicks, backend completions,
 * timers and API requests. Callbacks and posted work run on the loop thread only.
 */
#ifndef VIREO_BASE_EV_LOOP_H
#define VIREO_BASE_EV_LOOP_H

#include <stdint.h>
#include <stdbool.h>
#include "base/util.h"

/* events: EPOLLIN/EPOLLOUT/... as returned by epoll. */
typedef void (*ev_cb_fn)(void *opaque, uint32_t events);

struct ev_handler;
struct ev_loop;

int ev_loop_create(struct ev_loop **out) WUR;
void ev_loop_destroy(struct ev_loop *loop);
/* Watch fd for `events` (EPOLLIN etc.). Returns a handle through *out (may be NULL). */
int ev_add(struct ev_loop *loop, int fd, uint32_t events, ev_cb_fn cb, void *opaque,
	   struct ev_handler **out) WUR;
/* Change the events watched for h. 0 takes the fd out of the epoll set for now (so not even
 * EPOLLERR/EPOLLHUP are reported; the handler stays valid) and a later non-zero value puts it
 * back. Callers serialise ev_mod on one handler; safe from any thread. An event already
 * collected by the loop may still be dispatched once after a pause. */
int ev_mod(struct ev_loop *loop, struct ev_handler *h, uint32_t events) WUR;
/* Stop watching; safe to call from inside a callback (freed after dispatch). */
void ev_del(struct ev_loop *loop, struct ev_handler *h);
/* Run until ev_loop_stop(); returns 0 or -errno on an epoll failure. */
int ev_loop_run(struct ev_loop *loop) WUR;
/* Run one iteration waiting at most timeout_ms (-1 forever). Returns number of events or -errno. */
int ev_loop_run_once(struct ev_loop *loop, int timeout_ms);
/* Thread-safe: makes ev_loop_run return. */
void ev_loop_stop(struct ev_loop *loop);
bool ev_loop_stopped(struct ev_loop *loop);

/* A periodic or one-shot timer on the loop (timerfd). period_ns 0 = one-shot. */
int ev_timer_add(struct ev_loop *loop, uint64_t first_ns, uint64_t period_ns, ev_cb_fn cb,
		 void *opaque, struct ev_handler **out) WUR;
/* Re-arm (first_ns > 0) or disarm (first_ns == 0) a timer made by ev_timer_add. */
int ev_timer_arm(struct ev_handler *timer, uint64_t first_ns, uint64_t period_ns) WUR;

/*
 * Work handed to the loop thread by any thread (a vCPU writing a device register, ...).
 * Embed a struct ev_work in the object it works on and initialise it with ev_work_init.
 * ev_post is thread-safe and never blocks on I/O: fn runs once on the loop thread, soon, however
 * often the work was posted before it ran (post it again from fn to run again). Posted work
 * does not run once the loop has stopped; ev_cancel it before freeing its object.
 */
typedef void (*ev_work_fn)(void *opaque);
struct ev_work {
	ev_work_fn fn;
	void *opaque;
	struct ev_work *next; /* private, under the loop's lock */
	bool queued;          /* private */
};
void ev_work_init(struct ev_work *w, ev_work_fn fn, void *opaque);
void ev_post(struct ev_loop *loop, struct ev_work *w);
/* Unqueue w if it has not run yet (thread-safe). NULL loop: no-op. */
void ev_cancel(struct ev_loop *loop, struct ev_work *w);

#endif
