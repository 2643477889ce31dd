#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of tests/integration/72-virtio-console.sh: a shell on the virtio console
# (/dev/hvc0) reads the commands the host types; when it exits the guest resets.
. /init-common.sh
vt "hvc=$(cat /sys/class/tty/hvc0/dev 2>/dev/null)"
setsid sh -c 'exec sh </dev/hvc0 >/dev/hvc0 2>&1'
vt "shell_exit=$?"
vt_end
