/* coord — see coord.h. */
#include "coord.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

struct coord {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    client_t **clients;
    int *busy;
    size_t n;
    int64_t timeout_ms;
    char endpoint[256];
    client_curve_t curve;
};

coord_t *coord_new(const webconf_t *cfg, char *err, size_t errlen)
{
    coord_t *c = calloc(1, sizeof *c);
    if (!c) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->freed, NULL);
    c->timeout_ms = cfg->coordinator_timeout_ms;
    util_strlcpy(c->endpoint, cfg->coordinator, sizeof c->endpoint);
    if (client_curve_load(&c->curve, cfg->secret_key, cfg->coordinator_key, err, errlen) < 0)
        goto fail;
    c->n = (size_t)cfg->coordinator_sockets;
    c->clients = calloc(c->n, sizeof *c->clients);
    c->busy = calloc(c->n, sizeof *c->busy);
    if (!c->clients || !c->busy) {
        util_errf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < c->n; i++)
        if (!(c->clients[i] = client_new(c->endpoint, &c->curve, err, errlen)))
            goto fail;
    return c;
fail:
    coord_destroy(&c);
    return NULL;
}

void coord_destroy(coord_t **cp)
{
    if (!cp || !*cp)
        return;
    coord_t *c = *cp;
    for (size_t i = 0; c->clients && i < c->n; i++)
        client_destroy(&c->clients[i]);
    free(c->clients);
    free(c->busy);
    volatile char *sec = c->curve.secret_key;
    for (size_t i = 0; i < sizeof c->curve.secret_key; i++)
        sec[i] = 0;
    pthread_cond_destroy(&c->freed);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *cp = NULL;
}

client_t *coord_open(coord_t *c)
{
    char err[512];
    client_t *cl = client_new(c->endpoint, &c->curve, err, sizeof err);
    if (!cl)
        log_warn("cannot open a coordinator socket: %s", err);
    return cl;
}

Drover__ClientReply *coord_call_on(client_t *cl, const char *token, Drover__ClientRequest *req,
                                   int64_t timeout_ms)
{
    req->web_token = (char *)(token ? token : "");
    Drover__ClientReply *rep = client_call(cl, req, timeout_ms);
    req->web_token = NULL;
    return rep;
}

Drover__ClientReply *coord_call(coord_t *c, const char *token, Drover__ClientRequest *req,
                                int64_t timeout_ms)
{
    if (timeout_ms <= 0)
        timeout_ms = c->timeout_ms;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += (time_t)(timeout_ms / 1000);
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    size_t slot = c->n;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        for (size_t i = 0; i < c->n && slot == c->n; i++)
            if (!c->busy[i])
                slot = i;
        if (slot < c->n)
            break;
        if (pthread_cond_timedwait(&c->freed, &c->mu, &dl) == ETIMEDOUT) {
            pthread_mutex_unlock(&c->mu);
            errno = ETIMEDOUT;
            return NULL;
        }
    }
    c->busy[slot] = 1;
    pthread_mutex_unlock(&c->mu);
    Drover__ClientReply *rep = coord_call_on(c->clients[slot], token, req, timeout_ms);
    int e = errno;
    pthread_mutex_lock(&c->mu);
    c->busy[slot] = 0;
    pthread_cond_signal(&c->freed);
    pthread_mutex_unlock(&c->mu);
    errno = e;
    return rep;
}
