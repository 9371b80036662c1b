#!/usr/bin/env bash
# Backup and restore as docs/operations.md tells an operator: pg_dump of the
# drover schema while runs are in flight, restored into a fresh database; a
# coordinator started on the restored database resumes from it: finished
# runs are there, the keys still work, and a run that was waiting in the
# dump finishes.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 1
done_run=$(submit "$(wf simple)")
assert_eq succeeded "$(wait_run "$done_run" 60)" "the run finished before the backup"

# A run held back (its first step waits for a file) is in flight at backup.
cat >"$T_DIR/held.cfg" <<CFG
workflow = "held";
steps = (
  { name = "gate"; kind = "exec"; argv = ["/bin/sh", "-c", "while [ ! -e $T_DIR/go ]; do sleep 0.05; done"]; },
  { name = "after"; kind = "exec"; after = ["gate"]; argv = ["/bin/sh", "-c", "echo resumed"]; }
);
CFG
held_run=$(submit "$T_DIR/held.cfg")
wait_for "gate is running" 30 sql_is "select state from drover.tasks where run_id = $held_run and name = 'gate'" running

# The backup, taken live.
pg_dump -h 127.0.0.1 -p "$PG_PORT" -U postgres -n drover -Fc -f "$T_DIR/drover.dump" drover ||
    fail "pg_dump failed"

# Disaster: the coordinator and worker are gone with their database.
stop_pid worker-w1 "$(worker_pid w1)" || true
unset 'T_PROCS[worker-w1]'
stop_pid coordinator "$(coord_pid)" || fail "coordinator did not stop"
unset 'T_PROCS[coordinator]'

# Restore into a fresh database and point a coordinator at it.
psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc 'create database drover_restored' ||
    fail "cannot create the restore database"
pg_restore -h 127.0.0.1 -p "$PG_PORT" -U postgres -d drover_restored "$T_DIR/drover.dump" ||
    fail "pg_restore failed"
DB_CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=drover_restored user=postgres connect_timeout=5"
rsql() { psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d drover_restored -Atqc "$1"; }
coord_start
touch "$T_DIR/go"
worker_start w2 1
# The worker key and the admin key came back with the dump: w2 registered,
# and this drover call (admin key) is answered.
drover runs --json | jq -e --argjson r "$done_run" '.[] | select(.id == $r and .state == "succeeded")' \
    >/dev/null || fail "the finished run is not listed after the restore"
held_done() { [[ "$(rsql "select state from drover.runs where id = $held_run")" != running ]]; }
wait_for "the run in flight at backup time finishes on the restored database" 60 held_done
assert_eq succeeded "$(rsql "select state from drover.runs where id = $held_run")" "the resumed run"
assert_eq w2 "$(rsql "select worker from drover.tasks where run_id = $held_run and name = 'after'")" \
    "its next step ran on the new worker"
log "restored from pg_dump; run $done_run kept, run $held_run resumed and succeeded"
