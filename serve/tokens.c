/* tokens — see tokens.h. */
#include "tokens.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

#define S_MAX_TOKENS 256
#define S_TOKEN_MIN  16
#define S_TOKEN_MAX  256

typedef struct {
    char name[UTIL_NAME_MAX + 1];
    unsigned char token[S_TOKEN_MAX];
    size_t len;
} entry_t;

struct tokens {
    entry_t e[S_MAX_TOKENS];
    size_t n;
};

tokens_t *tokens_load(const char *path, char *err, size_t errlen)
{
    tokens_t *t = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        util_errf(err, errlen, "%s: cannot open the tokens file: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) < 0) {
        util_errf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (sb.st_mode & 077) {
        util_errf(err, errlen,
                  "%s: the tokens file may be read by others (mode %03o); "
                  "chmod 600 %s",
                  path, (unsigned)(sb.st_mode & 0777), path);
        errno = EPERM;
        goto fail;
    }
    if (!(t = calloc(1, sizeof *t))) {
        util_errf(err, errlen, "out of memory");
        goto fail;
    }
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof line - 1 && line[l - 1] != '\n') {
            util_errf(err, errlen, "%s:%d: line too long", path, lineno);
            goto fail;
        }
        char *name = strtok(line, " \t\r\n");
        if (!name || name[0] == '#')
            continue;
        char *tok = strtok(NULL, " \t\r\n");
        char *more = strtok(NULL, " \t\r\n");
        if (!util_name_ok(name, 0)) {
            util_errf(err, errlen, "%s:%d: '%s' is not a name (" UTIL_NAME_RULE ")", path, lineno,
                      name, UTIL_NAME_MAX);
            goto fail;
        }
        size_t tl = tok ? strlen(tok) : 0;
        if (!tok || more || tl < S_TOKEN_MIN || tl > S_TOKEN_MAX) {
            util_errf(err, errlen,
                      "%s:%d: expected NAME TOKEN with a token of %d to %d "
                      "characters",
                      path, lineno, S_TOKEN_MIN, S_TOKEN_MAX);
            goto fail;
        }
        if (t->n == S_MAX_TOKENS) {
            util_errf(err, errlen, "%s:%d: more than %d tokens", path, lineno, S_MAX_TOKENS);
            goto fail;
        }
        entry_t *e = &t->e[t->n++];
        util_strlcpy(e->name, name, sizeof e->name);
        memcpy(e->token, tok, tl);
        e->len = tl;
        memset(line, 0, sizeof line);
    }
    if (ferror(f)) {
        util_errf(err, errlen, "%s: read error", path);
        goto fail;
    }
    if (t->n == 0) {
        util_errf(err, errlen, "%s: no tokens (add a line NAME TOKEN)", path);
        goto fail;
    }
    fclose(f);
    return t;
fail:
    memset(line, 0, sizeof line);
    fclose(f);
    tokens_destroy(&t);
    if (!errno)
        errno = EINVAL;
    return NULL;
}

const char *tokens_check(const tokens_t *t, const char *presented, size_t len)
{
    const char *who = NULL;
    if (!t || len > S_TOKEN_MAX)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        const entry_t *e = &t->e[i];
        /* Compare over the whole stored token whatever the lengths; the
         * length difference is folded into the result, not branched on. */
        unsigned diff = (unsigned)(e->len ^ len);
        for (size_t j = 0; j < S_TOKEN_MAX; j++) {
            unsigned char p = j < len ? (unsigned char)presented[j] : 0;
            diff |= (unsigned)(e->token[j] ^ p);
        }
        /* Branch-free select: every entry is compared whatever matched. */
        uintptr_t mask = (uintptr_t)0 - (uintptr_t)(diff == 0);
        who = (const char *)(((uintptr_t)e->name & mask) | ((uintptr_t)who & ~mask));
    }
    return who;
}

void tokens_destroy(tokens_t **t)
{
    if (!t || !*t)
        return;
    volatile unsigned char *p = (volatile unsigned char *)*t;
    for (size_t i = 0; i < sizeof **t; i++)
        p[i] = 0;
    free(*t);
    *t = NULL;
}
