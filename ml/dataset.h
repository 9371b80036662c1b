/* dataset — tabular data for the ML task kinds: a dense float32 feature
 * matrix plus an optional label column, loaded from CSV or from drover's
 * binary format, hashed for lineage, and the statistics the validate kind
 * needs (missing ratio, duplicate ratio, population stability index).
 *
 * Design
 *  - One in-memory shape for both formats: X is rows*cols float32 in
 *    row-major order (the layout sgemm wants), NaN marks a missing value.
 *    Labels are either int32 class ids (classification) or float32 values
 *    (regression).
 *  - CSV is read in two streaming passes over the file: the first counts
 *    the data rows (large read()s, quote-aware), then X is allocated exactly
 *    once and the second pass parses record by record through a buffered
 *    reader. The file text is never held in memory, so a 1 GB CSV costs its
 *    float matrix plus a few MiB (the longest record and I/O buffers).
 *  - The binary format is mapped with mmap (MAP_PRIVATE over a read-only
 *    descriptor) after every size and offset in its header has been checked
 *    against the file length, so a truncated or corrupt file is an error,
 *    never a crash.
 *  - Errors carry a 1-based row number (the header is row 1; a row is a CSV
 *    record, so for files without quoted newlines it is the line number) and
 *    the column name.
 *
 * Binary format "DRVDSET1" (version 1), all integers little-endian:
 *
 *   offset size  field
 *   0      8     magic "DRVDSET1"
 *   8      4     u32 format version = 1
 *   12     4     u32 label kind: 0 none, 1 class ids, 2 values
 *   16     8     u64 rows
 *   24     4     u32 cols (feature columns; the label is not counted)
 *   28     4     u32 nclasses (0 unless label kind is 1)
 *   32     8     u64 names_bytes (length of the names block)
 *   40     8     u64 data_offset (where X starts; a multiple of 64)
 *   48     16    zero padding
 *   64     names_bytes  names block: cols column names, then the label
 *                 name (length 0 when there is no label), then nclasses
 *                 class names; each is a u16 byte length followed by that
 *                 many bytes of UTF-8 (no NUL, no terminator)
 *   ...          zero padding up to data_offset
 *   data_offset  rows*cols float32, row-major (NaN = missing)
 *   then         rows int32 class ids (kind 1) or rows float32 values
 *                 (kind 2); nothing for kind 0
 *   The file ends exactly there; any other length is "corrupt".
 *
 * Invariants of a loaded dataset_t: y_class[i] is in [0, nclasses) for every
 * row; column names (and the label name) are unique; exactly one of y_class /
 * y_value is non-NULL when there is a label, neither when there is none.
 */
#ifndef DROVER_DATASET_H
#define DROVER_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* What the label column holds. */
typedef enum {
    DATASET_LABEL_NONE = 0,  /* no label column */
    DATASET_LABEL_CLASS = 1, /* class ids (classification) */
    DATASET_LABEL_VALUE = 2, /* real values (regression) */
    DATASET_LABEL_AUTO = 3,  /* load option only: decide from the data (see dataset_opts_t) */
} dataset_label_kind_t;

typedef enum {
    DATASET_FORMAT_CSV = 0,
    DATASET_FORMAT_BINARY = 1,
} dataset_format_t;

/* "none" | "class" | "value" | "auto"; "csv" | "binary". Static strings. */
const char *dataset_label_kind_name(dataset_label_kind_t k);
const char *dataset_format_name(dataset_format_t f);

/* A loaded dataset. Every field is owned by the dataset and freed by
 * dataset_destroy; callers read the fields directly. The arrays are
 * writable: for a binary file they live in a private copy-on-write mapping,
 * so a write changes only this process's copy, never the file (sha256 keeps
 * naming the file as read). */
typedef struct {
    size_t rows;      /* data rows (the CSV header is not counted) */
    size_t cols;      /* feature columns (the label column is not counted) */
    char **col_names; /* [cols] feature column names, file order */
    float *X; /* [rows*cols] row-major; X[r*cols + c]; NaN = missing; NULL if rows*cols == 0 */
    char *label_name;                /* label column name, "" when there is none */
    dataset_label_kind_t label_kind; /* NONE, CLASS or VALUE (never AUTO) */
    int32_t *y_class;                /* [rows] class ids when label_kind == CLASS, else NULL */
    float *y_value;                  /* [rows] targets when label_kind == VALUE, else NULL */
    size_t nclasses;                 /* number of classes (CLASS only) */
    char **classes;                  /* [nclasses] class names: id i <-> classes[i] */
    char sha256[65]; /* hex sha256 of the file's bytes; "" unless opts->compute_hash */
    char *path;      /* the path it was loaded from ("" for dataset_new) */
    dataset_format_t format;
    /* private: how the arrays are held */
    void *map_; /* mmap base (binary), else NULL */
    size_t map_len_;
} dataset_t;

/* Load options. A NULL opts means: no label, no hash. */
typedef struct {
    /* Name of the label column, or NULL for a dataset without labels (every
     * column is then a feature). */
    const char *label;
    /* CLASS, VALUE, or AUTO (NONE with a label name counts as AUTO).
     * AUTO picks CLASS when some label is not a number, or when every label
     * is an integer literal ([+-]digits) and there are at most 1000 distinct
     * ones; otherwise VALUE. Binary files carry their kind; a kind given
     * here must then match it (AUTO matches anything). */
    dataset_label_kind_t label_kind;
    /* Optional fixed class list (implies CLASS): class id i is classes[i].
     * Use the training set's list when loading test data so ids agree; a
     * label not in the list fails the load, naming the row and the value.
     * For a binary file the stored classes are remapped onto this list. */
    const char *const *classes;
    size_t nclasses;
    /* Non-zero: compute the sha256 of the file (during the row-count pass
     * for CSV, from the mapping for binary) into ds->sha256. */
    int compute_hash;
    /* Non-zero (scoring files, which may or may not carry the label): the
     * result is unlabelled (label_kind NONE) and the column named by label,
     * when the file has one, is left out of the features and not read (so
     * empty or unknown labels do not matter); a file without it loads too.
     * A binary file's label, whatever its name, is not a feature either. */
    int label_optional;
} dataset_opts_t;

/* Loads a dataset. The binary format is recognised by its magic; anything
 * else is parsed as CSV:
 *  - a header row naming the columns is required (a first row made only of
 *    numbers is refused as "no header"); names must be unique;
 *  - comma separator; fields may be double-quoted (RFC 4180, "" inside
 *    quotes is a quote, quoted fields may span lines); LF or CRLF line ends;
 *    the final newline is optional; blank lines are skipped; a UTF-8 BOM is
 *    ignored;
 *  - a feature field is parsed with strtof (C locale), surrounding blanks
 *    allowed; an empty field, or nan, is missing (NaN); infinities and
 *    values out of float range are errors;
 *  - class labels are the field text exactly; their ids follow the sorted
 *    order of the distinct labels: numeric order when every label is an
 *    integer literal ("2" < "10"), else byte-wise (strcmp) order — so two
 *    files with the same label set get the same ids. A fixed class list in
 *    opts overrides this;
 *  - an empty label field is an error.
 * A binary file keeps its own label: opts->label, when given, must name it
 * and a CLASS/VALUE kind must match it (NULL keeps whatever the file has).
 * Returns a new dataset (free with dataset_destroy), or NULL with errno set
 * (ENOENT/EACCES/EIO from the system, EINVAL for malformed data, ENOMEM)
 * and a message in err, e.g. "data.csv: row 17 has 5 fields, the header has
 * 6", "data.csv: row 9, column 'age': 'abc' is not a number", "data.csv: no
 * column 'label' (columns: a, b, c)". Nothing leaks on failure. */
dataset_t *dataset_load(const char *path, const dataset_opts_t *opts, char *err, size_t errlen);

/* Creates an empty in-memory dataset for a generator or a test to fill in:
 * X (zeroed, rows*cols) and, for CLASS/VALUE, zeroed labels are malloc'd.
 * col_names may be NULL (columns are then named f0, f1, ...); label_name
 * may be NULL ("label"); classes/nclasses are copied (CLASS needs at least
 * one). Returns NULL with errno EINVAL/ENOMEM and a message in err. */
dataset_t *dataset_new(size_t rows, size_t cols, const char *const *col_names,
                       dataset_label_kind_t label_kind, const char *label_name,
                       const char *const *classes, size_t nclasses, char *err, size_t errlen);

/* Frees a dataset (malloc'd or mapped) and NULLs *ds. NULL-safe. */
void dataset_destroy(dataset_t **ds);

/* Memory for a large float matrix (a dataset's X): like malloc, freed with
 * free(); from 4 MiB up it is 2 MiB-aligned and asks for transparent huge
 * pages (MADV_HUGEPAGE; refused or unsupported just means 4 KiB pages). The
 * trainers gather rows in a fresh random order every epoch, and on 4 KiB
 * pages nearly every row missed the TLB: an epoch's shuffled gather of
 * 160,000 x 100 floats took 37-49 ms, 19 ms on 2 MiB pages (issue 16).
 * NULL + errno on failure. */
void *dataset_alloc_matrix(size_t bytes);

/* Writes ds in the binary format: to "path.tmp", fsync, rename to path,
 * fsync the directory — a reader sees the old file or the whole new one.
 * Returns 0, or -1 with errno and a message in err (the temp file is
 * removed). Names longer than 65535 bytes are EINVAL. */
int dataset_write_binary(const dataset_t *ds, const char *path, char *err, size_t errlen);

/* Loads a CSV with opts and writes it in the binary format. Peak memory is
 * one copy of the data. Returns 0 or -1 (errno, err) like the two calls it
 * makes. */
int dataset_convert(const char *in_csv, const char *out_bin, const dataset_opts_t *opts, char *err,
                    size_t errlen);

/* A JSON summary (new reference; NULL only on ENOMEM):
 *  {"path", "format": "csv"|"binary", "sha256": hex or null, "rows", "cols",
 *   "columns": [{"name", "type": "float", "missing", "min", "max", "mean",
 *                "std"}],             -- statistics over non-missing values,
 *                                        std is the population std (divide
 *                                        by n); null when none is present
 *   "label": null
 *          | {"name", "kind": "class", "nclasses",
 *             "classes": [{"id", "name", "count", "share"}]}   -- balance
 *          | {"name", "kind": "value", "min", "max", "mean", "std"}} */
json_t *dataset_inspect(const dataset_t *ds);

/* Index of the feature column called name, or -1 with errno=ENOENT (the
 * label column is not a feature column). */
long dataset_column_index(const dataset_t *ds, const char *name);

/* Share of rows whose value in feature column col is missing (0 for an
 * empty dataset). Returns -1.0 with errno=EINVAL for a bad column. */
double dataset_missing_ratio(const dataset_t *ds, size_t col);

/* Share of rows that repeat an earlier row exactly (all features and the
 * label; missing equals missing, -0 equals 0): 0 when all rows differ,
 * (n-1)/n when all are equal. O(rows) expected time through a hash table of
 * row indices. Returns -1.0 with errno=ENOMEM on allocation failure. */
double dataset_duplicate_ratio(const dataset_t *ds);

/* Population stability index of feature column col between a reference and
 * a current dataset (same column index in both; map names with
 * dataset_column_index). Missing values are ignored. Bins: the cut points
 * are the reference quantiles c_k = sorted_ref[ceil(k*n/bins) - 1],
 * k = 1..bins-1 (repeated cut points merged), bins (-inf,c1], (c1,c2], ...,
 * (c_last, +inf). With p_i, q_i the reference and current shares of bin i,
 * each floored at eps = 1e-4 so an empty bin does not give log(0):
 *     PSI = sum_i (q_i - p_i) * ln(q_i / p_i)
 * Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift.
 * Returns the PSI (>= 0), or NAN with errno=EINVAL (bad column, bins < 2),
 * EDOM (a side has no non-missing value) or ENOMEM. */
double dataset_psi(const dataset_t *ref, const dataset_t *cur, size_t col, int bins);

/* Deterministic train/validation split of rows 0..rows-1: a (partial)
 * Fisher-Yates shuffle driven by splitmix64(seed); the first round(rows*val_fraction)
 * shuffled rows (at least 1 when val_fraction > 0 and rows >= 2, and never
 * all of them) form the validation set, the rest the training set; each
 * index list is then sorted ascending. Same (rows, val_fraction, seed) gives
 * the same split on every machine. *train_idx and *val_idx are malloc'd
 * (caller frees; NULL when the count is 0). Returns 0, or -1 with
 * errno=EINVAL (val_fraction outside [0,1)) or ENOMEM (outputs untouched). */
int dataset_split(size_t rows, double val_fraction, uint64_t seed, size_t **train_idx,
                  size_t *ntrain, size_t **val_idx, size_t *nval);

/* What a CSV file holds, by the records dataset_load would read (the same
 * record reader and field splitter), without parsing values: data rows
 * (records after the header with as many fields as the header), blank
 * records (skipped by the loader too) and malformed ones (bad quoting, or
 * a field count other than the header's: the loader would refuse the
 * file). Used by data triggers (coordinator/trigscan.c), which do not know
 * the label column, so a value that is not a number is not caught here. */
typedef struct {
    uint64_t rows, blank, malformed;
    uint64_t first_bad;     /* 1-based record number of the first malformed one, 0 = none */
    uint64_t bytes;         /* bytes read */
    char sha256[65];        /* hex sha256 of every byte */
    char prefix_sha256[65]; /* of the first prefix_len bytes; "" when the file is shorter */
} dataset_tally_t;

/* Reads the file at path once for the hashes and once for the records.
 * prefix_len > 0 also hashes the first prefix_len bytes (a file that grew
 * since: were those bytes kept?). Returns 0, or -1 with errno (from the
 * system, or EINVAL: no header, ENOMEM) and a message in err. Memory: two
 * 1 MiB buffers and the longest record. */
int dataset_csv_tally(const char *path, uint64_t prefix_len, dataset_tally_t *out, char *err,
                      size_t errlen);

#endif
