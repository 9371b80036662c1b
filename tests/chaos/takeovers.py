#!/usr/bin/env python3
"""takeovers.py — failover times of a chaos round, from its own records.

STOPS has one line per hurt of the active coordinator: "kill|stop
EPOCH_SECONDS PID". Each coordinator log line "leader lease taken over
from HOST:PID (...)" (coordinator/leader.c) names the former holder; the
first such line naming PID after the hurt, and before the next hurt of the
same PID, ends that failover. Prints JSON: per kind, the count, how many
were taken over (not every one is: a coordinator paused while no standby
ran, or while PostgreSQL was down, may be resumed first and lead on), p50
and max in seconds.

Usage: takeovers.py STOPS LOG...
"""
import datetime
import json
import re
import sys

LINE = re.compile(r"^(\S+)Z \S+ info: leader lease taken over from [^ ]*:(\d+) ")


def main():
    stops = []
    with open(sys.argv[1]) as f:
        for line in f:
            kind, t, pid = line.split()
            stops.append((kind, float(t), pid))
    takes = []
    for path in sys.argv[2:]:
        try:
            with open(path) as f:
                for line in f:
                    m = LINE.match(line)
                    if m:
                        at = datetime.datetime.fromisoformat(m.group(1)).replace(
                            tzinfo=datetime.timezone.utc).timestamp()
                        takes.append((at, m.group(2)))
        except OSError:
            pass
    out = {}
    for kind in ("stop", "kill"):
        times = []
        mine = [s for s in stops if s[0] == kind]
        for _, t, pid in mine:
            later = [u for _, u, p in stops if p == pid and u > t]
            until = min(later) if later else float("inf")
            after = [at - t for at, p in takes if p == pid and t - 0.05 <= at < until]
            if after:
                times.append(max(0.0, min(after)))
        times.sort()
        n = len(times)
        p50 = (times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2) if n else None
        out[kind] = {"hurts": len(mine), "taken_over": n,
                     "p50_s": round(p50, 2) if n else None,
                     "max_s": round(times[-1], 2) if n else None}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
