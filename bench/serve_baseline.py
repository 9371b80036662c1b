#!/usr/bin/python3
"""bench/serve_baseline.py -- the Python baseline of bench/serve.sh.

Trains scikit-learn's MLPClassifier (one hidden layer of 128 ReLU units,
Adam, early stopping: the claims pipeline's MLP) on a CSV behind a
StandardScaler, then serves it with the standard library's WSGI server
(wsgiref) on the same JSON API as drover-serve:

  POST /v1/models/NAME/predict  {"row": {...}} or {"rows": [{...}, ...]}
  GET  /healthz

wsgiref answers one request per connection; the handler below keeps the
connection open (HTTP/1.1 keep-alive), as drover-serve does, and the server
runs a thread per connection, so the load generator measures the model
and the server, not TCP handshakes. Each answer carries
"Server-Timing: app;dur=MS" from the WSGI call to its body, like
drover-serve's. It logs nothing (drover-serve writes every prediction to
its log), which only favours the baseline.

usage: serve_baseline.py --train CSV --label COL --port N [--name NAME]
"""
import argparse
import json
import socket
import socketserver
import sys
import time
import uuid
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def load(path, label):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [line.rstrip("\n").split(",") for line in f if line.strip()]
    li = header.index(label)
    feats = [h for i, h in enumerate(header) if i != li]
    X = np.array([[float(v) for i, v in enumerate(r) if i != li] for r in rows], dtype=np.float32)
    y = np.array([r[li] for r in rows])
    return feats, X, y


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # wsgiref writes the headers and the body in two sends: without
        # TCP_NODELAY the second waits ~40 ms for the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self):
        # wsgiref's handle() serves one request; loop until the client
        # closes or asks to.
        while True:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or len(self.raw_requestline) > 65536:
                return
            if not self.parse_request():
                return
            h = ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                              multithread=True)
            h.http_version = "1.1"
            h.request_handler = self
            h.run(self.server.get_app())
            if self.close_connection:
                return

    def log_message(self, *args):
        pass


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="claims-damage")
    a = ap.parse_args()
    feats, X, y = load(a.train, a.label)
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(128,),
                          learning_rate_init=0.003, max_iter=20, early_stopping=True,
                          n_iter_no_change=3, random_state=42))
    model.fit(X, y)
    classes = [str(c) for c in model.classes_]
    path = "/v1/models/%s/predict" % a.name

    def reply(start, status, doc, t0):
        body = (json.dumps(doc) + "\n").encode()
        start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Server-Timing", "app;dur=%.3f" % ((time.perf_counter() - t0) * 1000))])
        return [body]

    def app(env, start):
        t0 = time.perf_counter()
        if env["PATH_INFO"] == "/healthz":
            return reply(start, "200 OK", {"ok": True}, t0)
        if env["REQUEST_METHOD"] != "POST" or env["PATH_INFO"] != path:
            return reply(start, "404 Not Found", {"error": "not found"}, t0)
        n = int(env.get("CONTENT_LENGTH") or 0)
        try:
            doc = json.loads(env["wsgi.input"].read(n))
            many = "rows" in doc
            rows = doc["rows"] if many else [doc["row"]]
            Xq = np.array([[float(r[f]) for f in feats] for r in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as e:
            return reply(start, "400 Bad Request", {"error": str(e)}, t0)
        P = model.predict_proba(Xq)
        out = [{"class": classes[int(np.argmax(p))],
                "probabilities": {c: float(v) for c, v in zip(classes, p)}} for p in P]
        ans = {"request_id": uuid.uuid4().hex[:20], "model": a.name, "version": 1}
        ans["predictions" if many else "prediction"] = out if many else out[0]
        return reply(start, "200 OK", ans, t0)

    srv = make_server("127.0.0.1", a.port, app, server_class=ThreadingWSGIServer,
                      handler_class=KeepAliveHandler)
    print("serving on 127.0.0.1:%d" % a.port, file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
