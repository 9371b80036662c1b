#!/usr/bin/env bash
# Catch-up after a long outage: more missed due times than the calendar
# handles in one tick (it takes them 100 at a time). An every-minute
# schedule fires once (minute 0), the coordinator stops, the clock moves to
# minute 150 + 30 s, the coordinator starts. Minute 150 is 30 s old, within
# the 60 s grace, so it is on time and runs under every policy; minutes
# 1..149 were missed: catchup latest runs exactly one of them, the newest
# (149); catchup none runs none.
source "$(dirname "$0")/lib.sh"

M0=$((($(date +%s) / 60 + 15) * 60))
M() { echo $((M0 + 60 * $1)); }
clock_init $((M0 - 30)) $(($(M 0) + 1)) $(($(M 150) + 30))
clock_set $((M0 - 30))

pg_start
coord_start
clock_witness

sched() {
    printf '%s\n' "workflow = \"$1\";" \
        "schedule = { cron = \"* * * * *\"; timezone = \"UTC\"; catchup = \"$2\"; max_active = 10; };" \
        'steps = ( { name = "s"; kind = "exec"; command = "true"; } );' >"$T_DIR/$1.cfg"
    drover submit "$T_DIR/$1.cfg" >/dev/null || fail "registering $1 exited $?"
}
dues() {
    sql "select coalesce(string_agg(((extract(epoch from due_at)::bigint - $M0) / 60)::text, ' '
                                    order by due_at), '')
         from drover.runs where schedule = '$1'"
}
last_due_is() {
    sql_is "select extract(epoch from last_due)::bigint from drover.schedules where name = '$1'" "$2"
}

sched m-latest latest
sched m-none none
clock_set $(($(M 0) + 1))
for s in m-latest m-none; do
    wait_for "$s fires for due time 0" 20 sql_is "select count(*) from drover.runs where schedule = '$s'" 1
done
stop_pid coordinator "$(coord_pid)" || fail "the coordinator exited $? on SIGTERM"
unset 'T_PROCS[coordinator]'
clock_set $(($(M 150) + 30))
coord_start
clock_to $(($(M 150) + 30))
for s in m-latest m-none; do
    wait_for "$s handled due time 150" 20 last_due_is "$s" "$(M 150)"
done
assert_eq "0 150" "$(dues m-none)" "minutes run by m-none (1..149 missed, 150 on time)"
assert_eq "0 149 150" "$(dues m-latest)" "minutes run by m-latest (1..149 missed: only the newest, 149; 150 on time)"
