/* cmd_logs — `drover logs RUN STEP [--follow] [--attempt N]`.
 *
 * The coordinator keeps each attempt's stdout and stderr as byte streams;
 * we ask for bytes from our per-stream offsets and advance them to the
 * offsets the reply reports, so nothing is printed twice or skipped even
 * when a reply carries only part of what is there. Bytes are passed through
 * untouched (stdout to stdout, stderr to stderr) as they arrive.
 *
 * Without --follow we read until a reply brings nothing new; with --follow
 * we long-poll until the reply says the task has ended and everything has
 * been returned. Unless --attempt pins one, we show the latest attempt: if
 * a retry starts while we read, the offsets no longer belong to the stream
 * the coordinator answers from, so we start over at 0 on the new attempt.
 *
 * --follow rides through a coordinator restart, a failover or a database
 * outage the way `drover wait` does: no reply, or an UNAVAILABLE /
 * DB_UNAVAILABLE answer, is retried (once a second) for up to 60 s since
 * the last good reply, from the offsets last printed, so nothing is printed
 * twice or skipped across it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "output.h"
#include "util.h"
#include "wire.h"

#define LOGS_WAIT_MS   1000
#define LOGS_OUTAGE_MS 60000

static void s_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --follow: the reply, or NULL (rc CLI_EXIT_OK) when the coordinator is
 * away for now and the caller should ask again; any other rc ends. */
static Drover__ClientReply *s_follow_call(cli_t *cli, Drover__ClientRequest *req,
                                          const char *not_found, int64_t *last_ok, int *warned,
                                          int *rc)
{
    int64_t sent = util_mono_ms();
    Drover__ClientReply *rep = client_call(cli->client, req, LOGS_WAIT_MS + cli->timeout_ms);
    char why[300] = "coordinator not answering";
    *rc = CLI_EXIT_OK;
    if (!rep && errno != ETIMEDOUT) {
        fprintf(stderr, "drover: talking to the coordinator at %s failed: %s\n", cli->endpoint,
                strerror(errno));
        *rc = CLI_EXIT_UNREACHABLE;
        return NULL;
    }
    if (rep && rep->error == DROVER__ERROR_CODE__ERROR_NONE) {
        *last_ok = util_mono_ms();
        *warned = 0;
        return rep;
    }
    if (rep && rep->error != DROVER__ERROR_CODE__ERROR_UNAVAILABLE &&
        rep->error != DROVER__ERROR_CODE__ERROR_DB_UNAVAILABLE) {
        *rc = cli_reply_error(rep, not_found);
        drover__client_reply__free_unpacked(rep, NULL);
        return NULL;
    }
    if (rep) {
        snprintf(why, sizeof why, "coordinator cannot serve now (%s)",
                 rep->message && *rep->message ? rep->message : "unavailable");
        drover__client_reply__free_unpacked(rep, NULL);
    }
    if (util_mono_ms() - *last_ok >= LOGS_OUTAGE_MS) {
        fprintf(stderr,
                "drover: no reply from the coordinator at %s for %ds; the step may still "
                "be running (drover logs again to resume).\n",
                cli->endpoint, LOGS_OUTAGE_MS / 1000);
        cli_unreachable_hint();
        *rc = CLI_EXIT_UNREACHABLE;
        return NULL;
    }
    if (!*warned) {
        fprintf(stderr, "drover: %s; still trying…\n", why);
        *warned = 1;
    }
    int64_t spent = util_mono_ms() - sent;
    if (spent < LOGS_WAIT_MS)
        s_sleep_ms(LOGS_WAIT_MS - spent); /* an UNAVAILABLE answer comes at once */
    return NULL;
}

typedef struct {
    uint8_t *data;
    size_t len, cap;
} s_bytes_t;

static int s_bytes_add(s_bytes_t *b, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static int s_write(FILE *f, const ProtobufCBinaryData *d)
{
    if (d->len == 0)
        return 0;
    if (fwrite(d->data, 1, d->len, f) != d->len || fflush(f) != 0)
        return -1;
    return 0;
}

static json_t *s_logs_json(uint64_t run_id, const char *step, uint32_t attempt,
                           Drover__TaskState state, const s_bytes_t *out, const s_bytes_t *err)
{
    int bad = 0;
    json_t *o = json_object();
    out_json_set(o, "run_id", json_integer((json_int_t)run_id), &bad);
    out_json_set(o, "step", json_string(step), &bad);
    out_json_set(o, "attempt", json_integer(attempt), &bad);
    out_json_set(o, "state", json_string(wire_task_state_name(state)), &bad);
    out_json_set(o, "stdout", out_json_bytes(out->data, out->len), &bad);
    out_json_set(o, "stderr", out_json_bytes(err->data, err->len), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int s_logs(cli_t *cli, int argc, char **argv)
{
    int follow = 0;
    const char *attempt_s = NULL;
    const cli_opt_t opts[] = {{"follow", 'f', 0, &follow, NULL},
                              {"attempt", 0, 1, NULL, &attempt_s},
                              {NULL, 0, 0, NULL, NULL}};
    char *pos[2];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, pos, 2, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    uint64_t run_id, attempt = 0;
    if (cli_parse_run_id(cli, pos[0], &run_id) < 0)
        return CLI_EXIT_USAGE;
    if (attempt_s && cli_parse_count(cli, "--attempt", attempt_s, UINT32_MAX, &attempt) < 0)
        return CLI_EXIT_USAGE;
    if (follow && cli->json)
        return cli_usage_error(
            cli, "--json collects the whole output; it cannot be combined with --follow");
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;

    const char *step = pos[1];
    char not_found[512];
    snprintf(not_found, sizeof not_found, "run %llu has no step '%s' (or no such run)",
             (unsigned long long)run_id, step);
    s_bytes_t out = {0}, err = {0};
    uint64_t off_out = 0, off_err = 0;
    uint32_t cur = (uint32_t)attempt; /* 0 until the first reply names one */
    Drover__TaskState state = DROVER__TASK_STATE__TASK_STATE_UNSPECIFIED;
    int64_t last_ok = util_mono_ms();
    int warned = 0;
    for (;;) {
        Drover__LogsRequest lr = DROVER__LOGS_REQUEST__INIT;
        lr.run_id = run_id;
        lr.step = (char *)step;
        lr.attempt = (uint32_t)attempt;
        lr.stdout_offset = off_out;
        lr.stderr_offset = off_err;
        lr.wait_ms = follow ? LOGS_WAIT_MS : 0;
        Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
        req.body_case = DROVER__CLIENT_REQUEST__BODY_LOGS;
        req.logs = &lr;
        Drover__ClientReply *rep = NULL;
        if (follow) {
            rep = s_follow_call(cli, &req, not_found, &last_ok, &warned, &rc);
            if (rc != CLI_EXIT_OK)
                goto out;
            if (!rep)
                continue; /* from the same offsets */
        } else if ((rc = cli_call(cli, &req, lr.wait_ms, not_found, &rep)) != CLI_EXIT_OK) {
            goto out;
        }
        const Drover__LogsReply *L = rep->logs;
        if (!L) {
            fprintf(stderr, "drover: the coordinator's reply carried no logs\n");
            drover__client_reply__free_unpacked(rep, NULL);
            rc = CLI_EXIT_UNREACHABLE;
            goto out;
        }
        if (cur != 0 && L->attempt != cur && attempt == 0) {
            /* A newer attempt: our offsets belong to the old one. */
            cur = L->attempt;
            off_out = off_err = 0;
            out.len = err.len = 0;
            if (!cli->json)
                fprintf(stderr, "drover: --- attempt %u of %s ---\n", cur, step);
            drover__client_reply__free_unpacked(rep, NULL);
            continue;
        }
        cur = L->attempt;
        state = L->state;
        int got = L->stdout_data.len > 0 || L->stderr_data.len > 0;
        int werr = 0;
        if (cli->json)
            werr = s_bytes_add(&out, L->stdout_data.data, L->stdout_data.len) < 0 ||
                   s_bytes_add(&err, L->stderr_data.data, L->stderr_data.len) < 0;
        else
            werr = s_write(stdout, &L->stdout_data) < 0 || s_write(stderr, &L->stderr_data) < 0;
        /* Never move backwards: a reply without bytes may echo offset 0. */
        if (L->stdout_offset > off_out)
            off_out = L->stdout_offset;
        if (L->stderr_offset > off_err)
            off_err = L->stderr_offset;
        int finished = L->finished;
        drover__client_reply__free_unpacked(rep, NULL);
        if (werr) {
            fprintf(stderr, "drover: cannot write the log output\n");
            rc = CLI_EXIT_UNREACHABLE;
            goto out;
        }
        if (finished || (!follow && !got))
            break;
    }
    rc = cli->json ? cli_emit_json(s_logs_json(run_id, step, cur, state, &out, &err)) : CLI_EXIT_OK;
out:
    free(out.data);
    free(err.data);
    return rc;
}

const cli_verb_t cmd_logs_verb = {
    .name = "logs",
    .synopsis = "RUN STEP [--follow] [--attempt N]",
    .summary = "print a step's stdout and stderr; --follow streams",
    .help = "Prints what step STEP of run RUN wrote: its stdout on stdout and its stderr\n"
            "on stderr, byte for byte. Shows the latest attempt unless --attempt is given.\n"
            "Output that never reached the coordinator (lost with a message) shows, once the\n"
            "attempt has ended, as one line in its place:\n"
            "  [drover: N bytes of this output never reached the coordinator]\n"
            "\n"
            "Options:\n"
            "  -f, --follow        keep printing new output until the step ends (rides\n"
            "                      through a coordinator restart of up to 60 s)\n"
            "  --attempt N         show attempt N instead of the latest\n"
            "\n"
            "With --json (not with --follow) prints one object with run_id, step, attempt,\n"
            "state, stdout and stderr (invalid UTF-8 bytes become U+FFFD).\n"
            "\n"
            "Examples:\n"
            "  drover logs 42 train\n"
            "  drover logs 42 train --follow\n"
            "  drover logs 42 train --attempt 1 2>&1 | less",
    .run = s_logs,
};
