"""A Flask application for the per-endpoint tests (--split), with views of
known cost that count themselves: each view adds its requests and the CPU
time its own thread spent inside it (time.thread_time), and /sleep the wall
time of its sleeps, to a table that /stats returns and /reset clears, so a
test knows the truth to compare endpoint shares with.

  /cpu       a pure-Python loop (burn)
  /compress  zlib.compress of a fixed buffer (native code under pack())
  /sleep     time.sleep(SLEEP_S)
  /hello     returns at once
  /odd       a little work in a view whose code is named "cart/add ü*?"

Run it under gunicorn: gunicorn -w 1 -b 127.0.0.1:PORT --chdir DIR splitshop:app
"""

import json
import time
import zlib

from flask import Flask

app = Flask(__name__)

CPU_STEPS = 100000
SLEEP_S = 0.02
PAYLOAD = bytes((i * 7 + (i >> 5)) & 0xFF for i in range(512 * 1024))
ODD_NAME = "cart/add \u00fc*?"

stats = {}


def note(view, t0, w0=None):
    """Counts a request of view: its CPU since t0 (time.thread_time), and
    the wall time since w0 (time.monotonic), if given."""
    n, cpu, wall = stats.get(view, (0, 0.0, 0.0))
    stats[view] = (n + 1, cpu + time.thread_time() - t0,
                   wall + (time.monotonic() - w0 if w0 is not None else 0.0))


def burn(steps):
    total = 0
    for i in range(steps):
        total += i * i % 7
    return total


def pack(data):
    return zlib.compress(data, 6)


@app.route("/cpu")
def cpu_view():
    t0 = time.thread_time()
    r = str(burn(CPU_STEPS))
    note("cpu_view", t0)
    return r


@app.route("/compress")
def compress_view():
    t0 = time.thread_time()
    r = str(len(pack(PAYLOAD)))
    note("compress_view", t0)
    return r


@app.route("/sleep")
def sleep_view():
    t0, w0 = time.thread_time(), time.monotonic()
    time.sleep(SLEEP_S)
    note("sleep_view", t0, w0)
    return "slept"


@app.route("/hello")
def hello_view():
    t0 = time.thread_time()
    note("hello_view", t0)
    return "hello"


def odd_view():
    t0 = time.thread_time()
    r = str(sum(i % 3 for i in range(3000)))
    note(ODD_NAME, t0)
    return r


# A name no Python source can spell, as the interpreter reports it.
odd_view.__code__ = odd_view.__code__.replace(co_name=ODD_NAME, **(
    {"co_qualname": ODD_NAME} if hasattr(odd_view.__code__, "co_qualname") else {}))
app.add_url_rule("/odd", "odd", odd_view)


@app.route("/stats")
def stats_view():
    return json.dumps(stats)


@app.route("/reset")
def reset_view():
    stats.clear()
    return "reset"
