/* SPDX-License-Identifier: MIT */
/* AML encoder: see aml.h. Opcode values from ACPI 6.5 section 20.3 (AML byte stream). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/aml.h"

enum {
	AML_ZERO = 0x00,
	AML_ONE = 0x01,
	AML_NAME = 0x08,
	AML_BYTE_PREFIX = 0x0a,
	AML_WORD_PREFIX = 0x0b,
	AML_DWORD_PREFIX = 0x0c,
	AML_STRING_PREFIX = 0x0d,
	AML_QWORD_PREFIX = 0x0e,
	AML_SCOPE = 0x10,
	AML_BUFFER = 0x11,
	AML_PACKAGE = 0x12,
	AML_METHOD = 0x14,
	AML_DUAL_NAME_PREFIX = 0x2e,
	AML_MULTI_NAME_PREFIX = 0x2f,
	AML_EXT_PREFIX = 0x5b,
	AML_EXT_DEVICE = 0x82,
	AML_ROOT_CHAR = 0x5c,
	AML_PARENT_PREFIX = 0x5e,
	AML_RETURN = 0xa4,
	AML_ONES = 0xff,
};

/* What an open object is: decides what aml_end() inserts. */
enum { OPEN_PKGLEN, OPEN_BUFFER };

#define AML_PKGLEN_MAX 0x0fffffffULL

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_fini(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

int aml_error(const struct aml *a)
{
	if (a->err)
		return a->err;
	return a->depth ? -EINVAL : 0;
}

static void aml_fail(struct aml *a, int e)
{
	if (!a->err)
		a->err = e;
}

static bool aml_reserve(struct aml *a, size_t n)
{
	if (a->err)
		return false;
	if (n > SIZE_MAX - a->len || a->len + n > AML_PKGLEN_MAX) {
		aml_fail(a, -E2BIG);
		return false;
	}
	if (a->len + n <= a->cap)
		return true;
	size_t cap = a->cap ? a->cap : 1024;
	while (cap < a->len + n)
		cap *= 2;
	uint8_t *p = realloc(a->buf, cap);
	if (!p) {
		aml_fail(a, -ENOMEM);
		return false;
	}
	a->buf = p;
	a->cap = cap;
	return true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (n == 0 || !aml_reserve(a, n))
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t b[8];
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n);
}

/* NameSeg: a lead character A-Z or '_', then A-Z, 0-9 or '_'; short segments padded with '_'. */
static bool aml_nameseg(const char *s, size_t n, char out[4])
{
	if (n == 0 || n > 4)
		return false;
	for (size_t i = 0; i < 4; i++) {
		char c = i < n ? s[i] : '_';
		bool upper = c >= 'A' && c <= 'Z', digit = c >= '0' && c <= '9';
		if (!(upper || c == '_' || (digit && i > 0)))
			return false;
		out[i] = c;
	}
	return true;
}

void aml_namestring(struct aml *a, const char *path)
{
	char segs[AML_MAX_DEPTH * 2][4];
	unsigned nseg = 0;
	const char *p = path;

	if (a->err)
		return;
	if (!p || !*p) {
		aml_fail(a, -EINVAL);
		return;
	}
	if (*p == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(a, AML_PARENT_PREFIX);
			p++;
		}
	}
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (nseg >= ARRAY_SIZE(segs) || !aml_nameseg(p, n, segs[nseg])) {
			aml_fail(a, -EINVAL);
			return;
		}
		nseg++;
		p += n;
		if (*p == '.' && !*++p) { /* a trailing dot */
			aml_fail(a, -EINVAL);
			return;
		}
	}
	if (nseg == 0) { /* "\\" alone: the root itself */
		aml_byte(a, AML_ZERO);
		return;
	}
	if (nseg == 2)
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	else if (nseg > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nseg);
	}
	aml_bytes(a, segs, 4 * (size_t)nseg);
}

void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0)
		aml_byte(a, AML_ZERO);
	else if (v == 1)
		aml_byte(a, AML_ONE);
	else if (v == UINT64_MAX)
		aml_byte(a, AML_ONES);
	else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c > 0x7f) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	if (strlen(id) != 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	uint32_t letters = 0, product = 0;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			aml_fail(a, -EINVAL);
			return;
		}
		letters = (letters << 5) | (uint32_t)(id[i] - 0x40);
	}
	for (int i = 3; i < 7; i++) {
		int h = hexval(id[i]);
		if (h < 0) {
			aml_fail(a, -EINVAL);
			return;
		}
		product = (product << 4) | (uint32_t)h;
	}
	/* Stored big-endian (letters, then product ID) in a little-endian DWord. */
	uint32_t v = (letters >> 8) | ((letters & 0xff) << 8) | ((product >> 8) << 16) |
		     ((product & 0xff) << 24);
	aml_int(a, v); /* shortest encoding, as iasl does (PNP0000 fits a Word) */
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME);
	aml_namestring(a, path);
}

void aml_name_int(struct aml *a, const char *path, uint64_t v)
{
	aml_name(a, path);
	aml_int(a, v);
}

void aml_name_string(struct aml *a, const char *path, const char *s)
{
	aml_name(a, path);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
	aml_name(a, path);
	aml_eisaid(a, id);
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN);
}

/* ---- objects with a PkgLength ---- */

unsigned aml_pkglen_encode(size_t len, uint8_t out[4])
{
	/* The encoded value counts the PkgLength bytes themselves. */
	if (len + 1 <= 0x3f) {
		out[0] = (uint8_t)(len + 1);
		return 1;
	}
	static const uint64_t max[] = {0, 0, 0xfff, 0xfffff, 0xfffffff};
	for (unsigned n = 2; n <= 4; n++) {
		uint64_t v = (uint64_t)len + n;
		if (v > max[n])
			continue;
		out[0] = (uint8_t)(((n - 1) << 6) | (v & 0x0f));
		for (unsigned i = 1; i < n; i++)
			out[i] = (uint8_t)(v >> (4 + 8 * (i - 1)));
		return n;
	}
	return 0;
}

static void aml_open(struct aml *a, uint8_t kind)
{
	if (a->err)
		return;
	if (a->depth >= AML_MAX_DEPTH) {
		aml_fail(a, -E2BIG);
		return;
	}
	a->open_at[a->depth] = a->len;
	a->open_kind[a->depth] = kind;
	a->depth++;
}

/* Insert n bytes at offset `at`, moving what follows. */
static void aml_insert(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
	if (!aml_reserve(a, n))
		return;
	memmove(a->buf + at + n, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, n);
	a->len += n;
}

void aml_end(struct aml *a)
{
	if (a->err)
		return;
	if (a->depth == 0) {
		aml_fail(a, -EINVAL);
		return;
	}
	a->depth--;
	size_t at = a->open_at[a->depth];
	if (a->open_kind[a->depth] == OPEN_BUFFER) {
		/* BufferSize first (an integer term), then the PkgLength over both. */
		struct aml sz;
		aml_init(&sz);
		aml_int(&sz, a->len - at);
		if (sz.err) {
			aml_fail(a, sz.err);
			aml_fini(&sz);
			return;
		}
		aml_insert(a, at, sz.buf, sz.len);
		aml_fini(&sz);
	}
	uint8_t enc[4];
	unsigned n = aml_pkglen_encode(a->len - at, enc);
	if (n == 0) {
		aml_fail(a, -E2BIG);
		return;
	}
	aml_insert(a, at, enc, n);
}

void aml_scope_begin(struct aml *a, const char *path)
{
	aml_byte(a, AML_SCOPE);
	aml_open(a, OPEN_PKGLEN);
	aml_namestring(a, path);
}

void aml_device_begin(struct aml *a, const char *path)
{
	aml_byte(a, AML_EXT_PREFIX);
	aml_byte(a, AML_EXT_DEVICE);
	aml_open(a, OPEN_PKGLEN);
	aml_namestring(a, path);
}

void aml_method_begin(struct aml *a, const char *path, unsigned nargs, bool serialized)
{
	if (nargs > 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_METHOD);
	aml_open(a, OPEN_PKGLEN);
	aml_namestring(a, path);
	aml_byte(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void aml_package_begin(struct aml *a, unsigned nelem)
{
	if (nelem > 0xff) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_PACKAGE);
	aml_open(a, OPEN_PKGLEN);
	aml_byte(a, (uint8_t)nelem);
}

void aml_buffer_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER);
	aml_open(a, OPEN_BUFFER);
}

/* ---- resource descriptors ---- */

enum {
	RES_IRQ = 0x22, /* small item 0x04, 2 bytes */
	RES_IO = 0x47,	/* small item 0x08, 7 bytes */
	RES_END = 0x79, /* small item 0x0f, 1 byte */
	RES_MEM32_FIXED = 0x86,
	RES_DWORD_ADDR = 0x87,
	RES_WORD_ADDR = 0x88,
	RES_QWORD_ADDR = 0x8a,
};
enum { ADDR_MEM = 0, ADDR_IO = 1, ADDR_BUS = 2 };
#define ADDR_GFLAGS_PRODUCER_FIXED 0x0c /* _MAF | _MIF, positive decode, producer */
#define ADDR_IO_ENTIRE_RANGE 0x03
#define ADDR_MEM_RW_NONCACHEABLE 0x01

void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	aml_byte(a, RES_IO);
	aml_byte(a, 0x01); /* 16-bit decode */
	aml_le(a, base, 2);
	aml_le(a, base, 2);
	aml_byte(a, 1);
	aml_byte(a, len);
}

void aml_res_irq(struct aml *a, uint8_t irq)
{
	if (irq > 15) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, RES_IRQ);
	aml_le(a, 1u << irq, 2);
}

void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len, bool rw)
{
	aml_byte(a, RES_MEM32_FIXED);
	aml_le(a, 9, 2);
	aml_byte(a, rw ? 1 : 0);
	aml_le(a, base, 4);
	aml_le(a, len, 4);
}

/* Address space descriptors: type, general flags, type flags, then granularity, min, max,
 * translation offset, length, each `w` bytes wide. */
static void aml_res_addr(struct aml *a, uint8_t tag, unsigned w, uint8_t type, uint8_t tflags,
			 uint64_t min, uint64_t max)
{
	uint64_t lim = w == 8 ? UINT64_MAX : (1ULL << (8 * w)) - 1;
	/* the length (max - min + 1) must fit the field too */
	if (max < min || max > lim || max - min == lim) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, tag);
	aml_le(a, 3 + 5 * w, 2);
	aml_byte(a, type);
	aml_byte(a, ADDR_GFLAGS_PRODUCER_FIXED);
	aml_byte(a, tflags);
	aml_le(a, 0, w);
	aml_le(a, min, w);
	aml_le(a, max, w);
	aml_le(a, 0, w);
	aml_le(a, max - min + 1, w);
}

void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, RES_WORD_ADDR, 2, ADDR_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, RES_WORD_ADDR, 2, ADDR_IO, ADDR_IO_ENTIRE_RANGE, min, max);
}

void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max)
{
	aml_res_addr(a, RES_DWORD_ADDR, 4, ADDR_MEM, ADDR_MEM_RW_NONCACHEABLE, min, max);
}

void aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max)
{
	aml_res_addr(a, RES_QWORD_ADDR, 8, ADDR_MEM, ADDR_MEM_RW_NONCACHEABLE, min, max);
}

void aml_res_end(struct aml *a)
{
	aml_byte(a, RES_END);
	aml_byte(a, 0); /* checksum 0: "the sum is treated as zero" */
}
