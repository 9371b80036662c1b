/* server_worker — the worker protocol; see server_int.h.
 *
 * Every message passes, in order: the key still allowed (auth_peer), the
 * key's message budget (coordinator.worker_rate), the protocol version,
 * the wire checks (wirecheck.c). Then:
 *
 *   Register  the name must be free for this key: bound to no key or to
 *             this one (drover.workers.key; an admin moves it with `keys
 *             rebind`), and not held by another live session (refused with
 *             retry_ms, never ping-pong). Only then does model.c reconcile
 *             `held` — against the leases placed on this name, which this
 *             key owns.
 *   others    count only on a connection that registered, and only for the
 *             key that registered it; everything about a lease is fenced by
 *             model.c (the worker must hold that attempt).
 *
 * Refusals are answered with the reason and logged once per key per
 * WARN_INTERVAL_MS (server_warn_limited).
 */
#include "server_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "auth.h"
#include "calendar.h"
#include "db.h"
#include "log.h"
#include "model.h"
#include "registry.h"
#include "store.h"
#include "util.h"
#include "wire.h"
#include "wirecheck.h"

/* ----------------------------------------------------------- workers --- */

static void s_reply_worker(server_t *s, const wire_msg_t *m, Drover__CoordMsg *msg)
{
    msg->version = DROVER_PROTOCOL_VERSION;
    server_queue(s, SOCK_WORKER, m->ident, m->ident_len, &msg->base);
}

/* Returns -1 only on a database error. */
int server_worker_msg(server_t *s, const wire_msg_t *m)
{
    Drover__WorkerMsg *in = drover__worker_msg__unpack(NULL, m->len, m->data);
    int rc = 0;
    if (!in) {
        server_count_drop(s, "a malformed message on the worker socket");
        return 0;
    }
    wire_sanitize(&in->base);
    Drover__CoordMsg out = DROVER__COORD_MSG__INIT;
    const char *keyname;
    auth_role_t role;
    char why[200];
    if (auth_peer(s->auth, m->user_id, "worker", &keyname, &role, why, sizeof why) < 0) {
        /* ZAP already refuses unknown keys; this is a key revoked since. */
        if (in->body_case == DROVER__WORKER_MSG__BODY_REGISTER) {
            Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
            rr.accepted = 0;
            rr.reason = why;
            out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
            out.register_reply = &rr;
            s_reply_worker(s, m, &out);
        } else {
            /* Its session is over: make it register, to be refused. */
            Drover__Reregister re = DROVER__REREGISTER__INIT;
            out.body_case = DROVER__COORD_MSG__BODY_REREGISTER;
            out.reregister = &re;
            s_reply_worker(s, m, &out);
        }
        server_count_drop(s, "a worker message from a key no longer allowed");
        goto done;
    }
    /* A flood from one worker key costs everyone only what the bucket
     * lets through: the rest is dropped and counted (a worker re-sends an
     * unacknowledged Result; Register is re-sent every second). Without
     * CURVE every peer is "insecure": no per-key limit then. */
    if (auth_secure(s->auth) && s->cfg->coord.worker_rate > 0 &&
        !auth_bucket_ok(s->auth, keyname, s->cfg->coord.worker_rate, util_mono_ms())) {
        server_count_drop(s, "a worker message over coordinator.worker_rate");
        server_warn_limited(s, keyname, "worker messages over coordinator.worker_rate",
                            "dropped (a Result is re-sent; a log chunk is lost)");
        goto done;
    }
    if (in->version != DROVER_PROTOCOL_VERSION) {
        if (in->body_case == DROVER__WORKER_MSG__BODY_REGISTER) {
            const char *name = in->register_->name ? in->register_->name : "?";
            char reason[256];
            snprintf(reason, sizeof reason,
                     "protocol version %u is not supported: this coordinator speaks version %d; "
                     "run matching drover versions",
                     in->version, DROVER_PROTOCOL_VERSION);
            log_warn("refused worker %s: it speaks protocol version %u, this coordinator speaks %d",
                     name, in->version, DROVER_PROTOCOL_VERSION);
            Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
            rr.accepted = 0;
            rr.reason = reason;
            out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
            out.register_reply = &rr;
            s_reply_worker(s, m, &out);
        } else {
            server_count_drop(s, "a worker message of another protocol version");
        }
        goto done;
    }
    /* The same checks the fuzzers drive (common/wirecheck.c). */
    char bad[200];
    if (wirecheck_validate_worker_msg(in, bad, sizeof bad) < 0) {
        if (in->body_case == DROVER__WORKER_MSG__BODY_REGISTER) {
            Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
            rr.accepted = 0;
            rr.reason = bad;
            log_warn("refused a worker registration: %s", bad);
            out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
            out.register_reply = &rr;
            s_reply_worker(s, m, &out);
        } else {
            server_count_drop(s, "an invalid worker message");
        }
        goto done;
    }
    if (in->body_case == DROVER__WORKER_MSG__BODY_REGISTER) {
        Drover__Register *reg = in->register_;
        Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
        if (!reg->name || !*reg->name || strlen(reg->name) >= sizeof(((worker_t *)0)->name)) {
            rr.accepted = 0;
            rr.reason = "a worker needs a name of 1 to 127 characters";
            log_warn("refused worker without a valid name");
            out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
            out.register_reply = &rr;
            s_reply_worker(s, m, &out);
            goto done;
        }
        /* keyname is borrowed from auth until its next call: keep a copy. */
        char key[64];
        util_strlcpy(key, auth_secure(s->auth) ? keyname : "", sizeof key);
        char refuse[400];
        int busy = 0;
        if (key[0]) {
            /* A name belongs to the key that first registered it: another
             * key cannot take over its leases or report for it. */
            char owner[64];
            int b = store_worker_key(s->st, reg->name, owner, sizeof owner);
            if (b < 0) {
                rc = -1;
                goto done;
            }
            if (b == 1 && strcmp(owner, key) != 0) {
                snprintf(refuse, sizeof refuse,
                         "worker name '%s' belongs to another key; key '%s' may not use it (an "
                         "admin can give it to this key: drover keys rebind %s %s)",
                         reg->name, key, reg->name, key);
                goto refused;
            }
        }
        if (model_worker_busy(s->model, m->ident, m->ident_len, reg, refuse, sizeof refuse)) {
            busy = 1;
            goto refused;
        }
        lease_t *drop = NULL;
        size_t ndrop = 0;
        worker_t *w = model_worker_register(s->model, m->ident, m->ident_len, reg, m->peer_addr,
                                            key, &drop, &ndrop);
        if (!w || capacity_note(s->cap, reg) < 0) {
            free(drop);
            rc = -1;
            goto done;
        }
        Drover__Lease *dl = ndrop ? calloc(ndrop, sizeof *dl) : NULL;
        Drover__Lease **dp = ndrop ? calloc(ndrop, sizeof *dp) : NULL;
        if (ndrop && (!dl || !dp)) {
            free(dl);
            free(dp);
            free(drop);
            rc = -1;
            goto done;
        }
        for (size_t i = 0; i < ndrop; i++) {
            drover__lease__init(&dl[i]);
            dl[i].task_id = (uint64_t)drop[i].task_id;
            dl[i].attempt = (uint32_t)drop[i].attempt;
            dp[i] = &dl[i];
        }
        if (server_regrant_artifacts(s, w) < 0) {
            free(dl);
            free(dp);
            free(drop);
            rc = -1;
            goto done;
        }
        rr.accepted = 1;
        rr.heartbeat_ms = (uint32_t)s->cfg->coord.heartbeat_ms;
        /* Half the time that gets a worker declared dead: an Assign that
         * waited longer in a stalled connection may be for a step already
         * run elsewhere (see the proto). */
        rr.stale_after_ms = (uint32_t)(s->cfg->coord.worker_timeout_ms / 2);
        rr.n_drop = ndrop;
        rr.drop = dp;
        out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
        out.register_reply = &rr;
        s_reply_worker(s, m, &out);
        free(dl);
        free(dp);
        free(drop);
        goto done;
    refused:
        server_warn_limited(s, key[0] ? key : reg->name, "refused worker registration", refuse);
        rr.accepted = 0;
        rr.reason = refuse;
        /* Busy: the other session may end any moment; try again then. */
        rr.retry_ms = busy ? (uint32_t)s->cfg->coord.heartbeat_ms * 5 : 0;
        out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
        out.register_reply = &rr;
        s_reply_worker(s, m, &out);
        goto done;
    }
    worker_t *w = model_worker_by_ident(s->model, m->ident, m->ident_len);
    /* A connection's messages count only for the key that registered it. */
    if (w && auth_secure(s->auth) && strcmp(w->key, keyname) != 0)
        w = NULL;
    if (!w) {
        /* A session we do not know (we restarted, or declared it dead). */
        Drover__Reregister re = DROVER__REREGISTER__INIT;
        out.body_case = DROVER__COORD_MSG__BODY_REREGISTER;
        out.reregister = &re;
        s_reply_worker(s, m, &out);
        goto done;
    }
    model_worker_seen(s->model, w);
    switch (in->body_case) {
    case DROVER__WORKER_MSG__BODY_HEARTBEAT:
        if (in->heartbeat->seq) {
            Drover__HeartbeatAck ack = DROVER__HEARTBEAT_ACK__INIT;
            ack.seq = in->heartbeat->seq;
            out.body_case = DROVER__COORD_MSG__BODY_HEARTBEAT_ACK;
            out.heartbeat_ack = &ack;
            s_reply_worker(s, m, &out);
        }
        break;
    case DROVER__WORKER_MSG__BODY_STARTED:
        rc = model_task_started(s->model, w, in->started) < 0 ? -1 : 0;
        break;
    case DROVER__WORKER_MSG__BODY_RESULT: {
        if (model_task_result(s->model, w, in->result) < 0) {
            rc = -1;
            break;
        }
        if (!in->result->lease)
            break;
        artsvc_revoke(s->arts, in->result->lease->task_id, in->result->lease->attempt);
        /* Acked even when stale, so the worker stops re-sending it. */
        Drover__ResultAck ack = DROVER__RESULT_ACK__INIT;
        Drover__Lease l = DROVER__LEASE__INIT;
        l.task_id = in->result->lease->task_id;
        l.attempt = in->result->lease->attempt;
        ack.lease = &l;
        out.body_case = DROVER__COORD_MSG__BODY_RESULT_ACK;
        out.result_ack = &ack;
        s_reply_worker(s, m, &out);
        break;
    }
    case DROVER__WORKER_MSG__BODY_LOG:
        rc = model_task_log(s->model, w, in->log) < 0 ? -1 : 0;
        break;
    case DROVER__WORKER_MSG__BODY_DRAINING:
        rc = model_worker_draining(s->model, w, in->draining->drain_ms) < 0 ? -1 : 0;
        break;
    case DROVER__WORKER_MSG__BODY_METRIC: {
        int r = model_task_metric(s->model, w, in->metric);
        if (r == 0)
            server_count_drop(s, "a malformed metric");
        rc = r < 0 ? -1 : 0;
        break;
    }
    default: server_count_drop(s, "a worker message without a body");
    }
done:
    drover__worker_msg__free_unpacked(in, NULL);
    return rc;
}
