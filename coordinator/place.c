/* place — see place.h.
 *
 * Costs: a pick is O(S log S + Q·S + S·W·R) for S candidate steps (the
 * heads of the ready buckets, not the backlog), W workers, Q queues and R
 * reservations (R <= Q); a reservation walks one worker's leases (bounded
 * by its slots plus prefetch) in end-time order.
 */
#include "place.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t s_cpus(const place_step_t *s)
{
    return s->cpus ? s->cpus : 1;
}

static int s_has(const char *const *set, int n, const char *x)
{
    for (int i = 0; i < n; i++)
        if (strcmp(set[i], x) == 0)
            return 1;
    return 0;
}

static uint32_t s_cap_cpus(const place_worker_t *w, const place_step_t *s)
{
    /* Prefetch is a queue in the worker for short CPU steps; a GPU step
     * never waits in it (its GPUs would sit idle), nor a gang member (its
     * peers would wait for it at the rendezvous). */
    return w->slots + (s->gpus || s->gang ? 0 : w->prefetch);
}

static uint32_t s_free_gpus(const place_worker_t *w)
{
    uint64_t all = w->gpus >= 64 ? ~0ull : ((1ull << w->gpus) - 1);
    return (uint32_t)__builtin_popcountll(all & ~w->used_gpus);
}

static int s_kept(const place_worker_t *w, const place_step_t *s)
{
    if (!w->reserve_for || !*w->reserve_for)
        return 0;
    if (strcmp(w->reserve_for, "gpu") == 0)
        return s->gpus == 0;
    return !s_has(s->labels, s->nlabels, w->reserve_for);
}

unsigned place_check(const place_worker_t *w, const place_step_t *s)
{
    unsigned m = 0;
    if (!w->connected)
        m |= PLACE_DOWN;
    if (w->draining)
        m |= PLACE_DRAINING;
    if (s->kind && !s_has(w->kinds, w->nkinds, s->kind))
        m |= PLACE_KIND;
    for (int i = 0; i < s->nlabels; i++)
        if (!s_has(w->labels, w->nlabels, s->labels[i]))
            m |= PLACE_LABELS;
    if (s_kept(w, s))
        m |= PLACE_KEPT;
    uint32_t cpus = s_cpus(s);
    if (cpus > w->slots)
        m |= PLACE_SLOTS;
    else if ((uint64_t)w->used_cpus + cpus > s_cap_cpus(w, s))
        m |= PLACE_BUSY_SLOTS;
    if (s->gpus > w->gpus)
        m |= PLACE_GPUS;
    else if (s->gpus > s_free_gpus(w))
        m |= PLACE_BUSY_GPUS;
    if (w->memory && s->memory > w->memory)
        m |= PLACE_MEMORY;
    else if (w->memory && w->used_memory + s->memory > w->memory)
        m |= PLACE_BUSY_MEMORY;
    if (w->hold_n && s->gang != w->hold_gang && !(m & ~PLACE_NEVER_MASK)) {
        /* What stays free with s running must still take the gang's
         * members held here. */
        const place_step_t *h = &w->hold;
        int64_t fc = (int64_t)w->slots - w->used_cpus - s_cpus(s);
        int64_t gpus = (int64_t)s_free_gpus(w) - s->gpus;
        int64_t mem = w->memory ? (int64_t)w->memory - (int64_t)w->used_memory - (int64_t)s->memory
                                : INT64_MAX / 2;
        if (fc < (int64_t)w->hold_n * s_cpus(h) || gpus < (int64_t)w->hold_n * h->gpus ||
            mem < (int64_t)w->hold_n * (int64_t)h->memory)
            m |= PLACE_HELD;
    }
    return m;
}

int64_t place_limit_ms(const place_table_t *tab, const place_step_t *s)
{
    if (s->limit_ms > 0)
        return s->limit_ms;
    return s->queue < tab->nqueues ? tab->queues[s->queue].default_limit_ms : 0;
}

static int64_t s_eff(const place_table_t *tab, const place_step_t *s)
{
    if (tab->policy == PLACE_POLICY_LEGACY || tab->age_ms_per_point <= 0 ||
        tab->now_ms <= s->ready_ms)
        return s->priority;
    return (int64_t)s->priority + (tab->now_ms - s->ready_ms) / tab->age_ms_per_point;
}

int place_before(const place_table_t *tab, const place_step_t *a, const place_step_t *b)
{
    int64_t ea = s_eff(tab, a), eb = s_eff(tab, b);
    if (ea != eb)
        return ea > eb;
    return a->seq < b->seq;
}

/* A lease past its limit is treated as ending now: the planner cannot know
 * better, and "now" never lets a backfilled step run past a reservation. */
static int64_t s_end(const place_table_t *tab, const place_lease_t *l)
{
    return l->end_ms < tab->now_ms ? tab->now_ms : l->end_ms;
}

/* Free capacity of w at time t (leases ending by t released), minus the
 * extra step x (NULL = none). Signed: prefetch can overbook. */
typedef struct {
    int64_t cpus, gpus, memory;
} s_room_t;

static s_room_t s_room_at(const place_table_t *tab, const place_worker_t *w, int64_t t,
                          const place_step_t *for_step, const place_step_t *x)
{
    s_room_t r = {
        .cpus = (int64_t)s_cap_cpus(w, for_step) - w->used_cpus,
        .gpus = s_free_gpus(w),
        .memory = w->memory ? (int64_t)w->memory - (int64_t)w->used_memory : INT64_MAX / 2,
    };
    for (size_t i = 0; i < w->nleases; i++)
        if (s_end(tab, &w->leases[i]) <= t) {
            r.cpus += w->leases[i].cpus;
            r.gpus += w->leases[i].gpus;
            if (w->memory)
                r.memory += (int64_t)w->leases[i].memory;
        }
    if (x) {
        r.cpus -= s_cpus(x);
        r.gpus -= x->gpus;
        if (w->memory)
            r.memory -= (int64_t)x->memory;
    }
    return r;
}

static int s_room_fits(s_room_t r, const place_step_t *s)
{
    return r.cpus >= (int64_t)s_cpus(s) && r.gpus >= (int64_t)s->gpus &&
           r.memory >= (int64_t)s->memory;
}

static int s_cmp_end(const void *pa, const void *pb)
{
    int64_t x = *(const int64_t *)pa, y = *(const int64_t *)pb;
    return x < y ? -1 : x > y;
}

/* The earliest time s fits on w as its leases end (walked in end order:
 * O(L log L)); INT64_MAX if never (the leases listed do not account for
 * what is in use), -1 with errno ENOMEM. */
static int64_t s_fit_at(const place_table_t *tab, const place_worker_t *w, const place_step_t *s)
{
    s_room_t r = s_room_at(tab, w, tab->now_ms, s, NULL);
    if (s_room_fits(r, s))
        return tab->now_ms;
    /* Each lease as (end, index) pairs sorted by end. */
    int64_t(*ev)[2] = malloc((w->nleases ? w->nleases : 1) * sizeof *ev);
    if (!ev) {
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < w->nleases; i++) {
        int64_t e = s_end(tab, &w->leases[i]);
        if (e > tab->now_ms) /* those ending by now are in r already */
            ev[n][0] = e, ev[n++][1] = (int64_t)i;
    }
    qsort(ev, n, sizeof *ev, s_cmp_end);
    int64_t at = INT64_MAX;
    for (size_t k = 0; k < n && at == INT64_MAX; k++) {
        const place_lease_t *l = &w->leases[ev[k][1]];
        r.cpus += l->cpus;
        r.gpus += l->gpus;
        if (w->memory)
            r.memory += (int64_t)l->memory;
        /* Leases ending at the same instant free together. */
        if ((k + 1 == n || ev[k + 1][0] != ev[k][0]) && s_room_fits(r, s))
            at = ev[k][0];
    }
    free(ev);
    return at;
}

size_t place_reservation_blocks(const place_table_t *tab, const place_step_t *s, size_t wi,
                                const place_reservation_t *res, size_t nres)
{
    const place_worker_t *w = &tab->workers[wi];
    for (size_t i = 0; i < nres; i++) {
        const place_step_t *rs = &tab->steps[res[i].step];
        if (res[i].worker != wi || rs == s || !place_before(tab, rs, s))
            continue;
        if (tab->now_ms + place_limit_ms(tab, s) <= res[i].at_ms)
            continue; /* backfill: done before the reserved step can start */
        if (s_room_fits(s_room_at(tab, w, res[i].at_ms, rs, s), rs))
            continue; /* uses only what the reserved step will not need */
        return i + 1;
    }
    return 0;
}

/* The best worker for s now (PLACE_NONE if none): best fit, or for the
 * legacy policy the most free slots. */
static size_t s_best_worker(const place_table_t *tab, const place_step_t *s,
                            const place_reservation_t *res, size_t nres)
{
    size_t best = PLACE_NONE;
    int64_t bg = 0, bt = 0, bc = 0;
    for (size_t i = 0; i < tab->nworkers; i++) {
        const place_worker_t *w = &tab->workers[i];
        unsigned m = place_check(w, s);
        if (tab->policy == PLACE_POLICY_LEGACY)
            m &= ~(unsigned)PLACE_KEPT;
        if (m || place_reservation_blocks(tab, s, i, res, nres))
            continue;
        int64_t fg = s_free_gpus(w);
        int64_t fc = (int64_t)s_cap_cpus(w, s) - w->used_cpus;
        int64_t tg = w->gpus;
        int better;
        if (best == PLACE_NONE)
            better = 1;
        else if (tab->policy == PLACE_POLICY_LEGACY)
            better = fc > bc;
        else
            /* Fewest free GPUs, then fewest GPUs at all (a CPU step keeps
             * off GPU nodes even when their GPUs are busy now), then
             * fewest free slots. */
            better = fg < bg || (fg == bg && (tg < bt || (tg == bt && fc < bc)));
        if (better) {
            best = i;
            bg = fg;
            bt = tg;
            bc = fc;
        }
    }
    return best;
}

/* Index of the best-ranked step of queue q; PLACE_NONE if none. */
static size_t s_top(const place_table_t *tab, size_t q)
{
    size_t top = PLACE_NONE;
    for (size_t i = 0; i < tab->nsteps; i++)
        if (tab->steps[i].queue == q &&
            (top == PLACE_NONE || place_before(tab, &tab->steps[i], &tab->steps[top])))
            top = i;
    return top;
}

int place_reservations(const place_table_t *tab, place_reservation_t *res)
{
    if (tab->policy == PLACE_POLICY_LEGACY)
        return 0;
    size_t ntop = 0;
    size_t *tops = malloc((tab->nqueues ? tab->nqueues : 1) * sizeof *tops);
    if (!tops) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t q = 0; q < tab->nqueues; q++) {
        if (!tab->queues[q].open)
            continue;
        size_t t = s_top(tab, q);
        if (t == PLACE_NONE)
            continue;
        /* Insert in rank order. */
        size_t k = ntop++;
        while (k > 0 && place_before(tab, &tab->steps[t], &tab->steps[tops[k - 1]])) {
            tops[k] = tops[k - 1];
            k--;
        }
        tops[k] = t;
    }
    size_t nres = 0;
    for (size_t i = 0; i < ntop; i++) {
        const place_step_t *s = &tab->steps[tops[i]];
        if (s_best_worker(tab, s, res, nres) != PLACE_NONE)
            continue; /* it starts now: no reservation */
        place_reservation_t r = {.step = tops[i], .worker = PLACE_NONE, .at_ms = INT64_MAX};
        for (size_t wi = 0; wi < tab->nworkers; wi++) {
            if (place_check(&tab->workers[wi], s) & PLACE_NEVER_MASK)
                continue;
            int64_t at = s_fit_at(tab, &tab->workers[wi], s);
            if (at < 0) {
                free(tops);
                return -1;
            }
            if (at < r.at_ms) {
                r.worker = wi;
                r.at_ms = at;
            }
        }
        res[nres++] = r;
    }
    free(tops);
    return (int)nres;
}

static uint64_t s_pick_gpus(const place_worker_t *w, uint32_t need)
{
    uint64_t mask = 0;
    for (uint32_t i = 0; i < w->gpus && i < 64 && need; i++)
        if (!(w->used_gpus & (1ull << i))) {
            mask |= 1ull << i;
            need--;
        }
    return mask;
}

/* A candidate's sort key: rank order is eff descending, then seq. */
typedef struct {
    int64_t eff;
    uint64_t seq;
    size_t idx;
} s_key_t;

static int s_cmp_key(const void *pa, const void *pb)
{
    const s_key_t *a = pa, *b = pb;
    if (a->eff != b->eff)
        return a->eff > b->eff ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int place_pick(const place_table_t *tab, place_decision_t *d, place_reservation_t *res_out,
               size_t *nres_out)
{
    int rc = -1;
    place_reservation_t *res = malloc((tab->nqueues ? tab->nqueues : 1) * sizeof *res);
    s_key_t *order = malloc((tab->nsteps ? tab->nsteps : 1) * sizeof *order);
    if (!res || !order) {
        errno = ENOMEM;
        goto done;
    }
    int n = place_reservations(tab, res);
    if (n < 0)
        goto done;
    size_t nres = (size_t)n;
    if (res_out) {
        memcpy(res_out, res, nres * sizeof *res);
        *nres_out = nres;
    }
    /* Every candidate in rank order once; then each queue's turn walks it. */
    for (size_t i = 0; i < tab->nsteps; i++)
        order[i] = (s_key_t){s_eff(tab, &tab->steps[i]), tab->steps[i].seq, i};
    qsort(order, tab->nsteps, sizeof *order, s_cmp_key);
    rc = 0;
    for (size_t k = 0; k < tab->nqueues && rc == 0; k++) {
        size_t q = (tab->rr + k) % tab->nqueues;
        if (!tab->queues[q].open)
            continue;
        /* The first candidate of q that may start wins. */
        for (size_t j = 0; j < tab->nsteps; j++) {
            const place_step_t *s = &tab->steps[order[j].idx];
            if (s->queue != q)
                continue;
            size_t w = s_best_worker(tab, s, res, nres);
            if (w == PLACE_NONE)
                continue;
            *d = (place_decision_t){.step = order[j].idx, .worker = w, .ahead_of = PLACE_NONE};
            d->gpumask = s_pick_gpus(&tab->workers[w], s->gpus);
            for (size_t i = 0; i < nres; i++)
                if (res[i].worker != PLACE_NONE && place_before(tab, &tab->steps[res[i].step], s)) {
                    d->backfill = 1;
                    d->ahead_of = res[i].step;
                    break;
                }
            rc = 1;
            break;
        }
    }
done:
    free(res);
    free(order);
    return rc;
}

/* ------------------------------------------------------------ gangs --- */

int place_gang(const place_table_t *tab, const place_step_t *s, uint32_t n, int spread,
               const place_reservation_t *res, size_t nres, size_t *wk, uint64_t *gpus,
               uint32_t *nfit)
{
    size_t nw = tab->nworkers;
    /* Each member placed on a copy of the load, so the next sees it. */
    place_worker_t *ws = malloc((nw ? nw : 1) * sizeof *ws);
    unsigned char *taken = calloc(nw ? nw : 1, 1);
    if (!ws || !taken) {
        free(ws);
        free(taken);
        errno = ENOMEM;
        return -1;
    }
    memcpy(ws, tab->workers, nw * sizeof *ws);
    uint32_t i = 0;
    for (; i < n; i++) {
        size_t best = PLACE_NONE;
        int64_t bg = 0, bt = 0, bc = 0;
        for (size_t wi = 0; wi < nw; wi++) {
            const place_worker_t *w = &ws[wi];
            if ((spread && taken[wi]) || place_check(w, s) ||
                place_reservation_blocks(tab, s, wi, res, nres))
                continue;
            int64_t fg = s_free_gpus(w), tg = w->gpus;
            int64_t fc = (int64_t)s_cap_cpus(w, s) - w->used_cpus;
            /* Best fit, as for one step (place.h). */
            if (best == PLACE_NONE || fg < bg || (fg == bg && (tg < bt || (tg == bt && fc < bc)))) {
                best = wi;
                bg = fg;
                bt = tg;
                bc = fc;
            }
        }
        if (best == PLACE_NONE)
            break;
        place_worker_t *w = &ws[best];
        wk[i] = best;
        gpus[i] = s_pick_gpus(w, s->gpus);
        w->used_cpus += s_cpus(s);
        w->used_memory += s->memory;
        w->used_gpus |= gpus[i];
        taken[best] = 1;
    }
    free(ws);
    free(taken);
    *nfit = i;
    return i == n;
}

int place_gang_yields(const place_table_t *tab, const place_step_t *s, const size_t *wk, uint32_t n)
{
    for (size_t i = 0; i < tab->nsteps; i++) {
        const place_step_t *c = &tab->steps[i];
        if (c->queue >= tab->nqueues || !tab->queues[c->queue].open || !place_before(tab, c, s))
            continue;
        for (uint32_t k = 0; k < n; k++)
            if (place_check(&tab->workers[wk[k]], c) == 0)
                return 1;
    }
    return 0;
}

/* ---------------------------------------------------------- explain --- */

static void s_bytes(uint64_t b, char *buf, size_t len)
{
    if (b >= (1ull << 30))
        snprintf(buf, len, "%.1fG", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(buf, len, "%lluM", (unsigned long long)(b >> 20));
    else
        snprintf(buf, len, "%lluK", (unsigned long long)((b + 1023) >> 10));
}

typedef struct {
    char *buf;
    size_t len, o;
} s_out_t;

static void s_put(s_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_put(s_out_t *o, const char *fmt, ...)
{
    if (o->o >= o->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->o, o->len - o->o, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->o += (size_t)n;
    if (o->o >= o->len)
        o->o = o->len;
}

void place_unmet_text(const place_worker_t *w, const place_step_t *s, unsigned m, char *buf,
                      size_t len)
{
    s_out_t o = {buf, len, 0};
    const char *sep = "";
    char a[32], b[32];
    buf[0] = '\0';
#define ITEM(...)                                                                                  \
    do {                                                                                           \
        s_put(&o, "%s", sep);                                                                      \
        s_put(&o, __VA_ARGS__);                                                                    \
        sep = ", ";                                                                                \
    } while (0)
    if (m & PLACE_DOWN)
        ITEM("not connected");
    if (m & PLACE_DRAINING)
        ITEM("draining");
    if (m & PLACE_KIND)
        ITEM("does not run kind '%s'", s->kind);
    if (s->nlabels) {
        if (m & PLACE_LABELS) {
            ITEM("lacks label");
            const char *ls = " ";
            for (int i = 0; i < s->nlabels; i++)
                if (!s_has(w->labels, w->nlabels, s->labels[i])) {
                    s_put(&o, "%s%s", ls, s->labels[i]);
                    ls = "+";
                }
        } else {
            ITEM("labels ok");
        }
    }
    if (m & PLACE_KEPT) {
        if (strcmp(w->reserve_for, "gpu") == 0)
            ITEM("kept for GPU steps");
        else
            ITEM("kept for steps labelled %s", w->reserve_for);
    }
    if (m & PLACE_SLOTS)
        ITEM("%u of %u cpus", w->slots, s_cpus(s));
    if (m & PLACE_BUSY_SLOTS) {
        int64_t fc = (int64_t)s_cap_cpus(w, s) - w->used_cpus;
        ITEM("%lld of %u cpus free", (long long)(fc > 0 ? fc : 0), s_cpus(s));
    }
    if (m & PLACE_GPUS)
        ITEM("%u of %u GPUs", w->gpus, s->gpus);
    if (m & PLACE_BUSY_GPUS)
        ITEM("%u of %u GPUs free", s_free_gpus(w), s->gpus);
    if (m & PLACE_MEMORY) {
        s_bytes(w->memory, a, sizeof a);
        s_bytes(s->memory, b, sizeof b);
        ITEM("%s of %s memory", a, b);
    }
    if (m & PLACE_HELD)
        ITEM("held for a waiting gang");
    if (m & PLACE_BUSY_MEMORY) {
        s_bytes(w->used_memory < w->memory ? w->memory - w->used_memory : 0, a, sizeof a);
        s_bytes(s->memory, b, sizeof b);
        ITEM("%s of %s memory free", a, b);
    }
#undef ITEM
}

static void s_when(const place_table_t *tab, int64_t at, char *buf, size_t len)
{
    if (at == INT64_MAX)
        snprintf(buf, len, "never");
    else
        snprintf(buf, len, "in %.0fs", (double)(at - tab->now_ms) / 1000.0);
}

static const char *s_name(const place_step_t *s)
{
    return s->name ? s->name : "a step";
}

int place_explain(const place_table_t *tab, size_t step, size_t max_workers, char *buf, size_t len)
{
    place_reservation_t *res = malloc((tab->nqueues ? tab->nqueues : 1) * sizeof *res);
    if (!res) {
        errno = ENOMEM;
        return -1;
    }
    int n = place_reservations(tab, res);
    if (n < 0) {
        free(res);
        return -1;
    }
    size_t nres = (size_t)n;
    const place_step_t *s = &tab->steps[step];
    s_out_t o = {buf, len, 0};
    char when[32];
    buf[0] = '\0';
    int ever = 0;
    for (size_t wi = 0; wi < tab->nworkers && !ever; wi++)
        ever = !(place_check(&tab->workers[wi], s) & PLACE_NEVER_MASK);
    if (tab->nworkers == 0) {
        s_put(&o, "no worker is connected");
        free(res);
        return 0;
    }
    if (!ever)
        s_put(&o, "no connected worker can ever run it");
    for (size_t i = 0; i < nres && o.o == 0; i++)
        if (res[i].step == step && res[i].worker != PLACE_NONE) {
            s_when(tab, res[i].at_ms, when, sizeof when);
            s_put(&o,
                  "first in line: %s is reserved for it; it fits there %s at the latest "
                  "(running steps' time limits)",
                  tab->workers[res[i].worker].name, when);
        }
    for (size_t i = 0; i < nres && o.o == 0; i++) {
        const place_step_t *rs = &tab->steps[res[i].step];
        if (rs == s || res[i].worker == PLACE_NONE || !place_before(tab, rs, s))
            continue;
        s_when(tab, res[i].at_ms, when, sizeof when);
        s_put(&o,
              "waits behind %s (older or higher priority), which has %s reserved (fits %s); "
              "it may start before that only where it would not delay it (backfill)",
              s_name(rs), tab->workers[res[i].worker].name, when);
    }
    if (o.o == 0)
        s_put(&o, "waiting for room");
    s_put(&o, ". Workers:");
    size_t shown = 0, more = 0;
    for (size_t wi = 0; wi < tab->nworkers; wi++) {
        const place_worker_t *w = &tab->workers[wi];
        if (shown >= max_workers) {
            more++;
            continue;
        }
        shown++;
        unsigned m = place_check(w, s);
        char text[512];
        if (m) {
            place_unmet_text(w, s, m, text, sizeof text);
            s_put(&o, "\n  %s: %s", w->name, text);
            continue;
        }
        size_t b = place_reservation_blocks(tab, s, wi, res, nres);
        if (b) {
            s_when(tab, res[b - 1].at_ms, when, sizeof when);
            s_put(&o,
                  "\n  %s: fits, but held for %s (reserved, starts %s); its time limit ends "
                  "later",
                  w->name, s_name(&tab->steps[res[b - 1].step]), when);
        } else {
            s_put(&o, "\n  %s: fits", w->name);
        }
    }
    if (more)
        s_put(&o, "\n  ... %zu more", more);
    free(res);
    return 0;
}
