#!/usr/bin/env bash
# The whole vireo test suite: unit tests (plain and ASan+UBSan), payload-guest and integration
# tests, and a libFuzzer smoke run of every target. Ends with "total: N passed, N failed".
#
#   tests/run.sh [--quick]     --quick skips the sanitizer build and fuzzing
#   VIREO_TEST_FILTER=REGEX    run only integration scripts whose name matches
set -uo pipefail
cd "$(dirname "$0")/.."
SRC_DIR=$(pwd)
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
PASSED=0 FAILED=0 SKIPPED=0
FAILED_NAMES=()
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
for t in tests/integration/*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ -n "${VIREO_TEST_FILTER:-}" ] && ! [[ $name =~ $VIREO_TEST_FILTER ]]; then continue; fi
	work="$LOGDIR/$name"
	mkdir -p "$work"
	start=$(date +%s)
	VIREO="$SRC_DIR/build/vireo" BUILD_DIR="$SRC_DIR/build" SRC_DIR="$SRC_DIR" \
		GUEST_DIR="$GUEST_DIR" WORK="$work" timeout 900 bash "$t" >"$work/output.log" 2>&1 </dev/null
	rc=$?
	secs=$(( $(date +%s) - start ))
	if [ $rc = 0 ]; then
		PASSED=$((PASSED + 1)); echo "ok   $name (${secs}s)"
	elif [ $rc = 77 ]; then
		SKIPPED=$((SKIPPED + 1)); echo "skip $name: $(tail -1 "$work/output.log")"
	else
		FAILED=$((FAILED + 1)); FAILED_NAMES+=("$name"); echo "FAIL $name (rc=$rc, ${secs}s)"
		sed 's/^/    | /' "$work/output.log" | tail -30
		for f in "$work"/*.log; do
			[ "$f" = "$work/output.log" ] && continue
			[ -f "$f" ] || continue
			echo "    --- tail of $f"; tail -15 "$f" | sed 's/^/    | /'
		done
	fi
done

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
			if "$f" -max_total_time="${VIREO_FUZZ_SECONDS:-5}" -rss_limit_mb=2048 \
				"$corpus" >"$LOGDIR/$name.log" 2>&1; then
				PASSED=$((PASSED + 1)); echo "ok   $name ($(grep -oE '#[0-9]+' "$LOGDIR/$name.log" | tail -1) runs)"
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
echo "logs: $LOGDIR"
echo "total: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ $FAILED = 0 ]
