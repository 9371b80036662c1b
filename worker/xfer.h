/* xfer — the worker's artifact transfers, on a thread of its own.
 *
 * Two kinds of job, run one at a time in the order they were queued:
 *   - stage: before an attempt starts, each of its inputs (sha256, size)
 *     is found in the local store (worker.artifact_dir), or downloaded
 *     from the coordinator's artifact service into ROOT/.partial/HEX
 *     (resuming from that file's size after a reconnect or a restart),
 *     verified (whole-file sha256) and adopted into the store, then copied
 *     into the step's work folder under the producer's path;
 *   - publish: after an attempt succeeded, each declared output is hashed
 *     and put into the local store, then uploaded to the service (resuming
 *     from the offset the coordinator holds) or, with a shared store
 *     (worker.artifact_shared), only verified by it (VERIFY).
 * Transfers keep at most XFER_WINDOW chunks of XFER_CHUNK bytes in
 * flight. A request unanswered for XFER_REPLY_MS drops the connection (a
 * fresh socket) and resumes; transient failures are retried for
 * XFER_GIVE_UP_MS without progress.
 *
 * The loop never blocks on it: jobs are queued (xfer_stage, xfer_publish),
 * and finished ones are collected with xfer_done after xfer_fd polls
 * readable. A job of an attempt the worker forgets can be cancelled.
 */
#ifndef DROVER_WORKER_XFER_H
#define DROVER_WORKER_XFER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "drover.pb-c.h"
#include "wirecheck.h"

#define XFER_CHUNK      WIRECHECK_MAX_ARTIFACT_CHUNK
#define XFER_WINDOW     8
#define XFER_REPLY_MS   10000
#define XFER_GIVE_UP_MS 120000

typedef struct xfer xfer_t;

typedef struct {
    void *zctx;               /* the worker's ZeroMQ context (borrowed) */
    const char *endpoint;     /* coordinator's artifact service; "" = none */
    const char *root;         /* this worker's store (worker.artifact_dir) */
    int shared;               /* root is the coordinator's store */
    const char *worker;       /* this worker's name (the service's key without CURVE) */
    const char *curve_server; /* NULL = no CURVE */
    const char *curve_public;
    const char *curve_secret;
    /* worker.run_as: the step's files are touched with the task user's
     * filesystem identity (setfsuid on this thread only), so staging
     * cannot write, and publishing cannot read, anywhere the step itself
     * could not (a symlink in the work folder, a cwd of /etc). */
    int run_as;
    uid_t run_uid;
    gid_t run_gid;
} xfer_opts_t;

typedef enum {
    XFER_OK = 0,
    XFER_FAILED,      /* the step's fault or a refusal (message): the attempt fails */
    XFER_UNAVAILABLE, /* infrastructure: the attempt is handed back and runs again */
} xfer_status_t;

/* A finished job; the caller frees it with xfer_done_free. */
typedef struct {
    uint64_t task_id;
    uint32_t attempt;
    int publish; /* 1 publish, 0 stage */
    xfer_status_t status;
    char error[600];
    Drover__ArtifactRef **arts; /* publish: one per declared output, in order */
    size_t narts;
} xfer_done_t;

/* Starts the thread. Copies every string. NULL with a message in err. */
xfer_t *xfer_new(const xfer_opts_t *o, char *err, size_t errlen);
/* Cancels what runs, stops the thread. NULL-safe; nulls *xp. */
void xfer_destroy(xfer_t **xp);

/* Readable when xfer_done has something (poll it with POLLIN). */
int xfer_fd(const xfer_t *x);

/* Queues staging of staged_json ({NAME: {path, sha256, size}}, the
 * Assign's spec "staged") into folder dir. 0, or -1 (ENOMEM, EINVAL). */
int xfer_stage(xfer_t *x, uint64_t task_id, uint32_t attempt, const char *dir,
               const char *staged_json);
/* Queues publishing of outputs_json (["path", ...]) from folder dir. */
int xfer_publish(xfer_t *x, uint64_t task_id, uint32_t attempt, const char *dir,
                 const char *outputs_json);
/* The job of (task_id, attempt), queued or running, ends as soon as it can
 * (its result, if any, is still delivered and can be ignored). */
void xfer_cancel(xfer_t *x, uint64_t task_id, uint32_t attempt);

/* The next finished job, or NULL. */
xfer_done_t *xfer_done(xfer_t *x);
void xfer_done_free(xfer_done_t **dp);

#endif
