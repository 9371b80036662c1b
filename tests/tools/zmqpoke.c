/* zmqpoke — sends hostile or hand-made frames to a drover endpoint.
 *
 * Integration tests use it to check invariant 5 of the architecture: a
 * malformed, oversized or oddly framed message is dropped and counted, and
 * the daemon keeps serving. It connects one DEALER socket (what the CLI and
 * the worker use) and sends the actions given on the command line, in the
 * order given. Nothing here knows the protocol: the bytes are exactly what
 * the user asked for, so the tool cannot accidentally "fix" a bad message.
 *
 * Delivery: a DEALER queues messages until the connection is up; on exit the
 * socket lingers (--linger) so queued messages are flushed. A peer that
 * drops the connection (oversized frame) may lose what follows, so tests
 * send an oversized frame last or on its own.
 *
 * CURVE: with --key and --server-key the DEALER is a CurveZMQ client, so
 * against a secure coordinator the bytes get past the handshake and reach
 * its decoder (an allowed key) or are refused by its ZAP handler before any
 * message is read (an unknown key, or no keys at all). The key files are
 * drover's (see common/keys.h), read with a tiny scanner so this tool stays
 * free of drover's own code.
 *
 * Protocol messages: with --proto worker|client, --msg JSON sends one
 * WorkerMsg or ClientRequest built field by field from JSON (pbjson.h), and
 * --await/--drain print each reply (CoordMsg or ClientReply) as one JSON
 * line on stdout, so a test can act as a hostile worker or client that
 * says exactly what it wants (a name it does not own, a forged Result, a
 * costly request) and check the answer with jq. These need the generated
 * protobuf-c code and nothing else of drover's.
 *
 * Exit status: 0 when every message was handed to ZeroMQ (and, with
 * --wait-reply, a reply arrived), 1 on a ZeroMQ error or no reply, 2 on bad
 * usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "drover.pb-c.h"
#include "pbjson.h"

typedef enum {
    ACT_RAW,       /* one frame: the argument's bytes */
    ACT_FILE,      /* one frame: a file's bytes */
    ACT_HEX,       /* one frame: bytes written in hex */
    ACT_GARBAGE,   /* N one-frame messages of random bytes */
    ACT_OVERSIZED, /* one frame of N bytes */
    ACT_MULTIPART, /* one message of N random frames */
    ACT_EMPTY,     /* one empty frame */
    ACT_MSG,       /* N protocol messages from JSON (--proto) */
    ACT_AWAIT,     /* wait up to N ms for one reply; print it */
    ACT_DRAIN,     /* print every reply that arrives within N ms */
    ACT_SLEEP,     /* N ms */
    ACT_COLLECT,   /* print N replies (each waited for up to 60 s) */
} act_kind_t;

typedef struct {
    act_kind_t kind;
    const char *arg;
    unsigned long n;
    const char *frame; /* ACT_MSG: a second frame with these bytes (--frame, --frame-bytes) */
    size_t frame_len;
} act_t;

#define MAX_ACTS 64

/* --proto: what --msg sends and what replies are read as. */
static const ProtobufCMessageDescriptor *s_send_desc, *s_reply_desc;
static int s_summary; /* --summary: replies as {"size", "request_id", "error"} only */

static uint64_t s_rng;

/* xorshift64*: reproducible with --seed, plenty random for garbage. */
static uint64_t s_rand(void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 2685821657736338717ull;
}

static void s_fill_random(uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(s_rand() >> 56);
}

static void s_usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s [OPTIONS] ENDPOINT\n"
            "Connects a ZeroMQ DEALER socket to ENDPOINT (e.g. tcp://127.0.0.1:7460) and sends\n"
            "the messages named by the options below, in the order given (repeatable).\n"
            "\n"
            "Messages:\n"
            "  -r, --raw TEXT        one frame holding TEXT's bytes\n"
            "  -f, --file FILE       one frame holding the bytes of FILE ('-' = stdin)\n"
            "  -x, --hex HEX         one frame holding the bytes written in HEX (e.g. 0a03ff)\n"
            "  -g, --garbage N       N messages of one frame each, random bytes, random length\n"
            "                        1..--size (default 256)\n"
            "  -o, --oversized N     one frame of N bytes (0x08 repeated: a varint field tag)\n"
            "  -m, --multipart N     one message of N frames (N >= 2) of random bytes\n"
            "  -e, --empty           one empty frame\n"
            "  -M, --msg JSON        one protocol message (needs --proto), e.g.\n"
            "                        '{\"register\":{\"name\":\"w1\"}}' (version defaults to 1);\n"
            "                        @FILE reads the JSON from FILE\n"
            "  -F, --frame TEXT      the next --msg carries TEXT's bytes as a second frame\n"
            "                        (the artifact service's chunks)\n"
            "  -B, --frame-bytes N   the next --msg carries a second frame of N bytes ('A')\n"
            "  -n, --times N         send the next --msg N times (a ClientRequest's\n"
            "                        request_id counts up from the one given)\n"
            "  -A, --await MS        wait up to MS for one reply and print it as JSON;\n"
            "                        exit 1 if none came. Frames after the envelope are\n"
            "                        listed as \"_frames\": [sizes], the first as \"_frame\"\n"
            "                        when it is at most 256 printable ASCII bytes\n"
            "  -d, --drain MS        print every reply that arrives within MS\n"
            "  -z, --sleep MS        pause\n"
            "  -Y, --summary         print replies as {size, request_id, error} only\n"
            "  -C, --collect N       print N replies, waiting up to 60 s for each\n"
            "\n"
            "Options:\n"
            "  -s, --size BYTES      largest garbage frame (default 256)\n"
            "  -S, --seed N          random seed (default: time and pid); printed to stderr\n"
            "  -l, --linger MS       how long to keep flushing queued messages at exit\n"
            "                        (default 2000)\n"
            "  -w, --wait-reply MS   after sending, wait up to MS for one reply; print its\n"
            "                        frame count and sizes; exit 1 if none came\n"
            "  -k, --key FILE        connect with CURVE, as the key pair in FILE (a drover\n"
            "                        secret key file); needs --server-key\n"
            "  -K, --server-key FILE the server's public key file (a drover .pub file)\n"
            "  -P, --proto SIDE      worker (WorkerMsg out, CoordMsg back) or client\n"
            "                        (ClientRequest out, ClientReply back)\n"
            "  -q, --quiet           print nothing but errors\n"
            "  -h, --help            this text\n",
            prog);
}

static int s_parse_ulong(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end != '\0' || errno)
        return -1;
    *out = v;
    return 0;
}

/* Reads all of path ('-' = stdin) into a malloc'd buffer. Returns 0 or -1. */
static int s_read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        goto fail;
    for (;;) {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb)
                goto fail;
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                goto fail;
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    *data = buf;
    *len = n;
    return 0;
fail : {
    int e = errno;
    free(buf);
    if (f != stdin)
        fclose(f);
    errno = e;
}
    return -1;
}

static int s_hex_decode(const char *hex, uint8_t **data, size_t *len)
{
    size_t hl = strlen(hex);
    if (hl % 2) {
        errno = EINVAL;
        return -1;
    }
    uint8_t *buf = malloc(hl / 2 + 1);
    if (!buf)
        return -1;
    for (size_t i = 0; i < hl / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(buf);
            errno = EINVAL;
            return -1;
        }
        buf[i] = (uint8_t)v;
    }
    *data = buf;
    *len = hl / 2;
    return 0;
}

/* Finds `field = "VALUE";` in a drover key file and copies the 40
 * character Z85 VALUE into out (41 bytes). Returns 0 or -1. */
static int s_key_field(const char *path, const char *field, char *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int rc = -1;
    size_t fl = strlen(field);
    while (rc < 0 && fgets(line, sizeof line, f)) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, field, fl) != 0)
            continue;
        p += fl;
        while (*p == ' ' || *p == '\t' || *p == '=' || *p == ':')
            p++;
        if (*p != '"')
            continue;
        const char *end = strchr(p + 1, '"');
        if (end && end - (p + 1) == 40) {
            memcpy(out, p + 1, 40);
            out[40] = '\0';
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* Sends one frame; more=1 when more frames of the same message follow. */
static int s_send(void *sock, const void *data, size_t len, int more)
{
    for (;;) {
        if (zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0) >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Receives one reply (waiting up to ms) and prints it as a JSON line.
 * Returns 1 printed, 0 nothing came, -1 error. */
static int s_print_reply(void *sock, long ms, const char *prog)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&it, 1, ms);
    if (n < 0) {
        fprintf(stderr, "%s: zmq_poll: %s\n", prog, zmq_strerror(errno));
        return -1;
    }
    if (n == 0)
        return 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, 0) < 0) {
        fprintf(stderr, "%s: receive failed: %s\n", prog, zmq_strerror(errno));
        zmq_msg_close(&m);
        return -1;
    }
    json_t *j = pbjson_unpack(s_reply_desc, zmq_msg_data(&m), zmq_msg_size(&m));
    size_t envelope = zmq_msg_size(&m);
    int more = 0;
    size_t ml = sizeof more;
    zmq_msg_close(&m);
    /* Further frames of the same message (the artifact service's chunks). */
    json_t *sizes = json_array();
    char first[257] = "";
    int printable = 1;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &ml) == 0 && more) {
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0)
            break;
        size_t fl = zmq_msg_size(&m);
        const char *p = zmq_msg_data(&m);
        if (json_array_size(sizes) == 0) {
            printable = fl < sizeof first;
            for (size_t i = 0; printable && i < fl; i++)
                printable = p[i] >= 0x20 && p[i] < 0x7f;
            if (printable) {
                memcpy(first, p, fl);
                first[fl] = '\0';
            }
        }
        json_array_append_new(sizes, json_integer((json_int_t)fl));
        zmq_msg_close(&m);
    }
    if (j && s_summary) {
        json_t *sj = json_pack("{s:I}", "size", (json_int_t)envelope);
        json_t *x;
        if (sj && (x = json_object_get(j, "request_id")))
            json_object_set(sj, "request_id", x);
        if (sj && (x = json_object_get(j, "error")))
            json_object_set(sj, "error", x);
        json_decref(j);
        j = sj;
    }
    if (j && json_array_size(sizes) > 0) {
        json_object_set(j, "_frames", sizes);
        if (printable)
            json_object_set_new(j, "_frame", json_string(first));
    }
    json_decref(sizes);
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (txt)
        printf("%s\n", txt);
    else
        printf("{\"undecodable\":%zu}\n", envelope);
    fflush(stdout);
    free(txt);
    json_decref(j);
    return 1;
}

static int64_t s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int s_send_msg(void *sock, const act_t *a, int quiet, const char *prog)
{
    char err[300];
    json_error_t je;
    /* @FILE: the JSON is in FILE (a message too big for one argument). */
    json_t *j = a->arg[0] == '@' ? json_load_file(a->arg + 1, 0, &je) : json_loads(a->arg, 0, &je);
    if (!j) {
        fprintf(stderr, "%s: --msg: bad JSON: %s\n", prog, je.text);
        return -1;
    }
    if (!json_object_get(j, "version"))
        json_object_set_new(j, "version", json_integer(1));
    json_int_t rid0 = json_integer_value(json_object_get(j, "request_id"));
    int rc = -1;
    for (unsigned long i = 0; i < (a->n ? a->n : 1); i++) {
        if (s_send_desc == &drover__client_request__descriptor)
            json_object_set_new(j, "request_id", json_integer(rid0 + (json_int_t)i));
        uint8_t *buf;
        size_t len;
        if (pbjson_pack(s_send_desc, j, &buf, &len, err, sizeof err) < 0) {
            fprintf(stderr, "%s: --msg: %s\n", prog, err);
            goto out;
        }
        int r = s_send(sock, buf, len, a->frame != NULL);
        if (r == 0 && a->frame)
            r = s_send(sock, a->frame, a->frame_len, 0);
        free(buf);
        if (r < 0) {
            fprintf(stderr, "%s: send failed: %s\n", prog, zmq_strerror(errno));
            goto out;
        }
    }
    if (!quiet)
        fprintf(stderr, "%s: sent %lu %s message(s)\n", prog, a->n ? a->n : 1,
                s_send_desc->short_name);
    rc = 0;
out:
    json_decref(j);
    return rc;
}

static int s_run_act(void *sock, const act_t *a, size_t max_size, int quiet, const char *prog)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = -1;
    switch (a->kind) {
    case ACT_RAW:
        if (s_send(sock, a->arg, strlen(a->arg), 0) < 0)
            goto out;
        if (!quiet)
            fprintf(stderr, "%s: sent raw frame of %zu bytes\n", prog, strlen(a->arg));
        break;
    case ACT_FILE:
        if (s_read_file(a->arg, &buf, &len) < 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", prog, a->arg, strerror(errno));
            goto out;
        }
        if (s_send(sock, buf, len, 0) < 0)
            goto out;
        if (!quiet)
            fprintf(stderr, "%s: sent %s as one frame of %zu bytes\n", prog, a->arg, len);
        break;
    case ACT_HEX:
        if (s_hex_decode(a->arg, &buf, &len) < 0) {
            fprintf(stderr, "%s: bad hex '%s'\n", prog, a->arg);
            goto out;
        }
        if (s_send(sock, buf, len, 0) < 0)
            goto out;
        if (!quiet)
            fprintf(stderr, "%s: sent hex frame of %zu bytes\n", prog, len);
        break;
    case ACT_GARBAGE:
        if (!(buf = malloc(max_size)))
            goto out;
        for (unsigned long i = 0; i < a->n; i++) {
            len = 1 + (size_t)(s_rand() % max_size);
            s_fill_random(buf, len);
            if (s_send(sock, buf, len, 0) < 0)
                goto out;
        }
        if (!quiet)
            fprintf(stderr, "%s: sent %lu garbage frames of up to %zu bytes\n", prog, a->n,
                    max_size);
        break;
    case ACT_OVERSIZED:
        if (!(buf = malloc(a->n ? a->n : 1)))
            goto out;
        memset(buf, 0x08, a->n);
        if (s_send(sock, buf, a->n, 0) < 0)
            goto out;
        if (!quiet)
            fprintf(stderr, "%s: sent one frame of %lu bytes\n", prog, a->n);
        break;
    case ACT_MULTIPART:
        if (!(buf = malloc(max_size)))
            goto out;
        for (unsigned long i = 0; i < a->n; i++) {
            len = 1 + (size_t)(s_rand() % max_size);
            s_fill_random(buf, len);
            if (s_send(sock, buf, len, i + 1 < a->n) < 0)
                goto out;
        }
        if (!quiet)
            fprintf(stderr, "%s: sent one message of %lu frames\n", prog, a->n);
        break;
    case ACT_EMPTY:
        if (s_send(sock, "", 0, 0) < 0)
            goto out;
        if (!quiet)
            fprintf(stderr, "%s: sent an empty frame\n", prog);
        break;
    case ACT_MSG:
        if (s_send_msg(sock, a, quiet, prog) < 0) {
            errno = 0;
            goto out;
        }
        break;
    case ACT_AWAIT: {
        int r = s_print_reply(sock, (long)a->n, prog);
        if (r <= 0) {
            if (r == 0)
                fprintf(stderr, "%s: no reply within %lu ms\n", prog, a->n);
            errno = 0;
            goto out;
        }
        break;
    }
    case ACT_DRAIN: {
        int64_t end = s_ms() + (int64_t)a->n;
        for (int64_t now = s_ms(); now < end; now = s_ms())
            if (s_print_reply(sock, (long)(end - now), prog) < 0) {
                errno = 0;
                goto out;
            }
        break;
    }
    case ACT_COLLECT:
        for (unsigned long k = 0; k < a->n; k++) {
            int r = s_print_reply(sock, 60000, prog);
            if (r <= 0) {
                if (r == 0)
                    fprintf(stderr, "%s: reply %lu of %lu did not come within 60 s\n", prog, k + 1,
                            a->n);
                errno = 0;
                goto out;
            }
        }
        break;
    case ACT_SLEEP: {
        struct timespec ts = {(time_t)(a->n / 1000), (long)(a->n % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        break;
    }
    }
    rc = 0;
out:
    if (rc < 0 && errno && a->kind != ACT_FILE && a->kind != ACT_HEX)
        fprintf(stderr, "%s: send failed: %s\n", prog, zmq_strerror(errno));
    free(buf);
    return rc;
}

/* Waits up to ms for one reply and describes it on stdout. */
static int s_wait_reply(void *sock, long ms, const char *prog)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    int n = zmq_poll(&it, 1, ms);
    if (n < 0) {
        fprintf(stderr, "%s: zmq_poll: %s\n", prog, zmq_strerror(errno));
        return -1;
    }
    if (n == 0) {
        fprintf(stderr, "%s: no reply within %ld ms\n", prog, ms);
        return -1;
    }
    int frames = 0, more;
    size_t more_len = sizeof more;
    printf("reply:");
    do {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            fprintf(stderr, "%s: receive failed: %s\n", prog, zmq_strerror(errno));
            zmq_msg_close(&m);
            return -1;
        }
        printf(" %zu", zmq_msg_size(&m));
        frames++;
        zmq_msg_close(&m);
        if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len) < 0)
            return -1;
    } while (more);
    printf(" (%d frame%s)\n", frames, frames == 1 ? "" : "s");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"raw", required_argument, 0, 'r'},
        {"file", required_argument, 0, 'f'},
        {"hex", required_argument, 0, 'x'},
        {"garbage", required_argument, 0, 'g'},
        {"oversized", required_argument, 0, 'o'},
        {"multipart", required_argument, 0, 'm'},
        {"empty", no_argument, 0, 'e'},
        {"size", required_argument, 0, 's'},
        {"seed", required_argument, 0, 'S'},
        {"linger", required_argument, 0, 'l'},
        {"wait-reply", required_argument, 0, 'w'},
        {"quiet", no_argument, 0, 'q'},
        {"key", required_argument, 0, 'k'},
        {"server-key", required_argument, 0, 'K'},
        {"proto", required_argument, 0, 'P'},
        {"msg", required_argument, 0, 'M'},
        {"times", required_argument, 0, 'n'},
        {"frame", required_argument, 0, 'F'},
        {"frame-bytes", required_argument, 0, 'B'},
        {"await", required_argument, 0, 'A'},
        {"drain", required_argument, 0, 'd'},
        {"sleep", required_argument, 0, 'z'},
        {"summary", no_argument, 0, 'Y'},
        {"collect", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *prog = "drover-test-zmqpoke";
    act_t acts[MAX_ACTS];
    int nacts = 0, quiet = 0;
    unsigned long size = 256, linger = 2000, wait_reply = 0, seed = 0, v;
    int seed_set = 0, wait_set = 0;
    unsigned long times = 0;
    const char *frame = NULL; /* --frame/--frame-bytes for the next --msg */
    size_t frame_len = 0;
    char *frame_bufs[MAX_ACTS]; /* --frame-bytes' buffers (acts point into them), freed at exit */
    size_t nframe_bufs = 0;
    const char *key_file = NULL, *server_key_file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+r:f:x:g:o:m:es:S:l:w:k:K:qhP:M:n:A:d:z:YC:F:B:", opts,
                            NULL)) != -1) {
        act_t a = {0};
        switch (c) {
        case 'r':
            a.kind = ACT_RAW;
            a.arg = optarg;
            break;
        case 'f':
            a.kind = ACT_FILE;
            a.arg = optarg;
            break;
        case 'x':
            a.kind = ACT_HEX;
            a.arg = optarg;
            break;
        case 'e': a.kind = ACT_EMPTY; break;
        case 'P':
            if (strcmp(optarg, "worker") == 0) {
                s_send_desc = &drover__worker_msg__descriptor;
                s_reply_desc = &drover__coord_msg__descriptor;
            } else if (strcmp(optarg, "client") == 0) {
                s_send_desc = &drover__client_request__descriptor;
                s_reply_desc = &drover__client_reply__descriptor;
            } else {
                fprintf(stderr, "%s: --proto is worker or client\n", prog);
                return 2;
            }
            continue;
        case 'M':
            if (!s_send_desc) {
                fprintf(stderr, "%s: --msg needs --proto first\n", prog);
                return 2;
            }
            a.kind = ACT_MSG;
            a.arg = optarg;
            a.n = times;
            a.frame = frame;
            a.frame_len = frame_len;
            times = 0;
            frame = NULL;
            break;
        case 'F':
            frame = optarg;
            frame_len = strlen(optarg);
            continue;
        case 'B':
            if (s_parse_ulong(optarg, &v) < 0 || v > (64ul << 20) || nframe_bufs == MAX_ACTS) {
                fprintf(stderr, "%s: --frame-bytes: a size up to 64 MiB, %d times at most\n", prog,
                        MAX_ACTS);
                return 2;
            }
            if (!(frame_bufs[nframe_bufs] = malloc(v ? v : 1))) {
                fprintf(stderr, "%s: out of memory\n", prog);
                return 1;
            }
            memset(frame_bufs[nframe_bufs], 'A', v);
            frame = frame_bufs[nframe_bufs++];
            frame_len = v;
            continue;
        case 'n':
        case 'C':
        case 'A':
        case 'd':
        case 'z':
            if (s_parse_ulong(optarg, &v) < 0 || v > 100000000ul) {
                fprintf(stderr, "%s: bad number for -%c: '%s'\n", prog, c, optarg);
                return 2;
            }
            if (c == 'n') {
                times = v;
                continue;
            }
            if (c != 'z' && !s_reply_desc) {
                fprintf(stderr, "%s: -%c needs --proto first\n", prog, c);
                return 2;
            }
            a.kind = c == 'A'   ? ACT_AWAIT
                     : c == 'd' ? ACT_DRAIN
                     : c == 'C' ? ACT_COLLECT
                                : ACT_SLEEP;
            a.n = v;
            break;
        case 'g':
        case 'o':
        case 'm':
            if (s_parse_ulong(optarg, &v) < 0 || (c == 'm' && v < 2) || v > (1ul << 31)) {
                fprintf(stderr, "%s: bad count for -%c: '%s'\n", prog, c, optarg);
                return 2;
            }
            a.kind = c == 'g' ? ACT_GARBAGE : c == 'o' ? ACT_OVERSIZED : ACT_MULTIPART;
            a.n = v;
            break;
        case 's':
            if (s_parse_ulong(optarg, &size) < 0 || size < 1 || size > (64ul << 20)) {
                fprintf(stderr, "%s: --size must be 1..%lu\n", prog, 64ul << 20);
                return 2;
            }
            continue;
        case 'S':
            if (s_parse_ulong(optarg, &seed) < 0) {
                fprintf(stderr, "%s: bad --seed '%s'\n", prog, optarg);
                return 2;
            }
            seed_set = 1;
            continue;
        case 'l':
            if (s_parse_ulong(optarg, &linger) < 0 || linger > 600000) {
                fprintf(stderr, "%s: bad --linger '%s'\n", prog, optarg);
                return 2;
            }
            continue;
        case 'w':
            if (s_parse_ulong(optarg, &wait_reply) < 0 || wait_reply > 600000) {
                fprintf(stderr, "%s: bad --wait-reply '%s'\n", prog, optarg);
                return 2;
            }
            wait_set = 1;
            continue;
        case 'q': quiet = 1; continue;
        case 'Y': s_summary = 1; continue;
        case 'k': key_file = optarg; continue;
        case 'K': server_key_file = optarg; continue;
        case 'h': s_usage(stdout, prog); return 0;
        default: s_usage(stderr, prog); return 2;
        }
        if (nacts == MAX_ACTS) {
            fprintf(stderr, "%s: at most %d messages per call\n", prog, MAX_ACTS);
            return 2;
        }
        acts[nacts++] = a;
    }
    if (optind != argc - 1) {
        s_usage(stderr, prog);
        return 2;
    }
    const char *endpoint = argv[optind];
    if (!key_file != !server_key_file) {
        fprintf(stderr, "%s: --key and --server-key go together\n", prog);
        return 2;
    }
    char pub[41] = "", sec[41] = "", srv[41] = "";
    if (key_file &&
        (s_key_field(key_file, "public", pub) < 0 || s_key_field(key_file, "secret", sec) < 0)) {
        fprintf(stderr, "%s: %s: no public and secret key (a drover secret key file?)\n", prog,
                key_file);
        return 2;
    }
    if (server_key_file && s_key_field(server_key_file, "public", srv) < 0) {
        fprintf(stderr, "%s: %s: no public key\n", prog, server_key_file);
        return 2;
    }
    if (!seed_set)
        seed = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
    s_rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    if (!quiet)
        fprintf(stderr, "%s: seed %lu\n", prog, seed);

    int rc = 1;
    void *ctx = zmq_ctx_new();
    void *sock = NULL;
    if (!ctx) {
        fprintf(stderr, "%s: zmq_ctx_new: %s\n", prog, zmq_strerror(errno));
        return 1;
    }
    if (!(sock = zmq_socket(ctx, ZMQ_DEALER))) {
        fprintf(stderr, "%s: zmq_socket: %s\n", prog, zmq_strerror(errno));
        goto cleanup;
    }
    int lg = (int)linger;
    if (zmq_setsockopt(sock, ZMQ_LINGER, &lg, sizeof lg) < 0) {
        fprintf(stderr, "%s: ZMQ_LINGER: %s\n", prog, zmq_strerror(errno));
        goto cleanup;
    }
    if (key_file && (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, srv, 41) < 0 ||
                     zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, 41) < 0 ||
                     zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, 41) < 0)) {
        fprintf(stderr, "%s: CURVE options: %s\n", prog, zmq_strerror(errno));
        goto cleanup;
    }
    if (zmq_connect(sock, endpoint) < 0) {
        fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, endpoint, zmq_strerror(errno));
        goto cleanup;
    }
    for (int i = 0; i < nacts; i++)
        if (s_run_act(sock, &acts[i], size, quiet, prog) < 0)
            goto cleanup;
    if (wait_set && s_wait_reply(sock, (long)wait_reply, prog) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (sock)
        zmq_close(sock);
    zmq_ctx_term(ctx); /* blocks up to the linger while queued frames flush */
    for (size_t i = 0; i < nframe_bufs; i++)
        free(frame_bufs[i]);
    return rc;
}
