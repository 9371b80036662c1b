/* capacity — see capacity.h. */
#include "capacity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "util.h"

typedef struct {
    char name[128];
    uint32_t slots;
    uint64_t memory; /* 0 = unknown or not offered: not checked */
    int gpus;        /* -1 = unknown (registered before migration 019) */
    char labels[CONFIG_MAX_LABELS][CONFIG_LABEL_MAX];
    int nlabels;
} shape_t;

struct capacity {
    store_t *st;
    shape_t *w;
    size_t n, cap;
};

capacity_t *capacity_new(store_t *st)
{
    capacity_t *c = calloc(1, sizeof *c);
    if (c)
        c->st = st;
    return c;
}

void capacity_destroy(capacity_t **cp)
{
    if (!cp || !*cp)
        return;
    free((*cp)->w);
    free(*cp);
    *cp = NULL;
}

size_t capacity_count(const capacity_t *c)
{
    return c->n;
}

/* The entry for name, added when new; NULL on ENOMEM. */
static shape_t *s_slot(capacity_t *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->w[i].name, name) == 0)
            return &c->w[i];
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        shape_t *nw = realloc(c->w, nc * sizeof *nw);
        if (!nw)
            return NULL;
        c->w = nw;
        c->cap = nc;
    }
    shape_t *s = &c->w[c->n++];
    memset(s, 0, sizeof *s);
    util_strlcpy(s->name, name, sizeof s->name);
    return s;
}

static int s_load_row(void *ctx, const store_worker_shape_t *row)
{
    capacity_t *c = ctx;
    shape_t *s = s_slot(c, row->name);
    if (!s)
        return -1;
    s->slots = row->slots > 0 ? (uint32_t)row->slots : 0;
    s->memory = row->memory > 0 ? (uint64_t)row->memory : 0;
    s->gpus = row->gpus;
    s->nlabels = 0;
    for (int i = 0; i < row->nlabels && i < CONFIG_MAX_LABELS; i++)
        util_strlcpy(s->labels[s->nlabels++], row->labels[i], CONFIG_LABEL_MAX);
    return 0;
}

int capacity_load(capacity_t *c)
{
    c->n = 0;
    return store_worker_shapes(c->st, s_load_row, c);
}

int capacity_note(capacity_t *c, const Drover__Register *reg)
{
    if (!reg->name || !*reg->name)
        return 0;
    shape_t *s = s_slot(c, reg->name);
    if (!s)
        return -1;
    s->slots = reg->slots;
    s->memory = reg->memory_bytes;
    s->gpus = (int)reg->gpus;
    s->nlabels = 0;
    for (size_t i = 0; i < reg->n_labels && s->nlabels < CONFIG_MAX_LABELS; i++)
        util_strlcpy(s->labels[s->nlabels++], reg->labels[i], CONFIG_LABEL_MAX);
    return store_worker_shape(c->st, reg->name, (int64_t)reg->memory_bytes, (int)reg->gpus);
}

static int s_has_label(const shape_t *s, const char *l)
{
    for (int i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i], l) == 0)
            return 1;
    return 0;
}

/* Could worker s ever hold a step asking for res? */
static int s_fits(const shape_t *s, const Drover__Resources *res)
{
    uint32_t cpus = res && res->cpus ? res->cpus : 1;
    if (cpus > s->slots)
        return 0;
    if (!res)
        return 1;
    if (res->gpus && s->gpus >= 0 && res->gpus > (uint32_t)s->gpus)
        return 0;
    if (res->memory_bytes && s->memory && res->memory_bytes > s->memory)
        return 0;
    for (size_t i = 0; i < res->n_labels; i++)
        if (!s_has_label(s, res->labels[i]))
            return 0;
    return 1;
}

static void s_bytes(uint64_t b, char *out, size_t len)
{
    if (b >= (1ull << 30))
        snprintf(out, len, "%.1f GiB", (double)b / (double)(1ull << 30));
    else
        snprintf(out, len, "%.0f MiB", (double)b / (double)(1ull << 20));
}

/* "name: 8 slots, 2 GPUs, 64.0 GiB, labels a10,ssd" */
static size_t s_shape_text(const shape_t *s, char *out, size_t len)
{
    char mem[32] = "memory unknown";
    if (s->memory)
        s_bytes(s->memory, mem, sizeof mem);
    char gp[32] = "GPUs unknown";
    if (s->gpus >= 0)
        snprintf(gp, sizeof gp, "%d GPU%s", s->gpus, s->gpus == 1 ? "" : "s");
    size_t o = (size_t)snprintf(out, len, "%s: %u slot%s, %s, %s", s->name, s->slots,
                                s->slots == 1 ? "" : "s", gp, mem);
    for (int i = 0; i < s->nlabels && o < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : ", labels ", s->labels[i]);
    return o < len ? o : len;
}

/* Orders shapes: more GPUs, then more slots, then more memory. */
static int s_larger(const shape_t *a, const shape_t *b)
{
    if (a->gpus != b->gpus)
        return a->gpus > b->gpus;
    if (a->slots != b->slots)
        return a->slots > b->slots;
    return a->memory > b->memory;
}

int capacity_check(const capacity_t *c, const Drover__SubmitRequest *req, char *msg, size_t msglen)
{
    if (c->n == 0)
        return 0;
    for (size_t i = 0; i < req->n_steps; i++) {
        const Drover__StepSpec *sp = req->steps[i];
        const Drover__Resources *res = sp->resources;
        int fits = 0;
        for (size_t k = 0; k < c->n && !fits; k++)
            fits = s_fits(&c->w[k], res);
        if (fits && sp->nodes > 1) {
            /* A gang needs nodes members at once: distinct workers
             * (spread), or as many as fit on each (spread = false). */
            uint64_t members = 0;
            for (size_t k = 0; k < c->n; k++) {
                const shape_t *w = &c->w[k];
                if (!s_fits(w, res))
                    continue;
                uint64_t cpus = res && res->cpus ? res->cpus : 1, m = w->slots / cpus;
                if (res && res->gpus && w->gpus >= 0)
                    m = m < (uint64_t)w->gpus / res->gpus ? m : (uint64_t)w->gpus / res->gpus;
                if (res && res->memory_bytes && w->memory)
                    m = m < w->memory / res->memory_bytes ? m : w->memory / res->memory_bytes;
                members += sp->pack ? m : m > 0;
            }
            if (members >= sp->nodes)
                continue;
            snprintf(msg, msglen,
                     "step %.100s is a gang of %u members%s; the registered workers (%zu, "
                     "connected or not) can hold at most %llu of them at once (submit "
                     "--allow-pending to accept it for capacity that is coming)",
                     sp->name, sp->nodes,
                     sp->pack ? "" : " on distinct workers (spread = false packs them)", c->n,
                     (unsigned long long)members);
            return 1;
        }
        if (fits)
            continue;
        const shape_t *big = &c->w[0];
        for (size_t k = 1; k < c->n; k++)
            if (s_larger(&c->w[k], big))
                big = &c->w[k];
        char mem[32] = "";
        if (res && res->memory_bytes) {
            char b[24];
            s_bytes(res->memory_bytes, b, sizeof b);
            snprintf(mem, sizeof mem, ", %s", b);
        }
        size_t o =
            (size_t)snprintf(msg, msglen, "step %.100s asks for %u slot%s, %u GPU%s%s", sp->name,
                             res && res->cpus ? res->cpus : 1, res && res->cpus > 1 ? "s" : "",
                             res ? res->gpus : 0, res && res->gpus == 1 ? "" : "s", mem);
        for (size_t l = 0; res && l < res->n_labels && o < msglen; l++)
            o += (size_t)snprintf(msg + o, msglen - o, "%s%.64s", l ? "," : ", labels ",
                                  res->labels[l]);
        if (o < msglen)
            o += (size_t)snprintf(msg + o, msglen - o,
                                  "; no registered worker (of %zu, connected or not) could ever "
                                  "run it; the largest is ",
                                  c->n);
        if (o < msglen)
            o += s_shape_text(big, msg + o, msglen - o);
        if (o < msglen)
            snprintf(msg + o, msglen - o,
                     " (submit --allow-pending to accept it for capacity "
                     "that is coming)");
        return 1;
    }
    return 0;
}
