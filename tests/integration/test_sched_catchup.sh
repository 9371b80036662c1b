#!/usr/bin/env bash
# Catch-up of due times missed while no coordinator ran, on an injected
# clock (clock_init in lib.sh). Three schedules, */5 in UTC, catchup none,
# latest and all:
#   1. each fires once; the coordinator stops; the clock moves across four
#      more due times (all older than the 60 s grace when it comes back);
#      the coordinator starts: none runs 0 of them, latest 1 (the newest),
#      all 4 (each once); the next due time after that runs for all three;
#   2. the same for schedules registered but never fired before the stop:
#      the missed due times are those after the registration, never older.
source "$(dirname "$0")/lib.sh"

D0=$((($(date +%s) / 300 + 3) * 300))
D() { echo $((D0 + 300 * $1)); }
clock_init $((D0 - 30)) $(($(D 0) + 1)) $(($(D 4) + 120)) $(($(D 5) + 1)) $(($(D 5) + 30)) \
    $(($(D 7) + 120))
clock_set $((D0 - 30))

pg_start
coord_start
clock_witness

sched() {
    printf '%s\n' "workflow = \"$1\";" \
        "schedule = { cron = \"*/5 * * * *\"; timezone = \"UTC\"; catchup = \"$2\"; max_active = 10; };" \
        'steps = ( { name = "s"; kind = "exec"; command = "true"; } );' >"$T_DIR/$1.cfg"
    drover submit "$T_DIR/$1.cfg" >/dev/null || fail "registering $1 exited $?"
}
# dues NAME: the due times of NAME's runs as "k k ..." (k = index of D k).
dues() {
    sql "select coalesce(string_agg(((extract(epoch from due_at)::bigint - $D0) / 300)::text, ' '
                                    order by due_at), '')
         from drover.runs where schedule = '$1'"
}
nruns() { sql "select count(*) from drover.runs where schedule = '$1'"; }
last_due_is() {
    sql_is "select extract(epoch from last_due)::bigint from drover.schedules where name = '$1'" "$2"
}
coord_restart_at() {
    stop_pid coordinator "$(coord_pid)" || fail "the coordinator exited $? on SIGTERM"
    unset 'T_PROCS[coordinator]'
    clock_set "$1"
    coord_start
}

# --------------------------------------------- 1. after a first fire ---
sched c-none none
sched c-latest latest
sched c-all all
clock_set $(($(D 0) + 1))
for s in c-none c-latest c-all; do
    wait_for "$s fires for due time 0" 20 sql_is "select count(*) from drover.runs where schedule = '$s'" 1
done
coord_restart_at $(($(D 4) + 120))
wait_for "c-all catches up" 20 sql_is "select count(*) from drover.runs where schedule = 'c-all'" 5
# Each miss is recorded once, as the event notifications announce.
for s in c-none c-latest c-all; do
    wait_for "a schedule_missed event for $s" 20 sql_is \
        "select count(*) from drover.events where kind = 'schedule_missed' and detail like 'schedule $s missed%'" 1
done
# No webhook configured: nothing is enqueued for anyone to send.
assert_eq 0 "$(sql "select count(*) from drover.notifications")" "notifications enqueued without a webhook"
for s in c-none c-latest; do
    wait_for "$s handled due time 4" 20 last_due_is "$s" "$(D 4)"
done
clock_to $(($(D 4) + 120))
assert_eq "0" "$(dues c-none)" "due times run by c-none (catchup none)"
assert_eq "0 4" "$(dues c-latest)" "due times run by c-latest (catchup latest)"
assert_eq "0 1 2 3 4" "$(dues c-all)" "due times run by c-all (catchup all)"
clock_set $(($(D 5) + 1))
for s in c-none c-latest c-all; do
    wait_for "$s fires for due time 5" 20 sql_is \
        "select count(*) from drover.runs where schedule = '$s' and extract(epoch from due_at)::bigint = $(D 5)" 1
done
assert_eq "0 5|0 4 5|0 1 2 3 4 5" "$(dues c-none)|$(dues c-latest)|$(dues c-all)" \
    "due times run after the next regular one"

# ------------------------------------- 2. registered, never fired yet ---
clock_to $(($(D 5) + 30))
sched f-latest latest
sched f-all all
coord_restart_at $(($(D 7) + 120))
clock_to $(($(D 7) + 120))
log "f-all ran $(nruns f-all) runs, due times (first 5): $(sql "select string_agg(due_at::text, ', ' order by due_at)
     from (select due_at from drover.runs where schedule = 'f-all' order by due_at limit 5) x")"
assert_eq "6 7" "$(dues f-all)" "due times run by f-all (registered at due 5 + 30 s, never fired, catchup all)"
assert_eq "7" "$(dues f-latest)" "due times run by f-latest (registered, never fired, catchup latest)"
assert_eq "" "$(sql "select schedule, due_at from drover.runs where due_at is not null
                     group by schedule, due_at having count(*) > 1")" "due times with two runs"
