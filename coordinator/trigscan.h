/* trigscan — reads the CSV files of watched folders off the coordinator's
 * loop: a thread of its own hashes each file (sha256, and the sha256 of a
 * prefix when the calendar asks whether a file only grew) and counts its
 * rows with the CSV reader training uses (dataset_csv_tally: blank and
 * malformed records are counted apart, never as rows).
 *
 * The calendar asks (trigscan_get) at every scan of a folder; the first ask
 * queues the file and answers "not yet", a later one answers with the
 * result once the thread has it. A result is for one version of a file,
 * identified by (path, size, mtime, prefix_len): a file that changed is
 * read again. So a 1.5 GB file costs the loop nothing but a stat: its rows
 * count once the thread is done.
 *
 * The thread touches no database and no loop state; the only shared data
 * is the cache below, under one mutex, held only to copy a few fields.
 * Memory: at most TRIGSCAN_MAX_FILES cached versions (entries not asked
 * for during a whole scan round are dropped by trigscan_round_end). */
#ifndef DROVER_TRIGSCAN_H
#define DROVER_TRIGSCAN_H

#include <stdint.h>

#include "dataset.h"

#define TRIGSCAN_MAX_FILES 8192

typedef struct trigscan trigscan_t;

typedef struct {
    int ok; /* 1 tally holds the counts, 0 the file could not be read (err) */
    dataset_tally_t tally;
    char err[256];
} trigscan_result_t;

/* Starts the thread. NULL with errno on failure. */
trigscan_t *trigscan_start(void);
/* Stops the thread (waits for the file it is reading) and frees all. */
void trigscan_stop(trigscan_t **tp);

/* The result for this version of path: 1 with *out, 0 not yet (queued, or
 * the cache is full: asked again next round), -1 ENOMEM. */
int trigscan_get(trigscan_t *t, const char *path, int64_t size, int64_t mtime, uint64_t prefix_len,
                 trigscan_result_t *out);

/* Brackets one scan round of every folder: versions not asked for since
 * the previous trigscan_round_begin are forgotten at trigscan_round_end. */
void trigscan_round_begin(trigscan_t *t);
void trigscan_round_end(trigscan_t *t);

#endif
