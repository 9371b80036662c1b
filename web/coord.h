/* coord — drover-web's calls to the coordinator.
 *
 * A pool of coordinator_sockets clients (cli/client.h: one DEALER each,
 * CurveZMQ with drover-web's own key of role web), shared by the HTTP
 * threads: a call takes a free one (waiting at most the call timeout for
 * one), sends the request with the person's web token and waits for the
 * reply. An event stream takes a client of its own (coord_open) so its
 * long-polls hold no shared socket.
 *
 * The key of role web can do nothing by itself: every request carries a
 * token, and the coordinator decides with the token's key (docs/security.md).
 */
#ifndef DROVER_WEB_COORD_H
#define DROVER_WEB_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "drover.pb-c.h"
#include "webconf.h"

typedef struct coord coord_t;

/* Loads the keys and opens the pool. NULL with a message in err. */
coord_t *coord_new(const webconf_t *cfg, char *err, size_t errlen);
/* NULL-safe; nulls *cp. No call may be in flight. */
void coord_destroy(coord_t **cp);

/* Sends req with the web token (stamped into req->web_token) and returns
 * the reply (caller frees with drover__client_reply__free_unpacked), or
 * NULL with errno ETIMEDOUT (no reply, or no free socket in time) or
 * another errno. timeout_ms 0 = the configured call timeout. */
Drover__ClientReply *coord_call(coord_t *c, const char *token, Drover__ClientRequest *req,
                                int64_t timeout_ms);

/* A client of its own (for a long-poll), with the pool's keys: the caller
 * owns it (client_destroy). NULL on failure. */
client_t *coord_open(coord_t *c);

/* As coord_call, on a client from coord_open. */
Drover__ClientReply *coord_call_on(client_t *cl, const char *token, Drover__ClientRequest *req,
                                   int64_t timeout_ms);

#endif
