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

/* Host side of a character device (serial port, virtio console); see backends/chardev.h. */
enum serial_mode { SERIAL_STDIO = 0, SERIAL_FILE, SERIAL_NONE, SERIAL_SOCKET, SERIAL_PTY };

struct disk_config {
	char *path;              /* image file or block device (NULL with vhost_user) */
	char *vhost_user;        /* socket of an external vhost-user-blk backend */
	bool readonly;
	bool direct;             /* O_DIRECT */
	char serial[21];         /* VIRTIO_BLK_ID_BYTES, NUL-terminated here */
	unsigned queues;         /* 1..16 */
	unsigned queue_size;     /* power of two, 1..1024 */
};

/* --gpu (virtio-gpu, 2D). */
#define GPU_MIN_WIDTH 320u
#define GPU_MAX_WIDTH 3840u
#define GPU_MIN_HEIGHT 200u
#define GPU_MAX_HEIGHT 2400u
#define GPU_MIN_HOSTMEM (4ULL * MiB)
#define GPU_MAX_HOSTMEM (64ULL * GiB)
struct gpu_config {
	bool enabled;
	uint32_t width, height; /* the mode offered to the guest (default 1280x800) */
	uint64_t max_hostmem;   /* bytes the guest may hold in resources (default 256M) */
};

/* --display: where the screen goes. */
struct display_config {
	bool vnc;
	char *vnc_addr;     /* IPv4 address, default 127.0.0.1 */
	uint16_t vnc_port;  /* 0: the kernel picks one (logged) */
	char *vnc_password; /* file whose first line is the password, or NULL */
	char *screenshot;   /* PNG written on SIGUSR2 and when the VM stops, or NULL */
};

/* --balloon: virtio-balloon (devices/virtio/balloon.h). */
#define BALLOON_MAX_STATS_S 3600u
struct balloon_config {
	bool enabled;
	uint64_t size;            /* initial balloon size in bytes (memory taken from the guest) */
	bool deflate_on_oom;      /* VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
	bool free_page_reporting; /* VIRTIO_BALLOON_F_REPORTING */
	unsigned stats_s;         /* ask for fresh statistics every N seconds, 0 = never */
};

/* --console virtio: virtio-console port 0 (devices/virtio/console.h). */
struct console_config {
	bool enabled;
	enum serial_mode mode; /* STDIO, FILE, SOCKET or PTY */
	char *path;            /* FILE, SOCKET */
};

/* --vsock: virtio-vsock with the hybrid AF_UNIX host side (devices/virtio/vsock.h). */
struct vsock_config {
	bool enabled;
	uint64_t cid;  /* the guest's context id, >= 3 */
	char *uds;     /* host socket; guest connections to port P go to "<uds>_P" */
};

/* --rng: virtio-rng (devices/virtio/rng.h). */
#define RNG_MAX_RATE (1024ULL * MiB)
struct rng_config {
	bool enabled;
	uint64_t rate; /* bytes per second, 0 = unlimited */
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
	struct gpu_config gpu;
	bool input; /* --input: virtio keyboard and tablet */
	struct display_config display;
	bool serial_given; /* --serial was on the command line (not the default) */
	struct balloon_config balloon;
	struct console_config console;
	struct vsock_config vsock;
	struct rng_config rng;
	struct net_config nets[VM_MAX_NETS];
	unsigned nr_nets;
};

void cfg_init(struct vm_config *cfg);
void cfg_fini(struct vm_config *cfg);
/* Parse a --disk value into d (defaults filled). On error writes a one-line reason to err. */
int cfg_parse_disk(const char *val, struct disk_config *d, char *err, size_t errlen) WUR;
/* --gpu [width=W,height=H,max_hostmem=SIZE] (val may be NULL or empty: defaults). */
int cfg_parse_gpu(const char *val, struct gpu_config *g, char *err, size_t errlen) WUR;
/* --display vnc=[ADDR:]PORT[,password=FILE] | screenshot=PATH; repeatable, merged into d. */
int cfg_parse_display(const char *val, struct display_config *d, char *err, size_t errlen) WUR;
/* The graphics part of cfg_validate (config_display.c). */
int cfg_validate_display(const struct vm_config *cfg, char *err, size_t errlen) WUR;
void cfg_display_fini(struct display_config *d);

/* Parse --balloon / --console / --vsock / --rng values (src/config/dev_opts.c). Each fills
 * its struct (defaults first, enabled = true); on error a one-line reason goes to err and
 * nothing is left allocated. */
int cfg_parse_balloon(const char *val, struct balloon_config *b, char *err, size_t errlen) WUR;
int cfg_parse_console(const char *val, struct console_config *c, char *err, size_t errlen) WUR;
int cfg_parse_vsock(const char *val, struct vsock_config *v, char *err, size_t errlen) WUR;
int cfg_parse_rng(const char *val, struct rng_config *r, char *err, size_t errlen) WUR;
void cfg_devices_fini(struct vm_config *cfg);
/* Defaults that depend on other options (a stdio virtio console takes stdin from the serial
 * port unless --serial was given). Call once after parsing, before cfg_validate. */
void cfg_devices_defaults(struct vm_config *cfg);
/* Cross-field checks of those devices (called by cfg_validate). */
int cfg_validate_devices(const struct vm_config *cfg, char *err, size_t errlen) WUR;
/* Parse a --net value into n (defaults filled). One-line reason in err. `opt` names the
 * option in messages ("--net", "--tap"). */
int cfg_parse_net(const char *opt, const char *val, struct net_config *n, char *err,
		  size_t errlen) WUR;
void cfg_net_fini(struct net_config *n);
/* The rules between a net device's fields (a TAP or a vhost-user socket, rate limits only on a
 * TAP), shared by cfg_parse_net and the JSON parser. `what` starts the message. */
int cfg_net_check(const struct net_config *n, const char *what, char *err, size_t errlen) WUR;
/* "52:54:00:12:34:56" -> 6 bytes; -EINVAL unless six hex pairs, unicast, not all zero. */
int cfg_parse_mac(const char *s, uint8_t mac[6]) WUR;
/* Cross-field checks and host limits (memory vs host RAM). One-line reason on error. */
int cfg_validate(const struct vm_config *cfg, char *err, size_t errlen) WUR;

#endif
