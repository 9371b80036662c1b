/* cmd_web — `drover web-token create|list|revoke`: the sign-in tokens of
 * drover-web (docs/security.md "drover-web").
 *
 * A token acts as one client key (its role and grants) when a person signs
 * in to drover-web with it. The coordinator makes the token and keeps only
 * its sha256; create prints it once, on stdout and nowhere else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "keys.h"
#include "output.h"
#include "util.h"

static int s_call(cli_t *cli, Drover__WebTokenRequest *wr, Drover__ClientReply **rep)
{
    int rc = cli_connect(cli);
    if (rc != CLI_EXIT_OK)
        return rc;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_WEB_TOKENS;
    req.web_tokens = wr;
    return cli_call(cli, &req, 0, NULL, rep);
}

static int s_list(cli_t *cli)
{
    Drover__WebTokenRequest wr = DROVER__WEB_TOKEN_REQUEST__INIT;
    wr.op = "list";
    Drover__ClientReply *rep = NULL;
    int rc = s_call(cli, &wr, &rep);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *doc = rep->json && *rep->json ? json_loads(rep->json, 0, NULL) : NULL;
    drover__client_reply__free_unpacked(rep, NULL);
    if (!json_is_array(doc)) {
        json_decref(doc);
        fprintf(stderr, "drover: the coordinator sent no token list (is it an older version?)\n");
        return CLI_EXIT_UNREACHABLE;
    }
    if (cli->json)
        return cli_emit_json(doc);
    if (json_array_size(doc) == 0) {
        json_decref(doc);
        printf("No web tokens. Make one with: drover web-token create KEY\n");
        return CLI_EXIT_OK;
    }
    static const char *const headers[] = {"ID",         "KEY",        "STATE",
                                          "CREATED-BY", "CREATED-AT", "EXPIRES-AT"};
    out_table_t *t = out_table_new(headers, 6);
    size_t i;
    json_t *o;
    json_array_foreach(doc, i, o)
    {
        if (!t)
            break;
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%lld",
                       (long long)json_integer_value(json_object_get(o, "id")));
        out_table_cell(t, OUT_PLAIN, "%s", json_string_value(json_object_get(o, "key")) ?: "?");
        out_table_cell(t, OUT_PLAIN, "%s", json_string_value(json_object_get(o, "state")) ?: "?");
        out_table_cell(t, OUT_PLAIN, "%s",
                       json_string_value(json_object_get(o, "created_by")) ?: "?");
        out_table_cell(t, OUT_PLAIN, "%.19s",
                       json_string_value(json_object_get(o, "created_at")) ?: "?");
        out_table_cell(t, OUT_PLAIN, "%.19s",
                       json_string_value(json_object_get(o, "expires_at")) ?: "?");
    }
    json_decref(doc);
    return cli_print_table(cli, &t);
}

static int s_web_token(cli_t *cli, int argc, char **argv)
{
    const char *ttl = NULL;
    const cli_opt_t opts[] = {
        {"ttl", 0, 1, NULL, &ttl},
        {NULL, 0, 0, NULL, NULL},
    };
    char *pos[2];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, 2, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    const char *op = pos[0];
    if (strcmp(op, "list") == 0) {
        if (npos != 1 || ttl)
            return cli_usage_error(cli, "'web-token list' takes no arguments");
        return s_list(cli);
    }
    Drover__WebTokenRequest wr = DROVER__WEB_TOKEN_REQUEST__INIT;
    wr.op = (char *)op;
    if (strcmp(op, "create") == 0) {
        if (npos != 2)
            return cli_usage_error(cli, "usage: drover web-token create KEY [--ttl 30d]");
        if (!keys_valid_name(pos[1]))
            return cli_usage_error(cli, "'%s' is not a key name (see: drover keys list)", pos[1]);
        wr.key = pos[1];
        if (ttl) {
            int64_t ms;
            if (util_parse_duration_ms(ttl, &ms) < 0 || ms < 60000 ||
                ms > (int64_t)366 * 86400 * 1000)
                return cli_usage_error(cli,
                                       "--ttl wants a duration from 1m to 366d (8h, 30d), "
                                       "not '%s'",
                                       ttl);
            wr.ttl_s = (uint64_t)(ms / 1000);
        }
    } else if (strcmp(op, "revoke") == 0) {
        uint64_t id;
        if (npos != 2 || ttl)
            return cli_usage_error(cli, "usage: drover web-token revoke ID");
        if (cli_parse_uint(cli, "ID", pos[1], 1, (uint64_t)INT64_MAX, &id) < 0)
            return CLI_EXIT_USAGE;
        wr.id = id;
    } else {
        return cli_usage_error(cli, "unknown web-token command '%s' (create, list, revoke)", op);
    }
    Drover__ClientReply *rep = NULL;
    if ((rc = s_call(cli, &wr, &rep)) != CLI_EXIT_OK)
        return rc;
    if (strcmp(op, "revoke") == 0) {
        if (cli->json) {
            json_t *o = json_pack("{s:s, s:I, s:s}", "op", "revoke", "id", (json_int_t)wr.id,
                                  "message", rep->message ? rep->message : "");
            drover__client_reply__free_unpacked(rep, NULL);
            return cli_emit_json(o);
        }
        printf("%s\n", rep->message && *rep->message ? rep->message : "revoked");
        drover__client_reply__free_unpacked(rep, NULL);
        return CLI_EXIT_OK;
    }
    json_t *doc = rep->json && *rep->json ? json_loads(rep->json, 0, NULL) : NULL;
    drover__client_reply__free_unpacked(rep, NULL);
    const char *tok = json_string_value(json_object_get(doc, "token"));
    if (!tok) {
        json_decref(doc);
        fprintf(stderr, "drover: the coordinator sent no token (is it an older version?)\n");
        return CLI_EXIT_UNREACHABLE;
    }
    if (cli->json)
        return cli_emit_json(doc);
    printf("%s\n", tok);
    if (cli->tty_out)
        fprintf(stderr,
                "Web token %lld for key '%s' (role %s). It is shown this once: give it to the "
                "person who signs in to drover-web with it; revoke it with: drover web-token "
                "revoke %lld\n",
                (long long)json_integer_value(json_object_get(doc, "id")), wr.key,
                json_string_value(json_object_get(doc, "role")) ?: "?",
                (long long)json_integer_value(json_object_get(doc, "id")));
    json_decref(doc);
    return CLI_EXIT_OK;
}

const cli_verb_t cmd_web_token_verb = {
    .name = "web-token",
    .synopsis = "create KEY [--ttl DUR] | list | revoke ID",
    .summary = "sign-in tokens for drover-web, each acting as a client key",
    .help = "drover-web, the web view, signs people in with tokens. A token acts as one\n"
            "client key: the person sees and does what that key may (its role: reader,\n"
            "submitter or admin, and its grants, e.g. `approve` on claims-* makes an\n"
            "approver). drover-web itself holds a key of role web, which can do nothing\n"
            "without a person's token. Needs an admin key.\n"
            "\n"
            "  create KEY [--ttl DUR]  makes a token for client key KEY, valid DUR (default\n"
            "                          30d, at most 366d; 8h, 90m...). Prints the token on\n"
            "                          stdout, once: the coordinator keeps only its sha256.\n"
            "                          At most 50 valid tokens per key\n"
            "  list                    ID KEY STATE CREATED-BY CREATED-AT EXPIRES-AT of the\n"
            "                          newest 1000 tokens (never the tokens)\n"
            "  revoke ID               ends the token at once: the sessions signed in with\n"
            "                          it get 401 at their next request\n"
            "\n"
            "Revoking KEY itself (drover keys revoke) ends its tokens too.\n"
            "\n"
            "Options:\n"
            "  --ttl DUR           how long the token may sign in (create)\n"
            "\n"
            "Examples:\n"
            "  drover keys allow client reviewer.pub --role reader\n"
            "  drover keys grant reviewer approve 'claims-*'\n"
            "  drover web-token create reviewer --ttl 8h > reviewer.token\n"
            "  drover web-token list --json | jq '.[] | select(.state == \"valid\")'\n"
            "  drover web-token revoke 7",
    .run = s_web_token,
};
