/* auth — who may talk to the coordinator, and what they may do.
 *
 * The allow-list of CURVE public keys lives in drover.keys; auth keeps it in
 * memory, answers ZAP (RFC 27) requests for both ROUTER sockets from it,
 * and maps each request to a role. A ZAP-approved peer's messages carry the
 * User-Id "worker:NAME" or "client:NAME"; a key revoked later is refused
 * for new connections by ZAP and for existing ones at every message.
 *
 * Roles (clients): reader (list, status, logs, metrics), submitter (+ submit,
 * cancel its own runs), admin (+ cancel any run, promote, keys).
 * Workers have no role: their key only lets them register. A client key of
 * role web (drover-web's) may do nothing by itself: each of its requests
 * must carry a person's web token (webtok.h), and is handled as the key the
 * token was made for. Its value is below every other role, so no role
 * check (`role < need`, `role >= admin`) can ever pass for it.
 *
 * Limits: a token bucket per client key (client_rate per second, burst 2x).
 */
#ifndef DROVER_AUTH_H
#define DROVER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef enum {
    AUTH_ROLE_WEB = -1, /* drover-web's own key: only with a person's token */
    AUTH_ROLE_NONE = 0,
    AUTH_ROLE_READER = 1,
    AUTH_ROLE_SUBMITTER = 2,
    AUTH_ROLE_ADMIN = 3,
} auth_role_t;

const char *auth_role_name(auth_role_t r);
/* AUTH_ROLE_NONE for an unknown name. */
auth_role_t auth_role_parse(const char *s);

typedef struct auth auth_t;

/* secure=0: no CURVE; every client acts as admin named "insecure". */
auth_t *auth_new(int secure, int client_rate);
void auth_destroy(auth_t **ap);
int auth_secure(const auth_t *a);

/* (Re)loads the allow-list from the database. 0 or -1. */
int auth_load(auth_t *a, store_t *st);
/* Makes sure each admin .pub file is allowed as an admin client (keys
 * already present keep their state: a revoked key stays revoked). */
int auth_bootstrap(auth_t *a, store_t *st, char paths[][1024], int n, char *err, size_t errlen);

/* Answers every waiting ZAP request on the inproc REP socket. */
void auth_zap(auth_t *a, void *zap_sock);

/* The peer behind a message: returns 0 and fills *name (borrowed until the
 * next auth call) and *role, or -1 when it must be refused (unknown,
 * revoked, or the wrong kind for this socket) with a reason. kind is
 * "worker" or "client"; user_id is wire_msg_t.user_id. */
int auth_peer(auth_t *a, const char *user_id, const char *kind, const char **name,
              auth_role_t *role, char *why, size_t whylen);

/* 1 if the client `name` may make one more request now. */
int auth_rate_ok(auth_t *a, const char *name, int64_t now_ms);
/* The same token bucket with another rate (per second; burst 2x): worker
 * keys (coordinator.worker_rate). Key names are unique across kinds. */
int auth_bucket_ok(auth_t *a, const char *name, int rate, int64_t now_ms);

/* Allow-list changes (admin commands); 0 done, 1 refused (msg), -1 db. */
int auth_allow(auth_t *a, store_t *st, const char *name, const char *kind, const char *role,
               const char *public_z85, const char *by, char *msg, size_t msglen);
int auth_revoke(auth_t *a, store_t *st, const char *name, const char *by, char *msg, size_t msglen);
/* The role of an allowed client key; AUTH_ROLE_NONE when unknown, revoked
 * or a worker key. */
auth_role_t auth_key_role(auth_t *a, const char *name);
/* "worker" or "client" for an allowed key, NULL when unknown or revoked
 * (borrowed until the next allow-list change). */
const char *auth_key_kind(auth_t *a, const char *name);
/* The allow-list as a JSON array (caller frees); NULL on error. */
char *auth_list_json(auth_t *a);

#endif
