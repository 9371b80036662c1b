/* tokens — the bearer tokens drover-serve accepts.
 *
 * The file (mode 0600 or stricter: refused if group or others may read it)
 * holds one token a line, "NAME TOKEN", '#' comments and blank lines
 * allowed. NAME (a drover name: letters, digits, '_', '.', '-') is who the
 * token stands for: it is written into the prediction log and is the
 * default author of a correction. TOKEN is 16 to 256 printable ASCII
 * characters without spaces (`openssl rand -hex 32` makes one).
 *
 * Checking a presented token compares it with every token in the table in
 * constant time (no early exit on the first differing byte, nor on the
 * first matching entry), so timing tells an attacker nothing about how
 * much of a guess was right. The table is immutable once loaded: request
 * threads read it without locks. */
#ifndef DROVER_SERVE_TOKENS_H
#define DROVER_SERVE_TOKENS_H

#include <stddef.h>

typedef struct tokens tokens_t;

/* Loads the file. Returns the table (caller frees with tokens_destroy) or
 * NULL with "file:line: message" / "file: message" in err. */
tokens_t *tokens_load(const char *path, char *err, size_t errlen);

/* The NAME of the token `presented` (len bytes), or NULL when it matches
 * none. The result is borrowed from the table. */
const char *tokens_check(const tokens_t *t, const char *presented, size_t len);

/* Frees the table (wiping the tokens); NULL-safe, nulls *t. */
void tokens_destroy(tokens_t **t);

#endif
