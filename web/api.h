/* api — drover-web's JSON API handlers (docs/http-api.md). Each turns one
 * HTTP request into coordinator requests made with the signed-in person's
 * web token, and their replies into the contract's JSON. The coordinator
 * decides every permission; a handler only maps its answer: a web token it
 * no longer accepts ends every session signed in with it (401), FORBIDDEN
 * is 403, NOT_FOUND 404, BAD_REQUEST 400, CONFLICT 409, RATE_LIMITED 429,
 * anything unavailable (or no reply in time) 503.
 *
 * Bounds: every list the coordinator returns is cut (runs 200 a page, model
 * versions 1000, model details 50 versions, schedules 50 with due times,
 * points of a curve 10000) and every call has the configured timeout.
 */
#ifndef DROVER_WEB_API_H
#define DROVER_WEB_API_H

#include <jansson.h>

#include "http.h"

void api_signin(web_req_t *rq, web_resp_t *rs);
void api_signout(web_req_t *rq, web_resp_t *rs);
void api_me(web_req_t *rq, web_resp_t *rs);
/* GET /api/health, no session: {"status":"ok","streams":N}, N the event
 * streams open now (a load balancer's probe; how a test sees streams end). */
void api_health(web_req_t *rq, web_resp_t *rs);
void api_runs(web_req_t *rq, web_resp_t *rs);
void api_run(web_req_t *rq, web_resp_t *rs);
void api_logs(web_req_t *rq, web_resp_t *rs);
void api_metrics(web_req_t *rq, web_resp_t *rs);
void api_report(web_req_t *rq, web_resp_t *rs);
void api_models(web_req_t *rq, web_resp_t *rs);
void api_model(web_req_t *rq, web_resp_t *rs);
void api_curve(web_req_t *rq, web_resp_t *rs);
void api_approvals(web_req_t *rq, web_resp_t *rs);
void api_approve(web_req_t *rq, web_resp_t *rs);
void api_workers(web_req_t *rq, web_resp_t *rs);
void api_queues(web_req_t *rq, web_resp_t *rs);
void api_schedules(web_req_t *rq, web_resp_t *rs);

/* GET /api/runs/{id}'s document from a status reply (one run, its
 * tasks): {"run":{...},"steps":[...]}; NULL on no memory. */
json_t *api_run_doc(const Drover__ClientReply *rep);
/* One run's summary object (the runs list's rows). */
json_t *api_run_obj(const Drover__RunInfo *ri);

/* The coordinator's status of the run named by the first path segment
 * (its id in *id): the reply (caller frees), or NULL with rs set (404 for
 * a segment that is no run id). */
Drover__ClientReply *api_status(web_req_t *rq, web_resp_t *rs, uint64_t *id);

/* Parses a run id path segment: 1..INT64_MAX, decimal. 0, or -1. */
int api_parse_id(const char *s, uint64_t *out);

/* Maps a reply's error (or a missing reply, rep NULL, errno set) to an
 * HTTP error in rs, ending the sessions of an invalid token; returns 1
 * when rs now holds an error, 0 when rep is a success. */
int api_reply_error(web_req_t *rq, const Drover__ClientReply *rep, web_resp_t *rs);

/* RFC 3339 UTC ("2026-12-02T23:05:00.123Z") of microseconds since the
 * epoch, or JSON null for 0. */
json_t *api_time(int64_t us);

#endif
