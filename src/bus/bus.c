/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "bus/bus.h"

int bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	if (pthread_rwlock_init(&bus->lock, NULL))
		return -ENOMEM;
	if (pthread_mutex_init(&bus->log_lock, NULL)) {
		pthread_rwlock_destroy(&bus->lock);
		return -ENOMEM;
	}
	return 0;
}

void bus_fini(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->log_lock);
}

/* Index of the first range whose end is above addr (caller holds the lock). */
static size_t bus_search_locked(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nr;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];
		if (addr - r->base < r->len && addr >= r->base)
			return mid;
		if (addr < r->base)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int bus_insert(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
	       void *opaque, const char *name)
{
	if (len == 0 || base + len - 1 < base || !ops)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	size_t pos = 0;
	while (pos < bus->nr && bus->ranges[pos].base < base)
		pos++;
	/* Overlap with the neighbour below or above? */
	if ((pos > 0 && bus->ranges[pos - 1].base + bus->ranges[pos - 1].len - 1 >= base) ||
	    (pos < bus->nr && bus->ranges[pos].base <= base + len - 1)) {
		pthread_rwlock_unlock(&bus->lock);
		return -EEXIST;
	}
	if (bus->nr == bus->cap) {
		size_t ncap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *n = realloc(bus->ranges, ncap * sizeof(*n));
		if (!n) {
			pthread_rwlock_unlock(&bus->lock);
			return -ENOMEM;
		}
		bus->ranges = n;
		bus->cap = ncap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos], (bus->nr - pos) * sizeof(*bus->ranges));
	bus->ranges[pos] = (struct bus_range){base, len, ops, opaque, name};
	bus->nr++;
	pthread_rwlock_unlock(&bus->lock);
	return 0;
}

int bus_remove(struct bus *bus, uint64_t base, void *opaque)
{
	int ret = -ENOENT;
	pthread_rwlock_wrlock(&bus->lock);
	for (size_t i = 0; i < bus->nr; i++) {
		if (bus->ranges[i].base == base && bus->ranges[i].opaque == opaque) {
			memmove(&bus->ranges[i], &bus->ranges[i + 1],
				(bus->nr - i - 1) * sizeof(*bus->ranges));
			bus->nr--;
			ret = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

bool bus_lookup(struct bus *bus, uint64_t addr, struct bus_range *out)
{
	bool found = false;
	pthread_rwlock_rdlock(&bus->lock);
	size_t i = bus_search_locked(bus, addr);
	if (i < bus->nr) {
		const struct bus_range *r = &bus->ranges[i];
		if (addr >= r->base && addr - r->base < r->len) {
			*out = *r;
			found = true;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return found;
}

static void bus_log_unhandled(struct bus *bus, uint64_t addr, uint32_t len, bool write)
{
	pthread_mutex_lock(&bus->log_lock);
	for (unsigned i = 0; i < bus->nr_logged; i++) {
		if (bus->logged[i] == addr) {
			pthread_mutex_unlock(&bus->log_lock);
			return;
		}
	}
	bool log = bus->nr_logged < BUS_UNHANDLED_LOG_MAX;
	if (log)
		bus->logged[bus->nr_logged++] = addr;
	pthread_mutex_unlock(&bus->log_lock);
	if (log)
		log_info("%s: unhandled %u-byte %s at 0x%llx (logged once)", bus->name, len,
			 write ? "write" : "read", (unsigned long long)addr);
}

static bool bus_find_access(struct bus *bus, uint64_t addr, uint32_t len, struct bus_range *r)
{
	if (!bus_lookup(bus, addr, r))
		return false;
	/* The whole access must fit inside the range. */
	return len <= r->len && addr - r->base <= r->len - len;
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, uint32_t len)
{
	struct bus_range r;
	if (!bus_find_access(bus, addr, len, &r) || !r.ops->read) {
		memset(data, 0xff, len);
		bus_log_unhandled(bus, addr, len, false);
		return false;
	}
	r.ops->read(r.opaque, addr - r.base, data, len);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	struct bus_range r;
	if (!bus_find_access(bus, addr, len, &r) || !r.ops->write) {
		bus_log_unhandled(bus, addr, len, true);
		return false;
	}
	r.ops->write(r.opaque, addr - r.base, data, len);
	return true;
}
