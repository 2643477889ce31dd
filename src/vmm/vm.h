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

/* Pause/resume and counters of a device (vm.pause, vm.counters). All optional; called on the
 * loop thread while the VM runs. */
typedef void (*vm_counter_fn)(void *ctx, const char *dev, const char *name, uint64_t value);
struct vm_dev_ops {
	/* Stop taking new work and finish what is in flight: afterwards the device touches
	 * neither guest memory nor its queues until resume. vCPUs are already stopped. */
	void (*pause)(void *opaque);
	void (*resume)(void *opaque);
	void (*counters)(void *opaque, vm_counter_fn emit, void *ctx);
};
struct vm_hook {
	const char *name;
	void *opaque;
	const struct vm_dev_ops *ops;
	struct vm_hook *next;
};

/* vm_pause()/vm_resume() state (src/vmm/vm_pause.c). */
struct vm_pause_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* CLOCK_MONOTONIC */
	atomic_bool requested;	/* vCPUs park at their next checkpoint */
	unsigned parked;	/* vCPU threads parked now */
	bool paused;		/* vm_pause() completed, no vm_resume() yet */
	bool have_clock;	/* clock holds KVM_GET_CLOCK from the pause */
	struct kvm_clock_data clock;
	uint64_t *tsc_offset;	/* per vCPU at the pause (KVM_VCPU_TSC_OFFSET), or NULL */
	uint64_t paused_at_ns;
	uint64_t paused_total_ns; /* time spent paused, all pauses */
	uint64_t nr_pauses;
};

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
	struct vm_hook *hooks; /* registration order */
	struct vm_pause_state pause;
	uint64_t started_ns; /* CLOCK_MONOTONIC at vm_start */
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
 * Returns the exit status (VM_EXIT_*). Same as vm_start() + vm_wait(). */
int vm_run(struct vm *vm);
/* Create, set up and start the vCPU threads. On failure they are stopped again and a one-line
 * reason is in err. */
int vm_start(struct vm *vm, char *err, size_t errlen) WUR;
/* Run the event loop until a stop, then stop and join the vCPUs. Returns the exit status. */
int vm_wait(struct vm *vm);

/* Register pause/resume/counter hooks for a device (not owned; must outlive the VM's run). */
int vm_add_hooks(struct vm *vm, const char *name, void *opaque, const struct vm_dev_ops *ops) WUR;
/* Every vCPU leaves KVM_RUN at a defined point (pending I/O completed, see vm_pause.c) and
 * parks; then every device pauses (in-flight I/O drained) and the guest clock is saved. Loop
 * thread only. On failure (a vCPU did not stop in time, the VM is stopping) the VM keeps
 * running and err says why. */
int vm_pause(struct vm *vm, char *err, size_t errlen) WUR;
/* Restore the guest clock, resume the devices, release the vCPUs. No-op unless paused. */
void vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);
/* Report counters (per vCPU and per device) through emit. Loop thread. */
void vm_counters(struct vm *vm, vm_counter_fn emit, void *ctx);
/* vCPU threads call this after KVM_RUN returned EINTR: parks while a pause is requested. */
void vm_vcpu_checkpoint(struct vcpu *v);


#endif
