/* cmd_sched — the scheduling verbs: `drover schedule list|next|pause|resume|
 * rm|trigger`, `drover queue list|create|rm|pause|resume|limit|time-limit`, `drover why
 * RUN STEP` and `drover hold|release RUN [STEP]`
 * (docs/scheduling.md).
 *
 * Design: each verb is one request (ScheduleRequest, QueueRequest,
 * WhyRequest). The lists come back as one JSON array in ClientReply.json,
 *   schedule list: [{"name","kind":"schedule"|"trigger","cron","timezone",
 *                    "catchup","max_active","next_due":ISO,"last_run":id|null,
 *                    "last_outcome":state|null,"paused":bool,"paused_reason",
 *                    "owner","watch","min_new_rows","pending_rows","queued",
 *                    "catchup_max","lateness_s","last_catchup"}]
 *   schedule next: {"name","timezone","paused","due":[{"at":ISO,"unix"}]}
 *   queue list:    [{"name","ready","running","limit","paused","time_limit_s"}]
 * printed unchanged with --json and as a table otherwise; every other
 * answer is the coordinator's sentence in ClientReply.message, printed as
 * it is (with a plain fallback when the coordinator sent none).
 *
 * Invariant: as in cmd_ml.c, the documents come from another program that
 * may be older or newer, so every field is optional here: a missing or
 * mistyped one prints as "-" and never fails the verb; only a reply that is
 * not a JSON array is an error (exit 3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "util.h"

extern const cli_verb_t cmd_schedule_verb, cmd_queue_verb, cmd_why_verb, cmd_hold_verb,
    cmd_release_verb;

/* Largest queue limit accepted from the command line (0 = unlimited). */
#define SCHED_MAX_LIMIT 1000000

/* ------------------------------------------------------- JSON fields --- */

static const char *s_str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An integer field, or -1 when absent, null or not an integer. */
static long long s_int(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* The coordinator's list document, or NULL after printing why not. */
static json_t *s_list_doc(const Drover__ClientReply *rep)
{
    json_error_t e;
    json_t *doc = rep->json && *rep->json ? json_loads(rep->json, 0, &e) : NULL;
    if (!json_is_array(doc)) {
        const char *why = !doc && rep->json && *rep->json ? e.text : "";
        fprintf(stderr,
                "drover: the coordinator's reply holds no list%s%s\n"
                "  (is the coordinator older than this drover?)\n",
                *why ? ": " : "", why);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static out_color_t s_state_color(const char *state)
{
    if (!state)
        return OUT_DIM;
    if (strcmp(state, "succeeded") == 0)
        return OUT_GREEN;
    if (strcmp(state, "failed") == 0)
        return OUT_RED;
    if (strcmp(state, "running") == 0 || strcmp(state, "rejected") == 0)
        return OUT_YELLOW;
    return OUT_PLAIN;
}

/* "2026-03-29T03:00:00+02:00" -> "2026-03-29 03:00:00+02:00": the due time
 * stays in the schedule's own zone, which is what the cron line means. */
static void s_fmt_due(const char *iso, char *buf, size_t len)
{
    snprintf(buf, len, "%s", iso && *iso ? iso : "-");
    char *t = strchr(buf, 'T');
    if (t && t - buf == 10)
        *t = ' ';
}

/* Sends req; on success hands back the reply (caller frees). */
static int s_call(cli_t *cli, Drover__ClientRequest *req, const char *not_found,
                  Drover__ClientReply **rep)
{
    int rc = cli_connect(cli);
    if (rc != CLI_EXIT_OK)
        return rc;
    return cli_call(cli, req, 0, not_found, rep);
}

/* The answer to a change (pause, resume, rm, trigger, limit): the
 * coordinator's sentence, or fallback. */
static int s_done(cli_t *cli, const Drover__ClientReply *rep, const char *op, const char *name,
                  const char *fallback)
{
    const char *msg = rep->message && *rep->message ? rep->message : NULL;
    if (cli->json) {
        int bad = 0;
        json_t *o = json_object();
        out_json_set(o, "op", json_string(op), &bad);
        out_json_set(o, "name", json_string(name), &bad);
        if (rep->run_id)
            out_json_set(o, "run_id", json_integer((json_int_t)rep->run_id), &bad);
        out_json_set(o, "message", json_string(msg ? msg : fallback), &bad);
        if (bad) {
            json_decref(o);
            o = NULL;
        }
        return cli_emit_json(o);
    }
    printf("%s\n", msg ? msg : fallback);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------- schedule --- */

static int s_schedule_list(cli_t *cli, const Drover__ClientReply *rep)
{
    json_t *doc = s_list_doc(rep);
    if (!doc)
        return CLI_EXIT_UNREACHABLE;
    if (cli->json)
        return cli_emit_json(doc);
    if (json_array_size(doc) == 0) {
        json_decref(doc);
        printf("no schedules or triggers (submit a workflow with schedule = { ... } or "
               "trigger = { ... })\n");
        return CLI_EXIT_OK;
    }
    static const char *const hdr[] = {"NAME",     "CRON",    "TZ",     "NEXT",
                                      "LAST-RUN", "OUTCOME", "PAUSED", "OWNER"};
    out_table_t *t = out_table_new(hdr, 8);
    size_t i;
    json_t *e;
    json_array_foreach(doc, i, e)
    {
        const char *name = s_str(e, "name"), *kind = s_str(e, "kind");
        const char *outcome = s_str(e, "last_outcome");
        int trigger = kind && strcmp(kind, "trigger") == 0;
        long long last = s_int(e, "last_run");
        int paused = json_is_true(json_object_get(e, "paused"));
        char next[96];
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%s", name ? name : "-");
        if (trigger) {
            /* No calendar: the cron column says what it waits for. */
            const char *watch = s_str(e, "watch");
            long long pend = s_int(e, "pending_rows"), min = s_int(e, "min_new_rows");
            out_table_cell(t, OUT_PLAIN, "on new rows in %s", watch ? watch : "-");
            out_table_cell(t, OUT_DIM, "-");
            if (pend >= 0 && min >= 0)
                snprintf(next, sizeof next, "%lld/%lld rows", pend, min);
            else
                snprintf(next, sizeof next, "-");
        } else {
            const char *cron = s_str(e, "cron"), *tz = s_str(e, "timezone");
            out_table_cell(t, OUT_PLAIN, "%s", cron ? cron : "-");
            out_table_cell(t, OUT_PLAIN, "%s", tz ? tz : "-");
            s_fmt_due(s_str(e, "next_due"), next, sizeof next);
        }
        out_table_cell(t, paused ? OUT_DIM : OUT_PLAIN, "%s", paused ? "(paused)" : next);
        if (last > 0)
            out_table_cell(t, OUT_PLAIN, "%lld", last);
        else
            out_table_cell(t, OUT_DIM, "-");
        out_table_cell(t, s_state_color(outcome), "%s", outcome ? outcome : "-");
        const char *reason = s_str(e, "paused_reason"), *owner = s_str(e, "owner");
        out_table_cell(t, paused ? OUT_YELLOW : OUT_PLAIN, "%s",
                       !paused             ? "no"
                       : reason && *reason ? "yes (see below)"
                                           : "yes");
        out_table_cell(t, OUT_PLAIN, "%s", owner && *owner ? owner : "-");
    }
    out_table_align_right(t, 4);
    int rc = cli_print_table(cli, &t);
    /* Due times waiting behind max_active, and what the last catch-up did. */
    json_array_foreach(doc, i, e)
    {
        const char *name = s_str(e, "name"), *report = s_str(e, "last_catchup");
        long long queued = s_int(e, "queued");
        char *en = out_escape(name ? name : "-", 0);
        if (rc == CLI_EXIT_OK && en && queued > 0)
            printf("%s: %lld due time%s queued behind max_active\n", en, queued,
                   queued == 1 ? "" : "s");
        if (rc == CLI_EXIT_OK && en && report && *report) {
            char *er = out_escape(report, 0);
            if (er)
                printf("%s: last catch-up: %s\n", en, er);
            free(er);
        }
        free(en);
    }
    /* Why a schedule paused itself (its owner's key was revoked). */
    json_array_foreach(doc, i, e)
    {
        const char *name = s_str(e, "name"), *reason = s_str(e, "paused_reason");
        if (rc == CLI_EXIT_OK && json_is_true(json_object_get(e, "paused")) && reason && *reason) {
            char *en = out_escape(name ? name : "-", 0), *er = out_escape(reason, 0);
            if (en && er)
                printf("%s: paused: %s\n", en, er);
            free(en);
            free(er);
        }
    }
    json_decref(doc);
    return rc;
}

/* `schedule next`: one due time a line, in the schedule's zone. */
static int s_schedule_next(cli_t *cli, const Drover__ClientReply *rep)
{
    json_error_t e;
    json_t *doc = rep->json && *rep->json ? json_loads(rep->json, 0, &e) : NULL;
    json_t *due = json_object_get(doc, "due");
    if (!json_is_array(due)) {
        fprintf(stderr, "drover: the coordinator's reply holds no due times\n"
                        "  (is the coordinator older than this drover?)\n");
        json_decref(doc);
        return CLI_EXIT_UNREACHABLE;
    }
    if (cli->json)
        return cli_emit_json(doc);
    size_t i;
    json_t *d;
    json_array_foreach(due, i, d)
    {
        char at[96];
        s_fmt_due(s_str(d, "at"), at, sizeof at);
        printf("%s\n", at);
    }
    if (json_is_true(json_object_get(doc, "paused")))
        fprintf(stderr, "(paused: none of these runs until `drover schedule resume %s`)\n",
                s_str(doc, "name") ? s_str(doc, "name") : "NAME");
    json_decref(doc);
    return CLI_EXIT_OK;
}

static int s_schedule(cli_t *cli, int argc, char **argv)
{
    char *pos[2];
    size_t npos;
    int force = 0;
    const char *count_s = NULL;
    const cli_opt_t opts[] = {
        {"force", 0, 0, &force, NULL}, {"count", 'n', 1, NULL, &count_s}, {NULL, 0, 0, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    const char *op = pos[0];
    static const char *const ops[] = {"list", "next", "pause", "resume", "rm", "trigger", NULL};
    int known = 0;
    for (size_t i = 0; ops[i]; i++)
        known |= strcmp(op, ops[i]) == 0;
    if (!known)
        return cli_usage_error(cli,
                               "unknown schedule command '%s' (list, next, pause, resume, "
                               "rm, trigger)",
                               op);
    if (force && strcmp(op, "trigger") != 0)
        return cli_usage_error(cli, "--force goes with `drover schedule trigger NAME`");
    uint64_t count = 0;
    if (count_s && strcmp(op, "next") != 0)
        return cli_usage_error(cli, "-n goes with `drover schedule next NAME`");
    if (count_s && cli_parse_count(cli, "-n", count_s, 100, &count) < 0)
        return CLI_EXIT_USAGE;
    int list = strcmp(op, "list") == 0;
    if (list && npos != 1)
        return cli_usage_error(cli, "`drover schedule list` takes no name");
    if (!list && npos != 2)
        return cli_usage_error(cli,
                               "which schedule? `drover schedule %s NAME` (the workflow's "
                               "name; see `drover schedule list`)",
                               op);
    const char *name = list ? "" : pos[1];

    Drover__ScheduleRequest sr = DROVER__SCHEDULE_REQUEST__INIT;
    sr.op = (char *)op;
    sr.name = (char *)name;
    sr.force = force;
    sr.count = (uint32_t)count;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_SCHEDULE;
    req.schedule = &sr;
    char not_found[320];
    snprintf(not_found, sizeof not_found,
             "no schedule or trigger named '%.200s' (see `drover schedule list`)", name);
    Drover__ClientReply *rep = NULL;
    if ((rc = s_call(cli, &req, not_found, &rep)) != CLI_EXIT_OK)
        return rc;
    if (list) {
        rc = s_schedule_list(cli, rep);
    } else if (strcmp(op, "next") == 0) {
        rc = s_schedule_next(cli, rep);
    } else {
        char fallback[320];
        if (strcmp(op, "trigger") == 0 && rep->run_id)
            snprintf(fallback, sizeof fallback, "started run %llu of %s",
                     (unsigned long long)rep->run_id, name);
        else
            snprintf(fallback, sizeof fallback, "%s: %s", name,
                     strcmp(op, "pause") == 0    ? "paused"
                     : strcmp(op, "resume") == 0 ? "resumed"
                     : strcmp(op, "rm") == 0     ? "removed"
                                                 : "triggered");
        rc = s_done(cli, rep, op, name, fallback);
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_schedule_verb = {
    .name = "schedule",
    .synopsis = "list | next NAME | pause|resume|rm|trigger NAME",
    .summary = "periodic and data-triggered workflows",
    .help = "Submitting a workflow file with schedule = { ... } or trigger = { ... }\n"
            "registers it under the workflow's name instead of running it once; these\n"
            "commands look after what was registered (docs/scheduling.md). A schedule\n"
            "belongs to the key that registered it: only that key or an admin may replace,\n"
            "pause, resume, remove or trigger it. When the owner's key is revoked its\n"
            "schedules pause, and the list says why.\n"
            "\n"
            "Commands:\n"
            "  list           every schedule and trigger: cron line and time zone (or the\n"
            "                 folder watched), the next due time in that zone (or new rows\n"
            "                 seen / rows needed), the last run and how it ended, whether\n"
            "                 it is paused (and why, when it paused itself), its owner key;\n"
            "                 OUTCOME is what happened last: the run's state, or queued /\n"
            "                 skipped when the latest due time was held back by max_active;\n"
            "                 below the table: due times queued, the last catch-up's report\n"
            "                 (\"289 missed, 100 queued, 189 skipped\")\n"
            "  next NAME      the next due times (-n N, default 5, at most 100) in the\n"
            "                 schedule's zone\n"
            "  pause NAME     stop starting runs; due times pass unrun while paused\n"
            "  resume NAME    start again from the next due time (nothing is caught up)\n"
            "  rm NAME        forget the schedule or trigger (runs it started stay)\n"
            "  trigger NAME   start one run now, off the calendar; refused while max_active\n"
            "                 runs of it are active, unless --force\n"
            "\n"
            "Examples:\n"
            "  drover submit examples/claims/nightly.cfg   # registers claims-nightly\n"
            "  drover schedule list\n"
            "  drover schedule trigger claims-nightly\n"
            "  drover schedule next claims-nightly -n 5\n"
            "  drover schedule pause claims-nightly\n"
            "  drover --json schedule list | jq '.[] | select(.last_outcome == \"failed\")'",
    .run = s_schedule,
};

/* ---------------------------------------------------------- queue --- */

static int s_queue_list(cli_t *cli, const Drover__ClientReply *rep)
{
    json_t *doc = s_list_doc(rep);
    if (!doc)
        return CLI_EXIT_UNREACHABLE;
    if (cli->json)
        return cli_emit_json(doc);
    static const char *const hdr[] = {"QUEUE", "READY", "RUNNING", "LIMIT", "PAUSED", "TIME LIMIT"};
    out_table_t *t = out_table_new(hdr, 6);
    size_t i;
    json_t *e;
    json_array_foreach(doc, i, e)
    {
        const char *name = s_str(e, "name");
        long long ready = s_int(e, "ready"), running = s_int(e, "running"),
                  limit = s_int(e, "limit");
        int paused = json_is_true(json_object_get(e, "paused"));
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%s", name ? name : "-");
        if (ready >= 0)
            out_table_cell(t, OUT_PLAIN, "%lld", ready);
        else
            out_table_cell(t, OUT_DIM, "-");
        if (running >= 0)
            out_table_cell(t, running > 0 ? OUT_YELLOW : OUT_PLAIN, "%lld", running);
        else
            out_table_cell(t, OUT_DIM, "-");
        if (limit > 0)
            out_table_cell(t, OUT_PLAIN, "%lld", limit);
        else
            out_table_cell(t, OUT_DIM, "-"); /* 0 = unlimited */
        out_table_cell(t, paused ? OUT_YELLOW : OUT_PLAIN, "%s", paused ? "yes" : "no");
        long long tl = s_int(e, "time_limit_s");
        if (tl > 0)
            out_table_cell(t, OUT_PLAIN, "%llds", tl);
        else
            out_table_cell(t, OUT_DIM, "-");
    }
    for (size_t c = 1; c <= 3; c++)
        out_table_align_right(t, c);
    json_decref(doc);
    return cli_print_table(cli, &t);
}

/* A queue limit: 0 (unlimited) .. SCHED_MAX_LIMIT, digits only. */
static int s_parse_limit(const cli_t *cli, const char *s, uint32_t *out)
{
    unsigned long long v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9' && v <= SCHED_MAX_LIMIT; p++)
        v = v * 10 + (unsigned long long)(*p - '0');
    if (p == s || *p || v > SCHED_MAX_LIMIT) {
        cli_usage_error(cli, "the limit must be a whole number from 0 (no limit) to %d, not '%s'",
                        SCHED_MAX_LIMIT, s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int s_queue(cli_t *cli, int argc, char **argv)
{
    char *pos[3];
    size_t npos;
    const char *limit_s = NULL;
    const cli_opt_t opts[] = {{"limit", 'n', 1, NULL, &limit_s}, {NULL, 0, 0, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, 3, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    const char *op = pos[0];
    int create = strcmp(op, "create") == 0;
    int tlim = strcmp(op, "time-limit") == 0;
    size_t want = strcmp(op, "list") == 0                                 ? 1
                  : strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0 ? 2
                  : create || strcmp(op, "rm") == 0                       ? 2
                  : strcmp(op, "limit") == 0 || tlim                      ? 3
                                                                          : 0;
    if (!want)
        return cli_usage_error(cli,
                               "unknown queue command '%s' (list, create, rm, pause, resume, "
                               "limit, time-limit)",
                               op);
    if (limit_s && !create)
        return cli_usage_error(cli, "--limit goes with `drover queue create NAME --limit N`");
    if (npos != want)
        return cli_usage_error(cli,
                               want == 1   ? "`drover queue list` takes no arguments"
                               : want == 2 ? "which queue? `drover queue %s NAME`"
                                           : "`drover queue %s NAME N` (N running tasks at "
                                             "once, 0 = no limit)",
                               op);
    Drover__QueueRequest qr = DROVER__QUEUE_REQUEST__INIT;
    qr.op = (char *)(tlim ? "time_limit" : op);
    qr.name = (char *)(want > 1 ? pos[1] : "");
    if (tlim) {
        /* A duration, sent as whole seconds in `limit`; 0 = the default. */
        int64_t ms;
        if (util_parse_duration_ms(pos[2], &ms) < 0 || ms / 1000 > (int64_t)UINT32_MAX)
            return cli_usage_error(cli,
                                   "the time limit must be a duration (\"2h\", \"90m\", "
                                   "600; 0 = the coordinator's default), not '%s'",
                                   pos[2]);
        qr.limit = (uint32_t)((ms + 999) / 1000);
    } else if (want == 3 && s_parse_limit(cli, pos[2], &qr.limit) < 0)
        return CLI_EXIT_USAGE;
    if (limit_s && s_parse_limit(cli, limit_s, &qr.limit) < 0)
        return CLI_EXIT_USAGE;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_QUEUE;
    req.queue = &qr;
    char not_found[320];
    snprintf(not_found, sizeof not_found, "no queue named '%.200s' (see `drover queue list`)",
             qr.name);
    Drover__ClientReply *rep = NULL;
    if ((rc = s_call(cli, &req, not_found, &rep)) != CLI_EXIT_OK)
        return rc;
    if (want == 1) {
        rc = s_queue_list(cli, rep);
    } else {
        char fallback[320];
        if (tlim)
            snprintf(fallback, sizeof fallback, "queue %s: time limit %us", qr.name, qr.limit);
        else if (want == 3 && qr.limit == 0)
            snprintf(fallback, sizeof fallback, "queue %s: no limit", qr.name);
        else if (want == 3)
            snprintf(fallback, sizeof fallback, "queue %s: at most %u running", qr.name, qr.limit);
        else
            snprintf(fallback, sizeof fallback, "queue %s: %s", qr.name,
                     create                     ? "created"
                     : strcmp(op, "rm") == 0    ? "removed"
                     : strcmp(op, "pause") == 0 ? "paused"
                                                : "resumed");
        rc = s_done(cli, rep, op, qr.name, fallback);
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_queue_verb = {
    .name = "queue",
    .synopsis = "list | create NAME [--limit N] | rm NAME | pause|resume NAME | limit NAME N | "
                "time-limit NAME DURATION",
    .summary = "queues: what waits, what runs, limits",
    .help = "Every run belongs to a queue (queue = \"NAME\"; in the workflow file, default\n"
            "\"default\"). Within a queue higher priority goes first; between queues the\n"
            "dispatcher takes turns, so no queue starves another. Queues are created by\n"
            "an admin; a workflow naming a queue that does not exist is refused at submit\n"
            "(the default queue always exists).\n"
            "\n"
            "Commands:\n"
            "  list           per queue: steps ready to run, steps running, the limit\n"
            "                 (- = none), whether it is paused, and the time limit of its\n"
            "                 steps without a timeout\n"
            "  create NAME [--limit N]\n"
            "                 a new queue, running, with at most N steps at once (admin)\n"
            "  rm NAME        remove a queue; refused while it has waiting or running work\n"
            "  pause NAME     start no new steps from this queue (running ones finish)\n"
            "  resume NAME    start them again\n"
            "  limit NAME N   run at most N of its steps at once (0 = no limit)\n"
            "  time-limit NAME DURATION\n"
            "                 how long placement assumes its steps without a timeout run\n"
            "                 (reservations, backfill; nothing is killed at it); 0 = the\n"
            "                 coordinator's default_time_limit (admin)\n"
            "\n"
            "Examples:\n"
            "  drover queue list\n"
            "  drover queue create nightly --limit 2\n"
            "  drover queue limit nightly 2\n"
            "  drover queue time-limit nightly 2h\n"
            "  drover queue pause nightly && drover queue resume nightly",
    .run = s_queue,
};

/* ------------------------------------------------------------ why --- */

/* Prints the coordinator's sentence (fallback when it gave none), or with
 * --json {"run_id", "step" (when given), key: the sentence}. */
static int s_answer(cli_t *cli, const Drover__ClientReply *rep, uint64_t run_id, const char *step,
                    const char *key, const char *fallback)
{
    const char *msg = rep->message && *rep->message ? rep->message : fallback;
    if (!cli->json) {
        printf("%s\n", msg);
        return CLI_EXIT_OK;
    }
    int bad = 0;
    json_t *o = json_object();
    out_json_set(o, "run_id", json_integer((json_int_t)run_id), &bad);
    if (step)
        out_json_set(o, "step", json_string(step), &bad);
    out_json_set(o, key, json_string(msg), &bad);
    if (bad) {
        json_decref(o);
        o = NULL;
    }
    return cli_emit_json(o);
}

static int s_why(cli_t *cli, int argc, char **argv)
{
    char *pos[2];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, NULL, pos, 2, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    uint64_t run_id;
    if (cli_parse_run_id(cli, pos[0], &run_id) < 0)
        return CLI_EXIT_USAGE;
    Drover__WhyRequest wr = DROVER__WHY_REQUEST__INIT;
    wr.run_id = run_id;
    wr.step = pos[1];
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_WHY;
    req.why = &wr;
    char not_found[320];
    snprintf(not_found, sizeof not_found,
             "run %llu has no step '%.200s' (see `drover status %llu`)", (unsigned long long)run_id,
             pos[1], (unsigned long long)run_id);
    Drover__ClientReply *rep = NULL;
    if ((rc = s_call(cli, &req, not_found, &rep)) != CLI_EXIT_OK)
        return rc;
    rc = s_answer(cli, rep, run_id, pos[1], "reason", "(the coordinator gave no reason)");
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_why_verb = {
    .name = "why",
    .synopsis = "RUN STEP",
    .summary = "why a step is not running yet, worker by worker",
    .help = "Asks the coordinator why step STEP of run RUN is not running: the steps it\n"
            "still waits for, a paused or full queue, its retry backoff, or how it ended\n"
            "when it is already done. For a ready step: its reservation (\"first in line:\n"
            "w4 is reserved for it\") or the one it waits behind, then each worker with\n"
            "every constraint it does not meet (\"a10-node: labels ok, 2 of 4 GPUs\"),\n"
            "from the same rules placement uses (docs/scheduling.md). A running step\n"
            "says when it started by backfill. A swept step is named STEP.N.\n"
            "\n"
            "Examples:\n"
            "  drover why 42 train.2\n"
            "  drover --json why 42 evaluate",
    .run = s_why,
};

/* ------------------------------------------------------ hold/release --- */

static int s_hold(cli_t *cli, int argc, char **argv, int release)
{
    char *pos[2];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, NULL, pos, 1, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    uint64_t run_id;
    if (cli_parse_run_id(cli, pos[0], &run_id) < 0)
        return CLI_EXIT_USAGE;
    Drover__HoldRequest hr = DROVER__HOLD_REQUEST__INIT;
    hr.run_id = run_id;
    hr.step = npos == 2 ? pos[1] : "";
    hr.release = release;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_HOLD;
    req.hold = &hr;
    char not_found[320];
    if (npos == 2)
        snprintf(not_found, sizeof not_found,
                 "run %llu has no step '%.200s' (see `drover status %llu`)",
                 (unsigned long long)run_id, pos[1], (unsigned long long)run_id);
    else
        snprintf(not_found, sizeof not_found, "no run %llu", (unsigned long long)run_id);
    Drover__ClientReply *rep = NULL;
    if ((rc = s_call(cli, &req, not_found, &rep)) != CLI_EXIT_OK)
        return rc;
    rc = s_answer(cli, rep, run_id, npos == 2 ? pos[1] : NULL, "message",
                  release ? "released" : "held");
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

static int s_hold_run(cli_t *cli, int argc, char **argv)
{
    return s_hold(cli, argc, argv, 0);
}
static int s_release_run(cli_t *cli, int argc, char **argv)
{
    return s_hold(cli, argc, argv, 1);
}

const cli_verb_t cmd_hold_verb = {
    .name = "hold",
    .synopsis = "RUN [STEP]",
    .summary = "keep steps of a run from starting until released",
    .help = "Holds every step of run RUN that has not started yet, or only STEP (a swept\n"
            "step's members STEP.N too): a held step is never placed on a worker, also\n"
            "when it becomes ready later, until `drover release`. Running steps run on.\n"
            "The hold is stored: a coordinator restart keeps it. Only the key that\n"
            "submitted the run, or an admin, may hold it.\n"
            "\n"
            "Examples:\n"
            "  drover hold 42\n"
            "  drover hold 42 train",
    .run = s_hold_run,
};

const cli_verb_t cmd_release_verb = {
    .name = "release",
    .synopsis = "RUN [STEP]",
    .summary = "let held steps of a run start again",
    .help = "Releases the held steps of run RUN, or only STEP: a released ready step\n"
            "waits again as if it had just become ready (behind the steps ready before).\n"
            "\n"
            "Examples:\n"
            "  drover release 42\n"
            "  drover release 42 train",
    .run = s_release_run,
};
