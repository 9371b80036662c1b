# shellcheck shell=bash
# tests/netns/lib.sh — hosts on network namespaces (sourced, bash; see
# README.md). Sources tests/integration/lib.sh, whose helpers all work
# unchanged, and adds:
#
#   netns_cluster N    host "c" (PostgreSQL and the coordinators) and
#                      hosts w1..wN, each a network namespace with one
#                      veth on a private bridge and a real address
#                      (10.77.0.0/24; c is 10.77.0.1); sets T_HOST so the
#                      database and the coordinator listen on c's address,
#                      and the workers connect to it over the bridge with
#                      CurveZMQ as in production.
#   netns_host NAME    one more host (namespace, veth, address).
#   netns_cut HOST / netns_heal HOST
#                      a partition: HOST's port on the bridge goes down, so
#                      every packet to or from HOST is silently dropped
#                      (no RST, no error: TCP sessions stay open and resume
#                      on heal, as with a cut cable); heal brings it up.
#   netns_exec HOST CMD...  runs CMD in HOST's namespace.
#   drover, psql       run on host c (the test itself is on no host: its
#                      namespace is not on the bridge).
#
# A worker started with worker_start NAME runs on host NAME when one exists
# (worker_start makes w1..wN's roles; netns_place ROLE HOST places others).
#
# Cleanup, also after a failure or a watchdog stop: every process in the
# namespaces is killed once lib.sh has stopped the daemons, then the
# namespaces, the veths and the bridge are deleted. Namespaces and bridges
# a killed earlier run left (named after its pid: drv<PID>-*) are removed
# at the next start.
#
# Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), iproute2 and nsenter; a
# test exits 77 (skipped, with the reason) where namespaces cannot be made.

_netns_skip() {
    echo "SKIP [$(basename "$0" .sh)]: $*" >&2
    exit 77
}
[[ $(id -u) -eq 0 ]] || _netns_skip "network namespaces need root"
command -v ip >/dev/null || _netns_skip "ip (iproute2) is not installed"
command -v nsenter >/dev/null || _netns_skip "nsenter (util-linux) is not installed"
unshare --net true 2>/dev/null || _netns_skip "cannot create a network namespace here (unshare --net failed)"

source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

NETNS_ID="drv$$"          # prefix of every name this run creates (<= 15 chars with suffixes)
NETNS_NET="10.77.0"       # each run has its own bridge: the same subnet never meets another run's
NETNS_BR="${NETNS_ID}br"
declare -A NETNS_ADDR=()  # host -> address
declare -A NETNS_PORT=()  # host -> its veth's bridge end (in this namespace)
declare -A NETNS_CUT=()   # hosts cut off now
NETNS_HOSTS=()

_netns_ns() { echo "$NETNS_ID-$1"; }

# Leftovers of runs that were SIGKILLed (no cleanup): their pid is gone.
_netns_sweep() {
    local ns pid br
    while read -r ns _; do
        [[ "$ns" =~ ^drv([0-9]+)- ]] || continue
        pid=${BASH_REMATCH[1]}
        kill -0 "$pid" 2>/dev/null && continue
        _netns_kill_in "$ns"
        ip netns del "$ns" 2>/dev/null || true
    done < <(ip netns list 2>/dev/null)
    while read -r br; do
        [[ "$br" =~ ^drv([0-9]+)br$ ]] || continue
        kill -0 "${BASH_REMATCH[1]}" 2>/dev/null || ip link del "$br" 2>/dev/null || true
    done < <(ip -o link show type bridge 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1)
    return 0
}

# SIGKILL every process in namespace $1 (a step's grandchildren included).
_netns_kill_in() {
    local p
    for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
}

_netns_cleanup() {
    local h
    for h in "${NETNS_HOSTS[@]}"; do _netns_kill_in "$(_netns_ns "$h")"; done
    for h in "${NETNS_HOSTS[@]}"; do
        ip netns del "$(_netns_ns "$h")" 2>/dev/null || true
        ip link del "${NETNS_PORT[$h]}" 2>/dev/null || true # gone with its namespace, usually
    done
    ip link del "$NETNS_BR" 2>/dev/null || true
    return 0
}

# Before the daemons are stopped: heal every cut, so workers can hand back
# and deregister.
_netns_heal_all() {
    local h
    for h in "${!NETNS_CUT[@]}"; do netns_heal "$h"; done
    return 0
}

_netns_init() {
    [[ -n "${NETNS_READY:-}" ]] && return 0
    _netns_sweep
    T_CLEANUP_HOOKS+=("_netns_heal_all")
    T_CLEANUP_LATE_HOOKS+=("_netns_cleanup")
    ip link add "$NETNS_BR" type bridge || fail "cannot create bridge $NETNS_BR"
    ip link set "$NETNS_BR" up || fail "cannot bring up bridge $NETNS_BR"
    NETNS_READY=1
}

# netns_host NAME: a namespace with lo and eth0 (address 10.77.0.<n>).
netns_host() {
    local name="$1" ns i port
    _netns_init
    [[ -n "${NETNS_ADDR[$name]:-}" ]] && return 0
    i=$((${#NETNS_HOSTS[@]} + 1))
    ((i < 250)) || fail "netns_host: too many hosts"
    ns=$(_netns_ns "$name")
    port="${NETNS_ID}h$i"
    ip netns add "$ns" || fail "cannot create network namespace $ns"
    NETNS_HOSTS+=("$name")
    NETNS_PORT[$name]=$port
    NETNS_ADDR[$name]="$NETNS_NET.$i"
    ip link add "$port" type veth peer name eth0 netns "$ns" || fail "cannot create the veth of $name"
    ip link set "$port" master "$NETNS_BR" up || fail "cannot attach $port to $NETNS_BR"
    ip -n "$ns" link set lo up || fail "lo up in $ns"
    ip -n "$ns" addr add "$NETNS_NET.$i/24" dev eth0 || fail "address of $name"
    ip -n "$ns" link set eth0 up || fail "eth0 up in $ns"
    T_NS[worker-$name]=$ns # a worker named like the host runs there
}

# netns_place ROLE HOST: processes of ROLE (lib.sh: pg, coordinator,
# coordinator2, worker-NAME) start on HOST.
netns_place() {
    netns_host "$2"
    T_NS[$1]=$(_netns_ns "$2")
}

# netns_cluster N: host c with PostgreSQL and the coordinator(s), hosts w1..wN.
netns_cluster() {
    local i
    netns_host c
    netns_place pg c
    netns_place coordinator c
    netns_place coordinator2 c
    T_HOST=${NETNS_ADDR[c]}
    for ((i = 1; i <= $1; i++)); do netns_host "w$i"; done
}

netns_exec() {
    local ns
    ns=$(_netns_ns "$1")
    shift
    nsenter "--net=/run/netns/$ns" -- "$@"
}

netns_cut() {
    ip link set "${NETNS_PORT[$1]}" down || fail "cannot cut $1 off"
    NETNS_CUT[$1]=1
    log "partition: $1 (${NETNS_ADDR[$1]}) cut off"
}

netns_heal() {
    ip link set "${NETNS_PORT[$1]}" up || fail "cannot heal $1"
    unset "NETNS_CUT[$1]"
    log "partition healed: $1 (${NETNS_ADDR[$1]}) back"
}

# The test's own tools talk to the cluster from host c (once it exists).
_netns_on_c() {
    if [[ -n "${NETNS_ADDR[c]:-}" ]]; then netns_exec c "$@"; else "$@"; fi
}
NETNS_PSQL=$(type -P psql) || _netns_skip "psql is not installed"
drover() { _netns_on_c "$DROVER_BIN/drover" "$@"; }
psql() { _netns_on_c "$NETNS_PSQL" "$@"; }
