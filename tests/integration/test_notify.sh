#!/usr/bin/env bash
# Webhook notifications (coordinator/notify.c): a failed run is announced to
# a local HTTP receiver, signed (HMAC-SHA256 of the body); a receiver that
# fails three times gets the notification once on the fourth try; a
# notification pending while the coordinator is killed -9 is delivered once
# after the restart; kinds not in notify.on are not sent.
source "$(dirname "$0")/lib.sh"

# The receiver: records "delivery kind signature-ok status" per request;
# answers 500 to the first FAILS requests, then 200. Started and restarted
# by the test; DOWN makes it refuse (503) everything.
recv_start() {
    /usr/bin/python3 - "$RECV_PORT" "$T_DIR/received" "$T_DIR/secret" "$T_DIR/recv.fails" <<'PY' \
        >>"$T_DIR/receiver.log" 2>&1 &
import hashlib, hmac, http.server, os, sys
port, out, secret_path, fails_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
secret = open(secret_path, "rb").read().strip()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get("X-Drover-Signature", ""))
        fails = int(open(fails_path).read() or 0) if os.path.exists(fails_path) else 0
        status = 500 if fails > 0 else 200
        if fails > 0:
            open(fails_path, "w").write(str(fails - 1))
        with open(out, "a") as f:
            f.write("%s %s %s %d\n" % (self.headers["X-Drover-Delivery"], self.headers["X-Drover-Event"],
                                       "sig-ok" if ok else "sig-BAD", status))
        self.send_response(status)
        self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
    T_PROCS[worker-receiver]=$!   # "worker-" so cleanup stops it first and ignores its status
    wait_for "the receiver listens" 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RECV_PORT"
}
recv_stop() { stop_pid worker-receiver "${T_PROCS[worker-receiver]}" || true; unset 'T_PROCS[worker-receiver]'; }

RECV_PORT=$(freeport)
printf 'a-shared-secret\n' >"$T_DIR/secret"
chmod 600 "$T_DIR/secret"
echo 3 >"$T_DIR/recv.fails"
recv_start
: >"$T_DIR/received"
T_COORD_EXTRA="notify = { webhook = \"http://127.0.0.1:$RECV_PORT/hook\"; secret_file = \"$T_DIR/secret\"; on = [\"failed\"]; timeout = \"2s\"; };"
pg_start
coord_start
worker_start w1 2

# 1. A failed run: 3 refusals, then delivered once, signed.
run=$(submit "$(wf failure)")
wait_run "$run" 60 >/dev/null
ev=$(sql "select id from drover.events where run_id = $run and kind = 'run_state' and to_state = 'failed'")
[[ -n "$ev" ]] || fail "no run_state failed event for run $run"
delivered() { grep -q "^$ev failed sig-ok 200$" "$T_DIR/received"; }
wait_for "event $ev delivered after three failures" 60 delivered
assert_eq 3 "$(grep -c "^$ev failed sig-ok 500$" "$T_DIR/received")" "refused attempts before delivery"
assert_eq 4 "$(sql "select attempts from drover.notifications where event_id = $ev")" "attempts recorded"

assert_eq t "$(sql "select enabled from drover.notify_config")" "enqueueing on while a webhook is configured"

# 2. A succeeded run is not in notify.on: marked, never sent.
ok_run=$(submit "$(wf simple)")
assert_eq succeeded "$(wait_run "$ok_run" 60)" "the succeeded run"
okev=$(sql "select id from drover.events where run_id = $ok_run and kind = 'run_state' and to_state = 'succeeded'")
wait_for "the succeeded event marked not subscribed" 30 sql_is \
    "select last_error from drover.notifications where event_id = $okev" "not in notify.on"
grep -q "^$okev " "$T_DIR/received" && fail "a succeeded run was announced though notify.on has only failed"

# 3. Pending across a kill -9: the receiver is down, the run fails, the
#    coordinator dies; after the restart (receiver back) it arrives once.
recv_stop
run2=$(submit "$(wf failure)")
wait_run "$run2" 60 >/dev/null
ev2=$(sql "select id from drover.events where run_id = $run2 and kind = 'run_state' and to_state = 'failed'")
wait_for "a delivery attempt failed while the receiver is down" 30 sql_is \
    "select attempts > 0 and delivered_at is null from drover.notifications where event_id = $ev2" t
coord_kill9
recv_start
coord_start
delivered2() { grep -q "^$ev2 failed sig-ok 200$" "$T_DIR/received"; }
wait_for "event $ev2 delivered after the restart" 60 delivered2
# Give a duplicate the chance to show: every due row is delivered within a
# second of its due time, so wait until nothing is undelivered at all.
wait_for "the outbox is empty" 30 sql_is "select count(*) from drover.notifications where delivered_at is null" 0
assert_eq 1 "$(grep -c "^$ev2 failed sig-ok 200$" "$T_DIR/received")" "deliveries of event $ev2"
assert_eq 1 "$(grep -c "^$ev failed sig-ok 200$" "$T_DIR/received")" "deliveries of event $ev"
grep -q 'sig-BAD' "$T_DIR/received" && fail "a request with a bad signature"
log "notifications: signed, retried 3 times then delivered once, delivered once across a kill -9"
