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
#define VM_MAX_NETS 8
#define NET_MAX_QUEUE_PAIRS 8 /* per device (vhost-user back-ends serve 16 rings) */
#define NET_MIN_MTU 68
#define NET_MAX_MTU 65535
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

/* --net: a virtio-net device over a TAP or an external vhost-user-net back-end. */
struct net_config {
	char *tap;               /* TAP interface name (NULL with vhost_user) */
	char *vhost_user;        /* socket of an external vhost-user-net back-end */
	uint8_t mac[6];
	bool mac_set;            /* else a random locally administered one */
	unsigned queues;         /* queue pairs, 1..NET_MAX_QUEUE_PAIRS */
	unsigned queue_size;     /* power of two, 64..1024 */
	unsigned mtu;            /* 0 = not advertised; else NET_MIN_MTU..NET_MAX_MTU */
	/* Token-bucket rate limits per direction (rx = to the guest); 0 = unlimited. */
	uint64_t rx_bps, rx_pps, tx_bps, tx_pps;
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
	struct net_config nets[VM_MAX_NETS];
	unsigned nr_nets;
};

void cfg_init(struct vm_config *cfg);
void cfg_fini(struct vm_config *cfg);
/* Parse a --disk value into d (defaults filled). On error writes a one-line reason to err. */
int cfg_parse_disk(const char *val, struct disk_config *d, char *err, size_t errlen) WUR;
/* Parse a --net value into n (defaults filled). One-line reason in err. `opt` names the
 * option in messages ("--net", "--tap"). */
int cfg_parse_net(const char *opt, const char *val, struct net_config *n, char *err,
		  size_t errlen) WUR;
void cfg_net_fini(struct net_config *n);
/* "52:54:00:12:34:56" -> 6 bytes; -EINVAL unless six hex pairs, unicast, not all zero. */
int cfg_parse_mac(const char *s, uint8_t mac[6]) WUR;
/* Cross-field checks and host limits (memory vs host RAM). One-line reason on error. */
int cfg_validate(const struct vm_config *cfg, char *err, size_t errlen) WUR;

#endif
