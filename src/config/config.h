/* SPDX-License-Identifier: MIT */
/*
 * Plain-data VM configuration, filled by the CLI (and later JSON/API) and checked by one
 * validate(). Nothing here touches KVM.
 */
#ifndef VIREO_CONFIG_CONFIG_H
#define VIREO_CONFIG_CONFIG_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include "base/util.h"

#define VM_MAX_CPUS 32
#define VM_MAX_DISKS 16
#define VM_DEFAULT_MEM (512ULL * MiB)
#define VM_MIN_MEM (2ULL * MiB)

enum serial_mode { SERIAL_STDIO = 0, SERIAL_FILE, SERIAL_NONE };

struct disk_config {
	char *path;              /* image file or block device (NULL with vhost_user) */
	char *vhost_user;        /* socket of an external vhost-user-blk backend */
	bool readonly;
	bool direct;             /* O_DIRECT */
	char serial[21];         /* VIRTIO_BLK_ID_BYTES, NUL-terminated here */
	unsigned queues;         /* 1..16 */
	unsigned queue_size;     /* power of two, 1..1024 */
};

struct vm_config {
	char *kernel;
	char *initrd;
	char *cmdline;
	char *firmware;
	char *firmware_log;
	unsigned cpus;
	uint64_t mem_size;
	enum serial_mode serial;
	char *serial_path;
	struct disk_config disks[VM_MAX_DISKS];
	unsigned nr_disks;
};

void cfg_init(struct vm_config *cfg);
void cfg_fini(struct vm_config *cfg);
/* Parse a --disk value into d (defaults filled). On error writes a one-line reason to err. */
int cfg_parse_disk(const char *val, struct disk_config *d, char *err, size_t errlen) WUR;
/* Cross-field checks and host limits (memory vs host RAM). One-line reason on error. */
int cfg_validate(const struct vm_config *cfg, char *err, size_t errlen) WUR;

#endif
