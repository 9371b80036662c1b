/* cmd_feedback — `drover feedback`: an adjuster's correction of a served
 * prediction, sent to drover-serve's HTTP API (POST /v1/feedback,
 * docs/serving.md), not to the coordinator: corrections go where the
 * predictions were logged, with the same bearer tokens. libcurl speaks
 * HTTP and HTTPS (drover-serve behind a TLS proxy). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "util.h"

extern const cli_verb_t cmd_feedback_verb;

#define S_REPLY_MAX (64u << 10)

typedef struct {
    char buf[S_REPLY_MAX];
    size_t len;
} reply_t;

static size_t s_collect(char *p, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    size_t bytes = size * n;
    if (bytes > sizeof r->buf - 1 - r->len)
        return 0; /* an answer this long is not drover-serve's: fail the transfer */
    memcpy(r->buf + r->len, p, bytes);
    r->len += bytes;
    r->buf[r->len] = '\0';
    return bytes;
}

/* The token: --token-file FILE (its first line; the file must not be
 * readable by others), else $DROVER_SERVE_TOKEN. 0, or -1 after a message. */
static int s_token(const cli_t *cli, const char *file, char *tok, size_t len)
{
    if (!file) {
        const char *env = getenv("DROVER_SERVE_TOKEN");
        if (!env || !*env) {
            cli_usage_error(cli,
                            "give the server's token: --token-file FILE or DROVER_SERVE_TOKEN");
            return -1;
        }
        if (util_strlcpy(tok, env, len) < 0) {
            cli_usage_error(cli, "DROVER_SERVE_TOKEN is too long");
            return -1;
        }
        return 0;
    }
    FILE *f = fopen(file, "r");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) < 0) {
        fprintf(stderr, "drover: cannot read %s: %s\n", file, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (sb.st_mode & 077) {
        fprintf(stderr, "drover: %s may be read by others (mode %03o); chmod 600 %s\n", file,
                (unsigned)(sb.st_mode & 0777), file);
        fclose(f);
        return -1;
    }
    int ok = fgets(tok, (int)len, f) != NULL;
    fclose(f);
    tok[ok ? strcspn(tok, "\r\n") : 0] = '\0';
    if (!tok[0]) {
        fprintf(stderr, "drover: %s holds no token on its first line\n", file);
        return -1;
    }
    return 0;
}

static const char *s_s(const json_t *doc, const char *key)
{
    const char *v = json_string_value(json_object_get(doc, key));
    return v ? v : "?";
}

static int s_feedback(cli_t *cli, int argc, char **argv)
{
    const char *server = NULL, *token_file = NULL, *by = NULL, *row = NULL;
    const cli_opt_t opts[] = {{"server", 0, 1, NULL, &server},
                              {"token-file", 0, 1, NULL, &token_file},
                              {"by", 0, 1, NULL, &by},
                              {"row", 0, 1, NULL, &row},
                              {NULL, 0, 0, NULL, NULL}};
    char *pos[2];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, pos, 2, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    if (!server)
        server = getenv("DROVER_SERVE_URL");
    if (!server || !*server)
        return cli_usage_error(cli, "give drover-serve's address: --server URL or DROVER_SERVE_URL "
                                    "(e.g. http://127.0.0.1:8480)");
    uint64_t rown = 0;
    if (row && cli_parse_uint(cli, "--row", row, 0, UINT32_MAX, &rown) < 0) /* rows count from 0 */
        return CLI_EXIT_USAGE;
    char tok[512], url[2048];
    if (s_token(cli, token_file, tok, sizeof tok) < 0)
        return CLI_EXIT_USAGE;
    size_t sl = strlen(server);
    while (sl && server[sl - 1] == '/')
        sl--;
    if (snprintf(url, sizeof url, "%.*s/v1/feedback", (int)sl, server) >= (int)sizeof url)
        return cli_usage_error(cli, "--server is too long");

    json_t *body = json_pack("{s:s, s:s, s:I}", "request_id", pos[0], "label", pos[1], "row",
                             (json_int_t)rown);
    if (body && by)
        json_object_set_new(body, "by", json_string(by));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char auth[600];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    memset(tok, 0, sizeof tok);
    reply_t *rep = calloc(1, sizeof *rep);
    struct curl_slist *hdr = NULL;
    CURL *h = NULL;
    rc = CLI_EXIT_UNREACHABLE;
    if (!text || !rep || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        !(h = curl_easy_init())) {
        fprintf(stderr, "drover: out of memory\n");
        goto done;
    }
    hdr = curl_slist_append(hdr, auth);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, rep);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(cli->timeout_ms > 0 ? cli->timeout_ms : 5000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        fprintf(stderr, "drover: no answer from drover-serve at %s: %s\n", url,
                curl_easy_strerror(cc));
        goto done;
    }
    json_error_t je;
    json_t *doc = json_loadb(rep->buf, rep->len, 0, &je);
    if (!doc) {
        fprintf(stderr, "drover: %s answered %ld without a JSON document (is it drover-serve?)\n",
                url, status);
        goto done;
    }
    if (status != 200) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        fprintf(stderr, "drover: %s\n", e ? e : "refused");
        json_decref(doc);
        rc = status >= 500 ? CLI_EXIT_UNREACHABLE : CLI_EXIT_USAGE;
        goto done;
    }
    if (cli->json) {
        rc = cli_emit_json(doc);
        goto done;
    }
    printf("recorded: request %s row %lld is '%s' (by %s; predicted by %s:%lld)\n",
           s_s(doc, "request_id"), (long long)json_integer_value(json_object_get(doc, "row")),
           s_s(doc, "label"), s_s(doc, "by"), s_s(doc, "model"),
           (long long)json_integer_value(json_object_get(doc, "version")));
    json_decref(doc);
    rc = CLI_EXIT_OK;
done:
    memset(auth, 0, sizeof auth);
    curl_slist_free_all(hdr);
    if (h)
        curl_easy_cleanup(h);
    curl_global_cleanup();
    free(rep);
    free(text);
    return rc;
}

const cli_verb_t cmd_feedback_verb = {
    .name = "feedback",
    .synopsis = "REQUEST_ID LABEL [--row N] [--by WHO] [--server URL] [--token-file FILE]",
    .summary = "correct a served prediction (sent to drover-serve)",
    .help = "Records an adjuster's correction of a prediction drover-serve answered: the\n"
            "request id from its answer, the right label, and optionally the row of a\n"
            "batch (from 0) and who corrects it (default: the token's name). It goes to\n"
            "drover-serve's HTTP API (POST /v1/feedback), not to the coordinator: the\n"
            "server joins it with the logged input row and writes it, durably and once\n"
            "per request row, into the CSV files a retraining trigger watches. A second\n"
            "correction of the same row is refused (exit 2) naming the first.\n"
            "--server URL (else DROVER_SERVE_URL): http://HOST:PORT or the https:// of\n"
            "the TLS proxy in front of it. --token-file FILE: the bearer token on its\n"
            "first line, a file only its owner may read (else DROVER_SERVE_TOKEN).\n"
            "See docs/serving.md.\n"
            "\n"
            "Examples:\n"
            "  drover feedback 0193a1f2c3d400000007 scratch --server http://127.0.0.1:8480 \\\n"
            "      --token-file ~/.config/drover/serve.token\n"
            "  DROVER_SERVE_URL=https://predict.example.com drover feedback ID dent --row 3",
    .run = s_feedback,
};
