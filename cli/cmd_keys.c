/* cmd_keys — `drover keygen` and `drover keys allow|list|revoke`: the
 * CurveZMQ keys that let workers and clients talk to a secure coordinator.
 *
 * keygen is local (it writes a key pair with keys_generate and talks to no
 * one); keys sends one KeysRequest to the coordinator, which allows only
 * admin keys to change the allow-list (readers may list it).
 *
 * Invariant: no secret key ever reaches stdout, stderr or --json output —
 * keygen prints the public half and file names only, and `keys allow`
 * sends the public key of the file it is given (a secret file given by
 * mistake contributes only its public key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "keys.h"
#include "output.h"
#include "util.h"

/* ----------------------------------------------------------- keygen --- */

static int s_keygen(cli_t *cli, int argc, char **argv)
{
    const char *out = NULL, *name = NULL;
    const cli_opt_t opts[] = {
        {"out", 'o', 1, NULL, &out},
        {"name", 0, 1, NULL, &name},
        {NULL, 0, 0, NULL, NULL},
    };
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, 0, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    if (!out || !*out)
        return cli_usage_error(cli, "where should the key go? give --out PATH");
    char err[1200];
    keys_pair_t kp;
    if (keys_generate(out, name, &kp, err, sizeof err) < 0) {
        fprintf(stderr, "drover: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    keys_wipe(&kp); /* only the public half is used below */
    if (cli->json) {
        char pub[4200];
        snprintf(pub, sizeof pub, "%s.pub", out);
        int bad = 0;
        json_t *o = json_object();
        out_json_set(o, "name", json_string(kp.name), &bad);
        out_json_set(o, "public_key", json_string(kp.public_z85), &bad);
        out_json_set(o, "secret_file", json_string(out), &bad);
        out_json_set(o, "public_file", json_string(pub), &bad);
        if (bad) {
            json_decref(o);
            o = NULL;
        }
        return cli_emit_json(o);
    }
    printf("Wrote the key pair '%s':\n"
           "  %s      secret: keep it private (mode 0600), never copy it off this machine\n"
           "  %s.pub  public: give it to the coordinator's admin\n"
           "Public key: %s\n"
           "Next, on a machine with an admin key:\n"
           "  drover keys allow worker %s.pub                    # for a worker\n"
           "  drover keys allow client %s.pub --role submitter   # or for a client\n",
           kp.name, out, out, kp.public_z85, out, out);
    return CLI_EXIT_OK;
}

const cli_verb_t cmd_keygen_verb = {
    .name = "keygen",
    .synopsis = "--out PATH [--name NAME]",
    .summary = "make a CurveZMQ key pair for a worker, a client or the coordinator",
    .help = "Generates a CurveZMQ key pair (libzmq's CURVE, RFC 26) into two files:\n"
            "PATH, holding the secret key (mode 0600; drover refuses a secret key file\n"
            "that group or others may read), and PATH.pub, holding the public key.\n"
            "Existing files are never overwritten. Prints the public key and what to\n"
            "run next; never prints the secret.\n"
            "\n"
            "Options:\n"
            "  -o, --out PATH      where to write the pair (PATH and PATH.pub)\n"
            "  --name NAME         the key's name on the allow-list (default: PATH's file\n"
            "                      name); letters, digits, _ . @ -\n"
            "\n"
            "Examples:\n"
            "  drover keygen --out /etc/drover/keys/worker-node17\n"
            "  drover keys allow worker /etc/drover/keys/worker-node17.pub",
    .run = s_keygen,
};

/* ------------------------------------------------------------- keys --- */

/* Sends one KeysRequest; returns the exit code, *rep set on success. */
static int s_keys_call(cli_t *cli, Drover__KeysRequest *kr, Drover__ClientReply **rep)
{
    int rc = cli_connect(cli);
    if (rc != CLI_EXIT_OK)
        return rc;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_KEYS;
    req.keys = kr;
    return cli_call(cli, &req, 0, NULL, rep);
}

/* Prints an allow/revoke answer: its message, or a JSON object. */
static int s_keys_done(cli_t *cli, const char *op, const char *name, Drover__ClientReply *rep)
{
    const char *msg = rep->message ? rep->message : "";
    int rc = CLI_EXIT_OK;
    if (cli->json) {
        int bad = 0;
        json_t *o = json_object();
        out_json_set(o, "op", json_string(op), &bad);
        out_json_set(o, "name", json_string(name), &bad);
        out_json_set(o, "message", json_string(msg), &bad);
        if (bad) {
            json_decref(o);
            o = NULL;
        }
        rc = cli_emit_json(o);
    } else {
        printf("%s\n", *msg ? msg : "done");
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

static int s_keys_list(cli_t *cli)
{
    Drover__KeysRequest kr = DROVER__KEYS_REQUEST__INIT;
    kr.op = "list";
    Drover__ClientReply *rep = NULL;
    int rc = s_keys_call(cli, &kr, &rep);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_error_t e;
    json_t *doc = rep->json && *rep->json ? json_loads(rep->json, 0, &e) : NULL;
    drover__client_reply__free_unpacked(rep, NULL);
    if (!json_is_array(doc)) {
        json_decref(doc);
        fprintf(stderr, "drover: the coordinator sent no key list (is it an older version?)\n");
        return CLI_EXIT_UNREACHABLE;
    }
    if (cli->json)
        return cli_emit_json(doc);
    if (json_array_size(doc) == 0) {
        json_decref(doc);
        printf("No keys are allowed (a coordinator running with insecure = true has none).\n"
               "Allow one with: drover keys allow worker|client FILE.pub\n");
        return CLI_EXIT_OK;
    }
    static const char *const headers[] = {"NAME",    "KIND",       "ROLE",
                                          "REVOKED", "PUBLIC-KEY", "GRANTS"};
    out_table_t *t = out_table_new(headers, 6);
    if (!t) {
        json_decref(doc);
        fprintf(stderr, "drover: out of memory\n");
        return CLI_EXIT_UNREACHABLE;
    }
    size_t i;
    json_t *k;
    json_array_foreach(doc, i, k)
    {
        const char *role = json_string_value(json_object_get(k, "role"));
        int revoked = json_is_true(json_object_get(k, "revoked"));
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%s", json_string_value(json_object_get(k, "name")) ?: "?");
        out_table_cell(t, OUT_PLAIN, "%s", json_string_value(json_object_get(k, "kind")) ?: "?");
        out_table_cell(t, OUT_PLAIN, "%s", role && *role ? role : "-");
        out_table_cell(t, revoked ? OUT_RED : OUT_PLAIN, "%s", revoked ? "yes" : "no");
        out_table_cell(t, revoked ? OUT_DIM : OUT_PLAIN, "%s",
                       json_string_value(json_object_get(k, "public_key")) ?: "?");
        char grants[512] = "";
        size_t gi, gl = 0;
        json_t *g;
        json_array_foreach(json_object_get(k, "grants"), gi, g)
        {
            int w = snprintf(grants + gl, sizeof grants - gl, "%s%s", gl ? "," : "",
                             json_string_value(g) ?: "?");
            if (w < 0 || (size_t)w >= sizeof grants - gl)
                break;
            gl += (size_t)w;
        }
        out_table_cell(t, OUT_PLAIN, "%s", gl ? grants : "-");
    }
    rc = CLI_EXIT_OK;
    if (out_table_print(t, stdout, cli->color_out) < 0) {
        fprintf(stderr, "drover: cannot print the table: out of memory or stdout closed\n");
        rc = CLI_EXIT_UNREACHABLE;
    }
    out_table_destroy(&t);
    json_decref(doc);
    return rc;
}

static int s_keys(cli_t *cli, int argc, char **argv)
{
    const char *role = NULL, *name = NULL;
    const cli_opt_t opts[] = {
        {"role", 0, 1, NULL, &role},
        {"name", 0, 1, NULL, &name},
        {NULL, 0, 0, NULL, NULL},
    };
    char *pos[4];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, 4, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    const char *op = pos[0];

    if (strcmp(op, "list") == 0) {
        if (npos != 1 || role || name)
            return cli_usage_error(cli, "'keys list' takes no arguments");
        return s_keys_list(cli);
    }

    if (strcmp(op, "revoke") == 0) {
        if (npos != 2 || role || name)
            return cli_usage_error(cli, "usage: drover keys revoke NAME");
        if (!keys_valid_name(pos[1]))
            return cli_usage_error(cli, "'%s' is not a key name (see: drover keys list)", pos[1]);
        Drover__KeysRequest kr = DROVER__KEYS_REQUEST__INIT;
        kr.op = "revoke";
        kr.name = pos[1];
        Drover__ClientReply *rep = NULL;
        if ((rc = s_keys_call(cli, &kr, &rep)) != CLI_EXIT_OK)
            return rc;
        return s_keys_done(cli, "revoke", pos[1], rep);
    }

    if (strcmp(op, "allow") == 0) {
        if (npos != 3)
            return cli_usage_error(cli, "usage: drover keys allow worker|client FILE.pub "
                                        "[--role admin|submitter|reader|web] [--name NAME]");
        const char *kind = pos[1], *file = pos[2];
        if (strcmp(kind, "worker") != 0 && strcmp(kind, "client") != 0)
            return cli_usage_error(cli, "allow what? 'worker' or 'client', not '%s'", kind);
        if (strcmp(kind, "worker") == 0 && role)
            return cli_usage_error(cli, "--role is for client keys; a worker key only lets a "
                                        "worker register");
        if (strcmp(kind, "client") == 0) {
            if (!role)
                role = "reader"; /* least privilege unless asked */
            if (strcmp(role, "admin") != 0 && strcmp(role, "submitter") != 0 &&
                strcmp(role, "reader") != 0 && strcmp(role, "web") != 0)
                return cli_usage_error(
                    cli, "--role must be admin, submitter, reader or web, not '%s'", role);
        }
        char err[1200];
        keys_pair_t kp;
        if (keys_load(file, 0, &kp, err, sizeof err) < 0) {
            fprintf(stderr, "drover: %s\n", err);
            return CLI_EXIT_USAGE;
        }
        keys_wipe(&kp); /* a secret file given by mistake: keep only the public half */
        if (name && !keys_valid_name(name))
            return cli_usage_error(cli,
                                   "'%s' is not a usable key name (letters, digits, _ . @ -; "
                                   "at most 63)",
                                   name);
        Drover__KeysRequest kr = DROVER__KEYS_REQUEST__INIT;
        kr.op = "allow";
        kr.name = (char *)(name ? name : kp.name);
        kr.kind = (char *)kind;
        kr.role = (char *)(role ? role : "");
        kr.public_key = kp.public_z85;
        Drover__ClientReply *rep = NULL;
        if ((rc = s_keys_call(cli, &kr, &rep)) != CLI_EXIT_OK)
            return rc;
        return s_keys_done(cli, "allow", kr.name, rep);
    }
    if (strcmp(op, "rebind") == 0) {
        if (npos != 3 || role || name)
            return cli_usage_error(cli, "usage: drover keys rebind WORKER KEY");
        if (!keys_valid_name(pos[2]))
            return cli_usage_error(cli, "'%s' is not a key name (see: drover keys list)", pos[2]);
        Drover__KeysRequest kr = DROVER__KEYS_REQUEST__INIT;
        kr.op = "rebind";
        kr.name = pos[2];
        kr.worker = pos[1];
        Drover__ClientReply *rep = NULL;
        if ((rc = s_keys_call(cli, &kr, &rep)) != CLI_EXIT_OK)
            return rc;
        return s_keys_done(cli, "rebind", pos[2], rep);
    }

    if (strcmp(op, "grant") == 0 || strcmp(op, "ungrant") == 0) {
        if (npos != 4 || role || name)
            return cli_usage_error(cli, "usage: drover keys %s KEY promote|approve 'PATTERN'", op);
        if (!keys_valid_name(pos[1]))
            return cli_usage_error(cli, "'%s' is not a key name (see: drover keys list)", pos[1]);
        if (strcmp(pos[2], "promote") != 0 && strcmp(pos[2], "approve") != 0)
            return cli_usage_error(cli, "the rights are 'promote' and 'approve', not '%s'", pos[2]);
        Drover__KeysRequest kr = DROVER__KEYS_REQUEST__INIT;
        kr.op = (char *)op;
        kr.name = pos[1];
        kr.right = pos[2];
        kr.pattern = pos[3];
        Drover__ClientReply *rep = NULL;
        if ((rc = s_keys_call(cli, &kr, &rep)) != CLI_EXIT_OK)
            return rc;
        return s_keys_done(cli, op, pos[1], rep);
    }
    return cli_usage_error(cli,
                           "unknown keys command '%s' (allow, list, revoke, rebind, grant, "
                           "ungrant)",
                           op);
}

const cli_verb_t cmd_keys_verb = {
    .name = "keys",
    .synopsis = "allow worker|client FILE.pub | list | revoke NAME | rebind WORKER KEY | "
                "grant|ungrant KEY promote|approve PATTERN",
    .summary = "the coordinator's allow-list of CurveZMQ keys",
    .help = "A secure coordinator (the default) talks only to workers and clients whose\n"
            "CurveZMQ public keys are on its allow-list. Changing the list needs an\n"
            "admin key; listing it needs any client key.\n"
            "\n"
            "  allow worker FILE.pub       lets the worker holding the matching secret key\n"
            "                              register\n"
            "  allow client FILE.pub       lets a client in, with --role:\n"
            "                                reader     list, status, logs, metrics (default)\n"
            "                                submitter  + submit, cancel its own runs\n"
            "                                admin      + cancel any run, promote, keys\n"
            "                                web        drover-web's own key: nothing by\n"
            "                                           itself; acts only with a person's\n"
            "                                           web token (drover web-token --help)\n"
            "  list                        NAME KIND ROLE REVOKED PUBLIC-KEY of every key\n"
            "  revoke NAME                 refuses the key from now on and drops its\n"
            "                              connected workers (their tasks run elsewhere);\n"
            "                              a revoked key never comes back: make a new one\n"
            "  rebind WORKER KEY           gives the worker name to another worker key (a\n"
            "                              name belongs to the key that first registered it;\n"
            "                              the session holding it now is dropped)\n"
            "  grant KEY promote P         lets KEY change the stage of models whose name\n"
            "                              matches the glob P, and lets the promote/select\n"
            "                              steps of runs KEY submits do it (else admin only)\n"
            "  grant KEY approve P         lets KEY approve or reject approve steps about\n"
            "                              models whose name matches P (drover approve; never\n"
            "                              approve a run KEY submitted itself)\n"
            "  ungrant KEY RIGHT P         takes such a grant back\n"
            "\n"
            "Options:\n"
            "  --role ROLE         a client key's role (admin, submitter, reader, web)\n"
            "  --name NAME         the name on the list (default: the key file's name)\n"
            "\n"
            "Every change is recorded with the admin key's name in drover.audit.\n"
            "\n"
            "Examples:\n"
            "  drover keygen --out worker-node17 && drover keys allow worker worker-node17.pub\n"
            "  drover keys allow client ml-team.pub --role submitter\n"
            "  drover keys list --json | jq -r '.[] | select(.revoked | not) | .name'\n"
            "  drover keys revoke worker-node17\n"
            "  drover keys grant ml-team promote 'claims-*'\n"
            "  drover keys grant reviewer approve 'claims-*'",
    .run = s_keys,
};
