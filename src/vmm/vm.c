/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "arch/x86/layout.h"
#include "base/log.h"
#include "kvm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/vm_pause.h"

static void vm_gsi_set(void *opaque, uint32_t gsi, int level)
{
	struct vm *vm = opaque;
	int r = kvm_irq_line(&vm->kvm, gsi, level);
	if (r < 0)
		log_rl(LOG_ERR, "irq: KVM_IRQ_LINE gsi %u: %s", gsi, strerror(-r));
}

struct irq_line vm_irq_line(struct vm *vm, uint32_t gsi)
{
	return (struct irq_line){.set = vm_gsi_set, .opaque = vm, .gsi = gsi};
}

int vm_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2); /* --display screenshot=: read from a signalfd */
	int r = pthread_sigmask(SIG_BLOCK, &set, NULL);
	return r ? -r : 0;
}

static int vm_map_ram(struct vm *vm, uint64_t gpa, uint64_t size, uint64_t fd_off)
{
	uint8_t *hva = (uint8_t *)vm->ram_hva + fd_off;
	int r = kvm_add_memslot(&vm->kvm, gpa, size, hva, false);
	if (r < 0)
		return r;
	return gm_add_region(&vm->mem, gpa, size, hva, vm->ram_fd, fd_off, false);
}

int vm_create(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	const char *why = NULL;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->ram_fd = -1;
	vm->signal_fd = -1;
	vm->kvm.sys_fd = vm->kvm.vm_fd = -1;
	gm_init(&vm->mem);
	pthread_mutex_init(&vm->lock, NULL);
	vm_pause_init(vm);

	r = kvm_open(&vm->kvm, &why);
	if (r < 0) {
		if (r == -ENOTSUP)
			snprintf(err, errlen, "kvm: this host's KVM lacks %s", why);
		else if (r == -EINVAL)
			snprintf(err, errlen, "kvm: %s", why);
		else
			snprintf(err, errlen, "kvm: %s: %s", why, strerror(-r));
		return r;
	}
	if (cfg->cpus > vm->kvm.max_vcpus) {
		snprintf(err, errlen, "--cpus %u: this host's KVM allows at most %u", cfg->cpus,
			 vm->kvm.max_vcpus);
		return -EINVAL;
	}
	r = kvm_create_vm(&vm->kvm, &why);
	if (r < 0) {
		snprintf(err, errlen, "kvm: %s: %s", why, strerror(-r));
		return r;
	}

	vm->ram_size = cfg->mem_size;
	r = gm_alloc_memfd("vireo-ram", vm->ram_size, &vm->ram_fd, &vm->ram_hva);
	if (r < 0) {
		snprintf(err, errlen, "memory: cannot allocate %llu MiB of guest RAM: %s",
			 (unsigned long long)(vm->ram_size / MiB), strerror(-r));
		return r;
	}
	vm->ram_below_4g = MIN(vm->ram_size, LAYOUT_MMIO_HOLE_START);
	vm->ram_above_4g = vm->ram_size - vm->ram_below_4g;
	r = vm_map_ram(vm, 0, vm->ram_below_4g, 0);
	if (r == 0 && vm->ram_above_4g)
		r = vm_map_ram(vm, LAYOUT_RAM_ABOVE_4G_START, vm->ram_above_4g, vm->ram_below_4g);
	if (r < 0) {
		snprintf(err, errlen, "memory: cannot map guest RAM: %s", strerror(-r));
		return r;
	}

	if ((r = bus_init(&vm->pio, "pio")) < 0 || (r = bus_init(&vm->mmio, "mmio")) < 0) {
		snprintf(err, errlen, "bus: init failed: %s", strerror(-r));
		return r;
	}
	r = ev_loop_create(&vm->loop);
	if (r < 0) {
		snprintf(err, errlen, "event loop: %s", strerror(-r));
		return r;
	}
	return 0;
}

int vm_add_device(struct vm *vm, const char *name, void *opaque, void (*destroy)(void *))
{
	struct vm_device *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->name = name;
	d->opaque = opaque;
	d->destroy = destroy;
	d->next = vm->devices;
	vm->devices = d;
	return 0;
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
	bool expected = false;
	if (!atomic_compare_exchange_strong(&vm->stopping, &expected, true))
		return;
	vm->exit_status = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
	va_end(ap);
	if (vm->loop)
		ev_loop_stop(vm->loop);
	vm_pause_wake_all(vm); /* parked vCPUs see the stop */
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus && vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
}

bool vm_is_stopping(struct vm *vm)
{
	return atomic_load(&vm->stopping);
}

static void vm_on_signal(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;
	(void)events;
	if (read(vm->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	vm_request_stop(vm, VM_EXIT_OK, "stopped by %s", strsignal((int)si.ssi_signo));
}

static int vm_setup_signals(struct vm *vm)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	vm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->signal_fd < 0)
		return -errno;
	return ev_add(vm->loop, vm->signal_fd, EPOLLIN, vm_on_signal, vm, &vm->signal_h);
}

static void vm_stop_vcpus(struct vm *vm)
{
	atomic_store(&vm->stopping, true);
	vm_pause_wake_all(vm);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i])
			vcpu_join(vm->vcpus[i]);
}

int vm_start(struct vm *vm, char *err, size_t errlen)
{
	unsigned n = vm->cfg->cpus;
	int r;

	r = vm_setup_signals(vm);
	if (r < 0) {
		snprintf(err, errlen, "signals: %s", strerror(-r));
		return r;
	}
	vm->vcpus = calloc(n, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		snprintf(err, errlen, "vcpus: out of memory");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		r = vcpu_create(vm, i, &vm->vcpus[i]);
		if (r == 0)
			r = x86_vcpu_setup(vm->kvm.sys_fd, vm->vcpus[i]->fd, vm->kvm.supported_cpuid,
					   i, n, &vm->boot, &vm->mem);
		if (r < 0) {
			snprintf(err, errlen, "vcpu%u: setup failed: %s", i, strerror(-r));
			vm->nr_vcpus = i + 1;
			vm_stop_vcpus(vm);
			return r;
		}
		vm->nr_vcpus = i + 1;
	}
	vm->started_ns = time_now_ns();
	for (unsigned i = 0; i < n; i++) {
		r = vcpu_start(vm->vcpus[i]);
		if (r < 0) {
			snprintf(err, errlen, "vcpu%u: cannot start thread: %s", i, strerror(-r));
			vm_request_stop(vm, VM_EXIT_FAILURE, "%s", err);
			vm_stop_vcpus(vm);
			return r;
		}
	}
	return 0;
}

int vm_wait(struct vm *vm)
{
	while (!vm_is_stopping(vm)) {
		int r = ev_loop_run(vm->loop);
		if (r < 0)
			vm_request_stop(vm, VM_EXIT_FAILURE, "event loop: %s", strerror(-r));
	}
	vm_stop_vcpus(vm);
	return vm->exit_status;
}

int vm_run(struct vm *vm)
{
	char err[256];
	if (vm_start(vm, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return VM_EXIT_FAILURE;
	}
	return vm_wait(vm);
}

void vm_destroy(struct vm *vm)
{
	/* Devices first (reverse order of registration), then vCPUs, buses, memory, KVM. */
	while (vm->devices) {
		struct vm_device *d = vm->devices;
		vm->devices = d->next;
		if (d->destroy)
			d->destroy(d->opaque);
		free(d);
	}
	while (vm->hooks) {
		struct vm_hook *h = vm->hooks;
		vm->hooks = h->next;
		free(h);
	}
	if (vm->vcpus) {
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			vcpu_destroy(vm->vcpus[i]);
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	if (vm->loop) {
		if (vm->signal_h)
			ev_del(vm->loop, vm->signal_h);
		ev_loop_destroy(vm->loop);
		vm->loop = NULL;
	}
	if (vm->signal_fd >= 0)
		close(vm->signal_fd);
	if (vm->pio.ranges || vm->pio.name)
		bus_fini(&vm->pio);
	if (vm->mmio.ranges || vm->mmio.name)
		bus_fini(&vm->mmio);
	if (vm->ram_hva)
		munmap(vm->ram_hva, vm->ram_size);
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	kvm_close(&vm->kvm);
	pthread_mutex_destroy(&vm->lock);
	vm_pause_fini(vm);
}
