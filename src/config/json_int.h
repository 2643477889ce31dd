/* SPDX-License-Identifier: MIT */
/*
 * Inside the JSON <-> struct vm_config conversion (json.c, json_devices.c): the field tables
 * and the generic walker. Each JSON object has a table of {key, kind, offset into the C
 * struct, limits}; jf_parse_obj() parses strictly (unknown keys, wrong types, out-of-range
 * values are errors naming the field) and jf_emit_obj() writes the object back.
 */
#ifndef VIREO_CONFIG_JSON_INT_H
#define VIREO_CONFIG_JSON_INT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "config/config.h"

enum jf_kind {
	JF_STR,	   /* char * (strdup'd), or an inline char[size] when size != 0 */
	JF_BOOL,   /* bool */
	JF_UINT,   /* unsigned integer of `size` bytes (4 or 8) in [min, max] */
	JF_OBJ,	   /* nested object whose fields (sub) use the same base */
	JF_CUSTOM, /* parse/emit callbacks; parse NULL: the object's check handles it */
};

#define JF_REQUIRED 1u /* must be present */
#define JF_NONEMPTY 2u /* JF_STR: not "" */
#define JF_POW2 4u     /* JF_UINT: a power of two */
#define JF_OMIT0 8u    /* JF_UINT, JF_BOOL: not emitted when 0 / false */

/* v is never NULL or JSON null here. */
typedef int (*jf_parse_fn)(const json_t *v, void *base, const char *path, char *err, size_t errlen);
/* Add key to obj when there is something to say. */
typedef void (*jf_emit_fn)(json_t *obj, const char *key, const void *base);
/* After an object's fields were parsed: cross-field rules. obj is the JSON object. */
typedef int (*jf_check_fn)(const json_t *obj, void *base, const char *path, char *err,
			   size_t errlen);

struct jfield {
	const char *key;
	enum jf_kind kind;
	size_t off;
	unsigned size;
	uint64_t min, max;
	unsigned flags;
	const struct jfield *sub; /* JF_OBJ */
	jf_check_fn check;	  /* JF_OBJ */
	jf_parse_fn parse;	  /* JF_CUSTOM */
	jf_emit_fn emit;	  /* JF_CUSTOM */
};

#define MSZ(type, member) ((unsigned)sizeof(((type *)0)->member))
#define F_STR(k, type, m, fl)                                                                      \
	{                                                                                          \
		.key = k, .kind = JF_STR, .off = offsetof(type, m), .flags = fl                    \
	}
#define F_BOOL(k, type, m, fl)                                                                     \
	{                                                                                          \
		.key = k, .kind = JF_BOOL, .off = offsetof(type, m), .flags = fl                   \
	}
#define F_UINT(k, type, m, lo, hi, fl)                                                             \
	{                                                                                          \
		.key = k, .kind = JF_UINT, .off = offsetof(type, m), .size = MSZ(type, m),         \
		.min = lo, .max = hi, .flags = fl                                                  \
	}
#define F_OBJ(k, subtbl, chk, fl)                                                                  \
	{                                                                                          \
		.key = k, .kind = JF_OBJ, .sub = subtbl, .check = chk, .flags = fl                 \
	}
#define F_CUSTOM(k, p, e, fl)                                                                      \
	{                                                                                          \
		.key = k, .kind = JF_CUSTOM, .parse = p, .emit = e, .flags = fl                    \
	}

/* json.c: the walker and its helpers. */
void jf_key_print(char *out, size_t outlen, const char *key);
void jf_path_join(char *out, size_t outlen, const char *path, const char *key);
int jf_type_error(const char *path, const char *want, const json_t *v, char *err, size_t errlen);
int jf_set_string(const json_t *v, const struct jfield *f, void *base, const char *path, char *err,
		  size_t errlen);
int jf_parse_obj(const json_t *obj, const struct jfield *tbl, void *base, const char *path,
		 jf_check_fn check, char *err, size_t errlen);
json_t *jf_emit_obj(const struct jfield *tbl, const void *base);
/* The vhost_user (bool) + vhost_socket pair of a disk or net object: *dst gets the socket. */
int jf_vhost_user(const json_t *obj, char **dst, const char *path, char *err, size_t errlen);
void jf_emit_vhost(json_t *o, const char *socket);

/* json_devices.c: a character device in Cloud Hypervisor's ConsoleConfig shape (mode Off |
 * Null | Tty | Pty | File | Socket, file, socket). Off and Null give SERIAL_NONE. */
int jf_chardev_parse(const json_t *obj, const char *path, enum serial_mode *mode, char **file,
		     char *err, size_t errlen);
json_t *jf_chardev_emit(enum serial_mode mode, const char *file);

/* json_devices.c: the devices' top-level VmConfig keys (base: struct vm_config). */
int jdev_parse_net(const json_t *v, void *base, const char *path, char *err, size_t errlen);
void jdev_emit_net(json_t *o, const char *key, const void *base);
int jdev_parse_rng(const json_t *v, void *base, const char *path, char *err, size_t errlen);
void jdev_emit_rng(json_t *o, const char *key, const void *base);
int jdev_parse_balloon(const json_t *v, void *base, const char *path, char *err, size_t errlen);
void jdev_emit_balloon(json_t *o, const char *key, const void *base);
int jdev_parse_vsock(const json_t *v, void *base, const char *path, char *err, size_t errlen);
void jdev_emit_vsock(json_t *o, const char *key, const void *base);
int jdev_parse_console(const json_t *v, void *base, const char *path, char *err, size_t errlen);
void jdev_emit_console(json_t *o, const char *key, const void *base);
int jdev_parse_gpu(const json_t *v, void *base, const char *path, char *err, size_t errlen);
void jdev_emit_gpu(json_t *o, const char *key, const void *base);
int jdev_parse_display(const json_t *v, void *base, const char *path, char *err, size_t errlen);
void jdev_emit_display(json_t *o, const char *key, const void *base);

#endif
