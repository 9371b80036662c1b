/* capacity — the known inventory of every registered worker, connected or
 * not, so that a submit can refuse a step that no worker could ever run
 * instead of accepting it to wait forever (issue 13, observation 2).
 *
 * The inventory is each worker's whole shape as it last registered: slots,
 * memory, GPUs and labels (drover.workers, migration 019), loaded at start
 * and after a database error (capacity_load), updated at every Register
 * (capacity_note). It is not free capacity: placement (model.c) decides
 * where and when; this only answers "could any known worker ever hold it?".
 *
 * Rules (docs/scheduling.md, "Impossible requests"):
 *   - no worker ever registered: nothing is known, every step is accepted;
 *   - a worker registered before migration 019 has unknown memory and GPUs:
 *     it never grounds a refusal on those two;
 *   - a step fits a worker when cpus <= slots, gpus <= GPUs, memory <=
 *     memory (a worker offering 0 = unknown memory is not checked) and it
 *     has every label the step asks for;
 *   - allow_pending (SubmitRequest, `drover submit --allow-pending`) accepts
 *     a step no registered worker fits, for capacity that is coming.
 *
 * Memory: one array owned by the capacity object; bounded by the number of
 * worker names ever registered (each a few hundred bytes). */
#ifndef DROVER_CAPACITY_H
#define DROVER_CAPACITY_H

#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"
#include "store.h"

typedef struct capacity capacity_t;

capacity_t *capacity_new(store_t *st);
void capacity_destroy(capacity_t **cp);

/* (Re)loads every registered worker's shape from the database. 0 or -1. */
int capacity_load(capacity_t *c);

/* A worker registered with this shape: remembered, and its memory and GPUs
 * written to its row (into the iteration's transaction). 0 or -1. */
int capacity_note(capacity_t *c, const Drover__Register *reg);

/* 0 when every step of req fits at least one registered worker (or none is
 * registered); 1 when one does not, with the step, what it asks and the
 * largest worker's shape in msg. */
int capacity_check(const capacity_t *c, const Drover__SubmitRequest *req, char *msg, size_t msglen);

/* Workers known (registered at least once). */
size_t capacity_count(const capacity_t *c);

#endif
