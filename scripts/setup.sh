#!/bin/sh
# setup.sh - install what Ferry needs on Debian 12 (run as root). Installs only what is missing.
set -eu
pkgs="gcc make libc6-dev pkg-config libfdt-dev libcmocka-dev libjansson-dev locales
	gcc-riscv64-linux-gnu linux-source-6.1 bc bison flex cpio xz-utils
	qemu-system-misc qemu-user
	clang libclang-rt-14-dev
	iproute2 iputils-ping procps psmisc nftables"
missing=""
for p in $pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages:$missing; run as root to install them" >&2
		exit 1
	fi
	echo "setup: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends $missing >&2
fi
# The JSON unit test reads and writes numbers under a locale whose decimal point is a comma.
if ! locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "setup: generating the de_DE.UTF-8 locale" >&2
		localedef -i de_DE -f UTF-8 de_DE.UTF-8
	else
		echo "setup: no de_DE.UTF-8 locale (the JSON locale test will be skipped)" >&2
	fi
fi
echo "setup: all packages present" >&2
