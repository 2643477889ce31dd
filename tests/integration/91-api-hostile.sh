#!/usr/bin/env bash
# kvm: any
# SPDX-License-Identifier: MIT
# Hostile API clients (tests/api/hostile.py) against a vireo running tests/kvm/spin.elf: bad
# JSON of every kind, wrong types, oversized and chunked-over-the-limit bodies, malformed HTTP,
# a client sending a byte a second, 400 idle connections plus 300 concurrent requests, clients
# vanishing mid-request, and requests racing vm.reboot / vm.shutdown / vm.boot. Every answer
# must match the spec, nothing may hang, and afterwards the VMM answers, the guest still
# echoes on its console and vmm.shutdown ends vireo with 0.
set -u
PY=/usr/bin/python3
$PY -c 'import yaml, jsonschema' 2>/dev/null ||
	{ echo "skip: python3-yaml and python3-jsonschema (Debian) are needed"; exit 77; }
[ -w /dev/kvm ] || { echo "skip: /dev/kvm is not usable here"; exit 77; }
RUN=$(mktemp -d /tmp/vireo-api.XXXXXX) # sockets: never on 9p
trap 'rm -rf "$RUN"' EXIT
API_RUN_DIR=$RUN SRC_DIR=$SRC_DIR timeout 900 $PY "$SRC_DIR/tests/api/hostile.py"
