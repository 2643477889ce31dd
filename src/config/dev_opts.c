/* SPDX-License-Identifier: MIT */
/* --balloon, --console, --vsock and --rng values -> their config structs (config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/config.h"

static int onoff(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* Split "k=v,k=v" in place; calls fn(key, value-or-NULL) for each token. */
typedef int (*kv_fn)(void *ctx, const char *k, const char *v, char *err, size_t errlen);

static int for_each_kv(const char *opt, const char *val, kv_fn fn, void *ctx, char *err,
		       size_t errlen)
{
	char *dup = strdup(val ? val : "");
	char *save = NULL;
	int r = 0;
	if (!dup)
		return -ENOMEM;
	for (char *t = strtok_r(dup, ",", &save); t && r == 0; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		if (eq)
			*eq = '\0';
		r = fn(ctx, t, eq ? eq + 1 : NULL, err, errlen);
		if (r == -ENOENT) {
			snprintf(err, errlen, "--%s %s: unknown key '%s'", opt, val, t);
			r = -EINVAL;
		}
	}
	free(dup);
	return r;
}

static int need_value(const char *opt, const char *k, const char *v, char *err, size_t errlen)
{
	if (v && *v)
		return 0;
	snprintf(err, errlen, "--%s: %s needs a value (%s=...)", opt, k, k);
	return -EINVAL;
}

/* ---- --balloon ---- */

static int balloon_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
	struct balloon_config *b = ctx;
	uint64_t n;
	bool on;

	if (!strcmp(k, "size")) {
		if (need_value("balloon", k, v, err, errlen) < 0)
			return -EINVAL;
		if (parse_size(v, &n) < 0 || n % (4 * KiB)) {
			snprintf(err, errlen,
				 "--balloon size=%s: expected a size in 4K units (e.g. 128M)", v);
			return -EINVAL;
		}
		b->size = n;
	} else if (!strcmp(k, "deflate_on_oom") || !strcmp(k, "free_page_reporting")) {
		if (onoff(v ? v : "on", &on) < 0) {
			snprintf(err, errlen, "--balloon %s=%s: expected on or off", k, v);
			return -EINVAL;
		}
		if (!strcmp(k, "deflate_on_oom"))
			b->deflate_on_oom = on;
		else
			b->free_page_reporting = on;
	} else if (!strcmp(k, "stats")) {
		if (need_value("balloon", k, v, err, errlen) < 0)
			return -EINVAL;
		if (parse_uint(v, 0, BALLOON_MAX_STATS_S, &n) < 0) {
			snprintf(err, errlen, "--balloon stats=%s: expected seconds, 0..3600", v);
			return -EINVAL;
		}
		b->stats_s = (unsigned)n;
	} else {
		return -ENOENT;
	}
	return 0;
}

int cfg_parse_balloon(const char *val, struct balloon_config *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	int r = for_each_kv("balloon", val, balloon_kv, b, err, errlen);
	if (r < 0)
		memset(b, 0, sizeof(*b));
	else
		b->enabled = true;
	return r;
}

/* ---- --console ---- */

struct con_ctx {
	struct console_config *c;
	bool first, mode_set;
	const char *val;
};

static int console_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
	struct con_ctx *x = ctx;
	struct console_config *c = x->c;
	bool first = x->first;
	x->first = false;

	if (first) {
		if (strcmp(k, "virtio") || v) {
			snprintf(err, errlen,
				 "--console %s: expected virtio[,stdio|file=PATH|socket=PATH|pty]",
				 x->val);
			return -EINVAL;
		}
		return 0;
	}
	if (x->mode_set) {
		snprintf(err, errlen, "--console %s: give one of stdio, file=, socket=, pty",
			 x->val);
		return -EINVAL;
	}
	x->mode_set = true;
	if (!strcmp(k, "stdio") && !v) {
		c->mode = SERIAL_STDIO;
	} else if (!strcmp(k, "pty") && !v) {
		c->mode = SERIAL_PTY;
	} else if (!strcmp(k, "file") || !strcmp(k, "socket")) {
		if (need_value("console", k, v, err, errlen) < 0)
			return -EINVAL;
		c->mode = !strcmp(k, "file") ? SERIAL_FILE : SERIAL_SOCKET;
		c->path = strdup(v);
		if (!c->path)
			return -ENOMEM;
	} else {
		return -ENOENT;
	}
	return 0;
}

int cfg_parse_console(const char *val, struct console_config *c, char *err, size_t errlen)
{
	struct con_ctx x = {c, true, false, val};
	free(c->path);
	memset(c, 0, sizeof(*c));
	c->mode = SERIAL_STDIO;
	int r = for_each_kv("console", val, console_kv, &x, err, errlen);
	if (r == 0 && x.first) {
		snprintf(err, errlen,
			 "--console: expected virtio[,stdio|file=PATH|socket=PATH|pty]");
		r = -EINVAL;
	}
	if (r < 0) {
		free(c->path);
		memset(c, 0, sizeof(*c));
	} else {
		c->enabled = true;
	}
	return r;
}

/* ---- --vsock ---- */

static int vsock_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
	struct vsock_config *vs = ctx;
	if (!strcmp(k, "cid")) {
		if (need_value("vsock", k, v, err, errlen) < 0)
			return -EINVAL;
		/* 0-2 are the hypervisor, local and host; 0xffffffff is VMADDR_CID_ANY. */
		if (parse_uint(v, 3, 0xfffffffeULL, &vs->cid) < 0) {
			snprintf(err, errlen, "--vsock cid=%s: expected 3..4294967294", v);
			return -EINVAL;
		}
	} else if (!strcmp(k, "socket") || !strcmp(k, "uds_path")) {
		if (need_value("vsock", k, v, err, errlen) < 0)
			return -EINVAL;
		free(vs->uds);
		vs->uds = strdup(v);
		if (!vs->uds)
			return -ENOMEM;
	} else {
		return -ENOENT;
	}
	return 0;
}

int cfg_parse_vsock(const char *val, struct vsock_config *v, char *err, size_t errlen)
{
	free(v->uds);
	memset(v, 0, sizeof(*v));
	int r = for_each_kv("vsock", val, vsock_kv, v, err, errlen);
	if (r == 0 && (!v->cid || !v->uds)) {
		snprintf(err, errlen, "--vsock %s: needs cid=N and socket=PATH", val);
		r = -EINVAL;
	}
	if (r < 0) {
		free(v->uds);
		memset(v, 0, sizeof(*v));
	} else {
		v->enabled = true;
	}
	return r;
}

/* ---- --rng ---- */

static int rng_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
	struct rng_config *rc = ctx;
	if (strcmp(k, "rate"))
		return -ENOENT;
	if (need_value("rng", k, v, err, errlen) < 0)
		return -EINVAL;
	char num[32];
	size_t n = strlen(v);
	if (n > 2 && !strcmp(v + n - 2, "/s"))
		n -= 2; /* "rate=1M/s" reads as it means */
	bool ok = n < sizeof(num);
	if (ok) {
		memcpy(num, v, n);
		num[n] = '\0';
		ok = parse_size(num, &rc->rate) == 0 && rc->rate <= RNG_MAX_RATE;
	}
	if (!ok) {
		snprintf(err, errlen,
			 "--rng rate=%s: expected bytes per second, e.g. 4096 or 1M (at most 1G)",
			 v);
		return -EINVAL;
	}
	return 0;
}

int cfg_parse_rng(const char *val, struct rng_config *rc, char *err, size_t errlen)
{
	memset(rc, 0, sizeof(*rc));
	int r = for_each_kv("rng", val, rng_kv, rc, err, errlen);
	if (r < 0)
		memset(rc, 0, sizeof(*rc));
	else
		rc->enabled = true;
	return r;
}

void cfg_devices_fini(struct vm_config *cfg)
{
	free(cfg->console.path);
	free(cfg->vsock.uds);
	cfg->console.path = NULL;
	cfg->vsock.uds = NULL;
}

void cfg_devices_defaults(struct vm_config *cfg)
{
	/* stdin goes to one device: a virtio console on stdio takes it from the serial port
	 * unless --serial was given. */
	if (cfg->console.enabled && cfg->console.mode == SERIAL_STDIO && !cfg->serial_given)
		cfg->serial = SERIAL_NONE;
}

int cfg_validate_devices(const struct vm_config *cfg, char *err, size_t errlen)
{
	if (cfg->balloon.enabled && cfg->balloon.size > cfg->mem_size) {
		snprintf(err, errlen, "--balloon size=%llu MiB: more than the guest's %llu MiB",
			 (unsigned long long)(cfg->balloon.size / MiB),
			 (unsigned long long)(cfg->mem_size / MiB));
		return -EINVAL;
	}
	if (cfg->console.enabled && cfg->console.mode == SERIAL_STDIO &&
	    cfg->serial == SERIAL_STDIO) {
		snprintf(err, errlen,
			 "--console virtio,stdio and --serial stdio cannot share the "
			 "terminal (give the serial port file=PATH or none)");
		return -EINVAL;
	}
	if (cfg->console.enabled && cfg->console.path && cfg->serial_path &&
	    cfg->console.mode == cfg->serial && !strcmp(cfg->console.path, cfg->serial_path)) {
		snprintf(err, errlen, "--console and --serial both use %s", cfg->console.path);
		return -EINVAL;
	}
	if (cfg->vsock.enabled && cfg->console.enabled && cfg->console.path &&
	    !strcmp(cfg->console.path, cfg->vsock.uds)) {
		snprintf(err, errlen, "--console and --vsock both use %s", cfg->vsock.uds);
		return -EINVAL;
	}
	return 0;
}
