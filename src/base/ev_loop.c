/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <stdatomic.h>
#include "base/ev_loop.h"

struct ev_handler {
	int fd;
	bool owns_fd; /* timers: the loop created the fd */
	bool deleted;
	bool paused; /* removed from the epoll set by ev_mod(h, 0) */
	ev_cb_fn cb;
	void *opaque;
	struct ev_handler *next_dead;
};

struct ev_loop {
	int epfd;
	int wake_fd;
	atomic_bool stop;
	bool dispatching;
	struct ev_handler *dead; /* freed after the current dispatch round */
	pthread_mutex_t work_lock;
	struct ev_work *work_head, *work_tail; /* posted, FIFO */
};

int ev_loop_create(struct ev_loop **out)
{
	struct ev_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wake_fd < 0) {
		int e = -errno;
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wake_fd >= 0)
			close(l->wake_fd);
		free(l);
		return e;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0) {
		int e = -errno;
		close(l->epfd);
		close(l->wake_fd);
		free(l);
		return e;
	}
	pthread_mutex_init(&l->work_lock, NULL);
	*out = l;
	return 0;
}

static void reap_dead(struct ev_loop *l)
{
	while (l->dead) {
		struct ev_handler *h = l->dead;
		l->dead = h->next_dead;
		if (h->owns_fd)
			close(h->fd);
		free(h);
	}
}

void ev_loop_destroy(struct ev_loop *l)
{
	if (!l)
		return;
	reap_dead(l);
	close(l->epfd);
	close(l->wake_fd);
	pthread_mutex_destroy(&l->work_lock);
	free(l);
}

void ev_work_init(struct ev_work *w, ev_work_fn fn, void *opaque)
{
	w->fn = fn;
	w->opaque = opaque;
	w->next = NULL;
	w->queued = false;
}

static void wake(struct ev_loop *l)
{
	uint64_t one = 1;
	if (write(l->wake_fd, &one, sizeof(one)) < 0) {
		/* counter saturated: the loop is awake anyway */
	}
}

void ev_post(struct ev_loop *l, struct ev_work *w)
{
	pthread_mutex_lock(&l->work_lock);
	bool add = !w->queued;
	if (add) {
		w->queued = true;
		w->next = NULL;
		if (l->work_tail)
			l->work_tail->next = w;
		else
			l->work_head = w;
		l->work_tail = w;
	}
	pthread_mutex_unlock(&l->work_lock);
	if (add)
		wake(l);
}

void ev_cancel(struct ev_loop *l, struct ev_work *w)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->work_lock);
	if (w->queued) {
		struct ev_work **p = &l->work_head, *prev = NULL;
		while (*p && *p != w) {
			prev = *p;
			p = &(*p)->next;
		}
		if (*p) {
			*p = w->next;
			if (l->work_tail == w)
				l->work_tail = prev;
		}
		w->queued = false;
		w->next = NULL;
	}
	pthread_mutex_unlock(&l->work_lock);
}

/* Run what was posted before this call (work posted meanwhile waits for the next round). */
static void run_posted(struct ev_loop *l)
{
	pthread_mutex_lock(&l->work_lock);
	struct ev_work *last = l->work_tail;
	pthread_mutex_unlock(&l->work_lock);
	while (last && !atomic_load(&l->stop)) {
		pthread_mutex_lock(&l->work_lock);
		struct ev_work *w = l->work_head;
		if (w) {
			l->work_head = w->next;
			if (!l->work_head)
				l->work_tail = NULL;
			w->queued = false;
			w->next = NULL;
		}
		pthread_mutex_unlock(&l->work_lock);
		if (!w)
			break;
		w->fn(w->opaque);
		if (w == last)
			break;
	}
}

int ev_add(struct ev_loop *l, int fd, uint32_t events, ev_cb_fn cb, void *opaque,
	   struct ev_handler **out)
{
	struct ev_handler *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->cb = cb;
	h->opaque = opaque;
	struct epoll_event ev = {.events = events, .data.ptr = h};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = -errno;
		free(h);
		return e;
	}
	if (out)
		*out = h;
	return 0;
}

int ev_mod(struct ev_loop *l, struct ev_handler *h, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};
	if (!h || h->deleted)
		return -EINVAL;
	if (events == 0) {
		if (h->paused)
			return 0;
		if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL) < 0)
			return -errno;
		h->paused = true;
		return 0;
	}
	if (epoll_ctl(l->epfd, h->paused ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, h->fd, &ev) < 0)
		return -errno;
	h->paused = false;
	return 0;
}

void ev_del(struct ev_loop *l, struct ev_handler *h)
{
	if (!h || h->deleted)
		return;
	if (!h->paused)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->deleted = true;
	h->next_dead = l->dead;
	l->dead = h;
	if (!l->dispatching)
		reap_dead(l);
}

int ev_loop_run_once(struct ev_loop *l, int timeout_ms)
{
	struct epoll_event evs[32];
	int n = epoll_wait(l->epfd, evs, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	l->dispatching = true;
	for (int i = 0; i < n; i++) {
		struct ev_handler *h = evs[i].data.ptr;
		if (!h) {
			uint64_t v;
			if (read(l->wake_fd, &v, sizeof(v)) < 0) {
				/* nothing to drain */
			}
			run_posted(l);
			continue;
		}
		if (h->deleted)
			continue;
		if (h->owns_fd) { /* timer: consume the expiration count */
			uint64_t exp;
			if (read(h->fd, &exp, sizeof(exp)) != sizeof(exp))
				continue;
		}
		h->cb(h->opaque, evs[i].events);
	}
	l->dispatching = false;
	reap_dead(l);
	return n;
}

int ev_loop_run(struct ev_loop *l)
{
	while (!atomic_load(&l->stop)) {
		int r = ev_loop_run_once(l, -1);
		if (r < 0)
			return r;
	}
	return 0;
}

void ev_loop_stop(struct ev_loop *l)
{
	atomic_store(&l->stop, true);
	wake(l);
}

bool ev_loop_stopped(struct ev_loop *l)
{
	return atomic_load(&l->stop);
}


int ev_timer_add(struct ev_loop *l, uint64_t first_ns, uint64_t period_ns, ev_cb_fn cb,
		 void *opaque, struct ev_handler **out)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct itimerspec its = {
		.it_value = {(time_t)(first_ns / 1000000000ULL), (long)(first_ns % 1000000000ULL)},
		.it_interval = {(time_t)(period_ns / 1000000000ULL),
				(long)(period_ns % 1000000000ULL)},
	};
	if (!first_ns)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct ev_handler *h;
	int r = ev_add(l, fd, EPOLLIN, cb, opaque, &h);
	if (r < 0) {
		close(fd);
		return r;
	}
	h->owns_fd = true;
	if (out)
		*out = h;
	return 0;
}

int ev_timer_arm(struct ev_handler *h, uint64_t first_ns, uint64_t period_ns)
{
	struct itimerspec its = {
		.it_value = {(time_t)(first_ns / 1000000000ULL), (long)(first_ns % 1000000000ULL)},
		.it_interval = {(time_t)(period_ns / 1000000000ULL),
				(long)(period_ns % 1000000000ULL)},
	};
	if (!h->owns_fd)
		return -EINVAL;
	return timerfd_settime(h->fd, 0, &its, NULL) < 0 ? -errno : 0;
}
