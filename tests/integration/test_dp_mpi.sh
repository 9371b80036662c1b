#!/usr/bin/env bash
# MPI across independently started gang members (docs/distributed.md, "MPI
# programs"): 2 and 3 members, each started on its own with the gang
# contract's environment and a hostfile, run `drover-task mpirun --
# drover-test-mpi-allreduce`, join one communicator and check an
# allreduce. A gang with a member missing fails on every present member
# with a message naming the missing rank, within DROVER_GANG_TIMEOUT.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/dp_lib.sh"
[[ -x "$DROVER_BIN/drover-test-mpi-allreduce" ]] ||
    fail "drover-test-mpi-allreduce is missing: the build found no MPI (make deps installs libopenmpi-dev)"

for n in 2 3; do
    gid="mpi$n.1.1"
    dp_start "$gid" "$n" "$(drover-test-freeport)" "$n" \
        drover-task mpirun -- drover-test-mpi-allreduce
    dp_wait "$gid" "$n" 90
    for ((r = 0; r < n; r++)); do
        assert_eq 0 "$(dp_rc "$gid" $r)" "$n-member gang rank $r exit status ($(tail -5 "$T_DIR/$gid/r$r/out"))"
        grep -q "rank $r of $n: allreduce ok (sum $((n * (n + 1) / 2)))" "$T_DIR/$gid/r$r/out" ||
            fail "rank $r of $n did not report the allreduce: $(cat "$T_DIR/$gid/r$r/out")"
    done
    echo "ok: $n members joined and reduced"
done

# Rank 2 of 3 never starts: ranks 0 and 1 give up at the deadline.
gid="missing.1.1"
DROVER_GANG_TIMEOUT=3 dp_start "$gid" 2 "$(drover-test-freeport)" 3 \
    env DROVER_GANG_TIMEOUT=3 drover-task mpirun -- drover-test-mpi-allreduce
dp_wait "$gid" 2 60
for r in 0 1; do
    [[ "$(dp_rc "$gid" $r)" != 0 ]] || fail "rank $r succeeded without rank 2"
done
grep -q "rank 2 of 3 did not arrive" "$T_DIR/$gid/r0/out" ||
    fail "rank 0 did not name the missing rank: $(cat "$T_DIR/$gid/r0/out")"
grep -q "rank 1 of 3 got no answer from rank 0" "$T_DIR/$gid/r1/out" ||
    fail "rank 1 did not say why it gave up: $(cat "$T_DIR/$gid/r1/out")"
echo "ok: a missing member fails the others cleanly"

# A stranger on the rendezvous port (before rank 1 starts) is refused and
# counted; the gang still forms.
gid="hostile.1.1"
port=$(drover-test-freeport)
dp_start "$gid" 1 "$port" 2 drover-task mpirun -- drover-test-mpi-allreduce
/usr/bin/python3 - "$port" <<'PY' || fail "the stranger could not reach rank 0's port"
import socket, sys, time
end = time.time() + 60
while True:  # until rank 0 listens
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
        break
    except OSError:
        if time.time() > end:
            sys.exit(1)
        time.sleep(0.1)
s.sendall(b"DROVER-GANG 1 other.gang 1\n")
s.settimeout(10)
assert s.recv(100) == b"", "rank 0 answered a stranger"
PY
DP_FIRST=1 dp_start "$gid" 2 "$port" 2 drover-task mpirun -- drover-test-mpi-allreduce
dp_wait "$gid" 2 90
for r in 0 1; do
    assert_eq 0 "$(dp_rc "$gid" $r)" "gang with a stranger: rank $r ($(tail -3 "$T_DIR/$gid/r$r/out"))"
done
grep -q "refused a connection that is not an expected member of this gang (1 so far: another gang's id)" "$T_DIR/$gid/r0/out" || fail "rank 0 did not log the stranger"

# Strangers that connect and say nothing, or send an endless line, hold no
# one up: rank 0 hears the real member's hello beside them. 40 silent
# connections (more than rank 0 keeps pending) stay open the whole time;
# with one connection served at a time and 5 s for each hello, rank 1
# would wait minutes, past DROVER_GANG_TIMEOUT=20.
gid="silent.1.1"
port=$(drover-test-freeport)
DROVER_GANG_TIMEOUT=20 dp_start "$gid" 1 "$port" 2 \
    env DROVER_GANG_TIMEOUT=20 drover-task mpirun -- drover-test-mpi-allreduce
/usr/bin/python3 - "$port" "$T_DIR/$gid/holding" <<'PY' &
import socket, sys, time
end = time.time() + 60
held = []
while len(held) < 40 and time.time() < end:
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    except OSError:
        time.sleep(0.1)  # rank 0 is not listening yet
        continue
    if len(held) % 10 == 0:
        s.sendall(b"X" * 300)  # a line longer than a hello may be
    held.append(s)
open(sys.argv[2], "w").close()
time.sleep(60)  # hold them open until killed
PY
strangers=$!
t_track_pid "$strangers"
wait_for "the strangers' 40 connections" 60 test -e "$T_DIR/$gid/holding"
DP_FIRST=1 dp_start "$gid" 2 "$port" 2 \
    env DROVER_GANG_TIMEOUT=20 drover-task mpirun -- drover-test-mpi-allreduce
dp_wait "$gid" 2 60
kill "$strangers" 2> /dev/null || true
for r in 0 1; do
    assert_eq 0 "$(dp_rc "$gid" $r)" "gang beside silent strangers: rank $r ($(tail -3 "$T_DIR/$gid/r$r/out"))"
done
n=$(grep -c "refused a connection" "$T_DIR/$gid/r0/out" || true)
[[ "$n" -le 10 ]] || fail "rank 0 logged $n refusals; at most 10 are logged"
echo "ok: silent strangers on the rendezvous port delay no one"
echo "PASS: test_dp_mpi"
