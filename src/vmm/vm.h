/* SPDX-License-Identifier: MIT */
/*
 * struct vm: the one owner object. It owns KVM, guest memory, the PIO and MMIO buses, the
 * vCPUs, the devices and the event loop, and is passed explicitly everywhere.
 */
#ifndef VIREO_VMM_VM_H
#define VIREO_VMM_VM_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>
#include "arch/x86/arch.h"
#include "base/util.h"
#include "base/irq.h"
#include "base/ev_loop.h"
#include "bus/bus.h"
#include "config/config.h"
#include "kvm/kvm.h"
#include "mem/guest_mem.h"

struct vcpu;

/* Exit statuses of `vireo run`. */
#define VM_EXIT_OK 0      /* guest powered off or asked for reset */
#define VM_EXIT_FAILURE 1 /* runtime failure */
#define VM_EXIT_USAGE 2   /* usage or configuration error */

/* Devices the VM owns, destroyed in reverse order of registration. */
struct vm_device {
	const char *name;
	void *opaque;
	void (*destroy)(void *opaque);
	struct vm_device *next;
};

struct vm {
	const struct vm_config *cfg;
	struct kvm kvm;
	struct guest_mem mem;
	int ram_fd;
	void *ram_hva;
	uint64_t ram_size;
	uint64_t ram_below_4g; /* bytes of RAM mapped at GPA 0 */
	uint64_t ram_above_4g; /* bytes of RAM mapped at 4 GiB */
	struct bus pio;
	struct bus mmio;
	struct ev_loop *loop;
	struct vcpu **vcpus;
	unsigned nr_vcpus;
	struct vm_device *devices;
	struct boot_entry boot; /* how vCPU 0 starts (filled by the machine setup) */
	int signal_fd;          /* SIGINT/SIGTERM, read on the loop */
	struct ev_handler *signal_h;

	uint64_t startup_t0_ns; /* bench: CLOCK_MONOTONIC at exec (VIREO_STARTUP_T0), 0 = off */
	atomic_bool stopping;
	int exit_status;
	char exit_reason[160];
	pthread_mutex_t lock;
};

/* Create KVM VM, RAM (memfd, split around the MMIO hole), buses and loop. No vCPUs yet. */
int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen) WUR;
void vm_destroy(struct vm *vm);
/* Hand a device to the VM for destruction at teardown. */
int vm_add_device(struct vm *vm, const char *name, void *opaque, void (*destroy)(void *)) WUR;
/* An irq_line for a given irqchip GSI. */
struct irq_line vm_irq_line(struct vm *vm, uint32_t gsi);
/* Ask the VM to stop with an exit status; first caller wins. Thread-safe, async-signal-unsafe. */
void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool vm_is_stopping(struct vm *vm);

/* Block SIGINT/SIGTERM in the calling thread (call before creating any thread). */
int vm_block_signals(void) WUR;
/* Create and start vCPU threads, run the event loop until a stop, join everything.
 * Returns the exit status (VM_EXIT_*). */
int vm_run(struct vm *vm);


#endif
