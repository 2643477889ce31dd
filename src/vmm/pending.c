/* SPDX-License-Identifier: MIT */
/*
 * TEMPORARY link placeholders (weak) for areas still being merged; removed once they land.
 * Beware: a weak definition here also satisfies the reference when the real definition sits
 * in another member of the same static archive, so that member is never linked in. Remove a
 * placeholder in the same commit that adds the real function.
 */
#include <errno.h>
#include <stdio.h>
#include "arch/x86/arch.h"
