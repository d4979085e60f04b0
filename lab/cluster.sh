# cluster.sh - a Ferry cluster on a lab run: certificates and configuration made by `ferry
# shellcheck shell=bash
# cluster init` and `ferry host add`, one etcd member and one ferryd in each host's namespace,
# the CLI in the admin namespace (docs/lab.md). Source it after lab/lib.sh; run as root.
#
#   cluster_up P [--memory SIZE] [--vcpus N]   configure the hosts of run P, start etcd and
#                                               the agents, wait until every host is alive
#   cluster_ferry P ARGS...                     run `ferry ARGS` in the admin namespace
#   cluster_etcd_start P HOST [new|existing]    start HOST's etcd member (data on tmpfs)
#   cluster_etcd_kill P HOST                    kill -9 HOST's etcd member
#   cluster_etcd_pid P HOST / cluster_agent_pid P HOST
#   cluster_etcd_leader P                       the host whose member leads
#   cluster_agent_start P HOST / cluster_agent_kill P HOST [SIGNAL]
#   cluster_wait_hosts P N [SECONDS]            until N hosts are alive
#   cluster_forward P [PORT]                    forward 127.0.0.1:PORT (default 7443) to
#                                               vh01's API, for a person on the machine
#
# Layout of a run's cluster, all under $LAB_TMP (removed with the run):
#   etc/          the cluster's /etc/ferry: ca.crt ca.key secret admin.crt admin.key
#                 cluster.json hosts/vhNN.{json,crt,key}
#   hosts/vhNN/   lib/ (the host's /var/lib/ferry), run/ (/run/ferry), log/ (/var/log/ferry)
#   etcd data:    /dev/shm/ferry-lab-P-etcd-vhNN (tmpfs), removed by cluster_down / lab down
# Processes are started with lab_spawn, so `lab down` ends them; their pids are kept in
# $LAB_DIR/cluster/ so a test can kill one of them.

FERRY_BIN=${FERRY_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/bin}
CLUSTER_API_PORT=7443
CLUSTER_ETCD_CLIENT_PORT=2379
CLUSTER_ETCD_PEER_PORT=2380

_cluster_err() { echo "cluster: $*" >&2; }

_cluster_etc() { echo "$LAB_TMP/etc"; }

_cluster_etcd_dir() { echo "/dev/shm/ferry-lab-$1-etcd-$2"; }

_cluster_initial() { # P: the initial-cluster list of every host's member
	local h out=""
	for h in $LAB_HOSTS; do
		out="$out,$h=https://$(lab_addr "$1" "$h" mgmt):$CLUSTER_ETCD_PEER_PORT"
	done
	echo "${out#,}"
}

_cluster_endpoints() { # P: every member's client URL, comma-separated
	local h out=""
	for h in $LAB_HOSTS; do
		out="$out,https://$(lab_addr "$1" "$h" mgmt):$CLUSTER_ETCD_CLIENT_PORT"
	done
	echo "${out#,}"
}

cluster_ferry() { # P ARGS...
	local p=$1
	shift
	lab_load "$p" || return 1
	FERRY_CONFIG_DIR=$(_cluster_etc) lab_exec "$p" admin "$FERRY_BIN/ferry" "$@"
}

_cluster_pidfile() { echo "$LAB_DIR/cluster/$2.$1.pid"; } # KIND HOST

cluster_etcd_pid() { lab_load "$1" && cat "$(_cluster_pidfile etcd "$2")" 2>/dev/null; }
cluster_agent_pid() { lab_load "$1" && cat "$(_cluster_pidfile ferryd "$2")" 2>/dev/null; }

cluster_etcd_start() { # P HOST [new|existing]
	local p=$1 h=$2 state=${3:-new} etc addr dir pid
	lab_load "$p" || return 1
	etc=$(_cluster_etc)
	addr=$(lab_addr "$p" "$h" mgmt) || return 1
	dir=$(_cluster_etcd_dir "$p" "$h")
	mkdir -p "$dir" "$LAB_DIR/cluster"
	chmod 700 "$dir"
	# Each member serves its clients and peers with the host's certificate (issued by
	# `ferry host add` for serverAuth and clientAuth: etcd 3.4's gateway dials its own member
	# with it) and trusts only the cluster's CA, on both sides.
	pid=$(lab_spawn "$p" "$h" "$LAB_DIR/cluster/$h.etcd.log" etcd --name "$h" --data-dir "$dir" \
		--listen-client-urls "https://$addr:$CLUSTER_ETCD_CLIENT_PORT" \
		--advertise-client-urls "https://$addr:$CLUSTER_ETCD_CLIENT_PORT" \
		--listen-peer-urls "https://$addr:$CLUSTER_ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "https://$addr:$CLUSTER_ETCD_PEER_PORT" \
		--initial-cluster "$(_cluster_initial "$p")" --initial-cluster-state "$state" \
		--initial-cluster-token "ferry-lab-$p" \
		--client-cert-auth --trusted-ca-file "$etc/ca.crt" \
		--cert-file "$etc/hosts/$h.crt" --key-file "$etc/hosts/$h.key" \
		--peer-client-cert-auth --peer-trusted-ca-file "$etc/ca.crt" \
		--peer-cert-file "$etc/hosts/$h.crt" --peer-key-file "$etc/hosts/$h.key" \
		--pre-vote --log-level warn) || return 1
	echo "$pid" >"$(_cluster_pidfile etcd "$h")"
	# lab down kills it outright (its data is thrown away with the run)
	echo "$pid $(_lab_starttime "$pid" || echo -)" >>"$LAB_DIR/procs.kill"
}

cluster_etcd_kill() { # P HOST
	local pid
	pid=$(cluster_etcd_pid "$1" "$2") || { _cluster_err "no etcd member on $2"; return 1; }
	kill -KILL "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$(_cluster_pidfile etcd "$2")"
}

# etcdctl from the admin node with the admin certificate.
_cluster_etcdctl() { # P ARGS...
	local p=$1 etc
	shift
	etc=$(_cluster_etc)
	ETCDCTL_API=3 lab_exec "$p" admin etcdctl --endpoints "$(_cluster_endpoints "$p")" \
		--cacert "$etc/ca.crt" --cert "$etc/admin.crt" --key "$etc/admin.key" \
		--dial-timeout 2s --command-timeout 3s "$@"
}

cluster_etcd_leader() { # P: the host whose member leads (empty if none)
	lab_load "$1" || return 1
	_cluster_etcdctl "$1" endpoint status -w json 2>/dev/null |
		jq -r '.[] | select(.Status.header.member_id == .Status.leader) | .Endpoint' |
		head -1 | sed -E 's|https://10\.20\.0\.([0-9]+):.*|\1|' |
		while read -r n; do printf 'vh%02d\n' $((n - 10)); done
}

cluster_agent_start() { # P HOST
	local p=$1 h=$2 pid
	lab_load "$p" || return 1
	mkdir -p "$LAB_DIR/cluster"
	pid=$(lab_spawn "$p" "$h" "$LAB_DIR/cluster/$h.ferryd.log" env FERRY_LOG="${FERRY_AGENT_LOG:-info}" \
		"$FERRY_BIN/ferryd" --config "$(_cluster_etc)/hosts/$h.json") || return 1
	echo "$pid" >"$(_cluster_pidfile ferryd "$h")"
}

cluster_agent_kill() { # P HOST [SIGNAL]
	local pid sig=${3:-KILL}
	pid=$(cluster_agent_pid "$1" "$2") || { _cluster_err "no agent on $2"; return 1; }
	kill "-$sig" "$pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		_cluster_err "agent $pid on $2 did not end after SIG$sig"
		return 1
	fi
	rm -f "$(_cluster_pidfile ferryd "$2")"
}

cluster_wait_hosts() { # P N [SECONDS]: until N hosts are alive
	local p=$1 n=$2 secs=${3:-30} alive
	for _ in $(seq $((secs * 5))); do
		alive=$(cluster_ferry "$p" host ls --json 2>/dev/null | jq '[.hosts[] | select(.alive)] | length' 2>/dev/null)
		[ "${alive:-0}" -ge "$n" ] && return 0
		sleep 0.2
	done
	_cluster_err "only ${alive:-0} of $n hosts alive after $secs s"
	return 1
}

cluster_up() { # P [--memory SIZE] [--vcpus N]
	local p=$1 mem=1G cpus=4 etc h first="" addr peer migs
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--memory) mem=$2; shift 2 ;;
		--vcpus) cpus=$2; shift 2 ;;
		*) _cluster_err "cluster_up: unknown option $1"; return 2 ;;
		esac
	done
	lab_load "$p" || return 1
	etc=$(_cluster_etc)
	mkdir -p "$LAB_DIR/cluster"
	for h in $LAB_HOSTS; do
		addr=$(lab_addr "$p" "$h" mgmt)
		mkdir -p "$LAB_TMP/hosts/$h/lib" "$LAB_TMP/hosts/$h/run" "$LAB_TMP/hosts/$h/log"
		# This host's ends of its migration links, per peer.
		migs=()
		for peer in $LAB_HOSTS; do
			[ "$peer" != "$h" ] || continue
			migs+=(--migration "$peer=$(lab_addr "$p" "$h" mig "$peer" a),$(lab_addr "$p" "$h" mig "$peer" b)")
		done
		local common=(--address "$addr" --memory "$mem" --vcpus "$cpus" --bridge "$LAB_BRIDGE"
			--state-dir "$LAB_TMP/hosts/$h/lib" --run-dir "$LAB_TMP/hosts/$h/run"
			--log-dir "$LAB_TMP/hosts/$h/log" "${migs[@]}")
		if [ -z "$first" ]; then
			first=$h
			FERRY_CONFIG_DIR=$etc "$FERRY_BIN/ferry" cluster init --name "ferry-$p" --host "$h" \
				--etcd "$(_cluster_endpoints "$p")" "${common[@]}" >"$LAB_DIR/cluster/init.out" ||
				{ _cluster_err "ferry cluster init failed"; return 1; }
		else
			FERRY_CONFIG_DIR=$etc "$FERRY_BIN/ferry" host add "$h" "${common[@]}" \
				>>"$LAB_DIR/cluster/init.out" || { _cluster_err "ferry host add $h failed"; return 1; }
		fi
	done
	for h in $LAB_HOSTS; do cluster_etcd_start "$p" "$h" new || return 1; done
	local ok=0
	for _ in $(seq 100); do
		if _cluster_etcdctl "$p" endpoint health >/dev/null 2>&1; then ok=1; break; fi
		sleep 0.2
	done
	[ "$ok" -eq 1 ] || { _cluster_err "the etcd members did not become healthy"; _cluster_etcdctl "$p" endpoint health >&2; return 1; }
	for h in $LAB_HOSTS; do cluster_agent_start "$p" "$h" || return 1; done
	cluster_wait_hosts "$p" "$LAB_NHOSTS" 30
}

cluster_forward() { # P [PORT]: 127.0.0.1:PORT on this machine -> vh01's API
	local p=$1 port=${2:-$CLUSTER_API_PORT} pid
	lab_load "$p" || return 1
	local target
	target=$(lab_addr "$p" vh01 mgmt):$CLUSTER_API_PORT
	# The listening end is in the root namespace, on loopback only; each connection is
	# carried into the admin namespace and on to the agent (by a script: socat's EXEC
	# address would split the target at its colons).
	local hop=$LAB_DIR/cluster/forward-hop.sh
	printf '#!/bin/sh\nexec ip netns exec %s socat STDIO TCP:%s\n' "$LAB_NS_ADMIN" "$target" >"$hop"
	chmod 700 "$hop"
	socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "EXEC:$hop" </dev/null \
		>>"$LAB_DIR/cluster/forward.log" 2>&1 &
	pid=$!
	echo "$pid" >"$LAB_DIR/cluster/forward.pid"
	echo "$port" >"$LAB_DIR/cluster/forward.port"
	printf '%s %s %s %s %s\n' "$pid" "$(_lab_starttime "$pid" || echo -)" admin \
		"$(printf '%q' "$LAB_DIR/cluster/forward.log")" socat >>"$LAB_DIR/procs"
	echo "127.0.0.1:$port"
}
