#!/usr/bin/env python3
"""bench/tree.py: what a process tree costs sprofd, side by side in one run.

tick: sprofd's tick cost (-v "tick N us") for P processes of T threads
against one process of P*T threads, same rate and mode, rounds interleaved
(the order alternating), in cpu and wall mode. Each process is
bench/build/workload with --busy B --idle T-B; the single process has the
same busy and idle threads in all. The ratio is taken per round, then the
median.

mem: sprofd -C on tests/targets/prefork with 1, 4 and 16 workers: its
peak RSS, its CPU while sampling and its CPU after SIGINT (detach,
symbolization, writing the profile), medians over the rounds.

Prints figures; never passes or fails. Run as root, after make and
make targets (it builds bench/build/ itself).
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
SPROFD = os.path.join(TOP, "sprofd")
WORKLOAD = os.path.join(HERE, "build", "workload")
RUSAGE = os.path.join(HERE, "build", "rusage")
PREFORK = os.path.join(TOP, "tests", "targets", "prefork")
CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime of a process, in seconds (None once it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, IndexError, ValueError):
        return None


def nthreads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def wait_threads(pids, want, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if all(nthreads(p) >= want for p in pids):
            return True
        time.sleep(0.05)
    return False


def run_sprofd(args, seconds, tmp):
    """Runs sprofd -v through rusage for seconds, stops it with SIGINT;
    returns (stderr text, cpu while sampling, rusage dict)."""
    out = os.path.join(tmp, "p.prof")
    cmd = [RUSAGE, SPROFD, "-v", "-n", "0", "-o", out] + args
    errf = open(os.path.join(tmp, "err"), "w+")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf)
    child = None
    end = time.time() + 15
    sampling = False
    while time.time() < end and p.poll() is None:
        errf.flush()
        with open(errf.name) as f:
            text = f.read()
        m = re.search(r"rusage child=(\d+)", text)
        if m:
            child = int(m.group(1))
        if child and re.search(r"^sprofd: sampling ", text, re.M):
            sampling = True
            break
        time.sleep(0.05)
    if not sampling:
        p.kill()
        p.wait()
        with open(errf.name) as f:
            sys.exit("tree: sprofd did not start sampling:\n" + f.read())
    c0 = proc_cpu(child)
    time.sleep(seconds)
    c1 = proc_cpu(child)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=120)
    with open(errf.name) as f:
        text = f.read()
    errf.close()
    ru = {}
    m = re.search(r"^rusage pid=.*", text, re.M)
    if m:
        for kv in m.group(0).split()[1:]:
            k, v = kv.split("=", 1)
            ru[k] = float(v)
    return text, (c1 - c0) if c0 is not None and c1 is not None else None, c1, ru


def tick_us(text):
    m = re.search(r"\btick ([\d.]+) us", text)
    return float(m.group(1)) if m else None


def start_workloads(n, busy, idle):
    procs = [subprocess.Popen([WORKLOAD, "--busy", str(busy), "--idle", str(idle)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(n)]
    if not wait_threads([p.pid for p in procs], 1 + busy + idle):
        sys.exit("tree: workload threads did not start")
    return procs


def stop_all(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def bench_tick(a, tmp):
    P, T, B = a.procs, a.threads, a.busy
    cfgs = [("%dx%d" % (P, T), P, B, T - B), ("1x%d" % (P * T), 1, P * B, P * (T - B))]
    print("tick: %d processes x %d threads (%d busy each) vs 1 process x %d threads, "
          "%d Hz, %.0f s, %d rounds" % (P, T, B, P * T, a.hz, a.seconds, a.rounds))
    print("%-6s %-8s %10s %10s %10s %8s %8s" % ("mode", "config", "us/tick", "ticks",
                                                 "samples", "cpu%", "ratio"))
    for mode in a.modes:
        res = {c[0]: [] for c in cfgs}
        for r in range(a.rounds):
            order = cfgs if r % 2 == 0 else cfgs[::-1]
            for name, n, busy, idle in order:
                procs = start_workloads(n, busy, idle)
                try:
                    pids = ",".join(str(p.pid) for p in procs)
                    text, cpu, _, _ = run_sprofd(["-p", pids, "-F", str(a.hz), "-m", mode],
                                                 a.seconds, tmp)
                finally:
                    stop_all(procs)
                m = re.search(r"(\d+) ticks .*?(\d+) samples", text)
                res[name].append({"tick": tick_us(text),
                                  "ticks": int(m.group(1)) if m else 0,
                                  "samples": int(m.group(2)) if m else 0,
                                  "cpu": 100 * cpu / a.seconds if cpu is not None else None})
                if a.verbose:
                    print("  round %d %s %s: tick %s us" % (r, mode, name, res[name][-1]["tick"]))
        ratios = [x["tick"] / y["tick"] for x, y in zip(res[cfgs[0][0]], res[cfgs[1][0]])
                  if x["tick"] and y["tick"]]
        for name, *_ in cfgs:
            rows = res[name]

            def med(k):
                v = [x[k] for x in rows if x[k] is not None]
                return statistics.median(v) if v else float("nan")
            ratio = ("%.2f" % statistics.median(ratios)) if name == cfgs[0][0] and ratios else ""
            print("%-6s %-8s %10.1f %10.0f %10.0f %8.1f %8s" % (mode, name, med("tick"),
                                                                 med("ticks"), med("samples"),
                                                                 med("cpu"), ratio))
        if ratios:
            print("%-6s per-round ratios: %s" % (mode, " ".join("%.2f" % x for x in ratios)))


def bench_mem(a, tmp):
    print()
    print("mem: sprofd -C on prefork with N workers, %d Hz, %.0f s, %d rounds (medians)"
          % (a.hz, a.seconds, a.rounds))
    print("%-8s %8s %10s %10s %10s" % ("workers", "rssMB", "samplecpu", "aftercpu", "totalcpu"))
    res = {n: [] for n in a.workers}
    for r in range(a.rounds):
        order = a.workers if r % 2 == 0 else a.workers[::-1]
        for n in order:
            d = tempfile.mkdtemp(dir=tmp)
            master = subprocess.Popen([PREFORK, d, str(n)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                end = time.time() + 10
                while time.time() < end:
                    try:
                        with open(os.path.join(d, "pids")) as f:
                            if len(f.read().split()) >= n:
                                break
                    except OSError:
                        pass
                    time.sleep(0.05)
                text, cpu, cend, ru = run_sprofd(["-p", str(master.pid), "-C", "-F", str(a.hz)],
                                                 a.seconds, tmp)
            finally:
                open(os.path.join(d, "stop"), "w").close()
                try:
                    master.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    master.kill()
                    master.wait()
            total = ru.get("utime_s", 0) + ru.get("stime_s", 0)
            res[n].append({"rss": ru.get("maxrss_kb", float("nan")) / 1024,
                           "sample": cpu, "after": total - cend if cend is not None else None,
                           "total": total})
            if a.verbose:
                print("  round %d workers %d: %s" % (r, n, res[n][-1]))
    for n in a.workers:
        def med(k):
            v = [x[k] for x in res[n] if x[k] is not None]
            return statistics.median(v) if v else float("nan")
        print("%-8d %8.1f %10.2f %10.2f %10.2f" % (n, med("rss"), med("sample"), med("after"),
                                                   med("total")))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["tick", "mem"], help="one part only")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="sampling window per run")
    ap.add_argument("--hz", type=int, default=100)
    ap.add_argument("--procs", type=int, default=16, help="processes (tick)")
    ap.add_argument("--threads", type=int, default=4, help="threads per process (tick)")
    ap.add_argument("--busy", type=int, default=1, help="busy threads per process (tick)")
    ap.add_argument("--modes", default="cpu,wall")
    ap.add_argument("--workers", default="1,4,16", help="prefork workers (mem)")
    ap.add_argument("-v", "--verbose", action="store_true", help="every run's figures")
    a = ap.parse_args()
    a.modes = a.modes.split(",")
    a.workers = [int(x) for x in a.workers.split(",")]
    if not 1 <= a.busy <= a.threads:
        ap.error("--busy must be between 1 and --threads")
    if os.geteuid() != 0:
        sys.exit("tree: run as root (ptrace)")
    for path, what in ((SPROFD, "make"), (PREFORK, "make targets")):
        if not os.access(path, os.X_OK):
            sys.exit("tree: %s is not built: run %s" % (path, what))
    subprocess.run(["make", "-s", "-C", HERE], check=True)
    tmp = tempfile.mkdtemp(prefix="sprofd-tree.")
    try:
        if a.only in (None, "tick"):
            bench_tick(a, tmp)
        if a.only in (None, "mem"):
            bench_mem(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
