/* cmd_runs — `drover runs`, `drover status RUN`, `drover cancel RUN`:
 * looking at runs and stopping them. Each is one request and one reply;
 * durations of unfinished runs and steps are computed against the local
 * clock at the moment of printing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "output.h"
#include "render.h"
#include "util.h"
#include "wire.h"

/* Parses the single RUN argument and connects. Returns -1 to go on with
 * *run_id set, else the exit code to return. */
static int s_run_arg(cli_t *cli, int argc, char **argv, uint64_t *run_id)
{
    char *pos[1];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, NULL, pos, 1, 1, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    if (cli_parse_run_id(cli, pos[0], run_id) < 0)
        return CLI_EXIT_USAGE;
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;
    return -1;
}

/* ------------------------------------------------------------ runs --- */

/* --since: a duration back from now ("90m", "2h") or a local date and time
 * ("2026-11-25", "2026-11-25 14:00"). Microseconds since the epoch, or -1. */
static int64_t s_since(const char *s, int64_t now_us)
{
    int64_t ms;
    if (s[0] >= '0' && s[0] <= '9' && strchr(s, '-') == NULL)
        return util_parse_duration_ms(s, &ms) == 0 && ms >= 0 && ms / 1000 < now_us / 1000000
                   ? now_us - ms * 1000
                   : -1;
    static const char *const fmts[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                                       "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        struct tm tm = {0};
        const char *end = strptime(s, fmts[i], &tm);
        if (end && *end == '\0') {
            tm.tm_isdst = -1;
            time_t t = mktime(&tm);
            return t == (time_t)-1 ? -1 : (int64_t)t * 1000000;
        }
    }
    return -1;
}

static int s_runs(cli_t *cli, int argc, char **argv)
{
    const char *limit_s = NULL, *state = NULL, *workflow = NULL, *since_s = NULL;
    const cli_opt_t opts[] = {{"limit", 'n', 1, NULL, &limit_s},
                              {"state", 's', 1, NULL, &state},
                              {"workflow", 'w', 1, NULL, &workflow},
                              {"since", 0, 1, NULL, &since_s},
                              {NULL, 0, 0, NULL, NULL}};
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, 0, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    uint64_t limit = 20;
    if (limit_s && cli_parse_count(cli, "--limit", limit_s, 100000, &limit) < 0)
        return CLI_EXIT_USAGE;
    if (state && wire_run_state_from_name(state) == DROVER__RUN_STATE__RUN_STATE_UNSPECIFIED)
        return cli_usage_error(cli,
                               "--state: one of running, succeeded, failed, cancelled, "
                               "rejected (not '%s')",
                               state);
    int64_t since_us = 0;
    if (since_s && (since_us = s_since(since_s, util_now_us())) <= 0)
        return cli_usage_error(cli,
                               "--since: a duration back from now (90m, 2h, 7d) or a local "
                               "date and time (2026-11-25, \"2026-11-25 14:00\"), not '%s'",
                               since_s);
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;

    Drover__RunsRequest rr = DROVER__RUNS_REQUEST__INIT;
    Drover__RunsFilter rf = DROVER__RUNS_FILTER__INIT;
    rr.limit = (uint32_t)limit;
    if (state || workflow || since_us) {
        rf.state = (char *)(state ? state : "");
        rf.workflow = (char *)(workflow ? workflow : "");
        rf.since_us = since_us;
        rr.filter = &rf;
    }
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_RUNS;
    req.runs = &rr;
    Drover__ClientReply *rep = NULL;
    if ((rc = cli_call(cli, &req, 0, NULL, &rep)) != CLI_EXIT_OK)
        return rc;

    int64_t now = util_now_us();
    if (cli->json) {
        int bad = 0;
        json_t *a = json_array();
        for (size_t i = 0; i < rep->n_runs; i++)
            out_json_append(a, render_run_json(rep->runs[i], now), &bad);
        if (bad) {
            json_decref(a);
            a = NULL;
        }
        rc = cli_emit_json(a);
    } else if (rep->n_runs == 0) {
        if (rr.filter)
            printf("No runs match.\n");
        else
            printf("No runs yet. Submit one with: drover submit FILE\n");
        rc = CLI_EXIT_OK;
    } else {
        static const char *const headers[] = {"ID",      "WORKFLOW", "STATE", "STEPS",
                                              "STARTED", "DURATION", "DUE"};
        out_table_t *t = out_table_new(headers, 7);
        if (t) {
            out_table_align_right(t, 0);
            out_table_align_right(t, 3);
            out_table_align_right(t, 5);
            for (size_t i = 0; i < rep->n_runs; i++) {
                const Drover__RunInfo *r = rep->runs[i];
                char started[32], dur[32];
                out_time_short(r->started_at_us > 0 ? r->started_at_us : r->submitted_at_us, now,
                               started, sizeof started);
                out_duration(render_run_ms(r, now), dur, sizeof dur);
                out_table_row(t);
                out_table_cell(t, OUT_PLAIN, "%llu", (unsigned long long)r->id);
                out_table_cell(t, OUT_PLAIN, "%s", r->workflow ? r->workflow : "");
                out_table_cell(t, render_run_color(r->state), "%s", render_run_state_text(r));
                out_table_cell(t, OUT_PLAIN, "%u/%u", r->tasks_done, r->tasks_total);
                out_table_cell(t, OUT_PLAIN, "%s", started);
                out_table_cell(t, OUT_PLAIN, "%s", dur);
                /* The due time (logical date) a schedule started it for. */
                char due[32] = "-";
                if (r->due_at_us > 0)
                    render_due(r->due_at_us, due, sizeof due);
                out_table_cell(t, r->due_at_us > 0 ? OUT_PLAIN : OUT_DIM, "%s", due);
            }
        }
        if (!t || out_table_print(t, stdout, cli->color_out) < 0) {
            fprintf(stderr, "drover: out of memory\n");
            rc = CLI_EXIT_UNREACHABLE;
        }
        out_table_destroy(&t);
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_runs_verb = {
    .name = "runs",
    .synopsis = "[--limit N] [--state S] [--workflow W] [--since WHEN]",
    .summary = "list recent runs, newest first",
    .help = "Lists the most recent runs, newest first: id, workflow, state, steps done of\n"
            "total, start time, duration (still counting for running runs) and, for a run\n"
            "a schedule started, the due time it ran for (its logical date). A running\n"
            "run whose approve step waits for a person shows \"awaiting approval\".\n"
            "\n"
            "Options:\n"
            "  -n, --limit N       how many runs to show (default 20)\n"
            "  -s, --state S       only runs in state S (running, succeeded, failed,\n"
            "                      cancelled, rejected)\n"
            "  -w, --workflow W    only runs of workflow W\n"
            "      --since WHEN    only runs submitted since WHEN: a duration back from now\n"
            "                      (90m, 2h, 7d) or a local date and time (2026-11-25,\n"
            "                      \"2026-11-25 14:00\")\n"
            "\n"
            "Examples:\n"
            "  drover runs\n"
            "  drover runs --state failed --since 7d\n"
            "  drover runs --workflow claims-nightly --limit 100 --json",
    .run = s_runs,
};

/* ---------------------------------------------------------- status --- */

static int s_status_text(cli_t *cli, const Drover__ClientReply *rep)
{
    const Drover__RunInfo *r = rep->runs[0];
    int64_t now = util_now_us();
    char submitted[64], dur[32];
    util_format_time(r->submitted_at_us, submitted, sizeof submitted);
    out_duration(render_run_ms(r, now), dur, sizeof dur);
    int color = cli->color_out;
    out_color_t c = render_run_color(r->state);
    printf("run        %llu\n", (unsigned long long)r->id);
    printf("workflow   %s\n", r->workflow ? r->workflow : "");
    printf("state      %s%s%s\n", color ? out_color_on(c) : "", render_run_state_text(r),
           color ? out_color_off() : "");
    printf("submitted  %s\n", submitted);
    if (r->due_at_us > 0) {
        char due[32];
        render_due(r->due_at_us, due, sizeof due);
        printf("due        %s (the due time its schedule started it for)\n", due);
    }
    printf("duration   %s%s\n", dur, render_run_terminal(r->state) ? "" : " so far");
    printf("steps      %u/%u done\n", r->tasks_done, r->tasks_total);
    /* The values are a submitter's text: escaped like any peer's. */
    for (size_t i = 0; i < r->n_params; i++) {
        char *n = out_escape(r->params[i]->name ? r->params[i]->name : "", 0);
        char *v = out_escape(r->params[i]->value ? r->params[i]->value : "", 0);
        printf("%s%s=%s", i ? " " : "params     ", n ? n : "?", v ? v : "?");
        free(n);
        free(v);
    }
    printf("%s\n", r->n_params ? "\n" : "");

    out_table_t *t = render_tasks_table(rep, now, 1);
    int rc = t ? out_table_print(t, stdout, color) : -1;
    out_table_destroy(&t);
    if (rc < 0) {
        fprintf(stderr, "drover: out of memory\n");
        return CLI_EXIT_UNREACHABLE;
    }
    for (size_t i = 0; i < rep->n_tasks; i++)
        if (render_task_awaiting(rep->tasks[i])) {
            /* What the approver reads: the run's (last) evaluate step's report. */
            const char *ev = "EVALUATE-STEP";
            for (size_t j = 0; j < rep->n_tasks; j++)
                if (rep->tasks[j]->kind && strcmp(rep->tasks[j]->kind, "evaluate") == 0)
                    ev = rep->tasks[j]->name;
            printf("\nStep %s awaits approval. Read the evaluation: drover report %llu %s\n"
                   "then: drover approve %llu %s --reason TEXT   (or: drover reject ...)\n",
                   rep->tasks[i]->name, (unsigned long long)r->id, ev, (unsigned long long)r->id,
                   rep->tasks[i]->name);
            break;
        }
    for (size_t i = 0; i < rep->n_tasks; i++)
        if (rep->tasks[i]->state == DROVER__TASK_STATE__TASK_FAILED) {
            printf("\nSee a failed step's output with: drover logs %llu %s\n",
                   (unsigned long long)r->id, rep->tasks[i]->name);
            break;
        }
    return CLI_EXIT_OK;
}

static int s_status(cli_t *cli, int argc, char **argv)
{
    uint64_t run_id;
    int rc = s_run_arg(cli, argc, argv, &run_id);
    if (rc >= 0)
        return rc;
    char not_found[64];
    snprintf(not_found, sizeof not_found, "no run %llu", (unsigned long long)run_id);

    Drover__StatusRequest st = DROVER__STATUS_REQUEST__INIT;
    st.run_id = run_id;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_STATUS;
    req.status = &st;
    Drover__ClientReply *rep = NULL;
    if ((rc = cli_call(cli, &req, 0, not_found, &rep)) != CLI_EXIT_OK)
        return rc;
    if (rep->n_runs == 0) {
        fprintf(stderr, "drover: %s\n", not_found);
        rc = CLI_EXIT_USAGE;
    } else if (cli->json) {
        rc = cli_emit_json(render_status_json(rep, util_now_us()));
    } else {
        rc = s_status_text(cli, rep);
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_status_verb = {
    .name = "status",
    .synopsis = "RUN",
    .summary = "show a run and the state of each step",
    .help = "Shows run RUN (workflow, state, submission time, duration) and a table of its\n"
            "steps: state, attempt (of the attempts allowed), worker, duration and how the\n"
            "last attempt ended (exit code or error). A run submitted with parameters shows\n"
            "their values on a 'params' line (--json: \"params\": {NAME: VALUE}).\n"
            "\n"
            "Examples:\n"
            "  drover status 42\n"
            "  drover status 42 --json | jq -r '.tasks[] | select(.state == \"failed\") | .name'",
    .run = s_status,
};

/* ---------------------------------------------------------- cancel --- */

static int s_cancel(cli_t *cli, int argc, char **argv)
{
    uint64_t run_id;
    int rc = s_run_arg(cli, argc, argv, &run_id);
    if (rc >= 0)
        return rc;
    char not_found[64];
    snprintf(not_found, sizeof not_found, "no run %llu", (unsigned long long)run_id);

    Drover__CancelRequest cr = DROVER__CANCEL_REQUEST__INIT;
    cr.run_id = run_id;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_CANCEL;
    req.cancel = &cr;
    Drover__ClientReply *rep = NULL;
    if ((rc = cli_call(cli, &req, 0, not_found, &rep)) != CLI_EXIT_OK)
        return rc;
    if (cli->json) {
        int bad = 0;
        json_t *o = json_object();
        out_json_set(o, "run_id", json_integer((json_int_t)run_id), &bad);
        out_json_set(o, "state", json_string("cancelled"), &bad);
        if (rep->message && *rep->message)
            out_json_set(o, "message", json_string(rep->message), &bad);
        if (bad) {
            json_decref(o);
            o = NULL;
        }
        rc = cli_emit_json(o);
    } else {
        if (rep->message && *rep->message)
            printf("%s\n", rep->message);
        else
            printf("run %llu cancelled\n", (unsigned long long)run_id);
        rc = CLI_EXIT_OK;
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_cancel_verb = {
    .name = "cancel",
    .synopsis = "RUN",
    .summary = "cancel a run (kills its running steps)",
    .help = "Cancels run RUN: steps still waiting are cancelled and running steps are\n"
            "killed on their workers. Cancelling a run that already ended is refused\n"
            "(exit 2).\n"
            "\n"
            "Example:\n"
            "  drover cancel 42",
    .run = s_cancel,
};

/* ----------------------------------------------------------- rerun --- */

#define RERUN_MAX_STEPS 64 /* steps named on one command line */

static int s_rerun(cli_t *cli, int argc, char **argv)
{
    int failed = 0, wait = 0;
    const cli_opt_t opts[] = {
        {"failed", 'f', 0, &failed, NULL}, {"wait", 'w', 0, &wait, NULL}, {NULL, 0, 0, NULL, NULL}};
    char *pos[1 + RERUN_MAX_STEPS];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, 1 + RERUN_MAX_STEPS, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    uint64_t run_id;
    if (cli_parse_run_id(cli, pos[0], &run_id) < 0)
        return CLI_EXIT_USAGE;
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;
    Drover__RerunRequest rr = DROVER__RERUN_REQUEST__INIT;
    rr.run_id = run_id;
    rr.failed = failed;
    rr.steps = pos + 1;
    rr.n_steps = npos - 1;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_RERUN;
    req.rerun = &rr;
    Drover__ClientReply *rep = NULL;
    if ((rc = cli_call(cli, &req, 0, NULL, &rep)) != CLI_EXIT_OK)
        return rc;
    uint64_t id = rep->run_id;
    if (wait) {
        if (!cli->json && rep->message && *rep->message)
            printf("%s\n", rep->message);
        fflush(stdout);
        rc = cmd_wait_follow(cli, id);
    } else if (cli->json) {
        int bad = 0;
        json_t *o = json_object();
        out_json_set(o, "run_id", json_integer((json_int_t)id), &bad);
        out_json_set(o, "rerun_of", json_integer((json_int_t)run_id), &bad);
        out_json_set(o, "message", json_string(rep->message ? rep->message : ""), &bad);
        if (bad) {
            json_decref(o);
            o = NULL;
        }
        rc = cli_emit_json(o);
    } else {
        printf("%llu\n", (unsigned long long)id);
        if (rep->message && *rep->message)
            fprintf(stderr, "%s\n", rep->message);
        rc = CLI_EXIT_OK;
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_rerun_verb = {
    .name = "rerun",
    .synopsis = "RUN [STEP...] [--failed] [--wait]",
    .summary = "run an ended run again, reusing what succeeded",
    .help = "Starts a new run of RUN's steps and prints its id. With --failed, or with\n"
            "STEP names, only these run again: the steps that failed, were skipped or\n"
            "cancelled (--failed), the steps named, and every step after any of them;\n"
            "every other step is reused — it counts as succeeded, and later steps use\n"
            "its results (a model \"@train\" is the model version the earlier run\n"
            "registered; nothing is trained or copied again). Without either, every\n"
            "step runs again. RUN must have ended; a submitter reruns only its own runs.\n"
            "\n"
            "Options:\n"
            "  -f, --failed        run again what failed, was skipped or cancelled\n"
            "  -w, --wait          follow the new run until it ends (as `drover wait`)\n"
            "\n"
            "Examples:\n"
            "  drover rerun 42 --failed\n"
            "  drover rerun 42 evaluate        # evaluate and what comes after it\n"
            "  drover rerun 42                 # every step again",
    .run = s_rerun,
};
