#!/bin/sh
# /init of the boot benchmark (bench/run-boot.sh): say so on the console, then reboot at once.
echo VIREO-BOOT-INIT
/bin/busybox reboot -f
