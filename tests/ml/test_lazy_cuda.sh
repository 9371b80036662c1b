#!/usr/bin/env bash
# Issue 11, observation 4: a train step with gpu = "auto" that the worker
# gave no GPU (CUDA_VISIBLE_DEVICES set and empty, as the worker sets it)
# never loads the CUDA libraries; the glibc loader's own trace (LD_DEBUG=
# libs) is the witness. With the variable unset (drover-task run by hand)
# it still probes, which shows the witness works. Skipped (77) when drover
# was built without CUDA or the CUDA libraries are not installed.
set -euo pipefail
BIN=${DROVER_BIN:?set DROVER_BIN to the build bin directory}
D=$(mktemp -d /tmp/drover-lazycuda.XXXXXX)
trap 'rm -rf "$D"' EXIT
{
    echo "a,b,label"
    for i in $(seq 1 40); do echo "$i,$((i % 7)),c$((i % 2))"; done
} >"$D/t.csv"
export DROVER_OUTPUT_FD=3 DROVER_ARTIFACTS="$D/art"
export DROVER_SPEC="{\"dataset\":\"$D/t.csv\",\"label\":\"label\",\"model\":\"m\",\"epochs\":2,\"gpu\":\"auto\"}"
probe=$(env -u CUDA_VISIBLE_DEVICES LD_DEBUG=libs "$BIN/drover-task" train 3>/dev/null 2>&1 >/dev/null |
        grep -c 'libcudart\|libcublas' || true)
if [[ "$probe" -eq 0 ]]; then
    echo "SKIPPED: this drover-task loads no CUDA library even when it may (built without CUDA, or no CUDA libraries)"
    exit 77
fi
assigned_none=$(CUDA_VISIBLE_DEVICES= LD_DEBUG=libs "$BIN/drover-task" train 3>/dev/null 2>&1 >"$D/out.txt" |
                grep -c 'libcudart\|libcublas' || true)
grep -q "OpenBLAS on the CPU" "$D/out.txt" || { echo "FAIL: the task did not train on the CPU"; cat "$D/out.txt"; exit 1; }
if [[ "$assigned_none" -ne 0 ]]; then
    echo "FAIL: with CUDA_VISIBLE_DEVICES= the task touched the CUDA libraries ($assigned_none loader lines)"
    exit 1
fi
# gpu = "require" without an assigned GPU fails at once, without loading them either
export DROVER_SPEC="${DROVER_SPEC/\"auto\"/\"require\"}"
if CUDA_VISIBLE_DEVICES= "$BIN/drover-task" train 3>/dev/null >/dev/null 2>"$D/err.txt"; then
    echo "FAIL: gpu = require succeeded without a GPU"; exit 1
fi
grep -q "given no GPU" "$D/err.txt" || { echo "FAIL: $(cat "$D/err.txt")"; exit 1; }
echo "ok: no CUDA library loaded for a task given no GPU (the unset case probed: $probe loader lines)"
