#!/usr/bin/env bash
# Metrics and health (coordinator/observe.c, worker/wobserve.c): both
# daemons serve /metrics that promtool accepts, /healthz and /readyz; the
# counters move as a run does (transitions, runs, dispatch and hand-off
# latencies, the worker's finished tasks); a standby coordinator is not
# ready; a scrape of a bad path gets 404.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is missing (make deps installs it)"

mapfile -t mports < <(freeport 3)
CM="127.0.0.1:${mports[0]}" WM="127.0.0.1:${mports[1]}" SM="127.0.0.1:${mports[2]}"
T_COORD_EXTRA="metrics_listen = \"$CM\";"
pg_start
coord_start
scrape() { curl -sf "http://$1/metrics"; }
metric() { # metric HOSTPORT 'name{labels}' -> value or 0
    scrape "$1" | awk -v m="$2" '$1 == m { v = $2 } END { print v + 0 }'
}
code() { curl -s -o /dev/null -w '%{http_code}' "http://$1$2"; }
code_is() { [[ "$(code "$1" "$2")" == "$3" ]]; }          # for wait_for (re-evaluated)
metric_is() { [[ "$(metric "$1" "$2")" == "$3" ]]; }

assert_eq 200 "$(code "$CM" /healthz)" "coordinator /healthz"
wait_for "the coordinator is ready" 10 code_is "$CM" /readyz 200
assert_eq 404 "$(code "$CM" /nope)" "an unknown path"

# A worker with its own metrics endpoint (a config of its own).
sed "s|^worker = {|worker = {\n  metrics_listen = \"$WM\";|" "$T_CFG" >"$T_DIR/worker-metrics.cfg"
worker_key_allow
drover-worker --config "$T_DIR/worker-metrics.cfg" --coordinator "$COORD_WORKER_EP" --name wm \
    --slots 2 </dev/null >>"$T_DIR/worker-wm.log" 2>&1 &
T_PROCS[worker-wm]=$!
wait_for "worker wm ready" 20 code_is "$WM" /readyz 200
wait_for "the coordinator counts the worker" 10 metric_is "$CM" drover_workers_connected 1

# promtool's own check of both expositions.
scrape "$CM" >"$T_DIR/coord.prom" || fail "cannot scrape the coordinator"
scrape "$WM" >"$T_DIR/worker.prom" || fail "cannot scrape the worker"
if command -v promtool >/dev/null; then
    promtool check metrics <"$T_DIR/coord.prom" >"$T_DIR/promtool-c.log" 2>&1 ||
        fail "promtool rejects the coordinator's metrics: $(cat "$T_DIR/promtool-c.log")"
    promtool check metrics <"$T_DIR/worker.prom" >"$T_DIR/promtool-w.log" 2>&1 ||
        fail "promtool rejects the worker's metrics: $(cat "$T_DIR/promtool-w.log")"
    promtool check rules "$T_REPO/deploy/monitoring/drover-alerts.yml" >"$T_DIR/promtool-r.log" 2>&1 ||
        fail "promtool rejects deploy/monitoring/drover-alerts.yml: $(cat "$T_DIR/promtool-r.log")"
else
    log "promtool not installed: exposition format checked by the unit tests only"
fi
jq -e '.panels | length > 0' "$T_REPO/deploy/monitoring/grafana-dashboard.json" >/dev/null ||
    fail "deploy/monitoring/grafana-dashboard.json is not a dashboard"

ok0=$(metric "$CM" 'drover_task_transitions_total{state="succeeded"}')
runs0=$(metric "$CM" 'drover_runs_finished_total{state="succeeded"}')
wok0=$(metric "$WM" 'drover_worker_tasks_finished_total{outcome="succeeded"}')
run=$(submit "$(wf diamond)")
assert_eq succeeded "$(wait_run "$run" 60)" "the run"
moved() {
    [[ $(metric "$CM" 'drover_task_transitions_total{state="succeeded"}') -ge $((ok0 + 4)) &&
       $(metric "$CM" 'drover_runs_finished_total{state="succeeded"}') -ge $((runs0 + 1)) &&
       $(metric "$WM" 'drover_worker_tasks_finished_total{outcome="succeeded"}') -ge $((wok0 + 4)) ]]
}
wait_for "the counters to move with the run (4 tasks, 1 run)" 10 moved
[[ $(metric "$CM" drover_dispatch_latency_seconds_count) -ge 4 ]] || fail "dispatch latencies not observed"
[[ $(metric "$CM" drover_handoff_latency_seconds_count) -ge 3 ]] || fail "hand-off latencies not observed"
[[ $(metric "$CM" drover_commit_seconds_count) -ge 1 ]] || fail "commits not observed"
[[ $(metric "$WM" drover_worker_task_duration_seconds_count) -ge 4 ]] || fail "task durations not observed"
assert_eq 0 "$(metric "$CM" 'drover_tasks{state="running"}')" "running tasks after the run"

# A standby coordinator serves /readyz as not ready, saying why.
sed "s|metrics_listen = \"$CM\";|metrics_listen = \"$SM\";|" "$T_CFG" >"$T_DIR/standby.cfg"
sed -i "s|client_endpoint = .*|client_endpoint = \"tcp://127.0.0.1:$(freeport)\";|; s|worker_endpoint = .*|worker_endpoint = \"tcp://127.0.0.1:$(freeport)\";|" "$T_DIR/standby.cfg"
drover-coordinator --config "$T_DIR/standby.cfg" </dev/null >>"$T_DIR/standby.log" 2>&1 &
T_PROCS[standby]=$!
wait_for "the standby's /readyz says it stands by" 20 \
    bash -c "curl -s http://$SM/readyz | grep -q 'standing by'"
assert_eq 503 "$(code "$SM" /readyz)" "standby /readyz"
assert_eq 0 "$(metric "$SM" drover_leader)" "drover_leader on the standby"
assert_eq 1 "$(metric "$CM" drover_leader)" "drover_leader on the active one"
log "metrics: promtool-clean, counters moved with run $run, standby not ready"
