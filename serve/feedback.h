/* feedback — adjusters' corrections, joined with the logged inputs, into
 * the CSV dataset files a workflow trigger watches.
 *
 * A correction names a request id (and a row of a batch, 0 for a single
 * row), the corrected label and who made it. It is accepted ONCE per
 * (request id, row): a second one is refused with 409 and the first one's
 * label and author (a correction of a correction is a data-governance
 * question, not a retry; say so to a person). Accepting one:
 *   1. finds the prediction's record in the prediction log (after a
 *      predlog_sync, so a prediction answered a moment ago is found) and
 *      takes the input row the model saw, by column name;
 *   2. appends the correction with that row to the journal
 *      LOG_DIR/feedback.jsonl and fdatasyncs it: only then the answer is
 *      200, so an acknowledged correction survives a crash;
 *   3. keeps it pending until a model has `feedback_rows` pending
 *      corrections or the oldest is `feedback_flush` old, then writes them
 *      as one CSV file FEEDBACK_DIR/MODEL/feedback-NNNNNNNNNN.csv (header:
 *      the model's feature names, then its label column; NNNNNNNNNN the
 *      journal number of the file's first correction) — written under a
 *      temporary name, fsynced and renamed into place, so a trigger never
 *      sees half a file — and records in the journal which corrections it
 *      holds.
 * After a crash the journal is read again: every correction is known (the
 * duplicate check holds across restarts) and those not yet in a file are
 * written at start, under the same name a crashed flush would have used,
 * so each correction lands in exactly one file.
 *
 * Threads: feedback_add from request threads, feedback_tick from the main
 * loop; one mutex serialises them (corrections come at human rate). */
#ifndef DROVER_SERVE_FEEDBACK_H
#define DROVER_SERVE_FEEDBACK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "predlog.h"
#include "serveconf.h"

typedef struct feedback feedback_t;

/* Opens the journal (creating it), replays it and flushes what is pending.
 * pl is borrowed and must outlive the result. NULL + err. */
feedback_t *feedback_open(const serveconf_t *cfg, predlog_t *pl, char *err, size_t errlen);

/* Records one correction. Returns the HTTP status (200, 400, 404, 409, 503)
 * and sets *reply to the JSON body to send (caller json_decrefs it):
 * the recorded correction, or {"error": "..."}. */
unsigned feedback_add(feedback_t *fb, const char *id, uint64_t row, const char *label,
                      const char *by, json_t **reply);

/* Writes the CSV files that are due. Main thread, every few hundred ms. */
void feedback_tick(feedback_t *fb);

/* Counters for /metrics. */
void feedback_stats(feedback_t *fb, uint64_t *accepted, uint64_t *duplicates, uint64_t *files);

/* Writes every pending correction, then frees; NULL-safe, nulls *fb. */
void feedback_close(feedback_t **fb);

#endif
