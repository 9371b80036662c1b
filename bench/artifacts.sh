#!/usr/bin/env bash
# bench/artifacts.sh — artifact transfer between two workers that share no
# folder, through the coordinator's artifact service (issue 12;
# docs/artifacts.md "Figures"), against a plain `cp` between the same
# folders on this machine.
#
# For each size (ART_SIZES, MB; default "100 1000"), ART_RUNS runs
# (default 3) of a two-step workflow: `produce` on worker wa writes SIZE MB
# of fresh random bytes and declares them as an output; `consume` on worker
# wb declares them as an input. The transfer time of a run is the
# consumer's start minus the producer's end (drover.tasks, one host, one
# clock): hashing and storing on wa, the upload, the coordinator's
# verification, the placement, the download, its verification and the copy
# into wb's work folder — everything between "the file exists on A" and
# "the file is in B's work folder". The baseline copies a file of the same
# size from wa's folder to wb's with cp, and with cp + fsync of the copy
# (the artifact path fsyncs what it stores). Prints the median of each, MB/s
# and the ratio. On a busy machine wall time mostly measures the wait for a
# CPU, so it also prints the CPU time (user + system) the coordinator and
# both workers spent per run against cp's own: the cost that does not
# depend on the neighbours. Runs on loopback with CurveZMQ (the integration
# harness; T_INSECURE=1 for plain TCP).
set -euo pipefail
export DROVER_TEST_LIMIT="${DROVER_TEST_LIMIT:-3000}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"

ART_SIZES="${ART_SIZES:-100 1000}"
ART_RUNS="${ART_RUNS:-3}"

artifact_service_start
mkdir -p "$T_DIR/wa" "$T_DIR/wb"
worker_start wa 1 --label a --work-dir "$T_DIR/wa" --artifact-dir "$T_DIR/wa-art"
worker_start wb 1 --label b --work-dir "$T_DIR/wb" --artifact-dir "$T_DIR/wb-art"

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# CPU seconds (user + system, every thread) of the daemons so far.
daemons_cpu() {
    local pid sum=0 tck
    tck=$(getconf CLK_TCK)
    for pid in "$(coord_pid)" "$(worker_pid wa)" "$(worker_pid wb)"; do
        sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$sum / $tck" | bc -l
}
now() { echo "${EPOCHREALTIME/,/.}"; }

# ART_PERF=FILE: a call-graph profile of the three daemons over all the
# runs (perf record -g), written to FILE for `perf report -i FILE`.
if [[ -n "${ART_PERF:-}" ]]; then
    perf record -q -g -o "$ART_PERF" -p "$(coord_pid),$(worker_pid wa),$(worker_pid wb)" \
        >"$T_DIR/perf.log" 2>&1 &
    ART_PERF_PID=$!
    sleep 1 # perf attaches to running processes; give it its moment
fi

for mb in $ART_SIZES; do
    : >"$T_DIR/t_art" && : >"$T_DIR/t_up" && : >"$T_DIR/t_down" && : >"$T_DIR/t_cp" && : >"$T_DIR/t_cps" && : >"$T_DIR/c_art" && : >"$T_DIR/c_cp"
    for i in $(seq 1 "$ART_RUNS"); do
        cat >"$T_DIR/bench.cfg" <<CFG
workflow = "artbench";
steps = (
  { name = "produce"; kind = "exec"; resources = { labels = ["a"]; };
    command = "head -c ${mb}000000 /dev/urandom >big.bin"; outputs = ["big.bin"]; },
  { name = "consume"; kind = "exec"; after = ["produce"]; resources = { labels = ["b"]; };
    inputs = { big = "@produce:big.bin"; }; command = "true"; }
);
CFG
        c0=$(daemons_cpu)
        run=$(submit "$T_DIR/bench.cfg")
        assert_eq succeeded "$(wait_run "$run" 1800)" "benchmark run $run"
        echo "$(daemons_cpu) - $c0" | bc -l >>"$T_DIR/c_art"
        sql "select extract(epoch from (c.started_at - p.finished_at))
             from drover.tasks p join drover.tasks c on c.run_id = p.run_id
             where p.run_id = $run and p.name = 'produce' and c.name = 'consume'" >>"$T_DIR/t_art"
        # Transfer only: the upload (wa -> coordinator) and the download
        # (coordinator -> wb) as the workers time them (their log lines).
        rate_s() { grep -a "artifact .*: $1 [0-9]* bytes in" "$2" | tail -1 | sed 's/.* bytes in \([0-9.]*\) s.*/\1/'; }
        echo "$(rate_s uploaded "$T_DIR/worker-wa.log")" >>"$T_DIR/t_up"
        echo "$(rate_s downloaded "$T_DIR/worker-wb.log")" >>"$T_DIR/t_down"
        # The baseline: the same bytes, from wa's folder to wb's.
        rm -f "$T_DIR/wb/copy.bin"
        t0=$(now)
        cp "$T_DIR/wa/big.bin" "$T_DIR/wb/copy.bin"
        t1=$(now)
        sync -d "$T_DIR/wb/copy.bin"
        t2=$(now)
        echo "$t1 - $t0" | bc -l >>"$T_DIR/t_cp"
        echo "$t2 - $t0" | bc -l >>"$T_DIR/t_cps"
        rm -f "$T_DIR/wb/copy.bin"
        { TIMEFORMAT='%U + %S'; time cp "$T_DIR/wa/big.bin" "$T_DIR/wb/copy.bin"; } 2>"$T_DIR/cpu1"
        bc -l <"$T_DIR/cpu1" >>"$T_DIR/c_cp"
        rm -f "$T_DIR/wb/copy.bin" "$T_DIR/wb/big.bin"
        # Fresh stores, so the next run moves all its bytes again.
        rm -rf "$T_DIR/wa-art/sha256" "$T_DIR/wb-art/sha256" "$T_DIR/artifacts/sha256"
    done
    art=$(median <"$T_DIR/t_art")
    cpm=$(median <"$T_DIR/t_cp")
    cps=$(median <"$T_DIR/t_cps")
    cart=$(median <"$T_DIR/c_art")
    ccp=$(median <"$T_DIR/c_cp")
    up=$(median <"$T_DIR/t_up")
    down=$(median <"$T_DIR/t_down")
    if [[ -n "$up" && -n "$down" ]]; then
        printf 'size %5d MB  transfer only: upload %6.2f s (%6.0f MB/s)   download %6.2f s (%6.0f MB/s)\n' \
            "$mb" "$up" "$(echo "$mb / $up" | bc -l)" "$down" "$(echo "$mb / $down" | bc -l)"
    fi
    printf 'size %5d MB  CPU: artifact (coordinator + both workers) %6.2f s   cp %5.2f s   ratio %5.1fx\n' \
        "$mb" "$cart" "$ccp" "$(echo "$cart / $ccp" | bc -l)"
    printf 'size %5d MB  artifact A->coordinator->B %7.2f s (%6.0f MB/s)   cp %6.2f s (%6.0f MB/s)  ratio %5.1fx   cp+fsync %6.2f s  ratio %5.1fx   [runs: %s]\n' \
        "$mb" "$art" "$(echo "$mb / $art" | bc -l)" "$cpm" "$(echo "$mb / $cpm" | bc -l)" \
        "$(echo "$art / $cpm" | bc -l)" "$cps" "$(echo "$art / $cps" | bc -l)" \
        "$(tr '\n' ' ' <"$T_DIR/t_art")"
done
if [[ -n "${ART_PERF:-}" ]]; then
    kill -INT "$ART_PERF_PID"
    wait "$ART_PERF_PID" || true
fi
