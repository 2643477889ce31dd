/* SPDX-License-Identifier: MIT */
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
