#!/usr/bin/env bash
# deploy/local/cluster.sh brings a whole cluster up on free ports, runs the
# hello example, and 'down' leaves no process behind. Also:
#   - it runs from a copy of the tree in a mode-700 folder (a checkout in a
#     private home folder; as root the postgres user cannot reach it: its
#     data goes elsewhere, issue 14 observation 1), with the default state
#     folder inside that copy;
#   - its PostgreSQL trusts nobody: password (scram-sha-256) only, the
#     passwords in a 0600 file (issue 9 observation 11);
#   - 'up' after a coordinator crash starts the coordinator again and keeps
#     the live workers: no duplicate worker processes (issue 10 obs. 8).
source "$(dirname "$0")/lib.sh"

hello="$T_REPO/examples/hello/pipeline.cfg"
[[ -f "$hello" ]] || fail "$hello is missing"
# The copy: only what cluster.sh needs, in a private folder.
private=$(mktemp -d "${TMPDIR:-/tmp}/drover-private.XXXXXX")
chmod 700 "$private"
mkdir -p "$private/repo/deploy/local"
cp "$T_REPO/deploy/local/cluster.sh" "$private/repo/deploy/local/"
mapfile -t ports < <(freeport 3)
unset DROVER_STATE_DIR
export DROVER_BIN
export DROVER_PG_PORT=${ports[0]} DROVER_CLIENT_PORT=${ports[1]} DROVER_WORKER_PORT=${ports[2]}
unset DROVER_DATABASE
cluster="$private/repo/deploy/local/cluster.sh"
STATE="$private/repo/.state/local"
# At exit: stop the cluster, then remove its PostgreSQL data (outside the
# copy when root) and the copy.
_cluster_cleanup() {
    local pgdir
    pgdir=$(sed -n 's/^PGDIR=//p' "$STATE/cluster.env" 2>/dev/null || true)
    "$cluster" down >/dev/null 2>&1 || true
    [[ -n "$pgdir" && "$pgdir" == /var/tmp/drover-* ]] && rm -rf "$(dirname "$pgdir")"
    rm -rf "$private"
}
T_CLEANUP_HOOKS+=("_cluster_cleanup")

"$cluster" up --workers 2 >"$T_DIR/up.log" 2>&1 || fail "cluster.sh up exited $?: $(cat "$T_DIR/up.log")"
"$cluster" up --workers 2 >"$T_DIR/up2.log" 2>&1 || fail "second cluster.sh up exited $?: $(cat "$T_DIR/up2.log")"
grep -qi "already" "$T_DIR/up2.log" || fail "second up does not say the cluster is already up: $(cat "$T_DIR/up2.log")"
"$cluster" status >"$T_DIR/status.log" 2>&1 || fail "cluster.sh status exited $?"
grep -q "$DROVER_CLIENT_PORT" "$T_DIR/status.log" || fail "status does not show the client port"

export DROVER_COORDINATOR="tcp://127.0.0.1:$DROVER_CLIENT_PORT"
# The cluster is secure: drover finds its admin key through the config file
# that 'up' tells the user to export.
grep -qF "export DROVER_CONFIG=$STATE/drover.cfg" "$T_DIR/up.log" ||
    fail "up does not print the export DROVER_CONFIG line: $(cat "$T_DIR/up.log")"
export DROVER_CONFIG="$STATE/drover.cfg"
unset DROVER_KEY DROVER_COORDINATOR_KEY
for k in coordinator admin local-worker; do
    assert_eq 600 "$(stat -c %a "$STATE/keys/$k")" "mode of the cluster's $k secret key"
done
grep -q "CURVE, allow-listed keys only" "$STATE/coordinator.log" ||
    fail "the local cluster's coordinator does not run with CURVE"
drover workers --json | jq -r '.. | strings' | grep -qx local-2 || fail "worker local-2 is not registered"
timeout 60 drover submit --wait "$hello" >"$T_DIR/hello.out" 2>&1 || fail "hello failed: $(cat "$T_DIR/hello.out")"
"$cluster" psql -Atqc "select state from drover.run_status order by run_id desc limit 1" | grep -qx succeeded ||
    fail "run_status does not show the hello run succeeded"

# --- PostgreSQL trusts nobody ------------------------------------------------
assert_eq 600 "$(stat -c %a "$STATE/pgpass")" "mode of the cluster's PostgreSQL password file"
PGPASSWORD= psql -X -w -h 127.0.0.1 -p "$DROVER_PG_PORT" -U postgres -d drover -Atqc 'select 1' \
    >"$T_DIR/nopw.out" 2>&1 && fail "PostgreSQL let the superuser in without a password"
grep -q "password" "$T_DIR/nopw.out" || fail "connecting without a password failed for another reason: $(cat "$T_DIR/nopw.out")"
grep -q "passfile=$STATE/pgpass" "$STATE/drover.cfg" || fail "the coordinator's conninfo does not use the password file"
pgdir=$(sed -n 's/^PGDIR=//p' "$STATE/cluster.env")
[[ -n "$pgdir" ]] || fail "cluster.env does not record where the PostgreSQL data is"
if [[ $(id -u) -eq 0 ]]; then
    [[ "$pgdir" != "$private"* ]] || fail "as root the PostgreSQL data ($pgdir) is inside the private folder"
fi

# --- up after a coordinator crash: no duplicate workers -----------------------
w1=$(cut -d' ' -f1 "$STATE/worker-local-1.pid")
w2=$(cut -d' ' -f1 "$STATE/worker-local-2.pid")
c1=$(cut -d' ' -f1 "$STATE/coordinator.pid")
kill -KILL "$c1"
wait_for "the crashed coordinator is gone" 10 pid_gone "$c1"
"$cluster" up --workers 2 >"$T_DIR/up3.log" 2>&1 || fail "up after the crash exited $?: $(cat "$T_DIR/up3.log")"
c2=$(cut -d' ' -f1 "$STATE/coordinator.pid")
[[ "$c2" != "$c1" ]] && pid_alive "$c2" || fail "up after the crash did not start a coordinator"
assert_eq "$w1 $w2" "$(cut -d' ' -f1 "$STATE/worker-local-1.pid") $(cut -d' ' -f1 "$STATE/worker-local-2.pid")" \
    "worker pids after up (the live workers are kept)"
for n in 1 2; do
    # Only this cluster's (other clusters may run on this machine).
    assert_eq 1 "$(pgrep -fc -- "--config $STATE/drover.cfg --name local-$n " || true)" \
        "drover-worker processes named local-$n"
done
timeout 60 drover submit --wait "$hello" >"$T_DIR/hello2.out" 2>&1 ||
    fail "hello after the coordinator restart failed: $(cat "$T_DIR/hello2.out")"

pids=$(cut -d' ' -f1 "$STATE"/*.pid 2>/dev/null || true)
pgpid=$(head -1 "$pgdir/data/postmaster.pid" 2>/dev/null || true)
[[ -n "$pids" && -n "$pgpid" ]] || fail "no pid files under $STATE"
"$cluster" down >"$T_DIR/down.log" 2>&1 || fail "cluster.sh down exited $?: $(cat "$T_DIR/down.log")"
for p in $pids $pgpid; do
    wait_for "process $p of the cluster to be gone" 15 pid_gone "$p"
done
"$cluster" status >"$T_DIR/status2.log" 2>&1 || true
grep -qi "running" "$T_DIR/status2.log" && ! grep -qi "not running" "$T_DIR/status2.log" &&
    fail "status after down still says running: $(cat "$T_DIR/status2.log")"
true
