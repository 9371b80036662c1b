/* render — how runs, tasks, workers and the coordinator are shown.
 *
 * The one place that turns ClientReply contents into JSON objects and
 * table rows, so `drover status`, `drover runs` and the live view of
 * `--wait` agree on names, units and colours. JSON objects use snake_case
 * keys, ISO-8601 UTC times (null when not yet), durations in seconds and
 * lower-case state names from wire_*_state_name().
 */
#ifndef DROVER_CLI_RENDER_H
#define DROVER_CLI_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"
#include "output.h"

/* Colour of a task or run state (green done, red failed, yellow busy, dim
 * skipped/cancelled/waiting). */
out_color_t render_task_color(Drover__TaskState s);
out_color_t render_run_color(Drover__RunState s);

/* What a person reads as the state: "awaiting approval" for a running run
 * whose approve step waits (RunInfo.awaiting_approval) and for that step
 * (kind approve, running); else the state's name. JSON keeps "state" the
 * wire name and adds "awaiting_approval". */
const char *render_run_state_text(const Drover__RunInfo *r);
const char *render_task_state_text(const Drover__TaskInfo *t);
int render_task_awaiting(const Drover__TaskInfo *t);

/* 1 for the terminal states. */
int render_task_terminal(Drover__TaskState s);
int render_run_terminal(Drover__RunState s);

/* Milliseconds the run / task has taken so far (live when unfinished), or
 * -1 when it has not started. */
int64_t render_run_ms(const Drover__RunInfo *r, int64_t now_us);
int64_t render_task_ms(const Drover__TaskInfo *t, int64_t now_us);

/* What the EXIT column shows: the exit code, a short error ("timed out",
 * "signal 9"...) trimmed to fit, or "-". */
void render_task_exit(const Drover__TaskInfo *t, char *buf, size_t len);

/* JSON objects (new references; NULL on ENOMEM). */
json_t *render_run_json(const Drover__RunInfo *r, int64_t now_us);
json_t *render_task_json(const Drover__TaskInfo *t, int64_t now_us);
json_t *render_worker_json(const Drover__WorkerInfo *w, int64_t now_us);
/* {"run": {...}, "tasks": [...]} of a status reply (runs[0] and tasks). */
json_t *render_status_json(const Drover__ClientReply *rep, int64_t now_us);

/* The step table of a status reply: STEP STATE ATTEMPT WORKER DURATION and,
 * with with_exit, EXIT. NULL on ENOMEM. */
out_table_t *render_tasks_table(const Drover__ClientReply *rep, int64_t now_us, int with_exit);

/* "run 42 hello: running — 2/4 steps done, 12.3s" into buf, with the state
 * coloured when color is set. */
void render_run_headline(const Drover__RunInfo *r, int64_t now_us, int color, char *buf,
                         size_t len);

#endif
