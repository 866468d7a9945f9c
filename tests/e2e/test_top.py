"""sprofd top: the full-screen view driven through tmux (rows appear, the hot
function moves when topwork switches, sort keys, the thread filter, pause,
a resize, q detaching with the target running free, the -o profile read by
pstats), over a process tree (-C on prefork: the processes counted, the
process filter, q leaving every process free), the text mode when stdout is
no terminal, and errors."""

import os
import platform
import pstats
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
import unittest

from sprofdtest import (EXIT_NO_TARGET, EXIT_OK, EXIT_USAGE, SPROFD, TARGETS, TIME_SCALE, WRAP,
                        SprofdTestCase, free_pid, proc_state, read_file, tracer_of,
                        wait_until)

TMUX = shutil.which("tmux")
PYWORK = os.path.join(TARGETS, "py", "pywork.py")

HEADER = re.compile(r"^PID (?P<pid>\d+) \((?P<comm>.*)\)(?:, python (?P<py>\S+))?: "
                    r"(?:(?P<procs>\d+) processes, )?"
                    r"(?P<threads>\d+) threads?, (?P<hz>\d+) Hz (?P<mode>cpu|wall), "
                    r"(?P<samples>\d+) samples, interval (?P<secs>[\d.]+) s, "
                    r"sprofd (?P<cpu>[\d.]+)% CPU$")
COLUMNS = "  SELF%  TOTAL%  CSELF% CTOTAL%  FUNCTION (SOURCE:LINE)"
ROW = re.compile(r"^\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)  (.*)$")


def parse_rows(lines):
    """[(self, total, cself, ctotal, name)] of table lines; the name
    without its " (source:line)"."""
    rows = []
    for line in lines:
        m = ROW.match(line)
        if not m:
            break
        name = m.group(5).split(" (")[0]
        rows.append(tuple(float(m.group(i)) for i in range(1, 5)) + (name,))
    return rows


class Screen:
    """One capture of the pane: header, status line, columns, rows."""

    def __init__(self, text):
        self.text = text
        self.lines = text.split("\n")
        self.header = HEADER.match(self.lines[0]) if self.lines else None
        self.status = self.lines[1] if len(self.lines) > 1 else ""
        self.columns = self.lines[2] if len(self.lines) > 2 else ""
        self.rows = parse_rows(self.lines[3:])

    def names(self):
        return [r[4] for r in self.rows]

    def row(self, name):
        for r in self.rows:
            if r[4] == name:
                return r
        return None

    def rank(self, name):
        names = self.names()
        return names.index(name) if name in names else len(names)

    def samples(self):
        return int(self.header.group("samples")) if self.header else -1


class Tmux:
    """A tmux server of its own (own socket, no configuration) running one
    command in a detached session."""

    count = 0

    def __init__(self, test, argv, cwd, width=120, height=40):
        Tmux.count += 1
        self.sock = "sprofd-test-%d-%d" % (os.getpid(), Tmux.count)
        test.addCleanup(self.kill)
        self.run("-f", "/dev/null", "new-session", "-d", "-s", "top", "-c", cwd,
                 "-x", str(width), "-y", str(height), shlex.join(argv))

    def run(self, *args):
        return subprocess.run([TMUX, "-L", self.sock] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              errors="replace", timeout=30)

    def capture(self):
        p = self.run("capture-pane", "-p", "-t", "top")
        return Screen(p.stdout.rstrip("\n") if p.returncode == 0 else "")

    def keys(self, *keys):
        self.run("send-keys", "-t", "top", *keys)

    def resize(self, width, height):
        self.run("resize-window", "-t", "top", "-x", str(width), "-y", str(height))

    def kill(self):
        try:
            self.run("kill-server")
        except (OSError, subprocess.TimeoutExpired):
            pass


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (None once gone)."""
    text = read_file("/proc/%d/stat" % pid)
    if not text:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


class TopTest(SprofdTestCase):

    def wait_screen(self, tmux, pred, what, timeout=30):
        """Polls captures until pred(screen) holds on a whole frame; fails
        with the last. A capture may catch tmux halfway through a redraw:
        a frame counts when a second capture a moment later is the same."""
        last = [None]

        def ok():
            last[0] = tmux.capture()
            if not pred(last[0]):
                return False
            time.sleep(0.2)
            again = tmux.capture()
            return again.text == last[0].text
        if not wait_until(ok, timeout, 0.2):
            self.fail("%s: not seen within %d s; the pane:\n%s"
                      % (what, timeout, last[0].text if last[0] else ""))
        return last[0]

    def assert_running_free(self, target):
        """The target lives, is traced by nobody, stopped nowhere, and
        goes on using CPU."""
        self.assertTrue(target.alive(), "the target died")
        self.assert_released(target.pid, timeout=5)
        self.assertEqual(tracer_of(target.pid), 0)
        self.assertNotIn(proc_state(target.pid), ("t", "T"))
        before = cpu_ticks(target.pid)
        self.assertTrue(wait_until(lambda: (cpu_ticks(target.pid) or 0) > before + 5, 10),
                        "the target does not run after sprofd top left")

    @unittest.skipUnless(TMUX, "tmux is missing (apt-get install tmux)")
    def test_screen(self):
        target = self.start_target("topwork")
        prof = self.path("top.prof")
        done = self.path("exit-status")
        argv = ["sh", "-c", '%s; echo "$?" > %s' % (
            shlex.join(WRAP + [SPROFD, "top", "-p", str(target.pid), "-F", "199", "-o", prof]),
            shlex.quote(done))]
        tmux = Tmux(self, argv, self.tmp)

        # Rows appear: first_hot leads the main thread's work (6 units to
        # steady_part's 1, though one interval may alias with the rounds),
        # second_hot was never called.
        s = self.wait_screen(tmux, lambda s: s.header and s.row("first_hot")
                             and s.row("first_hot")[0] > 20
                             and s.rank("first_hot") < s.rank("steady_part"),
                             "first_hot over 20% self, ahead of steady_part")
        self.assertEqual(int(s.header.group("pid")), target.pid)
        self.assertEqual(s.header.group("comm"), "topwork")
        self.assertEqual(s.header.group("threads"), "2")
        self.assertEqual(s.header.group("hz"), "199")
        self.assertEqual(s.header.group("mode"), "cpu")
        self.assertEqual(s.columns.rstrip(), COLUMNS)
        self.assertIn("sort: self in interval", s.status)
        self.assertIsNone(s.row("second_hot"), s.text)
        selfs = [r[0] for r in s.rows]
        self.assertEqual(selfs, sorted(selfs, reverse=True), s.text)

        # The hot function moves: a full interval after SIGUSR1, second_hot
        # has first_hot's place, and first_hot is left only since the start.
        os.kill(target.pid, signal.SIGUSR1)
        s = self.wait_screen(tmux, lambda s: s.row("second_hot") and s.row("second_hot")[0] > 20
                             and s.row("first_hot") and s.row("first_hot")[0] == 0,
                             "second_hot hot, first_hot cold in the interval")
        self.assertLess(s.rank("second_hot"), s.rank("first_hot"), s.text)
        self.assertGreater(s.row("first_hot")[2], 0, s.text)

        # Sort keys: by name, reversed, by total, back to self.
        tmux.keys("n")
        s = self.wait_screen(tmux, lambda s: "sort: name;" in s.status and len(s.rows) > 3,
                             "sorted by name")
        self.assertEqual(s.names(), sorted(s.names()), s.text)
        tmux.keys("r")
        s = self.wait_screen(tmux, lambda s: "sort: name, Z-A" in s.status and len(s.rows) > 3,
                             "sorted by name, Z-A")
        self.assertEqual(s.names(), sorted(s.names(), reverse=True), s.text)
        tmux.keys("t")
        s = self.wait_screen(tmux, lambda s: "sort: total in interval;" in s.status
                             and len(s.rows) > 3, "sorted by total")
        totals = [r[1] for r in s.rows]
        self.assertEqual(totals, sorted(totals, reverse=True), s.text)
        self.assertNotEqual(s.names()[0], "second_hot", s.text)   # a caller has more
        tmux.keys("c")
        s = self.wait_screen(tmux, lambda s: "sort: total since start;" in s.status
                             and len(s.rows) > 3, "sorted by total since the start")
        ctotals = [r[3] for r in s.rows]
        self.assertEqual(ctotals, sorted(ctotals, reverse=True), s.text)
        tmux.keys("c", "s")
        s = self.wait_screen(tmux, lambda s: "sort: self in interval;" in s.status
                             and len(s.rows) > 3, "sorted by self again")
        self.assertEqual(s.names()[0] in ("second_hot", "side_spin"), True, s.text)

        # The thread filter, in the order threads were first sampled: the
        # main thread has no side_spin, sidework nothing but its own.
        seen = set()

        def one_thread(s):
            m = re.search(r"thread: (\d+) \((topwork|sidework)\)", s.status)
            return m and m.group(1) not in seen and s.rows
        for _ in range(2):
            tmux.keys("T")
            s = self.wait_screen(tmux, one_thread, "a thread not seen alone yet")
            tid = re.search(r"thread: (\d+)", s.status).group(1)
            seen.add(tid)
            if "(sidework)" in s.status:
                self.assertIsNotNone(s.row("side_spin"), s.text)
                self.assertIsNone(s.row("second_hot"), s.text)
                self.assertIsNone(s.row("first_hot"), s.text)
            else:
                self.assertEqual(tid, str(target.pid), s.text)
                self.assertIsNone(s.row("side_spin"), s.text)
                self.assertIsNotNone(s.row("second_hot"), s.text)
        tmux.keys("T")
        self.wait_screen(tmux, lambda s: "thread: all" in s.status, "all threads after the last")
        tmux.keys("T", "a")
        s = self.wait_screen(tmux, lambda s: "thread: all" in s.status and s.row("side_spin")
                             and s.row("second_hot"), "all threads again")

        # Pause: the display stays still while sampling goes on.
        tmux.keys("p")
        s = self.wait_screen(tmux, lambda s: "PAUSED" in s.status, "paused")
        frozen = s.samples()
        time.sleep(2.5)
        self.assertEqual(tmux.capture().samples(), frozen)
        tmux.keys("p")
        self.wait_screen(tmux, lambda s: "PAUSED" not in s.status and s.samples() > frozen,
                         "running again")

        # Help line.
        tmux.keys("h")
        self.wait_screen(tmux, lambda s: s.status.startswith("q quit"), "the help line")
        tmux.keys("h")

        # A resize: the view fits the new size and goes on refreshing.
        tmux.resize(60, 15)
        s = self.wait_screen(tmux, lambda s: len(s.lines) == 15 and s.lines[0].startswith("PID ")
                             and len(s.rows) == 12, "the view at 60x15")
        self.assertTrue(all(len(line) <= 60 for line in s.lines), s.text)
        self.assertTrue(s.lines[0].endswith(">"), s.text)
        n = int(re.search(r"(\d+) samples", s.lines[0]).group(1))
        self.wait_screen(tmux, lambda s: re.search(r"(\d+) samples", s.lines[0])
                         and int(re.search(r"(\d+) samples", s.lines[0]).group(1)) > n,
                         "refreshing at 60x15")
        tmux.resize(150, 45)
        s = self.wait_screen(tmux, lambda s: s.header and len(s.lines) >= 10
                             and s.row("second_hot"), "the view at 150x45")
        self.assertFalse(s.lines[0].endswith(">"), s.text)

        # q detaches at once; the target runs on, untraced and unstopped.
        tmux.keys("q")
        self.assertTrue(wait_until(lambda: read_file(done), 30),
                        "sprofd top did not exit after q:\n%s" % tmux.capture().text)
        self.assertEqual(read_file(done).strip(), str(EXIT_OK), tmux.capture().text)
        self.assert_running_free(target)

        # -o: the whole profile, as pstats reads it.
        st = pstats.Stats(prof).stats
        names = {k[2] for k in st}
        self.assertTrue({"first_hot", "second_hot", "steady_part", "side_spin"} <= names, names)
        self.assertEqual([f for f in os.listdir(self.tmp) if f.startswith(".")], [],
                         "a temporary file was left")

    @unittest.skipUnless(TMUX, "tmux is missing (apt-get install tmux)")
    def test_screen_tree(self):
        """-C on prefork (a master and 3 workers, each burning in its own
        worker_slotN): the header counts 4 processes, P shows one process
        at a time (a worker: its own slot function only), a all again, and
        q leaves the master and every worker running free."""
        target = self.start_target("prefork", self.logs, 3, 0)
        self.addCleanup(lambda: open(self.log_path("stop"), "w").close())
        self.assertTrue(wait_until(lambda: len((read_file(self.log_path("pids"), "") or "")
                                                .split()) == 3, 10), "prefork started no workers")
        workers = [int(x) for x in read_file(self.log_path("pids")).split()]
        slots = {"worker_slot0", "worker_slot1", "worker_slot2"}
        done = self.path("exit-status")
        argv = ["sh", "-c", '%s; echo "$?" > %s' % (
            shlex.join(WRAP + [SPROFD, "top", "-p", str(target.pid), "-C", "-F", "199"]),
            shlex.quote(done))]
        tmux = Tmux(self, argv, self.tmp)

        s = self.wait_screen(tmux, lambda s: s.header and s.header.group("procs") == "4"
                             and slots <= set(s.names()), "4 processes, every worker's slot")
        self.assertEqual(int(s.header.group("pid")), target.pid)
        self.assertEqual(s.header.group("threads"), "4", s.text)
        self.assertIn("process: all; thread: all", s.status)

        # P: the processes in the order of their first samples (the master,
        # asleep in cpu mode, may have none); each worker alone shows its
        # own slot function and no other's.
        seen = {}
        for _ in range(5):
            tmux.keys("P")
            s = self.wait_screen(tmux, lambda s: re.search(r"process: (all|\d+ \(prefork\))",
                                                           s.status) and s.header,
                                 "a process or all")
            m = re.search(r"process: (\d+) \(prefork\)", s.status)
            if not m:
                break
            pid = int(m.group(1))
            self.assertNotIn(pid, seen, s.text)
            self.assertIn(pid, workers + [target.pid], s.text)
            # The rows follow at the next frame: wait for a frame with some.
            s = self.wait_screen(tmux, lambda s: ("process: %d " % pid) in s.status
                                 and (s.rows or pid == target.pid), "rows of %d" % pid)
            mine = slots & set(s.names())
            if pid == target.pid:
                self.assertEqual(mine, set(), s.text)
            else:
                self.assertEqual(len(mine), 1, s.text)
                seen[pid] = mine.pop()
        self.assertIn("process: all", tmux.capture().status)
        self.assertEqual(set(seen), set(workers), "not every worker was shown alone")
        self.assertEqual(set(seen.values()), slots, seen)

        tmux.keys("P", "a")
        s = self.wait_screen(tmux, lambda s: "process: all" in s.status
                             and slots <= set(s.names()), "all processes again")

        # q: every process of the tree runs on, untraced and unstopped.
        tmux.keys("q")
        self.assertTrue(wait_until(lambda: read_file(done), 30),
                        "sprofd top did not exit after q:\n%s" % tmux.capture().text)
        self.assertEqual(read_file(done).strip(), str(EXIT_OK), tmux.capture().text)
        for pid in [target.pid] + workers:
            self.assert_released(pid, timeout=5)
            self.assertEqual(tracer_of(pid), 0, pid)
            self.assertNotIn(proc_state(pid), ("t", "T"), pid)
        for pid in workers:
            before = cpu_ticks(pid)
            self.assertTrue(wait_until(lambda: (cpu_ticks(pid) or 0) > before + 5, 10),
                            "worker %d does not run after sprofd top left" % pid)
        self.assertTrue(target.alive(), "the master died")

    @unittest.skipUnless(TMUX, "tmux is missing (apt-get install tmux)")
    def test_screen_ctrl_c_and_bad_term(self):
        target = self.start_target("topwork")
        done = self.path("exit-status")
        # The shell traps SIGINT (its child gets the default back), so
        # that Ctrl-C, which reaches both, does not end it before sprofd.
        argv = ["sh", "-c", 'trap true INT; %s; echo "$?" > %s' % (
            shlex.join(WRAP + [SPROFD, "top", "-p", str(target.pid)]), shlex.quote(done))]
        tmux = Tmux(self, argv, self.tmp)
        self.wait_screen(tmux, lambda s: s.header and s.rows, "rows")
        tmux.keys("C-c")
        self.assertTrue(wait_until(lambda: read_file(done), 30), "Ctrl-C did not end it")
        self.assertEqual(read_file(done).strip(), str(EXIT_OK))
        self.assert_running_free(target)

        # A terminal that terminfo does not know: one clear error.
        err = self.path("stderr")
        os.unlink(done)
        argv = ["sh", "-c", 'TERM=no-such-terminal %s 2>%s; echo "$?" > %s' % (
            shlex.join(WRAP + [SPROFD, "top", "-p", str(target.pid)]), shlex.quote(err),
            shlex.quote(done))]
        Tmux(self, argv, self.tmp)
        self.assertTrue(wait_until(lambda: read_file(done), 30), "no exit with a bad TERM")
        self.assertEqual(read_file(done).strip(), str(EXIT_USAGE))
        self.assertRegex(read_file(err), r"sprofd: top: terminal type 'no-such-terminal' "
                         r"is unknown")
        self.assert_running_free(target)

    def tables(self, out):
        """The text tables: [(header match, rows)]."""
        tables = []
        for block in out.split("\n\n"):
            lines = block.strip("\n").split("\n")
            if len(lines) < 2:
                continue
            m = HEADER.match(lines[0])
            self.assertIsNotNone(m, "not a header: %r\n%s" % (lines[0], out))
            self.assertEqual(lines[1], COLUMNS)
            rows = parse_rows(lines[2:])
            self.assertEqual(len(rows), len(lines) - 2, "not rows:\n%s" % block)
            tables.append((m, rows))
        return tables

    def test_text_until_duration(self):
        target = self.start_target("topwork")
        run = self.sprofd("top", "-p", target.pid, "-d", 6 * TIME_SCALE, "-n", 5, "-F", 199)
        self.assert_ok(run)
        tables = self.tables(run.out)
        self.assertGreaterEqual(len(tables), 2, run)
        last = -1
        for m, rows in tables:
            self.assertEqual(int(m.group("pid")), target.pid)
            self.assertEqual(m.group("comm"), "topwork")
            self.assertLessEqual(len(rows), 5)
            self.assertGreaterEqual(int(m.group("samples")), last)
            last = int(m.group("samples"))
            for r in rows:
                self.assertTrue(0 <= r[0] <= r[1] <= 100 and 0 <= r[2] <= r[3] <= 100, rows)
        names = {r[4] for _, rows in tables for r in rows}
        self.assertIn("first_hot", names, run)
        self.assertNotIn("second_hot", names, run)
        self.assert_running_free(target)

    def test_text_until_signal(self):
        target = self.start_target("topwork")
        prof = self.path("t.prof")
        p = self.spawn_sprofd("top", "-p", target.pid, "-o", prof, "-f", "prof,collapsed")
        self.wait_attached(p, target)
        os.kill(target.pid, signal.SIGUSR1)
        # Tables come every second; after two, SIGINT ends it. Read
        # unbuffered, so that finish() gets the rest.
        out = b""
        fd = p.stdout.fileno()
        end = time.monotonic() + 30 * TIME_SCALE
        while out.count(b"\n\n") < 2 and time.monotonic() < end:
            if select.select([fd], [], [], 1)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                out += chunk
        p.send_signal(signal.SIGINT)
        run = self.finish(p)
        self.assert_ok(run)
        run.out = out.decode(errors="replace") + run.out
        tables = self.tables(run.out)
        self.assertGreaterEqual(len(tables), 2, run)
        self.assertIn("second_hot", {r[4] for r in tables[-1][1]}, run)
        self.assert_running_free(target)
        st = pstats.Stats(prof).stats
        self.assertIn("second_hot", {k[2] for k in st})
        self.assertTrue(os.path.exists(self.path("t.folded")), self.tmp_files())

    def test_text_until_exit(self):
        target = self.start_target("topwork")
        p = self.spawn_sprofd("top", "-p", target.pid)
        self.wait_attached(p, target)
        time.sleep(1.5)
        target.proc.kill()
        run = self.finish(p)
        self.assert_ok(run)
        self.assertRegex(run.err, r"PID %d was killed by Killed" % target.pid)

    def test_text_reader_gone(self):
        """| head: once the reader is gone, sprofd top detaches and ends."""
        target = self.start_target("topwork")
        cmd = "%s | head -n 3" % shlex.join(WRAP + [SPROFD, "top", "-p", str(target.pid)])
        p = subprocess.run(["sh", "-c", cmd], cwd=self.tmp, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60 * TIME_SCALE)
        self.assertEqual(len(p.stdout.splitlines()), 3, p.stdout)
        self.assertRegex(p.stdout.splitlines()[0], HEADER)
        self.assertIn("cannot write the table", p.stderr)
        self.assert_running_free(target)

    def test_text_python(self):
        """A Python process: its version in the header, its functions in the
        rows, heavy_a ahead of light_b (70/30 by construction)."""
        err = open(self.log_path("pywork.stderr"), "wb")
        p = subprocess.Popen([sys.executable, PYWORK, "split"], cwd=self.logs,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)

        def cleanup():
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            p.stdout.close()
            err.close()
        self.addCleanup(cleanup)
        ready, _, _ = select.select([p.stdout], [], [], 20)
        self.assertEqual(p.stdout.readline() if ready else b"", b"ready\n")
        run = self.sprofd("top", "-p", p.pid, "-d", 4 * TIME_SCALE, "-n", 0)
        self.assert_ok(run)
        tables = self.tables(run.out)
        self.assertTrue(tables, run)
        m, rows = tables[-1]
        self.assertEqual(m.group("py"), platform.python_version(), run)
        names = [r[4] for r in rows]
        self.assertIn("heavy_a", names, run)
        self.assertIn("light_b", names, run)
        # Since the start, with what they call: 70/30.
        self.assertGreater(rows[names.index("heavy_a")][3], rows[names.index("light_b")][3], run)

    def test_errors(self):
        self.assert_error(self.sprofd("top"), EXIT_USAGE, r"no target")
        self.assert_error(self.sprofd("top", "-p", free_pid()), EXIT_NO_TARGET)
        self.assert_error(self.sprofd("top", "-p", "1", "-F", "0"), EXIT_USAGE, r"-F 0")
        run = self.sprofd("top", "--help")
        self.assert_ok(run)
        self.assertIn("usage: sprofd top -p PID", run.out)


if __name__ == "__main__":
    unittest.main()
