"""The daemon's control socket (sprofd ctl) with users of its own: a user
may have their own processes profiled and nothing else; the daemon and a
one-shot sprofd -p racing for one target; and the CPU budget, which lowers
the rate without changing what the profile says about time."""

import os
import pwd
import re
import shutil
import subprocess
import time
import unittest

from sprofdtest import (EXIT_NO_TARGET, EXIT_OK, EXIT_PERM, EXIT_TRACED, TARGETS,
                        WROTE_RE, Target, read_file, tasks, tracer_of, wait_until)
from test_daemon import DaemonTestCase, say

USERS = ("sprofdtest1", "sprofdtest2")
# The command name of sprofd's tracing thread (under valgrind, valgrind's).
TRACER_COMM = r"\((?:sprofd|memcheck[^)]*)\)"


def ensure_users():
    """Creates the test users (no home, no login); returns {name: (uid, gid)}."""
    ids = {}
    for name in USERS:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", name], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            pw = pwd.getpwnam(name)
        ids[name] = (pw.pw_uid, pw.pw_gid)
    return ids


def remove_users():
    for name in USERS:
        subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def as_user(ids):
    """The command prefix that runs a program as a user, all IDs."""
    uid, gid = ids
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups", "--"]


class CtlUsersTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root to create users")
        if not shutil.which("useradd") or not shutil.which("setpriv"):
            raise unittest.SkipTest("needs useradd and setpriv")
        cls.addClassCleanup(remove_users)
        cls.ids = ensure_users()

    def start_as(self, user, name, *args):
        path = os.path.join(TARGETS, name)
        t = Target.__new__(Target)
        t.name = name
        t.errpath = os.path.join(self.logs, "%s.%s.stderr" % (name, user))
        t.err = open(t.errpath, "wb")
        t.proc = subprocess.Popen(as_user(self.ids[user]) + [path] + [str(a) for a in args],
                                  cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=t.err)
        t.pid = t.proc.pid
        self.addCleanup(t.kill)
        line = t.proc.stdout.readline()
        self.assertEqual(line, b"ready\n", read_file(t.errpath))
        return t

    def ctl(self, user, *args, cwd=None, timeout=30):
        prefix = as_user(self.ids[user]) if user != "root" else []
        return self.sprofd("ctl", "-S", self.sock, *args, cwd=cwd, prefix=prefix,
                           timeout=timeout)

    def test_user_profiles_only_own_processes(self):
        d = self.start_daemon(self.base_conf() + (
            "Target t\n\tProcess pid 1\n\tInterval 1h\n\tOutputDir %s/%%t\n") % self.out)
        mine = self.start_as(USERS[0], "threads", 1)
        other = self.start_as(USERS[1], "threads", 1)
        roots = self.start_target("threads", 1)
        home = self.path("home1")
        os.mkdir(home)
        os.chown(home, *self.ids[USERS[0]])

        # Their own process: profiled, and saved by the client as the user.
        run = self.ctl(USERS[0], "profile", mine.pid, "-d", "1", "-m", "wall", "-n", "3", cwd=home)
        self.assert_ok(run)
        m = WROTE_RE.match(run.err.strip().splitlines()[-1])
        self.assertIsNotNone(m, str(run))
        path = os.path.join(home, m.group("path"))
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid), self.ids[USERS[0]], str(run))
        prof = self.load_profile(path, 100)
        self.assertEqual(int(m.group("samples").replace(",", "")), prof.total)
        self.assertGreater(prof.cc("thread_work"), 0, prof.top())
        self.assertIn("PID %d (threads)" % mine.pid, run.out)
        self.assert_released(mine.pid)

        # Root's and another user's: refused, with a message that says why,
        # and never attached.
        for victim, owner in ((roots, "root"), (other, USERS[1])):
            run = self.ctl(USERS[0], "profile", victim.pid, "-d", "1", cwd=home)
            self.assert_error(run, EXIT_PERM,
                              r"^sprofd: PID %d \(threads\) belongs to %s, not to you \(%s\): "
                              r"you may profile only your own processes$"
                              % (victim.pid, owner, USERS[0]))
            self.assertEqual(tracer_of(victim.pid), 0)
        self.assertEqual(sorted(os.listdir(home)), [m.group("path")])
        self.assertEqual(d.find(r"profiling PID %d" % roots.pid), [])
        self.assertEqual(d.find(r"profiling PID %d" % other.pid), [])
        self.assertTrue(d.find(r"request of %s \(PID \d+\) for PID %d refused: PID %d \(threads\) "
                               r"belongs to root" % (USERS[0], roots.pid, roots.pid)), d.log())

        # The daemon itself, and a PID that does not exist.
        run = self.ctl(USERS[0], "profile", d.pid, "-d", "1", cwd=home)
        self.assert_error(run, EXIT_NO_TARGET, r"is the sprofd daemon itself")
        # Root-only requests.
        run = self.ctl(USERS[0], "run", "t", cwd=home)
        self.assert_error(run, EXIT_PERM, r"only root may start a target's run")
        run = self.ctl(USERS[0], "status", cwd=home)
        self.assert_ok(run)
        self.assertNotIn("target t", run.out)
        run = self.ctl("root", "status")
        self.assert_ok(run)
        self.assertIn("target t: every 1h for 10s at 100 Hz", run.out)

        # Root may profile anyone's.
        run = self.ctl("root", "profile", other.pid, "-d", "1", "-m", "wall", "-o", "other.prof",
                       "-q")
        self.assert_ok(run)
        self.assertEqual(run.err, "")
        self.load_profile(self.path("other.prof"), 100)
        self.assertEqual(d.stop(), EXIT_OK, d.log())

    def test_until_ctrl_c(self):
        """Without -d the profile runs until the client is interrupted, and
        the client still gets the result."""
        d = self.start_daemon(self.base_conf())
        t = self.start_target("threads", 1)
        p = self.spawn_sprofd("ctl", "-S", self.sock, "profile", t.pid, "-m", "wall", "-n", "0")
        wait_until(lambda: tracer_of(t.pid), 10)
        self.assertNotEqual(tracer_of(t.pid), 0, d.log())
        time.sleep(1.0)
        p.send_signal(2)
        run = self.finish(p, 20)
        self.assert_ok(run)
        self.assertIn("stopping; the daemon writes what was sampled", run.err)
        m = WROTE_RE.match(run.err.strip().splitlines()[-1])
        self.assertIsNotNone(m, str(run))
        self.load_profile(self.path(m.group("path")), 100)
        self.assert_released(t.pid)
        self.assertEqual(d.stop(), EXIT_OK, d.log())


class RaceTest(DaemonTestCase):

    def worker_threads(self, d):
        """Every thread of every child of the daemon."""
        out = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                st = read_file("/proc/%s/stat" % pid, "")
                if st and int(st.rsplit(") ", 1)[-1].split()[1]) == d.pid:
                    out += tasks(int(pid))
        return out

    def test_oneshot_loses_to_the_daemon(self):
        """The daemon holds the target (on demand): sprofd -p gets a clear
        'already traced by' error, and the daemon's profile is unharmed."""
        d = self.start_daemon(self.base_conf())
        t = self.start_target("threads", 1)
        p = self.spawn_sprofd("ctl", "-S", self.sock, "profile", t.pid, "-d", "3", "-m", "wall",
                              "-n", "0", "-o", "daemon.prof")
        wait_until(lambda: tracer_of(t.pid), 10)
        tracer = tracer_of(t.pid)
        self.assertIn(tracer, self.worker_threads(d), d.log())
        run = self.sprofd("-p", t.pid, "-d", "1", "-o", "oneshot.prof")
        self.assert_error(run, EXIT_TRACED, r"^sprofd: PID %d \(threads\) is already traced by "
                          r"PID %d %s" % (t.pid, tracer, TRACER_COMM))
        self.assertFalse(os.path.exists(self.path("oneshot.prof")))
        self.assertEqual(tracer_of(t.pid), tracer)
        run = self.finish(p, 30)
        self.assert_ok(run)
        prof = self.load_profile(self.path("daemon.prof"), 100)
        self.assertGreater(prof.cc("thread_work"), 0, prof.top())
        self.assertTrue(t.alive())
        self.assert_released(t.pid)
        self.assertEqual(d.stop(), EXIT_OK, d.log())

    def test_daemon_loses_to_a_oneshot(self):
        """sprofd -p holds the target: an on-demand request and a scheduled
        run both fail with 'already traced by', and the one-shot profile is
        unharmed."""
        t = self.start_target("threads", 1)
        p = self.spawn_sprofd("-p", t.pid, "-d", "4", "-m", "wall", "-o", "oneshot.prof", "-n", "0")
        self.wait_attached(p, t)
        tracer = tracer_of(t.pid)
        d = self.start_daemon(self.base_conf() + (
            "Target t\n\tProcess pid %d\n\tInterval 1h\n\tJitter 0\n\tOutputDir %s/%%t\n")
            % (t.pid, self.out))
        d.wait_for(r"target t: run on PID %d \(threads\) ended: already traced by another tracer"
                   % t.pid)
        self.assertTrue(d.find(r"PID %d \(threads\) is already traced by PID %d %s"
                               % (t.pid, tracer, TRACER_COMM)), d.log())
        run = self.sprofd("ctl", "-S", self.sock, "profile", t.pid, "-d", "1")
        self.assert_error(run, EXIT_TRACED, r"^sprofd: PID %d \(threads\) is already traced by "
                          r"PID %d %s" % (t.pid, tracer, TRACER_COMM))
        self.assertEqual(tracer_of(t.pid), tracer)
        one = self.finish(p, 30)
        prof = self.check_run(one, self.path("oneshot.prof"), 100, pid=t.pid, table=False)
        self.assertGreater(prof.cc("thread_work"), 0, prof.top())
        self.assertEqual(self.regular_profiles(os.path.join(self.out, "t")), {})
        self.assert_released(t.pid)
        self.assertEqual(d.stop(), EXIT_OK, d.log())


class BudgetTest(DaemonTestCase):

    def run_budget(self, setting, name, again=False):
        # Wall mode at 1000 Hz over three threads (two busy) costs sprofd
        # several percent of a CPU: well over a 1% budget.
        t = self.start_target("threads", 2)
        d = self.start_daemon(
            "ControlSocket %s\n%s\nTarget t\n\tProcess pid %d\n\tInterval %s\n\tDuration 5s\n"
            "\tJitter 0\n\tMode wall\n\tFrequency 1000\n\tOutputDir %s/%%t\n"
            % (self.sock, setting, t.pid, "6s" if again else "1h", self.out))
        lowered = d.wait_for(r"target t: PID %d: sprofd used ([\d.]+)%% of a CPU in the last "
                             r"second, over %s; sampling at ([\d.]+) Hz instead of 1000 Hz"
                             % (t.pid, name), timeout=10)
        used, hz = float(lowered[0][1].group(1)), float(lowered[0][1].group(2))
        self.assertGreater(used, 1.0)
        self.assertLess(hz, 1000)
        # While it runs at the lower rate, status shows what it costs now.
        time.sleep(1.5)
        st = self.sprofd("ctl", "-S", self.sock, "status")
        m = re.search(r"running: target t: PID %d \(threads\) for [\d.]+ s at ([\d.]+) Hz, "
                      r"([\d.]+)%% of a CPU" % t.pid, st.out)
        self.assertIsNotNone(m, str(st))
        d.wait_for(r"target t: PID %d \(threads\): \d+ samples in 5\.\d s written" % t.pid,
                   timeout=20)
        files = self.regular_profiles(os.path.join(self.out, "t"))
        prof = self.load_profile(os.path.join(self.out, "t", list(files)[0]), 1000)
        # Each sample at a lower rate stands for as many ticks as were
        # skipped: the profile still covers ~5 s of 3 threads at 1000 Hz.
        expect = 5 * 1000 * 3
        self.assertGreater(prof.total, 0.5 * expect, d.log())
        self.assertLess(prof.total, 1.2 * expect, d.log())
        say("%s: first second %.1f%% of a CPU -> %.0f Hz; later %s Hz using %s%%; "
            "profile holds %d of ~%d tick-samples (%.0f%%)"
            % (setting.replace("\n", ", "), used, hz, m.group(1), m.group(2), prof.total, expect,
               100.0 * prof.total / expect))
        if again:
            # The target's next run starts at the rate the last one ended at.
            nxt = d.wait_for(r"target t: worker \d+ profiles PID %d \(threads\) for 5s at "
                             r"(\d+) Hz" % t.pid, count=2, timeout=10)[1]
            self.assertLess(int(nxt[1].group(1)), 1000, d.log())
            say("next run started at %s Hz" % nxt[1].group(1))
        self.assertEqual(d.stop(), EXIT_OK, d.log())
        self.assert_released(t.pid)

    def test_target_budget(self):
        self.run_budget("TotalCPUBudget none\nCPUBudget 1%", r"CPUBudget 1%", again=True)

    def test_total_budget(self):
        self.run_budget("TotalCPUBudget 1%", r"TotalCPUBudget 1%")
