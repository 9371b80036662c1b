/* api — drover-serve's HTTP/JSON API on libmicrohttpd (a pool of request
 * threads of its own; the main thread only polls the registry).
 *
 *   POST /v1/models/NAME/predict   {"row": {...}} or {"rows": [{...}, ...]}
 *   POST /v1/feedback              {"request_id": ID, "row": 0, "label": L, "by": WHO}
 *   GET  /v1/models                what each model serves (version, signature)
 *   GET  /healthz, /readyz, /metrics   (no token needed)
 *
 * Every /v1 request needs "Authorization: Bearer TOKEN" (tokens.h), else
 * 401. A body over max_body is refused with 413 (by its Content-Length
 * before it is read, or as soon as it grows past), a batch over max_batch
 * rows with 413, malformed JSON with 400 naming line and column, a row
 * with a missing, extra or non-numeric column with 400 naming the row and
 * the column; each refusal is counted (/metrics) and the server keeps
 * serving. Every answer carries "Server-Timing: app;dur=MS" (the time from
 * the request's headers to its answer, for benchmarks). docs/serving.md
 * is the reference. */
#ifndef DROVER_SERVE_API_H
#define DROVER_SERVE_API_H

#include <stddef.h>

#include "feedback.h"
#include "predlog.h"
#include "serveconf.h"
#include "slots.h"
#include "tokens.h"

typedef struct api api_t;

/* Starts serving on cfg->listen with cfg->threads threads. Every pointer is
 * borrowed and must outlive api_stop. NULL + err (bad address, port in use). */
api_t *api_start(const serveconf_t *cfg, slots_t *slots, predlog_t *pl, feedback_t *fb,
                 const tokens_t *tokens, char *err, size_t errlen);

/* Stops the threads (requests in flight finish), frees; NULL-safe. */
void api_stop(api_t **a);

#endif
