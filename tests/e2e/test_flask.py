"""A Flask application under gunicorn, loaded with wrk: the profile of its
worker shows the application's own Python functions, keyed as cProfile keys
them (file, def line, qualified name), with the native code of a C extension
under the Python function that called it.

Needs Debian's gunicorn, python3-flask and wrk (make test-deps installs
them); the test is skipped, saying why, where one is missing."""

import os
import shutil
import socket
import subprocess
import time

from sprofdtest import ROOT, SprofdTestCase, read_file, wait_until

WEB = os.path.join(ROOT, "tests", "targets", "web")
APP = os.path.join(WEB, "shop.py")
PYTHON = "/usr/bin/python3"


def missing_tools():
    """What the test needs and this machine lacks, as a list of names."""
    miss = [t for t in ("gunicorn", "wrk") if not shutil.which(t)]
    if subprocess.run([PYTHON, "-c", "import flask"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        miss.append("python3-flask")
    return miss


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def def_lines(path):
    """{qualname: co_firstlineno} of every function in a source file, as the
    interpreter compiles it (a decorated function starts at its first
    decorator)."""
    with open(path) as f:
        code = compile(f.read(), path, "exec")
    out, todo = {}, [code]
    while todo:
        c = todo.pop()
        for k in c.co_consts:
            if hasattr(k, "co_firstlineno"):
                out[getattr(k, "co_qualname", k.co_name)] = k.co_firstlineno
                todo.append(k)
    return out


def children(pid):
    text = read_file("/proc/%d/task/%d/children" % (pid, pid), "")
    return [int(p) for p in text.split()]


def start_gunicorn(test, app, nworkers, *args):
    """gunicorn serving app (module:callable in tests/targets/web) with
    nworkers workers and further options args, stopped at the test's end;
    returns (port, master pid, [worker pids]) once it answers HTTP and has
    all its workers."""
    port = free_port()
    err = open(test.log_path("gunicorn.log"), "wb")
    test.addCleanup(err.close)
    p = subprocess.Popen(["gunicorn", "-w", str(nworkers), "-b", "127.0.0.1:%d" % port,
                          "--chdir", WEB] + [str(a) for a in args] + [app], cwd=test.logs,
                         stdin=subprocess.DEVNULL, stdout=err, stderr=err)

    def stop():
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    test.addCleanup(stop)

    def up():
        # Any answer will do (a 404 too): no view runs, no counter moves.
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /up-probe HTTP/1.0\r\n\r\n")
                return s.recv(100).startswith(b"HTTP/1.")
        except OSError:
            return False
    if not wait_until(up, 60, 0.1):
        test.fail("gunicorn did not serve %s on port %d: %s"
                  % (app, port, read_file(test.log_path("gunicorn.log"))))
    wait_until(lambda: len(children(p.pid)) >= nworkers, 30, 0.1)
    workers = children(p.pid)
    test.assertEqual(len(workers), nworkers, "gunicorn workers: %r" % workers)
    return port, p.pid, workers


class FlaskTest(SprofdTestCase):

    def setUp(self):
        super().setUp()
        miss = missing_tools()
        if miss:
            self.skipTest("not installed: %s (run: make test-deps)" % ", ".join(miss))

    def start_server(self):
        """Starts gunicorn with one worker; returns (port, worker pid)."""
        port, _, workers = start_gunicorn(self, "shop:app", 1)
        return port, workers[0]

    def load(self, port, seconds):
        """Starts wrk on the shop's views for a number of seconds."""
        w = subprocess.Popen(["wrk", "-t", "1", "-c", "4", "-d", "%ds" % seconds,
                              "-s", os.path.join(WEB, "mix.lua"),
                              "http://127.0.0.1:%d/" % port],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: w.poll() is None and w.kill())
        return w

    def descendants(self, prof, key):
        """Every function called, directly or not, under key (from the
        callers edges of the pstats file)."""
        callees = {}
        for k, v in prof.raw.items():
            for c in v[4]:
                callees.setdefault(c, set()).add(k)
        seen, todo = set(), [key]
        while todo:
            for k in callees.get(todo.pop(), ()):
                if k not in seen:
                    seen.add(k)
                    todo.append(k)
        return seen

    def test_views_under_load(self):
        port, worker = self.start_server()
        w = self.load(port, 8)
        time.sleep(1)
        out = self.path("shop.prof")
        run = self.sprofd("-p", worker, "-F", 200, "-d", 4, "-o", out)
        prof = self.check_run(run, out, 200, pid=worker)
        w.wait(timeout=30)
        info = "top functions:\n%s\n%s" % (prof.top(25), run)
        self.assertRegex(run.header().group("more") or "", r"python 3\.\d+", info)

        lines = def_lines(APP)
        for name in ("cpu_view", "compress_view", "burn", "pack"):
            key = prof.key(name)
            self.assertEqual(key[0], APP, "%r\n%s" % (key, info))
            self.assertEqual(key[1], lines[name], "%r\n%s" % (key, info))
        # The pure-Python loop is where /cpu spends its time, under its view.
        self.assertIn("cpu_view", prof.caller_names("burn"), info)
        self.assertGreater(prof.self_samples("burn"), 0, info)
        # Flask's dispatch calls the views: Flask.dispatch_request on 3.11+.
        self.assertTrue(any(k[2].endswith("dispatch_request") for k in prof.callers("cpu_view")),
                        info)
        # zlib's compressor, native code, runs under pack().
        under_pack = self.descendants(prof, prof.key("pack"))
        self.assertTrue(any("deflate" in k[2] for k in under_pack),
                        "no deflate under pack(): %r\n%s" % (sorted(under_pack), info))
        self.assertEqual(prof.caller_names("pack"), ["compress_view"], info)
        # The interpreter's loop is replaced by the Python frames it runs.
        self.assertFalse(prof.has("_PyEval_EvalFrameDefault"), info)
