/* client — see client.h.
 *
 * Request ids start at a random value and count up, so a reply meant for a
 * previous drover process that used the same socket identity (none: DEALER
 * identities are random) or for an abandoned call in this one is never
 * mistaken for the current answer.
 */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "util.h"
#include "wire.h"
#include "wirecheck.h"

struct client {
    void *ctx;
    void *sock;
    char *endpoint;
    int curve; /* 1 = keys below are set */
    client_curve_t keys;
    uint64_t next_id;
    uint64_t dropped;
};

static void s_close_socket(client_t *c)
{
    if (c->sock) {
        zmq_close(c->sock);
        c->sock = NULL;
    }
}

static int s_open_socket(client_t *c, char *err, size_t errlen)
{
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!c->sock) {
        snprintf(err, errlen, "cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
        return -1;
    }
    if (wire_socket_setup(c->sock, WIRE_MAX_MSG_DEFAULT) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot set up the ZeroMQ socket: %s", zmq_strerror(e));
        s_close_socket(c);
        errno = e;
        return -1;
    }
    /* CURVE options must be set before connect: they apply to the
     * connection's handshake. */
    if (c->curve && (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->keys.server_public, 41) < 0 ||
                     zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->keys.public_key, 41) < 0 ||
                     zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->keys.secret_key, 41) < 0)) {
        int e = errno;
        snprintf(err, errlen,
                 "cannot set up CURVE on the ZeroMQ socket: %s (libzmq without CURVE?)",
                 zmq_strerror(e));
        s_close_socket(c);
        errno = e;
        return -1;
    }
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot use coordinator endpoint '%s': %s", c->endpoint,
                 zmq_strerror(e));
        s_close_socket(c);
        errno = e;
        return -1;
    }
    return 0;
}

static uint64_t s_random_id(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        /* Uniqueness across calls is what matters; this is good enough. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
    }
    /* Keep ids well inside JSON's exact-integer range when logged. */
    return (v >> 12) | 1;
}

int client_curve_load(client_curve_t *curve, const char *secret_file, const char *server_file,
                      char *err, size_t errlen)
{
    keys_pair_t mine, theirs;
    memset(curve, 0, sizeof *curve);
    if (keys_load(secret_file, 1, &mine, err, errlen) < 0)
        return -1;
    if (keys_load(server_file, 0, &theirs, err, errlen) < 0) {
        keys_wipe(&mine);
        return -1;
    }
    util_strlcpy(curve->server_public, theirs.public_z85, sizeof curve->server_public);
    util_strlcpy(curve->public_key, mine.public_z85, sizeof curve->public_key);
    util_strlcpy(curve->secret_key, mine.secret_z85, sizeof curve->secret_key);
    keys_wipe(&mine);
    return 0;
}

client_t *client_new(const char *endpoint, const client_curve_t *curve, char *err, size_t errlen)
{
    client_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    if (curve) {
        c->curve = 1;
        c->keys = *curve;
    }
    c->endpoint = strdup(endpoint);
    if (!c->endpoint) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        goto fail;
    }
    c->ctx = zmq_ctx_new();
    if (!c->ctx) {
        snprintf(err, errlen, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto fail;
    }
    if (s_open_socket(c, err, errlen) < 0)
        goto fail;
    c->next_id = s_random_id();
    return c;
fail:;
    int e = errno;
    client_destroy(&c);
    errno = e;
    return NULL;
}

void client_destroy(client_t **cp)
{
    if (!cp || !*cp)
        return;
    client_t *c = *cp;
    s_close_socket(c);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    free(c->endpoint);
    volatile char *sec = c->keys.secret_key;
    for (size_t i = 0; i < sizeof c->keys.secret_key; i++)
        sec[i] = 0;
    free(c);
    *cp = NULL;
}

const char *client_endpoint(const client_t *c)
{
    return c->endpoint;
}

uint64_t client_dropped(const client_t *c)
{
    return c->dropped;
}

/* Reads every waiting message; returns the one answering id, or NULL
 * (errno EAGAIN when nothing matching was waiting). */
static Drover__ClientReply *s_take_reply(client_t *c, uint64_t id)
{
    for (;;) {
        wire_msg_t m;
        int rc = wire_recv(c->sock, 0, &m);
        if (rc == 0) {
            errno = EAGAIN;
            return NULL;
        }
        if (rc < 0)
            return NULL;
        if (rc == 2) {
            c->dropped++;
            continue;
        }
        char why[200];
        Drover__ClientReply *rep = wirecheck_client_reply(m.data, m.len, why, sizeof why);
        wire_msg_clear(&m);
        if (!rep) {
            c->dropped++;
            continue;
        }
        if (rep->request_id == id)
            return rep;
        drover__client_reply__free_unpacked(rep, NULL); /* late answer to an abandoned call */
    }
}

Drover__ClientReply *client_call(client_t *c, Drover__ClientRequest *req, int64_t timeout_ms)
{
    char err[256];
    if (!c->sock && s_open_socket(c, err, sizeof err) < 0)
        return NULL;
    uint64_t id = c->next_id++;
    req->version = DROVER_PROTOCOL_VERSION;
    req->request_id = id;
    if (wire_send(c->sock, NULL, 0, &req->base) < 0) {
        /* EAGAIN: the pipe to a never-connected peer is full; same as silence. */
        if (errno != EAGAIN)
            return NULL;
        s_close_socket(c);
        errno = ETIMEDOUT;
        return NULL;
    }
    int64_t deadline = util_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - util_mono_ms();
        if (left <= 0)
            break;
        zmq_pollitem_t item = {.socket = c->sock, .events = ZMQ_POLLIN};
        int n = zmq_poll(&item, 1, (long)left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (n == 0)
            continue; /* the loop re-checks the deadline */
        Drover__ClientReply *rep = s_take_reply(c, id);
        if (rep)
            return rep;
        if (errno != EAGAIN)
            return NULL;
    }
    /* Drop the queued request and any late reply with the socket. */
    s_close_socket(c);
    errno = ETIMEDOUT;
    return NULL;
}
