# -*- coding: utf-8 -*-
"""A Python target with known stacks for sprofd's tests (pure Python, any
CPython from 3.8 on).

Its main thread splits its CPU between two functions by work units, 70/30
by construction: each round runs heavy_a 7 units and light_b 3 units of the
same loop. Other threads: one that calls through C (map, sorted(key=)), a
class method, a generator, recursion and a non-ASCII function name; one
that compresses with zlib (native code under Python); one that sleeps;
one that starts short-lived threads, one after another, each running a
few units of Python work (short_lived) and ending.
On SIGUSR1 the process writes its own dump (sys._current_frames()) to the
file named by PYWORK_DUMP, as (thread id, [(file, line, qualname)...])
innermost first, one JSON line per thread.

With "park" as its first argument, every thread blocks instead at a
known place, reached through calls via C (map, sorted with a key), a class
method, a generator, recursion and non-ASCII names; once all are parked
one more thread writes their stacks (as above) to PYWORK_DUMP and the
process prints "ready". Their stacks then stay as written.

With "split" as its first argument, the main thread runs alone: its
split is then free of the other threads' contention for the GIL, which
makes where a waiting thread is seen depend on the interpreter's switch
points rather than on the work.

Usage: python pywork.py [split] [seconds] (default: run until killed)
       PYWORK_DUMP=FILE python pywork.py park
"""
import json
import os
import random
import signal
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyünï  # noqa: E402

UNIT = 20000


def spin(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def heavy_a(units, size):
    for _ in range(units):
        spin(size)


def light_b(units, size):
    for _ in range(units):
        spin(size)


def main_loop(deadline):
    # The size of a unit changes from round to round, the same for both
    # functions, so that rounds do not keep in step with the samples.
    rnd = random.Random(1)
    while deadline is None or time.time() < deadline:
        size = rnd.randrange(UNIT // 2, 2 * UNIT)
        heavy_a(7, size)
        light_b(3, size)


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


def mixed_loop():
    while True:
        list(map(lambda v: Shape().area(50), range(20)))
        recurse(6)
        pyünï.café_ünïcode(spin, 20)
        pyünï.函数_𠀀(spin, 5000)


def pack(data):
    return zlib.compress(data, 9)


def zlib_loop():
    data = os.urandom(1 << 16) + bytes(1 << 16)
    while True:
        pack(data)


def sleeper():
    while True:
        time.sleep(3600)


def short_lived(units):
    for _ in range(units):
        spin(UNIT)


def spawner():
    """Threads that are born and end while the process is sampled: each
    runs a few units of Python work and returns."""
    while True:
        t = threading.Thread(target=short_lived, args=(3,), name="short", daemon=True)
        t.start()
        t.join()
        time.sleep(0.005)


def frame_entries(f):
    out = []
    while f is not None:
        co = f.f_code
        name = getattr(co, "co_qualname", co.co_name)
        out.append([co.co_filename, f.f_lineno, name, co.co_firstlineno])
        f = f.f_back
    return out


def write_dump(signum=None, frame=None):
    path = os.environ.get("PYWORK_DUMP")
    if not path:
        return
    frames = sys._current_frames()
    me = threading.current_thread()
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for t in threading.enumerate():
            fr = frames.get(t.ident)
            if fr is None or (t is me and signum is None):
                continue
            entries = frame_entries(fr)
            if t is me:
                # The handler's own frame is not where the thread was.
                entries = entries[1:]
            f.write(json.dumps({"native_id": t.native_id, "name": t.name,
                                "frames": entries}, ensure_ascii=False) + "\n")
    os.rename(path + ".tmp", path)


PARKED = threading.Semaphore(0)


def park(_=0):
    PARKED.release()
    time.sleep(36000)
    return 0


class Parker:
    def method(self, depth):
        if depth:
            return self.method(depth - 1)
        return park()


def park_gen():
    yield park()


def park_threads():
    """Every thread blocks in park(); returns how many were started."""
    ways = [
        ("map", lambda: list(map(lambda v: Parker().method(3), [1]))),
        ("sorted", lambda: sorted([1, 2], key=park)),
        ("gen", lambda: sum(park_gen())),
        ("unicode", lambda: pyünï.函数_𠀀(lambda n: recurse_park(n), 4)),
    ]
    for name, fn in ways:
        threading.Thread(target=fn, name=name, daemon=True).start()
    return len(ways)


def recurse_park(depth):
    if depth == 0:
        return park()
    return recurse_park(depth - 1)


def park_main():
    n = park_threads()

    def dumper():
        for _ in range(n + 1):
            PARKED.acquire()
        # Each thread is in time.sleep by now or within microseconds.
        time.sleep(0.2)
        write_dump()
        print("ready", flush=True)

    threading.Thread(target=dumper, name="dumper", daemon=True).start()
    Parker().method(2)


def main():
    if sys.argv[1:2] == ["park"]:
        park_main()
        return
    alone = sys.argv[1:2] == ["split"]
    if alone:
        del sys.argv[1]
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else None
    signal.signal(signal.SIGUSR1, write_dump)
    for fn, name in ((mixed_loop, "mixed"), (zlib_loop, "zlib"), (sleeper, "sleeper"),
                     (spawner, "spawner")):
        if not alone:
            threading.Thread(target=fn, name=name, daemon=True).start()
    print("ready", flush=True)
    main_loop(None if secs is None else time.time() + secs)


if __name__ == "__main__":
    main()
