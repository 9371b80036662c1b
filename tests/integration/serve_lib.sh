# shellcheck shell=bash
# serve_lib.sh — helpers of the drover-serve integration tests (sourced
# after lib.sh): a drover-serve with a reader key of its own on a free
# port, and a hammering client whose every answer is checked.

# serve_config MODEL EXTRA: drover-serve's reader key (allowed), a tokens
# file (mode 0600) with one token for "adjuster", and $T_DIR/serve.cfg
# serving MODEL with EXTRA settings (libconfig lines). Sets TOKEN, PORT,
# URL and FB (the feedback folder).
serve_config() {
    drover keygen --out "$T_KEYS/serve" >/dev/null || fail "keygen serve"
    drover keys allow client "$T_KEYS/serve.pub" --role reader >/dev/null || fail "keys allow serve"
    TOKEN=0123456789abcdef0123456789abcdef
    printf '# test tokens\nadjuster %s\n' "$TOKEN" >"$T_DIR/tokens"
    chmod 600 "$T_DIR/tokens"
    PORT=$(freeport)
    URL="http://127.0.0.1:$PORT"
    FB="$T_DIR/feedback"
    cat >"$T_DIR/serve.cfg" <<CFG
serve = {
  listen = "127.0.0.1:$PORT";
  models = [ "$1" ];
  coordinator = "$COORD_CLIENT_EP";
  secret_key = "$T_KEYS/serve";
  coordinator_key = "$T_KEYS/coordinator.pub";
  artifact_dir = "$T_DIR/artifacts";
  tokens = "$T_DIR/tokens";
  log_dir = "$T_DIR/serve-log";
  feedback_dir = "$FB";
  poll_interval = "200ms";
$2
};
CFG
}

# serve_start [WHAT]: starts drover-serve with $T_DIR/serve.cfg (log
# $T_DIR/serve.log), sets SERVE_PID and waits until it is ready.
serve_start() {
    drover-serve --config "$T_DIR/serve.cfg" </dev/null >>"$T_DIR/serve.log" 2>&1 &
    SERVE_PID=$!
    t_track_pid "$SERVE_PID"
    wait_for "${1:-drover-serve is ready}" 30 curl -sf "$URL/readyz"
}

# serving MODEL VERSION: drover-serve's metrics say it serves VERSION of MODEL
# (a function, so that wait_for asks again on every try; no pipe into
# grep -q, whose early exit would fail curl under pipefail).
serving() {
    local m
    m=$(curl -s "$URL/metrics") && grep -q "^drover_serve_model_version{model=\"$1\"} $2\$" <<<"$m"
}

# served: the predict requests drover-serve has answered; served_gt N.
served() { curl -s "$URL/metrics" | awk '$1 == "drover_serve_predict_requests_total" { print $2 }'; }
served_gt() { test "$(served)" -gt "$1"; }

# hammer_start PATH CSV: drover-serveload on 2 connections sending CSV's
# rows to PATH until $T_DIR/stop exists; every answer in $T_DIR/hammer.log.
hammer_start() {
    rm -f "$T_DIR/stop"
    drover-serveload --addr "127.0.0.1:$PORT" --path "$1" --token "$TOKEN" --csv "$2" \
        --label damage --conns 2 --until "$T_DIR/stop" --log "$T_DIR/hammer.log" >"$T_DIR/hammer.out" 2>&1 &
    HAMMER=$!
    t_track_pid "$HAMMER"
}

# hammer_check OLD NEW [MIN]: stops the hammer; it saw no failure, every
# answer was 200 and named version OLD or NEW, each connection switched
# once, from OLD to NEW, and there were at least MIN answers.
hammer_check() {
    touch "$T_DIR/stop"
    wait "$HAMMER" || fail "the hammering client saw failures: $(cat "$T_DIR/hammer.out")"
    log "hammer: $(cat "$T_DIR/hammer.out")"
    awk -v old="$1" -v new="$2" -v min="${3:-0}" '
     /^# conn/ { conn++; prev = 0; next }
     $1 != 200 { print "status " $1; bad = 1 }
     $2 != old && $2 != new { print "version " $2; bad = 1 }
     prev == new && $2 == old { print "conn " conn " went back from " new " to " old; bad = 1 }
     { if ($2 != prev && prev) switches[conn]++; prev = $2; n++; seen[$2]++ }
     END { for (c = 1; c <= conn; c++) if (switches[c] != 1) { print "conn " c " switched " switches[c] + 0 " times"; bad = 1 }
           if (!seen[old] || !seen[new]) { print "versions seen: " old "=" seen[old] " " new "=" seen[new]; bad = 1 }
           if (n < min) { print "only " n " requests"; bad = 1 }
           exit bad }' "$T_DIR/hammer.log" || fail "hammer answers (above)"
}
