#!/bin/bash
# debian-fetch.sh - fetch stock Debian packages for riscv64 and unpack them, never installing.
#
# Usage: guest/debian-fetch.sh [--suite SUITE] [--deps] [--update] OUTDIR PACKAGE...
#        guest/debian-fetch.sh [--suite SUITE] [--update] --lock FILE OUTDIR
#
#   --suite SUITE   Debian suite (default trixie), component main, architecture riscv64
#   --deps          also fetch what the packages depend on (Depends and Pre-Depends, as apt's
#                   solver resolves them against an empty system; no Recommends)
#   --update        read the archive's index again even if one is cached
#   --lock FILE     fetch exactly the packages FILE lists, at their versions, in its order:
#                   lines "PACKAGE VERSION ARCHITECTURE SHA256" (the manifest's format; # starts
#                   a comment). A .deb is taken from the cache if its SHA-256 is the lock's
#                   (no index, no network needed); otherwise its version is looked up in the
#                   signed index (read anew once if the cached one lacks it), whose SHA-256
#                   must be the lock's, and downloaded (apt-get download PACKAGE=VERSION) and
#                   checked against the lock again. A version the archive no longer has and the
#                   cache does not hold, or a hash that differs, is an error naming the package.
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
usage() { die 2 "usage: $0 [--suite SUITE] [--deps] [--update] OUTDIR PACKAGE... | [--suite SUITE] [--update] --lock FILE OUTDIR"; }

suite=trixie
arch=riscv64
deps=0
update=0
lock=""
while [ $# -gt 0 ]; do
	case $1 in
	--suite) [ $# -ge 2 ] || usage; suite=$2; shift 2 ;;
	--deps) deps=1; shift ;;
	--update) update=1; shift ;;
	--lock) [ $# -ge 2 ] || usage; lock=$2; shift 2 ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
if [ -n "$lock" ]; then
	[ $# -eq 1 ] || usage
	[ $deps -eq 0 ] || die 2 "--deps and --lock do not go together: a lock already lists every package"
	[ -f "$lock" ] && [ -r "$lock" ] || die 2 "no lock file $lock"
else
	[ $# -ge 2 ] || usage
fi
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

declare -A rec # PACKAGE -> "VERSION ARCH SHA256 ..."
missing=()     # PACKAGE=VERSION to download
hash_from="the signed index"
index_read=0
read_index() {
	fetch_index
	index_read=1
}

# With --lock: the lock's rows, checked for form. A .deb in the cache with the lock's hash
# needs nothing else; any other must be in the signed index with the lock's hash.
read_lock() {
	local n=0 line p v a h extra
	want=()
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%%#*}
		p="" v="" a="" h="" extra=""
		read -r p v a h extra <<<"$line" || true
		[ -n "$p" ] || continue
		[ -n "$h" ] && [ -z "$extra" ] ||
			die 1 "$lock line $n: not \"PACKAGE VERSION ARCHITECTURE SHA256\": $line"
		[[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die 1 "$lock line $n: bad package name: $p"
		[[ $v =~ ^([0-9]+:)?[0-9A-Za-z.+~-]+$ ]] || die 1 "$lock line $n: $p: bad version: $v"
		[ "$a" = "$arch" ] || [ "$a" = all ] ||
			die 1 "$lock line $n: $p: architecture $a, neither $arch nor all"
		[[ $h =~ ^[0-9a-f]{64}$ ]] || die 1 "$lock line $n: $p: not a SHA-256: $h"
		[ -z "${rec[$p]:-}" ] || die 1 "$lock line $n: $p is listed twice"
		rec[$p]="$v $a $h"
		want+=("$p")
	done <"$lock"
	[ ${#want[@]} -gt 0 ] || die 1 "$lock lists no package"
}

if [ -n "$lock" ]; then
	hash_from="the lock $lock"
	read_lock
	uncached=()
	for p in "${want[@]}"; do
		read -r v a h <<<"${rec[$p]}"
		f=$debs/$(deb_name "$p" "$v" "$a")
		if [ -f "$f" ] && [ "$(sha256sum <"$f" | cut -c1-64)" = "$h" ]; then
			continue
		fi
		uncached+=("$p")
	done
	if [ ${#uncached[@]} -gt 0 ]; then
		say "not in the cache with the lock's hash: ${uncached[*]}"
		if [ $update -eq 1 ] || ! have_index; then
			read_index
		fi
		for p in "${uncached[@]}"; do
			read -r v a h <<<"${rec[$p]}"
			r=$(index_record "$p=$v") || r=""
			if [ -z "$r" ] && [ $index_read -eq 0 ]; then
				say "$p $v is not in the cached index: reading the index anew"
				read_index
				r=$(index_record "$p=$v") || r=""
			fi
			[ -n "$r" ] || die 1 "$p $v (locked in $lock): the archive's $suite index no longer has this version and the cache ($debs) does not hold it; refresh the lock, or set FERRY_DEBIAN_MIRROR to an archive that still has it"
			read -r _ ia ih _ _ <<<"$r"
			[ "$ia" = "$a" ] || die 1 "$p $v: the lock $lock says architecture $a, the signed index $ia"
			[ "$ih" = "$h" ] || die 1 "$p $v: the lock $lock says SHA-256 $h, the archive's signed index says $ih"
			rm -f "$debs/$(deb_name "$p" "$v" "$a")"
			missing+=("$p=$v")
		done
	fi
else
	if [ $update -eq 1 ] || ! have_index; then
		read_index
	fi
	check_names "${pkgs[@]}"
	mapfile -t want < <(resolve)
	[ ${#want[@]} -gt 0 ] || die 1 "nothing to fetch"

	# Which .debs are not in the cache with the index's hash: download those (network).
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
fi
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
	if [ -n "$lock" ]; then
		echo "# Debian $suite $arch main; pinned by $(basename "$lock")"
	else
		echo "# Debian $suite $arch main; index $(basename "$(compgen -G "$lists/*_dists_${suite}_InRelease" | head -1)")" \
			"$(grep -m1 '^Date:' "$(compgen -G "$lists/*_dists_${suite}_InRelease" | head -1)")"
	fi
	echo "# package version architecture sha256"
} >"$out/manifest.tmp"
for p in "${want[@]}"; do
	read -r v a h _ _ <<<"${rec[$p]}"
	f=$debs/$(deb_name "$p" "$v" "$a")
	[ -f "$f" ] || die 1 "apt-get download left no $f"
	got=$(sha256sum <"$f" | cut -c1-64)
	[ "$got" = "$h" ] || die 1 "$p $v: $f has SHA-256 $got, $hash_from says $h"
	dpkg-deb -x "$f" "$out/root"
	echo "$p $v $a $h" >>"$out/manifest.tmp"
done
mv "$out/manifest.tmp" "$out/manifest"
say "unpacked ${#want[@]} package(s) into $out/root (manifest: $out/manifest)"
