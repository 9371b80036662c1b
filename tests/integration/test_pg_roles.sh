#!/usr/bin/env bash
# The least-privilege PostgreSQL roles of docs/operations.md, run exactly as
# documented: the coordinator works as drover_coordinator (owner of the
# drover schema, nothing more), and a reader (alice) can SELECT the tables
# and views but write nothing.
source "$(dirname "$0")/lib.sh"

doc="$T_REPO/docs/operations.md"
# The SQL block right after the marker comment.
awk '/<!-- pg-roles-sql/ { found = 1; next }
     found && /^```sql/ { inblock = 1; next }
     inblock && /^```/ { exit }
     inblock { print }' "$doc" >"$T_DIR/roles.sql"
grep -q "create role drover_coordinator" "$T_DIR/roles.sql" ||
    fail "no pg-roles-sql block in $doc: $(cat "$T_DIR/roles.sql")"

pg_start
psql_as() { # USER SQL
    psql -X -h 127.0.0.1 -p "$PG_PORT" -U "$1" -d drover -v ON_ERROR_STOP=1 -Atqc "$2"
}
psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atqc 'drop database drover' >/dev/null ||
    fail "cannot drop the test database"
psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -f "$T_DIR/roles.sql" >"$T_DIR/roles.out" 2>&1 || fail "the documented SQL failed: $(cat "$T_DIR/roles.out")"

# shellcheck disable=SC2034 # read by coord_start in lib.sh
DB_CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=drover user=drover_coordinator connect_timeout=5"
coord_start
worker_start w1 2
run=$(submit "$(wf simple)")
assert_eq succeeded "$(wait_run "$run")" "state of a run under the drover_coordinator role"

assert_eq f "$(sql "select rolsuper or rolcreatedb or rolcreaterole from pg_roles where rolname = 'drover_coordinator'")" \
    "drover_coordinator has no superuser/createdb/createrole"
assert_eq drover_coordinator "$(sql "select nspowner::regrole from pg_namespace where nspname = 'drover'")" "owner of schema drover"
assert_eq 0 "$(sql "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname = 'drover' and c.relowner <> 'drover_coordinator'::regrole")" \
    "objects in schema drover not owned by drover_coordinator"

# The reader sees everything...
assert_eq succeeded "$(psql_as alice "select state from drover.run_status where run_id = $run")" "alice reads drover.run_status"
assert_eq 2 "$(psql_as alice "select count(*) from drover.task_status where run_id = $run")" "alice reads drover.task_status"
n=$(psql_as alice "select count(*) from drover.audit where run_id = $run") || fail "alice cannot read drover.audit"
assert_ge "$n" 1 "audit rows alice sees for run $run"
psql_as grafana "select count(*) from drover.task_logs" >/dev/null || fail "grafana cannot read drover.task_logs"
psql_as alice "select name from drover.keys" >/dev/null || fail "alice cannot read drover.keys"

# ...and can change nothing.
for q in "insert into drover.events (run_id, kind, detail) values ($run, 'command', 'forged')" \
    "update drover.runs set state = 'failed' where id = $run" \
    "delete from drover.task_logs" \
    "delete from drover.keys" \
    "create table drover.mine (i int)" \
    "create table public.mine (i int)" \
    "drop view drover.audit"; do
    if psql_as alice "$q" >"$T_DIR/write.out" 2>&1; then
        fail "alice could run: $q"
    fi
    grep -qiE "permission denied|must be owner" "$T_DIR/write.out" || fail "unexpected error for '$q': $(cat "$T_DIR/write.out")"
done
assert_eq succeeded "$(run_state "$run")" "run state after alice's attempts"

# Later starts (migrations re-checked as drover_coordinator) still work.
stop_pid coordinator "$(coord_pid)" || fail "the coordinator exited $? on SIGTERM"
unset 'T_PROCS[coordinator]'
coord_start
run=$(submit "$(wf simple)")
assert_eq succeeded "$(wait_run "$run")" "state of a run after a restart under drover_coordinator"
