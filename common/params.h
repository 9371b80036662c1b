/* params — run parameters and the ${...} substitution in step specs.
 *
 * A workflow declares params = { lr = 0.01; data = "data/train.csv"; };
 * every string of a step's spec may then name a value:
 *
 *   ${params.NAME}   a declared parameter (its default, or `--set NAME=V`)
 *   ${run.id}        the run's id
 *   ${run.due_at}    the due time of a scheduled run (UTC, ISO 8601)
 *   ${trigger.files} the files a triggered run consumed, space-joined; an
 *                    argv element that is exactly "${trigger.files}"
 *                    becomes one element per file
 *   ${trigger.rows}  the rows those files hold
 *   $${              a literal "${" ("$${params.x}" is the text ${params.x})
 *
 * A reference is "${" + a word + "." ...: any other '$' is literal, so the
 * shell's "$HOME", "${HOME}", "${X:-2}" and "$$" (its pid) stay as they
 * are (a shell variable name has no dot). An unknown or unterminated
 * reference is an error, as is run.due_at outside a schedule and trigger.*
 * outside a trigger.
 *
 * The substitution is done by the coordinator (params_apply), which trusts
 * no client: the SubmitRequest carries the specs as written plus the
 * values; the result is checked by stepkind_check_submit like any spec.
 * The CLI runs the same functions on the file first, for file:line
 * messages. A relative path that a substitution produced in a top-level
 * PATH key of the step kind (cwd, dataset) is made absolute against the
 * request's base_dir (the workflow file's folder), as the loader does for
 * paths written in the file.
 *
 * Bounds: PARAMS_MAX names, each name PARAMS_NAME_MAX bytes, each value
 * PARAMS_VALUE_MAX bytes; a substituted spec at most PARAMS_SPEC_MAX bytes.
 *
 * Errors: functions return 0, or -1 with errno EINVAL (one line of human
 * text in err) or ENOMEM. Nothing is kept between calls.
 */
#ifndef DROVER_PARAMS_H
#define DROVER_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define PARAMS_MAX         64
#define PARAMS_NAME_MAX    64
#define PARAMS_VALUE_MAX   4096
#define PARAMS_SPEC_MAX    (1024u * 1024u)       /* WIRECHECK_MAX_SPEC_JSON */
#define PARAMS_REQUEST_MAX (32u * 1024u * 1024u) /* substituted specs of one request */

/* What a reference may resolve to. Strings are borrowed. */
typedef struct {
    const char *const *names;  /* declared parameters */
    const char *const *values; /* their values */
    size_t n;
    int64_t run_id;           /* 0 = unknown (the check placeholder "0" is used) */
    const char *due_at;       /* NULL: not a scheduled run (${run.due_at} is an error) */
    const char *const *files; /* trigger files; NULL: not a triggered run */
    size_t nfiles;
    int64_t rows;
} params_vars_t;

/* A parameter name: [A-Za-z_][A-Za-z0-9_]*, at most PARAMS_NAME_MAX bytes. */
int params_name_ok(const char *s);

/* 1 when s holds a reference or "$${" (substitution would change it). */
int params_has_ref(const char *s);
/* 1 when s holds the reference "${NAME}" (e.g. "run.id"). */
int params_uses(const char *s, const char *ref);

/* Checks the references of s against vars without building anything. */
int params_check(const char *s, const params_vars_t *vars, char *err, size_t errlen);

/* Returns s with every reference replaced (caller frees), or NULL with
 * errno set and err filled. */
char *params_subst(const char *s, const params_vars_t *vars, char *err, size_t errlen);

/* The spec of a step of kind (compact JSON text) with every string
 * substituted, argv's "${trigger.files}" expanded, and relative paths of
 * substituted top-level PATH keys joined to base_dir (absolute; NULL or ""
 * leaves them relative, so the step-kind check refuses them). Caller frees
 * *out. step names the step in messages. */
int params_apply(const char *kind, const char *step, const char *spec_json,
                 const params_vars_t *vars, const char *base_dir, char **out, char *err,
                 size_t errlen);

#endif
