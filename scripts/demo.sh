#!/bin/sh
# demo.sh - the main job: set up, build everything (the guest kernel too), then the lab demo.
#
# Today the demo boots the guest under ferry-vm and shows its console until the guest's
# init powers it off; the live-migration demo replaces it as the lab grows.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)"
guest/build.sh build/guest
echo "demo: booting the guest under ferry-vm (256 MiB, console on stdio)" >&2
build/bin/ferry-vm --kernel build/guest/Image --initrd build/guest/initramfs.cpio --memory 256M \
	--append "console=ttyS0 ferry.poweroff" </dev/null
echo "demo: the guest powered off cleanly (ferry-vm exit status 0)" >&2
