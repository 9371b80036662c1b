/* idmap — see idmap.h. Linear probing with backward-shift deletion, so no
 * tombstones accumulate under the steady insert/delete churn of tasks. */
#include "idmap.h"

#include <errno.h>
#include <stdlib.h>

typedef struct {
    int64_t id; /* 0 = empty */
    void *val;
} slot_t;

struct idmap {
    slot_t *slots;
    size_t cap; /* power of two */
    size_t count;
};

static size_t s_hash(int64_t id, size_t cap)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 17) & (cap - 1);
}

idmap_t *idmap_new(void)
{
    idmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 64;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        errno = ENOMEM;
        return NULL;
    }
    return m;
}

void idmap_destroy(idmap_t **mp)
{
    if (!mp || !*mp)
        return;
    free((*mp)->slots);
    free(*mp);
    *mp = NULL;
}

static int s_grow(idmap_t *m)
{
    size_t ncap = m->cap * 2;
    slot_t *ns = calloc(ncap, sizeof *ns);
    if (!ns) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].id)
            continue;
        size_t j = s_hash(m->slots[i].id, ncap);
        while (ns[j].id)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int idmap_put(idmap_t *m, int64_t id, void *val)
{
    if ((m->count + 1) * 4 > m->cap * 3 && s_grow(m) < 0)
        return -1;
    size_t j = s_hash(id, m->cap);
    while (m->slots[j].id && m->slots[j].id != id)
        j = (j + 1) & (m->cap - 1);
    if (!m->slots[j].id)
        m->count++;
    m->slots[j].id = id;
    m->slots[j].val = val;
    return 0;
}

void *idmap_get(const idmap_t *m, int64_t id)
{
    size_t j = s_hash(id, m->cap);
    while (m->slots[j].id) {
        if (m->slots[j].id == id)
            return m->slots[j].val;
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void idmap_del(idmap_t *m, int64_t id)
{
    size_t j = s_hash(id, m->cap);
    while (m->slots[j].id && m->slots[j].id != id)
        j = (j + 1) & (m->cap - 1);
    if (!m->slots[j].id)
        return;
    m->slots[j].id = 0;
    m->count--;
    /* Shift back later entries of the probe run that hash at or before j. */
    size_t k = (j + 1) & (m->cap - 1);
    while (m->slots[k].id) {
        size_t h = s_hash(m->slots[k].id, m->cap);
        if (((k - h) & (m->cap - 1)) >= ((k - j) & (m->cap - 1))) {
            m->slots[j] = m->slots[k];
            m->slots[k].id = 0;
            j = k;
        }
        k = (k + 1) & (m->cap - 1);
    }
}

size_t idmap_count(const idmap_t *m)
{
    return m->count;
}

void idmap_each(const idmap_t *m, void (*fn)(void *ctx, void *val), void *ctx)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].id)
            fn(ctx, m->slots[i].val);
}
