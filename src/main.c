/* SPDX-License-Identifier: MIT */
/* argv -> subcommand -> exit status. The only place that calls exit(). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "config/cli.h"
#include "kvm/kvm.h"
#include "vireo_version.h"
#include "vmm/machine.h"
#include "vmm/vm.h"

static void usage(FILE *out)
{
	fputs("usage: vireo COMMAND [options]\n"
	      "\n"
	      "commands:\n"
	      "  run       boot a virtual machine (vireo run --help)\n"
	      "  backend   serve a device over vhost-user (vireo backend --help)\n"
	      "\n"
	      "  -h, --help     this help\n"
	      "  -V, --version  print the version\n",
	      out);
}

static const char pvm_note[] =
	"note: /dev/kvm here is kvm_pvm (no VT-x/AMD-V): guest kernel-mode code is emulated "
	"instruction by instruction and the VM stops at the guest's first CPU exception in "
	"kernel mode; pass 'noxsave' to Linux guests (see README, Platform note)";

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct machine *m = NULL;
	struct vm *vm = NULL;
	char err[512] = "";
	int level = LOG_WARN;
	int status;

	cfg_init(&cfg);
	int r = cli_parse_run(argc, argv, &cfg, &level, stdout, err, sizeof(err));
	if (r == 1) {
		cfg_fini(&cfg);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "vireo: %s\n", err);
		cfg_fini(&cfg);
		return VM_EXIT_USAGE;
	}
	log_set_level((enum log_level)level);
	r = machine_prepare(&cfg, &m, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vireo: %s\n", err);
		cfg_fini(&cfg);
		return VM_EXIT_USAGE;
	}
	if (vm_block_signals() < 0) {
		fprintf(stderr, "vireo: cannot block signals\n");
		status = VM_EXIT_FAILURE;
		goto out;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		fprintf(stderr, "vireo: out of memory\n");
		status = VM_EXIT_FAILURE;
		goto out;
	}
	r = vm_create(vm, &cfg, err, sizeof(err));
	const char *t0 = getenv("VIREO_STARTUP_T0");
	if (t0)
		vm->startup_t0_ns = strtoull(t0, NULL, 10);
	if (r < 0) {
		fprintf(stderr, "vireo: %s\n", err);
		status = VM_EXIT_FAILURE;
		goto out;
	}
	if (vm->kvm.pvm)
		log_warn("%s", pvm_note);
	r = machine_build(m, vm, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vireo: %s\n", err);
		status = r == -EINVAL ? VM_EXIT_USAGE : VM_EXIT_FAILURE;
		goto out;
	}
	status = vm_run(vm);
	machine_restore_host(m);
	if (status != VM_EXIT_OK)
		fprintf(stderr, "vireo: %s\n", vm->exit_reason);
	else
		log_info("%s", vm->exit_reason);
out:
	if (m)
		machine_restore_host(m);
	if (vm) {
		vm_destroy(vm);
		free(vm);
	}
	machine_destroy(m);
	cfg_fini(&cfg);
	return status;
}

int cmd_backend(int argc, char **argv);

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		exit(VM_EXIT_USAGE);
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		exit(0);
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("vireo %s\n", VIREO_VERSION);
		exit(0);
	}
	if (!strcmp(cmd, "run"))
		exit(cmd_run(argc - 1, argv + 1));
	if (!strcmp(cmd, "backend"))
		exit(cmd_backend(argc - 1, argv + 1));
	fprintf(stderr, "vireo: unknown command '%s' (try vireo --help)\n", cmd);
	exit(VM_EXIT_USAGE);
}
