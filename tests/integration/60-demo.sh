#!/usr/bin/env bash
# kvm: none
# SPDX-License-Identifier: MIT
# `./dev.sh demo` as a user runs it, on a pseudo-terminal: the guest's busybox shell comes up
# on the terminal, typed keys reach it, and Ctrl-C (one run) or `poweroff -f` (another) ends it
# with exit status 0 and the terminal settings restored. On a host without a hardware KVM the
# demo runs vireo inside the nested-KVM L1 (it says so); with one, directly.
set -u
[ -n "${GUEST_DIR:-}" ] || { echo "skip: no guest kernel (GUEST_DIR is empty)"; exit 77; }
fail=0
for how in ctrl-c poweroff; do
	python3 "$SRC_DIR/tests/integration/lib/demo_drive.py" "$how" "$WORK/demo-$how.log" -- \
		"$SRC_DIR/dev.sh" demo || fail=1
done
tr -d '\r' <"$WORK/demo-ctrl-c.log" | grep -aE 'dev.sh: |vireo demo' | head -5 | sed 's/^/# /'
exit $fail
