"""What sprofd refuses to do for someone who should not be able to make it:
write through a planted symbolic link, remove a file that is not one of
its profiles, start from a configuration (or with a control socket) that
another user could have changed, take the place of a file at its socket
path, let a user write outside the daemon's own directories, or stall
because a client connected and said nothing, half a line, or nonsense.
Also the modes of what the daemon creates, whatever umask it starts with."""

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time

from sprofdtest import (EXIT_INTERNAL, EXIT_OK, EXIT_PERM, EXIT_USAGE, WROTE_RE, read_file,
                        wait_until)
from test_daemon import Daemon, say
from test_outdir import NOBODY, OutdirTestCase, as_user

# A Python another user can run (sys.executable may be in root's home).
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
# A process that names itself NAME (prctl PR_SET_NAME), optionally makes
# itself non-dumpable (PR_SET_DUMPABLE 0), says "ready" and waits.
PY_TARGET = r"""
import ctypes, sys, time
libc = ctypes.CDLL(None)
libc.prctl(15, sys.argv[1].encode(), 0, 0, 0)
if sys.argv[2] == "undumpable":
    libc.prctl(4, 0, 0, 0, 0)
print("ready", flush=True)
time.sleep(120)
"""

# Opens N connections to the socket and sends nothing on them, then one
# more, and prints what the daemon answers on that one; holds them all
# until its stdin closes.
PY_HOLDER = r"""
import socket, sys
path, n = sys.argv[1], int(sys.argv[2])
held = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    held.append(s)
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.settimeout(10)
print(s.recv(4096).decode().strip(), flush=True)
sys.stdin.read()
"""


def umask_for(mask, fn):
    """Calls fn with the process umask set to mask (children inherit it)."""
    old = os.umask(mask)
    try:
        return fn()
    finally:
        os.umask(old)


class SecurityTestCase(OutdirTestCase):

    def start_py(self, ids, comm, how="dumpable"):
        """A Python process run as ids, named comm."""
        prefix = as_user(ids) if ids else []
        p = subprocess.Popen(prefix + [PYTHON, "-c", PY_TARGET, comm, how], cwd="/",
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)

        def cleanup():
            p.kill()
            p.wait(10)
            p.stdout.close()
        self.addCleanup(cleanup)
        self.assertEqual(p.stdout.readline(), b"ready\n")
        return p

    def request(self, data, timeout=10):
        """Sends raw bytes on a new connection; returns everything the
        daemon sends until it closes the connection."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall(data)
            out = b""
            while True:
                try:
                    got = s.recv(65536)
                except ConnectionResetError:
                    # Closed with some of what we sent unread.
                    got = b""
                if not got:
                    return out.decode(errors="replace")
                out += got
        finally:
            s.close()

    def status_ok(self, timeout=10):
        """A status request from root answers, fully, within timeout."""
        t0 = time.monotonic()
        reply = self.request(b"status\n", timeout)
        took = time.monotonic() - t0
        self.assertTrue(reply.endswith("ok \n"), reply)
        return took


class SymlinkTest(SecurityTestCase):

    def test_daemon_never_follows_nor_removes_others(self):
        """Planted symbolic links at the names of the next profiles and at
        names of the writer's temporary files, to a victim outside and to a
        file that must not come to exist; someone else's files and the
        admin's own files with names close to a profile's. Under umask 0,
        three runs with MaxFiles 2: the victim is untouched, nothing is
        created through a link, every link, foreign and unrelated file is
        still there, only sprofd's own stale temporary file is removed,
        and the profiles are mode 0640."""
        target = self.start_target("threads", 1)
        pid = target.pid
        tdir = os.path.join(self.out, "t")
        os.makedirs(tdir, mode=0o750)
        victim = self.log_path("victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        vst = os.stat(victim)
        nowhere = self.log_path("created-through-a-link")
        now = int(time.time())
        old = now - 7200
        links = {}
        for t in range(now - 2, now + 40):
            for ext in (".prof", ".svg"):
                name = "threads.%d.%d%s" % (pid, t, ext)
                links[name] = victim
                tmpname = ".%s.%s" % (name, "a%07d" % (t % 10000000))
                links[tmpname] = nowhere if t % 2 else victim
        for name, dest in links.items():
            os.symlink(dest, os.path.join(tdir, name))
            os.utime(os.path.join(tdir, name), (old, old), follow_symlinks=False)

        def plant(name, owner=None, directory=False):
            p = os.path.join(tdir, name)
            if directory:
                os.mkdir(p)
            else:
                with open(p, "w") as f:
                    f.write("not sprofd's\n")
            if owner:
                os.chown(p, *owner)
            os.utime(p, (1600000000, 1600000000))
            return p
        ours_stale = plant(".threads.1.1600000000.prof.zz000000")
        kept = [
            plant(".threads.2.1600000000.prof.yy000000", NOBODY),   # someone else's temp
            plant("threads.3.1600000000.prof", NOBODY),             # someone else's profile
            plant("notes.4.1600000000.txt"),                        # close, not a format
            plant("threads.5.1600000000.prof.bak"),
            plant("threads.6.1600000000.prof.gz"),
            plant(".threads.7.1600000000.prof.bak"),                # not a temp's suffix
            plant("threads.8.1600000000"),                          # no extension
            plant("threads.9.1600000000.prof", directory=True),
            plant("README"),
        ]

        d = umask_for(0, lambda: Daemon(self, self.write_conf(self.base_conf() + (
            "Target t\n\tProcess pid %d\n\tInterval 1s\n\tDuration 200ms\n\tJitter 0\n"
            "\tFormats prof,svg\n\tOutputDir %s/%%t\n\tMaxFiles 2\n") % (pid, self.out))).ready())
        d.wait_for(r"target t: PID %d \(threads\): \d+ samples in [\d.]+ s written" % pid,
                   count=3, timeout=40)
        self.assertEqual(d.stop(), EXIT_OK, d.log())
        log = d.log()

        self.assertEqual(read_file(victim), "precious\n", "the victim was written")
        st = os.stat(victim)
        self.assertEqual((st.st_ino, st.st_size, st.st_mtime_ns, st.st_nlink),
                         (vst.st_ino, vst.st_size, vst.st_mtime_ns, vst.st_nlink), log)
        self.assertFalse(os.path.lexists(nowhere), "a file was created through a link")
        replaced = 0
        for name, dest in links.items():
            p = os.path.join(tdir, name)
            if os.path.islink(p):
                self.assertEqual(os.readlink(p), dest, name)
            else:
                # Only a profile's own name may have been written over
                # (and removed by retention since).
                self.assertFalse(name.startswith("."), "%s was removed\n%s" % (name, log))
                replaced += 1
        self.assertGreaterEqual(replaced, 6, "links at profile names replaced: %d" % replaced)
        self.assertFalse(os.path.lexists(ours_stale), "sprofd's stale temporary file stayed")
        for p in kept:
            self.assertTrue(os.path.lexists(p), "%s was removed\n%s" % (p, log))
        profiles = [n for n in os.listdir(tdir)
                    if re.match(r"^threads\.%d\.\d+\.(prof|svg)$" % pid, n)
                    and not os.path.islink(os.path.join(tdir, n))]
        self.assertEqual(len(profiles), 2, "%r\n%s" % (profiles, log))
        for n in profiles:
            st = os.lstat(os.path.join(tdir, n))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o640, n)
            self.assertEqual(st.st_uid, 0, n)
        self.assert_released(pid)
        say("planted %d links: %d at written names replaced, none followed; %d foreign or "
            "unrelated files kept; own stale temporary removed; profiles 0640 under umask 0"
            % (len(links), replaced, len(kept)))

    def test_cli_output_is_a_symlink(self):
        """sprofd -o PATH where PATH is a symbolic link: the profile is
        written at PATH, replacing the link itself; what it pointed to (a
        file, nothing, or a directory) is left as it was."""
        target = self.start_target("threads", 1)
        victim = self.log_path("victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        vst = os.stat(victim)
        os.symlink(victim, self.path("x.prof"))
        os.symlink(victim, self.path("x.svg"))
        os.symlink(self.log_path("nowhere/at/all"), self.path("dangling.prof"))
        ddir = self.log_path("somedir")
        os.mkdir(ddir)
        os.symlink(ddir, self.path("dir.prof"))
        for out, formats in (("x.prof", "prof,svg"), ("dangling.prof", "prof"),
                             ("dir.prof", "prof")):
            with self.subTest(out=out):
                run = self.sprofd("-q", "-p", target.pid, "-d", 0.3, "-m", "wall",
                                  "-o", self.path(out), "-f", formats)
                self.assert_ok(run)
                st = os.lstat(self.path(out))
                self.assertTrue(stat.S_ISREG(st.st_mode), "%s is still a link" % out)
                self.load_profile(self.path(out), 100)
        self.assertTrue(stat.S_ISREG(os.lstat(self.path("x.svg")).st_mode))
        self.assertEqual(read_file(victim), "precious\n")
        self.assertEqual(os.stat(victim).st_ino, vst.st_ino)
        self.assertFalse(os.path.lexists(self.log_path("nowhere")))
        self.assertEqual(os.listdir(ddir), [])
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith(".")], [])
        self.assert_released(target.pid)


class ConfigPermissionTest(SecurityTestCase):

    def check_refused(self, path, pattern, same=True):
        """sprofd -t and sprofd -D both refuse path with the same one-line
        FILE: reason (the daemon names the file by its resolved path),
        status 2, and the daemon binds no socket."""
        msgs = []
        for args in (("-t", "-c", path), ("-D", "-c", path)):
            run = self.sprofd(*args, timeout=20)
            msgs.append(self.assert_error(run, EXIT_USAGE, pattern))
        if same:
            self.assertEqual(msgs[0], msgs[1])
        self.assertFalse(os.path.exists(self.sock))
        return msgs[0]

    def conf_text(self):
        return self.base_conf() + "Target t\n\tProcess pid 1\n\tOutputDir %s/%%t\n" % self.out

    def test_config_file_modes(self):
        path = self.write_conf(self.conf_text())
        cases = [
            (0o666, 0, r"writable by group or others \(mode 0666\); run: chmod go-w"),
            (0o602, 0, r"writable by group or others \(mode 0602\)"),
            (0o664, 100, r"writable by group or others \(mode 0664, group 100\); run: "
                         r"chmod g-w"),
        ]
        for mode, gid, pattern in cases:
            with self.subTest(mode=oct(mode), gid=gid):
                os.chown(path, 0, gid)
                os.chmod(path, mode)
                self.check_refused(path, r"^sprofd: %s: %s" % (re.escape(path), pattern))
        with self.subTest("another user's"):
            os.chown(path, NOBODY[0], 0)
            os.chmod(path, 0o644)
            self.check_refused(path, r"^sprofd: %s: owned by uid %d; it must belong to root"
                               % (re.escape(path), NOBODY[0]))
        # Group-writable by root's group: root's to trust.
        os.chown(path, 0, 0)
        os.chmod(path, 0o664)
        self.assert_ok(self.sprofd("-t", "-c", path))

    def test_config_directory(self):
        """The configuration's directory (and each above it) must be one
        that only root could have put another file into."""
        cdir = self.path("etc")
        os.mkdir(cdir)
        path = os.path.join(cdir, "sprofd.conf")
        with open(path, "w") as f:
            f.write(self.conf_text())
        os.chmod(path, 0o644)
        for mode, owner, pattern in (
                (0o777, (0, 0), r"the directory %s is writable by others \(mode 0777\) and not "
                                r"sticky; run: chmod o-w %s"),
                (0o775, (0, 100), r"the directory %s is writable by group 100 \(mode 0775\); "
                                  r"run: chmod g-w %s"),
                (0o755, NOBODY, r"the directory %s belongs to uid 65534, not to root")):
            with self.subTest(mode=oct(mode), owner=owner):
                os.chown(cdir, *owner)
                os.chmod(cdir, mode)
                self.check_refused(path, r"^sprofd: %s: %s$" % (
                    re.escape(path), pattern % ((re.escape(cdir),) * pattern.count("%s"))))
        # Sticky (like /tmp), or group-writable by root's group: fine.
        for mode in (0o1777, 0o775):
            os.chown(cdir, 0, 0)
            os.chmod(cdir, mode)
            self.assert_ok(self.sprofd("-t", "-c", path))
        # A link from a safe place to a file in an unsafe one: the file's
        # own directory counts.
        os.chmod(cdir, 0o777)
        link = self.path("link.conf")
        os.symlink(path, link)
        self.check_refused(link, r"^sprofd: (%s|%s): the directory %s is writable by others"
                           % (re.escape(link), re.escape(path), re.escape(cdir)), same=False)

    def test_reload_from_an_unsafe_directory(self):
        """SIGHUP once the configuration's directory has become writable by
        others: the reason is logged, and the configuration loaded before
        stays in force."""
        cdir = self.path("etc")
        os.mkdir(cdir)
        path = os.path.join(cdir, "sprofd.conf")
        with open(path, "w") as f:
            f.write(self.base_conf())
        os.chmod(path, 0o644)
        d = Daemon(self, path).ready()
        os.chmod(cdir, 0o777)
        t = d.now()
        d.signal(signal.SIGHUP)
        d.wait_for(r"keeping the configuration loaded before", after=t)
        self.assertTrue(d.find(r"sprofd: %s: the directory %s is writable by others"
                               % (re.escape(path), re.escape(cdir)), after=t), d.log())
        self.status_ok()
        self.assertEqual(d.stop(), EXIT_OK, d.log())

    def test_directories_the_config_names(self):
        """An OutputDir, ControlSocket or PidFile under a directory others
        can write in is refused, naming the setting and the directory."""
        open_dir = self.path("open")
        os.mkdir(open_dir)
        os.chmod(open_dir, 0o777)
        for text, pattern in (
                (self.base_conf() + "Target t\n\tProcess pid 1\n\tOutputDir %s/p/%%t\n" % open_dir,
                 r"sprofd\.conf:4: target 't': OutputDir %s/p/t: the directory %s is writable "
                 r"by others"),
                ("ControlSocket %s/ctl.sock\n" % open_dir,
                 r"sprofd\.conf: ControlSocket %s/ctl\.sock: the directory %s is writable by "
                 r"others"),
                (self.base_conf() + "PidFile %s/sprofd.pid\n" % open_dir,
                 r"sprofd\.conf: PidFile %s/sprofd\.pid: the directory %s is writable by "
                 r"others")):
            with self.subTest(text=text):
                path = self.write_conf(text)
                self.check_refused(path, r"^sprofd: \S*" + pattern % (
                    (re.escape(open_dir),) * pattern.count("%s")))
        self.assertEqual(os.listdir(open_dir), [])


class ControlSocketTest(SecurityTestCase):

    def test_modes_under_any_umask(self):
        """Whatever umask the daemon starts with: its socket directory is
        made 0755, the socket is 0666 (every caller is checked), its output
        directory 0750 and its profiles 0640."""
        target = self.start_target("threads", 1)
        sock_dir = self.path("run")
        self.sock = os.path.join(sock_dir, "ctl.sock")
        for mask in (0, 0o077):
            with self.subTest(umask=oct(mask)):
                d = umask_for(mask, lambda: self.start_daemon(self.base_conf() + (
                    "Target t\n\tProcess pid %d\n\tInterval 1h\n\tDuration 200ms\n\tJitter 0\n"
                    "\tOutputDir %s/%%t\n") % (target.pid, self.out)))
                d.wait_for(r"target t: PID %d \(threads\): \d+ samples" % target.pid, timeout=20)
                self.assertEqual(stat.S_IMODE(os.stat(sock_dir).st_mode), 0o755)
                st = os.lstat(self.sock)
                self.assertTrue(stat.S_ISSOCK(st.st_mode))
                self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o666, 0))
                tdir = os.path.join(self.out, "t")
                self.assertEqual(stat.S_IMODE(os.stat(tdir).st_mode), 0o750)
                for n in os.listdir(tdir):
                    self.assertEqual(stat.S_IMODE(os.stat(os.path.join(tdir, n)).st_mode),
                                     0o640, n)
                self.assertTrue(os.listdir(tdir))
                self.assertEqual(d.stop(), EXIT_OK, d.log())
                os.rmdir(sock_dir)
                for n in os.listdir(tdir):
                    os.unlink(os.path.join(tdir, n))
                os.rmdir(tdir)
        self.assert_released(target.pid)

    def test_stale_socket_is_replaced(self):
        s = socket.socket(socket.AF_UNIX)
        s.bind(self.sock)
        s.close()      # the file stays; nobody listens
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.sock).st_mode))
        d = self.start_daemon(self.base_conf())
        self.assertTrue(d.find(r"removed %s, left by a daemon that is gone" % re.escape(self.sock)),
                        d.log())
        self.status_ok()
        self.assertEqual(d.stop(), EXIT_OK, d.log())

    def test_what_is_not_ours_stays(self):
        """A file, a link, another user's socket or a live socket at the
        socket path: the daemon does not start (status 1), says why, and
        leaves it as it was."""
        victim = self.log_path("victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        listener = socket.socket(socket.AF_UNIX)
        self.addCleanup(listener.close)

        def regular():
            with open(self.sock, "w") as f:
                f.write("mine\n")

        def link():
            os.symlink(victim, self.sock)

        def foreign():
            s = socket.socket(socket.AF_UNIX)
            s.bind(self.sock)
            s.close()
            os.chown(self.sock, *NOBODY)

        def live():
            listener.bind(self.sock)
            listener.listen(1)
        for make, pattern in (
                (regular, r"%s exists and is not a socket; remove it or choose another "
                          r"ControlSocket"),
                (link, r"%s exists and is not a socket"),
                (foreign, r"%s is a socket of uid 65534, not sprofd's"),
                (live, r"another sprofd is listening on %s; stop it first")):
            with self.subTest(make.__name__):
                make()
                before = os.lstat(self.sock)
                path = self.write_conf(self.base_conf())
                run = self.sprofd("-D", "-c", path, timeout=20)
                self.assert_error(run, EXIT_INTERNAL, r"^sprofd: " + pattern
                                  % re.escape(self.sock))
                after = os.lstat(self.sock)
                self.assertEqual((after.st_ino, after.st_mode, after.st_uid),
                                 (before.st_ino, before.st_mode, before.st_uid))
                if make is not live:
                    os.unlink(self.sock)
        self.assertEqual(read_file(victim), "precious\n")
        # The live one still works for its owner.
        c = socket.socket(socket.AF_UNIX)
        c.connect(self.sock)
        c.close()


class HostileClientTest(SecurityTestCase):

    # A timer of the target fired: a run started, or was skipped because
    # the last one was still going (on a loaded machine).
    STARTS = r"target t: (worker \d+ profiles PID %d|PID %d is still being profiled)"

    def test_silent_and_half_clients_stall_nothing(self):
        """A client that connects and sends nothing, and one that sends
        half a line: the timetable keeps its pace, other clients are
        answered at once, and both are hung up on after 5 s with no
        answer."""
        target = self.start_target("threads", 1)
        d = self.start_daemon(self.base_conf() + (
            "Target t\n\tProcess pid %d\n\tInterval 1s\n\tDuration 200ms\n\tJitter 0\n"
            "\tOutputDir %s/%%t\n") % (target.pid, self.out))
        d.wait_for(self.STARTS % (target.pid, target.pid))
        silent, half = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
        self.addCleanup(silent.close)
        self.addCleanup(half.close)
        t0 = time.monotonic()
        t_hold = d.now()
        silent.connect(self.sock)
        half.connect(self.sock)
        half.sendall(b"profile pid=%d" % target.pid)
        lat = []
        while time.monotonic() - t0 < 4.0:
            lat.append(self.status_ok(timeout=5))
            time.sleep(0.3)
        starts = [t for t, _ in d.find(self.STARTS % (target.pid, target.pid), after=t_hold)]
        self.assertGreaterEqual(len(starts), 3, d.log())
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        # Held up by a client, the daemon would show a gap, and a status
        # answer, of 5 s (until it hangs up on them).
        self.assertLess(max(gaps), 2.5, "gaps %r\n%s" % (gaps, d.log()))
        self.assertLess(max(lat), 2.0, "status took %r" % lat)
        closed = []
        for s in (silent, half):
            s.settimeout(10)
            self.assertEqual(s.recv(4096), b"", "an answer to an unfinished request")
            closed.append(time.monotonic() - t0)
        for c in closed:
            self.assertGreater(c, 4.0)
            self.assertLess(c, 9.0)
        self.assertIsNone(d.proc.poll())
        self.assertEqual(d.stop(), EXIT_OK, d.log())
        say("two idle clients held 4 s: %d runs started (gaps %s s), status answered in at "
            "most %.0f ms; hung up on after %.1f and %.1f s"
            % (len(starts), " ".join("%.2f" % g for g in gaps), 1000 * max(lat), *closed))

    def test_one_user_cannot_take_every_slot(self):
        """A user holding connections open gets at most 4; root is still
        answered."""
        if os.geteuid() != 0:
            self.skipTest("needs root to run as another user")
        d = self.start_daemon(self.base_conf())
        p = subprocess.Popen(as_user(NOBODY) + [PYTHON, "-c", PY_HOLDER, self.sock, "4"],
                             cwd="/", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def cleanup():
            p.kill()
            p.wait(10)
            p.stdin.close()
            p.stdout.close()
        self.addCleanup(cleanup)
        line = p.stdout.readline().strip()
        self.assertEqual(line, "err 1 you have 4 connections waiting already; try again")
        self.assertLess(self.status_ok(), 2.0)
        self.assertEqual(d.stop(), EXIT_OK, d.log())

    def test_malformed_requests(self):
        """Each bad request gets one 'err' line and the connection closes;
        nothing is started or written, and the daemon answers the next
        client as before."""
        t = self.start_target("threads", 1)
        d = self.start_daemon(self.base_conf())
        pid = t.pid
        cases = [
            (b"A" * 5000, r"err 2 request too long: no end of line in 1023 bytes"),
            (b"status " + b"x" * 3000 + b"\n", r"err 2 request too long"),
            (b"status\0junk\n", r"err 2 the request holds a NUL byte"),
            (b"profile pid=%d\0/../../x\n" % pid, r"err 2 the request holds a NUL byte"),
            (b"\n", r"err 2 empty request"),
            (b"frobnicate\n", r"err 2 unknown request 'frobnicate'"),
            (b"status extra=1\n", r"err 2 unknown argument 'extra'"),
            (b"profile\n", r"err 2 which process\? \(pid=N\)"),
            (b"profile pid=%d evil=1\n" % pid, r"err 2 unknown argument 'evil'"),
            (b"profile pid=%d output=/etc/passwd\n" % pid, r"err 2 unknown argument 'output'"),
            (b"profile pid=%d formats=../../etc/passwd\n" % pid,
             r"err 2 formats \.\./\.\./etc/passwd: unknown format '\.\./\.\./etc/passwd'"),
            (b"profile pid=%d formats=prof,/tmp/x\n" % pid, r"err 2 .*unknown format '/tmp/x'"),
            (b"profile pid=%d formats=%s\n" % (pid, b"prof," * 40), r"err 2 formats .*too long"),
            (b"profile pid=-1\n", r"err 2 not a process ID: '-1'"),
            (b"profile pid=%d duration=-5\n" % pid, r"err 2 not a duration: '-5'"),
            (b"profile pid=%d rows=1e9\n" % pid, r"err 2 bad row count"),
            (b"profile pid=%d mode=../x\n" % pid, r"err 2 the mode must be cpu or wall"),
            (b"run target=../../etc\n", r"err 2 no target named '\.\./\.\./etc'"),
            (b"run\n", r"err 2 which target\?"),
        ]
        for data, pattern in cases:
            with self.subTest(data=data[:60]):
                reply = self.request(data)
                self.assertRegex(reply, r"^%s[^\n]*\n$" % pattern)
        self.assertIsNone(d.proc.poll())
        self.status_ok()
        self.assertEqual(d.find(r"profiling PID|worker"), [], d.log())
        self.assertEqual(sorted(os.listdir(self.tmp)), ["ctl.sock", "sprofd.conf"])
        self.assertEqual(d.stop(), EXIT_OK, d.log())

    def test_user_cannot_write_elsewhere(self):
        """A user's process that names itself '../../evil': its profile
        comes back under a plain file name in the caller's directory, and
        the daemon's private directory is empty again. One that is not
        dumpable is refused."""
        if os.geteuid() != 0:
            self.skipTest("needs root to run as another user")
        dtmp = self.path("dtmp")
        os.mkdir(dtmp, 0o700)
        d = Daemon(self, self.write_conf(self.base_conf()),
                   env=dict(os.environ, TMPDIR=dtmp)).ready()
        home = self.path("home")
        os.mkdir(home)
        os.chown(home, *NOBODY)
        evil = self.start_py(NOBODY, "../../evil")
        run = self.sprofd("ctl", "-S", self.sock, "profile", evil.pid, "-d", "1", "-m", "wall",
                          "-f", "prof,collapsed", "-n", "0", cwd=home, prefix=as_user(NOBODY))
        self.assert_ok(run)
        names = sorted(os.listdir(home))
        self.assertEqual(len(names), 2, "%r\n%s" % (names, run))
        for n in names:
            self.assertTrue(n.startswith("_._.._evil.%d." % evil.pid), n)
            st = os.lstat(os.path.join(home, n))
            self.assertTrue(stat.S_ISREG(st.st_mode))
            self.assertEqual(st.st_uid, NOBODY[0])
        self.load_profile(os.path.join(home, [n for n in names if n.endswith(".prof")][0]), 100)
        wrote = [WROTE_RE.match(l) for l in run.err.splitlines()]
        self.assertTrue(all(m.group("path") in names for m in wrote if m), run.err)
        self.assertTrue(wait_until(lambda: os.listdir(dtmp) == [], 5), os.listdir(dtmp))
        self.assertEqual(sorted(os.listdir(self.tmp)),
                         sorted(["ctl.sock", "dtmp", "home", "sprofd.conf"]))

        hidden = self.start_py(NOBODY, "undumpable", "undumpable")
        run = self.sprofd("ctl", "-S", self.sock, "profile", hidden.pid, "-d", "1", cwd=home,
                          prefix=as_user(NOBODY))
        self.assert_error(run, EXIT_PERM, r"^sprofd: PID %d \(undumpable\) runs with privileges "
                          r"it gained or hides \(it is not dumpable\); only root may profile it$"
                          % hidden.pid)
        self.assertEqual(len(os.listdir(home)), 2)
        self.assertEqual(d.stop(), EXIT_OK, d.log())
