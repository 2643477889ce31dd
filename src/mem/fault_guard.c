/* SPDX-License-Identifier: MIT */
/* SIGBUS-tolerant mappings of memory another process controls (see fault_guard.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "mem/fault_guard.h"

enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_LIVE };

struct gm_guard {
	atomic_int state;
	atomic_uintptr_t start;
	atomic_size_t len;
	atomic_int fd;
	atomic_bool tripped;
};

/* Process-wide by necessity: the signal handler has no other way to find them. */
static struct gm_guard guards[GM_GUARD_MAX];
static struct sigaction old_sigbus;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_err;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	uintptr_t a = (uintptr_t)si->si_addr;

	for (unsigned i = 0; i < GM_GUARD_MAX; i++) {
		struct gm_guard *g = &guards[i];
		if (atomic_load(&g->state) != SLOT_LIVE)
			continue;
		uintptr_t s = atomic_load(&g->start);
		size_t n = atomic_load(&g->len);
		if (a < s || a - s >= n)
			continue;
		void *p = mmap((void *)s, n, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			break;
		atomic_store(&g->tripped, true);
		uint64_t one = 1;
		if (write(atomic_load(&g->fd), &one, sizeof(one)) < 0) {
			/* saturated: the owner has been told already */
		}
		errno = saved;
		return; /* the access is repeated, on anonymous memory now */
	}
	/* Not ours: put the previous disposition back; the access faults again under it. */
	sigaction(SIGBUS, &old_sigbus, NULL);
	(void)sig;
	(void)uc;
	errno = saved;
}

static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_sigbus) < 0)
		install_err = -errno;
}

int gm_guard_add(void *addr, size_t len, int notify_fd, struct gm_guard **out)
{
	pthread_once(&install_once, install);
	if (install_err)
		return install_err;
	for (unsigned i = 0; i < GM_GUARD_MAX; i++) {
		struct gm_guard *g = &guards[i];
		int expect = SLOT_FREE;
		if (!atomic_compare_exchange_strong(&g->state, &expect, SLOT_BUSY))
			continue;
		atomic_store(&g->start, (uintptr_t)addr);
		atomic_store(&g->len, len);
		atomic_store(&g->fd, notify_fd);
		atomic_store(&g->tripped, false);
		atomic_store(&g->state, SLOT_LIVE);
		*out = g;
		return 0;
	}
	return -ENOSPC;
}

void gm_guard_remove(struct gm_guard *g)
{
	if (!g)
		return;
	atomic_store(&g->state, SLOT_BUSY);
	atomic_store(&g->len, 0);
	atomic_store(&g->tripped, false);
	atomic_store(&g->state, SLOT_FREE);
}

bool gm_guard_tripped(const struct gm_guard *g)
{
	return g && atomic_load(&g->tripped);
}
