/* keys — CurveZMQ key files.
 *
 * A key pair lives in two libconfig files written by `drover keygen --out P`:
 *
 *   P      (mode 0600)   name = "worker-node17"; public = "Z85..."; secret = "Z85...";
 *   P.pub  (mode 0644)   name = "worker-node17"; public = "Z85...";
 *
 * Keys are 40-character Z85 strings (RFC 32). A secret key file that group
 * or others may read is refused with a message that says how to fix it;
 * secrets are never logged or printed by anything that loads them.
 */
#ifndef DROVER_KEYS_H
#define DROVER_KEYS_H

#include <stddef.h>

#define KEYS_Z85_LEN  40
#define KEYS_NAME_MAX 64

typedef struct {
    char name[KEYS_NAME_MAX];
    char public_z85[KEYS_Z85_LEN + 1];
    char secret_z85[KEYS_Z85_LEN + 1]; /* "" in a public key file */
} keys_pair_t;

/* 1 if s is 40 characters of the Z85 alphabet. */
int keys_valid_z85(const char *s);
/* 1 if name is a usable key name ([A-Za-z0-9_.@-], 1..63 chars). */
int keys_valid_name(const char *name);

/* Generates a key pair named `name` (NULL = the file's base name) into
 * path and path.pub. Refuses to overwrite either. Returns 0, or -1 with a
 * message in err. */
int keys_generate(const char *path, const char *name, keys_pair_t *out, char *err, size_t errlen);

/* Loads a key file. need_secret=1 requires a secret (and a private file
 * mode); 0 accepts a public file (or a secret file, ignoring its secret).
 * Returns 0, or -1 with "file: message" / "file:line: message" in err. */
int keys_load(const char *path, int need_secret, keys_pair_t *out, char *err, size_t errlen);

/* Wipes a pair's secret from memory. */
void keys_wipe(keys_pair_t *kp);

#endif
