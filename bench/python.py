#!/usr/bin/env python3
"""What reading Python frames costs, measured side by side in one run.

pause: bench/pywork.py (one thread 30 Python frames deep) under each
interpreter found, sampled by ./sprofd with Python frames (the default) and
without (--no-python), rounds interleaved. Per configuration: sprofd's own
pause (reaped -> resumed, from -v) and the gaps the target saw, medians over
the rounds, and the ratio of the Python pause to the native-only one taken
per round, then the median.

flask: tests/targets/web/shop.py under gunicorn (one sync worker, Debian's
python3), loaded by wrk on loopback with its busy views (/cpu, /compress,
/hello; /sleep would make the worker's sleeps the bound): requests per
second with no profiler and with sprofd -F 100 on the worker, rounds
interleaved; the ratio per round, then the median.

--sprofd PATH (repeatable) measures other builds too, each round running
every build in turn, so that a change is seen against the build before it
under the same load: one row per build.

Prints figures; never passes or fails.

Usage: python3 bench/python.py [--rounds N] [--seconds S] [--hz HZ]
       [--only pause|flask] [--python PATH]... [--match LABEL]...
       [--sprofd PATH]..."""

import argparse
import glob
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SPROFD = os.environ.get("SPROFD", os.path.join(ROOT, "sprofd"))
WEB = os.path.join(ROOT, "tests", "targets", "web")
NO_PYTHON = "--no-python"


def pythons(extra):
    """(label, path) of the interpreters to measure."""
    found = [("debian", "/usr/bin/python3")] if os.access("/usr/bin/python3", os.X_OK) else []
    for p in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))):
        ver = p.split("/")[-3]
        if tuple(int(x) for x in ver.split(".")[:2]) >= (3, 8):
            found.append(("pyenv " + ver, p))
    return found + [(p, p) for p in extra]


def version(py):
    return subprocess.run([py, "-c", "import sys; print(sys.version.split()[0])"],
                          stdout=subprocess.PIPE, text=True).stdout.strip()


def keyvals(line):
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}


def own_pause(err):
    m = re.search(r"pause median ([\d.]+) us", err)
    return float(m.group(1)) if m else None


def pause_once(sprofd, py, args, seconds, hz):
    """One run: workload + sprofd; returns (own pause us, target gap50 us,
    samples) or None when sprofd failed."""
    w = subprocess.Popen([py, os.path.join(HERE, "pywork.py"), "1"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        if w.stdout.readline().strip() != "ready":
            return None
        time.sleep(0.3)
        s = subprocess.Popen([sprofd, "-v", "-p", str(w.pid), "-F", str(hz), "-d",
                              str(seconds + 1), "-o", "/dev/null", "-n", "0"] + args,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        w.stdin.write("mark\n")
        w.stdin.flush()
        time.sleep(seconds)
        w.stdin.write("report\n")
        w.stdin.flush()
        rep = keyvals(w.stdout.readline())
        _, err = s.communicate(timeout=60)
        return own_pause(err), rep.get("gap50_us"), err
    finally:
        w.kill()
        w.wait()


def bench_pause(opts):
    print("== pause: one thread 30 Python frames deep, %d Hz, %d s windows, %d rounds"
          % (opts.hz, opts.seconds, opts.rounds))
    print("%-16s %-8s %12s %12s %12s %12s %8s %8s" % (
        "interpreter", "version", "own py us", "own nat us", "gap py us", "gap nat us",
        "x own", "x gap"))
    builds = opts.sprofd or [SPROFD]
    for label, py in pythons(opts.python):
        if opts.match and not any(m in label for m in opts.match):
            continue
        runs = {b: {"py": [], "nat": []} for b in builds}
        for r in range(opts.rounds):
            for b in builds:
                order = [("py", []), ("nat", [NO_PYTHON])]
                if r % 2:
                    order.reverse()
                for name, args in order:
                    res = pause_once(b, py, args, opts.seconds, opts.hz)
                    if res and res[0] is not None:
                        runs[b][name].append(res)
                    elif res:
                        print("  %s %s: no pause figure; stderr: %s" % (label, name,
                                                                        res[2][-300:]))
        for b in builds:
            pause_row(label if len(builds) == 1 else "%s %s" % (label, b), py, runs[b])


def pause_row(label, py, runs):
    n = min(len(runs["py"]), len(runs["nat"]))
    if not n:
        print("%-16s no runs" % label)
        return
    med = lambda k, i: statistics.median(x[i] for x in runs[k] if x[i] is not None)
    xown = statistics.median(runs["py"][i][0] / runs["nat"][i][0] for i in range(n))
    xgap = statistics.median(runs["py"][i][1] / runs["nat"][i][1] for i in range(n)
                             if runs["py"][i][1] and runs["nat"][i][1]) \
        if any(runs["py"][i][1] and runs["nat"][i][1] for i in range(n)) else 0
    print("%-16s %-8s %12.1f %12.1f %12.1f %12.1f %8.2f %8.2f" % (
        label, version(py), med("py", 0), med("nat", 0), med("py", 1), med("nat", 1),
        xown, xgap))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(port, seconds):
    out = subprocess.run(["wrk", "-t", "1", "-c", "4", "-d", "%ds" % seconds, "-s",
                          os.path.join(WEB, "mix.lua"), "http://127.0.0.1:%d/" % port,
                          "--", "/cpu", "/compress", "/hello"],
                         stdout=subprocess.PIPE, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else None


def bench_flask(opts):
    if not (shutil.which("gunicorn") and shutil.which("wrk")):
        print("== flask: skipped (needs gunicorn, python3-flask and wrk)")
        return
    print("== flask: gunicorn -w 1 (sync), wrk -t1 -c4 on /cpu, /compress, /hello, %d s windows, "
          "%d rounds, sprofd -F %d" % (opts.seconds, opts.rounds, opts.hz))
    port = free_port()
    g = subprocess.Popen(["gunicorn", "-w", "1", "-b", "127.0.0.1:%d" % port, "--chdir", WEB,
                          "shop:app"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        kids = open("/proc/%d/task/%d/children" % (g.pid, g.pid)).read().split()
        worker = int(kids[0])
        wrk(port, 1)  # warm up: imports, bytecode specialization
        builds = opts.sprofd or [SPROFD]
        rows = {"none": []}
        for b in builds:
            for m in ("cpu", "wall"):
                rows["sprofd %s" % m if len(builds) == 1 else "%s %s" % (b, m)] = []
        for r in range(opts.rounds):
            names = list(rows)
            names = names[r % len(names):] + names[:r % len(names)]
            for name in names:
                s = None
                if name != "none":
                    b = SPROFD if len(builds) == 1 else name.rsplit(" ", 1)[0]
                    s = subprocess.Popen([b, "-q", "-p", str(worker), "-F", str(opts.hz),
                                          "-m", name.rsplit(" ", 1)[1], "-o", "/dev/null",
                                          "-n", "0"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    time.sleep(0.5)
                rows[name].append(wrk(port, opts.seconds))
                if s:
                    s.send_signal(2)
                    s.communicate(timeout=60)
        base = rows["none"]
        print("%-14s %12s %8s %s" % ("configuration", "req/s", "x none", "per round"))
        for name, v in rows.items():
            ratios = [a / b for a, b in zip(v, base) if a and b]
            print("%-14s %12.0f %8.3f %s   (x none per round: %s)" % (
                name, statistics.median(v), statistics.median(ratios),
                " ".join("%.0f" % x for x in v), " ".join("%.3f" % x for x in ratios)))
    finally:
        g.terminate()
        g.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--hz", type=int, default=100)
    ap.add_argument("--only", choices=("pause", "flask"))
    ap.add_argument("--python", action="append", default=[],
                    help="another interpreter to measure (repeatable)")
    ap.add_argument("--match", action="append", default=[],
                    help="only the interpreters whose label holds this (repeatable), "
                    "e.g. debian, 3.12")
    ap.add_argument("--sprofd", action="append", default=[],
                    help="a build to measure, side by side with the others given "
                    "(repeatable; default ./sprofd or $SPROFD)")
    opts = ap.parse_args()
    for b in opts.sprofd or [SPROFD]:
        if not os.access(b, os.X_OK):
            sys.exit("bench: %s is not built: run make first" % b)
    if opts.only in (None, "pause"):
        bench_pause(opts)
    if opts.only in (None, "flask"):
        bench_flask(opts)


if __name__ == "__main__":
    main()
