/* wirecheck — the one decode-and-validate path for every envelope that
 * crosses a trust boundary (worker -> coordinator, coordinator -> worker,
 * client -> coordinator, coordinator -> client).
 *
 * Design
 *  - Each wirecheck_<envelope>() unpacks the bytes with protobuf-c, checks
 *    the structural rules the handlers rely on (a body is set, required
 *    sub-messages such as a lease are present, counts and lengths are within
 *    the limits below, identifiers fit the integer types the daemons store
 *    them in), and only then runs wire_sanitize() so every string is valid
 *    UTF-8. A handler that receives a non-NULL message may therefore
 *    dereference msg->register_, msg->result->lease, ... without checks and
 *    never sees an unbounded count.
 *  - The protocol version is deliberately NOT checked: a mismatch needs a
 *    reply (a refusal the peer can act on), which only the caller can give.
 *  - The wirecheck_validate_*() functions run the same checks on a message
 *    the caller unpacked itself (for instance to reply to an invalid
 *    Register or to answer a request it rejects with its request id). The
 *    unpack wrappers are those validators plus the unpack and the sanitize,
 *    so both routes agree by construction.
 *  - Checks reject, they never repair: a message either passes whole or is
 *    dropped with a short reason ("result without a lease") meant for a log
 *    line and the dropped-messages counter.
 *  - Values the receiver handles gracefully are not rejected (an unknown
 *    Outcome is reported as "unknown outcome" by the coordinator; dropping
 *    the Result instead would make the worker re-send it forever).
 *
 * Invariants: nothing here allocates beyond what protobuf-c's unpack does,
 * and every function is safe on arbitrary bytes (fuzzed: tests/fuzz/).
 */
#ifndef DROVER_WIRECHECK_H
#define DROVER_WIRECHECK_H

#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"

/* Limits on what a peer may send (bytes unless stated). */
#define WIRECHECK_MAX_WORKER_NAME      127 /* fits worker_t.name[128] */
#define WIRECHECK_MAX_HOST             255 /* fits worker_t.host[256] */
#define WIRECHECK_MAX_SLOTS            4096
#define WIRECHECK_MAX_LABELS           32 /* CONFIG_MAX_LABELS */
#define WIRECHECK_MAX_LABEL            63 /* CONFIG_LABEL_MAX - 1 */
#define WIRECHECK_MAX_KINDS            16
#define WIRECHECK_MAX_KIND             31
#define WIRECHECK_MAX_LEASES           100000 /* held, running, drop lists */
#define WIRECHECK_MAX_ERROR            4096   /* Result.error, RegisterReply.reason */
#define WIRECHECK_MAX_OUTPUTS_JSON     (16u * 1024u * 1024u)
#define WIRECHECK_MAX_METRIC_JSON      (64u * 1024u)
#define WIRECHECK_MAX_ARTIFACTS        64         /* declared outputs of one step */
#define WIRECHECK_MAX_ARTIFACT_NAME    255        /* an output's relative path */
#define WIRECHECK_MAX_ARTIFACT_CHUNK   (1u << 20) /* bytes per artifact chunk */
#define WIRECHECK_MAX_STEPS            10000      /* WORKFLOW_MAX_STEPS */
#define WIRECHECK_MAX_NAME             128        /* workflow, step and model names */
#define WIRECHECK_MAX_AFTER            10000      /* dependencies of one step */
#define WIRECHECK_MAX_SPEC_JSON        (1024u * 1024u)
#define WIRECHECK_MAX_ASSIGN_SPEC_JSON (4u * 1024u * 1024u) /* after dispatch-time resolution */
#define WIRECHECK_MAX_TEXT             4096 /* source, submitted_by, promote by/reason, stage */
#define WIRECHECK_MAX_REPLY_MESSAGE    (64u * 1024u)
#define WIRECHECK_MAX_REPLY_JSON       (16u * 1024u * 1024u)
#define WIRECHECK_MAX_REPLY_ITEMS      100000 /* runs, tasks, workers in one reply */

/* Unpack + validate + sanitize. Each returns a message the caller frees
 * with the matching drover__*__free_unpacked(msg, NULL), or NULL with a
 * short reason in why (truncated to whylen; why may be NULL when whylen is
 * 0). Never crashes on any input; len 0 is a valid (empty, hence rejected
 * for lack of a body) encoding. */
Drover__WorkerMsg *wirecheck_worker_msg(const uint8_t *data, size_t len, char *why, size_t whylen);
Drover__CoordMsg *wirecheck_coord_msg(const uint8_t *data, size_t len, char *why, size_t whylen);
Drover__ClientRequest *wirecheck_client_request(const uint8_t *data, size_t len, char *why,
                                                size_t whylen);
Drover__ClientReply *wirecheck_client_reply(const uint8_t *data, size_t len, char *why,
                                            size_t whylen);

/* The checks alone, on an already unpacked message (not sanitized here).
 * Return 0 when valid, -1 with a reason in why. */
int wirecheck_validate_worker_msg(const Drover__WorkerMsg *m, char *why, size_t whylen);
int wirecheck_validate_coord_msg(const Drover__CoordMsg *m, char *why, size_t whylen);
int wirecheck_validate_client_request(const Drover__ClientRequest *m, char *why, size_t whylen);
int wirecheck_validate_client_reply(const Drover__ClientReply *m, char *why, size_t whylen);

/* The request_id of a client request whose bytes still unpack, so that a
 * request wirecheck_client_request() refused can be answered with
 * ERROR_BAD_REQUEST and the reason. Returns 0 and sets *id, or -1 when the
 * bytes are not a ClientRequest at all (then there is nobody to answer). */
int wirecheck_request_id(const uint8_t *data, size_t len, uint64_t *id);

/* The request_id of a client request without unpacking it: walks only the
 * top-level fields (a handful; a nested message is skipped by its length),
 * so it costs the same for 20 MB as for 20 bytes. For a frame too large to
 * decode (the coordinator refuses it by size). 0 and *id, or -1 when no
 * well-formed request_id field comes before the first malformed byte. */
int wirecheck_peek_request_id(const uint8_t *data, size_t len, uint64_t *id);

#endif
