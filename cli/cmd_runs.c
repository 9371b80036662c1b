/* cmd_runs — `drover runs`, `drover status RUN`, `drover cancel RUN`:
 * looking at runs and stopping them. Each is one request and one reply;
 * durations of unfinished runs and steps are computed against the local
 * clock at the moment of printing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int s_runs(cli_t *cli, int argc, char **argv)
{
    const char *limit_s = NULL;
    const cli_opt_t opts[] = {{"limit", 'n', 1, NULL, &limit_s}, {NULL, 0, 0, NULL, NULL}};
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, 0, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    uint64_t limit = 20;
    if (limit_s && cli_parse_count(cli, "--limit", limit_s, 100000, &limit) < 0)
        return CLI_EXIT_USAGE;
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;

    Drover__RunsRequest rr = DROVER__RUNS_REQUEST__INIT;
    rr.limit = (uint32_t)limit;
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
        printf("No runs yet. Submit one with: drover submit FILE\n");
        rc = CLI_EXIT_OK;
    } else {
        static const char *const headers[] = {"ID", "WORKFLOW", "STATE", "STEPS", "STARTED",
                                              "DURATION"};
        out_table_t *t = out_table_new(headers, 6);
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
    .synopsis = "[--limit N]",
    .summary = "list recent runs, newest first",
    .help = "Lists the most recent runs, newest first: id, workflow, state, steps done of\n"
            "total, start time and duration (still counting for running runs). A running\n"
            "run whose approve step waits for a person shows \"awaiting approval\".\n"
            "\n"
            "Options:\n"
            "  -n, --limit N       how many runs to show (default 20)\n"
            "\n"
            "Examples:\n"
            "  drover runs\n"
            "  drover runs --limit 100 --json | jq '.[] | select(.state == \"failed\")'",
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
    printf("duration   %s%s\n", dur, render_run_terminal(r->state) ? "" : " so far");
    printf("steps      %u/%u done\n\n", r->tasks_done, r->tasks_total);

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
            "last attempt ended (exit code or error).\n"
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
