/* cmd_approve — `drover approve RUN STEP --reason TEXT` and `drover reject
 * RUN STEP --reason TEXT`: a person's verdict on an `approve` step that
 * awaits approval (docs/workflows.md). The coordinator enforces every rule
 * (role, grant, the step awaiting, the reason); this file only asks. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "output.h"

static int s_verdict(cli_t *cli, int argc, char **argv, int approve)
{
    const char *reason = NULL;
    const cli_opt_t opts[] = {{"reason", 'r', 1, NULL, &reason}, {NULL, 0, 0, NULL, NULL}};
    char *pos[2];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, pos, 2, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    uint64_t run_id;
    if (cli_parse_run_id(cli, pos[0], &run_id) < 0)
        return CLI_EXIT_USAGE;
    if (!reason || !*reason)
        return cli_usage_error(cli,
                               "%s needs --reason TEXT (kept in the audit trail and the "
                               "model's stage history)",
                               approve ? "approve" : "reject");
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;
    char by[320];
    cli_user_at_host(by, sizeof by);
    Drover__ApproveRequest ar = DROVER__APPROVE_REQUEST__INIT;
    ar.run_id = run_id;
    ar.step = pos[1];
    ar.approve = approve;
    ar.reason = (char *)reason;
    ar.by = by;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_APPROVE;
    req.approve = &ar;
    char not_found[64];
    snprintf(not_found, sizeof not_found, "no run %llu", (unsigned long long)run_id);
    Drover__ClientReply *rep = NULL;
    if ((rc = cli_call(cli, &req, 0, not_found, &rep)) != CLI_EXIT_OK)
        return rc;
    const char *msg = rep->message && *rep->message ? rep->message : NULL;
    if (cli->json) {
        int bad = 0;
        json_t *o = json_object();
        out_json_set(o, "run_id", json_integer((json_int_t)run_id), &bad);
        out_json_set(o, "step", json_string(pos[1]), &bad);
        out_json_set(o, "verdict", json_string(approve ? "approved" : "rejected"), &bad);
        out_json_set(o, "reason", json_string(reason), &bad);
        out_json_set(o, "by", json_string(by), &bad);
        out_json_set(o, "message", msg ? json_string(msg) : json_null(), &bad);
        if (bad) {
            json_decref(o);
            o = NULL;
        }
        rc = cli_emit_json(o);
    } else {
        printf("%s\n", msg ? msg : approve ? "approved" : "rejected");
        rc = CLI_EXIT_OK;
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

static int s_approve(cli_t *cli, int argc, char **argv)
{
    return s_verdict(cli, argc, argv, 1);
}
static int s_reject(cli_t *cli, int argc, char **argv)
{
    return s_verdict(cli, argc, argv, 0);
}

#define VERDICT_RULES                                                                              \
    "Who may: an admin key, or a key with an approve grant on the model's name\n"                  \
    "(drover keys grant KEY approve 'claims-*'). A key other than an admin's may not\n"            \
    "approve a run it submitted itself (it may reject it). The step must be\n"                     \
    "awaiting approval now: a second verdict is refused (exit 2).\n"

const cli_verb_t cmd_approve_verb = {
    .name = "approve",
    .synopsis = "RUN STEP --reason TEXT",
    .summary = "approve a run's approve step that awaits approval",
    .help = "Approves step STEP of run RUN, an approve step that is awaiting approval\n"
            "(drover runs / status / why show \"awaiting approval\"): the run goes on with\n"
            "the steps after it (typically a promote to production). Your key, your\n"
            "$USER@hostname and the reason go into the audit trail and the model's stage\n"
            "history (drover model show NAME:VERSION).\n"
            "\n"
            "What to read first: the evaluation the approval is about,\n"
            "  drover report RUN EVALUATE-STEP\n"
            "(metrics, gates, confusion matrix, the comparison with production), and\n"
            "drover status RUN for the rest of the run.\n"
            "\n" VERDICT_RULES "\n"
            "Options:\n"
            "  -r, --reason TEXT   why (required; 1 to 1000 bytes)\n"
            "\n"
            "Examples:\n"
            "  drover report 42 evaluate\n"
            "  drover approve 42 review --reason \"macro-F1 +2.1 pt, checked 20 hard cases\"",
    .run = s_approve,
};

const cli_verb_t cmd_reject_verb = {
    .name = "reject",
    .synopsis = "RUN STEP --reason TEXT",
    .summary = "reject a run's approve step: the run ends rejected",
    .help = "Rejects step STEP of run RUN, an approve step that is awaiting approval: the\n"
            "steps after it are skipped and the run ends `rejected` (a verdict on the\n"
            "model, not a failure). Who and why are recorded as for drover approve. Read\n"
            "the evaluation first: drover report RUN EVALUATE-STEP.\n"
            "\n" VERDICT_RULES "\n"
            "Options:\n"
            "  -r, --reason TEXT   why (required; 1 to 1000 bytes)\n"
            "\n"
            "Examples:\n"
            "  drover reject 42 review --reason \"worse on the rear-bumper class\"",
    .run = s_reject,
};
