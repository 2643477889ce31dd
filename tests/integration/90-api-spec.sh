#!/usr/bin/env bash
# kvm: any
# SPDX-License-Identifier: MIT
# The API contract: tests/api/conformance.py (Python's http.client, not vireo's client) sends
# every route of src/api/openapi.yaml in every VM state, and every documented error case (bad
# VmConfigs the schema refuses too, missing files, a disk locked by another process, a body
# over 64 KiB, wrong methods, bodies where none is taken), against a vireo running the
# tests/kvm/spin.elf payload. Each response must be a status the spec documents for the route,
# with a body valid for its schema (python3-jsonschema). It ends with a coverage check: every
# documented status was seen, except VMM failures no client can provoke.
set -u
PY=/usr/bin/python3
$PY -c 'import yaml, jsonschema' 2>/dev/null ||
	{ echo "skip: python3-yaml and python3-jsonschema (Debian) are needed"; exit 77; }
[ -w /dev/kvm ] || { echo "skip: /dev/kvm is not usable here"; exit 77; }
RUN=$(mktemp -d /tmp/vireo-api.XXXXXX) # sockets: never on 9p
trap 'rm -rf "$RUN"' EXIT
API_RUN_DIR=$RUN SRC_DIR=$SRC_DIR timeout 600 $PY "$SRC_DIR/tests/api/conformance.py"
