# -*- coding: utf-8 -*-
"""A Python target with known stacks for sprofd's tests.

Its main thread splits its CPU between two functions by work units, 70/30
by construction: each round runs heavy_a 7 units and light_b 3 units of the
same loop. Other threads: one that calls through C (map, sorted(key=)), a
class method, a generator, recursion and a non-ASCII function name; one
that compresses with zlib (native code under Python); one that sleeps.
On SIGUSR1 the process writes its own dump (sys._current_frames()) to the
file named by PYWORK_DUMP, as (thread id, [(file, line, qualname)...])
innermost first, one JSON line per thread.

Usage: python pywork.py [seconds] (default: run until killed)
"""
import json
import os
import signal
import sys
import threading
import time
import zlib

UNIT = 20000


def spin(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def heavy_a(units):
    for _ in range(units):
        spin(UNIT)


def light_b(units):
    for _ in range(units):
        spin(UNIT)


def main_loop(deadline):
    while deadline is None or time.time() < deadline:
        heavy_a(7)
        light_b(3)


class Shape:
    def area(self, k):
        return spin(k)


def gen_values(n):
    for i in range(n):
        yield spin(200) + i


def recurse(depth):
    if depth == 0:
        return sum(gen_values(5))
    return recurse(depth - 1)


def café_ünïcode(n):
    return sorted(range(n), key=lambda v: Shape().area(30) - v)


def mixed_loop():
    while True:
        list(map(lambda v: Shape().area(50), range(20)))
        recurse(6)
        café_ünïcode(20)


def pack(data):
    return zlib.compress(data, 9)


def zlib_loop():
    data = os.urandom(1 << 16) + bytes(1 << 16)
    while True:
        pack(data)


def sleeper():
    while True:
        time.sleep(3600)


def frame_entries(f):
    out = []
    while f is not None:
        co = f.f_code
        name = getattr(co, "co_qualname", co.co_name)
        out.append([co.co_filename, f.f_lineno, name, co.co_firstlineno])
        f = f.f_back
    return out


def write_dump(signum, frame):
    path = os.environ.get("PYWORK_DUMP")
    if not path:
        return
    frames = sys._current_frames()
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for t in threading.enumerate():
            fr = frames.get(t.ident)
            if fr is None:
                continue
            entries = frame_entries(fr)
            if t is threading.main_thread():
                # The handler's own frame is not where the thread was.
                entries = entries[1:]
            f.write(json.dumps({"native_id": t.native_id, "name": t.name,
                                "frames": entries}, ensure_ascii=False) + "\n")
    os.rename(path + ".tmp", path)


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else None
    signal.signal(signal.SIGUSR1, write_dump)
    for fn, name in ((mixed_loop, "mixed"), (zlib_loop, "zlib"), (sleeper, "sleeper")):
        threading.Thread(target=fn, name=name, daemon=True).start()
    print("ready", flush=True)
    main_loop(None if secs is None else time.time() + secs)


if __name__ == "__main__":
    main()
