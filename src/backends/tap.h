/* SPDX-License-Identifier: MIT */
/*
 * TAP devices as a net_port (backends/net_port.h).
 *
 * tap_open() uses the TAP named `name` when it exists (it must be a TAP, multi-queue when
 * queues > 1, and not attached to by another process) and otherwise creates it; a TAP created
 * here is not persistent, so the kernel removes it when vireo exits (its last fd closes).
 * Every queue is opened with IFF_NO_PI | IFF_VNET_HDR (+ IFF_MULTI_QUEUE when queues > 1 or
 * the existing TAP is multi-queue), TUNSETVNETHDRSZ 12, non-blocking, offloads off until the
 * guest negotiates them. mtu != 0 sets the interface MTU. A TAP vireo creates is left down:
 * bringing it up and into a bridge is the host's network configuration.
 *
 * Errors are one line naming the TAP and the problem, e.g. "tap vtap0: in use by process 4242
 * (qemu-system-x86)" or "/dev/net/tun: No such file or directory (tun module not loaded?)".
 */
#ifndef VIREO_BACKENDS_TAP_H
#define VIREO_BACKENDS_TAP_H

#include <stddef.h>
#include "backends/net_port.h"
#include "base/util.h"

int tap_open(const char *name, unsigned queues, unsigned mtu, struct net_port **out, char *err,
	     size_t errlen) WUR;
/* Whether tap_open created the interface (it goes away with the port). */
bool tap_created(const struct net_port *p);

#endif
