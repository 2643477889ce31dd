# SPDX-License-Identifier: MIT
# Sourced by the test /init scripts: mounts, applet links, result helpers.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null || true
mount -t tmpfs tmp /tmp

# "VT: key=value" lines are what the host scripts grep.
vt() { echo "VT: $*"; }
# Parameter vt.NAME=VALUE from the kernel command line.
vt_param() {
	for w in $(cat /proc/cmdline); do
		case "$w" in vt."$1"=*) echo "${w#*=}"; return 0 ;; esac
	done
	return 1
}
vt_end() {
	vt "done"
	sync
	reboot -f
}
