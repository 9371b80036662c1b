/* session — drover-web's signed-in sessions, in memory.
 *
 * A session is made when a person signs in with a web token the
 * coordinator accepts; its id (32 random bytes, hex) travels in the
 * drover_session cookie (HttpOnly, SameSite=Strict), and its CSRF token (32
 * more) must come back in X-CSRF-Token on every POST and DELETE. The
 * session keeps the person's web token, sent with each coordinator call:
 * the coordinator decides every request, so a revoked token or key ends
 * the session at its next request (session_drop_token).
 *
 * Bounds: at most max sessions (a full store drops expired ones first,
 * then refuses a new sign-in); each session has a token bucket of `rate`
 * requests per second (burst 2x). Sessions end after ttl_s, on sign-out,
 * and with drover-web (they are not stored). All calls are thread-safe.
 */
#ifndef DROVER_WEB_SESSION_H
#define DROVER_WEB_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define SESSION_ID_LEN    64 /* hex characters */
#define SESSION_TOKEN_MAX 80

typedef struct sessions sessions_t;

/* A copy of one session, for one request. */
typedef struct {
    char id[SESSION_ID_LEN + 1];
    char csrf[SESSION_ID_LEN + 1];
    char token[SESSION_TOKEN_MAX + 1];
    char user[64];
    char role[16];
    int approver;
    int64_t expires_us; /* wall clock */
} session_t;

sessions_t *sessions_new(size_t max, int64_t ttl_s, unsigned rate);
void sessions_destroy(sessions_t **sp); /* NULL-safe; nulls *sp; wipes the tokens */

/* Makes a session for a person (token, user, role, approver from the
 * coordinator's whoami): 0 with *out filled, or -1 with errno ENOSPC (the
 * store is full) or EIO (no random bytes). */
int sessions_create(sessions_t *ss, const char *token, const char *user, const char *role,
                    int approver, session_t *out);

/* The session with cookie value id: 0 with *out, or -1 (ENOENT: unknown or
 * expired). With rate_ok, one request is taken from its bucket and
 * *rate_ok is 0 when it was empty (the request is to be refused with 429);
 * NULL only looks (an event stream checking its session lives). */
int sessions_get(sessions_t *ss, const char *id, session_t *out, int *rate_ok);

/* Updates a session's role/approver after a whoami. */
void sessions_update(sessions_t *ss, const char *id, const char *role, int approver);

/* Ends one session; ends every session signed in with token. */
void sessions_drop(sessions_t *ss, const char *id);
void sessions_drop_token(sessions_t *ss, const char *token);

/* Sessions held now. */
size_t sessions_count(sessions_t *ss);

/* 1 when a and b (NUL-terminated) are equal, in time independent of where
 * they differ (CSRF tokens, session ids). */
int sessions_equal(const char *a, const char *b);

#endif
