"""Process trees: -p with several PIDs, -C/--children (the descendants alive at
the start and those born while sampled), --processes, and the promises for
every process of the tree: none left stopped or traced, exit statuses and
signals as without sprofd, also when sprofd is SIGKILLed mid-run.

The C target is tests/targets/prefork (a master that forks workers, each in
a function of its own, and replaces one that exits); gunicorn and a
multiprocessing.Pool show Python workers with their Python frames."""

import os
import random
import re
import signal
import subprocess
import sys
import time
import types

from sprofdtest import EXIT_OK, TARGETS, SprofdTestCase, held_threads, read_file, tracer_of, \
    wait_until
from test_daemon import PROF_RE, DaemonTestCase
from test_formats import pprof_stacks, read_collapsed, read_pprof

PYTHON = "/usr/bin/python3"
FIRST_RE = re.compile(r"PID (\d+) \(.*\): first sample ([\d.]+) ms after it was forked")


def pids_of(path):
    """The PIDs listed one a line in a state file of prefork."""
    return [int(x) for x in (read_file(path, "") or "").split()]


def exits_of(path):
    """prefork's record of reaped workers: {pid: status text}."""
    out = {}
    for line in (read_file(path, "") or "").splitlines():
        pid, _, st = line.partition(" ")
        out[int(pid)] = st
    return out


def cpu_ticks(pid):
    text = read_file("/proc/%d/stat" % pid)
    if text is None:
        return None
    f = text[text.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])


def descendants(pid):
    """Every descendant of pid, from the parent PIDs in /proc."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            text = read_file("/proc/%s/stat" % d)
            if text:
                parent[int(d)] = int(text[text.rindex(")") + 2:].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def assert_tree_released(test, pids, timeout=3.0):
    """Every process of pids still there runs free (see assert_released)."""
    for pid in pids:
        if os.path.exists("/proc/%d" % pid):
            test.assert_released(pid, timeout)


class PreforkTest(SprofdTestCase):

    def start_prefork(self, workers=3, short_ms=0):
        t = self.start_target("prefork", self.logs, workers, short_ms,
                              os.path.join(TARGETS, "execee"))
        self.addCleanup(lambda: open(self.log_path("stop"), "w").close())
        return t

    def assert_running(self, pids, timeout=10):
        """Each process still there uses CPU (a worker burns without end),
        within timeout seconds (the machine may be loaded)."""
        before = {p: cpu_ticks(p) for p in pids}
        for p, t0 in before.items():
            if t0 is None:
                continue
            moved = wait_until(lambda: (cpu_ticks(p) or t0) > t0 or cpu_ticks(p) is None,
                               timeout, 0.05)
            self.assertTrue(moved, "worker %d made no progress in %d s: %s" % (
                p, timeout, held_threads(p)))

    def test_tree_with_births_deaths_and_exec(self):
        t = self.start_prefork(3, short_ms=1500)
        first = pids_of(self.log_path("pids"))
        self.assertEqual(len(first), 4, first)
        prof = self.path("tree.prof")
        p = self.spawn_sprofd("-p", t.pid, "-C", "-F", 200, "-d", 6, "-o", prof, "-n", 0, "-v")
        self.wait_attached(p, t)
        self.assertTrue(wait_until(lambda: all(tracer_of(w) for w in first), 10),
                        "workers not traced: %r" % [(w, tracer_of(w)) for w in first])
        open(self.log_path("spawn"), "w").close()
        self.assertTrue(wait_until(lambda: read_file(self.log_path("late.pid")), 10))
        late = int(read_file(self.log_path("late.pid")))
        time.sleep(0.5)
        open(self.log_path("exec"), "w").close()
        run = self.finish(p, 60)
        P = self.check_run(run, prof, 200, pid=t.pid, comm="prefork", table=False)
        info = "%s\n%s" % (P.top(30), run)
        for name in ("worker_slot0", "worker_slot1", "worker_slot2", "late_work",
                     "shortlived_work", "replacement_work", "before_exec_work", "execee_work"):
            self.assertGreater(P.self_samples(name) + P.cc(name), 0, "%s missing\n%s"
                               % (name, info))
        # The short-lived worker exited with its own status while sampled.
        exits = exits_of(self.log_path("exits"))
        self.assertIn("7", exits.values(), exits)
        # How soon after its fork each new process was sampled (-v).
        firsts = {int(a): float(b) for a, b in FIRST_RE.findall(run.err)}
        self.assertIn(late, firsts, info)
        sys.stderr.write("\n  first sample after fork (ms): %s\n"
                         % ", ".join("%.1f" % v for v in sorted(firsts.values())))
        self.assertLess(firsts[late], 3000, info)
        # Every process of the tree runs free, none ever saw EINTR.
        live = pids_of(self.log_path("pids"))
        assert_tree_released(self, [t.pid] + live + descendants(t.pid))
        self.assertIsNone(read_file(self.log_path("eintr")), "master saw EINTR")
        self.assertTrue(t.alive())
        self.assert_running([w for w in live if w in descendants(t.pid)])

    def test_processes_and_threads_everywhere(self):
        t = self.start_prefork(2)
        workers = pids_of(self.log_path("pids"))
        prof = self.path("pt.prof")
        run = self.sprofd("-p", t.pid, "-C", "-F", 200, "-d", 2, "-o", prof, "-n", 5,
                          "--processes", "--threads", "-f", "prof,collapsed,pprof")
        P = self.check_run(run, prof, 200, pid=t.pid, comm="prefork")
        self.assertEqual(run.header().group("procs"), "3", str(run))
        want = {"process %d (prefork)" % w for w in workers}
        procs = {k[2] for k in P.raw if k[2].startswith("process ")}
        self.assertTrue(want <= procs, (want, procs))
        for k in P.raw:
            if k[2].startswith("process "):
                self.assertEqual(k[0], "~")
        col = read_collapsed(self.path("pt.folded"))
        for stack in col:
            m = re.match(r"process (\d+) \(prefork\)$", stack[0])
            self.assertTrue(m, stack)
            # The thread inside its process (single-threaded: the same id).
            self.assertEqual(stack[1], "thread %s (prefork)" % m.group(1), stack)
        for w, fn in zip(workers, ("worker_slot0", "worker_slot1")):
            self.assertTrue(any(s[0] == "process %d (prefork)" % w and s[-1] == fn
                                for s in col), (w, fn, sorted(col)[:20]))
        pp = read_pprof(self.path("pt.pb.gz"))
        self.assertEqual(pprof_stacks(pp), col)
        for locs, _, labels in pp["samples"]:
            outer = pp["locations"][locs[-1]]
            fname = pp["functions"][outer[2][0][0]][0]
            self.assertEqual(fname, "process %d (prefork)" % labels["pid"])
        assert_tree_released(self, [t.pid] + workers)

    def test_several_pids(self):
        a = self.start_prefork(1)
        wa = pids_of(self.log_path("pids"))[0]
        # A second prefork in a directory of its own.
        other = os.path.join(self.logs, "b")
        os.mkdir(other)
        b = self.start_target("prefork", other, 1)
        self.addCleanup(lambda: open(os.path.join(other, "stop"), "w").close())
        wb = pids_of(os.path.join(other, "pids"))[0]
        for args in (("-p", "%d,%d" % (wa, wb)), ("-p", wa, "-p", wb)):
            prof = self.path("two.prof")
            run = self.sprofd(*args, "-F", 200, "-d", 1.5, "-o", prof, "--processes")
            P = self.check_run(run, prof, 200, pid=wa)
            self.assertEqual(run.header().group("procs"), "2", str(run))
            procs = {k[2] for k in P.raw if k[2].startswith("process ")}
            self.assertEqual(procs, {"process %d (prefork)" % wa, "process %d (prefork)" % wb})
            self.assertGreater(P.self_samples("worker_slot0"), 0, P.top(10))
            # Without -C the masters are not traced.
            self.assertEqual(tracer_of(a.pid), 0)
        assert_tree_released(self, [a.pid, b.pid, wa, wb])

    def test_sigkill_mid_run(self):
        t = self.start_prefork(3, short_ms=400)
        rnd = random.Random(12)
        for trial in range(3):
            p = self.spawn_sprofd("-p", t.pid, "-C", "-F", 1000, "-d", 30, "-o",
                                  self.path("k%d.prof" % trial), "-n", 0)
            self.wait_attached(p, t)
            open(self.log_path("spawn"), "w").close()
            time.sleep(rnd.uniform(0.2, 1.2))
            p.kill()
            p.wait(10)
            tree = [t.pid] + descendants(t.pid)
            assert_tree_released(self, tree)
            self.assertTrue(t.alive())
            self.assertFalse(os.path.exists(self.path("k%d.prof" % trial)))
        self.assertIsNone(read_file(self.log_path("eintr")), "master saw EINTR")
        live = [w for w in pids_of(self.log_path("pids")) if w in descendants(t.pid)]
        self.assert_running(live)
        # Still serving: a worker asked for now is born and burns.
        open(self.log_path("spawn"), "w").close()
        self.assertTrue(wait_until(lambda: not os.path.exists(self.log_path("spawn")), 10))

    def test_dump_children(self):
        t = self.start_prefork(2)
        workers = pids_of(self.log_path("pids"))
        run = self.sprofd("dump", "-p", t.pid, "-C")
        self.assert_ok(run)
        heads = re.findall(r"^PID (\d+) \(prefork\): 1 thread$", run.out, re.M)
        self.assertEqual([int(h) for h in heads], [t.pid] + workers, run.out)
        for w, fn in zip(workers, ("worker_slot0", "worker_slot1")):
            part = run.out.split("PID %d (" % w)[1].split("\nPID ")[0]
            self.assertIn(" %s at " % fn, part, run.out)
        self.assertIn("nanosleep", run.out.split("PID %d (" % workers[0])[0])
        assert_tree_released(self, [t.pid] + workers)
        # Without -C, the master alone.
        run = self.sprofd("dump", "-p", t.pid)
        self.assertEqual(len(re.findall(r"^PID \d+ ", run.out, re.M)), 1, run.out)

    def test_worker_killed_mid_run(self):
        t = self.start_prefork(3)
        workers = pids_of(self.log_path("pids"))
        prof = self.path("kill.prof")
        p = self.spawn_sprofd("-p", t.pid, "-C", "-F", 1000, "-d", 2.5, "-o", prof, "-n", 0)
        self.wait_attached(p, t)
        self.assertTrue(wait_until(lambda: tracer_of(workers[1]), 10))
        time.sleep(0.7)
        os.kill(workers[1], signal.SIGKILL)
        run = self.finish(p, 60)
        P = self.check_run(run, prof, 1000, pid=t.pid, table=False)
        # Its master saw it killed by SIGKILL, as without sprofd.
        self.assertEqual(exits_of(self.log_path("exits")).get(workers[1]), "sig 9")
        self.assertGreater(P.cc("worker_slot1"), 0, P.top(20))
        assert_tree_released(self, [t.pid, workers[0], workers[2]])
        self.assertIsNone(read_file(self.log_path("eintr")), "master saw EINTR")

    def test_max_processes(self):
        t = self.start_prefork(3)
        prof = self.path("max.prof")
        run = self.sprofd("-p", t.pid, "-C", "--max-processes", 2, "-F", 200, "-d", 1,
                          "-o", prof, "--processes", "-n", 0)
        P = self.check_run(run, prof, 200, pid=t.pid, table=False)
        self.assertEqual(len(re.findall(r"--max-processes", run.err)), 1, str(run))
        procs = {k[2] for k in P.raw if k[2].startswith("process ")}
        self.assertLessEqual(len(procs), 2, procs)
        assert_tree_released(self, [t.pid] + descendants(t.pid))

    def test_child_with_another_tracer(self):
        """A worker another tracer holds is skipped with one line; the
        others are profiled, and the other tracer keeps its tracee."""
        t = self.start_prefork(3)
        self.assertTrue(wait_until(lambda: len(pids_of(self.log_path("pids"))) >= 3, 10, 0.05))
        workers = pids_of(self.log_path("pids"))
        held = workers[0]
        tr = self.start_target("tracer", held)
        self.assertEqual(tracer_of(held), tr.pid)
        prof = self.path("traced.prof")
        run = self.sprofd("-p", t.pid, "-C", "-F", 200, "-d", 1.5, "-o", prof, "-n", 0)
        P = self.check_run(run, prof, 200, pid=t.pid, table=False)
        lines = [l for l in run.err.splitlines() if re.search(r"\b%d\b" % held, l)]
        self.assertEqual(len(lines), 1, str(run))
        self.assertIn("skip", lines[0], str(run))
        slots = [fn for fn in ("worker_slot0", "worker_slot1", "worker_slot2") if P.has(fn)]
        self.assertEqual(len(slots), 2, "%s\n%s" % (P.top(20), run))
        self.assertEqual(tracer_of(held), tr.pid)
        assert_tree_released(self, [t.pid] + [w for w in workers if w != held])

    def test_fork_storm(self):
        """A shell forking short-lived children as fast as it can is bounded
        by --max-processes with one warning, and every process is released:
        none stopped, none traced, the shell's loop ends as it would."""
        sh = subprocess.Popen(["sh", "-c", "i=0; while [ $i -lt 400 ]; do sleep 0.3 & "
                               "i=$((i+1)); done; wait; echo done"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)

        def stop():
            for c in descendants(sh.pid):
                try:
                    os.kill(c, signal.SIGKILL)
                except OSError:
                    pass
            sh.kill()
            sh.wait()
        self.addCleanup(stop)
        time.sleep(0.1)
        prof = self.path("storm.prof")
        run = self.sprofd("-p", sh.pid, "-C", "--max-processes", 8, "-m", "wall", "-F", 100,
                          "-d", 1.5, "-o", prof, "-n", 0, "--processes")
        kids = descendants(sh.pid)
        if run.rc == EXIT_OK:
            P = self.load_profile(prof, 100)
            procs = {k[2] for k in P.raw if k[2].startswith("process ")}
            self.assertGreater(len(procs), 1, procs)
        self.assertEqual(len(re.findall(r"--max-processes", run.err)), 1, str(run))
        assert_tree_released(self, [sh.pid] + kids)
        out, _ = sh.communicate(timeout=60)
        self.assertEqual((sh.returncode, out), (0, b"done\n"))


POOL = """
import multiprocessing, sys, time

def pool_work(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc

if __name__ == "__main__":
    with multiprocessing.Pool(3) as pool:
        pool.map(pool_work, [10] * 3)
        print("ready", flush=True)
        while True:
            pool.map(pool_work, [200000] * 12)
"""


class PythonTreeTest(SprofdTestCase):

    def test_multiprocessing_pool(self):
        script = self.log_path("pool.py")
        with open(script, "w") as f:
            f.write(POOL)
        p = subprocess.Popen([PYTHON, script], cwd=self.logs, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

        def stop():
            for c in descendants(p.pid):
                try:
                    os.kill(c, signal.SIGKILL)
                except OSError:
                    pass
            p.kill()
            p.wait()
        self.addCleanup(stop)
        self.assertEqual(p.stdout.readline(), b"ready\n")
        kids = descendants(p.pid)
        prof = self.path("pool.prof")
        run = self.sprofd("-p", p.pid, "-C", "-F", 200, "-d", 3, "-o", prof, "--processes",
                          "-n", 0)
        P = self.check_run(run, prof, 200, pid=p.pid, table=False)
        key = P.key("pool_work")
        self.assertEqual(key[0], script, key)
        self.assertGreater(P.self_samples("pool_work"), 0)
        procs = {k[2] for k in P.raw if k[2].startswith("process ")}
        self.assertGreaterEqual(len(procs), 3, procs)
        assert_tree_released(self, [p.pid] + kids)


class ScriptTest(SprofdTestCase):
    """A shell script that starts a Python program: the shell's child,
    forked then exec'ed into python3, shows its Python frames."""

    def test_shell_starts_python(self):
        prog = self.log_path("busy.py")
        with open(prog, "w") as f:
            f.write("import sys\n\ndef script_work():\n    acc = 0\n    while True:\n"
                    "        for i in range(100000):\n            acc = (acc * 31 + i) % 1000003\n\n"
                    "print('ready', flush=True)\nscript_work()\n")
        sh = subprocess.Popen(["sh", "-c", "sleep 1; %s %s; echo done" % (PYTHON, prog)],
                              cwd=self.logs, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)

        def stop():
            for c in descendants(sh.pid):
                try:
                    os.kill(c, signal.SIGKILL)
                except OSError:
                    pass
            sh.kill()
            sh.wait()
        self.addCleanup(stop)
        prof = self.path("sh.prof")
        # Attached to the shell before it starts python3.
        run = self.sprofd("-p", sh.pid, "-C", "-F", 200, "-d", 3, "-o", prof, "-n", 0)
        P = self.check_run(run, prof, 200, pid=sh.pid, table=False)
        key = P.key("script_work")
        self.assertEqual(key[0], prog, key)
        self.assertGreater(P.self_samples("script_work"), 0, P.top(15))
        assert_tree_released(self, [sh.pid] + descendants(sh.pid))


class PythonVersionsTest(SprofdTestCase):
    """The header names the Python version of every process of a tree: one
    version once, two versions both, and how many processes run Python."""

    def test_two_pythons_under_a_shell(self):
        import glob
        other = sorted(glob.glob("/root/.pyenv/versions/3.12.*/bin/python3.12"))
        if not other:
            self.skipTest("no pyenv build of Python 3.12 under /root/.pyenv/versions")
        prog = self.log_path("spin.py")
        with open(prog, "w") as f:
            f.write("import sys\nprint(sys.version.split()[0], flush=True)\nacc = 0\n"
                    "while True:\n    acc = (acc * 31 + 7) % 1000003\n")
        sh = subprocess.Popen(["sh", "-c", "%s %s & %s %s & wait" % (PYTHON, prog, other[-1], prog)],
                              cwd=self.logs, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)

        def stop():
            for c in descendants(sh.pid):
                try:
                    os.kill(c, signal.SIGKILL)
                except OSError:
                    pass
            sh.kill()
            sh.wait()
        self.addCleanup(stop)
        versions = {sh.stdout.readline().decode().strip() for _ in range(2)}
        self.assertEqual(len(versions), 2, versions)
        prof = self.path("two.prof")
        run = self.sprofd("-p", sh.pid, "-C", "-F", 100, "-d", 2, "-o", prof, "-n", 3)
        self.check_run(run, prof, 100, pid=sh.pid)
        more = run.header().group("more") or ""
        m = re.search(r"; pythons ([^(;]+) \((\d+) of (\d+) processes\)", more)
        self.assertTrue(m, run.header().group(0))
        self.assertEqual(set(m.group(1).split(", ")), versions, more)
        self.assertEqual((m.group(2), m.group(3)), ("2", "3"), more)
        assert_tree_released(self, [sh.pid] + descendants(sh.pid))


class GunicornTreeTest(SprofdTestCase):
    """gunicorn -w 3 --max-requests N under wrk: workers are recycled while
    sampled, and those born during the run appear with their Python
    frames."""

    def setUp(self):
        super().setUp()
        from test_flask import missing_tools
        miss = missing_tools()
        if miss:
            self.skipTest("not installed: %s (run: make test-deps)" % ", ".join(miss))

    def test_recycled_workers(self):
        from test_flask import WEB, start_gunicorn
        port, master, _ = start_gunicorn(self, "shop:app", 3, "--max-requests", 60,
                                         "--max-requests-jitter", 10)
        g = types.SimpleNamespace(pid=master)
        before = set(descendants(g.pid))
        w = subprocess.Popen(["wrk", "-t", "1", "-c", "4", "-d", "9s", "-s",
                              os.path.join(WEB, "mix.lua"), "http://127.0.0.1:%d/" % port,
                              "--", "/cpu", "/hello"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: w.poll() is None and w.kill())
        prof = self.path("g.prof")
        run = self.sprofd("-p", g.pid, "-C", "-F", 200, "-d", 6, "-o", prof, "--processes",
                          "-f", "prof,collapsed", "-n", 0)
        P = self.check_run(run, prof, 200, pid=g.pid, table=False)
        w.wait(timeout=30)
        col = read_collapsed(self.path("g.folded"))
        born = set()
        for stack, n in col.items():
            m = re.match(r"process (\d+) ", stack[0])
            self.assertTrue(m, stack)
            pid = int(m.group(1))
            if pid != g.pid and pid not in before and "cpu_view" in stack:
                born.add(pid)
        info = "workers at start %r\n%s\n%s" % (sorted(before), P.top(20), run)
        self.assertTrue(born, "no worker born while sampled ran cpu_view\n" + info)
        self.assertEqual(P.key("burn")[0], os.path.join(WEB, "shop.py"), info)
        assert_tree_released(self, [g.pid] + descendants(g.pid))
        state = read_file("/proc/%d/stat" % master, ") X").rsplit(") ", 1)[1][:1]
        self.assertNotIn(state, ("Z", "X"), "gunicorn exited")


class DaemonChildrenTest(DaemonTestCase):
    """The daemon: sprofd ctl profile PID -C (root only), and a target with
    Children yes."""

    def start_prefork(self, workers):
        t = self.start_target("prefork", self.logs, workers)
        self.addCleanup(lambda: open(self.log_path("stop"), "w").close())
        return t, pids_of(self.log_path("pids"))

    def test_ctl_profile_children(self):
        t, workers = self.start_prefork(2)
        self.start_daemon(self.base_conf())
        out = self.path("tree.prof")
        run = self.sprofd("ctl", "-S", self.sock, "profile", t.pid, "-C", "-d", "1.5",
                          "-o", out, "-n", 0)
        self.assert_ok(run)
        P = self.load_profile(out, 100)
        for fn in ("worker_slot0", "worker_slot1"):
            self.assertGreater(P.cc(fn), 0, "%s\n%s" % (P.top(20), run))
        # Without -C, the master alone: no worker's function.
        run = self.sprofd("ctl", "-S", self.sock, "profile", t.pid, "-d", "1", "-m", "wall",
                          "-o", self.path("one.prof"), "-n", 0)
        self.assert_ok(run)
        self.assertFalse(self.load_profile(self.path("one.prof"), 100).has("worker_slot0"))
        assert_tree_released(self, [t.pid] + workers)

    def test_children_yes_matches_inside_the_tree(self):
        """Process exe matches the master and its workers: with Children yes
        the tree is one profile, of the master (Select newest would pick a
        worker, Select all profile each worker twice), and its CPU budget
        is checked once, for the tree's one worker process."""
        t, workers = self.start_prefork(2)
        for select in ("all", "newest"):
            out = os.path.join(self.out, select)
            conf = self.base_conf() + (
                "Target tree\n\tProcess exe %s\n\tSelect %s\n\tChildren yes\n"
                "\tCPUBudget 0.1%%\n\tInterval 1h\n\tDuration 3\n\tOutputDir %s\n"
                % (os.path.join(TARGETS, "prefork"), select, out))
            d = self.start_daemon(conf)
            self.assert_ok(self.sprofd("ctl", "-S", self.sock, "run", "tree"))
            self.assertTrue(wait_until(lambda: self.regular_profiles(out), 30, 0.1),
                            "no profile in %s\n%s" % (out, d.log()))
            time.sleep(0.5)
            names = sorted(self.regular_profiles(out))
            pids = {int(PROF_RE.match(n).group("pid")) for n in names}
            self.assertEqual(pids, {t.pid}, "%s\n%s" % (names, d.log()))
            P = self.load_profile(os.path.join(out, names[0]), 100)
            for fn in ("worker_slot0", "worker_slot1"):
                self.assertGreater(P.cc(fn), 0, P.top(20))
            used = {int(m.group(1)) for _, m in d.find(r"PID (\d+): sprofd used")}
            self.assertEqual(used, {t.pid}, d.log())
            d.stop()
        assert_tree_released(self, [t.pid] + workers)

    def test_children_yes(self):
        t, workers = self.start_prefork(2)
        conf = self.base_conf() + ("Target tree\n\tProcess pid %d\n\tChildren yes\n"
                                   "\tInterval 1h\n\tDuration 1\n\tOutputDir %s/%%t\n"
                                   % (t.pid, self.out))
        check = self.sprofd("-t", "-c", self.write_conf(conf, "check.conf"))
        self.assert_ok(check)
        self.start_daemon(conf)
        self.assert_ok(self.sprofd("ctl", "-S", self.sock, "run", "tree"))
        tdir = os.path.join(self.out, "tree")
        self.assertTrue(wait_until(lambda: self.regular_profiles(tdir), 30, 0.1),
                        "no profile in %s" % tdir)
        name = sorted(self.regular_profiles(tdir))[0]
        P = self.load_profile(os.path.join(tdir, name), 100)
        for fn in ("worker_slot0", "worker_slot1"):
            self.assertGreater(P.cc(fn), 0, P.top(20))
        assert_tree_released(self, [t.pid] + workers)
        bad = self.sprofd("-t", "-c", self.write_conf(conf.replace("Children yes",
                                                                   "Children maybe"), "bad.conf"))
        self.assertNotEqual(bad.rc, EXIT_OK, str(bad))
