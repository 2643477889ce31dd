/* SPDX-License-Identifier: MIT */
/* One thread per vCPU: KVM_RUN and the exit switch (PIO/MMIO -> buses). */
#ifndef VIREO_KVM_VCPU_H
#define VIREO_KVM_VCPU_H

#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <linux/kvm.h>
#include "base/util.h"

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint64_t nr_exits;
};

int vcpu_create(struct vm *vm, unsigned id, struct vcpu **out) WUR;
void vcpu_destroy(struct vcpu *vcpu);
int vcpu_start(struct vcpu *vcpu) WUR;
/* Make a running vCPU leave KVM_RUN (signal + immediate_exit). */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
/* One line per register group for failure reports, written to the log. */
void vcpu_dump_regs(struct vcpu *vcpu);

#endif
