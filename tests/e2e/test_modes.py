"""Sampling modes and unwinding options: cpu mode stops only the threads the
kernel saw running and never wakes sleeping ones, wall mode counts every
thread at every tick without stopping idle ones again and again, the
unwinding methods agree with each other, and --stack-size and -m check
their values."""

import math
import os
import re
import signal
import subprocess
import sys
import time

from sprofdtest import (EXIT_USAGE, SprofdTestCase, Target, proc_state, read_file,
                        task_status, tasks, wait_until)

STATS_RE = re.compile(
    r"^sprofd: (?P<ticks>\d+) ticks \((?P<missed>\d+) missed\), (?P<samples>\d+) samples, "
    r"(?P<lost>\d+) lost, (?P<truncated>\d+) truncated, (?P<interrupts>\d+) interrupts, "
    r"(?P<reused>\d+) reused, (?P<asleep>\d+) taken asleep$")
COPIED_RE = re.compile(r"stack copied (?P<bytes>[\d.]+) bytes/stop")
EINTR_RE = re.compile(r"^eintr=(\d+)$")


class SessionTarget(Target):
    """A Target started in a new session (setsid), so that it has a
    scheduling autogroup of its own."""

    def __init__(self, name, args, cwd, timeout=10):
        real_popen = subprocess.Popen

        def popen(*a, **kw):
            return real_popen(*a, start_new_session=True, **kw)
        subprocess.Popen = popen
        try:
            super().__init__(name, args, cwd, timeout)
        finally:
            subprocess.Popen = real_popen


def report(text):
    """Puts a measured figure in the test log."""
    sys.stderr.write("\n    [modes] %s " % text)
    sys.stderr.flush()


class ModesTestCase(SprofdTestCase):

    def stats(self, run):
        """The counters of a -v run, as a dict of ints."""
        for line in run.err.splitlines():
            m = STATS_RE.match(line.strip())
            if m:
                return {k: int(v) for k, v in m.groupdict().items()}
        self.fail("no statistics line in the -v output\n%s" % run)

    def copied_per_stop(self, run):
        m = COPIED_RE.search(run.err)
        self.assertIsNotNone(m, "no 'stack copied' figure in the -v output\n%s" % run)
        return float(m.group("bytes"))

    def eintr_now(self, target, state):
        """Asks an idle target for its EINTR count (SIGUSR1 -> state file)."""
        try:
            os.unlink(state)
        except FileNotFoundError:
            pass
        os.kill(target.pid, signal.SIGUSR1)

        def value():
            m = EINTR_RE.match((read_file(state) or "").strip())
            return m and int(m.group(1))
        got = wait_until(lambda: value() is not None, 5)
        self.assertTrue(got, "idle target wrote no count to %s after SIGUSR1" % state)
        return value()

    def eintr_at_exit(self, target):
        """Ends an idle target with SIGTERM; returns the EINTR count it
        prints last, after checking that it exited 0."""
        target.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = target.proc.communicate(timeout=10)
        except Exception:
            self.fail("idle target did not exit on SIGTERM")
        self.assertEqual(target.proc.returncode, 0, "idle target: %r" % out)
        lines = out.decode().split()
        self.assertTrue(lines and EINTR_RE.match(lines[-1]), "idle target printed %r" % out)
        return int(EINTR_RE.match(lines[-1]).group(1))

    def start_favoured(self, name, *args):
        """Starts a target in a session of its own and raises its
        scheduling weight where allowed, so that a loaded machine does not
        keep it waiting for a CPU: wall mode counts such a wait with one
        stack for every tick it lasts, so a thread that waits much has few
        independent samples and noisy shares. The session matters where
        the kernel groups scheduling by session (autogroup): there, nice
        values weigh only within the group."""
        t = SessionTarget(name, args, self.logs)
        self.addCleanup(t.kill)
        try:
            with open("/proc/%d/autogroup" % t.pid, "w") as f:
                f.write("-10")
        except OSError:
            pass
        for tid in tasks(t.pid):
            try:
                os.setpriority(os.PRIO_PROCESS, tid, -10)
            except OSError:
                break
        return t

    def epoll_samples(self, prof):
        """Samples with epoll_wait (under whatever name libc gives it) on
        the stack."""
        return sum(v[0] for k, v in prof.raw.items() if "epoll_wait" in k[2])


class SharesAcrossModesTest(ModesTestCase):

    def test_split_shares_agree(self):
        """The 70/30 split of split.c comes out the same in cpu mode, in
        wall mode, and when unwinding in place with ptrace."""
        target = self.start_favoured("split")
        shares = {}
        # cpu mode spaces its samples at random, so each share is an
        # estimate with a binomial error (1.9 points at 600 samples): the
        # fast modes take more samples; unwinding in place is slow.
        for name, hz, opts in (("cpu", 1000, ["-m", "cpu"]), ("wall", 1000, ["-m", "wall"]),
                               ("ptrace", 200, ["-m", "cpu", "--unwind", "ptrace"])):
            out = self.path("split-%s.prof" % name)
            run = self.sprofd("-p", target.pid, "-F", hz, "-d", 3, "-v", "-o", out, *opts)
            prof = self.check_run(run, out, hz, pid=target.pid, comm="split")
            st = self.stats(run)
            info = "%s: top functions:\n%s\n%s" % (name, prof.top(), run)
            self.assertEqual(run.header().group("threads"), "1", info)
            # Even on a loaded machine the thread gets some CPU in 3 s.
            self.assertGreaterEqual(prof.total, 150, info)
            self.assertEqual(st["samples"], prof.total, info)
            self.assertEqual(st["lost"], 0, info)
            self.assertGreaterEqual(prof.cc("work"), prof.total * 0.97, info)
            self.assertEqual(prof.cc("main"), prof.total, "main() not on every stack\n" + info)
            if name == "wall":
                # One thread, one sample per tick, waiting for a CPU or not.
                self.assertAlmostEqual(prof.total, st["ticks"], delta=st["ticks"] * 0.03 + 2,
                                       msg=info)
            a = prof.self_samples("hot_a") / prof.total * 100
            shares[name] = (a, prof.total)
            self.assertAlmostEqual(a, 70, delta=max(5, 4 * error(prof.total)),
                                   msg="%s: hot_a %.1f%%\n%s" % (name, a, info))
        report("hot_a share per mode: " + ", ".join(
            "%s %.1f%% of %d" % (n, a, t) for n, (a, t) in shares.items()))
        # Any two modes agree within 3 points, or 4 standard errors of the
        # difference of two such estimates if that is more.
        for m1, (a1, n1) in shares.items():
            for m2, (a2, n2) in shares.items():
                bound = max(3, 4 * math.hypot(error(n1), error(n2)))
                self.assertLessEqual(abs(a1 - a2), bound, "hot_a shares of %s and %s differ by "
                                     "more than %.1f points: %r" % (m1, m2, bound, shares))


def error(n, p=0.7):
    """Standard error, in points, of a share near p estimated from n
    independent samples."""
    return 100 * math.sqrt(p * (1 - p) / max(n, 1))


class IdleThreadsTest(ModesTestCase):

    def test_cpu_mode_leaves_idle_threads_alone(self):
        """2000 threads asleep in epoll_wait and 2 busy ones: cpu mode sees
        all 2003 threads but stops only the busy ones, so no sleeping call
        ever returns EINTR, and no idle stack is in the profile."""
        nidle, nbusy = 2000, 2
        state = self.log_path("idle.state")
        target = self.start_target("idle", nidle, nbusy, state)
        out = self.path("idle-cpu.prof")
        p = self.spawn_sprofd("-p", target.pid, "-m", "cpu", "-d", 3, "-v", "-o", out)
        self.wait_attached(p, target, timeout=20)
        time.sleep(1)
        during = self.eintr_now(target, state)
        run = self.finish(p, 60)
        prof = self.check_run(run, out, 100, pid=target.pid, comm="idle")
        st = self.stats(run)
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        self.assert_released(target.pid, 2.0)
        time.sleep(0.2)
        after = self.eintr_now(target, state)
        report("cpu mode, %d idle + %d busy: eintr %d while sampled, %d after detach; "
               "%d interrupts for %d samples in %d ticks"
               % (nidle, nbusy, during, after, st["interrupts"], st["samples"], st["ticks"]))
        self.assertEqual(during, 0, "sleeping threads were interrupted while sampled\n" + info)
        self.assertEqual(after, 0, "sleeping threads were interrupted by attach or detach\n"
                         + info)

        self.assertEqual(run.header().group("threads"), str(nidle + nbusy + 1), info)
        # Every sample is a busy thread's, but for the few the main thread
        # may give while it answers SIGUSR1.
        self.assertGreaterEqual(st["samples"], 10, info)
        self.assertGreaterEqual(prof.cc("busy_loop"), prof.total - 3, info)
        self.assertEqual(prof.caller_names("busy_work"), ["busy_loop"], info)
        self.assertEqual(self.epoll_samples(prof), 0, "idle threads were sampled\n" + info)
        self.assertFalse(prof.has("idle_thread"), "idle threads were sampled\n" + info)
        # Only running threads are stopped: about one stop per sample, a
        # few per tick at most (two CPUs' worth of busy threads), never one
        # per thread.
        self.assertGreaterEqual(st["interrupts"], st["samples"], info)
        self.assertLessEqual(st["interrupts"], st["samples"] * 1.1 + 5, info)
        self.assertLessEqual(st["interrupts"], (nbusy + 1) * st["ticks"], info)
        self.assertEqual(st["reused"], 0, info)
        self.assertEqual(st["asleep"], 0, info)
        self.assertEqual(self.eintr_at_exit(target), 0, info)

    def test_wall_mode_counts_idle_threads_without_stopping_them(self):
        """200 threads asleep in epoll_wait and 1 busy one: wall mode counts
        every thread at every tick, the sleepers mostly in epoll_wait, but
        takes each sleeper's stack once and reuses it."""
        nidle, nbusy = 200, 1
        nthreads = nidle + nbusy + 1
        state = self.log_path("idle.state")
        target = self.start_target("idle", nidle, nbusy, state)
        out = self.path("idle-wall.prof")
        run = self.sprofd("-p", target.pid, "-m", "wall", "-d", 3, "-v", "-o", out)
        prof = self.check_run(run, out, 100, pid=target.pid, comm="idle")
        st = self.stats(run)
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        self.assert_released(target.pid, 2.0)
        time.sleep(0.2)
        eintr = self.eintr_at_exit(target)
        epoll = self.epoll_samples(prof)
        report("wall mode, %d idle + %d busy: eintr %d; %d samples in %d ticks (%d missed) "
               "x %d threads, %d interrupts, %d reused, %d taken asleep; epoll_wait %.2f%%"
               % (nidle, nbusy, eintr, st["samples"], st["ticks"], st["missed"], nthreads,
                  st["interrupts"], st["reused"], st["asleep"], epoll / prof.total * 100))

        self.assertEqual(run.header().group("threads"), str(nthreads), info)
        self.assertEqual(st["samples"], prof.total, info)
        self.assertAlmostEqual(prof.total, st["ticks"] * nthreads,
                               delta=st["ticks"] * nthreads * 0.05, msg=info)
        self.assertAlmostEqual(epoll / prof.total, nidle / nthreads, delta=0.02,
                               msg="epoll_wait on %d of %d samples\n%s" % (epoll, prof.total, info))
        self.assertEqual(prof.cc("idle_thread"), epoll, info)
        self.assertGreater(prof.cc("busy_work"), 0, info)
        # The sleepers' stacks are taken once each (from /proc or by one
        # interrupt) and then reused: the busy thread is the only one
        # stopped at every tick.
        self.assertLessEqual(st["asleep"], nthreads, info)
        self.assertLessEqual(st["interrupts"], st["ticks"] * nbusy * 1.1 + nthreads + 10, info)
        self.assertLess(st["interrupts"], prof.total * 0.05, info)
        # Every tick that counted the threads at all (a slow tick may make
        # sprofd skip some) counted the sleepers from their kept stacks,
        # but for the first few.
        counted_ticks = prof.total / nthreads
        self.assertGreaterEqual(st["reused"], (counted_ticks - 3) * nidle, info)
        # At most the one interrupt at first sight per sleeping thread.
        self.assertLessEqual(eintr, nidle, info)


class StackSizeTest(ModesTestCase):

    def test_stack_size_range(self):
        target = self.start_target("recurse", 3)
        for bad in ("0", "1000", "9M", "abc"):
            with self.subTest(stack_size=bad):
                run = self.sprofd("-p", target.pid, "-d", 0.2, "--stack-size", bad,
                                  "-o", self.path("x.prof"), timeout=10)
                self.assert_error(run, EXIT_USAGE, r"4K.*8M")
                self.assertFalse(self.tmp_files(), str(run))
        self.assertEqual(task_status(target.pid, target.pid)[1], 0)

    def test_small_copy_keeps_stacks_whole(self):
        """With a 4K copy, stacks still unwind to main(): a 50-deep
        recursion fits in the copy; a 400-deep one (over 7K of stack) does
        not, and the unwinder reads the rest from the live process."""
        for depth, size, max_depth in ((50, "4K", 256), (400, "64K", 1024), (400, "4K", 1024)):
            with self.subTest(depth=depth, stack_size=size):
                target = self.start_target("recurse", depth)
                out = self.path("recurse-%d-%s.prof" % (depth, size))
                run = self.sprofd("-p", target.pid, "-F", 200, "-d", 1, "-v",
                                  "--stack-size", size, "--max-depth", max_depth, "-o", out)
                prof = self.check_run(run, out, 200, pid=target.pid, comm="recurse")
                st = self.stats(run)
                copied = self.copied_per_stop(run)
                info = "top functions:\n%s\n%s" % (prof.top(), run)
                cc, nc = prof.cc("recurse"), prof.nc("recurse")
                report("recurse %d, --stack-size %s: nc/cc %.1f, %.0f bytes copied per stop"
                       % (depth, size, nc / cc, copied))
                self.assertEqual(st["truncated"], 0, info)
                self.assertEqual(st["lost"], 0, info)
                self.assertGreaterEqual(cc, prof.total * 0.99, info)
                self.assertGreaterEqual(nc / cc, depth - 5, "nc/cc = %d/%d\n%s" % (nc, cc, info))
                self.assertLessEqual(nc, (depth + 1) * cc, "nc/cc = %d/%d\n%s" % (nc, cc, info))
                self.assertEqual(prof.cc("main"), prof.total, "main() not on every stack\n"
                                 + info)
                if size == "4K":
                    self.assertLessEqual(copied, 4096, info)
                else:
                    # The control: this stack is deeper than a 4K copy.
                    self.assertGreater(copied, 4096 + 1024, info)
                target.kill()


class ModeOptionTest(ModesTestCase):

    def test_bad_mode(self):
        target = self.start_target("recurse", 3)
        for bad in ("bad", "", "CPU", "wal", "cpu,wall"):
            with self.subTest(mode=bad):
                run = self.sprofd("-p", target.pid, "-d", 0.2, "-m", bad,
                                  "-o", self.path("x.prof"), timeout=10)
                self.assert_error(run, EXIT_USAGE, r"\bcpu\b.*\bwall\b")
                self.assertFalse(self.tmp_files(), str(run))
        self.assertEqual(task_status(target.pid, target.pid)[1], 0)


class JobControlModesTest(ModesTestCase):

    def test_stop_and_continue_in_both_modes(self):
        """SIGSTOP stops a target sampled in either mode, SIGCONT resumes
        it, and sprofd leaves it running and untraced."""
        for mode in ("cpu", "wall"):
            with self.subTest(mode=mode):
                state = self.log_path("progress-%s.state" % mode)
                target = self.start_target("progress", state)
                out = self.path("jc-%s.prof" % mode)
                p = self.spawn_sprofd("-p", target.pid, "-m", mode, "-F", 200, "-d", 2,
                                      "-v", "-o", out)
                self.wait_attached(p, target)
                time.sleep(0.3)
                os.kill(target.pid, signal.SIGSTOP)
                self.assert_stalled(state, 0.4)
                self.assertIsNone(p.poll(), "sprofd ended while the target was stopped")
                os.kill(target.pid, signal.SIGCONT)
                self.assert_progress(state)
                run = self.finish(p)
                prof = self.check_run(run, out, 200, pid=target.pid, comm="progress")
                st = self.stats(run)
                info = "top functions:\n%s\n%s" % (prof.top(), run)
                self.assertGreater(prof.cc("progress_step"), 0, info)
                if mode == "wall":
                    # Stopped threads still count in wall mode: two threads
                    # at every tick.
                    self.assertAlmostEqual(prof.total, 2 * st["ticks"],
                                           delta=2 * st["ticks"] * 0.05, msg=info)
                self.assert_released(target.pid)
                for tid in tasks(target.pid):
                    self.assertNotIn(task_status(target.pid, tid)[0], "tT", info)
                self.assertNotIn(proc_state(target.pid), ("t", "T", "Z", None), info)
                self.assert_progress(state)
                target.kill()
