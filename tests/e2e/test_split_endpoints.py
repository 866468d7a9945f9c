"""Per-endpoint profiles (--split): a Flask and a Django application under
gunicorn, loaded with wrk, whose views count their own requests and CPU time
(the truth), and a Python program that is no web server, split at a function.
Each endpoint's file holds its own functions and none of another's; the CPU
shares of the views match the CPU they measured within 5 points; in wall
mode the sleeping view's time matches its sleeps times its requests within
15%; names no file may carry are made safe and unique; over a whole
gunicorn server (-p MASTER -C), the endpoints gather every worker's views
and the master's samples are outside requests.

Needs Debian's gunicorn, python3-flask, python3-django and wrk (make
test-deps installs them); a test is skipped, saying why, where one is
missing."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import types
import urllib.request

import test_daemon
import test_flask
import test_formats
from sprofdtest import ROOT, SprofdTestCase

WEB = os.path.join(ROOT, "tests", "targets", "web")
JOBS = os.path.join(ROOT, "tests", "targets", "py", "splitjobs.py")
PYTHON = "/usr/bin/python3"
ODD = "cart/add \u00fc*?"
VIEWS = ("cpu_view", "compress_view", "sleep_view", "hello_view", ODD)
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
# An endpoint table row: name, samples, share, seconds, top self function.
ROW_RE = re.compile(r"^(?P<name>.+?)\s+(?P<samples>[\d,]+)\s+(?P<share>[\d.]+)%\s+"
                    r"(?P<secs>[\d.]+)  (?P<top>.*)$")


def missing(*modules):
    miss = [t for t in ("gunicorn", "wrk") if not shutil.which(t)]
    for m in modules:
        if subprocess.run([PYTHON, "-c", "import " + m], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            miss.append("python3-" + m)
    return miss


def endpoint_table(out):
    """The rows of the endpoint table on the console, in order, as
    (endpoint, samples, share, seconds, top), and the seconds column's
    title."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("endpoint ") and "samples" in line:
            title = line.split()[3] + (" s" if line.split()[3] in ("cpu", "wall") else "")
            rows = []
            for row in lines[i + 1:]:
                m = ROW_RE.match(row)
                if not m:
                    break
                rows.append((m.group("name"), int(m.group("samples").replace(",", "")),
                             float(m.group("share")), float(m.group("secs")), m.group("top")))
            return rows, title
    return None, None


def slugs(rows):
    """The file name part each endpoint must get, as sprofd(8) says: bytes
    other than letters, digits, '-', '_' and '.' become '_', no leading dot,
    at most 64 bytes, and -2, -3... for a name taken."""
    out, taken = [], set()
    for name, *_ in rows:
        if name == "(outside requests)":
            out.append(None)
            continue
        b = name.encode()[:64]
        base = "".join(chr(c) if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "-_.")
                       else "_" for c in b) or "_"
        if base[0] == ".":
            base = "_" + base[1:]
        slug, k = base, 2
        while slug in taken:
            slug, k = "%s-%d" % (base, k), k + 1
        taken.add(slug)
        out.append(slug)
    return out


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=30) as r:
        return r.read().decode()


class SplitEndpointsTest(SprofdTestCase):

    def need(self, *modules):
        miss = missing(*modules)
        if miss:
            self.skipTest("not installed: %s (run: make test-deps)" % ", ".join(miss))

    def start_server(self, app):
        """gunicorn with one worker serving app; returns (port, worker pid)."""
        port, _, workers = self.start_gunicorn(app, 1)
        return port, workers[0]

    def start_gunicorn(self, app, nworkers):
        """gunicorn with nworkers workers serving app; returns (port, master
        pid, [worker pids])."""
        return test_flask.start_gunicorn(self, app, nworkers)

    def profile_under_load(self, port, worker, paths, seconds, *args):
        """sprofd attached to the worker for exactly as long as wrk loads it
        (so that the server's counters cover what was sampled); its Run."""
        sp = self.spawn_sprofd("-p", worker, *args)
        self.wait_attached(sp, types.SimpleNamespace(pid=worker, name="gunicorn worker"),
                           timeout=30)
        w = subprocess.run(["wrk", "-t", "1", "-c", "4", "-d", "%ds" % seconds,
                            "-s", os.path.join(WEB, "mix.lua"),
                            "http://127.0.0.1:%d/" % port, "--"] + list(paths),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=seconds + 60)
        sp.send_signal(signal.SIGINT)
        run = self.finish(sp, timeout=120)
        self.assertEqual(w.returncode, 0, w.stdout)
        return run, w.stdout

    def endpoint_files(self, run, stem, ext):
        """{path: samples} of the endpoint files the run wrote for stem.ext."""
        out = {}
        for line in run.err.splitlines():
            m = re.match(r"^sprofd: wrote (.+) \(([\d,]+) samples?\)$", line)
            if not m or os.path.dirname(m.group(1)) != self.tmp:
                continue
            name = os.path.basename(m.group(1))
            if name.startswith(stem + ".") and name.endswith(ext) and name != stem + ext:
                out[name] = int(m.group(2).replace(",", ""))
        return out

    def check_files(self, run, prof, rows, stem, info):
        """Every endpoint of the table but the outside has its file, named
        safely and uniquely, holding as many samples as the table says; their
        samples and the outside's make the whole profile's. {endpoint:
        Profile} (the first of equal names)."""
        files = self.endpoint_files(run, stem, ".prof")
        want = {}
        for row, slug in zip(rows, slugs(rows)):
            if slug is not None:
                self.assertRegex(slug, SAFE_NAME, info)
                want["%s.%s.prof" % (stem, slug)] = row[1]
        self.assertEqual(files, want, info)
        out = {}
        for row, slug in zip(rows, slugs(rows)):
            if slug is None:
                continue
            ep = self.load_profile(self.path("%s.%s.prof" % (stem, slug)), prof.hz)
            self.assertEqual(ep.total, row[1], info)
            out.setdefault(row[0], ep)
        self.assertEqual(sum(r[1] for r in rows), prof.total, info)
        return out

    def test_flask_cpu(self):
        self.need("flask")
        port, worker = self.start_server("splitshop:app")
        for p in ("/cpu", "/compress", "/sleep", "/hello", "/odd"):
            get(port, p)
        out = self.path("shop.prof")
        # The views' samples depend on the CPU a loaded machine gives the
        # worker: load longer until they are over 300.
        for secs in (8, 20):
            get(port, "/reset")
            run, wrk = self.profile_under_load(port, worker, ["/cpu", "/compress", "/sleep",
                                                              "/hello", "/odd"], secs,
                                               "-F", 500, "-o", out, "-f",
                                               "prof,pprof,collapsed", "--split", "flask",
                                               "-n", 10)
            truth = json.loads(get(port, "/stats"))
            rows, title = endpoint_table(run.out)
            # 1,000 samples put one standard error of a share near 1.6
            # points; 300 left 5 points at 1.7 of them, failing one run in 10.
            if rows and sum(r[1] for r in rows if r[0] in truth) > 1000:
                break
        prof = self.check_run(run, out, 500, pid=worker)
        info = "truth %r\ntable %r\n%s\n%s\ntop:\n%s" % (truth, rows, wrk, run, prof.top(25))
        self.assertIsNotNone(rows, info)
        table = {r[0]: r[1:] for r in rows}
        self.assertEqual(title, "cpu s", info)
        self.assertIn("cpu_view", table, info)
        self.assertIn("compress_view", table, info)
        self.assertIn(ODD, table, info)
        eps = self.check_files(run, prof, rows, "shop", info)

        # Each view's file: its own functions, none of another's.
        views = set(VIEWS)
        for name, ep in eps.items():
            funcs = {k[2] for k in ep.raw}
            self.assertFalse(funcs & (views - {name}), "%s holds %r\n%s"
                             % (name, sorted(funcs & views), info))
        cpu, comp = eps["cpu_view"], eps["compress_view"]
        self.assertTrue(cpu.has("burn") and not cpu.has("pack"), info)
        self.assertTrue(comp.has("pack") and not comp.has("burn"), info)
        self.assertTrue(any(k[0].endswith("libz.so.1") or "libz" in k[0] or "deflate" in k[2]
                            for k in comp.raw), "no zlib in compress_view's file\n" + info)
        self.assertFalse(any("deflate" in k[2] or "libz" in k[0] for k in cpu.raw), info)
        self.assertEqual(table["cpu_view"][3], "burn", info)

        # The views' shares of the views' samples against their own CPU.
        total_cpu = sum(truth[v][1] for v in truth)
        total_samples = sum(table.get(v, (0,))[0] for v in truth)
        self.assertGreater(total_samples, 1000, info)
        for v in truth:
            want = truth[v][1] / total_cpu * 100
            got = table.get(v, (0,))[0] / total_samples * 100
            test_daemon.say("flask cpu: %-14s %5.1f%% of the views' samples, %5.1f%% of their "
                            "CPU (%d requests)" % (v, got, want, truth[v][0]))
            self.assertAlmostEqual(got, want, delta=5, msg="%s: %.1f%% of the views' samples, "
                                   "%.1f%% of their CPU\n%s" % (v, got, want, info))

        # pprof: every sample of the whole profile carries its endpoint.
        pp = test_formats.read_pprof(self.path("shop.pb.gz"))
        by_label = {}
        for _, vals, labels in pp["samples"]:
            self.assertIn("endpoint", labels, info)
            by_label[labels["endpoint"]] = by_label.get(labels["endpoint"], 0) + vals[0]
        self.assertEqual(by_label, {n: t[0] for n, t in table.items() if t[0]}, info)
        # From the saved file: the views' samples are those of the edges
        # from Flask.dispatch_request to them, the same as live.
        rep = self.sprofd("report", "--split", "flask", "-n", 0, out)
        self.assert_ok(rep)
        rrows, rtitle = endpoint_table(rep.out)
        self.assertIsNotNone(rrows, rep)
        self.assertIn("from call edges", rep.out, rep)
        rtable = {r[0]: r[1:] for r in rrows}
        for v in ("cpu_view", "compress_view", ODD):
            self.assertEqual(rtable[v][0], table[v][0], "%s\n%s" % (rep, info))
        # go tool pprof -tagfocus shows one endpoint, as the issue promised.
        if shutil.which("go"):
            g = subprocess.run(["go", "tool", "pprof", "-tagfocus", "endpoint=cpu_view", "-top",
                                self.path("shop.pb.gz")], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=300, env=dict(os.environ, HOME=self.tmp))
            self.assertEqual(g.returncode, 0, g.stdout)
            self.assertIn("tagfocus=endpoint=cpu_view", g.stdout)
            self.assertRegex(g.stdout, r"\sburn\s*$|\sburn\n", g.stdout)
            self.assertNotIn(" pack", g.stdout)
        # The other formats have endpoint files too, beside their own.
        folded = self.endpoint_files(run, "shop", ".folded")
        self.assertEqual(sorted(n for n in folded.values()),
                         sorted(t[0] for n, t in table.items() if n != "(outside requests)"),
                         info)
        for path in folded:
            for line in open(self.path(path), encoding="utf-8", errors="replace"):
                self.assertIn("dispatch_request", line, path)

    def test_flask_tree(self):
        """-p MASTER -C over gunicorn -w 2, in wall mode (so that the master,
        asleep between its checks, is sampled too): each view's endpoint
        holds samples of both workers, the master's are all outside
        requests, and --processes roots each endpoint file's stacks at the
        workers only."""
        self.need("flask")
        port, master, workers = self.start_gunicorn("splitshop:app", 2)
        for p in ("/cpu", "/compress", "/hello"):
            for _ in range(4):
                get(port, p)
        out = self.path("tree.prof")
        run, wrk = self.profile_under_load(port, master, ["/cpu", "/compress", "/hello"], 8,
                                           "-C", "-m", "wall", "-F", 200, "-o", out, "-f",
                                           "prof,pprof", "--processes", "--split", "flask",
                                           "-n", 5)
        prof = self.check_run(run, out, 200, pid=master)
        rows, title = endpoint_table(run.out)
        info = "master %d, workers %r\ntable %r\n%s\n%s" % (master, workers, rows, wrk, run)
        self.assertIsNotNone(rows, info)
        self.assertEqual(title, "wall s", info)
        table = {r[0]: r[1:] for r in rows}
        self.assertIn("(outside requests)", table, info)
        eps = self.check_files(run, prof, rows, "tree", info)

        # Samples per endpoint and process, from the pprof pid label.
        pp = test_formats.read_pprof(self.path("tree.pb.gz"))
        by = {}
        for _, vals, labels in pp["samples"]:
            key = (labels.get("endpoint"), labels.get("pid"))
            by[key] = by.get(key, 0) + vals[0]
        info += "\nby (endpoint, pid): %r" % by
        master_samples = sum(n for (ep, pid), n in by.items() if pid == master)
        self.assertGreater(master_samples, 0, info)
        self.assertEqual(master_samples, by.get(("(outside requests)", master), 0), info)
        self.assertEqual(set(pid for _, pid in by), {master} | set(workers), info)
        for view in ("cpu_view", "compress_view"):
            per = {w: by.get((view, w), 0) for w in workers}
            test_daemon.say("flask tree: %-14s %s" % (view, ", ".join(
                "worker %d: %d samples" % (w, n) for w, n in per.items())))
            for w, n in per.items():
                self.assertGreater(n, 0, "%s: no samples of worker %d\n%s" % (view, w, info))
        test_daemon.say("flask tree: master %d: %d samples, all outside requests"
                        % (master, master_samples))

        # --processes: an endpoint's stacks start at the worker that ran it.
        roots = {k[2] for k in eps["cpu_view"].raw if k[2].startswith("process ")}
        self.assertEqual(roots, {"process %d (gunicorn)" % w for w in workers},
                         "%r\n%s" % (roots, info))
        self.assertTrue(eps["cpu_view"].has("burn"), info)
        self.assertFalse(eps["cpu_view"].has("pack"), info)

    def test_flask_wall(self):
        self.need("flask")
        port, worker = self.start_server("splitshop:app")
        for p in ("/cpu", "/sleep", "/hello"):
            get(port, p)
        get(port, "/reset")
        out = self.path("wall.prof")
        run, wrk = self.profile_under_load(port, worker, ["/sleep", "/cpu", "/hello"], 8,
                                           "-F", 200, "-m", "wall", "-o", out, "--split",
                                           "flask", "-n", 5)
        truth = json.loads(get(port, "/stats"))
        prof = self.check_run(run, out, 200, pid=worker)
        rows, title = endpoint_table(run.out)
        info = "truth %r\ntable %r\n%s\n%s" % (truth, rows, wrk, run)
        self.assertIsNotNone(rows, info)
        table = {r[0]: r[1:] for r in rows}
        self.assertEqual(title, "wall s", info)
        eps = self.check_files(run, prof, rows, "wall", info)
        sleeps, slept = truth["sleep_view"][0], truth["sleep_view"][2]
        self.assertGreater(sleeps, 30, info)
        # The sleeps as the view timed them: 20 ms each, and on a loaded
        # machine some more before the thread runs again.
        got = table["sleep_view"][2]
        test_daemon.say("flask wall: sleep_view %.3f s in the profile; %d sleeps x 20 ms = "
                        "%.3f s, %.3f s as the view timed them" % (got, sleeps, sleeps * 0.02,
                                                                   slept))
        self.assertGreaterEqual(slept, sleeps * 0.02, info)
        self.assertAlmostEqual(got, slept, delta=slept * 0.15,
                               msg="sleep_view: %.3f s in the profile, %d sleeps took %.3f s\n%s"
                               % (got, sleeps, slept, info))
        self.assertFalse(eps["sleep_view"].has("burn"), info)
        self.assertTrue(eps["cpu_view"].has("burn"), info)

    def test_django(self):
        self.need("django")
        port, worker = self.start_server("djshop:application")
        for p in ("/cpu", "/compress", "/sleep"):
            get(port, p)
        out = self.path("dj.prof")
        run, wrk = self.profile_under_load(port, worker, ["/cpu", "/compress", "/sleep"], 8,
                                           "-F", 250, "-o", out, "--split", "django", "-n", 5)
        prof = self.check_run(run, out, 250, pid=worker)
        rows, _ = endpoint_table(run.out)
        info = "table %r\n%s\ntop:\n%s" % (rows, run, prof.top(25))
        self.assertIsNotNone(rows, info)
        table = {r[0]: r[1:] for r in rows}
        # The views, not the wrappers of csrf_exempt and require_GET.
        self.assertIn("report_view", table, info)
        self.assertIn("archive_view", table, info)
        self.assertFalse([n for n in table if "wrapped_view" in n or "inner" in n], info)
        eps = self.check_files(run, prof, rows, "dj", info)
        rep, arc = eps["report_view"], eps["archive_view"]
        self.assertTrue(rep.has("crunch") and not rep.has("squeeze"), info)
        self.assertTrue(arc.has("squeeze") and not arc.has("crunch"), info)
        self.assertEqual(table["report_view"][3], "crunch", info)
        # The view sits under the handler, through the decorators' wrappers.
        self.assertTrue(any(k[2].endswith("_get_response") for k in
                            self._ancestors(rep, rep.key("report_view"))), info)

    def test_django_cpu(self):
        """The views' shares of the views' samples against the CPU each
        measured inside itself, within 5 points, as test_flask_cpu does."""
        self.need("django")
        port, worker = self.start_server("djshop:application")
        for p in ("/cpu", "/compress", "/sleep"):
            get(port, p)
        out = self.path("djcpu.prof")
        for secs in (8, 20):
            get(port, "/reset")
            run, wrk = self.profile_under_load(port, worker, ["/cpu", "/compress", "/sleep"],
                                               secs, "-F", 500, "-o", out, "--split",
                                               "django", "-n", 5)
            truth = json.loads(get(port, "/stats"))
            rows, _ = endpoint_table(run.out)
            # 1,000 samples put one standard error of a share near 1.6
            # points; 300 left 5 points at 1.7 of them, failing one run in 10.
            if rows and sum(r[1] for r in rows if r[0] in truth) > 1000:
                break
        prof = self.check_run(run, out, 500, pid=worker)
        info = "truth %r\ntable %r\n%s\n%s\ntop:\n%s" % (truth, rows, wrk, run, prof.top(25))
        self.assertIsNotNone(rows, info)
        table = {r[0]: r[1:] for r in rows}
        self.assertEqual(set(truth), {"report_view", "archive_view", "nap_view"}, info)
        total_cpu = sum(truth[v][1] for v in truth)
        total_samples = sum(table.get(v, (0,))[0] for v in truth)
        self.assertGreater(total_samples, 1000, info)
        for v in truth:
            want = truth[v][1] / total_cpu * 100
            got = table.get(v, (0,))[0] / total_samples * 100
            test_daemon.say("django cpu: %-13s %5.1f%% of the views' samples, %5.1f%% of "
                            "their CPU (%d requests)" % (v, got, want, truth[v][0]))
            self.assertAlmostEqual(got, want, delta=5, msg="%s: %.1f%% of the views' samples, "
                                   "%.1f%% of their CPU\n%s" % (v, got, want, info))

    def _ancestors(self, prof, key):
        seen, todo = set(), [key]
        while todo:
            for c in prof.raw[todo.pop()][4]:
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        return seen

    def test_function(self):
        target = subprocess.Popen([PYTHON, JOBS, "60"], cwd=self.logs,
                                  stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: target.poll() is None and (target.kill(), target.wait()))
        time.sleep(0.5)
        out = self.path("jobs.prof")
        # In cpu mode the count depends on the CPU a loaded machine gives
        # the target: sample longer until 600.
        for secs in (4, 12):
            run = self.sprofd("-p", target.pid, "-F", 500, "-d", secs, "-o", out, "-f",
                              "prof,collapsed", "--split", "run_job", "-n", 5)
            self.assert_ok(run)
            if (run.header() and int(run.header().group("samples").replace(",", "")) >= 600):
                break
        prof = self.check_run(run, out, 500, pid=target.pid)
        rows, _ = endpoint_table(run.out)
        info = "table %r\n%s\ntop:\n%s" % (rows, run, prof.top(25))
        self.assertIsNotNone(rows, info)
        table = {r[0]: r[1:] for r in rows}
        eps = self.check_files(run, prof, rows, "jobs", info)
        # Two functions the interpreter calls "dup": two endpoints that the
        # table cannot tell apart, two files that are.
        files = self.endpoint_files(run, "jobs", ".prof")
        self.assertIn("jobs.dup.prof", files, info)
        self.assertIn("jobs.dup-2.prof", files, info)
        odd = "job: a/b \u00e9"
        self.assertIn(odd, table, info)
        # Shares under run_job by construction: resize 2/6, each other 1/6.
        jobs_total = sum(r[1] for r in rows if r[0] != "(outside requests)")
        self.assertGreater(jobs_total, 500, info)
        dup = sum(r[1] for r in rows if r[0] == "dup")
        for name, want, got in (("resize", 2 / 6, table["resize"][0]),
                                ("encode", 1 / 6, table["encode"][0]),
                                (odd, 1 / 6, table[odd][0]), ("dup", 2 / 6, dup)):
            test_daemon.say("function: %-12s %5.1f%% of the jobs' samples, %5.1f%% by "
                            "construction" % (name, got / jobs_total * 100, want * 100))
            self.assertAlmostEqual(got / jobs_total * 100, want * 100, delta=5,
                                   msg="%s: %d of %d\n%s" % (name, got, jobs_total, info))
        self.assertTrue(eps["resize"].has("spin") and not eps["resize"].has("encode"), info)
        self.assertFalse(eps["encode"].has("resize"), info)
        for line in open(self.path("jobs.resize.folded"), encoding="utf-8"):
            # resize called by run_job, in resize or below it
            self.assertRegex(line, r"(^|;)run_job;resize(;.* | )[0-9]+$")

        # The same by pattern on file:line(function).
        out2 = self.path("re.prof")
        run2 = self.sprofd("-p", target.pid, "-F", 500, "-d", 2, "-o", out2, "--split",
                           r"splitjobs\.py:[0-9]+\(run_job\)", "-n", 0)
        self.assert_ok(run2)
        files2 = self.endpoint_files(run2, "re", ".prof")
        self.assertTrue({"re.resize.prof", "re.encode.prof", "re.dup.prof",
                         "re.dup-2.prof"} <= set(files2), "%r\n%s" % (files2, run2))

        # From the saved file: the same endpoints and counts (run_job is
        # not recursive), said to come from call edges.
        rep = self.sprofd("report", "--split", "run_job", "-n", 0, out)
        self.assert_ok(rep)
        rrows, _ = endpoint_table(rep.out)
        rtable = {r[0]: r[1:] for r in rrows}
        self.assertIn("from call edges", rep.out, rep)
        for name in ("resize", "encode", odd):
            self.assertEqual(rtable[name][0], table[name][0], "%s\n%s" % (rep, info))


class DaemonSplitTest(test_daemon.DaemonTestCase):
    """Split in a daemon target: the endpoint files are named like the
    profile's, and retention keeps or removes them with it, counting each;
    and sprofd ctl profile PID --split, on demand."""

    def test_ctl_profile_split(self):
        target = subprocess.Popen([PYTHON, JOBS, "60"], cwd=self.logs,
                                  stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: target.poll() is None and (target.kill(), target.wait()))
        time.sleep(0.5)
        self.start_daemon(self.base_conf())
        got = os.path.join(self.tmp, "got")
        os.mkdir(got)
        out = os.path.join(got, "jobs.prof")
        run = self.sprofd("ctl", "-S", self.sock, "profile", target.pid, "-d", 2, "-F", 300,
                          "-o", out, "-f", "prof,collapsed", "--split", "run_job", "-n", 5,
                          cwd=got)
        self.assert_ok(run)
        rows, _ = endpoint_table(run.out)
        names = sorted(os.listdir(got))
        info = "%r\ntable %r\n%s" % (names, rows, run)
        self.assertIsNotNone(rows, info)
        table = {r[0]: r[1:] for r in rows}
        self.assertTrue({"resize", "encode", "dup"} <= set(table), info)
        # The first format's files beside -o, as sprofd -p -o names them;
        # the other format's under the daemon's names, each endpoint's too.
        self.assertTrue({"jobs.prof", "jobs.resize.prof", "jobs.encode.prof", "jobs.dup.prof",
                         "jobs.dup-2.prof"} <= set(names), info)
        folded = [n for n in names if n.endswith(".folded")]
        stem = "python3.%d." % target.pid
        self.assertTrue(all(n.startswith(stem) for n in folded), info)
        self.assertTrue(any(n.endswith(".resize.folded") for n in folded), info)
        self.assertEqual(len(folded), len([n for n in names if n.endswith(".prof")]), info)
        # Each endpoint's file: its samples as the table says, its own
        # functions only.
        whole = self.load_profile(out, 300)
        self.assertEqual(sum(r[1] for r in rows), whole.total, info)
        for name, slug in (("resize", "resize"), ("encode", "encode")):
            ep = self.load_profile(os.path.join(got, "jobs.%s.prof" % slug), 300)
            self.assertEqual(ep.total, table[name][0], info)
            self.assertRegex(run.err, r"wrote %s \(%d samples\)"
                             % (re.escape(os.path.join(got, "jobs.%s.prof" % slug)), ep.total))
        resize = self.load_profile(os.path.join(got, "jobs.resize.prof"), 300)
        self.assertTrue(resize.has("spin") and not resize.has("encode"), info)

        # A pattern with characters the request line must carry.
        out2 = os.path.join(got, "re.prof")
        run2 = self.sprofd("ctl", "-S", self.sock, "profile", target.pid, "-d", 1, "-o", out2,
                           "--split", r"splitjobs\.py:[0-9]+\(run_job\)|no such = thing", "-n", 0,
                           cwd=got)
        self.assert_ok(run2)
        self.assertTrue(os.path.exists(os.path.join(got, "re.resize.prof")),
                        "%r\n%s" % (sorted(os.listdir(got)), run2))
        # A bad one is refused by the client, saying why.
        bad = self.sprofd("ctl", "-S", self.sock, "profile", target.pid, "-d", 1, "--split", "",
                          cwd=got)
        self.assertEqual(bad.rc, 2, bad)
        self.assertIn("--split", bad.err)

    def test_daemon_split_and_retention(self):
        target = subprocess.Popen([PYTHON, JOBS, "120"], cwd=self.logs,
                                  stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: target.poll() is None and (target.kill(), target.wait()))
        time.sleep(0.5)
        # A profile is 2 formats x (1 + 5 endpoints or more) >= 12 files:
        # with MaxFiles 14, each new profile removes the one before.
        d = self.start_daemon(self.base_conf() + (
            "Target jobs\n\tProcess pid %d\n\tDuration 1s\n\tInterval 3s\n\tJitter 0s\n"
            "\tFrequency 200\n\tSplit run_job\n\tFormats prof,collapsed\n\tOutputDir %s\n"
            "\tMaxFiles 14\n" % (target.pid, self.out)))
        d.wait_for(r"target jobs: PID \d+ .*written to", timeout=90, count=3)
        d.wait_for(r"retention: removed", timeout=30)
        self.assertEqual(d.stop(), 0, d.log())
        names = sorted(os.listdir(self.out))
        info = "%r\n%s" % (names, d.log())
        stems = set()
        for n in names:
            m = re.match(r"^python3\.%d\.(\d{9,})(\.[^/]+)?\.(prof|folded)$" % target.pid, n)
            self.assertIsNotNone(m, "not a profile's file: %s\n%s" % (n, info))
            stems.add(m.group(1))
        self.assertEqual(len(stems), 1, "files of more than one profile left\n" + info)
        stem = "python3.%d.%s" % (target.pid, stems.pop())
        want = {stem + e for e in (".prof", ".folded")}
        for slug in ("resize", "encode", "dup", "dup-2", "job__a_b___"):
            want |= {"%s.%s.prof" % (stem, slug), "%s.%s.folded" % (stem, slug)}
        self.assertTrue(want <= set(names), "missing: %r\n%s" % (sorted(want - set(names)), info))
        whole = self.load_profile(os.path.join(self.out, stem + ".prof"), 200)
        parts = sum(self.load_profile(os.path.join(self.out, n), 200).total
                    for n in names if n.endswith(".prof") and n != stem + ".prof")
        self.assertLessEqual(parts, whole.total, info)
        self.assertGreater(parts, whole.total * 0.9, info)
