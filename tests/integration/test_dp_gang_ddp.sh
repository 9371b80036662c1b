#!/usr/bin/env bash
# examples/ddp/train_ddp.py unchanged as a gang of 3 exec members on a real
# local cluster: all three succeed and print the same parameter digest, rank 0
# saves the model.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ml_lib.sh"
source "$(dirname "$0")/dp_lib.sh"
/usr/bin/python3 -c 'import torch.distributed as d; assert d.is_gloo_available()' 2> /dev/null ||
    fail "python3-torch with gloo is not installed (make deps installs python3-torch)"

dp_cluster 3

mkdir -p "$T_DIR/ddp"
cat > "$T_DIR/ddp.cfg" <<CFG
workflow = "ddp";
steps = ({ name = "train"; kind = "exec"; nodes = 3; cwd = "$T_DIR/ddp";
           argv = ["/usr/bin/python3", "$T_REPO/examples/ddp/train_ddp.py", "--epochs", "2",
                   "--out", "$T_DIR/ddp/model.pt"]; });
CFG
run=$(submit "$T_DIR/ddp.cfg")
assert_eq succeeded "$(wait_run "$run" 90)" "DDP gang run"
digests=$(for r in 0 1 2; do task_stream "$run" "train[$r]" 1 1; done | grep -o 'params sha256 [0-9a-f]*' | sort | uniq -c)
[[ "$(echo "$digests" | wc -l)" == 1 && "$digests" == *" 3 params sha256 "* ]] ||
    fail "DDP ranks' parameter digests: $digests"
[[ -s "$T_DIR/ddp/model.pt" ]] || fail "rank 0 saved no model"
log "ok: PyTorch DDP as a gang of 3, identical parameters"
echo "PASS: test_dp_gang_ddp"
