#!/bin/sh
# setup.sh - install what Ferry needs on Debian 12 (run as root). Installs only what is missing.
#
# The list names every package the build, the tests, the demo and the benchmarks use, by
# name: it installs with --no-install-recommends (a minimal machine stays minimal), so a
# package that only comes as some other package's Recommends must be named here.
# scripts/fresh-check.sh proves the list on a minimal Debian 12 root.
set -eu
# build: ferry-vm, the tools, the unit tests (cmocka; the JSON tests need a comma locale)
build="gcc make libc6-dev pkg-config libfdt-dev libcmocka-dev libjansson-dev libxxhash-dev
	locales"
# the cluster: etcd (the store), libcurl (its JSON gateway; the CLI), libmicrohttpd (the
# agent's API), libsystemd (its readiness for systemd, Type=notify), GnuTLS (certificates,
# TLS; certtool for the lab's checks), socat (the lab's port forwarded to loopback),
# help2man (man pages from the programs' --help)
cluster="etcd-server etcd-client libcurl4-gnutls-dev libmicrohttpd-dev libgnutls28-dev
	gnutls-bin socat help2man libsystemd-dev"
# the guest: Linux from linux-source-6.1, cross-built; the init and programs are built
# against nolibc, which includes the riscv64 kernel and libc headers (only Recommends of
# gcc-riscv64-linux-gnu); stock Debian riscv64 packages are fetched by a private apt
# (guest/debian-fetch.sh), trusted through the archive keyring, signatures checked by gpgv;
# the Debian guest's ext4 image is made with e2fsprogs (mke2fs -d, debugfs, e2fsck), Debian's
# kernel package read with binutils (readelf)
guest="gcc-riscv64-linux-gnu libc6-dev-riscv64-cross linux-libc-dev-riscv64-cross
	linux-source-6.1 bc bison flex cpio xz-utils apt dpkg gpgv debian-archive-keyring
	e2fsprogs binutils"
# tests and benchmarks: QEMU (reference machine and qemu-riscv64 for the differential
# tests), clang and its fuzzer runtime, jq (scripts read JSON with it)
tests="qemu-system-misc qemu-user clang libclang-rt-14-dev jq"
# the lab: namespaces, bridges, tc, nftables (the fault matrix stalls a link with it), ping
lab="iproute2 iputils-ping procps psmisc nftables"
# scripts/fresh-check.sh builds a minimal Debian root with it
fresh="mmdebstrap"
missing=""
for p in $build $cluster $guest $tests $lab $fresh; do
	# Installed means "ii": a package removed but not purged is still known to dpkg -s.
	[ "$(dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages:$missing; run as root to install them" >&2
		exit 1
	fi
	echo "setup: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 $missing >&2
fi
# Debian's etcd-server starts a default member when installed (where an init system runs it):
# Ferry runs its own members, so that one is stopped and kept from starting again.
if [ "$(id -u)" -eq 0 ] && [ -e /lib/systemd/system/etcd.service ]; then
	if [ -d /run/systemd/system ]; then
		systemctl disable --now etcd >/dev/null 2>&1 || true
	else
		update-rc.d etcd disable >/dev/null 2>&1 || true
		[ -x /etc/init.d/etcd ] && /etc/init.d/etcd stop >/dev/null 2>&1 || true
	fi
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
