/* artifact — see artifact.h for the layout and the durability contract.
 *
 * Both put paths end in util_commit_file: fsync the temporary file, rename it onto
 * the content name, fsync the directory. Temporary names carry the pid and
 * a counter and are created with O_EXCL, so concurrent writers (threads,
 * processes, machines on a shared filesystem) never share one; if two write
 * the same content, the second rename replaces identical bytes, which is
 * harmless.
 */
#include "artifact.h"
#include "util.h"

#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ART_BLOCK (1u << 20)

int artifact_path(const char *root, const char *hex, char *out, size_t outlen)
{
    if (!root || !*root || !sha256_is_hex(hex)) {
        errno = EINVAL;
        return -1;
    }
    int n = snprintf(out, outlen, "%s/sha256/%.2s/%s", root, hex, hex + 2);
    if (n < 0 || (size_t)n >= outlen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static int s_fsync_path(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd), e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* mkdir -p of dir; a directory this call creates is made durable in its
 * parent. */
static int s_mkdirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) == 0) {
            char *slash = strrchr(buf, '/');
            if (slash && slash != buf) {
                *slash = '\0';
                if (s_fsync_path(buf) < 0)
                    return -1;
                *slash = '/';
            }
        } else if (errno != EEXIST) {
            return -1;
        }
        buf[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int s_write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Prepares the destination: fills final[] and dir[], creates dir, opens a
 * fresh temporary file in it (tmp[]). Returns the fd, 1 when the artifact is
 * already present with size want_size (nothing to do), or -1. */
static int s_prepare(const char *root, const char *hex, long long want_size, char *final, char *dir,
                     char *tmp, size_t len, char *err, size_t errlen)
{
    static atomic_uint counter;
    if (artifact_path(root, hex, final, len) < 0) {
        util_errf(err, errlen, "artifact store %s: path too long", root);
        return -1;
    }
    struct stat st;
    if (stat(final, &st) == 0 && S_ISREG(st.st_mode) && (long long)st.st_size == want_size)
        return 1;
    snprintf(dir, len, "%s/sha256/%.2s", root, hex);
    if (s_mkdirs(dir) < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot create %s: %s", dir, strerror(e));
        errno = e;
        return -1;
    }
    int n = snprintf(tmp, len, "%s/.tmp-%s-%ld-%u", dir, hex + 2, (long)getpid(),
                     atomic_fetch_add(&counter, 1));
    if (n < 0 || (size_t)n >= len) {
        util_errf(err, errlen, "artifact store %s: path too long", root);
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot create %s: %s", tmp, strerror(e));
        errno = e;
        return -1;
    }
    return fd;
}

int artifact_put_buffer(const char *root, const void *data, size_t len, char hex_out[65], char *err,
                        size_t errlen)
{
    char final[4096], dir[4096], tmp[4096], hex[65];
    uint8_t d[SHA256_DIGEST_LEN];
    if (!root || !*root || (!data && len)) {
        util_errf(err, errlen, "artifact_put_buffer: invalid arguments");
        errno = EINVAL;
        return -1;
    }
    sha256_buffer(data, len, d);
    sha256_hex(d, hex);
    int fd = s_prepare(root, hex, (long long)len, final, dir, tmp, sizeof final, err, errlen);
    if (fd < 0)
        return -1;
    if (fd == 1 && strcmp(final, tmp) != 0) /* present */
        goto done;
    if (s_write_all(fd, data, len) < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot write %s: %s", tmp, strerror(e));
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (util_commit_file(fd, tmp, final, err, errlen) < 0)
        return -1;
done:
    memcpy(hex_out, hex, 65);
    return 0;
}

int artifact_put_file(const char *root, const char *src_path, char hex_out[65], char *err,
                      size_t errlen)
{
    char final[4096], dir[4096], tmp[4096], hex[65], hex2[65];
    int src = -1, fd = -1, e;
    unsigned char *buf = NULL;
    struct stat st;
    if (!root || !*root || !src_path) {
        util_errf(err, errlen, "artifact_put_file: invalid arguments");
        errno = EINVAL;
        return -1;
    }
    if (sha256_file(src_path, hex, err, errlen) < 0)
        return -1;
    src = open(src_path, O_RDONLY | O_CLOEXEC);
    if (src < 0 || fstat(src, &st) < 0) {
        e = errno;
        util_errf(err, errlen, "cannot open %s: %s", src_path, strerror(e));
        goto fail;
    }
    fd = s_prepare(root, hex, (long long)st.st_size, final, dir, tmp, sizeof final, err, errlen);
    if (fd < 0) {
        e = errno;
        goto fail;
    }
    if (fd == 1) { /* present */
        fd = -1;
        goto done;
    }
    buf = malloc(ART_BLOCK);
    if (!buf) {
        e = ENOMEM;
        util_errf(err, errlen, "out of memory copying %s", src_path);
        goto fail_tmp;
    }
    sha256_ctx_t ctx;
    sha256_init(&ctx);
    for (;;) {
        ssize_t n = read(src, buf, ART_BLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            util_errf(err, errlen, "cannot read %s: %s", src_path, strerror(e));
            goto fail_tmp;
        }
        if (n == 0)
            break;
        sha256_update(&ctx, buf, (size_t)n);
        if (s_write_all(fd, buf, (size_t)n) < 0) {
            e = errno;
            util_errf(err, errlen, "cannot write %s: %s", tmp, strerror(e));
            goto fail_tmp;
        }
    }
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_final(&ctx, d);
    sha256_hex(d, hex2);
    if (strcmp(hex, hex2) != 0) {
        e = EAGAIN;
        util_errf(err, errlen,
                  "%s changed while it was being stored (sha256 %.12s... then %.12s...); try again",
                  src_path, hex, hex2);
        goto fail_tmp;
    }
    int rc = util_commit_file(fd, tmp, final, err, errlen);
    fd = -1;
    if (rc < 0) {
        e = errno;
        goto fail;
    }
done:
    free(buf);
    close(src);
    memcpy(hex_out, hex, 65);
    return 0;
fail_tmp:
    close(fd);
    fd = -1;
    unlink(tmp);
fail:
    free(buf);
    if (src >= 0)
        close(src);
    errno = e;
    return -1;
}

int artifact_open_verified(const char *root, const char *hex, char *path_out, size_t path_len,
                           char *err, size_t errlen)
{
    char path[4096], got[65];
    if (artifact_path(root, hex, path, sizeof path) < 0) {
        int e = errno;
        if (e == EINVAL)
            util_errf(err, errlen, "'%.80s' is not a sha256 (64 lowercase hex characters)",
                      hex ? hex : "(null)");
        else
            util_errf(err, errlen, "artifact store %s: path too long", root);
        errno = e;
        return -1;
    }
    if (sha256_file(path, got, err, errlen) < 0) {
        int e = errno;
        if (e == ENOENT)
            util_errf(err, errlen, "artifact sha256:%s not found in %s", hex, root);
        errno = e;
        return -1;
    }
    if (strcmp(got, hex) != 0) {
        util_errf(err, errlen, "artifact sha256:%s is corrupt (content hashes to %s)", hex, got);
        errno = EBADMSG;
        return -1;
    }
    if (strlen(path) >= path_len) {
        util_errf(err, errlen, "artifact path does not fit the caller's buffer");
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path_out, path, strlen(path) + 1);
    return 0;
}

int artifact_partial_path(const char *root, const char *hex, char *out, size_t outlen, char *err,
                          size_t errlen)
{
    char dir[4096];
    if (!root || !*root || !sha256_is_hex(hex)) {
        util_errf(err, errlen, "artifact_partial_path: invalid arguments");
        errno = EINVAL;
        return -1;
    }
    int n = snprintf(dir, sizeof dir, "%s/.partial", root);
    int m = snprintf(out, outlen, "%s/.partial/%s", root, hex);
    if (n < 0 || (size_t)n >= sizeof dir || m < 0 || (size_t)m >= outlen) {
        util_errf(err, errlen, "artifact store %s: path too long", root);
        errno = ENAMETOOLONG;
        return -1;
    }
    if (s_mkdirs(dir) < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot create %s: %s", dir, strerror(e));
        errno = e;
        return -1;
    }
    return 0;
}

int artifact_adopt(const char *root, const char *hex, const char *partial, char *err, size_t errlen)
{
    return artifact_adopt_hashed(root, hex, partial, NULL, 1, err, errlen);
}

int artifact_adopt_hashed(const char *root, const char *hex, const char *partial,
                          const char *content_hex, int durable, char *err, size_t errlen)
{
    char final[4096], dir[4096], got[65];
    if (artifact_path(root, hex, final, sizeof final) < 0) {
        util_errf(err, errlen, "artifact store %s: bad hash or path too long", root);
        return -1;
    }
    if (content_hex)
        util_strlcpy(got, content_hex, sizeof got);
    else if (sha256_file(partial, got, err, errlen) < 0)
        return -1;
    if (strcmp(got, hex) != 0) {
        util_errf(err, errlen, "content hashes to %s, not %s", got, hex);
        unlink(partial);
        errno = EBADMSG;
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/sha256/%.2s", root, hex);
    if (s_mkdirs(dir) < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot create %s: %s", dir, strerror(e));
        errno = e;
        return -1;
    }
    int fd = open(partial, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0444) < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot open %s: %s", partial, strerror(e));
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    if (durable)
        return util_commit_file(fd, partial, final, err, errlen);
    close(fd);
    if (rename(partial, final) < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot rename %s: %s", partial, strerror(e));
        errno = e;
        return -1;
    }
    return 0;
}

int artifact_put_fd(const char *root, int fd, int durable, char hex_out[65], char *err,
                    size_t errlen)
{
    static atomic_uint counter;
    char dir[4096], tmp[4200], hex[65];
    unsigned char *buf = NULL;
    int out = -1, e = 0;
    if (!root || !*root || fd < 0) {
        util_errf(err, errlen, "artifact_put_fd: invalid arguments");
        errno = EINVAL;
        return -1;
    }
    int n = snprintf(dir, sizeof dir, "%s/.partial", root);
    if (n < 0 || (size_t)n >= sizeof dir || s_mkdirs(dir) < 0) {
        e = n < 0 || (size_t)n >= sizeof dir ? ENAMETOOLONG : errno;
        util_errf(err, errlen, "cannot create %s: %s", dir, strerror(e));
        errno = e;
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/.put-%ld-%u", dir, (long)getpid(), atomic_fetch_add(&counter, 1));
    if (!(buf = malloc(ART_BLOCK)) ||
        (out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444)) < 0) {
        e = buf ? errno : ENOMEM;
        util_errf(err, errlen, "cannot create %s: %s", tmp, strerror(e));
        free(buf);
        errno = e;
        return -1;
    }
    sha256_ctx_t ctx;
    sha256_init(&ctx);
    for (;;) {
        ssize_t r = read(fd, buf, ART_BLOCK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            util_errf(err, errlen, "cannot read the file to store: %s", strerror(e));
            break;
        }
        if (r == 0)
            break;
        sha256_update(&ctx, buf, (size_t)r);
        if (s_write_all(out, buf, (size_t)r) < 0) {
            e = errno;
            util_errf(err, errlen, "cannot write %s: %s", tmp, strerror(e));
            break;
        }
    }
    free(buf);
    close(out);
    if (e) {
        unlink(tmp);
        errno = e;
        return -1;
    }
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_final(&ctx, d);
    sha256_hex(d, hex);
    if (artifact_adopt_hashed(root, hex, tmp, hex, durable, err, errlen) < 0) {
        e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    memcpy(hex_out, hex, 65);
    return 0;
}
