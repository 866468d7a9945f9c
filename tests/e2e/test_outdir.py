"""Faults of the output directory: a full file system (from the start, and
running out in the middle of a file), a read-only one, and a directory
the user may not write in; for sprofd -p and for the daemon, which must
log each failed write, keep going, leave no temporary file, keep the
profiles it had, and write again once the fault is gone.

The faults are real: a small tmpfs mounted for the test (root only; the
test is skipped where mounting is not permitted), filled with a file of
zeros, or remounted read-only. Every mount is lazily unmounted in
cleanup, whatever happened.

The helpers here (Tmpfs, OutdirTestCase) are shared with test_security.py."""

import errno
import hashlib
import os
import re
import stat
import subprocess
import threading
import time
import unittest

from sprofdtest import (EXIT_OK, EXIT_OUTPUT, SPROFD, TARGETS, WRAP, SprofdTestCase, Target,
                        read_file)
from test_daemon import Daemon, DaemonTestCase, say

NOBODY = (65534, 65534)
# Files of a profile: COMM.PID.TIME plus the extension of prof or svg.
FILE_RE = re.compile(r"^[A-Za-z0-9_.-]+\.\d+\.\d{9,}\.(prof|svg)$")


def as_user(ids):
    """The command prefix that runs a program as uid:gid, all IDs."""
    return ["setpriv", "--reuid=%d" % ids[0], "--regid=%d" % ids[1], "--clear-groups", "--"]


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class Tmpfs:
    """A small tmpfs mounted on a fresh directory; unmounted (lazily) in
    the test's cleanup."""

    def __init__(self, test, path, size="256k", mode="0755"):
        if os.geteuid() != 0:
            raise unittest.SkipTest("mounting a tmpfs needs root")
        os.makedirs(path)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=%s" % (size, mode),
                            "sprofd-test", path], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            if re.search(r"(?i)permission denied|not permitted|superuser", p.stderr):
                raise unittest.SkipTest("mount is not permitted here: %s" % p.stderr.strip())
            test.fail("mount -t tmpfs on %s failed: %s" % (path, p.stderr.strip()))
        self.path = path
        test.addCleanup(self.unmount)

    def unmount(self):
        subprocess.run(["umount", "-l", self.path], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)

    def remount(self, how, timeout=10):
        """Remounts ro or rw; a remount to ro fails (EBUSY) while a file is
        open for writing, so it is tried again for a while."""
        end = time.monotonic() + timeout
        while True:
            p = subprocess.run(["mount", "-o", "remount,%s" % how, self.path],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=30)
            if p.returncode == 0:
                return
            if time.monotonic() > end:
                raise AssertionError("remount,%s of %s failed: %s"
                                     % (how, self.path, p.stderr.strip()))
            time.sleep(0.02)

    def fill(self, name="fill", leave=0):
        """Writes zeros to name until the file system is full; then gives
        back leave bytes (from the end of the file). Returns the path."""
        path = os.path.join(self.path, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        os.write(fd, b"\0" * size)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        if leave:
            os.truncate(path, os.path.getsize(path) - leave)
        return path


class OutdirTestCase(DaemonTestCase):

    def mount(self, name="mnt", size="256k", mode="0755"):
        return Tmpfs(self, self.path(name), size, mode)

    def contents(self, d):
        """Everything in directory d, hidden names included: name ->
        (inode, size, SHA-256 of the bytes), or the file type for what is
        not a regular file. Equal means the same file with the same bytes."""
        out = {}
        for n in os.listdir(d):
            p = os.path.join(d, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[n] = (st.st_ino, st.st_size, hashlib.sha256(f.read()).hexdigest())
            else:
                out[n] = stat.S_IFMT(st.st_mode)
        return out

    def assert_no_temp(self, d, msg=""):
        hidden = [n for n in os.listdir(d) if n.startswith(".")]
        self.assertEqual(hidden, [], "temporary files left in %s %s" % (d, msg))

    def start_as(self, ids, name, *args):
        """A target run as another user."""
        t = Target.__new__(Target)
        t.name = name
        t.errpath = self.log_path("%s.%d.stderr" % (name, ids[0]))
        t.err = open(t.errpath, "wb")
        t.proc = subprocess.Popen(as_user(ids) + [os.path.join(TARGETS, name)]
                                  + [str(a) for a in args], cwd="/",
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=t.err)
        t.pid = t.proc.pid
        self.addCleanup(t.kill)
        line = t.proc.stdout.readline()
        self.assertEqual(line, b"ready\n", read_file(t.errpath))
        return t


class UserDaemon(Daemon):
    """sprofd -D -v run under a command prefix (another user)."""

    def __init__(self, test, conf_path, prefix):
        self.test = test
        self.conf = conf_path
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(list(prefix) + WRAP + [SPROFD, "-D", "-v", "-c", conf_path],
                                     cwd="/", stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace")
        self.pid = self.proc.pid
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        test.addCleanup(self.kill)


class CliOutdirTest(OutdirTestCase):

    def test_full_disk(self):
        """sprofd -p into a full file system: exit 6, one error line that
        names the file, the cause and what to do; no file of any format,
        no temporary file; the x.prof written there before is intact."""
        target = self.start_target("threads", 1)
        fs = self.mount()
        out = os.path.join(fs.path, "x.prof")
        run = self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-m", "wall", "-o", out)
        self.assert_ok(run)
        self.load_profile(out, 100)
        fs.fill()
        self.assertEqual(free_bytes(fs.path), 0)
        before = self.contents(fs.path)
        formats = "prof,pprof,collapsed,callgrind,svg"
        run = self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-m", "wall", "-o", out,
                          "-f", formats)
        self.assert_error(run, EXIT_OUTPUT, r"^sprofd: cannot write %s: No space left on device; "
                          r"free some space on that file system, or write elsewhere$"
                          % re.escape(out))
        self.assertEqual(self.contents(fs.path), before, "the directory changed")
        self.assert_released(target.pid)
        # Without -q: still one error; the formats not tried are named.
        run = self.sprofd("-p", target.pid, "-d", 0.5, "-m", "wall", "-o", out, "-f", formats,
                          "-n", "0")
        self.assertEqual(run.rc, EXIT_OUTPUT, str(run))
        errors = [l for l in run.err.splitlines() if l.startswith("sprofd: cannot write")]
        self.assertEqual(len(errors), 1, str(run))
        skipped = [l for l in run.err.splitlines() if "not written either" in l]
        self.assertEqual(len(skipped), 1, str(run))
        for name in ("x.pb.gz", "x.folded", "callgrind.out.threads.%d." % target.pid, "x.svg"):
            self.assertIn(os.path.join(fs.path, name), skipped[0], str(run))
        self.assertEqual(self.contents(fs.path), before, "the directory changed")
        say("full tmpfs: exit 6 with 1 error line, directory unchanged (x.prof %d bytes intact)"
            % before["x.prof"][1])

    def test_space_runs_out_mid_file(self):
        """Room for the .prof but not for the flame graph: the .prof is
        written whole, the .svg's temporary file, cut short by ENOSPC after
        its first pages, is removed, and nothing partial stays."""
        target = self.start_target("threads", 1)
        # The sizes the two files have for this target.
        ref = self.path("ref.prof")
        self.assert_ok(self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-m", "wall", "-o", ref,
                                   "-f", "prof,svg"))
        prof_size, svg_size = os.path.getsize(ref), os.path.getsize(self.path("ref.svg"))
        fs = self.mount()
        page = os.statvfs(fs.path).f_frsize
        room = (prof_size // page + 2) * page
        fs.fill(leave=room)
        self.assertEqual(free_bytes(fs.path), room)
        # The flame graph must outgrow what the .prof leaves, or this test
        # would test nothing.
        self.assertGreater(svg_size, 2 * (room - (prof_size // page + 1) * page),
                           "the flame graph (%d bytes) would fit in %d" % (svg_size, room))
        out = os.path.join(fs.path, "y.prof")
        run = self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-m", "wall", "-o", out,
                          "-f", "prof,svg")
        self.assert_error(run, EXIT_OUTPUT, r"^sprofd: cannot write %s: No space left on device"
                          % re.escape(os.path.join(fs.path, "y.svg")))
        self.assertEqual(sorted(os.listdir(fs.path)), ["fill", "y.prof"])
        prof = self.load_profile(out, 100)
        self.assertGreater(prof.total, 0)
        self.assert_released(target.pid)
        say("mid-file ENOSPC: %d bytes free, .prof %d bytes written whole, .svg (~%d bytes) "
            "refused, no partial file" % (room, os.path.getsize(out), svg_size))

    def test_read_only(self):
        """A file system remounted read-only: exit 6, the cause and what to
        do on one line, the file there before unchanged."""
        target = self.start_target("threads", 1)
        fs = self.mount()
        out = os.path.join(fs.path, "x.prof")
        self.assert_ok(self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-m", "wall", "-o", out))
        before = self.contents(fs.path)
        fs.remount("ro")
        run = self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-m", "wall", "-o", out,
                          "-f", "prof,svg")
        self.assert_error(run, EXIT_OUTPUT, r"^sprofd: cannot write %s: Read-only file system; "
                          r"the file system is mounted read-only" % re.escape(out))
        self.assertEqual(self.contents(fs.path), before)
        fs.remount("rw")
        self.assert_ok(self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-m", "wall", "-o", out))
        self.assertNotEqual(self.contents(fs.path)["x.prof"][0], before["x.prof"][0],
                            "not written again")
        self.load_profile(out, 100)
        self.assert_released(target.pid)

    def test_directory_without_write_permission(self):
        """A user profiling their own process into a directory of theirs
        with mode 0555: exit 6, 'Permission denied' and what is needed."""
        if os.geteuid() != 0:
            self.skipTest("needs root to run as another user")
        target = self.start_as(NOBODY, "threads", 1)
        d = self.path("locked")
        os.mkdir(d)
        os.chown(d, *NOBODY)
        os.chmod(d, 0o555)
        out = os.path.join(d, "x.prof")
        run = self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-m", "wall", "-o", out,
                          "-f", "prof,pprof", prefix=as_user(NOBODY))
        self.assert_error(run, EXIT_OUTPUT, r"^sprofd: cannot write %s: Permission denied; "
                          r"writing there needs write and search permission on its directory$"
                          % re.escape(out))
        self.assertEqual(os.listdir(d), [])
        self.assert_released(target.pid)
        # The same user, once the directory is writable: written.
        os.chmod(d, 0o755)
        run = self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-m", "wall", "-o", out,
                          prefix=as_user(NOBODY))
        self.assert_ok(run)
        self.assertEqual(os.stat(out).st_uid, NOBODY[0])


class DaemonOutdirTest(OutdirTestCase):

    WRITTEN = r"target t: PID %d \(threads\): \d+ samples in [\d.]+ s written to "
    FAILED = r"target t: run on PID %d \(threads\) ended: the profile could not be written"

    def conf(self, target, outdir, keep=4):
        # Two formats: a failed run must log one error, not one per format.
        return self.base_conf() + (
            "Target t\n\tProcess pid %d\n\tInterval 1s\n\tDuration 200ms\n\tJitter 0\n"
            "\tFormats prof,svg\n\tOutputDir %s/%%t\n\tMaxFiles %d\n") % (target.pid, outdir, keep)

    def profile_files(self, d):
        return {n: b for n, b in self.contents(d).items() if FILE_RE.match(n)}

    def run_fault(self, target, d, tdir, cause, make_fault, clear_fault, top_up=None):
        """Lets the daemon reach its retention limit, makes the fault right
        after a run has written (the next one is most of a second away),
        checks that three more runs fail cleanly, and that the daemon
        writes again once the fault is cleared. Returns (failed runs,
        seconds to recover)."""
        pid = target.pid
        d.wait_for(self.WRITTEN % pid, count=3, timeout=40)
        d.wait_for(self.WRITTEN % pid, after=d.now(), timeout=20)
        time.sleep(0.05)    # retention, right after the run
        t_fault = d.now()
        make_fault()
        err_re = r"sprofd: cannot write %s/[^/ ]+\.%d\.\d+\.(prof|svg): %s" % (
            re.escape(tdir), pid, cause)
        # The first failed run, and the retention after it, are over
        # before the directory is looked at.
        d.wait_for(self.FAILED % pid, after=t_fault, timeout=30)
        time.sleep(0.2)
        if top_up:
            top_up()
        snap = self.contents(tdir)
        self.assert_no_temp(tdir, "after a failed write")
        self.assertEqual(sorted(n for n in snap if not FILE_RE.match(n)), [],
                         "stray files: %r\n%s" % (sorted(snap), d.log()))
        self.assertGreaterEqual(len(snap), 2, d.log())
        t_snap = d.now()
        d.wait_for(self.FAILED % pid, after=t_snap, count=3, timeout=30)
        failed = d.find(self.FAILED % pid, after=t_fault)
        # One error line per failed run, whatever the number of formats
        # (each run's error comes before the line saying how it ended).
        errs = [e for e in d.find(err_re, after=t_fault) if e[0] <= failed[-1][0]]
        self.assertEqual(len(errs), len(failed), d.log())
        self.assertIsNone(d.proc.poll(), "the daemon exited\n%s" % d.log())
        self.assertEqual(self.contents(tdir), snap, "the directory changed while failing")
        self.assertEqual(d.find(self.WRITTEN % pid, after=t_snap), [], d.log())

        clear_fault()
        t_clear = d.now()
        w = d.wait_for(self.WRITTEN % pid, after=t_clear, timeout=20)
        recovered = w[0][0] - t_clear
        time.sleep(0.2)     # retention after that run
        after = self.profile_files(tdir)
        self.assert_no_temp(tdir, "after recovery")
        new = sorted(set(after) - set(snap))
        self.assertEqual(len(new), 2, "new files %r\n%s" % (new, d.log()))
        # MaxFiles 4: the new profile and the newest before it, unchanged.
        self.assertEqual(len(after), 4, "retention: %r\n%s" % (sorted(after), d.log()))
        for n in set(after) & set(snap):
            self.assertEqual(after[n], snap[n], n)
        for n in new:
            if n.endswith(".prof"):
                self.load_profile(os.path.join(tdir, n), 100)
            else:
                self.assertTrue(read_file(os.path.join(tdir, n)).rstrip().endswith("</svg>"), n)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(tdir, n)).st_mode), 0o640, n)
        self.assertEqual(d.stop(), EXIT_OK, d.log())
        self.assert_released(pid)
        return len(failed), recovered

    def test_full_disk(self):
        target = self.start_target("threads", 1)
        fs = self.mount(size="512k")
        tdir = os.path.join(fs.path, "t")
        d = self.start_daemon(self.conf(target, fs.path))
        box = {}

        def make():
            box["fill"] = fs.fill()

        def clear():
            os.unlink(box["fill"])
        failed, took = self.run_fault(
            target, d, tdir, r"No space left on device; free some space on that file system",
            make, clear, top_up=fs.fill)
        say("daemon on a full tmpfs: %d runs failed with ENOSPC (one error line each), "
            "0 temporary files, profiles kept byte-identical; wrote again %.2f s after "
            "the space came back" % (failed, took))

    def test_read_only(self):
        target = self.start_target("threads", 1)
        fs = self.mount(size="512k")
        tdir = os.path.join(fs.path, "t")
        d = self.start_daemon(self.conf(target, fs.path))
        failed, took = self.run_fault(
            target, d, tdir, r"Read-only file system; the file system is mounted read-only",
            lambda: fs.remount("ro"), lambda: fs.remount("rw"))
        say("daemon on a read-only remount: %d runs failed with EROFS; wrote again %.2f s "
            "after remount,rw" % (failed, took))

    def test_directory_without_write_permission(self):
        """The daemon run by a user (for their own processes), with its
        output directory at mode 0555: EACCES at each run, then, after
        chmod, profiles again."""
        if os.geteuid() != 0:
            self.skipTest("needs root to run as another user")
        target = self.start_as(NOBODY, "threads", 1)
        base = self.path("u")
        tdir = os.path.join(base, "t")
        os.makedirs(tdir)
        os.chown(tdir, *NOBODY)
        os.chmod(tdir, 0o750)
        conf = self.write_conf(self.conf(target, base).replace(
            "ControlSocket %s" % self.sock, "ControlSocket none"))
        d = UserDaemon(self, conf, as_user(NOBODY)).ready()
        failed, took = self.run_fault(
            target, d, tdir, r"Permission denied; writing there needs write and search "
            r"permission on its directory", lambda: os.chmod(tdir, 0o555),
            lambda: os.chmod(tdir, 0o750))
        say("daemon as a user, output directory 0555: %d runs failed with EACCES; wrote again "
            "%.2f s after chmod" % (failed, took))


class StreamOutputTest(SprofdTestCase):
    """-o naming a device or a pipe writes into it in place: a rename over
    it (the atomic write of a regular file) would replace the device node
    or the pipe with a file."""

    def test_dev_null(self):
        target = self.start_target("split")
        run = self.sprofd("-p", target.pid, "-d", 0.3, "-F", 200, "-o", "/dev/null", "-n", 0)
        self.assertEqual(run.rc, EXIT_OK, str(run))
        self.assertTrue(stat.S_ISCHR(os.stat("/dev/null").st_mode),
                        "/dev/null is no longer a device\n%s" % run)

    def test_fifo(self):
        target = self.start_target("split")
        fifo = self.path("stacks.fifo")
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(target=lambda: got.append(open(fifo).read()), daemon=True)
        reader.start()
        run = self.sprofd("-p", target.pid, "-d", 0.3, "-F", 200, "-o", fifo, "-f", "collapsed",
                          "-n", 0)
        reader.join(10)
        self.assertEqual(run.rc, EXIT_OK, str(run))
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode), "the pipe was replaced\n%s" % run)
        self.assertTrue(got and re.search(r"^\S.*;hot_[ab] \d+$", got[0], re.M),
                        "no collapsed stacks came through the pipe: %r\n%s" % (got, run))
        self.assertEqual(sorted(os.listdir(self.tmp)), ["stacks.fifo"], "a temporary file was left")
