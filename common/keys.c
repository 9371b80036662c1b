/* keys — see keys.h. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "util.h"

static const char s_z85[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

int keys_valid_z85(const char *s)
{
    if (!s || strlen(s) != KEYS_Z85_LEN)
        return 0;
    for (; *s; s++)
        if (!strchr(s_z85, *s))
            return 0;
    return 1;
}

int keys_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= KEYS_NAME_MAX)
        return 0;
    for (; *name; name++)
        if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') ||
              (*name >= '0' && *name <= '9') || strchr("_.@-", *name)))
            return 0;
    return 1;
}

void keys_wipe(keys_pair_t *kp)
{
    volatile char *p = kp->secret_z85;
    for (size_t i = 0; i < sizeof kp->secret_z85; i++)
        p[i] = 0;
}

/* Writes text to path with mode, refusing an existing file. */
static int s_write_new(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (refusing to overwrite a key; remove it first)" : "");
        return -1;
    }
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int rc = (w == (ssize_t)n && fsync(fd) == 0) ? 0 : -1;
    int e = errno;
    if (close(fd) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc < 0) {
        unlink(path);
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
    }
    return rc;
}

int keys_generate(const char *path, const char *name, keys_pair_t *out, char *err, size_t errlen)
{
    keys_pair_t kp;
    memset(&kp, 0, sizeof kp);
    if (!name) {
        const char *slash = strrchr(path, '/');
        name = slash ? slash + 1 : path;
    }
    if (!keys_valid_name(name)) {
        snprintf(err, errlen,
                 "'%s' is not a usable key name (letters, digits, _ . @ -; at most 63)", name);
        return -1;
    }
    util_strlcpy(kp.name, name, sizeof kp.name);
    if (zmq_curve_keypair(kp.public_z85, kp.secret_z85) != 0) {
        snprintf(err, errlen, "cannot generate a key pair: %s (libzmq without CURVE?)",
                 zmq_strerror(errno));
        return -1;
    }
    char pub[2048], sec[2048], pubpath[4096];
    snprintf(sec, sizeof sec,
             "# drover CurveZMQ key pair. SECRET: keep this file private (mode 0600).\n"
             "name = \"%s\";\npublic = \"%s\";\nsecret = \"%s\";\n",
             kp.name, kp.public_z85, kp.secret_z85);
    snprintf(pub, sizeof pub,
             "# drover CurveZMQ public key; allow it with: drover keys allow worker|client FILE\n"
             "name = \"%s\";\npublic = \"%s\";\n",
             kp.name, kp.public_z85);
    if (snprintf(pubpath, sizeof pubpath, "%s.pub", path) >= (int)sizeof pubpath) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    int rc = -1;
    if (s_write_new(path, sec, 0600, err, errlen) == 0) {
        if (s_write_new(pubpath, pub, 0644, err, errlen) == 0)
            rc = 0;
        else
            unlink(path);
    }
    memset(sec, 0, sizeof sec);
    if (rc == 0 && out)
        *out = kp;
    keys_wipe(&kp);
    return rc;
}

int keys_load(const char *path, int need_secret, keys_pair_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    /* The mode is checked on the file that is read (fstat of the open fd),
     * not on a path that could be swapped between the check and the read;
     * stdio reads through our buffer, which is wiped with libconfig's copy
     * of the secret after parsing. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    char fbuf[4096];
    setvbuf(f, fbuf, _IOFBF, sizeof fbuf);
    config_t lc;
    config_init(&lc);
    int rc = -1;
    const char *name = NULL, *pub = NULL, *sec = NULL;
    int read_ok = config_read(&lc, f);
    fclose(f);
    explicit_bzero(fbuf, sizeof fbuf);
    if (!read_ok) {
        snprintf(err, errlen, "%s:%d: %s", path, config_error_line(&lc), config_error_text(&lc));
        goto out;
    }
    config_lookup_string(&lc, "name", &name);
    config_lookup_string(&lc, "public", &pub);
    config_lookup_string(&lc, "secret", &sec);
    if (!keys_valid_z85(pub)) {
        snprintf(err, errlen, "%s: no valid 'public' key (40 Z85 characters)", path);
        goto out;
    }
    if (need_secret) {
        if (!sec || !keys_valid_z85(sec)) {
            snprintf(err, errlen, "%s: no valid 'secret' key: this looks like a public key file",
                     path);
            goto out;
        }
        if (st.st_mode & 077) {
            snprintf(err, errlen,
                     "%s: secret key file is readable by group or others (mode %04o); "
                     "fix it with: chmod 600 %s",
                     path, (unsigned)(st.st_mode & 07777), path);
            goto out;
        }
        util_strlcpy(out->secret_z85, sec, sizeof out->secret_z85);
    }
    if (name && !keys_valid_name(name)) {
        snprintf(err, errlen, "%s: 'name' is not a usable key name", path);
        goto out;
    }
    if (!name) {
        const char *slash = strrchr(path, '/');
        name = slash ? slash + 1 : path;
    }
    util_strlcpy(out->name, name, sizeof out->name);
    /* A ".pub" suffix in a derived name is noise. */
    size_t nl = strlen(out->name);
    if (nl > 4 && strcmp(out->name + nl - 4, ".pub") == 0)
        out->name[nl - 4] = '\0';
    util_strlcpy(out->public_z85, pub, sizeof out->public_z85);
    rc = 0;
out:
    if (sec) /* libconfig's own copy of the secret */
        explicit_bzero((char *)sec, strlen(sec));
    config_destroy(&lc);
    if (rc < 0)
        keys_wipe(out);
    return rc;
}
