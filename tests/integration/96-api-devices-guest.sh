#!/usr/bin/env bash
# kvm: full
# SPDX-License-Identifier: MIT
# Every device from a VmConfig, with Linux's drivers: vm.create (curl --unix-socket) with
# net (a TAP in a network namespace; num_queues 4, a MAC, MTU 1400), rng, balloon (size 0),
# vsock and a virtio console on a file, then vm.boot. tests/guest/init-api-devices.sh reports.
# Asserted:
#   - vm.info gives the device objects back as they were sent;
#   - the guest's virtio bus holds net (1), console (3), rng (4), balloon (5), vsock (0x13);
#   - eth0 has the configured MAC and MTU and 2 queue pairs (num_queues 4), and pings the TAP;
#   - the guest's hw_random is virtio_rng and gives 64 bytes; the console file holds the line
#     the guest wrote to /dev/hvc0;
#   - vm.resize desired_balloon=64 MiB: vm.counters' balloon0 actual_bytes reaches 64 MiB (and
#     the driver's statistics, stats_total-memory, are there) and
#     the guest's MemTotal falls by 64 MiB; vm.counters also counts the rng's bytes, the
#     console's and the net device's traffic; vm.resize back to 0: the guest's MemTotal as
#     before;
#   - the guest powers off (reboot -f): vireo exits 0.
set -u
export PATH=$PATH:/usr/sbin:/sbin # ip (the nested L1 runs with PATH=/bin)
. "$(dirname "$0")/lib/guest.sh"
. "$(dirname "$0")/lib/net.sh"
guest_require
command -v curl >/dev/null || { echo "skip: curl is not installed"; exit 77; }
command -v ip >/dev/null || { echo "skip: iproute2 (ip) missing"; exit 77; }
[ -c /dev/net/tun ] || { echo "skip: no /dev/net/tun"; exit 77; }
RUN=$(mktemp -d /tmp/vireo-devs.XXXXXX) # sockets and logs: tmpfs, not 9p
SOCK=$RUN/api.sock
SERIAL=$RUN/serial.log
HVC=$RUN/hvc0.log
vpid=
cleanup() {
	[ -n "$vpid" ] && kill -9 "$vpid" 2>/dev/null
	net_cleanup
	cp "$SERIAL" "$WORK/serial.log" 2>/dev/null
	cp "$HVC" "$WORK/hvc0.log" 2>/dev/null
	rm -rf "$RUN"
}
trap cleanup EXIT
NS=vdevs96-$$
net_ns "$NS" || { echo "skip: cannot make a network namespace"; exit 77; }
nsx() { ip netns exec "$NS" "$@"; }
nsx ip tuntap add dev vdtap0 mode tap multi_queue
nsx ip addr add 10.96.0.1/24 dev vdtap0
nsx ip link set vdtap0 up
guest_initrd "$WORK/initrd.gz" "$SRC_DIR/tests/guest/init-api-devices.sh" || exit 1

api() { # METHOD ROUTE [JSON] -> prints the status; the body is in $WORK/resp.json
	local data=()
	[ $# -ge 3 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
	curl -sS --max-time 120 --unix-socket "$SOCK" -o "$WORK/resp.json" -w '%{http_code}' \
		-X "$1" "http://localhost/api/v1/$2" "${data[@]}"
}
jdev() { sed -nE "s/.*\"$1\":\{[^}]*\"$2\":([0-9]+).*/\1/p" "$WORK/resp.json"; }
vt_val() { vt_get "$SERIAL" "$1"; }
wait_vt() { # KEY SECONDS (wall clock: under TCG each round costs more than its sleep)
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		grep -aq "^VT: $1" "$SERIAL" && return 0
		kill -0 "$vpid" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}
ge() { # NAME GOT MIN
	if [ -n "$2" ] && [ "$2" -ge "$3" ]; then ok "$1 ($2 >= $3)"; else notok "$1: got '$2', want >= $3"; fi
}

: >"$SERIAL"
net_bg ip netns exec "$NS" "$VIREO" run --api-socket "$SOCK" >"$WORK/vireo.stdout.log" \
	2>"$WORK/vireo.stderr.log" </dev/null
vpid=$net_last
for i in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done

DEVS='"net": [{"tap": "vdtap0", "mac": "52:54:00:96:00:02", "num_queues": 4, "queue_size": 256,
  "mtu": 1400, "vhost_user": false}],
 "rng": {"src": "/dev/urandom"},
 "balloon": {"size": 0, "deflate_on_oom": false, "free_page_reporting": false,
             "stats_polling_interval_s": 1},
 "vsock": {"cid": 42, "socket": "'$RUN/v.sock'"},
 "console": {"mode": "File", "file": "'$HVC'"}'
cat >"$WORK/vm.json" <<JSON
{"payload": {"kernel": "$GUEST_DIR/bzImage", "initramfs": "$WORK/initrd.gz",
  "cmdline": "console=ttyS0 quiet panic=-1 vt.ip=10.96.0.2 vt.peer=10.96.0.1"},
 "cpus": {"boot_vcpus": 2}, "memory": {"size": $((256 << 20))},
 "serial": {"mode": "File", "file": "$SERIAL"},
 $DEVS}
JSON
check_eq "vm.create with every device" "$(api PUT vm.create "$(cat "$WORK/vm.json")")" 204
check_eq "vm.info" "$(api GET vm.info)" 200
if /usr/bin/python3 - "$WORK/resp.json" "{$DEVS}" <<'PY'; then ok "vm.info: the device objects come back as sent"; else notok "vm.info: device objects differ"; fi
import json, sys
got = json.load(open(sys.argv[1]))["config"]
want = json.loads(sys.argv[2])
bad = [k for k in want if got.get(k) != want[k]]
for k in bad:
    print("# %s: sent %s, got %s" % (k, want[k], got.get(k)))
sys.exit(1 if bad else 0)
PY
check_eq "vm.boot" "$(api PUT vm.boot)" 204

if wait_vt memtotal0= 180; then
	ok "guest reported its devices"
	check_eq "vm.resize desired_balloon=64 MiB" "$(api PUT vm.resize "{\"desired_balloon\": $((64 << 20))}")" 204
	balloon_actual() { # BYTES: until vm.counters says the driver holds BYTES (120 s at most)
		local end=$((SECONDS + 120))
		actual=
		while [ $SECONDS -lt $end ]; do
			api GET vm.counters >/dev/null
			actual=$(jdev balloon0 actual_bytes)
			[ "$actual" = "$1" ] && break
			sleep 1
		done
	}
	balloon_actual $((64 << 20)) # the guest waits for the second resize: it cannot end here
	check_eq "vm.counters: balloon0 actual_bytes" "$actual" $((64 << 20))
	cp "$WORK/resp.json" "$WORK/counters.json"
	check_eq "vm.counters: balloon0 target_bytes" "$(jdev balloon0 target_bytes)" $((64 << 20))
	ge "vm.counters: balloon0 inflated_bytes" "$(jdev balloon0 inflated_bytes)" $((64 << 20))
	# the driver's statistics (stats queue): its total memory, in bytes, within the 256 MiB
	st=$(jdev balloon0 stats_total-memory)
	if [ -n "$st" ] && [ "$st" -ge $((128 << 20)) ] && [ "$st" -le $((256 << 20)) ]; then
		ok "vm.counters: balloon0 stats_total-memory $st bytes (the guest's own statistics)"
	else
		notok "vm.counters: balloon0 stats_total-memory '$st', want 128..256 MiB"
	fi
	ge "vm.counters: rng0 bytes" "$(jdev rng0 bytes)" 64
	ge "vm.counters: console0 tx_bytes" "$(jdev console0 tx_bytes)" 16
	ge "vm.counters: net0 tx_frames" "$(jdev net0 tx_frames)" 1
	ge "vm.counters: net0 rx_frames" "$(jdev net0 rx_frames)" 1
	ge "vm.counters: vsock0 conns_total is there" "$(jdev vsock0 conns_total)" 0
	# the guest ends once its MemTotal is back: what it saw is checked below
	check_eq "vm.resize desired_balloon=0" "$(api PUT vm.resize '{"desired_balloon": 0}')" 204
else
	notok "no 'VT: memtotal0' from the guest"
fi
end=$((SECONDS + 180))
while [ $SECONDS -lt $end ] && kill -0 "$vpid" 2>/dev/null; do sleep 0.5; done
kill -0 "$vpid" 2>/dev/null && { notok "vireo still runs after the guest's reboot -f"; kill -9 "$vpid"; }
wait "$vpid"
check_eq "vireo exit status (the guest reset)" $? 0
vpid=

ids=$(vt_val virtio_ids)
for id in 0x0001 0x0003 0x0004 0x0005 0x0013; do
	case " $ids " in *" $id "*) ok "virtio device $id on the guest's bus" ;; *) notok "virtio device $id missing: '$ids'" ;; esac
done
check_eq "eth0: MAC from the VmConfig" "$(vt_val eth0_mac)" 52:54:00:96:00:02
check_eq "eth0: MTU from the VmConfig" "$(vt_val eth0_mtu)" 1400
check_eq "eth0: queue pairs (num_queues 4)" "$(vt_val eth0_rx_queues)" 2
check_eq "eth0: ping the TAP" "$(vt_val ping)" ok
check_eq "hw_random is virtio's" "$(vt_val hwrng)" virtio_rng.0
check_eq "/dev/hwrng gave bytes" "$(vt_val hwrng_bytes)" 64
check_eq "the console file holds the guest's line" "$(tr -d '\r' <"$HVC" 2>/dev/null)" "hello from hvc0"
check_eq "guest MemTotal fell by the balloon's 64 MiB (kB)" "$(vt_val memtotal_drop_kb)" 65536
check_eq "guest MemTotal back after desired_balloon=0 (kB below)" "$(vt_val memtotal_back_kb)" 0
if grep -q 'needs reset' "$WORK/vireo.stderr.log"; then notok "a device needed a reset"; else ok "no device needed a reset"; fi
exit $guest_fail
