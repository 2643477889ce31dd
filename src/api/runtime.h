/* SPDX-License-Identifier: MIT */
/*
 * Many VMs on one host: each `vireo run` registers its name in the runtime directory
 * RUNDIR = $XDG_RUNTIME_DIR/vireo, or /run/vireo as root:
 *
 *   RUNDIR/NAME.lock   flock()ed by the VM's process for its lifetime; holds "PID\nSOCKET\n"
 *   RUNDIR/NAME.sock   the API socket (unless --api-socket put it elsewhere)
 *
 * A second VM with the same name fails to take the lock. An entry whose lock nobody holds was
 * left by a VM that died; `vireo ls` removes it (under the lock, so it never removes a new
 * VM's entry).
 */
#ifndef VIREO_API_RUNTIME_H
#define VIREO_API_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>
#include "base/util.h"

#define RT_NAME_MAX 64
#define RT_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* RUNDIR into out; create it (0700) when asked. One-line reason on error. */
int rt_dir(char *out, size_t len, bool create, char *err, size_t errlen) WUR;

struct rt_entry {
	char name[RT_NAME_MAX + 1];
	pid_t pid;
	char sock[RT_PATH_MAX];
};

struct rt_lock {
	int fd;
	char lock_path[512];
	char sock[RT_PATH_MAX];
};

/* Take NAME in RUNDIR (created if needed) and record our pid and API socket (sock, or
 * RUNDIR/NAME.sock when sock is NULL; the chosen path is in l->sock). -EBUSY with "name 'N'
 * is in use (pid P)" when another live VM has it. */
int rt_lock_name(const char *name, const char *sock, struct rt_lock *l, char *err,
		 size_t errlen) WUR;
/* Remove the entry (and the socket file) and drop the lock. NULL-safe, idempotent. */
void rt_unlock(struct rt_lock *l);

/* The live VMs in RUNDIR, sorted by name (malloc'd array); entries of dead VMs are removed
 * on the way. An absent RUNDIR is an empty list. */
int rt_list(struct rt_entry **out, size_t *n, char *err, size_t errlen) WUR;
/* The API socket of NAME, or NAME itself when it contains a '/' (a socket path). -ENOENT
 * with "no VM named 'N'" when there is none. */
int rt_resolve(const char *name, char *sock, size_t len, char *err, size_t errlen) WUR;

#endif
