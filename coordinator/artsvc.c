/* artsvc — the artifact service thread (see artsvc.h).
 *
 * Design. The thread owns its ROUTER socket and answers one request at a
 * time, each bounded: a chunk is at most ARTSVC_CHUNK bytes, read or
 * written with one pread/pwrite, so a request costs O(1 MiB) memory; the
 * only long step is the whole-file hash when an upload completes or a
 * VERIFY arrives, which is why this is not the loop's job. Credit is the
 * worker's: it keeps at most a few chunks in flight, and ZMQ_RCVHWM bounds
 * what one peer can queue here.
 *
 * Resumption needs no state in memory: the partial upload is the file
 * ROOT/.partial/HEX, and the offset a PUT may write at is its size. A
 * worker that reconnects (or restarts) asks PUT_BEGIN again and continues
 * from there. Two workers uploading the same bytes append to the same file
 * at the same offsets; a chunk for the wrong offset is refused with the
 * right one, so they cannot interleave garbage (and the final hash would
 * catch it anyway).
 *
 * Shared with the loop (mutex m): the grants table (who may move what) and
 * a ring of recently verified artifacts. The loop never waits on I/O
 * behind the mutex: the thread holds it only to look up or copy entries.
 */
#include "artsvc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "artifact.h"
#include "log.h"
#include "sha256.h"
#include "util.h"
#include "wire.h"
#include "wirecheck.h"

#define VERIFIED_RING  4096
#define RUNNING_HASHES 64 /* uploads hashed as they arrive (the thread's own) */

typedef struct {
    uint64_t task_id;
    uint32_t attempt;
    char peer[128];
    int upload;
    char (*inputs)[65];
    size_t ninputs;
    uint64_t seq; /* age, for eviction when full */
} grant_t;

typedef struct {
    char hex[65];
    uint64_t size;
} verified_t;

/* An upload's hash so far: its bytes are hashed as they are appended, so
 * completing it costs no second read of the file. */
typedef struct {
    char hex[65]; /* "" = free */
    uint64_t upto;
    uint64_t used;
    sha256_ctx_t ctx;
} running_t;

struct artsvc {
    void *sock;
    char *root;
    uint64_t max_size;
    int secure;
    pthread_t thread;
    int started;
    atomic_int stop;
    atomic_ullong refused;
    int64_t next_log_ms; /* refusals are logged once a second at most */
    uint64_t unlogged;   /* ... the rest counted here until the next line */

    pthread_mutex_t m;
    grant_t *grants;
    size_t ngrants, capgrants;
    uint64_t seq;
    verified_t ring[VERIFIED_RING];
    size_t ring_next, ring_n;

    running_t running[RUNNING_HASHES]; /* the thread's only: no lock */
    uint64_t running_seq;
};

/* ------------------------------------------------------------ tables --- */

static void s_grant_free(grant_t *g)
{
    free(g->inputs);
    g->inputs = NULL;
}

static long s_grant_find(artsvc_t *a, uint64_t task_id)
{
    for (size_t i = 0; i < a->ngrants; i++)
        if (a->grants[i].task_id == task_id)
            return (long)i;
    return -1;
}

void artsvc_grant(artsvc_t *a, uint64_t task_id, uint32_t attempt, const char *peer, int upload,
                  const char *const *inputs, size_t ninputs)
{
    if (!a)
        return;
    grant_t g = {.task_id = task_id, .attempt = attempt, .upload = upload};
    util_strlcpy(g.peer, peer ? peer : "", sizeof g.peer);
    if (ninputs > ARTSVC_MAX_INPUTS)
        ninputs = ARTSVC_MAX_INPUTS;
    if (ninputs && !(g.inputs = calloc(ninputs, sizeof *g.inputs))) {
        log_error("artifact service: out of memory recording a grant; task %llu cannot move "
                  "its artifacts",
                  (unsigned long long)task_id);
        return;
    }
    for (size_t i = 0; i < ninputs; i++)
        util_strlcpy(g.inputs[i], inputs[i], sizeof g.inputs[i]);
    g.ninputs = ninputs;
    pthread_mutex_lock(&a->m);
    g.seq = ++a->seq;
    long i = s_grant_find(a, task_id);
    if (i < 0 && a->ngrants == ARTSVC_MAX_GRANTS) {
        size_t old = 0;
        for (size_t j = 1; j < a->ngrants; j++)
            if (a->grants[j].seq < a->grants[old].seq)
                old = j;
        i = (long)old;
    }
    if (i < 0 && a->ngrants == a->capgrants) {
        size_t cap = a->capgrants ? a->capgrants * 2 : 64;
        grant_t *ng = realloc(a->grants, cap * sizeof *ng);
        if (!ng) {
            pthread_mutex_unlock(&a->m);
            s_grant_free(&g);
            log_error("artifact service: out of memory recording a grant");
            return;
        }
        a->grants = ng;
        a->capgrants = cap;
    }
    if (i < 0)
        i = (long)a->ngrants++;
    else
        s_grant_free(&a->grants[i]);
    a->grants[i] = g;
    pthread_mutex_unlock(&a->m);
}

int artsvc_granted(artsvc_t *a, uint64_t task_id, uint32_t attempt)
{
    if (!a)
        return 0;
    pthread_mutex_lock(&a->m);
    long i = s_grant_find(a, task_id);
    int hit = i >= 0 && a->grants[i].attempt == attempt;
    pthread_mutex_unlock(&a->m);
    return hit;
}

void artsvc_revoke(artsvc_t *a, uint64_t task_id, uint32_t attempt)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->m);
    long i = s_grant_find(a, task_id);
    if (i >= 0 && a->grants[i].attempt == attempt) {
        s_grant_free(&a->grants[i]);
        a->grants[i] = a->grants[--a->ngrants];
    }
    pthread_mutex_unlock(&a->m);
}

/* Checks a request against the grants: 0 allowed, else a reason in why. */
static int s_allowed(artsvc_t *a, const char *peer, const Drover__ArtifactRequest *r, char *why,
                     size_t whylen)
{
    int rc = -1;
    pthread_mutex_lock(&a->m);
    long i = s_grant_find(a, r->lease->task_id);
    const grant_t *g = i >= 0 ? &a->grants[i] : NULL;
    if (!g || g->attempt != r->lease->attempt || strcmp(g->peer, peer) != 0) {
        util_errf(why, whylen, "task %llu attempt %u is not held by this worker",
                  (unsigned long long)r->lease->task_id, r->lease->attempt);
    } else if (r->op == DROVER__ARTIFACT_OP__ARTIFACT_GET) {
        for (size_t j = 0; j < g->ninputs && rc < 0; j++)
            if (strcmp(g->inputs[j], r->sha256) == 0)
                rc = 0;
        if (rc < 0)
            util_errf(why, whylen, "artifact %.12s... is not an input of task %llu attempt %u",
                      r->sha256, (unsigned long long)r->lease->task_id, r->lease->attempt);
    } else if (!g->upload) {
        util_errf(why, whylen, "task %llu declares no outputs",
                  (unsigned long long)r->lease->task_id);
    } else {
        rc = 0;
    }
    pthread_mutex_unlock(&a->m);
    return rc;
}

static void s_mark_verified(artsvc_t *a, const char *hex, uint64_t size)
{
    pthread_mutex_lock(&a->m);
    verified_t *v = &a->ring[a->ring_next];
    memcpy(v->hex, hex, 65);
    v->size = size;
    a->ring_next = (a->ring_next + 1) % VERIFIED_RING;
    if (a->ring_n < VERIFIED_RING)
        a->ring_n++;
    pthread_mutex_unlock(&a->m);
}

int artsvc_verified(artsvc_t *a, const char *hex, uint64_t size)
{
    if (!a || !hex)
        return 0;
    int hit = 0;
    pthread_mutex_lock(&a->m);
    for (size_t i = 0; i < a->ring_n && !hit; i++)
        hit = a->ring[i].size == size && strcmp(a->ring[i].hex, hex) == 0;
    pthread_mutex_unlock(&a->m);
    return hit;
}

uint64_t artsvc_refused(artsvc_t *a)
{
    return a ? atomic_load(&a->refused) : 0;
}

/* ---------------------------------------------------------- requests --- */

/* The store's copy of hex, if present with size: verified (hashing it
 * unless this service already did). 1 verified, 0 absent, -1 corrupt or
 * unreadable (why). */
static int s_have(artsvc_t *a, const char *hex, uint64_t size, char *why, size_t whylen)
{
    char path[4096];
    struct stat st;
    if (artifact_path(a->root, hex, path, sizeof path) < 0 || stat(path, &st) < 0 ||
        !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
        return 0;
    if (artsvc_verified(a, hex, size))
        return 1;
    char got[65];
    if (sha256_file(path, got, why, whylen) < 0)
        return -1;
    if (strcmp(got, hex) != 0) {
        util_errf(why, whylen, "the coordinator's copy of %.12s... is corrupt", hex);
        return -1;
    }
    s_mark_verified(a, hex, size);
    return 1;
}

/* The running hash of hex's upload at offset held: found, or started (for
 * held > 0, after a restart or an eviction, by hashing the partial file's
 * first held bytes once). NULL when that read fails. */
static running_t *s_running(artsvc_t *a, int fd, const char *hex, uint64_t held, uint8_t *buf)
{
    running_t *h = NULL, *old = &a->running[0];
    for (size_t i = 0; i < RUNNING_HASHES; i++) {
        if (strcmp(a->running[i].hex, hex) == 0)
            h = &a->running[i];
        if (a->running[i].used < old->used)
            old = &a->running[i];
    }
    if (h && h->upto == held) {
        h->used = ++a->running_seq;
        return h;
    }
    h = h ? h : old;
    h->hex[0] = '\0';
    sha256_init(&h->ctx);
    for (uint64_t off = 0; off < held;) {
        size_t want = held - off < ARTSVC_CHUNK ? (size_t)(held - off) : ARTSVC_CHUNK;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        sha256_update(&h->ctx, buf, (size_t)n);
        off += (uint64_t)n;
    }
    memcpy(h->hex, hex, 65);
    h->upto = held;
    h->used = ++a->running_seq;
    return h;
}

static void s_put(artsvc_t *a, const Drover__ArtifactRequest *r, const uint8_t *data, size_t len,
                  Drover__ArtifactReply *rep, uint8_t *buf, char *why, size_t whylen)
{
    running_t *h = NULL;
    char part[4096];
    struct stat st;
    if (r->size > a->max_size) {
        rep->error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
        util_errf(why, whylen,
                  "artifact of %llu bytes is larger than coordinator.artifact_max_size "
                  "(%llu)",
                  (unsigned long long)r->size, (unsigned long long)a->max_size);
        return;
    }
    int have = s_have(a, r->sha256, r->size, why, whylen);
    if (have != 0) {
        if (have > 0) {
            rep->complete = 1;
            rep->offset = r->size;
        } else {
            rep->error = DROVER__ERROR_CODE__ERROR_INTERNAL;
        }
        return;
    }
    if (artifact_partial_path(a->root, r->sha256, part, sizeof part, why, whylen) < 0) {
        rep->error = DROVER__ERROR_CODE__ERROR_INTERNAL;
        return;
    }
    int fd = open(part, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || fstat(fd, &st) < 0) {
        util_errf(why, whylen, "cannot open %s: %s", part, strerror(errno));
        rep->error = DROVER__ERROR_CODE__ERROR_INTERNAL;
        goto out;
    }
    uint64_t held = (uint64_t)st.st_size;
    if (held > r->size) { /* not ours to trust: start over */
        if (ftruncate(fd, 0) < 0) {
            util_errf(why, whylen, "cannot truncate %s: %s", part, strerror(errno));
            rep->error = DROVER__ERROR_CODE__ERROR_INTERNAL;
            goto out;
        }
        held = 0;
    }
    if (r->op == DROVER__ARTIFACT_OP__ARTIFACT_PUT_CHUNK) {
        if (r->offset > r->size || len > r->size - r->offset) { /* cannot wrap */
            rep->error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            util_errf(why, whylen, "chunk at %llu+%zu runs past the artifact's %llu bytes",
                      (unsigned long long)r->offset, len, (unsigned long long)r->size);
            rep->offset = held;
            goto out;
        }
        if (r->offset != held) {
            rep->error = DROVER__ERROR_CODE__ERROR_CONFLICT;
            util_errf(why, whylen, "chunk at %llu+%zu; the coordinator holds %llu of %llu bytes",
                      (unsigned long long)r->offset, len, (unsigned long long)held,
                      (unsigned long long)r->size);
            rep->offset = held;
            goto out;
        }
        if (!(h = s_running(a, fd, r->sha256, held, buf))) {
            util_errf(why, whylen, "cannot read %s: %s", part, strerror(errno));
            rep->error = DROVER__ERROR_CODE__ERROR_INTERNAL;
            goto out;
        }
        size_t done = 0;
        while (done < len) {
            ssize_t n = pwrite(fd, data + done, len - done, (off_t)(r->offset + done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                util_errf(why, whylen, "cannot write %s: %s", part,
                          n < 0 ? strerror(errno) : "short write");
                rep->error = DROVER__ERROR_CODE__ERROR_INTERNAL;
                h->hex[0] = '\0'; /* what is on disk now is unknown */
                goto out;
            }
            done += (size_t)n;
        }
        sha256_update(&h->ctx, data, len);
        h->upto += len;
        held += len;
    }
    rep->offset = held;
    if (held == r->size) {
        close(fd);
        fd = -1;
        char got[65] = "";
        if (h && h->upto == held) {
            uint8_t d[SHA256_DIGEST_LEN];
            sha256_final(&h->ctx, d);
            sha256_hex(d, got);
        }
        if (h)
            h->hex[0] = '\0';
        if (artifact_adopt_hashed(a->root, r->sha256, part, got[0] ? got : NULL, 1, why, whylen) <
            0) {
            rep->error = errno == EBADMSG ? DROVER__ERROR_CODE__ERROR_BAD_REQUEST
                                          : DROVER__ERROR_CODE__ERROR_INTERNAL;
            rep->offset = 0;
            goto out;
        }
        s_mark_verified(a, r->sha256, r->size);
        rep->complete = 1;
    }
out:
    if (fd >= 0)
        close(fd);
}

/* A chunk of hex into *out: read straight into a zmq message of the
 * chunk's size, which libzmq frees once sent (no copy on the way out). */
static void s_get(artsvc_t *a, const Drover__ArtifactRequest *r, Drover__ArtifactReply *rep,
                  zmq_msg_t *out, char *why, size_t whylen)
{
    char path[4096];
    struct stat st;
    int fd = -1;
    if (artifact_path(a->root, r->sha256, path, sizeof path) < 0 ||
        (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
        rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        util_errf(why, whylen, "artifact %.12s... is not in the coordinator's store", r->sha256);
        goto out;
    }
    rep->size = (uint64_t)st.st_size;
    rep->offset = r->offset;
    size_t want = r->length ? r->length : ARTSVC_CHUNK;
    if (want > ARTSVC_CHUNK)
        want = ARTSVC_CHUNK;
    if (r->offset >= (uint64_t)st.st_size)
        goto out; /* empty data: the end */
    if ((uint64_t)st.st_size - r->offset < want)
        want = (size_t)((uint64_t)st.st_size - r->offset);
    if (zmq_msg_init_size(out, want) < 0) {
        zmq_msg_init(out);
        rep->error = DROVER__ERROR_CODE__ERROR_INTERNAL;
        util_errf(why, whylen, "out of memory");
        goto out;
    }
    uint8_t *chunk = zmq_msg_data(out);
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, chunk + got, want - got, (off_t)(r->offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rep->error = DROVER__ERROR_CODE__ERROR_INTERNAL;
            util_errf(why, whylen, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "short");
            zmq_msg_close(out); /* an error carries no bytes */
            zmq_msg_init(out);
            goto out;
        }
        got += (size_t)n;
    }
out:
    if (fd >= 0)
        close(fd);
}

/* Logs a refused (or unanswerable) request: one line a second at most,
 * with the count of those not logged since. */
static void s_log_refusal(artsvc_t *a, const char *what, const char *peer, const char *why)
{
    int64_t now = util_mono_ms();
    if (now < a->next_log_ms) {
        a->unlogged++;
        return;
    }
    log_warn("artifact service: refused %s from %s: %s (%llu more refused since the last line)",
             what, peer[0] ? peer : "?", why, (unsigned long long)a->unlogged);
    a->unlogged = 0;
    a->next_log_ms = now + 1000;
}

/* One request: msg its envelope, data the frame after it (a PUT_CHUNK's
 * bytes; empty for the other operations). */
static void s_handle(artsvc_t *a, wire_msg_t *msg, zmq_msg_t *data, uint8_t *buf)
{
    char why[600] = "";
    Drover__WorkerMsg *m = drover__worker_msg__unpack(NULL, msg->len, msg->data);
    if (!m || m->version != DROVER_PROTOCOL_VERSION ||
        m->body_case != DROVER__WORKER_MSG__BODY_ARTIFACT ||
        wirecheck_validate_worker_msg(m, why, sizeof why) < 0) {
        atomic_fetch_add(&a->refused, 1);
        s_log_refusal(a, "a malformed request", "?", why[0] ? why : "not an artifact request");
        if (m)
            drover__worker_msg__free_unpacked(m, NULL);
        return;
    }
    const Drover__ArtifactRequest *r = m->artifact;
    const char *peer;
    const char *what = r->op == DROVER__ARTIFACT_OP__ARTIFACT_GET ? "a download" : "an upload";
    if (a->secure) {
        /* auth.c's ZAP handler names allowed worker keys "worker:KEY". */
        if (strncmp(msg->user_id, "worker:", 7) != 0) {
            atomic_fetch_add(&a->refused, 1);
            drover__worker_msg__free_unpacked(m, NULL);
            return;
        }
        peer = msg->user_id + 7;
    } else {
        peer = r->worker ? r->worker : "";
    }
    Drover__ArtifactReply rep = DROVER__ARTIFACT_REPLY__INIT;
    rep.op = r->op;
    rep.sha256 = r->sha256;
    rep.xfer_version = WIRE_XFER_VERSION;
    zmq_msg_t chunk; /* a GET's answer bytes */
    zmq_msg_init(&chunk);
    size_t dlen = zmq_msg_size(data);
    if (r->xfer_version != WIRE_XFER_VERSION) {
        rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
        snprintf(why, sizeof why,
                 "this worker speaks artifact transfer protocol %u, the coordinator %u: upgrade "
                 "%s",
                 r->xfer_version, WIRE_XFER_VERSION,
                 r->xfer_version < WIRE_XFER_VERSION ? "drover-worker" : "drover-coordinator");
    } else if (r->data.len > 0) {
        rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
        snprintf(why, sizeof why,
                 "a chunk of %zu bytes inside the request's envelope (it goes in a frame of its "
                 "own)",
                 r->data.len);
    } else if ((dlen > 0) != (r->op == DROVER__ARTIFACT_OP__ARTIFACT_PUT_CHUNK)) {
        rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
        snprintf(why, sizeof why, "%s",
                 dlen ? "a chunk frame misplaced after a request that takes none"
                      : "a PUT_CHUNK without its chunk frame");
    } else if (dlen > ARTSVC_CHUNK) {
        rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
        snprintf(why, sizeof why, "a chunk of %zu bytes (chunks are 1 to %u bytes)", dlen,
                 ARTSVC_CHUNK);
    } else if (!sha256_is_hex(r->sha256)) {
        rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
        snprintf(why, sizeof why, "'%.70s' is not a sha256 (64 lowercase hex)", r->sha256);
    } else if (s_allowed(a, peer, r, why, sizeof why) < 0) {
        rep.error = DROVER__ERROR_CODE__ERROR_FORBIDDEN;
    } else {
        switch (r->op) {
        case DROVER__ARTIFACT_OP__ARTIFACT_PUT_BEGIN:
        case DROVER__ARTIFACT_OP__ARTIFACT_PUT_CHUNK:
            s_put(a, r, zmq_msg_data(data), dlen, &rep, buf, why, sizeof why);
            break;
        case DROVER__ARTIFACT_OP__ARTIFACT_GET: s_get(a, r, &rep, &chunk, why, sizeof why); break;
        case DROVER__ARTIFACT_OP__ARTIFACT_VERIFY: {
            int have = s_have(a, r->sha256, r->size, why, sizeof why);
            if (have > 0) {
                rep.complete = 1;
            } else {
                rep.error = have < 0 ? DROVER__ERROR_CODE__ERROR_BAD_REQUEST
                                     : DROVER__ERROR_CODE__ERROR_NOT_FOUND;
                if (have == 0)
                    snprintf(why, sizeof why,
                             "artifact %.12s... of %llu bytes is not in the "
                             "coordinator's store (%s)",
                             r->sha256, (unsigned long long)r->size, a->root);
            }
            break;
        }
        default:
            rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            snprintf(why, sizeof why, "unknown artifact operation %d", (int)r->op);
            break;
        }
    }
    if (rep.error != DROVER__ERROR_CODE__ERROR_NONE) {
        rep.message = why;
        /* A chunk behind the held offset is an honest race (two uploads of
         * the same bytes, a stale connection): answered, not counted. One
         * ahead of it, outside the window the sender was given, is not. */
        if (rep.error != DROVER__ERROR_CODE__ERROR_CONFLICT || r->offset > rep.offset) {
            atomic_fetch_add(&a->refused, 1);
            s_log_refusal(a, what, peer, why);
        }
    }
    Drover__CoordMsg out = DROVER__COORD_MSG__INIT;
    out.version = DROVER_PROTOCOL_VERSION;
    out.body_case = DROVER__COORD_MSG__BODY_ARTIFACT;
    out.artifact = &rep;
    /* A peer that does not read its answers fills its queue (ZMQ_SNDHWM)
     * and loses the rest: with ZMQ_ROUTER_MANDATORY the send fails at once
     * (EAGAIN), counted and logged like a refusal, never once per answer. */
    int with_chunk = zmq_msg_size(&chunk) > 0; /* then wire_send_data consumes it */
    if (wire_send_data(a->sock, msg->ident, msg->ident_len, &out.base, with_chunk ? &chunk : NULL) <
            0 &&
        errno != EHOSTUNREACH) {
        snprintf(why, sizeof why, "cannot answer: %s", zmq_strerror(errno));
        atomic_fetch_add(&a->refused, 1);
        s_log_refusal(a, what, peer, why);
    }
    if (!with_chunk)
        zmq_msg_close(&chunk);
    drover__worker_msg__free_unpacked(m, NULL);
}

/* Partial uploads nobody continued for ARTSVC_PARTIAL_TTL_S go. */
static void s_sweep_partials(artsvc_t *a)
{
    char dir[4096], path[4400];
    snprintf(dir, sizeof dir, "%s/.partial", a->root);
    DIR *d = opendir(dir);
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (!sha256_is_hex(e->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && now - st.st_mtime > ARTSVC_PARTIAL_TTL_S && unlink(path) == 0)
            log_info("artifact service: removed the stale partial upload %s", path);
    }
    closedir(d);
}

static void *s_main(void *arg)
{
    artsvc_t *a = arg;
    uint8_t *buf = malloc(ARTSVC_CHUNK);
    if (!buf) {
        log_error("artifact service: out of memory; not serving");
        return NULL;
    }
    time_t next_sweep = 0;
    while (!atomic_load(&a->stop)) {
        if (time(NULL) >= next_sweep) {
            s_sweep_partials(a);
            next_sweep = time(NULL) + 3600;
        }
        zmq_pollitem_t it = {a->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 200) < 0) {
            if (errno == EINTR)
                continue;
            log_error("artifact service: zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        for (int i = 0; i < 64 && !atomic_load(&a->stop); i++) {
            wire_msg_t msg;
            zmq_msg_t data;
            int rc = wire_recv_data(a->sock, 1, &msg, &data);
            if (rc == 1)
                s_handle(a, &msg, &data, buf);
            zmq_msg_close(&data);
            wire_msg_clear(&msg);
            if (rc == 0)
                break;
            if (rc < 0) {
                log_error("artifact service: receive: %s", zmq_strerror(errno));
                break;
            }
            if (rc == 2)
                atomic_fetch_add(&a->refused, 1);
        }
    }
    free(buf);
    return NULL;
}

artsvc_t *artsvc_start(void *sock, const char *root, uint64_t max_size, int secure, char *err,
                       size_t errlen)
{
    artsvc_t *a = calloc(1, sizeof *a);
    if (!a || !root || !*root) {
        snprintf(err, errlen,
                 !a ? "out of memory"
                    : "coordinator.artifact_listen needs coordinator.artifact_dir");
        free(a);
        zmq_close(sock);
        errno = a ? EINVAL : ENOMEM;
        return NULL;
    }
    a->sock = sock;
    a->max_size = max_size;
    a->secure = secure;
    pthread_mutex_init(&a->m, NULL);
    /* Per connection: at most ARTSVC_HWM requests of one chunk each. */
    int hwm = ARTSVC_HWM;
    int64_t maxmsg = ARTSVC_CHUNK + 4096;
    if (!(a->root = strdup(root)) || zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0) {
        snprintf(err, errlen, "cannot set up the artifact service: %s", strerror(errno));
        artsvc_stop(&a);
        return NULL;
    }
    if (util_mkdirs(root, 0755) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", root, strerror(errno));
        artsvc_stop(&a);
        return NULL;
    }
    int e = pthread_create(&a->thread, NULL, s_main, a);
    if (e != 0) {
        snprintf(err, errlen, "cannot start the artifact service thread: %s", strerror(e));
        artsvc_stop(&a);
        errno = e;
        return NULL;
    }
    a->started = 1;
    return a;
}

void artsvc_stop(artsvc_t **ap)
{
    if (!ap || !*ap)
        return;
    artsvc_t *a = *ap;
    atomic_store(&a->stop, 1);
    if (a->started)
        pthread_join(a->thread, NULL);
    if (a->sock)
        zmq_close(a->sock);
    for (size_t i = 0; i < a->ngrants; i++)
        s_grant_free(&a->grants[i]);
    free(a->grants);
    pthread_mutex_destroy(&a->m);
    free(a->root);
    free(a);
    *ap = NULL;
}
