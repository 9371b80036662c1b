/* output — how the CLI writes for people and for programs.
 *
 * Tables: columns sized to their content, two spaces apart, optionally
 * right-aligned, with per-cell colour that does not count toward the width
 * (so coloured and plain output line up the same). A table is built row by
 * row and rendered into one malloc'd string; allocation failures are sticky
 * and reported once, at render time, so callers check a single result.
 *
 * Times: people get local times ("14:02:03" today, a date otherwise) and
 * short durations ("12.3s", "3m05s"); programs get ISO-8601 UTC strings and
 * durations in seconds (JSON numbers), with null for "not yet".
 *
 * Colour is used only when the stream is a terminal, TERM is not "dumb" and
 * NO_COLOR is unset (https://no-color.org).
 */
#ifndef DROVER_CLI_OUTPUT_H
#define DROVER_CLI_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "drover.pb-c.h"

/* ------------------------------------------------------------ escaping ---
 *
 * Nothing a peer sent reaches a terminal as a control: run, step, worker,
 * model and queue names, error messages, reports. out_escape is the one
 * escaping function: C0 controls (ESC, CR, BEL, ...), DEL, C1 controls
 * (U+0080..U+009F) and bytes that are not UTF-8 become "\xNN" ("\x1b[2J"
 * prints as those six characters); keep_lines keeps '\n' and '\t'.
 * out_escape_reply applies it to every string of a reply as it arrives
 * (cli_call and the --follow loops), so every printer, --json included,
 * sees escaped text; the table printer escapes each cell again, which is
 * idempotent for escaped text. Only `drover logs` writes a task's bytes as
 * they are: they are the task's own output (LogsReply carries bytes, not
 * strings). */

/* A malloc'd escaped copy of s (NULL = ""); caller frees. NULL on ENOMEM. */
char *out_escape(const char *s, int keep_lines);
/* Escapes every string field of rep in place, recursively, and every
 * string of its JSON document; ClientReply.message keeps its line breaks.
 * 0, or -1 on ENOMEM (rep is then partly escaped; still safe to free). */
int out_escape_reply(Drover__ClientReply *rep);

typedef enum {
    OUT_PLAIN = 0,
    OUT_GREEN,  /* succeeded, connected */
    OUT_RED,    /* failed, disconnected */
    OUT_YELLOW, /* running, in progress */
    OUT_DIM,    /* skipped, cancelled, not yet */
    OUT_BOLD,   /* headers */
} out_color_t;

/* 1 when output to fd may be coloured (see above), else 0. */
int out_color_ok(int fd);

/* The escape sequence that starts colour c ("" for OUT_PLAIN) and the one
 * that resets; static strings. */
const char *out_color_on(out_color_t c);
const char *out_color_off(void);

/* ------------------------------------------------------------- tables --- */

typedef struct out_table out_table_t;

/* A table with ncols columns titled by headers (copied). NULL on ENOMEM. */
out_table_t *out_table_new(const char *const *headers, size_t ncols);
void out_table_destroy(out_table_t **t);

/* Right-aligns column col (numbers). */
void out_table_align_right(out_table_t *t, size_t col);

/* Makes column col at least width characters wide (keeps a live,
 * redrawn table from shifting as its contents change). */
void out_table_min_width(out_table_t *t, size_t col, size_t width);

/* Starts a new row; the next cells fill it left to right. */
void out_table_row(out_table_t *t);

/* Appends one printf-formatted cell in colour c to the current row. Extra
 * cells beyond ncols are an invariant failure. */
void out_table_cell(out_table_t *t, out_color_t c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Renders header and rows, each line ending in '\n'; colour only when
 * color != 0. Returns a malloc'd string and its number of lines in *nlines
 * (may be NULL), or NULL with errno=ENOMEM (also for any earlier failed
 * cell). */
char *out_table_render(const out_table_t *t, int color, size_t *nlines);

/* Number of terminal rows text (lines ending in '\n') occupies on a screen
 * cols wide, skipping ANSI escape sequences and counting wrapped lines. */
size_t out_screen_lines(const char *text, int cols);

/* Width of the terminal on fd, or 0 when unknown. */
int out_term_cols(int fd);
/* Height of the terminal on fd, or 0 when unknown. */
int out_term_rows(int fd);

/* Renders and writes to f; returns 0, or -1 with errno set. */
int out_table_print(const out_table_t *t, FILE *f, int color);

/* -------------------------------------------------------------- times --- */

/* "2026-11-26T14:02:03.123Z"; "" for us <= 0. */
void out_time_iso(int64_t us, char *buf, size_t len);
/* Local "14:02:03" when us falls on the same local day as now_us, else
 * "2026-11-25 14:02"; "-" for us <= 0. */
void out_time_short(int64_t us, int64_t now_us, char *buf, size_t len);
/* Local "14:02:03". */
void out_time_clock(int64_t us, char *buf, size_t len);
/* "12.3s" etc. (util_format_duration); "-" for ms < 0. */
void out_duration(int64_t ms, char *buf, size_t len);
/* Milliseconds from start_us to end_us (or to now_us when end_us is 0);
 * -1 when start_us is 0. */
int64_t out_span_ms(int64_t start_us, int64_t end_us, int64_t now_us);

/* --------------------------------------------------------------- JSON --- */

/* The ISO-8601 string of us, or JSON null for us <= 0. NULL on ENOMEM. */
json_t *out_json_time(int64_t us);
/* Seconds as a real, or JSON null for ms < 0. NULL on ENOMEM. */
json_t *out_json_seconds(int64_t ms);
/* A JSON string of arbitrary bytes: valid UTF-8 is kept, every invalid
 * byte becomes U+FFFD (log output is not guaranteed to be text). */
json_t *out_json_bytes(const uint8_t *data, size_t len);
/* Sets key in obj to val, stealing val; a NULL val or a failed set makes
 * *bad non-zero. Lets builders check allocation once at the end. */
void out_json_set(json_t *obj, const char *key, json_t *val, int *bad);
/* Appends val to array arr, stealing val; failures set *bad. */
void out_json_append(json_t *arr, json_t *val, int *bad);

/* Writes j (indented, keys in insertion order) and a newline to stdout;
 * does not consume j. Returns 0, or -1 with errno set. */
int out_json_print(const json_t *j);

#endif
