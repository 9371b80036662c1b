#!/usr/bin/env bash
# Webhook notifications (coordinator/notify.c): a failed run is announced to
# a local HTTP receiver, signed (HMAC-SHA256 of the body); a receiver that
# fails three times gets the notification once on the fourth try. Then every
# kind (failed, rejected, succeeded, cancelled, schedule_missed,
# awaiting_approval) is produced while the receiver is down, the coordinator
# is killed -9, and after the restart each is delivered exactly once: the
# receiver's X-Drover-Delivery ids show no duplicate and none missing. A
# workflow's own webhook (notify block) is accepted only under
# coordinator.notify.allow, refused at submit otherwise (also from a
# hand-built request), and gets only the kinds it asked for.
source "$(dirname "$0")/lib.sh"

# The receiver: records "delivery kind signature-ok status path" per
# request; answers 500 to the first FAILS requests, then 200. Started and
# restarted by the test.
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
            f.write("%s %s %s %d %s\n" % (self.headers["X-Drover-Delivery"], self.headers["X-Drover-Event"],
                                          "sig-ok" if ok else "sig-BAD", status, self.path))
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
HOOK="http://127.0.0.1:$RECV_PORT"
ALL='["failed", "rejected", "succeeded", "cancelled", "schedule_missed", "awaiting_approval"]'
T_COORD_EXTRA="notify = { webhook = \"$HOOK/hook\"; secret_file = \"$T_DIR/secret\"; on = $ALL; timeout = \"2s\"; allow = [\"$HOOK/wf/\"]; };"
# A schedule whose due time the test clock jumps over (schedule_missed).
D0=$((($(date +%s) / 300 + 3) * 300))
clock_init $((D0 - 30)) $((D0 + 120))
clock_set $((D0 - 30))
pg_start
coord_start
worker_start w1 2
sql "insert into drover.model_versions (name, version, model_kind, artifact)
     values ('claims-a', 1, 'softmax', repeat('ab', 32))" >/dev/null || fail "cannot insert claims-a:1"

# 1. A failed run: 3 refusals, then delivered once, signed.
run=$(submit "$(wf failure)")
wait_run "$run" 60 >/dev/null
ev=$(sql "select id from drover.events where run_id = $run and kind = 'run_state' and to_state = 'failed'")
[[ -n "$ev" ]] || fail "no run_state failed event for run $run"
delivered() { grep -q "^$ev failed sig-ok 200 /hook$" "$T_DIR/received"; }
wait_for "event $ev delivered after three failures" 60 delivered
assert_eq 3 "$(grep -c "^$ev failed sig-ok 500 /hook$" "$T_DIR/received")" "refused attempts before delivery"
assert_eq 4 "$(sql "select attempts from drover.notifications where event_id = $ev")" "attempts recorded"
assert_eq t "$(sql "select enabled from drover.notify_config")" "enqueueing on while a webhook is configured"

# 2. A workflow's own webhook: refused outside coordinator.notify.allow.
own_wf() { # FILE NAME WEBHOOK ON EXTRA-STEP-KEYS
    printf '%s\n' "workflow = \"$2\";" "notify = { webhook = \"$3\"; on = $4; };" \
        "steps = ( { name = \"review\"; kind = \"approve\"; model = \"claims-a:1\"; $5 } );" >"$1"
}
own_wf "$T_DIR/evil.cfg" evil "$HOOK/other" '["failed"]' ""
RC=0
drover submit "$T_DIR/evil.cfg" >"$T_DIR/evil.out" 2>&1 || RC=$?
assert_eq 2 "$RC" "exit status of a submit with a webhook outside the allow-list"
grep -q "does not start with a prefix in coordinator.notify.allow" "$T_DIR/evil.out" ||
    fail "evil submit: $(cat "$T_DIR/evil.out")"
# The same from a hand-built request, to an internal address; and an unknown kind.
poke_submit() {
    drover-test-zmqpoke -q --proto client --key "$T_KEYS/admin" --server-key "$T_KEYS/coordinator.pub" \
        --msg '{"request_id":5,"submit":{"workflow":"'"$1"'","steps":[{"name":"a","kind":"noop","spec_json":"{}"}],"notify":{"webhook":"'"$2"'","on":["'"$3"'"]}}}' \
        --await 5000 "$COORD_CLIENT_EP" || fail "zmqpoke submit exited $?"
}
out=$(poke_submit evil2 "http://169.254.169.254/latest/" failed)
jq -e '.error == "ERROR_BAD_REQUEST"' <<<"$out" >/dev/null || fail "hand-built evil submit: $out"
jq -r .message <<<"$out" | grep -q "coordinator.notify.allow" || fail "hand-built evil submit message: $out"
out=$(poke_submit evil3 "$HOOK/wf/x" bogus)
jq -e '.error == "ERROR_BAD_REQUEST"' <<<"$out" >/dev/null || fail "hand-built bad kind: $out"
jq -r .message <<<"$out" | grep -q "unknown kind 'bogus'" || fail "hand-built bad kind message: $out"
out=$(poke_submit evil4 "$HOOK/wf/x" schedule_missed)
jq -e '.error == "ERROR_BAD_REQUEST"' <<<"$out" >/dev/null || fail "schedule_missed without a schedule: $out"
jq -r .message <<<"$out" | grep -q "needs a 'schedule'" || fail "schedule_missed without a schedule message: $out"
assert_eq 0 "$(sql "select count(*) from drover.runs where workflow like 'evil%'")" "runs written by refused submits"

# 3. Every kind while the receiver is down; the coordinator dies; after the
#    restart (receiver back) each is delivered exactly once.
recv_stop
run_f=$(submit "$(wf failure)")
run_s=$(submit "$(wf simple)")
# awaiting_approval, then rejected by its timeout; its own webhook wants both.
own_wf "$T_DIR/own.cfg" own "$HOOK/wf/team-a" '["awaiting_approval", "rejected"]' 'timeout = "1s";'
run_r=$(drover submit "$T_DIR/own.cfg") || fail "submit own exited $?"
# awaiting_approval, then cancelled; its own webhook wants a kind that never comes.
own_wf "$T_DIR/wait.cfg" waiting "$HOOK/wf/team-b" '["succeeded"]' ""
run_c=$(drover submit "$T_DIR/wait.cfg") || fail "submit wait exited $?"
wait_for "run $run_c awaits approval" 30 sql_is \
    "select count(*) from drover.events where run_id = $run_c and kind = 'awaiting_approval'" 1
drover cancel "$run_c" >/dev/null || fail "cancel exited $?"
printf '%s\n' 'workflow = "missed";' \
    'schedule = { cron = "*/5 * * * *"; timezone = "UTC"; catchup = "none"; };' \
    "notify = { webhook = \"$HOOK/wf/sched\"; on = [\"schedule_missed\"]; };" \
    'steps = ( { name = "s"; kind = "exec"; command = "true"; } );' >"$T_DIR/missed.cfg"
drover submit "$T_DIR/missed.cfg" >/dev/null || fail "registering the schedule exited $?"
clock_set $((D0 + 120))
for r in "$run_f" "$run_s" "$run_r"; do wait_run "$r" 60 >/dev/null; done
assert_eq "failed succeeded rejected cancelled" \
    "$(run_state "$run_f") $(run_state "$run_s") $(run_state "$run_r") $(run_state "$run_c")" "outcomes"
wait_for "a schedule_missed event" 30 sql_is "select count(*) from drover.events where kind = 'schedule_missed'" 1
first=$((ev + 1))
wait_for "a delivery attempt failed for each while the receiver is down" 30 sql_is \
    "select bool_and(attempts > 0 and delivered_at is null) from drover.notifications where event_id >= $first" t
assert_eq "awaiting_approval cancelled failed rejected schedule_missed succeeded" \
    "$(sql "select string_agg(distinct kind, ' ' order by kind) from drover.notifications where event_id >= $first")" \
    "kinds pending before the kill"
# The run's own webhook got exactly the kinds its workflow asked for.
assert_eq "awaiting_approval rejected" \
    "$(sql "select string_agg(kind, ' ' order by event_id) from drover.notifications where webhook = '$HOOK/wf/team-a'")" \
    "kinds for the workflow's own webhook"
assert_eq 0 "$(sql "select count(*) from drover.notifications where webhook = '$HOOK/wf/team-b'")" \
    "rows for a workflow webhook whose kinds never happened"
assert_eq schedule_missed "$(sql "select string_agg(kind, ' ') from drover.notifications where webhook = '$HOOK/wf/sched'")" \
    "the scheduled workflow's own webhook"
coord_kill9
recv_start
coord_start
# Give a duplicate the chance to show: every due row is delivered within a
# second of its due time, so wait until nothing is undelivered at all.
wait_for "the outbox is empty" 90 sql_is "select count(*) from drover.notifications where delivered_at is null" 0
# None missing: every row (event, receiver) arrived with 200 exactly once.
while IFS='|' read -r id kind hook; do
    path=${hook#"$HOOK"}
    [[ -z "$hook" ]] && path=/hook
    n=$(grep -c "^$id $kind sig-ok 200 $path$" "$T_DIR/received" || true)
    assert_eq 1 "$n" "deliveries of event $id ($kind) to $path"
done < <(sql "select event_id, kind, webhook from drover.notifications order by event_id, webhook")
# No duplicates at all, and nothing the outbox does not hold.
dups=$(awk '$4 == 200 { print $1, $5 }' "$T_DIR/received" | sort | uniq -d)
[[ -z "$dups" ]] || fail "delivered twice: $dups"
assert_eq "$(sql "select count(*) from drover.notifications")" "$(awk '$4 == 200' "$T_DIR/received" | wc -l)" \
    "successful deliveries vs outbox rows"
grep -q 'sig-BAD' "$T_DIR/received" && fail "a request with a bad signature"
log "notifications: signed, retried 3 times then delivered once; every kind delivered once across a kill -9; workflow webhooks only under the allow-list"
