/* SPDX-License-Identifier: MIT */
/*
 * JSON <-> struct vm_config (Cloud Hypervisor's VmConfig shape), driven by field tables.
 * Each JSON object has a table of {key, kind, offset into the C struct, limits}; a generic
 * walker parses (strictly: unknown keys, wrong types, out-of-range values are errors) and
 * emits. Objects that need cross-field checks have a `check` that runs after their fields.
 *
 * The walker and the machine-level objects are here; the devices' objects (net, rng, balloon,
 * vsock, console, gpu, display) are in json_devices.c. Adding a device: put its fields in
 * struct vm_config (config.h), a table for its JSON object in json_devices.c and one row in
 * vmconfig_fields[] below.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config/json.h"
#include "config/json_int.h"

/* A JSON key made safe for a one-line message (no control bytes, bounded). */
void jf_key_print(char *out, size_t outlen, const char *key)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)key; *p && n + 4 < outlen; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
	if (*key && strlen(key) > n)
		memcpy(out + n, "...", 4);
	else
		out[n] = '\0';
}

void jf_path_join(char *out, size_t outlen, const char *path, const char *key)
{
	char k[48];
	jf_key_print(k, sizeof(k), key);
	if (*path)
		snprintf(out, outlen, "%s.%s", path, k);
	else
		snprintf(out, outlen, "%s", k);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

int jf_type_error(const char *path, const char *want, const json_t *v, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: expected %s, got %s", path, want, type_name(v));
	return -EINVAL;
}

int jf_set_string(const json_t *v, const struct jfield *f, void *base, const char *path, char *err,
		  size_t errlen)
{
	if (!json_is_string(v))
		return jf_type_error(path, "a string", v, err, errlen);
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (strlen(s) != len) {
		snprintf(err, errlen, "%s: contains a NUL character", path);
		return -EINVAL;
	}
	if ((f->flags & JF_NONEMPTY) && !len) {
		snprintf(err, errlen, "%s: must not be empty", path);
		return -EINVAL;
	}
	char *dst = (char *)base + f->off;
	if (f->size) {
		if (len >= f->size) {
			snprintf(err, errlen, "%s: longer than %u characters", path, f->size - 1);
			return -EINVAL;
		}
		memcpy(dst, s, len + 1);
		return 0;
	}
	char *dup = strdup(s);
	if (!dup) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	free(*(char **)(void *)dst);
	*(char **)(void *)dst = dup;
	return 0;
}

static int set_uint(const json_t *v, const struct jfield *f, void *base, const char *path,
		    char *err, size_t errlen)
{
	if (!json_is_integer(v))
		return jf_type_error(path, "an integer", v, err, errlen);
	json_int_t n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < f->min || (uint64_t)n > f->max ||
	    ((f->flags & JF_POW2) && !IS_POW2((uint64_t)n))) {
		snprintf(err, errlen, "%s: %lld is out of range (%s%llu..%llu)", path, (long long)n,
			 (f->flags & JF_POW2) ? "a power of two, " : "", (unsigned long long)f->min,
			 (unsigned long long)f->max);
		return -ERANGE;
	}
	void *dst = (char *)base + f->off;
	if (f->size == sizeof(uint64_t))
		*(uint64_t *)dst = (uint64_t)n;
	else
		*(unsigned *)dst = (unsigned)n;
	return 0;
}

static int parse_field(const json_t *v, const struct jfield *f, void *base, const char *path,
		       char *err, size_t errlen)
{
	switch (f->kind) {
	case JF_STR:
		return jf_set_string(v, f, base, path, err, errlen);
	case JF_BOOL:
		if (!json_is_boolean(v))
			return jf_type_error(path, "a boolean", v, err, errlen);
		*(bool *)((char *)base + f->off) = json_is_true(v);
		return 0;
	case JF_UINT:
		return set_uint(v, f, base, path, err, errlen);
	case JF_OBJ:
		return jf_parse_obj(v, f->sub, base, path, f->check, err, errlen);
	case JF_CUSTOM:
		return f->parse ? f->parse(v, base, path, err, errlen) : 0;
	}
	return -EINVAL;
}

static const struct jfield *find_field(const struct jfield *tbl, const char *key)
{
	for (; tbl->key; tbl++)
		if (!strcmp(tbl->key, key))
			return tbl;
	return NULL;
}

int jf_parse_obj(const json_t *obj, const struct jfield *tbl, void *base, const char *path,
		 jf_check_fn check, char *err, size_t errlen)
{
	const char *key;
	const json_t *v;
	char sub[160];
	int r;

	if (!json_is_object(obj))
		return jf_type_error(*path ? path : "VmConfig", "an object", obj, err, errlen);
	json_object_foreach((json_t *)obj, key, v)
	{
		const struct jfield *f = find_field(tbl, key);
		jf_path_join(sub, sizeof(sub), path, key);
		if (!f) {
			snprintf(err, errlen, "%s: unknown field", sub);
			return -EINVAL;
		}
		if (json_is_null(v))
			continue; /* as if absent (optional fields) */
		if ((r = parse_field(v, f, base, sub, err, errlen)) < 0)
			return r;
	}
	for (const struct jfield *f = tbl; f->key; f++) {
		const json_t *x = json_object_get(obj, f->key);
		if ((f->flags & JF_REQUIRED) && (!x || json_is_null(x))) {
			jf_path_join(sub, sizeof(sub), path, f->key);
			snprintf(err, errlen, "%s: missing", sub);
			return -EINVAL;
		}
	}
	return check ? check(obj, base, path, err, errlen) : 0;
}

static void emit_field(json_t *o, const struct jfield *f, const void *base)
{
	const char *p = (const char *)base + f->off;
	json_t *v = NULL;

	switch (f->kind) {
	case JF_STR:
		if (f->size)
			v = *p ? json_string(p) : NULL;
		else if (*(char *const *)(const void *)p)
			v = json_string(*(char *const *)(const void *)p); /* NULL if not UTF-8 */
		break;
	case JF_BOOL:
		if (*(const bool *)(const void *)p || !(f->flags & JF_OMIT0))
			v = json_boolean(*(const bool *)(const void *)p);
		break;
	case JF_UINT: {
		uint64_t n = f->size == sizeof(uint64_t) ? *(const uint64_t *)(const void *)p
							 : *(const unsigned *)(const void *)p;
		if (n || !(f->flags & JF_OMIT0))
			v = json_integer((json_int_t)n);
		break;
	}
	case JF_OBJ:
		v = jf_emit_obj(f->sub, base);
		break;
	case JF_CUSTOM:
		if (f->emit)
			f->emit(o, f->key, base);
		return;
	}
	if (v)
		json_object_set_new(o, f->key, v);
}

json_t *jf_emit_obj(const struct jfield *tbl, const void *base)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	for (; tbl->key; tbl++)
		emit_field(o, tbl, base);
	return o;
}

/* ---- payload ---- */

static const struct jfield payload_fields[] = {
    F_STR("firmware", struct vm_config, firmware, JF_NONEMPTY),
    F_STR("kernel", struct vm_config, kernel, JF_NONEMPTY),
    F_STR("cmdline", struct vm_config, cmdline, 0),
    F_STR("initramfs", struct vm_config, initrd, JF_NONEMPTY),
    {.key = NULL},
};

static int payload_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	const struct vm_config *cfg = base;
	(void)obj;
	if (!cfg->kernel == !cfg->firmware) {
		snprintf(err, errlen, "%s: give exactly one of kernel and firmware", path);
		return -EINVAL;
	}
	if (cfg->firmware && (cfg->initrd || cfg->cmdline)) {
		snprintf(err, errlen, "%s: initramfs and cmdline need a kernel, not firmware",
			 path);
		return -EINVAL;
	}
	return 0;
}

/* ---- cpus ---- */

/* max_vcpus: no CPU hotplug, so it must equal boot_vcpus (checked in cpus_check). */
static int parse_max_vcpus(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	(void)base;
	if (!json_is_integer(v))
		return jf_type_error(path, "an integer", v, err, errlen);
	return 0;
}

static void emit_max_vcpus(json_t *o, const char *key, const void *base)
{
	json_object_set_new(o, key, json_integer(((const struct vm_config *)base)->cpus));
}

static const struct jfield cpus_fields[] = {
    F_UINT("boot_vcpus", struct vm_config, cpus, 1, VM_MAX_CPUS, JF_REQUIRED),
    F_CUSTOM("max_vcpus", parse_max_vcpus, emit_max_vcpus, 0),
    {.key = NULL},
};

static int cpus_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	const struct vm_config *cfg = base;
	const json_t *m = json_object_get(obj, "max_vcpus");
	if (m && json_is_integer(m) && json_integer_value(m) != (json_int_t)cfg->cpus) {
		snprintf(err, errlen,
			 "%s.max_vcpus: must equal boot_vcpus (%u): vireo has no CPU hotplug", path,
			 cfg->cpus);
		return -EINVAL;
	}
	return 0;
}

/* ---- memory ---- */

static const struct jfield memory_fields[] = {
    F_UINT("size", struct vm_config, mem_size, VM_MIN_MEM, UINT64_MAX / 2, JF_REQUIRED),
    {.key = NULL},
};

static int memory_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	const struct vm_config *cfg = base;
	(void)obj;
	if (cfg->mem_size % (4 * KiB)) {
		snprintf(err, errlen, "%s.size: must be a multiple of 4096", path);
		return -EINVAL;
	}
	return 0;
}

/* ---- disks ---- */

/* vhost_user (bool) and vhost_socket are parsed together by jf_vhost_user (from a check). */
int jf_vhost_user(const json_t *obj, char **dst, const char *path, char *err, size_t errlen)
{
	const json_t *vu = json_object_get(obj, "vhost_user");
	const json_t *vs = json_object_get(obj, "vhost_socket");
	char sub[160];

	if (vu && !json_is_null(vu) && !json_is_boolean(vu)) {
		jf_path_join(sub, sizeof(sub), path, "vhost_user");
		return jf_type_error(sub, "a boolean", vu, err, errlen);
	}
	if (vs && !json_is_null(vs)) {
		jf_path_join(sub, sizeof(sub), path, "vhost_socket");
		if (!json_is_string(vs))
			return jf_type_error(sub, "a string", vs, err, errlen);
		if (!json_is_true(vu)) {
			snprintf(err, errlen, "%s: vhost_socket needs vhost_user: true", path);
			return -EINVAL;
		}
		struct holder {
			char *s;
		} h = {*dst};
		const struct jfield f = F_STR("vhost_socket", struct holder, s, JF_NONEMPTY);
		int r = jf_set_string(vs, &f, &h, sub, err, errlen);
		*dst = h.s;
		return r;
	}
	if (json_is_true(vu)) {
		snprintf(err, errlen, "%s: vhost_user needs vhost_socket", path);
		return -EINVAL;
	}
	return 0;
}

void jf_emit_vhost(json_t *o, const char *socket)
{
	json_object_set_new(o, "vhost_user", json_boolean(socket != NULL));
	if (socket)
		json_object_set_new(o, "vhost_socket", json_string(socket));
}

static void emit_disk_vhost(json_t *o, const char *key, const void *base)
{
	(void)key;
	jf_emit_vhost(o, ((const struct disk_config *)base)->vhost_user);
}

static const struct jfield disk_fields[] = {
    F_STR("path", struct disk_config, path, JF_NONEMPTY),
    F_BOOL("readonly", struct disk_config, readonly, 0),
    F_BOOL("direct", struct disk_config, direct, 0),
    F_UINT("num_queues", struct disk_config, queues, 1, 16, 0),
    F_UINT("queue_size", struct disk_config, queue_size, 2, 1024, JF_POW2),
    F_CUSTOM("vhost_user", NULL, emit_disk_vhost, 0),
    F_CUSTOM("vhost_socket", NULL, NULL, 0),
    {.key = "serial",
     .kind = JF_STR,
     .off = offsetof(struct disk_config, serial),
     .size = MSZ(struct disk_config, serial)},
    {.key = NULL},
};

static int disk_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	struct disk_config *d = base;
	int r = jf_vhost_user(obj, &d->vhost_user, path, err, errlen);
	if (r < 0)
		return r;
	if (!d->path == !d->vhost_user) {
		snprintf(err, errlen, "%s: give exactly one of path and vhost_socket", path);
		return -EINVAL;
	}
	return 0;
}

static void disk_defaults(struct disk_config *d)
{
	memset(d, 0, sizeof(*d));
	d->queues = 1;
	d->queue_size = 256;
}

static int parse_disks(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	struct vm_config *cfg = base;
	size_t i;
	const json_t *item;
	char sub[160];

	if (!json_is_array(v))
		return jf_type_error(path, "an array", v, err, errlen);
	if (json_array_size(v) > VM_MAX_DISKS) {
		snprintf(err, errlen, "%s: at most %d disks", path, VM_MAX_DISKS);
		return -EINVAL;
	}
	json_array_foreach(v, i, item)
	{
		if (cfg->nr_disks >= VM_MAX_DISKS) {
			snprintf(err, errlen, "%s: at most %d disks", path, VM_MAX_DISKS);
			return -EINVAL;
		}
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		struct disk_config *d = &cfg->disks[cfg->nr_disks];
		disk_defaults(d);
		cfg->nr_disks++; /* owned by cfg from here on, also on error */
		int r = jf_parse_obj(item, disk_fields, d, sub, disk_check, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static void emit_disks(json_t *o, const char *key, const void *base)
{
	const struct vm_config *cfg = base;
	json_t *a = json_array();
	if (!a)
		return;
	for (unsigned i = 0; i < cfg->nr_disks; i++)
		json_array_append_new(a, jf_emit_obj(disk_fields, &cfg->disks[i]));
	json_object_set_new(o, key, a);
}

/* ---- serial (COM1) and debug_console (the firmware log port) ---- */

/* serial: the COM1 UART, in Cloud Hypervisor's ConsoleConfig shape (jf_chardev_parse). */
static int serial_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	struct vm_config *cfg = base;
	cfg->serial_given = true; /* as --serial: a virtio console on Tty does not take stdin */
	return jf_chardev_parse(obj, path, &cfg->serial, &cfg->serial_path, err, errlen);
}

static void emit_serial(json_t *o, const char *key, const void *base)
{
	const struct vm_config *cfg = base;
	json_t *v = jf_chardev_emit(cfg->serial, cfg->serial_path);
	if (v)
		json_object_set_new(o, key, v);
}

static const struct jfield serial_fields[] = {
    F_CUSTOM("mode", NULL, NULL, JF_REQUIRED),
    F_CUSTOM("file", NULL, NULL, 0),
    F_CUSTOM("socket", NULL, NULL, 0),
    {.key = NULL},
};

static int parse_serial(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	return jf_parse_obj(v, serial_fields, base, path, serial_check, err, errlen);
}

#define DEBUGCON_PORT 0x402 /* src/firmware/debugcon.c: SeaBIOS' debug port */

static int debugcon_check(const json_t *obj, void *base, const char *path, char *err, size_t errlen)
{
	struct vm_config *cfg = base;
	const json_t *m = json_object_get(obj, "mode");
	const json_t *f = json_object_get(obj, "file");
	const json_t *io = json_object_get(obj, "iobase");
	char sub[160];

	jf_path_join(sub, sizeof(sub), path, "mode");
	if (!json_is_string(m))
		return jf_type_error(sub, "a string", m, err, errlen);
	if (io && !json_is_null(io) &&
	    (!json_is_integer(io) || json_integer_value(io) != DEBUGCON_PORT)) {
		snprintf(err, errlen, "%s.iobase: only %d (0x402) is supported", path,
			 DEBUGCON_PORT);
		return -EINVAL;
	}
	const char *mode = json_string_value(m);
	free(cfg->firmware_log);
	cfg->firmware_log = NULL;
	if (!strcmp(mode, "Off") || !strcmp(mode, "Null")) {
		if (f && !json_is_null(f)) {
			snprintf(err, errlen, "%s: file is only for mode File", path);
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(mode, "File") != 0) {
		snprintf(err, errlen, "%s: only File, Off or Null are supported", sub);
		return -EINVAL;
	}
	if (!f || json_is_null(f)) {
		snprintf(err, errlen, "%s: mode File needs file", path);
		return -EINVAL;
	}
	const struct jfield ff = F_STR("file", struct vm_config, firmware_log, JF_NONEMPTY);
	jf_path_join(sub, sizeof(sub), path, "file");
	return jf_set_string(f, &ff, cfg, sub, err, errlen);
}

static void emit_debugcon(json_t *o, const char *key, const void *base)
{
	const struct vm_config *cfg = base;
	json_t *d = json_pack("{s:s, s:i}", "mode", cfg->firmware_log ? "File" : "Off", "iobase",
			      DEBUGCON_PORT);
	if (d && cfg->firmware_log)
		json_object_set_new(d, "file", json_string(cfg->firmware_log));
	if (d)
		json_object_set_new(o, key, d);
}

static const struct jfield debugcon_fields[] = {
    F_CUSTOM("mode", NULL, NULL, JF_REQUIRED),
    F_CUSTOM("file", NULL, NULL, 0),
    F_CUSTOM("iobase", NULL, NULL, 0),
    {.key = NULL},
};

static int parse_debugcon(const json_t *v, void *base, const char *path, char *err, size_t errlen)
{
	return jf_parse_obj(v, debugcon_fields, base, path, debugcon_check, err, errlen);
}

/* ---- VmConfig ---- */

static const struct jfield vmconfig_fields[] = {
    F_OBJ("payload", payload_fields, payload_check, JF_REQUIRED),
    F_OBJ("cpus", cpus_fields, cpus_check, 0),
    F_OBJ("memory", memory_fields, memory_check, 0),
    F_CUSTOM("disks", parse_disks, emit_disks, 0),
    F_CUSTOM("net", jdev_parse_net, jdev_emit_net, 0),
    F_CUSTOM("rng", jdev_parse_rng, jdev_emit_rng, 0),
    F_CUSTOM("balloon", jdev_parse_balloon, jdev_emit_balloon, 0),
    F_CUSTOM("vsock", jdev_parse_vsock, jdev_emit_vsock, 0),
    F_CUSTOM("serial", parse_serial, emit_serial, 0),
    F_CUSTOM("console", jdev_parse_console, jdev_emit_console, 0),
    F_CUSTOM("debug_console", parse_debugcon, emit_debugcon, 0),
    /* vireo extensions (no such device in Cloud Hypervisor) */
    F_CUSTOM("gpu", jdev_parse_gpu, jdev_emit_gpu, 0),
    F_BOOL("input", struct vm_config, input, JF_OMIT0),
    F_CUSTOM("display", jdev_parse_display, jdev_emit_display, 0),
    {.key = NULL},
};

void cfg_json_syntax_error(char *err, size_t errlen, const json_error_t *je)
{
	snprintf(err, errlen, "bad JSON at line %d column %d: %s", je->line, je->column, je->text);
	for (char *p = err; *p; p++) /* jansson quotes the input: keep it one line */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

int cfg_from_json(struct vm_config *cfg, const json_t *root, char *err, size_t errlen)
{
	return jf_parse_obj(root, vmconfig_fields, cfg, "", NULL, err, errlen);
}

int cfg_from_json_text(struct vm_config *cfg, const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	if (len > CFG_JSON_MAX) {
		snprintf(err, errlen, "VmConfig: larger than %d bytes", CFG_JSON_MAX);
		return -EFBIG;
	}
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		cfg_json_syntax_error(err, errlen, &je);
		return -EINVAL;
	}
	int r = cfg_from_json(cfg, root, err, errlen);
	json_decref(root);
	return r;
}

int cfg_load_file(struct vm_config *cfg, const char *path, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	char why[400];
	int r = read_file(path, CFG_JSON_MAX, &buf, &len);
	if (r < 0) {
		snprintf(err, errlen, "--config %s: %s", path,
			 r == -EFBIG	? "larger than 1 MiB"
			 : r == -EINVAL ? "not a regular file"
					: strerror(-r));
		return r;
	}
	r = cfg_from_json_text(cfg, (const char *)buf, len, why, sizeof(why));
	free(buf);
	if (r < 0)
		snprintf(err, errlen, "--config %s: %s", path, why);
	return r;
}

json_t *cfg_to_json(const struct vm_config *cfg)
{
	return jf_emit_obj(vmconfig_fields, cfg);
}
