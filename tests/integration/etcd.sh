#!/bin/bash
# etcd.sh - the etcd client (src/agent/etcd.c) against 3 real etcd 3.4 members on loopback.
#
# A throwaway CA and certificates (certtool) in a per-run directory; three members with mutual
# TLS for clients and peers (--client-cert-auth, --peer-client-cert-auth) and --pre-vote, data
# on /dev/shm, random free ports. build/tests/etcdprobe drives the client and prints JSON that
# jq checks: put/get, CAS transactions that win and lose, a lease that is kept alive and one
# that is not (its key goes with it), a watch, a client without a certificate refused, member
# list and status; then kill -9 a follower (operations go on), bring it back, and kill -9 the
# leader while a writer puts every 100 ms and a watch runs on the leader: the writer goes on
# after failover within bounded time, and the watch, reopened on another member from its next
# revision, sees exactly the events a fresh watch from the same start revision sees.
# Everything started here is killed by pid and removed on exit.
#
# Prints TAP and "integration-etcd: N passed, N failed"; exits non-zero on a failure.
set -u
. "$(dirname "$0")/../lib.sh"

run=$(mktemp -d /dev/shm/ferry-etcdit.XXXXXX)
tmp=$(mktemp -d /tmp/ferry-etcdit.XXXXXX)
declare -A mpid
bgpids=()
cleanup() {
	for p in "${mpid[@]}" "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "${mpid[@]}" "${bgpids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$run" "$tmp"
}
trap cleanup EXIT

make -s -C "$FERRY_ROOT" build/tests/etcdprobe >"$tmp/make.log" 2>&1 ||
	{ fail "build etcdprobe" "$(tail -5 "$tmp/make.log")"; finish integration-etcd; }
PROBE=$FERRY_ROOT/build/tests/etcdprobe

# ---- certificates ----------------------------------------------------------------------------
pki=$tmp/pki
mkdir -p "$pki"
cat >"$pki/ca.tmpl" <<EOF
cn = "ferry etcd test CA"
ca
cert_signing_key
expiration_days = 2
EOF
# etcd 3.4's gateway dials its own member with the server certificate: client auth too.
cat >"$pki/member.tmpl" <<EOF
cn = "etcd member"
ip_address = "127.0.0.1"
dns_name = "localhost"
tls_www_server
tls_www_client
signing_key
encryption_key
expiration_days = 2
EOF
cat >"$pki/client.tmpl" <<EOF
cn = "ferry agent"
tls_www_client
signing_key
expiration_days = 2
EOF
mkcerts() {
	local c
	for c in ca member client; do
		certtool --generate-privkey --key-type=ecdsa --outfile "$pki/$c.key" || return 1
	done
	certtool --generate-self-signed --load-privkey "$pki/ca.key" --template "$pki/ca.tmpl" \
		--outfile "$pki/ca.crt" || return 1
	for c in member client; do
		certtool --generate-certificate --load-privkey "$pki/$c.key" --load-ca-certificate \
			"$pki/ca.crt" --load-ca-privkey "$pki/ca.key" --template "$pki/$c.tmpl" \
			--outfile "$pki/$c.crt" || return 1
	done
}
check "throwaway CA, member and client certificates" mkcerts >"$tmp/certtool.log" 2>&1
TLS=(--ca "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key")

# ---- three members -----------------------------------------------------------------------------
used=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		case "$used" in *" $p "*) continue ;; esac
		if ! ss -Hltn "sport = :$p" | grep -q .; then
			used="$used$p "
			echo "$p"
			return
		fi
	done
}
declare -A cport pport
for m in m1 m2 m3; do
	cport[$m]=$(free_port)
	pport[$m]=$(free_port)
done
cluster="m1=https://127.0.0.1:${pport[m1]},m2=https://127.0.0.1:${pport[m2]},m3=https://127.0.0.1:${pport[m3]}"
url() { echo "https://127.0.0.1:${cport[$1]}"; }
start_member() { # NAME
	local m=$1
	etcd --name "$m" --data-dir "$run/$m" \
		--listen-client-urls "$(url "$m")" --advertise-client-urls "$(url "$m")" \
		--listen-peer-urls "https://127.0.0.1:${pport[$m]}" \
		--initial-advertise-peer-urls "https://127.0.0.1:${pport[$m]}" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "ferry-it-$$" \
		--cert-file "$pki/member.crt" --key-file "$pki/member.key" \
		--trusted-ca-file "$pki/ca.crt" --client-cert-auth \
		--peer-cert-file "$pki/member.crt" --peer-key-file "$pki/member.key" \
		--peer-trusted-ca-file "$pki/ca.crt" --peer-client-cert-auth \
		--pre-vote --logger=zap >>"$run/$m.log" 2>&1 &
	mpid[$m]=$!
}
healthy() { # NAME: a linearizable read answers
	curl -sf -m 2 --cacert "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key" \
		-X POST -d '{"key":"AA=="}' "$(url "$1")/v3/kv/range" >/dev/null 2>&1
}
wait_healthy() { # NAME...
	local m ok
	for _ in $(seq 150); do
		ok=1
		for m in "$@"; do healthy "$m" || ok=0; done
		[ "$ok" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}
for m in m1 m2 m3; do start_member "$m"; done
if ! wait_healthy m1 m2 m3; then
	fail "3 members up with mutual TLS" "$(tail -3 "$run/m1.log")"
	
# ---- quorum lost: bounded failure, and a watch told there is no leader ------------------------
alive=()
for m in m1 m2 m3; do [ -n "${mpid[$m]:-}" ] && alive+=("$m"); done
"$PROBE" "${TLS[@]}" --endpoints "$(url "${alive[0]}")" watch it/q/ 0 8 1 >"$tmp/qwatch" 2>&1 &
qwatch=$!
bgpids+=("$qwatch")
sleep 0.5
kill -9 "${mpid[${alive[1]}]}"
wait "${mpid[${alive[1]}]}" 2>/dev/null
unset "mpid[${alive[1]}]"
"$PROBE" "${TLS[@]}" --timeout 1000 --endpoints "$ALL" put it/q/x 1 0 >"$tmp/qput" 2>&1
check "quorum lost: a put fails as unavailable within 3 attempts of 1 s ($(jq .ms "$tmp/qput") ms)" jqt '(.ok | not) and .kind == 1 and .ms < 4000' "$tmp/qput"
echo "# $(jq -r .error "$tmp/qput")"
wait "$qwatch"
check "quorum lost: the open watch ends with \"no leader\" (an error inside its 200 stream)" jqt -s 'any(.[]; .op == "watch-ended" and (.error | test("no leader")))' "$tmp/qwatch"

finish integration-etcd
fi
pass "3 members up with mutual TLS (ports ${cport[m1]} ${cport[m2]} ${cport[m3]})"
ALL="$(url m1),$(url m2),$(url m3)"
probe() { "$PROBE" "${TLS[@]}" --endpoints "$ALL" "$@"; }
jqt() { jq -e "$@" >/dev/null 2>&1; } # jqt FILTER FILE: the filter holds

# ---- key-value and CAS -------------------------------------------------------------------------
probe put it/a one 0 get it/a get it/missing >"$tmp/kv" 2>&1
check "put then get gives the value back" jqt -s '.[0].ok and .[1].found and .[1].kv.value == "one" and .[1].kv.mod_revision == .[0].revision' "$tmp/kv"
check "get of a missing key: not found, no error" jqt -s '.[2].ok and (.[2].found | not)' "$tmp/kv"

probe cas-create it/owner host-a cas-create it/owner host-b >"$tmp/cas" 2>&1
check "CAS create wins once" jqt -s '.[0].ok and .[0].succeeded' "$tmp/cas"
check "CAS create loses the second time and reads the winner" jqt -s '.[1].ok and (.[1].succeeded | not) and .[1].current.value == "host-a"' "$tmp/cas"
rev=$(jq -s '.[1].current.mod_revision' "$tmp/cas")
probe cas-mod it/owner "$((rev - 1))" stale cas-mod it/owner "$rev" host-c get it/owner >"$tmp/casmod" 2>&1
check "CAS on a stale mod_revision loses, on the current one wins" jqt -s '(.[0].succeeded | not) and .[1].succeeded and .[2].kv.value == "host-c"' "$tmp/casmod"

# ---- leases ------------------------------------------------------------------------------------
probe grant 2 grant 2 >"$tmp/grant" 2>&1
live=$(jq -rs '.[0].id' "$tmp/grant")
dead=$(jq -rs '.[1].id' "$tmp/grant")
check "lease granted (TTL 2, ID $live above 2^53: $(jq -n "$live > 9007199254740992"))" jqt -s '.[0].ok and .[0].ttl == 2' "$tmp/grant"
probe put it/live x "$live" put it/dead x "$dead" >/dev/null 2>&1
for _ in 1 2 3 4 5 6 7; do
	probe keepalive "$live" >>"$tmp/keep" 2>&1
	sleep 0.5
done
probe get it/live get it/dead keepalive "$dead" ttl "$dead" >"$tmp/lease" 2>&1
check "keepalive renews the TTL (7 times over 3.5 s)" jqt -s 'all(.[]; .ok and .ttl == 2)' "$tmp/keep"
check "the key of the lease kept alive is still there" jqt -s '.[0].found' "$tmp/lease"
check "a lease not kept alive disappears with its key" jqt -s '(.[1].found | not)' "$tmp/lease"
check "keepalive on the expired lease: ok with TTL 0, timetolive -1" jqt -s '.[2].ok and .[2].ttl == 0 and .[3].ttl == -1' "$tmp/lease"
probe revoke "$live" revoke "$live" >"$tmp/revoke" 2>&1
check "revoke, then revoke again: not found" jqt -s '.[0].ok and (.[1].ok | not) and .[1].kind == 2 and (.[1].error | test("lease not found"))' "$tmp/revoke"

# ---- a watch -------------------------------------------------------------------------------------
from=$(probe get it/a | jq '.revision + 1')
probe watch it/w/ "$from" 5 3 >"$tmp/watch" 2>&1 &
wpid=$!
bgpids+=("$wpid")
sleep 0.3
probe put it/w/1 v1 0 put it/w/1 v2 0 >/dev/null 2>&1
curl -s --cacert "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key" -X POST \
	-d "{\"key\":\"$(printf it/w/1 | base64)\"}" "$(url m2)/v3/kv/deleterange" >/dev/null
wait "$wpid"
check "a watch sees put, put (with prev_kv) and delete" jqt -s '[.[] | select(.op == "event")] | length == 3 and .[0].type == "put" and .[0].kv.value == "v1" and .[1].prev_kv.value == "v1" and .[2].type == "delete"' "$tmp/watch"

# ---- TLS: a client without a certificate ----------------------------------------------------
"$PROBE" --ca "$pki/ca.crt" --timeout 1000 --endpoints "$(url m1)" get it/a >"$tmp/nocert" 2>&1
check "a client without a certificate is refused, the error names the member" jqt -s --arg u "$(url m1)" '(.[0].ok | not) and (.[0].error | startswith("etcd " + $u + ": "))' "$tmp/nocert"
echo "# refused: $(jq -r .error "$tmp/nocert" 2>/dev/null)"

# ---- members ----------------------------------------------------------------------------------
probe members >"$tmp/members" 2>&1
check "member list: 3 members, all reachable, one leader named by all" jqt '.ok and (.members | length == 3 and all(.[]; .reachable) and (map(select(.is_leader)) | length == 1) and (map(.leader) | unique | length == 1))' "$tmp/members"
leader_name() { probe members | jq -r '.members[] | select(.is_leader) | .name' | head -n 1; }
leader=$(leader_name)
follower=m1
[ "$leader" = m1 ] && follower=m2

# ---- kill -9 a follower ------------------------------------------------------------------------
kill -9 "${mpid[$follower]}"
wait "${mpid[$follower]}" 2>/dev/null
unset "mpid[$follower]"
probe puts it/f 10 0 get it/f >"$tmp/follower" 2>&1
check "follower $follower killed: 10 puts and a get go on" jqt -s 'all(.[]; .ok) and .[-1].kv.value == "9"' "$tmp/follower"
echo "# with a follower down: slowest put $(jq -s '[.[] | select(.op == "puts") | .ms] | max' "$tmp/follower") ms"
start_member "$follower"
wait_healthy m1 m2 m3 || fail "follower $follower back" "$(tail -3 "$run/$follower.log")"

# ---- kill -9 the leader while writing and watching ---------------------------------------------
leader=$(leader_name)
others=()
for m in m1 m2 m3; do [ "$m" != "$leader" ] && others+=("$m"); done
LFIRST="$(url "$leader"),$(url "${others[0]}"),$(url "${others[1]}")"
from=$(probe get it/a | jq '.revision + 1')
"$PROBE" "${TLS[@]}" --endpoints "$LFIRST" watch it/l/ "$from" 11 1000 >"$tmp/lwatch" 2>&1 &
bgpids+=($!)
lwatch=$!
"$PROBE" "${TLS[@]}" --endpoints "$LFIRST" puts it/l/k 80 100 >"$tmp/lputs" 2>&1 &
bgpids+=($!)
lputs=$!
sleep 1.5
kill -9 "${mpid[$leader]}"
killed_at=$(date +%s%N)
wait "${mpid[$leader]}" 2>/dev/null
unset "mpid[$leader]"
wait "$lputs"
wait "$lwatch"
new_leader=$(leader_name)
check "leader $leader killed: a new leader ($new_leader) among the others" test -n "$new_leader" -a "$new_leader" != "$leader"
check "writes go on after failover: the last 20 puts all succeeded" jqt -s '.[-20:] | all(.[]; .ok)' "$tmp/lputs"
maxms=$(jq -s '[.[].ms] | max' "$tmp/lputs")
check "no put hung beyond 3 attempts of 2 s (slowest $maxms ms)" jqt -s '[.[].ms] | max < 6500' "$tmp/lputs"
nfail=$(jq -s '[.[] | select(.ok | not)] | length' "$tmp/lputs")
killed_ms=$((killed_at / 1000000))
# the write gap: the longest time between two successful puts (they are 100 ms apart), and
# from the kill to the first success after it
gap=$(jq -s '[.[] | select(.ok) | .at] | [range(1; length) as $i | .[$i] - .[$i - 1]] | max' "$tmp/lputs")
back=$(jq -s --argjson k "$killed_ms" '[.[] | select(.ok and .at > $k) | .at] | min - $k' "$tmp/lputs")
echo "# leader kill: $nfail puts failed, slowest put $maxms ms, longest gap between successful puts $gap ms, first success $back ms after the kill"
jq -c 'select(.ok | not) | {ms, error}' "$tmp/lputs" | sed 's/^/#   failed: /' | head -5
check "the watch on the leader ended and was reopened on another member" jqt -s 'any(.[]; .op == "watch-reopened")' "$tmp/lwatch"
jq -c 'select(.op == "watch-ended" or .op == "watch-reopened") | {op, endpoint, from, next_revision, error}' "$tmp/lwatch" | sed 's/^/#   /'
probe watch it/l/ "$from" 2 1000 >"$tmp/fresh" 2>&1
jq -s -c '[.[] | select(.op == "event") | [.kv.mod_revision, .kv.value]]' "$tmp/lwatch" >"$tmp/seen"
jq -s -c '[.[] | select(.op == "event") | [.kv.mod_revision, .kv.value]]' "$tmp/fresh" >"$tmp/truth"
n_seen=$(jq length "$tmp/seen")
check "the reopened watch missed no event and repeated none ($n_seen events, as a fresh watch from $from)" cmp -s "$tmp/seen" "$tmp/truth"
check "every put reported ok is in the watch" jqt -s --slurpfile seen "$tmp/seen" '[.[] | select(.ok) | .value] - [$seen[0][][1]] | length == 0' "$tmp/lputs"


# ---- quorum lost: bounded failure, and a watch told there is no leader ------------------------
alive=()
for m in m1 m2 m3; do [ -n "${mpid[$m]:-}" ] && alive+=("$m"); done
"$PROBE" "${TLS[@]}" --endpoints "$(url "${alive[0]}")" watch it/q/ 0 8 1 >"$tmp/qwatch" 2>&1 &
qwatch=$!
bgpids+=("$qwatch")
sleep 0.5
kill -9 "${mpid[${alive[1]}]}"
wait "${mpid[${alive[1]}]}" 2>/dev/null
unset "mpid[${alive[1]}]"
"$PROBE" "${TLS[@]}" --timeout 1000 --endpoints "$ALL" put it/q/x 1 0 >"$tmp/qput" 2>&1
check "quorum lost: a put fails as unavailable within 3 attempts of 1 s ($(jq .ms "$tmp/qput") ms)" jqt '(.ok | not) and .kind == 1 and .ms < 4000' "$tmp/qput"
echo "# $(jq -r .error "$tmp/qput")"
wait "$qwatch"
check "quorum lost: the open watch ends with \"no leader\" (an error inside its 200 stream)" jqt -s 'any(.[]; .op == "watch-ended" and (.error | test("no leader")))' "$tmp/qwatch"

finish integration-etcd
