/* drover-bench — the benchmark client: submits synthetic workflows straight
 * over the client protocol and stamps the client-side times the workloads
 * need (see docs/benchmarks.md).
 *
 *   drover-bench -c EP submit --shape indep|chain|fan --steps N [--runs R]
 *                [--kind noop|exec] [--window W] [--progress]
 *       builds R workflows of N steps in memory and submits them with up to
 *       W requests in flight on one DEALER (a pipelined bulk submit; the
 *       coordinator answers each with its run id). Prints one line:
 *       "t_submit_ms=.. submit_s=.. runs=R tasks=.. first_run=.. last_run=..".
 *       fan: N is the fan-out width; the workflow is root -> N children -> join.
 *   drover-bench -c EP latency --samples S [--gap-ms G] [--kind K]
 *       one single-step run at a time: pause G ms, read the wall clock, submit,
 *       wait (long-poll on the run's status) until the run ends. Prints
 *       "RUN_ID T0_US" per sample; the caller joins that with drover.tasks
 *       (started_at is the worker's clock, same host, so the clocks agree).
 *
 * Design: building the StepSpecs here instead of writing workflow files
 * keeps the client's cost out of the figures (no libconfig parsing of 10,000
 * steps, no process start per sample). The kind is "noop" (the worker's
 * built-in no-op) or "exec" of /bin/true. Exit status 0, or 1 with a message
 * on stderr (a refused submit, a timeout).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "util.h"
#include "wire.h"

#define REPLY_TIMEOUT_MS 120000

typedef struct {
    void *ctx;
    void *sock;
    uint64_t next_id;
} bench_client_t;

typedef struct {
    Drover__SubmitRequest req;
    Drover__StepSpec *specs;
    Drover__StepSpec **ptrs;
    char **names;
    char ***afters; /* afters[i] = array of names (borrowed from names) */
} bench_wf_t;

static int s_open(bench_client_t *c, const char *ep)
{
    int hwm = 0;
    c->ctx = zmq_ctx_new();
    if (!c->ctx)
        return -1;
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!c->sock)
        return -1;
    /* Unbounded queues: a pipelined bulk submit must never see EAGAIN. */
    if (wire_socket_setup(c->sock, 0) < 0 ||
        zmq_setsockopt(c->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) < 0 || zmq_connect(c->sock, ep) < 0)
        return -1;
    c->next_id = 1;
    return 0;
}

static void s_close(bench_client_t *c)
{
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
}

static int s_send(bench_client_t *c, Drover__ClientRequest *req, uint64_t *id)
{
    req->version = DROVER_PROTOCOL_VERSION;
    req->request_id = *id = c->next_id++;
    return wire_send(c->sock, NULL, 0, &req->base);
}

/* Waits up to timeout_ms for the next reply (any id). NULL on timeout/error. */
static Drover__ClientReply *s_recv(bench_client_t *c, int64_t timeout_ms)
{
    int64_t deadline = util_mono_ms() + timeout_ms;
    for (;;) {
        wire_msg_t m = {0};
        int r = wire_recv(c->sock, 0, &m);
        if (r < 0)
            return NULL;
        if (r == 1) {
            Drover__ClientReply *rep = drover__client_reply__unpack(NULL, m.len, m.data);
            wire_msg_clear(&m);
            if (rep)
                return rep;
            continue; /* malformed: drop it */
        }
        wire_msg_clear(&m);
        int64_t left = deadline - util_mono_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return NULL;
        }
        zmq_pollitem_t it = {.socket = c->sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, (long)left) < 0 && errno != EINTR)
            return NULL;
    }
}

static void s_wf_free(bench_wf_t *w, size_t n)
{
    if (w->names)
        for (size_t i = 0; i < n; i++)
            free(w->names[i]);
    if (w->afters)
        for (size_t i = 0; i < n; i++)
            free(w->afters[i]);
    free(w->names);
    free(w->afters);
    free(w->specs);
    free(w->ptrs);
}

/* Builds the workflow of the given shape; returns its step count or -1. */
static long s_wf_build(bench_wf_t *w, const char *shape, long steps, const char *kind,
                       const char *spec_json)
{
    long n = steps;
    int fan = strcmp(shape, "fan") == 0, chain = strcmp(shape, "chain") == 0;
    if (fan)
        n = steps + 2;
    else if (!chain && strcmp(shape, "indep") != 0) {
        fprintf(stderr, "drover-bench: unknown shape '%s' (indep, chain, fan)\n", shape);
        return -1;
    }
    memset(w, 0, sizeof *w);
    w->specs = calloc((size_t)n, sizeof *w->specs);
    w->ptrs = calloc((size_t)n, sizeof *w->ptrs);
    w->names = calloc((size_t)n, sizeof *w->names);
    w->afters = calloc((size_t)n, sizeof *w->afters);
    if (!w->specs || !w->ptrs || !w->names || !w->afters)
        goto oom;
    for (long i = 0; i < n; i++) {
        char buf[32];
        if (fan)
            snprintf(buf, sizeof buf, i == 0 ? "root" : i == n - 1 ? "join" : "c%ld", i - 1);
        else
            snprintf(buf, sizeof buf, "s%ld", i);
        if (!(w->names[i] = strdup(buf)))
            goto oom;
    }
    for (long i = 0; i < n; i++) {
        Drover__StepSpec *s = &w->specs[i];
        drover__step_spec__init(s);
        s->name = w->names[i];
        s->kind = (char *)kind;
        s->spec_json = (char *)spec_json;
        s->retry_delay_ms = 1000;
        size_t na = 0;
        if ((chain && i > 0) || (fan && i > 0 && i < n - 1))
            na = 1;
        else if (fan && i == n - 1)
            na = (size_t)steps;
        if (na) {
            if (!(w->afters[i] = calloc(na, sizeof(char *))))
                goto oom;
            if (fan && i == n - 1)
                for (size_t k = 0; k < na; k++)
                    w->afters[i][k] = w->names[k + 1];
            else
                w->afters[i][0] = w->names[chain ? i - 1 : 0];
        }
        s->after = w->afters[i];
        s->n_after = na;
        w->ptrs[i] = s;
    }
    drover__submit_request__init(&w->req);
    w->req.workflow = fan ? "bench-fan" : chain ? "bench-chain" : "bench-indep";
    w->req.source = "drover-bench";
    w->req.submitted_by = "drover-bench";
    w->req.steps = w->ptrs;
    w->req.n_steps = (size_t)n;
    return n;
oom:
    fprintf(stderr, "drover-bench: out of memory building %ld steps\n", n);
    s_wf_free(w, (size_t)n);
    return -1;
}

static double s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int s_check(Drover__ClientReply *rep)
{
    if (rep->error != DROVER__ERROR_CODE__ERROR_NONE) {
        fprintf(stderr, "drover-bench: the coordinator refused: %s\n",
                rep->message ? rep->message : "(no reason)");
        return -1;
    }
    return 0;
}

static int s_cmd_submit(bench_client_t *c, const char *shape, long steps, long runs,
                        const char *kind, const char *spec, long window, int progress)
{
    bench_wf_t w;
    long n = s_wf_build(&w, shape, steps, kind, spec);
    int rc = 1;
    if (n < 0)
        return 1;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_SUBMIT;
    req.submit = &w.req;
    uint64_t first = 0, last = 0, id;
    long sent = 0, done = 0;
    double t0 = s_now_ms();
    while (done < runs) {
        while (sent < runs && sent - done < window) {
            if (s_send(c, &req, &id) < 0) {
                perror("drover-bench: send");
                goto out;
            }
            sent++;
        }
        Drover__ClientReply *rep = s_recv(c, REPLY_TIMEOUT_MS);
        if (!rep) {
            fprintf(stderr, "drover-bench: no reply to a submit within %d s (%s)\n",
                    REPLY_TIMEOUT_MS / 1000, strerror(errno));
            goto out;
        }
        int bad = s_check(rep);
        if (!bad) {
            if (!first || rep->run_id < first)
                first = rep->run_id;
            if (rep->run_id > last)
                last = rep->run_id;
        }
        drover__client_reply__free_unpacked(rep, NULL);
        if (bad)
            goto out;
        done++;
        if (progress && (done % 10 == 0 || done == runs))
            fprintf(stderr, "drover-bench: submitted %ld/%ld runs (%ld tasks, %.1f s)\n", done,
                    runs, done * n, (s_now_ms() - t0) / 1e3);
    }
    double t1 = s_now_ms();
    printf("t_submit_ms=%.3f submit_s=%.6f runs=%ld tasks=%ld first_run=%" PRIu64
           " last_run=%" PRIu64 "\n",
           t0, (t1 - t0) / 1e3, runs, runs * n, first, last);
    rc = 0;
out:
    s_wf_free(&w, (size_t)n);
    return rc;
}

/* Waits until run_id leaves 'running' (long-poll on its version). */
static int s_wait_run(bench_client_t *c, uint64_t run_id)
{
    uint64_t known = 0, id;
    int64_t deadline = util_mono_ms() + REPLY_TIMEOUT_MS;
    while (util_mono_ms() < deadline) {
        Drover__StatusRequest sr = DROVER__STATUS_REQUEST__INIT;
        sr.run_id = run_id;
        sr.known_version = known;
        sr.wait_ms = 5000;
        Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
        req.body_case = DROVER__CLIENT_REQUEST__BODY_STATUS;
        req.status = &sr;
        if (s_send(c, &req, &id) < 0)
            return -1;
        Drover__ClientReply *rep;
        for (;;) {
            rep = s_recv(c, 10000);
            if (!rep)
                return -1;
            if (rep->request_id == id)
                break;
            drover__client_reply__free_unpacked(rep, NULL);
        }
        int bad = s_check(rep), done = 0;
        if (!bad && rep->n_runs == 1) {
            known = rep->runs[0]->version;
            done = rep->runs[0]->state != DROVER__RUN_STATE__RUN_RUNNING;
        }
        drover__client_reply__free_unpacked(rep, NULL);
        if (bad)
            return -1;
        if (done)
            return 0;
    }
    errno = ETIMEDOUT;
    return -1;
}

static int s_cmd_latency(bench_client_t *c, long samples, long gap_ms, const char *kind,
                         const char *spec)
{
    bench_wf_t w;
    long n = s_wf_build(&w, "indep", 1, kind, spec);
    int rc = 1;
    if (n < 0)
        return 1;
    w.req.workflow = "bench-latency";
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_SUBMIT;
    req.submit = &w.req;
    for (long i = 0; i < samples; i++) {
        struct timespec gap = {gap_ms / 1000, (gap_ms % 1000) * 1000000L};
        while (nanosleep(&gap, &gap) < 0 && errno == EINTR)
            ;
        uint64_t id;
        int64_t t0 = util_now_us();
        if (s_send(c, &req, &id) < 0) {
            perror("drover-bench: send");
            goto out;
        }
        Drover__ClientReply *rep = s_recv(c, REPLY_TIMEOUT_MS);
        if (!rep) {
            fprintf(stderr, "drover-bench: no reply to a submit (%s)\n", strerror(errno));
            goto out;
        }
        uint64_t run = rep->run_id;
        int bad = s_check(rep);
        drover__client_reply__free_unpacked(rep, NULL);
        if (bad)
            goto out;
        if (s_wait_run(c, run) < 0) {
            fprintf(stderr, "drover-bench: run %" PRIu64 " did not finish (%s)\n", run,
                    strerror(errno));
            goto out;
        }
        printf("%" PRIu64 " %" PRId64 "\n", run, t0);
        fflush(stdout);
    }
    rc = 0;
out:
    s_wf_free(&w, (size_t)n);
    return rc;
}

static void s_usage(void)
{
    fprintf(
        stderr,
        "usage: drover-bench -c ENDPOINT submit --shape indep|chain|fan --steps N [--runs R]\n"
        "                    [--kind noop|exec] [--window W] [--progress]\n"
        "       drover-bench -c ENDPOINT latency --samples S [--gap-ms G] [--kind noop|exec]\n");
}

int main(int argc, char **argv)
{
    const char *ep = getenv("DROVER_COORDINATOR"), *shape = "indep", *kind = "noop";
    long steps = 1, runs = 1, window = 64, samples = 200, gap = 20;
    int progress = 0;
    static const struct option opts[] = {
        {"coordinator", required_argument, 0, 'c'}, {"shape", required_argument, 0, 's'},
        {"steps", required_argument, 0, 'n'},       {"runs", required_argument, 0, 'r'},
        {"kind", required_argument, 0, 'k'},        {"window", required_argument, 0, 'w'},
        {"samples", required_argument, 0, 'S'},     {"gap-ms", required_argument, 0, 'g'},
        {"progress", no_argument, 0, 'p'},          {0, 0, 0, 0}};
    int o, i = 1;
    if (i + 1 < argc && (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--coordinator") == 0)) {
        ep = argv[i + 1];
        i += 2;
    }
    if (i >= argc || !ep) {
        s_usage();
        return 2;
    }
    const char *cmd = argv[i];
    /* getopt_long on the sub-command's options: argv[i] plays argv[0]. */
    argc -= i;
    argv += i;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's': shape = optarg; break;
        case 'n': steps = atol(optarg); break;
        case 'r': runs = atol(optarg); break;
        case 'k': kind = optarg; break;
        case 'w': window = atol(optarg); break;
        case 'S': samples = atol(optarg); break;
        case 'g': gap = atol(optarg); break;
        case 'p': progress = 1; break;
        default: s_usage(); return 2;
        }
    }
    const char *spec;
    if (strcmp(kind, "noop") == 0)
        spec = "{}";
    else if (strcmp(kind, "exec") == 0)
        spec = "{\"argv\":[\"/bin/true\"]}";
    else {
        fprintf(stderr, "drover-bench: --kind is noop or exec\n");
        return 2;
    }
    if (steps < 1 || runs < 1 || window < 1 || samples < 1 || gap < 0) {
        s_usage();
        return 2;
    }
    bench_client_t c = {0};
    int rc;
    if (s_open(&c, ep) < 0) {
        fprintf(stderr, "drover-bench: cannot connect to %s: %s\n", ep, zmq_strerror(errno));
        rc = 1;
    } else if (strcmp(cmd, "submit") == 0)
        rc = s_cmd_submit(&c, shape, steps, runs, kind, spec, window, progress);
    else if (strcmp(cmd, "latency") == 0)
        rc = s_cmd_latency(&c, samples, gap, kind, spec);
    else {
        s_usage();
        rc = 2;
    }
    s_close(&c);
    return rc;
}
