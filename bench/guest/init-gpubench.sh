#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of bench/run-gpu.sh: full-screen frames for SECONDS (vt.secs=), then power off.
. /init-common.sh
i=0
while [ ! -e /dev/dri/card0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 1
/gpufill "$(vt_param secs || echo 10)" >/dev/console 2>&1
sleep 5 # the host samples the VMM's CPU time when it sees the result line
vt_end
