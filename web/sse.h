/* sse — drover-web's event streams (text/event-stream, docs/http-api.md).
 *
 *   GET /api/runs/{id}/events  `event: run` with GET /api/runs/{id}'s
 *        document at the start and whenever it changes; `event: end` when
 *        the run has ended (then the stream closes). An unknown run, a
 *        refused token or an unreachable coordinator is answered with an
 *        HTTP error instead of a stream.
 *   GET /api/runs/events       `event: runs` {"changed":[ids]} when runs
 *        among the newest 100 change (state, progress, approval), checked
 *        every 500 ms.
 *
 * Each stream talks to the coordinator on a socket of its own, never one of
 * the pool the page requests share (streams must not slow anyone's pages). A
 * run's stream long-polls (StatusRequest known_version + wait_ms, at most
 * 2 s: the coordinator answers as soon as the run changes, at most every
 * 100 ms), so a transition reaches the page well within a second. Between
 * long-polls and during the runs stream's sleeps a stream watches its
 * browser's connection and ends within ~2 s of it closing (an SSE reader
 * never writes between events, so MHD alone would notice only at a failed
 * keepalive, 15-30 s on, polling all the while). Quiet streams send a comment every 15 s (or
 * half of web.timeout_s, when shorter: an idle connection is closed).
 * Bounds: at most max_streams streams at once, max_streams_per_person of
 * them one person's (the token's key; 503 beyond); each ends after
 * stream_max_s (EventSource reconnects), when its session ends (sign-out,
 * expiry, a revoked token: `event: error` first), or when the coordinator
 * has not answered for 30 s.
 */
#ifndef DROVER_WEB_SSE_H
#define DROVER_WEB_SSE_H

#include "http.h"

void sse_run(web_req_t *rq, web_resp_t *rs);
void sse_runs(web_req_t *rq, web_resp_t *rs);

#endif
