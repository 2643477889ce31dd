/* SPDX-License-Identifier: MIT */
/* Helpers shared by the `vireo run` command-line tests (test_cli.c, test_cli_display.c). */
#ifndef VIREO_TESTS_CLI_TEST_H
#define VIREO_TESTS_CLI_TEST_H

#include <stddef.h>
#include "config/config.h"

/* Parse a run command line given as a NULL-terminated list (cfg_init'ed here); returns
 * cli_parse_run's result. */
int cli_test_parse(struct vm_config *cfg, char *err, size_t errlen, const char **args);
/* A one-byte file to give --kernel (in the test's temporary directory). */
const char *cli_test_kernel(void);

#endif
