/* cmd — the drover verbs. Each cmd_*.c file defines the verbs of one group
 * (their help text and their run function); main.c lists them. Every run
 * function parses its own arguments with cli_parse() and returns an exit
 * code (see cli.h). */
#ifndef DROVER_CLI_CMD_H
#define DROVER_CLI_CMD_H

#include <stdint.h>

#include "cli.h"

extern const cli_verb_t cmd_submit_verb;  /* cmd_submit.c */
extern const cli_verb_t cmd_wait_verb;    /* cmd_wait.c */
extern const cli_verb_t cmd_runs_verb;    /* cmd_runs.c */
extern const cli_verb_t cmd_status_verb;  /* cmd_runs.c */
extern const cli_verb_t cmd_cancel_verb;  /* cmd_runs.c */
extern const cli_verb_t cmd_rerun_verb;   /* cmd_runs.c */
extern const cli_verb_t cmd_logs_verb;    /* cmd_logs.c */
extern const cli_verb_t cmd_workers_verb; /* cmd_workers.c */
extern const cli_verb_t cmd_info_verb;    /* cmd_workers.c */

/* Follows run_id until it ends, showing progress in the way cli asks for
 * (live table on a terminal, one line per step change otherwise, the final
 * status object with --json). cli must be connected. Rides out a
 * coordinator that stops answering for up to 60 s. Returns CLI_EXIT_OK when
 * the run succeeded, CLI_EXIT_RUN_FAILED when it failed or was cancelled,
 * or the exit code of the error it printed. */
int cmd_wait_follow(cli_t *cli, uint64_t run_id);

#endif
