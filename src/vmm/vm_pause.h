/* SPDX-License-Identifier: MIT */
/* Internals of vm_pause.c shared with vm.c. */
#ifndef VIREO_VMM_VM_PAUSE_H
#define VIREO_VMM_VM_PAUSE_H

struct vm;

void vm_pause_init(struct vm *vm);
void vm_pause_fini(struct vm *vm);
/* Wake parked vCPUs (a stop was requested: they leave their loop). */
void vm_pause_wake_all(struct vm *vm);

#endif
