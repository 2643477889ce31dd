#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest of bench/run-vsock.sh: vsockperf servers, then (after "go" on the console) the
# guest-initiated connection rate against the host's port 7003.
. /init-common.sh
/vsockperf serve
vt "serving"
read -r _go
/vsockperf rate 2 7003 "$(vt_param conns || echo 100)"
vt_end
