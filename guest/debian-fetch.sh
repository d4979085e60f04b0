#!/bin/bash
# debian-fetch.sh - fetch stock Debian packages for riscv64 and unpack them, never installing.
#
# Usage: guest/debian-fetch.sh [--suite SUITE] [--deps] [--update] OUTDIR PACKAGE...
#
#   --suite SUITE   Debian suite (default trixie), component main, architecture riscv64
#   --deps          also fetch what the packages depend on (Depends and Pre-Depends, as apt's
#                   solver resolves them against an empty system; no Recommends)
#   --update        read the archive's index again even if one is cached
#
# apt runs in a private root under $FERRY_CACHE/debian/SUITE-riscv64 (default FERRY_CACHE:
# /var/cache/ferry): its own apt.conf (named by APT_CONFIG, so the host's apt.conf.d is not
# read), sources list, lists, package cache and an empty dpkg status. The archive is trusted
# through the host's /usr/share/keyrings/debian-archive-keyring.gpg alone (signed-by). The
# mirror is the host's own main Debian archive, read from /etc/apt/sources.list,
# sources.list.d/*.list and deb822 *.sources (a Debian suite, component main, not -security,
# signed by the Debian archive keyring if a key is named); FERRY_DEBIAN_MIRROR overrides it.
#
# The first run reads the signed index (apt-get update) and downloads each .deb with
# apt-get download, which checks it against the index's hash. Both stay in the cache: a later
# run whose packages are all cached uses the cached index and the cached .debs (each checked
# again against the index's SHA-256) and touches no network. --update reads the index anew.
#
# Writes OUTDIR/root (the packages unpacked with dpkg-deb -x, in the order given; nothing is
# configured, no maintainer script runs) and OUTDIR/manifest (one line per package: name,
# version, architecture, SHA-256 of the .deb). Nothing outside OUTDIR and the cache is written.
#
# Exit status: 0 done; 1 an error (a package not in the archive, a hash mismatch, ...);
# 2 bad usage; 3 the mirror cannot be reached (or none is configured) and the cache does not
# hold what was asked.
set -euo pipefail

prog=debian-fetch
here=$(cd "$(dirname "$0")" && pwd)
die() { # STATUS MESSAGE...
	local rc=$1
	shift
	echo "$prog: $*" >&2
	exit "$rc"
}
say() { echo "$prog: $*" >&2; }
usage() { die 2 "usage: $0 [--suite SUITE] [--deps] [--update] OUTDIR PACKAGE..."; }

suite=trixie
arch=riscv64
deps=0
update=0
while [ $# -gt 0 ]; do
	case $1 in
	--suite) [ $# -ge 2 ] || usage; suite=$2; shift 2 ;;
	--deps) deps=1; shift ;;
	--update) update=1; shift ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || usage
out=$1
shift
pkgs=("$@")
[[ $suite =~ ^[a-z][a-z0-9-]*$ ]] || die 2 "bad suite name: $suite"
for p in "${pkgs[@]}"; do
	[[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die 2 "bad package name: $p"
done
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die 1 "no $keyring (package debian-archive-keyring)"
for t in apt-get apt-cache dpkg-deb sha256sum; do
	command -v $t >/dev/null || die 1 "$t not found"
done

cache=${FERRY_CACHE:-/var/cache/ferry}/debian
aroot=$cache/$suite-$arch
debs=$aroot/debs
mkdir -p "$aroot"/etc/apt/{apt.conf.d,preferences.d,sources.list.d,trusted.gpg.d} \
	"$aroot"/var/lib/apt/lists/partial "$aroot"/var/lib/dpkg \
	"$aroot"/var/cache/apt/archives/partial "$aroot"/var/log/apt "$debs"
[ -e "$aroot/var/lib/dpkg/status" ] || : >"$aroot/var/lib/dpkg/status"
# The private configuration. APT_CONFIG is read first and moves Dir, so the parts directory
# and the main file apt reads next are the (empty) ones of the private root, not the host's.
cat >"$aroot/apt.conf" <<EOF
Dir "$aroot/";
Dir::State::status "$aroot/var/lib/dpkg/status";
Dir::Etc::main "$aroot/etc/apt/apt.conf";
Dir::Etc::TrustedParts "$aroot/etc/apt/trusted.gpg.d/";
Dir::Etc::Trusted "$aroot/etc/apt/trusted.gpg";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "false";
APT::Get::AllowUnauthenticated "false";
Acquire::AllowInsecureRepositories "false";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order { "xz"; "gz"; };
Acquire::Retries "2";
Acquire::http::Timeout "30";
Acquire::https::Timeout "30";
EOF
export APT_CONFIG=$aroot/apt.conf
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# The host's Debian archive: the first entry of its apt sources naming a Debian suite
# (not -security), component main, trusted by a Debian archive keyring if it names one.
# host_sources: "URI SUITE SIGNED-BY" for each deb entry with component main (apt-sources.sh)
. "$here/../scripts/apt-sources.sh"
debian_suites='^(buster|bullseye|bookworm|trixie|forky|duke|sid|oldoldstable|oldstable|stable|testing|unstable)(-updates|-backports|-proposed-updates)?$'
host_mirror() {
	host_sources | awk -v re="$debian_suites" '
		$1 ~ /^(https?|file|mirror\+[a-z]+):/ && $2 ~ re && $1 !~ /security/ &&
		($3 == "-" || $3 ~ /\/debian-archive-[a-z0-9-]*\.gpg$/) { print $1; exit }'
}

lists=$aroot/var/lib/apt/lists
have_index() { compgen -G "$lists/*_dists_${suite}_InRelease" >/dev/null; }

# Read the signed index from the mirror (network). Status 3 if it cannot be reached.
fetch_index() {
	local mirror=${FERRY_DEBIAN_MIRROR:-$(host_mirror)}
	[ -n "$mirror" ] || die 3 "no Debian archive in the host's apt sources (/etc/apt/sources.list, sources.list.d/*.list, *.sources) and FERRY_DEBIAN_MIRROR not set"
	mirror=${mirror%/}
	say "reading the $suite index for $arch from $mirror"
	echo "deb [signed-by=$keyring] $mirror $suite main" >"$aroot/etc/apt/sources.list.new"
	mv "$aroot/etc/apt/sources.list.new" "$aroot/etc/apt/sources.list"
	local log=$aroot/update.log
	# apt-get update can end with status 0 after a failed fetch or a bad signature: its
	# warnings for those count as failures too.
	if ! apt-get -q update >"$log" 2>&1 || ! have_index ||
		grep -qE '^E: |^W: (GPG error|Failed to fetch|.*(not signed|signature|Release file))' "$log"; then
		if grep -qiE 'Could not (resolve|connect)|Failed to (connect|fetch)|Temporary failure resolving|Connection (failed|timed out|refused)|Network is unreachable|Unable to connect' "$log"; then
			grep -E '^[EW]: ' "$log" | head -5 >&2
			die 3 "cannot reach the mirror $mirror"
		fi
		grep -E '^[EW]: ' "$log" | head -5 >&2 || tail -5 "$log" >&2
		die 1 "apt-get update from $mirror failed (log: $log)"
	fi
}

# The candidate's fields from the signed index: "VERSION ARCH SHA256 SIZE FILENAME".
index_record() { # PACKAGE[=VERSION]
	apt-cache show --no-all-versions "$1" 2>/dev/null | awk '
		/^Version: / { v = $2 } /^Architecture: / { a = $2 } /^SHA256: / { h = $2 }
		/^Size: / { s = $2 } /^Filename: / { f = $2 }
		/^$/ { if (v != "") exit }
		END { if (v != "" && h != "") print v, a, h, s, f }'
}
deb_name() { # PACKAGE VERSION ARCH: the file name apt-get download gives it
	echo "${1}_${2//:/%3a}_${3}.deb"
}

# The set to fetch: the names given, or with --deps what apt's solver installs for them on an
# empty system, in its order.
resolve() {
	if [ $deps -eq 0 ]; then
		printf '%s\n' "${pkgs[@]}"
		return
	fi
	local sim
	if ! sim=$(apt-get -q -s install "${pkgs[@]}" 2>&1); then
		printf '%s\n' "$sim" | grep -E '^E: |Depends:|^ ' | head -20 >&2
		die 1 "cannot resolve the dependencies of: ${pkgs[*]}"
	fi
	printf '%s\n' "$sim" | awk '$1 == "Inst" { print $2 }'
}

check_names() { # every name must have a record in the index
	local p bad=""
	for p in "$@"; do
		[ -n "$(index_record "$p")" ] || bad="$bad $p"
	done
	[ -z "$bad" ] || die 1 "not in Debian $suite ($arch, main):$bad"
}

if [ $update -eq 1 ] || ! have_index; then
	fetch_index
fi
check_names "${pkgs[@]}"
mapfile -t want < <(resolve)
[ ${#want[@]} -gt 0 ] || die 1 "nothing to fetch"

# Which .debs are not in the cache with the index's hash: download those (network).
declare -A rec
missing=()
for p in "${want[@]}"; do
	r=$(index_record "$p")
	[ -n "$r" ] || die 1 "not in Debian $suite ($arch, main): $p"
	rec[$p]=$r
	read -r v a h _ _ <<<"$r"
	f=$debs/$(deb_name "$p" "$v" "$a")
	if [ -f "$f" ] && [ "$(sha256sum <"$f" | cut -c1-64)" = "$h" ]; then
		continue
	fi
	rm -f "$f"
	missing+=("$p=$v")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "downloading ${#missing[@]} package(s): ${missing[*]}"
	log=$aroot/download.log
	if ! (cd "$debs" && apt-get -q download "${missing[@]}") >"$log" 2>&1; then
		grep -E '^[EW]: ' "$log" | head -5 >&2 || tail -5 "$log" >&2
		if grep -qiE 'Could not (resolve|connect)|Failed to (connect|fetch)|Temporary failure resolving|Connection (failed|timed out|refused)|Network is unreachable|Unable to connect' "$log"; then
			die 3 "cannot reach the mirror $(awk '{ print $3 }' "$aroot/etc/apt/sources.list") (try again, or --update if the index is stale)"
		fi
		die 1 "apt-get download failed (log: $log)"
	fi
fi

# Unpack, in order, into a fresh OUTDIR/root; record the manifest. A root/ without a manifest
# beside it is not ours: never removed.
mkdir -p "$out"
if [ -e "$out/root" ] && [ ! -f "$out/manifest" ]; then
	die 1 "$out/root exists and $out has no manifest: not an output directory of $prog"
fi
rm -rf "$out/root" "$out/manifest.tmp"
mkdir "$out/root"
{
	echo "# Debian $suite $arch main; index $(basename "$(compgen -G "$lists/*_dists_${suite}_InRelease" | head -1)")" \
		"$(grep -m1 '^Date:' "$(compgen -G "$lists/*_dists_${suite}_InRelease" | head -1)")"
	echo "# package version architecture sha256"
} >"$out/manifest.tmp"
for p in "${want[@]}"; do
	read -r v a h _ _ <<<"${rec[$p]}"
	f=$debs/$(deb_name "$p" "$v" "$a")
	[ -f "$f" ] || die 1 "apt-get download left no $f"
	got=$(sha256sum <"$f" | cut -c1-64)
	[ "$got" = "$h" ] || die 1 "$f: SHA-256 $got, the signed index says $h"
	dpkg-deb -x "$f" "$out/root"
	echo "$p $v $a $h" >>"$out/manifest.tmp"
done
mv "$out/manifest.tmp" "$out/manifest"
say "unpacked ${#want[@]} package(s) into $out/root (manifest: $out/manifest)"
