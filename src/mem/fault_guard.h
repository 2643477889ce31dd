/* SPDX-License-Identifier: MIT */
/*
 * Surviving memory that another process can take away. A vhost-user back-end maps the guest
 * RAM its front-end passes as fds; the front-end can shrink such a file afterwards, and the
 * next access to a page past the new end raises SIGBUS, which would kill the back-end. A
 * guarded mapping turns that fault into an event:
 *
 *  - a process-wide SIGBUS handler (installed with the first guard) looks the faulting
 *    address up among the guarded ranges;
 *  - inside one, it replaces the whole range with anonymous memory (mmap MAP_FIXED, async-
 *    signal-safe), marks the guard tripped and writes 1 to its eventfd; the faulting access
 *    is then repeated and reads zeroes;
 *  - the owner sees the eventfd on its loop, finds the tripped guard and drops whoever
 *    handed out that memory;
 *  - a fault anywhere else goes to the disposition SIGBUS had before (default: the process
 *    dies as it would have).
 *
 * The table of guarded ranges is the one piece of mutable process-wide state besides the log
 * level: a signal handler cannot be given a context. It has GM_GUARD_MAX slots, updated with
 * atomics (add/remove from any thread; the handler runs on the faulting thread).
 */
#ifndef VIREO_MEM_FAULT_GUARD_H
#define VIREO_MEM_FAULT_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include "base/util.h"

#define GM_GUARD_MAX 64

struct gm_guard;

/* Guard [addr, addr + len) (a whole mapping, page-aligned). notify_fd: an eventfd written
 * when the guard trips. -ENOSPC when every slot is taken, -errno if the handler cannot be
 * installed. */
int gm_guard_add(void *addr, size_t len, int notify_fd, struct gm_guard **out) WUR;
/* Before unmapping the range. NULL-safe. */
void gm_guard_remove(struct gm_guard *g);
/* A fault inside the range was caught (the range now holds anonymous memory). */
bool gm_guard_tripped(const struct gm_guard *g);

#endif
