/* SPDX-License-Identifier: MIT */
/* `vireo backend TYPE --socket PATH ...`: serve one device over vhost-user. */
#ifndef VIREO_VHOST_USER_CMD_BACKEND_H
#define VIREO_VHOST_USER_CMD_BACKEND_H

/* argv[0] is "backend", argv[1] the device type. Returns the process exit status: 0 after a
 * clean stop (SIGTERM/SIGINT) or --help, 2 when it cannot start (bad option, unknown or
 * unavailable type, a disk that cannot be opened or is in use, a socket path that cannot be
 * bound), 1 on a later runtime failure. */
int cmd_backend(int argc, char **argv);

#endif
