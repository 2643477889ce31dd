/* SPDX-License-Identifier: MIT */
/* debugcon: see debugcon.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/log.h"
#include "firmware/debugcon.h"

#define DEBUGCON_BUF 256

struct debugcon {
	int fd; /* -1: discard */
	pthread_mutex_t lock;
	uint8_t buf[DEBUGCON_BUF];
	unsigned used;
	uint64_t written;
	bool capped;
};

int debugcon_create(const char *path, struct debugcon **out)
{
	struct debugcon *dc = calloc(1, sizeof(*dc));
	if (!dc)
		return -ENOMEM;
	dc->fd = -1;
	if (pthread_mutex_init(&dc->lock, NULL)) {
		free(dc);
		return -ENOMEM;
	}
	if (path) {
		dc->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (dc->fd < 0) {
			int e = -errno;
			pthread_mutex_destroy(&dc->lock);
			free(dc);
			return e;
		}
	}
	*out = dc;
	return 0;
}

static void debugcon_flush_locked(struct debugcon *dc)
{
	unsigned n = dc->used;
	dc->used = 0;
	if (dc->fd < 0 || dc->capped || n == 0)
		return;
	if (dc->written + n > DEBUGCON_MAX_BYTES) {
		dc->capped = true;
		log_warn("debugcon: firmware log reached %u bytes, dropping the rest",
			 DEBUGCON_MAX_BYTES);
		return;
	}
	const uint8_t *p = dc->buf;
	while (n) {
		ssize_t w = write(dc->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_rl(LOG_WARN, "debugcon: write to firmware log failed: %s",
			       w < 0 ? strerror(errno) : "short write");
			dc->capped = true;
			return;
		}
		p += w;
		n -= (unsigned)w;
		dc->written += (uint64_t)w;
	}
}

void debugcon_flush(struct debugcon *dc)
{
	pthread_mutex_lock(&dc->lock);
	debugcon_flush_locked(dc);
	pthread_mutex_unlock(&dc->lock);
}

void debugcon_destroy(struct debugcon *dc)
{
	if (!dc)
		return;
	debugcon_flush(dc);
	if (dc->fd >= 0)
		close(dc->fd);
	pthread_mutex_destroy(&dc->lock);
	free(dc);
}

void debugcon_destroy_opaque(void *dc)
{
	debugcon_destroy(dc);
}

void debugcon_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
	if (len)
		((uint8_t *)data)[0] = DEBUGCON_READBACK;
}

void debugcon_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct debugcon *dc = opaque;
	(void)off;
	if (len == 0)
		return;
	/* Only the low byte of a wider write is a character. */
	uint8_t c = ((const uint8_t *)data)[0];
	pthread_mutex_lock(&dc->lock);
	if (dc->fd >= 0 && !dc->capped) {
		dc->buf[dc->used++] = c;
		if (c == '\n' || dc->used == DEBUGCON_BUF)
			debugcon_flush_locked(dc);
	}
	pthread_mutex_unlock(&dc->lock);
}

static const struct bus_ops debugcon_ops = {.read = debugcon_read, .write = debugcon_write};

int debugcon_attach(struct debugcon *dc, struct bus *pio, uint16_t port)
{
	return bus_insert(pio, port, 1, &debugcon_ops, dc, "debugcon");
}
