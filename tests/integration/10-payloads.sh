#!/usr/bin/env bash
# kvm: any
# Tiny payload guests run by the real VMM: serial output, a PIO round trip, several vCPUs
# started with INIT/SIPI, exit status on reset (i8042 and 0xcf9) and on a guest crash.
set -u
P=$BUILD_DIR/tests/kvm
fail=0
check() { if eval "$2"; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi; }

run() { # name, extra args...
	local name=$1; shift
	timeout 60 "$VIREO" run --kernel "$P/$name.elf" --serial "file=$WORK/$name.serial.log" "$@" \
		>"$WORK/$name.stdout.log" 2>"$WORK/$name.stderr.log"
	echo $? >"$WORK/$name.rc"
}

run hello --memory 64M
check "hello: exit status 0 after i8042 reset" '[ "$(cat $WORK/hello.rc)" = 0 ]'
check "hello: guest line on the serial port" 'grep -q "payload: hello from a 64-bit guest" $WORK/hello.serial.log'
check "hello: PIO round trip through the UART scratch register" 'grep -q "pio scratch round trip ok" $WORK/hello.serial.log'

run smp --cpus 4 --memory 64M
check "smp: exit status 0" '[ "$(cat $WORK/smp.rc)" = 0 ]'
check "smp: CMOS reports 4 CPUs" 'grep -q "smp: cmos cpus-1 = 0000000000000003" $WORK/smp.serial.log'
check "smp: 3 APs started by INIT/SIPI" 'grep -q "smp: aps started = 0000000000000003" $WORK/smp.serial.log'

run cf9 --memory 64M
check "cf9: exit status 0 after reset through port 0xcf9" '[ "$(cat $WORK/cf9.rc)" = 0 ]'
check "cf9: guest ran" 'grep -q "reset via 0xcf9" $WORK/cf9.serial.log'

# The PVH entry: 32-bit protected mode, EBX = hvm_start_info with the command line and the
# memory map (the payload prints what it finds there).
TOKEN="pvh$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
run pvh_hello --memory 64M --cmdline "$TOKEN"
check "pvh: exit status 0 after i8042 reset" '[ "$(cat $WORK/pvh_hello.rc)" = 0 ]'
check "pvh: start_info magic seen by the 32-bit entry" 'grep -q "pvh: hello, start_info magic ok" $WORK/pvh_hello.serial.log'
check "pvh: command line from start_info" 'grep -qx "pvh: cmdline=$TOKEN" $WORK/pvh_hello.serial.log'
check "pvh: memory map in start_info" 'grep -qE "^pvh: memmap entries=[3-9]$" $WORK/pvh_hello.serial.log'

run crash --memory 64M
check "crash: exit status 1" '[ "$(cat $WORK/crash.rc)" = 1 ]'
# On AMD-V, KVM reinitialises the VMCB after a SHUTDOWN intercept, so the dump shows the reset
# state there; on VT-x (and kvm_pvm) it shows the guest's registers at the fault.
if grep -qw svm /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]; then
	check "crash: register dump (AMD: the reset state)" 'grep -q "vcpu0: rip=.* rbx=" $WORK/crash.stderr.log'
else
	check "crash: register dump with the guest's rbx" 'grep -q "rbx=1234567890abcdef" $WORK/crash.stderr.log'
fi
check "crash: one-line reason last" 'tail -1 $WORK/crash.stderr.log | grep -qE "vcpu0: (KVM_EXIT_INTERNAL_ERROR|triple fault)"'
check "crash: guest output before the crash" 'grep -q "!" $WORK/crash.serial.log'
exit $fail
