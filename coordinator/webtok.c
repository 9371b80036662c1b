/* webtok — see webtok.h.
 *
 * The table holds digests, never tokens. Its index is the digest's first
 * eight bytes (already uniform: no second hash), linear probing, at most
 * half full; a revoked slot becomes a tombstone that probes walk past and
 * inserts reuse. Digests are compared with memcmp: the time it takes tells
 * a caller about sha256 of its guess, not about any token.
 */
#include "webtok.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "keys.h"
#include "log.h"
#include "sha256.h"
#include "util.h"

enum { SLOT_FREE = 0, SLOT_LIVE = 1, SLOT_DEAD = 2 };

typedef struct {
    uint8_t digest[SHA256_DIGEST_LEN];
    int64_t id;
    int64_t expires_us;
    char key[KEYS_NAME_MAX];
    int state;
} slot_t;

struct webtok {
    slot_t *slots;
    size_t cap;        /* a power of two */
    size_t live, used; /* used = live + tombstones */
};

webtok_t *webtok_new(void)
{
    webtok_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cap = 64;
    w->slots = calloc(w->cap, sizeof *w->slots);
    if (!w->slots) {
        free(w);
        return NULL;
    }
    return w;
}

void webtok_destroy(webtok_t **wp)
{
    if (!wp || !*wp)
        return;
    free((*wp)->slots);
    free(*wp);
    *wp = NULL;
}

size_t webtok_count(const webtok_t *w)
{
    return w->live;
}

static size_t s_index(const uint8_t *d, size_t cap)
{
    uint64_t h;
    memcpy(&h, d, sizeof h);
    return (size_t)h & (cap - 1);
}

/* The live slot of digest d, or NULL. */
static slot_t *s_find(const webtok_t *w, const uint8_t *d)
{
    for (size_t i = s_index(d, w->cap), n = 0; n < w->cap; i = (i + 1) & (w->cap - 1), n++) {
        slot_t *s = &w->slots[i];
        if (s->state == SLOT_FREE)
            return NULL;
        if (s->state == SLOT_LIVE && memcmp(s->digest, d, sizeof s->digest) == 0)
            return s;
    }
    return NULL;
}

/* Puts a slot in a table known to have room (no growth). */
static void s_place(slot_t *slots, size_t cap, const slot_t *v)
{
    size_t i = s_index(v->digest, cap);
    while (slots[i].state == SLOT_LIVE)
        i = (i + 1) & (cap - 1);
    slots[i] = *v;
    slots[i].state = SLOT_LIVE;
}

/* Rebuilds the table at newcap (drops tombstones). 0 or -1 (ENOMEM). */
static int s_rehash(webtok_t *w, size_t newcap)
{
    slot_t *ns = calloc(newcap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < w->cap; i++)
        if (w->slots[i].state == SLOT_LIVE)
            s_place(ns, newcap, &w->slots[i]);
    free(w->slots);
    w->slots = ns;
    w->cap = newcap;
    w->used = w->live;
    return 0;
}

static int s_add(webtok_t *w, const uint8_t *d, int64_t id, const char *key, int64_t expires_us)
{
    if ((w->used + 1) * 2 > w->cap) {
        size_t nc = w->cap; /* the same size when tombstones filled it */
        while ((w->live + 1) * 4 > nc)
            nc *= 2;
        if (s_rehash(w, nc) < 0)
            return -1;
    }
    slot_t v = {0};
    memcpy(v.digest, d, sizeof v.digest);
    v.id = id;
    v.expires_us = expires_us;
    util_strlcpy(v.key, key, sizeof v.key);
    size_t i = s_index(d, w->cap);
    while (w->slots[i].state == SLOT_LIVE)
        i = (i + 1) & (w->cap - 1);
    if (w->slots[i].state == SLOT_FREE)
        w->used++;
    w->slots[i] = v;
    w->slots[i].state = SLOT_LIVE;
    w->live++;
    return 0;
}

/* token text -> digest; -1 when it is not of the token's shape. */
static int s_digest(const char *token, uint8_t d[SHA256_DIGEST_LEN])
{
    if (!token || strlen(token) != WEBTOK_TEXT_LEN || strncmp(token, "drw_", 4) != 0)
        return -1;
    for (const char *p = token + 4; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return -1;
    sha256_buffer(token, WEBTOK_TEXT_LEN, d);
    return 0;
}

static int s_hex_digest(const char *hex, uint8_t d[SHA256_DIGEST_LEN])
{
    if (!sha256_is_hex(hex))
        return -1;
    for (int i = 0; i < SHA256_DIGEST_LEN; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        d[i] = (uint8_t)v;
    }
    return 0;
}

static int s_load_one(void *ctx, int64_t id, const char *hex, const char *key, int64_t expires_us)
{
    webtok_t *w = ctx;
    uint8_t d[SHA256_DIGEST_LEN];
    if (s_hex_digest(hex, d) < 0) {
        log_warn("web token %lld: stored hash is not 64 hex digits; ignored", (long long)id);
        return 0;
    }
    return s_add(w, d, id, key, expires_us);
}

int webtok_load(webtok_t *w, store_t *st)
{
    webtok_t *n = webtok_new();
    if (!n)
        return -1;
    if (store_webtokens_load(st, s_load_one, n) < 0) {
        webtok_destroy(&n);
        return -1;
    }
    free(w->slots);
    *w = *n;
    free(n);
    return 0;
}

const char *webtok_resolve(const webtok_t *w, const char *token, int64_t now_us)
{
    uint8_t d[SHA256_DIGEST_LEN];
    if (s_digest(token, d) < 0)
        return NULL;
    const slot_t *s = s_find(w, d);
    if (!s || now_us >= s->expires_us)
        return NULL;
    return s->key;
}

/* Drops the slot at i (a tombstone: probes walk past it). */
static void s_drop(webtok_t *w, size_t i)
{
    w->slots[i].state = SLOT_DEAD;
    memset(w->slots[i].digest, 0, sizeof w->slots[i].digest);
    w->live--;
}

int webtok_create(webtok_t *w, store_t *st, const char *key, int64_t ttl_s, const char *by,
                  int64_t now_us, char *out, int64_t *id, int64_t *expires_us, char *msg,
                  size_t msglen)
{
    /* Creates are rare (an admin's command): one pass drops the expired
     * tokens, so they count toward neither bound, and counts key's. */
    size_t mine = 0;
    for (size_t i = 0; i < w->cap; i++) {
        if (w->slots[i].state != SLOT_LIVE)
            continue;
        if (now_us >= w->slots[i].expires_us)
            s_drop(w, i);
        else
            mine += strcmp(w->slots[i].key, key) == 0;
    }
    if (w->live >= WEBTOK_MAX || mine >= WEBTOK_PER_KEY_MAX) {
        if (w->live >= WEBTOK_MAX)
            snprintf(msg, msglen,
                     "%d web tokens are valid already (the most kept): revoke some first "
                     "(drover web-token list)",
                     WEBTOK_MAX);
        else
            snprintf(msg, msglen,
                     "key '%s' has %d valid web tokens already (the most for one key): revoke "
                     "some first (drover web-token list)",
                     key, WEBTOK_PER_KEY_MAX);
        return 1;
    }
    uint8_t raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        log_error("getrandom: %s", strerror(errno));
        return -1;
    }
    memcpy(out, "drw_", 4);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 4 + 2 * i, 3, "%02x", raw[i]);
    uint8_t d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256_buffer(out, WEBTOK_TEXT_LEN, d);
    sha256_hex(d, hex);
    memset(raw, 0, sizeof raw);
    if (store_webtoken_insert(st, hex, key, by, ttl_s, id, expires_us) < 0 ||
        s_add(w, d, *id, key, *expires_us) < 0) {
        memset(out, 0, WEBTOK_TEXT_LEN + 1);
        return -1;
    }
    snprintf(msg, msglen, "web token %lld made for key '%s'", (long long)*id, key);
    return 0;
}

int webtok_revoke(webtok_t *w, store_t *st, int64_t id, const char *by, char *msg, size_t msglen)
{
    int n = store_webtoken_revoke(st, id, by);
    if (n < 0)
        return -1;
    for (size_t i = 0; i < w->cap; i++)
        if (w->slots[i].state == SLOT_LIVE && w->slots[i].id == id) {
            s_drop(w, i);
            break;
        }
    if (n == 0) {
        snprintf(msg, msglen, "no valid web token %lld (see: drover web-token list)",
                 (long long)id);
        return 1;
    }
    snprintf(msg, msglen, "web token %lld revoked: its sessions end at their next request",
             (long long)id);
    return 0;
}
