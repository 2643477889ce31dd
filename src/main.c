/* SPDX-License-Identifier: MIT */
/* Placeholder until the CLI lands. */
#include <stdio.h>
int main(void)
{
	fputs("vireo: not yet\n", stderr);
	return 2;
}
