#!/usr/bin/env python3
"""A gang member for tests/integration/test_gang*.sh: records its rendezvous
environment and hostfile in OUTDIR/member.RANK.ATTEMPT (and its pid in
OUTDIR/pids), then proves the environment is usable: rank 0 listens on
MASTER_PORT of MASTER_ADDR and waits for every other rank to connect and say
its rank; the others connect (retrying until a deadline) and send theirs.
Exits 0 when the rendezvous completed; MODE "hang" then sleeps forever (a
member the test kills), "hang-once" in the first attempt only,
"slow-rank2-once" rank 2 alone in the first attempt (its timeout); "fail-once"
exits 1 on rank 1's first attempt."""
import os
import socket
import sys
import time

out, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "ok")
env = os.environ
rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
attempt = env.get("DROVER_ATTEMPT", "0")
keys = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
        "MASTER_PORT", "DROVER_GANG_ID", "DROVER_GANG_HOSTS", "DROVER_GANG_PORTS",
        "DROVER_ATTEMPT"]
with open("hostfile") as f:
    hostfile = f.read()
with open(os.path.join(out, "pids"), "a") as f:
    f.write("%d %d %s\n" % (os.getpid(), rank, attempt))
path = os.path.join(out, "member.%d.%s" % (rank, attempt))
with open(path + ".tmp", "w") as f:
    for k in keys:
        f.write("%s=%s\n" % (k, env.get(k, "")))
    f.write("HOSTFILE=%s\n" % hostfile.replace("\n", ";"))
os.rename(path + ".tmp", path)

if mode == "fail-once" and rank == 1 and attempt == "1":
    sys.exit(1)

addr, port = env["MASTER_ADDR"], int(env["MASTER_PORT"])
deadline = time.time() + 60
if rank == 0:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(world)
    srv.settimeout(60)
    seen = {0}
    while len(seen) < world:
        conn, _ = srv.accept()
        seen.add(int(conn.recv(16).decode().strip()))
        conn.sendall(b"ok\n")
        conn.close()
    srv.close()
else:
    while True:
        try:
            c = socket.create_connection((addr, port), timeout=5)
            c.sendall(b"%d\n" % rank)
            if c.recv(16).strip() != b"ok":
                sys.exit(3)
            c.close()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit(2)
            time.sleep(0.1)
with open(os.path.join(out, "rendezvous.%d.%s" % (rank, attempt)), "w") as f:
    f.write("ok\n")
if mode == "hang" or (mode == "hang-once" and attempt == "1") or \
        (mode == "slow-rank2-once" and rank == 2 and attempt == "1"):
    while True:
        time.sleep(60)
sys.exit(0)
