#!/usr/bin/env bash
# coordinator/db.c: the BEGIN / SAVEPOINT a batch of submits opens is sent
# with its insert, in one round trip; what the server sees in every order
# of calls (a commit or rollback before anything ran sends nothing, a
# refused statement leaves the savepoint to roll back to, another call
# first sends them on their own). drover-test-dbdefer checks each against
# the server's own transaction status.
source "$(dirname "$0")/lib.sh"

pg_start
out=$("$DROVER_BIN/drover-test-dbdefer" "host=127.0.0.1 port=$PG_PORT dbname=drover user=postgres connect_timeout=5" 2>&1) ||
    fail "drover-test-dbdefer: $out"
grep -q "^all [0-9]* checks passed" <<<"$out" || fail "drover-test-dbdefer did not finish: $out"
log "ok: $(tail -1 <<<"$out")"
