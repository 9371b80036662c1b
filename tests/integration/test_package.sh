#!/usr/bin/env bash
# The Debian packages, end to end (issue: operations): build them with CPack
# from this build, check them with lintian (no tag left but the justified
# overrides) and systemd-analyze verify, install them, start each daemon the
# way its unit does (ExecStart as the unit's User, with a NOTIFY_SOCKET that
# must receive READY=1), run a workflow through the installed CLI and
# configs, then purge and check that nothing the packages brought or made is
# left behind.
#
# Installs into the real system, so it needs root and dpkg, refuses to touch
# a machine where drover packages are already installed, and skips (77) in
# the sanitizer build (packages are made from the release build).
source "$(dirname "$0")/lib.sh"

skip() { log "SKIP: $*"; trap - EXIT; rm -rf "$T_DIR"; kill "$T_WATCHDOG" 2>/dev/null; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (it installs packages)"
command -v dpkg >/dev/null && command -v cpack >/dev/null || skip "needs dpkg and cpack"
[[ "${DROVER_SANITIZE:-0}" != 1 ]] || skip "packages are built from the release build, not the sanitizer one"
for p in drover drover-coordinator drover-worker; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        skip "package $p is already installed on this machine; not touching it"
    fi
done
BUILD=$(cd "$DROVER_BIN/.." && pwd)
[[ -f "$BUILD/CPackConfig.cmake" ]] || fail "no CPackConfig.cmake in $BUILD"

# 1. Build the packages.
cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$T_DIR/pkg" >"$T_DIR/cpack.log" 2>&1 ||
    fail "cpack failed: $(tail -5 "$T_DIR/cpack.log")"
debs=("$T_DIR"/pkg/drover_*.deb "$T_DIR"/pkg/drover-coordinator_*.deb "$T_DIR"/pkg/drover-worker_*.deb)
for d in "${debs[@]}"; do [[ -f "$d" ]] || fail "missing package $d"; done

# 2. lintian: errors and warnings only from tags overridden with a reason.
if command -v lintian >/dev/null; then
    lintian --tag-display-limit 0 "${debs[@]}" >"$T_DIR/lintian.log" 2>&1 || true
    if grep -E '^[EW]: ' "$T_DIR/lintian.log"; then fail "lintian reports the tags above"; fi
    log "lintian: clean (justified overrides: $(grep -vc "^#" "$T_REPO/deploy/debian/lintian-overrides"))"
else
    log "lintian not installed: package checks limited to install/purge"
fi

# Purge at exit, whatever happens (cleanup hooks run before daemons stop:
# stop them first so their files can go).
purge_all() {
    for name in worker-pkg coordinator-pkg; do
        [[ -n "${T_PROCS[$name]:-}" ]] && stop_pid "$name" "${T_PROCS[$name]}" >/dev/null 2>&1
        unset "T_PROCS[$name]"
    done
    dpkg --purge drover-worker drover-coordinator drover >"$T_DIR/purge.log" 2>&1
}
T_CLEANUP_HOOKS+=("purge_all")

# 3. Install; record what the packages own.
dpkg -i "${debs[@]}" >"$T_DIR/install.log" 2>&1 || fail "dpkg -i failed: $(tail -5 "$T_DIR/install.log")"
dpkg -L drover drover-coordinator drover-worker | sort -u >"$T_DIR/owned.txt"
for f in /usr/bin/drover /usr/bin/drover-coordinator /usr/bin/drover-worker /usr/bin/drover-task \
    /lib/systemd/system/drover-coordinator.service /lib/systemd/system/drover-worker.service \
    /usr/share/man/man1/drover.1.gz /usr/share/bash-completion/completions/drover; do
    [[ -e "$f" ]] || fail "$f not installed"
done
getent passwd drover >/dev/null || fail "no system user drover"

# Modes: configs readable by the service group only, secrets 0600.
mode() { stat -c '%a %U:%G' "$1"; }
assert_eq "750 root:drover" "$(mode /etc/drover)" "/etc/drover"
assert_eq "750 root:drover" "$(mode /etc/drover/keys)" "/etc/drover/keys"
assert_eq "640 root:drover" "$(mode /etc/drover/coordinator.cfg)" "coordinator.cfg"
assert_eq "640 root:drover" "$(mode /etc/drover/worker.cfg)" "worker.cfg"
assert_eq "600 drover:drover" "$(mode /etc/drover/keys/coordinator)" "coordinator secret key"
assert_eq "600 drover:drover" "$(mode /etc/drover/keys/worker)" "worker secret key"
assert_eq "600 root:drover" "$(mode /etc/drover/keys/admin)" "admin secret key"
runuser -u drover -- cat /etc/drover/keys/admin >/dev/null 2>&1 && fail "the service user can read the admin key"
runuser -u drover -- cat /etc/drover/coordinator.cfg >/dev/null || fail "the service user cannot read its config"

# 4. systemd-analyze verify on the installed units.
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /lib/systemd/system/drover-coordinator.service \
        /lib/systemd/system/drover-worker.service >"$T_DIR/verify.log" 2>&1 ||
        fail "systemd-analyze verify: $(cat "$T_DIR/verify.log")"
    if grep -i 'drover' "$T_DIR/verify.log"; then fail "systemd-analyze verify warns about the units"; fi
fi

# 5. Point the installed configs at a private PostgreSQL and free ports.
pg_start
mapfile -t ports < <(freeport 2)
sed -i -e "s|^\(  database *= \).*|\1\"$DB_CONNINFO\";|" \
    -e "s|tcp://127.0.0.1:7460|tcp://127.0.0.1:${ports[0]}|" \
    -e "s|tcp://127.0.0.1:7461|tcp://127.0.0.1:${ports[1]}|" /etc/drover/coordinator.cfg
sed -i "s|tcp://127.0.0.1:7461|tcp://127.0.0.1:${ports[1]}|" /etc/drover/worker.cfg
sed -i "s|tcp://127.0.0.1:7460|tcp://127.0.0.1:${ports[0]}|" /etc/drover/drover.cfg

# unit_field UNIT KEY: the value of KEY= in the installed unit.
unit_field() { sed -n "s/^$2=//p" "/lib/systemd/system/$1.service"; }

# start_unit UNIT NAME: ExecStart as User=, in WorkingDirectory=, with a
# NOTIFY_SOCKET served by a small listener that records what it hears.
start_unit() {
    local unit=$1 name=$2 user cmd wd sock
    user=$(unit_field "$unit" User)
    cmd=$(unit_field "$unit" ExecStart)
    wd=$(unit_field "$unit" WorkingDirectory)
    [[ -n "$user" && -n "$cmd" ]] || fail "$unit has no User= or ExecStart="
    sock="$T_DIR/$name.notify"
    /usr/bin/python3 - "$sock" "$T_DIR/$name.notified" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777)
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(4096) + b"\n")
PY
    t_track_pid $!
    wait_for "$name's notify socket" 10 test -S "$sock"
    # shellcheck disable=SC2086 # ExecStart is a command line
    # setpriv execs (no parent left between us and the daemon, as with
    # systemd), so the pid and the exit status are the daemon's own.
    (cd "${wd:-/}" && exec setpriv --reuid="$user" --regid="$user" --init-groups env -i \
        PATH=/usr/bin:/bin HOME=/var/lib/drover NOTIFY_SOCKET="$sock" WATCHDOG_USEC=30000000 \
        $cmd >"$T_DIR/$name.log" 2>&1) &
    T_PROCS[$name]=$!
}

start_unit drover-coordinator coordinator-pkg
wait_for "the coordinator to tell systemd it is ready" 30 grep -q 'READY=1' "$T_DIR/coordinator-pkg.notified"
host=$(hostname -s 2>/dev/null || hostname)
/usr/bin/drover --config /etc/drover/drover.cfg keys allow worker /etc/drover/keys/worker.pub \
    --name "$host" >"$T_DIR/allow.log" 2>&1 || fail "cannot allow the worker key: $(cat "$T_DIR/allow.log")"
start_unit drover-worker worker-pkg
wait_for "the worker to tell systemd it is ready" 30 grep -q 'READY=1' "$T_DIR/worker-pkg.notified"

# 6. A workflow through the installed CLI, its default config and the worker.
run=$(/usr/bin/drover --config /etc/drover/drover.cfg submit "$T_WF/diamond.cfg") || fail "submit failed"
/usr/bin/drover --config /etc/drover/drover.cfg wait "$run" >"$T_DIR/wait.log" 2>&1 ||
    fail "run $run did not succeed: $(tail -20 "$T_DIR/wait.log")"
assert_eq "succeeded" "$(run_state "$run")" "state of the run through the installed services"
assert_eq "drover" "$(stat -c %U /var/lib/drover/work)" "owner of the work folder"
# The packaged Python client, with the installed config and keys (when
# Debian's python3-zmq and python3-protobuf are there: they are Recommends).
if /usr/bin/python3 -c 'import zmq, google.protobuf' 2>/dev/null; then
    env -u PYTHONPATH -u DROVER_PB2 /usr/bin/python3 -c '
import drover
c = drover.Client(config="/etc/drover/drover.cfg")
runs = c.runs(10)
assert any(r.id == '"$run"' and r.state == "succeeded" for r in runs), runs
print("python client ok")' >"$T_DIR/py.log" 2>&1 || fail "the packaged Python client: $(cat "$T_DIR/py.log")"
    log "the packaged Python client read run $run"
else
    log "python3-zmq or python3-protobuf missing: the packaged Python client not exercised"
fi

# 7. Stop the services (SIGTERM, as systemd does) and purge.
for name in worker-pkg coordinator-pkg; do
    rc=0
    stop_pid "$name" "${T_PROCS[$name]}" || rc=$?
    unset "T_PROCS[$name]"
    assert_eq 0 "$rc" "$name's exit status on SIGTERM"
done
# The listener may write what it heard a moment after the daemon exited.
wait_for "the coordinator told systemd it stops" 10 grep -q 'STOPPING=1' "$T_DIR/coordinator-pkg.notified"
dpkg --purge drover-worker drover-coordinator drover >"$T_DIR/purge.log" 2>&1 ||
    fail "dpkg --purge failed: $(tail -5 "$T_DIR/purge.log")"
left=""
while read -r f; do
    [[ ! -d "$f" ]] && [[ -e "$f" || -L "$f" ]] && left+=" $f"
done <"$T_DIR/owned.txt"
[[ -z "$left" ]] || fail "files left after purge:$left"
for d in /etc/drover /var/lib/drover; do [[ ! -e "$d" ]] || fail "$d left after purge"; done
getent passwd drover >/dev/null && fail "user drover left after purge"
getent group drover >/dev/null && fail "group drover left after purge"
log "packages built, checked, installed, ran run $run, purged clean"
