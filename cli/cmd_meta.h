/* cmd_meta — what the CLI can say about itself: shell completion and the
 * manual page, both generated from the verb table and the verbs' own help
 * texts, so they never drift from `drover VERB --help`.
 *
 * The verb table lives in main.c; it hands it here. */
#ifndef DROVER_CLI_CMD_META_H
#define DROVER_CLI_CMD_META_H

#include <stddef.h>
#include <stdio.h>

#include "cli.h"

/* The `completion` verb: `drover completion bash|zsh`. */
extern const cli_verb_t cmd_completion_verb;

/* Registers the table the meta verbs describe (borrowed for the process's
 * life). Call once from main before dispatching. */
void meta_set_verbs(const cli_verb_t *const *verbs, size_t n);

/* Writes drover(1) in roff to f: NAME, SYNOPSIS, DESCRIPTION, one
 * subsection per verb (its synopsis and help), common options, exit status,
 * environment, files. Returns 0, -1 on a write error. */
int meta_write_man(FILE *f, const char *version);

#endif
