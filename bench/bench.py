#!/usr/bin/env python3
"""bench.py: measures what profiling costs the profiled program.

Runs bench/build/workload under each profiler configuration (none, the bare
ptrace round trip, sprofd in its modes, perf), interleaved over rounds, and
prints one table per scenario with medians over the rounds and ratios
against the baselines measured in the same run. See bench/README. It prints
figures only: nothing here passes or fails on timing.
"""

import argparse
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.join(HERE, "build")
WORKLOAD = os.path.join(BUILD, "workload")
PTRACE_RT = os.path.join(BUILD, "ptrace_rt")
RUSAGE = os.path.join(BUILD, "rusage")
SPROFD = os.path.join(ROOT, "sprofd")
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

# Busy and idle thread counts of each scenario, and which configurations
# run there: the idle one is about per-tick cost with many sleeping threads,
# where only CPU-mode sampling makes sense, so wall-style rows stay at 100 Hz.
SCENARIOS = {
    "busy1": dict(busy=1, idle=0, title="1 busy thread"),
    "busy8": dict(busy=8, idle=0, title="8 busy threads on %d CPUs" % NCPU),
    "idle": dict(busy=2, idle=2000, title="2 busy + %d idle threads"),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def configs_for(scen, hzs):
    """The configurations of a scenario, the no-profiler baseline first."""
    idle = SCENARIOS[scen]["idle"] > 0
    low = min(hzs)
    out = [dict(kind="none", hz=0, label="no profiler")]
    # Interrupting thousands of sleeping threads at 1000 Hz cannot keep up
    # and only burns the run, so with idle threads the rows that stop every
    # thread stay at the lowest rate; the busy-only round trip is the floor
    # for a sampler that stops only the threads on a CPU.
    for hz in hzs:
        if not idle or hz == low:
            out.append(dict(kind="rt", hz=hz, label="ptrace rt %d" % hz))
    if idle:
        for hz in hzs:
            out.append(dict(kind="rt", hz=hz, busy_only=True,
                            label="ptrace rt busy-only %d" % hz))
    for mode in ("cpu", "wall"):
        for hz in hzs:
            if mode == "cpu" or not idle or hz == low:
                out.append(dict(kind="sprofd", hz=hz, mode=mode,
                                label="sprofd %s %d" % (mode, hz)))
    # sprofd top: the same sampling plus a snapshot of the profile every
    # second (its text mode, a table a second).
    for hz in hzs:
        out.append(dict(kind="sprofd", hz=hz, mode="cpu", top=True,
                        label="sprofd top cpu %d" % hz))
    mode = "cpu" if idle else "wall"
    for hz in hzs:
        if not idle or hz == low:
            out.append(dict(kind="sprofd", hz=hz, mode=mode, unwind="ptrace",
                            label="sprofd %s ptrace-unwind %d" % (mode, hz)))
    for hz in hzs:
        out.append(dict(kind="perf", hz=hz, label="perf dwarf %d" % hz))
    return out


class Lines:
    """Collects the lines of a pipe on a thread, so reads can time out."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        self.all = []
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for line in pipe:
            line = line.rstrip("\n")
            self.all.append(line)
            self.q.put(line)
        self.q.put(None)

    def wait_for(self, pattern, timeout):
        """The first new line matching pattern, or None at EOF or timeout."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            if re.search(pattern, line):
                return line

    def text(self, join_timeout=5):
        self.t.join(join_timeout)
        return "\n".join(self.all)


def proc_cpu(pid):
    """utime + stime of a whole process in seconds, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def keyvals(line):
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def sprofd_stats(text):
    """The -v statistics of sprofd, parsed loosely (they may grow)."""
    lines = [l for l in text.splitlines()
             if re.search(r"\bticks\b|\bpause\b|\bunwind\b", l)]
    s = " ; ".join(lines)
    out = {"raw": s}
    pats = {
        "ticks": r"(\d+) ticks", "missed": r"\((\d+) missed\)",
        "samples": r"(\d+) samples", "lost": r"(\d+) lost",
        "truncated": r"(\d+) truncated", "interrupts": r"(\d+) interrupts",
        "pause_mid_us": r"pause (?:mean|median) ([\d.]+) us",
        "pause_p99_us": r"pause[^;]*?p99 ([\d.]+) us",
        "pause_max_us": r"pause[^;]*?max ([\d.]+) us",
        "unwind_us": r"unwind (?:mean|median) ([\d.]+) us",
        "unwind_p99_us": r"unwind[^;]*?p99 ([\d.]+) us",
        "tick_us": r"\btick(?: cost)?(?: mean)? ([\d.]+) us",
        "stack_bytes": r"stack copied ([\d.]+) bytes",
    }
    for k, p in pats.items():
        m = re.search(p, s)
        if m:
            out[k] = float(m.group(1))
    return out


class Bench:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="sprofd-bench.")
        self.notes = []
        self.sprofd_help = ""
        if os.access(SPROFD, os.X_OK):
            r = subprocess.run([SPROFD, "--help"], capture_output=True, text=True)
            self.sprofd_help = r.stdout + r.stderr
        self.perf = shutil.which("perf")

    def has(self, opt):
        return opt in self.sprofd_help

    def skip_reason(self, c):
        """Why a configuration cannot run with the tools at hand, or None."""
        if c["kind"] == "sprofd":
            if not self.sprofd_help:
                return "no ./sprofd (run make)"
            if not self.has("--mode") and c["mode"] == "cpu":
                return "sprofd has no --mode (cpu)"
            if c.get("unwind") and not self.has("--unwind"):
                return "sprofd has no --unwind"
            if c.get("top") and not self.has("sprofd top"):
                return "sprofd has no top"
        if c["kind"] == "perf" and not self.perf:
            return "perf not installed"
        return None

    def profiler_cmd(self, c, pid, tids, dur):
        """The command line of a configuration's profiler, or None."""
        hz = str(c["hz"])
        if c["kind"] == "rt":
            # At real-time priority, as sprofd's tracing thread runs.
            cmd = [PTRACE_RT, "-r", "-p", str(pid), "-F", hz, "-d", "%.2f" % dur]
            return cmd + (["-t", tids] if c.get("busy_only") else [])
        if c["kind"] == "sprofd" and c.get("top"):
            return [SPROFD, "top", "-p", str(pid), "-F", hz, "-d", "%.2f" % dur, "-n", "5",
                    "--mode", c["mode"]]
        if c["kind"] == "sprofd":
            cmd = [SPROFD, "-p", str(pid), "-F", hz, "-d", "%.2f" % dur,
                   "-o", os.path.join(self.tmp, "sprofd.prof"), "-v"]
            # -q would hide the -v statistics; -n 0 drops the table only.
            cmd += ["-n", "0"] if self.has("--rows") else ["-q"]
            if self.has("--mode"):
                cmd += ["--mode", c["mode"]]
            if c.get("unwind"):
                cmd += ["--unwind", c["unwind"]]
            return cmd
        if c["kind"] == "perf":
            return [self.perf, "record", "-F", hz, "--call-graph", "dwarf", "-p", str(pid),
                    "-o", os.path.join(self.tmp, "perf.data")]
        return None

    def wait_attached(self, c, ppid, out, nthreads):
        """Waits until the profiler samples; False if it never said so."""
        limit = 30 + nthreads / 50.0
        if c["kind"] == "rt":
            return out.wait_for(r"^attached", limit) is not None
        if c["kind"] == "sprofd":
            return out.wait_for(r"sampling PID", limit) is not None
        # perf prints nothing when attached, but holds an event descriptor
        # per thread once it is.
        end = time.monotonic() + limit
        while time.monotonic() < end:
            try:
                if len(os.listdir("/proc/%d/fd" % ppid)) >= nthreads:
                    time.sleep(0.1)	# and its ring buffers mapped
                    return True
            except OSError:
                return False	# it is gone
            time.sleep(0.02)
        return False

    def run_one(self, scen, c):
        """One measured run of one configuration: a dict of figures."""
        sc = SCENARIOS[scen]
        busy, idle = sc["busy"], self.a.idle if sc["idle"] else 0
        nthreads = busy + idle + 1
        D = self.a.seconds
        settle = 0.2        # after attach, before the window opens
        # The profiler is stopped with SIGINT when the window closes, as at
        # Ctrl-C; its -d is only a safety net.
        dur = settle + D + 30
        res = {}
        w = subprocess.Popen([WORKLOAD, "--busy", str(busy), "--idle", str(idle), "--control"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        wout = Lines(w.stdout)
        prof = None
        try:
            ready = wout.wait_for(r"^ready", 60)
            if not ready:
                raise RuntimeError("workload did not start")
            m = re.search(r"busy_tids=(\S+)", ready)
            cmd = self.profiler_cmd(c, w.pid, m.group(1) if m else "", dur)
            if cmd:
                t_start = time.monotonic()
                # Through rusage, for a peak RSS of the profiler's own.
                prof = subprocess.Popen([RUSAGE] + cmd, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                pout = Lines(prof.stdout)
                m = pout.wait_for(r"^rusage child=\d+", 10)
                if not m:
                    raise RuntimeError("%s did not start" % cmd[0])
                ppid = int(m.split("=")[1])
                if not self.wait_attached(c, ppid, pout, nthreads if not c.get("busy_only")
                                          else busy):
                    res["note"] = "no sign of attaching"
                res["attach_s"] = time.monotonic() - t_start
                tcpu0, t_start = proc_cpu(w.pid), time.monotonic()
            time.sleep(settle)
            w.stdin.write("mark\n")
            wout.wait_for(r"^marked", 10)
            t0 = time.monotonic()
            pc0 = proc_cpu(ppid) if prof else None
            wc0 = proc_cpu(w.pid)
            time.sleep(D)
            pc1 = proc_cpu(ppid) if prof else None
            wc1 = proc_cpu(w.pid)
            t1 = time.monotonic()
            w.stdin.write("report\n")
            summary = wout.wait_for(r"^summary", 30)
            if not summary:
                raise RuntimeError("workload gave no summary")
            res.update(keyvals(summary))
            if wc0 is not None and wc1 is not None and wc1 > wc0:
                # Work per CPU-second the target got: blind to stops and to
                # other load on the machine, not to what a stop costs inside.
                res["units_per_cpu_s"] = res["units"] / (wc1 - wc0)
                res["target_cpu_pct"] = 100.0 * (wc1 - wc0) / (t1 - t0)
            if prof:
                if pc0 is not None and pc1 is not None:
                    res["prof_cpu_pct"] = 100.0 * (pc1 - pc0) / (t1 - t0)
                if pc1 is None:
                    res["note"] = "%s ended before the window closed" % c["kind"]
                tcpu1, t_stop = proc_cpu(w.pid), time.monotonic()
                prof.send_signal(signal.SIGINT)
                try:
                    prof.wait(60 + nthreads / 20.0)
                except subprocess.TimeoutExpired:
                    res["note"] = "%s did not end: killed" % c["kind"]
                    for pid in (ppid, prof.pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
                    prof.wait()
                text = pout.text()
                m = re.search(r"^rusage pid=.*", text, re.M)
                ru = keyvals(m.group(0)) if m else {}
                code = os.waitstatus_to_exitcode(int(ru["status"])) if "status" in ru else -1
                if "maxrss_kb" in ru:
                    res["prof_cpu_total_s"] = ru["utime_s"] + ru["stime_s"]
                    res["prof_rss_mb"] = ru["maxrss_kb"] / 1024.0
                # perf record ends with the SIGINT it is sent.
                if code != 0 and not (c["kind"] == "perf" and code == -signal.SIGINT) \
                        and not res.get("note"):
                    last = [l for l in text.splitlines() if l and not l.startswith("rusage ")][-1:]
                    res["note"] = "%s exited %d: %s" % (c["kind"], code, last[0] if last else "")
                target_cpu = (tcpu1 - tcpu0) if tcpu0 is not None and tcpu1 is not None \
                    else 0
                self.profiler_figures(c, res, text, busy if c.get("busy_only") else nthreads,
                                      t_stop - t_start, target_cpu)
            w.stdin.write("quit\n")
            w.stdin.flush()
        finally:
            for p in (prof, w):
                if p and p.poll() is None:
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
            for f in ("sprofd.prof", "perf.data", "perf.data.old"):
                try:
                    os.unlink(os.path.join(self.tmp, f))
                except OSError:
                    pass
        return res

    def profiler_figures(self, c, res, text, nthreads, dur, target_cpu_s):
        """Samples achieved against samples asked for, and profiler statistics."""
        hz = c["hz"]
        samples = None
        per_cpu = False
        if c["kind"] == "rt":
            m = re.search(r"^ptrace_rt .*", text, re.M)
            if m:
                kv = keyvals(m.group(0))
                samples = kv.get("samples")
                res["tick_us"] = kv.get("tick_mean_us")
                res["missed"] = kv.get("missed")
                res["raw"] = m.group(0)
        elif c["kind"] == "sprofd" and c.get("top"):
            # No -v statistics, and its last table comes up to a second
            # before the end: no rate; its tables' headers as the raw line.
            res["raw"] = " | ".join(re.findall(r"^PID .*$", text, re.M)[-1:])
        elif c["kind"] == "sprofd":
            st = sprofd_stats(text)
            samples = st.get("samples")
            per_cpu = c["mode"] == "cpu" and self.has("--mode")
            for k in ("tick_us", "missed", "pause_mid_us", "pause_p99_us", "unwind_us",
                      "lost", "truncated"):
                if k in st:
                    res[k] = st[k]
            res["raw"] = st["raw"]
        elif c["kind"] == "perf":
            m = re.search(r"\((\d+) samples\)", text)
            samples = float(m.group(1)) if m else None
            per_cpu = True
            res["raw"] = " ".join(l.strip() for l in text.splitlines() if "perf record:" in l
                                  or "lost" in l.lower())
            lost = re.search(r"lost ([\d.]+)(%| chunks)", text)
            if lost:
                res["perf_lost"] = lost.group(1) + lost.group(2)
        if samples is None:
            return
        res["samples"] = samples
        if per_cpu:
            # Samples per CPU-second of the target: the rate a CPU-time sampler asks for.
            if target_cpu_s > 0:
                res["rate_hz"] = samples / target_cpu_s
        else:
            res["rate_hz"] = samples / (nthreads * dur)
        if "rate_hz" in res:
            res["rate_pct"] = 100.0 * res["rate_hz"] / hz

    def run(self):
        hzs = self.a.hz
        total_runs = 0
        plan = []
        for scen in self.a.scenarios:
            cfgs = []
            for c in configs_for(scen, hzs):
                if self.a.only and c["kind"] != "none" and \
                        not any(o in c["label"] for o in self.a.only):
                    continue
                why = self.skip_reason(c)
                if why:
                    self.notes.append((scen, "%s: skipped (%s)" % (c["label"], why)))
                    continue
                cfgs.append(c)
            plan.append((scen, cfgs))
            total_runs += len(cfgs) * self.a.rounds
        est = total_runs * (self.a.seconds + 1.2) + \
            sum(len(c) * self.a.rounds * 1.5 for s2, c in plan if SCENARIOS[s2]["idle"])
        started = time.monotonic()
        log("bench: %d runs of %.1f s (about %.0f min); %d CPUs, load %s" %
            (total_runs, self.a.seconds, est / 60, NCPU, open("/proc/loadavg").read().split()[0]))
        for scen, n in self.notes:
            log("bench: %s: %s" % (scen, n))
        for scen, cfgs in plan:
            results = {c["label"]: [] for c in cfgs}
            for r in range(self.a.rounds):
                # Rotate the order so no configuration always runs first.
                k = r % len(cfgs)
                for c in cfgs[k:] + cfgs[:k]:
                    try:
                        res = self.run_one(scen, c)
                    except (RuntimeError, OSError) as e:
                        res = {"note": str(e)}
                    res["round"] = r
                    results[c["label"]].append(res)
                    if self.a.verbose:
                        log("  [%s r%d] %s: %s" % (scen, r, c["label"], {
                            k2: v for k2, v in res.items() if k2 != "raw"}))
                    else:
                        print(".", end="", file=sys.stderr, flush=True)
            if not self.a.verbose:
                print(file=sys.stderr)
            self.table(scen, cfgs, results)
        shutil.rmtree(self.tmp, ignore_errors=True)
        log("bench: done in %.0f s" % (time.monotonic() - started))

    def table(self, scen, cfgs, results):
        sc = SCENARIOS[scen]
        title = sc["title"] % self.a.idle if sc["idle"] else sc["title"]
        print()
        print("== %s: %.1f s windows, %d rounds, medians ==" % (title, self.a.seconds,
                                                               self.a.rounds))
        hdr = ("%-30s %9s %6s %6s %6s %7s %8s %8s %6s %6s %8s %7s %5s %6s %6s %6s" %
               ("configuration", "units/s", "xnone", "xncpu", "stop%", "stops/s", "pause50", "pause99",
                "x50rt", "x99rt", "allp99", "rate", "%req", "cpu%", "rssMB", "EINTR"))
        print(hdr)
        print("-" * len(hdr))
        base = results[cfgs[0]["label"]]

        def med(runs, key):
            v = [r[key] for r in runs if isinstance(r.get(key), float)]
            return statistics.median(v) if v else None

        def ratio(runs, others, key):
            # Per round, against the baseline of the same round.
            by_round = {o["round"]: o.get(key) for o in others}
            v = [r[key] / by_round[r["round"]] for r in runs
                 if isinstance(r.get(key), float) and by_round.get(r["round"])]
            return statistics.median(v) if v else None

        def f(v, fmt):
            return fmt % v if v is not None else "-"

        details = []
        for c in cfgs:
            runs = results[c["label"]]
            # The floor: the busy-only round trip where there is one.
            rt = results.get("ptrace rt busy-only %d" % c["hz"]) or \
                results.get("ptrace rt %d" % c["hz"])
            stops = med(runs, "stop_gaps_per_thread_s")
            has_stops = stops is not None and stops > 0
            units = med(runs, "units_per_s")
            print("%-30s %9s %6s %6s %6s %7s %8s %8s %6s %6s %8s %7s %5s %6s %6s %6s" % (
                c["label"][:30],
                f(units, "%.0f"),
                f(ratio(runs, base, "units_per_s"), "%.3f"),
                f(ratio(runs, base, "units_per_cpu_s"), "%.3f"),
                f(med(runs, "stop_time_pct"), "%.1f"),
                f(stops, "%.1f"),
                f(med(runs, "stop_p50_us") if has_stops else None, "%.1f"),
                f(med(runs, "stop_p99_us") if has_stops else None, "%.1f"),
                f(ratio(runs, rt, "stop_p50_us") if rt and has_stops else None, "%.2f"),
                f(ratio(runs, rt, "stop_p99_us") if rt and has_stops else None, "%.2f"),
                f(med(runs, "p99_us"), "%.1f"),
                f(med(runs, "rate_hz"), "%.1f"),
                f(med(runs, "rate_pct"), "%.0f"),
                f(med(runs, "prof_cpu_pct"), "%.1f"),
                f(med(runs, "prof_rss_mb"), "%.1f"),
                f(med(runs, "eintr"), "%.0f") if SCENARIOS[scen]["idle"] else "-"))
            extra = []
            rs = [r["units_per_s"] / b["units_per_s"] for r in runs for b in base
                  if r.get("units_per_s") and b.get("units_per_s") and b["round"] == r["round"]]
            if len(rs) > 1 and c["kind"] != "none":
                extra.append("xnone %.2f-%.2f" % (min(rs), max(rs)))
            v = med(runs, "target_cpu_pct")
            if v is not None:
                extra.append("target cpu%% %.0f" % v)
            for k, name in (("tick_us", "tick us"), ("pause_mid_us", "own pause50 us"),
                            ("pause_p99_us", "own pause99 us"), ("unwind_us", "unwind us"),
                            ("missed", "missed ticks"), ("lost", "lost"),
                            ("preempt_gaps_per_thread_s", "preempt/s"),
                            ("other_gaps_per_thread_s", "other/s"), ("other_p99_us", "other p99"),
                            ("attach_s", "attach s"), ("prof_cpu_total_s", "cpu total s")):
                v = med(runs, k)
                if v is not None:
                    extra.append("%s %.1f" % (name, v) if v < 1e5 else "%s %.0f" % (name, v))
            lost = [r["perf_lost"] for r in runs if r.get("perf_lost")]
            if lost:
                extra.append("perf lost " + "/".join(lost))
            notes = sorted({r["note"] for r in runs if r.get("note")})
            raw = [r["raw"] for r in runs if r.get("raw")]
            details.append("  %s: %s%s%s" % (
                c["label"], ", ".join(extra),
                ("\n      last: " + raw[-1]) if raw and self.a.raw else "",
                ("\n      NOTE: " + "; ".join(notes)) if notes else ""))
        print("details (medians):")
        for d in details:
            print(d)
        for s2, n in self.notes:
            if s2 == scen:
                print("  " + n)
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(
        description="Measure the cost of sampling profilers on bench/build/workload.")
    ap.add_argument("--quick", action="store_true",
                    help="short windows and 2 rounds (about 2.5 minutes)")
    ap.add_argument("--scenarios", default="busy1,busy8,idle",
                    help="comma list of busy1, busy8, idle (default: all)")
    ap.add_argument("--only", default="",
                    help="comma list of label substrings to keep, e.g. 'sprofd cpu,perf'")
    ap.add_argument("--rounds", type=int, help="rounds per configuration (3; quick 2)")
    ap.add_argument("--seconds", type=float, help="measured window per run (4; quick 1.2)")
    ap.add_argument("--hz", default="100,1000", help="sampling rates (default 100,1000)")
    ap.add_argument("--idle", type=int, default=2000, help="idle threads of the idle scenario")
    ap.add_argument("--raw", action="store_true", help="print each profiler's raw statistics")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run")
    a = ap.parse_args()
    a.rounds = a.rounds or (2 if a.quick else 3)
    a.seconds = a.seconds or (1.2 if a.quick else 4.0)
    a.hz = [int(x) for x in a.hz.split(",") if x]
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    a.only = [s for s in a.only.split(",") if s]
    for s in a.scenarios:
        if s not in SCENARIOS:
            ap.error("unknown scenario %s" % s)
    for p in (WORKLOAD, PTRACE_RT, RUSAGE):
        if not os.access(p, os.X_OK):
            ap.error("%s is missing: run bench/run, which builds it" % p)
    Bench(a).run()


if __name__ == "__main__":
    main()
