/* test_params — unit tests of common/params.c: the ${...} syntax, the
 * substitution of strings and of whole specs (argv list form, relative
 * paths joined to base_dir), and the bounds. Table-driven: each case is a
 * template, what the vars allow, and the result or the exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"

static const char *const s_names[] = {"lr", "data", "tag"};
static const char *const s_values[] = {"0.01", "data/train.csv", "two words"};
static const char *const s_files[] = {"/w/a.csv", "/w/b c.csv"};

/* vars: 0 a person's run, 1 a schedule's, 2 a trigger's. */
static params_vars_t s_vars(int which)
{
    params_vars_t v = {.names = s_names, .values = s_values, .n = 3, .run_id = 42};
    if (which == 1)
        v.due_at = "2026-11-27T02:00:00Z";
    if (which == 2) {
        v.files = s_files;
        v.nfiles = 2;
        v.rows = 7;
    }
    return v;
}

typedef struct {
    const char *in;
    int vars;
    const char *out; /* NULL: an error */
    const char *msg; /* the error's text (prefix) */
} subst_case_t;

static const subst_case_t s_subst_cases[] = {
    {"plain", 0, "plain", NULL},
    {"--lr=${params.lr}", 0, "--lr=0.01", NULL},
    {"${params.data}|${params.tag}", 0, "data/train.csv|two words", NULL},
    {"run-${run.id}", 0, "run-42", NULL},
    {"$${params.lr} and $$ and $HOME ${HOME} ${X:-1} $", 0,
     "${params.lr} and $$ and $HOME ${HOME} ${X:-1} $", NULL},
    {"${run.due_at}", 1, "2026-11-27T02:00:00Z", NULL},
    {"${trigger.files} (${trigger.rows})", 2, "/w/a.csv /w/b c.csv (7)", NULL},
    {"${params.x}", 0, NULL, "unknown parameter 'x' in ${params.x}"},
    {"${params.lr", 0, NULL, "'${' without its closing '}'"},
    {"${run.foo}", 0, NULL, "unknown reference ${run.foo}"},
    {"${paramz.lr}", 0, NULL, "unknown reference ${paramz.lr}"},
    {"${run.due_at}", 0, NULL, "${run.due_at} is known only in a workflow with a schedule"},
    {"${trigger.rows}", 1, NULL, "${trigger.rows} is known only in a workflow with a trigger"},
};

static void t_subst(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_subst_cases / sizeof *s_subst_cases; i++) {
        const subst_case_t *c = &s_subst_cases[i];
        params_vars_t v = s_vars(c->vars);
        char err[400] = "";
        errno = 0;
        char *r = params_subst(c->in, &v, err, sizeof err);
        int chk = params_check(c->in, &v, err, sizeof err);
        if (c->out ? (!r || strcmp(r, c->out) != 0 || chk != 0)
                   : (r || chk != -1 || errno != EINVAL || strncmp(err, c->msg, strlen(c->msg))))
            fail_msg("'%s': got '%s' (check %d, err '%s'); want '%s'", c->in, r ? r : "NULL", chk,
                     err, c->out ? c->out : c->msg);
        free(r);
    }
}

static void t_has_ref(void **state)
{
    (void)state;
    assert_true(params_has_ref("a ${params.x}"));
    assert_true(params_has_ref("$${x}"));
    assert_false(params_has_ref("echo $$ $HOME ${HOME} ${X:-1}"));
    assert_true(params_uses("x ${run.id} y", "run.id"));
    assert_false(params_uses("x ${run.idx} y", "run.id"));
    assert_true(params_name_ok("lr_2"));
    assert_false(params_name_ok("2lr"));
    assert_false(params_name_ok("a-b"));
}

typedef struct {
    const char *kind, *spec;
    int vars;
    const char *base;
    const char *out; /* NULL: an error */
    const char *msg;
} apply_case_t;

static const apply_case_t s_apply_cases[] = {
    /* argv: "${trigger.files}" alone is one element per file */
    {"exec", "{\"argv\":[\"wc\",\"${trigger.files}\",\"-l\"],\"env\":{\"N\":\"${trigger.rows}\"}}",
     2, NULL, "{\"argv\":[\"wc\",\"/w/a.csv\",\"/w/b c.csv\",\"-l\"],\"env\":{\"N\":\"7\"}}", NULL},
    /* a relative path a reference produced in a PATH key joins base_dir */
    {"exec", "{\"argv\":[\"x\"],\"cwd\":\"${params.tag}\"}", 0, "/srv/wf",
     "{\"argv\":[\"x\"],\"cwd\":\"/srv/wf/two words\"}", NULL},
    {"train", "{\"dataset\":\"${params.data}\",\"label\":\"y\",\"model\":\"m-${run.id}\"}", 0,
     "/srv/wf", "{\"dataset\":\"/srv/wf/data/train.csv\",\"label\":\"y\",\"model\":\"m-42\"}",
     NULL},
    /* without base_dir it stays relative (the step-kind check refuses it) */
    {"train", "{\"dataset\":\"${params.data}\"}", 0, NULL, "{\"dataset\":\"data/train.csv\"}",
     NULL},
    /* nested objects are substituted too; keys are not */
    {"validate", "{\"checks\":{\"drift\":{\"reference\":\"/r/${params.tag}.csv\"}}}", 0, "/b",
     "{\"checks\":{\"drift\":{\"reference\":\"/r/two words.csv\"}}}", NULL},
    {"exec", "{\"argv\":[\"${params.nope}\"]}", 0, NULL, NULL,
     "step 's': unknown parameter 'nope' in ${params.nope}"},
    {"exec", "[1]", 0, NULL, NULL, "step 's': spec_json is not a JSON object"},
};

static void t_apply(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_apply_cases / sizeof *s_apply_cases; i++) {
        const apply_case_t *c = &s_apply_cases[i];
        params_vars_t v = s_vars(c->vars);
        char err[400] = "", *out = NULL;
        errno = 0;
        int rc = params_apply(c->kind, "s", c->spec, &v, c->base, &out, err, sizeof err);
        if (c->out
                ? (rc != 0 || !out || strcmp(out, c->out) != 0)
                : (rc != -1 || out || errno != EINVAL || strncmp(err, c->msg, strlen(c->msg)) != 0))
            fail_msg("case %zu: rc %d out '%s' err '%s'; want '%s'", i, rc, out ? out : "NULL", err,
                     c->out ? c->out : c->msg);
        free(out);
    }
}

/* A spec that substitution would blow past PARAMS_SPEC_MAX is refused,
 * before the memory is spent. */
static void t_bounds(void **state)
{
    (void)state;
    static char big[PARAMS_VALUE_MAX + 1];
    memset(big, 'x', PARAMS_VALUE_MAX);
    const char *names[] = {"b"}, *values[] = {big};
    params_vars_t v = {.names = names, .values = values, .n = 1};
    /* 300 strings of "${params.b}": 300 * 4096 bytes > 1 MiB */
    size_t cap = 300 * 20 + 64;
    char *spec = malloc(cap);
    assert_non_null(spec);
    size_t o = (size_t)snprintf(spec, cap, "{\"argv\":[");
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(spec + o, cap - o, "%s\"${params.b}\"", i ? "," : "");
    snprintf(spec + o, cap - o, "]}");
    char err[400] = "", *out = NULL;
    assert_int_equal(params_apply("exec", "s", spec, &v, NULL, &out, err, sizeof err), -1);
    assert_int_equal(errno, EINVAL);
    assert_null(out);
    assert_non_null(strstr(err, "longer than"));
    free(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_subst),
        cmocka_unit_test(t_has_ref),
        cmocka_unit_test(t_apply),
        cmocka_unit_test(t_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
