/* bulk — large submits stored beside the loop, on a thread and a database
 * connection of their own.
 *
 * Storing the densest workflow the limits allow (10,000 steps and 20,000
 * dependencies: about 40,000 rows, with its JSON parameters built first)
 * takes the better part of a second; in the loop's iteration it stalled
 * every worker and client that long (docs/security.md "Figures"). A submit
 * of more than SUBMIT_INLINE_ROWS rows (steps + dependencies) is handed
 * here once the loop has checked its role and queue; this thread checks
 * every other rule (model_submit_rules: a refusal writes nothing and is
 * answered ERROR_BAD_REQUEST as inline) and stores it in one transaction
 * of its own, and builds the run as the model holds it
 * (model_run_build); the loop gets it back through bulk_fd(), links it in
 * (model_run_attach: maps and ready queues, well under a millisecond) and
 * only then answers with the run id. Decoding a frame of several MB is
 * itself too slow for the loop: a client frame over DECODE_INLINE_MAX is
 * decoded here (BULK_DECODE; a submit's rules checked too), then handled by
 * the loop as if it had just arrived. The guarantees are those of an inline
 * submit:
 *   - durable before acknowledged: the reply is sent after the COMMIT;
 *   - all or nothing: one transaction — a run is never visible half
 *     written, and a coordinator killed mid-way leaves nothing (its
 *     session's transaction is rolled back) and sends no reply;
 *   - fenced: the connection carries the leader epoch (the events trigger
 *     of migration 008 checks it) and, just before COMMIT, share-locks the
 *     lease row with that epoch (store_fence_hold): a former leader writes
 *     nothing once a standby took over, and a takeover waits for a commit
 *     already decided;
 *   - bounded: at most BULK_PER_KEY jobs per client key and BULK_TOTAL in
 *     all are queued, running or finished but not yet given back (the
 *     caller refuses more), at most BULK_THREADS at a time.
 *
 * BULK_THREADS threads, each with its connection, take the jobs in the
 * order pushed, so two large submits are stored at once (each in its own
 * transaction, fenced and committed as above), and each job comes back
 * from bulk_done as soon as it is finished: a client that sent two large
 * requests at once may be answered in either order (replies carry the
 * request_id; a large request and a small one were never answered in
 * order either), and run ids are taken by each transaction as it
 * inserts, so two submits stored at once may get theirs in either order.
 * The threads touch no loop state: a job is the loop's until bulk_push, a
 * thread's until it comes back from bulk_done, then the loop's again.
 */
#ifndef DROVER_BULK_H
#define DROVER_BULK_H

#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"
#include "model.h"
#include "wire.h"

#define SUBMIT_INLINE_ROWS 1000         /* steps + dependencies stored in the iteration itself */
#define DECODE_INLINE_MAX  (256u << 10) /* client frames larger are decoded here */
#define BULK_PER_KEY       2
#define BULK_TOTAL         4
#define BULK_THREADS       2 /* storing at once (each a database connection) */

/* What a job asks for. */
typedef enum {
    BULK_DECODE, /* frame -> in (and, for a submit, its rules checked) */
    BULK_INSERT, /* req -> stored (its rules checked first unless checked) */
} bulk_kind_t;

typedef enum {
    BULK_QUEUED = 0,
    BULK_DECODED, /* in is set (checked: a submit's rules passed) */
    BULK_BADMSG,  /* the frame is no valid ClientRequest: err says why */
    BULK_STORED,  /* committed: rows.run_id, submitted_us and ids are set */
    BULK_INVALID, /* nothing written: the workflow breaks a rule (err: the CLI's message) */
    BULK_REFUSED, /* nothing written: err says why (database refused or unreachable, stopping) */
    BULK_FENCED,  /* nothing written: another coordinator leads now */
    BULK_UNKNOWN, /* the connection broke during COMMIT: stored or not, nobody can tell */
} bulk_status_t;

/* Where a pushed job is (bulk.c's, under its mutex). */
typedef enum {
    BULK_WAITING = 0, /* queued, no thread has it yet */
    BULK_TAKEN,       /* a thread is doing it */
    BULK_FINISHED,    /* done, not yet moved to the done list */
} bulk_phase_t;

typedef struct bulk_job bulk_job_t;
struct bulk_job {
    /* Set by the caller before bulk_push. */
    bulk_kind_t kind;
    uint8_t *frame; /* BULK_DECODE: owned (malloc'd), freed once decoded */
    size_t len;
    char user_id[128];         /* the ZAP User-Id it came with */
    uint64_t request_id;       /* read without decoding ... */
    int has_request_id;        /* ... when it could be */
    int checked;               /* model_submit_rules passed (1), failed (-1, err), not run (0) */
    Drover__ClientRequest *in; /* owned: freed by bulk_job_free */
    Drover__SubmitRequest req; /* *in->submit, submitted_by pointing at by */
    char by[200];
    char key[64];                  /* submitting key ("" without CURVE) */
    char actor[64];                /* for the audit row */
    uint8_t ident[WIRE_MAX_IDENT]; /* whom to answer */
    size_t ident_len;
    uint64_t epoch;      /* the leader epoch the loop leads with */
    uint64_t generation; /* the caller's: which state load it belongs to */
    /* Set by the thread. */
    bulk_status_t status;
    char err[600];
    model_rows_t rows;
    run_t *run;         /* BULK_STORED: built for model_run_attach (NULL: out of memory) */
    int64_t took_us;    /* building and storing */
    bulk_phase_t phase; /* the bulk's, under its mutex */
    bulk_job_t *next;
};

typedef struct bulk bulk_t;

/* Starts the threads for the database at conninfo (copied; each connects
 * as it starts, and again at a job that finds its connection gone). NULL
 * on failure (errno: ENOMEM, or the thread's). */
bulk_t *bulk_start(const char *conninfo);
/* Readable (an eventfd) when bulk_done has jobs to give back. */
int bulk_fd(const bulk_t *b);
/* Queues job (the thread owns it until bulk_done returns it). Never fails. */
void bulk_push(bulk_t *b, bulk_job_t *job);
/* The finished jobs, in the order they finished (the caller owns them and frees each
 * with bulk_job_free), or NULL; clears bulk_fd's readiness. */
bulk_job_t *bulk_done(bulk_t *b);
/* Jobs not yet given back, of key (NULL: all). */
size_t bulk_count(bulk_t *b, const char *key);
/* Blocks until no job is queued or running (before a state reload: a run
 * committed meanwhile is then in what the reload reads). NULL-safe. */
void bulk_wait_idle(bulk_t *b);
/* Frees a job and what it holds; NULL-safe, nulls *jp. */
void bulk_job_free(bulk_job_t **jp);
/* Stops the threads after their current jobs; jobs still queued come back
 * from bulk_done refused ("stopping"), so call bulk_done before
 * bulk_destroy. */
void bulk_stop(bulk_t *b);
/* Stops if needed and frees everything (jobs not taken included);
 * NULL-safe, nulls *bp. */
void bulk_destroy(bulk_t **bp);

#endif
