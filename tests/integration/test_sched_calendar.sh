#!/usr/bin/env bash
# Schedules on an injected clock (DROVER_CLOCK_FILE, see clock_init in
# lib.sh), no waiting for real time:
#   1. submitting a workflow with a schedule registers it;
#   2. moving the clock across three due times one at a time starts exactly
#      three runs with distinct runs.due_at;
#   3. moving it back and forth over a due time, and restarting the
#      coordinator with the clock moved back, starts nothing again;
#   4. two coordinators against one database: the first is killed -9 right
#      after a due time, the standby takes over; then again with a third;
#      no due time ever has two runs;
#   5. schedule list --json, pause (due times pass unrun), resume (from the
#      next due time), trigger (a run now), rm (no more runs).
# No worker: the runs stay running, which max_active = 100 allows.
source "$(dirname "$0")/lib.sh"

# Due times every 5 minutes, at least 10 minutes after the real time (the
# database stamps registrations with real time; the test clock stays ahead).
D0=$((($(date +%s) / 300 + 3) * 300))
D() { echo $((D0 + 300 * $1)); }
clock_init $((D0 - 30)) $(($(D 0) + 1)) $(($(D 1) + 1)) $(($(D 2) + 1)) $(($(D 2) - 10)) \
    $(($(D 2) + 2)) $(($(D 3) + 1)) $(($(D 4) + 1)) $(($(D 5) + 1)) $(($(D 6) + 1)) \
    $(($(D 7) + 1)) $(($(D 8) + 1)) $(($(D 9) + 1))
clock_set $((D0 - 30))

pg_start
coord_start
clock_witness

runs_for() {
    sql "select count(*) from drover.runs where schedule = 'every5' and extract(epoch from due_at)::bigint = $1"
}
has_run_for() { [[ "$(runs_for "$1")" -ge 1 ]]; }
nruns() { sql "select count(*) from drover.runs where schedule = 'every5'"; }
sched_json() { drover --json schedule list | jq -c ".[] | select(.name == \"every5\")"; }

# ------------------------------------------------------------ 1. register ---
cat >"$T_DIR/every5.cfg" <<'CFG'
workflow = "every5";
schedule = { cron = "*/5 * * * *"; timezone = "UTC"; max_active = 100; };
steps = ( { name = "s"; kind = "exec"; command = "true"; } );
CFG
out=$(drover submit "$T_DIR/every5.cfg") || fail "drover submit of a scheduled workflow exited $?"
log "submit: $out"
[[ "$out" == "registered schedule every5 "* ]] || fail "drover submit printed '$out'"
[[ "$out" == *"$(date -u -d "@$D0" +%Y-%m-%d)"?"$(date -u -d "@$D0" +%H:%M:%S)"* ]] ||
    fail "drover submit names the next due time $(date -u -d "@$D0"): '$out'"
assert_eq 0 "$(nruns)" "runs right after registering"
j=$(sched_json)
assert_eq '"schedule"|"*/5 * * * *"|"UTC"|"none"|100|false|null' \
    "$(jq -r '[.kind, .cron, .timezone, .catchup, .max_active, .paused, .last_run] | map(tojson) | join("|")' <<<"$j")" \
    "schedule list --json fields of every5"

# ------------------------------------------------------ 2. three due times ---
for k in 0 1 2; do
    clock_set $(($(D $k) + 1))
    wait_for "the run for due time $k" 20 has_run_for "$(D $k)"
    assert_eq $((k + 1)) "$(nruns)" "runs after due time $k"
done
assert_eq 3 "$(sql "select count(distinct due_at) from drover.runs where schedule = 'every5'")" \
    "distinct due_at of the three runs"
assert_eq "$(D 0) $(D 1) $(D 2)" "$(sql "select string_agg(extract(epoch from due_at)::bigint::text, ' ' order by due_at)
                                        from drover.runs where schedule = 'every5'")" "due_at of the runs"
assert_eq "3|3" "$(sql "select count(*) || '|' || count(run_id) from drover.schedule_fires
                        where name = 'every5' and outcome = 'started'")" "fires | fires with a run"
j=$(sched_json)
assert_eq "$(sql "select id from drover.runs where schedule = 'every5' order by due_at desc limit 1")" \
    "$(jq -r .last_run <<<"$j")" "last_run in schedule list"

# ---------------------------------------------------- 3. back and forth ---
clock_to $(($(D 2) - 10))
clock_to $(($(D 2) + 2))
clock_to $(($(D 2) - 10))
clock_to $(($(D 2) + 1))
assert_eq 1 "$(runs_for "$(D 2)")" "runs for due time 2 after moving the clock back and forth"
# A restart with the clock moved back before the last due time.
stop_pid coordinator "$(coord_pid)" || fail "the coordinator exited $? on SIGTERM"
unset 'T_PROCS[coordinator]'
clock_set $(($(D 2) - 10))
coord_start
clock_to $(($(D 2) - 10))
clock_to $(($(D 2) + 2))
assert_eq 3 "$(nruns)" "runs after a restart with the clock moved back over due time 2"

# ------------------------------------------------- 4. two coordinators ---
# standby NAME: a second coordinator on its own ports, same database, keys
# and clock; prints its client endpoint.
standby() {
    local p
    mapfile -t p < <(freeport 2)
    sed -e "s|client_endpoint = \"$COORD_CLIENT_EP\"|client_endpoint = \"tcp://127.0.0.1:${p[0]}\"|" \
        -e "s|worker_endpoint = \"$COORD_WORKER_EP\"|worker_endpoint = \"tcp://127.0.0.1:${p[1]}\"|" \
        "$T_CFG" >"$T_DIR/$1.cfg"
    grep -q "tcp://127.0.0.1:${p[0]}" "$T_DIR/$1.cfg" || fail "could not write $1's config"
    drover-coordinator --config "$T_DIR/$1.cfg" </dev/null >>"$T_DIR/$1.log" 2>&1 &
    T_PROCS[$1]=$!
    log "$1 pid $! on tcp://127.0.0.1:${p[0]}"
    STANDBY_EP="tcp://127.0.0.1:${p[0]}"
}
standby coordinator-b
B_EP=$STANDBY_EP
wait_for "coordinator-b stands by" 20 grep -q "standing by" "$T_DIR/coordinator-b.log"
clock_set $(($(D 3) + 1))
log "kill -9 coordinator pid $(coord_pid) right after due time 3"
coord_kill9
wait_for "coordinator-b takes over" 20 grep -q "serving clients" "$T_DIR/coordinator-b.log"
export DROVER_COORDINATOR=$B_EP
clock_to $(($(D 3) + 1))
assert_eq 1 "$(runs_for "$(D 3)")" "runs for due time 3 (first coordinator killed -9 around it)"
log "due time 3 fired by: $(grep -l "fired for $(D 3):" "$T_DIR"/coordinator*.log | xargs -n1 basename | paste -sd' ')"

standby coordinator-c
C_EP=$STANDBY_EP
wait_for "coordinator-c stands by" 20 grep -q "standing by" "$T_DIR/coordinator-c.log"
clock_set $(($(D 4) + 1))
wait_for "the run for due time 4" 20 has_run_for "$(D 4)"
log "kill -9 coordinator-b pid ${T_PROCS[coordinator-b]} right after it fired due time 4"
kill -KILL "${T_PROCS[coordinator-b]}"
wait "${T_PROCS[coordinator-b]}" 2>/dev/null || true
unset 'T_PROCS[coordinator-b]'
wait_for "coordinator-c takes over" 20 grep -q "serving clients" "$T_DIR/coordinator-c.log"
export DROVER_COORDINATOR=$C_EP
clock_to $(($(D 4) + 1))
clock_set $(($(D 5) + 1))
wait_for "the run for due time 5" 20 has_run_for "$(D 5)"
assert_eq 1 "$(runs_for "$(D 4)")" "runs for due time 4 after the takeover"
assert_eq "" "$(sql "select due_at, count(*) from drover.runs where schedule = 'every5'
                     group by due_at having count(*) > 1")" "due times with two runs"
assert_eq 6 "$(nruns)" "runs after six due times"

# ------------------------------------------ 5. pause, resume, trigger, rm ---
drover schedule pause every5 >/dev/null || fail "drover schedule pause exited $?"
assert_eq true "$(sched_json | jq .paused)" "paused in schedule list"
clock_to $(($(D 6) + 1))
clock_to $(($(D 7) + 1))
assert_eq "0|0" "$(runs_for "$(D 6)")|$(runs_for "$(D 7)")" "runs for due times passed while paused"
drover schedule resume every5 >/dev/null || fail "drover schedule resume exited $?"
assert_eq false "$(sched_json | jq .paused)" "paused in schedule list after resume"
clock_set $(($(D 8) + 1))
wait_for "the run for due time 8" 20 has_run_for "$(D 8)"
assert_eq "0|0|7" "$(runs_for "$(D 6)")|$(runs_for "$(D 7)")|$(nruns)" \
    "runs for the paused due times | all runs, after resume"

out=$(drover schedule trigger every5) || fail "drover schedule trigger exited $?"
log "trigger: $out"
manual=$(grep -oE 'run [0-9]+' <<<"$out" | grep -oE '[0-9]+') || fail "drover schedule trigger printed '$out'"
assert_eq "every5|true" "$(sql "select schedule || '|' || (due_at is null) from drover.runs where id = $manual")" \
    "schedule | no due time of the run started by hand"
assert_eq 8 "$(nruns)" "runs after a trigger by hand"

assert_eq "" "$(sql "select name, due_at, count(*) from drover.schedule_fires group by name, due_at
                     having count(*) > 1")" "schedule_fires rows per due time above one"
assert_eq 7 "$(sql "select count(*) from drover.schedule_fires where name = 'every5' and outcome = 'started'")" \
    "fires of every5"

drover schedule rm every5 >/dev/null || fail "drover schedule rm exited $?"
assert_eq "" "$(sched_json)" "every5 in schedule list after rm"
clock_to $(($(D 9) + 1))
assert_eq "0|8" "$(runs_for "$(D 9)")|$(nruns)" "runs for a due time after rm | all runs (kept)"
assert_eq 0 "$(sql "select count(*) from drover.schedules where name = 'every5'")" "drover.schedules row after rm"
