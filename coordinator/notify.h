/* notify — webhook notifications of what an operator must hear about: a run
 * that failed or was rejected (and, when asked, one that succeeded or was
 * cancelled), a schedule whose due times were missed.
 *
 * The outbox is the database: a trigger on drover.events (migration 010)
 * enqueues one row per such event in the transaction that records it, keyed
 * by the event id, so a notification exists exactly when its event does,
 * whatever crashes. This module is the sender: a thread with its own
 * connection that, while the coordinator is the active one, POSTs each due
 * row as JSON to coordinator.notify.webhook and records the outcome. A
 * receiver that fails (non-2xx, timeout, refused) is retried with
 * exponential backoff (1 s doubling to 10 min), for as long as it takes.
 *
 * Delivery is at least once: a row is marked delivered after the receiver
 * answered 2xx, so a coordinator killed between the two re-sends it once.
 * Every request carries X-Drover-Delivery (the event id, constant across
 * retries: receivers deduplicate on it), X-Drover-Event (the kind) and,
 * with a secret, X-Drover-Signature: sha256=HEX (HMAC-SHA256 of the body).
 * Kinds not listed in notify.on are marked delivered without a request.
 *
 * A workflow may name its own webhook (notify = { webhook; on; } in the
 * file, SubmitRequest.notify): accepted at submit only when it starts with
 * one of coordinator.notify.allow's prefixes (notify_webhook_allowed), so
 * no submitter can make the coordinator post to an address the operator
 * did not list. Its rows (migration 013) carry the URL and only the kinds
 * the workflow asked for; they are delivered the same way, signed with the
 * same secret. */
#ifndef DROVER_NOTIFY_H
#define DROVER_NOTIFY_H

#include "conf.h"

typedef struct notify notify_t;

/* Starts the sender for cc (borrowed; must outlive it), inactive until
 * notify_set_active(1). Returns NULL with errno ENOENT when neither a
 * webhook nor an allow-list is configured, or with a message in err on failure (unreadable secret
 * file, thread, ENOMEM). */
notify_t *notify_start(const conf_coordinator_t *cc, char *err, size_t errlen);
/* A workflow's notify block, checked before a run is written: 0, or -1 with
 * errno EINVAL and the reason in err (a webhook outside every allow prefix,
 * none configured, an unknown or repeated kind, an empty 'on',
 * schedule_missed for a workflow without a schedule: scheduled = 0). */
int notify_check_workflow(const conf_coordinator_t *cc, const char *webhook, char *const *on,
                          size_t non, int scheduled, char *err, size_t errlen);
/* 1 = this coordinator is the active one: deliver. Any thread; NULL-safe. */
void notify_set_active(notify_t *n, int active);
/* Stops the thread (after the request in flight, at most the timeout) and
 * frees everything; NULL-safe, nulls *np. */
void notify_stop(notify_t **np);

#endif
