/* leader — one active coordinator, fenced by an epoch (migration 008).
 *
 * Leadership is the lease row drover.leader: epoch, holder, the holder's
 * database session, expires_at. A coordinator becomes active by bumping the
 * epoch when the lease has expired, or at once when the holder's database
 * session is gone (a crash). It then renews the lease about every second
 * (leader_tick), each renewal setting expires_at to the lease less a
 * takeover allowance (a fifth, at most 1 s): a standby looks again exactly
 * when the lease expires, so it answers within the lease of the leader's
 * last renewal. A lease it cannot renew (the epoch moved on) means another
 * coordinator took over, and this one must stop writing and exit.
 *
 * Fencing is in the database: the session sets drover.epoch, and a
 * statement trigger on every coordinator table checks it in the same
 * transaction, so even a write already on its way from a paused leader
 * fails once a standby took over (SQLSTATE DRF01, "drover: fenced").
 *
 * A paused leader's session keeps its locks: before taking over, a standby
 * whose lease check found the lease expired terminates the holder's
 * session and waits until it is gone (pg_terminate_backend; the same
 * database role may), so a transaction the paused leader left open can
 * neither block the takeover nor commit after it.
 *
 * The SQL lives here, beside the lease logic, as named statements prepared
 * by leader_prepare(); it moves into store with the rest when store becomes
 * the only SQL module.
 */
#ifndef DROVER_COORDINATOR_LEADER_H
#define DROVER_COORDINATOR_LEADER_H

#include <stdint.h>

#include "db.h"

typedef struct leader leader_t;

/* A lease of lease_ms (renewed every min(1 s, lease_ms / 3)). The db handle
 * is borrowed and must outlive the leader. NULL on ENOMEM. */
leader_t *leader_new(db_t *db, int64_t lease_ms);
void leader_destroy(leader_t **lp);

/* Prepares the statements on the current connection (after each connect). */
int leader_prepare(leader_t *l);

/* Tries to become (or, after a reconnect, stay) the active coordinator.
 * Returns 1 active (drover.epoch set on this session), 0 another one holds
 * a live lease (stand by and try again later), 2 fenced (this process led
 * an epoch that another coordinator has taken over: it must exit), -1 on
 * a database error. Must be called outside a transaction. */
int leader_acquire(leader_t *l);

/* Renews the lease when due (outside a transaction). Returns 0, 2 fenced
 * (exit), -1 on a database error. */
int leader_tick(leader_t *l, int64_t now_ms);

/* After leader_acquire returned 0: how long to stand by before trying
 * again (until the live lease expires, at most 200 ms). */
int leader_standby_wait_ms(const leader_t *l);

/* Monotonic ms of the next renewal. */
int64_t leader_next_ms(const leader_t *l);

/* The epoch this coordinator leads with (0 before the first acquire). */
uint64_t leader_epoch(const leader_t *l);

/* 1 when the database error text is the fence trigger's. */
int leader_is_fenced_error(const char *err);

#endif
