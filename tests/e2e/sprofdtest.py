"""Shared machinery of the end-to-end tests: starting targets and sprofd with
timeouts, reading /proc, and checking .prof files against the format that
sprofd promises (sprofd(8), OUTPUT).

Every process a test starts is killed in its cleanup, every wait has a
timeout, and every output goes to a per-test temporary directory (kept when
SPROFD_TEST_KEEP is set in the environment). SPROFD names the binary under
test; SPROFD_WRAP a command to run it under, such as valgrind;
SPROFD_TEST_TIMESCALE a factor for every wait and time limit (default 1),
for runs where sprofd itself is slowed down, as under valgrind.
"""

import marshal
import os
import pstats
import re
import select
import shlex
import shutil
import subprocess
import tempfile
import time
import unittest
from io import StringIO

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPROFD = os.environ.get("SPROFD", os.path.join(ROOT, "sprofd"))
# A command to run sprofd under, e.g. "valgrind -q --error-exitcode=99".
WRAP = shlex.split(os.environ.get("SPROFD_WRAP", ""))
TARGETS = os.path.join(ROOT, "tests", "targets")

# Stretches waits and time limits, never what the tests measure.
TIME_SCALE = float(os.environ.get("SPROFD_TEST_TIMESCALE", "1") or 1)

ROOT_KEY = ("~", 0, "<all samples>")

# Exit codes of the command-line contract (include/sprofd.h).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NO_TARGET = 3
EXIT_PERM = 4
EXIT_TRACED = 5
EXIT_OUTPUT = 6
EXIT_NO_SAMPLES = 7

HEADER_RE = re.compile(
    r"^PID (?P<pid>\d+) \((?P<comm>.*)\): (?:(?P<procs>[\d,]+) processes, )?"
    r"(?P<threads>[\d,]+) threads?, "
    r"(?P<samples>[\d,]+) samples? in (?P<secs>[\d.]+) s at (?P<hz>\d+) Hz(?P<more>;.*)?$")
WROTE_RE = re.compile(r"^sprofd: wrote (?P<path>.+) \((?P<samples>[\d,]+) samples?\)$")
COLUMNS = "ncalls  tottime  percall  cumtime  percall  self%   cum%  filename:lineno(function)"


def wait_until(pred, timeout, interval=0.01):
    """Polls pred() until it returns a true value or timeout seconds pass;
    returns the last value."""
    end = time.monotonic() + timeout * TIME_SCALE
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def read_file(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def tasks(pid):
    """Thread ids of a process (empty once it is gone)."""
    try:
        return [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    except OSError:
        return []


def task_status(pid, tid):
    """(state letter, TracerPid) of one thread, or None when it is gone."""
    text = read_file("/proc/%d/task/%d/status" % (pid, tid))
    if text is None:
        return None
    state = tracer = None
    for line in text.splitlines():
        if line.startswith("State:"):
            state = line.split()[1]
        elif line.startswith("TracerPid:"):
            tracer = int(line.split()[1])
    return state, tracer


def proc_state(pid):
    """State letter of a process from /proc/PID/stat, or None."""
    text = read_file("/proc/%d/stat" % pid)
    if text is None:
        return None
    return text[text.rindex(")") + 2]


def tracer_of(pid):
    st = task_status(pid, pid)
    return st[1] if st else None


def held_threads(pid):
    """Threads of pid that are stopped (t/T) or traced, as a list of
    (tid, state, TracerPid); empty when the process runs free."""
    bad = []
    for tid in tasks(pid):
        st = task_status(pid, tid)
        if st and (st[0] in "tT" or st[1] != 0):
            bad.append((tid, st[0], st[1]))
    return bad


def free_pid():
    """A PID that no process has right now."""
    pid_max = int(read_file("/proc/sys/kernel/pid_max", "32768"))
    for pid in range(pid_max - 1, 300, -1):
        if not os.path.exists("/proc/%d" % pid):
            return pid
    raise RuntimeError("no free pid")


def kernel_thread_pid():
    """PID of a kernel thread (kthreadd, PID 2, where visible), or None."""
    pids = [2] + sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    for pid in pids:
        text = read_file("/proc/%d/stat" % pid)
        if not text:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[6]) & 0x00200000:  # PF_KTHREAD
            return pid
    return None


def source_line(target, pattern):
    """1-based line where function pattern is defined in
    tests/targets/TARGET.c (pattern: a function name, or a regular
    expression starting with ^)."""
    rx = re.compile(pattern)
    if not pattern.startswith("^"):
        # A definition: a line that starts with a type or attribute (not a
        # comment or a call) and has no semicolon.
        rx = re.compile(r"^[A-Za-z_][^;]*\b%s\([^;]*$" % pattern)
    with open(os.path.join(TARGETS, target + ".c")) as f:
        for n, line in enumerate(f, 1):
            if rx.search(line):
                return n
    raise AssertionError("%s not found in %s.c" % (pattern, target))


def parse_int(s):
    return int(s.replace(",", ""))


class Target:
    """A running target program, started and waited for ("ready")."""

    def __init__(self, name, args, cwd, timeout=10):
        path = os.path.join(TARGETS, name)
        if not os.access(path, os.X_OK):
            raise AssertionError("target %s is not built (run: make targets)" % path)
        self.name = name
        self.errpath = os.path.join(cwd, "%s.stderr" % name)
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen([path] + [str(a) for a in args], cwd=cwd,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.pid = self.proc.pid
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if line != b"ready\n":
            self.kill()
            raise AssertionError("target %s did not get ready (got %r, stderr %r)"
                                 % (name, line, read_file(self.errpath)))

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc.stdout.close()
        self.err.close()


class Run:
    """The outcome of one finished sprofd run."""

    def __init__(self, args, rc, out, err, elapsed):
        self.args, self.rc, self.out, self.err, self.elapsed = args, rc, out, err, elapsed

    def __str__(self):
        return "sprofd %s -> exit %s after %.2f s\n--- stdout:\n%s--- stderr:\n%s---" % (
            " ".join(self.args), self.rc, self.elapsed, self.out, self.err)

    def header(self):
        """The parsed header line of the console table, or None."""
        for line in self.out.splitlines():
            m = HEADER_RE.match(line.strip())
            if m:
                return m
        return None

    def wrote(self):
        """The parsed 'sprofd: wrote PATH (N samples)' line, or None."""
        for line in self.err.splitlines():
            m = WROTE_RE.match(line.strip())
            if m:
                return m
        return None


class Profile:
    """A loaded .prof file: raw is the marshal dict
    {(file, line, func): (cc, nc, tt, ct, {callerkey: (nc, cc, tt, ct)})}."""

    def __init__(self, path, raw, hz):
        self.path, self.raw, self.hz = path, raw, hz
        self.interval = 1.0 / hz
        self.total = raw[ROOT_KEY][0]

    def keys(self, name):
        return [k for k in self.raw if k[2] == name]

    def key(self, name):
        ks = self.keys(name)
        if len(ks) != 1:
            raise AssertionError("expected one function %r in %s, found %r"
                                 % (name, self.path, ks))
        return ks[0]

    def has(self, name):
        return bool(self.keys(name))

    def cc(self, name):
        return self.raw[self.key(name)][0]

    def nc(self, name):
        return self.raw[self.key(name)][1]

    def self_samples(self, name):
        return round(self.raw[self.key(name)][2] * self.hz)

    def callers(self, name):
        return self.raw[self.key(name)][4]

    def caller_names(self, name):
        return sorted(k[2] for k in self.callers(name))

    def top(self, n=15):
        """The n functions with most self samples, for failure messages."""
        rows = sorted(self.raw.items(), key=lambda kv: -kv[1][2])[:n]
        return "\n".join("  %6d self %6d cum  %s:%d(%s)" % (
            round(v[2] * self.hz), v[0], k[0], k[1], k[2]) for k, v in rows)


class SprofdTestCase(unittest.TestCase):
    """Base class: a temporary directory per test, targets and sprofd runs
    that are always cleaned up, and the profile checks."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not os.access(SPROFD, os.X_OK):
            raise AssertionError("%s is not built (run: make)" % SPROFD)

    def setUp(self):
        # tmp: sprofd's working directory and outputs; logs: the targets'
        # working directory, state files and stderr.
        self.tmp = tempfile.mkdtemp(prefix="sprofd-e2e-")
        self.logs = tempfile.mkdtemp(prefix="sprofd-e2e-logs-")
        os.chmod(self.tmp, 0o755)
        if not os.environ.get("SPROFD_TEST_KEEP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
            self.addCleanup(shutil.rmtree, self.logs, True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def log_path(self, name):
        return os.path.join(self.logs, name)

    def tmp_files(self):
        """Everything in the output directory, hidden files included."""
        return sorted(os.listdir(self.tmp))

    def start_target(self, name, *args):
        t = Target(name, args, self.logs)
        self.addCleanup(t.kill)
        return t

    def sprofd_argv(self, args, prefix=()):
        return list(prefix) + WRAP + [SPROFD] + [str(a) for a in args]

    def sprofd(self, *args, timeout=60, cwd=None, prefix=()):
        """Runs sprofd to completion; a run that hangs is killed and fails
        the test."""
        argv = self.sprofd_argv(args, prefix)
        timeout *= TIME_SCALE
        t0 = time.monotonic()
        p = subprocess.Popen(argv, cwd=cwd or self.tmp, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             errors="replace")
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("sprofd %s hung for %d s and was killed\nstdout:\n%s\nstderr:\n%s"
                      % (" ".join(argv[1:]), timeout, out, err))
        return Run([str(a) for a in args], p.returncode, out, err, time.monotonic() - t0)

    def spawn_sprofd(self, *args):
        """Starts sprofd in the background; it is killed in cleanup."""
        argv = self.sprofd_argv(args)
        p = subprocess.Popen(argv, cwd=self.tmp, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             errors="replace")
        p.args_list = [str(a) for a in args]
        p.t0 = time.monotonic()

        def cleanup():
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=10)
            except (subprocess.TimeoutExpired, ValueError):
                pass
        self.addCleanup(cleanup)
        return p

    def finish(self, p, timeout=30):
        """Waits for a background sprofd and returns its Run."""
        timeout *= TIME_SCALE
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("sprofd %s did not exit within %d s\nstdout:\n%s\nstderr:\n%s"
                      % (" ".join(p.args_list), timeout, out, err))
        return Run(p.args_list, p.returncode, out, err, time.monotonic() - p.t0)

    def wait_attached(self, sprofd_proc, target, timeout=10):
        """Waits until sprofd traces the target's main thread. TracerPid
        names the tracing thread, which may be any thread of sprofd."""
        def attached():
            tracer = tracer_of(target.pid)
            return bool(tracer) and (tracer == sprofd_proc.pid
                                     or tracer in tasks(sprofd_proc.pid))
        ok = wait_until(lambda: attached() or sprofd_proc.poll() is not None, timeout)
        if sprofd_proc.poll() is not None:
            self.fail("sprofd ended before it was seen attached to %s (pid %d): %s"
                      % (target.name, target.pid, self.finish(sprofd_proc, 5)))
        if not ok:
            self.fail("sprofd (pid %d, threads %r) not attached to %s (pid %d) after %d s: "
                      "TracerPid %r" % (sprofd_proc.pid, tasks(sprofd_proc.pid), target.name,
                                        target.pid, timeout, tracer_of(target.pid)))

    # -- checks -------------------------------------------------------------

    def assert_ok(self, run):
        self.assertEqual(run.rc, EXIT_OK, str(run))

    def assert_error(self, run, code, pattern=None):
        """An error exit: the code, nothing on stdout, one line on stderr
        starting 'sprofd: ' (and matching pattern, when given)."""
        self.assertEqual(run.rc, code, str(run))
        lines = [l for l in run.err.splitlines() if l.strip()]
        self.assertTrue(lines, "no error message\n%s" % run)
        self.assertTrue(lines[0].startswith("sprofd: "), str(run))
        if pattern:
            self.assertRegex(lines[0], pattern, str(run))
        self.assertEqual(run.out, "", "error run printed on stdout\n%s" % run)
        self.assertEqual(len(lines), 1, "expected the error on one line\n%s" % run)
        return lines[0]

    def assert_released(self, pid, timeout=1.0):
        """The process (when still alive) runs free: no thread is stopped
        (state t/T) or traced, within timeout seconds."""
        held = wait_until(lambda: not held_threads(pid), timeout)
        self.assertTrue(held, "process %d still held after %.1f s: %r (tid, state, TracerPid)"
                        % (pid, timeout, held_threads(pid)))

    def assert_progress(self, state_path, wait=0.3):
        """The counter a progress target keeps in state_path advances."""
        def value():
            text = read_file(state_path, "").strip()
            return int(text) if text.isdigit() else None
        a = wait_until(value, 2)
        self.assertIsNotNone(a, "no progress file %s" % state_path)
        b = wait_until(lambda: (value() or 0) > a and value(), 2 + wait)
        self.assertTrue(b, "progress counter stuck at %s" % a)

    def assert_stalled(self, state_path, wait=0.3):
        """The counter a progress target keeps in state_path stands still
        (the target is stopped)."""
        time.sleep(0.05)
        a = read_file(state_path, "").strip()
        time.sleep(wait)
        b = read_file(state_path, "").strip()
        self.assertEqual(a, b, "progress counter moved from %s to %s while stopped" % (a, b))

    def load_profile(self, path, hz):
        """Loads a .prof, checks every invariant of the format, and returns
        a Profile."""
        self.assertTrue(os.path.isfile(path), "no profile at %s" % path)
        with open(path, "rb") as f:
            data = f.read()
        raw = marshal.loads(data)
        self.assertEqual(marshal.dumps(raw, 2), data,
                         "%s is not byte-identical to marshal.dumps(load, 2)" % path)
        self.assertIsInstance(raw, dict)
        self.check_invariants(path, raw, hz)
        # pstats can load, sort and print it, callers included.
        st = pstats.Stats(path, stream=StringIO())
        st.sort_stats("cumulative").print_stats(10)
        st.sort_stats("tottime").print_callers(5)
        return Profile(path, raw, hz)

    def check_invariants(self, path, raw, hz):
        D = 1.0 / hz
        where = "in %s: " % path
        self.assertIn(ROOT_KEY, raw, where + "no root entry %r" % (ROOT_KEY,))
        for key, val in raw.items():
            self.assertIsInstance(key, tuple, where + repr(key))
            self.assertEqual(len(key), 3, where + repr(key))
            self.assertIsInstance(key[0], str, where + repr(key))
            self.assertIsInstance(key[1], int, where + repr(key))
            self.assertIsInstance(key[2], str, where + repr(key))
            self.assertIsInstance(val, tuple, where + repr(key))
            self.assertEqual(len(val), 5, where + repr(key))
            cc, nc, tt, ct, callers = val
            self.assertIsInstance(cc, int, where + repr(key))
            self.assertIsInstance(nc, int, where + repr(key))
            self.assertIsInstance(tt, float, where + repr(key))
            self.assertIsInstance(ct, float, where + repr(key))
            self.assertIsInstance(callers, dict, where + repr(key))

        rcc, rnc, rtt, rct, rcallers = raw[ROOT_KEY]
        total = rcc
        self.assertGreater(total, 0, where + "root has no samples")
        self.assertEqual(rnc, total, where + "root nc != cc")
        self.assertEqual(rtt, 0.0, where + "root tt")
        self.assertAlmostEqual(rct, total * D, delta=1e-9 * total + 1e-9, msg=where + "root ct")
        self.assertEqual(rcallers, {}, where + "root has callers")

        tol = 1e-6 * max(1.0, total * D)
        sum_tt = 0.0
        root_edge_nc = root_edge_cc = 0
        for key, (cc, nc, tt, ct, callers) in raw.items():
            sum_tt += tt
            if key == ROOT_KEY:
                continue
            k = where + "%r: " % (key,)
            self.assertGreaterEqual(cc, 1, k + "cc")
            self.assertLessEqual(cc, total, k + "cc > total")
            self.assertGreaterEqual(nc, cc, k + "nc < cc")
            self.assertAlmostEqual(ct, cc * D, delta=tol, msg=k + "ct != cc * D")
            self.assertLessEqual(ct, rct + tol, k + "ct > root ct")
            leaf = tt / D
            self.assertAlmostEqual(leaf, round(leaf), delta=1e-6 * max(1, leaf),
                                   msg=k + "tt is not a whole number of samples")
            self.assertLessEqual(round(leaf), cc, k + "more leaf samples than samples")
            self.assertTrue(callers, k + "no callers (every frame has one, the root at least)")
            e_nc = e_tt = 0
            for ckey, edge in callers.items():
                self.assertIn(ckey, raw, k + "unknown caller %r" % (ckey,))
                self.assertIsInstance(edge, tuple, k + repr(edge))
                self.assertEqual(len(edge), 4, k + repr(edge))
                enc, ecc, ett, ect = edge
                self.assertIsInstance(enc, int, k + repr(edge))
                self.assertIsInstance(ecc, int, k + repr(edge))
                self.assertIsInstance(ett, float, k + repr(edge))
                self.assertIsInstance(ect, float, k + repr(edge))
                self.assertGreaterEqual(ecc, 1, k + "edge from %r: cc" % (ckey,))
                self.assertGreaterEqual(enc, ecc, k + "edge from %r: nc < cc" % (ckey,))
                self.assertLessEqual(ecc, cc, k + "edge from %r: cc > callee cc" % (ckey,))
                self.assertLessEqual(ecc, raw[ckey][0], k + "edge from %r: cc > caller cc" % (ckey,))
                self.assertAlmostEqual(ect, ecc * D, delta=tol,
                                       msg=k + "edge from %r: ct != cc * D" % (ckey,))
                e_nc += enc
                e_tt += ett
                if ckey == ROOT_KEY:
                    root_edge_nc += enc
                    root_edge_cc += ecc
            # Each occurrence of F has exactly one caller (the root for the
            # outermost frame), and each sample with F as leaf too.
            self.assertEqual(e_nc, nc, k + "caller nc do not add up to nc")
            self.assertAlmostEqual(e_tt, tt, delta=tol, msg=k + "caller tt do not add up to tt")
        self.assertAlmostEqual(sum_tt, total * D, delta=tol, msg=where + "sum of tt != total * D")
        self.assertEqual(root_edge_nc, total, where + "root edges nc != total (one outermost frame per sample)")
        self.assertEqual(root_edge_cc, total, where + "root edges cc != total")

    def check_run(self, run, path, hz, pid=None, comm=None, table=True):
        """A successful run: exit 0, the header of the table on stdout (which
        must be there when table is true) agrees with the profile, the
        'wrote' line names the file; returns the Profile."""
        self.assert_ok(run)
        prof = self.load_profile(path, hz)
        wrote = run.wrote()
        self.assertIsNotNone(wrote, "no 'sprofd: wrote PATH (N samples)' line\n%s" % run)
        self.assertEqual(os.path.realpath(os.path.join(self.tmp, wrote.group("path"))),
                         os.path.realpath(path), str(run))
        self.assertEqual(parse_int(wrote.group("samples")), prof.total, str(run))
        h = run.header()
        if table:
            self.assertIsNotNone(h, "no header line on stdout\n%s" % run)
        if h:
            self.assertEqual(parse_int(h.group("samples")), prof.total, str(run))
            self.assertEqual(int(h.group("hz")), hz, str(run))
            if pid is not None:
                self.assertEqual(int(h.group("pid")), pid, str(run))
            if comm is not None:
                self.assertEqual(h.group("comm"), comm, str(run))
        return prof
