/* server — the coordinator's event loop.
 *
 * One thread, one zmq_poll over the worker ROUTER, the client ROUTER and a
 * signalfd. Each iteration: read every waiting message, apply it to the
 * model (writes join one open transaction), run timers and dispatch, COMMIT
 * once (group commit), and only then send what the transaction promised
 * (assignments, acks, replies). A database error anywhere discards the
 * iteration's unsent messages, forgets the in-memory state and rebuilds it
 * from PostgreSQL after reconnecting: what was committed is the truth.
 *
 * The code is in four files behind server_int.h: server.c (loop, outbox,
 * startup), server_db.c (attach, reset, serving from memory while the
 * database is away), server_worker.c (worker protocol), server_client.c
 * (the client API: one table of request -> required role -> handler).
 *
 * Startup: connect (retrying while PostgreSQL is down), apply migrations,
 * take the leader lease (standing by while another coordinator holds it;
 * coordinator/leader.h), load the active runs, bind, serve.
 */
#ifndef DROVER_SERVER_H
#define DROVER_SERVER_H

#include "conf.h"

typedef struct server server_t;

/* Creates a server for cfg (borrowed: must outlive the server). */
server_t *server_new(const conf_t *cfg);
void server_destroy(server_t **sp);

/* Runs until SIGTERM/SIGINT. Returns 0 on a clean stop, -1 on a fatal
 * error (cannot bind, schema newer than this binary, ...), logged. */
int server_run(server_t *s);

#endif
