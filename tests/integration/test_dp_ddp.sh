#!/usr/bin/env bash
# examples/ddp/train_ddp.py as a gang of 3 runs it (docs/distributed.md,
# "PyTorch DDP"): three independent processes with the gang contract's
# environment, gloo on the CPU, init from env://. Every rank finishes and
# prints the same parameter digest (DDP kept the replicas identical).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/dp_lib.sh"
/usr/bin/python3 -c 'import torch.distributed as d; assert d.is_gloo_available()' 2> /dev/null ||
    fail "python3-torch with gloo is not installed (make deps installs python3-torch)"

dp_start ddp.1.1 3 "$(drover-test-freeport)" 3 \
    /usr/bin/python3 "$T_REPO/examples/ddp/train_ddp.py" --epochs 3 --out "$T_DIR/model.pt"
dp_wait ddp.1.1 3 100
for r in 0 1 2; do
    assert_eq 0 "$(dp_rc ddp.1.1 $r)" "DDP rank $r ($(tail -5 "$T_DIR/ddp.1.1/r$r/out"))"
done
digests=$(cat "$T_DIR"/ddp.1.1/r*/out | grep -o 'params sha256 [0-9a-f]*' | sort -u)
assert_eq 1 "$(echo "$digests" | grep -c .)" "distinct parameter digests across 3 ranks ($digests)"
assert_eq 3 "$(cat "$T_DIR"/ddp.1.1/r*/out | grep -c 'params sha256')" "ranks that reported"
grep -q "^epoch 3/3 loss" "$T_DIR/ddp.1.1/r0/out" || fail "rank 0 printed no loss"
[[ -s "$T_DIR/model.pt" ]] || fail "rank 0 saved no model"
echo "PASS: test_dp_ddp"
