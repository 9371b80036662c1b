/* test_workflow — unit tests of common/workflow.c.
 *
 * The error table is the heart of it: every class of bad input, the exact
 * line the message must point at, and a piece of the message a user needs
 * to fix it. Valid files check the parsed fields and the exact spec_json
 * (keys sorted, compact), since the coordinator stores it byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "workflow.h"

#define HDR "workflow = \"w\";\n"
#define T HDR "steps = (\n  { name = \"t\"; kind = \"train\"; dataset = \"/d.csv\"; label = \"y\"; model = \"m\";\n"

typedef struct {
    const char *what;
    const char *text;
    int line;          /* expected line in "pipeline.cfg:LINE: " */
    const char *needle;
} err_case_t;

static const err_case_t s_errors[] = {
    /* syntax, reported with libconfig's own line */
    {"syntax error", HDR "steps = (\n  { name = \"a\"; kind = = \"exec\"; }\n);\n",
     3, "syntax error"},
    {"duplicate key", HDR "steps = (\n  { name = \"a\";\n    name = \"b\"; kind = \"exec\"; }\n);\n",
     4, "duplicate setting name"},
    /* top level */
    {"unknown top-level key", HDR "stepz = ();\n", 2,
     "unknown top-level key 'stepz' (known: workflow, steps)"},
    {"no workflow", "steps = ( { name = \"a\"; kind = \"exec\"; command = \"true\"; } );\n", 1,
     "no 'workflow'"},
    {"no steps", HDR, 1, "no 'steps'"},
    {"empty file", "", 1, "no 'workflow'"},
    {"workflow not a string", "workflow = 3;\n", 1, "'workflow' must be a string"},
    {"workflow bad name", "workflow = \"my flow\";\n", 1, "workflow name 'my flow' is invalid"},
    {"workflow name too long",
     "workflow = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\";\n", /* 129 */
     1, "is invalid"},
    {"steps empty", HDR "steps = ();\n", 2, "'steps' is empty"},
    {"steps not a list", HDR "steps = 3;\n", 2, "'steps' must be a list"},
    {"steps is a group", HDR "steps = { name = \"a\"; };\n", 2, "'steps' must be a list"},
    {"step not a group", HDR "steps = (\n  \"a\", 1\n);\n", 3, "step 1 must be a group"},
    /* names and kinds */
    {"no name", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; },\n"
                "  { kind = \"exec\"; command = \"true\"; }\n);\n",
     4, "step at line 4 has no 'name'"},
    {"name not a string", HDR "steps = (\n  {\n    name = 5;\n  }\n);\n", 4,
     "step at line 3: 'name' must be a string"},
    {"name bad charset", HDR "steps = (\n  { name = \"a/b\"; kind = \"exec\"; }\n);\n", 3,
     "step name 'a/b' is invalid"},
    {"name empty", HDR "steps = (\n  { name = \"\"; kind = \"exec\"; }\n);\n", 3,
     "step name '' is invalid"},
    {"no kind", HDR "steps = (\n  { name = \"a\"; command = \"true\"; }\n);\n", 3,
     "step 'a' has no 'kind'"},
    {"kind not a string", HDR "steps = (\n  { name = \"a\";\n    kind = [\"exec\"]; }\n);\n", 4,
     "step 'a': 'kind' must be a string"},
    {"unknown kind", HDR "steps = (\n  { name = \"a\"; kind = \"shell\"; }\n);\n", 3,
     "step 'a': unknown kind 'shell' (known: exec, noop, validate, train, evaluate, promote)"},
    {"unknown key",
     HDR "steps = (\n  {\n    name = \"train\";\n    kind = \"exec\";\n    command = \"true\";\n"
         "    retires = 3;\n  }\n);\n",
     7, "step 'train': unknown key 'retires' (known: name, kind, after, retries, retry_delay, "
        "timeout, argv, command, env, cwd)"},
    /* numbers and durations */
    {"retries not an int", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n"
                           "    retries = \"3\"; }\n);\n",
     4, "'retries' must be an integer"},
    {"retries float", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; retries = 1.0; }\n);\n", 3,
     "'retries' must be an integer"},
    {"retries too big", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; retries = 101; }\n);\n",
     3, "'retries' must be between 0 and 100"},
    {"retries negative", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; retries = -1; }\n);\n",
     3, "'retries' must be between 0 and 100"},
    {"timeout words", HDR "steps = (\n  { name = \"a\"; kind = \"exec\";\n"
                      "    timeout = \"10 minutes\"; }\n);\n",
     4, "'timeout' must be a duration"},
    {"timeout unit", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = \"5d\"; }\n);\n",
     3, "'timeout' must be a duration"},
    {"timeout nan", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = \"nan\"; }\n);\n",
     3, "'timeout' must be a duration"},
    {"timeout bool", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = true; }\n);\n",
     3, "'timeout' must be a duration"},
    {"timeout negative", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = -5; }\n);\n",
     3, "'timeout' must not be negative"},
    {"timeout negative float",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = -0.5; }\n);\n", 3,
     "'timeout' must not be negative"},
    {"timeout too long",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = \"9000h\"; }\n);\n", 3,
     "'timeout' is too long"},
    {"timeout huge int",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = 9000000000000000000L; }\n);\n",
     3, "'timeout' is too long"},
    {"retry_delay bad",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\";\n\n retry_delay = \"soon\"; }\n);\n", 5,
     "'retry_delay' must be a duration"},
    /* after */
    {"after a string", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; after = \"b\"; }\n);\n", 3,
     "'after' must be an array of step names"},
    {"after non-string element",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; after = (\"b\",\n 7); }\n);\n", 4,
     "'after' must be an array of step names"},
    /* exec fields */
    {"argv and command",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; argv = [\"true\"];\n"
         "    command = \"true\"; }\n);\n",
     4, "give either 'argv' or 'command', not both"},
    {"neither argv nor command", HDR "steps = (\n  {\n name = \"a\"; kind = \"exec\"; }\n);\n", 3,
     "step 'a': an exec step needs 'argv'"},
    {"argv empty", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; argv = []; }\n);\n", 3,
     "'argv' must be a non-empty array of strings"},
    {"argv a string", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; argv = \"ls\"; }\n);\n", 3,
     "'argv' must be a non-empty array of strings"},
    {"argv mixed list",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; argv = (\"ls\",\n\n 3); }\n);\n", 5,
     "'argv' must be an array of strings"},
    {"argv empty program",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; argv = [\"\", \"x\"]; }\n);\n", 3,
     "the program in 'argv' must not be empty"},
    {"command empty", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"\"; }\n);\n", 3,
     "'command' must not be empty"},
    {"command not a string",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = [\"ls\"]; }\n);\n", 3,
     "'command' must be a string"},
    {"command bad utf-8",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"echo \xff\"; }\n);\n", 3,
     "'command' is not valid UTF-8"},
    {"env not a group",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n"
         "    env = [\"A=1\"]; }\n);\n",
     4, "'env' must be a group"},
    {"env value not a string",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n"
         "    env = { A = \"1\";\n            EPOCHS = 3; }; }\n);\n",
     5, "env 'EPOCHS' must be a string"},
    {"env bad name",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n"
         "    env = { MY-VAR = \"1\"; }; }\n);\n",
     4, "'MY-VAR' is not a valid environment variable name"},
    {"env reserved name",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n"
         "    env = { DROVER_STEP = \"x\"; }; }\n);\n",
     4, "env 'DROVER_STEP' is set by drover"},
    {"cwd empty",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; cwd = \"\"; }\n);\n", 3,
     "'cwd' must not be empty"},
    {"cwd not a string",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; cwd = 1; }\n);\n", 3,
     "'cwd' must be a string"},
    /* ML kinds: keys, types, required keys */
    {"train unknown key",
     HDR "steps = (\n  { name = \"t\"; kind = \"train\";\n    argv = [\"x\"]; }\n);\n", 4,
     "step 't': unknown key 'argv' (known: name, kind, after, retries, retry_delay, timeout, "
     "dataset, label, model, trainer, hidden"},
    {"exec with a train key",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n    epochs = 3; }\n);\n",
     4, "step 'a': unknown key 'epochs' (known: name, kind, after, retries, retry_delay, timeout, "
        "argv, command, env, cwd)"},
    {"train no dataset",
     HDR "steps = (\n  { name = \"t\"; kind = \"train\"; label = \"y\"; model = \"m\"; }\n);\n", 3,
     "step 't': train steps need 'dataset'"},
    {"train no label",
     HDR "steps = (\n  { name = \"t\"; kind = \"train\"; dataset = \"/d.csv\"; model = \"m\"; }\n);\n",
     3, "step 't': train steps need 'label'"},
    {"train no model",
     HDR "steps = (\n  { name = \"t\"; kind = \"train\"; dataset = \"/d.csv\"; label = \"y\"; }\n);\n",
     3, "step 't': train steps need 'model'"},
    {"train dataset not a string",
     HDR "steps = (\n  { name = \"t\"; kind = \"train\"; label = \"y\"; model = \"m\";\n"
         "    dataset = 5; }\n);\n",
     4, "step 't': 'dataset' must be a string"},
    {"train bad model name",
     HDR "steps = (\n  { name = \"t\"; kind = \"train\"; dataset = \"/d.csv\"; label = \"y\";\n"
         "    model = \"claims damage\"; }\n);\n",
     4, "step 't': model name 'claims damage' is invalid"},
    {"train bad trainer", T "    trainer = \"svm\"; }\n);\n", 4,
     "step 't': 'trainer' must be one of softmax, mlp, linear (got 'svm')"},
    {"train bad optimizer", T "    optimizer = \"rmsprop\"; }\n);\n", 4,
     "'optimizer' must be one of sgd, adam"},
    {"train bad gpu", T "    gpu = \"yes\"; }\n);\n", 4, "'gpu' must be one of auto, never, require"},
    {"train epochs float", T "    epochs = 2.5; }\n);\n", 4, "step 't': 'epochs' must be an integer"},
    {"train epochs zero", T "    epochs = 0; }\n);\n", 4, "'epochs' must be between 1 and"},
    {"train lr string", T "    learning_rate = \"fast\"; }\n);\n", 4,
     "'learning_rate' must be a number"},
    {"train lr zero", T "    learning_rate = 0.0; }\n);\n", 4, "'learning_rate' must be above 0"},
    {"train val_split one", T "    val_split = 1.0; }\n);\n", 4, "'val_split' must be at least 0 and below 1"},
    {"train threads", T "    threads = 0; }\n);\n", 4, "'threads' must be between 1 and 256"},
    {"train hidden without mlp", T "    hidden = [64]; }\n);\n", 4,
     "'hidden' applies to trainer \"mlp\" only"},
    {"train hidden empty", T "    trainer = \"mlp\";\n    hidden = []; }\n);\n", 5,
     "'hidden' must be an array of 1 to 8 layer widths"},
    {"train hidden zero width", T "    trainer = \"mlp\"; hidden = [64,\n 0]; }\n);\n", 5,
     "each 'hidden' width must be between 1 and 65536"},
    {"validate no checks",
     HDR "steps = (\n  { name = \"v\"; kind = \"validate\"; dataset = \"/d.csv\"; }\n);\n", 3,
     "step 'v': validate steps need 'checks'"},
    {"validate empty checks",
     HDR "steps = (\n  { name = \"v\"; kind = \"validate\"; dataset = \"/d.csv\";\n"
         "    checks = {}; }\n);\n",
     4, "'checks' is empty"},
    {"validate unknown check",
     HDR "steps = (\n  { name = \"v\"; kind = \"validate\"; dataset = \"/d.csv\"; checks = {\n"
         "    max_rows = 5; }; }\n);\n",
     4, "step 'v': unknown check 'max_rows' (known: columns, min_rows"},
    {"validate max_missing above 1",
     HDR "steps = (\n  { name = \"v\"; kind = \"validate\"; dataset = \"/d.csv\"; checks = {\n"
         "    max_missing = 1.5; }; }\n);\n",
     4, "checks 'max_missing' must be at least 0 and at most 1"},
    {"validate class share without label",
     HDR "steps = (\n  { name = \"v\"; kind = \"validate\"; dataset = \"/d.csv\"; checks = {\n"
         "    min_class_share = 0.1; }; }\n);\n",
     4, "checks 'min_class_share' needs the step's 'label'"},
    {"validate bad range",
     HDR "steps = (\n  { name = \"v\"; kind = \"validate\"; dataset = \"/d.csv\"; checks = {\n"
         "    ranges = {\n f0 = [3.0, 1.0]; }; }; }\n);\n",
     5, "checks range of 'f0' must be [min, max] with min <= max"},
    {"validate drift without reference",
     HDR "steps = (\n  { name = \"v\"; kind = \"validate\"; dataset = \"/d.csv\"; checks = {\n"
         "    drift = { max_psi = 0.2; }; }; }\n);\n",
     4, "checks.drift needs 'reference'"},
    {"validate drift bins",
     HDR "steps = (\n  { name = \"v\"; kind = \"validate\"; dataset = \"/d.csv\"; checks = {\n"
         "    drift = { reference = \"/r.csv\";\n bins = 1; }; }; }\n);\n",
     5, "checks.drift 'bins' must be between 2 and 1000"},
    {"validate columns empty",
     HDR "steps = (\n  { name = \"v\"; kind = \"validate\"; dataset = \"/d.csv\"; checks = {\n"
         "    columns = []; }; }\n);\n",
     4, "checks 'columns' must be a non-empty array"},
    {"evaluate no model",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; }\n);\n", 3,
     "step 'e': evaluate steps need 'model'"},
    {"evaluate bad ref syntax",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\";\n"
         "    model = \"claims\"; }\n);\n",
     4, "'model' must be \"@STEP\""},
    {"evaluate bad version",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\";\n"
         "    model = \"claims:0\"; }\n);\n",
     4, "'model' must be \"@STEP\""},
    {"evaluate bad stage word",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\";\n"
         "    model = \"claims:latest\"; }\n);\n",
     4, "'model' must be \"@STEP\""},
    {"evaluate ref unknown step",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\";\n"
         "    model = \"@train\"; }\n);\n",
     4, "step 'e': model '@train' names no step of this workflow"},
    {"evaluate ref not an ancestor",
     HDR "steps = (\n  { name = \"train\"; kind = \"train\"; dataset = \"/d.csv\"; label = \"y\";\n"
         "    model = \"m\"; },\n"
         "  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\";\n"
         "    model = \"@train\"; }\n);\n",
     6, "step 'e': model '@train' names a step this step does not run after"},
    {"evaluate ref not a train step",
     HDR "steps = (\n  { name = \"prep\"; kind = \"exec\"; command = \"true\"; },\n"
         "  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; after = [\"prep\"];\n"
         "    model = \"@prep\"; }\n);\n",
     5, "model '@prep' must name a train step ('prep' is exec)"},
    {"evaluate unknown gate",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
         "    gates = {\n      above = { accuracy = 0.8; }; }; }\n);\n",
     5, "unknown gate 'above'"},
    {"evaluate min on a lower-is-better metric",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
         "    gates = { min = {\n      log_loss = 0.5; }; }; }\n);\n",
     5, "gates 'min' cannot bound 'log_loss' (known: accuracy, macro_f1, r2)"},
    {"evaluate gate not a number",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
         "    gates = { max = {\n      rmse = \"low\"; }; }; }\n);\n",
     5, "gates max 'rmse' must be a number"},
    {"evaluate better_than_production without metric",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
         "    gates = {\n better_than_production = { by = 0.01; }; }; }\n);\n",
     5, "gates better_than_production needs 'metric'"},
    {"evaluate better_than_production bad metric",
     HDR "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
         "    gates = { better_than_production = {\n metric = \"auc\"; }; }; }\n);\n",
     5, "better_than_production 'metric' must be one of accuracy"},
    {"promote bad stage",
     HDR "steps = (\n  { name = \"p\"; kind = \"promote\"; model = \"m:3\";\n"
         "    stage = \"prod\"; }\n);\n",
     4, "'stage' must be one of staging, production, archived (got 'prod')"},
    {"promote no stage", HDR "steps = (\n  { name = \"p\"; kind = \"promote\"; model = \"m:3\"; }\n);\n",
     3, "promote steps need 'stage'"},
    {"promote ref not an ancestor",
     HDR "steps = (\n  { name = \"train\"; kind = \"train\"; dataset = \"/d.csv\"; label = \"y\"; model = \"m\"; },\n"
         "  { name = \"other\"; kind = \"exec\"; command = \"true\"; after = [\"train\"]; },\n"
         "  { name = \"p\"; kind = \"promote\"; stage = \"production\"; after = [\"other\"];\n"
         "    model = \"@trainx\"; }\n);\n",
     6, "model '@trainx' names no step"},
    /* graph */
    {"unknown dependency",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; },\n"
         "  { name = \"b\"; kind = \"exec\"; command = \"true\"; after = [\"x\"]; }\n);\n",
     4, "step 'b' depends on unknown step 'x'"},
    {"self dependency",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; after = [\"a\"]; }\n);\n",
     3, "step 'a' depends on itself"},
    {"repeated dependency",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; },\n"
         "  { name = \"b\"; kind = \"exec\"; command = \"true\"; after = [\"a\", \"a\"]; }\n);\n",
     4, "lists 'a' twice"},
    {"two-step cycle",
     HDR "steps = (\n  { name = \"z\"; kind = \"exec\"; command = \"true\"; },\n"
         "  { name = \"a\"; kind = \"exec\"; command = \"true\"; after = [\"b\"]; },\n"
         "  { name = \"b\"; kind = \"exec\"; command = \"true\"; after = [\"a\"]; }\n);\n",
     4, "dependency cycle: a -> b -> a"},
    {"three-step cycle",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; after = [\"c\"]; },\n"
         "  { name = \"b\"; kind = \"exec\"; command = \"true\"; after = [\"a\"]; },\n"
         "  { name = \"c\"; kind = \"exec\"; command = \"true\"; after = [\"b\"]; }\n);\n",
     3, "dependency cycle: a -> b -> c -> a"},
    {"duplicate name",
     HDR "steps = (\n  { name = \"prep\"; kind = \"exec\"; command = \"true\"; },\n"
         "  {\n    name = \"train\"; kind = \"exec\"; command = \"true\"; },\n"
         "  { name = \"eval\"; kind = \"exec\"; command = \"true\"; },\n"
         "  {\n    name = \"train\"; kind = \"exec\"; command = \"true\"; }\n);\n",
     8, "duplicate step name 'train' (first defined at line 5)"},
};

static void t_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors[0]; i++) {
        const err_case_t *c = &s_errors[i];
        char err[512] = "";
        char prefix[64];
        errno = 0;
        workflow_t *wf = workflow_parse(c->text, "pipeline.cfg", err, sizeof err);
        int e = errno;
        snprintf(prefix, sizeof prefix, "pipeline.cfg:%d: ", c->line);
        if (wf || e != EINVAL || strncmp(err, prefix, strlen(prefix)) != 0 ||
            !strstr(err, c->needle))
            fail_msg("%s: wf=%p errno=%d err='%s'; want '%s...%s'", c->what, (void *)wf, e, err,
                     prefix, c->needle);
    }
}

static void t_diamond(void **state)
{
    (void)state;
    const char *text = "# a diamond\n"
                       "workflow = \"hello\";\n"
                       "steps = (\n"
                       "  { name = \"prepare\"; kind = \"exec\"; command = \"echo hi\"; },\n"
                       "  { name = \"train_a\"; kind = \"exec\"; after = [\"prepare\"];\n"
                       "    argv = [\"python3\", \"train.py\", \"--seed=1\"]; retries = 2; },\n"
                       "  { name = \"train_b\"; kind = \"exec\"; after = [\"prepare\"];\n"
                       "    command = \"sleep 0.1\"; timeout = \"10m\"; retry_delay = 2.5; },\n"
                       "  {\n"
                       "    name = \"report\"; kind = \"exec\"; after = (\"train_a\", \"train_b\");\n"
                       "    command = \"echo 'done' \\\"x\\\"\"; }\n"
                       ");\n";
    char err[256] = "";
    workflow_t *wf = workflow_parse(text, "pipeline.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_string_equal(wf->name, "hello");
    assert_string_equal(wf->path, "pipeline.cfg");
    assert_int_equal(wf->nsteps, 4);

    workflow_step_t *s = wf->steps;
    assert_string_equal(s[0].name, "prepare");
    assert_string_equal(s[0].kind, "exec");
    assert_int_equal(s[0].nafter, 0);
    assert_int_equal(s[0].line, 4);
    assert_int_equal(s[0].retries, 0);
    assert_int_equal(s[0].timeout_ms, 0);
    assert_int_equal(s[0].retry_delay_ms, 1000);
    assert_string_equal(s[0].spec_json, "{\"argv\":[\"/bin/sh\",\"-c\",\"echo hi\"]}");

    assert_string_equal(s[1].name, "train_a");
    assert_int_equal(s[1].nafter, 1);
    assert_string_equal(s[1].after[0], "prepare");
    assert_int_equal(s[1].retries, 2);
    assert_int_equal(s[1].line, 5);
    assert_string_equal(s[1].spec_json, "{\"argv\":[\"python3\",\"train.py\",\"--seed=1\"]}");

    assert_int_equal(s[2].timeout_ms, 600000);
    assert_int_equal(s[2].retry_delay_ms, 2500);

    assert_string_equal(s[3].name, "report");
    assert_int_equal(s[3].line, 9);
    assert_int_equal(s[3].nafter, 2);
    assert_string_equal(s[3].after[0], "train_a");
    assert_string_equal(s[3].after[1], "train_b");
    assert_string_equal(s[3].spec_json,
                        "{\"argv\":[\"/bin/sh\",\"-c\",\"echo 'done' \\\"x\\\"\"]}");
    workflow_destroy(&wf);
    assert_null(wf);
    workflow_destroy(&wf); /* NULL-safe */
    workflow_destroy(NULL);
}

static void t_env_sorted(void **state)
{
    (void)state;
    const char *text = HDR "steps = ( { name = \"a\"; kind = \"exec\"; argv = [\"env\"];\n"
                           "  env = { ZED = \"last\"; A_1 = \"x y\"; u = \"\\\"q\\\"\"; E = \"\"; }; },\n"
                           "  { name = \"b\"; kind = \"exec\"; argv = [\"true\"]; env = {}; } );\n";
    char err[256] = "";
    workflow_t *wf = workflow_parse(text, "pipeline.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_string_equal(wf->steps[0].spec_json,
                        "{\"argv\":[\"env\"],\"env\":{\"A_1\":\"x y\",\"E\":\"\",\"ZED\":\"last\","
                        "\"u\":\"\\\"q\\\"\"}}");
    /* An empty env group adds nothing. */
    assert_string_equal(wf->steps[1].spec_json, "{\"argv\":[\"true\"]}");
    workflow_destroy(&wf);
}

typedef struct {
    const char *value;
    int64_t ms;
} dur_case_t;

static void t_durations(void **state)
{
    (void)state;
    static const dur_case_t cases[] = {
        {"0", 0},          {"90", 90000},       {"1.5", 1500},       {"0.25", 250},
        {"\"250ms\"", 250}, {"\"90s\"", 90000},  {"\"10m\"", 600000}, {"\"2h\"", 7200000},
        {"\"1.5\"", 1500}, {"\"0.5s\"", 500},   {"3L", 3000},        {"\"0\"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256], err[256] = "";
        snprintf(text, sizeof text,
                 HDR "steps = ( { name = \"a\"; kind = \"exec\"; command = \"true\";\n"
                     "  timeout = %s; retry_delay = %s; } );\n",
                 cases[i].value, cases[i].value);
        workflow_t *wf = workflow_parse(text, "p.cfg", err, sizeof err);
        if (!wf)
            fail_msg("%s: %s", cases[i].value, err);
        if (wf->steps[0].timeout_ms != cases[i].ms || wf->steps[0].retry_delay_ms != cases[i].ms)
            fail_msg("%s: timeout %lld retry_delay %lld, want %lld", cases[i].value,
                     (long long)wf->steps[0].timeout_ms, (long long)wf->steps[0].retry_delay_ms,
                     (long long)cases[i].ms);
        workflow_destroy(&wf);
    }
}

/* Parses a one-step workflow with the given cwd setting and path, and
 * checks the cwd in spec_json. */
static void s_check_cwd(const char *path, const char *cwd, const char *want)
{
    char text[512], err[512] = "", spec[PATH_MAX + 64];
    snprintf(text, sizeof text,
             HDR "steps = ( { name = \"a\"; kind = \"exec\"; command = \"pwd\"; cwd = \"%s\"; } );\n",
             cwd);
    workflow_t *wf = workflow_parse(text, path, err, sizeof err);
    if (!wf)
        fail_msg("cwd '%s' in %s: %s", cwd, path, err);
    snprintf(spec, sizeof spec, "{\"argv\":[\"/bin/sh\",\"-c\",\"pwd\"],\"cwd\":\"%s\"}", want);
    if (strcmp(wf->steps[0].spec_json, spec) != 0)
        fail_msg("cwd '%s' in %s: got %s, want %s", cwd, path, wf->steps[0].spec_json, spec);
    workflow_destroy(&wf);
}

static void t_cwd(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/drover-wf-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char sub[PATH_MAX], link[PATH_MAX], real[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 64];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    /* A symlinked directory resolves to its real path. */
    snprintf(link, sizeof link, "%s/link", dir);
    assert_int_equal(symlink(sub, link), 0);
    assert_non_null(realpath(sub, real));

    snprintf(path, sizeof path, "%s/pipeline.cfg", link);
    snprintf(want, sizeof want, "%s/data", real);
    s_check_cwd(path, "data", want);
    s_check_cwd(path, "./data", want);
    s_check_cwd(path, ".", real);
    s_check_cwd(path, "/abs/where", "/abs/where");
    snprintf(want, sizeof want, "%s/../x", real);
    s_check_cwd(path, "../x", want);

    /* A bare file name is relative to the process's directory. */
    char here[PATH_MAX];
    assert_non_null(getcwd(here, sizeof here));
    assert_int_equal(chdir(sub), 0);
    snprintf(want, sizeof want, "%s/out", real);
    s_check_cwd("pipeline.cfg", "out", want);
    assert_int_equal(chdir(here), 0);

    /* The directory must exist to resolve a relative cwd. */
    char err[512] = "";
    snprintf(path, sizeof path, "%s/missing/pipeline.cfg", dir);
    errno = 0;
    workflow_t *wf = workflow_parse(
        HDR "steps = ( { name = \"a\"; kind = \"exec\"; command = \"true\";\n  cwd = \"x\"; } );\n",
        path, err, sizeof err);
    assert_null(wf);
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err, "pipeline.cfg:3: cannot resolve the directory"));

    unlink(link);
    rmdir(sub);
    rmdir(dir);
}

static void t_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/drover-wf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; }\n);\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);

    char err[512] = "";
    workflow_t *wf = workflow_load(path, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_string_equal(wf->path, path);
    assert_int_equal(wf->steps[0].line, 3);
    workflow_destroy(&wf);

    /* A bad file names itself in the message. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; bogus = 1; }\n);\n", f);
    assert_int_equal(fclose(f), 0);
    errno = 0;
    assert_null(workflow_load(path, err, sizeof err));
    assert_int_equal(errno, EINVAL);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s:3: step 'a': unknown key 'bogus'", path);
    assert_non_null(strstr(err, want));
    assert_int_equal(unlink(path), 0);

    errno = 0;
    assert_null(workflow_load(path, err, sizeof err));
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err, "cannot read the workflow file"));

    errno = 0;
    assert_null(workflow_load("/tmp", err, sizeof err));
    assert_int_equal(errno, EISDIR);
}


/* The four ML kinds: defaults, exact spec_json (sorted keys, 15-digit
 * reals), @STEP references through transitive 'after'. */
static void t_ml_kinds(void **state)
{
    (void)state;
    const char *text =
        HDR "steps = (\n"
        "  { name = \"check\"; kind = \"validate\"; dataset = \"/data/train.csv\"; label = \"damage\";\n"
        "    checks = { columns = [\"f0\", \"f1\"]; min_rows = 1000; max_missing = 0.01;\n"
        "      ranges = { f0 = (-10.0, 10); }; min_class_share = 0.05; max_duplicates = 0.01;\n"
        "      drift = { reference = \"/data/ref.csv\"; }; }; },\n"
        "  { name = \"train\"; kind = \"train\"; after = [\"check\"]; dataset = \"/data/train.csv\";\n"
        "    label = \"damage\"; model = \"claims-damage\"; retries = 1; },\n"
        "  { name = \"mlp\"; kind = \"train\"; dataset = \"/data/train.csv\"; label = \"damage\";\n"
        "    model = \"claims.mlp_2\"; trainer = \"mlp\"; hidden = [64, 32]; optimizer = \"sgd\";\n"
        "    learning_rate = 0.1; l2 = 1e-4; epochs = 3; batch_size = 32; val_split = 0.2;\n"
        "    patience = 2; seed = 7; threads = 2; gpu = \"require\"; },\n"
        "  { name = \"wait\"; kind = \"exec\"; command = \"true\"; after = [\"train\", \"mlp\"]; },\n"
        "  { name = \"eval\"; kind = \"evaluate\"; after = [\"wait\"]; dataset = \"/data/test.csv\";\n"
        "    label = \"damage\"; model = \"@train\";\n"
        "    gates = { min = { accuracy = 0.8; macro_f1 = 0.75; }; max = { log_loss = 0.6; };\n"
        "      better_than_production = { metric = \"accuracy\"; }; }; },\n"
        "  { name = \"eval2\"; kind = \"evaluate\"; dataset = \"/data/test.csv\";\n"
        "    model = \"claims-damage:production\"; },\n"
        "  { name = \"promote\"; kind = \"promote\"; after = [\"eval\"]; model = \"@train\";\n"
        "    stage = \"production\"; },\n"
        "  { name = \"archive\"; kind = \"promote\"; model = \"claims-damage:12\"; stage = \"archived\"; }\n"
        ");\n";
    char err[512] = "";
    workflow_t *wf = workflow_parse(text, "pipeline.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_int_equal(wf->nsteps, 8);
    assert_string_equal(wf->steps[0].kind, "validate");
    assert_string_equal(
        wf->steps[0].spec_json,
        "{\"checks\":{\"columns\":[\"f0\",\"f1\"],\"drift\":{\"bins\":10,\"max_psi\":0.2,"
        "\"reference\":\"/data/ref.csv\"},\"max_duplicates\":0.01,\"max_missing\":0.01,"
        "\"min_class_share\":0.05,\"min_rows\":1000,\"ranges\":{\"f0\":[-10.0,10.0]}},"
        "\"dataset\":\"/data/train.csv\",\"label\":\"damage\"}");
    assert_string_equal(wf->steps[1].kind, "train");
    assert_int_equal(wf->steps[1].retries, 1);
    assert_string_equal(
        wf->steps[1].spec_json,
        "{\"batch_size\":256,\"dataset\":\"/data/train.csv\",\"epochs\":10,\"gpu\":\"auto\","
        "\"hidden\":[],\"l2\":0.0,\"label\":\"damage\",\"learning_rate\":0.001,"
        "\"model\":\"claims-damage\",\"optimizer\":\"adam\",\"patience\":0,\"seed\":42,"
        "\"threads\":1,\"trainer\":\"softmax\",\"val_split\":0.1}");
    assert_string_equal(
        wf->steps[2].spec_json,
        "{\"batch_size\":32,\"dataset\":\"/data/train.csv\",\"epochs\":3,\"gpu\":\"require\","
        "\"hidden\":[64,32],\"l2\":0.0001,\"label\":\"damage\",\"learning_rate\":0.1,"
        "\"model\":\"claims.mlp_2\",\"optimizer\":\"sgd\",\"patience\":2,\"seed\":7,"
        "\"threads\":2,\"trainer\":\"mlp\",\"val_split\":0.2}");
    assert_string_equal(
        wf->steps[4].spec_json,
        "{\"dataset\":\"/data/test.csv\",\"gates\":{\"better_than_production\":{\"by\":0.0,"
        "\"metric\":\"accuracy\"},\"max\":{\"log_loss\":0.6},\"min\":{\"accuracy\":0.8,"
        "\"macro_f1\":0.75}},\"label\":\"damage\",\"model\":\"@train\"}");
    assert_string_equal(wf->steps[5].spec_json,
                        "{\"dataset\":\"/data/test.csv\",\"gates\":{},"
                        "\"model\":\"claims-damage:production\"}");
    assert_string_equal(wf->steps[6].spec_json, "{\"model\":\"@train\",\"stage\":\"production\"}");
    assert_string_equal(wf->steps[7].spec_json,
                        "{\"model\":\"claims-damage:12\",\"stage\":\"archived\"}");
    workflow_destroy(&wf);

    /* An mlp without 'hidden' gets one layer of 128. */
    wf = workflow_parse(HDR "steps = ( { name = \"t\"; kind = \"train\"; dataset = \"/d\";\n"
                            "  label = \"y\"; model = \"m\"; trainer = \"mlp\"; } );\n",
                        "p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_non_null(strstr(wf->steps[0].spec_json, "\"hidden\":[128]"));
    workflow_destroy(&wf);
}

/* Relative dataset and reference paths resolve against the file's dir. */
static void t_ml_paths(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/drover-wf-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char real[PATH_MAX], path[PATH_MAX + 32], want[3 * PATH_MAX], err[512] = "";
    assert_non_null(realpath(dir, real));
    snprintf(path, sizeof path, "%s/pipeline.cfg", dir);
    workflow_t *wf = workflow_parse(
        HDR "steps = ( { name = \"v\"; kind = \"validate\"; dataset = \"./data/new.csv\";\n"
            "  checks = { drift = { reference = \"data/train.bin\"; max_psi = 0.25; bins = 5; }; }; } );\n",
        path, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    snprintf(want, sizeof want,
             "{\"checks\":{\"drift\":{\"bins\":5,\"max_psi\":0.25,\"reference\":\"%s/data/"
             "train.bin\"}},\"dataset\":\"%s/data/new.csv\"}",
             real, real);
    assert_string_equal(wf->steps[0].spec_json, want);
    workflow_destroy(&wf);
    rmdir(dir);
}

static void t_kind_known(void **state)
{
    (void)state;
    assert_true(workflow_kind_known("exec"));
    assert_true(workflow_kind_known("validate"));
    assert_true(workflow_kind_known("train"));
    assert_true(workflow_kind_known("evaluate"));
    assert_true(workflow_kind_known("promote"));
    assert_false(workflow_kind_known("Train"));
    assert_false(workflow_kind_known("EXEC"));
    assert_false(workflow_kind_known("shell"));
    assert_false(workflow_kind_known(""));
    assert_false(workflow_kind_known(NULL));
}

/* Builds "workflow = ...; steps = ( N steps, each after the previous )". */
static char *s_chain_text(size_t n)
{
    size_t cap = 64 + n * 128;
    char *t = malloc(cap);
    assert_non_null(t);
    size_t len = (size_t)snprintf(t, cap, HDR "steps = (\n");
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            len += (size_t)snprintf(t + len, cap - len,
                                    "{ name = \"s0\"; kind = \"exec\"; command = \"true\"; }");
        else
            len += (size_t)snprintf(t + len, cap - len,
                                    ",\n{ name = \"s%zu\"; kind = \"exec\"; command = \"true\"; "
                                    "after = [\"s%zu\"]; }",
                                    i, i - 1);
    }
    snprintf(t + len, cap - len, "\n);\n");
    return t;
}

static void t_limits(void **state)
{
    (void)state;
    char err[256] = "";
    char *text = s_chain_text(WORKFLOW_MAX_STEPS);
    workflow_t *wf = workflow_parse(text, "big.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_int_equal(wf->nsteps, WORKFLOW_MAX_STEPS);
    assert_int_equal(wf->steps[WORKFLOW_MAX_STEPS - 1].line, WORKFLOW_MAX_STEPS + 2);
    workflow_destroy(&wf);
    free(text);

    text = s_chain_text(WORKFLOW_MAX_STEPS + 1);
    errno = 0;
    assert_null(workflow_parse(text, "big.cfg", err, sizeof err));
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err, "big.cfg:2: too many steps"));
    free(text);

    /* Names: 128 characters pass, 129 do not. */
    char name[200], buf[512];
    memset(name, 'n', 128);
    name[128] = '\0';
    snprintf(buf, sizeof buf, "workflow = \"%s\";\nsteps = ( { name = \"%s\"; kind = \"exec\"; "
             "command = \"true\"; } );\n", name, name);
    wf = workflow_parse(buf, "p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    workflow_destroy(&wf);
    snprintf(buf, sizeof buf, HDR "steps = ( { name = \"%sn\"; kind = \"exec\"; "
             "command = \"true\"; } );\n", name);
    assert_null(workflow_parse(buf, "p.cfg", err, sizeof err));
    assert_non_null(strstr(err, "p.cfg:2: step name"));

    /* retries at the bounds */
    const char *ok = HDR "steps = ( { name = \"a\"; kind = \"exec\"; command = \"true\"; "
                     "retries = 100; } );\n";
    wf = workflow_parse(ok, "p.cfg", err, sizeof err);
    assert_non_null(wf);
    assert_int_equal(wf->steps[0].retries, 100);
    workflow_destroy(&wf);
}

static void t_small_error_buffer(void **state)
{
    (void)state;
    char err[8];
    memset(err, 'x', sizeof err);
    errno = 0;
    assert_null(workflow_parse("workflow = 1;\n", "pipeline.cfg", err, sizeof err));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_null(workflow_parse("workflow = 1;\n", "pipeline.cfg", NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_errors),         cmocka_unit_test(t_diamond),
        cmocka_unit_test(t_env_sorted),     cmocka_unit_test(t_durations),
        cmocka_unit_test(t_cwd),            cmocka_unit_test(t_load_file),
        cmocka_unit_test(t_kind_known),     cmocka_unit_test(t_limits),
        cmocka_unit_test(t_small_error_buffer), cmocka_unit_test(t_ml_kinds),
        cmocka_unit_test(t_ml_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
