# SPDX-License-Identifier: MIT
# Helpers for the virtio-net suites (sourced). Needs $WORK and $SRC_DIR.
#
#   net_initrd OUT [BIN...]  busybox initramfs with tests/guest/init-net.sh as /init, plus
#                            each host binary BIN (ethtool, iperf3, ...) in /bin and the shared
#                            libraries ldd names in /lib (the loader at its ldd path)
#   net_ns NAME              make network namespace NAME with lo up (removed by net_cleanup)
#   net_cleanup              kill what net_bg started, delete the namespaces
#   net_bg CMD...            run CMD in the background, remember its pid in $net_last
#   net_wait_log FILE RE SECS  wait until FILE has a line matching RE (0) or time runs out (1)

net_pids=()
net_nss=()

net_initrd() { # OUT [BIN...]
	local out=$1 extra=() b l
	shift
	for b in "$@"; do
		b=$(command -v "$b") || return 1
		extra+=("$b:/bin/$(basename "$b")")
		for l in $(ldd "$b" | sed -nE 's/.*=> (\/[^ ]+) .*/\1/p; s/^[[:space:]]*(\/[^ ]+) .*/\1/p'); do
			case "$l" in
			*/ld-linux*) extra+=("$l:$l") ;;
			*) extra+=("$l:/lib/$(basename "$l")") ;;
			esac
		done
	done
	# one copy of each destination
	mapfile -t extra < <(printf '%s\n' "${extra[@]}" | sort -u -t: -k2,2)
	"$SRC_DIR/tests/guest/mkinitramfs.sh" "$out" "$SRC_DIR/tests/guest/init-net.sh" \
		"$SRC_DIR/tests/guest/init-common.sh:/init-common.sh" "${extra[@]}"
}

net_ns() { # NAME
	ip netns add "$1" || return 1
	net_nss+=("$1")
	ip netns exec "$1" ip link set lo up
}

net_bg() { # CMD... (stdin is the caller's: without job control bash would give a
	# background command /dev/null)
	"$@" <&0 &
	net_last=$!
	net_pids+=("$net_last")
}

net_cleanup() {
	local p n
	for p in "${net_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${net_pids[@]}"; do wait "$p" 2>/dev/null; done
	net_pids=()
	for n in "${net_nss[@]}"; do ip netns del "$n" 2>/dev/null; done
	net_nss=()
}

net_wait_log() { # FILE RE SECS [PID: give up once it has exited]
	local i=0
	while [ $i -lt $(($3 * 10)) ]; do
		[ -f "$1" ] && tr -d '\r' <"$1" | grep -qE "$2" && return 0
		if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
			tr -d '\r' <"$1" 2>/dev/null | grep -qE "$2"
			return
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
