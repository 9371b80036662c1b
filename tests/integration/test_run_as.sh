#!/usr/bin/env bash
# worker.run_as (issue 9, observation 1; docs/security.md): tasks run as the
# worker's user and can read what it can, its secret key included, unless
# the worker runs them as a user of their own. A worker without run_as
# (control) lets a step read the key; one with --run-as does not, and its
# steps run under that uid. Needs root (to create the user and switch to it).
source "$(dirname "$0")/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: test_run_as needs root (useradd, and a worker that switches users)" >&2
    exit 0
fi
TU=drover-tasktest
if ! id -u "$TU" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$TU" ||
        fail "useradd $TU exited $?"
fi
tuid=$(id -u "$TU")

pg_start
coord_start
worker_start plain 1 --label plain
worker_start jailed 1 --label jailed --run-as "$TU"
grep -q "tasks run as user $TU" "$T_DIR/worker-jailed.log" || fail "the jailed worker does not say who tasks run as"

# The step tries the worker's key file, the worker's environment and config.
cat >"$T_DIR/peek.sh" <<EOF
#!/bin/sh
echo "uid=\$(id -u)"
if cat "$T_KEYS/worker" >/dev/null 2>&1; then echo "key: READ"; else echo "key: refused"; fi
if cat /proc/\$PPID/environ >/dev/null 2>&1; then echo "environ: READ"; else echo "environ: refused"; fi
EOF
chmod 755 "$T_DIR/peek.sh"
cat >"$T_DIR/peek.cfg" <<EOF
workflow = "peek";
steps = (
  { name = "plain"; kind = "exec"; argv = ["/bin/sh", "$T_DIR/peek.sh"]; resources = { labels = ["plain"]; }; },
  { name = "jailed"; kind = "exec"; argv = ["/bin/sh", "$T_DIR/peek.sh"]; resources = { labels = ["jailed"]; }; }
);
EOF
run=$(submit "$T_DIR/peek.cfg")
assert_eq succeeded "$(wait_run "$run" 30)" "state of the peek run"
drover logs "$run" plain >"$T_DIR/plain.out" || fail "logs plain exited $?"
drover logs "$run" jailed >"$T_DIR/jailed.out" || fail "logs jailed exited $?"
grep -q "key: READ" "$T_DIR/plain.out" || fail "control: a task of a plain worker cannot read its key: $(cat "$T_DIR/plain.out")"
grep -q "uid=$tuid" "$T_DIR/jailed.out" || fail "the jailed task's uid: $(cat "$T_DIR/jailed.out")"
grep -q "key: refused" "$T_DIR/jailed.out" || fail "a run_as task read the worker's key: $(cat "$T_DIR/jailed.out")"
grep -q "environ: refused" "$T_DIR/jailed.out" || fail "a run_as task read the worker's environment: $(cat "$T_DIR/jailed.out")"

# run_as naming root or a missing user is refused at start with a reason.
RC=0
drover-worker --config "$T_CFG" --name bad --run-as root >"$T_DIR/bad.out" 2>&1 || RC=$?
assert_eq 2 "$RC" "exit status of a worker with run_as = root"
grep -q "is root" "$T_DIR/bad.out" || fail "run_as root: $(cat "$T_DIR/bad.out")"
RC=0
drover-worker --config "$T_CFG" --name bad --run-as no-such-user-x >"$T_DIR/bad2.out" 2>&1 || RC=$?
assert_eq 2 "$RC" "exit status of a worker with an unknown run_as user"
grep -q "no user 'no-such-user-x'" "$T_DIR/bad2.out" || fail "run_as unknown: $(cat "$T_DIR/bad2.out")"
log "ok"
