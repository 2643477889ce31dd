/* SPDX-License-Identifier: MIT */
/* TEMPORARY link placeholders (weak) for areas still being merged; removed once they land. */
#include <errno.h>
#include <stdio.h>
#include "arch/x86/arch.h"

int cmd_backend(int argc, char **argv);

__attribute__((weak)) int cmd_backend(int argc, char **argv)
{
	fputs("vireo: backend: not available in this build\n", stderr);
	return 2;
}
