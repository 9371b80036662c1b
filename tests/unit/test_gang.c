/* test_gang — unit tests of coordinator/gang.c: a gang step expanded into
 * its members (names, ranks, every edge into and out of a gang, limits),
 * and the rendezvous environment and hostfile of a placement (ranks,
 * local ranks by worker, hosts and ports in rank order). */
/* cmocka.h needs these first; a blank line keeps clang-format from
 * sorting it above them */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gang.h"

typedef struct {
    Drover__SubmitRequest req;
    Drover__StepSpec steps[3];
    Drover__StepSpec *ptrs[3];
    char *after[3][2];
} req_t;

static Drover__StepSpec *s_step(req_t *r, const char *name, unsigned nodes, const char *a0,
                                const char *a1)
{
    size_t i = r->req.n_steps++;
    Drover__StepSpec *s = &r->steps[i];
    drover__step_spec__init(s);
    s->name = (char *)name;
    s->kind = "exec";
    s->nodes = nodes;
    r->after[i][0] = (char *)a0;
    r->after[i][1] = (char *)a1;
    s->after = r->after[i];
    s->n_after = a1 ? 2 : a0 ? 1 : 0;
    r->ptrs[i] = s;
    return s;
}

static void s_req(req_t *r)
{
    memset(r, 0, sizeof *r);
    drover__submit_request__init(&r->req);
    r->req.workflow = "w";
    r->req.steps = r->ptrs;
}

static void t_expand(void **state)
{
    (void)state;
    req_t r;
    char err[256];
    gang_expansion_t x;
    /* No gang: the caller's request, nothing copied. */
    s_req(&r);
    s_step(&r, "a", 0, NULL, NULL);
    assert_int_equal(gang_expand(&r.req, &x, err, sizeof err), 0);
    assert_ptr_equal(x.req, &r.req);
    gang_expansion_free(&x);
    /* "eval" is listed before the gang it runs after. */
    s_req(&r);
    s_step(&r, "eval", 0, "ddp", NULL);
    s_step(&r, "prep", 1, NULL, NULL);
    s_step(&r, "ddp", 3, "prep", NULL);
    assert_int_equal(gang_expand(&r.req, &x, err, sizeof err), 0);
    const Drover__SubmitRequest *q = x.req;
    assert_int_equal(q->n_steps, 5);
    assert_string_equal(q->steps[0]->name, "eval");
    assert_int_equal(q->steps[0]->n_after, 3);
    assert_string_equal(q->steps[0]->after[0], "ddp[0]");
    assert_string_equal(q->steps[0]->after[2], "ddp[2]");
    assert_string_equal(q->steps[1]->name, "prep");
    assert_int_equal(q->steps[1]->nodes, 0);
    for (int k = 0; k < 3; k++) {
        const Drover__StepSpec *m = q->steps[2 + k];
        char want[16];
        snprintf(want, sizeof want, "ddp[%d]", k);
        assert_string_equal(m->name, want);
        assert_int_equal(m->gang_rank, k);
        assert_int_equal(m->nodes, 3);
        assert_int_equal(m->n_after, 1);
        assert_string_equal(m->after[0], "prep");
    }
    gang_expansion_free(&x);
    /* A gang after a gang: every member after every member. */
    s_req(&r);
    s_step(&r, "a", 4, NULL, NULL);
    s_step(&r, "b", 2, "a", NULL);
    assert_int_equal(gang_expand(&r.req, &x, err, sizeof err), 0);
    assert_int_equal(x.req->n_steps, 6);
    assert_int_equal(x.req->steps[5]->n_after, 4);
    gang_expansion_free(&x);
    /* A name with no room for [RANK]. */
    char longname[130];
    memset(longname, 'n', 126);
    longname[126] = '\0';
    s_req(&r);
    s_step(&r, longname, 2, NULL, NULL);
    errno = 0;
    assert_int_equal(gang_expand(&r.req, &x, err, sizeof err), -1);
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err, "has at most 124 bytes"));
    assert_ptr_equal(x.req, &r.req);
}

static void t_env(void **state)
{
    (void)state;
    int wa, wb; /* two workers: identities compared by pointer */
    gang_member_t mb[3] = {
        {&wa, "10.0.0.1", 29400}, {&wb, "10.0.0.2", 29411}, {&wa, "10.0.0.1", 29401}};
    char *e = gang_env(mb, 3, 2, "7.ddp.1");
    assert_non_null(e);
    assert_string_equal(e, "RANK=2\nWORLD_SIZE=3\nLOCAL_RANK=1\nLOCAL_WORLD_SIZE=2\n"
                           "MASTER_ADDR=10.0.0.1\nMASTER_PORT=29400\nDROVER_GANG_ID=7.ddp.1\n"
                           "DROVER_GANG_HOSTS=10.0.0.1,10.0.0.2,10.0.0.1\n"
                           "DROVER_GANG_PORTS=29400,29411,29401");
    free(e);
    e = gang_env(mb, 3, 1, "7.ddp.1");
    assert_non_null(strstr(e, "LOCAL_RANK=0\nLOCAL_WORLD_SIZE=1\n"));
    free(e);
    char *h = gang_hostfile(mb, 3);
    assert_string_equal(h, "10.0.0.1 slots=2\n10.0.0.2 slots=1\n");
    free(h);
}

static void t_member_name(void **state)
{
    (void)state;
    size_t n = 0;
    assert_int_equal(gang_member_name("train[12]", &n), 12);
    assert_int_equal(n, 5);
    assert_int_equal(gang_member_name("train", &n), -1);
    assert_int_equal(gang_member_name("train[]", &n), -1);
    assert_int_equal(gang_member_name("[1]", &n), -1);
    assert_int_equal(gang_member_name("t[64]", &n), -1);
    assert_int_equal(gang_member_name("t[1x]", &n), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_expand),
        cmocka_unit_test(t_env),
        cmocka_unit_test(t_member_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
