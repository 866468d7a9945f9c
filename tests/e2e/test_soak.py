"""Soak: sprofd samples 16 threads at 1000 Hz for a long while, and its
memory stays flat once it has seen every distinct stack the target has;
it then ends cleanly with a profile that accounts for the whole run.

The length of the wall-mode run is SPROFD_SOAK_SECONDS (default 20); the
cpu-mode run lasts half as long. The long variant is run by hand:

    SPROFD_SOAK_SECONDS=1800 python3 tests/run.py --e2e-only -k test_soak
    SPROFD_SOAK_SECONDS=1800 make check-e2e

Each run prints its RSS series (start, 25%, 50%, 75% and end, in MB) and
samples per second, and writes every one-second reading to soak-MODE.csv
in its temporary directory (kept with SPROFD_TEST_KEEP=1)."""

import os
import re
import signal
import sys
import time

from sprofdtest import WRAP, SprofdTestCase, parse_int, read_file, tasks

NTHREADS = 16
HZ = 1000
# Growth allowed after the warm-up (the first quarter of the run). Five
# minutes at 17,000 samples a second grew sprofd by under 0.1 MB, as the
# rarest stacks turn up; 1 MB still catches a leak of 16 bytes a sample
# (16 x 17,000 x 15 s = 4 MB in the default run) and, in wall mode, where
# every thread counts at every tick whatever the load, the test checks that
# the run was long enough for that.
GROWTH_KB = 1024
LEAK_BYTES = 16
CLK_TCK = os.sysconf("SC_CLK_TCK")
STATS_RE = re.compile(
    r"^sprofd: (?P<ticks>\d+) ticks \((?P<missed>\d+) missed\), (?P<samples>\d+) samples, "
    r"(?P<lost>\d+) lost, (?P<truncated>\d+) truncated, (?P<interrupts>\d+) interrupts, "
    r"(?P<reused>\d+) reused, (?P<asleep>\d+) taken asleep$", re.M)


def soak_seconds():
    text = os.environ.get("SPROFD_SOAK_SECONDS", "20")
    try:
        v = float(text)
    except ValueError:
        v = 0
    if v < 8:
        raise AssertionError("SPROFD_SOAK_SECONDS=%r: give a number of seconds, 8 or more"
                             % text)
    return v


def report(text):
    """Puts a measured figure in the test log."""
    sys.stderr.write("\n    [soak] %s " % text)
    sys.stderr.flush()


def cpu_seconds(pid):
    """utime + stime of a process in seconds, or None once it is gone."""
    text = read_file("/proc/%d/stat" % pid)
    if not text:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kb(pid):
    """(VmRSS, VmHWM) of a process in kB, or None once it is gone."""
    f = {}
    for line in (read_file("/proc/%d/status" % pid) or "").splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            f[k] = int(v.split()[0])
    return (f["VmRSS"], f["VmHWM"]) if len(f) == 2 else None


class SoakTest(SprofdTestCase):

    def soak(self, mode, seconds):
        """Samples the soak target for seconds, reading sprofd's memory
        every second; returns (run, profile, series, target CPU seconds,
        sampled seconds), the series as (t, rss_kb, hwm_kb, sprofd CPU s)."""
        target = self.start_target("soak", NTHREADS)
        out = self.path("soak-%s.prof" % mode)
        # Stopped with SIGINT at the end; -d is a safety net.
        p = self.spawn_sprofd("-p", target.pid, "-m", mode, "-F", HZ, "-d", seconds + 300,
                              "-v", "-o", out)
        self.wait_attached(p, target, timeout=30)
        # A sanitizer holds freed memory back for a while, and valgrind
        # keeps its own: the RSS of such a build says nothing about leaks.
        maps = read_file("/proc/%d/maps" % p.pid, "")
        self.checked_build = "libasan" in maps or "vgpreload" in maps or WRAP
        t0 = time.monotonic()
        tcpu0 = cpu_seconds(target.pid)
        series = []
        k = 0
        while True:
            mem, cpu = memory_kb(p.pid), cpu_seconds(p.pid)
            if mem is None or cpu is None:
                self.fail("sprofd ended during the soak after %.0f s: %s"
                          % (time.monotonic() - t0, self.finish(p, 10)))
            series.append((time.monotonic() - t0, mem[0], mem[1], cpu))
            if k >= seconds:
                break
            k += 1
            time.sleep(max(0.0, t0 + min(k, seconds) - time.monotonic()))
        tcpu = cpu_seconds(target.pid) - tcpu0
        sampled = time.monotonic() - t0
        p.send_signal(signal.SIGINT)
        run = self.finish(p, 120)
        with open(self.path("soak-%s.csv" % mode), "w") as f:
            f.write("t_s,rss_kb,hwm_kb,sprofd_cpu_s\n")
            for t, rss, hwm, cpu in series:
                f.write("%.2f,%d,%d,%.2f\n" % (t, rss, hwm, cpu))
        prof = self.check_run(run, out, HZ, pid=target.pid, comm="soak")
        self.assertTrue(target.alive(), "the target died under sprofd")
        self.assert_released(target.pid, 2.0)
        self.assertEqual(len(tasks(target.pid)), NTHREADS + 1)
        return run, prof, series, tcpu, sampled

    def check_flat(self, mode, run, prof, series, sampled, per_sample_required):
        """Prints the series, and checks that sprofd's memory stayed flat
        after the warm-up."""
        n = len(series)
        warm = next(i for i, s in enumerate(series) if s[0] >= sampled * 0.25)
        at = [series[0], series[warm], series[min(n - 1, (n - 1) // 2)],
              series[min(n - 1, (3 * (n - 1)) // 4)], series[-1]]
        m = STATS_RE.search(run.err)
        self.assertIsNotNone(m, "no statistics line in the -v output\n%s" % run)
        st = {k: int(v) for k, v in m.groupdict().items()}
        growth = series[-1][1] - series[warm][1]
        peak = max(s[1] for s in series[warm:]) - series[warm][1]
        hwm_growth = series[-1][2] - series[warm][2]
        # Samples and stops after the warm-up, taken at the run's mean rate.
        after = (series[-1][0] - series[warm][0]) / sampled
        samples_after, stops_after = prof.total * after, st["interrupts"] * after
        report("%s mode, %d threads at %d Hz for %.0f s: RSS MB start %.2f, 25%% %.2f, 50%% "
               "%.2f, 75%% %.2f, end %.2f (HWM %.2f); growth after warm-up %+d kB (peak %+d kB, "
               "HWM %+d kB); %.0f samples/s, %.0f stops/s; sprofd CPU %.0f%%; a leak is "
               "caught from %.1f bytes/sample, %.1f bytes/stop; series in %s"
               % (mode, NTHREADS + 1, HZ, sampled, *(s[1] / 1024 for s in at),
                  series[-1][2] / 1024, growth, peak, hwm_growth, prof.total / sampled,
                  st["interrupts"] / sampled, 100 * series[-1][3] / sampled,
                  GROWTH_KB * 1024 / max(1, samples_after), GROWTH_KB * 1024 / max(1, stops_after),
                  self.path("soak-%s.csv" % mode)))
        info = "RSS series (s, kB): %s\n%s" % (
            ", ".join("%.0f:%d" % (s[0], s[1]) for s in series), run)
        self.assertLessEqual(st["lost"], prof.total * 0.01, info)
        if self.checked_build:
            report("memory not checked: sprofd runs under a sanitizer or valgrind")
            return st
        if per_sample_required:
            self.assertGreaterEqual(samples_after * LEAK_BYTES, GROWTH_KB * 1024 * 1.5,
                                    "too few samples after the warm-up to see a leak of %d "
                                    "bytes a sample\n%s" % (LEAK_BYTES, info))
        self.assertLessEqual(peak, GROWTH_KB, "sprofd grew after the warm-up\n" + info)
        self.assertLessEqual(growth, GROWTH_KB, "sprofd grew after the warm-up\n" + info)
        self.assertLessEqual(hwm_growth, GROWTH_KB, "sprofd's peak grew after the warm-up\n"
                             + info)
        return st

    def test_soak_wall(self):
        """wall mode: all 17 threads at every tick, memory flat."""
        seconds = soak_seconds()
        run, prof, series, tcpu, sampled = self.soak("wall", seconds)
        self.check_flat("wall", run, prof, series, sampled, True)
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        nthreads = NTHREADS + 1
        self.assertEqual(parse_int(run.header().group("threads")), nthreads, info)
        # Every thread counts at every tick, ticks let pass included.
        expect = HZ * float(run.header().group("secs")) * nthreads
        self.assertGreaterEqual(prof.total, expect * 0.75, info)
        self.assertLessEqual(prof.total, expect * 1.05, info)
        # Stacks stay whole all along: every thread but main is in do_job
        # under one of the four paths nearly all the time.
        self.assertGreaterEqual(prof.cc("do_job"), prof.total * NTHREADS / nthreads * 0.95, info)
        self.assertEqual(prof.caller_names("do_job"),
                         ["alpha_8", "beta_8", "delta_8", "gamma_8"], info)

    def test_soak_cpu(self):
        """cpu mode, half as long: samples in step with the CPU the target
        used, memory flat."""
        seconds = max(8.0, soak_seconds() / 2)
        run, prof, series, tcpu, sampled = self.soak("cpu", seconds)
        self.check_flat("cpu", run, prof, series, sampled, False)
        info = "top functions:\n%s\n%s\ntarget CPU %.1f s" % (prof.top(), run, tcpu)
        # One sample per 1/HZ of CPU the target used, loosely: a thread
        # that went to sleep since the kernel saw it run is not stopped,
        # and on a virtual machine the kernel's CPU clock runs on through
        # the time the host takes back, which the target is not charged.
        report("cpu mode: %d samples for %.1f CPU-seconds of the target (%.2f of %d Hz)"
               % (prof.total, tcpu, prof.total / tcpu / HZ, HZ))
        self.assertGreater(tcpu, 1, info)
        self.assertGreaterEqual(prof.total, HZ * tcpu * 0.5, info)
        self.assertLessEqual(prof.total, HZ * tcpu * 1.5, info)
        self.assertGreaterEqual(prof.cc("do_job"), prof.total * 0.95, info)
