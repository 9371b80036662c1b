/* webconf — drover-web's configuration file (libconfig, like the other
 * daemons'), one group:
 *
 *   web = {
 *     listen = "127.0.0.1:7480";            # HOST:PORT; loopback unless said
 *     coordinator = "tcp://127.0.0.1:7460"; # the coordinator's client endpoint
 *     secret_key = "/etc/drover/keys/web";  # drover-web's own key (role web)
 *     coordinator_key = "/etc/drover/keys/coordinator.pub";
 *     session_ttl_s = 43200;                # a sign-in lasts this long
 *     secure_cookies = false;               # true behind TLS: cookies get Secure
 *     max_sessions = 1024;                  # signed-in sessions at once
 *     max_streams = 32;                     # live event streams at once (own sockets)
 *     max_streams_per_person = 8;           # of those, one person's (the token's key)
 *     max_connections = 128;                # HTTP connections at once
 *     max_body = 16384;                     # bytes of one request body
 *     rate = 20;                            # requests per second per session (burst 2x)
 *     timeout_s = 30;                       # an idle HTTP connection is closed
 *     coordinator_timeout_ms = 5000;        # one coordinator call
 *     coordinator_sockets = 4;              # page calls in flight at once
 *     stream_max_s = 600;                   # an event stream ends (the browser reconnects)
 *   };
 *
 * Every key but secret_key and coordinator_key has the default shown.
 * Unknown keys and wrong types are errors reported as "file:line: message";
 * relative paths are taken against the config file's folder. There is no
 * insecure mode: web tokens need a coordinator with CURVE keys.
 */
#ifndef DROVER_WEBCONF_H
#define DROVER_WEBCONF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char listen[256];
    char coordinator[256];
    char secret_key[1024];
    char coordinator_key[1024];
    long long session_ttl_s;
    int secure_cookies;
    long long max_sessions;
    long long max_streams;
    long long max_streams_per_person;
    long long max_connections;
    long long max_body;
    long long rate;
    long long timeout_s;
    long long coordinator_timeout_ms;
    long long coordinator_sockets;
    long long stream_max_s;
} webconf_t;

/* Loads path into cfg (defaults first). 0, or -1 with "file:line:
 * message" in err (errno EINVAL). */
int webconf_load(webconf_t *cfg, const char *path, char *err, size_t errlen);

#endif
