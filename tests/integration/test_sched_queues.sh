#!/usr/bin/env bash
# Queues (docs/scheduling.md, "Queues and priorities"):
#   1. `drover queue limit q1 1`: at most one step of q1's runs is assigned
#      or running at any sample of drover.tasks, and the steps' [started_at,
#      finished_at] intervals do not overlap, on a worker with room for 4;
#   2. `drover queue pause q1`: a new run's steps stay ready while other
#      queues keep running, `drover why` names the paused queue, and
#      `drover --json queue list` shows ready/running/limit/paused; resume
#      runs them.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 4

# qwf FILE NAME QUEUE N: a workflow of N independent 0.3 s steps in QUEUE.
qwf() {
    {
        echo "workflow = \"$2\"; queue = \"$3\";"
        echo 'steps = ('
        local i
        for ((i = 1; i <= $4; i++)); do
            echo "  { name = \"s$i\"; kind = \"exec\"; command = \"sleep 0.3\"; }$([[ $i -lt $4 ]] && echo ,)"
        done
        echo ');'
    } >"$1"
}
queue_json() { drover --json queue list | jq -c ".[] | select(.name == \"$1\") | {ready, running, limit, paused}"; }
queue_is() { [[ "$(queue_json "$1")" == "$2" ]]; }

# Queues are an admin's to create (the default queue always exists).
drover queue create q1 >/dev/null || fail "drover queue create q1 exited $?"
qwf "$T_DIR/warm.cfg" warm q1 1
run=$(submit "$T_DIR/warm.cfg")
assert_eq succeeded "$(wait_run "$run")" "state of the first run in q1"
assert_eq '{"ready":0,"running":0,"limit":0,"paused":false}' "$(queue_json q1)" "q1 before the limit"

# ------------------------------------------------------------ 1. limit ---
drover queue limit q1 1 >"$T_DIR/limit.out" || fail "drover queue limit q1 1 exited $?"
log "queue limit: $(cat "$T_DIR/limit.out")"
qwf "$T_DIR/lim.cfg" limited q1 4
run=$(submit "$T_DIR/lim.cfg")
busy_in_q1() {
    sql "select count(*) from drover.tasks t join drover.runs r on r.id = t.run_id
         where r.queue = 'q1' and t.state in ('assigned', 'running')"
}
samples=0
sample() {
    local n
    n=$(busy_in_q1)
    samples=$((samples + 1))
    [[ "$n" -le 1 ]] || echo "$n steps of q1 busy at once" >>"$T_DIR/violations"
    # While it runs the listing agrees with the limit.
    n=$(drover --json queue list | jq '.[] | select(.name == "q1") | .running')
    [[ "$n" -le 1 ]] || echo "queue list says $n running in q1" >>"$T_DIR/violations"
    [[ "$(run_state "$run")" != running ]]
}
wait_for "the limited run finishes (sampling drover.tasks)" 60 sample
log "$samples samples"
assert_eq succeeded "$(run_state "$run")" "state of the limited run"
[[ ! -e "$T_DIR/violations" ]] || fail "limit 1 broken: $(sort -u "$T_DIR/violations")"
overlaps=$(sql "select count(*) from drover.tasks a join drover.tasks b
                  on a.run_id = b.run_id and a.id < b.id
                where a.run_id = $run
                  and a.started_at < b.finished_at and b.started_at < a.finished_at")
assert_eq 0 "$overlaps" "pairs of q1 steps whose [started_at, finished_at] overlap"
assert_eq 4 "$(sql "select count(*) from drover.tasks where run_id = $run and started_at is not null
                    and finished_at is not null")" "steps with both times recorded"

# The same four steps in the default queue do overlap on this worker, so the
# check above can fail.
qwf "$T_DIR/free.cfg" free default 4
run=$(submit "$T_DIR/free.cfg")
assert_eq succeeded "$(wait_run "$run")" "state of the unlimited run"
assert_ge "$(sql "select count(*) from drover.tasks a join drover.tasks b
                    on a.run_id = b.run_id and a.id < b.id
                  where a.run_id = $run
                    and a.started_at < b.finished_at and b.started_at < a.finished_at")" 1 \
    "overlapping pairs in the unlimited default queue"

# ------------------------------------------------------------ 2. pause ---
drover queue pause q1 >"$T_DIR/pause.out" || fail "drover queue pause q1 exited $?"
qwf "$T_DIR/paused.cfg" paused q1 2
run=$(submit "$T_DIR/paused.cfg")
# Proof the dispatcher went on placing while q1 waited: a later run in
# another queue runs to the end.
qwf "$T_DIR/other.cfg" other default 1
other=$(submit "$T_DIR/other.cfg")
assert_eq succeeded "$(wait_run "$other")" "state of a run in another queue while q1 is paused"
assert_eq "ready ready" "$(sql "select string_agg(state, ' ' order by name) from drover.tasks
                                where run_id = $run")" "states of q1's steps while it is paused"
assert_eq "queue q1 is paused (drover queue resume q1)" "$(drover why "$run" s1)" "drover why s1"
assert_eq '{"ready":2,"running":0,"limit":1,"paused":true}' "$(queue_json q1)" "q1 while paused"
drover queue list >"$T_DIR/queues.txt" || fail "drover queue list exited $?"
grep -Eq '^q1 +2 +0 +1 +yes' "$T_DIR/queues.txt" || fail "drover queue list: $(cat "$T_DIR/queues.txt")"

drover queue resume q1 >/dev/null || fail "drover queue resume q1 exited $?"
assert_eq succeeded "$(wait_run "$run")" "state of the q1 run after resume"
assert_eq '{"ready":0,"running":0,"limit":1,"paused":false}' "$(queue_json q1)" "q1 after resume"
# The limit and the pause live in the database: a restarted coordinator keeps the limit.
assert_eq "1|false" "$(sql "select max_running || '|' || paused from drover.queues where name = 'q1'")" \
    "drover.queues row of q1"
