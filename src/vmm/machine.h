/* SPDX-License-Identifier: MIT */
/*
 * The x86 machine: what `vireo run` builds inside a struct vm from a struct vm_config.
 * machine_prepare() does every check that needs no VM (kernel/firmware images, initrd fit,
 * disks) so that bad input fails with exit status 2 before /dev/kvm is touched.
 */
#ifndef VIREO_VMM_MACHINE_H
#define VIREO_VMM_MACHINE_H

#include <stddef.h>
#include <stdint.h>
#include "base/util.h"
#include "config/config.h"

struct vm;
struct machine;
struct chardev;
struct acpi_params;
struct virtio_dev;

int machine_prepare(const struct vm_config *cfg, struct machine **out, char *err,
		    size_t errlen) WUR;
/* Create devices, load the kernel or firmware, fill vm->boot. One-line reason on error. */
int machine_build(struct machine *m, struct vm *vm, char *err, size_t errlen) WUR;
/* vm.power-button / `vireo stop`: press the ACPI power button. -ENOTSUP when the machine has
 * none. The ACPI PM device registers its press function with machine_set_power_button(). */
int machine_power_button(struct machine *m) WUR;
void machine_set_power_button(struct machine *m, void (*press)(void *opaque), void *opaque);
/* vm.resize desired_balloon: -ENOTSUP without a balloon device, which registers its resize
 * function (target size in bytes; 0 or -errno) with machine_set_balloon(). */
int machine_balloon_resize(struct machine *m, uint64_t bytes) WUR;
void machine_set_balloon(struct machine *m, int (*resize)(void *opaque, uint64_t bytes),
			 void *opaque);
/* Before machine_build: a file given to --serial is appended to, not truncated (the VMM
 * boots the same VM again: vm.reboot, vm.boot after vm.shutdown). */
void machine_keep_serial_output(struct machine *m);
/* The serial console's host side (COM1), for `vireo console`; NULL before machine_build. */
struct chardev *machine_console(struct machine *m);

/* The ACPI description of this machine for nr_cpus vCPUs and mem_size bytes of RAM (what
 * machine_build hands to acpi_build; exported for tools/tests that dump the tables). */
void machine_acpi_params(unsigned nr_cpus, uint64_t mem_size, struct acpi_params *p);
/* Restore host state (terminal) now; safe to call more than once. */
void machine_restore_host(struct machine *m);
void machine_destroy(struct machine *m);
/* The balloon device (NULL without --balloon): for the management API, which drives it with
 * vbal_set_target() / vbal_get_info() (devices/virtio/balloon.h). Valid from machine_build
 * until the VM is destroyed. */
struct virtio_dev *machine_balloon(struct machine *m);

#endif
