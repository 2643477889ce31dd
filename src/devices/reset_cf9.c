/* SPDX-License-Identifier: MIT */
/* PCI reset control register (0xCF9). See reset_cf9.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "base/log.h"
#include "devices/reset_cf9.h"

#define CF9_PORT 0xcf9
#define CF9_SYS_RST 0x02
#define CF9_RST_CPU 0x04
#define CF9_FULL_RST 0x08

struct reset_cf9 {
	struct bus *pio; /* NULL when the PCI host bridge forwards to us */
	platform_reset_fn on_reset;
	void *opaque;
	atomic_uchar val;
};

uint8_t reset_cf9_read(struct reset_cf9 *r)
{
	return atomic_load(&r->val);
}

void reset_cf9_write(struct reset_cf9 *r, uint8_t v)
{
	atomic_store(&r->val, (unsigned char)(v & (CF9_SYS_RST | CF9_FULL_RST)));
	if ((v & CF9_RST_CPU) && r->on_reset)
		r->on_reset(r->opaque);
}

static void cf9_pio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	uint8_t *d = data;

	d[0] = reset_cf9_read(opaque);
	for (uint32_t i = 1; i < len; i++)
		d[i] = 0xff;
}

static void cf9_pio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	reset_cf9_write(opaque, *(const uint8_t *)data);
}

const struct bus_ops reset_cf9_ops = {.read = cf9_pio_read, .write = cf9_pio_write};

int reset_cf9_create(struct bus *pio, platform_reset_fn on_reset, void *opaque,
		     struct reset_cf9 **out)
{
	struct reset_cf9 *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->pio = pio;
	r->on_reset = on_reset;
	r->opaque = opaque;
	atomic_init(&r->val, 0);
	if (pio) {
		int e = bus_insert(pio, CF9_PORT, 1, &reset_cf9_ops, r, "reset-cf9");
		if (e < 0) {
			free(r);
			return e;
		}
	}
	*out = r;
	return 0;
}

void reset_cf9_destroy(struct reset_cf9 *r)
{
	if (!r)
		return;
	if (r->pio && bus_remove(r->pio, CF9_PORT, r) < 0)
		log_debug("reset-cf9: range already gone");
	free(r);
}
