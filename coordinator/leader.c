/* leader — the lease row, its epoch and the takeover (leader.h). */
#include "leader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

enum { L_STATE, L_TERMINATE, L_TAKE, L_RENEW, L_COUNT };

/* "Gone" = the holder's session is not in pg_stat_activity any more. */
#define L_GONE                                                                                     \
    "(l.backend_pid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a "                      \
    "WHERE a.pid = l.backend_pid))"

static const db_stmt_t s_stmts[L_COUNT] = {
    [L_STATE] = {"leader_state",
                 "SELECT l.epoch, l.holder, l.expires_at < clock_timestamp(), " L_GONE
                 ", coalesce(l.backend_pid, 0), ceil(greatest(0, (extract(epoch FROM "
                 "l.expires_at) - extract(epoch FROM clock_timestamp())) * 1000))::bigint "
                 "FROM drover.leader l WHERE l.id = 1",
                 0},
    /* Waits (up to 2 s) until the session is really gone. */
    [L_TERMINATE] = {"leader_terminate", "SELECT pg_terminate_backend($1::integer, 2000)", 1},
    [L_TAKE] = {"leader_take",
                "UPDATE drover.leader l SET epoch = l.epoch + 1, holder = $1, "
                "backend_pid = pg_backend_pid(), "
                "expires_at = clock_timestamp() + $2::bigint * interval '1 millisecond', "
                "renewed_at = clock_timestamp(), since = clock_timestamp() "
                "WHERE l.id = 1 AND l.epoch = $3::bigint "
                "AND (l.expires_at < clock_timestamp() OR " L_GONE ") RETURNING l.epoch",
                3},
    [L_RENEW] = {"leader_renew",
                 "UPDATE drover.leader SET "
                 "expires_at = clock_timestamp() + $2::bigint * interval '1 millisecond', "
                 "renewed_at = clock_timestamp(), backend_pid = pg_backend_pid() "
                 "WHERE id = 1 AND epoch = $1::bigint RETURNING epoch",
                 2},
};

struct leader {
    db_t *db;
    int64_t lease_ms;
    int64_t expiry_ms; /* what a renewal writes: lease_ms less the takeover allowance */
    int64_t period_ms;
    int64_t wait_ms; /* standing by: when to look again */
    int64_t next_ms;
    uint64_t epoch;   /* 0 = never led */
    char holder[300]; /* host:pid */
    int announced;    /* "standing by" logged for the current holder */
    char last_holder[300];
};

leader_t *leader_new(db_t *db, int64_t lease_ms)
{
    leader_t *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    l->db = db;
    l->lease_ms = lease_ms > 0 ? lease_ms : 5000;
    l->period_ms = l->lease_ms / 3 < 1000 ? l->lease_ms / 3 : 1000;
    if (l->period_ms < 50)
        l->period_ms = 50;
    /* The lease measures how long a frozen leader can hold the cluster up:
     * a standby must be answering within lease_ms of the last renewal, so
     * the row expires earlier by what a takeover may cost on a busy
     * machine (ending the old session, the epoch bump, the state load, the
     * bind) — a fifth, at most 1 s. Fencing does not depend on it: the
     * epoch does. */
    int64_t allowance = l->lease_ms / 5 < 1000 ? l->lease_ms / 5 : 1000;
    l->expiry_ms = l->lease_ms - allowance;
    l->wait_ms = 200;
    char host[256];
    if (gethostname(host, sizeof host) < 0)
        util_strlcpy(host, "localhost", sizeof host);
    host[sizeof host - 1] = '\0';
    snprintf(l->holder, sizeof l->holder, "%s:%d", host, (int)getpid());
    return l;
}

void leader_destroy(leader_t **lp)
{
    if (!lp || !*lp)
        return;
    free(*lp);
    *lp = NULL;
}

int leader_prepare(leader_t *l)
{
    return db_prepare(l->db, s_stmts, L_COUNT);
}

/* Marks this session as leading epoch e: the fence trigger checks it. */
static int s_set_epoch(leader_t *l, uint64_t e)
{
    char sql[80];
    snprintf(sql, sizeof sql, "SET drover.epoch = '%" PRIu64 "'", e);
    return db_simple(l->db, sql);
}

/* Renews with our epoch. 1 renewed, 0 the epoch moved on, -1 error. */
static int s_renew(leader_t *l)
{
    char e[24], ms[24];
    snprintf(e, sizeof e, "%" PRIu64, l->epoch);
    snprintf(ms, sizeof ms, "%" PRId64, l->expiry_ms);
    const char *v[] = {e, ms};
    PGresult *r = db_exec(l->db, s_stmts[L_RENEW].name, 2, v, NULL, NULL, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n == 1;
}

int leader_acquire(leader_t *l)
{
    if (l->epoch > 0) {
        /* We led before this (re)connect: continue only if nobody took over. */
        int rc = s_renew(l);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            log_error("fenced: this coordinator led epoch %" PRIu64 ", which another coordinator "
                      "has taken over; exiting without writing anything more",
                      l->epoch);
            return 2;
        }
        if (s_set_epoch(l, l->epoch) < 0)
            return -1;
        l->next_ms = util_mono_ms() + l->period_ms;
        log_info("still the active coordinator (epoch %" PRIu64 ") after reconnecting", l->epoch);
        return 1;
    }
    PGresult *r = db_exec(l->db, s_stmts[L_STATE].name, 0, NULL, NULL, NULL, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        log_error("drover.leader has no lease row (was migration 008 applied?)");
        return -1;
    }
    char epoch[24], holder[300];
    util_strlcpy(epoch, PQgetvalue(r, 0, 0), sizeof epoch);
    util_strlcpy(holder, PQgetvalue(r, 0, 1), sizeof holder);
    int expired = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
    int gone = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
    char pid[24];
    util_strlcpy(pid, PQgetvalue(r, 0, 4), sizeof pid);
    int64_t left = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    PQclear(r);
    if (!expired && !gone) {
        /* Look again right when the lease expires, and at least every
         * 200 ms for a crashed holder (its session gone). */
        l->wait_ms = left + 2 < 200 ? (int)left + 2 : 200;
        if (!l->announced || strcmp(l->last_holder, holder) != 0)
            log_info("another coordinator (%s) holds the leader lease; standing by", holder);
        l->announced = 1;
        util_strlcpy(l->last_holder, holder, sizeof l->last_holder);
        return 0;
    }
    if (expired && !gone && strcmp(pid, "0") != 0) {
        /* A paused leader keeps its session, its locks and maybe an open
         * transaction: end the session, and see it gone, so nothing it had
         * in flight can commit after the takeover (fencing layer 1,
         * migration 008). Without the right to end it (another database
         * role), the epoch trigger alone fences it. */
        const char *v[] = {pid};
        PGresult *t = db_exec(l->db, s_stmts[L_TERMINATE].name, 1, v, NULL, NULL, PGRES_TUPLES_OK);
        if (t) {
            int ended = PQntuples(t) == 1 && strcmp(PQgetvalue(t, 0, 0), "t") == 0;
            PQclear(t);
            if (!ended) {
                log_warn("the database session of the expired leader %s did not end within "
                         "2 s; trying again",
                         holder);
                return 0;
            }
        } else {
            if (!db_ok(l->db))
                return -1;
            log_warn("cannot end the database session of the expired leader %s (%s): taking "
                     "over with the epoch check alone",
                     holder, db_error(l->db));
        }
    }
    char ms[24];
    snprintf(ms, sizeof ms, "%" PRId64, l->expiry_ms);
    const char *v[] = {l->holder, ms, epoch};
    /* Bounded: a lock the old session still holds must not hang us. */
    if (db_simple(l->db, "SET lock_timeout = '2s'") < 0)
        return -1;
    r = db_exec(l->db, s_stmts[L_TAKE].name, 3, v, NULL, NULL, PGRES_TUPLES_OK);
    if (!r) {
        char why[1024];
        util_strlcpy(why, db_error(l->db), sizeof why);
        if (db_simple(l->db, "RESET lock_timeout") < 0 || !db_ok(l->db))
            return -1;
        log_warn("taking over the leader lease failed (%s); trying again", why);
        return 0;
    }
    int n = PQntuples(r);
    uint64_t e = n == 1 ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    if (db_simple(l->db, "RESET lock_timeout") < 0)
        return -1;
    if (n != 1)
        return 0; /* another standby was quicker */
    l->epoch = e;
    if (s_set_epoch(l, e) < 0)
        return -1;
    l->next_ms = util_mono_ms() + l->period_ms;
    if (holder[0])
        log_info("leader lease taken over from %s (%s): now active with epoch %" PRIu64, holder,
                 gone ? "its database session is gone" : "its lease expired", e);
    else
        log_info("leader lease taken: active with epoch %" PRIu64, e);
    return 1;
}

int leader_tick(leader_t *l, int64_t now_ms)
{
    if (l->epoch == 0 || now_ms < l->next_ms)
        return 0;
    l->next_ms = now_ms + l->period_ms;
    int rc = s_renew(l);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        log_error("fenced: the leader lease of epoch %" PRIu64 " was taken over by another "
                  "coordinator; exiting without writing anything more",
                  l->epoch);
        return 2;
    }
    return 0;
}

int leader_standby_wait_ms(const leader_t *l)
{
    return (int)l->wait_ms;
}

int64_t leader_next_ms(const leader_t *l)
{
    return l->next_ms;
}

uint64_t leader_epoch(const leader_t *l)
{
    return l->epoch;
}

int leader_is_fenced_error(const char *err)
{
    return err && strstr(err, "drover: fenced") != NULL;
}
