#!/usr/bin/env bash
# bench/ab_w1.sh — two variants of drover side by side on W1's one-workflow
# shape (2 x 10,000 noop steps, 2 x 4 slots), in alternating rounds on one
# private PostgreSQL (bench/lib.sh: a fresh database and coordinator each
# round; which variant goes first alternates). One line per round:
#   VARIANT submit=TASKS/S thr=TASKS/S hot=HOT_UPDATES/UPDATES (drover.tasks)
# and the medians at the end. A variant is a build, SQL run on the fresh
# database after the migrations, and drover-bench's --window:
#   A_BIN / B_BIN        programs (default build/bin)
#   A_SQL / B_SQL        e.g. A_SQL="ALTER TABLE drover.tasks RESET (fillfactor)": the
#                        tasks table as before migration 022, against as it is
#   A_WINDOW / B_WINDOW  submits in flight (default 2; 1 stores them one by one)
#   ROUNDS               pairs of rounds (default 6)
# docs/benchmarks.md "W3's submit, and room for the tasks' updates" used it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
A_BIN="${A_BIN:-$HERE/../build/bin}" B_BIN="${B_BIN:-$HERE/../build/bin}"
export DROVER_BIN="$A_BIN"
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
trap 'b_cleanup' EXIT
trap 'exit 130' INT TERM
b_pg_start
declare -A THR=()
round() { # VARIANT
    local v="$1" bin sql win out
    if [[ "$v" == a ]]; then bin="$A_BIN" sql="${A_SQL:-}" win="${A_WINDOW:-2}"
    else bin="$B_BIN" sql="${B_SQL:-}" win="${B_WINDOW:-2}"; fi
    DROVER_BIN="$bin"
    b_coord_start
    [[ -z "$sql" ]] || psql -X -q "$B_PG_URL/$B_DB" -v ON_ERROR_STOP=1 -c "$sql" >/dev/null ||
        b_die "variant $v: the SQL failed"
    out=$(b_submit --shape indep --steps 10000 --runs 2 --window "$win") || b_die "submit failed"
    b_workers_start
    b_wait_runs_done
    b_workers_stop
    local sub thr hot
    sub=$(awk -v s="$(b_field submit_s "$out")" 'BEGIN { printf "%.0f", 20000 / s }')
    thr=$(b_sql "select round(count(*) / extract(epoch from (max(finished_at) - min(started_at)))) from drover.tasks")
    hot=$(b_sql "select n_tup_hot_upd || '/' || n_tup_upd from pg_stat_user_tables where relname = 'tasks'")
    echo "$v submit=$sub thr=$thr hot=$hot"
    THR[$v]+="$thr "
    b_coord_stop
}
for ((i = 1; i <= ${ROUNDS:-6}; i++)); do
    if ((i % 2)); then round a; round b; else round b; round a; fi
done
# shellcheck disable=SC2086 # word splitting wanted
echo "median throughput: a $(b_median ${THR[a]}) b $(b_median ${THR[b]})"
