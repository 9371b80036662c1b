/* sdnotify — tells systemd how a service is doing (sd_notify(3) protocol),
 * without linking libsystemd.
 *
 * A unit with Type=notify passes the path of a datagram socket in
 * $NOTIFY_SOCKET; the service sends "READY=1" once it serves, "WATCHDOG=1"
 * at least every $WATCHDOG_USEC when the unit sets WatchdogSec=, and
 * "STOPPING=1" when it begins to stop. Outside systemd ($NOTIFY_SOCKET
 * unset) every call is a no-op that succeeds, so daemons call these
 * unconditionally.
 *
 * Nothing here allocates; each call is one sendto() on a socket opened and
 * closed per call (a few calls a second at most). */
#ifndef DROVER_SDNOTIFY_H
#define DROVER_SDNOTIFY_H

#include <stdint.h>

/* Sends state (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET.
 * Returns 0 when sent or when not under systemd, -1 with errno when the
 * socket is set but the message could not be delivered. */
int sdnotify_send(const char *state);

/* How often a watchdog ping is due, in ms (half of $WATCHDOG_USEC, as
 * sd_watchdog_enabled(3) advises), or 0 when no watchdog is configured for
 * this process ($WATCHDOG_PID, when set, must name it). */
int64_t sdnotify_watchdog_ms(void);

#endif
