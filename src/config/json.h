/* SPDX-License-Identifier: MIT */
/*
 * JSON <-> struct vm_config, in Cloud Hypervisor's VmConfig shape (payload, cpus, memory,
 * disks, serial, ...; see src/api/openapi.yaml). One conversion serves `vireo run --config`
 * and the API's vm.create / vm.info. Table-driven (json.c): a device that adds fields to
 * struct vm_config adds rows to the tables there.
 *
 * Parsing is strict: unknown fields, wrong types, out-of-range values and duplicate keys are
 * errors with a one-line reason naming the field ("disks[1].queue_size: ..."). Fields that are
 * absent keep the values cfg already holds (cfg_init defaults). cfg_validate() is the caller's.
 */
#ifndef VIREO_CONFIG_JSON_H
#define VIREO_CONFIG_JSON_H

#include <stddef.h>
#include <jansson.h>
#include "base/util.h"
#include "config/config.h"

/* Largest --config file / JSON document accepted. */
#define CFG_JSON_MAX (1024 * 1024)

/* Fill cfg (initialised by the caller) from a VmConfig object. On error cfg may hold part of
 * the document; the caller cfg_fini()s it. */
int cfg_from_json(struct vm_config *cfg, const json_t *root, char *err, size_t errlen) WUR;
/* Same, from text (at most CFG_JSON_MAX bytes, one JSON object). */
int cfg_from_json_text(struct vm_config *cfg, const char *buf, size_t len, char *err,
		       size_t errlen) WUR;
/* "bad JSON at line L column C: ..." for a jansson parse error, on one line. */
void cfg_json_syntax_error(char *err, size_t errlen, const json_error_t *je);
/* Read a --config file and fill cfg. */
int cfg_load_file(struct vm_config *cfg, const char *path, char *err, size_t errlen) WUR;
/* The VmConfig object for cfg (new reference), or NULL when out of memory. */
json_t *cfg_to_json(const struct vm_config *cfg);

#endif
