#!/usr/bin/env bash
# A gang step across hosts (issue 17, docs/distributed.md), on network
# namespaces: three workers on hosts of their own, no advertise_addr. Each
# member's MASTER_ADDR and DROVER_GANG_HOSTS are the workers' own addresses
# as the coordinator saw them connect (10.77.0.x, never loopback), the
# hostfile has one line per host, and the members meet over the bridge:
# rank 0 listens on MASTER_PORT, the others connect from their hosts.
source "$(dirname "$0")/lib.sh"

netns_cluster 3
pg_start
coord_start
for i in 1 2 3; do worker_start "w$i" 1; done
mkdir -p "$T_DIR/work"
sed -e "s|@DIR@|$T_DIR|g" -e "s|@SRC@|$T_REPO/tests/integration|g" -e "s|@MODE@|ok|g" -e "s|@EXTRA@||g" \
    "$T_REPO/tests/integration/workflows/gang.cfg" >"$T_DIR/gang.cfg"
run=$(submit "$T_DIR/gang.cfg")
assert_eq succeeded "$(wait_run "$run" 60)" "gang run across hosts"

val() { sed -n "s/^$2=//p" "$T_DIR/member.$1.1"; }
hosts=""
for r in 0 1 2; do
    [[ -e "$T_DIR/rendezvous.$r.1" ]] || fail "member $r did not complete the rendezvous"
    w=$(task_field "$run" "ddp[$r]" worker)
    hosts+="${hosts:+,}${NETNS_ADDR[$w]}"
    assert_eq "$(val 0 MASTER_PORT)" "$(val "$r" MASTER_PORT)" "MASTER_PORT of member $r"
done
w0=$(task_field "$run" 'ddp[0]' worker)
assert_eq "${NETNS_ADDR[$w0]}" "$(val 1 MASTER_ADDR)" "MASTER_ADDR: rank 0's host"
assert_eq "$hosts" "$(val 2 DROVER_GANG_HOSTS)" "DROVER_GANG_HOSTS in rank order"
want=$(for h in ${hosts//,/ }; do printf '%s slots=1;' "$h"; done)
assert_eq "$want" "$(val 0 HOSTFILE)" "hostfile: one line per host"
log "ok"
