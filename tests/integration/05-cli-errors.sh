#!/usr/bin/env bash
# kvm: none
# Host-user mistakes: each gets exactly one line on stderr naming the problem and exit status 2,
# before any VM exists. --help and --version work.
set -u
fail=0
P=$BUILD_DIR/tests/kvm
K=$P/hello.elf
printf 'this is not a kernel\n' >"$WORK/text.bin"
head -c 100000 "${GUEST_DIR:-/nonexistent}/bzImage" >"$WORK/trunc-bzImage" 2>/dev/null || true
expect2() { # description, expected substring, args...
	local d=$1 want=$2; shift 2
	"$VIREO" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	local rc=$? lines; lines=$(wc -l <"$WORK/err")
	if [ $rc = 2 ] && [ "$lines" = 1 ] && grep -qF -- "$want" "$WORK/err"; then
		echo "ok - $d"
	else
		echo "not ok - $d: rc=$rc lines=$lines: $(head -3 "$WORK/err")"; fail=1
	fi
}
expect2 "missing kernel" "--kernel /nonexistent: No such file" run --kernel /nonexistent
expect2 "unreadable initrd" "--initrd /nonexistent.img: No such file" run --kernel "$K" --initrd /nonexistent.img
expect2 "a file that is no kernel" "text.bin" run --kernel "$WORK/text.bin"
if [ -n "${GUEST_DIR:-}" ]; then
	expect2 "truncated bzImage" "trunc-bzImage" run --kernel "$WORK/trunc-bzImage"
fi
expect2 "--memory 0" "--memory 0" run --kernel "$K" --memory 0
expect2 "--memory abc" "--memory abc" run --kernel "$K" --memory abc
expect2 "--memory above host RAM" "more than this host" run --kernel "$K" --memory 100T
expect2 "--cpus 0" "--cpus 0" run --kernel "$K" --cpus 0
expect2 "--cpus 999" "--cpus 999" run --kernel "$K" --cpus 999
expect2 "unknown option" "unknown option --bogus" run --kernel "$K" --bogus
expect2 "unknown command" "unknown command 'fly'" fly
truncate -s 8M "$WORK/big-initrd"
expect2 "initrd that does not fit" "big-initrd" run --kernel "$K" --memory 4M --initrd "$WORK/big-initrd"
"$VIREO" --version | grep -qE '^vireo [0-9]+\.[0-9]+' && echo "ok - --version" || { echo "not ok - --version"; fail=1; }
"$VIREO" run --help | grep -q -- '--kernel PATH' && echo "ok - run --help" || { echo "not ok - run --help"; fail=1; }
exit $fail
