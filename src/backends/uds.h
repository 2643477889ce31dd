/* SPDX-License-Identifier: MIT */
/* Unix-domain stream sockets for host-side back-ends (console socket, vsock). */
#ifndef VIREO_BACKENDS_UDS_H
#define VIREO_BACKENDS_UDS_H

#include "base/util.h"

/* A non-blocking, close-on-exec listening socket at path. A stale socket file there (nobody
 * accepts on it) is replaced. -ENAMETOOLONG, -EEXIST (path exists and is not a socket),
 * -EADDRINUSE (a live listener owns it) or another -errno. */
int uds_listen(const char *path, int backlog, int *fd_out) WUR;
/* Whether uds_listen(path) could succeed, without binding: 0, -ENAMETOOLONG, -EEXIST or
 * -EADDRINUSE (as uds_listen). For checks before the VM exists. */
int uds_check(const char *path) WUR;
/* A non-blocking connect to path: 0 with *fd_out connected, or -errno (-ENOENT,
 * -ECONNREFUSED: nobody listens; -EAGAIN: its backlog is full; -ENAMETOOLONG). */
int uds_connect(const char *path, int *fd_out) WUR;

#endif
