/* cmd_dataset — `drover dataset inspect FILE` and `drover dataset convert
 * IN.csv OUT.bin`: looking at a data set and turning a CSV into drover's
 * binary format, on this machine, without a coordinator.
 *
 * Design: both are thin over ml/dataset.h, so what the CLI reports is
 * exactly what a validate or train step will see: the same parser, the same
 * errors (with row and column), the same sha256. --json prints
 * dataset_inspect()'s document unchanged.
 *
 * Convert shows progress on a terminal for big inputs. The library has no
 * progress callback, so a helper thread watches from outside: it finds the
 * library's descriptor for the input in /proc/self/fd and reads its offset
 * from /proc/self/fdinfo (the reader makes two passes: count, then parse),
 * and while writing it watches the size of OUT.bin.tmp. The helper only
 * reads /proc and writes to stderr; when /proc is unavailable it shows the
 * phase alone. The main thread owns the dataset; the helper never touches
 * it.
 *
 * Exit status: 0 ok, 2 for a file that cannot be read or parsed (the
 * library's message names the row and column), 3 for failures on our side
 * (out of memory, a write error on the output).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "dataset.h"
#include "output.h"

extern const cli_verb_t cmd_dataset_verb;

#define PROGRESS_MIN_BYTES (16u << 20) /* smaller inputs finish before anyone looks */
#define BAR_WIDTH          40

/* ----------------------------------------------------------- common --- */

/* Exit code for a failed load/write: the user's file vs our side. */
static int s_fail_code(int err)
{
    return err == ENOMEM || err == EIO || err == ENOSPC || err == EDQUOT ? CLI_EXIT_UNREACHABLE
                                                                         : CLI_EXIT_USAGE;
}

/* "1.5 MiB" */
static void s_bytes(double b, char *buf, size_t len)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4)
        b /= 1024, i++;
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

/* Whether the terminal can show block characters (a UTF-8 locale). */
static int s_utf8(void)
{
    const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
    }
    return 0;
}

/* Loads path with the sha256; on failure prints the library's message (and
 * a hint when an unnamed label column is the likely cause), sets *code and
 * returns NULL. */
static dataset_t *s_load(const char *verb, const char *path, const char *label, int *code)
{
    dataset_opts_t o = {.label = label, .label_kind = DATASET_LABEL_AUTO, .compute_hash = 1};
    char err[1024];
    dataset_t *ds = dataset_load(path, &o, err, sizeof err);
    if (!ds) {
        int e = errno;
        fprintf(stderr, "drover: %s\n", err);
        if (!label && e == EINVAL && strstr(err, "not a number"))
            fprintf(stderr,
                    "  If that column is the label, name it: drover dataset %s %s --label COLUMN\n",
                    verb, path);
        *code = s_fail_code(e);
    }
    return ds;
}

/* ---------------------------------------------------------- inspect --- */

static void s_stat_cell(out_table_t *t, const json_t *c, const char *key)
{
    const json_t *v = json_object_get(c, key);
    if (json_is_number(v))
        out_table_cell(t, OUT_PLAIN, "%.4g", json_number_value(v));
    else
        out_table_cell(t, OUT_DIM, "-");
}

static int s_inspect_text(cli_t *cli, const dataset_t *ds, const json_t *doc)
{
    struct stat st;
    char size[32] = "?";
    if (stat(ds->path, &st) == 0)
        s_bytes((double)st.st_size, size, sizeof size);
    printf("file     %s (%s, %s)\n", ds->path, dataset_format_name(ds->format), size);
    printf("sha256   %s\n", ds->sha256[0] ? ds->sha256 : "-");
    printf("rows     %zu\n", ds->rows);
    if (ds->label_kind != DATASET_LABEL_NONE)
        printf("columns  %zu features + label '%s' (%s)\n\n", ds->cols, ds->label_name,
               ds->label_kind == DATASET_LABEL_CLASS ? "classes" : "values");
    else
        printf("columns  %zu features, no label (name one with --label COLUMN)\n\n", ds->cols);

    static const char *const h[] = {"COLUMN", "TYPE", "MISSING", "MIN", "MAX", "MEAN", "STD"};
    out_table_t *t = out_table_new(h, 7);
    if (t)
        for (size_t k = 2; k < 7; k++)
            out_table_align_right(t, k);
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(doc, "columns"), i, c)
    {
        const json_t *name = json_object_get(c, "name"), *type = json_object_get(c, "type");
        const json_t *miss = json_object_get(c, "missing");
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%s", json_is_string(name) ? json_string_value(name) : "?");
        out_table_cell(t, OUT_PLAIN, "%s", json_is_string(type) ? json_string_value(type) : "?");
        /* A count, shown with its share; a ratio, shown as a share. */
        if (json_is_integer(miss)) {
            json_int_t m = json_integer_value(miss);
            if (m == 0)
                out_table_cell(t, OUT_PLAIN, "0");
            else
                out_table_cell(t, OUT_YELLOW, "%lld (%.2f%%)", (long long)m,
                               ds->rows ? 100.0 * (double)m / (double)ds->rows : 0.0);
        } else if (json_is_real(miss)) {
            double m = json_real_value(miss);
            out_table_cell(t, m > 0 ? OUT_YELLOW : OUT_PLAIN, "%.2f%%", 100.0 * m);
        } else {
            out_table_cell(t, OUT_DIM, "-");
        }
        s_stat_cell(t, c, "min");
        s_stat_cell(t, c, "max");
        s_stat_cell(t, c, "mean");
        s_stat_cell(t, c, "std");
    }
    int rc = t ? out_table_print(t, stdout, cli->color_out) : -1;
    out_table_destroy(&t);
    if (rc < 0)
        goto oom;

    const json_t *lab = json_object_get(doc, "label");
    if (ds->label_kind == DATASET_LABEL_VALUE && json_is_object(lab)) {
        printf("\nlabel '%s' (values): min %.4g, max %.4g, mean %.4g, std %.4g\n", ds->label_name,
               json_number_value(json_object_get(lab, "min")),
               json_number_value(json_object_get(lab, "max")),
               json_number_value(json_object_get(lab, "mean")),
               json_number_value(json_object_get(lab, "std")));
    } else if (ds->label_kind == DATASET_LABEL_CLASS && json_is_object(lab)) {
        const json_t *classes = json_object_get(lab, "classes");
        printf("\nlabel '%s': %zu classes\n", ds->label_name, json_array_size(classes));
        double maxshare = 0;
        json_array_foreach(classes, i, c)
        {
            maxshare = fmax(maxshare, json_number_value(json_object_get(c, "share")));
        }
        static const char *const lh[] = {"CLASS", "ID", "ROWS", "SHARE", ""};
        t = out_table_new(lh, 5);
        if (t)
            for (size_t k = 1; k < 4; k++)
                out_table_align_right(t, k);
        int utf8 = cli->tty_out && s_utf8();
        json_array_foreach(classes, i, c)
        {
            const json_t *name = json_object_get(c, "name");
            double share = json_number_value(json_object_get(c, "share"));
            int n = maxshare > 0 ? (int)lround(share / maxshare * BAR_WIDTH) : 0;
            char bar[BAR_WIDTH * 3 + 1];
            size_t o = 0;
            for (int k = 0; k < n; k++)
                o += (size_t)snprintf(bar + o, sizeof bar - o, "%s", utf8 ? "\u2588" : "#");
            bar[o] = '\0';
            out_table_row(t);
            out_table_cell(t, OUT_PLAIN, "%s",
                           json_is_string(name) ? json_string_value(name) : "?");
            out_table_cell(t, OUT_PLAIN, "%lld",
                           (long long)json_integer_value(json_object_get(c, "id")));
            out_table_cell(t, OUT_PLAIN, "%lld",
                           (long long)json_integer_value(json_object_get(c, "count")));
            out_table_cell(t, OUT_PLAIN, "%.1f%%", 100.0 * share);
            out_table_cell(t, OUT_PLAIN, "%s", bar);
        }
        rc = t ? out_table_print(t, stdout, cli->color_out) : -1;
        out_table_destroy(&t);
        if (rc < 0)
            goto oom;
    }
    return CLI_EXIT_OK;
oom:
    fprintf(stderr, "drover: out of memory\n");
    return CLI_EXIT_UNREACHABLE;
}

static int s_inspect(cli_t *cli, const char *path, const char *label)
{
    int code = CLI_EXIT_OK;
    dataset_t *ds = s_load("inspect", path, label, &code);
    if (!ds)
        return code;
    json_t *doc = dataset_inspect(ds);
    if (!doc) {
        fprintf(stderr, "drover: out of memory while summarising %s\n", path);
        code = CLI_EXIT_UNREACHABLE;
    } else if (cli->json) {
        code = cli_emit_json(doc);
        doc = NULL; /* cli_emit_json consumed it */
    } else {
        code = s_inspect_text(cli, ds, doc);
    }
    json_decref(doc);
    dataset_destroy(&ds);
    return code;
}

/* --------------------------------------------------------- progress --- */

typedef enum { PH_LOAD, PH_WRITE, PH_VERIFY, PH_DONE } phase_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    phase_t phase;
    char in_real[PATH_MAX];
    char tmp_path[PATH_MAX + 8];
    double in_size;
    /* helper-only state */
    int last_fd;
    long long last_pos;
    int pass;
} progress_t;

/* Offset of the descriptor that has in_real open, or -1 when none. */
static long long s_input_pos(progress_t *p, int *fd_out)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long long pos = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char link[300], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, p->in_real) != 0)
            continue;
        char info[300];
        snprintf(info, sizeof info, "/proc/self/fdinfo/%s", e->d_name);
        FILE *f = fopen(info, "r");
        if (!f)
            continue;
        char line[128];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "pos: %lld", &pos) == 1)
                break;
        fclose(f);
        *fd_out = atoi(e->d_name);
        break;
    }
    closedir(d);
    return pos;
}

static void s_progress_line(progress_t *p, phase_t ph)
{
    char line[256], a[32], b[32];
    if (ph == PH_LOAD) {
        int fd = -1;
        long long pos = s_input_pos(p, &fd);
        if (pos < 0) {
            snprintf(line, sizeof line, "reading...");
        } else {
            /* A new descriptor or an offset going back is the second pass. */
            if (p->pass == 0 || fd != p->last_fd || pos < p->last_pos)
                p->pass = p->pass < 2 ? p->pass + 1 : 2;
            p->last_fd = fd;
            p->last_pos = pos;
            s_bytes((double)pos, a, sizeof a);
            s_bytes(p->in_size, b, sizeof b);
            snprintf(line, sizeof line, "%s (pass %d of 2): %s of %s, %.0f%%",
                     p->pass == 1 ? "counting rows" : "parsing", p->pass, a, b,
                     p->in_size > 0 ? 100.0 * (double)pos / p->in_size : 0.0);
        }
    } else if (ph == PH_WRITE) {
        struct stat st;
        if (stat(p->tmp_path, &st) == 0) {
            s_bytes((double)st.st_size, a, sizeof a);
            snprintf(line, sizeof line, "writing: %s", a);
        } else {
            snprintf(line, sizeof line, "writing...");
        }
    } else {
        snprintf(line, sizeof line, "verifying the output...");
    }
    fprintf(stderr, "\r\033[Kdrover: %s", line);
    fflush(stderr);
}

static void *s_progress_main(void *arg)
{
    progress_t *p = arg;
    if (pthread_mutex_lock(&p->mu) != 0)
        return NULL;
    while (p->phase != PH_DONE) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        int rc = pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        if (p->phase == PH_DONE)
            break;
        if (rc == ETIMEDOUT)
            s_progress_line(p, p->phase);
    }
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void s_progress_set(progress_t *p, phase_t ph)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->phase = ph;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------- convert --- */

static int s_convert(cli_t *cli, const char *in, const char *out, const char *label)
{
    int code = CLI_EXIT_OK;
    char err[1024];
    struct stat st;
    if (stat(in, &st) != 0) {
        fprintf(stderr, "drover: %s: %s\n", in, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    struct stat ost;
    if (stat(out, &ost) == 0 && S_ISDIR(ost.st_mode)) {
        fprintf(stderr, "drover: %s is a directory; give the output file's name\n", out);
        return CLI_EXIT_USAGE;
    }

    static progress_t prog = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    progress_t *p = NULL;
    pthread_t th;
    if (cli->tty_err && !cli->json && st.st_size >= (off_t)PROGRESS_MIN_BYTES &&
        realpath(in, prog.in_real)) {
        prog.in_size = (double)st.st_size;
        prog.phase = PH_LOAD;
        snprintf(prog.tmp_path, sizeof prog.tmp_path, "%s.tmp", out);
        if (pthread_create(&th, NULL, s_progress_main, &prog) == 0)
            p = &prog; /* no progress is no reason to fail */
    }

    dataset_t *ds = s_load("convert", in, label, &code), *back = NULL;
    if (!ds)
        goto out;
    s_progress_set(p, PH_WRITE);
    if (dataset_write_binary(ds, out, err, sizeof err) < 0) {
        int e = errno;
        s_progress_set(p, PH_DONE);
        fprintf(stderr, "%sdrover: %s\n", p ? "\r\033[K" : "", err);
        code = s_fail_code(e);
        goto out;
    }
    /* Read the result back: proves it loads and gives the sha256 a pipeline
     * that reads OUT.bin will record (the file's, not the CSV's). */
    s_progress_set(p, PH_VERIFY);
    dataset_opts_t o = {.label = ds->label_kind != DATASET_LABEL_NONE ? ds->label_name : NULL,
                        .label_kind = DATASET_LABEL_AUTO,
                        .compute_hash = 1};
    if (!(back = dataset_load(out, &o, err, sizeof err))) {
        s_progress_set(p, PH_DONE);
        fprintf(stderr, "drover: wrote %s but cannot read it back: %s\n", out, err);
        code = CLI_EXIT_UNREACHABLE; /* we just wrote it: the fault is ours, not the input's */
        goto out;
    }
    s_progress_set(p, PH_DONE);
    if (p) {
        pthread_join(th, NULL);
        p = NULL;
    }
    double obytes = stat(out, &ost) == 0 ? (double)ost.st_size : NAN;
    if (cli->json) {
        int bad = 0;
        json_t *j = json_object(), *ji = json_object(), *jo = json_object();
        out_json_set(ji, "path", json_string(in), &bad);
        out_json_set(ji, "format", json_string(dataset_format_name(ds->format)), &bad);
        out_json_set(ji, "sha256", json_string(ds->sha256), &bad);
        out_json_set(ji, "bytes", json_integer((json_int_t)st.st_size), &bad);
        out_json_set(jo, "path", json_string(out), &bad);
        out_json_set(jo, "format", json_string("binary"), &bad);
        out_json_set(jo, "sha256", json_string(back->sha256), &bad);
        out_json_set(jo, "bytes", isnan(obytes) ? json_null() : json_integer((json_int_t)obytes),
                     &bad);
        out_json_set(j, "input", ji, &bad);
        out_json_set(j, "output", jo, &bad);
        out_json_set(j, "rows", json_integer((json_int_t)back->rows), &bad);
        out_json_set(j, "cols", json_integer((json_int_t)back->cols), &bad);
        out_json_set(j, "label",
                     back->label_kind != DATASET_LABEL_NONE ? json_string(back->label_name)
                                                            : json_null(),
                     &bad);
        out_json_set(j, "label_kind", json_string(dataset_label_kind_name(back->label_kind)), &bad);
        out_json_set(j, "nclasses", json_integer((json_int_t)back->nclasses), &bad);
        if (bad) {
            json_decref(j);
            j = NULL;
        }
        code = cli_emit_json(j);
    } else {
        char ib[32], ob[32] = "?";
        s_bytes((double)st.st_size, ib, sizeof ib);
        if (!isnan(obytes))
            s_bytes(obytes, ob, sizeof ob);
        printf("%s (%s) -> %s (%s)\n", in, ib, out, ob);
        printf("rows     %zu\n", back->rows);
        printf("cols     %zu", back->cols);
        if (back->label_kind == DATASET_LABEL_CLASS)
            printf(" + label '%s' (%zu classes)", back->label_name, back->nclasses);
        else if (back->label_kind == DATASET_LABEL_VALUE)
            printf(" + label '%s' (values)", back->label_name);
        printf("\nsha256   %s\n", back->sha256);
        printf("         (of %s; a step that reads it records this hash)\n", out);
    }
out:
    s_progress_set(p, PH_DONE);
    if (p)
        pthread_join(th, NULL);
    dataset_destroy(&back);
    dataset_destroy(&ds);
    return code;
}

/* ---------------------------------------------------------- dataset --- */

static int s_dataset(cli_t *cli, int argc, char **argv)
{
    const char *label = NULL;
    const cli_opt_t opts[] = {{"label", 'l', 1, NULL, &label}, {NULL, 0, 0, NULL, NULL}};
    char *pos[3];
    size_t npos;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, 3, &npos);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    if (strcmp(pos[0], "inspect") == 0) {
        if (npos != 2)
            return cli_usage_error(cli, "usage: drover dataset inspect FILE [--label COLUMN]");
        return s_inspect(cli, pos[1], label);
    }
    if (strcmp(pos[0], "convert") == 0) {
        if (npos != 3)
            return cli_usage_error(cli,
                                   "usage: drover dataset convert IN.csv OUT.bin [--label COLUMN]");
        return s_convert(cli, pos[1], pos[2], label);
    }
    return cli_usage_error(cli, "unknown subcommand '%s' (inspect, convert)", pos[0]);
}

const cli_verb_t cmd_dataset_verb = {
    .name = "dataset",
    .synopsis = "inspect FILE | convert IN.csv OUT.bin  [--label COLUMN]",
    .summary = "look at a data set, or convert a CSV to the binary format",
    .help =
        "Works on files on this machine; no coordinator is needed.\n"
        "\n"
        "inspect FILE: the file's format, sha256 (its identity in model lineage), rows,\n"
        "and per column its type, missing values, min, max, mean and standard\n"
        "deviation. With --label, the label column is read as the target: for classes,\n"
        "the balance (rows and share per class, with a bar); for values, their range.\n"
        "--json prints the same summary as a JSON document.\n"
        "\n"
        "convert IN.csv OUT.bin: writes drover's binary format (a header and a float32\n"
        "matrix that steps map into memory instead of parsing), then reads it back and\n"
        "prints rows, columns and the output's sha256. Shows progress on a terminal for\n"
        "big files. The output appears complete or not at all (written to OUT.bin.tmp,\n"
        "then renamed).\n"
        "\n"
        "A malformed file (ragged rows, text in a feature column, no header, unknown\n"
        "label column) is reported with its row and column; exit status 2.\n"
        "\n"
        "Options:\n"
        "  -l, --label COLUMN  the label (target) column\n"
        "\n"
        "Examples:\n"
        "  drover dataset inspect examples/claims/data/train.csv --label damage\n"
        "  drover dataset convert examples/claims/data/train.csv /tmp/train.bin --label damage\n"
        "  drover dataset inspect /tmp/train.bin --json | jq '.label.classes'",
    .run = s_dataset,
};
