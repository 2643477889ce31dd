/* SPDX-License-Identifier: MIT */
/*
 * An address bus (PIO or MMIO): non-overlapping ranges sorted by base, binary-search lookup.
 * Handlers get the offset from the range base, never the absolute address.
 * Reads that hit nothing return all-ones (0xff bytes), like an undriven ISA/PCI bus, and are
 * logged once per address. Writes that hit nothing are dropped and logged once per address.
 * Lookups take a read lock; the handler is called after the lock is released, so a handler may
 * itself move ranges (PCI BAR relocation). Devices are never freed while vCPUs run.
 */
#ifndef VIREO_BUS_BUS_H
#define VIREO_BUS_BUS_H

#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include "base/util.h"

struct bus_ops {
	void (*read)(void *opaque, uint64_t off, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t off, const void *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

#define BUS_UNHANDLED_LOG_MAX 64

struct bus {
	const char *name; /* "pio" or "mmio" */
	pthread_rwlock_t lock;
	struct bus_range *ranges;
	size_t nr, cap;
	pthread_mutex_t log_lock;
	uint64_t logged[BUS_UNHANDLED_LOG_MAX]; /* addresses already reported as unhandled */
	unsigned nr_logged;
};

int bus_init(struct bus *bus, const char *name) WUR;
void bus_fini(struct bus *bus);
/* -EINVAL for len 0 or wrap-around, -EEXIST for overlap, -ENOMEM. */
int bus_insert(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
	       void *opaque, const char *name) WUR;
/* Remove the range that starts exactly at base and belongs to opaque; -ENOENT otherwise. */
int bus_remove(struct bus *bus, uint64_t base, void *opaque) WUR;
/* Copy of the range containing addr; false if none. */
bool bus_lookup(struct bus *bus, uint64_t addr, struct bus_range *out);
/* Dispatch; return true if a device handled the access (the whole access must fit the range). */
bool bus_read(struct bus *bus, uint64_t addr, void *data, uint32_t len);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, uint32_t len);

#endif
