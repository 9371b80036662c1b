/* webtok — web sign-in tokens (issue 15; docs/security.md "drover-web").
 *
 * A token is "drw_" followed by 64 hex digits (32 random bytes from the
 * kernel), made by the coordinator on `drover web-token create KEY` and
 * shown once. It acts as the client key KEY: drover-web (a key of role
 * web) sends it with each request it makes for a person, and the server
 * handles that request as KEY's own (server_client.c).
 *
 * Only sha256(token) is stored (drover.web_tokens, migration 021). Every
 * token that may sign in is held here in an open-addressing hash table
 * keyed by that digest, loaded at start and changed on create and revoke,
 * so resolving a token costs one hash and a probe or two: no database
 * round trip per request on the loop. An expired token is refused by its
 * expiry time (held in memory); a revoked one is dropped from the table
 * at once. The key behind a token is checked by the caller (auth.h) on
 * every request, so revoking the key ends its tokens too.
 *
 * Bounds: at most WEBTOK_MAX valid tokens in all and WEBTOK_PER_KEY_MAX
 * for one key (create refuses beyond); an expired token stops counting
 * (create drops it from the table), and the TTL is at most
 * WEBTOK_TTL_MAX_S.
 */
#ifndef DROVER_WEBTOK_H
#define DROVER_WEBTOK_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define WEBTOK_MAX         10000
#define WEBTOK_PER_KEY_MAX 50
#define WEBTOK_TEXT_LEN    68 /* "drw_" + 64 hex */
#define WEBTOK_TTL_DEF_S   (30 * 86400)
#define WEBTOK_TTL_MAX_S   (366 * 86400)

typedef struct webtok webtok_t;

webtok_t *webtok_new(void);
/* NULL-safe; nulls *wp. */
void webtok_destroy(webtok_t **wp);

/* (Re)loads every live token from the database. 0, or -1 (the old table
 * is kept). */
int webtok_load(webtok_t *w, store_t *st);

/* The key a token acts as: returns it (borrowed until the next webtok
 * call), or NULL when the text is not a token, is unknown, revoked or
 * expired at now_us (wall clock). */
const char *webtok_resolve(const webtok_t *w, const char *token, int64_t now_us);

/* Makes a token for key (checked by the caller) valid ttl_s seconds, by
 * `by`: 0 with the token text in out (WEBTOK_TEXT_LEN + 1 bytes), its id
 * and expiry; 1 refused (msg: too many valid tokens, in all or for key,
 * at now_us); -1 database or no memory. */
int webtok_create(webtok_t *w, store_t *st, const char *key, int64_t ttl_s, const char *by,
                  int64_t now_us, char *out, int64_t *id, int64_t *expires_us, char *msg,
                  size_t msglen);

/* Revokes token id: 0 done (msg), 1 unknown or revoked already (msg), -1
 * database. */
int webtok_revoke(webtok_t *w, store_t *st, int64_t id, const char *by, char *msg, size_t msglen);

/* Live tokens held (for tests and info). */
size_t webtok_count(const webtok_t *w);

#endif
