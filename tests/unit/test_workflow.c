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
     "step 'a': unknown kind 'shell' (known: exec)"},
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

static void t_kind_known(void **state)
{
    (void)state;
    assert_true(workflow_kind_known("exec"));
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
        cmocka_unit_test(t_small_error_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
