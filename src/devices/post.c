/* SPDX-License-Identifier: MIT */
/* Port 0x80 POST-code sink. See post.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "base/log.h"
#include "devices/post.h"

struct post {
	struct bus *pio;
	uint16_t port;
	atomic_uchar last;
};

uint8_t post_last(struct post *p)
{
	return atomic_load(&p->last);
}

static void post_pio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	uint8_t *d = data;

	d[0] = post_last(opaque);
	for (uint32_t i = 1; i < len; i++)
		d[i] = 0xff;
}

static void post_pio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct post *p = opaque;

	atomic_store(&p->last, *(const uint8_t *)data);
}

static const struct bus_ops post_ops = {.read = post_pio_read, .write = post_pio_write};

int post_create(struct bus *pio, uint16_t port, struct post **out)
{
	struct post *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->pio = pio;
	p->port = port;
	atomic_init(&p->last, 0);
	r = bus_insert(pio, port, 1, &post_ops, p, "post");
	if (r < 0) {
		free(p);
		return r;
	}
	*out = p;
	return 0;
}

void post_destroy(struct post *p)
{
	if (!p)
		return;
	if (bus_remove(p->pio, p->port, p) < 0)
		log_debug("post: range already gone");
	free(p);
}
