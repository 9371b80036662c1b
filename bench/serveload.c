/* drover-serveload — an HTTP/1.1 keep-alive load generator for
 * drover-serve's predict endpoint (and any server speaking the same JSON:
 * bench/serve_baseline.py). Used by bench/serve.sh and by
 * tests/integration/test_serve.sh (the hammering client).
 *
 *   drover-serveload --addr 127.0.0.1:8480 --path /v1/models/M/predict
 *       --token T --csv DATA.csv [--label COL] [--batch B] [--conns C]
 *       [--requests N | --seconds S] [--until FILE] [--log FILE]
 *
 * Bodies are made from the CSV's rows ({"row": {...}} for --batch 1, else
 * {"rows": [B rows]}), sent round-robin. Each connection is a thread with
 * one request in flight. --until FILE: stop once FILE exists (checked
 * between requests). --log FILE: one line a request, "STATUS VERSION
 * REQUEST_ID" in each thread's order, threads' blocks one after another
 * ("# conn I" between them).
 * Prints one line: requests, failures, seconds, req/s, rows/s, p50/p99 of
 * the client-side latency and of the server time (Server-Timing header),
 * in microseconds. Exit 1 when any request failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *s;
    size_t len;
} body_t;

static struct sockaddr_in g_addr;
static const char *g_path = "/", *g_token = "", *g_until;
static body_t *g_bodies;
static size_t g_nbodies;
static long g_requests = -1;
static double g_seconds = 5;
static int g_log;

typedef struct {
    int idx;
    long n, fail;
    double *lat, *srv;
    size_t cap;
    char *log;
    size_t loglen, logcap;
} conn_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int s_send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response; returns the status (or -1), the server time in
 * µs (or -1) and copies up to blen bytes of the body. */
static int s_response(int fd, char *buf, size_t cap, double *srv, char *body, size_t blen)
{
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have + 1 >= cap)
            return -1;
        ssize_t r = recv(fd, buf + have, cap - 1 - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    size_t hlen = (size_t)(end - buf) + 4;
    long clen = 0;
    *srv = -1;
    for (char *p = buf; p < end; p = strstr(p, "\r\n") + 2) {
        if (!strncasecmp(p, "Content-Length:", 15))
            clen = atol(p + 15);
        else if (!strncasecmp(p, "Server-Timing:", 14)) {
            char *d = strstr(p, "dur=");
            if (d && d < end)
                *srv = atof(d + 4) * 1000.0;
        }
        if (!strstr(p, "\r\n"))
            break;
    }
    if (hlen + (size_t)clen >= cap)
        return -1;
    while (have < hlen + (size_t)clen) {
        ssize_t r = recv(fd, buf + have, cap - 1 - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    size_t bl = (size_t)clen < blen - 1 ? (size_t)clen : blen - 1;
    memcpy(body, buf + hlen, bl);
    body[bl] = '\0';
    return status;
}

static void s_log(conn_t *c, int st, long ver, const char *id)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%d %ld %s\n", st, ver, id);
    if (c->loglen + (size_t)n + 1 > c->logcap) {
        c->logcap = c->logcap ? c->logcap * 2 : 65536;
        c->log = realloc(c->log, c->logcap);
        if (!c->log)
            exit(2);
    }
    memcpy(c->log + c->loglen, line, (size_t)n);
    c->loglen += (size_t)n;
}

static void *s_run(void *arg)
{
    conn_t *c = arg;
    size_t cap = 8 << 20;
    char *buf = malloc(cap), *req = malloc(cap), body[4096];
    if (!buf || !req)
        exit(2);
    int fd = s_connect();
    double t_end = s_now() + g_seconds;
    size_t bi = (size_t)c->idx;
    for (long i = 0;; i++) {
        if (g_requests >= 0 ? i >= g_requests : s_now() >= t_end)
            break;
        if (g_until && i % 20 == 0 && access(g_until, F_OK) == 0)
            break;
        body_t *b = &g_bodies[bi++ % g_nbodies];
        int hl = snprintf(req, cap,
                          "POST %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                          g_path, g_token, b->len);
        memcpy(req + hl, b->s, b->len);
        double t0 = s_now(), srv = -1;
        int st = -1;
        if (fd < 0)
            fd = s_connect();
        if (fd >= 0 && s_send_all(fd, req, (size_t)hl + b->len) == 0)
            st = s_response(fd, buf, cap, &srv, body, sizeof body);
        double t1 = s_now();
        if (st < 0 && fd >= 0) {
            close(fd);
            fd = -1;
        }
        if ((size_t)c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 4096;
            c->lat = realloc(c->lat, c->cap * sizeof *c->lat);
            c->srv = realloc(c->srv, c->cap * sizeof *c->srv);
            if (!c->lat || !c->srv)
                exit(2);
        }
        c->lat[c->n] = (t1 - t0) * 1e6;
        c->srv[c->n] = srv;
        c->n++;
        if (st != 200)
            c->fail++;
        if (g_log) {
            char id[32] = "-";
            long ver = -1;
            char *p = strstr(body, "\"request_id\":\"");
            if (p)
                sscanf(p + 14, "%20[0-9a-f]", id);
            p = strstr(body, "\"version\":");
            if (p)
                ver = atol(p + 10);
            s_log(c, st, ver, id);
        }
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    free(req);
    return NULL;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_pct(double *v, size_t n, double p)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof *v, s_cmp);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* Bodies from the CSV: header names, rows of numbers; the label column is
 * left out. */
static char *g_names[1024];
static int g_nnames;

static void s_bodies(const char *csv, const char *label, int batch)
{
    FILE *f = fopen(csv, "r");
    if (!f) {
        perror(csv);
        exit(2);
    }
    char line[65536], **names = g_names;
    int nn = 0, skip = -1;
    if (!fgets(line, sizeof line, f))
        exit(2);
    line[strcspn(line, "\r\n")] = '\0';
    for (char *t = strtok(line, ","); t && nn < 1024; t = strtok(NULL, ","))
        names[nn++] = strdup(t);
    g_nnames = nn;
    for (int j = 0; j < nn; j++)
        if (label && !strcmp(names[j], label))
            skip = j;
    size_t cap = 0;
    char *cur = NULL;
    size_t clen = 0;
    int inbatch = 0;
    while (fgets(line, sizeof line, f) && g_nbodies < 1000) {
        line[strcspn(line, "\r\n")] = '\0';
        char row[65536];
        size_t rl = 0;
        int j = 0, first = 1;
        row[rl++] = '{';
        for (char *p = line, *q; p; p = q ? q + 1 : NULL, j++) {
            q = strchr(p, ',');
            if (q)
                *q = '\0';
            if (j == skip || j >= nn)
                continue;
            rl += (size_t)snprintf(row + rl, sizeof row - rl, "%s\"%s\":%s", first ? "" : ",",
                                   names[j], *p ? p : "null");
            first = 0;
        }
        row[rl++] = '}';
        row[rl] = '\0';
        if (clen + rl + 64 > cap) {
            cap = (clen + rl + 64) * 2;
            cur = realloc(cur, cap);
        }
        if (inbatch == 0)
            clen = (size_t)sprintf(cur, batch > 1 ? "{\"rows\":[" : "{\"row\":");
        else
            cur[clen++] = ',';
        memcpy(cur + clen, row, rl);
        clen += rl;
        if (++inbatch == batch) {
            clen += (size_t)sprintf(cur + clen, batch > 1 ? "]}" : "}");
            g_bodies = realloc(g_bodies, (g_nbodies + 1) * sizeof *g_bodies);
            g_bodies[g_nbodies].s = strndup(cur, clen);
            g_bodies[g_nbodies++].len = clen;
            inbatch = 0;
        }
    }
    fclose(f);
    free(cur);
    if (!g_nbodies) {
        fprintf(stderr, "%s: not enough rows for one body\n", csv);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:8480", *csv = NULL, *label = NULL, *logpath = NULL;
    int batch = 1, conns = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "%s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--addr"))
            addr = v;
        else if (!strcmp(a, "--path"))
            g_path = v;
        else if (!strcmp(a, "--token"))
            g_token = v;
        else if (!strcmp(a, "--csv"))
            csv = v;
        else if (!strcmp(a, "--label"))
            label = v;
        else if (!strcmp(a, "--batch"))
            batch = atoi(v);
        else if (!strcmp(a, "--conns"))
            conns = atoi(v);
        else if (!strcmp(a, "--requests"))
            g_requests = atol(v);
        else if (!strcmp(a, "--seconds"))
            g_seconds = atof(v);
        else if (!strcmp(a, "--until")) {
            g_until = v;
            g_seconds = 1e9;
        } else if (!strcmp(a, "--log"))
            logpath = v;
        else {
            fprintf(stderr, "unknown option %s (see the comment at the top of serveload.c)\n", a);
            return 2;
        }
    }
    if (!csv || batch < 1 || conns < 1 || conns > 256) {
        fprintf(stderr,
                "usage: drover-serveload --addr H:P --path P --token T --csv F [--label C] "
                "[--batch B] [--conns C] [--requests N | --seconds S] [--until FILE] [--log F]\n");
        return 2;
    }
    g_log = logpath != NULL;
    char host[64];
    const char *colon = strrchr(addr, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon ? colon - addr : 0), addr);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)atoi(colon ? colon + 1 : "0"));
    if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1) {
        fprintf(stderr, "bad --addr %s\n", addr);
        return 2;
    }
    s_bodies(csv, label, batch);
    conn_t *cs = calloc((size_t)conns, sizeof *cs);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    double t0 = s_now();
    for (int i = 0; i < conns; i++) {
        cs[i].idx = i;
        pthread_create(&th[i], NULL, s_run, &cs[i]);
    }
    long n = 0, fail = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        n += cs[i].n;
        fail += cs[i].fail;
    }
    double secs = s_now() - t0;
    double *lat = malloc((size_t)(n ? n : 1) * sizeof *lat),
           *srv = malloc((size_t)(n ? n : 1) * sizeof *srv);
    size_t k = 0, ks = 0;
    FILE *lf = logpath ? fopen(logpath, "w") : NULL;
    for (int i = 0; i < conns; i++) {
        for (long j = 0; j < cs[i].n; j++) {
            lat[k++] = cs[i].lat[j];
            if (cs[i].srv[j] >= 0)
                srv[ks++] = cs[i].srv[j];
        }
        if (lf) {
            fprintf(lf, "# conn %d\n", i);
            fwrite(cs[i].log, 1, cs[i].loglen, lf);
        }
    }
    if (lf)
        fclose(lf);
    for (int i = 0; i < conns; i++) {
        free(cs[i].lat);
        free(cs[i].srv);
        free(cs[i].log);
    }
    free(cs);
    free(th);
    double rps = (double)n / secs;
    printf("requests=%ld failures=%ld seconds=%.2f req_per_s=%.0f rows_per_s=%.0f "
           "lat_p50_us=%.1f lat_p99_us=%.1f srv_p50_us=%.1f srv_p99_us=%.1f\n",
           n, fail, secs, rps, rps * batch, s_pct(lat, k, 0.5), s_pct(lat, k, 0.99),
           s_pct(srv, ks, 0.5), s_pct(srv, ks, 0.99));
    free(lat);
    free(srv);
    for (size_t i = 0; i < g_nbodies; i++)
        free(g_bodies[i].s);
    free(g_bodies);
    for (int j = 0; j < g_nnames; j++)
        free(g_names[j]);
    return fail ? 1 : 0;
}
