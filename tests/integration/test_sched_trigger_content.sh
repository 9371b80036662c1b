#!/usr/bin/env bash
# Data triggers that know their files (issue 13, observation 7): a trigger
# with min_new_rows = 10 and on_failure = "retry".
#   1. other.csv (12 rows): a run; the same name with new content (15 rows)
#      is new data: a second run; the same bytes again are not;
#   2. rows are counted by the CSV reader training uses: blank lines and
#      malformed records (a wrong number of fields, a stray quote) are
#      reported in `schedule list`, not counted;
#   3. rows appended to a consumed file are detected and reported: only
#      the appended rows count, schedule list names the file, and the run
#      that takes it records a trigger_appended event;
#   4. on_failure = "retry": the files of a failed run return to the pool
#      and the next run takes them; when that run fails too they stay
#      consumed (once per file version, so a bad file is not retried for
#      ever);
#   5. the hashing and counting run off the coordinator's loop: while a
#      large file is being read the coordinator answers (no time is
#      asserted: `drover info` answers, and the rows count once read).
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

W="$T_DIR/feedback"
mkdir -p "$W" "$T_DIR/staging"
cat >"$T_DIR/retrain.cfg" <<CFG
workflow = "retrain";
trigger = { watch = "$W"; min_new_rows = 10; on_failure = "retry"; };
steps = ( { name = "s"; kind = "exec"; argv = ["/bin/sh", "-c", "test ! -e $T_DIR/fail"]; } );
CFG
drover submit "$T_DIR/retrain.cfg" >/dev/null || fail "registering the trigger exited $?"

# put NAME: the staged file moved into W, dated in the past (it counts at once).
put() {
    touch -d "@$(($(date +%s) - 10))" "$T_DIR/staging/$1"
    mv "$T_DIR/staging/$1" "$W/$1"
}
# rows FILE FIRST N: N data rows starting at FIRST (no header).
rows() { gen "$2" "$3" >>"$1"; }
gen() { local i; for ((i = $1; i < $1 + $2; i++)); do echo "$i.5,minor"; done; }
trig() { drover --json schedule list | jq -r ".[] | select(.name == \"retrain\") | $1"; }
is() { [[ "$(trig "$1")" == "$2" ]]; }
nruns() { sql "select count(*) from drover.runs where schedule = 'retrain'"; }
files_of() {
    sql "select coalesce(string_agg(regexp_replace(path, '.*/', '') || ':' || rows, ' ' order by path), '')
         from drover.trigger_files where name = 'retrain' and run_id = $1 and not pooled"
}
newest() { sql "select max(id) from drover.runs where schedule = 'retrain'"; }

# ---------------------------------------------- 1. content, not names ---
echo "f0,damage" >"$T_DIR/staging/other.csv"
rows "$T_DIR/staging/other.csv" 0 12
put other.csv
wait_for "a run over other.csv (12 rows)" 20 sql_is "select count(*) from drover.runs where schedule = 'retrain'" 1
r1=$(newest)
assert_eq succeeded "$(wait_run "$r1")" "state of run $r1"
assert_eq "other.csv:12" "$(files_of "$r1")" "files of run $r1"
echo "f0,damage" >"$T_DIR/staging/other.csv"
rows "$T_DIR/staging/other.csv" 100 15
put other.csv
wait_for "a run over the new other.csv (15 rows)" 20 sql_is "select count(*) from drover.runs where schedule = 'retrain'" 2
r2=$(newest)
assert_eq succeeded "$(wait_run "$r2")" "state of run $r2"
assert_eq "other.csv:15" "$(files_of "$r2")" "files of run $r2"
assert_eq 2 "$(sql "select count(distinct sha256) from drover.trigger_files where path = '$W/other.csv'")" \
    "versions of other.csv consumed"
# The same bytes, rewritten (a new mtime): consumed already. Checked with
# part 2: once c.csv is counted and nothing is being read, other.csv adds
# nothing to pending_rows.
cp "$W/other.csv" "$T_DIR/staging/same.tmp" && mv "$T_DIR/staging/same.tmp" "$T_DIR/staging/other.csv"
put other.csv

# ---------------------------------------------- 2. the training reader ---
{
    echo "f0,damage"
    gen 0 4
    echo
    echo '7.5,minor,extra'
    echo
    gen 4 4
    printf '\r\n'
    echo '9.5,mi"nor'
} >"$T_DIR/staging/c.csv"
put c.csv
wait_for "c.csv counted: 8 rows, the rewritten other.csv nothing" 20 is '"\(.pending_rows)|\(.counting_files)"' "8|0"
assert_eq "3|2" "$(trig '"\(.blank_rows)|\(.malformed_rows)"')" "blank | malformed records of c.csv"
assert_eq 2 "$(nruns)" "runs with 8 of 10 rows"

# ------------------------------------------- 3. appended after consumption ---
touch "$T_DIR/fail" # the next run fails (part 4)
cp "$W/other.csv" "$T_DIR/staging/other.csv"
rows "$T_DIR/staging/other.csv" 200 5
put other.csv
wait_for "a run over c.csv and the grown other.csv (8 + 5 rows)" 20 \
    sql_is "select count(*) from drover.runs where schedule = 'retrain'" 3
r3=$(newest)
assert_eq "c.csv:8 other.csv:20" "$(files_of "$r3")" "files of run $r3"
assert_eq 1 "$(sql "select count(*) from drover.events where kind = 'trigger_appended' and run_id = $r3
                    and detail like '%other.csv grew after it was consumed: 5 rows appended to the 15 consumed%'")" \
    "trigger_appended events of run $r3"

# ------------------------------------------------ 4. on_failure = retry ---
assert_eq failed "$(wait_run "$r3")" "state of run $r3 (fails on purpose)"
wait_for "run $r3's files taken by a new run" 20 sql_is "select count(*) from drover.runs where schedule = 'retrain'" 4
r4=$(newest)
assert_eq "c.csv:8 other.csv:20" "$(files_of "$r4")" "files of run $r4 (returned by $r3)"
assert_eq 1 "$(sql "select count(*) from drover.events where kind = 'trigger_files_returned' and run_id = $r3")" \
    "trigger_files_returned events of run $r3"
assert_eq failed "$(wait_run "$r4")" "state of run $r4 (fails again)"
# Returned once already: they stay consumed, no fifth run. A 1-row witness
# file counted after run $r4 ended proves the trigger looked again.
echo "f0,damage" >"$T_DIR/staging/d.csv"
rows "$T_DIR/staging/d.csv" 0 1
put d.csv
wait_for "only d.csv pending after run $r4" 20 is .pending_rows 1
assert_eq 4 "$(nruns)" "runs after the second failure over the same files"
assert_eq "c.csv:8 other.csv:20" "$(files_of "$r4")" "files of run $r4 after it failed"
rm -f "$T_DIR/fail"

# ------------------------------------------------ 5. off the loop ---
# A file of ~200 MB: while the thread reads it the coordinator answers.
python3 - "$T_DIR/staging/big.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("f0,damage\n")
    line = "0.5,minor\n" * 100000
    for _ in range(200):
        f.write(line)
PY
put big.csv
wait_for "big.csv seen" 20 bash -c "[[ \$(drover --json schedule list | jq '.[] | select(.name == \"retrain\") |
    .counting_files + .pending_rows') -ge 1 ]] || ls $W/big.csv >/dev/null"
drover info >/dev/null || fail "drover info while big.csv is read"
wait_for "big.csv consumed (20,000,000 rows)" 120 sql_is "select rows from drover.trigger_files
    where path = '$W/big.csv'" 20000000
# A figure for the report, not an assertion: the loop's longest iteration.
log "longest loop iteration with a 200 MB trigger file read: $(drover --json info | jq .longest_iteration_us) us"
log "ok"
