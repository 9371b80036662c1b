#!/usr/bin/env bash
# Data-triggered retraining (docs/scheduling.md, "Data triggers"): a
# trigger with min_new_rows = 10 on a folder of CSV files.
#   1. a file with 6 rows: the coordinator counts them (pending_rows = 6 in
#      `drover --json schedule list`) and starts nothing;
#   2. a second file with 5 rows: exactly one run, and drover.trigger_files
#      records both files with that run and rows 6 and 5;
#   3. a third file with 12 rows: a second run that consumed only it;
#   4. a fourth with 3 rows: counted, nothing started; no file is in two runs.
# Files are written elsewhere, dated in the past (so they count at once:
# a file counts when its mtime is a second old) and renamed in.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

W="$T_DIR/feedback"
mkdir -p "$W" "$T_DIR/staging"
cat >"$T_DIR/retrain.cfg" <<CFG
workflow = "retrain";
trigger = { watch = "$W"; min_new_rows = 10; };
steps = ( { name = "s"; kind = "exec"; command = "true"; } );
CFG
out=$(drover submit "$T_DIR/retrain.cfg") || fail "drover submit of a triggered workflow exited $?"
log "submit: $out"
[[ "$out" == *"registered trigger retrain"* ]] || fail "drover submit printed '$out'"

# drop NAME ROWS: a CSV with a header and ROWS data lines, renamed into W.
drop() {
    local f="$T_DIR/staging/$1" i
    {
        echo "f0,damage"
        for ((i = 0; i < $2; i++)); do echo "$i.5,minor"; done
    } >"$f"
    touch -d "@$(($(date +%s) - 10))" "$f"
    mv "$f" "$W/$1"
}
trig_json() { drover --json schedule list | jq -c '.[] | select(.name == "retrain")'; }
pending_is() { [[ "$(trig_json | jq .pending_rows)" == "$1" ]]; }
nruns() { sql "select count(*) from drover.runs where schedule = 'retrain'"; }
files_of() {
    sql "select coalesce(string_agg(regexp_replace(path, '.*/', '') || ':' || rows, ' ' order by path), '')
         from drover.trigger_files where name = 'retrain' and run_id = $1"
}

assert_eq '"trigger"|10|0|false' "$(trig_json | jq -r '[.kind, .min_new_rows, .pending_rows, .paused] | map(tojson) | join("|")')" \
    "kind|min_new_rows|pending_rows|paused of the registered trigger"
assert_eq "\"$W\"" "$(trig_json | jq .watch)" "watched folder"

# ---------------------------------------------------------- 1. 6 rows ---
drop a.csv 6
wait_for "the coordinator counted a.csv (pending_rows 6)" 20 pending_is 6
assert_eq 0 "$(nruns)" "runs with 6 of 10 rows"

# --------------------------------------------------------- 2. +5 rows ---
drop b.csv 5
wait_for "a run over a.csv and b.csv" 20 sql_is "select count(*) from drover.runs where schedule = 'retrain'" 1
r1=$(sql "select id from drover.runs where schedule = 'retrain'")
assert_eq "a.csv:6 b.csv:5" "$(files_of "$r1")" "files (rows) consumed by run $r1"
assert_eq succeeded "$(wait_run "$r1")" "state of the first triggered run"
wait_for "nothing pending after the run" 20 pending_is 0
assert_eq 1 "$(nruns)" "runs after 11 rows"

# --------------------------------------------------------- 3. 12 rows ---
drop c.csv 12
wait_for "a second run" 20 sql_is "select count(*) from drover.runs where schedule = 'retrain'" 2
r2=$(sql "select max(id) from drover.runs where schedule = 'retrain'")
assert_eq "c.csv:12" "$(files_of "$r2")" "files (rows) consumed by run $r2"
assert_eq succeeded "$(wait_run "$r2")" "state of the second triggered run"

# ---------------------------------------------------------- 4. 3 rows ---
drop d.csv 3
wait_for "the coordinator counted d.csv only (pending_rows 3)" 20 pending_is 3
assert_eq 2 "$(nruns)" "runs with 3 new rows"
assert_eq "3|3" "$(sql "select count(*) || '|' || count(distinct path) from drover.trigger_files
                        where name = 'retrain'")" "consumed files | distinct paths"
assert_eq 23 "$(sql "select sum(rows) from drover.trigger_files where name = 'retrain'")" "rows consumed in all"
assert_eq 3 "$(trig_json | jq .consumed_files)" "consumed_files in schedule list"
assert_eq "$r2|succeeded" "$(trig_json | jq -r '"\(.last_run)|\(.last_outcome)"')" "last run | outcome of the trigger"
