"""A Python workload for bench/python.py: BUSY threads each descend 30
distinct Python frames deep and then run small fixed work units, reading
the monotonic clock between units. A gap much longer than a unit is time
the thread did not run: a ptrace stop, or the scheduler. Prints "ready"
once the threads run, and on SIGTERM one line
"summary units=N gaps=N gap50_us=F gap99_us=F" for the units and gaps
since the last "mark" line on stdin ("report" prints without exiting).

Usage: python3 pywork.py [BUSY] [GAP_US]"""

import signal
import sys
import threading
import time

BUSY = int(sys.argv[1]) if len(sys.argv) > 1 else 1
GAP_NS = int(float(sys.argv[2] if len(sys.argv) > 2 else 200) * 1000)
DEPTH = 30

lock = threading.Lock()
units = [0] * BUSY
gaps = [[] for _ in range(BUSY)]


def unit(n):
    s = 0
    for i in range(n):
        s += i
    return s


def spin(slot):
    clock = time.monotonic_ns
    last = clock()
    g = gaps[slot]
    while True:
        unit(20)
        now = clock()
        if now - last > GAP_NS:
            g.append(now - last)
        last = now
        units[slot] += 1


# Thirty distinct functions, each calling the next, so that every sample
# has a 30-frame Python stack whatever the interpreter inlines.
def make_level(k, nxt):
    def level(slot):
        return nxt(slot)
    level.__name__ = level.__qualname__ = "level%02d" % k
    return level


entry = spin
for k in range(DEPTH - 1, 0, -1):
    entry = make_level(k, entry)


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] / 1000.0


def summary():
    with lock:
        all_gaps = [x for g in gaps for x in g]
        print("summary units=%d gaps=%d gap50_us=%.1f gap99_us=%.1f"
              % (sum(units), len(all_gaps), pct(all_gaps, 0.5), pct(all_gaps, 0.99)), flush=True)


def mark():
    with lock:
        for i in range(BUSY):
            units[i] = 0
            gaps[i].clear()


def on_term(signum, frame):
    summary()
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
for i in range(BUSY):
    threading.Thread(target=entry, args=(i,), daemon=True, name="busy%d" % i).start()
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "mark":
        mark()
    elif line.strip() == "report":
        summary()
