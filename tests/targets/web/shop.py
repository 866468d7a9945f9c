"""A small Flask application with views of known cost, for the end-to-end
tests and the throughput benchmark. Each view's work is fixed by
construction so that its share of a profile can be checked:

  /cpu       a pure-Python loop (burn), the same number of steps each time
  /compress  zlib.compress of a fixed buffer (native code under pack())
  /sleep     time.sleep(SLEEP_S): waits, burns nothing
  /hello     returns at once

Run it under gunicorn: gunicorn -w 1 -b 127.0.0.1:PORT --chdir DIR shop:app
"""

import time
import zlib

from flask import Flask

app = Flask(__name__)

CPU_STEPS = 20000
SLEEP_S = 0.02
# Repetitive but not trivial, so deflate has work to do.
PAYLOAD = bytes((i * 7 + (i >> 5)) & 0xFF for i in range(256 * 1024))


def burn(steps):
    total = 0
    for i in range(steps):
        total += i * i % 7
    return total


def pack(data):
    return zlib.compress(data, 6)


@app.route("/cpu")
def cpu_view():
    return str(burn(CPU_STEPS))


@app.route("/compress")
def compress_view():
    return str(len(pack(PAYLOAD)))


@app.route("/sleep")
def sleep_view():
    time.sleep(SLEEP_S)
    return "slept"


@app.route("/hello")
def hello_view():
    return "hello"
