#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the nested-KVM L1 (tests/nested/l1.sh): load kvm_amd and 9p, mount the host's root
# read-only with the writable shares over it, chroot there and run the command in /etc/l1-cmd
# from the directory in /etc/l1-cwd. Its exit status goes to the ctl share's `rc` file.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() {
	echo "l1-init: $*"
	echo 1 >/ctl/rc 2>/dev/null
	poweroff -f
}
while read -r m; do modprobe "$m" || echo "l1-init: modprobe $m failed"; done </etc/l1-modules
while read -r m; do modprobe "$m" 2>/dev/null; done </etc/l1-modules-extra
O=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /ctl
mount -t 9p -o $O ctl /ctl || fail "cannot mount the ctl share"
[ -c /dev/kvm ] || fail "no /dev/kvm in the L1 (kvm_amd did not load: $(dmesg | grep -i -m1 svm))"
mount -t 9p -o $O,ro,cache=loose host /host || fail "cannot mount the host's root over 9p"
H=/host
mount -t proc proc $H/proc
mount -t sysfs sys $H/sys
mount -t devtmpfs dev $H/dev
mkdir -p $H/dev/pts $H/dev/shm 2>/dev/null
mount -t devpts devpts $H/dev/pts
ln -sf /proc/self/fd $H/dev/fd
ln -sf /proc/self/fd/0 $H/dev/stdin
ln -sf /proc/self/fd/1 $H/dev/stdout
ln -sf /proc/self/fd/2 $H/dev/stderr
mount -t tmpfs shm $H/dev/shm
mount -t tmpfs tmp $H/tmp
mount -t tmpfs run $H/run
mount -t tmpfs root $H/root
while read -r tag path; do
	mkdir -p "$H$path" || fail "cannot make $path"
	mount -t 9p -o $O "$tag" "$H$path" || fail "cannot mount $path"
done </etc/l1-rw
mkdir -p $H/tmp/l1ctl
mount --bind /ctl $H/tmp/l1ctl
# the loopback interface, for tests that use TCP inside the L1
ip link set lo up 2>/dev/null
if [ "$(cat /etc/l1-interactive)" != 1 ]; then
	# Booted quiet; from here on the log gets whole kernel reports (stacks with symbols, and
	# every CPU's on a soft lockup): what explains an L1 that freezes under QEMU TCG.
	echo 7 >/proc/sys/kernel/printk
	echo 1 >/proc/sys/kernel/softlockup_all_cpu_backtrace 2>/dev/null
fi

CMD=$(cat /etc/l1-cmd)
CWD=$(cat /etc/l1-cwd)
ENVS=$(cat /etc/l1-env 2>/dev/null | sed "s/'/'\\\\''/g; s/^\([^=]*\)=\(.*\)$/export \1='\2';/")
echo "VIREO-L1-READY $(grep -c '^processor' /proc/cpuinfo) CPUs"
if [ "$(cat /etc/l1-interactive)" = 1 ]; then
	SZ=$(cat /etc/l1-stty 2>/dev/null)
	[ -n "$SZ" ] && stty -F /dev/ttyS0 rows "${SZ% *}" cols "${SZ#* }"
	# The console is the user's terminal: make it the command's controlling tty so that
	# Ctrl-C is a SIGINT to the command, as on the host.
	chroot $H /usr/bin/setsid -c /bin/bash -c \
		"export VIREO_NESTED=1 HOME=/root TMPDIR=/tmp PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; $ENVS cd '$CWD' && $CMD" </dev/ttyS0 >/dev/ttyS0 2>&1
	rc=$?
else
	chroot $H /bin/bash -c "export VIREO_NESTED=1 HOME=/root TMPDIR=/tmp PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; $ENVS cd '$CWD' && $CMD" </dev/null
	rc=$?
fi
echo $rc >/ctl/rc
sync
umount -a -r 2>/dev/null
poweroff -f
