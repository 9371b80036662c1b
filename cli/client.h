/* client — the CLI's request/reply transport to the coordinator.
 *
 * One DEALER socket connected to the coordinator's client ROUTER; one frame
 * per message (a ClientRequest out, a ClientReply back). Each call stamps
 * the request with DROVER_PROTOCOL_VERSION and a fresh request_id and waits
 * (zmq_poll) for the reply carrying that id; replies with another id are
 * late answers to earlier, abandoned calls and are discarded, as are
 * replies that do not unpack (counted).
 *
 * After a call times out the socket is closed and reopened (the "lazy
 * pirate" pattern): a DEALER would otherwise keep the unanswered request
 * queued and deliver it, and every retry, once the coordinator is back.
 *
 * With CURVE keys (client_curve_t) the socket is a CurveZMQ client (RFC 26):
 * the keys are kept so every reopened socket uses them too. A coordinator
 * whose ZAP handler refuses the key just never answers: the handshake
 * fails below the socket, so that shows up as a timeout like any silence.
 *
 * The module prints nothing; cli.c turns failures into messages and exit
 * codes.
 */
#ifndef DROVER_CLI_CLIENT_H
#define DROVER_CLI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"

typedef struct client client_t;

/* CurveZMQ keys, Z85 (40 characters + NUL). */
typedef struct {
    char server_public[41]; /* the coordinator's public key */
    char public_key[41];    /* this client's key pair */
    char secret_key[41];
} client_curve_t;

/* Fills *curve from two key files: this client's secret key file and the
 * coordinator's public key file (keys.h; the parser's copy of the secret is
 * wiped). 0, or -1 with "file: message" in err. The caller wipes
 * curve->secret_key when done. */
int client_curve_load(client_curve_t *curve, const char *secret_file, const char *server_file,
                      char *err, size_t errlen);

/* Creates a ZeroMQ context and a DEALER socket connected to endpoint
 * (connecting is asynchronous: an absent coordinator shows up only as a
 * call timing out). curve NULL = a plain connection; else the keys are
 * copied (and wiped by client_destroy). Returns the client, or NULL with
 * errno set and a human message in err (e.g. a malformed endpoint). The
 * caller owns the result. */
client_t *client_new(const char *endpoint, const client_curve_t *curve, char *err, size_t errlen);

/* Closes the socket and the context; NULL-safe, nulls the caller's pointer. */
void client_destroy(client_t **c);

/* The endpoint given to client_new (borrowed, lives as long as c). */
const char *client_endpoint(const client_t *c);

/* Sends req (its version and request_id are overwritten) and waits up to
 * timeout_ms for the matching reply. Returns the reply, which the caller
 * frees with drover__client_reply__free_unpacked(reply, NULL); or NULL with
 * errno = ETIMEDOUT when no reply came in time (the socket has then been
 * reset), or another errno on a ZeroMQ or allocation failure. */
Drover__ClientReply *client_call(client_t *c, Drover__ClientRequest *req, int64_t timeout_ms);

/* Replies dropped so far because they did not unpack. */
uint64_t client_dropped(const client_t *c);

#endif
