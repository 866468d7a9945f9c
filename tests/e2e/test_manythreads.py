"""A process of 2,000 threads, nearly all asleep: sprofd seizes and sees
every thread, samples the ones its mode calls for, leaves the sleepers
undisturbed, and lets every thread go when it ends; the target goes on
working. Prints what attaching, sampling and detaching cost, measured from
outside: attach (start to the "sampling" line), the tracing thread's CPU
per tick, detach (SIGINT to no thread traced), exit, and RSS."""

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import unittest

from sprofdtest import (WRAP, SprofdTestCase, Run, parse_int, read_file, tasks, tracer_of,
                        wait_until)

NIDLE, NBUSY = 1998, 2
NTHREADS = NIDLE + NBUSY + 1           # and the main thread
HZ = 100
SECONDS = 3.0
WAITS = {"idle-pipe": "wait_pipe", "idle-futex": "wait_futex", "idle-sleep": "wait_sleep",
         "idle-epoll": "wait_epoll"}
STATS_RE = re.compile(
    r"^sprofd: (?P<ticks>\d+) ticks \((?P<missed>\d+) missed\), (?P<samples>\d+) samples, "
    r"(?P<lost>\d+) lost, (?P<truncated>\d+) truncated, (?P<interrupts>\d+) interrupts, "
    r"(?P<reused>\d+) reused, (?P<asleep>\d+) taken asleep$", re.M)
TICK_RE = re.compile(r"; tick (?P<us>[\d.]+) us$", re.M)
THREAD_RE = re.compile(r"^thread (?P<tid>\d+) \((?P<comm>.*)\)$")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def report(text):
    """Puts a measured figure in the test log."""
    sys.stderr.write("\n    [manythreads] %s " % text)
    sys.stderr.flush()


def cpu_seconds(path):
    """utime + stime from a /proc stat file, or None once it is gone."""
    text = read_file(path)
    if not text:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid, key):
    """A "kB" field of /proc/PID/status (VmRSS, VmHWM), or None."""
    for line in (read_file("/proc/%d/status" % pid) or "").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def scan(pid):
    """Every thread of pid, from one read of its status file each:
    tid -> (name, state letter, TracerPid, voluntary context switches)."""
    out = {}
    for tid in tasks(pid):
        f = {}
        for line in (read_file("/proc/%d/task/%d/status" % (pid, tid)) or "").splitlines():
            k, _, v = line.partition(":")
            f[k] = v.strip()
        if f:
            out[tid] = (f.get("Name"), f.get("State", "?")[:1], int(f.get("TracerPid", -1)),
                        int(f.get("voluntary_ctxt_switches", -1)))
    return out


class Lines:
    """Reads a pipe on a thread, noting when each line came."""

    def __init__(self, pipe):
        self.lines = []
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for line in pipe:
            self.lines.append((time.monotonic(), line))

    def first(self, pattern):
        """(time, line) of the first line matching pattern, or None."""
        for when, line in list(self.lines):
            if re.search(pattern, line):
                return when, line
        return None

    def text(self):
        """Everything, once the pipe is closed (or after 10 s)."""
        self.t.join(10)
        return "".join(line for _, line in self.lines)


class ManyThreadsTest(SprofdTestCase):

    def start_many(self):
        """Starts the target; returns it and its first scan."""
        self.state = self.log_path("many.state")
        target = self.start_target("manythreads", NIDLE, NBUSY, self.state)
        before = scan(target.pid)
        names = [v[0] for v in before.values()]
        self.assertEqual(len(before), NTHREADS, "the target has %d threads" % len(before))
        self.assertEqual(sum(1 for n in names if n in WAITS), NIDLE, names)
        self.assertEqual(names.count("busy"), NBUSY, names)
        return target, before

    def counters(self, target, sig=signal.SIGUSR1):
        """Asks the target for its counters (SIGUSR1; SIGUSR2 pings every
        idle thread first) and returns them as a dict."""
        try:
            os.unlink(self.state)
        except FileNotFoundError:
            pass
        os.kill(target.pid, sig)
        text = wait_until(lambda: (read_file(self.state) or "").endswith("\n")
                          and read_file(self.state), 15)
        self.assertTrue(text, "the target wrote no counters after signal %d" % sig)
        return {k: int(v) for k, v in (kv.split("=") for kv in text.split())}

    def profile(self, target, mode, nofile=None):
        """Runs sprofd -v --threads on the target for SECONDS (under an
        open-file limit of nofile when given), stops it with SIGINT, and
        times each phase; returns (Run, figures)."""
        out = self.path("many-%s.prof" % mode)
        args = ["-p", target.pid, "-m", mode, "-F", HZ, "-d", SECONDS + 60, "-v",
                "--threads", "-o", out]

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        fig = {}
        t0 = time.monotonic()
        p = subprocess.Popen(self.sprofd_argv(args), cwd=self.tmp, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             errors="replace", preexec_fn=limit)
        reaped = []

        def cleanup():
            if not reaped:
                if p.poll() is None:
                    p.kill()
                p.wait(10)
        self.addCleanup(cleanup)
        err, stdout = Lines(p.stderr), Lines(p.stdout)
        started = wait_until(lambda: err.first(r"^sprofd: sampling PID") or p.poll() is not None,
                             60)
        if not started or p.poll() is not None:
            self.fail("sprofd did not start sampling:\n%s" % err.text())
        t_sampling = started[0]
        fig["attach_s"] = t_sampling - t0
        # The tracing thread, which holds every thread of the target by now.
        tracing = tracer_of(target.pid)
        tstat = "/proc/%d/task/%d/stat" % (p.pid, tracing)
        pstat = "/proc/%d/stat" % p.pid
        cpu0, tcpu0 = cpu_seconds(pstat), cpu_seconds(tstat)
        fig["cpu_attach_s"] = tcpu0
        sprofd_tids = set(tasks(p.pid))
        during = scan(target.pid)
        untraced = sorted(t for t, v in during.items() if v[2] not in sprofd_tids)
        self.assertEqual(len(during), NTHREADS)
        self.assertEqual(untraced, [], "threads not traced by sprofd (threads %r) while it "
                         "samples" % sorted(sprofd_tids))

        time.sleep(max(0.0, t_sampling + SECONDS - time.monotonic()))
        cpu1, tcpu1 = cpu_seconds(pstat), cpu_seconds(tstat)
        fig["window_s"] = time.monotonic() - t_sampling
        fig["rss_kb"] = status_kb(p.pid, "VmRSS")
        try:
            fig["fds"] = len(os.listdir("/proc/%d/fd" % p.pid))
        except OSError:
            fig["fds"] = None
        t_int = time.monotonic()
        p.send_signal(signal.SIGINT)
        gone = wait_until(lambda: tracer_of(target.pid) == 0, 30, interval=0.001)
        fig["detach_s"] = time.monotonic() - t_int
        self.assertTrue(gone, "sprofd still traces the target 30 s after SIGINT")
        # wait4 for sprofd's CPU time; its peak RSS from /proc until it is
        # gone (wait4's counts the RSS of the process it was forked from).
        end = time.monotonic() + 60
        fig["hwm_kb"] = 0
        while True:
            fig["hwm_kb"] = status_kb(p.pid, "VmHWM") or fig["hwm_kb"]
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid or time.monotonic() > end:
                break
            time.sleep(0.005)
        self.assertTrue(pid, "sprofd did not exit within 60 s of SIGINT")
        reaped.append(True)
        p.returncode = os.waitstatus_to_exitcode(status)
        fig["exit_s"] = time.monotonic() - t_int
        fig["cpu_total_s"] = ru.ru_utime + ru.ru_stime
        # The tracing thread's CPU per period of the timer, whether or not
        # it let some ticks pass to keep its cost down; and all of sprofd's
        # (the symbolizer reads debug information at first).
        fig["tracing_pct"] = 100 * (tcpu1 - tcpu0) / fig["window_s"]
        fig["us_per_tick"] = (tcpu1 - tcpu0) / (fig["window_s"] * HZ) * 1e6
        fig["cpu_pct"] = 100 * (cpu1 - cpu0) / fig["window_s"]
        run = Run([str(a) for a in args], p.returncode, stdout.text(), err.text(),
                  time.monotonic() - t0)
        m = TICK_RE.search(run.err)
        fig["tick_us"] = float(m.group("us")) if m else None
        m = STATS_RE.search(run.err)
        self.assertIsNotNone(m, "no statistics line in the -v output\n%s" % run)
        fig["stats"] = {k: int(v) for k, v in m.groupdict().items()}
        return run, fig

    def thread_entries(self, prof):
        """tid -> samples of each thread's outermost entry (--threads)."""
        out = {}
        for key, val in prof.raw.items():
            m = THREAD_RE.match(key[2])
            if key[0] == "~" and m:
                out[int(m.group("tid"))] = val[0]
        return out

    def released(self, target, before, run):
        """Checks that every thread runs free after sprofd (none stopped,
        none traced, none gone); returns the voluntary context switches of
        each idle thread since before."""
        deadline = time.monotonic() + 5
        while True:
            after = scan(target.pid)
            held = sorted((t, v[1], v[2]) for t, v in after.items()
                          if v[1] in "tT" or v[2] != 0)
            if not held or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(held, [], "%d threads held 5 s after sprofd ended (tid, state, "
                         "TracerPid), the first: %r\n%s" % (len(held), held[:20], run))
        self.assertEqual(sorted(after), sorted(before), "threads came or went\n%s" % run)
        return {t: after[t][3] - v[3] for t, v in before.items() if v[0] in WAITS}

    def still_works(self, target, counters):
        """The busy threads go on working, and every idle thread answers a
        ping (a signal that its wait returns for)."""
        after = self.counters(target, signal.SIGUSR2)
        self.assertEqual(after["pinged"], NIDLE, "idle threads that answered the ping")
        self.assertGreater(after["units"], counters["units"], "the busy threads stopped")

    def print_figures(self, mode, fig, extra):
        st = fig["stats"]
        report("%s mode, %d threads (%d idle), %d Hz: attach %.3f s (%.2f s CPU); sampled "
               "%.2f s, tracing thread %.1f%% of a CPU = %.0f us per %d ms tick (-v: choosing "
               "%s us per tick), all of sprofd %.1f%%; %d ticks (%d missed); detach %.3f s "
               "after SIGINT, exit %.3f s; RSS %.1f MB sampling, peak %.1f MB; %s open "
               "files; CPU total %.2f s; %s"
               % (mode, NTHREADS, NIDLE, HZ, fig["attach_s"], fig["cpu_attach_s"],
                  fig["window_s"], fig["tracing_pct"], fig["us_per_tick"], 1000 // HZ,
                  "%.0f" % fig["tick_us"] if fig["tick_us"] is not None else "-",
                  fig["cpu_pct"], st["ticks"], st["missed"], fig["detach_s"], fig["exit_s"],
                  (fig["rss_kb"] or 0) / 1024, fig["hwm_kb"] / 1024, fig["fds"],
                  fig["cpu_total_s"], extra))

    def test_cpu_mode(self):
        """cpu mode: all 2,001 threads seized and counted, only the busy
        ones sampled, not one sleeper woken."""
        target, before = self.start_many()
        c0 = self.counters(target)
        run, fig = self.profile(target, "cpu")
        woken = self.released(target, before, run)
        c1 = self.counters(target)
        st = fig["stats"]
        self.print_figures("cpu", fig, "%d samples; idle threads woken: %d, EINTR %d"
                           % (st["samples"], sum(1 for v in woken.values() if v),
                              c1["epoll"] - c0["epoll"]))
        prof = self.check_run(run, self.path("many-cpu.prof"), HZ, pid=target.pid,
                              comm="manythreads")
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        self.assertEqual(parse_int(run.header().group("threads")), NTHREADS, info)
        busy = {t for t, v in before.items() if v[0] == "busy"}
        threads = set(self.thread_entries(prof))
        self.assertLessEqual(busy, threads, info)
        self.assertLessEqual(threads, busy | {target.pid}, info)
        self.assertGreaterEqual(prof.cc("busy_work"), prof.total - 3, info)
        for fn in WAITS.values():
            self.assertFalse(prof.has(fn), "%s sampled in cpu mode\n%s" % (fn, info))
        self.assertEqual(st["asleep"] + st["reused"], 0, info)
        # No sleeper woke: no interrupt reached one, and no call of theirs
        # returned, with EINTR or otherwise.
        self.assertEqual({t: v for t, v in woken.items() if v}, {},
                         "idle threads woken (tid: voluntary switches)\n" + info)
        self.assertEqual(c1["disturbed"], c0["disturbed"], "%r\n%s" % (c1, info))
        # Watching 2,000 sleeping threads for the few that run should cost
        # well under half a CPU.
        self.assertLess(fig["tracing_pct"], 50, info)
        self.still_works(target, c1)

    def wall(self, nofile=None):
        """wall mode, under an open-file limit of nofile when given."""
        target, before = self.start_many()
        c0 = self.counters(target)
        run, fig = self.profile(target, "wall", nofile)
        woken = self.released(target, before, run)
        c1 = self.counters(target)
        st = fig["stats"]
        self.print_figures("wall" + (" (nofile %d)" % nofile if nofile else ""), fig,
                           "%d samples: %d taken asleep, %d interrupts, %d reused; idle threads "
                           "woken: %d, EINTR %d"
                           % (st["samples"], st["asleep"], st["interrupts"], st["reused"],
                              sum(1 for v in woken.values() if v), c1["epoll"] - c0["epoll"]))
        prof = self.check_run(run, self.path("many-wall.prof"), HZ, pid=target.pid,
                              comm="manythreads")
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        self.assertEqual(parse_int(run.header().group("threads")), NTHREADS, info)
        # Every thread is in the profile, under its own entry.
        self.assertEqual(sorted(self.thread_entries(prof)), sorted(before), info)
        # Every thread counts at every tick (when sprofd lets ticks pass to
        # keep its cost down, the next sample counts for them).
        expect = float(run.header().group("secs")) * HZ * NTHREADS
        self.assertAlmostEqual(prof.total, expect, delta=expect * 0.05, msg=info)
        for comm, fn in WAITS.items():
            n = sum(1 for v in before.values() if v[0] == comm)
            share = prof.cc(fn) / prof.total
            self.assertAlmostEqual(share, n / NTHREADS, delta=0.01,
                                   msg="%s: %.4f of samples\n%s" % (fn, share, info))
        self.assertGreater(prof.cc("busy_work"), 0, info)
        # A sleeper's first stack is read from /proc without stopping it
        # where possible, else it is stopped once, at first sight; then its
        # stack is reused while it sleeps. A stop shows as a voluntary
        # switch or two (the stop, the wait resumed).
        first_sight = NTHREADS - st["asleep"]
        disturbed = {t: v for t, v in woken.items() if v}
        self.assertLessEqual(len(disturbed), first_sight,
                             "idle threads woken (tid: voluntary switches), %d taken asleep: "
                             "%r\n%s" % (st["asleep"], dict(list(disturbed.items())[:20]), info))
        self.assertLessEqual(max(woken.values()), 2, info)
        self.assertLessEqual(c1["epoll"] - c0["epoll"], first_sight, info)
        for k in ("pipe", "futex", "sleep"):
            # These waits resume after a ptrace stop: the program never
            # sees one.
            self.assertEqual(c1[k], c0[k], "idle-%s threads disturbed\n%s" % (k, info))
        # Only the busy threads are stopped tick after tick.
        self.assertLessEqual(st["interrupts"], st["ticks"] * (NBUSY + 1) + first_sight, info)
        # Wall mode looks at every thread at every tick, at a few
        # microseconds each: a large share of a CPU, but not all of it.
        self.assertLess(fig["tracing_pct"], 80, info)
        # Descriptors never ran out, and the profile is symbolized (the
        # shares of the wait functions above).
        self.assertNotIn("out of file descriptors", run.err, info)
        if nofile:
            # Kept /proc files stay below the limit less a reserve of at
            # least 256 for libdw and the output (counted while sampling,
            # the symbolizer's files included).
            self.assertIsNotNone(fig["fds"], info)
            self.assertLessEqual(fig["fds"], nofile - 200, info)
            if not WRAP:
                self.assertRegex(run.err, r"(?m)^sprofd: open-file limit %d \(the hard "
                                 r"limit\)$" % nofile, info)
        self.still_works(target, c1)
        return fig

    def test_wall_mode(self):
        """wall mode: every one of the 2,001 threads counts at every tick,
        the sleepers from a stack taken once, undisturbed."""
        self.wall()

    def test_wall_mode_low_fd_limit(self):
        """The same under a limit of 1,024 open files, soft and hard (the
        soft limit of a login shell or of a systemd service, here with no
        room to raise it): sprofd keeps /proc files of only as many threads
        open as the limit allows with a reserve to spare, reads the others'
        afresh at each tick, and so still counts every thread at every tick
        without stopping the sleepers, with every frame symbolized."""
        self.wall(1024)

    @unittest.skipIf(WRAP, "a wrapper such as valgrind has limits of its own")
    def test_fd_limit_raised(self):
        """sprofd raises its soft limit on open files to the hard limit,
        and says so with -v."""
        state = self.log_path("few.state")
        target = self.start_target("manythreads", 20, 1, state)
        out = self.path("few.prof")

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (512, 4096))
        p = subprocess.Popen(self.sprofd_argv(["-p", target.pid, "-m", "wall", "-d", 60, "-v",
                                               "-o", out]),
                             cwd=self.tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace",
                             preexec_fn=limit)

        def cleanup():
            if p.poll() is None:
                p.kill()
            p.wait(10)
        self.addCleanup(cleanup)
        err = Lines(p.stderr)
        Lines(p.stdout)
        started = wait_until(lambda: err.first(r"^sprofd: sampling PID") or p.poll() is not None,
                             60)
        self.assertTrue(started and p.poll() is None,
                        "sprofd did not start sampling:\n%s" % err.text())
        limits = read_file("/proc/%d/limits" % p.pid) or ""
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        p.wait(60)
        text = err.text()
        self.assertEqual(p.returncode, 0, text)
        m = re.search(r"^Max open files\s+(\S+)\s+(\S+)", limits, re.M)
        self.assertIsNotNone(m, limits)
        self.assertEqual(m.groups(), ("4096", "4096"), limits)
        self.assertRegex(text, r"(?m)^sprofd: open-file limit raised from 512 to 4096 "
                         r"\(the hard limit\)$")
        self.assertRegex(text, r"(?m)^sprofd: sampler: /proc files of threads kept open below "
                         r"descriptor 3584 \(open-file limit 4096, 512 left")
