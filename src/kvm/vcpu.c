/* SPDX-License-Identifier: MIT */
/*
 * vCPU threads. Each thread loops on KVM_RUN and dispatches exits: port I/O and MMIO go to the
 * VM's buses (offset-relative handlers), system events and failures stop the VM. A vCPU is
 * kicked out of KVM_RUN with SIGUSR1 plus run->immediate_exit, so a stop never waits on a guest.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "arch/x86/arch.h"
#include "base/log.h"
#include "kvm/vcpu.h"
#include "vmm/vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

int vcpu_create(struct vm *vm, unsigned id, struct vcpu **out)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->kvm.vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		int e = -errno;
		free(v);
		return e;
	}
	v->run = mmap(NULL, (size_t)vm->kvm.run_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		int e = -errno;
		close(v->fd);
		free(v);
		return e;
	}
	*out = v;
	return 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	munmap(v->run, (size_t)v->vm->kvm.run_mmap_size);
	close(v->fd);
	free(v);
}

void vcpu_dump_regs(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		log_err("vcpu%u: cannot read registers: %s", v->id, strerror(errno));
		return;
	}
	log_err("vcpu%u: rip=%016llx rsp=%016llx rflags=%08llx rax=%016llx rbx=%016llx "
		"rcx=%016llx rdx=%016llx rsi=%016llx rdi=%016llx rbp=%016llx",
		v->id, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp);
	log_err("vcpu%u: r8=%016llx r9=%016llx r10=%016llx r11=%016llx r12=%016llx r13=%016llx "
		"r14=%016llx r15=%016llx",
		v->id, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15);
	log_err("vcpu%u: cs=%04x(base %llx l=%u db=%u) ss=%04x ds=%04x cr0=%llx cr2=%llx "
		"cr3=%llx cr4=%llx efer=%llx apic_base=%llx",
		v->id, s.cs.selector, s.cs.base, s.cs.l, s.cs.db, s.ss.selector, s.ds.selector,
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.apic_base);
}

static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t size = run->io.size;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&v->vm->pio, run->io.port, data, size);
		else
			bus_read(&v->vm->pio, run->io.port, data, size);
	}
}

static void vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;
	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (run->mmio.is_write)
		bus_write(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
}

/* Returns false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; treat an unrecoverable halt as power-off. */
		vm_request_stop(vm, VM_EXIT_OK, "vcpu%u halted", v->id);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_request_stop(vm, VM_EXIT_OK, "guest powered off");
			break;
		case KVM_SYSTEM_EVENT_RESET:
			vm_request_stop(vm, VM_EXIT_OK, "guest requested reset");
			break;
		default:
			vm_request_stop(vm, VM_EXIT_FAILURE, "vcpu%u: system event %u", v->id,
					run->system_event.type);
		}
		return false;
	case KVM_EXIT_SHUTDOWN:
		vcpu_dump_regs(v);
		vm_request_stop(vm, VM_EXIT_FAILURE, "vcpu%u: triple fault (KVM_EXIT_SHUTDOWN)",
				v->id);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_dump_regs(v);
		vm_request_stop(vm, VM_EXIT_FAILURE,
				"vcpu%u: KVM_EXIT_FAIL_ENTRY (hardware reason 0x%llx)", v->id,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_dump_regs(v);
		vm_request_stop(vm, VM_EXIT_FAILURE,
				"vcpu%u: KVM_EXIT_INTERNAL_ERROR (suberror %u)%s", v->id,
				run->internal.suberror,
				vm->kvm.pvm && run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
					? ": the guest raised an exception in emulated kernel "
					  "code (kvm_pvm host, see README)"
					: "");
		return false;
	default:
		vcpu_dump_regs(v);
		vm_request_stop(vm, VM_EXIT_FAILURE, "vcpu%u: unhandled KVM exit %u", v->id,
				run->exit_reason);
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	sigset_t set;

	/* Only the kick signal is delivered to vCPU threads; SIGINT/SIGTERM go to the loop. */
	sigfillset(&set);
	sigdelset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_SETMASK, &set, NULL);

	if (v->id == 0 && v->vm->startup_t0_ns) {
		uint64_t now = time_now_ns();
		fprintf(stderr, "vireo: startup: first KVM_RUN at +%llu us\n",
			(unsigned long long)((now - v->vm->startup_t0_ns) / 1000));
	}
	while (!vm_is_stopping(v->vm)) {
		int r = ioctl(v->fd, KVM_RUN, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* Clear before the checkpoint looks at a pause request, so a
				 * kick in between is never lost (vm_pause.c). */
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				vm_vcpu_checkpoint(v);
				continue;
			}
			vm_request_stop(v->vm, VM_EXIT_FAILURE, "vcpu%u: KVM_RUN failed: %s", v->id,
					strerror(errno));
			break;
		}
		__atomic_fetch_add(&v->nr_exits, 1, __ATOMIC_RELAXED); /* read by vm.counters */
		if (!vcpu_handle_exit(v))
			break;
	}
	return NULL;
}

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

int vcpu_start(struct vcpu *v)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (r)
		return -r;
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
	if (!v->started)
		return;
	pthread_join(v->thread, NULL);
	v->started = false;
}
