#!/usr/bin/env bash
# Startup benchmark: vireo vs qemu-system-x86_64 -M microvm, the same PVH payload guest
# (tests/kvm/pvh_hello.S: prints one line, then resets / isa-debug-exit), same run.
#   bench/run-startup.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
B=build
P=$B/tests/kvm/pvh_hello.elf
VIREO=("$B/vireo" run --kernel "$P" --memory 64M --serial stdio)
QEMU=(qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=off -accel kvm -m 64 -nodefaults
      -no-user-config -nographic -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4
      -kernel "$P")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "kernel $(uname -r), kvm_pvm: $([ -e /sys/module/kvm_pvm ] && echo yes || echo no)"
echo "qemu: $(qemu-system-x86_64 --version | head -1)"
$B/bench/startup "$RUNS" vireo -- "${VIREO[@]}"
$B/bench/startup "$RUNS" qemu -- "${QEMU[@]}" || true
if command -v hyperfine >/dev/null; then
	hyperfine -N --warmup 3 --runs "$RUNS" -i \
		"${VIREO[*]}" "${QEMU[*]}" 2>&1 | grep -vE '^\s*$'
fi
