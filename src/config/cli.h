/* SPDX-License-Identifier: MIT */
/* The `vireo run` command line -> struct vm_config. */
#ifndef VIREO_CONFIG_CLI_H
#define VIREO_CONFIG_CLI_H

#include <stddef.h>
#include <stdio.h>
#include "config/config.h"

/* What `vireo run` takes besides the VM itself. */
struct cli_run_opts {
	int log_level;	  /* -v/--log-level (unchanged when not given) */
	char *name;	  /* --name, or NULL */
	char *api_socket; /* --api-socket, or NULL */
	bool have_vm;	  /* a payload was given (flags or --config): create and boot it */
};
void cli_run_opts_fini(struct cli_run_opts *o);

/* Returns 0 (parsed), 1 (--help was printed to out) or -EINVAL with a one-line reason in err.
 * argv[0] is "run". The VM comes from the flags or from --config FILE.json (not both); without
 * a payload, --name or --api-socket starts an empty VMM that waits for vm.create. */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, struct cli_run_opts *opts,
		  FILE *out, char *err, size_t errlen);
void cli_usage_run(FILE *out);

/* VM names: 1..64 of [A-Za-z0-9_.-], not starting with '.' or '-'. One-line reason. */
int cli_check_name(const char *name, char *err, size_t errlen) WUR;

#endif
