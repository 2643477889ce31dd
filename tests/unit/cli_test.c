/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include "cli_test.h"
#include "config/cli.h"
#include "harness.h"

int cli_test_parse(struct vm_config *cfg, char *err, size_t errlen, const char **args)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = (char *)"run";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	struct cli_run_opts opts = {.log_level = 1};
	FILE *devnull = fopen("/dev/null", "w");
	cfg_init(cfg);
	int r = cli_parse_run(argc, argv, cfg, &opts, devnull, err, errlen);
	fclose(devnull);
	cli_run_opts_fini(&opts);
	return r;
}

const char *cli_test_kernel(void)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/kernel", test_tmpdir());
	FILE *f = fopen(path, "w");
	fputs("x", f);
	fclose(f);
	return path;
}
