/* cmd_wait — `drover wait RUN`, and the follower used by `submit --wait`.
 *
 * Following is a long-poll loop: StatusRequest{run_id, known_version,
 * wait_ms} is held by the coordinator until the run's version moves past
 * known_version or wait_ms passes, so the loop costs one round trip per
 * change (or per second when nothing happens, which refreshes live
 * durations). The client timeout of each poll is wait_ms plus the normal
 * reply timeout.
 *
 * Three renderings:
 *   live  (stdout is a terminal, no --json): a header and a step table,
 *         redrawn in place by moving the cursor up over what was drawn
 *         last time and clearing to the end of the screen;
 *   lines (not a terminal): one timestamped line per step state change,
 *         then "run 42 succeeded in 3.2s" — suitable for CI logs;
 *   json: nothing until the end, then the status object of `status --json`.
 *
 * A coordinator that stops answering (or answers UNAVAILABLE: standby,
 * restarting, database down) is retried for up to 60 s since the last good
 * reply, with one notice on stderr; the run is durable, so the follower
 * just resumes when the coordinator is back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "output.h"
#include "render.h"
#include "util.h"
#include "wire.h"

#define FOLLOW_WAIT_MS   1000
#define FOLLOW_OUTAGE_MS 60000
/* A coordinator that answers a long poll at once without a change would
 * otherwise make us spin; polls with no news are spaced at least this far. */
#define FOLLOW_MIN_GAP_MS 200

typedef enum { MODE_LIVE, MODE_LINES, MODE_JSON } s_mode_t;

typedef struct {
    char *name;
    Drover__TaskState state;
    uint32_t attempt;
} s_seen_t;

typedef struct {
    cli_t *cli;
    uint64_t run_id;
    s_mode_t mode;
    size_t drawn;   /* screen rows of the last live frame */
    s_seen_t *seen; /* lines mode: last state printed per task */
    size_t nseen;
} s_follow_t;

static void s_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void s_follow_free(s_follow_t *f)
{
    for (size_t i = 0; i < f->nseen; i++)
        free(f->seen[i].name);
    free(f->seen);
    f->seen = NULL;
    f->nseen = 0;
}

/* ------------------------------------------------------------ live --- */

static int s_draw_live(s_follow_t *f, const Drover__ClientReply *rep)
{
    int64_t now = util_now_us();
    char head[512];
    render_run_headline(rep->runs[0], now, f->cli->color_out, head, sizeof head);
    out_table_t *t = render_tasks_table(rep, now, 0);
    char *body = t ? out_table_render(t, f->cli->color_out, NULL) : NULL;
    out_table_destroy(&t);
    if (!body)
        return -1;
    /* The cursor cannot move above the top of the screen: a frame taller
     * than the terminal would smear. Cut it, saying how much is hidden. */
    int cols = out_term_cols(STDOUT_FILENO), rows = out_term_rows(STDOUT_FILENO);
    char more[64] = "";
    if (rows > 4) {
        size_t keep = (size_t)rows - 3, lines = 0; /* headline, "more", cursor line */
        char *p = body;
        while (*p && lines < keep)
            if (*p++ == '\n')
                lines++;
        if (*p) {
            size_t hidden = 0;
            for (char *q = p; *q; q++)
                hidden += *q == '\n';
            *p = '\0';
            snprintf(more, sizeof more, "… %zu more steps (drover status %llu)\n", hidden,
                     (unsigned long long)f->run_id);
        }
    }
    /* Up over the previous frame, to column 0, clear to the end of screen. */
    if (f->drawn > 0)
        printf("\033[%zuA\r\033[J", f->drawn);
    printf("%s\n%s%s", head, body, more);
    fflush(stdout);
    f->drawn =
        out_screen_lines(head, cols) + out_screen_lines(body, cols) + out_screen_lines(more, cols);
    free(body);
    return 0;
}

/* ----------------------------------------------------------- lines --- */

static s_seen_t *s_seen_find(s_follow_t *f, size_t hint, const char *name)
{
    /* Tasks come back in the same order every time: try the same index. */
    if (hint < f->nseen && strcmp(f->seen[hint].name, name) == 0)
        return &f->seen[hint];
    for (size_t i = 0; i < f->nseen; i++)
        if (strcmp(f->seen[i].name, name) == 0)
            return &f->seen[i];
    return NULL;
}

static s_seen_t *s_seen_add(s_follow_t *f, const char *name)
{
    s_seen_t *n = realloc(f->seen, (f->nseen + 1) * sizeof *n);
    if (!n)
        return NULL;
    f->seen = n;
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    s_seen_t *s = &f->seen[f->nseen++];
    s->name = copy;
    s->state = DROVER__TASK_STATE__TASK_PENDING;
    s->attempt = 0;
    return s;
}

/* Why an attempt ended, for a line: "exit 1", "timed out", ... */
static void s_reason(const Drover__TaskInfo *k, char *buf, size_t len)
{
    if (k->has_exit_code)
        snprintf(buf, len, "exit %d", k->exit_code);
    else if (k->error && *k->error)
        snprintf(buf, len, "%s", k->error);
    else
        buf[0] = '\0';
}

static void s_print_change(const Drover__TaskInfo *k, int64_t now)
{
    char when[32], dur[32], why[512];
    int64_t at = now;
    if (render_task_terminal(k->state) && k->finished_at_us > 0)
        at = k->finished_at_us;
    else if (k->state == DROVER__TASK_STATE__TASK_RUNNING && k->started_at_us > 0)
        at = k->started_at_us;
    out_time_clock(at, when, sizeof when);
    out_duration(out_span_ms(k->started_at_us, k->finished_at_us, now), dur, sizeof dur);
    s_reason(k, why, sizeof why);
    const char *name = k->name ? k->name : "";
    const char *worker = k->worker && *k->worker ? k->worker : "?";
    switch (k->state) {
    case DROVER__TASK_STATE__TASK_READY:
        printf("%s %s ready, waiting for a worker\n", when, name);
        break;
    case DROVER__TASK_STATE__TASK_ASSIGNED:
        printf("%s %s assigned (attempt %u on %s)\n", when, name, k->attempt, worker);
        break;
    case DROVER__TASK_STATE__TASK_RUNNING:
        if (render_task_awaiting(k))
            printf("%s %s awaiting approval (drover approve RUN %s --reason TEXT, or drover "
                   "reject)\n",
                   when, name, name);
        else
            printf("%s %s running (attempt %u on %s)\n", when, name, k->attempt, worker);
        break;
    case DROVER__TASK_STATE__TASK_RETRY_WAIT:
        printf("%s %s attempt %u failed%s%s%s; will retry\n", when, name, k->attempt,
               *why ? " (" : "", why, *why ? ")" : "");
        break;
    case DROVER__TASK_STATE__TASK_SUCCEEDED:
        printf("%s %s succeeded in %s\n", when, name, dur);
        break;
    case DROVER__TASK_STATE__TASK_FAILED:
        printf("%s %s failed in %s%s%s%s\n", when, name, dur, *why ? " (" : "", why,
               *why ? ")" : "");
        break;
    case DROVER__TASK_STATE__TASK_SKIPPED:
        printf("%s %s skipped (a step it depends on did not succeed)\n", when, name);
        break;
    case DROVER__TASK_STATE__TASK_CANCELLED: printf("%s %s cancelled\n", when, name); break;
    default: printf("%s %s %s\n", when, name, wire_task_state_name(k->state)); break;
    }
}

static int s_draw_lines(s_follow_t *f, const Drover__ClientReply *rep)
{
    int64_t now = util_now_us();
    for (size_t i = 0; i < rep->n_tasks; i++) {
        const Drover__TaskInfo *k = rep->tasks[i];
        const char *name = k->name ? k->name : "";
        s_seen_t *s = s_seen_find(f, i, name);
        if (!s && !(s = s_seen_add(f, name)))
            return -1;
        if (s->state == k->state && s->attempt == k->attempt)
            continue;
        s->state = k->state;
        s->attempt = k->attempt;
        /* pending and assigned are usually gone in a blink: not worth a line */
        if (k->state != DROVER__TASK_STATE__TASK_PENDING &&
            k->state != DROVER__TASK_STATE__TASK_ASSIGNED)
            s_print_change(k, now);
    }
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------- end --- */

static void s_print_final(s_follow_t *f, const Drover__ClientReply *rep)
{
    const Drover__RunInfo *r = rep->runs[0];
    char dur[32];
    out_duration(render_run_ms(r, util_now_us()), dur, sizeof dur);
    int color = f->mode == MODE_LIVE && f->cli->color_out;
    out_color_t c = render_run_color(r->state);
    printf("run %llu %s%s%s in %s\n", (unsigned long long)r->id, color ? out_color_on(c) : "",
           wire_run_state_name(r->state), color ? out_color_off() : "", dur);
    for (size_t i = 0; i < rep->n_tasks; i++) {
        const Drover__TaskInfo *k = rep->tasks[i];
        if (k->state == DROVER__TASK_STATE__TASK_FAILED)
            printf("  %s failed — see its output with: drover logs %llu %s\n", k->name,
                   (unsigned long long)r->id, k->name);
    }
    fflush(stdout);
}

int cmd_wait_follow(cli_t *cli, uint64_t run_id)
{
    s_follow_t f = {.cli = cli, .run_id = run_id};
    f.mode = cli->json ? MODE_JSON : cli->tty_out ? MODE_LIVE : MODE_LINES;
    char not_found[64];
    snprintf(not_found, sizeof not_found, "no run %llu", (unsigned long long)run_id);

    uint64_t known = 0;
    int64_t last_ok = util_mono_ms();
    int warned = 0;
    int rc;
    for (;;) {
        Drover__StatusRequest st = DROVER__STATUS_REQUEST__INIT;
        st.run_id = run_id;
        st.known_version = known;
        st.wait_ms = FOLLOW_WAIT_MS;
        Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
        req.body_case = DROVER__CLIENT_REQUEST__BODY_STATUS;
        req.status = &st;
        int64_t sent = util_mono_ms();
        Drover__ClientReply *rep = client_call(cli->client, &req, FOLLOW_WAIT_MS + cli->timeout_ms);
        if (rep && out_escape_reply(rep) < 0) {
            drover__client_reply__free_unpacked(rep, NULL);
            rep = NULL;
            errno = ENOMEM;
        }

        int outage = 0;
        char why[256] = "coordinator not answering";
        if (!rep) {
            if (errno != ETIMEDOUT) {
                fprintf(stderr, "drover: talking to the coordinator at %s failed: %s\n",
                        cli->endpoint, strerror(errno));
                rc = CLI_EXIT_UNREACHABLE;
                goto out;
            }
            outage = 1;
        } else if (rep->error == DROVER__ERROR_CODE__ERROR_UNAVAILABLE ||
                   rep->error == DROVER__ERROR_CODE__ERROR_DB_UNAVAILABLE) {
            outage = 1;
            snprintf(why, sizeof why, "coordinator cannot serve now (%s)",
                     rep->message && *rep->message ? rep->message : "unavailable");
        } else if (rep->error != DROVER__ERROR_CODE__ERROR_NONE) {
            rc = cli_reply_error(rep, not_found);
            drover__client_reply__free_unpacked(rep, NULL);
            goto out;
        }
        if (outage) {
            if (rep)
                drover__client_reply__free_unpacked(rep, NULL);
            if (util_mono_ms() - last_ok >= FOLLOW_OUTAGE_MS) {
                fprintf(stderr,
                        "drover: no reply from the coordinator at %s for %ds; run %llu may "
                        "still be running (drover status %llu).\n",
                        cli->endpoint, FOLLOW_OUTAGE_MS / 1000, (unsigned long long)run_id,
                        (unsigned long long)run_id);
                cli_unreachable_hint();
                rc = CLI_EXIT_UNREACHABLE;
                goto out;
            }
            if (!warned) {
                fprintf(stderr, "%s; still trying…\n", why);
                /* The notice sits below the live frame; the next redraw
                 * wipes it together with the frame. */
                if (f.mode == MODE_LIVE && cli->tty_err && f.drawn > 0)
                    f.drawn++;
                warned = 1;
            }
            /* An UNAVAILABLE answer comes back at once: do not hammer. */
            int64_t spent = util_mono_ms() - sent;
            if (spent < FOLLOW_WAIT_MS)
                s_sleep_ms(FOLLOW_WAIT_MS - spent);
            continue;
        }
        last_ok = util_mono_ms();
        warned = 0;

        if (rep->n_runs == 0) {
            fprintf(stderr, "drover: %s\n", not_found);
            drover__client_reply__free_unpacked(rep, NULL);
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        const Drover__RunInfo *r = rep->runs[0];
        int done = render_run_terminal(r->state);
        int drawn = 0;
        if (f.mode == MODE_LIVE)
            drawn = s_draw_live(&f, rep);
        else if (f.mode == MODE_LINES)
            drawn = s_draw_lines(&f, rep);
        if (drawn < 0) {
            drover__client_reply__free_unpacked(rep, NULL);
            fprintf(stderr, "drover: out of memory\n");
            rc = CLI_EXIT_UNREACHABLE;
            goto out;
        }
        if (done) {
            rc = r->state == DROVER__RUN_STATE__RUN_SUCCEEDED ? CLI_EXIT_OK : CLI_EXIT_RUN_FAILED;
            if (f.mode == MODE_JSON) {
                int jrc = cli_emit_json(render_status_json(rep, util_now_us()));
                if (jrc != CLI_EXIT_OK)
                    rc = jrc;
            } else {
                s_print_final(&f, rep);
            }
            drover__client_reply__free_unpacked(rep, NULL);
            goto out;
        }
        uint64_t version = r->version;
        drover__client_reply__free_unpacked(rep, NULL);
        if (version == known) {
            int64_t spent = util_mono_ms() - sent;
            if (spent < FOLLOW_MIN_GAP_MS)
                s_sleep_ms(FOLLOW_MIN_GAP_MS - spent);
        }
        known = version;
    }
out:
    s_follow_free(&f);
    return rc;
}

static int s_run(cli_t *cli, int argc, char **argv)
{
    char *pos[1];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, NULL, pos, 1, 1, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    uint64_t run_id;
    if (cli_parse_run_id(cli, pos[0], &run_id) < 0)
        return CLI_EXIT_USAGE;
    if ((rc = cli_connect(cli)) != CLI_EXIT_OK)
        return rc;
    return cmd_wait_follow(cli, run_id);
}

const cli_verb_t cmd_wait_verb = {
    .name = "wait",
    .synopsis = "RUN",
    .summary = "follow a run live until it ends",
    .help = "Follows run RUN until it ends. On a terminal it shows a live table of the\n"
            "steps; otherwise (CI logs, pipes) it prints one line per step change and a\n"
            "final line such as \"run 42 succeeded in 3.2s\". With --json it prints the\n"
            "final status object (as `drover status --json`).\n"
            "\n"
            "Exits 0 if the run succeeded, 1 if it failed or was cancelled. If the\n"
            "coordinator stops answering, it keeps trying for 60 s before exiting 3.\n"
            "\n"
            "Examples:\n"
            "  drover wait 42\n"
            "  drover wait 42 > run-42.log && deploy.sh",
    .run = s_run,
};
