/* test_stepkind — unit tests of common/stepkind.c: the table of step kinds,
 * the wire-spec checks (what the coordinator and drover-task enforce) and
 * stepkind_check_submit. Table-driven: each case is a spec, where it comes
 * from, and the exact message (or NULL for a spec that must pass). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "stepkind.h"
#include "util.h"
#include "workflow.h"

#define C STEPKIND_FROM_CLIENT
#define D STEPKIND_FROM_DISPATCH

typedef struct {
    const char *kind, *spec;
    unsigned from;
    const char *msg; /* NULL = valid */
} spec_case_t;

#define TRAIN "\"dataset\":\"/d.csv\",\"label\":\"y\",\"model\":\"m\""

static const spec_case_t s_cases[] = {
    {"exec", "{\"argv\":[\"true\"]}", C, NULL},
    {"exec", "{\"argv\":[\"/bin/sh\",\"-c\",\"x\"],\"env\":{\"A_1\":\"v\"},\"cwd\":\"/tmp\"}", C,
     NULL},
    {"exec", "{}", C,
     "step 's': an exec step needs 'argv' (a list of strings) or 'command' (a shell command line)"},
    {"exec", "{\"argv\":[]}", C,
     "step 's': 'argv' must be a non-empty array of strings, e.g. argv = [\"python3\", \"train.py\"]"},
    {"exec", "{\"argv\":[1,2]}", C, "step 's': 'argv' must be an array of strings"},
    {"exec", "{\"argv\":[\"\"]}", C, "step 's': the program in 'argv' must not be empty"},
    /* jansson refuses a NUL inside a string (no JSON_ALLOW_NUL). */
    {"exec", "{\"argv\":[\"a\\u0000b\"]}", C, "step 's': spec_json is not a JSON object"},
    {"exec", "{\"argv\":[\"true\"],\"env\":{\"A=B\":\"x\"}}", C,
     "step 's': 'A=B' is not a valid environment variable name (letters, digits and '_', not "
     "starting with a digit)"},
    {"exec", "{\"argv\":[\"true\"],\"env\":{\"\":\"x\"}}", C,
     "step 's': '' is not a valid environment variable name (letters, digits and '_', not "
     "starting with a digit)"},
    {"exec", "{\"argv\":[\"true\"],\"env\":{\"CUDA_VISIBLE_DEVICES\":\"0\"}}", C,
     "step 's': env 'CUDA_VISIBLE_DEVICES' is set by drover and cannot be overridden"},
    {"exec", "{\"argv\":[\"true\"],\"env\":{\"A\":1}}", C,
     "step 's': env 'A' must be a string (quote it: A = \"...\")"},
    {"exec", "{\"argv\":[\"true\"],\"cwd\":\"rel\"}", C,
     "step 's': 'cwd' must be an absolute path (got 'rel')"},
    {"exec", "{\"argv\":[\"true\"],\"x\":1}", C,
     "step 's': unknown key 'x' (known: argv, command, env, cwd, gates, outputs, inputs)"},
    {"exec", "{\"command\":\"true\"}", C,
     "step 's': unknown key 'command' (known: argv, command, env, cwd, gates, outputs, inputs)"},
    {"exec", "[1]", C, "step 's': spec_json is not a JSON object"},
    /* Artifacts (issue 12). */
    {"exec", "{\"argv\":[\"true\"],\"outputs\":[\"m.pkl\",\"out/x.json\"]}", C, NULL},
    {"exec", "{\"argv\":[\"true\"],\"outputs\":[]}", C,
     "step 's': 'outputs' must be an array of 1 to 64 file paths, e.g. outputs = [\"model.pkl\"]"},
    {"exec", "{\"argv\":[\"true\"],\"outputs\":[\"a/../b\"]}", C,
     "step 's': each output must be a path relative to the step's work folder, without '..' (got "
     "'a/../b')"},
    {"exec", "{\"argv\":[\"true\"],\"outputs\":[\"/etc/x\"]}", C,
     "step 's': each output must be a path relative to the step's work folder, without '..' (got "
     "'/etc/x')"},
    {"exec", "{\"argv\":[\"true\"],\"outputs\":[\"a//b\"]}", C,
     "step 's': each output must be a path relative to the step's work folder, without '..' (got "
     "'a//b')"},
    {"exec", "{\"argv\":[\"true\"],\"outputs\":[\"d/\"]}", C,
     "step 's': each output must be a path relative to the step's work folder, without '..' (got "
     "'d/')"},
    {"exec", "{\"argv\":[\"true\"],\"outputs\":[\"a\",\"a\"]}", C,
     "step 's': output 'a' is listed twice"},
    {"exec", "{\"argv\":[\"true\"],\"inputs\":{\"m\":\"@train:m.pkl\"}}", C, NULL},
    {"exec", "{\"argv\":[\"true\"],\"inputs\":{\"m\":\"train:m.pkl\"}}", C,
     "step 's': input 'm' must be \"@STEP:PATH\" (an output of an earlier step, e.g. "
     "\"@train:model.pkl\"; got 'train:m.pkl')"},
    {"exec", "{\"argv\":[\"true\"],\"inputs\":{\"m\":\"@train:../m.pkl\"}}", C,
     "step 's': input 'm' must be \"@STEP:PATH\" (an output of an earlier step, e.g. "
     "\"@train:model.pkl\"; got '@train:../m.pkl')"},
    {"exec", "{\"argv\":[\"true\"],\"staged\":{}}", C,
     "step 's': unknown key 'staged' (known: argv, command, env, cwd, gates, outputs, inputs)"},
    {"exec", "{\"argv\":[\"true\"],\"staged\":{}}", D, NULL},
    {"exec", "{\"argv\":[\"a\"],\"argv\":[\"b\"]}", C, "step 's': spec_json is not a JSON object"},
    {"noop", "{}", C, NULL},
    {"noop", "{\"a\":1}", C, "step 's': unknown key 'a' (known: none)"},
    {"train", "{" TRAIN "}", C, NULL},
    {"train", "{" TRAIN ",\"trainer\":\"mlp\",\"hidden\":[64,32],\"epochs\":3}", C, NULL},
    {"train", "{" TRAIN ",\"hidden\":[]}", C, NULL}, /* the loader's wire form for softmax */
    {"train", "{" TRAIN ",\"hidden\":[8]}", C,
     "step 's': 'hidden' applies to trainer \"mlp\" only"},
    {"train", "{" TRAIN ",\"trainer\":\"mlp\",\"hidden\":[0]}", C,
     "step 's': each 'hidden' width must be between 1 and 65536"},
    {"train", "{" TRAIN ",\"epochs\":0}", C, "step 's': 'epochs' must be between 1 and 1000000"},
    {"train", "{" TRAIN ",\"epochs\":1.5}", C, "step 's': 'epochs' must be an integer"},
    {"train", "{" TRAIN ",\"learning_rate\":0}", C,
     "step 's': 'learning_rate' must be above 0 and at most 10 (got 0)"},
    {"train", "{" TRAIN ",\"val_split\":1}", C,
     "step 's': 'val_split' must be at least 0 and below 1 (got 1)"},
    {"train", "{" TRAIN ",\"trainer\":\"svm\"}", C,
     "step 's': 'trainer' must be one of softmax, mlp, linear (got 'svm')"},
    {"train", "{\"dataset\":\"/d.csv\",\"model\":\"m\"}", C,
     "step 's': train steps need 'label', e.g. label = \"damage\";"},
    {"train", "{\"dataset\":\"d.csv\",\"label\":\"y\",\"model\":\"m\"}", C,
     "step 's': 'dataset' must be an absolute path (got 'd.csv')"},
    {"train", "{\"dataset\":\"/d.csv\",\"label\":\"y\",\"model\":\"../m\"}", C,
     "step 's': model name '../m' is invalid (use 1 to 128 letters, digits, '_', '.' or '-', "
     "starting with a letter or digit)"},
    {"validate", "{\"dataset\":\"/d.csv\",\"checks\":{\"min_rows\":10}}", C, NULL},
    {"validate", "{\"dataset\":\"/d.csv\",\"checks\":{}}", C,
     "step 's': 'checks' is empty; give at least one check (columns, min_rows, max_missing, "
     "ranges, min_class_share, max_duplicates, drift)"},
    {"validate", "{\"dataset\":\"/d.csv\",\"checks\":{\"min_class_share\":0.1}}", C,
     "step 's': checks 'min_class_share' needs the step's 'label' (the class column)"},
    {"validate", "{\"dataset\":\"/d.csv\",\"checks\":{\"drift\":{\"reference\":\"r.csv\"}}}", C,
     "step 's': checks.drift 'reference' must be an absolute path (got 'r.csv')"},
    {"validate", "{\"dataset\":\"/d.csv\",\"checks\":{\"ranges\":{\"f\":[2,1]}}}", C,
     "step 's': checks range of 'f' must be [min, max] with min <= max"},
    {"evaluate",
     "{\"dataset\":\"/d.csv\",\"model\":\"m:production\",\"gates\":{\"min\":{\"accuracy\":0.8}}}",
     C, NULL},
    {"evaluate", "{\"dataset\":\"/d.csv\",\"model\":\"m:0\"}", C,
     "step 's': 'model' must be \"@STEP\" (the model trained by an earlier step of this run), "
     "\"NAME:production\" or \"NAME:VERSION\" (got 'm:0')"},
    {"evaluate", "{\"dataset\":\"/d.csv\",\"model\":\"m:1\",\"gates\":{\"min\":{\"rmse\":1}}}", C,
     "step 's': gates 'min' cannot bound 'rmse' (known: accuracy, macro_f1, r2)"},
    /* "resolved" is the coordinator's, added at dispatch: not from a client. */
    {"evaluate", "{\"dataset\":\"/d.csv\",\"model\":\"m:1\",\"resolved\":{}}", C,
     "step 's': unknown key 'resolved' (known: dataset, label, model, gates, extra_columns)"},
    {"evaluate", "{\"dataset\":\"/d.csv\",\"model\":\"m:1\",\"resolved\":{}}", D, NULL},
    {"promote", "{\"model\":\"@t\",\"stage\":\"production\"}", C, NULL},
    {"promote", "{\"model\":\"@t\",\"stage\":\"gold\"}", C,
     "step 's': 'stage' must be one of staging, production, archived (got 'gold')"},
    {"select", "{\"metric\":\"val_accuracy\",\"mode\":\"max\",\"from\":[\"t\"]}", C, NULL},
    {"select", "{\"metric\":\"val_accuracy\",\"mode\":\"max\"}", C,
     "step 's': a select step needs at least one train step in 'after' (the candidates it picks "
     "from)"},
    {"approve", "{\"model\":\"@t\"}", C, NULL},
    {"approve", "{}", C, "step 's': approve steps need 'model', e.g. model = \"@train\";"},
    {"approve", "{\"model\":\"m:1\",\"stage\":\"production\"}", C,
     "step 's': unknown key 'stage' (known: model)"},
    {"shell", "{}", C,
     "step 's': unknown kind 'shell' (known: exec, noop, validate, train, evaluate, score, promote, "
     "select, approve)"},
};

static void t_specs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const spec_case_t *tc = &s_cases[i];
        char err[512] = "";
        errno = 0;
        int rc = stepkind_check_spec(tc->kind, "s", tc->spec, tc->from, err, sizeof err);
        if (!tc->msg) {
            if (rc != 0)
                fail_msg("case %zu (%s %s): refused: %s", i, tc->kind, tc->spec, err);
            continue;
        }
        if (rc != -1 || errno != EINVAL || strcmp(err, tc->msg) != 0)
            fail_msg("case %zu (%s %s): rc %d errno %d\n  got:  %s\n  want: %s", i, tc->kind,
                     tc->spec, rc, errno, err, tc->msg);
    }
}

/* The table: every kind has a row; each file key is in its "known:" text. */
static void t_table(void **state)
{
    (void)state;
    static const char *const kinds[] = {"exec",    "noop",   "validate", "train", "evaluate",
                                        "promote", "select", "approve",  NULL};
    for (size_t i = 0; kinds[i]; i++) {
        const stepkind_t *k = stepkind_find(kinds[i]);
        assert_non_null(k);
        assert_true(workflow_kind_known(kinds[i]));
        assert_non_null(strstr(stepkind_names_text(), kinds[i]));
        for (const stepkind_key_t *kk = k->keys; kk->key; kk++)
            if (kk->from & STEPKIND_FROM_FILE)
                assert_non_null(strstr(k->keys_text, kk->key));
    }
    assert_null(stepkind_find("shell"));
    assert_null(stepkind_find(NULL));
    assert_string_equal(stepkind_where_name(stepkind_find("train")->where), "drover-task");
    assert_string_equal(stepkind_where_name(stepkind_find("exec")->where), "worker");
    assert_string_equal(stepkind_where_name(stepkind_find("select")->where), "coordinator");
}

/* A request of n steps built on the stack. */
typedef struct {
    Drover__SubmitRequest req;
    Drover__StepSpec steps[4];
    Drover__StepSpec *ptrs[4];
    char *after[4][2];
} req_t;

static void s_req(req_t *r, const char *wf)
{
    memset(r, 0, sizeof *r);
    drover__submit_request__init(&r->req);
    r->req.workflow = (char *)wf;
    r->req.steps = r->ptrs;
}

static Drover__StepSpec *s_step(req_t *r, const char *name, const char *kind, const char *spec,
                                const char *after)
{
    size_t i = r->req.n_steps++;
    Drover__StepSpec *s = &r->steps[i];
    drover__step_spec__init(s);
    s->name = (char *)name;
    s->kind = (char *)kind;
    s->spec_json = (char *)spec;
    if (after) {
        r->after[i][0] = (char *)after;
        s->after = r->after[i];
        s->n_after = 1;
    }
    r->ptrs[i] = s;
    return s;
}

static void s_expect(const req_t *r, const char *msg)
{
    char err[512] = "";
    errno = 0;
    int rc = stepkind_check_submit(&r->req, err, sizeof err);
    if (!msg) {
        if (rc != 0)
            fail_msg("refused: %s", err);
        return;
    }
    if (rc != -1 || errno != EINVAL || strcmp(err, msg) != 0)
        fail_msg("rc %d errno %d\n  got:  %s\n  want: %s", rc, errno, err, msg);
}

static void t_submit(void **state)
{
    (void)state;
    req_t r;
    s_req(&r, "w");
    s_step(&r, "t", "train", "{" TRAIN "}", NULL);
    s_step(&r, "e", "evaluate", "{\"dataset\":\"/d.csv\",\"model\":\"@t\"}", "t");
    s_expect(&r, NULL);

    s_req(&r, "../x");
    s_step(&r, "a", "noop", "{}", NULL);
    s_expect(&r, "workflow name '../x' is invalid (use 1 to 128 letters, digits, '_', '.' or "
                 "'-', starting with a letter or digit)");
    s_req(&r, "w");
    s_step(&r, "a\x1b[2J", "noop", "{}", NULL);
    s_expect(&r, "step name 'a\x1b[2J' is invalid (use 1 to 128 letters, digits, '_', '.' or "
                 "'-', starting with a letter or digit)");
    s_req(&r, "w");
    s_step(&r, "a", "noop", "{}", "b,c");
    s_expect(&r, "step 'a': 'after' must be an array of step names");
    s_req(&r, "w");
    s_step(&r, "e", "evaluate", "{\"dataset\":\"/d.csv\",\"model\":\"@a\"}", "a");
    s_step(&r, "a", "noop", "{}", NULL);
    s_expect(&r, "step 'e': model '@a' must name a train, select or exec step ('a' is noop)");
    s_req(&r, "w");
    s_step(&r, "a", "noop", "{}", NULL)->retries = 101;
    s_expect(&r, "step 'a': 'retries' must be between 0 and 100");
    s_req(&r, "w");
    s_step(&r, "a", "noop", "{}", NULL);
    r.req.queue = "-q";
    s_expect(&r, "queue name '-q' is invalid (use 1 to 63 letters, digits, '_', '.' or '-', "
                 "starting with a letter or digit)");
    r.req.queue = NULL;
    r.req.priority = 1001;
    s_expect(&r, "'priority' must be an integer between -1000 and 1000 (higher runs first)");
    r.req.priority = 0;
    Drover__Schedule sc = DROVER__SCHEDULE__INIT;
    sc.cron = "0 3 * * *";
    sc.max_active = 101;
    r.req.schedule = &sc;
    s_expect(&r, "schedule 'max_active' must be an integer between 1 and 100");
    sc.max_active = 100;
    s_expect(&r, NULL);
    sc.timezone = "Mars/Olympus";
    s_expect(&r, "schedule 'timezone': unknown time zone 'Mars/Olympus' (use an IANA name such "
                 "as \"Europe/Berlin\" or \"UTC\")");
    r.req.schedule = NULL;
    Drover__Trigger tr = DROVER__TRIGGER__INIT;
    tr.watch = "rel/dir";
    r.req.trigger = &tr;
    s_expect(&r, "trigger 'watch' must be an absolute folder path");
    s_req(&r, "w");
    s_expect(&r, "'steps' is empty; a workflow needs at least one step");
    /* Gangs (docs/distributed.md): the coordinator's rules for any client. */
    s_req(&r, "w");
    s_step(&r, "a", "noop", "{}", NULL)->nodes = 64;
    s_expect(&r, NULL);
    r.steps[0].nodes = 65;
    s_expect(&r, "step 'a': 'nodes' must be between 1 and 64");
    r.steps[0].nodes = 2;
    r.steps[0].gang_rank = 1; /* members are the coordinator's to make */
    s_expect(&r, "step 'a': gang_rank is set by the coordinator");
    s_req(&r, "w");
    s_step(&r, "p", "promote", "{\"model\":\"m:1\",\"stage\":\"staging\"}", NULL)->nodes = 2;
    s_expect(&r,
             "step 'p': a promote step runs inside the coordinator and cannot have 'nodes' > 1");
}

/* What the loader builds, the coordinator accepts: the examples in the repo. */
static void t_loader_agrees(void **state)
{
    (void)state;
    char err[1024];
    workflow_t *wf = workflow_parse(
        "workflow = \"w\";\nsteps = (\n"
        "  { name = \"v\"; kind = \"validate\"; dataset = \"d.csv\"; label = \"y\";\n"
        "    checks = { min_rows = 1; drift = { reference = \"r.csv\"; }; }; },\n"
        "  { name = \"t\"; kind = \"train\"; after = [\"v\"]; dataset = \"d.csv\"; label = \"y\";\n"
        "    model = \"m\"; matrix = { learning_rate = [0.1, 0.01]; }; },\n"
        "  { name = \"pick\"; kind = \"select\"; after = [\"t\"]; metric = \"val_accuracy\"; mode = \"max\"; },\n"
        "  { name = \"e\"; kind = \"evaluate\"; after = [\"pick\"]; dataset = \"d.csv\"; model = \"@pick\"; },\n"
        "  { name = \"p\"; kind = \"promote\"; after = [\"e\"]; model = \"@pick\"; stage = \"staging\"; },\n"
        "  { name = \"x\"; kind = \"exec\"; command = \"true\"; cwd = \".\"; env = { A = \"1\"; }; }\n"
        ");\n",
        "/tmp/w.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    for (size_t i = 0; i < wf->nsteps; i++)
        if (stepkind_check_spec(wf->steps[i].kind, wf->steps[i].name, wf->steps[i].spec_json,
                                STEPKIND_FROM_CLIENT | STEPKIND_FROM_DISPATCH, err, sizeof err) < 0)
            fail_msg("%s: %s", wf->steps[i].spec_json, err);
    workflow_destroy(&wf);
}

/* The loader (file:line: MSG) and the coordinator (MSG) word a broken rule
 * the same way: each pair is a step in a file and the wire spec a client
 * could send instead. The loader keeps its own per-setting checks to point
 * at the exact line, so this table is what keeps the two in step. */
static void t_parity(void **state)
{
    (void)state;
    static const struct {
        const char *kind, *file, *wire;
    } cases[] = {
        {"exec", "argv = [];", "{\"argv\":[]}"},
        {"exec", "argv = [\"\"];", "{\"argv\":[\"\"]}"},
        {"exec", "command = \"x\"; env = { CUDA_VISIBLE_DEVICES = \"0\"; };",
         "{\"argv\":[\"x\"],\"env\":{\"CUDA_VISIBLE_DEVICES\":\"0\"}}"},
        {"exec", "command = \"x\"; env = { A = 1; };", "{\"argv\":[\"x\"],\"env\":{\"A\":1}}"},
        {"exec", "command = \"x\"; outputs = [\"../m\"];",
         "{\"argv\":[\"x\"],\"outputs\":[\"../m\"]}"},
        {"exec", "command = \"x\"; outputs = [];", "{\"argv\":[\"x\"],\"outputs\":[]}"},
        {"exec", "command = \"x\"; inputs = { m = \"@a\"; };",
         "{\"argv\":[\"x\"],\"inputs\":{\"m\":\"@a\"}}"},
        {"train", "dataset = \"/d.csv\"; label = \"y\"; model = \"m\"; epochs = 0;",
         "{" TRAIN ",\"epochs\":0}"},
        {"train", "dataset = \"/d.csv\"; label = \"y\"; model = \"m\"; trainer = \"svm\";",
         "{" TRAIN ",\"trainer\":\"svm\"}"},
        {"train", "dataset = \"/d.csv\"; label = \"y\"; model = \"m\"; learning_rate = 0;",
         "{" TRAIN ",\"learning_rate\":0}"},
        {"train", "dataset = \"/d.csv\"; label = \"y\"; model = \"m\"; hidden = [8];",
         "{" TRAIN ",\"hidden\":[8]}"},
        {"train", "dataset = \"/d.csv\"; model = \"m\";",
         "{\"dataset\":\"/d.csv\",\"model\":\"m\"}"},
        {"train", "dataset = \"/d.csv\"; label = \"y\"; model = \"a/b\";",
         "{\"dataset\":\"/d.csv\",\"label\":\"y\",\"model\":\"a/b\"}"},
        {"validate", "dataset = \"/d.csv\"; checks = {};",
         "{\"dataset\":\"/d.csv\",\"checks\":{}}"},
        {"validate", "dataset = \"/d.csv\"; checks = { min_class_share = 0.1; };",
         "{\"dataset\":\"/d.csv\",\"checks\":{\"min_class_share\":0.1}}"},
        {"validate", "dataset = \"/d.csv\"; checks = { max_missing = 2; };",
         "{\"dataset\":\"/d.csv\",\"checks\":{\"max_missing\":2}}"},
        {"validate",
         "dataset = \"/d.csv\"; checks = { drift = { reference = \"/r.csv\"; bins = 1; }; };",
         "{\"dataset\":\"/d.csv\",\"checks\":{\"drift\":{\"reference\":\"/r.csv\",\"bins\":1}}}"},
        {"validate", "dataset = \"/d.csv\"; checks = { colour = 1; };",
         "{\"dataset\":\"/d.csv\",\"checks\":{\"colour\":1}}"},
        {"evaluate", "dataset = \"/d.csv\"; model = \"m:1\"; gates = { min = { rmse = 1.0; }; };",
         "{\"dataset\":\"/d.csv\",\"model\":\"m:1\",\"gates\":{\"min\":{\"rmse\":1.0}}}"},
        {"evaluate",
         "dataset = \"/d.csv\"; model = \"m:1\"; gates = { better_than_production = { metric = \"speed\"; }; };",
         "{\"dataset\":\"/d.csv\",\"model\":\"m:1\",\"gates\":{\"better_than_production\":{\"metric\":\"speed\"}}}"},
        {"evaluate", "dataset = \"/d.csv\"; model = \"m:0\";",
         "{\"dataset\":\"/d.csv\",\"model\":\"m:0\"}"},
        {"promote", "model = \"m:1\"; stage = \"gold\";", "{\"model\":\"m:1\",\"stage\":\"gold\"}"},
        {"promote", "model = \"m:1\";", "{\"model\":\"m:1\"}"},
        {"approve", "model = \"m:x\";", "{\"model\":\"m:x\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024], ferr[1024], werr[1024];
        snprintf(text, sizeof text,
                 "workflow = \"w\";\nsteps = (\n{ name = \"s\"; kind = \"%s\"; %s }\n);\n",
                 cases[i].kind, cases[i].file);
        workflow_t *wf = workflow_parse(text, "/tmp/p.cfg", ferr, sizeof ferr);
        if (wf)
            fail_msg("case %zu: the loader accepted: %s", i, text);
        const char *msg = strstr(ferr, ": "); /* after "/tmp/p.cfg:3" */
        assert_non_null(msg);
        msg += 2;
        if (stepkind_check_spec(cases[i].kind, "s", cases[i].wire, STEPKIND_FROM_CLIENT, werr,
                                sizeof werr) == 0)
            fail_msg("case %zu: the coordinator accepted %s", i, cases[i].wire);
        if (strcmp(msg, werr) != 0)
            fail_msg("case %zu:\n  file: %s\n  wire: %s", i, msg, werr);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_specs),         cmocka_unit_test(t_table),  cmocka_unit_test(t_submit),
        cmocka_unit_test(t_loader_agrees), cmocka_unit_test(t_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
