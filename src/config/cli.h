/* SPDX-License-Identifier: MIT */
/* The `vireo run` command line -> struct vm_config. */
#ifndef VIREO_CONFIG_CLI_H
#define VIREO_CONFIG_CLI_H

#include <stddef.h>
#include <stdio.h>
#include "config/config.h"

/* Returns 0 (parsed), 1 (--help was printed to out) or -EINVAL with a one-line reason in err.
 * argv[0] is "run". log_level receives -v/--log-level (unchanged when not given). */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, int *log_level, FILE *out,
		  char *err, size_t errlen);
void cli_usage_run(FILE *out);

#endif
