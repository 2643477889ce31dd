/* SPDX-License-Identifier: MIT */
/* A level-triggered interrupt line as a device sees it: the VMM wires it to the irqchip. */
#ifndef VIREO_BASE_IRQ_H
#define VIREO_BASE_IRQ_H

#include <stdint.h>

struct irq_line {
	void (*set)(void *opaque, uint32_t gsi, int level);
	void *opaque;
	uint32_t gsi;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l && l->set)
		l->set(l->opaque, l->gsi, level);
}

#endif
