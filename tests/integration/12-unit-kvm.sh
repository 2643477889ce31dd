#!/usr/bin/env bash
# kvm: any
# The unit tests that need a real /dev/kvm (vCPU register state for each boot kind, payloads
# run in-process, virtio-pci over real KVM ioeventfds/irqfds) skip on a host without one; here
# they run where the suite has a KVM (the host's, or the nested L1) and must pass, not skip.
set -u
fail=0
for pattern in boot_vcpu_ vpci_real_kvm; do
	"$BUILD_DIR/tests/unit-tests" "$pattern" >"$WORK/$pattern.log" 2>&1
	sum=$(grep -E '^unit: ' "$WORK/$pattern.log" | tail -1)
	if [[ $sum =~ ^unit:\ ([1-9][0-9]*)\ passed,\ 0\ failed,\ 0\ skipped ]]; then
		echo "ok - unit tests $pattern*: $sum"
	else
		echo "not ok - unit tests $pattern*: ${sum:-no summary}"
		grep -E '^(FAIL|skip)|skip:' "$WORK/$pattern.log" | head
		fail=1
	fi
done
exit $fail
