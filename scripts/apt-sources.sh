# apt-sources.sh - the host's own apt sources, read once for every script that needs a mirror
# (sourced: guest/debian-fetch.sh, scripts/fresh-check.sh). Never a mirror address of ours.
#
# host_sources prints "URI SUITE SIGNED-BY" for each enabled entry of type deb with component
# main, from /etc/apt/sources.list, sources.list.d/*.list (one-line format, options in [...])
# and sources.list.d/*.sources (deb822). SIGNED-BY is the keyring file named, "-" if none,
# "inline" for an inline key.
host_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '
			{ sub(/#.*/, "") }
			$1 == "deb" {
				i = 2; sb = "-"
				if ($i ~ /^\[/) {
					for (; i <= NF; i++) {
						o = $i; gsub(/[][]/, "", o)
						if (tolower(o) ~ /^signed-by=/) sb = substr(o, 11)
						if ($i ~ /\]$/) break
					}
					i++
				}
				uri = $i; s = $(i + 1); main = 0
				for (k = i + 2; k <= NF; k++) if ($k == "main") main = 1
				if (main) print uri, s, sb
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			function flush(   nt, nu, ns, t, u, s, k, main, T, U, S, C, sb) {
				if (enabled == "no") { reset(); return }
				nt = split(f["types"], T, " "); nu = split(f["uris"], U, " ")
				ns = split(f["suites"], S, " "); split(f["components"], C, " ")
				sb = f["signed-by"]; gsub(/^[ \t]+|[ \t]+$/, "", sb)
				if (sb == "" || sb ~ /[ \t]/) sb = (sb == "" ? "-" : "inline")
				main = 0
				for (k in C) if (C[k] == "main") main = 1
				for (t = 1; t <= nt; t++) if (T[t] == "deb" && main)
					for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++) print U[u], S[s], sb
				reset()
			}
			function reset() { delete f; enabled = ""; key = "" }
			/^#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ { if (key != "") f[key] = f[key] " " $0; next }
			{
				key = tolower(substr($0, 1, index($0, ":") - 1))
				val = substr($0, index($0, ":") + 1)
				f[key] = val
				if (key == "enabled") { gsub(/[ \t]/, "", val); enabled = tolower(val) }
			}
			END { flush() }' "$f"
	done
}
