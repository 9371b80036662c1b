/* server_db — the loop and its database (see server_int.h): becoming the
 * active coordinator (connect, migrate, take the leader lease or stand by,
 * load state and the key allow-list), recovering after a database error
 * (forget the iteration, reconnect, reload), and serving clients from
 * memory while PostgreSQL is unreachable.
 *
 * Everything here runs on the loop's thread, between iterations; the loop
 * (server.c) calls server_attach once at start, server_reset after an
 * iteration failed, and server_outage_step instead of an iteration while
 * the database is away. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "calendar.h"
#include "leader.h"
#include "log.h"
#include "migrate.h"
#include "sdnotify.h"
#include "server_int.h"
#include "util.h"
#include "webtok.h"

/* Loads the key allow-list and makes sure the configured admin keys are on
 * it. A bad admin key file is fatal (stop set). */
static int s_auth_load(server_t *s)
{
    if (!auth_secure(s->auth))
        return 0;
    if (auth_load(s->auth, s->st) < 0 || webtok_load(s->webtok, s->st) < 0)
        return -1;
    char err[1200];
    int rc = auth_bootstrap(s->auth, s->st, (char(*)[1024])s->cfg->coord.admin_keys,
                            s->cfg->coord.nadmin_keys, err, sizeof err);
    if (rc == 1) {
        log_error("coordinator.admin_keys: %s", err);
        s->stop = 1;
        return -1;
    }
    if (rc < 0 || store_commit(s->st) < 0)
        return -1;
    return 0;
}

/* Connects, migrates, becomes the active coordinator and loads state.
 * Returns 0, 1 when stopping, -1 on a fatal error. */
int server_attach(server_t *s)
{
    int announced = 0;
    for (;;) {
        if (db_connect_retry(s->db, &s->stop) < 0)
            return 1;
        if (migrate_apply(s->db) < 0) {
            if (!db_ok(s->db)) {
                server_wait_signal(s, 500);
                if (s->stop)
                    return 1;
                continue;
            }
            return -1;
        }
        if (store_prepare(s->st) < 0 || leader_prepare(s->leader) < 0) {
            log_error("database: %s", db_error(s->db));
            if (!db_ok(s->db))
                continue;
            return -1;
        }
        for (;;) {
            /* The leader lease (leader.h), not an advisory lock: a paused
             * leader keeps its session, and with it any lock. */
            int got = leader_acquire(s->leader);
            if (got == 2)
                return -1; /* fenced: exit, writing nothing */
            if (got < 0)
                break;
            if (got == 1) {
                if (announced)
                    log_info("the other coordinator is gone: taking over");
                if (model_load(s->model) < 0 || s_auth_load(s) < 0 || calendar_load(s->cal) < 0 ||
                    capacity_load(s->cap) < 0) {
                    if (model_clear(s->model) < 0)
                        return -1;
                    if (s->stop)
                        return -1;
                    break;
                }
                return 0;
            }
            if (!announced) { /* a standby is a healthy start too (Type=notify) */
                (void)sdnotify_send("READY=1\nSTATUS=standing by");
                observe_ready(s->obs, "standing by (another coordinator is active)");
            }
            announced = 1;
            server_wait_signal(s, leader_standby_wait_ms(s->leader));
            if (s->stop)
                return 1;
        }
        if (!db_ok(s->db))
            continue;
        return -1;
    }
}

/* ------------------------------------------------------ database outage ---
 *
 * While PostgreSQL is unreachable the coordinator keeps answering clients
 * (never workers: nothing they report could be made durable): what it can
 * serve from memory (info, workers, the status of a run it holds as
 * running) it serves; everything else, writes first, gets
 * ERROR_DB_UNAVAILABLE "database unavailable, retrying since HH:MM:SS"
 * (CLI exit 4). Workers keep their results and logs until it is back;
 * then state is reloaded from the database as after a restart.
 */

/* The database went away: serve from memory until it is back. The model
 * is kept as it was (for info, workers and live status) and reloaded when
 * the database returns. */
static int s_outage_begin(server_t *s)
{
    s->db_down_us = util_now_us();
    s->db_retry_ms = util_mono_ms() + 500;
    observe_ready(s->obs, "database unreachable");
    observe_publish(s->obs, s->model, 1, 0, NULL);
    log_error("the database is unreachable (%s): answering clients from memory and refusing "
              "writes until it is back",
              db_error(s->db));
    return 0;
}

/* One loop turn while the database is down: clients and signals only, a
 * reconnect attempt every second. Returns 0 to go on, 1 to stop, -1 on a
 * fatal error. */
int server_outage_step(server_t *s)
{
    zmq_pollitem_t items[3] = {
        {s->csock, 0, ZMQ_POLLIN, 0},
        {NULL, s->sigfd, ZMQ_POLLIN, 0},
        {s->zap, 0, ZMQ_POLLIN, 0},
    };
    if (zmq_poll(items, s->zap ? 3 : 2, 200) < 0 && errno != EINTR) {
        log_error("zmq_poll: %s", zmq_strerror(errno));
        return -1;
    }
    if (items[1].revents & ZMQ_POLLIN)
        server_read_signals(s);
    if (s->stop)
        return 1;
    if (s->zap && (items[2].revents & ZMQ_POLLIN))
        auth_zap(s->auth, s->zap);
    server_watchdog(s, util_mono_ms());
    if (server_drain(s, s->csock, SOCK_CLIENT) < 0)
        store_discard(s->st); /* a read failed: the database is still away */
    if (s->bulk)
        (void)server_client_bulk_done(s); /* answers only: the reload reads what was stored */
    server_flush(s);
    if (util_mono_ms() < s->db_retry_ms)
        return 0;
    s->db_retry_ms = util_mono_ms() + 1000;
    if (db_connect_once(s->db) < 0)
        return 0;
    log_info("the database is back after %.1fs: reloading state",
             (double)(util_now_us() - s->db_down_us) / 1e6);
    if (model_clear(s->model) < 0)
        return -1;
    s->db_down_us = 0;
    int a = server_attach(s);
    if (a == 0)
        server_side_active(s, 1);
    return a;
}

/* After a database error: forget everything, reconnect and reload. */
int server_reset(server_t *s)
{
    if (leader_is_fenced_error(db_error(s->db))) {
        log_error("fenced (%s): another coordinator took over; exiting without writing anything "
                  "more",
                  db_error(s->db));
        return -1;
    }
    log_error("database error (%s): discarding this iteration and reloading state",
              db_error(s->db));
    /* A large submit being stored commits or not before the reload reads
     * the runs: it is then either in what is loaded or was refused. */
    bulk_wait_idle(s->bulk);
    s->loads++;
    server_side_active(s, 0);
    server_discard_outbox(s);
    server_client_drop_held(s);
    store_discard(s->st);
    db_rollback(s->db);
    if (!db_ok(s->db) && s->csock) {
        /* Serving already: keep answering clients from what memory holds
         * (reloaded when the database is back). */
        db_disconnect(s->db);
        return s_outage_begin(s);
    }
    if (model_clear(s->model) < 0) {
        log_error("out of memory rebuilding state: exiting (a restart loses nothing)");
        return -1;
    }
    if (db_ok(s->db)) {
        if (model_load(s->model) == 0 && s_auth_load(s) == 0 && calendar_load(s->cal) == 0 &&
            capacity_load(s->cap) == 0) {
            server_side_active(s, 1);
            return 0;
        }
        if (model_clear(s->model) < 0)
            return -1;
    }
    db_disconnect(s->db);
    int r = server_attach(s);
    if (r == 0)
        server_side_active(s, 1);
    return r;
}
