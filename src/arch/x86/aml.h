/* SPDX-License-Identifier: MIT */
/*
 * A small ACPI Machine Language encoder (ACPI 6.5 chapter 20, "AML Specification"): enough to
 * write vireo's DSDT in C at start, with no iasl at run time. It appends to a growable byte
 * buffer; objects with a PkgLength (Scope, Device, Method, Package, Buffer) are opened with
 * *_begin(), filled, and closed with aml_end(), which inserts the encoded length.
 *
 * Errors are sticky: the first failure (out of memory, a bad name, an unbalanced end) is kept
 * in a->err, later calls do nothing, and the caller checks aml_error() once at the end.
 *
 * Names are ASL-style paths: "PCI0", "_SB.PCI0", "\\_SB.PCI0.COM1", "^FOO"; a segment shorter
 * than four characters is padded with '_' ("_SB" -> "_SB_").
 */
#ifndef VIREO_ARCH_X86_AML_H
#define VIREO_ARCH_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/util.h"

#define AML_MAX_DEPTH 16

struct aml {
	uint8_t *buf;
	size_t len, cap;
	int err; /* 0 or the first -errno */
	/* open objects: where their contents start, and what they are */
	size_t open_at[AML_MAX_DEPTH];
	uint8_t open_kind[AML_MAX_DEPTH];
	unsigned depth;
};

void aml_init(struct aml *a);
void aml_fini(struct aml *a);
/* 0, or the first error; -EINVAL also when objects are still open. */
int aml_error(const struct aml *a) WUR;

/* Raw bytes (table headers, resource descriptors). */
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);

/* A NameString (path). */
void aml_namestring(struct aml *a, const char *path);
/* Integer constant in the shortest encoding (Zero, One, Ones, Byte/Word/DWord/QWord prefix). */
void aml_int(struct aml *a, uint64_t v);
/* String constant (printable ASCII). */
void aml_string(struct aml *a, const char *s);
/* EISA ID ("PNP0A03") as its compressed DWord integer. */
void aml_eisaid(struct aml *a, const char *id);
/* Name (path, ...) : the caller appends the value object next. */
void aml_name(struct aml *a, const char *path);
/* Name (path, integer) and Name (path, string) in one call. */
void aml_name_int(struct aml *a, const char *path, uint64_t v);
void aml_name_string(struct aml *a, const char *path, const char *s);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);
/* Return: the caller appends the returned object next. */
void aml_return(struct aml *a);

/* Objects with a PkgLength; close each with aml_end(). */
void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *path);
void aml_method_begin(struct aml *a, const char *path, unsigned nargs, bool serialized);
void aml_package_begin(struct aml *a, unsigned nelem);
/* Buffer (size){bytes}: the size is the number of bytes appended before aml_end(). */
void aml_buffer_begin(struct aml *a);
void aml_end(struct aml *a);

/* Resource descriptors (ACPI 6.5 6.4), appended inside a Buffer used as a ResourceTemplate. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len); /* IO (Decode16, base, base, 1, len) */
void aml_res_irq(struct aml *a, uint8_t irq);		    /* IRQNoFlags () {irq} (edge, high) */
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len, bool rw);
void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max); /* WordBusNumber, producer */
void aml_res_word_io(struct aml *a, uint16_t min,
		     uint16_t max); /* WordIO, producer, entire range */
void aml_res_dword_mem(struct aml *a, uint32_t min,
		       uint32_t max); /* DWordMemory, producer, RW, non-cacheable */
void aml_res_qword_mem(struct aml *a, uint64_t min,
		       uint64_t max); /* QWordMemory, producer, RW, non-cacheable */
void aml_res_end(struct aml *a);      /* EndTag */

/* The PkgLength encoding of a package whose contents (after the PkgLength) are `len` bytes:
 * writes 1-4 bytes to out and returns how many, or 0 when too long (>= 2^28). For tests. */
unsigned aml_pkglen_encode(size_t len, uint8_t out[4]);

#endif
