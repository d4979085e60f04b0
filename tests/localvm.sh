# localvm.sh - ferry-vm processes on this host for the integration tests that need no lab:
# each with a control socket $FERRY_TMP/NAME.sock and its console and log in $FERRY_TMP/NAME.out.
# The caller sets ctl (ferry-vmctl), lease (the ownership record the VMs share) and kills the
# pids collected in $others on exit; LOCALVM_CONSOLE=null discards the consoles.
ctl=${ctl:-$FERRY_ROOT/build/bin/ferry-vmctl}
others=${others:-}

alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
start_vm() { # NAME ARGS...: a ferry-vm with a control socket NAME.sock; console and log NAME.out
	local name=$1
	shift
	"$FERRY_VM" --memory 128M --console "${LOCALVM_CONSOLE:-stdio}" --control "unix:$FERRY_TMP/$name.sock" --lease "$lease" "$@" \
		</dev/null >"$FERRY_TMP/$name.out" 2>&1 &
	others="$others $!"
	eval "pid_$name=$!"
	for _ in $(seq 1 100); do "$ctl" --timeout 1 "$FERRY_TMP/$name.sock" status >/dev/null 2>&1 && return 0; sleep 0.05; done
	return 1
}
c() { "$ctl" --timeout 10 "$FERRY_TMP/$1.sock" "${@:2}"; }
bad() { grep -E 'MISMATCH|FAILED|ERROR|WARNING:|BUG:|Oops|Kernel panic|illegal instruction|SIGILL' "$@" 2>/dev/null | head -3; }
token() { # NAME: a fresh token in NAME.token (mode 600)
	(umask 077 && echo "tok-$$-$1-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$FERRY_TMP/$1.token")
}
migrate() { # SRC DST-PORT DST-NAME: migrate with wait, the reply on stdout
	"$ctl" --timeout 120 "$FERRY_TMP/$1.sock" migrate - <<<"{\"addresses\": [\"127.0.0.1:$2\"], \"token\": \"$(cat "$FERRY_TMP/$3.token")\", \"wait\": true}"
}

# A migration's reply (migrate with wait): completed, with equal RAM and device-state hashes on
# both sides. Prints the device-state hash; fails otherwise.
migrated_equal() { # REPLY
	local rs rd ds dd
	read -r rs rd ds dd < <(jq -r '.return | [.ram_hash_source, .ram_hash_destination, .dev_hash_source, .dev_hash_destination] | map(tostring) | @tsv' <<<"$1" 2>/dev/null)
	jq -e '.return.phase == "completed"' <<<"$1" >/dev/null 2>&1 && [ -n "$rs" ] && [ "$rs" = "$rd" ] &&
		[ -n "$ds" ] && [ "$ds" = "$dd" ] && echo "$ds"
}
