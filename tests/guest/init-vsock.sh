#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest side of the vsock suites (tests/integration/lib/vsock_host.py scenario); Debian's
# socat speaks AF_VSOCK. Parameters: vt.conns (8), vt.mib (16), vt.cid (our CID).
#  - port 6000: every host connection is hashed (sha256sum) and the digest sent back;
#  - our own CID reaches our own listener (vsock loopback: only if the device gave us vt.cid);
#    CID+1 is neither us nor the host: the device resets it;
#  - to host port 5001: the random reference data (its sha256 printed here); to host port
#    5000: vt.conns connections at once, connection i sending the reference rotated by i MiB;
#  - to host port 7777, where nothing listens: socat fails (reset);
#  - port 6001: the host's "bye" ends the test.
. /init-common.sh
n=$(vt_param conns || echo 8)
mib=$(vt_param mib || echo 16)
cid=$(vt_param cid || echo 3)
dd if=/dev/urandom of=/tmp/data bs=1M count="$mib" 2>/dev/null
vt "sha=$(sha256sum /tmp/data | cut -d' ' -f1)"
socat -t 60 VSOCK-LISTEN:6000,fork,reuseaddr EXEC:sha256sum &
i=0
until socat -u OPEN:/dev/null VSOCK-CONNECT:"$cid":6000 2>/dev/null || [ $i -ge 50 ]; do
	sleep 0.2
	i=$((i + 1))
done
vt "own_cid_tries=$i"
vt "listening"
socat -u OPEN:/dev/null VSOCK-CONNECT:$((cid + 1)):6000 2>/dev/null
vt "other_cid_rc=$?"
# connect() gives up after 2 s by default: far too short under QEMU TCG, where a busy guest
# may not refill its rx queue for that long. 30 s (SO_VM_SOCKETS_CONNECT_TIMEOUT, a timeval;
# socat 1.7 applies its setsockopt-listen option to connecting sockets too).
ct=setsockopt-listen=40:6:x1e000000000000000000000000000000
socat -u OPEN:/tmp/data VSOCK-CONNECT:2:5001,$ct
vt "ref_rc=$?"
i=0
while [ $i -lt "$n" ]; do
	r=$((i % mib))
	({ dd if=/tmp/data bs=1M skip=$r 2>/dev/null; dd if=/tmp/data bs=1M count=$r 2>/dev/null; } |
		socat -t 60 -u - VSOCK-CONNECT:2:5000,$ct
	 echo $? >/tmp/rc.$i) &
	i=$((i + 1))
done
j=0
while [ $j -lt 6000 ] && [ "$(ls /tmp/rc.* 2>/dev/null | wc -l)" -lt "$n" ]; do
	sleep 0.1
	j=$((j + 1))
done
vt "sent_rcs=$(cat /tmp/rc.* | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
socat -u OPEN:/dev/null VSOCK-CONNECT:2:7777 2>/tmp/err7777
vt "unknown_port_rc=$?"
vt "unknown_port_err=$(head -c 120 /tmp/err7777 | tr '\n' ' ')"
vt "waiting"
socat -u VSOCK-LISTEN:6001 - >/tmp/bye
vt "bye=$(cat /tmp/bye)"
vt_end
