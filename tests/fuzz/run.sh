#!/usr/bin/env bash
# run.sh — runs every libFuzzer harness for a fixed time over a scratch copy
# of its seed corpus (the checked-in corpus is never modified).
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS] [HARNESS...]
#
# SECONDS defaults to $FUZZ_SECONDS or 60; FUZZ_JOBS harnesses run at once
# (default 2). Per harness it prints executions, exec/s, coverage and any
# crash; crash inputs are kept in BUILD_DIR/fuzz-artifacts/HARNESS/ and the
# log in BUILD_DIR/fuzz-logs/HARNESS.log. Exit status 1 when any harness
# found a crash, leak, timeout or out-of-memory, else 0.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS] [HARNESS...]}
shift
secs=${1:-${FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
jobs=${FUZZ_JOBS:-2}
all=(fuzz_worker_msg fuzz_coord_msg fuzz_client_request fuzz_client_reply
     fuzz_workflow fuzz_conf fuzz_dataset_csv fuzz_dataset_bin fuzz_serve_predict)
if [ $# -gt 0 ]; then harnesses=("$@"); else harnesses=("${all[@]}"); fi

work=$(mktemp -d "${TMPDIR:-/tmp}/drover-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"

run_one() {
    local h=$1 bin="$build/fuzz/$1" corpus="$work/$1" art="$build/fuzz-artifacts/$1/"
    [ -x "$bin" ] || { echo "$h: $bin not built" >"$build/fuzz-logs/$h.log"; return 1; }
    mkdir -p "$corpus" "$art"
    cp -r "$here/corpus/$h/." "$corpus/" 2>/dev/null || true
    local dict=()
    [ -f "$here/dict/$h.dict" ] && dict=("-dict=$here/dict/$h.dict")
    # -timeout: one input may take at most 10 s (a hang is a finding);
    # -rss_limit_mb: an unbounded allocation is a finding too.
    LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0" \
    "$bin" "$corpus" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art" >"$build/fuzz-logs/$h.log" 2>&1
}

pids=()
names=()
status=0
for h in "${harnesses[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_one "$h" &
    pids+=($!)
    names+=("$h")
done
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then status=1; fi
done

printf '%-22s %12s %10s %8s  %s\n' harness executions exec/s cov result
for h in "${harnesses[@]}"; do
    log="$build/fuzz-logs/$h.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    if grep -qE '^==[0-9]+==ERROR|^SUMMARY: |Test unit written' "$log"; then
        res="CRASH: $(grep -m1 -E 'SUMMARY: |ERROR: libFuzzer' "$log" | cut -c1-100)"
        status=1
    else
        res=ok
    fi
    printf '%-22s %12s %10s %8s  %s\n' "$h" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$res"
done
ls "$build"/fuzz-artifacts/*/ 2>/dev/null | grep -E '^(crash|leak|timeout|oom|slow-unit)-' >/dev/null &&
    echo "crash inputs: $build/fuzz-artifacts/" || true
exit $status
