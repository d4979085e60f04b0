#!/bin/bash
# ram-writes.sh - fail if guest RAM can be written other than through ram.h's accessors.
#
# Every write to guest RAM must mark its page dirty, or a migration silently sends a stale
# page. The accessors (ram_write, ram_store, ram_fill, ram_page_for_write) do; this check
# makes sure nothing else writes:
#   1. the mapping (struct ram's `host`) is named only in ram.c and ram.h;
#   2. ram_ptr() (read-only) is never cast to a writable pointer nor used as the destination
#      of memcpy/memset/memmove;
#   3. the one place a write pointer is made from a cached translation is cpu_write_host() (the
#      hart's stores and AMOs), and the one place that fills a TLB entry is cpu_translate(),
#      which takes write pointers only from ram_page_for_write();
#   4. the code-page bitmap (struct ram's `code_pages`), through which the same accessors keep
#      the hart's decode cache coherent, is named only in ram.c and ram.h, and a page leaves
#      it without the hook only from cpu.c (ram_unmark_code, ram_code_forget_all: the decode
#      cache dropping its own pages). Otherwise a write could skip dropping decoded code.
# Scanned: the VMM and what it links (src/vmm, src/common). The agent, the CLI and the tools
# cannot reach guest RAM (tests/lint/layers.sh keeps them out of src/vmm), and their own
# structs may well have a `host` member (a VM's host).
# With --self-test it runs the same patterns over known-bad code and expects each to be found.
cd "$(dirname "$0")/../.."
status=0

scan() { # dir-or-files...: prints violations, returns 1 if any
	local bad=0 hits
	hits=$(grep -nE '(\.|->)host\b' "$@" 2>/dev/null | grep -vE '^src/vmm/core/ram\.[ch]:')
	[ -n "$hits" ] && { echo "RAM mapping used outside ram.c:"; echo "$hits"; bad=1; }
	hits=$(grep -nE '\((uint8_t|uint16_t|uint32_t|uint64_t|char|void) *\*\) *ram_ptr' "$@" 2>/dev/null)
	[ -n "$hits" ] && { echo "ram_ptr() cast to a writable pointer:"; echo "$hits"; bad=1; }
	hits=$(grep -nE 'mem(cpy|set|move) *\( *(\([^)]*\) *)?ram_ptr' "$@" 2>/dev/null)
	[ -n "$hits" ] && { echo "write into ram_ptr():"; echo "$hits"; bad=1; }
	hits=$(grep -nE '\(void \*\) *\(e->addend' "$@" 2>/dev/null | wc -l)
	[ "$hits" -gt 1 ] && { echo "more than one write through a TLB entry:"; grep -nE '\(void \*\) *\(e->addend' "$@"; bad=1; }
	hits=$(grep -nE 'addend *=' "$@" 2>/dev/null | wc -l)
	[ "$hits" -gt 1 ] && { echo "TLB entries filled in more than one place:"; grep -nE 'addend *=' "$@"; bad=1; }
	hits=$(grep -nE '(\.|->)code_pages\b' "$@" 2>/dev/null | grep -vE '^src/vmm/core/ram\.[ch]:')
	[ -n "$hits" ] && { echo "code-page bitmap used outside ram.c:"; echo "$hits"; bad=1; }
	hits=$(grep -nE '\b(ram_unmark_code|ram_code_forget_all) *\(' "$@" 2>/dev/null |
		grep -vE '^src/vmm/core/(ram\.[ch]|cpu\.c):')
	[ -n "$hits" ] && { echo "code page dropped outside the decode cache:"; echo "$hits"; bad=1; }
	return $bad
}

if [ "${1:-}" = --self-test ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	n=0
	fails=0
	for snippet in 'p = m->ram.host + off;' 'uint8_t *p = (uint8_t *)ram_ptr(r, gpa);' \
		'memcpy(ram_ptr(r, gpa), src, 8);' 'memset((void *)ram_ptr(r, gpa), 0, 8);' \
		$'memcpy((void *)(e->addend + va), &v, 8);\nmemcpy((void *)(e->addend + va), &v, 4);' \
		$'e->addend = x;\nf->addend = y;' 'm->ram.code_pages[0] = 0;' \
		'ram_unmark_code(&m->ram, gpa);'; do
		n=$((n + 1))
		printf '%s\n' "$snippet" >"$tmp/bad$n.c"
		if scan "$tmp/bad$n.c" >/dev/null; then
			echo "not ok $n - self-test: '$snippet' not caught"
			fails=$((fails + 1))
			status=1
		else
			echo "ok $n - self-test: caught '$snippet'"
		fi
	done
	echo "lint-self-test: $((n - fails)) passed, $fails failed"
	exit $status
fi

if scan $(find src/vmm src/common -name "*.[ch]" | sort); then
	echo "ok 1 - guest RAM written only through the accessors of ram.h"
	echo "lint-ram-writes: 1 passed, 0 failed"
else
	echo "not ok 1 - guest RAM written only through the accessors of ram.h"
	echo "lint-ram-writes: 0 passed, 1 failed"
	status=1
fi
exit $status
