/* auth — see auth.h. */
#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "keys.h"
#include "log.h"
#include "util.h"

typedef struct {
    char name[KEYS_NAME_MAX];
    char public_z85[KEYS_Z85_LEN + 1];
    char kind[8]; /* worker | client */
    auth_role_t role;
    int revoked;
} key_t_;

typedef struct {
    char name[KEYS_NAME_MAX];
    double tokens;
    int64_t last_ms;
} bucket_t;

struct auth {
    int secure;
    int rate;
    key_t_ *keys;
    size_t nkeys, capkeys;
    bucket_t *buckets;
    size_t nbuckets, capbuckets;
    uint64_t refused;                        /* handshakes ZAP refused */
    char last_refused[2][KEYS_Z85_LEN + 16]; /* per socket: "kind:key", for rate-limited logging */
    int64_t last_refused_ms[2];
};

static const char *s_roles[] = {"none", "reader", "submitter", "admin"};

const char *auth_role_name(auth_role_t r)
{
    if (r == AUTH_ROLE_WEB)
        return "web";
    return (unsigned)r < 4 ? s_roles[r] : "none";
}

auth_role_t auth_role_parse(const char *s)
{
    if (s && strcmp(s, "web") == 0)
        return AUTH_ROLE_WEB;
    for (int i = 1; i < 4; i++)
        if (s && strcmp(s, s_roles[i]) == 0)
            return (auth_role_t)i;
    return AUTH_ROLE_NONE;
}

auth_t *auth_new(int secure, int client_rate)
{
    auth_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->secure = secure;
    a->rate = client_rate > 0 ? client_rate : 500;
    return a;
}

void auth_destroy(auth_t **ap)
{
    if (!ap || !*ap)
        return;
    free((*ap)->keys);
    free((*ap)->buckets);
    free(*ap);
    *ap = NULL;
}

int auth_secure(const auth_t *a)
{
    return a->secure;
}

static int s_push(auth_t *a, const key_t_ *k)
{
    if (a->nkeys == a->capkeys) {
        size_t nc = a->capkeys ? a->capkeys * 2 : 16;
        key_t_ *nk = realloc(a->keys, nc * sizeof *nk);
        if (!nk)
            return -1;
        a->keys = nk;
        a->capkeys = nc;
    }
    a->keys[a->nkeys++] = *k;
    return 0;
}

int auth_load(auth_t *a, store_t *st)
{
    PGresult *r = store_keys_load(st);
    if (!r)
        return -1;
    a->nkeys = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        key_t_ k = {0};
        util_strlcpy(k.name, db_get_str(r, i, 0), sizeof k.name);
        util_strlcpy(k.public_z85, db_get_str(r, i, 1), sizeof k.public_z85);
        util_strlcpy(k.kind, db_get_str(r, i, 2), sizeof k.kind);
        k.role = auth_role_parse(db_get_str(r, i, 3));
        k.revoked = strcmp(db_get_str(r, i, 4), "t") == 0;
        if (s_push(a, &k) < 0) {
            PQclear(r);
            return -1;
        }
    }
    PQclear(r);
    return 0;
}

static key_t_ *s_by_name(auth_t *a, const char *name)
{
    for (size_t i = 0; i < a->nkeys; i++)
        if (strcmp(a->keys[i].name, name) == 0)
            return &a->keys[i];
    return NULL;
}

static key_t_ *s_by_public(auth_t *a, const char *z85)
{
    for (size_t i = 0; i < a->nkeys; i++)
        if (strcmp(a->keys[i].public_z85, z85) == 0)
            return &a->keys[i];
    return NULL;
}

int auth_allow(auth_t *a, store_t *st, const char *name, const char *kind, const char *role,
               const char *public_z85, const char *by, char *msg, size_t msglen)
{
    auth_role_t r = AUTH_ROLE_NONE;
    if (!keys_valid_name(name)) {
        snprintf(msg, msglen, "'%s' is not a usable key name", name);
        return 1;
    }
    if (!keys_valid_z85(public_z85)) {
        snprintf(msg, msglen, "not a CURVE public key (40 Z85 characters)");
        return 1;
    }
    if (strcmp(kind, "worker") == 0) {
        role = NULL;
    } else if (strcmp(kind, "client") == 0) {
        r = auth_role_parse(role);
        if (r == AUTH_ROLE_NONE) {
            snprintf(msg, msglen, "a client key needs --role admin, submitter, reader or web");
            return 1;
        }
    } else {
        snprintf(msg, msglen, "kind must be worker or client");
        return 1;
    }
    key_t_ *same = s_by_public(a, public_z85);
    if (same) {
        snprintf(msg, msglen, "this public key is already allowed as '%s'%s", same->name,
                 same->revoked ? " (revoked: a revoked key cannot come back; make a new one)" : "");
        return 1;
    }
    if (s_by_name(a, name)) {
        snprintf(msg, msglen, "a key named '%s' exists already (names are never reused)", name);
        return 1;
    }
    int n = store_key_insert(st, name, public_z85, kind, role, by);
    if (n < 0)
        return -1;
    if (n == 0) {
        snprintf(msg, msglen, "a key named '%s' or with this public key exists already", name);
        return 1;
    }
    key_t_ k = {0};
    util_strlcpy(k.name, name, sizeof k.name);
    util_strlcpy(k.public_z85, public_z85, sizeof k.public_z85);
    util_strlcpy(k.kind, kind, sizeof k.kind);
    k.role = r;
    if (s_push(a, &k) < 0)
        return -1;
    snprintf(msg, msglen, "%s key '%s' allowed%s%s", kind, name, r ? " as " : "",
             r ? auth_role_name(r) : "");
    log_info("%s (by %s)", msg, by);
    return 0;
}

int auth_revoke(auth_t *a, store_t *st, const char *name, const char *by, char *msg, size_t msglen)
{
    key_t_ *k = s_by_name(a, name);
    if (!k) {
        snprintf(msg, msglen, "no key named '%s' (see: drover keys list)", name);
        return 1;
    }
    if (k->revoked) {
        snprintf(msg, msglen, "key '%s' is already revoked", name);
        return 0;
    }
    if (store_key_revoke(st, name, by) < 0)
        return -1;
    k->revoked = 1;
    snprintf(msg, msglen, "key '%s' revoked: its connections are refused from now on", name);
    log_info("%s (by %s)", msg, by);
    return 0;
}

int auth_bootstrap(auth_t *a, store_t *st, char paths[][1024], int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        keys_pair_t kp;
        if (keys_load(paths[i], 0, &kp, err, errlen) < 0)
            return 1;
        if (s_by_public(a, kp.public_z85))
            continue; /* allowed (or revoked) before: leave it */
        char msg[256];
        int rc = auth_allow(a, st, kp.name, "client", "admin", kp.public_z85, "config admin_keys",
                            msg, sizeof msg);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            snprintf(err, errlen, "%s: %s", paths[i], msg);
            return 1;
        }
    }
    return 0;
}

/* Sends one ZAP reply (RFC 27): version, request id, status, text, user id, metadata. */
static void s_zap_reply(void *sock, const zmq_msg_t *reqid, const char *code, const char *text,
                        const char *user)
{
    int ok = zmq_send(sock, "1.0", 3, ZMQ_SNDMORE) >= 0 &&
             zmq_send(sock, zmq_msg_data((zmq_msg_t *)reqid), zmq_msg_size((zmq_msg_t *)reqid),
                      ZMQ_SNDMORE) >= 0 &&
             zmq_send(sock, code, strlen(code), ZMQ_SNDMORE) >= 0 &&
             zmq_send(sock, text, strlen(text), ZMQ_SNDMORE) >= 0 &&
             zmq_send(sock, user, strlen(user), ZMQ_SNDMORE) >= 0 && zmq_send(sock, "", 0, 0) >= 0;
    /* An unanswered request leaves that one handshake pending; the peer
     * retries, so log it and keep serving. */
    if (!ok)
        log_error("cannot answer a ZAP request: %s", zmq_strerror(errno));
}

void auth_zap(auth_t *a, void *sock)
{
    for (;;) {
        zmq_msg_t f[7];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                if (n == 0)
                    return; /* nothing waiting */
                more = 0;
                break;
            }
            more = zmq_msg_more(&part);
            if (n < 7)
                f[n++] = part;
            else
                zmq_msg_close(&part);
        }
        /* version, request id, domain, address, identity, mechanism, key */
        if (n < 6) {
            for (int i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
            continue;
        }
        char domain[64] = "", mech[16] = "", z85[KEYS_Z85_LEN + 1] = "";
        snprintf(domain, sizeof domain, "%.*s", (int)zmq_msg_size(&f[2]),
                 (char *)zmq_msg_data(&f[2]));
        snprintf(mech, sizeof mech, "%.*s", (int)zmq_msg_size(&f[5]), (char *)zmq_msg_data(&f[5]));
        const char *kind = strcmp(domain, "drover-worker") == 0   ? "worker"
                           : strcmp(domain, "drover-client") == 0 ? "client"
                                                                  : NULL;
        key_t_ *k = NULL;
        if (n == 7 && strcmp(mech, "CURVE") == 0 && zmq_msg_size(&f[6]) == 32 &&
            zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32))
            k = s_by_public(a, z85);
        char user[96];
        if (kind && k && !k->revoked && strcmp(k->kind, kind) == 0) {
            snprintf(user, sizeof user, "%s:%s", kind, k->name);
            s_zap_reply(sock, &f[1], "200", "OK", user);
        } else {
            const char *why = !kind        ? "unknown domain"
                              : !k         ? "key not allowed"
                              : k->revoked ? "key revoked"
                                           : "key of the wrong kind";
            /* A refused peer reconnects every second or so, and a hostile
             * one may bring a new key each time: log a refusal once per key
             * and minute, and at most one refusal per second per socket;
             * count the rest (the count is in every line). */
            a->refused++;
            int64_t now = util_mono_ms();
            char who[KEYS_Z85_LEN + 16];
            snprintf(who, sizeof who, "%s:%s", kind ? kind : "?", z85);
            int sl = kind && !strcmp(kind, "worker");
            if ((strcmp(a->last_refused[sl], who) != 0 && now - a->last_refused_ms[sl] >= 1000) ||
                now - a->last_refused_ms[sl] >= 60000) {
                util_strlcpy(a->last_refused[sl], who, sizeof a->last_refused[sl]);
                a->last_refused_ms[sl] = now;
                log_warn("refused a %s connection: %s (public key %s; %llu refusals so far); "
                         "allow it with: drover keys allow %s FILE.pub",
                         kind ? kind : "?", why, z85[0] ? z85 : "none",
                         (unsigned long long)a->refused, kind ? kind : "worker|client");
            }
            s_zap_reply(sock, &f[1], "400", why, "");
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
}

int auth_peer(auth_t *a, const char *user_id, const char *kind, const char **name,
              auth_role_t *role, char *why, size_t whylen)
{
    if (!a->secure) {
        *name = "insecure";
        *role = AUTH_ROLE_ADMIN;
        return 0;
    }
    size_t kl = strlen(kind);
    if (strncmp(user_id, kind, kl) != 0 || user_id[kl] != ':') {
        snprintf(why, whylen, "not authenticated as a %s", kind);
        return -1;
    }
    key_t_ *k = s_by_name(a, user_id + kl + 1);
    if (!k || k->revoked) {
        snprintf(why, whylen, "key '%s' is %s", user_id + kl + 1, k ? "revoked" : "not allowed");
        return -1;
    }
    *name = k->name;
    *role = k->role;
    return 0;
}

int auth_rate_ok(auth_t *a, const char *name, int64_t now_ms)
{
    return auth_bucket_ok(a, name, a->rate, now_ms);
}

int auth_bucket_ok(auth_t *a, const char *name, int rate, int64_t now_ms)
{
    bucket_t *b = NULL;
    for (size_t i = 0; i < a->nbuckets; i++)
        if (strcmp(a->buckets[i].name, name) == 0) {
            b = &a->buckets[i];
            break;
        }
    if (!b) {
        if (a->nbuckets == a->capbuckets) {
            size_t nc = a->capbuckets ? a->capbuckets * 2 : 16;
            bucket_t *nb = realloc(a->buckets, nc * sizeof *nb);
            if (!nb)
                return 1; /* no memory to limit with: do not refuse service */
            a->buckets = nb;
            a->capbuckets = nc;
        }
        b = &a->buckets[a->nbuckets++];
        util_strlcpy(b->name, name, sizeof b->name);
        b->tokens = 2.0 * rate;
        b->last_ms = now_ms;
    }
    b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
    if (b->tokens > 2.0 * rate)
        b->tokens = 2.0 * rate;
    b->last_ms = now_ms;
    if (b->tokens < 1.0)
        return 0;
    b->tokens -= 1.0;
    return 1;
}

auth_role_t auth_key_role(auth_t *a, const char *name)
{
    key_t_ *k = s_by_name(a, name);
    return k && !k->revoked ? k->role : AUTH_ROLE_NONE;
}

const char *auth_key_kind(auth_t *a, const char *name)
{
    key_t_ *k = s_by_name(a, name);
    return k && !k->revoked ? k->kind : NULL;
}

char *auth_list_json(auth_t *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < a->nkeys; i++) {
        const key_t_ *k = &a->keys[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", k->name, "kind", k->kind, "role",
                              k->role ? auth_role_name(k->role) : "", "public_key", k->public_z85,
                              "revoked", k->revoked);
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return s;
}
