/* SPDX-License-Identifier: MIT */
/* The graphics options: --gpu and --display values, and their checks. */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config/config.h"

#define GPU_DEFAULT_WIDTH 1280u
#define GPU_DEFAULT_HEIGHT 800u
#define GPU_DEFAULT_HOSTMEM (256ULL * MiB)

/* Split "k=v,k=v" in place; calls fn per pair. A token without '=' is an error. */
typedef int (*kv_fn)(void *ctx, const char *opt, const char *all, const char *k, const char *v,
		     char *err, size_t errlen);
static int each_kv(const char *opt, const char *val, kv_fn fn, void *ctx, char *err, size_t errlen)
{
	char *dup = strdup(val);
	char *save = NULL;
	int r = 0;
	if (!dup)
		return -ENOMEM;
	for (char *tok = strtok_r(dup, ",", &save); tok && r == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			snprintf(err, errlen, "%s %s: '%s' is not key=value", opt, val, tok);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		r = fn(ctx, opt, val, tok, eq + 1, err, errlen);
	}
	free(dup);
	return r;
}

static int gpu_kv(void *ctx, const char *opt, const char *all, const char *k, const char *v,
		  char *err, size_t errlen)
{
	struct gpu_config *g = ctx;
	uint64_t n;
	if (!strcmp(k, "width")) {
		if (parse_uint(v, GPU_MIN_WIDTH, GPU_MAX_WIDTH, &n) < 0) {
			snprintf(err, errlen, "%s %s: width=%s: expected %u..%u", opt, all, v,
				 GPU_MIN_WIDTH, GPU_MAX_WIDTH);
			return -EINVAL;
		}
		g->width = (uint32_t)n;
	} else if (!strcmp(k, "height")) {
		if (parse_uint(v, GPU_MIN_HEIGHT, GPU_MAX_HEIGHT, &n) < 0) {
			snprintf(err, errlen, "%s %s: height=%s: expected %u..%u", opt, all, v,
				 GPU_MIN_HEIGHT, GPU_MAX_HEIGHT);
			return -EINVAL;
		}
		g->height = (uint32_t)n;
	} else if (!strcmp(k, "max_hostmem")) {
		if (parse_size(v, &n) < 0 || n < GPU_MIN_HOSTMEM || n > GPU_MAX_HOSTMEM) {
			snprintf(err, errlen,
				 "%s %s: max_hostmem=%s: expected a size from 4M to 64G", opt, all,
				 v);
			return -EINVAL;
		}
		g->max_hostmem = n;
	} else {
		snprintf(err, errlen, "%s %s: unknown key '%s'", opt, all, k);
		return -EINVAL;
	}
	return 0;
}

int cfg_parse_gpu(const char *val, struct gpu_config *g, char *err, size_t errlen)
{
	if (g->enabled) {
		snprintf(err, errlen, "--gpu given twice");
		return -EINVAL;
	}
	struct gpu_config n = {
	    .enabled = true,
	    .width = GPU_DEFAULT_WIDTH,
	    .height = GPU_DEFAULT_HEIGHT,
	    .max_hostmem = GPU_DEFAULT_HOSTMEM,
	};
	if (val && *val) {
		int r = each_kv("--gpu", val, gpu_kv, &n, err, errlen);
		if (r < 0)
			return r;
	}
	*g = n;
	return 0;
}

/* [ADDR:]PORT */
static int parse_vnc(const char *all, const char *v, struct display_config *d, char *err,
		     size_t errlen)
{
	const char *colon = strrchr(v, ':');
	const char *port = colon ? colon + 1 : v;
	char addr[64] = "127.0.0.1";
	uint64_t n;
	if (colon && colon != v) {
		size_t len = (size_t)(colon - v);
		if (len >= sizeof(addr)) {
			snprintf(err, errlen, "--display %s: vnc address too long", all);
			return -EINVAL;
		}
		memcpy(addr, v, len);
		addr[len] = '\0';
		if (!strcmp(addr, "localhost"))
			snprintf(addr, sizeof(addr), "127.0.0.1");
	}
	struct in_addr ia;
	if (inet_pton(AF_INET, addr, &ia) != 1) {
		snprintf(err, errlen, "--display %s: vnc=%s: '%s' is not an IPv4 address", all, v,
			 addr);
		return -EINVAL;
	}
	if (parse_uint(port, 0, 65535, &n) < 0) {
		snprintf(err, errlen,
			 "--display %s: vnc=%s: expected [ADDRESS:]PORT, port 0..65535", all, v);
		return -EINVAL;
	}
	d->vnc = true;
	d->vnc_port = (uint16_t)n;
	d->vnc_addr = strdup(addr);
	return d->vnc_addr ? 0 : -ENOMEM;
}

static int display_kv(void *ctx, const char *opt, const char *all, const char *k, const char *v,
		      char *err, size_t errlen)
{
	struct display_config *d = ctx;
	(void)opt;
	if (!*v) {
		snprintf(err, errlen, "--display %s: %s= needs a value", all, k);
		return -EINVAL;
	}
	if (!strcmp(k, "vnc")) {
		if (d->vnc) {
			snprintf(err, errlen, "--display %s: vnc= given twice", all);
			return -EINVAL;
		}
		return parse_vnc(all, v, d, err, errlen);
	}
	char **slot = !strcmp(k, "password")	 ? &d->vnc_password
		      : !strcmp(k, "screenshot") ? &d->screenshot
						 : NULL;
	if (!slot) {
		snprintf(err, errlen,
			 "--display %s: unknown key '%s' (vnc=, password=, screenshot=)", all, k);
		return -EINVAL;
	}
	if (*slot) {
		snprintf(err, errlen, "--display %s: %s= given twice", all, k);
		return -EINVAL;
	}
	*slot = strdup(v);
	return *slot ? 0 : -ENOMEM;
}

int cfg_parse_display(const char *val, struct display_config *d, char *err, size_t errlen)
{
	if (!val || !*val) {
		snprintf(err, errlen, "--display: expected vnc=[ADDRESS:]PORT or screenshot=PATH");
		return -EINVAL;
	}
	return each_kv("--display", val, display_kv, d, err, errlen);
}

void cfg_display_fini(struct display_config *d)
{
	free(d->vnc_addr);
	free(d->vnc_password);
	free(d->screenshot);
	memset(d, 0, sizeof(*d));
}

int cfg_validate_display(const struct vm_config *cfg, char *err, size_t errlen)
{
	const struct display_config *d = &cfg->display;
	bool any = d->vnc || d->screenshot;
	if (d->vnc_password && !d->vnc) {
		snprintf(err, errlen, "--display password=: needs vnc=");
		return -EINVAL;
	}
	if (any && !cfg->gpu.enabled && !cfg->firmware) {
		snprintf(err, errlen,
			 "--display: nothing to show: add --gpu (or boot --firmware, whose screen "
			 "is shown)");
		return -EINVAL;
	}
	if (d->vnc_password && access(d->vnc_password, R_OK) < 0) {
		snprintf(err, errlen, "--display password=%s: %s", d->vnc_password,
			 strerror(errno));
		return -errno;
	}
	if (d->screenshot) {
		char *dup = strdup(d->screenshot);
		if (!dup)
			return -ENOMEM;
		const char *dir = dirname(dup);
		int r = access(dir, W_OK) < 0 ? -errno : 0;
		if (r < 0)
			snprintf(err, errlen, "--display screenshot=%s: directory %s: %s",
				 d->screenshot, dir, strerror(-r));
		free(dup);
		if (r < 0)
			return r;
	}
	const struct gpu_config *g = &cfg->gpu;
	if (g->enabled && g->max_hostmem < 2ULL * g->width * g->height * 4) {
		snprintf(err, errlen, "--gpu: max_hostmem=%llu is too small for two %ux%u buffers",
			 (unsigned long long)g->max_hostmem, g->width, g->height);
		return -EINVAL;
	}
	return 0;
}
