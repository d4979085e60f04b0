#!/bin/bash
# layers.sh - fail if an include breaks the layering of src/, or cannot be resolved, or closes
# a cycle.
#
# The layers, lowest first (docs/architecture.md); a file may include headers of its own layer
# and of the layers below it, never of one above:
#   src/common  <  src/vmm/core  <  src/vmm/board  <  src/vmm/devices  <  src/vmm/state
#               <  src/vmm/migrate  <  src/vmm/control  <  src/vmm/main.c
# The other programs stand beside the VMM, not on top of it:
#   src/tools   (ferry-vmctl, ferry-counter, ferry-ping)  may include src/common and src/tools;
#   src/agent   (ferryd)                                   may include src/common and src/agent;
#   src/cli     (ferry)                                    may include src/common and src/cli.
# The agent and the CLI include nothing of src/vmm: they speak to ferry-vm through its control
# socket (JSON), never by linking its code, so the VMM's internals can change without them.
# What they must share with the VMM (a protocol constant, the ownership record's lease-file
# format) moves down to src/common first. The tools follow the same rule.
#
# Checked, over every .c and .h under src/:
#   1. every file is in one of the layers above (a new folder must be placed in the order);
#   2. every include in quotes names a file under src/ by its layer path ("vmm/core/cpu.h";
#      the Makefile passes -Isrc), not relative to the including file; an include in angle
#      brackets is the system's unless it names a file under src/, and is then checked too;
#   3. no include goes to a higher layer, or from one program to another;
#   4. no cycle in the file-level include graph, within a layer as well as across layers
#      (a depth-first search; each back edge found is printed as the cycle it closes).
# Includes inside comments are ignored; conditional ones (#if) are checked like the others.
# Tests (tests/) are not checked: a test may include whatever it tests.
#
# Prints TAP and "lint-layers: N passed, N failed" (one test per check above); exits non-zero
# on a failure. With --self-test it builds small trees in a temporary directory (an upward
# include, cycles of 1, 2 and 3 files, a missing header, a relative include, a program
# reaching into the VMM, a file outside the layers, and a good tree) and proves each bad one
# fails the check it should, and only that one, and the good one passes:
# "lint-layers-self-test: N passed, N failed". Needs only bash, find, sort and a POSIX awk.
cd "$(dirname "$0")/../.." || exit 2

# scan DIR: check the tree under DIR/src; TAP on stdout, exit status 1 on a violation.
scan() {
	(
		cd "$1" || exit 2
		[ -d src ] || { echo "not ok 1 - no src/ under $1"; exit 2; }
		find src -type f | LC_ALL=C sort >"$tmpl"
		mapfile -t sources < <(LC_ALL=C grep -E '\.[ch]$' "$tmpl")
		# (with no sources awk reads /dev/null: nothing to check, every check passes)
		LC_ALL=C awk -v listing="$tmpl" -f "$awkprog" "${sources[@]}" </dev/null
	)
}

# The checker. Reads the list of files first (getline), then each source file in turn.
awk_checker() {
	cat <<'EOF'
BEGIN {
	while ((getline f < listing) > 0)
		exists[f] = 1
	close(listing)
	nrank = split("src/common src/vmm/core src/vmm/board src/vmm/devices src/vmm/state " \
		"src/vmm/migrate src/vmm/control src/vmm/main.c", order, " ")
	for (i = 1; i <= nrank; i++)
		rank[order[i]] = i
	program["src/tools"] = program["src/agent"] = program["src/cli"] = 1
	nfiles = nincl = 0
}

# The layer a path under src/ belongs to, or "" if none.
function layer(p,   a) {
	if (p == "src/vmm/main.c")
		return p
	split(p, a, "/")
	if (a[2] == "vmm" && ("src/vmm/" a[3]) in rank && a[4] != "")
		return "src/vmm/" a[3]
	if (("src/" a[2]) in rank || ("src/" a[2]) in program)
		return a[3] != "" ? "src/" a[2] : ""
	return ""
}

# Why a file of layer `from` may not include one of layer `to`, or "" if it may.
function forbidden(from, to) {
	if (from == to || to == "src/common")
		return ""
	if (from in program)
		return from " may include only src/common and itself"
	if (to in program)
		return from " may not include " to " (another program)"
	if (rank[to] > rank[from])
		return from " may not include " to " (a higher layer)"
	return ""
}

# The text of a line with comments removed (string and character literals kept), carrying
# an open block comment over to the next line in `incomment`.
function uncomment(s,   out, i, n, c, q) {
	out = ""
	n = length(s)
	i = 1
	while (i <= n) {
		c = substr(s, i, 1)
		if (incomment) {
			if (c == "*" && substr(s, i + 1, 1) == "/") {
				incomment = 0
				out = out " "
				i += 2
			} else
				i++
			continue
		}
		if (c == "/" && substr(s, i + 1, 1) == "*") {
			incomment = 1
			i += 2
			continue
		}
		if (c == "/" && substr(s, i + 1, 1) == "/")
			break
		if (c == "\"" || c == "'") {
			q = c
			out = out c
			for (i++; i <= n; i++) {
				c = substr(s, i, 1)
				out = out c
				if (c == "\\") {
					out = out substr(s, i + 1, 1)
					i++
				} else if (c == q)
					break
			}
			i++
			continue
		}
		out = out c
		i++
	}
	return out
}

FNR == 1 {
	incomment = 0
	file = FILENAME
	nfiles++
	order_files[nfiles] = file
	if (layer(file) == "")
		outside[++noutside] = file
}

{
	line = uncomment($0)
	if (line !~ /^[ \t]*#[ \t]*include[ \t]*["<]/)
		next
	sub(/^[ \t]*#[ \t]*include[ \t]*/, "", line)
	quoted = substr(line, 1, 1) == "\""
	rest = substr(line, 2)
	end = index(rest, quoted ? "\"" : ">")
	if (end == 0) {
		unresolved[++nunres] = file ":" FNR ": an include the lint cannot read: " $0
		next
	}
	path = substr(rest, 1, end - 1)
	target = "src/" path
	if (!(target in exists)) {
		if (quoted)
			unresolved[++nunres] = file ":" FNR ": \"" path "\" is not a file under src/" \
				" (includes name a header by its layer path, as \"vmm/core/cpu.h\")"
		next # <...>: a system header
	}
	nincl++
	why = layer(target) == "" ? "" : forbidden(layer(file), layer(target))
	if (layer(file) != "" && why != "")
		upward[++nup] = file ":" FNR ": includes " path ": " why
	if (!((file, target) in edge)) {
		edge[file, target] = 1
		nadj[file]++
		adj[file, nadj[file]] = target
	}
}

# Depth-first search: gray nodes are on the current path; an edge to one closes a cycle.
# A cycle is printed from its first file in sort order, so the same cycle always reads the same.
function dfs(u, depth,   k, v, i, c, lo, len) {
	color[u] = 1
	path_at[depth] = u
	depth_of[u] = depth
	for (k = 1; k <= nadj[u]; k++) {
		v = adj[u, k]
		if (color[v] == 1) {
			lo = depth_of[v]
			for (i = depth_of[v]; i <= depth; i++)
				if (path_at[i] < path_at[lo])
					lo = i
			len = depth - depth_of[v] + 1
			c = ""
			for (i = 0; i < len; i++)
				c = c path_at[depth_of[v] + (lo - depth_of[v] + i) % len] " -> "
			cycles[++ncyc] = "cycle: " c path_at[lo]
		} else if (color[v] == 0)
			dfs(v, depth + 1)
	}
	color[u] = 2
}

function report(n, name, count, items,   i) {
	if (count == 0) {
		print "ok " n " - " name
		passed++
		return
	}
	print "not ok " n " - " name
	for (i = 1; i <= count; i++)
		print "#   " items[i]
	failed++
}

END {
	for (i = 1; i <= nfiles; i++)
		if (!color[order_files[i]])
			dfs(order_files[i], 1)
	print "# " nfiles " files, " nincl " includes of files under src/"
	passed = failed = 0
	report(1, "every file under src/ is in a layer", noutside, outside)
	report(2, "every include resolves to a file under src/ by its layer path", nunres, unresolved)
	report(3, "no include goes to a higher layer or another program", nup, upward)
	report(4, "no include cycle", ncyc, cycles)
	print "lint-layers: " passed " passed, " failed " failed"
	exit (failed != 0)
}
EOF
}

tmpd=$(mktemp -d "${TMPDIR:-/tmp}/ferry-lint-layers.XXXXXX") || exit 2
trap 'rm -rf "$tmpd"' EXIT
tmpl=$tmpd/files
awkprog=$tmpd/check.awk
awk_checker >"$awkprog"

if [ "${1:-}" != --self-test ]; then
	scan .
	exit $?
fi

# ---- self-test ---------------------------------------------------------------------------
n=0
fails=0

# put TREE PATH LINE...: write a file of the given lines into the tree.
put() {
	local tree=$1 path=$2
	shift 2
	mkdir -p "$(dirname "$tmpd/$tree/$path")"
	printf '%s\n' "$@" >"$tmpd/$tree/$path"
}

# A small tree that passes: every layer includes the one below, the programs include only
# src/common and themselves, a diamond (not a cycle), system headers, and includes the lint
# must not see (in comments, after a string holding a comment opener).
good() { # TREE
	local t=$1
	put "$t" src/common/err.h '#include <stdarg.h>'
	put "$t" src/common/buf.h '#include "common/err.h"'
	put "$t" src/common/err.c '#include "common/err.h"' '#include "common/buf.h"'
	put "$t" src/vmm/core/cpu.h '#include "common/err.h"'
	put "$t" src/vmm/core/mmu.h '#include "vmm/core/cpu.h"'
	put "$t" src/vmm/core/cpu.c '#include "vmm/core/cpu.h"' '#include "vmm/core/mmu.h"' \
		'/* a comment that mentions' '#include "vmm/control/ctl.h"' '*/' \
		'// #include "vmm/board/machine.h"' 'static const char *s = "/*";' \
		'#include "common/buf.h"'
	put "$t" src/vmm/board/machine.h '#include "vmm/core/mmu.h"' '#include "common/buf.h"'
	put "$t" src/vmm/board/machine.c '#  include "vmm/board/machine.h" /* ok */'
	put "$t" src/vmm/devices/uart.h '#include "vmm/board/machine.h"'
	put "$t" src/vmm/devices/uart.c '#include "vmm/devices/uart.h"' '#include <vmm/core/cpu.h>'
	put "$t" src/vmm/state/stream.h '#include "vmm/devices/uart.h"'
	put "$t" src/vmm/migrate/mig.h '#include "vmm/state/stream.h"'
	put "$t" src/vmm/migrate/mig.c '#include "vmm/migrate/mig.h"' '#include "vmm/core/cpu.h"'
	put "$t" src/vmm/control/ctl.h '#include "vmm/migrate/mig.h"'
	put "$t" src/vmm/main.c '#include <stdio.h>' '#include "vmm/control/ctl.h"' \
		'#include "vmm/board/machine.h"'
	put "$t" src/tools/tool.c '#include "common/buf.h"'
	put "$t" src/agent/api.h '#include "common/err.h"'
	put "$t" src/agent/agent.c '#include "agent/api.h"' '#include <sys/socket.h>'
	put "$t" src/cli/cli.c '#include "common/err.h"'
}

# expect NAME CHECK PATTERN TREE: the lint fails on TREE, at check number CHECK only, with a
# line matching PATTERN (CHECK 0: it passes).
expect() {
	local name=$1 check=$2 pattern=$3 tree=$4 out rc bad
	n=$((n + 1))
	out=$(scan "$tmpd/$tree")
	rc=$?
	bad=$(printf '%s\n' "$out" | sed -n 's/^not ok \([0-9]*\) .*/\1/p' | tr '\n' ' ')
	if [ "$check" -eq 0 ] && [ $rc -eq 0 ] && [ -z "$bad" ]; then
		echo "ok $n - self-test: $name passes"
	elif [ "$check" -ne 0 ] && [ $rc -ne 0 ] && [ "$bad" = "$check " ] &&
		printf '%s\n' "$out" | grep -q -- "$pattern"; then
		echo "ok $n - self-test: $name caught ($(printf '%s\n' "$out" | grep -m1 -- "$pattern" | sed 's/^#   //'))"
	else
		echo "not ok $n - self-test: $name (wanted check ${check} to fail with '$pattern'; exit $rc)"
		printf '%s\n' "$out" | sed 's/^/#     /'
		fails=$((fails + 1))
	fi
}

good good
expect "a good tree" 0 "" good

good up
put up src/vmm/core/cpu.c '#include "vmm/core/cpu.h"' '#include "vmm/board/machine.h"'
expect "an upward include (core -> board)" 3 \
	'src/vmm/core/cpu.c:2: includes vmm/board/machine.h: src/vmm/core may not include src/vmm/board (a higher layer)' up

good upangle
put upangle src/vmm/board/machine.c '#include "vmm/board/machine.h"' '#include <vmm/migrate/mig.h>'
expect "an upward include in angle brackets (board -> migrate)" 3 \
	'src/vmm/board/machine.c:2: includes vmm/migrate/mig.h: src/vmm/board may not include src/vmm/migrate' upangle

good upmain
put upmain src/vmm/control/ctl.c '#include "vmm/main.c"'
expect "an include of main.c from control" 3 'src/vmm/control may not include src/vmm/main.c' upmain

good cyc1
put cyc1 src/common/buf.h '#include "common/err.h"' '#include "common/buf.h"'
expect "a file that includes itself" 4 'cycle: src/common/buf.h -> src/common/buf.h$' cyc1

good cyc2
put cyc2 src/common/err.h '#include <stdarg.h>' '#include "common/buf.h"'
expect "a cycle of 2 files" 4 'cycle: src/common/buf.h -> src/common/err.h -> src/common/buf.h$' cyc2

good cyc3
put cyc3 src/vmm/devices/a.h '#include "vmm/devices/b.h"'
put cyc3 src/vmm/devices/b.h '#include "vmm/devices/c.h"'
put cyc3 src/vmm/devices/c.h '#include "vmm/board/machine.h"' '#include "vmm/devices/a.h"'
put cyc3 src/vmm/devices/uart.c '#include "vmm/devices/uart.h"' '#include "vmm/devices/b.h"'
expect "a cycle of 3 files within a layer" 4 \
	'cycle: src/vmm/devices/a.h -> src/vmm/devices/b.h -> src/vmm/devices/c.h -> src/vmm/devices/a.h$' cyc3

good cyc3x
put cyc3x src/vmm/core/cpu.h '#include "common/err.h"' '#include "vmm/core/mmu.h"'
put cyc3x src/vmm/core/mmu.h '#include "vmm/core/ram.h"'
put cyc3x src/vmm/core/ram.h '#include "vmm/core/cpu.h"'
expect "a cycle of 3 files reached from another file" 4 \
	'cycle: src/vmm/core/cpu.h -> src/vmm/core/mmu.h -> src/vmm/core/ram.h -> src/vmm/core/cpu.h$' cyc3x

good strq
put strq src/vmm/core/cpu.c '#include "vmm/core/cpu.h"' 'static const char *s = "/*";' \
	'#include "vmm/board/machine.h"'
expect "an upward include after a string holding a comment opener" 3 \
	'src/vmm/core/cpu.c:3: includes vmm/board/machine.h' strq

good aftercomment
put aftercomment src/vmm/core/clock.c '/* the clock */ #include "vmm/devices/uart.h"'
expect "an upward include after a comment on its line" 3 \
	'src/vmm/core/clock.c:1: includes vmm/devices/uart.h' aftercomment

good missing
put missing src/vmm/state/stream.h '#include "vmm/devices/uart.h"' '#include "vmm/state/nope.h"'
expect "a missing header" 2 'src/vmm/state/stream.h:2: "vmm/state/nope.h" is not a file under src/' missing

good relative
put relative src/common/err.c '#include "err.h"'
expect "an include relative to the file, not by layer path" 2 \
	'src/common/err.c:1: "err.h" is not a file under src/' relative

good dotdot
put dotdot src/vmm/migrate/mig.c '#include "../state/stream.h"'
expect "an include through .." 2 '"../state/stream.h" is not a file under src/' dotdot

good tool
put tool src/tools/tool.c '#include "common/buf.h"' '#include "vmm/control/ctl.h"'
expect "a tool that includes the VMM" 3 \
	'src/tools/tool.c:2: includes vmm/control/ctl.h: src/tools may include only src/common' tool

good agent
put agent src/agent/agent.c '#include "agent/api.h"' '#include "vmm/migrate/mig.h"'
expect "the agent including the VMM" 3 'src/agent may include only src/common and itself' agent

good cli
put cli src/cli/cli.c '#include "agent/api.h"'
expect "the CLI including the agent" 3 'src/cli may include only src/common and itself' cli

good vmmtool
put vmmtool src/tools/tool.h '#include "common/err.h"'
put vmmtool src/vmm/control/ctl.h '#include "vmm/migrate/mig.h"' '#include "tools/tool.h"'
expect "the VMM including a tool" 3 'src/vmm/control may not include src/tools (another program)' vmmtool

good outside
put outside src/vmm/helpers.c '#include "common/err.h"'
put outside src/net/sock.c '#include "common/err.h"'
expect "files outside the layers" 1 'src/vmm/helpers.c' outside

echo "lint-layers-self-test: $((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
