#!/usr/bin/env bash
# deploy/local/cluster.sh brings a whole cluster up on free ports, runs the
# hello example, and 'down' leaves no process behind.
source "$(dirname "$0")/lib.sh"

hello="$T_REPO/examples/hello/pipeline.cfg"
[[ -f "$hello" ]] || fail "$hello is missing"
mapfile -t ports < <(freeport 3)
export DROVER_STATE_DIR="$T_DIR/cluster" DROVER_BIN
export DROVER_PG_PORT=${ports[0]} DROVER_CLIENT_PORT=${ports[1]} DROVER_WORKER_PORT=${ports[2]}
unset DROVER_DATABASE
cluster="$T_REPO/deploy/local/cluster.sh"
T_CLEANUP_HOOKS+=("'$cluster' down >/dev/null 2>&1")

"$cluster" up --workers 2 >"$T_DIR/up.log" 2>&1 || fail "cluster.sh up exited $?: $(cat "$T_DIR/up.log")"
"$cluster" up --workers 2 >"$T_DIR/up2.log" 2>&1 || fail "second cluster.sh up exited $?: $(cat "$T_DIR/up2.log")"
grep -qi "already" "$T_DIR/up2.log" || fail "second up does not say the cluster is already up: $(cat "$T_DIR/up2.log")"
"$cluster" status >"$T_DIR/status.log" 2>&1 || fail "cluster.sh status exited $?"
grep -q "$DROVER_CLIENT_PORT" "$T_DIR/status.log" || fail "status does not show the client port"

export DROVER_COORDINATOR="tcp://127.0.0.1:$DROVER_CLIENT_PORT"
# The cluster is secure: drover finds its admin key through the config file
# that 'up' tells the user to export.
grep -qF "export DROVER_CONFIG=$DROVER_STATE_DIR/drover.cfg" "$T_DIR/up.log" ||
    fail "up does not print the export DROVER_CONFIG line: $(cat "$T_DIR/up.log")"
export DROVER_CONFIG="$DROVER_STATE_DIR/drover.cfg"
unset DROVER_KEY DROVER_COORDINATOR_KEY
for k in coordinator admin local-worker; do
    assert_eq 600 "$(stat -c %a "$DROVER_STATE_DIR/keys/$k")" "mode of the cluster's $k secret key"
done
grep -q "CURVE, allow-listed keys only" "$DROVER_STATE_DIR/coordinator.log" ||
    fail "the local cluster's coordinator does not run with CURVE"
drover workers --json | jq -r '.. | strings' | grep -qx local-2 || fail "worker local-2 is not registered"
timeout 60 drover submit --wait "$hello" >"$T_DIR/hello.out" 2>&1 || fail "hello failed: $(cat "$T_DIR/hello.out")"
psql -X -h 127.0.0.1 -p "$DROVER_PG_PORT" -U postgres -d drover -Atqc \
    "select state from drover.run_status order by run_id desc limit 1" | grep -qx succeeded ||
    fail "run_status does not show the hello run succeeded"

pids=$(cat "$DROVER_STATE_DIR"/*.pid 2>/dev/null || true)
pgpid=$(head -1 "$DROVER_STATE_DIR/pg/data/postmaster.pid" 2>/dev/null || true)
[[ -n "$pids" && -n "$pgpid" ]] || fail "no pid files under $DROVER_STATE_DIR"
"$cluster" down >"$T_DIR/down.log" 2>&1 || fail "cluster.sh down exited $?: $(cat "$T_DIR/down.log")"
for p in $pids $pgpid; do
    wait_for "process $p of the cluster to be gone" 15 pid_gone "$p"
done
"$cluster" status >"$T_DIR/status2.log" 2>&1 || true
grep -qi "running" "$T_DIR/status2.log" && ! grep -qi "not running" "$T_DIR/status2.log" &&
    fail "status after down still says running: $(cat "$T_DIR/status2.log")"
true
