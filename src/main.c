/* SPDX-License-Identifier: MIT */
/* argv -> subcommand -> exit status. The only place that calls exit(). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "api/client.h"
#include "api/runtime.h"
#include "api/server.h"
#include "base/log.h"
#include "config/cli.h"
#include "vireo_version.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

static void usage(FILE *out)
{
	fputs("usage: vireo COMMAND [options]\n"
	      "\n"
	      "commands:\n"
	      "  run       boot a virtual machine (vireo run --help)\n"
	      "  ls        list the running VMs\n"
	      "  ctl       send an API request to a VM (vireo ctl --help)\n"
	      "  stop      power a VM off (ACPI), stop it after a timeout\n"
	      "  console   attach to a VM's serial console (detach: Ctrl-])\n"
	      "  backend   serve a device over vhost-user (vireo backend --help)\n"
	      "\n"
	      "  -h, --help     this help\n"
	      "  -V, --version  print the version\n",
	      out);
}

/* Many API connections at once need descriptors: take the hard limit. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			/* keep the soft limit */
		}
	}
}

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct cli_run_opts opts = {.log_level = LOG_WARN};
	struct rt_lock lock = {.fd = -1};
	struct api_server *api = NULL;
	struct vmm v;
	bool have_vmm = false;
	char err[512] = "", name[80];
	const char *sock;
	int lfd = -1, status = VM_EXIT_USAGE;
	bool bound = false;

	cfg_init(&cfg);
	int r = cli_parse_run(argc, argv, &cfg, &opts, stdout, err, sizeof(err));
	if (r == 1) {
		status = 0;
		goto out;
	}
	if (r < 0)
		goto fail;
	log_set_level((enum log_level)opts.log_level);
	raise_nofile();

	/* The name and the API socket (runtime.h): taken before anything else exists. */
	if (opts.name)
		snprintf(name, sizeof(name), "%s", opts.name);
	else
		snprintf(name, sizeof(name), "vm-%d", (int)getpid());
	sock = opts.api_socket;
	r = rt_lock_name(name, opts.api_socket, &lock, err, sizeof(err));
	if (r < 0 && (opts.name || r == -EBUSY))
		goto fail;
	if (r < 0) /* no runtime directory: an unnamed VM runs without a registered name */
		log_info("%s; not registered for vireo ls", err);
	else
		sock = lock.sock;
	if (sock) {
		r = api_listen_unix(sock, &lfd, err, sizeof(err));
		if (r < 0)
			goto fail;
		bound = true;
	}
	/* Threads (the API server's, the vCPUs) inherit the blocked signals. */
	if (vm_block_signals() < 0) {
		snprintf(err, sizeof(err), "cannot block signals");
		status = VM_EXIT_FAILURE;
		goto fail;
	}
	if (lfd >= 0) {
		r = api_server_start(lfd, &api, err, sizeof(err));
		lfd = -1;
		if (r < 0) {
			status = VM_EXIT_FAILURE;
			goto fail;
		}
	}
	r = vmm_init(&v, name, api, err, sizeof(err));
	have_vmm = true;
	if (r < 0) {
		status = VM_EXIT_FAILURE;
		goto fail;
	}
	if (opts.have_vm) {
		status = vmm_boot_initial(&v, &cfg, err, sizeof(err));
		if (status != 0)
			goto fail;
	}
	status = vmm_run(&v);
	if (status != VM_EXIT_OK)
		fprintf(stderr, "vireo: %s\n", v.exit_reason);
	else
		log_info("%s", v.exit_reason);
	goto out;
fail:
	fprintf(stderr, "vireo: %s\n", err);
out:
	if (have_vmm)
		vmm_fini(&v);
	api_server_stop(api);
	if (lfd >= 0)
		close(lfd);
	if (bound)
		unlink(sock);
	rt_unlock(&lock);
	cfg_fini(&cfg);
	cli_run_opts_fini(&opts);
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
	if (!strcmp(cmd, "ls"))
		exit(cmd_ls(argc - 1, argv + 1));
	if (!strcmp(cmd, "ctl"))
		exit(cmd_ctl(argc - 1, argv + 1));
	if (!strcmp(cmd, "stop"))
		exit(cmd_stop(argc - 1, argv + 1));
	if (!strcmp(cmd, "console"))
		exit(cmd_console(argc - 1, argv + 1));
	fprintf(stderr, "vireo: unknown command '%s' (try vireo --help)\n", cmd);
	exit(VM_EXIT_USAGE);
}
