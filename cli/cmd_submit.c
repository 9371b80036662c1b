/* cmd_submit — `drover submit FILE [--wait]`.
 *
 * The workflow file is loaded and fully validated here, before the
 * coordinator is contacted: a bad file is reported as "file:line: message"
 * and exits 2 having sent nothing. The run id alone goes to stdout so that
 * `RUN=$(drover submit f.cfg)` works; the friendly hint goes to stderr and
 * only when someone is looking at it.
 *
 * A workflow with a schedule or a data trigger is not run now: the
 * coordinator registers it and answers with run id 0 and a message
 * ("registered schedule NAME (next: ...)"), which is printed instead of a
 * run id; --wait has nothing to follow then and is refused before sending.
 *
 * --queue and --priority override the file's; --allow-pending accepts steps
 * that no registered worker could run yet (the coordinator refuses them
 * otherwise: docs/scheduling.md, "Impossible requests").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "wfsubmit.h"
#include "workflow.h"

static json_t *s_submit_json(uint64_t run_id, const workflow_t *wf)
{
    int bad = 0;
    json_t *o = json_object();
    out_json_set(o, "run_id", json_integer((json_int_t)run_id), &bad);
    out_json_set(o, "workflow", json_string(wf->name), &bad);
    out_json_set(o, "steps", json_integer((json_int_t)wf->nsteps), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The reply to a workflow with a schedule or trigger: the coordinator's
 * sentence for people, an object for programs. */
static int s_registered(cli_t *cli, const workflow_t *wf, const char *message)
{
    const char *msg = message && *message ? message : NULL;
    if (cli->json) {
        int bad = 0;
        json_t *o = json_object();
        out_json_set(o, "run_id", json_null(), &bad);
        out_json_set(o, "workflow", json_string(wf->name), &bad);
        out_json_set(o, "registered", json_string(wf->schedule ? "schedule" : "trigger"), &bad);
        out_json_set(o, "queue", json_string(wf->queue), &bad);
        out_json_set(o, "priority", json_integer(wf->priority), &bad);
        out_json_set(o, "message", msg ? json_string(msg) : json_null(), &bad);
        if (bad) {
            json_decref(o);
            o = NULL;
        }
        return cli_emit_json(o);
    }
    if (msg)
        printf("%s\n", msg);
    else
        printf("registered %s %s\n", wf->schedule ? "schedule" : "trigger", wf->name);
    fflush(stdout);
    if (cli->tty_err)
        fprintf(stderr,
                "see it with: drover schedule list; run it now with: drover schedule "
                "trigger %s\n",
                wf->name);
    return CLI_EXIT_OK;
}

static int s_run(cli_t *cli, int argc, char **argv)
{
    int wait = 0, allow_pending = 0;
    const char *queue = NULL, *prio_s = NULL;
    const cli_opt_t opts[] = {{"wait", 'w', 0, &wait, NULL},
                              {"allow-pending", 0, 0, &allow_pending, NULL},
                              {"queue", 'q', 1, NULL, &queue},
                              {"priority", 'p', 1, NULL, &prio_s},
                              {NULL, 0, 0, NULL, NULL}};
    char *pos[1];
    size_t npos;
    const char **sets = NULL;
    size_t nsets = 0;
    if (wfsubmit_take_sets(&argc, argv, &sets, &nsets) < 0) {
        free(sets);
        return errno == ENOMEM ? CLI_EXIT_UNREACHABLE : CLI_EXIT_USAGE;
    }
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, 1, &npos);
    if (rc != 0) {
        free(sets);
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }

    char err[2048];
    workflow_t *wf = workflow_load_params(pos[0], sets, nsets, err, sizeof err);
    free(sets);
    if (!wf) {
        /* The file may come from someone else and its names are quoted in
         * the message: escaped like a peer's text. */
        char *e = out_escape(err, 0);
        fprintf(stderr, "%s\n", e ? e : err);
        free(e);
        return CLI_EXIT_USAGE;
    }
    if (queue && (!*queue || strlen(queue) > 63)) {
        workflow_destroy(&wf);
        return cli_usage_error(cli, "--queue: a queue name of 1 to 63 bytes");
    }
    if (prio_s) {
        char *end;
        errno = 0;
        long v = strtol(prio_s, &end, 10);
        if (errno || end == prio_s || *end || v < STEPKIND_MIN_PRIORITY ||
            v > STEPKIND_MAX_PRIORITY) {
            workflow_destroy(&wf);
            return cli_usage_error(cli,
                                   "--priority: an integer between %d and %d (higher runs "
                                   "first within its queue)",
                                   STEPKIND_MIN_PRIORITY, STEPKIND_MAX_PRIORITY);
        }
        wf->priority = (int)v;
    }
    int registers = wf->schedule || wf->trigger;
    if (registers && wait) {
        fprintf(stderr,
                "drover: %s has a %s: submitting registers it and starts no run now, so "
                "there is nothing to --wait for\n"
                "  submit without --wait, then see `drover schedule list`\n",
                pos[0], wf->schedule ? "schedule" : "trigger");
        workflow_destroy(&wf);
        return CLI_EXIT_USAGE;
    }

    Drover__StepSpec *specs = NULL, **ptrs = NULL;
    Drover__Resources *res = NULL;
    Drover__Schedule sched;
    Drover__Trigger trig;
    Drover__WorkflowNotify notify;
    Drover__ClientReply *rep = NULL;
    char by[512];
    cli_user_at_host(by, sizeof by);
    Drover__SubmitRequest sub = DROVER__SUBMIT_REQUEST__INIT;
    if (wfsubmit_build(wf, by, &sub, &specs, &res, &ptrs, &sched, &trig, &notify) < 0) {
        fprintf(stderr, "drover: out of memory\n");
        rc = CLI_EXIT_UNREACHABLE;
        goto out;
    }
    if (queue)
        sub.queue = (char *)queue;
    sub.allow_pending = allow_pending;
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        goto out;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    if ((rc = cli_call(cli, &req, 0, NULL, &rep)) != CLI_EXIT_OK)
        goto out;
    uint64_t run_id = rep->run_id;
    if (registers) {
        rc = s_registered(cli, wf, rep->message);
        goto out;
    }
    if (run_id == 0) {
        fprintf(stderr, "drover: the coordinator accepted the run but sent no run id\n");
        rc = CLI_EXIT_UNREACHABLE;
        goto out;
    }

    if (wait) {
        if (!cli->json) {
            printf("submitted %s as run %llu (%zu steps)\n", wf->name, (unsigned long long)run_id,
                   wf->nsteps);
            fflush(stdout);
        }
        rc = cmd_wait_follow(cli, run_id);
    } else if (cli->json) {
        rc = cli_emit_json(s_submit_json(run_id, wf));
    } else {
        printf("%llu\n", (unsigned long long)run_id);
        fflush(stdout);
        if (cli->tty_err)
            fprintf(stderr, "submitted %s as run %llu — follow it with: drover status %llu\n",
                    wf->name, (unsigned long long)run_id, (unsigned long long)run_id);
        rc = CLI_EXIT_OK;
    }
out:
    if (rep)
        drover__client_reply__free_unpacked(rep, NULL);
    free(specs);
    free(res);
    free(ptrs);
    free(sub.params);
    workflow_destroy(&wf);
    return rc;
}

const cli_verb_t cmd_submit_verb = {
    .name = "submit",
    .synopsis = "FILE [--set NAME=VALUE]... [--wait] [-q Q] [-p N] [--allow-pending]",
    .summary = "submit a workflow file; prints the run id",
    .help = "Checks the workflow FILE (syntax, steps, dependencies) and submits it as a new\n"
            "run. A bad file is reported as FILE:LINE: message and nothing is submitted.\n"
            "Prints the run id on stdout, so scripts can capture it.\n"
            "A workflow with a schedule or a trigger (docs/scheduling.md) is registered\n"
            "instead of run: the coordinator's answer (\"registered schedule NAME (next: ...)\")\n"
            "is printed and no run starts now.\n"
            "\n"
            "Options:\n"
            "  -w, --wait          follow the run until it ends (as `drover wait` does);\n"
            "                      exit 0 if it succeeded, 1 if it failed or was cancelled\n"
            "  --set NAME=VALUE    a value for the workflow's params = { NAME = ...; } (repeat\n"
            "                      for more); a NAME the file does not declare is an error.\n"
            "                      Steps use it as ${params.NAME} (docs/workflows.md)\n"
            "  -q, --queue Q       run in queue Q (overrides the file's `queue`)\n"
            "  -p, --priority N    priority within the queue, higher first (overrides the\n"
            "                      file's `priority`)\n"
            "      --allow-pending accept steps that no registered worker could run (capacity\n"
            "                      that is coming); without it the coordinator refuses them\n"
            "                      and names the largest worker it knows\n"
            "\n"
            "Examples:\n"
            "  drover submit examples/hello/pipeline.cfg\n"
            "  RUN=$(drover submit pipeline.cfg) && drover wait \"$RUN\"\n"
            "  drover submit train.cfg --set lr=0.02 --set data=data/train-002.csv\n"
            "  drover submit pipeline.cfg --wait\n"
            "  drover submit examples/claims/nightly.cfg   # registers its schedule",
    .run = s_run,
};
