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
/* One valid step after the top-level settings of an error case. */
#define A "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; }\n);\n"
#define T                                                                                          \
    HDR "steps = (\n  { name = \"t\"; kind = \"train\"; dataset = \"/d.csv\"; label = \"y\"; model = \"m\";\n"

typedef struct {
    const char *what;
    const char *text;
    int line; /* expected line in "pipeline.cfg:LINE: " */
    const char *needle;
} err_case_t;

#define NOOP_STEPS "steps = ( { name = \"a\"; kind = \"noop\"; } );\n"

static const err_case_t s_errors[] = {
    /* syntax, reported with libconfig's own line */
    {"syntax error", HDR "steps = (\n  { name = \"a\"; kind = = \"exec\"; }\n);\n", 3,
     "syntax error"},
    {"duplicate key",
     HDR "steps = (\n  { name = \"a\";\n    name = \"b\"; kind = \"exec\"; }\n);\n", 4,
     "duplicate setting name"},
    /* top level */
    {"unknown top-level key", HDR "stepz = ();\n", 2,
     "unknown top-level key 'stepz' (known: workflow, steps, queue, priority, schedule, trigger, notify, params)"},
    /* notify (issue 14): shape here, the allow-list on the coordinator */
    {"notify not a group", HDR "notify = 3;\n" NOOP_STEPS, 2, "'notify' must be a group"},
    {"notify no webhook", HDR "notify = {\n  on = [\"failed\"]; };\n" NOOP_STEPS, 2,
     "notify needs 'webhook'"},
    {"notify bad scheme", HDR "notify = {\n  webhook = \"file:///etc/passwd\"; };\n" NOOP_STEPS, 3,
     "notify 'webhook' must be an http:// or https:// URL"},
    {"notify bad kind",
     HDR "notify = { webhook = \"https://h/x\";\n  on = [\"failed\",\n \"bogus\"]; };\n" NOOP_STEPS,
     4, "notify 'on': unknown kind 'bogus'"},
    {"notify schedule_missed",
     HDR "notify = { webhook = \"https://h/x\";\n  on = [\"schedule_missed\"]; };\n" NOOP_STEPS, 3,
     "schedule_missed needs a 'schedule'"},
    {"notify twice",
     HDR "notify = { webhook = \"https://h/x\";\n  on = [\"failed\", \"failed\"]; };\n" NOOP_STEPS,
     3, "'failed' is listed twice"},
    {"notify unknown key",
     HDR "notify = { webhook = \"https://h/x\";\n  url = \"x\"; };\n" NOOP_STEPS, 3,
     "unknown key 'url' in notify (known: webhook, on)"},
    {"approve resources",
     HDR "steps = (\n  { name = \"a\"; kind = \"approve\"; model = \"m:1\";\n"
         "    resources = { cpus = 2; }; }\n);\n",
     4, "an approve step runs inside the coordinator and takes no 'resources'"},
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
    {"no name",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; },\n"
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
     "step 'a': unknown kind 'shell' (known: exec, noop, validate, train, evaluate, score, promote, select, approve)"},
    {"unknown key",
     HDR "steps = (\n  {\n    name = \"train\";\n    kind = \"exec\";\n    command = \"true\";\n"
         "    retires = 3;\n  }\n);\n",
     7,
     "step 'train': unknown key 'retires' (known: name, kind, after, retries, retry_delay, "
     "timeout, resources, matrix, nodes, spread, argv, command, env, cwd, gates, outputs, inputs)"},
    /* gangs (docs/distributed.md) */
    {"nodes zero",
     HDR
     "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n    nodes = 0; }\n);\n",
     4, "step 'a': 'nodes' must be between 1 and 64"},
    {"nodes too many",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; nodes = 65; }\n);\n", 3,
     "step 'a': 'nodes' must be between 1 and 64"},
    {"nodes a string",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; nodes = \"3\"; }\n);\n",
     3, "step 'a': 'nodes' must be an integer"},
    {"spread not a bool",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; nodes = 2;\n"
         "    spread = 1; }\n);\n",
     4, "step 'a': 'spread' must be true or false"},
    {"gang of a coordinator kind",
     HDR
     "steps = (\n  { name = \"a\"; kind = \"approve\"; model = \"m:1\";\n    nodes = 2; }\n);\n",
     4, "step 'a': a approve step runs inside the coordinator and cannot have 'nodes' > 1"},
    /* numbers and durations */
    {"retries not an int",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n"
         "    retries = \"3\"; }\n);\n",
     4, "'retries' must be an integer"},
    {"retries float", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; retries = 1.0; }\n);\n", 3,
     "'retries' must be an integer"},
    {"retries too big", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; retries = 101; }\n);\n",
     3, "'retries' must be between 0 and 100"},
    {"retries negative", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; retries = -1; }\n);\n",
     3, "'retries' must be between 0 and 100"},
    {"timeout words",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\";\n"
         "    timeout = \"10 minutes\"; }\n);\n",
     4, "'timeout' must be a duration"},
    {"timeout unit", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = \"5d\"; }\n);\n",
     3, "'timeout' must be a duration"},
    {"timeout nan", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = \"nan\"; }\n);\n",
     3, "'timeout' must be a duration"},
    {"timeout bool", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = true; }\n);\n", 3,
     "'timeout' must be a duration"},
    {"timeout negative", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = -5; }\n);\n",
     3, "'timeout' must not be negative"},
    {"timeout negative float",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = -0.5; }\n);\n", 3,
     "'timeout' must not be negative"},
    {"timeout too long",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = \"9000h\"; }\n);\n", 3,
     "'timeout' is too long"},
    {"timeout huge int",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; timeout = 9000000000000000000L; }\n);\n", 3,
     "'timeout' is too long"},
    {"retry_delay bad",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\";\n\n retry_delay = \"soon\"; }\n);\n", 5,
     "'retry_delay' must be a duration"},
    /* after */
    {"after a string", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; after = \"b\"; }\n);\n",
     3, "'after' must be an array of step names"},
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
    {"command empty", HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"\"; }\n);\n",
     3, "'command' must not be empty"},
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
    {"env CUDA_VISIBLE_DEVICES",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n"
         "    env = { CUDA_VISIBLE_DEVICES = \"0\"; }; }\n);\n",
     4, "env 'CUDA_VISIBLE_DEVICES' is set by drover"},
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
     "resources, matrix, nodes, spread, dataset, label, model, trainer, hidden"},
    {"exec with a train key",
     HDR
     "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n    epochs = 3; }\n);\n",
     4,
     "step 'a': unknown key 'epochs' (known: name, kind, after, retries, retry_delay, timeout, "
     "resources, matrix, nodes, spread, argv, command, env, cwd, gates, outputs, inputs)"},
    {"train no dataset",
     HDR "steps = (\n  { name = \"t\"; kind = \"train\"; label = \"y\"; model = \"m\"; }\n);\n", 3,
     "step 't': train steps need 'dataset'"},
    {"train no label",
     HDR
     "steps = (\n  { name = \"t\"; kind = \"train\"; dataset = \"/d.csv\"; model = \"m\"; }\n);\n",
     3, "step 't': train steps need 'label'"},
    {"train no model",
     HDR
     "steps = (\n  { name = \"t\"; kind = \"train\"; dataset = \"/d.csv\"; label = \"y\"; }\n);\n",
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
    {"train bad gpu", T "    gpu = \"yes\"; }\n);\n", 4,
     "'gpu' must be one of auto, never, require"},
    {"train epochs float", T "    epochs = 2.5; }\n);\n", 4,
     "step 't': 'epochs' must be an integer"},
    {"train epochs zero", T "    epochs = 0; }\n);\n", 4, "'epochs' must be between 1 and"},
    {"train lr string", T "    learning_rate = \"fast\"; }\n);\n", 4,
     "'learning_rate' must be a number"},
    {"train lr zero", T "    learning_rate = 0.0; }\n);\n", 4, "'learning_rate' must be above 0"},
    {"train val_split one", T "    val_split = 1.0; }\n);\n", 4,
     "'val_split' must be at least 0 and below 1"},
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
     HDR "steps = (\n  { name = \"prep\"; kind = \"noop\"; },\n"
         "  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; after = [\"prep\"];\n"
         "    model = \"@prep\"; }\n);\n",
     5, "model '@prep' must name a train, select or exec step ('prep' is noop)"},
    {"evaluate unknown gate",
     HDR
     "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
     "    gates = {\n      above = { accuracy = 0.8; }; }; }\n);\n",
     5, "unknown gate 'above'"},
    {"evaluate min on a lower-is-better metric",
     HDR
     "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
     "    gates = { min = {\n      log_loss = 0.5; }; }; }\n);\n",
     5, "gates 'min' cannot bound 'log_loss' (known: accuracy, macro_f1, r2)"},
    {"evaluate gate not a number",
     HDR
     "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
     "    gates = { max = {\n      rmse = \"low\"; }; }; }\n);\n",
     5, "gates max 'rmse' must be a number"},
    {"evaluate better_than_production without metric",
     HDR
     "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
     "    gates = {\n better_than_production = { by = 0.01; }; }; }\n);\n",
     5, "gates better_than_production needs 'metric'"},
    {"evaluate better_than_production bad metric",
     HDR
     "steps = (\n  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; model = \"m:1\";\n"
     "    gates = { better_than_production = {\n metric = \"auc\"; }; }; }\n);\n",
     5, "better_than_production 'metric' must be one of accuracy"},
    {"promote bad stage",
     HDR "steps = (\n  { name = \"p\"; kind = \"promote\"; model = \"m:3\";\n"
         "    stage = \"prod\"; }\n);\n",
     4, "'stage' must be one of staging, production, archived (got 'prod')"},
    {"promote no stage",
     HDR "steps = (\n  { name = \"p\"; kind = \"promote\"; model = \"m:3\"; }\n);\n", 3,
     "promote steps need 'stage'"},
    {"promote ref not an ancestor",
     HDR
     "steps = (\n  { name = \"train\"; kind = \"train\"; dataset = \"/d.csv\"; label = \"y\"; model = \"m\"; },\n"
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
     HDR
     "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; after = [\"a\"]; }\n);\n",
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
     8, "duplicate step name 'train' (first defined at line 5)"}, /* scheduling: queue, priority,
                                                                     schedule, trigger */
    {"queue bad name", HDR "queue = \"my queue\";\n" A, 2, "queue name 'my queue' is invalid"},
    {"queue not a string", HDR "queue = 3;\n" A, 2, "'queue' must be a string"},
    {"priority too high", HDR "priority = 1001;\n" A, 2,
     "'priority' must be an integer between -1000 and 1000"},
    {"priority float", HDR "priority = 1.5;\n" A, 2, "'priority' must be an integer"},
    {"schedule not a group", HDR "schedule = \"0 3 * * *\";\n" A, 2, "'schedule' must be a group"},
    {"schedule bad cron", HDR "schedule = {\n  cron = \"0 25 * * *\"; };\n" A, 3,
     "schedule 'cron' \"0 25 * * *\" is invalid: field 2 (hour)"},
    {"schedule never fires", HDR "schedule = {\n  cron = \"0 0 30 2 *\"; };\n" A, 3,
     "schedule 'cron' \"0 0 30 2 *\" is invalid"},
    {"schedule unknown zone",
     HDR "schedule = { cron = \"0 3 * * *\";\n  timezone = \"Mars/Olympus\"; };\n" A, 3,
     "schedule 'timezone': unknown time zone 'Mars/Olympus'"},
    {"schedule malformed zone",
     HDR "schedule = { cron = \"0 3 * * *\";\n  timezone = \"../etc/passwd\"; };\n" A, 3,
     "unknown time zone '../etc/passwd'"},
    {"schedule no cron", HDR "\nschedule = { timezone = \"UTC\"; };\n" A, 3,
     "schedule needs 'cron'"},
    {"schedule bad catchup", HDR "schedule = { cron = \"0 3 * * *\";\n  catchup = \"some\"; };\n" A,
     3, "schedule 'catchup' must be one of none, latest, all (got 'some')"},
    {"schedule max_active zero", HDR "schedule = { cron = \"0 3 * * *\";\n  max_active = 0; };\n" A,
     3, "schedule 'max_active' must be an integer between 1 and 100"},
    {"schedule unknown key", HDR "schedule = { cron = \"0 3 * * *\";\n  tz = \"UTC\"; };\n" A, 3,
     "unknown key 'tz' in schedule (known: cron, timezone, catchup, max_active, catchup_max, lateness)"},
    {"schedule catchup_max zero",
     HDR "schedule = { cron = \"0 3 * * *\";\n  catchup_max = 0; };\n" A, 3,
     "schedule 'catchup_max' must be an integer between 1 and 10000"},
    {"schedule lateness bad",
     HDR "schedule = { cron = \"0 3 * * *\";\n  lateness = \"soon\"; };\n" A, 3,
     "schedule 'lateness' must be a duration from 1s to 168h"},
    {"schedule lateness too long",
     HDR "schedule = { cron = \"0 3 * * *\";\n  lateness = \"200h\"; };\n" A, 3,
     "schedule 'lateness' must be a duration from 1s to 168h"},
    {"trigger on_failure bad",
     HDR "trigger = { watch = \"/data\";\n  on_failure = \"again\"; };\n" A, 3,
     "trigger 'on_failure' must be \"keep\""},
    {"schedule and trigger",
     HDR "schedule = { cron = \"0 3 * * *\"; };\n"
         "trigger = { watch = \"/data\"; };\n" A,
     3, "give either 'schedule' or 'trigger', not both"},
    {"trigger no watch", HDR "trigger = { min_new_rows = 5; };\n" A, 2, "trigger needs 'watch'"},
    {"trigger zero rows", HDR "trigger = { watch = \"/data\";\n  min_new_rows = 0; };\n" A, 3,
     "trigger 'min_new_rows' must be an integer of at least 1"},
    {"trigger watch empty", HDR "trigger = {\n  watch = \"\"; };\n" A, 3,
     "trigger 'watch' must not be empty"},
    {"trigger unknown key", HDR "trigger = { watch = \"/data\";\n  rows = 5; };\n" A, 3,
     "unknown key 'rows' in trigger (known: watch, min_new_rows, on_failure)"},
    /* resources */
    {"resources not a group",
     HDR
     "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n    resources = 2; }\n);\n",
     4, "step 'a': 'resources' must be a group"},
    {"resources cpus zero", T "    resources = {\n cpus = 0; }; }\n);\n", 5,
     "step 't': resources 'cpus' must be between 1 and 1024"},
    {"resources gpus too many", T "    resources = { gpus = 65; }; }\n);\n", 4,
     "resources 'gpus' must be between 0 and 64"},
    {"resources memory unit", T "    resources = { memory = \"4X\"; }; }\n);\n", 4,
     "resources 'memory' must be a size"},
    {"resources memory negative", T "    resources = { memory = -1; }; }\n);\n", 4,
     "resources 'memory' must be a size"},
    {"resources memory float", T "    resources = { memory = 4.0; }; }\n);\n", 4,
     "resources 'memory' must be a size"},
    {"resources bad label", T "    resources = { labels = [\"gpu\",\n \"a b\"]; }; }\n);\n", 5,
     "each resources label must be 1 to 63"},
    {"resources labels not a list", T "    resources = { labels = \"gpu\"; }; }\n);\n", 4,
     "resources 'labels' must be an array of at most 32 labels"},
    {"resources unknown key", T "    resources = { cores = 2; }; }\n);\n", 4,
     "unknown key 'cores' in resources (known: cpus, memory, gpus, labels)"},
    /* sweeps */
    {"matrix not a group", T "    matrix = [1, 2]; }\n);\n", 4,
     "'matrix' must be a non-empty group"},
    {"matrix empty", T "    matrix = {}; }\n);\n", 4, "'matrix' must be a non-empty group"},
    {"matrix unknown key", T "    matrix = {\n      argv = ([\"x\"]); }; }\n);\n", 5,
     "step 't': matrix key 'argv' is not a setting of kind train"},
    {"matrix common key", T "    matrix = { retries = [1, 2]; }; }\n);\n", 4,
     "matrix key 'retries' is not a setting of kind train"},
    {"matrix key also in step",
     T "    learning_rate = 0.1;\n    matrix = {\n learning_rate = [0.1]; }; }\n);\n", 6,
     "'learning_rate' is set both in the step and in its matrix"},
    {"matrix value not a list", T "    matrix = { learning_rate = 0.1; }; }\n);\n", 4,
     "matrix 'learning_rate' must be a non-empty list of values"},
    {"matrix value empty", T "    matrix = { learning_rate = []; }; }\n);\n", 4,
     "matrix 'learning_rate' must be a non-empty list of values"},
    {"matrix too big",
     T
     "    trainer = \"mlp\"; matrix = {\n      seed = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17];\n"
     "      epochs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]; }; }\n);\n",
     4, "the matrix has more than 256 combinations"},
    {"matrix bad value names the written step",
     T "    matrix = { learning_rate = [0.1,\n      -0.5]; }; }\n);\n", 5,
     "step 't': 'learning_rate' must be above 0"},
    {"matrix hidden flat list",
     T "    trainer = \"mlp\";\n    matrix = { hidden = [64, 128]; }; }\n);\n", 5,
     "step 't': 'hidden' must be an array of 1 to 8 layer widths"},
    {"ref to a swept step",
     T "    matrix = { seed = [1, 2]; }; },\n"
       "  { name = \"e\"; kind = \"evaluate\"; dataset = \"/d.csv\"; after = [\"t\"];\n"
       "    model = \"@t\"; }\n);\n",
     6, "model '@t' names a swept step (it became 2 steps, t.1 to t.2)"},
    {"sweep name reused",
     T "    matrix = { seed = [1, 2]; }; },\n  { name = \"x\"; kind = \"noop\"; },\n"
       "  {\n    name = \"t\"; kind = \"noop\"; }\n);\n",
     7, "duplicate step name 't' (the swept step at line 3 has it too)"},
    {"sweep expansion clashes",
     T "    matrix = { seed = [1, 2]; }; },\n  { name = \"t.2\"; kind = \"noop\"; }\n);\n", 5,
     "duplicate step name 't.2'"},
    /* select */
    {"select no metric",
     HDR "steps = (\n  { name = \"p\"; kind = \"select\"; mode = \"max\"; }\n);\n", 3,
     "step 'p': select steps need 'metric'"},
    {"select no mode",
     HDR "steps = (\n  { name = \"p\"; kind = \"select\"; metric = \"val_accuracy\"; }\n);\n", 3,
     "step 'p': select steps need 'mode'"},
    {"select bad mode",
     HDR "steps = (\n  { name = \"p\"; kind = \"select\"; metric = \"val_accuracy\";\n"
         "    mode = \"best\"; }\n);\n",
     4, "step 'p': 'mode' must be one of max (higher is better), min (lower is better)"},
    {"select bad metric",
     HDR "steps = (\n  { name = \"p\"; kind = \"select\"; mode = \"max\";\n"
         "    metric = \"val accuracy\"; }\n);\n",
     4, "step 'p': 'metric' must be one of a metric train steps record: val_accuracy"},
    {"select without a train step",
     HDR
     "steps = (\n  { name = \"a\"; kind = \"noop\"; },\n"
     "  { name = \"p\"; kind = \"select\"; after = [\"a\"]; metric = \"val_accuracy\"; mode = \"max\"; }\n);\n",
     4, "step 'p': a select step needs at least one train step in 'after'"},
    {"select with resources",
     HDR "steps = (\n  { name = \"p\"; kind = \"select\"; metric = \"m\"; mode = \"max\";\n"
         "    resources = { cpus = 2; }; }\n);\n",
     4, "a select step runs inside the coordinator and takes no 'resources'"},
    {"select with matrix",
     HDR "steps = (\n  { name = \"p\"; kind = \"select\"; mode = \"max\";\n"
         "    matrix = { metric = [\"a\", \"b\"]; }; }\n);\n",
     4, "a select step cannot have a 'matrix'"},
    /* run parameters (common/params.h) */
    {"unknown parameter",
     HDR "params = { lr = 0.1; };\nsteps = (\n  { name = \"a\"; kind = \"exec\";\n"
         "    argv = [\"echo\", \"${params.x}\"]; }\n);\n",
     5, "unknown parameter 'x' in ${params.x}"},
    {"unterminated reference",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"echo ${run.id\"; }\n);\n", 3,
     "'${' without its closing '}'"},
    {"due_at without a schedule",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"echo ${run.due_at}\"; }\n);\n",
     3, "${run.due_at} is known only in a workflow with a schedule"},
    {"trigger.files without a trigger",
     HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"wc ${trigger.files}\"; }\n);\n",
     3, "${trigger.files} is known only in a workflow with a trigger"},
    {"bad parameter name",
     HDR "params = { a-b = 1; };\nsteps = (\n  { name = \"a\"; kind = \"noop\"; }\n);\n", 2,
     "parameter name 'a-b' is invalid"},
    {"parameter of a bad type",
     HDR "params = { l = [1, 2]; };\nsteps = (\n  { name = \"a\"; kind = \"noop\"; }\n);\n", 2,
     "parameter 'l' must be a string, a number or a boolean"},
    {"a value that breaks a rule, at the line that uses it",
     HDR
     "params = { m = \"../x\"; };\nsteps = (\n  { name = \"t\"; kind = \"train\"; dataset = \"d.csv\";\n"
     "    label = \"y\";\n    model = \"${params.m}\"; }\n);\n",
     6, "model name '../x' is invalid"},
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
    const char *text =
        "# a diamond\n"
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
    const char *text =
        HDR "steps = ( { name = \"a\"; kind = \"exec\"; argv = [\"env\"];\n"
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
        {"0", 0},           {"90", 90000},      {"1.5", 1500},       {"0.25", 250},
        {"\"250ms\"", 250}, {"\"90s\"", 90000}, {"\"10m\"", 600000}, {"\"2h\"", 7200000},
        {"\"1.5\"", 1500},  {"\"0.5s\"", 500},  {"3L", 3000},        {"\"0\"", 0},
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
             HDR
             "steps = ( { name = \"a\"; kind = \"exec\"; command = \"pwd\"; cwd = \"%s\"; } );\n",
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
    const char *text =
        HDR "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\"; }\n);\n";
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
    const char *text = HDR
        "steps = (\n"
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
        "{\"batch_size\":32,\"dataset\":\"/data/train.csv\",\"epochs\":100,\"gpu\":\"auto\","
        "\"hidden\":[],\"l2\":0.0,\"label\":\"damage\","
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
    assert_string_equal(wf->steps[5].spec_json, "{\"dataset\":\"/data/test.csv\",\"gates\":{},"
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
        HDR
        "steps = ( { name = \"v\"; kind = \"validate\"; dataset = \"./data/new.csv\";\n"
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
    snprintf(buf, sizeof buf,
             "workflow = \"%s\";\nsteps = ( { name = \"%s\"; kind = \"exec\"; "
             "command = \"true\"; } );\n",
             name, name);
    wf = workflow_parse(buf, "p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    workflow_destroy(&wf);
    snprintf(buf, sizeof buf,
             HDR "steps = ( { name = \"%sn\"; kind = \"exec\"; "
                 "command = \"true\"; } );\n",
             name);
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

/* Top-level scheduling settings: defaults, explicit values, the trigger
 * folder made absolute with no trailing '/'. */
static void t_sched_top(void **state)
{
    (void)state;
    char err[512] = "";
    workflow_t *wf = workflow_parse(HDR A, "/tmp/p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_string_equal(wf->queue, "default");
    assert_int_equal(wf->priority, 0);
    assert_null(wf->schedule);
    assert_null(wf->trigger);
    assert_int_equal(wf->steps[0].resources.cpus, 1);
    assert_int_equal(wf->steps[0].resources.memory_bytes, 0);
    assert_int_equal(wf->steps[0].resources.gpus, 0);
    assert_int_equal(wf->steps[0].resources.nlabels, 0);
    assert_null(wf->steps[0].sweep);
    assert_null(wf->steps[0].matrix_json);
    workflow_destroy(&wf);

    wf = workflow_parse(HDR "queue = \"training\";\npriority = -1000;\n"
                            "schedule = { cron = \"30 2 * * MON-FRI\"; };\n" A,
                        "/tmp/p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_string_equal(wf->queue, "training");
    assert_int_equal(wf->priority, -1000);
    assert_non_null(wf->schedule);
    assert_string_equal(wf->schedule->cron, "30 2 * * MON-FRI");
    assert_string_equal(wf->schedule->timezone, "UTC");
    assert_string_equal(wf->schedule->catchup, "none");
    assert_int_equal(wf->schedule->max_active, 1);
    workflow_destroy(&wf);

    wf = workflow_parse(HDR "priority = 1000;\nschedule = { cron = \"@daily\"; timezone = "
                            "\"America/New_York\"; catchup = \"all\"; max_active = 3; };\n" A,
                        "/tmp/p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_int_equal(wf->priority, 1000);
    assert_string_equal(wf->schedule->timezone, "America/New_York");
    assert_string_equal(wf->schedule->catchup, "all");
    assert_int_equal(wf->schedule->max_active, 3);
    workflow_destroy(&wf);

    char dir[] = "/tmp/drover-wf-sched-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[PATH_MAX], want[PATH_MAX];
    snprintf(path, sizeof path, "%s/p.cfg", dir);
    wf = workflow_parse(HDR "trigger = { watch = \"./data/feedback//\"; min_new_rows = 500; };\n" A,
                        path, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    char *real = realpath(dir, NULL);
    assert_non_null(real);
    snprintf(want, sizeof want, "%s/data/feedback", real);
    assert_string_equal(wf->trigger->watch, want);
    assert_int_equal(wf->trigger->min_new_rows, 500);
    workflow_destroy(&wf);
    wf = workflow_parse(HDR "trigger = { watch = \"/\"; };\n" A, path, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_string_equal(wf->trigger->watch, "/");
    assert_int_equal(wf->trigger->min_new_rows, 1);
    workflow_destroy(&wf);
    free(real);
    assert_int_equal(rmdir(dir), 0);
}

static void t_resources(void **state)
{
    (void)state;
    char err[512] = "";
    workflow_t *wf = workflow_parse(
        HDR
        "steps = (\n  { name = \"a\"; kind = \"exec\"; command = \"true\";\n"
        "    resources = { cpus = 2; memory = \"4G\"; gpus = 1; labels = [\"gpu-a100\", \"x\"]; }; },\n"
        "  { name = \"b\"; kind = \"exec\"; command = \"true\";\n"
        "    resources = { memory = 1048576; cpus = 1024; gpus = 64; labels = []; }; }\n);\n",
        "p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    const workflow_resources_t *r = &wf->steps[0].resources;
    assert_int_equal(r->cpus, 2);
    assert_true(r->memory_bytes == 4ULL << 30);
    assert_int_equal(r->gpus, 1);
    assert_int_equal(r->nlabels, 2);
    assert_string_equal(r->labels[0], "gpu-a100");
    assert_string_equal(r->labels[1], "x");
    r = &wf->steps[1].resources;
    assert_int_equal(r->cpus, 1024);
    assert_true(r->memory_bytes == 1048576);
    assert_int_equal(r->gpus, 64);
    assert_int_equal(r->nlabels, 0);
    /* Resources travel beside the spec, never inside it. */
    assert_string_equal(wf->steps[0].spec_json, "{\"argv\":[\"/bin/sh\",\"-c\",\"true\"]}");
    workflow_destroy(&wf);
}

static void t_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t want;
    } ok[] = {
        {"0", 0},
        {"1048576", 1048576},
        {"4G", 4ULL << 30},
        {"4g", 4ULL << 30},
        {"512M", 512ULL << 20},
        {"1.5G", 3ULL << 29},
        {"2K", 2048},
        {"1T", 1ULL << 40},
        {"4GB", 4ULL << 30},
        {"4GiB", 4ULL << 30},
        {"100B", 100},
        {"8388608T", 1ULL << 63},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 7;
        if (workflow_parse_size(ok[i].s, &v) != 0 || v != ok[i].want)
            fail_msg("'%s': got %llu, want %llu", ok[i].s, (unsigned long long)v,
                     (unsigned long long)ok[i].want);
    }
    static const char *const bad[] = {"",    "G",   "4X",  " 4G", "4 G",  "-1",
                                      "1e3", "4.G", "4Gi", "inf", "4GBB", NULL};
    for (size_t i = 0; bad[i]; i++) {
        uint64_t v = 7;
        errno = 0;
        if (workflow_parse_size(bad[i], &v) != -1 || errno != EINVAL || v != 7)
            fail_msg("'%s' should be refused with EINVAL", bad[i]);
    }
    uint64_t v = 7;
    errno = 0;
    assert_int_equal(workflow_parse_size("8388609T", &v), -1);
    assert_int_equal(errno, ERANGE);
    errno = 0;
    assert_int_equal(workflow_parse_size("99999999999999999999999", &v), -1);
    assert_int_equal(errno, ERANGE);
    assert_int_equal(v, 7);
}

/* A matrix expands in file order, the last key fastest; names STEP.N;
 * 'after' on the swept name means all expansions; select gets "from". */
static void t_sweep_select(void **state)
{
    (void)state;
    const char *text = HDR
        "steps = (\n"
        "  { name = \"prep\"; kind = \"noop\"; },\n"
        "  { name = \"train\"; kind = \"train\"; after = [\"prep\"]; dataset = \"/d.csv\";\n"
        "    label = \"y\"; model = \"m\"; trainer = \"mlp\"; retries = 2;\n"
        "    resources = { cpus = 2; labels = [\"gpu\"]; };\n"
        "    matrix = { learning_rate = [0.1, 0.03]; hidden = ([64], [128, 32]); }; },\n"
        "  { name = \"pick\"; kind = \"select\"; after = [\"prep\", \"train\"];\n"
        "    metric = \"val_accuracy\"; mode = \"max\"; },\n"
        "  { name = \"e\"; kind = \"evaluate\"; dataset = \"/t.csv\"; after = [\"pick\"];\n"
        "    model = \"@pick\"; },\n"
        "  { name = \"one\"; kind = \"evaluate\"; dataset = \"/t.csv\"; after = [\"train.3\"];\n"
        "    model = \"@train.3\"; }\n"
        ");\n";
    char err[512] = "";
    workflow_t *wf = workflow_parse(text, "p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_int_equal(wf->nsteps, 8);
    static const char *const names[] = {"prep",    "train.1", "train.2", "train.3",
                                        "train.4", "pick",    "e",       "one"};
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(wf->steps[i].name, names[i]);
    static const char *const mj[] = {
        "{\"hidden\":[64],\"learning_rate\":0.1}", "{\"hidden\":[128,32],\"learning_rate\":0.1}",
        "{\"hidden\":[64],\"learning_rate\":0.03}", "{\"hidden\":[128,32],\"learning_rate\":0.03}"};
    for (size_t k = 0; k < 4; k++) {
        const workflow_step_t *st = &wf->steps[1 + k];
        assert_string_equal(st->kind, "train");
        assert_string_equal(st->sweep, "train");
        assert_string_equal(st->matrix_json, mj[k]);
        assert_int_equal(st->line, 4);
        assert_int_equal(st->retries, 2);
        assert_int_equal(st->nafter, 1);
        assert_string_equal(st->after[0], "prep");
        assert_int_equal(st->resources.cpus, 2);
        assert_int_equal(st->resources.nlabels, 1);
        assert_string_equal(st->resources.labels[0], "gpu");
    }
    /* The values land in the spec under their own keys. */
    assert_non_null(strstr(wf->steps[1].spec_json, "\"hidden\":[64],"));
    assert_non_null(strstr(wf->steps[1].spec_json, "\"learning_rate\":0.1,"));
    assert_non_null(strstr(wf->steps[4].spec_json, "\"hidden\":[128,32],"));
    assert_non_null(strstr(wf->steps[4].spec_json, "\"learning_rate\":0.03,"));

    const workflow_step_t *pick = &wf->steps[5];
    assert_string_equal(pick->kind, "select");
    assert_null(pick->sweep);
    assert_int_equal(pick->nafter, 5);
    assert_string_equal(pick->after[0], "prep");
    assert_string_equal(pick->after[1], "train.1");
    assert_string_equal(pick->after[4], "train.4");
    assert_string_equal(pick->spec_json,
                        "{\"from\":[\"train.1\",\"train.2\",\"train.3\",\"train.4\"],"
                        "\"metric\":\"val_accuracy\",\"mode\":\"max\"}");
    assert_string_equal(wf->steps[6].spec_json,
                        "{\"dataset\":\"/t.csv\",\"gates\":{},\"model\":\"@pick\"}");
    assert_int_equal(wf->steps[7].nafter, 1);
    assert_string_equal(wf->steps[7].after[0], "train.3");
    workflow_destroy(&wf);

    /* A one-value matrix still expands (names stay predictable), and an
     * exec step can sweep its env. */
    wf = workflow_parse(HDR
                        "steps = (\n  { name = \"x\"; kind = \"exec\"; command = \"env\";\n"
                        "    matrix = { env = ({ SEED = \"1\"; }, { SEED = \"2\"; }); }; },\n"
                        "  { name = \"t\"; kind = \"train\"; dataset = \"/d.csv\"; label = \"y\";\n"
                        "    model = \"m\"; matrix = { seed = [7]; }; },\n"
                        "  { name = \"z\"; kind = \"noop\"; after = [\"x\", \"t\"]; }\n);\n",
                        "p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_int_equal(wf->nsteps, 4);
    assert_string_equal(wf->steps[0].name, "x.1");
    assert_string_equal(wf->steps[0].spec_json,
                        "{\"argv\":[\"/bin/sh\",\"-c\",\"env\"],\"env\":{\"SEED\":\"1\"}}");
    assert_string_equal(wf->steps[1].name, "x.2");
    assert_string_equal(wf->steps[1].matrix_json, "{\"env\":{\"SEED\":\"2\"}}");
    assert_string_equal(wf->steps[2].name, "t.1");
    assert_non_null(strstr(wf->steps[2].spec_json, "\"seed\":7,"));
    assert_int_equal(wf->steps[3].nafter, 3);
    assert_string_equal(wf->steps[3].after[0], "x.1");
    assert_string_equal(wf->steps[3].after[1], "x.2");
    assert_string_equal(wf->steps[3].after[2], "t.1");
    workflow_destroy(&wf);

    /* 256 combinations pass; a dependent step gets all 256. */
    char big[2048];
    int n =
        snprintf(big, sizeof big,
                 HDR "steps = (\n  { name = \"t\"; kind = \"train\"; "
                     "dataset = \"/d.csv\"; label = \"y\"; model = \"m\"; matrix = {\n seed = [");
    for (int i = 0; i < 16; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "%s%d", i ? ", " : "", i);
    n += snprintf(big + n, sizeof big - (size_t)n, "];\n epochs = [");
    for (int i = 1; i <= 16; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "%s%d", i > 1 ? ", " : "", i);
    snprintf(big + n, sizeof big - (size_t)n,
             "]; }; },\n  { name = \"p\"; kind = \"select\"; "
             "after = [\"t\"]; metric = \"val_loss\"; mode = \"min\"; }\n);\n");
    wf = workflow_parse(big, "p.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_int_equal(wf->nsteps, 257);
    assert_string_equal(wf->steps[255].name, "t.256");
    assert_string_equal(wf->steps[255].matrix_json, "{\"epochs\":16,\"seed\":15}");
    assert_int_equal(wf->steps[256].nafter, 256);
    assert_non_null(strstr(wf->steps[256].spec_json, "\"mode\":\"min\""));
    workflow_destroy(&wf);

    /* The step limit counts expansions. */
    char *chain = s_chain_text(WORKFLOW_MAX_STEPS - 1);
    size_t len = strlen(chain);
    char *more = malloc(len + 256);
    assert_non_null(more);
    memcpy(more, chain, len - 4); /* drop "\n);\n" */
    snprintf(more + len - 4, 256,
             ",\n{ name = \"w\"; kind = \"exec\"; matrix = { command = "
             "[\"a\", \"b\"]; }; }\n);\n");
    errno = 0;
    assert_null(workflow_parse(more, "big.cfg", err, sizeof err));
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err, "big.cfg:2: too many steps once the matrices are expanded"));
    free(more);
    free(chain);
}

/* The shipped example loads, with its schedule, sweep and select. */
static void t_nightly_example(void **state)
{
    (void)state;
    /* __FILE__ is tests/unit/test_workflow.c under the source root. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *cut = strstr(path, "tests/unit/test_workflow.c");
    assert_non_null(cut);
    snprintf(cut, sizeof path - (size_t)(cut - path), "examples/claims/nightly.cfg");
    char err[512] = "";
    workflow_t *wf = workflow_load(path, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_string_equal(wf->name, "claims-nightly");
    assert_string_equal(wf->queue, "nightly");
    assert_int_equal(wf->priority, 5);
    assert_non_null(wf->schedule);
    assert_string_equal(wf->schedule->cron, "0 3 * * *");
    assert_string_equal(wf->schedule->timezone, "Europe/Berlin");
    assert_string_equal(wf->schedule->catchup, "latest");
    assert_null(wf->trigger);
    assert_int_equal(wf->nsteps, 6);
    assert_string_equal(wf->steps[1].name, "train.1");
    assert_string_equal(wf->steps[2].name, "train.2");
    assert_string_equal(wf->steps[1].matrix_json, "{\"learning_rate\":0.003}");
    assert_int_equal(wf->steps[1].resources.cpus, 2);
    assert_true(wf->steps[1].resources.memory_bytes == 1ULL << 30);
    assert_string_equal(wf->steps[3].kind, "select");
    assert_string_equal(wf->steps[3].spec_json,
                        "{\"from\":[\"train.1\",\"train.2\"],\"metric\":\"val_accuracy\","
                        "\"mode\":\"max\"}");
    assert_non_null(strstr(wf->steps[4].spec_json, "\"model\":\"@pick\""));
    assert_non_null(strstr(wf->steps[4].spec_json, "better_than_production"));
    assert_string_equal(wf->steps[5].kind, "promote");
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

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* @include: resolved against the including file's folder (nested too),
 * errors name the included file and its line, relative paths in an
 * included file are relative to it, a cycle is an error. */
static void t_include(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/drover-wf-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char top[256], sub[256], steps[256], more[256], loop[256], err[1024], want[512];
    snprintf(top, sizeof top, "%s/top.cfg", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(steps, sizeof steps, "%s/sub/steps.cfg", dir);
    snprintf(more, sizeof more, "%s/sub/more.cfg", dir);
    snprintf(loop, sizeof loop, "%s/loop.cfg", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    s_write(top, "workflow = \"w\";\nsteps = (\n@include \"sub/steps.cfg\"\n);\n");
    s_write(steps, "{ name = \"a\"; kind = \"exec\"; command = \"true\"; cwd = \"data\"; },\n"
                   "@include \"more.cfg\"   // relative to sub/\n");
    s_write(more, "{ name = \"b\"; kind = \"exec\"; after = [\"a\"]; command = \"true\"; }\n");
    /* The process's directory is not the files' (the bug: resolved against it). */
    assert_int_equal(chdir("/"), 0);
    workflow_t *wf = workflow_load(top, err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_int_equal(wf->nsteps, 2);
    assert_string_equal(wf->steps[1].name, "b");
    char *real = realpath(sub, NULL);
    snprintf(want, sizeof want, "{\"argv\":[\"/bin/sh\",\"-c\",\"true\"],\"cwd\":\"%s/data\"}",
             real);
    free(real);
    assert_string_equal(wf->steps[0].spec_json, want);
    workflow_destroy(&wf);

    /* An error on line 2 of more.cfg names more.cfg:2, not top.cfg. */
    s_write(more, "{ name = \"b\"; kind = \"exec\";\n  retries = 1000; command = \"true\"; }\n");
    assert_null(workflow_load(top, err, sizeof err));
    assert_int_equal(errno, EINVAL);
    snprintf(want, sizeof want, "%s/sub/more.cfg:2: step 'b': 'retries' must be between 0 and 100",
             dir);
    assert_string_equal(err, want);
    /* A syntax error inside an included file, too. */
    s_write(more, "{ name = \"b\";\n kind = = \"exec\"; }\n");
    assert_null(workflow_load(top, err, sizeof err));
    snprintf(want, sizeof want, "%s/sub/more.cfg:2: ", dir);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    /* A line after the include is still the top file's own line. */
    s_write(more, "{ name = \"b\"; kind = \"exec\"; command = \"true\"; }\n");
    s_write(top, "workflow = \"w\";\nsteps = (\n@include \"sub/steps.cfg\"\n);\nqueue = 5;\n");
    assert_null(workflow_load(top, err, sizeof err));
    snprintf(want, sizeof want, "%s/top.cfg:5: 'queue' must be a string (the queue's name)", dir);
    assert_string_equal(err, want);
    /* A missing file and a cycle. */
    s_write(top, "workflow = \"w\";\n@include \"nope.cfg\"\n");
    assert_null(workflow_load(top, err, sizeof err));
    snprintf(want, sizeof want,
             "%s/top.cfg:2: @include \"nope.cfg\": cannot read %s/nope.cfg: ", dir, dir);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    /* A FIFO (or a device) is not read: the CLI must not hang on it. */
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    s_write(top, "workflow = \"w\";\n@include \"fifo\"\n");
    assert_null(workflow_load(top, err, sizeof err));
    assert_non_null(strstr(err, "top.cfg:2: @include \"fifo\": cannot read"));
    unlink(fifo);
    s_write(loop, "@include \"loop.cfg\"\n");
    assert_null(workflow_load(loop, err, sizeof err));
    assert_non_null(strstr(err, "too many @include levels"));

    unlink(more);
    unlink(steps);
    unlink(loop);
    unlink(top);
    rmdir(sub);
    rmdir(dir);
}

/* Issue 11's keys: missing, checkpoint_every, extra_columns, alpha, and the
 * score kind. */
static void t_issue11_keys(void **state)
{
    (void)state;
    const char *text = HDR
        "steps = (\n"
        "  { name = \"train\"; kind = \"train\"; dataset = \"/d/train.csv\"; label = \"y\";\n"
        "    model = \"m\"; missing = \"mean\"; checkpoint_every = \"5m\"; optimizer = \"sgd\"; },\n"
        "  { name = \"t2\"; kind = \"train\"; dataset = \"/d/train.csv\"; label = \"y\";\n"
        "    model = \"m\"; checkpoint_every = 0; },\n"
        "  { name = \"eval\"; kind = \"evaluate\"; after = [\"train\"]; dataset = \"/d/test.csv\";\n"
        "    model = \"@train\"; extra_columns = \"ignore\";\n"
        "    gates = { better_than_production = { metric = \"accuracy\"; alpha = 0.05; }; }; },\n"
        "  { name = \"score\"; kind = \"score\"; after = [\"train\"]; dataset = \"/d/new.csv\";\n"
        "    model = \"@train\"; format = \"binary\"; }\n"
        ");\n";
    char err[512] = "";
    workflow_t *wf = workflow_parse(text, "pipeline.cfg", err, sizeof err);
    if (!wf)
        fail_msg("%s", err);
    assert_string_equal(
        wf->steps[0].spec_json,
        "{\"batch_size\":32,\"checkpoint_every\":\"5m\",\"dataset\":\"/d/train.csv\","
        "\"epochs\":100,\"gpu\":\"auto\",\"hidden\":[],\"l2\":0.0,\"label\":\"y\","
        "\"missing\":\"mean\",\"model\":\"m\",\"optimizer\":\"sgd\",\"patience\":0,\"seed\":42,"
        "\"threads\":1,\"trainer\":\"softmax\",\"val_split\":0.1}");
    assert_non_null(strstr(wf->steps[1].spec_json, "\"checkpoint_every\":\"never\""));
    assert_string_equal(wf->steps[2].spec_json,
                        "{\"dataset\":\"/d/test.csv\",\"extra_columns\":\"ignore\",\"gates\":{"
                        "\"better_than_production\":{\"alpha\":0.05,\"by\":0.0,\"metric\":"
                        "\"accuracy\"}},\"model\":\"@train\"}");
    assert_string_equal(wf->steps[3].kind, "score");
    assert_string_equal(wf->steps[3].spec_json,
                        "{\"dataset\":\"/d/new.csv\",\"extra_columns\":\"refuse\",\"format\":"
                        "\"binary\",\"model\":\"@train\"}");
    workflow_destroy(&wf);

    static const struct {
        const char *step, *want;
    } bad[] = {
        {"{ name = \"t\"; kind = \"train\"; dataset = \"/d\"; label = \"y\"; model = \"m\"; "
         "missing = \"median\"; }",
         "'missing' must be one of refuse, mean"},
        {"{ name = \"t\"; kind = \"train\"; dataset = \"/d\"; label = \"y\"; model = \"m\"; "
         "checkpoint_every = \"often\"; }",
         "'checkpoint_every' must be \"epoch\""},
        {"{ name = \"e\"; kind = \"evaluate\"; dataset = \"/d\"; model = \"m:1\"; "
         "gates = { better_than_production = { metric = \"log_loss\"; alpha = 0.05; }; }; }",
         "'alpha' (a significance test) applies to metric \"accuracy\" only"},
        {"{ name = \"e\"; kind = \"evaluate\"; dataset = \"/d\"; model = \"m:1\"; "
         "gates = { better_than_production = { metric = \"accuracy\"; alpha = 1.0; }; }; }",
         "better_than_production 'alpha' must be above 0 and below 1"},
        {"{ name = \"e\"; kind = \"evaluate\"; dataset = \"/d\"; model = \"m:1\"; "
         "extra_columns = \"keep\"; }",
         "'extra_columns' must be one of refuse, ignore"},
        {"{ name = \"s\"; kind = \"score\"; dataset = \"/d\"; }", "score steps need 'model'"},
        {"{ name = \"s\"; kind = \"score\"; dataset = \"/d\"; model = \"m:1\"; format = \"json\"; }",
         "'format' must be one of csv, binary"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cfg[1024];
        snprintf(cfg, sizeof cfg, HDR "steps = ( %s );\n", bad[i].step);
        err[0] = '\0';
        wf = workflow_parse(cfg, "pipeline.cfg", err, sizeof err);
        if (wf || !strstr(err, bad[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, err, bad[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_errors),
        cmocka_unit_test(t_diamond),
        cmocka_unit_test(t_env_sorted),
        cmocka_unit_test(t_durations),
        cmocka_unit_test(t_cwd),
        cmocka_unit_test(t_load_file),
        cmocka_unit_test(t_kind_known),
        cmocka_unit_test(t_limits),
        cmocka_unit_test(t_small_error_buffer),
        cmocka_unit_test(t_ml_kinds),
        cmocka_unit_test(t_issue11_keys),
        cmocka_unit_test(t_ml_paths),
        cmocka_unit_test(t_sched_top),
        cmocka_unit_test(t_resources),
        cmocka_unit_test(t_parse_size),
        cmocka_unit_test(t_sweep_select),
        cmocka_unit_test(t_nightly_example),
        cmocka_unit_test(t_include),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
