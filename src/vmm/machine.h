/* SPDX-License-Identifier: MIT */
/*
 * The x86 machine: what `vireo run` builds inside a struct vm from a struct vm_config.
 * machine_prepare() does every check that needs no VM (kernel/firmware images, initrd fit,
 * disks) so that bad input fails with exit status 2 before /dev/kvm is touched.
 */
#ifndef VIREO_VMM_MACHINE_H
#define VIREO_VMM_MACHINE_H

#include <stddef.h>
#include "base/util.h"
#include "config/config.h"

struct vm;
struct machine;
struct virtio_dev;

int machine_prepare(const struct vm_config *cfg, struct machine **out, char *err,
		    size_t errlen) WUR;
/* Create devices, load the kernel or firmware, fill vm->boot. One-line reason on error. */
int machine_build(struct machine *m, struct vm *vm, char *err, size_t errlen) WUR;
/* Restore host state (terminal) now; safe to call more than once. */
void machine_restore_host(struct machine *m);
void machine_destroy(struct machine *m);
/* The balloon device (NULL without --balloon): for the management API, which drives it with
 * vbal_set_target() / vbal_get_info() (devices/virtio/balloon.h). Valid from machine_build
 * until the VM is destroyed. */
struct virtio_dev *machine_balloon(struct machine *m);

#endif
