/* SPDX-License-Identifier: MIT */
/*
 * The devices' VmConfig objects (json_int.h): net[], rng, balloon, vsock and console in Cloud
 * Hypervisor's shapes, and the vireo extensions gpu and display (and CH-shaped extras: rate
 * limits per direction on net, a rate limit on rng, a statistics interval on the balloon).
 * What vireo cannot do is refused by name, never ignored. The rules between devices and the
 * rest of the VM are cfg_validate's, as for the command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/json_int.h"

/* A key vireo knows from Cloud Hypervisor's schema but cannot honour. */
static int refuse(const char *path, const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: not supported: %s", path, why);
	return -EINVAL;
}

/* ---- character devices: serial and console (Cloud Hypervisor's ConsoleConfig) ---- */

static const struct {
	const char *name;
	enum serial_mode mode;
} chardev_modes[] = {
    {"Off", SERIAL_NONE}, {"Null", SERIAL_NONE}, {"Tty", SERIAL_STDIO},
    {"Pty", SERIAL_PTY},  {"File", SERIAL_FILE}, {"Socket", SERIAL_SOCKET},
};

int jf_chardev_parse(const json_t *obj, const char *path, enum serial_mode *mode, char **file,
		     char *err, size_t errlen)
{
	const json_t *m = json_object_get(obj, "mode");
	const json_t *f = json_object_get(obj, "file");
	const json_t *s = json_object_get(obj, "socket");
	char sub[160];
	size_t i;

	jf_path_join(sub, sizeof(sub), path, "mode");
	if (!json_is_string(m))
		return jf_type_error(sub, "a string", m, err, errlen);
	for (i = 0; i < ARRAY_SIZE(chardev_modes); i++)
		if (!strcmp(json_string_value(m), chardev_modes[i].name))
			break;
	if (i == ARRAY_SIZE(chardev_modes)) {
		char k[48];
		jf_key_print(k, sizeof(k), json_string_value(m));
		snprintf(err, errlen, "%s: '%s' is not one of Off, Null, Tty, Pty, File, Socket",
			 sub, k);
		return -EINVAL;
	}
	*mode = chardev_modes[i].mode;
	bool want_file = *mode == SERIAL_FILE, want_sock = *mode == SERIAL_SOCKET;
	if (f && !json_is_null(f) && !want_file) {
		snprintf(err, errlen, "%s: file is only for mode File", path);
		return -EINVAL;
	}
	if (s && !json_is_null(s) && !want_sock) {
		snprintf(err, errlen, "%s: socket is only for mode Socket", path);
		return -EINVAL;
	}
	free(*file);
	*file = NULL;
	if (!want_file && !want_sock)
		return 0;
	const json_t *p = want_file ? f : s;
	const char *key = want_file ? "file" : "socket";
	if (!p || json_is_null(p)) {
		snprintf(err, errlen, "%s: mode %s needs %s", path, chardev_modes[i].name, key);
		return -EINVAL;
	}
	struct holder {
		char *s;
	} h = {NULL};
	const struct jfield ff = F_STR("file", struct holder, s, JF_NONEMPTY);
	jf_path_join(sub, sizeof(sub), path, key);
	int r = jf_set_string(p, &ff, &h, sub, err, errlen);
	*file = h.s;
	return r;
}

json_t *jf_chardev_emit(enum serial_mode mode, const char *file)
{
	const char *name = mode == SERIAL_STDIO	   ? "Tty"
			   : mode == SERIAL_PTY	   ? "Pty"
			   : mode == SERIAL_FILE   ? "File"
			   : mode == SERIAL_SOCKET ? "Socket"
						   : "Null";
	json_t *o = json_pack("{s:s}", "mode", name);
	if (o && file && (mode == SERIAL_FILE || mode == SERIAL_SOCKET))
		json_object_set_new(o, mode == SERIAL_FILE ? "file" : "socket", json_string(file));
	return o;
}

static const struct jfield chardev_fields[] = {
    F_CUSTOM("mode", NULL, NULL, JF_REQUIRED),
    F_CUSTOM("file", NULL, NULL, 0),
    F_CUSTOM("socket", NULL, NULL, 0),
    {.key = NULL},
};

/* The virtio console: Off and Null mean no device (vireo's console has no null back-end). */
static int console_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	struct console_config *c = base;
	int r = jf_chardev_parse(obj, path, &c->mode, &c->path, err, errlen);
	if (r == 0)
		c->enabled = c->mode != SERIAL_NONE;
	if (!c->enabled) {
		free(c->path);
		memset(c, 0, sizeof(*c));
	}
	return r;
}

int jdev_parse_console(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct vm_config *cfg = base;
	return jf_parse_obj(v, chardev_fields, &cfg->console, path, console_check, err, errlen);
}

void jdev_emit_console(json_t *o, const char *key, const void *base)
{
	const struct console_config *c = &((const struct vm_config *)base)->console;
	json_t *v =
	    c->enabled ? jf_chardev_emit(c->mode, c->path) : json_pack("{s:s}", "mode", "Off");
	if (v)
		json_object_set_new(o, key, v);
}

/* ---- rate limits: Cloud Hypervisor's RateLimiterConfig {bandwidth, ops} of TokenBuckets ----
 * A TokenBucket {size, refill_time (ms), one_time_burst} becomes a rate of
 * size * 1000 / refill_time tokens per second; vireo's bucket holds its own default burst, so
 * one_time_burst is refused. Emitted as {size: rate, refill_time: 1000}. */

#define RL_MAX_RATE (1ULL << 40)

struct tbucket_json {
	uint64_t size, refill_time;
};

static int tb_burst(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	(void)base;
	if (!json_is_integer(v))
		return jf_type_error(path, "an integer", v, err, errlen);
	if (json_integer_value(v) != 0)
		return refuse(path, "vireo's buckets start full and hold their own burst", err,
			      errlen);
	return 0;
}

static const struct jfield tbucket_fields[] = {
    F_UINT("size", struct tbucket_json, size, 1, RL_MAX_RATE, JF_REQUIRED),
    F_UINT("refill_time", struct tbucket_json, refill_time, 1, 3600000, JF_REQUIRED),
    F_CUSTOM("one_time_burst", tb_burst, NULL, 0),
    {.key = NULL},
};

/* *rate = tokens per second from a TokenBucket object, within [1, max]. */
static int parse_tbucket(const json_t *v, uint64_t max, uint64_t *rate, const char *path, char *err,
			 size_t errlen)
{
	struct tbucket_json tb = {0};
	int r = jf_parse_obj(v, tbucket_fields, &tb, path, NULL, err, errlen);
	if (r < 0)
		return r;
	uint64_t n = tb.size * 1000 / tb.refill_time;
	if (n < 1 || n > max) {
		snprintf(err, errlen, "%s: size * 1000 / refill_time is %llu per second (1..%llu)",
			 path, (unsigned long long)n, (unsigned long long)max);
		return -ERANGE;
	}
	*rate = n;
	return 0;
}

static json_t *emit_tbucket(uint64_t rate)
{
	return json_pack("{s:I, s:I}", "size", (json_int_t)rate, "refill_time", (json_int_t)1000);
}

struct rl_json {
	uint64_t *bps, *pps; /* pps NULL: only bandwidth */
	uint64_t max_bps, max_pps;
};

static int parse_rl(const json_t *v, const struct rl_json *rl, const char *path, char *err,
		    size_t errlen)
{
	const char *key;
	const json_t *x;
	char sub[160];
	int r;

	if (!json_is_object(v))
		return jf_type_error(path, "an object", v, err, errlen);
	json_object_foreach((json_t *)v, key, x)
	{
		jf_path_join(sub, sizeof(sub), path, key);
		bool bw = !strcmp(key, "bandwidth");
		if (!bw && strcmp(key, "ops")) {
			snprintf(err, errlen, "%s: unknown field", sub);
			return -EINVAL;
		}
		if (!bw && !rl->pps)
			return refuse(sub, "this device limits bytes only (bandwidth)", err,
				      errlen);
		if (json_is_null(x))
			continue;
		r = parse_tbucket(x, bw ? rl->max_bps : rl->max_pps, bw ? rl->bps : rl->pps, sub,
				  err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static json_t *emit_rl(uint64_t bps, uint64_t pps)
{
	json_t *o = json_object();
	if (o && bps)
		json_object_set_new(o, "bandwidth", emit_tbucket(bps));
	if (o && pps)
		json_object_set_new(o, "ops", emit_tbucket(pps));
	return o;
}

/* ---- net[] (NetConfig) ---- */

static int net_ip(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	(void)v;
	(void)base;
	return refuse(path,
		      "vireo opens an existing TAP and leaves its address to the host "
		      "(ip addr add ... dev TAP)",
		      err, errlen);
}

static int net_host_mac(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	(void)v;
	(void)base;
	return refuse(path, "vireo leaves the TAP's own MAC address to the host", err, errlen);
}

static int net_vhost_mode(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	(void)base;
	if (!json_is_string(v))
		return jf_type_error(path, "a string", v, err, errlen);
	if (strcmp(json_string_value(v), "Client"))
		return refuse(path, "vireo connects to the back-end's socket (mode Client only)",
			      err, errlen);
	return 0;
}

static int net_mac(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct net_config *n = base;
	if (!json_is_string(v))
		return jf_type_error(path, "a string", v, err, errlen);
	if (cfg_parse_mac(json_string_value(v), n->mac) < 0) {
		snprintf(err, errlen, "%s: bad MAC address (want a unicast xx:xx:xx:xx:xx:xx)",
			 path);
		return -EINVAL;
	}
	n->mac_set = true;
	return 0;
}

static void emit_net_mac(json_t *o, const char *key, const void *base)
{
	const struct net_config *n = base;
	char s[18];
	if (!n->mac_set)
		return;
	snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
		 n->mac[3], n->mac[4], n->mac[5]);
	json_object_set_new(o, key, json_string(s));
}

/* Cloud Hypervisor counts queues (an RX and a TX queue per pair); vireo counts pairs. */
static int net_num_queues(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct net_config *n = base;
	if (!json_is_integer(v))
		return jf_type_error(path, "an integer", v, err, errlen);
	json_int_t q = json_integer_value(v);
	if (q < 2 || q > 2 * NET_MAX_QUEUE_PAIRS || q % 2) {
		snprintf(err, errlen,
			 "%s: %lld is out of range (an even number, 2..%d: a receive "
			 "and a transmit queue per pair)",
			 path, (long long)q, 2 * NET_MAX_QUEUE_PAIRS);
		return -ERANGE;
	}
	n->queues = (unsigned)q / 2;
	return 0;
}

static void emit_net_num_queues(json_t *o, const char *key, const void *base)
{
	json_object_set_new(o, key, json_integer(2 * ((const struct net_config *)base)->queues));
}

static void emit_net_vhost(json_t *o, const char *key, const void *base)
{
	(void)key;
	jf_emit_vhost(o, ((const struct net_config *)base)->vhost_user);
}

static int net_rl_both(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct net_config *n = base;
	struct rl_json rl = {&n->rx_bps, &n->rx_pps, UINT64_MAX, 1000000000ULL};
	int r = parse_rl(v, &rl, path, err, errlen);
	n->tx_bps = n->rx_bps;
	n->tx_pps = n->rx_pps;
	return r;
}

static int net_rl_rx(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct net_config *n = base;
	struct rl_json rl = {&n->rx_bps, &n->rx_pps, UINT64_MAX, 1000000000ULL};
	return parse_rl(v, &rl, path, err, errlen);
}

static int net_rl_tx(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct net_config *n = base;
	struct rl_json rl = {&n->tx_bps, &n->tx_pps, UINT64_MAX, 1000000000ULL};
	return parse_rl(v, &rl, path, err, errlen);
}

/* One rate_limiter_config when both directions agree (Cloud Hypervisor's shape), else the
 * per-direction extension. */
static void emit_net_rl(json_t *o, const char *key, const void *base)
{
	const struct net_config *n = base;
	(void)key;
	if (!(n->rx_bps | n->rx_pps | n->tx_bps | n->tx_pps))
		return;
	if (n->rx_bps == n->tx_bps && n->rx_pps == n->tx_pps) {
		json_object_set_new(o, "rate_limiter_config", emit_rl(n->rx_bps, n->rx_pps));
		return;
	}
	if (n->rx_bps | n->rx_pps)
		json_object_set_new(o, "rx_rate_limiter_config", emit_rl(n->rx_bps, n->rx_pps));
	if (n->tx_bps | n->tx_pps)
		json_object_set_new(o, "tx_rate_limiter_config", emit_rl(n->tx_bps, n->tx_pps));
}

static const struct jfield net_fields[] = {
    F_STR("tap", struct net_config, tap, JF_NONEMPTY),
    F_CUSTOM("ip", net_ip, NULL, 0),
    F_CUSTOM("mask", net_ip, NULL, 0),
    F_CUSTOM("mac", net_mac, emit_net_mac, 0),
    F_CUSTOM("host_mac", net_host_mac, NULL, 0),
    F_CUSTOM("num_queues", net_num_queues, emit_net_num_queues, 0),
    F_UINT("queue_size", struct net_config, queue_size, 64, 1024, JF_POW2),
    F_UINT("mtu", struct net_config, mtu, NET_MIN_MTU, NET_MAX_MTU, JF_OMIT0),
    F_CUSTOM("vhost_user", NULL, emit_net_vhost, 0),
    F_CUSTOM("vhost_socket", NULL, NULL, 0),
    F_CUSTOM("vhost_mode", net_vhost_mode, NULL, 0),
    F_CUSTOM("rate_limiter_config", net_rl_both, emit_net_rl, 0),
    /* vireo extensions: a limit per direction (rx: to the guest) */
    F_CUSTOM("rx_rate_limiter_config", net_rl_rx, NULL, 0),
    F_CUSTOM("tx_rate_limiter_config", net_rl_tx, NULL, 0),
    {.key = NULL},
};

static int net_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	struct net_config *n = base;
	const json_t *both = json_object_get(obj, "rate_limiter_config");
	int r = jf_vhost_user(obj, &n->vhost_user, path, err, errlen);
	if (r < 0)
		return r;
	if (!n->tap == !n->vhost_user) {
		snprintf(err, errlen, "%s: give exactly one of tap and vhost_socket", path);
		return -EINVAL;
	}
	if (both && !json_is_null(both) &&
	    ((json_object_get(obj, "rx_rate_limiter_config") &&
	      !json_is_null(json_object_get(obj, "rx_rate_limiter_config"))) ||
	     (json_object_get(obj, "tx_rate_limiter_config") &&
	      !json_is_null(json_object_get(obj, "tx_rate_limiter_config"))))) {
		snprintf(err, errlen,
			 "%s: give rate_limiter_config (both directions) or rx_/tx_rate_limiter_"
			 "config, not both",
			 path);
		return -EINVAL;
	}
	return cfg_net_check(n, path, err, errlen);
}

int jdev_parse_net(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct vm_config *cfg = base;
	size_t i;
	const json_t *item;
	char sub[160];

	if (!json_is_array(v))
		return jf_type_error(path, "an array", v, err, errlen);
	json_array_foreach(v, i, item)
	{
		if (cfg->nr_nets >= VM_MAX_NETS) {
			snprintf(err, errlen, "%s: at most %d network devices", path, VM_MAX_NETS);
			return -EINVAL;
		}
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		struct net_config *n = &cfg->nets[cfg->nr_nets];
		memset(n, 0, sizeof(*n));
		n->queues = 1;
		n->queue_size = 256;
		cfg->nr_nets++; /* owned by cfg from here on, also on error */
		int r = jf_parse_obj(item, net_fields, n, sub, net_check, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

void jdev_emit_net(json_t *o, const char *key, const void *base)
{
	const struct vm_config *cfg = base;
	json_t *a = json_array();
	if (!a)
		return;
	for (unsigned i = 0; i < cfg->nr_nets; i++)
		json_array_append_new(a, jf_emit_obj(net_fields, &cfg->nets[i]));
	json_object_set_new(o, key, a);
}

/* ---- rng (RngConfig) ---- */

#define RNG_SRC "/dev/urandom"

static int rng_src(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	(void)base;
	if (!json_is_string(v))
		return jf_type_error(path, "a string", v, err, errlen);
	if (strcmp(json_string_value(v), RNG_SRC))
		return refuse(path,
			      "vireo's rng reads the kernel's CSPRNG (getrandom), give "
			      "\"" RNG_SRC "\"",
			      err, errlen);
	return 0;
}

static void emit_rng_src(json_t *o, const char *key, const void *base)
{
	(void)base;
	json_object_set_new(o, key, json_string(RNG_SRC));
}

static int rng_rl(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct rng_config *rc = base;
	struct rl_json rl = {&rc->rate, NULL, RNG_MAX_RATE, 0};
	return parse_rl(v, &rl, path, err, errlen);
}

static void emit_rng_rl(json_t *o, const char *key, const void *base)
{
	const struct rng_config *rc = base;
	if (rc->rate)
		json_object_set_new(o, key, emit_rl(rc->rate, 0));
}

static const struct jfield rng_fields[] = {
    F_CUSTOM("src", rng_src, emit_rng_src, 0),
    /* vireo extension: bytes per second for the guest */
    F_CUSTOM("rate_limiter_config", rng_rl, emit_rng_rl, 0),
    {.key = NULL},
};

static int enable_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	(void)obj;
	(void)path;
	(void)err;
	(void)errlen;
	*(bool *)base = true; /* `enabled` is each device struct's first member */
	_Static_assert(offsetof(struct rng_config, enabled) == 0, "enabled first");
	_Static_assert(offsetof(struct balloon_config, enabled) == 0, "enabled first");
	_Static_assert(offsetof(struct vsock_config, enabled) == 0, "enabled first");
	return 0;
}

int jdev_parse_rng(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct rng_config *rc = &((struct vm_config *)base)->rng;
	memset(rc, 0, sizeof(*rc));
	return jf_parse_obj(v, rng_fields, rc, path, enable_check, err, errlen);
}

void jdev_emit_rng(json_t *o, const char *key, const void *base)
{
	const struct rng_config *rc = &((const struct vm_config *)base)->rng;
	if (rc->enabled)
		json_object_set_new(o, key, jf_emit_obj(rng_fields, rc));
}

/* ---- balloon (BalloonConfig) ---- */

static const struct jfield balloon_fields[] = {
    F_UINT("size", struct balloon_config, size, 0, UINT64_MAX / 2, JF_REQUIRED),
    F_BOOL("deflate_on_oom", struct balloon_config, deflate_on_oom, 0),
    F_BOOL("free_page_reporting", struct balloon_config, free_page_reporting, 0),
    /* vireo extension (Firecracker's name): ask for statistics every N seconds */
    F_UINT("stats_polling_interval_s", struct balloon_config, stats_s, 0, BALLOON_MAX_STATS_S,
	   JF_OMIT0),
    {.key = NULL},
};

static int balloon_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	struct balloon_config *b = base;
	if (b->size % (4 * KiB)) {
		snprintf(err, errlen, "%s.size: must be a multiple of 4096", path);
		return -EINVAL;
	}
	return enable_check(obj, base, path, err, errlen);
}

int jdev_parse_balloon(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct balloon_config *b = &((struct vm_config *)base)->balloon;
	memset(b, 0, sizeof(*b));
	return jf_parse_obj(v, balloon_fields, b, path, balloon_check, err, errlen);
}

void jdev_emit_balloon(json_t *o, const char *key, const void *base)
{
	const struct balloon_config *b = &((const struct vm_config *)base)->balloon;
	if (b->enabled)
		json_object_set_new(o, key, jf_emit_obj(balloon_fields, b));
}

/* ---- vsock (VsockConfig) ---- */

static const struct jfield vsock_fields[] = {
    F_UINT("cid", struct vsock_config, cid, 3, 0xfffffffeULL, JF_REQUIRED),
    F_STR("socket", struct vsock_config, uds, JF_REQUIRED | JF_NONEMPTY),
    {.key = NULL},
};

int jdev_parse_vsock(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct vsock_config *vs = &((struct vm_config *)base)->vsock;
	free(vs->uds);
	memset(vs, 0, sizeof(*vs));
	return jf_parse_obj(v, vsock_fields, vs, path, enable_check, err, errlen);
}

void jdev_emit_vsock(json_t *o, const char *key, const void *base)
{
	const struct vsock_config *vs = &((const struct vm_config *)base)->vsock;
	if (vs->enabled)
		json_object_set_new(o, key, jf_emit_obj(vsock_fields, vs));
}

/* ---- gpu (vireo extension: virtio-gpu 2D) ---- */

static const struct jfield gpu_fields[] = {
    F_UINT("width", struct gpu_config, width, GPU_MIN_WIDTH, GPU_MAX_WIDTH, 0),
    F_UINT("height", struct gpu_config, height, GPU_MIN_HEIGHT, GPU_MAX_HEIGHT, 0),
    F_UINT("max_hostmem", struct gpu_config, max_hostmem, GPU_MIN_HOSTMEM, GPU_MAX_HOSTMEM, 0),
    {.key = NULL},
};

int jdev_parse_gpu(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct gpu_config *g = &((struct vm_config *)base)->gpu;
	memset(g, 0, sizeof(*g));
	int r = cfg_parse_gpu(NULL, g, err, errlen); /* --gpu's defaults */
	if (r == 0)
		r = jf_parse_obj(v, gpu_fields, g, path, NULL, err, errlen);
	return r;
}

void jdev_emit_gpu(json_t *o, const char *key, const void *base)
{
	const struct gpu_config *g = &((const struct vm_config *)base)->gpu;
	if (g->enabled)
		json_object_set_new(o, key, jf_emit_obj(gpu_fields, g));
}

/* ---- display (vireo extension: VNC server, screenshots) ---- */

static int vnc_address(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct display_config *d = base;
	struct in_addr ia;
	if (!json_is_string(v))
		return jf_type_error(path, "a string", v, err, errlen);
	if (inet_pton(AF_INET, json_string_value(v), &ia) != 1) {
		snprintf(err, errlen, "%s: not an IPv4 address", path);
		return -EINVAL;
	}
	char *dup = strdup(json_string_value(v));
	if (!dup)
		return -ENOMEM;
	free(d->vnc_addr);
	d->vnc_addr = dup;
	return 0;
}

static int vnc_port(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct display_config *d = base;
	if (!json_is_integer(v))
		return jf_type_error(path, "an integer", v, err, errlen);
	json_int_t p = json_integer_value(v);
	if (p < 0 || p > 65535) {
		snprintf(err, errlen, "%s: %lld is out of range (0..65535, 0: any free port)", path,
			 (long long)p);
		return -ERANGE;
	}
	d->vnc_port = (uint16_t)p;
	return 0;
}

static void emit_vnc_port(json_t *o, const char *key, const void *base)
{
	json_object_set_new(o, key, json_integer(((const struct display_config *)base)->vnc_port));
}

static const struct jfield vnc_fields[] = {
    F_CUSTOM("address", vnc_address, NULL, 0),
    F_CUSTOM("port", vnc_port, emit_vnc_port, JF_REQUIRED),
    F_STR("password_file", struct display_config, vnc_password, JF_NONEMPTY),
    {.key = NULL},
};

static int vnc_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	struct display_config *d = base;
	(void)obj;
	(void)path;
	(void)err;
	(void)errlen;
	d->vnc = true;
	if (!d->vnc_addr)
		d->vnc_addr = strdup("127.0.0.1");
	return d->vnc_addr ? 0 : -ENOMEM;
}

static int display_vnc(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	return jf_parse_obj(v, vnc_fields, base, path, vnc_check, err, errlen);
}

static void emit_display_vnc(json_t *o, const char *key, const void *base)
{
	const struct display_config *d = base;
	if (!d->vnc)
		return;
	json_t *v = jf_emit_obj(vnc_fields, d);
	if (v && d->vnc_addr)
		json_object_set_new(v, "address", json_string(d->vnc_addr));
	if (v)
		json_object_set_new(o, key, v);
}

static const struct jfield display_fields[] = {
    F_CUSTOM("vnc", display_vnc, emit_display_vnc, 0),
    F_STR("screenshot", struct display_config, screenshot, JF_NONEMPTY),
    {.key = NULL},
};

int jdev_parse_display(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct display_config *d = &((struct vm_config *)base)->display;
	cfg_display_fini(d);
	return jf_parse_obj(v, display_fields, d, path, NULL, err, errlen);
}

void jdev_emit_display(json_t *o, const char *key, const void *base)
{
	const struct display_config *d = &((const struct vm_config *)base)->display;
	if (d->vnc || d->screenshot)
		json_object_set_new(o, key, jf_emit_obj(display_fields, d));
}
