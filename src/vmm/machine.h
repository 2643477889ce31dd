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
struct acpi_params;

int machine_prepare(const struct vm_config *cfg, struct machine **out, char *err,
		    size_t errlen) WUR;
/* Create devices, load the kernel or firmware, fill vm->boot. One-line reason on error. */
int machine_build(struct machine *m, struct vm *vm, char *err, size_t errlen) WUR;
/* Press the ACPI power button (devices/acpi_pm.h): an ACPI guest shuts down in an orderly way
 * and powers off (vireo then exits 0). Any thread. -ENODEV before machine_build. */
int machine_press_power_button(struct machine *m) WUR;
/* The ACPI description of this machine for nr_cpus vCPUs and mem_size bytes of RAM (what
 * machine_build hands to acpi_build; exported for tools/tests that dump the tables). */
void machine_acpi_params(unsigned nr_cpus, uint64_t mem_size, struct acpi_params *p);
/* Restore host state (terminal) now; safe to call more than once. */
void machine_restore_host(struct machine *m);
void machine_destroy(struct machine *m);

#endif
