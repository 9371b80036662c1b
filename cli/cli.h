/* cli — what every drover verb shares.
 *
 * The context (cli_t) holds the common options (--json, --coordinator,
 * --timeout, --config, --help), which may appear before the verb or among
 * its arguments, and what is derived from them once a verb needs the
 * coordinator: the endpoint, the timeout and the connected client.
 *
 * Resolution order, first match wins:
 *   endpoint: --coordinator, $DROVER_COORDINATOR, cli.coordinator in the
 *             config file, CONFIG_DEFAULT_CLIENT_ENDPOINT;
 *   timeout:  --timeout, cli.timeout in the config file, 3 s;
 *   config:   --config FILE, else conf_default_path();
 *   CURVE:    the client's secret key file from --key, $DROVER_KEY,
 *             cli.secret_key; the coordinator's public key file from
 *             --coordinator-key, $DROVER_COORDINATOR_KEY, cli.coordinator_key.
 *             Neither set (or cli.insecure = true): a plain connection,
 *             which a secure coordinator refuses; one without the other is
 *             a usage error.
 *
 * Every failure a user can cause or fix is printed here, once, as
 * "drover: what happened" plus what to do, and mapped to an exit code:
 * 2 for bad usage or input (including the coordinator's BAD_REQUEST,
 * NOT_FOUND, CONFLICT, VERSION, FORBIDDEN and RATE_LIMITED), 3 when the coordinator cannot be
 * reached or cannot serve (UNAVAILABLE, INTERNAL). Verbs return exit codes.
 */
#ifndef DROVER_CLI_CLI_H
#define DROVER_CLI_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "conf.h"
#include "drover.pb-c.h"

enum {
    CLI_EXIT_OK = 0,          /* success */
    CLI_EXIT_RUN_FAILED = 1,  /* the followed run failed or was cancelled */
    CLI_EXIT_USAGE = 2,       /* bad usage, bad input, refused request */
    CLI_EXIT_UNREACHABLE = 3, /* no coordinator, or it cannot serve now */
    CLI_EXIT_DB_DOWN = 4,     /* the coordinator answers, but its database is unreachable */
};

typedef struct cli_verb cli_verb_t;

typedef struct {
    /* common options, as given (borrowed from argv) */
    int json;
    int help;
    const char *coordinator;
    const char *config;
    const char *timeout;
    const char *key;             /* --key FILE */
    const char *coordinator_key; /* --coordinator-key FILE */
    const cli_verb_t *verb;      /* the verb being run, NULL before dispatch */

    /* derived by cli_connect() */
    char endpoint[CONFIG_ENDPOINT_MAX];
    int64_t timeout_ms;
    client_t *client;
    int curve;         /* 1 = connected with a CURVE key */
    char key_name[64]; /* the client key's name when curve */

    int color_out; /* stdout may be coloured */
    int tty_out;   /* stdout is a terminal */
    int tty_err;   /* stderr is a terminal */
} cli_t;

/* A verb-specific option: --name (or -c when short_name is set). A flag
 * (has_arg 0) sets *flag to 1; an option with an argument stores a pointer
 * into argv in *value. Tables end with a zeroed entry. */
typedef struct {
    const char *name;
    char short_name;
    int has_arg;
    int *flag;
    const char **value;
} cli_opt_t;

struct cli_verb {
    const char *name;
    const char *synopsis; /* arguments after the verb, e.g. "FILE [--wait]" */
    const char *summary;  /* one line for `drover --help` */
    const char *help;     /* the rest of `drover VERB --help` */
    int (*run)(cli_t *cli, int argc, char **argv); /* argv[0] is the verb */
};

/* Initialises the context (terminal detection; nothing is opened). */
void cli_init(cli_t *cli);

/* Releases the client; the context can then be discarded. */
void cli_fini(cli_t *cli);

/* Parses the options before the verb (argv[1..]); sets *verb_index to the
 * index of the first non-option (argc when none). Returns 0, or prints a
 * usage hint and returns -1. */
int cli_parse_global(cli_t *cli, int argc, char **argv, int *verb_index);

/* Parses a verb's arguments (argv[0] is the verb): common options, the
 * verb's own opts (may be NULL), and between min_pos and max_pos positional
 * arguments stored in pos (pointers into argv) with their count in *npos.
 * Returns 0 to go on, 1 when --help was given and printed (exit 0), or -1
 * after printing a usage hint (exit 2). */
int cli_parse(cli_t *cli, int argc, char **argv, const cli_opt_t *opts, char **pos, size_t min_pos,
              size_t max_pos, size_t *npos);

/* Prints `drover VERB --help` for verb to stdout. */
void cli_print_verb_help(const cli_verb_t *verb);

/* Prints "drover: <message>" and a hint to run --help, to stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const cli_t *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses an unsigned decimal number in min..max (cli_parse_count: 1..max;
 * what names it in messages). Returns 0, or prints a usage error and
 * returns -1. */
int cli_parse_uint(const cli_t *cli, const char *what, const char *s, uint64_t min, uint64_t max,
                   uint64_t *out);
int cli_parse_count(const cli_t *cli, const char *what, const char *s, uint64_t max, uint64_t *out);

/* Parses a run id ("42"). Returns 0, or prints a usage error and returns -1. */
int cli_parse_run_id(const cli_t *cli, const char *s, uint64_t *out);

/* Loads the config, resolves endpoint and timeout, creates the client.
 * Returns CLI_EXIT_OK, or prints why not and returns an exit code. */
int cli_connect(cli_t *cli);

/* Sends req and waits cli->timeout_ms + extra_ms for the reply. On success
 * returns CLI_EXIT_OK with the reply in *out (caller frees it with
 * drover__client_reply__free_unpacked). Otherwise prints the failure and
 * returns its exit code: the "no reply" explanation (3), the coordinator's
 * error (2 or 3; for NOT_FOUND with an empty message, not_found is printed
 * instead when given). */
int cli_call(cli_t *cli, Drover__ClientRequest *req, int64_t extra_ms, const char *not_found,
             Drover__ClientReply **out);

/* Prints the "no reply from the coordinator" explanation; returns 3. */
int cli_no_reply(const cli_t *cli);

/* Prints the indented "Is drover-coordinator running? ..." hint line. */
void cli_unreachable_hint(void);

/* Prints the error of a reply whose error is not ERROR_NONE, as cli_call
 * does, and returns its exit code. Does not free rep. */
int cli_reply_error(const Drover__ClientReply *rep, const char *not_found);

/* Exit code for a reply error (CLI_EXIT_OK for ERROR_NONE). */
int cli_error_exit(Drover__ErrorCode e);

/* "$USER@hostname" into buf. */
void cli_user_at_host(char *buf, size_t len);

/* Writes a JSON document to stdout and frees it. A NULL j means a builder
 * ran out of memory. Returns CLI_EXIT_OK, or prints why not and returns 3
 * (an error on our side, not the user's). */
int cli_emit_json(json_t *j);

/* Prints a table to stdout (colours when the CLI uses them) and frees it.
 * A NULL table means a builder ran out of memory. Returns an exit code like
 * cli_emit_json. */
struct out_table;
int cli_print_table(cli_t *cli, struct out_table **t);

#endif
