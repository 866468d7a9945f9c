"""The daemon (sprofd -D) run in the foreground as the tests' child: its
timetable and retention, following a restarted target through its pidfile,
SIGHUP, SIGUSR1 and SIGTERM, sprofd -t on good and bad configurations,
the systemd readiness notification and detaching with a pidfile.

The helpers here (Daemon, DaemonTestCase) are shared with the other
test_daemon_*.py files."""

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

from sprofdtest import (EXIT_OK, EXIT_USAGE, SPROFD, WRAP, SprofdTestCase, read_file, tasks,
                        tracer_of, wait_until)

PROF_RE = re.compile(r"^(?P<comm>[A-Za-z0-9_.-]+)\.(?P<pid>\d+)\.(?P<time>\d{9,})\.prof$")


def say(msg):
    """A measured figure, printed with the test's results."""
    sys.stdout.write("    %s\n" % msg)
    sys.stdout.flush()


class Daemon:
    """sprofd -D -v running in the foreground; its stderr is collected line
    by line with the time each line arrived."""

    def __init__(self, test, conf_path, extra=(), env=None):
        self.test = test
        self.conf = conf_path
        argv = WRAP + [SPROFD, "-D", "-v", "-c", conf_path] + list(extra)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, cwd=test.tmp, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace", env=env)
        self.pid = self.proc.pid
        self.lines = []          # (seconds since start, line)
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        test.addCleanup(self.kill)

    def _read(self):
        for line in iter(self.proc.stderr.readline, ""):
            with self.lock:
                self.lines.append((time.monotonic() - self.t0, line.rstrip("\n")))

    def log(self):
        with self.lock:
            return "\n".join("%7.3f %s" % tl for tl in self.lines)

    def find(self, pattern, after=0.0):
        """Lines (time, match) matching pattern that arrived after `after`."""
        rx = re.compile(pattern)
        with self.lock:
            return [(t, m) for t, m in ((t, rx.search(l)) for t, l in self.lines)
                    if m and t >= after]

    def wait_for(self, pattern, timeout=10, after=0.0, count=1):
        """Waits for count lines matching pattern; returns them, or fails."""
        wait_until(lambda: len(self.find(pattern, after)) >= count
                   or self.proc.poll() is not None, timeout)
        found = self.find(pattern, after)
        if len(found) < count:
            self.test.fail("daemon log has %d of %d lines matching %r after %.1f s%s\n%s"
                           % (len(found), count, pattern, timeout,
                              " (the daemon exited %s)" % self.proc.poll()
                              if self.proc.poll() is not None else "", self.log()))
        return found[:count]

    def ready(self):
        self.wait_for(r"sprofd: sprofd \S+ started")
        return self

    def now(self):
        return time.monotonic() - self.t0

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM, then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.test.fail("daemon did not exit within %d s of SIGTERM\n%s" % (timeout, self.log()))
        self.reader.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.reader.join(5)
        self.proc.stderr.close()


class DaemonTestCase(SprofdTestCase):
    """A configuration file per test, written root-owned and 0644 as
    sprofd insists, and daemons that are always stopped."""

    def write_conf(self, text, name="sprofd.conf"):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def base_conf(self):
        # Wall mode: every thread counts at every tick, so a run yields
        # samples even when a loaded machine gives the target no CPU.
        return "ControlSocket %s\nTotalCPUBudget none\nMode wall\n" % self.sock

    def setUp(self):
        super().setUp()
        self.sock = self.path("ctl.sock")
        self.out = self.path("out")

    def start_daemon(self, text, extra=(), env=None):
        return Daemon(self, self.write_conf(text), extra, env).ready()

    def profiles(self, d):
        """Profile files (name -> stat) in directory d."""
        found = {}
        try:
            names = os.listdir(d)
        except OSError:
            return found
        for n in names:
            if PROF_RE.match(n):
                try:
                    found[n] = os.lstat(os.path.join(d, n))
                except OSError:
                    pass
        return found

    def regular_profiles(self, d):
        return {n: st for n, st in self.profiles(d).items() if stat.S_ISREG(st.st_mode)}


class ScheduleTest(DaemonTestCase):

    def test_timetable_and_retention(self):
        """Every 2 s for 0.5 s: five runs in 9 s start 2 s apart, each writes
        its file soon after, retention keeps the 3 newest; planted symlinks
        are never followed and other files are left alone."""
        target = self.start_target("threads", 1)
        tdir = os.path.join(self.out, "t")
        os.makedirs(tdir, mode=0o750)
        os.chmod(self.out, 0o750)
        # Someone else's file with a profile's name, an unrelated file, and
        # symlinks where the next profiles will be written.
        victim = self.log_path("victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        foreign = os.path.join(tdir, "threads.1.1600000000.prof")
        with open(foreign, "w") as f:
            f.write("not ours\n")
        os.chown(foreign, 65534, 65534)
        os.utime(foreign, (1600000000, 1600000000))
        with open(os.path.join(tdir, "notes.txt"), "w") as f:
            f.write("keep me\n")
        now = int(time.time())
        links = []
        for t in range(now - 2, now + 20):
            link = os.path.join(tdir, "threads.%d.%d.prof" % (target.pid, t))
            os.symlink(victim, link)
            links.append(link)

        d = self.start_daemon(self.base_conf() + (
            "Target t\n"
            "\tProcess pid %d\n"
            "\tInterval 2s\n"
            "\tDuration 500ms\n"
            "\tJitter 0\n"
            "\tOutputDir %s/%%t\n"
            "\tMaxFiles 3\n") % (target.pid, self.out))
        seen = {}   # name -> time it first appeared as a regular file
        first = None
        while True:
            now = d.now()
            for n in self.regular_profiles(tdir):
                if n != os.path.basename(foreign):
                    seen.setdefault(n, now)
            starts = d.find(r"target t: worker \d+ profiles PID %d" % target.pid)
            if starts and first is None:
                first = starts[0][0]
            if first is not None and now >= first + 9.0:
                break
            if now > 30:
                self.fail("no run started\n%s" % d.log())
            time.sleep(0.02)
        self.assertEqual(d.stop(), EXIT_OK, d.log())
        for n in self.regular_profiles(tdir):
            if n != os.path.basename(foreign):
                seen.setdefault(n, d.now())

        starts = [t for t, _ in d.find(r"target t: worker \d+ profiles PID %d" % target.pid)]
        info = d.log()
        self.assertEqual(len(starts), 5, "runs started at %r\n%s" % (starts, info))
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        for g in gaps:
            self.assertAlmostEqual(g, 2.0, delta=0.25, msg="gaps %r\n%s" % (gaps, info))
        self.assertEqual(len(seen), 5, "files seen: %r\n%s" % (seen, info))
        order = sorted(seen, key=lambda n: seen[n])
        lat = [seen[n] - s for n, s in zip(order, starts)]
        for x in lat:
            # The file appears after the 0.5 s sampled, once written.
            self.assertGreaterEqual(x, 0.45, "latencies %r\n%s" % (lat, info))
            self.assertLess(x, 2.0, "latencies %r\n%s" % (lat, info))
        say("schedule: run starts at %s s after the daemon, gaps %s s (max error %.0f ms); "
            "files appeared %s s after each start"
            % (" ".join("%.3f" % s for s in starts), " ".join("%.3f" % g for g in gaps),
               1000 * max(abs(g - 2.0) for g in gaps), " ".join("%.2f" % x for x in lat)))

        # Retention: exactly the three newest, as regular files of mode 0640.
        left = self.regular_profiles(tdir)
        left.pop(os.path.basename(foreign), None)
        self.assertEqual(sorted(left), sorted(order[2:]), info)
        for n, st in left.items():
            self.assertEqual(stat.S_IMODE(st.st_mode) & 0o137, 0, "%s mode %o" % (n, st.st_mode))
            self.load_profile(os.path.join(tdir, n), 100)
        self.assertEqual(read_file(victim), "precious\n", "a planted symlink was followed")
        self.assertTrue(os.path.exists(foreign), "someone else's file was removed")
        self.assertEqual(read_file(os.path.join(tdir, "notes.txt")), "keep me\n")
        # Links whose names were written became files (then went by
        # retention); the others are still links.
        for link in links:
            if os.path.basename(link) not in seen:
                self.assertTrue(os.path.islink(link), link)
        self.assertTrue(target.alive())
        self.assert_released(target.pid)

    def test_restart_followed_through_pidfile(self):
        """The target restarts with a new PID, written to its pidfile: the
        next run profiles the new process."""
        pidfile = self.log_path("app.pid")
        a = self.start_target("threads", 1)
        with open(pidfile, "w") as f:
            f.write("%d\n" % a.pid)
        d = self.start_daemon(self.base_conf() + (
            "Target app\n"
            "\tProcess pidfile %s\n"
            "\tInterval 1500ms\n"
            "\tDuration 300ms\n"
            "\tJitter 0\n"
            "\tOutputDir %s/%%t\n") % (pidfile, self.out))
        adir = os.path.join(self.out, "app")
        wait_until(lambda: any(".%d." % a.pid in n for n in self.regular_profiles(adir)), 10)
        self.assertTrue(any(".%d." % a.pid in n for n in self.regular_profiles(adir)), d.log())
        a.kill()
        b = self.start_target("threads", 1)
        with open(pidfile + ".new", "w") as f:
            f.write("%d\n" % b.pid)
        os.rename(pidfile + ".new", pidfile)
        wait_until(lambda: any(".%d." % b.pid in n for n in self.regular_profiles(adir)), 10)
        names = sorted(self.regular_profiles(adir))
        self.assertTrue(any(".%d." % b.pid in n for n in names), "%r\n%s" % (names, d.log()))
        self.assertEqual(d.stop(), EXIT_OK, d.log())
        for n in names:
            self.load_profile(os.path.join(adir, n), 100)
        self.assert_released(b.pid)


class SignalTest(DaemonTestCase):

    def test_sighup_good_then_bad(self):
        """SIGHUP with a good configuration switches targets; with a bad one
        the daemon says where the error is and keeps the configuration it
        has."""
        target = self.start_target("threads", 1)
        conf = self.base_conf() + (
            "Target %s\n"
            "\tProcess pid %d\n"
            "\tInterval 1s\n"
            "\tDuration 200ms\n"
            "\tJitter 0\n"
            "\tOutputDir " + self.out + "/%%t\n")
        d = self.start_daemon(conf % ("one", target.pid))
        one, two = os.path.join(self.out, "one"), os.path.join(self.out, "two")
        wait_until(lambda: self.regular_profiles(one), 10)
        self.assertTrue(self.regular_profiles(one), d.log())

        self.write_conf(conf % ("two", target.pid))
        t_hup = d.now()
        d.signal(signal.SIGHUP)
        d.wait_for(r"reloaded .*sprofd\.conf: 1 target", after=t_hup)
        wait_until(lambda: self.regular_profiles(two), 10)
        self.assertTrue(self.regular_profiles(two), d.log())
        # A run of "one" that had started may still finish; none after.
        time.sleep(1.0)
        n_one = len(self.regular_profiles(one))
        time.sleep(2.0)
        self.assertEqual(len(self.regular_profiles(one)), n_one, d.log())

        # Line 5 has the error.
        bad = self.write_conf(self.base_conf() + "Target three\n\tProcess pid x\n")
        t_bad = d.now()
        n_two = len(self.regular_profiles(two))
        d.signal(signal.SIGHUP)
        d.wait_for(r"keeping the configuration loaded before", after=t_bad)
        err = d.find(r"sprofd: (\S+):(\d+): (.*)", after=t_bad)
        self.assertTrue(err, d.log())
        self.assertEqual(err[0][1].group(1), os.path.realpath(bad))
        self.assertEqual(err[0][1].group(2), "5")
        self.assertIn("Process pid needs a process ID, not 'x'", err[0][1].group(3))
        # The old configuration goes on.
        wait_until(lambda: len(self.regular_profiles(two)) > n_two + 1, 10)
        self.assertGreater(len(self.regular_profiles(two)), n_two + 1, d.log())
        self.assertFalse(os.path.exists(os.path.join(self.out, "three")))
        self.assertEqual(d.stop(), EXIT_OK, d.log())

    def test_sigusr1_writes_in_progress(self):
        """SIGUSR1 mid-profile writes what was sampled so far, and sampling
        goes on: the final file, under the same name, has more."""
        target = self.start_target("threads", 2)
        d = self.start_daemon(self.base_conf() + (
            "Target t\n\tProcess pid %d\n\tInterval 1m\n\tDuration 5s\n\tJitter 0\n"
            "\tOutputDir %s/%%t\n") % (target.pid, self.out))
        tdir = os.path.join(self.out, "t")
        d.wait_for(r"worker \d+ attached to PID %d" % target.pid)
        time.sleep(1.5)
        self.assertEqual(self.regular_profiles(tdir), {})
        t_usr1 = d.now()
        d.signal(signal.SIGUSR1)
        d.wait_for(r"wrote the profile so far", after=t_usr1)
        snap = self.regular_profiles(tdir)
        self.assertEqual(len(snap), 1, d.log())
        (name, st1), = snap.items()
        p1 = self.load_profile(os.path.join(tdir, name), 100)
        # Still sampling: the target is traced, and the worker is alive.
        self.assertNotEqual(tracer_of(target.pid), 0, d.log())
        d.wait_for(r"target t: PID %d \(threads\): \d+ samples in 5\.\d s written" % target.pid,
                   timeout=15)
        final = self.regular_profiles(tdir)
        self.assertEqual(list(final), [name], d.log())
        p2 = self.load_profile(os.path.join(tdir, name), 100)
        self.assertNotEqual(final[name].st_ino, st1.st_ino, "the final file did not replace it")
        self.assertGreater(p2.total, p1.total, d.log())
        say("SIGUSR1 after ~1.5 s: snapshot %d samples, final %d samples (5 s)"
            % (p1.total, p2.total))
        self.assertEqual(d.stop(), EXIT_OK, d.log())
        self.assert_released(target.pid)

    def test_sigterm_mid_profile(self):
        """SIGTERM mid-profile: the worker detaches and writes what it has,
        the daemon exits 0 and removes its socket."""
        target = self.start_target("threads", 1)
        d = self.start_daemon(self.base_conf() + (
            "Target t\n\tProcess pid %d\n\tInterval 5m\n\tDuration 1m\n\tJitter 0\n"
            "\tOutputDir %s/%%t\n") % (target.pid, self.out))
        d.wait_for(r"worker \d+ attached to PID %d" % target.pid)
        self.assertTrue(os.path.exists(self.sock))
        time.sleep(1.5)
        t0 = time.monotonic()
        rc = d.stop(timeout=20)
        took = time.monotonic() - t0
        self.assertEqual(rc, EXIT_OK, d.log())
        files = self.regular_profiles(os.path.join(self.out, "t"))
        self.assertEqual(len(files), 1, d.log())
        prof = self.load_profile(os.path.join(self.out, "t", list(files)[0]), 100)
        self.assertGreater(prof.total, 0)
        self.assertFalse(os.path.exists(self.sock), "control socket left behind")
        self.assertTrue(target.alive())
        self.assert_released(target.pid)
        say("SIGTERM at ~1.5 s into a 1 min profile: exited after %.2f s with %d samples"
            % (took, prof.total))


    def test_stuck_worker_is_killed(self):
        """A worker that does not stop (here: stopped itself) is killed 15 s
        after SIGTERM; its target is detached by the kernel and runs on."""
        target = self.start_target("progress", self.log_path("progress"))
        d = self.start_daemon(self.base_conf() + (
            "Target t\n\tProcess pid %d\n\tInterval 5m\n\tDuration 1m\n\tJitter 0\n"
            "\tOutputDir %s/%%t\n") % (target.pid, self.out))
        d.wait_for(r"worker (\d+) attached to PID %d" % target.pid)
        worker = int(d.find(r"worker (\d+) attached")[0][1].group(1))
        self.assertIn(tracer_of(target.pid), tasks(worker))
        os.kill(worker, signal.SIGSTOP)
        t0 = time.monotonic()
        self.assertEqual(d.stop(timeout=40), EXIT_OK, d.log())
        took = time.monotonic() - t0
        self.assertTrue(d.find(r"target t: worker %d did not finish within 15 s of being "
                               r"stopped; killing it \(PID %d is detached and runs on\)"
                               % (worker, target.pid)), d.log())
        self.assertTrue(d.find(r"run on PID %d \(progress\) ended: worker killed by SIGKILL"
                               % target.pid), d.log())
        self.assertGreater(took, 14, d.log())
        self.assertTrue(target.alive())
        self.assert_released(target.pid)
        self.assert_progress(self.log_path("progress"))
        say("SIGTERM with a stopped worker: killed, daemon exited after %.1f s" % took)


class ConfigTestModeTest(DaemonTestCase):

    BAD = [
        # (text, line, message)
        ("Bogus yes\n", 1, r"unknown keyword 'Bogus'"),
        ("Frequency 20000\n", 1, r"Frequency must be a whole number from 1 to 10000"),
        ("Target a\n\tProcess pid 1\n\tDuration 10m\n", 3,
         r"target 'a': Duration 10m must be shorter than Interval 5m"),
        ("Target a\n", 1, r"target 'a' has no Process line"),
        ("Target a\n\tProcess cmdline \"[\"\n", 2, r"Process cmdline '\[':"),
        ("Target a\n\tProcess pid 1\nTarget a\n\tProcess pid 2\n", 3,
         r"target 'a' is already defined at line 1"),
        ("Target a\n\tProcess pid 1\n\tPidFile /run/x.pid\n", 3, r"PidFile is a global setting"),
        ("\n# comment\nFormats prof,nope\n", 3, r"Formats prof,nope: unknown format 'nope'"),
        ("OutputDir /same\nTarget a\n\tProcess pid 1\nTarget b\n\tProcess pid 2\n", 4,
         r"targets 'b' and 'a' \(line 2\) both write to /same"),
    ]

    def test_bad_configs(self):
        """Each bad configuration: exit 2 and one line FILE:LINE: reason."""
        for text, line, msg in self.BAD:
            with self.subTest(text=text):
                path = self.write_conf(text, "bad.conf")
                run = self.sprofd("-t", "-c", path, timeout=10)
                err = self.assert_error(run, EXIT_USAGE)
                self.assertRegex(err, r"^sprofd: %s:%d: %s" % (re.escape(path), line, msg))

    def test_bad_config_starts_nothing(self):
        """sprofd -D with a bad configuration exits 2 and binds no socket."""
        path = self.write_conf(self.base_conf() + "Target a\n\tProcess pid 1\n\tInterval 0\n")
        run = self.sprofd("-D", "-c", path, timeout=10)
        self.assert_error(run, EXIT_USAGE, r"sprofd\.conf:6: Interval must be a time")
        self.assertFalse(os.path.exists(self.sock))

    def test_config_permissions_and_missing(self):
        path = self.write_conf(self.base_conf())
        os.chmod(path, 0o666)
        self.assert_error(self.sprofd("-t", "-c", path), EXIT_USAGE,
                          r"writable by group or others \(mode 0666\)")
        self.assert_error(self.sprofd("-t", "-c", self.path("nope.conf")), EXIT_USAGE,
                          r"nope\.conf: cannot open the configuration: No such file")

    def test_effective_settings(self):
        """-t prints every effective setting in the file's syntax; printing
        that again gives the same text."""
        path = self.write_conf("Frequency 49\nMaxFiles 7\nTarget web\n"
                               "\tProcess exe /usr/sbin/nginx\n\tUser root\n"
                               "\tSelect all\n\tInterval 1m\n")
        run = self.sprofd("-t", "-c", path)
        self.assert_ok(run)
        for line in ["ControlSocket /run/sprofd/ctl.sock", "TotalCPUBudget 10%",
                     "Target web", "\tProcess exe /usr/sbin/nginx", "\tUser root",
                     "\tSelect all", "\tFrequency 49", "\tDuration 10s", "\tInterval 1m",
                     "\tJitter 6s", "\tOutputDir /var/lib/sprofd/web", "\tMaxFiles 7",
                     "\tMaxAge 30d", "\tCPUBudget none"]:
            self.assertIn(line + "\n", run.out)
        again = self.write_conf(run.out, "again.conf")
        run2 = self.sprofd("-t", "-c", again)
        self.assert_ok(run2)
        self.assertEqual(run2.out.split("\n", 1)[1], run.out.split("\n", 1)[1])


class ServiceTest(DaemonTestCase):

    def test_notify_socket(self):
        """With NOTIFY_SOCKET set (Type=notify), the daemon says READY=1
        once its control socket is up, RELOADING=1 and READY=1 around a
        reload, and STOPPING=1."""
        nsock = self.path("notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(nsock)
        s.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=nsock)
        d = Daemon(self, self.write_conf(self.base_conf()), env=env)
        msg = s.recv(4096).decode()
        self.assertTrue(msg.startswith("READY=1\n"), msg)
        self.assertIn("STATUS=0 targets; control socket %s" % self.sock, msg)
        self.assertTrue(stat.S_ISSOCK(os.stat(self.sock).st_mode))
        d.signal(signal.SIGHUP)
        self.assertEqual(s.recv(4096).decode(), "RELOADING=1")
        self.assertEqual(s.recv(4096).decode(), "READY=1")
        d.signal(signal.SIGTERM)
        self.assertEqual(s.recv(4096).decode(), "STOPPING=1")
        self.assertEqual(d.stop(), EXIT_OK, d.log())

    def test_detach_with_pidfile(self):
        """-D -b returns once the daemon is ready; the pidfile names it and
        is removed when it stops."""
        pidfile = self.path("sprofd.pid")
        path = self.write_conf(self.base_conf() + "PidFile %s\n" % pidfile)
        run = self.sprofd("-D", "-b", "-c", path, timeout=20)
        self.assertEqual(run.rc, EXIT_OK, str(run))
        pid = int(read_file(pidfile).strip())

        def cleanup():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.addCleanup(cleanup)
        self.assertTrue(os.path.exists("/proc/%d" % pid))
        self.assertNotEqual(os.getsid(pid), os.getsid(0), "the daemon kept our session")
        self.assertNotEqual(os.getpgid(pid), os.getpgid(0), "the daemon kept our process group")
        self.assertTrue(stat.S_ISSOCK(os.stat(self.sock).st_mode))
        # A second one refuses: the socket is live.
        run2 = self.sprofd("-D", "-b", "-c", path, timeout=20)
        self.assertNotEqual(run2.rc, EXIT_OK, str(run2))
        self.assertIn("another sprofd is listening on %s" % self.sock, run2.err)
        self.assertEqual(int(read_file(pidfile).strip()), pid)
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_until(lambda: not os.path.exists(pidfile), 10))
        self.assertTrue(wait_until(lambda: not os.path.exists("/proc/%d" % pid)
                                   or read_file("/proc/%d/stat" % pid, "").split(") ")[-1][:1]
                                   == "Z", 10))
