/* SPDX-License-Identifier: MIT */
/*
 * Pause and resume (vm.pause / vm.resume), device hooks and counters.
 *
 * vCPUs. vm_pause() sets pause.requested and kicks every vCPU (run->immediate_exit + signal,
 * vcpu_kick). A vCPU thread reaches its checkpoint only when KVM_RUN returned EINTR. With
 * immediate_exit set, KVM first completes an exit that userspace already handled (the PIO/MMIO
 * read value is written to the guest register, the instruction retires) and then returns
 * without running guest code (KVM API, "immediate_exit"). So a parked vCPU has no half-done
 * exit; the guest is stopped between two instructions. The thread clears immediate_exit before
 * it looks at pause.requested, so a kick is never lost in between. Before parking it issues
 * KVM_KVMCLOCK_CTRL: KVM then sets PVCLOCK_GUEST_STOPPED in the guest's pvclock page at the
 * next entry, and Linux' soft-lockup and RCU-stall detectors take the gap as a pause
 * (kvm_check_and_clear_guest_paused()) instead of reporting a lockup.
 *
 * Devices. Once every vCPU is parked (and the clocks below are saved), each registered hook
 * pauses in registration order (virtio devices: requests are no longer popped, kicks are
 * remembered, in-flight I/O is drained and completed to the used ring). Resume runs the hooks
 * in reverse order, then restores the clocks and releases the vCPUs; the devices look at
 * their queues again, so no request is lost and none is done twice.
 *
 * Clocks. The guest sees no time pass while it is paused, on both of its clocks:
 *  - kvmclock: KVM_GET_CLOCK after the devices paused, KVM_SET_CLOCK with the same value
 *    before the vCPUs run again (as QEMU and Cloud Hypervisor do), so CLOCK_MONOTONIC and
 *    jiffies continue from where they stopped;
 *  - the TSC: each vCPU's KVM_VCPU_TSC_OFFSET is saved at the pause and moved back by the
 *    paused time (in guest TSC ticks, KVM_GET_TSC_KHZ) at resume, the same amount on every
 *    vCPU so they stay in sync.
 * Both are needed: Linux' clocksource watchdog compares the TSC with kvm-clock, and one that
 * counted the pause while the other did not would read as a multi-second readout interval
 * ("clocksource: Long readout interval, skipping watchdog check"), or as skew. The guest's
 * wall clock (CLOCK_REALTIME) falls behind by the pause until NTP or the guest corrects it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include "base/log.h"
#include "kvm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/vm_pause.h"

#define VM_PAUSE_TIMEOUT_S 10 /* longest wait for the vCPUs to park */

void vm_pause_init(struct vm *vm)
{
	struct vm_pause_state *p = &vm->pause;
	pthread_condattr_t ca;

	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&p->requested, false);
}

void vm_pause_fini(struct vm *vm)
{
	free(vm->pause.tsc_offset);
	vm->pause.tsc_offset = NULL;
	pthread_cond_destroy(&vm->pause.cond);
	pthread_mutex_destroy(&vm->pause.lock);
}

void vm_pause_wake_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause.lock);
	pthread_cond_broadcast(&vm->pause.cond);
	pthread_mutex_unlock(&vm->pause.lock);
}

int vm_add_hooks(struct vm *vm, const char *name, void *opaque, const struct vm_dev_ops *ops)
{
	struct vm_hook *h = calloc(1, sizeof(*h)), **tail = &vm->hooks;
	if (!h)
		return -ENOMEM;
	h->name = name;
	h->opaque = opaque;
	h->ops = ops;
	while (*tail)
		tail = &(*tail)->next;
	*tail = h;
	return 0;
}

void vm_vcpu_checkpoint(struct vcpu *v)
{
	struct vm_pause_state *p = &v->vm->pause;

	if (!atomic_load(&p->requested))
		return;
	/* Tell the guest it is being stopped (EINVAL: the guest has no kvmclock). */
	if (ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		log_rl(LOG_WARN, "vcpu%u: KVM_KVMCLOCK_CTRL: %s", v->id, strerror(errno));
	pthread_mutex_lock(&p->lock);
	p->parked++;
	pthread_cond_broadcast(&p->cond);
	while (atomic_load(&p->requested) && !vm_is_stopping(v->vm))
		pthread_cond_wait(&p->cond, &p->lock);
	p->parked--;
	pthread_mutex_unlock(&p->lock);
}

static unsigned vcpus_started(struct vm *vm)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i] && vm->vcpus[i]->started)
			n++;
	return n;
}

/* Wait until all started vCPUs are parked; false on timeout or stop. */
static bool wait_parked(struct vm *vm, unsigned want)
{
	struct vm_pause_state *p = &vm->pause;
	struct timespec dl;
	bool ok = true;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += VM_PAUSE_TIMEOUT_S;
	pthread_mutex_lock(&p->lock);
	while (p->parked < want && !vm_is_stopping(vm)) {
		if (pthread_cond_timedwait(&p->cond, &p->lock, &dl) == ETIMEDOUT) {
			ok = p->parked >= want;
			break;
		}
	}
	if (vm_is_stopping(vm))
		ok = false;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static void release_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause.lock);
	atomic_store(&vm->pause.requested, false);
	pthread_cond_broadcast(&vm->pause.cond);
	pthread_mutex_unlock(&vm->pause.lock);
}

static int tsc_offset_attr(struct vcpu *v, unsigned long op, uint64_t *val)
{
	struct kvm_device_attr a = {
	    .group = KVM_VCPU_TSC_CTRL,
	    .attr = KVM_VCPU_TSC_OFFSET,
	    .addr = (uint64_t)(uintptr_t)val,
	};
	return ioctl(v->fd, op, &a) < 0 ? -errno : 0;
}

/* Save every vCPU's TSC offset (all vCPUs parked). Without KVM_VCPU_TSC_OFFSET (Linux < 5.16)
 * the TSC counts the pause. */
static void tsc_save(struct vm *vm)
{
	struct vm_pause_state *p = &vm->pause;

	free(p->tsc_offset);
	p->tsc_offset = calloc(vm->nr_vcpus, sizeof(*p->tsc_offset));
	for (unsigned i = 0; p->tsc_offset && i < vm->nr_vcpus; i++) {
		int r = tsc_offset_attr(vm->vcpus[i], KVM_GET_DEVICE_ATTR, &p->tsc_offset[i]);
		if (r < 0) {
			log_rl(LOG_WARN,
			       "vcpu%u: KVM_VCPU_TSC_OFFSET: %s; the guest TSC counts "
			       "the pause",
			       i, strerror(-r));
			free(p->tsc_offset);
			p->tsc_offset = NULL;
		}
	}
}

static void tsc_restore(struct vm *vm, uint64_t paused_ns)
{
	struct vm_pause_state *p = &vm->pause;
	int khz;

	if (!p->tsc_offset || !vm->nr_vcpus)
		return;
	khz = ioctl(vm->vcpus[0]->fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0) {
		log_rl(LOG_WARN, "vm: KVM_GET_TSC_KHZ: %s; the guest TSC counts the pause",
		       strerror(errno));
		return;
	}
	/* ticks = ns * kHz / 10^6 (128-bit: no overflow for any pause) */
	uint64_t ticks = (uint64_t)((unsigned __int128)paused_ns * (unsigned)khz / 1000000u);
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		uint64_t off = p->tsc_offset[i] - ticks;
		int r = tsc_offset_attr(vm->vcpus[i], KVM_SET_DEVICE_ATTR, &off);
		if (r < 0)
			log_rl(LOG_WARN, "vcpu%u: setting KVM_VCPU_TSC_OFFSET: %s", i,
			       strerror(-r));
	}
}

int vm_pause(struct vm *vm, char *err, size_t errlen)
{
	struct vm_pause_state *p = &vm->pause;
	unsigned want = vcpus_started(vm);

	if (p->paused)
		return 0;
	if (vm_is_stopping(vm)) {
		snprintf(err, errlen, "the VM is stopping");
		return -ESHUTDOWN;
	}
	atomic_store(&p->requested, true);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
	if (!wait_parked(vm, want)) {
		release_vcpus(vm);
		if (vm_is_stopping(vm)) {
			snprintf(err, errlen, "the VM is stopping");
			return -ESHUTDOWN;
		}
		snprintf(err, errlen, "%u of %u vCPUs did not stop within %d s", want - p->parked,
			 want, VM_PAUSE_TIMEOUT_S);
		return -ETIMEDOUT;
	}
	/* The clocks stop first: draining the devices can take a while (a slow disk), and the
	 * guest must not see that time pass either. */
	tsc_save(vm);
	p->have_clock = ioctl(vm->kvm.vm_fd, KVM_GET_CLOCK, &p->clock) == 0;
	if (!p->have_clock)
		log_rl(LOG_WARN, "vm: KVM_GET_CLOCK: %s; the guest clock counts the pause",
		       strerror(errno));
	p->paused_at_ns = time_now_ns();
	for (struct vm_hook *h = vm->hooks; h; h = h->next)
		if (h->ops->pause)
			h->ops->pause(h->opaque);
	p->paused = true;
	p->nr_pauses++;
	return 0;
}

static void resume_hooks(struct vm_hook *h)
{
	if (!h)
		return;
	resume_hooks(h->next); /* reverse registration order */
	if (h->ops->resume)
		h->ops->resume(h->opaque);
}

void vm_resume(struct vm *vm)
{
	struct vm_pause_state *p = &vm->pause;

	if (!p->paused)
		return;
	resume_hooks(vm->hooks); /* devices first: the clocks restart last, just before the vCPUs */
	uint64_t paused_ns = time_now_ns() - p->paused_at_ns, frozen_ns = paused_ns;
	if (p->have_clock) {
		/* kvmclock is held back by what it advanced since the pause (now - saved); the
		 * TSC by exactly as much, so the two stay in step (the watchdog allows ~100 us).
		 * The two clock ioctls are back to back: the error is one syscall. */
		struct kvm_clock_data now, c = {.clock = p->clock.clock}; /* flags 0: as is */
		memset(&now, 0, sizeof(now));
		bool have_now = ioctl(vm->kvm.vm_fd, KVM_GET_CLOCK, &now) == 0;
		if (ioctl(vm->kvm.vm_fd, KVM_SET_CLOCK, &c) < 0)
			log_rl(LOG_WARN, "vm: KVM_SET_CLOCK: %s; the guest clock counts the pause",
			       strerror(errno));
		else if (have_now && now.clock > p->clock.clock)
			frozen_ns = now.clock - p->clock.clock;
	}
	tsc_restore(vm, frozen_ns);
	p->paused_total_ns += paused_ns;
	p->paused = false;
	release_vcpus(vm);
}

bool vm_is_paused(struct vm *vm)
{
	return vm->pause.paused;
}

void vm_counters(struct vm *vm, vm_counter_fn emit, void *ctx)
{
	char name[16];
	uint64_t paused = vm->pause.paused_total_ns;

	if (vm->pause.paused)
		paused += time_now_ns() - vm->pause.paused_at_ns;
	emit(ctx, "vm", "pauses", vm->pause.nr_pauses);
	emit(ctx, "vm", "paused_ns", paused);
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		snprintf(name, sizeof(name), "vcpu%u", i);
		emit(ctx, name, "exits",
		     __atomic_load_n(&vm->vcpus[i]->nr_exits, __ATOMIC_RELAXED));
	}
	for (struct vm_hook *h = vm->hooks; h; h = h->next)
		if (h->ops->counters)
			h->ops->counters(h->opaque, emit, ctx);
}
