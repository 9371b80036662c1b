/* registry — ML lineage and the model registry, coordinator side.
 *
 * The coordinator stays the only writer: workers compute (train, validate,
 * evaluate) and report what they produced as outputs JSON with the attempt's
 * result; this module checks those outputs and records them (datasets,
 * model versions, reports, evaluations) in the iteration's transaction.
 * It also resolves model references in specs at dispatch time ("@train",
 * "claims:production", "claims:3") and runs `promote` steps itself.
 *
 * Return convention: 0 done, 1 refused (a human reason in err/msg; the step
 * fails, nothing is written), -1 database error (the caller resets).
 */
#ifndef DROVER_REGISTRY_H
#define DROVER_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"
#include "store.h"

/* 1 for kinds the coordinator runs itself (promote, select). */
int registry_is_inline(const char *kind);

/* Who asks for a stage change: a client key, or for a promote/select step
 * the key that submitted the run. admin = 1: the admin role (or a
 * coordinator without CURVE, where every client is admin). */
typedef struct {
    const char *key;
    int admin;
} registry_actor_t;

/* 0 if who may change the stage of model `name` (admin, or a `promote`
 * grant whose pattern matches name), 2 denied (msg says why and how to
 * grant), -1 database error. Also the rule for select steps. */
int registry_may_promote(store_t *st, const registry_actor_t *who, const char *name, char *msg,
                         size_t msglen);

/* Runs a select step: {"metric": M, "mode": "max"|"min", "from": [steps]}:
 * picks the best model version those train steps registered and records
 * the choice as the step's report (later steps name it with @STEP). */
int registry_run_select(store_t *st, const registry_actor_t *who, int64_t run_id, int64_t task_id,
                        int attempt, const char *spec_json, char *msg, size_t msglen);

/* Before an attempt is sent: resolves model references of the spec, and an
 * exec step's artifact inputs (adding "staged": {NAME: {path, sha256,
 * size}} and recording attempt of task_id as their consumer; an input with
 * no recorded artifact is refused). On 0, *spec_out is a new spec (caller
 * frees) or NULL when unchanged. */
int registry_prepare(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *kind,
                     const char *spec_json, char **spec_out, char *err, size_t errlen);

/* The artifacts a succeeded attempt's worker reported (Result.artifacts):
 * exactly the spec's declared 'outputs', each verified in the
 * coordinator's store (verified(vctx, hex, size) — the artifact service's
 * word, artsvc_verified), then recorded with their producer. 0 recorded
 * (or nothing declared), 1 refused (err: the step fails), -1 database. */
int registry_artifacts(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *step,
                       const char *spec_json, Drover__ArtifactRef *const *arts, size_t n,
                       int (*verified)(void *ctx, const char *hex, uint64_t size), void *vctx,
                       char *err, size_t errlen);

/* Runs a promote step: {"model": REF, "stage": S}. by names the step. */
int registry_run_promote(store_t *st, const registry_actor_t *who, int64_t run_id,
                         const char *spec_json, const char *by, char *msg, size_t msglen);

/* A person (or a step) moves name:version to stage, if who may
 * (registry_may_promote). by: recorded in drover.model_stage_changes.
 * 0 done (msg), 1 refused (msg), 2 denied (msg), -1 database. */
int registry_promote(store_t *st, const registry_actor_t *who, const char *name, int version,
                     const char *stage, const char *by, const char *reason, char *msg,
                     size_t msglen);

/* Records the outputs of a finished attempt (see docs/sql.md). Invalid
 * outputs are refused as a whole (savepoint), leaving nothing behind. */
/* *gate_rejected is set when an evaluate step's report says its gates did
 * not pass (the run then ends `rejected`, not `failed`), or when a
 * succeeded exec step's gates (spec "gates": {min, max}) fail on the
 * metrics it reported (report.metrics, report, or its model's metrics;
 * err then says which bound failed; the verdict is stored in its report).
 * A gated metric the exec step did not report refuses the outputs (1). */
/* Claims are checked, not trusted: a model's artifact must be in the
 * store at artifact_root with the content hash it names (NULL/"" = the
 * coordinator cannot see the store: the model is refused); datasets are
 * recorded only from the built-in kinds (drover-task hashed them) and
 * only for paths the step's spec_json names; an exec step's datasets and
 * model claims are ignored. */
int registry_apply(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *step,
                   const char *kind, const char *spec_json, const char *artifact_root,
                   int succeeded, const char *outputs_json, int *gate_rejected, char *err,
                   size_t errlen);

/* An approve step's model (spec {"model": REF}) as NAME and VERSION, resolved
 * now like a promote step's. 0, 1 not found (err), -1 database. */
int registry_approval_model(store_t *st, int64_t run_id, const char *spec_json, char *name,
                            size_t namelen, int *version, char *err, size_t errlen);

/* Records a verdict on an approve step in the model's stage history (a row
 * whose stage does not change: from = to = its stage now), by `by`, with
 * reason "approved|rejected in run R step S: REASON". 0 or -1. */
int registry_approval_record(store_t *st, const char *name, int version, int approved,
                             int64_t run_id, const char *step, const char *by, const char *reason);

/* Parses "NAME:VERSION" (VERSION a positive integer). Returns 0 or -1. */
int registry_parse_ref(const char *ref, char *name, size_t namelen, int *version);

#endif
