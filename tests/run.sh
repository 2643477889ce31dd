#!/usr/bin/env bash
# The whole vireo test suite: unit tests (plain and ASan+UBSan), payload-guest and integration
# tests, and a libFuzzer smoke run of every target. Ends with "total: N passed, N failed".
#
#   tests/run.sh [--quick]     --quick skips the sanitizer build and fuzzing
#   VIREO_TEST_FILTER=REGEX    run only integration scripts whose name matches
#   VIREO_TEST_KVM=auto|host|nested
#                              where scripts that need KVM run (tests/lib/runner.sh): auto uses
#                              a hardware /dev/kvm when there is one, else one nested-KVM L1
#                              under QEMU TCG (tests/nested/l1.sh) for all of them
set -uo pipefail
cd "$(dirname "$0")/.."
SRC_DIR=$(pwd)
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
PASSED=0 FAILED=0 SKIPPED=0
FAILED_NAMES=()
RETRIED_NAMES=() # nested scripts that passed only on their second attempt (tests/nested/batch.sh)
NPROC=$(nproc)

note() { printf '== %s\n' "$*"; }
count_unit() { # parse "unit: N passed, N failed, N skipped" from a log
	local line; line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
	if [ -z "$line" ]; then FAILED=$((FAILED + 1)); FAILED_NAMES+=("$2 (no summary)"); return; fi
	local p f s
	p=$(sed -E 's/^unit: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	s=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$line")
	PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + ${s:-0}))
	[ "$f" -gt 0 ] && FAILED_NAMES+=("$2: $(grep -E '^FAIL' "$1" | tr '\n' ' ')")
}

LOGDIR=$(mktemp -d /tmp/vireo-test.XXXXXX)
export TMPDIR=$LOGDIR

note "build (debugoptimized, -Werror)"
if [ ! -f build/build.ninja ]; then meson setup build >/dev/null || exit 1; fi
ninja -C build -j"$NPROC" >"$LOGDIR/build.log" 2>&1 || { tail -40 "$LOGDIR/build.log"; echo "total: 0 passed, 1 failed"; exit 1; }

note "unit tests"
./build/tests/unit-tests >"$LOGDIR/unit.log" 2>&1
grep -E '^(FAIL|skip)|FAIL ' "$LOGDIR/unit.log" | head -40
tail -1 "$LOGDIR/unit.log"
count_unit "$LOGDIR/unit.log" unit

if [ $QUICK = 0 ]; then
	note "unit tests under ASan+UBSan"
	if [ ! -f build-asan/build.ninja ]; then
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
			-Dbuildtype=debug >/dev/null
	fi
	if ninja -C build-asan -j"$NPROC" tests/unit-tests >"$LOGDIR/build-asan.log" 2>&1; then
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			./build-asan/tests/unit-tests >"$LOGDIR/unit-asan.log" 2>&1
		grep -E '^FAIL|ERROR: |runtime error' "$LOGDIR/unit-asan.log" | head -20
		tail -1 "$LOGDIR/unit-asan.log"
		count_unit "$LOGDIR/unit-asan.log" unit-asan
	else
		tail -30 "$LOGDIR/build-asan.log"; FAILED=$((FAILED + 1)); FAILED_NAMES+=("asan build")
	fi
fi

note "integration tests"
GUEST_DIR=""
[ -d "$SRC_DIR/../shared/guest" ] && GUEST_DIR=$(cd "$SRC_DIR/../shared/guest" && pwd)
export GUEST_DIR
. tests/lib/runner.sh
KVM_MODE=${VIREO_TEST_KVM:-auto}
case "$KVM_MODE" in auto | host | nested) ;; *)
	echo "tests/run.sh: VIREO_TEST_KVM must be auto, host or nested, not '$KVM_MODE'" >&2; exit 2 ;;
esac
KVM_KIND=$(host_kvm_kind)
report() { # NAME WORK
	local name=$1 work=$2 rc secs
	rc=$(cat "$work/rc" 2>/dev/null || echo 1)
	secs=$(cat "$work/secs" 2>/dev/null || echo '?')
	if [ "$rc" = 0 ] && [ -f "$work/first-attempt/rc" ]; then
		PASSED=$((PASSED + 1)); RETRIED_NAMES+=("$name")
		echo "ok   $name (${secs}s) on the second attempt; the first failed (status $(cat "$work/first-attempt/rc")):"
		grep -E '^not ok|timed out' "$work/first-attempt/output.log" 2>/dev/null | head -5 | sed 's/^/    | /'
	elif [ "$rc" = 0 ]; then
		PASSED=$((PASSED + 1)); echo "ok   $name (${secs}s)"
	elif [ "$rc" = 77 ]; then
		SKIPPED=$((SKIPPED + 1)); echo "skip $name: $(tail -1 "$work/output.log")"
	else
		FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name"); echo "FAIL $name (rc=$rc, ${secs}s)"
		sed 's/^/    | /' "$work/output.log" 2>/dev/null | tail -30
		for f in "$work"/*.log; do
			[ "$f" = "$work/output.log" ] && continue
			[ -f "$f" ] || continue
			echo "    --- tail of $f"; tail -15 "$f" | sed 's/^/    | /'
		done
	fi
}
NESTED=()
for t in tests/integration/*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ -n "${VIREO_TEST_FILTER:-}" ] && ! [[ $name =~ $VIREO_TEST_FILTER ]]; then continue; fi
	if [ "$(test_place "$(test_kvm_need "$t")" "$KVM_MODE" "$KVM_KIND")" = nested ]; then
		NESTED+=("$t")
		continue
	fi
	run_one_test "$t" "$LOGDIR/$name"
	report "$name" "$LOGDIR/$name"
done
if [ ${#NESTED[@]} -gt 0 ]; then
	# One L1 for all of them: a real (nested) KVM under QEMU TCG, see tests/nested/l1.sh.
	note "integration tests that need a whole guest: ${#NESTED[@]} in one nested-KVM L1" \
		"(host /dev/kvm: $KVM_KIND, VIREO_TEST_KVM=$KVM_MODE)"
	if why=$(tests/nested/l1.sh available) && l1dir=$(tests/nested/l1.sh prepare 2>"$LOGDIR/l1-prepare.log"); then
		echo "   L1 kernel: $(basename "$l1dir")"
		start=$(date +%s)
		# Should the L1 freeze (tests/nested/l1.sh --heartbeat) or crash (a kernel panic: exit
		# status 1 before the batch ended), the scripts it had not finished go on in a fresh L1;
		# the one it stopped in runs once more, then counts as failed. (Not after the L1's
		# overall timeout, 124: the run is out of time then.)
		todo=("${NESTED[@]}") froze_in=() boots=0
		while [ ${#todo[@]} -gt 0 ] && [ $boots -lt 4 ]; do
			boots=$((boots + 1))
			tests/nested/l1.sh run --rw "$LOGDIR" --log "$LOGDIR/l1-console.$boots.log" \
				--heartbeat "$LOGDIR/nested-heartbeat" "${VIREO_L1_STALL:-300}" \
				--timeout "${VIREO_L1_TIMEOUT:-4800}" -- tests/nested/batch.sh "$LOGDIR" "${todo[@]}"
			l1rc=$?
			ln -sf "l1-console.$boots.log" "$LOGDIR/l1-console.log"
			echo "   L1 #$boots ran $(( $(date +%s) - start )) s, exit status $l1rc"
			left=()
			for t in "${todo[@]}"; do
				[ -f "$LOGDIR/$(basename "$t" .sh)/rc" ] || left+=("$t")
			done
			[ $l1rc != 124 ] && [ $l1rc != 0 ] && [ ${#left[@]} -gt 0 ] || break
			cur=$(basename "${left[0]}" .sh)
			how="froze"
			[ $l1rc = 125 ] || how="crashed (exit status $l1rc)"
			echo "   the L1 $how during $cur (QEMU TCG; console and vCPU state in $LOGDIR/l1-console.$boots.log)"
			if [[ " ${froze_in[*]} " == *" $cur "* ]]; then
				mkdir -p "$LOGDIR/$cur"
				echo "the nested L1 froze or crashed twice while running it (see $LOGDIR/l1-console.*.log)" \
					>"$LOGDIR/$cur/output.log"
				echo 1 >"$LOGDIR/$cur/rc"
				left=("${left[@]:1}")
			fi
			froze_in+=("$cur")
			todo=("${left[@]}")
		done
		for t in "${NESTED[@]}"; do
			name=$(basename "$t" .sh)
			if [ ! -f "$LOGDIR/$name/rc" ]; then
				mkdir -p "$LOGDIR/$name"
				echo "the nested L1 did not run it (L1 exit status $l1rc, console in $LOGDIR/l1-console.log)" \
					>"$LOGDIR/$name/output.log"
				tail -20 "$LOGDIR/l1-console.log" >>"$LOGDIR/$name/output.log" 2>/dev/null
				echo 1 >"$LOGDIR/$name/rc"
			elif [[ " ${froze_in[*]} " == *" $name "* ]]; then
				echo "note: the L1 froze or crashed during $name once; it ran again in a fresh L1" \
					>>"$LOGDIR/$name/output.log"
			fi
			report "$name" "$LOGDIR/$name"
		done
	else
		why=${why:-$(tail -1 "$LOGDIR/l1-prepare.log")}
		for t in "${NESTED[@]}"; do
			SKIPPED=$((SKIPPED + 1))
			echo "skip $(basename "$t" .sh): no KVM here (host: $KVM_KIND) and no nested path: $why"
		done
	fi
fi

if [ $QUICK = 0 ]; then
	note "fuzz smoke (libFuzzer, a few seconds per target)"
	if [ ! -f build-fuzz/build.ninja ]; then
		CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false \
			-Db_sanitize=address,undefined >/dev/null
	fi
	if ninja -C build-fuzz -j"$NPROC" >"$LOGDIR/build-fuzz.log" 2>&1; then
		for f in build-fuzz/tests/fuzz/fuzz-*; do
			[ -f "$f" ] && [ -x "$f" ] || continue
			name=$(basename "$f")
			corpus="$LOGDIR/corpus-$name"; mkdir -p "$corpus"
			# new inputs go to the scratch corpus; the committed seeds are read, not written
			seeds=tests/fuzz/seeds/${name#fuzz-}
			nseeds=0 dirs=("$corpus")
			[ -d "$seeds" ] && nseeds=$(find "$seeds" -type f | wc -l)
			[ "$nseeds" -gt 0 ] && dirs+=("$seeds")
			if "$f" -max_total_time="${VIREO_FUZZ_SECONDS:-5}" -rss_limit_mb=2048 "${dirs[@]}" \
				>"$LOGDIR/$name.log" 2>&1 &&
				{ [ "$nseeds" = 0 ] || grep -qE "INFO: seed corpus: files: [1-9]" "$LOGDIR/$name.log"; }; then
				PASSED=$((PASSED + 1))
				echo "ok   $name ($(grep -oE '#[0-9]+' "$LOGDIR/$name.log" | tail -1) runs, $nseeds seeds)"
			else
				FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name"); echo "FAIL $name"
				tail -30 "$LOGDIR/$name.log" | sed 's/^/    | /'
			fi
		done
	else
		tail -30 "$LOGDIR/build-fuzz.log"; FAILED=$((FAILED + 1)); FAILED_NAMES+=("fuzz build")
	fi
fi

echo
[ ${#FAILED_NAMES[@]} -gt 0 ] && printf 'failed: %s\n' "${FAILED_NAMES[@]}"
[ ${#RETRIED_NAMES[@]} -gt 0 ] && printf 'passed only on a second attempt (nested, see its first-attempt/ logs): %s\n' "${RETRIED_NAMES[@]}"
echo "logs: $LOGDIR"
echo "total: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ $FAILED = 0 ]
