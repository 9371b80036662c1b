/* notify — see notify.h. */
#include "notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "sha256.h"
#include "store.h"
#include "util.h"

#define NOTIFY_BATCH        32
#define NOTIFY_IDLE_MS      1000 /* longest wait when nothing wakes us */
#define NOTIFY_RETRY_MIN_MS 1000
#define NOTIFY_RETRY_MAX_MS 600000

struct notify {
    const conf_coordinator_t *cc;
    pthread_t thread;
    int wake[2]; /* self-pipe: a byte means "stop" */
    volatile int stop_flag;
    _Atomic int active;
    uint8_t secret[256];
    size_t secretlen;
    db_t *db;
    store_t *st;
    CURL *curl;
};

/* Reads the HMAC key: the file's bytes, trailing newlines dropped. The file
 * must not be readable by group or others (it is a shared secret). */
static int s_read_secret(notify_t *n, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        util_errf(err, errlen, "notify.secret_file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        util_errf(err, errlen, "notify.secret_file %s is readable by others: chmod 600 %s", path,
                  path);
        close(fd);
        return -1;
    }
    ssize_t r = read(fd, n->secret, sizeof n->secret);
    close(fd);
    if (r <= 0) {
        util_errf(err, errlen, "notify.secret_file %s is empty or unreadable", path);
        return -1;
    }
    n->secretlen = (size_t)r;
    while (n->secretlen &&
           (n->secret[n->secretlen - 1] == '\n' || n->secret[n->secretlen - 1] == '\r'))
        n->secretlen--;
    return n->secretlen ? 0 : -1;
}

static int s_subscribed(const notify_t *n, const char *kind)
{
    for (int i = 0; i < n->cc->nnotify_on; i++)
        if (!strcmp(n->cc->notify_on[i], kind))
            return 1;
    return 0;
}

static size_t s_discard(char *p, size_t size, size_t nmemb, void *u)
{
    (void)p;
    (void)u;
    return size * nmemb;
}

/* POSTs body to url; returns the HTTP status (0: no answer) and a reason in err. */
static long s_post(notify_t *n, const char *url, const char *body, int64_t event_id,
                   const char *kind, char *err, size_t errlen)
{
    char hdr_id[64], hdr_kind[64], hdr_sig[100];
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    snprintf(hdr_id, sizeof hdr_id, "X-Drover-Delivery: %" PRId64, event_id);
    snprintf(hdr_kind, sizeof hdr_kind, "X-Drover-Event: %s", kind);
    struct curl_slist *h2 = h ? curl_slist_append(h, hdr_id) : NULL;
    struct curl_slist *h3 = h2 ? curl_slist_append(h2, hdr_kind) : NULL;
    struct curl_slist *hl = h3;
    if (hl && n->secretlen) {
        uint8_t mac[SHA256_DIGEST_LEN];
        char hex[SHA256_HEX_LEN + 1];
        sha256_hmac(n->secret, n->secretlen, body, strlen(body), mac);
        sha256_hex(mac, hex);
        snprintf(hdr_sig, sizeof hdr_sig, "X-Drover-Signature: sha256=%s", hex);
        hl = curl_slist_append(hl, hdr_sig);
    }
    if (!hl) {
        curl_slist_free_all(h3 ? h3 : h2 ? h2 : h);
        util_errf(err, errlen, "out of memory");
        return 0;
    }
    CURL *c = n->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)n->cc->notify_timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "drover/" DROVER_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc != CURLE_OK)
        util_errf(err, errlen, "%s", curl_easy_strerror(rc));
    else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299)
            util_errf(err, errlen, "the receiver answered HTTP %ld", status);
    }
    curl_slist_free_all(hl);
    return rc == CURLE_OK ? status : 0;
}

/* Delivers what is due. Returns 0, or -1 on a database error. */
static int s_deliver(notify_t *n)
{
    PGresult *r = store_notify_due(n->st, NOTIFY_BATCH);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && !n->stop_flag && atomic_load(&n->active); i++) {
        int64_t id = db_get_i64(r, i, 0);
        const char *kind = db_get_str(r, i, 1);
        int attempts = (int)db_get_i64(r, i, 4);
        /* "" = the global webhook; else a run's own (its kinds were picked
         * when the row was enqueued). */
        const char *hook = db_get_str(r, i, 7);
        const char *url = *hook ? hook : n->cc->notify_webhook;
        if (!*hook && (!*url || !s_subscribed(n, kind))) {
            if (store_notify_result(n->st, id, hook, 1, 0, 0, 0,
                                    *url ? "not in notify.on" : "no coordinator.notify.webhook") <
                0)
                goto db;
            continue;
        }
        char at[40];
        int64_t us = db_get_i64(r, i, 3);
        time_t secs = (time_t)(us / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_t *j = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s}", "event_id", (json_int_t)id, "kind",
                              kind, "run_id", (json_int_t)db_get_i64(r, i, 2), "workflow",
                              db_get_str(r, i, 5), "at", at, "detail", db_get_str(r, i, 6));
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!body) {
            log_error("notify: out of memory building event %" PRId64, id);
            continue;
        }
        char why[300] = "";
        long status = s_post(n, url, body, id, kind, why, sizeof why);
        free(body);
        if (status >= 200 && status <= 299) {
            if (store_notify_result(n->st, id, hook, 1, 1, (int)status, 0, NULL) < 0)
                goto db;
            log_info("notify: event %" PRId64 " (%s) delivered", id, kind);
        } else {
            int64_t delay =
                util_backoff_ms(NOTIFY_RETRY_MIN_MS, (unsigned)attempts + 1, NOTIFY_RETRY_MAX_MS);
            if (store_notify_result(n->st, id, hook, 0, 0, (int)status, delay, why) < 0)
                goto db;
            log_warn("notify: event %" PRId64 " (%s) not delivered (%s); retrying in %.1fs", id,
                     kind, why, (double)delay / 1000.0);
        }
    }
    PQclear(r);
    return rc;
db:
    PQclear(r);
    return -1;
}

/* Waits for a NOTIFY on drover_notify, a stop, or ms. */
static void s_wait(notify_t *n, int ms)
{
    PGconn *c = db_conn(n->db);
    struct pollfd p[2] = {{.fd = n->wake[0], .events = POLLIN},
                          {.fd = c ? PQsocket(c) : -1, .events = POLLIN}};
    if (poll(p, c && PQsocket(c) >= 0 ? 2 : 1, ms) > 0 && (p[1].revents & POLLIN) && c) {
        /* A broken connection: the next query finds it and reconnects. */
        if (!PQconsumeInput(c))
            return;
        PGnotify *nt;
        while ((nt = PQnotifies(c)))
            PQfreemem(nt);
    }
}

static void *s_main(void *arg)
{
    notify_t *n = arg;
    while (!n->stop_flag) {
        if (!atomic_load(&n->active)) {
            s_wait(n, 200);
            continue;
        }
        if (!db_ok(n->db)) {
            if (db_connect_retry(n->db, &n->stop_flag) < 0)
                break;
            if (store_prepare_notify(n->st) < 0 || db_simple(n->db, "LISTEN drover_notify") < 0) {
                log_warn("notify: %s; retrying", db_error(n->db));
                db_disconnect(n->db);
                s_wait(n, NOTIFY_IDLE_MS);
                continue;
            }
        }
        if (s_deliver(n) < 0) {
            log_warn("notify: %s; reconnecting", db_error(n->db));
            db_disconnect(n->db);
        }
        s_wait(n, NOTIFY_IDLE_MS);
    }
    return NULL;
}

notify_t *notify_start(const conf_coordinator_t *cc, char *err, size_t errlen)
{
    if (!cc->notify_webhook[0] && cc->nnotify_allow == 0) {
        errno = ENOENT;
        return NULL;
    }
    if (cc->notify_webhook[0] && strncmp(cc->notify_webhook, "http://", 7) &&
        strncmp(cc->notify_webhook, "https://", 8)) {
        util_errf(err, errlen, "notify.webhook must be an http:// or https:// URL");
        errno = EINVAL;
        return NULL;
    }
    notify_t *n = calloc(1, sizeof *n);
    if (!n) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    n->cc = cc;
    n->wake[0] = n->wake[1] = -1;
    if (cc->notify_secret_file[0] && s_read_secret(n, cc->notify_secret_file, err, errlen) < 0)
        goto fail;
    /* curl_global_init is not thread-safe: here, on the main thread, once. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(n->curl = curl_easy_init())) {
        util_errf(err, errlen, "cannot initialise libcurl");
        goto fail;
    }
    n->db = db_new(cc->database);
    n->st = n->db ? store_new(n->db) : NULL;
    if (!n->st || pipe2(n->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        util_errf(err, errlen, "out of memory");
        goto fail;
    }
    int e = pthread_create(&n->thread, NULL, s_main, n);
    if (e != 0) {
        util_errf(err, errlen, "cannot start the notification thread: %s", strerror(e));
        goto fail;
    }
    return n;
fail:
    if (n->wake[0] >= 0) {
        close(n->wake[0]);
        close(n->wake[1]);
    }
    store_destroy(&n->st);
    db_destroy(&n->db);
    if (n->curl)
        curl_easy_cleanup(n->curl);
    explicit_bzero(n->secret, sizeof n->secret);
    free(n);
    return NULL;
}

int notify_check_workflow(const conf_coordinator_t *cc, const char *webhook, char *const *on,
                          size_t non, int scheduled, char *err, size_t errlen)
{
    errno = EINVAL;
    if (!webhook || !*webhook) {
        util_errf(err, errlen,
                  "notify needs 'webhook', e.g. notify = { webhook = "
                  "\"https://hooks.example.com/ml\"; on = [\"failed\"]; };");
        return -1;
    }
    if (cc->nnotify_allow == 0) {
        util_errf(err, errlen,
                  "notify 'webhook' refused: this coordinator allows no workflow "
                  "webhooks (an operator lists the permitted URL prefixes in "
                  "coordinator.notify.allow)");
        return -1;
    }
    int ok = 0;
    for (int i = 0; i < cc->nnotify_allow && !ok; i++)
        ok = strncmp(webhook, cc->notify_allow[i], strlen(cc->notify_allow[i])) == 0;
    /* Control bytes and spaces would reach libcurl's URL parser; refuse them. */
    for (const unsigned char *p = (const unsigned char *)webhook; ok && *p; p++)
        ok = *p > 0x20 && *p != 0x7f;
    ok = ok && util_utf8_valid(webhook);
    if (!ok) {
        util_errf(err, errlen,
                  "notify 'webhook' refused: '%.200s' does not start with a prefix "
                  "in coordinator.notify.allow (%.300s%s)",
                  webhook, cc->notify_allow[0], cc->nnotify_allow > 1 ? ", ..." : "");
        return -1;
    }
    if (non == 0) {
        util_errf(err, errlen,
                  "notify 'on' must list at least one kind (" CONFIG_NOTIFY_KINDS_TEXT ")");
        return -1;
    }
    for (size_t i = 0; i < non; i++) {
        if (!conf_notify_kind_ok(on[i])) {
            util_errf(err, errlen,
                      "notify 'on': unknown kind '%.40s' (known: " CONFIG_NOTIFY_KINDS_TEXT ")",
                      on[i] ? on[i] : "");
            return -1;
        }
        if (strcmp(on[i], "schedule_missed") == 0 && !scheduled) {
            util_errf(err, errlen,
                      "notify 'on': schedule_missed needs a 'schedule' (only a "
                      "schedule misses due times)");
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(on[i], on[j]) == 0) {
                util_errf(err, errlen, "notify 'on': '%s' is listed twice", on[i]);
                return -1;
            }
    }
    errno = 0;
    return 0;
}

void notify_set_active(notify_t *n, int active)
{
    if (n)
        atomic_store(&n->active, active);
}

void notify_stop(notify_t **np)
{
    if (!np || !*np)
        return;
    notify_t *n = *np;
    n->stop_flag = 1;
    ssize_t w = write(n->wake[1], "x", 1);
    (void)w; /* a full pipe already wakes it */
    pthread_join(n->thread, NULL);
    close(n->wake[0]);
    close(n->wake[1]);
    store_destroy(&n->st);
    db_destroy(&n->db);
    curl_easy_cleanup(n->curl);
    curl_global_cleanup();
    explicit_bzero(n->secret, sizeof n->secret);
    free(n);
    *np = NULL;
}
