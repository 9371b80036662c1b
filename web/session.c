/* session — see session.h. A flat array searched linearly under one mutex:
 * max_sessions is small (1024 by default) and a lookup compares ids in
 * constant time each, so a guess learns nothing from timing. */
#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

typedef struct {
    int used;
    session_t s;
    double tokens; /* rate bucket */
    int64_t last_ms;
} slot_t;

struct sessions {
    pthread_mutex_t mu;
    slot_t *slots;
    size_t max, n;
    int64_t ttl_s;
    unsigned rate;
};

int sessions_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static int s_random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    if (nbytes > sizeof raw || getrandom(raw, nbytes, 0) != (ssize_t)nbytes)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
    memset(raw, 0, sizeof raw);
    return 0;
}

sessions_t *sessions_new(size_t max, int64_t ttl_s, unsigned rate)
{
    sessions_t *ss = calloc(1, sizeof *ss);
    if (!ss)
        return NULL;
    ss->slots = calloc(max, sizeof *ss->slots);
    if (!ss->slots) {
        free(ss);
        return NULL;
    }
    pthread_mutex_init(&ss->mu, NULL);
    ss->max = max;
    ss->ttl_s = ttl_s;
    ss->rate = rate;
    return ss;
}

static void s_clear(sessions_t *ss, slot_t *sl)
{
    volatile char *p = (volatile char *)sl;
    for (size_t i = 0; i < sizeof *sl; i++)
        p[i] = 0;
    ss->n--;
}

void sessions_destroy(sessions_t **sp)
{
    if (!sp || !*sp)
        return;
    sessions_t *ss = *sp;
    for (size_t i = 0; i < ss->max; i++)
        if (ss->slots[i].used)
            s_clear(ss, &ss->slots[i]);
    free(ss->slots);
    pthread_mutex_destroy(&ss->mu);
    free(ss);
    *sp = NULL;
}

/* The live slot of id, or NULL; drops it when expired. Under mu. */
static slot_t *s_find(sessions_t *ss, const char *id)
{
    if (strlen(id) != SESSION_ID_LEN)
        return NULL;
    slot_t *hit = NULL;
    int64_t now = util_now_us();
    for (size_t i = 0; i < ss->max; i++) {
        slot_t *sl = &ss->slots[i];
        if (!sl->used)
            continue;
        if (now >= sl->s.expires_us) {
            s_clear(ss, sl);
            continue;
        }
        if (sessions_equal(sl->s.id, id))
            hit = sl;
    }
    return hit;
}

int sessions_create(sessions_t *ss, const char *token, const char *user, const char *role,
                    int approver, session_t *out)
{
    session_t s = {0};
    if (s_random_hex(s.id, SESSION_ID_LEN / 2) < 0 ||
        s_random_hex(s.csrf, SESSION_ID_LEN / 2) < 0) {
        errno = EIO;
        return -1;
    }
    util_strlcpy(s.token, token, sizeof s.token);
    util_strlcpy(s.user, user, sizeof s.user);
    util_strlcpy(s.role, role, sizeof s.role);
    s.approver = approver;
    s.expires_us = util_now_us() + ss->ttl_s * 1000000;
    pthread_mutex_lock(&ss->mu);
    slot_t *free_slot = NULL;
    int64_t now = util_now_us();
    for (size_t i = 0; i < ss->max; i++) {
        slot_t *sl = &ss->slots[i];
        if (sl->used && now >= sl->s.expires_us)
            s_clear(ss, sl);
        if (!sl->used && !free_slot)
            free_slot = sl;
    }
    if (!free_slot) {
        pthread_mutex_unlock(&ss->mu);
        memset(&s, 0, sizeof s);
        errno = ENOSPC;
        return -1;
    }
    free_slot->used = 1;
    free_slot->s = s;
    free_slot->tokens = 2.0 * ss->rate;
    free_slot->last_ms = util_mono_ms();
    ss->n++;
    *out = s;
    pthread_mutex_unlock(&ss->mu);
    memset(&s, 0, sizeof s);
    return 0;
}

int sessions_get(sessions_t *ss, const char *id, session_t *out, int *rate_ok)
{
    pthread_mutex_lock(&ss->mu);
    slot_t *sl = s_find(ss, id);
    if (!sl) {
        pthread_mutex_unlock(&ss->mu);
        errno = ENOENT;
        return -1;
    }
    if (rate_ok) {
        int64_t now = util_mono_ms();
        sl->tokens += (double)(now - sl->last_ms) * ss->rate / 1000.0;
        if (sl->tokens > 2.0 * ss->rate)
            sl->tokens = 2.0 * ss->rate;
        sl->last_ms = now;
        *rate_ok = sl->tokens >= 1.0;
        if (*rate_ok)
            sl->tokens -= 1.0;
    }
    *out = sl->s;
    pthread_mutex_unlock(&ss->mu);
    return 0;
}

void sessions_update(sessions_t *ss, const char *id, const char *role, int approver)
{
    pthread_mutex_lock(&ss->mu);
    slot_t *sl = s_find(ss, id);
    if (sl) {
        util_strlcpy(sl->s.role, role, sizeof sl->s.role);
        sl->s.approver = approver;
    }
    pthread_mutex_unlock(&ss->mu);
}

void sessions_drop(sessions_t *ss, const char *id)
{
    pthread_mutex_lock(&ss->mu);
    slot_t *sl = s_find(ss, id);
    if (sl)
        s_clear(ss, sl);
    pthread_mutex_unlock(&ss->mu);
}

void sessions_drop_token(sessions_t *ss, const char *token)
{
    pthread_mutex_lock(&ss->mu);
    for (size_t i = 0; i < ss->max; i++)
        if (ss->slots[i].used && sessions_equal(ss->slots[i].s.token, token))
            s_clear(ss, &ss->slots[i]);
    pthread_mutex_unlock(&ss->mu);
}

size_t sessions_count(sessions_t *ss)
{
    pthread_mutex_lock(&ss->mu);
    size_t n = ss->n;
    pthread_mutex_unlock(&ss->mu);
    return n;
}
