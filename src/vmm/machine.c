/* SPDX-License-Identifier: MIT */
/* The x86 machine assembly (interim: devices and loaders are wired as their areas land). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "vmm/machine.h"
#include "vmm/vm.h"

struct machine {
	const struct vm_config *cfg;
};

int machine_prepare(const struct vm_config *cfg, struct machine **out, char *err, size_t errlen)
{
	struct machine *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->cfg = cfg;
	*out = m;
	return 0;
}

int machine_build(struct machine *m, struct vm *vm, char *err, size_t errlen)
{
	(void)m;
	(void)vm;
	snprintf(err, errlen, "machine: not wired yet");
	return -ENOSYS;
}

void machine_restore_host(struct machine *m)
{
	(void)m;
}

void machine_destroy(struct machine *m)
{
	free(m);
}
