#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Inside the nested-KVM L1: run integration scripts one after the other, each with its work
# directory on the L1's tmpfs (unix sockets cannot live on 9p), then copy its logs and exit
# status to LOGDIR/NAME on the writable share for tests/run.sh to report.
#
#   batch.sh LOGDIR SCRIPT...
set -uo pipefail
cd "$(dirname "$0")/../.."
SRC_DIR=$(pwd)
. tests/lib/runner.sh
[ -d "$SRC_DIR/../shared/guest" ] && export GUEST_DIR=$(cd "$SRC_DIR/../shared/guest" && pwd)
logdir=$1
shift
# what runs in the L1, every 30 s: the only view into it while the batch runs
# and the heartbeat that tells the host (tests/nested/l1.sh --heartbeat) the L1 still runs
( n=0; while sleep 5; do
	touch "$logdir/nested-heartbeat"
	n=$((n + 1)); [ $((n % 6)) = 0 ] || continue
	{ date +%T; ps -eo pid,etime,pcpu,args | cut -c1-160 | grep -vE ' (ps|cut|sleep) '; } \
		>"$logdir/nested-ps.log.tmp" && mv "$logdir/nested-ps.log.tmp" "$logdir/nested-ps.log"
done ) &
watch=$!
trap 'kill $watch 2>/dev/null' EXIT
for t in "$@"; do
	name=$(basename "$t" .sh)
	work=/tmp/l1work/$name
	echo "l1: $name" >>"$logdir/nested-progress.log"
	rm -rf "$logdir/$name"
	mkdir -p "$logdir/$name"
	run_one_test "$t" "$work"
	rc=$(cat "$work/rc")
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ "${VIREO_NESTED_RETRY:-1}" = 1 ]; then
		# Under QEMU TCG a guest's timing is far from any real machine's (a vCPU can stall
		# for seconds). A script that fails here runs once more; its report keeps the first
		# attempt (first-attempt/) and says so, and tests/run.sh counts it as retried.
		mkdir -p "$logdir/$name/first-attempt"
		find "$work" -maxdepth 1 -type f \( -name '*.log' -o -name rc -o -name secs \
			-o -name '*.txt' \) -size -8M -exec cp {} "$logdir/$name/first-attempt/" \;
		rm -rf "$work"
		echo "l1: $name (again: the first attempt failed with status $rc)" >>"$logdir/nested-progress.log"
		run_one_test "$t" "$work"
		echo "note: the first attempt failed with status $rc (its logs: first-attempt/); this is the second" \
			>>"$work/output.log"
	fi
	# logs and results only: disk images stay behind
	find "$work" -maxdepth 1 -type f \( -name '*.log' -o -name rc -o -name secs -o -name '*.txt' \
		-o -name '*.png' -o -name '*.jpg' \) \
		-size -8M -exec cp {} "$logdir/$name/" \;
	rm -rf "$work"
done
