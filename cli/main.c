/* drover — the command-line client.
 *
 * main() only wires things: it parses the options that may precede the
 * verb, finds the verb in the table below and hands it the rest of argv.
 * Each verb (cmd_*.c) parses its own arguments, talks to the coordinator
 * through cli.c/client.c and returns the process exit status:
 * 0 ok, 1 the followed run failed, 2 bad usage or input, 3 coordinator
 * unreachable, 4 the coordinator answers but its database is unreachable.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "cmd_meta.h"
#include "log.h"
#include "wire.h"

/* The model verbs (cmd_ml.c) and the local data set tools (cmd_dataset.c). */
extern const cli_verb_t cmd_report_verb, cmd_metrics_verb, cmd_models_verb, cmd_model_verb,
    cmd_promote_verb, cmd_dataset_verb, cmd_predict_verb;
extern const cli_verb_t cmd_feedback_verb; /* cmd_feedback.c */
/* The CurveZMQ key tools (cmd_keys.c). */
extern const cli_verb_t cmd_keygen_verb, cmd_keys_verb;
/* Schedules, queues and `why` (cmd_sched.c). */
extern const cli_verb_t cmd_schedule_verb, cmd_queue_verb, cmd_why_verb, cmd_hold_verb,
    cmd_release_verb;
extern const cli_verb_t cmd_workflow_verb;                 /* cmd_workflow.c */
extern const cli_verb_t cmd_approve_verb, cmd_reject_verb; /* cmd_approve.c */
extern const cli_verb_t cmd_web_token_verb;                /* cmd_web.c */

static const cli_verb_t *const s_verbs[] = {
    &cmd_submit_verb,    &cmd_wait_verb,     &cmd_runs_verb,     &cmd_status_verb,
    &cmd_logs_verb,      &cmd_cancel_verb,   &cmd_rerun_verb,    &cmd_workers_verb,
    &cmd_info_verb,      &cmd_report_verb,   &cmd_metrics_verb,  &cmd_models_verb,
    &cmd_model_verb,     &cmd_promote_verb,  &cmd_approve_verb,  &cmd_reject_verb,
    &cmd_dataset_verb,   &cmd_predict_verb,  &cmd_feedback_verb, &cmd_keygen_verb,
    &cmd_keys_verb,      &cmd_schedule_verb, &cmd_queue_verb,    &cmd_why_verb,
    &cmd_hold_verb,      &cmd_release_verb,  &cmd_workflow_verb, &cmd_completion_verb,
    &cmd_web_token_verb,
};
#define NVERBS (sizeof s_verbs / sizeof s_verbs[0])

static void s_help(void)
{
    printf("drover — submit and watch training workflows on a drover cluster\n"
           "\n"
           "Usage: drover [OPTIONS] VERB [ARGS]\n"
           "\n"
           "Verbs:\n");
    for (size_t i = 0; i < NVERBS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s %s", s_verbs[i]->name, s_verbs[i]->synopsis);
        if (strlen(left) > 22)
            printf("  %s\n  %-22s  %s\n", left, "", s_verbs[i]->summary);
        else
            printf("  %-22s  %s\n", left, s_verbs[i]->summary);
    }
    printf(
        "\n"
        "Options (before or after the verb):\n"
        "  --json              machine-readable output (JSON) on stdout\n"
        "  --coordinator EP    the coordinator's client endpoint (default: $DROVER_COORDINATOR,\n"
        "                      cli.coordinator in the config file, %s)\n"
        "  --timeout SECS      how long to wait for a reply (default 3)\n"
        "  --config FILE       config file (default: $DROVER_CONFIG, ~/.config/drover/drover.cfg,\n"
        "                      /etc/drover/drover.cfg)\n"
        "  --key FILE          this client's CurveZMQ secret key file (default: $DROVER_KEY,\n"
        "                      cli.secret_key in the config file)\n"
        "  --coordinator-key FILE  the coordinator's public key file (default:\n"
        "                      $DROVER_COORDINATOR_KEY, cli.coordinator_key)\n"
        "  -h, --help          help; `drover VERB --help` explains a verb\n"
        "  --version           print the version\n"
        "\n"
        "Getting started:\n"
        "  deploy/local/cluster.sh up                        # PostgreSQL, coordinator, workers\n"
        "  drover submit examples/hello/pipeline.cfg --wait  # run a workflow, watch it live\n"
        "  drover runs                                       # what ran, how it went\n"
        "  drover logs 1 train_a                             # what a step printed\n"
        "  drover report 2 validate; drover metrics 2 train  # what ML steps found\n"
        "  drover models claims-damage                       # model versions and stages\n"
        "\n"
        "Exit status: 0 ok, 1 the run failed (with --wait), 2 bad usage or input,\n"
        "3 the coordinator could not be reached, 4 the coordinator answered but its\n"
        "database is unavailable (writes refused until it is back).\n",
        CONFIG_DEFAULT_CLIENT_ENDPOINT);
}

static const cli_verb_t *s_find(const char *name)
{
    for (size_t i = 0; i < NVERBS; i++)
        if (strcmp(s_verbs[i]->name, name) == 0)
            return s_verbs[i];
    return NULL;
}

int main(int argc, char **argv)
{
    log_init("drover");
    cli_t cli;
    cli_init(&cli);

    /* --version is global only; handle it before the common parser. */
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("drover %s (protocol %d)\n", DROVER_VERSION, DROVER_PROTOCOL_VERSION);
        return CLI_EXIT_OK;
    }
    meta_set_verbs(s_verbs, NVERBS);
    /* --man: drover(1) in roff, what the build installs as the manual page. */
    if (argc == 2 && strcmp(argv[1], "--man") == 0)
        return meta_write_man(stdout, DROVER_VERSION) < 0 || fflush(stdout) ? CLI_EXIT_USAGE
                                                                            : CLI_EXIT_OK;
    int vi;
    if (cli_parse_global(&cli, argc, argv, &vi) < 0)
        return CLI_EXIT_USAGE;
    if (vi >= argc) {
        if (cli.help) {
            s_help();
            return CLI_EXIT_OK;
        }
        return cli_usage_error(
            &cli, "which verb? (submit, wait, runs, status, logs, cancel, "
                  "workers, info, report, metrics, models, model, promote, approve, reject, "
                  "dataset, predict, keygen, keys, schedule, queue, why, workflow, completion)");
    }
    const char *name = argv[vi];
    if (strcmp(name, "help") == 0) {
        const cli_verb_t *v = vi + 1 < argc ? s_find(argv[vi + 1]) : NULL;
        if (vi + 1 < argc && !v)
            return cli_usage_error(&cli, "unknown verb '%s'", argv[vi + 1]);
        if (v)
            cli_print_verb_help(v);
        else
            s_help();
        return CLI_EXIT_OK;
    }
    const cli_verb_t *verb = s_find(name);
    if (!verb)
        return cli_usage_error(&cli, "unknown verb '%s'", name);
    cli.verb = verb;
    int rc = verb->run(&cli, argc - vi, argv + vi);
    cli_fini(&cli);
    return rc;
}
