#!/usr/bin/env bash
# Catch-up that catches up (issue 13, observation 6), on an injected clock
# (clock_init in lib.sh):
#   1. catchup = "all" with max_active = 1 and catchup_max = 3: of five
#      missed due times the newest three queue behind the active run and run
#      one after the other, oldest first, each once; the other two are
#      skipped, and the catch-up is reported ("5 missed, 3 queued, 2
#      skipped") in `schedule list` and in the schedule_missed event;
#      `schedule list` says "queued" while they wait;
#   2. lateness is a setting: with lateness = "10m" due times seen 2 and 7
#      minutes late still run as on time; with the default (60 s) they were
#      missed (catchup none: not run);
#   3. a manual `schedule trigger` is refused while max_active runs are
#      active, and starts one with --force;
#   4. `schedule next NAME -n 3` previews the next due times;
#   5. re-submitting a paused schedule says it stays paused;
#   6. `drover runs` and `drover status` show the due time of a scheduled run;
#   7. `drover runs --state/--workflow/--since` filter, checked by the
#      coordinator too (a hand-made filter with a bad state is refused).
source "$(dirname "$0")/lib.sh"

D0=$((($(date +%s) / 300 + 3) * 300))
D() { echo $((D0 + 300 * $1)); }
clock_init $((D0 - 30)) $(($(D 0) + 1)) $(($(D 5) + 120))
clock_set $((D0 - 30))

pg_start
coord_start
clock_witness
worker_start w1 4

# sched NAME CATCHUP MAX_ACTIVE EXTRA STEP-COMMAND
sched() {
    printf '%s\n' "workflow = \"$1\";" \
        "schedule = { cron = \"*/5 * * * *\"; timezone = \"UTC\"; catchup = \"$2\"; max_active = $3; $4 };" \
        "steps = ( { name = \"s\"; kind = \"exec\"; argv = [\"/bin/sh\", \"-c\", \"$5\"]; } );" >"$T_DIR/$1.cfg"
    drover submit "$T_DIR/$1.cfg"
}
dues() {
    sql "select coalesce(string_agg(((extract(epoch from due_at)::bigint - $D0) / 300)::text, ' '
                                    order by id), '')
         from drover.runs where schedule = '$1' and due_at is not null"
}
listed() { drover --json schedule list | jq -r --arg n "$1" ".[] | select(.name == \$n) | $2"; }

gate="while [ ! -e $T_DIR/go ]; do sleep 0.05; done"
sched q-all all 1 'catchup_max = 3;' "$gate" >/dev/null || fail "registering q-all exited $?"
sched q-late none 10 'lateness = "10m";' true >/dev/null || fail "registering q-late exited $?"
sched q-dflt none 10 '' true >/dev/null || fail "registering q-dflt exited $?"
assert_eq "3|60" "$(listed q-all '"\(.catchup_max)|\(.lateness_s)"')" "catchup_max and lateness of q-all"
assert_eq "600" "$(listed q-late .lateness_s)" "lateness of q-late"

clock_set $(($(D 0) + 1))
for s in q-all q-late q-dflt; do
    wait_for "$s fires for due time 0" 20 sql_is "select count(*) from drover.runs where schedule = '$s'" 1
done
first=$(sql "select id from drover.runs where schedule = 'q-all'")
wait_for "q-all's first run is running" 20 sql_is "select state from drover.tasks where run_id = $first" running

# ----------------------------- 1 and 2: five due times missed, then back ---
stop_pid coordinator "$(coord_pid)" || fail "the coordinator exited $? on SIGTERM"
unset 'T_PROCS[coordinator]'
clock_set $(($(D 5) + 120))
coord_start
clock_to $(($(D 5) + 120))
wait_for "q-all queued three due times" 20 bash -c "[[ \$(drover --json schedule list |
    jq '.[] | select(.name == \"q-all\") | .queued') == 3 ]]"
assert_eq "0" "$(dues q-all)" "due times run by q-all while its first run is active"
assert_eq "queued" "$(listed q-all .last_outcome)" "q-all's last outcome while due times wait"
report="5 missed, 3 queued, 2 skipped (catchup = all, the oldest skipped: raise catchup_max to keep more)"
assert_eq "$report" "$(listed q-all .last_catchup)" "q-all's catch-up report"
drover schedule list | grep -qF "q-all: last catch-up: $report" || fail "schedule list: $(drover schedule list)"
drover schedule list | grep -qF "q-all: 3 due times queued behind max_active" ||
    fail "schedule list: $(drover schedule list)"
assert_eq 1 "$(sql "select count(*) from drover.events where kind = 'schedule_missed'
                    and detail like 'schedule q-all missed % 5 missed, 3 queued, 2 skipped%'")" \
    "schedule_missed events of q-all with the report"
# lateness: D4 (7 min late) and D5 (2 min late) are in time for q-late only.
wait_for "q-late runs due times 4 and 5" 20 bash -c "[[ \"\$(psql -X -h 127.0.0.1 -p $PG_PORT -U postgres \
    -d drover -Atqc \"select count(*) from drover.runs where schedule = 'q-late'\")\" == 3 ]]"
assert_eq "0 4 5" "$(dues q-late | tr ' ' '\n' | sort -n | paste -sd' ')" "due times run by q-late (lateness 10m)"
assert_eq "0" "$(dues q-dflt)" "due times run by q-dflt (lateness 60 s, catchup none)"
assert_eq "3 missed, 0 queued, 3 skipped (catchup = none)" "$(listed q-late .last_catchup)" "q-late's report"

# ------------------------------------ 3. manual trigger and max_active ---
if out=$(drover schedule trigger q-all 2>&1); then fail "trigger at max_active: accepted: $out"; fi
[[ "$out" == *"has 1 run active (max_active = 1): not started"*"--force"* ]] || fail "trigger refused with: $out"
assert_eq 1 "$(sql "select count(*) from drover.runs where schedule = 'q-all'")" "runs of q-all after a refused trigger"
drover schedule trigger --force q-all >/dev/null || fail "trigger --force exited $?"
assert_eq 2 "$(sql "select count(*) from drover.runs where schedule = 'q-all'")" "runs of q-all after trigger --force"

# ---------------------------------------------------------- 4. preview ---
want=$(for k in 6 7 8; do date -u -d "@$(D $k)" '+%Y-%m-%d %H:%M:%S+00:00'; done)
assert_eq "$want" "$(drover schedule next q-all -n 3)" "drover schedule next q-all -n 3"
assert_eq "$(D 6) $(D 7)" "$(drover --json schedule next q-all -n 2 | jq -r '[.due[].unix] | join(" ")')" \
    "drover --json schedule next"
drover schedule next q-all -n 101 >/dev/null 2>&1 && fail "schedule next -n 101 accepted"

# ----------------------------------------- 1 (cont.): the queue drains ---
touch "$T_DIR/go"
wait_for "q-all ran its queued due times" 60 sql_is "select count(*) from drover.runs
    where schedule = 'q-all' and state = 'succeeded'" 5
assert_eq "0 3 4 5" "$(dues q-all)" "due times run by q-all, in the order started"
assert_eq "" "$(sql "select schedule, due_at from drover.runs where due_at is not null
                     group by schedule, due_at having count(*) > 1")" "due times with two runs"
assert_eq "0|succeeded" "$(listed q-all '"\(.queued)|\(.last_outcome)"')" "q-all once the queue drained"

# ------------------------------------------ 5. a paused schedule stays so ---
drover schedule pause q-dflt >/dev/null || fail "pause q-dflt exited $?"
out=$(sched q-dflt none 10 '' true) || fail "re-registering q-dflt exited $?"
[[ "$out" == *"stays paused (drover schedule resume q-dflt)"* && "$out" != *"next:"* ]] ||
    fail "re-submitting a paused schedule said: $out"
assert_eq true "$(listed q-dflt .paused)" "q-dflt paused after re-submitting"

# ------------------------------------------------- 6. due time shown ---
last=$(sql "select id from drover.runs where schedule = 'q-all' and due_at = to_timestamp($(D 5))")
due5=$(date -d "@$(D 5)" '+%Y-%m-%d %H:%M')
drover runs | grep -E "^ *$last .*$due5" >/dev/null || fail "drover runs shows no due time: $(drover runs)"
assert_eq "$(D 5)000000" "$(drover --json runs | jq -r ".[] | select(.id == $last) | .due_at_us")" \
    "due_at_us in drover --json runs"
drover status "$last" | grep -qE "^due +$due5" || fail "drover status: $(drover status "$last")"

# --------------------------------------------------------- 7. filters ---
ids() { drover --json runs "$@" | jq -r '[.[].id] | join(" ")'; }
assert_eq "$(sql "select string_agg(id::text, ' ' order by id desc) from drover.runs where workflow = 'q-late'")" \
    "$(ids --workflow q-late)" "drover runs --workflow q-late"
assert_eq "$(sql "select string_agg(id::text, ' ' order by id desc) from drover.runs where state = 'succeeded'")" \
    "$(ids --state succeeded --limit 100)" "drover runs --state succeeded"
assert_eq "" "$(ids --state failed)" "drover runs --state failed"
assert_eq "" "$(ids --workflow q-all --since "$(date -d '+1 day' '+%Y-%m-%d')")" "runs since tomorrow"
assert_eq "$(sql "select count(*) from drover.runs")" "$(drover --json runs --since 1h --limit 100 | jq length)" \
    "drover runs --since 1h"
drover runs | grep -qE "^ *ID +WORKFLOW .* DUE" || fail "drover runs header: $(drover runs | head -1)"
drover runs --state nosuch >/dev/null 2>&1 && fail "drover runs --state nosuch accepted"
drover runs --since yesterday >/dev/null 2>&1 && fail "drover runs --since yesterday accepted"
drover-test-zmqpoke -q --proto client --key "$T_KEYS/admin" --server-key "$T_KEYS/coordinator.pub" \
    --msg '{"request_id":3,"runs":{"limit":5,"filter":{"state":"nosuch"}}}' \
    --await 5000 "$COORD_CLIENT_EP" >"$T_DIR/raw.out" || fail "zmqpoke runs exited $?"
jq -e '.error == "ERROR_BAD_REQUEST"' "$T_DIR/raw.out" >/dev/null || fail "raw runs filter: $(cat "$T_DIR/raw.out")"
drover info >/dev/null || fail "the coordinator stopped answering after a bad filter"
log "ok"
