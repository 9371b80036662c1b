/* wfsubmit — a loaded workflow as the SubmitRequest the CLI sends.
 *
 * One conversion, used by `drover submit` (which sends the request) and by
 * `drover workflow check --json` (which prints it, so that other clients —
 * the Python package — submit exactly what the CLI would without a second
 * validator of their own).
 */
#ifndef DROVER_CLI_WFSUBMIT_H
#define DROVER_CLI_WFSUBMIT_H

#include <jansson.h>

#include "drover.pb-c.h"
#include "workflow.h"

/* Takes the `--set NAME=VALUE` (and --set=NAME=VALUE) pairs out of argv
 * (argc shrinks; the values point into argv) into *sets, which the caller
 * frees. Returns 0, or -1 (ENOMEM; EINVAL: --set without a value, printed). */
int wfsubmit_take_sets(int *argc, char **argv, const char ***sets, size_t *nsets);

/* Fills a SubmitRequest whose strings borrow from wf; steps, their
 * resources and the pointer array are malloc'd into *specs / *res / *ptrs
 * (caller frees all three, also after a failure: they are NULL then);
 * the workflow's params go into sub->params, one block the caller frees
 * with free(sub->params); base_dir is wf's.
 * Schedule, trigger and notify borrow sched / trig / notify, which must
 * outlive sub.
 * Returns 0, or -1 with errno = ENOMEM. */
int wfsubmit_build(const workflow_t *wf, const char *submitted_by, Drover__SubmitRequest *sub,
                   Drover__StepSpec **specs, Drover__Resources **res, Drover__StepSpec ***ptrs,
                   Drover__Schedule *sched, Drover__Trigger *trig, Drover__WorkflowNotify *notify);

/* The request as a JSON object: workflow, source, queue, priority,
 * schedule, trigger and notify (null when unset), params ({"NAME": "VALUE"}),
 * base_dir and steps, each with the StepSpec
 * fields (name, kind, after, retries, timeout_ms, retry_delay_ms,
 * spec_json as the exact string sent, resources) plus, from wf, the
 * step's line in the file and, for a matrix expansion, sweep and matrix.
 * wf is the workflow sub was built from (same step order). Returns a new
 * reference, or NULL when out of memory. */
json_t *wfsubmit_json(const Drover__SubmitRequest *sub, const workflow_t *wf);

#endif
