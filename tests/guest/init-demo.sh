#!/bin/sh
# /init of the demo initramfs (./dev.sh demo): mount the basics, say hello, give a shell.
# `poweroff -f` (or Ctrl-A X on the host terminal) ends the VM.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "vireo demo: Linux $(uname -r) reached /init on $(grep -c ^processor /proc/cpuinfo) CPU(s)," \
     "$(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo) RAM"
for b in /sys/block/vd*; do [ -e "$b" ] && echo "vireo demo: disk ${b##*/}: $(cat "$b/size") sectors"; done
echo "vireo demo: type 'poweroff -f' or press Ctrl-C to stop"
exec setsid cttyhack sh
