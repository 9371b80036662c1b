/* predlog — the prediction log: every answered prediction, durably, in bulk.
 *
 * Format: JSON lines in segment files LOG_DIR/predictions/pred-ID.jsonl,
 * where ID is the request id of the segment's first record; a segment is
 * closed past `segment` bytes. Every record is one line that begins
 * {"id":"ID", (see api.c for the rest). Request ids are 20 lowercase hex
 * characters: 12 of the server's start time (ms since the epoch) then 8 of
 * a counter, so they sort in the order they were written, across restarts
 * too (a start never reuses an earlier prefix: see predlog_open).
 *
 * Group commit: request threads copy their line into the active buffer
 * (a mutex held for a memcpy) and answer at once; a writer thread, woken
 * by the first record after its last write, gathers records for
 * `flush_ms`, swaps the buffers, writes the full one to the segment and
 * fdatasyncs it (an idle server costs no wake-ups). The durability window is therefore flush_ms
 * plus one write and fsync: a crash may lose the records of the last few milliseconds' answers,
 * never a record in the middle (a torn last line is skipped by readers). Memory is bounded by two
 * buffers of `buffer`/2 bytes: when the active one is full, a request waits for the writer (at most
 * 1 s, then it is refused with EAGAIN: 503). When the disk fails the log refuses every later record
 * (EIO): drover-serve then answers 503 rather than predictions it cannot record. */
#ifndef DROVER_SERVE_PREDLOG_H
#define DROVER_SERVE_PREDLOG_H

#include <stddef.h>
#include <stdint.h>

#define PREDLOG_ID_LEN 20
/* Every line handed to predlog_append starts with this (the x's are
 * replaced by the request id under the log's lock). */
#define PREDLOG_PREFIX "{\"id\":\"xxxxxxxxxxxxxxxxxxxx\""
#define PREDLOG_ID_OFF 7

typedef struct predlog predlog_t;

/* Opens (creating) DIR/predictions and starts the writer thread. NULL +
 * errno + err. */
predlog_t *predlog_open(const char *dir, size_t buffer, int64_t flush_ms, size_t segment, char *err,
                        size_t errlen);

/* Appends one record: line (len bytes, starting with PREDLOG_PREFIX and
 * ending with '\n') is copied; its id is assigned and written into both
 * the copy and id_out (PREDLOG_ID_LEN + 1 bytes). 0, or -1 with errno
 * EAGAIN (the log is behind: the buffer stayed full 1 s), EMSGSIZE (the
 * line alone exceeds a buffer) or EIO (the log cannot be written). */
int predlog_append(predlog_t *pl, char *line, size_t len, char *id_out);

/* Waits until every record appended before the call is on disk (at most
 * timeout_ms). 0, or -1 with ETIMEDOUT / EIO. */
int predlog_sync(predlog_t *pl, int64_t timeout_ms);

/* Finds the record with request id `id`: a malloc'd copy of its line
 * (caller frees), or NULL with errno ENOENT (no such record on disk),
 * EINVAL (not a request id) or a read error. Reads the segment the id
 * falls into; call predlog_sync first for a recent id. */
char *predlog_find(predlog_t *pl, const char *id);

/* Figures for /metrics. */
typedef struct {
    uint64_t records, bytes, fsyncs, refused;
} predlog_stats_t;
void predlog_stats(predlog_t *pl, predlog_stats_t *st);

/* Writes what is buffered, fsyncs, stops the writer, frees; NULL-safe,
 * nulls *pl. No append may run any more. */
void predlog_close(predlog_t **pl);

#endif
