#!/usr/bin/env bash
# The coordinator enforces the workflow rules itself (issue 9, observations
# 6, 7, 9 and 10; docs/workflows.md "Names", docs/scheduling.md):
#   1. hand-built SubmitRequests (drover-test-rawsubmit, no CLI checks) that
#      break a rule are refused with the CLI's own message (without
#      file:line) and write nothing; an honest run beside them succeeds;
#   2. peer text reaches the terminal escaped (ESC[2J and CR as \x..);
#   3. queues: created by admins only, an unknown queue is a submit error,
#      `queue rm` refused while work waits;
#   4. schedules belong to their key: another submitter cannot replace,
#      pause or remove them, an admin can; a revoked owner's schedules pause
#      with the reason in `schedule list`;
#   5. trigger folders only under coordinator.trigger_roots (after realpath:
#      no "..", no symlink out); none configured = refused, saying what to
#      set; a watched folder swapped for a symlink out is no longer read;
#   6. the test clock is read only with coordinator.test_clock = true.
source "$(dirname "$0")/lib.sh"

pg_start
coord_start
worker_start w1 2

audit0=$(sql "select count(*) from drover.audit")

# raw JSON: the reply line of a hand-built submit.
raw() { printf '%s' "$1" | drover-test-rawsubmit - 2>&1 || true; }
# refused WHAT JSON MESSAGE: the coordinator answers BAD_REQUEST with MESSAGE.
refused() {
    local got
    got=$(raw "$2")
    assert_eq "error ERROR_BAD_REQUEST: $3" "$got" "reply to $1"
}
exec_step() {
    local spec='{"argv":["true"]}'
    [[ $# -ge 2 ]] && spec=$2
    echo "{\"name\":\"${1:-s}\",\"kind\":\"exec\",\"spec\":$spec}"
}

# ------------------------------------------------- 1. hostile submits ---
NAME_RULE="1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit"
refused "workflow ../x" "{\"workflow\":\"../x\",\"steps\":[$(exec_step)]}" \
    "workflow name '../x' is invalid (use $NAME_RULE)"
refused "workflow a/b" "{\"workflow\":\"a/b\",\"steps\":[$(exec_step)]}" \
    "workflow name 'a/b' is invalid (use $NAME_RULE)"
refused "step a,b" "{\"workflow\":\"w\",\"steps\":[$(exec_step 'a,b')]}" \
    "step name 'a,b' is invalid (use $NAME_RULE)"
# A control character or an ANSI escape in a name: refused (the message
# carries it back; the CLI escapes what it prints, see 2.).
got=$(raw "{\"workflow\":\"ok\\u001b[2Jsucceeded\",\"steps\":[$(exec_step)]}")
[[ "$got" == "error ERROR_BAD_REQUEST: workflow name 'ok"*"is invalid"* ]] || fail "ESC in a name: $got"
got=$(raw "{\"workflow\":\"w\",\"steps\":[$(exec_step $'s\\r')]}")
[[ "$got" == "error ERROR_BAD_REQUEST: step name 's"*"is invalid"* ]] || fail "CR in a step name: $got"
refused "argv []" "{\"workflow\":\"w\",\"steps\":[$(exec_step s '{"argv":[]}')]}" \
    "step 's': 'argv' must be a non-empty array of strings, e.g. argv = [\"python3\", \"train.py\"]"
refused "argv [1,2]" "{\"workflow\":\"w\",\"steps\":[$(exec_step s '{"argv":[1,2]}')]}" \
    "step 's': 'argv' must be an array of strings"
refused "env A=B" "{\"workflow\":\"w\",\"steps\":[$(exec_step s '{"argv":["true"],"env":{"A=B":"x"}}')]}" \
    "step 's': 'A=B' is not a valid environment variable name (letters, digits and '_', not starting with a digit)"
refused "env ''" "{\"workflow\":\"w\",\"steps\":[$(exec_step s '{"argv":["true"],"env":{"":"x"}}')]}" \
    "step 's': '' is not a valid environment variable name (letters, digits and '_', not starting with a digit)"
refused "env DROVER_RUN_ID" "{\"workflow\":\"w\",\"steps\":[$(exec_step s '{"argv":["true"],"env":{"DROVER_RUN_ID":"7"}}')]}" \
    "step 's': env 'DROVER_RUN_ID' is set by drover and cannot be overridden"
refused "relative cwd" "{\"workflow\":\"w\",\"steps\":[$(exec_step s '{"argv":["true"],"cwd":"../.."}')]}" \
    "step 's': 'cwd' must be an absolute path (got '../..')"
refused "unknown key" "{\"workflow\":\"w\",\"steps\":[$(exec_step s '{"argv":["true"],"uid":0}')]}" \
    "step 's': unknown key 'uid' (known: argv, command, env, cwd)"
refused "command on the wire" "{\"workflow\":\"w\",\"steps\":[$(exec_step s '{"command":"true"}')]}" \
    "step 's': unknown key 'command' (known: argv, command, env, cwd)"
# Observation 5: a spec that is not an object is refused alone, not a database error.
refused "spec [1]" '{"workflow":"w","steps":[{"name":"s","kind":"exec","spec_json":"[1]"}]}' \
    "step 's': spec_json is not a JSON object"
refused "unknown kind" '{"workflow":"w","steps":[{"name":"s","kind":"shell","spec_json":"{}"}]}' \
    "step 's': unknown kind 'shell' (known: exec, noop, validate, train, evaluate, score, promote, select, approve)"
refused "retries 101" '{"workflow":"w","steps":[{"name":"s","kind":"noop","retries":101,"spec_json":"{}"}]}' \
    "step 's': 'retries' must be between 0 and 100"
refused "label with a space" '{"workflow":"w","steps":[{"name":"s","kind":"noop","spec_json":"{}","resources":{"labels":["a b"]}}]}' \
    "step 's': each resources label must be 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit"
# ML specs the CLI refuses.
TRAIN='"dataset":"/data/t.csv","label":"y","model":"m"'
refused "train epochs 0" "{\"workflow\":\"w\",\"steps\":[{\"name\":\"t\",\"kind\":\"train\",\"spec\":{$TRAIN,\"epochs\":0}}]}" \
    "step 't': 'epochs' must be between 1 and 1000000"
refused "train without label" '{"workflow":"w","steps":[{"name":"t","kind":"train","spec":{"dataset":"/d.csv","model":"m"}}]}' \
    "step 't': train steps need 'label', e.g. label = \"damage\";"
refused "train hidden for softmax" "{\"workflow\":\"w\",\"steps\":[{\"name\":\"t\",\"kind\":\"train\",\"spec\":{$TRAIN,\"hidden\":[8]}}]}" \
    "step 't': 'hidden' applies to trainer \"mlp\" only"
refused "promote stage gold" '{"workflow":"w","steps":[{"name":"p","kind":"promote","spec":{"model":"m:1","stage":"gold"}}]}' \
    "step 'p': 'stage' must be one of staging, production, archived (got 'gold')"
refused "evaluate @nosuch" '{"workflow":"w","steps":[{"name":"e","kind":"evaluate","spec":{"dataset":"/d.csv","model":"@nosuch"}}]}' \
    "step 'e': model '@nosuch' names no step of this workflow"
refused "select from a non-parent" "{\"workflow\":\"w\",\"steps\":[{\"name\":\"t\",\"kind\":\"train\",\"spec\":{$TRAIN}},{\"name\":\"pick\",\"kind\":\"select\",\"spec\":{\"metric\":\"val_accuracy\",\"mode\":\"max\",\"from\":[\"t\"]}}]}" \
    "step 'pick': 'from' must list train steps this step runs after ('t' is not one)"
refused "max_active 1000" "{\"workflow\":\"w\",\"schedule\":{\"cron\":\"0 3 * * *\",\"max_active\":1000},\"steps\":[$(exec_step)]}" \
    "schedule 'max_active' must be an integer between 1 and 100"
refused "unknown queue" "{\"workflow\":\"w\",\"queue\":\"nosuch\",\"steps\":[$(exec_step)]}" \
    "unknown queue 'nosuch' (an admin creates it: drover queue create nosuch)"

# The CLI says the same, with file:line in front.
same_as_cli() { # WHAT FILE-TEXT RAW-JSON
    printf '%s\n' "$2" >"$T_DIR/cli.cfg"
    local cli srv
    cli=$(drover submit "$T_DIR/cli.cfg" 2>&1 >/dev/null || true)
    cli=$(sed -E 's|^(drover: )?[^:]*:[0-9]+: ||' <<<"$cli")
    srv=$(raw "$3")
    assert_eq "error ERROR_BAD_REQUEST: $cli" "$srv" "CLI and coordinator messages for $1"
}
same_as_cli "argv []" 'workflow = "w"; steps = ({ name = "s"; kind = "exec"; argv = []; });' \
    "{\"workflow\":\"w\",\"steps\":[$(exec_step s '{"argv":[]}')]}"
same_as_cli "epochs 0" 'workflow = "w"; steps = ({ name = "t"; kind = "train"; dataset = "/data/t.csv"; label = "y"; model = "m"; epochs = 0; });' \
    "{\"workflow\":\"w\",\"steps\":[{\"name\":\"t\",\"kind\":\"train\",\"spec\":{$TRAIN,\"epochs\":0}}]}"
same_as_cli "stage gold" 'workflow = "w"; steps = ({ name = "p"; kind = "promote"; model = "m:1"; stage = "gold"; });' \
    '{"workflow":"w","steps":[{"name":"p","kind":"promote","spec":{"model":"m:1","stage":"gold"}}]}'
same_as_cli "workflow name" 'workflow = "-x"; steps = ({ name = "s"; kind = "noop"; });' \
    '{"workflow":"-x","steps":[{"name":"s","kind":"noop","spec_json":"{}"}]}'

assert_eq "0 0 0" "$(sql "select (select count(*) from drover.runs) || ' ' || (select count(*) from drover.tasks)
                         || ' ' || (select count(*) from drover.schedules)")" "runs, tasks, schedules after the refusals"
assert_eq "$audit0" "$(sql "select count(*) from drover.audit")" "audit rows after the refusals"
grep -q "database error" "$T_DIR/coordinator.log" && fail "a refused request caused a database error"

# An honest run beside them: hand-built and through the CLI.
got=$(raw "{\"workflow\":\"honest\",\"steps\":[$(exec_step a)]}")
[[ "$got" =~ ^run\ ([0-9]+)$ ]] || fail "honest hand-built submit: $got"
assert_eq succeeded "$(wait_run "${BASH_REMATCH[1]}")" "state of the honest hand-built run"
printf '%s\n' 'workflow = "honest-cli"; steps = ({ name = "train.1"; kind = "exec"; command = "true"; });' >"$T_DIR/h.cfg"
assert_eq succeeded "$(wait_run "$(submit "$T_DIR/h.cfg")")" "state of the honest CLI run"
assert_eq 0 "$(sql "select coalesce(sum(lost), 0) from drover.tasks")" "attempts lost with a dead worker"
grep -q "declared dead" "$T_DIR/coordinator.log" && fail "a worker was declared dead beside the refusals"

# drover-task checks the spec it is started with against the same table.
rc=0
DROVER_SPEC="{$TRAIN,\"epochs\":0}" DROVER_STEP=fit "$DROVER_BIN/drover-task" train \
    >"$T_DIR/task.out" 2>&1 </dev/null || rc=$?
assert_eq 2 "$rc" "exit status of drover-task on a bad spec"
assert_eq "drover-task: bad train spec: step 'fit': 'epochs' must be between 1 and 1000000" \
    "$(cat "$T_DIR/task.out")" "drover-task's message"

# ------------------------------------------------------ 2. escaping ---
drover schedule pause $'evil\e[2J\rname' >"$T_DIR/esc.out" 2>&1 && fail "pause of an unknown schedule succeeded"
grep -qF 'evil\x1b[2J\x0dname' "$T_DIR/esc.out" || fail "the name is not shown escaped: $(cat -v "$T_DIR/esc.out")"
LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$T_DIR/esc.out" && fail "control bytes reached the terminal: $(cat -v "$T_DIR/esc.out")"

# -------------------------------------------------------- 3. queues ---
K="$T_DIR/k"
mkdir -p "$K"
for k in bob carol; do
    drover keygen --out "$K/$k" --name "$k" >/dev/null || fail "keygen $k"
    drover keys allow client "$K/$k.pub" --role submitter >/dev/null || fail "allow $k exited $?"
done
as() { local key="$1"; shift; DROVER_KEY="$K/$key" drover "$@"; }

as bob queue create bq >"$T_DIR/q.out" 2>&1 && fail "a submitter created a queue"
grep -q "permission denied" "$T_DIR/q.out" || fail "queue create by a submitter: $(cat "$T_DIR/q.out")"
printf '%s\n' 'workflow = "inq"; queue = "bq"; steps = ({ name = "s"; kind = "exec"; command = "sleep 1"; });' >"$T_DIR/q.cfg"
drover submit "$T_DIR/q.cfg" >"$T_DIR/q.out" 2>&1 && fail "a submit to an unknown queue succeeded"
grep -qF "unknown queue 'bq' (an admin creates it: drover queue create bq)" "$T_DIR/q.out" ||
    fail "submit to an unknown queue: $(cat "$T_DIR/q.out")"
drover queue create bq --limit 2 >/dev/null || fail "drover queue create bq --limit 2 exited $?"
assert_eq '{"limit":2,"paused":false}' "$(drover --json queue list | jq -c '.[] | select(.name == "bq") | {limit, paused}')" "bq after create"
run=$(submit "$T_DIR/q.cfg")
drover queue rm bq >"$T_DIR/q.out" 2>&1 && fail "queue rm with an active run succeeded"
grep -q "active run" "$T_DIR/q.out" || fail "queue rm while busy: $(cat "$T_DIR/q.out")"
assert_eq succeeded "$(wait_run "$run")" "state of the run in bq"
drover queue rm bq >/dev/null || fail "drover queue rm bq exited $?"
assert_eq "" "$(drover --json queue list | jq -r '.[] | select(.name == "bq") | .name')" "bq after rm"
drover queue rm default >/dev/null 2>&1 && fail "the default queue was removed"
drover submit "$T_DIR/q.cfg" >/dev/null 2>&1 && fail "a submit to a removed queue succeeded"
drover queue create default >"$T_DIR/q.out" 2>&1 && fail "the default queue was created twice"
grep -q "already exists" "$T_DIR/q.out" || fail "create of an existing queue: $(cat "$T_DIR/q.out")"

# ----------------------------------------------------- 4. schedules ---
sched() { printf '%s\n' "workflow = \"$1\"; schedule = { cron = \"0 3 * * *\"; };" \
    'steps = ({ name = "s"; kind = "exec"; command = "true"; });' >"$T_DIR/$1.cfg"; echo "$T_DIR/$1.cfg"; }
as bob submit "$(sched bobs)" >/dev/null || fail "bob registers his schedule"
drover submit "$(sched admins)" >/dev/null || fail "the admin registers a schedule"
as carol submit "$T_DIR/bobs.cfg" >"$T_DIR/s.out" 2>&1 && fail "carol replaced bob's schedule"
grep -q "belongs to key 'bob'" "$T_DIR/s.out" || fail "replace by carol: $(cat "$T_DIR/s.out")"
as carol submit "$T_DIR/admins.cfg" >/dev/null 2>&1 && fail "carol replaced the admin's schedule"
for op in pause rm trigger; do
    as carol schedule "$op" bobs >/dev/null 2>&1 && fail "carol could $op bob's schedule"
done
assert_eq "bob false" "$(drover --json schedule list | jq -r '.[] | select(.name == "bobs") | "\(.owner) \(.paused)"')" "bobs after carol's tries"
as bob schedule pause bobs >/dev/null || fail "bob pauses his own schedule"
drover schedule resume bobs >/dev/null || fail "an admin resumes bob's schedule"
drover keys revoke bob >/dev/null || fail "revoke bob exited $?"
assert_eq "true" "$(drover --json schedule list | jq -r '.[] | select(.name == "bobs") | .paused')" "bobs after bob's key was revoked"
drover --json schedule list | jq -r '.[] | select(.name == "bobs") | .paused_reason' | grep -q "owner key 'bob' was revoked" ||
    fail "no reason for the pause: $(drover --json schedule list)"
assert_eq "false" "$(drover --json schedule list | jq -r '.[] | select(.name == "admins") | .paused')" "the admin's schedule"
drover schedule list >"$T_DIR/sl.txt" || fail "drover schedule list exited $?"
grep -q "^bobs: paused: owner key 'bob' was revoked" "$T_DIR/sl.txt" || fail "schedule list: $(cat "$T_DIR/sl.txt")"
grep -Eq '^bobs .* yes \(see below\) +bob$' "$T_DIR/sl.txt" || fail "schedule list row: $(cat "$T_DIR/sl.txt")"

# ------------------------------------------------------- 5. triggers ---
trig() { printf '%s\n' "workflow = \"$1\"; trigger = { watch = \"$2\"; min_new_rows = 1; };" \
    'steps = ({ name = "s"; kind = "exec"; command = "true"; });' >"$T_DIR/t.cfg"; }
OUT="$(mktemp -d "${TMPDIR:-/tmp}/drover-outside.XXXXXX")"
T_CLEANUP_HOOKS+=("rm -rf '$OUT'")
printf 'x\n1\n2\n3\n' >"$OUT/rows.csv"
touch -d '-1 hour' "$OUT/rows.csv"
trig out "$OUT"
drover submit "$T_DIR/t.cfg" >"$T_DIR/t.out" 2>&1 && fail "a trigger outside the roots was registered"
grep -q "outside the folders triggers may watch" "$T_DIR/t.out" || fail "outside: $(cat "$T_DIR/t.out")"
mkdir -p "$T_DIR/feed"
trig dotdot "$T_DIR/feed/../../$(basename "$OUT")"
drover submit "$T_DIR/t.cfg" >/dev/null 2>&1 && fail "a trigger escaping with .. was registered"
ln -s "$OUT" "$T_DIR/link"
trig link "$T_DIR/link"
drover submit "$T_DIR/t.cfg" >/dev/null 2>&1 && fail "a trigger escaping through a symlink was registered"
trig feed "$T_DIR/feed"
drover submit "$T_DIR/t.cfg" >/dev/null || fail "a trigger under the root was refused"
# Swap the registered folder for a symlink out: its rows are never counted.
mv "$T_DIR/feed" "$T_DIR/feed.old"
ln -s "$OUT" "$T_DIR/feed"
wait_for "the coordinator notices the swapped folder" 20 grep -q "trigger feed: not scanning" "$T_DIR/coordinator.log"
assert_eq 0 "$(drover --json schedule list | jq '.[] | select(.name == "feed") | .pending_rows')" "rows counted outside the roots"
assert_eq 0 "$(sql "select count(*) from drover.runs where workflow = 'feed'")" "runs of the swapped trigger"

# No roots configured: triggers are refused, saying what to set.
rules_coord_stop() { stop_pid coordinator "${T_PROCS[coordinator]}" || true; unset 'T_PROCS[coordinator]'; }
rules_coord_stop
T_TRIGGER_ROOTS="" coord_start
trig feed2 "$T_DIR/feed.old"
drover submit "$T_DIR/t.cfg" >"$T_DIR/t.out" 2>&1 && fail "a trigger was registered with no roots configured"
grep -qF 'set coordinator.trigger_roots = ["/data/feedback"]' "$T_DIR/t.out" || fail "no roots: $(cat "$T_DIR/t.out")"

# ---------------------------------------------------- 6. test clock ---
# The clock file says 2100; without coordinator.test_clock it is ignored.
echo 4102444800 >"$T_DIR/clock"
export DROVER_CLOCK_FILE="$T_DIR/clock"
rules_coord_stop
T_TEST_CLOCK=0 coord_start
drover submit "$(sched clock1)" >/dev/null || fail "register clock1"
next=$(drover --json schedule list | jq -r '.[] | select(.name == "clock1") | .next_due')
[[ "$next" != 2100-* ]] || fail "the clock file moved the calendar without test_clock: $next"
grep -q "TEST CLOCK" "$T_DIR/coordinator.log" && fail "a test-clock warning without test_clock"
rules_coord_stop
coord_start
grep -q "TEST CLOCK" "$T_DIR/coordinator.log" || fail "no warning with test_clock = true"
drover submit "$(sched clock2)" >/dev/null || fail "register clock2"
next=$(drover --json schedule list | jq -r '.[] | select(.name == "clock2") | .next_due')
[[ "$next" == 2100-* ]] || fail "test_clock = true but the clock file was not read: $next"
unset DROVER_CLOCK_FILE
