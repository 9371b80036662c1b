/* xfer — the worker's artifact transfer thread (see xfer.h).
 *
 * Design. One thread, one job at a time, one DEALER socket to the
 * coordinator's artifact service that is thrown away and made anew
 * whenever a reply is late: the service answers in order, so after a fresh
 * socket no stale answer can arrive, and the position to resume from is
 * always on disk (the partial file's size when downloading, the offset the
 * coordinator reports when uploading). Nothing about a transfer lives only
 * in memory, which is what makes a kill -9 of the worker, or of the
 * coordinator, cost only the chunks in flight.
 *
 * Ownership: jobs are malloc'd by the queueing call and freed by the
 * thread; done records are malloc'd by the thread and freed by the caller
 * (xfer_done_free). The mutex guards the two lists and the cancel marks.
 */
#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "artifact.h"
#include "log.h"
#include "sha256.h"
#include "stepkind.h"
#include "util.h"
#include "wire.h"
#include "wirecheck.h"

typedef struct job {
    uint64_t task_id;
    uint32_t attempt;
    int publish;
    char *dir;
    char *json;
    atomic_int cancelled;
    struct job *next;
} job_t;

typedef struct done_node {
    xfer_done_t *d;
    struct done_node *next;
} done_node_t;

struct xfer {
    void *zctx;
    char *endpoint, *root, *worker;
    int shared;
    int curve;
    char server[41], public[41], secret[41];
    int64_t test_delay_ms; /* DROVER_TEST_XFER_DELAY_MS: a pause per chunk (tests only) */
    int run_as;
    uid_t run_uid;
    gid_t run_gid;

    pthread_t thread;
    int started;
    pthread_mutex_t m;
    pthread_cond_t cv;
    int stop;
    atomic_int stopping; /* stop, readable without the mutex while waiting for a reply */
    job_t *head, *tail;
    job_t *cur;
    done_node_t *done_head, *done_tail;
    int pipe_r, pipe_w;

    void *sock; /* the thread's only */
    uint8_t *buf;
    char why[300]; /* s_reply's XFER_INCOMPATIBLE */
};

/* ------------------------------------------------------------ socket --- */

static void s_close(xfer_t *x)
{
    if (x->sock)
        zmq_close(x->sock);
    x->sock = NULL;
}

static int s_open(xfer_t *x)
{
    if (x->sock)
        return 0;
    x->sock = zmq_socket(x->zctx, ZMQ_DEALER);
    if (!x->sock)
        return -1;
    if (wire_socket_setup(x->sock, XFER_CHUNK + 4096) < 0 ||
        (x->curve && (zmq_setsockopt(x->sock, ZMQ_CURVE_SERVERKEY, x->server, 41) < 0 ||
                      zmq_setsockopt(x->sock, ZMQ_CURVE_PUBLICKEY, x->public, 41) < 0 ||
                      zmq_setsockopt(x->sock, ZMQ_CURVE_SECRETKEY, x->secret, 41) < 0)) ||
        zmq_connect(x->sock, x->endpoint) < 0) {
        int e = errno;
        s_close(x);
        errno = e;
        return -1;
    }
    return 0;
}

/* Sends one request; data (a PUT_CHUNK's bytes, or NULL) goes as the frame
 * after the envelope and is consumed. */
static int s_request(xfer_t *x, const job_t *j, Drover__ArtifactOp op, const char *hex,
                     uint64_t size, uint64_t offset, uint32_t length, zmq_msg_t *data)
{
    if (s_open(x) < 0) {
        if (data)
            zmq_msg_close(data);
        return -1;
    }
    Drover__Lease l = DROVER__LEASE__INIT;
    l.task_id = j->task_id;
    l.attempt = j->attempt;
    Drover__ArtifactRequest r = DROVER__ARTIFACT_REQUEST__INIT;
    r.op = op;
    r.lease = &l;
    r.sha256 = (char *)hex;
    r.size = size;
    r.offset = offset;
    r.length = length;
    r.worker = x->worker;
    r.xfer_version = WIRE_XFER_VERSION;
    Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
    m.version = DROVER_PROTOCOL_VERSION;
    m.body_case = DROVER__WORKER_MSG__BODY_ARTIFACT;
    m.artifact = &r;
    return wire_send_data(x->sock, NULL, 0, &m.base, data);
}

/* Waits up to XFER_REPLY_MS for an answer. 1 with *out (caller frees with
 * drover__coord_msg__free_unpacked) and, when data is not NULL, the bytes
 * of a GET in *data (always initialised; caller zmq_msg_close()s it); 0 on
 * timeout, -1 on error, XFER_INCOMPATIBLE when the service speaks another
 * transfer protocol (x->why says which to upgrade). */
#define XFER_INCOMPATIBLE (-2)
static int s_reply(xfer_t *x, Drover__CoordMsg **out, zmq_msg_t *data)
{
    zmq_msg_t none;
    zmq_msg_t *d = data ? data : &none;
    zmq_msg_init(d);
    int64_t until = util_mono_ms() + XFER_REPLY_MS;
    for (;;) {
        int64_t left = until - util_mono_ms();
        if (left <= 0 || atomic_load(&x->stopping))
            return 0;
        zmq_pollitem_t it = {x->sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&it, 1, left > 500 ? 500 : (long)left);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n <= 0)
            continue;
        wire_msg_t msg;
        zmq_msg_close(d);
        int rc = wire_recv_data(x->sock, 0, &msg, d);
        if (rc <= 0) {
            zmq_msg_close(d);
            zmq_msg_init(d);
            return rc;
        }
        if (rc == 2)
            continue;
        char why[200];
        Drover__CoordMsg *m = drover__coord_msg__unpack(NULL, msg.len, msg.data);
        wire_msg_clear(&msg);
        if (!m || m->version != DROVER_PROTOCOL_VERSION ||
            m->body_case != DROVER__COORD_MSG__BODY_ARTIFACT ||
            wirecheck_validate_coord_msg(m, why, sizeof why) < 0 || zmq_msg_size(d) > XFER_CHUNK ||
            (zmq_msg_size(d) && !data)) {
            log_warn("artifact transfer: dropped a malformed answer from the coordinator");
            if (m)
                drover__coord_msg__free_unpacked(m, NULL);
            zmq_msg_close(d);
            zmq_msg_init(d);
            continue;
        }
        if (m->artifact->xfer_version != WIRE_XFER_VERSION) {
            util_errf(x->why, sizeof x->why,
                      "the coordinator's artifact service speaks transfer protocol %u, this "
                      "worker %u: upgrade %s",
                      m->artifact->xfer_version, WIRE_XFER_VERSION,
                      m->artifact->xfer_version < WIRE_XFER_VERSION ? "drover-coordinator"
                                                                    : "drover-worker");
            drover__coord_msg__free_unpacked(m, NULL);
            zmq_msg_close(d);
            zmq_msg_init(d);
            return XFER_INCOMPATIBLE;
        }
        if (!data)
            zmq_msg_close(d);
        *out = m;
        return 1;
    }
}

static void s_pause(xfer_t *x, int64_t ms)
{
    (void)x;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The step's files are touched as the task user (xfer.h); fsuid/fsgid are
 * per thread, so the loop and the other threads keep the worker's. */
typedef struct {
    int on;
    int uid, gid;
} xfer_fsid_t;

static xfer_fsid_t s_as_task(const xfer_t *x)
{
    xfer_fsid_t f = {0, 0, 0};
    if (x->run_as) {
        f.on = 1;
        f.gid = setfsgid(x->run_gid);
        f.uid = setfsuid(x->run_uid);
    }
    return f;
}

static void s_as_worker(xfer_fsid_t f)
{
    if (f.on) {
        setfsuid((uid_t)f.uid);
        setfsgid((gid_t)f.gid);
    }
}

/* ------------------------------------------------------------ transfers --- */

/* FORBIDDEN right after a coordinator restart means "not yet": its
 * permissions come back when this worker's session registers again. So
 * a refusal is believed only once it lasted XFER_GRANT_WAIT_MS. 1: wait
 * and ask again. */
#define XFER_GRANT_WAIT_MS 15000
static int s_grant_pending(xfer_t *x, const Drover__ArtifactReply *r, int64_t *since)
{
    if (r->error != DROVER__ERROR_CODE__ERROR_FORBIDDEN)
        return 0;
    int64_t now = util_mono_ms();
    if (!*since)
        *since = now;
    if (now - *since >= XFER_GRANT_WAIT_MS)
        return 0;
    s_close(x);
    s_pause(x, 500);
    return 1;
}

/* A reply's error: FAILED with its message. */
static xfer_status_t s_refused(const Drover__ArtifactReply *r, const char *what, char *err,
                               size_t errlen)
{
    util_errf(err, errlen, "%s refused by the coordinator: %s", what,
              r->message && r->message[0] ? r->message : "no reason given");
    return XFER_FAILED;
}

/* One line per finished transfer, with its rate (bench/artifacts.sh reads
 * it for the transfer-only throughput). */
static void s_log_rate(const char *what, const char *hex, uint64_t bytes, int64_t t0)
{
    double s = (double)(util_mono_ms() - t0) / 1000.0;
    log_info("artifact %.12s...: %s %llu bytes in %.3f s (%.0f MB/s)", hex, what,
             (unsigned long long)bytes, s, s > 0 ? (double)bytes / 1e6 / s : 0.0);
}

/* Downloads hex (size bytes) into the local store. */
static xfer_status_t s_fetch(xfer_t *x, job_t *j, const char *hex, uint64_t size, char *err,
                             size_t errlen)
{
    char final[4096], part[4096];
    struct stat st;
    if (artifact_path(x->root, hex, final, sizeof final) == 0 && stat(final, &st) == 0 &&
        (uint64_t)st.st_size == size) {
        char why[600];
        if (artifact_open_verified(x->root, hex, final, sizeof final, why, sizeof why) == 0)
            return XFER_OK;
        if (x->shared) {
            util_errf(err, errlen, "%s", why);
            return XFER_FAILED;
        }
        log_warn("artifact %.12s... in the local store is bad (%s); fetching it again", hex, why);
        unlink(final);
    }
    if (x->shared) {
        util_errf(err, errlen, "artifact sha256:%s is not in the shared store %s", hex, x->root);
        return XFER_FAILED;
    }
    if (!x->endpoint[0]) {
        util_errf(err, errlen,
                  "this worker has neither an artifact service "
                  "(worker.artifact_endpoint) nor a shared store (worker.artifact_shared)");
        return XFER_FAILED;
    }
    /* Local failures (disk, permissions) fail the attempt, which then
     * waits out its retry delay; only an unreachable coordinator hands it
     * back uncounted (after XFER_GIVE_UP_MS, so never in a tight loop). */
    if (artifact_partial_path(x->root, hex, part, sizeof part, err, errlen) < 0)
        return XFER_FAILED;
    for (int round = 0; round < 2; round++) {
        int64_t t0 = util_mono_ms();
        int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || fstat(fd, &st) < 0) {
            util_errf(err, errlen, "cannot open %s: %s", part, strerror(errno));
            if (fd >= 0)
                close(fd);
            return XFER_FAILED;
        }
        uint64_t off = (uint64_t)st.st_size, next = off;
        if (off > size) {
            if (ftruncate(fd, 0) < 0) {
                util_errf(err, errlen, "cannot truncate %s: %s", part, strerror(errno));
                close(fd);
                return XFER_FAILED;
            }
            off = next = 0;
        }
        /* Hashed as it arrives; a resumed download hashes what it had once. */
        sha256_ctx_t hc;
        sha256_init(&hc);
        for (uint64_t o = 0; o < off;) {
            ssize_t n =
                pread(fd, x->buf, off - o < XFER_CHUNK ? (size_t)(off - o) : XFER_CHUNK, (off_t)o);
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                util_errf(err, errlen, "cannot read %s: %s", part, strerror(errno));
                close(fd);
                return XFER_FAILED;
            }
            sha256_update(&hc, x->buf, (size_t)n);
            o += (uint64_t)n;
        }
        uint64_t from = off;
        if (off > 0)
            log_info("artifact %.12s...: resuming the download at %llu of %llu bytes", hex,
                     (unsigned long long)off, (unsigned long long)size);
        int inflight = 0;
        int64_t progress_ms = util_mono_ms(), forbidden_since = 0;
        xfer_status_t status = XFER_OK;
        while (off < size) {
            if (atomic_load(&j->cancelled)) {
                util_errf(err, errlen, "cancelled");
                status = XFER_UNAVAILABLE;
                break;
            }
            while (inflight < XFER_WINDOW && next < size) {
                uint32_t len = size - next < XFER_CHUNK ? (uint32_t)(size - next) : XFER_CHUNK;
                if (s_request(x, j, DROVER__ARTIFACT_OP__ARTIFACT_GET, hex, size, next, len, NULL) <
                    0)
                    break;
                next += len;
                inflight++;
            }
            Drover__CoordMsg *m = NULL;
            zmq_msg_t data; /* the chunk, as libzmq received it */
            int rc = inflight ? s_reply(x, &m, &data) : (zmq_msg_init(&data), -1);
            if (rc == XFER_INCOMPATIBLE) {
                util_errf(err, errlen, "%s", x->why);
                status = XFER_FAILED;
                break;
            }
            if (rc <= 0) {
                s_close(x); /* a fresh connection; resume from what is on disk */
                next = off;
                inflight = 0;
                if (util_mono_ms() - progress_ms > XFER_GIVE_UP_MS) {
                    util_errf(err, errlen, "no answer from the artifact service at %s for %d s",
                              x->endpoint, XFER_GIVE_UP_MS / 1000);
                    status = XFER_UNAVAILABLE;
                    break;
                }
                s_pause(x, 200);
                continue;
            }
            const Drover__ArtifactReply *r = m->artifact;
            const uint8_t *bytes = zmq_msg_data(&data);
            size_t len = zmq_msg_size(&data);
            if (s_grant_pending(x, r, &forbidden_since)) {
                drover__coord_msg__free_unpacked(m, NULL);
                zmq_msg_close(&data);
                next = off;
                inflight = 0;
                continue;
            }
            if (r->error != DROVER__ERROR_CODE__ERROR_NONE) {
                status = s_refused(r, "download", err, errlen);
                drover__coord_msg__free_unpacked(m, NULL);
                zmq_msg_close(&data);
                break;
            }
            forbidden_since = 0;
            inflight--;
            if (r->offset != off || len == 0 || len > size - off) {
                /* Not the chunk we wait for: start again from the disk. */
                drover__coord_msg__free_unpacked(m, NULL);
                zmq_msg_close(&data);
                s_close(x);
                next = off;
                inflight = 0;
                continue;
            }
            size_t done = 0;
            while (done < len) {
                ssize_t n = pwrite(fd, bytes + done, len - done, (off_t)(off + done));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    util_errf(err, errlen, "cannot write %s: %s", part, strerror(errno));
                    status = XFER_FAILED;
                    break;
                }
                done += (size_t)n;
            }
            sha256_update(&hc, bytes, len);
            off += len;
            progress_ms = util_mono_ms();
            drover__coord_msg__free_unpacked(m, NULL);
            zmq_msg_close(&data);
            if (status != XFER_OK)
                break;
            if (x->test_delay_ms)
                s_pause(x, x->test_delay_ms);
        }
        close(fd);
        s_close(x);
        if (status != XFER_OK)
            return status;
        uint8_t dg[SHA256_DIGEST_LEN];
        char got[65];
        sha256_final(&hc, dg);
        sha256_hex(dg, got);
        /* The private store is a cache that is hashed before each use
         * (s_fetch): no fsync. A shared store is the system of record. */
        if (artifact_adopt_hashed(x->root, hex, part, got, x->shared, err, errlen) == 0) {
            s_log_rate("downloaded", hex, size - from, t0);
            return XFER_OK;
        }
        if (errno != EBADMSG)
            return XFER_FAILED;
        log_warn("artifact %.12s...: the downloaded bytes do not match (%s); downloading again",
                 hex, err);
    }
    return XFER_FAILED; /* twice the wrong bytes: err says why */
}

/* Uploads the store's hex (size bytes) to the coordinator. */
static xfer_status_t s_push(xfer_t *x, job_t *j, const char *hex, uint64_t size, char *err,
                            size_t errlen)
{
    char path[4096];
    if (artifact_path(x->root, hex, path, sizeof path) < 0) {
        util_errf(err, errlen, "bad artifact path");
        return XFER_FAILED;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        util_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return XFER_FAILED;
    }
    int64_t t0 = util_mono_ms();
    uint64_t from = UINT64_MAX; /* what the coordinator held when we began */
    int64_t progress_ms = util_mono_ms(), forbidden_since = 0;
    xfer_status_t status = XFER_UNAVAILABLE;
    int complete = 0;
    while (!complete) {
        if (atomic_load(&j->cancelled)) {
            util_errf(err, errlen, "cancelled");
            break;
        }
        if (util_mono_ms() - progress_ms > XFER_GIVE_UP_MS) {
            util_errf(err, errlen, "no progress uploading to the artifact service at %s for %d s",
                      x->endpoint, XFER_GIVE_UP_MS / 1000);
            break;
        }
        /* Where to start: what the coordinator holds. */
        Drover__CoordMsg *m = NULL;
        int rc = s_request(x, j, DROVER__ARTIFACT_OP__ARTIFACT_PUT_BEGIN, hex, size, 0, 0, NULL);
        if (rc == 0)
            rc = s_reply(x, &m, NULL);
        if (rc == XFER_INCOMPATIBLE) {
            util_errf(err, errlen, "%s", x->why);
            status = XFER_FAILED;
            break;
        }
        if (rc <= 0) {
            s_close(x);
            s_pause(x, 200);
            continue;
        }
        const Drover__ArtifactReply *r = m->artifact;
        if (s_grant_pending(x, r, &forbidden_since)) {
            drover__coord_msg__free_unpacked(m, NULL);
            continue;
        }
        if (r->error != DROVER__ERROR_CODE__ERROR_NONE) {
            status = s_refused(r, "upload", err, errlen);
            drover__coord_msg__free_unpacked(m, NULL);
            break;
        }
        forbidden_since = 0;
        complete = r->complete;
        uint64_t next = r->offset;
        if (from == UINT64_MAX)
            from = complete ? size : next;
        drover__coord_msg__free_unpacked(m, NULL);
        if (next > 0 && !complete)
            log_info("artifact %.12s...: resuming the upload at %llu of %llu bytes", hex,
                     (unsigned long long)next, (unsigned long long)size);
        int inflight = 0, restart = 0;
        while (!complete && !restart) {
            if (atomic_load(&j->cancelled))
                break;
            while (inflight < XFER_WINDOW && next < size) {
                /* Each chunk read straight into a zmq message that libzmq
                 * frees once sent: never copied again here. */
                size_t want = size - next < XFER_CHUNK ? (size_t)(size - next) : XFER_CHUNK;
                zmq_msg_t data;
                int ok = zmq_msg_init_size(&data, want) == 0;
                ssize_t n = ok ? 0 : -1;
                while (n >= 0 && (size_t)n < want) {
                    ssize_t k = pread(fd, (uint8_t *)zmq_msg_data(&data) + n, want - (size_t)n,
                                      (off_t)(next + (uint64_t)n));
                    if (k < 0 && errno == EINTR)
                        continue;
                    if (k <= 0) {
                        n = k < 0 ? -1 : 0; /* an error, or a file shorter than it was */
                        break;
                    }
                    n += k;
                }
                if (n <= 0) {
                    util_errf(err, errlen, "cannot read %s: %s", path,
                              !ok     ? "out of memory"
                              : n < 0 ? strerror(errno)
                                      : "short read");
                    if (ok)
                        zmq_msg_close(&data);
                    close(fd);
                    s_close(x);
                    return XFER_FAILED;
                }
                if (s_request(x, j, DROVER__ARTIFACT_OP__ARTIFACT_PUT_CHUNK, hex, size, next, 0,
                              &data) < 0)
                    break;
                next += (uint64_t)n;
                inflight++;
                if (x->test_delay_ms)
                    s_pause(x, x->test_delay_ms);
            }
            rc = inflight ? s_reply(x, &m, NULL) : 0;
            if (rc == XFER_INCOMPATIBLE) {
                util_errf(err, errlen, "%s", x->why);
                close(fd);
                s_close(x);
                return XFER_FAILED;
            }
            if (rc <= 0) {
                restart = 1;
                break;
            }
            r = m->artifact;
            if (r->error == DROVER__ERROR_CODE__ERROR_CONFLICT ||
                r->error == DROVER__ERROR_CODE__ERROR_FORBIDDEN) {
                restart = 1; /* PUT_BEGIN again tells the offset (or waits for the grant) */
            } else if (r->error != DROVER__ERROR_CODE__ERROR_NONE) {
                status = s_refused(r, "upload", err, errlen);
                drover__coord_msg__free_unpacked(m, NULL);
                close(fd);
                s_close(x);
                return status;
            } else {
                inflight--;
                complete = r->complete;
                progress_ms = util_mono_ms();
            }
            drover__coord_msg__free_unpacked(m, NULL);
        }
        s_close(x); /* answers still in flight must not meet the next round */
    }
    close(fd);
    s_close(x);
    if (complete && from < size)
        s_log_rate("uploaded", hex, size - from, t0);
    return complete ? XFER_OK : status;
}

/* A shared store: the coordinator hashes the copy the worker wrote. */
static xfer_status_t s_verify(xfer_t *x, job_t *j, const char *hex, uint64_t size, char *err,
                              size_t errlen)
{
    int64_t start = util_mono_ms(), forbidden_since = 0;
    while (!atomic_load(&j->cancelled) && util_mono_ms() - start < XFER_GIVE_UP_MS) {
        Drover__CoordMsg *m = NULL;
        int rc = s_request(x, j, DROVER__ARTIFACT_OP__ARTIFACT_VERIFY, hex, size, 0, 0, NULL);
        if (rc == 0)
            rc = s_reply(x, &m, NULL);
        if (rc == XFER_INCOMPATIBLE) {
            util_errf(err, errlen, "%s", x->why);
            return XFER_FAILED;
        }
        if (rc <= 0) {
            s_close(x);
            s_pause(x, 200);
            continue;
        }
        if (s_grant_pending(x, m->artifact, &forbidden_since)) {
            drover__coord_msg__free_unpacked(m, NULL);
            continue;
        }
        xfer_status_t st = m->artifact->error == DROVER__ERROR_CODE__ERROR_NONE
                               ? XFER_OK
                               : s_refused(m->artifact, "verification", err, errlen);
        drover__coord_msg__free_unpacked(m, NULL);
        return st;
    }
    util_errf(err, errlen, "no answer from the artifact service at %s", x->endpoint);
    return XFER_UNAVAILABLE;
}

/* Copies the store's hex to dir/path (parents created), via a temporary
 * name, so the task never sees half a file. */
static xfer_status_t s_place(xfer_t *x, const char *hex, const char *dir, const char *rel,
                             char *err, size_t errlen)
{
    char src[4096], dst[8192], tmp[8300];
    if (artifact_path(x->root, hex, src, sizeof src) < 0 ||
        snprintf(dst, sizeof dst, "%s/%s", dir, rel) >= (int)sizeof dst) {
        util_errf(err, errlen, "path too long staging '%s'", rel);
        return XFER_FAILED;
    }
    char *slash = strrchr(dst, '/');
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
    xfer_status_t st = XFER_OK;
    xfer_fsid_t f = s_as_task(x);
    *slash = '\0';
    if (in < 0 || util_mkdirs(dst, 0755) < 0) {
        util_errf(err, errlen, "cannot create %s: %s", in < 0 ? src : dst, strerror(errno));
        st = XFER_FAILED;
        goto out;
    }
    *slash = '/';
    snprintf(tmp, sizeof tmp, "%s/.drover-staging-%.16s-%ld", dir, hex, (long)getpid());
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) {
        util_errf(err, errlen, "cannot stage %s: %s", dst, strerror(errno));
        st = XFER_FAILED;
        goto out;
    }
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
            /* Another filesystem type: plain reads and writes. */
            ssize_t r;
            while ((r = read(in, x->buf, XFER_CHUNK)) > 0)
                if (write(out, x->buf, (size_t)r) != r) {
                    r = -1;
                    break;
                }
            n = r;
            if (n == 0)
                break;
        }
        if (n < 0) {
            util_errf(err, errlen, "cannot copy to %s: %s", tmp, strerror(errno));
            st = XFER_FAILED;
            goto out;
        }
        if (n == 0)
            break;
    }
    if (rename(tmp, dst) < 0) {
        util_errf(err, errlen, "cannot stage %s: %s", dst, strerror(errno));
        st = XFER_FAILED;
    }
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (st != XFER_OK && out >= 0)
        unlink(tmp);
    s_as_worker(f);
    return st;
}

static xfer_status_t s_stage(xfer_t *x, job_t *j, char *err, size_t errlen)
{
    json_t *staged = json_loads(j->json, 0, NULL);
    if (!json_is_object(staged)) {
        json_decref(staged);
        util_errf(err, errlen, "the assignment's 'staged' inputs are not an object");
        return XFER_FAILED;
    }
    xfer_status_t st = XFER_OK;
    const char *name;
    json_t *v;
    json_object_foreach(staged, name, v)
    {
        const char *hex = json_string_value(json_object_get(v, "sha256"));
        const char *path = json_string_value(json_object_get(v, "path"));
        json_int_t size = json_integer_value(json_object_get(v, "size"));
        char why[600] = "";
        if (!hex || !sha256_is_hex(hex) || !path || !stepkind_rel_path_ok(path) || size < 0) {
            util_errf(err, errlen, "input '%s': invalid staging entry", name);
            st = XFER_FAILED;
            break;
        }
        st = s_fetch(x, j, hex, (uint64_t)size, why, sizeof why);
        if (st == XFER_OK)
            st = s_place(x, hex, j->dir, path, why, sizeof why);
        if (st != XFER_OK) {
            util_errf(err, errlen, "cannot stage input '%s' (%s, sha256 %.12s...): %s", name, path,
                      hex, why);
            break;
        }
        log_info("task %llu attempt %u: staged input '%s' as %s/%s (%lld bytes)",
                 (unsigned long long)j->task_id, j->attempt, name, j->dir, path, (long long)size);
    }
    json_decref(staged);
    return st;
}

static xfer_status_t s_publish(xfer_t *x, job_t *j, xfer_done_t *d, char *err, size_t errlen)
{
    json_t *outs = json_loads(j->json, 0, NULL), *item;
    size_t n = json_is_array(outs) ? json_array_size(outs) : 0, i;
    xfer_status_t st = XFER_OK;
    if (!(d->arts = calloc(n + 1, sizeof *d->arts))) {
        json_decref(outs);
        util_errf(err, errlen, "out of memory");
        return XFER_UNAVAILABLE;
    }
    json_array_foreach(outs, i, item)
    {
        const char *rel = json_string_value(item);
        char full[8192], hex[65], why[600] = "";
        struct stat sb;
        if (!rel || !stepkind_rel_path_ok(rel) ||
            snprintf(full, sizeof full, "%s/%s", j->dir, rel) >= (int)sizeof full) {
            util_errf(err, errlen, "invalid output path");
            st = XFER_FAILED;
            break;
        }
        /* Opened as the task user, never through a symlink at the end:
         * the worker reads nothing the step could not. */
        xfer_fsid_t f = s_as_task(x);
        int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        int e = errno;
        s_as_worker(f);
        if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            util_errf(err, errlen, "declared output '%s' was not written: %s", rel,
                      fd < 0 && e == ENOENT  ? "no such file in the step's work folder"
                      : fd < 0 && e != ELOOP ? strerror(e)
                                             : "not a regular file");
            if (fd >= 0)
                close(fd);
            st = XFER_FAILED;
            break;
        }
        /* One pass: hashed as it is copied into the store. */
        int prc = artifact_put_fd(x->root, fd, x->shared, hex, why, sizeof why);
        e = errno;
        close(fd);
        char stored[4096];
        if (prc == 0 && (artifact_path(x->root, hex, stored, sizeof stored) < 0 ||
                         stat(stored, &sb) < 0)) { /* the size of what was stored */
            prc = -1;
            e = errno;
            util_errf(why, sizeof why, "cannot stat the stored copy: %s", strerror(e));
        }
        if (prc < 0) {
            util_errf(err, errlen, "cannot store output '%s': %s", rel, why);
            st = e == EAGAIN ? XFER_FAILED : XFER_UNAVAILABLE;
            break;
        }
        if (x->shared)
            st = s_verify(x, j, hex, (uint64_t)sb.st_size, why, sizeof why);
        else if (x->endpoint[0])
            st = s_push(x, j, hex, (uint64_t)sb.st_size, why, sizeof why);
        else {
            util_errf(why, sizeof why,
                      "this worker has neither an artifact service "
                      "(worker.artifact_endpoint) nor a shared store (worker.artifact_shared)");
            st = XFER_FAILED;
        }
        if (st != XFER_OK) {
            util_errf(err, errlen, "output '%s': %s", rel, why);
            break;
        }
        Drover__ArtifactRef *a = malloc(sizeof *a);
        char *nm = strdup(rel), *hx = strdup(hex);
        if (!a || !nm || !hx) {
            free(a);
            free(nm);
            free(hx);
            util_errf(err, errlen, "out of memory");
            st = XFER_UNAVAILABLE;
            break;
        }
        drover__artifact_ref__init(a);
        a->name = nm;
        a->sha256 = hx;
        a->size = (uint64_t)sb.st_size;
        d->arts[d->narts++] = a;
        log_info("task %llu attempt %u: output %s stored as sha256 %.12s... (%lld bytes, %s)",
                 (unsigned long long)j->task_id, j->attempt, rel, hex, (long long)sb.st_size,
                 x->shared ? "in the shared store, verified by the coordinator"
                           : "uploaded to the coordinator");
    }
    json_decref(outs);
    return st;
}

/* ------------------------------------------------------------ thread --- */

static void *s_main(void *arg)
{
    xfer_t *x = arg;
    for (;;) {
        pthread_mutex_lock(&x->m);
        while (!x->head && !x->stop)
            pthread_cond_wait(&x->cv, &x->m);
        if (x->stop) {
            pthread_mutex_unlock(&x->m);
            break;
        }
        job_t *j = x->head;
        x->head = j->next;
        if (!x->head)
            x->tail = NULL;
        x->cur = j;
        pthread_mutex_unlock(&x->m);

        xfer_done_t *d = calloc(1, sizeof *d);
        if (d) {
            d->task_id = j->task_id;
            d->attempt = j->attempt;
            d->publish = j->publish;
            d->status = j->publish ? s_publish(x, j, d, d->error, sizeof d->error)
                                   : s_stage(x, j, d->error, sizeof d->error);
        }
        done_node_t *dn = d ? malloc(sizeof *dn) : NULL;
        pthread_mutex_lock(&x->m);
        x->cur = NULL;
        if (dn) {
            dn->d = d;
            dn->next = NULL;
            if (x->done_tail)
                x->done_tail->next = dn;
            else
                x->done_head = dn;
            x->done_tail = dn;
        } else {
            xfer_done_free(&d);
            log_error("artifact transfer: out of memory; task %llu attempt %u waits for its "
                      "transfer forever",
                      (unsigned long long)j->task_id, j->attempt);
        }
        pthread_mutex_unlock(&x->m);
        if (dn && write(x->pipe_w, "x", 1) < 0 && errno != EAGAIN)
            log_warn("artifact transfer: cannot wake the loop: %s", strerror(errno));
        free(j->dir);
        free(j->json);
        free(j);
    }
    s_close(x);
    return NULL;
}

static int s_queue(xfer_t *x, uint64_t task_id, uint32_t attempt, int publish, const char *dir,
                   const char *json)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->dir = strdup(dir ? dir : ".")) || !(j->json = strdup(json ? json : ""))) {
        if (j) {
            free(j->dir);
            free(j);
        }
        errno = ENOMEM;
        return -1;
    }
    j->task_id = task_id;
    j->attempt = attempt;
    j->publish = publish;
    pthread_mutex_lock(&x->m);
    if (x->tail)
        x->tail->next = j;
    else
        x->head = j;
    x->tail = j;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->m);
    return 0;
}

int xfer_stage(xfer_t *x, uint64_t task_id, uint32_t attempt, const char *dir,
               const char *staged_json)
{
    return s_queue(x, task_id, attempt, 0, dir, staged_json);
}

int xfer_publish(xfer_t *x, uint64_t task_id, uint32_t attempt, const char *dir,
                 const char *outputs_json)
{
    return s_queue(x, task_id, attempt, 1, dir, outputs_json);
}

void xfer_cancel(xfer_t *x, uint64_t task_id, uint32_t attempt)
{
    if (!x)
        return;
    pthread_mutex_lock(&x->m);
    for (job_t *j = x->head; j; j = j->next)
        if (j->task_id == task_id && j->attempt == attempt)
            atomic_store(&j->cancelled, 1);
    if (x->cur && x->cur->task_id == task_id && x->cur->attempt == attempt)
        atomic_store(&x->cur->cancelled, 1);
    pthread_mutex_unlock(&x->m);
}

int xfer_fd(const xfer_t *x)
{
    return x ? x->pipe_r : -1;
}

xfer_done_t *xfer_done(xfer_t *x)
{
    char drain[64];
    while (read(x->pipe_r, drain, sizeof drain) > 0)
        ;
    pthread_mutex_lock(&x->m);
    done_node_t *dn = x->done_head;
    if (dn) {
        x->done_head = dn->next;
        if (!x->done_head)
            x->done_tail = NULL;
    }
    pthread_mutex_unlock(&x->m);
    if (!dn)
        return NULL;
    xfer_done_t *d = dn->d;
    free(dn);
    /* More may be waiting: keep the pipe readable for the next poll. */
    pthread_mutex_lock(&x->m);
    int more = x->done_head != NULL;
    pthread_mutex_unlock(&x->m);
    if (more && write(x->pipe_w, "x", 1) < 0 && errno != EAGAIN)
        log_warn("artifact transfer: cannot wake the loop: %s", strerror(errno));
    return d;
}

void xfer_done_free(xfer_done_t **dp)
{
    if (!dp || !*dp)
        return;
    xfer_done_t *d = *dp;
    for (size_t i = 0; i < d->narts; i++) {
        free(d->arts[i]->name);
        free(d->arts[i]->sha256);
        free(d->arts[i]);
    }
    free(d->arts);
    free(d);
    *dp = NULL;
}

xfer_t *xfer_new(const xfer_opts_t *o, char *err, size_t errlen)
{
    xfer_t *x = calloc(1, sizeof *x);
    if (!x) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    x->pipe_r = x->pipe_w = -1;
    x->zctx = o->zctx;
    x->shared = o->shared;
    x->run_as = o->run_as;
    x->run_uid = o->run_uid;
    x->run_gid = o->run_gid;
    pthread_mutex_init(&x->m, NULL);
    pthread_cond_init(&x->cv, NULL);
    int fds[2];
    if (!(x->endpoint = strdup(o->endpoint ? o->endpoint : "")) ||
        !(x->root = strdup(o->root ? o->root : "")) ||
        !(x->worker = strdup(o->worker ? o->worker : "")) || !(x->buf = malloc(XFER_CHUNK))) {
        util_errf(err, errlen, "out of memory");
        goto fail;
    }
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        util_errf(err, errlen, "cannot create a pipe: %s", strerror(errno));
        goto fail;
    }
    x->pipe_r = fds[0];
    x->pipe_w = fds[1];
    if (o->curve_secret) {
        x->curve = 1;
        util_strlcpy(x->server, o->curve_server, sizeof x->server);
        util_strlcpy(x->public, o->curve_public, sizeof x->public);
        util_strlcpy(x->secret, o->curve_secret, sizeof x->secret);
    }
    const char *td = getenv("DROVER_TEST_XFER_DELAY_MS");
    if (td && *td)
        x->test_delay_ms = atoll(td);
    if (x->test_delay_ms)
        log_warn("DROVER_TEST_XFER_DELAY_MS=%lld: artifact transfers are slowed down (tests only)",
                 (long long)x->test_delay_ms);
    int e = pthread_create(&x->thread, NULL, s_main, x);
    if (e != 0) {
        util_errf(err, errlen, "cannot start the artifact transfer thread: %s", strerror(e));
        goto fail;
    }
    x->started = 1;
    return x;
fail:
    xfer_destroy(&x);
    return NULL;
}

void xfer_destroy(xfer_t **xp)
{
    if (!xp || !*xp)
        return;
    xfer_t *x = *xp;
    if (x->started) {
        pthread_mutex_lock(&x->m);
        x->stop = 1;
        atomic_store(&x->stopping, 1);
        for (job_t *j = x->head; j; j = j->next)
            atomic_store(&j->cancelled, 1);
        if (x->cur)
            atomic_store(&x->cur->cancelled, 1);
        pthread_cond_signal(&x->cv);
        pthread_mutex_unlock(&x->m);
        pthread_join(x->thread, NULL);
    }
    while (x->head) {
        job_t *j = x->head;
        x->head = j->next;
        free(j->dir);
        free(j->json);
        free(j);
    }
    while (x->done_head) {
        done_node_t *dn = x->done_head;
        x->done_head = dn->next;
        xfer_done_free(&dn->d);
        free(dn);
    }
    if (x->pipe_r >= 0)
        close(x->pipe_r);
    if (x->pipe_w >= 0)
        close(x->pipe_w);
    explicit_bzero(x->secret, sizeof x->secret);
    pthread_mutex_destroy(&x->m);
    pthread_cond_destroy(&x->cv);
    free(x->endpoint);
    free(x->root);
    free(x->worker);
    free(x->buf);
    free(x);
    *xp = NULL;
}
