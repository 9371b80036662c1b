#!/usr/bin/env bash
# Malformed workflows are rejected with file:line: message and exit 2, and
# nothing reaches the database.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start

counts() { sql "select (select count(*) from drover.runs) || '/' || (select count(*) from drover.tasks)
                       || '/' || (select count(*) from drover.events)"; }
before=$(counts)

check() { # FILE LINE_REGEX
    local f="$T_WF/bad/$1" rc=0
    drover submit "$f" >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
    assert_eq 2 "$rc" "exit status of drover submit $1 ($(cat "$T_DIR/err"))"
    grep -Eq "$1:($2):" "$T_DIR/err" || fail "stderr for $1 lacks '$1:$2:': $(cat "$T_DIR/err")"
    [[ ! -s "$T_DIR/out" ]] || fail "drover submit $1 printed on stdout: $(cat "$T_DIR/out")"
    log "$1 -> $(head -1 "$T_DIR/err")"
}
check unknown_key.cfg 4
check cycle.cfg '3|4'
check unknown_dep.cfg 4
check duplicate.cfg 4
check syntax.cfg 3
check artifact_path.cfg 4       # an output path with ".."
check artifact_ancestor.cfg 5   # an input from a step it does not run after
check artifact_undeclared.cfg 5 # an input its producer does not declare
rc=0
drover submit "$T_DIR/no-such-file.cfg" 2>"$T_DIR/err" || rc=$?
assert_eq 2 "$rc" "exit status of drover submit of a missing file"

assert_eq "$before" "$(counts)" "runs/tasks/events counts after rejected submissions"
