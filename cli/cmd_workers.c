/* cmd_workers — `drover workers` and `drover info`: the cluster side, what
 * the coordinator knows about its workers and itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "output.h"
#include "render.h"
#include "util.h"
#include "wire.h"

/* Parses the arguments (none positional), connects and makes one call.
 * Returns CLI_EXIT_OK with *rep set, -1 when --help was printed (the verb
 * then exits 0), or the exit code of a printed failure. */
static int s_simple_call(cli_t *cli, int argc, char **argv, Drover__ClientRequest *req,
                         Drover__ClientReply **rep)
{
    size_t npos;
    int rc = cli_parse(cli, argc, argv, NULL, NULL, 0, 0, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : -1;
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;
    return cli_call(cli, req, 0, NULL, rep);
}

/* --------------------------------------------------------- workers --- */

static int s_workers_table(cli_t *cli, const Drover__ClientReply *rep, int64_t now)
{
    static const char *const headers[] = {"NAME",   "HOST",   "SLOTS",          "RUNNING",  "GPUS",
                                          "MEMORY", "LABELS", "LAST-HEARTBEAT", "CONNECTED"};
    out_table_t *t = out_table_new(headers, 9);
    if (!t)
        return -1;
    out_table_align_right(t, 2);
    out_table_align_right(t, 3);
    out_table_align_right(t, 4);
    out_table_align_right(t, 5);
    out_table_align_right(t, 7);
    for (size_t i = 0; i < rep->n_workers; i++) {
        const Drover__WorkerInfo *w = rep->workers[i];
        char labels[1024] = "-", beat[48] = "-";
        size_t o = 0;
        for (size_t j = 0; j < w->n_labels && o < sizeof labels; j++)
            o +=
                (size_t)snprintf(labels + o, sizeof labels - o, "%s%s", j ? "," : "", w->labels[j]);
        int64_t age = out_span_ms(w->last_heartbeat_us, 0, now);
        if (age >= 0) {
            out_duration(age, beat, sizeof beat);
            strncat(beat, " ago", sizeof beat - strlen(beat) - 1);
        }
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%s", w->name ? w->name : "");
        out_table_cell(t, OUT_PLAIN, "%s", w->host ? w->host : "");
        out_table_cell(t, OUT_PLAIN, "%u", w->slots);
        out_table_cell(t, w->running > 0 ? OUT_YELLOW : OUT_PLAIN, "%u", w->running);
        /* GPUs and memory: booked / offered ("-" when it offers none / unknown). */
        if (w->gpus)
            out_table_cell(t, OUT_PLAIN, "%u/%u", w->gpus_used, w->gpus);
        else
            out_table_cell(t, OUT_PLAIN, "-");
        if (w->memory_bytes)
            out_table_cell(t, OUT_PLAIN, "%.1f/%.1fG", (double)w->memory_used_bytes / 1073741824.0,
                           (double)w->memory_bytes / 1073741824.0);
        else
            out_table_cell(t, OUT_PLAIN, "-");
        out_table_cell(t, OUT_PLAIN, "%s", labels);
        out_table_cell(t, OUT_PLAIN, "%s", beat);
        out_table_cell(t,
                       w->draining    ? OUT_YELLOW
                       : w->connected ? OUT_GREEN
                                      : OUT_RED,
                       "%s",
                       w->draining    ? "draining"
                       : w->connected ? "yes"
                                      : "no");
    }
    int rc = out_table_print(t, stdout, cli->color_out);
    out_table_destroy(&t);
    return rc;
}

static int s_workers(cli_t *cli, int argc, char **argv)
{
    Drover__WorkersRequest wr = DROVER__WORKERS_REQUEST__INIT;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_WORKERS;
    req.workers = &wr;
    Drover__ClientReply *rep = NULL;
    int rc = s_simple_call(cli, argc, argv, &req, &rep);
    if (rc != CLI_EXIT_OK)
        return rc < 0 ? CLI_EXIT_OK : rc;

    int64_t now = util_now_us();
    if (cli->json) {
        int bad = 0;
        json_t *a = json_array();
        for (size_t i = 0; i < rep->n_workers; i++)
            out_json_append(a, render_worker_json(rep->workers[i], now), &bad);
        if (bad) {
            json_decref(a);
            a = NULL;
        }
        rc = cli_emit_json(a);
    } else if (rep->n_workers == 0) {
        printf(
            "No workers have registered. Start one with: drover-worker --coordinator ENDPOINT\n");
    } else if (s_workers_table(cli, rep, now) < 0) {
        fprintf(stderr, "drover: out of memory\n");
        rc = CLI_EXIT_UNREACHABLE;
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_workers_verb = {
    .name = "workers",
    .synopsis = "",
    .summary = "list the workers: slots, GPUs, memory, load, last heartbeat",
    .help = "Lists the workers the coordinator knows: name, host, task slots, tasks\n"
            "running, GPUs and memory (booked/offered), labels, time since the last\n"
            "heartbeat, and whether it is connected (or draining: stopping, no new work).\n"
            "\n"
            "Examples:\n"
            "  drover workers\n"
            "  drover workers --json | jq '[.[] | select(.connected)] | length'",
    .run = s_workers,
};

/* ------------------------------------------------------------ info --- */

static json_t *s_info_json(const cli_t *cli, const Drover__CoordinatorInfo *in, int64_t now)
{
    int bad = 0;
    json_t *o = json_object();
    out_json_set(o, "endpoint", json_string(cli->endpoint), &bad);
    out_json_set(o, "protocol_version", json_integer(in->version), &bad);
    out_json_set(o, "cli_protocol_version", json_integer(DROVER_PROTOCOL_VERSION), &bad);
    out_json_set(o, "build", json_string(in->build ? in->build : ""), &bad);
    out_json_set(o, "started_at", out_json_time(in->started_at_us), &bad);
    out_json_set(o, "uptime", out_json_seconds(out_span_ms(in->started_at_us, 0, now)), &bad);
    out_json_set(o, "workers", json_integer(in->workers), &bad);
    out_json_set(o, "active_runs", json_integer(in->active_runs), &bad);
    out_json_set(o, "dropped_messages", json_integer((json_int_t)in->dropped_messages), &bad);
    out_json_set(o, "stale_results", json_integer((json_int_t)in->stale_results), &bad);
    out_json_set(o, "database", json_string(in->db_down ? "unavailable" : "ok"), &bad);
    out_json_set(o, "database_down_since",
                 in->db_down ? out_json_time(in->db_down_since_us) : json_null(), &bad);
    out_json_set(o, "leader_epoch", json_integer((json_int_t)in->leader_epoch), &bad);
    out_json_set(o, "longest_iteration_us", json_integer((json_int_t)in->longest_iteration_us),
                 &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int s_info(cli_t *cli, int argc, char **argv)
{
    Drover__InfoRequest ir = DROVER__INFO_REQUEST__INIT;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_INFO;
    req.info = &ir;
    Drover__ClientReply *rep = NULL;
    int rc = s_simple_call(cli, argc, argv, &req, &rep);
    if (rc != CLI_EXIT_OK)
        return rc < 0 ? CLI_EXIT_OK : rc;
    const Drover__CoordinatorInfo *in = rep->info;
    if (!in) {
        fprintf(stderr, "drover: the coordinator's reply carried no info\n");
        drover__client_reply__free_unpacked(rep, NULL);
        return CLI_EXIT_UNREACHABLE;
    }
    int64_t now = util_now_us();
    if (cli->json) {
        rc = cli_emit_json(s_info_json(cli, in, now));
    } else {
        char started[64], up[32];
        util_format_time(in->started_at_us, started, sizeof started);
        out_duration(out_span_ms(in->started_at_us, 0, now), up, sizeof up);
        printf("coordinator       %s\n", cli->endpoint);
        printf("protocol          %u%s\n", in->version,
               in->version == DROVER_PROTOCOL_VERSION ? "" : " (differs from this drover's!)");
        printf("build             %s\n", in->build && *in->build ? in->build : "-");
        printf("started           %s (up %s)\n", started, up);
        printf("workers           %u\n", in->workers);
        printf("active runs       %u\n", in->active_runs);
        printf("dropped messages  %llu\n", (unsigned long long)in->dropped_messages);
        printf("stale results     %llu\n", (unsigned long long)in->stale_results);
        if (in->db_down) {
            char since[64];
            util_format_time(in->db_down_since_us, since, sizeof since);
            printf("database          UNAVAILABLE since %s (writes refused, retrying)\n", since);
        } else {
            printf("database          ok\n");
        }
        printf("leader epoch      %llu\n", (unsigned long long)in->leader_epoch);
        printf("longest iteration %.1f ms\n", (double)in->longest_iteration_us / 1000.0);
        printf("drover (this CLI) %s, protocol %d\n", DROVER_VERSION, DROVER_PROTOCOL_VERSION);
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return rc;
}

const cli_verb_t cmd_info_verb = {
    .name = "info",
    .synopsis = "",
    .summary = "the coordinator's version, uptime and counters",
    .help = "Shows the coordinator the CLI talks to: protocol version and build, when it\n"
            "started, connected workers, active runs, and its counters of dropped\n"
            "(malformed, oversized, wrong-version) messages and stale (fenced-off)\n"
            "results. Handy as a first check that the cluster is up.\n"
            "\n"
            "Example:\n"
            "  drover info",
    .run = s_info,
};
