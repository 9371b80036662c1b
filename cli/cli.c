/* cli — see cli.h.
 *
 * Option syntax: --name, --name=value, --name value, -h; "--" ends the
 * options. Options and positional arguments may be mixed, so
 * `drover logs 42 train --follow` and `drover logs --follow 42 train` mean
 * the same. Option parsing is our own (not getopt) so that the common
 * options can be shared by every verb's table without global state.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "output.h"
#include "util.h"
#include "wire.h"

/* How a common option is stored in the context. */
typedef enum { C_JSON, C_HELP, C_COORD, C_CONFIG, C_TIMEOUT, C_KEY, C_COORD_KEY } s_common_t;

static const struct {
    const char *name;
    char short_name;
    int has_arg;
    s_common_t which;
} s_common[] = {
    {"json", 0, 0, C_JSON},
    {"help", 'h', 0, C_HELP},
    {"coordinator", 0, 1, C_COORD},
    {"config", 0, 1, C_CONFIG},
    {"timeout", 0, 1, C_TIMEOUT},
    {"key", 0, 1, C_KEY},
    {"coordinator-key", 0, 1, C_COORD_KEY},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void cli_init(cli_t *cli)
{
    memset(cli, 0, sizeof *cli);
    cli->tty_out = isatty(STDOUT_FILENO);
    cli->tty_err = isatty(STDERR_FILENO);
    cli->color_out = out_color_ok(STDOUT_FILENO);
    cli->timeout_ms = 3000;
}

void cli_fini(cli_t *cli)
{
    client_destroy(&cli->client);
}

static const char *s_verb_name(const cli_t *cli)
{
    return cli->verb ? cli->verb->name : NULL;
}

int cli_usage_error(const cli_t *cli, const char *fmt, ...)
{
    va_list ap;
    fputs("drover: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const char *v = s_verb_name(cli);
    if (v)
        fprintf(stderr, "\nTry 'drover %s --help'.\n", v);
    else
        fprintf(stderr, "\nTry 'drover --help'.\n");
    return CLI_EXIT_USAGE;
}

/* Matches argument a (starting with '-') against the common options and
 * opts. Returns 0 when handled (*i advanced past a consumed value), -1 on a
 * usage error (printed). */
static int s_option(cli_t *cli, int argc, char **argv, int *i, const cli_opt_t *opts)
{
    const char *a = argv[*i];
    const char *name, *inline_val = NULL;
    size_t nlen;
    char short_name = 0;
    if (a[1] == '-') {
        name = a + 2;
        const char *eq = strchr(name, '=');
        nlen = eq ? (size_t)(eq - name) : strlen(name);
        if (eq)
            inline_val = eq + 1;
    } else {
        if (a[2] != '\0')
            return cli_usage_error(cli, "unknown option '%s'", a), -1;
        short_name = a[1];
        name = NULL;
        nlen = 0;
    }

    int has_arg = -1;
    int is_common = 0;
    size_t idx = 0;
    for (size_t k = 0; k < NELEM(s_common) && has_arg < 0; k++)
        if ((name && strlen(s_common[k].name) == nlen &&
             strncmp(s_common[k].name, name, nlen) == 0) ||
            (!name && s_common[k].short_name && s_common[k].short_name == short_name)) {
            has_arg = s_common[k].has_arg;
            is_common = 1;
            idx = k;
        }
    for (size_t k = 0; opts && opts[k].name && has_arg < 0; k++)
        if ((name && strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0) ||
            (!name && opts[k].short_name && opts[k].short_name == short_name)) {
            has_arg = opts[k].has_arg;
            idx = k;
        }
    if (has_arg < 0) {
        if (name)
            return cli_usage_error(cli, "unknown option '--%.*s'", (int)nlen, name), -1;
        return cli_usage_error(cli, "unknown option '%s'", a), -1;
    }

    const char *val = NULL;
    if (has_arg) {
        if (inline_val)
            val = inline_val;
        else if (*i + 1 < argc)
            val = argv[++*i];
        else
            return cli_usage_error(cli, "option '%s' needs a value", a), -1;
    } else if (inline_val) {
        return cli_usage_error(cli, "option '--%.*s' takes no value", (int)nlen, name), -1;
    }

    if (is_common) {
        switch (s_common[idx].which) {
        case C_JSON: cli->json = 1; break;
        case C_HELP: cli->help = 1; break;
        case C_COORD: cli->coordinator = val; break;
        case C_CONFIG: cli->config = val; break;
        case C_TIMEOUT: cli->timeout = val; break;
        case C_KEY: cli->key = val; break;
        case C_COORD_KEY: cli->coordinator_key = val; break;
        }
    } else if (has_arg) {
        *opts[idx].value = val;
    } else {
        *opts[idx].flag = 1;
    }
    return 0;
}

int cli_parse_global(cli_t *cli, int argc, char **argv, int *verb_index)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (s_option(cli, argc, argv, &i, NULL) < 0)
            return -1;
    }
    *verb_index = i;
    return 0;
}

int cli_parse(cli_t *cli, int argc, char **argv, const cli_opt_t *opts, char **pos, size_t min_pos,
              size_t max_pos, size_t *npos)
{
    size_t n = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1] != '\0') {
            if (s_option(cli, argc, argv, &i, opts) < 0)
                return -1;
            continue;
        }
        if (n == max_pos) {
            if (cli->help)
                break; /* `drover submit x y --help` still helps */
            return cli_usage_error(cli, "unexpected argument '%s'", a), -1;
        }
        pos[n++] = argv[i];
    }
    if (cli->help) {
        cli_print_verb_help(cli->verb);
        return 1;
    }
    if (n < min_pos)
        return cli_usage_error(cli, "missing arguments; usage: drover %s %s", cli->verb->name,
                               cli->verb->synopsis),
               -1;
    *npos = n;
    return 0;
}

void cli_print_verb_help(const cli_verb_t *verb)
{
    printf("Usage: drover %s %s\n\n%s\n", verb->name, verb->synopsis, verb->help);
    printf("\nCommon options:\n"
           "  --json              machine-readable output (JSON) on stdout\n"
           "  --coordinator EP    the coordinator's client endpoint\n"
           "                      (default: $DROVER_COORDINATOR, cli.coordinator, %s)\n"
           "  --timeout SECS      how long to wait for a reply (default: cli.timeout, 3)\n"
           "  --config FILE       config file (default: $DROVER_CONFIG,\n"
           "                      ~/.config/drover/drover.cfg, /etc/drover/drover.cfg)\n"
           "  --key FILE          this client's secret key file (default: $DROVER_KEY,\n"
           "                      cli.secret_key)\n"
           "  --coordinator-key FILE  the coordinator's public key file (default:\n"
           "                      $DROVER_COORDINATOR_KEY, cli.coordinator_key)\n"
           "  -h, --help          this help\n",
           CONFIG_DEFAULT_CLIENT_ENDPOINT);
}

int cli_parse_uint(const cli_t *cli, const char *what, const char *s, uint64_t min, uint64_t max,
                   uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < min || v > max) {
        cli_usage_error(cli, "%s must be a number from %llu to %llu, not '%s'", what,
                        (unsigned long long)min, (unsigned long long)max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_count(const cli_t *cli, const char *what, const char *s, uint64_t max, uint64_t *out)
{
    return cli_parse_uint(cli, what, s, 1, max, out);
}

int cli_parse_run_id(const cli_t *cli, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v == 0) {
        cli_usage_error(cli,
                        "'%s' is not a run id (runs are numbered 1, 2, ...; see 'drover runs')", s);
        return -1;
    }
    *out = v;
    return 0;
}

/* The first set of: an option, an environment variable, a config value;
 * *from names where it came from (for messages). NULL when none is set. */
static const char *s_pick(const char *opt, const char *optname, const char *envname,
                          const char *cfgval, const char *cfgname, const char **from)
{
    const char *env = getenv(envname);
    if (opt) {
        *from = optname;
        return opt;
    }
    if (env && *env) {
        *from = envname;
        return env;
    }
    if (cfgval && *cfgval) {
        *from = cfgname;
        return cfgval;
    }
    *from = NULL;
    return NULL;
}

/* Resolves and loads the CURVE keys (see cli.h). Sets cli->curve and fills
 * *curve when the client is to use them. Returns CLI_EXIT_OK or prints why
 * not and returns CLI_EXIT_USAGE. The secret is never printed. */
static int s_curve_keys(cli_t *cli, const conf_t *cfg, client_curve_t *curve)
{
    const char *kfrom, *cfrom;
    const char *key =
        s_pick(cli->key, "--key", "DROVER_KEY", cfg->cli.secret_key, "cli.secret_key", &kfrom);
    const char *ckey = s_pick(cli->coordinator_key, "--coordinator-key", "DROVER_COORDINATOR_KEY",
                              cfg->cli.coordinator_key, "cli.coordinator_key", &cfrom);
    memset(curve, 0, sizeof *curve);
    cli->curve = 0;
    /* cli.insecure overrides only keys that come from the config file too:
     * a key named on the command line or in the environment is meant. */
    int key_cfg = !key || strcmp(kfrom, "cli.secret_key") == 0;
    int ckey_cfg = !ckey || strcmp(cfrom, "cli.coordinator_key") == 0;
    if (cfg->cli.insecure && key_cfg && ckey_cfg)
        return CLI_EXIT_OK;
    if (!key && !ckey)
        return CLI_EXIT_OK;
    if (!ckey) {
        fprintf(stderr,
                "drover: a client key is set (%s) but not the coordinator's public key: set "
                "DROVER_COORDINATOR_KEY, --coordinator-key FILE or cli.coordinator_key\n",
                kfrom);
        return CLI_EXIT_USAGE;
    }
    if (!key) {
        fprintf(
            stderr,
            "drover: the coordinator's public key is set (%s) but not this client's key: set "
            "DROVER_KEY, --key FILE or cli.secret_key (make one with: drover keygen --out FILE)\n",
            cfrom);
        return CLI_EXIT_USAGE;
    }
    char err[1200];
    keys_pair_t mine, theirs;
    if (keys_load(key, 1, &mine, err, sizeof err) < 0) {
        fprintf(stderr, "drover: %s (client key from %s)\n", err, kfrom);
        return CLI_EXIT_USAGE;
    }
    if (keys_load(ckey, 0, &theirs, err, sizeof err) < 0) {
        keys_wipe(&mine);
        fprintf(stderr, "drover: %s (coordinator key from %s)\n", err, cfrom);
        return CLI_EXIT_USAGE;
    }
    util_strlcpy(curve->server_public, theirs.public_z85, sizeof curve->server_public);
    util_strlcpy(curve->public_key, mine.public_z85, sizeof curve->public_key);
    util_strlcpy(curve->secret_key, mine.secret_z85, sizeof curve->secret_key);
    util_strlcpy(cli->key_name, mine.name, sizeof cli->key_name);
    keys_wipe(&mine);
    cli->curve = 1;
    return CLI_EXIT_OK;
}

int cli_connect(cli_t *cli)
{
    char err[1200];
    conf_t cfg;
    const char *path = cli->config ? cli->config : conf_default_path();
    if (conf_load(&cfg, path, err, sizeof err) < 0) {
        fprintf(stderr, "drover: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    const char *env = getenv("DROVER_COORDINATOR");
    const char *ep = cli->coordinator         ? cli->coordinator
                     : env && *env            ? env
                     : cfg.cli.coordinator[0] ? cfg.cli.coordinator
                                              : CONFIG_DEFAULT_CLIENT_ENDPOINT;
    if (util_strlcpy(cli->endpoint, ep, sizeof cli->endpoint) < 0) {
        fprintf(stderr, "drover: coordinator endpoint too long: %s\n", ep);
        return CLI_EXIT_USAGE;
    }
    cli->timeout_ms = cfg.cli.timeout_ms > 0 ? cfg.cli.timeout_ms : 3000;
    if (cli->timeout) {
        int64_t ms;
        if (util_parse_duration_ms(cli->timeout, &ms) < 0 || ms <= 0)
            return cli_usage_error(cli, "--timeout wants seconds (3, 1.5, 500ms), not '%s'",
                                   cli->timeout);
        cli->timeout_ms = ms;
    }
    client_curve_t curve;
    int rc = s_curve_keys(cli, &cfg, &curve);
    if (rc != CLI_EXIT_OK)
        return rc;
    cli->client = client_new(cli->endpoint, cli->curve ? &curve : NULL, err, sizeof err);
    memset(curve.secret_key, 0, sizeof curve.secret_key);
    if (!cli->client) {
        fprintf(stderr, "drover: %s\n", err);
        return errno == EINVAL || errno == EPROTONOSUPPORT ? CLI_EXIT_USAGE : CLI_EXIT_UNREACHABLE;
    }
    return CLI_EXIT_OK;
}

int cli_no_reply(const cli_t *cli)
{
    char secs[32];
    if (cli->timeout_ms % 1000 == 0)
        snprintf(secs, sizeof secs, "%llds", (long long)(cli->timeout_ms / 1000));
    else
        snprintf(secs, sizeof secs, "%.1fs", (double)cli->timeout_ms / 1000.0);
    if (cli->curve)
        fprintf(stderr,
                "drover: no reply from the coordinator at %s within %s, or the coordinator refused "
                "this client's key '%s' (is it allowed? drover keys list).\n",
                cli->endpoint, secs, cli->key_name);
    else
        fprintf(stderr, "drover: no reply from the coordinator at %s within %s.\n", cli->endpoint,
                secs);
    cli_unreachable_hint();
    if (!cli->curve)
        fprintf(stderr,
                "  This drover has no CURVE key, and a secure coordinator (the default) "
                "ignores such clients: set DROVER_KEY and DROVER_COORDINATOR_KEY (or --key "
                "FILE and --coordinator-key FILE, or cli.secret_key and cli.coordinator_key "
                "in the config file).\n");
    return CLI_EXIT_UNREACHABLE;
}

void cli_unreachable_hint(void)
{
    fprintf(stderr, "  Is drover-coordinator running? Check `deploy/local/cluster.sh status`, "
                    "or point drover at it with --coordinator or DROVER_COORDINATOR.\n");
}

int cli_error_exit(Drover__ErrorCode e)
{
    switch (e) {
    case DROVER__ERROR_CODE__ERROR_NONE: return CLI_EXIT_OK;
    case DROVER__ERROR_CODE__ERROR_UNAVAILABLE:
    case DROVER__ERROR_CODE__ERROR_INTERNAL: return CLI_EXIT_UNREACHABLE;
    case DROVER__ERROR_CODE__ERROR_FORBIDDEN:
    case DROVER__ERROR_CODE__ERROR_RATE_LIMITED:
        return CLI_EXIT_USAGE; /* refused: retrying as is will not help */
    case DROVER__ERROR_CODE__ERROR_DB_UNAVAILABLE: return CLI_EXIT_DB_DOWN;
    default: return CLI_EXIT_USAGE;
    }
}

static const char *s_error_fallback(Drover__ErrorCode e)
{
    switch (e) {
    case DROVER__ERROR_CODE__ERROR_BAD_REQUEST: return "the coordinator rejected the request";
    case DROVER__ERROR_CODE__ERROR_NOT_FOUND: return "not found";
    case DROVER__ERROR_CODE__ERROR_CONFLICT: return "the request conflicts with the current state";
    case DROVER__ERROR_CODE__ERROR_VERSION:
        return "protocol version mismatch between drover and the coordinator";
    case DROVER__ERROR_CODE__ERROR_UNAVAILABLE: return "it is not ready";
    case DROVER__ERROR_CODE__ERROR_INTERNAL: return "internal error";
    case DROVER__ERROR_CODE__ERROR_FORBIDDEN:
        return "permission denied: this client's key may not do that";
    case DROVER__ERROR_CODE__ERROR_RATE_LIMITED:
        return "too many requests from this client: slow down";
    case DROVER__ERROR_CODE__ERROR_DB_UNAVAILABLE: return "database unavailable";
    default: return "unknown error";
    }
}

int cli_call(cli_t *cli, Drover__ClientRequest *req, int64_t extra_ms, const char *not_found,
             Drover__ClientReply **out)
{
    *out = NULL;
    Drover__ClientReply *rep = client_call(cli->client, req, cli->timeout_ms + extra_ms);
    if (!rep) {
        if (errno == ETIMEDOUT)
            return cli_no_reply(cli);
        fprintf(stderr, "drover: talking to the coordinator at %s failed: %s\n", cli->endpoint,
                zmq_strerror(errno));
        return CLI_EXIT_UNREACHABLE;
    }
    if (out_escape_reply(rep) < 0) {
        drover__client_reply__free_unpacked(rep, NULL);
        fprintf(stderr, "drover: out of memory\n");
        return CLI_EXIT_UNREACHABLE;
    }
    if (rep->error == DROVER__ERROR_CODE__ERROR_NONE) {
        *out = rep;
        return CLI_EXIT_OK;
    }
    int code = cli_reply_error(rep, not_found);
    drover__client_reply__free_unpacked(rep, NULL);
    return code;
}

int cli_reply_error(const Drover__ClientReply *rep, const char *not_found)
{
    const char *msg = rep->message && *rep->message ? rep->message : NULL;
    if (!msg && rep->error == DROVER__ERROR_CODE__ERROR_NOT_FOUND && not_found)
        msg = not_found;
    if (!msg)
        msg = s_error_fallback(rep->error);
    int code = cli_error_exit(rep->error);
    if (code == CLI_EXIT_UNREACHABLE)
        fprintf(stderr, "drover: the coordinator cannot serve this now: %s\n", msg);
    else if (rep->error == DROVER__ERROR_CODE__ERROR_VERSION)
        fprintf(
            stderr,
            "drover: %s\n  drover %s speaks protocol %d; upgrade drover or the coordinator so they match.\n",
            msg, DROVER_VERSION, DROVER_PROTOCOL_VERSION);
    else
        fprintf(stderr, "drover: %s\n", msg);
    return code;
}

void cli_user_at_host(char *buf, size_t len)
{
    const char *user = getenv("USER");
    if (!user || !*user) {
        struct passwd *pw = getpwuid(getuid());
        user = pw && pw->pw_name ? pw->pw_name : "unknown";
    }
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    snprintf(buf, len, "%s@%s", user, host);
}

int cli_print_table(cli_t *cli, out_table_t **t)
{
    int rc = *t ? out_table_print(*t, stdout, cli->color_out) : -1;
    out_table_destroy(t);
    if (rc < 0) {
        fprintf(stderr, "drover: out of memory\n");
        return CLI_EXIT_UNREACHABLE;
    }
    return CLI_EXIT_OK;
}

int cli_emit_json(json_t *j)
{
    if (!j) {
        fprintf(stderr, "drover: out of memory while building the JSON output\n");
        return CLI_EXIT_UNREACHABLE;
    }
    int rc = out_json_print(j);
    json_decref(j);
    if (rc < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "drover: cannot write to stdout: %s\n", strerror(errno));
        return CLI_EXIT_UNREACHABLE;
    }
    return CLI_EXIT_OK;
}
