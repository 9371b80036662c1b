/* gang — see gang.h. */
#include "gang.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "stepkind.h"
#include "util.h"
#include "workflow.h"

static size_t s_nodes(const Drover__StepSpec *s)
{
    return s->nodes > 1 ? s->nodes : 1;
}

void gang_expansion_free(gang_expansion_t *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n; i++) {
        if (x->specs)
            free(x->specs[i].after);
        if (x->names)
            free(x->names[i]);
    }
    free(x->specs);
    free(x->ptrs);
    free(x->names);
    memset(x, 0, sizeof *x);
}

static int s_fail(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    errno = e;
    return -1;
}

int gang_expand(const Drover__SubmitRequest *req, gang_expansion_t *x, char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    x->req = req;
    size_t n = req->n_steps, total = 0, nafter = 0;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        total += s_nodes(req->steps[i]);
        nafter += req->steps[i]->n_after;
        any |= req->steps[i]->nodes > 1;
    }
    if (!any)
        return 0;
    if (total > STEPKIND_MAX_STEPS)
        return s_fail(err, errlen, EINVAL,
                      "a workflow has at most %d steps counting each gang member; this one has %zu",
                      STEPKIND_MAX_STEPS, total);
    size_t *didx = malloc((nafter ? nafter : 1) * sizeof *didx);
    size_t *base = malloc(n * sizeof *base);
    dag_node_t *nodes = calloc(n, sizeof *nodes);
    if (!didx || !base || !nodes)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        nodes[i].name = req->steps[i]->name;
        nodes[i].after = (const char *const *)req->steps[i]->after;
        nodes[i].nafter = req->steps[i]->n_after;
    }
    if (dag_resolve(nodes, n, didx) < 0)
        goto fail; /* checked before: only memory can fail */
    size_t edges = 0, k = 0;
    for (size_t i = 0, b = 0; i < n; i++) {
        base[i] = b;
        b += s_nodes(req->steps[i]);
        size_t per = 0;
        for (size_t a = 0; a < req->steps[i]->n_after; a++)
            per += s_nodes(req->steps[didx[k + a]]);
        k += req->steps[i]->n_after;
        edges += per * s_nodes(req->steps[i]);
    }
    if (edges > WORKFLOW_MAX_EDGES) {
        s_fail(err, errlen, EINVAL,
               "a workflow has at most %d dependencies counting each gang member (a step after "
               "a gang of N depends on N members); this one has %zu",
               WORKFLOW_MAX_EDGES, edges);
        goto fail;
    }
    x->n = total;
    x->specs = calloc(total, sizeof *x->specs);
    x->ptrs = calloc(total, sizeof *x->ptrs);
    x->names = calloc(total, sizeof *x->names);
    if (!x->specs || !x->ptrs || !x->names)
        goto nomem;
    /* Pass 1: the members and their names; pass 2: the after lists (a
     * step may be listed before a gang it runs after). */
    for (size_t i = 0; i < n; i++) {
        const Drover__StepSpec *s = req->steps[i];
        size_t nn = s_nodes(s);
        if (nn > 1 && strlen(s->name) + 4 > UTIL_NAME_MAX) {
            s_fail(err, errlen, EINVAL,
                   "step '%s': a gang step's name has at most %d bytes (its members are "
                   "named NAME[RANK])",
                   s->name, UTIL_NAME_MAX - 4);
            goto fail;
        }
        for (size_t r = 0; r < nn; r++) {
            size_t j = base[i] + r;
            Drover__StepSpec *m = &x->specs[j];
            *m = *s;
            m->gang_rank = (uint32_t)r;
            m->nodes = nn > 1 ? (uint32_t)nn : 0;
            m->after = NULL;
            m->n_after = 0;
            if (nn > 1) {
                if (asprintf(&x->names[j], "%s[%zu]", s->name, r) < 0) {
                    x->names[j] = NULL;
                    goto nomem;
                }
                m->name = x->names[j];
            }
            x->ptrs[j] = m;
        }
    }
    k = 0;
    for (size_t i = 0; i < n; i++) {
        const Drover__StepSpec *s = req->steps[i];
        size_t per = 0;
        for (size_t a = 0; a < s->n_after; a++)
            per += s_nodes(req->steps[didx[k + a]]);
        for (size_t r = 0; r < s_nodes(s); r++) {
            Drover__StepSpec *m = &x->specs[base[i] + r];
            if (per && !(m->after = malloc(per * sizeof *m->after)))
                goto nomem;
            for (size_t a = 0; a < s->n_after; a++) {
                size_t p = didx[k + a], pn = s_nodes(req->steps[p]);
                for (size_t q = 0; q < pn; q++)
                    m->after[m->n_after++] = x->ptrs[base[p] + q]->name;
            }
        }
        k += s->n_after;
    }
    x->xreq = *req;
    x->xreq.steps = x->ptrs;
    x->xreq.n_steps = total;
    x->req = &x->xreq;
    free(didx);
    free(base);
    free(nodes);
    return 0;
nomem:
    s_fail(err, errlen, ENOMEM, "out of memory");
fail:
    free(didx);
    free(base);
    free(nodes);
    gang_expansion_free(x);
    x->req = req;
    return -1;
}

/* ------------------------------------------------------ environment --- */

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} s_sb_t;

static void s_add(s_sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_add(s_sb_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->buf && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc <= b->len + (size_t)n)
            nc *= 2;
        char *nb = realloc(b->buf, nc);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap = nc;
    }
}

static char *s_done(s_sb_t *b)
{
    if (b->oom || !b->buf) {
        free(b->buf);
        errno = ENOMEM;
        return NULL;
    }
    return b->buf;
}

char *gang_env(const gang_member_t *mb, size_t n, size_t rank, const char *gang_id)
{
    s_sb_t b = {0};
    size_t local = 0, nlocal = 0;
    for (size_t i = 0; i < n; i++)
        if (mb[i].worker == mb[rank].worker) {
            local += i < rank;
            nlocal++;
        }
    s_add(&b, "RANK=%zu\nWORLD_SIZE=%zu\nLOCAL_RANK=%zu\nLOCAL_WORLD_SIZE=%zu\n", rank, n, local,
          nlocal);
    s_add(&b, "MASTER_ADDR=%s\nMASTER_PORT=%d\nDROVER_GANG_ID=%s\nDROVER_GANG_HOSTS=", mb[0].addr,
          mb[0].port, gang_id);
    for (size_t i = 0; i < n; i++)
        s_add(&b, "%s%s", i ? "," : "", mb[i].addr);
    s_add(&b, "\nDROVER_GANG_PORTS=");
    for (size_t i = 0; i < n; i++)
        s_add(&b, "%s%d", i ? "," : "", mb[i].port);
    return s_done(&b);
}

char *gang_hostfile(const gang_member_t *mb, size_t n)
{
    s_sb_t b = {0};
    s_add(&b, "%s", "");
    for (size_t i = 0; i < n; i++) {
        int first = 1;
        size_t slots = 0;
        for (size_t j = 0; j < n && first; j++)
            first = j >= i || strcmp(mb[j].addr, mb[i].addr) != 0;
        if (!first)
            continue;
        for (size_t j = i; j < n; j++)
            slots += strcmp(mb[j].addr, mb[i].addr) == 0;
        s_add(&b, "%s slots=%zu\n", mb[i].addr, slots);
    }
    return s_done(&b);
}

int gang_member_name(const char *name, size_t *len)
{
    size_t n = strlen(name);
    if (n < 4 || name[n - 1] != ']')
        return -1;
    const char *lb = strrchr(name, '[');
    if (!lb || lb == name || lb[1] == ']')
        return -1;
    int r = 0;
    for (const char *p = lb + 1; *p != ']'; p++) {
        if (*p < '0' || *p > '9' || r > GANG_MAX_NODES)
            return -1;
        r = r * 10 + (*p - '0');
    }
    if (r >= GANG_MAX_NODES)
        return -1;
    *len = (size_t)(lb - name);
    return r;
}
