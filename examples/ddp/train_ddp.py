#!/usr/bin/env python3
"""A small PyTorch DistributedDataParallel job, as a drover gang member runs it.

Every member of a `nodes = N` step runs this same script; drover sets RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT (docs/distributed.md), so
init_process_group(init_method="env://") finds the others with no torchrun.
Gloo on the CPU. The data are synthetic (a noisy linear rule, the same on
every rank from a fixed seed); DistributedSampler gives each rank its shard.

At the end each rank prints one line "rank R params sha256 HEX": DDP keeps
the replicas identical, so every rank prints the same digest. Rank 0 also
writes the model to --out (default model.pt).

    python3 train_ddp.py [--epochs 5] [--out model.pt]
"""
import argparse
import hashlib
import os
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", default="model.pt")
    args = ap.parse_args()
    for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        if v not in os.environ:
            sys.exit(f"train_ddp.py: {v} is not set: run it as a drover step with nodes > 1")
    timeout = float(os.environ.get("DROVER_GANG_TIMEOUT", "120"))
    import datetime
    dist.init_process_group("gloo", init_method="env://",
                            timeout=datetime.timedelta(seconds=timeout))
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    torch.set_num_threads(1)

    g = torch.Generator().manual_seed(1234)
    X = torch.randn(2048, 16, generator=g)
    w = torch.randn(16, 1, generator=g)
    y = (X @ w + 0.1 * torch.randn(2048, 1, generator=g) > 0).float()
    data = TensorDataset(X, y)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=7)
    loader = DataLoader(data, batch_size=64, sampler=sampler)

    model = DDP(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        total, count = torch.zeros(1), torch.zeros(1)
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()  # DDP averages the gradients across the ranks here
            opt.step()
            total += loss.detach() * len(xb)
            count += len(xb)
        dist.all_reduce(total)
        dist.all_reduce(count)
        if rank == 0:
            print(f"epoch {epoch + 1}/{args.epochs} loss {(total / count).item():.4f}", flush=True)

    flat = torch.cat([p.detach().flatten() for p in model.module.parameters()])
    print(f"rank {rank} params sha256 {hashlib.sha256(flat.numpy().tobytes()).hexdigest()}",
          flush=True)
    if rank == 0:
        torch.save(model.module.state_dict(), args.out)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
