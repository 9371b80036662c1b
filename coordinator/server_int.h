/* server_int — what the coordinator's three server files share.
 *
 *   server.c         the loop, the outbox ("persist, then send"), startup
 *                    and the reset after a database error;
 *   server_worker.c  the worker protocol (Register, Heartbeat, Started,
 *                    Result, LogChunk, Metric);
 *   server_client.c  the client API: one table, request -> required role ->
 *                    handler, and the parked long-polls.
 *
 * Internal to the coordinator: nothing outside these files includes it.
 */
#ifndef DROVER_SERVER_INT_H
#define DROVER_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "artsvc.h"
#include "auth.h"
#include "bulk.h"
#include "calendar.h"
#include "capacity.h"
#include "conf.h"
#include "db.h"
#include "keys.h"
#include "leader.h"
#include "model.h"
#include "server.h"
#include "gc.h"
#include "notify.h"
#include "observe.h"
#include "store.h"
#include "webtok.h"
#include "wire.h"

#define TICK_MS          50
#define DRAIN_MAX        1024         /* messages per socket per iteration */
#define CLIENT_SLICE_MS  20           /* client requests handled per iteration, in time */
#define OUTBOX_SLICE     (16u << 20)  /* ... and in reply bytes waiting to be sent */
#define HOLD_MAX_MS      30000        /* longest long-poll */
#define HOLD_MIN_MS      100          /* a status watcher is answered at most this often */
#define LOG_REPLY_MAX    (256u << 10) /* bytes per stream per logs reply (a page) */
#define WORKER_TASKS_MAX 256          /* attempts listed per worker in a workers reply */

enum { SOCK_WORKER = 0, SOCK_CLIENT = 1 };

typedef struct {
    int sock;
    uint8_t ident[WIRE_MAX_IDENT];
    size_t ident_len;
    uint8_t *data;
    size_t len;
} outmsg_t;

/* A long-poll request (status or logs) parked until its run/task changes
 * or it times out; it is then handled again, with holding off, from the
 * few fields kept here (never the request's frame: a parked request costs
 * sizeof(held_t), whatever its size on the wire). */
#define HOLD_PER_KEY 1024 /* parked requests per client key */
#define HOLD_TOTAL   8192 /* parked requests in all */
typedef struct {
    uint8_t ident[WIRE_MAX_IDENT];
    size_t ident_len;
    char user_id[128];
    char web_token[72]; /* the request's web_token ("" = none), checked again on waking */
    uint64_t request_id;
    int body; /* DROVER__CLIENT_REQUEST__BODY_STATUS or _LOGS */
    uint32_t wait_ms;
    uint64_t known_version; /* status */
    uint64_t req_run_id;    /* logs: its request */
    char step[129];
    uint32_t attempt;
    uint64_t out_off, err_off;
    int64_t deadline_ms;
    int64_t parked_ms;
    int64_t run_id;
    uint64_t version; /* the run's version the client has seen */
    int64_t task_id;  /* logs: the task and its log counter at park time */
    uint64_t logseq;
} held_t;

/* One rate-limited warning stream (server_warn_limited). */
#define WARN_SLOTS       64
#define WARN_INTERVAL_MS 10000
typedef struct {
    char who[64];
    char what[48];
    int64_t next_ms;     /* log again from then on */
    uint64_t suppressed; /* not logged since the last line */
} warn_slot_t;

struct server {
    leader_t *leader; /* the fenced leader lease (leader.h) */
    const conf_t *cfg;
    db_t *db;
    store_t *st;
    model_t *model;
    void *zctx, *wsock, *csock;
    int sigfd;
    volatile int stop;
    outmsg_t *out;
    size_t nout, capout;
    size_t outbytes; /* bytes waiting in out */
    held_t *held;
    size_t nheld, capheld;
    uint64_t dropped;
    int64_t started_us;
    int64_t db_down_us;  /* PostgreSQL unreachable since (wall clock); 0 = up */
    int64_t db_retry_ms; /* next reconnect attempt while down (monotonic) */
    int bind_quiet;      /* EADDRINUSE already reported */
    auth_t *auth;
    webtok_t *webtok; /* web sign-in tokens (webtok.h) */
    calendar_t *cal;
    capacity_t *cap; /* every registered worker's shape (capacity.h) */
    void *zap;       /* ZAP handler (REP on inproc://zeromq.zap.01) */
    keys_pair_t key; /* the coordinator's CURVE key pair */
    int64_t last_drop_log_ms;
    warn_slot_t warns[WARN_SLOTS];
    gc_t *gc;                /* retention thread (NULL: no policy set) */
    artsvc_t *arts;          /* artifact service thread (NULL: artifact_listen unset) */
    notify_t *notify;        /* webhook sender (NULL: no webhook) */
    observe_t *obs;          /* metrics and /readyz (observe.h) */
    int64_t next_publish_ms; /* next observe_publish */
    int64_t watchdog_ms;     /* systemd's watchdog: ping this often (0 = none) */
    int64_t next_watchdog_ms;
    int64_t longest_us; /* the longest loop iteration (CoordinatorInfo) */
    bulk_t *bulk;       /* large submits stored beside the loop (bulk.h) */
    uint64_t loads;     /* state reloads so far: a bulk job of an older one is in them */
    /* Plain submits of this iteration waiting to be stored with one
     * statement (server_client_batch_flush); allocated at the first. */
    struct submit_batch *batch;
};

/* The artifact service learns what attempt t (just assigned to w, with the
 * spec it was sent) may move (docs/artifacts.md). */
/* server_sink.c: the callbacks model.c calls (model_sink_t) for s. */
model_sink_t server_sink(server_t *s);

void server_grant_artifacts(server_t *s, const worker_t *w, const task_t *t, const char *spec_json);
/* A worker registered holding attempts the service has no grants for (the
 * coordinator restarted): they get them again. 0, or -1 database error. */
int server_regrant_artifacts(server_t *s, const worker_t *w);

/* Queues msg for sock/ident; sent by server.c only after the iteration's
 * transaction commits. Out of memory: logged, the message is dropped. */
void server_queue(server_t *s, int sock, const uint8_t *ident, size_t ident_len,
                  const ProtobufCMessage *msg);
/* Counts a dropped message (CoordinatorInfo.dropped_messages) and logs at
 * most one line per second. */
void server_count_drop(server_t *s, const char *what);

/* Logs "what: detail" for `who` (a key or worker name) at most once per
 * WARN_INTERVAL_MS, saying how many were not logged since: a peer that
 * repeats a refused message cannot turn it into a log flood. */
void server_warn_limited(server_t *s, const char *who, const char *what, const char *detail);

/* server.c, for server_db.c: the outbox sent and emptied, or dropped;
 * pending signals read (SIGTERM/SIGINT set stop); a wait of up to ms for a
 * signal (pinging the watchdog first); the watchdog pinged when due; the
 * threads beside the loop (retention, notifications, /readyz) switched on
 * or off; one socket drained (-1 on a database error). */
void server_flush(server_t *s);
void server_discard_outbox(server_t *s);
void server_read_signals(server_t *s);
void server_wait_signal(server_t *s, int ms);
void server_watchdog(server_t *s, int64_t now);
void server_side_active(server_t *s, int on);
int server_drain(server_t *s, void *sock, int which);

/* server_db.c: connects, migrates, becomes the active coordinator (or
 * stands by until it can) and loads state: 0, 1 when stopping, -1 fatal.
 * server_reset, after a database error: forgets the iteration, reloads (or
 * begins serving from memory when the database is gone): 0 to go on, 1
 * stopping, -1 fatal. server_outage_step: one loop turn while the database
 * is away (clients and signals only, a reconnect attempt every second). */
int server_attach(server_t *s);
int server_reset(server_t *s);
int server_outage_step(server_t *s);

/* server_worker.c: handles one message from the worker socket. Returns -1
 * only on a database error (the loop then resets). */
int server_worker_msg(server_t *s, const wire_msg_t *m);

/* server_client.c: handles one client request; may_hold = 0 when
 * re-handling a parked one. Returns -1 only on a database error. */
int server_client_msg(server_t *s, const uint8_t *ident, size_t ident_len, const char *user_id,
                      const uint8_t *data, size_t len, int may_hold);
/* Answers parked requests whose run/task changed or whose time is up.
 * 0 or -1 (database). */
int server_client_wake(server_t *s);
/* Refuses a client frame over coordinator.max_message (not decoded):
 * counted, logged at most once per interval per key, and answered
 * ERROR_BAD_REQUEST when its request_id can be read. */
void server_client_oversized(server_t *s, const wire_msg_t *m);
/* Answers the large submits the bulk thread finished (a stored run joins
 * the model first). 0, or -1 when a stored run could not be added to
 * memory (the loop then resets: the reload reads it). */
int server_client_bulk_done(server_t *s);
/* Forgets every parked request (reset, shutdown). */
void server_client_drop_held(server_t *s);
/* Stores the plain submits the drain collected, with one statement, and
 * queues their answers (after the commit, like every reply); called after
 * each drain of the client socket, and before any other client request so
 * that requests take effect in the order they came. 0, or -1 (reset). */
int server_client_batch_flush(server_t *s);
/* Forgets the collected submits unanswered (reset, shutdown): nothing of
 * them was written. */
void server_client_batch_drop(server_t *s);

#endif
