/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config/config.h"

void cfg_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cpus = 1;
	cfg->mem_size = VM_DEFAULT_MEM;
	cfg->serial = SERIAL_STDIO;
}

void cfg_fini(struct vm_config *cfg)
{
	free(cfg->kernel);
	free(cfg->initrd);
	free(cfg->cmdline);
	free(cfg->firmware);
	free(cfg->firmware_log);
	free(cfg->serial_path);
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		free(cfg->disks[i].path);
		free(cfg->disks[i].vhost_user);
	}
	cfg_display_fini(&cfg->display);
	cfg_devices_fini(cfg);
	for (unsigned i = 0; i < cfg->nr_nets; i++)
		cfg_net_fini(&cfg->nets[i]);
	memset(cfg, 0, sizeof(*cfg));
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

int cfg_parse_disk(const char *val, struct disk_config *d, char *err, size_t errlen)
{
	char *dup = strdup(val ? val : "");
	char *save = NULL;
	int r = 0;

	memset(d, 0, sizeof(*d));
	d->queues = 1;
	d->queue_size = 256;
	if (!dup)
		return -ENOMEM;
	for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			snprintf(err, errlen, "--disk %s: '%s' is not key=value", val, tok);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		const char *k = tok, *v = eq + 1;
		uint64_t n;
		if (!strcmp(k, "path")) {
			if (!*v || d->path) {
				snprintf(err, errlen, "--disk %s: path= must be given once, non-empty",
					 val);
				r = -EINVAL;
				break;
			}
			d->path = strdup(v);
		} else if (!strcmp(k, "vhost-user") || !strcmp(k, "vhost_user")) {
			if (!*v || d->vhost_user) {
				snprintf(err, errlen, "--disk %s: vhost-user= must name a socket once",
					 val);
				r = -EINVAL;
				break;
			}
			d->vhost_user = strdup(v);
		} else if (!strcmp(k, "readonly") || !strcmp(k, "direct")) {
			bool b;
			if (parse_bool(v, &b) < 0) {
				snprintf(err, errlen, "--disk %s: %s=%s: expected on or off", val, k, v);
				r = -EINVAL;
				break;
			}
			if (!strcmp(k, "readonly"))
				d->readonly = b;
			else
				d->direct = b;
		} else if (!strcmp(k, "serial")) {
			if (strlen(v) > 20) {
				snprintf(err, errlen, "--disk %s: serial is longer than 20 characters",
					 val);
				r = -EINVAL;
				break;
			}
			snprintf(d->serial, sizeof(d->serial), "%s", v);
		} else if (!strcmp(k, "queues")) {
			if (parse_uint(v, 1, 16, &n) < 0) {
				snprintf(err, errlen, "--disk %s: queues=%s: expected 1..16", val, v);
				r = -EINVAL;
				break;
			}
			d->queues = (unsigned)n;
		} else if (!strcmp(k, "queue_size")) {
			if (parse_uint(v, 2, 1024, &n) < 0 || !IS_POW2(n)) {
				snprintf(err, errlen,
					 "--disk %s: queue_size=%s: expected a power of two, 2..1024",
					 val, v);
				r = -EINVAL;
				break;
			}
			d->queue_size = (unsigned)n;
		} else {
			snprintf(err, errlen, "--disk %s: unknown key '%s'", val, k);
			r = -EINVAL;
			break;
		}
	}
	free(dup);
	if (r == 0 && !d->path && !d->vhost_user) {
		snprintf(err, errlen, "--disk %s: needs path=FILE or vhost-user=SOCKET", val);
		r = -EINVAL;
	}
	if (r == 0 && d->path && d->vhost_user) {
		snprintf(err, errlen, "--disk %s: path= and vhost-user= are mutually exclusive", val);
		r = -EINVAL;
	}
	if (r < 0) {
		free(d->path);
		free(d->vhost_user);
		d->path = d->vhost_user = NULL;
	}
	return r;
}

void cfg_net_fini(struct net_config *n)
{
	free(n->tap);
	free(n->vhost_user);
	n->tap = n->vhost_user = NULL;
}

int cfg_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (!s || strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[3 * i]) || !isxdigit((unsigned char)s[3 * i + 1]) ||
		    (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	if (mac[0] & 1)
		return -EINVAL; /* multicast / broadcast */
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	return 0;
}

/* "100M" (bytes per second, binary suffixes) for *_rate, "20000" for *_pps. */
static int parse_rate(const char *k, const char *v, bool bytes, uint64_t *out)
{
	uint64_t n;
	(void)k;
	if (bytes) {
		if (parse_size(v, &n) < 0 || n == 0)
			return -EINVAL;
	} else if (parse_uint(v, 1, 1000000000ULL, &n) < 0) {
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int cfg_parse_net(const char *opt, const char *val, struct net_config *n, char *err,
		  size_t errlen)
{
	char *dup = strdup(val ? val : "");
	char *save = NULL;
	int r = 0;

	memset(n, 0, sizeof(*n));
	n->queues = 1;
	n->queue_size = 256;
	if (!dup)
		return -ENOMEM;
	for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint64_t u;
		if (!eq) {
			snprintf(err, errlen, "%s %s: '%s' is not key=value", opt, val, tok);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		const char *k = tok, *v = eq + 1;
		if (!strcmp(k, "tap") || !strcmp(k, "vhost-user") || !strcmp(k, "vhost_user")) {
			char **dst = !strcmp(k, "tap") ? &n->tap : &n->vhost_user;
			if (!*v || *dst) {
				snprintf(err, errlen, "%s %s: %s= must be given once, non-empty", opt,
					 val, k);
				r = -EINVAL;
				break;
			}
			*dst = strdup(v);
		} else if (!strcmp(k, "mac")) {
			if (cfg_parse_mac(v, n->mac) < 0) {
				snprintf(err, errlen,
					 "%s %s: mac=%s: bad MAC address (want a unicast "
					 "xx:xx:xx:xx:xx:xx)",
					 opt, val, v);
				r = -EINVAL;
				break;
			}
			n->mac_set = true;
		} else if (!strcmp(k, "queues")) {
			if (parse_uint(v, 1, NET_MAX_QUEUE_PAIRS, &u) < 0) {
				snprintf(err, errlen, "%s %s: queues=%s: expected 1..%d queue pairs",
					 opt, val, v, NET_MAX_QUEUE_PAIRS);
				r = -EINVAL;
				break;
			}
			n->queues = (unsigned)u;
		} else if (!strcmp(k, "queue_size")) {
			if (parse_uint(v, 64, 1024, &u) < 0 || !IS_POW2(u)) {
				snprintf(err, errlen,
					 "%s %s: queue_size=%s: expected a power of two, 64..1024",
					 opt, val, v);
				r = -EINVAL;
				break;
			}
			n->queue_size = (unsigned)u;
		} else if (!strcmp(k, "mtu")) {
			if (parse_uint(v, NET_MIN_MTU, NET_MAX_MTU, &u) < 0) {
				snprintf(err, errlen, "%s %s: mtu=%s: out of range (%d..%d)", opt,
					 val, v, NET_MIN_MTU, NET_MAX_MTU);
				r = -EINVAL;
				break;
			}
			n->mtu = (unsigned)u;
		} else if (!strcmp(k, "rx_rate") || !strcmp(k, "tx_rate") || !strcmp(k, "rx_pps") ||
			   !strcmp(k, "tx_pps")) {
			bool bytes = strstr(k, "rate") != NULL;
			uint64_t *dst = k[0] == 'r' ? (bytes ? &n->rx_bps : &n->rx_pps)
						    : (bytes ? &n->tx_bps : &n->tx_pps);
			if (parse_rate(k, v, bytes, dst) < 0) {
				snprintf(err, errlen, "%s %s: %s=%s: expected %s", opt, val, k, v,
					 bytes ? "bytes per second, e.g. 10M"
					       : "packets per second, 1..1000000000");
				r = -EINVAL;
				break;
			}
		} else {
			snprintf(err, errlen, "%s %s: unknown key '%s'", opt, val, k);
			r = -EINVAL;
			break;
		}
	}
	free(dup);
	if (r == 0) {
		char what[256];
		snprintf(what, sizeof(what), "%s %s", opt, val);
		r = cfg_net_check(n, what, err, errlen);
	}
	if (r < 0)
		cfg_net_fini(n);
	return r;
}

int cfg_net_check(const struct net_config *n, const char *what, char *err, size_t errlen)
{
	if (!n->tap && !n->vhost_user) {
		snprintf(err, errlen, "%s: needs tap=NAME or vhost-user=SOCKET", what);
		return -EINVAL;
	}
	if (n->tap && n->vhost_user) {
		snprintf(err, errlen, "%s: tap= and vhost-user= are mutually exclusive", what);
		return -EINVAL;
	}
	if (n->vhost_user && (n->rx_bps || n->rx_pps || n->tx_bps || n->tx_pps)) {
		snprintf(err, errlen,
			 "%s: rate limits apply to tap= (a vhost-user back-end moves the data)",
			 what);
		return -EINVAL;
	}
	return 0;
}

/* MemTotal from /proc/meminfo in bytes, 0 if unknown. */
static uint64_t host_mem_total(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024ULL;
}

static int check_readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -errno;
	}
	return 0;
}

int cfg_validate(const struct vm_config *cfg, char *err, size_t errlen)
{
	int r;
	if (!cfg->kernel && !cfg->firmware) {
		snprintf(err, errlen, "run: --kernel or --firmware is required");
		return -EINVAL;
	}
	if (cfg->kernel && cfg->firmware) {
		snprintf(err, errlen, "run: --kernel and --firmware are mutually exclusive");
		return -EINVAL;
	}
	if (cfg->firmware && (cfg->initrd || cfg->cmdline)) {
		snprintf(err, errlen, "run: --initrd and --cmdline need --kernel, not --firmware");
		return -EINVAL;
	}
	if (cfg->initrd && !cfg->kernel) {
		snprintf(err, errlen, "run: --initrd needs --kernel");
		return -EINVAL;
	}
	if (cfg->cpus < 1 || cfg->cpus > VM_MAX_CPUS) {
		snprintf(err, errlen, "--cpus %u: must be between 1 and %d", cfg->cpus, VM_MAX_CPUS);
		return -EINVAL;
	}
	if (cfg->mem_size < VM_MIN_MEM) {
		snprintf(err, errlen, "--memory: %llu bytes is too small (at least 2M)",
			 (unsigned long long)cfg->mem_size);
		return -EINVAL;
	}
	if (cfg->mem_size % (4 * KiB)) {
		snprintf(err, errlen, "--memory: must be a multiple of 4K");
		return -EINVAL;
	}
	uint64_t host = host_mem_total();
	if (host && cfg->mem_size > host) {
		snprintf(err, errlen, "--memory: %llu MiB is more than this host's %llu MiB of RAM",
			 (unsigned long long)(cfg->mem_size / MiB),
			 (unsigned long long)(host / MiB));
		return -EINVAL;
	}
	if (cfg->kernel && (r = check_readable("--kernel", cfg->kernel, err, errlen)) < 0)
		return r;
	if (cfg->initrd && (r = check_readable("--initrd", cfg->initrd, err, errlen)) < 0)
		return r;
	if (cfg->firmware && (r = check_readable("--firmware", cfg->firmware, err, errlen)) < 0)
		return r;
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		if (!d->path)
			continue;
		if (access(d->path, d->readonly ? R_OK : R_OK | W_OK) < 0) {
			snprintf(err, errlen, "--disk %s: %s", d->path, strerror(errno));
			return -errno;
		}
		for (unsigned j = 0; j < i; j++) {
			if (cfg->disks[j].path && !strcmp(cfg->disks[j].path, d->path)) {
				snprintf(err, errlen, "--disk %s: given twice", d->path);
				return -EINVAL;
			}
		}
	}
	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		const struct net_config *n = &cfg->nets[i];
		for (unsigned j = 0; j < i; j++) {
			const struct net_config *o = &cfg->nets[j];
			if (n->tap && o->tap && !strcmp(n->tap, o->tap)) {
				snprintf(err, errlen, "--net tap=%s: given twice", n->tap);
				return -EINVAL;
			}
			if (n->mac_set && o->mac_set && !memcmp(n->mac, o->mac, 6)) {
				snprintf(err, errlen,
					 "--net: mac=%02x:%02x:%02x:%02x:%02x:%02x given twice",
					 n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4],
					 n->mac[5]);
				return -EINVAL;
			}
		}
	}
	if ((cfg->serial == SERIAL_FILE || cfg->serial == SERIAL_SOCKET) &&
	    (!cfg->serial_path || !*cfg->serial_path)) {
		snprintf(err, errlen, "--serial: file= and socket= need a path");
		return -EINVAL;
	}
	r = cfg_validate_display(cfg, err, errlen);
	if (r < 0)
		return r;
	return cfg_validate_devices(cfg, err, errlen);
}
