#!/usr/bin/env python3
"""bench/histo.py FILE... — the coordinator's latency histograms, as saved by
bench/lib.sh with BENCH_METRICS_DIR (one /metrics scrape per workload run),
summed over the files given: per histogram the count, the mean, and p50 /
p90 / p99 as the upper bound of the bucket they fall in (the buckets are
coarse: 50 µs .. 10 s), and how the samples spread over the buckets.

  BENCH_METRICS_DIR=/tmp/m BENCH_ONLY=W2 bench/run.sh; bench/histo.py /tmp/m/*.txt
"""
import re
import sys

NAMES = ["drover_loop_iteration_seconds", "drover_commit_seconds",
         "drover_handoff_latency_seconds", "drover_dispatch_latency_seconds"]
LINE = re.compile(r'^(\w+)_(bucket|sum|count)(\{[^}]*\})?\s+(\S+)')


def main(paths):
    h = {n: {"le": {}, "sum": 0.0, "count": 0.0} for n in NAMES}
    for p in paths:
        for line in open(p):
            m = LINE.match(line)
            if not m or m.group(1) not in h:
                continue
            d, v = h[m.group(1)], float(m.group(4))
            if m.group(2) == "bucket":
                le = re.search(r'le="([^"]+)"', m.group(3) or "")
                if le:
                    k = float("inf") if le.group(1) == "+Inf" else float(le.group(1))
                    d["le"][k] = d["le"].get(k, 0.0) + v
            else:
                d[m.group(2)] += v
    for n, d in h.items():
        if not d["count"]:
            continue
        les = sorted(d["le"])

        def q(f):
            for k in les:
                if d["le"][k] >= f * d["count"]:
                    return k
            return float("inf")
        ms = lambda x: "inf" if x == float("inf") else "%g" % (x * 1000)
        spread, prev = [], 0.0
        for k in les:
            c = d["le"][k] - prev
            prev = d["le"][k]
            if c:
                spread.append("<=%s:%.1f%%" % (ms(k), 100 * c / d["count"]))
        print("%s: n=%d mean=%.3fms p50<=%sms p90<=%sms p99<=%sms  [%s]" % (
            n, d["count"], 1000 * d["sum"] / d["count"], ms(q(.5)), ms(q(.9)), ms(q(.99)),
            " ".join(spread)))


if __name__ == "__main__":
    main(sys.argv[1:])
