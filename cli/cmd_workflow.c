/* cmd_workflow — `drover workflow check FILE [--json]`.
 *
 * Loads and validates a workflow file with the same loader as `drover
 * submit` and prints what submit would send, without contacting the
 * coordinator (no config or keys are read). A bad file is reported as
 * "file:line: message" on stderr and exits 2.
 *
 * With --json the output is the SubmitRequest as JSON (wfsubmit_json):
 * clients in other languages (python/drover) build their request from it,
 * so the workflow language keeps exactly one validator, this one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "wfsubmit.h"
#include "workflow.h"

/* The human summary: one line for the workflow, one per step. */
static void s_print(const Drover__SubmitRequest *sub)
{
    printf("%s: ok: workflow %s, %zu step%s, queue %s, priority %d", sub->source, sub->workflow,
           sub->n_steps, sub->n_steps == 1 ? "" : "s", sub->queue, sub->priority);
    if (sub->schedule)
        printf(", schedule \"%s\" (%s)", sub->schedule->cron, sub->schedule->timezone);
    if (sub->trigger)
        printf(", trigger on %s (%llu new rows)", sub->trigger->watch,
               (unsigned long long)sub->trigger->min_new_rows);
    printf("\n");
    for (size_t i = 0; i < sub->n_steps; i++) {
        const Drover__StepSpec *sp = sub->steps[i];
        printf("  %-20s %s", sp->name, sp->kind);
        for (size_t k = 0; k < sp->n_after; k++)
            printf("%s%s", k ? ", " : "  after ", sp->after[k]);
        printf("\n");
    }
    fflush(stdout);
}

static int s_check(cli_t *cli, const char *path, const char *const *sets, size_t nsets)
{
    char err[2048];
    workflow_t *wf = workflow_load_params(path, sets, nsets, err, sizeof err);
    if (!wf) {
        fprintf(stderr, "%s\n", err);
        return CLI_EXIT_USAGE;
    }
    Drover__StepSpec *specs = NULL, **ptrs = NULL;
    Drover__Resources *res = NULL;
    Drover__Schedule sched;
    Drover__Trigger trig;
    Drover__WorkflowNotify notify;
    char by[512];
    cli_user_at_host(by, sizeof by);
    Drover__SubmitRequest sub = DROVER__SUBMIT_REQUEST__INIT;
    int rc;
    if (wfsubmit_build(wf, by, &sub, &specs, &res, &ptrs, &sched, &trig, &notify) < 0) {
        fprintf(stderr, "drover: out of memory\n");
        rc = CLI_EXIT_UNREACHABLE;
    } else if (cli->json) {
        rc = cli_emit_json(wfsubmit_json(&sub, wf));
    } else {
        s_print(&sub);
        rc = CLI_EXIT_OK;
    }
    free(specs);
    free(res);
    free(ptrs);
    free(sub.params);
    workflow_destroy(&wf);
    return rc;
}

static int s_run(cli_t *cli, int argc, char **argv)
{
    char *pos[2];
    size_t npos;
    const char **sets = NULL;
    size_t nsets = 0;
    if (wfsubmit_take_sets(&argc, argv, &sets, &nsets) < 0) {
        free(sets);
        return errno == ENOMEM ? CLI_EXIT_UNREACHABLE : CLI_EXIT_USAGE;
    }
    int rc = cli_parse(cli, argc, argv, NULL, pos, 2, 2, &npos);
    if (rc == 0 && strcmp(pos[0], "check") != 0)
        rc = cli_usage_error(cli, "unknown workflow command '%s' (check)", pos[0]);
    else if (rc == 0)
        rc = s_check(cli, pos[1], sets, nsets);
    else
        rc = rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    free(sets);
    return rc;
}

const cli_verb_t cmd_workflow_verb = {
    .name = "workflow",
    .synopsis = "check FILE [--set NAME=VALUE]... [--json]",
    .summary = "validate a workflow file; print what submit would send",
    .help = "Checks the workflow FILE exactly as `drover submit` does (syntax, steps, kinds,\n"
            "dependencies, schedule, trigger) without contacting the coordinator. A bad\n"
            "file is reported as FILE:LINE: message and exits 2.\n"
            "\n"
            "Prints a summary of the steps; with --json, the request `drover submit` would\n"
            "send: workflow, source, queue, priority, schedule, trigger, params (with the\n"
            "--set values), base_dir and the steps with\n"
            "name, kind, after, retries, timeout_ms, retry_delay_ms, spec_json (the exact\n"
            "string sent), resources (cpus, memory_bytes, gpus, labels), line, and sweep and\n"
            "matrix for the steps a matrix expanded. The Python client (docs/python.md)\n"
            "submits workflow files through this.\n"
            "\n"
            "Examples:\n"
            "  drover workflow check examples/hello/pipeline.cfg\n"
            "  drover workflow check pipeline.cfg --json | jq '.steps[].name'",
    .run = s_run,
};
