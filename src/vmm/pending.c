/* SPDX-License-Identifier: MIT */
/* TEMPORARY link placeholders (weak) for areas still being merged; removed once they land. */
#include <errno.h>
#include <stdio.h>
#include "arch/x86/arch.h"

__attribute__((weak)) int x86_vcpu_setup(int kvm_sys_fd, int vcpu_fd,
					 const struct kvm_cpuid2 *supported, unsigned id,
					 unsigned nr_vcpus, const struct boot_entry *entry,
					 struct guest_mem *gm)
{
	return -ENOSYS;
}
