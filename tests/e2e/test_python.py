"""Python frames: a CPython process's own functions merged with its native
frames, checked under every interpreter found here: Debian's python3
(static, symbols in .dynsym only), each pyenv build from 3.8 to 3.13
(shared libpython, full symbols), and Debian sid's python3.14 and 3.15
(static, PGO+LTO: the eval loop's body is an unnamed .cold part) run in
the chroot SPROFD_PY_CHROOT (default /var/cache/sprofd-py/sid, as
made by a debootstrap of sid with those packages). A missing interpreter
is skipped, with the reason printed.

The target, tests/targets/py/pywork.py, splits its main thread's work
70/30 between two functions by construction, and has threads that call
through C (map, sorted with a key), a class method, a generator,
recursion, non-ASCII names (1, 2 and 4 bytes a character) in a non-ASCII
file, and zlib. Checked: the shares within 5 points of the truth; every
function keyed as cProfile keys it (co_filename, co_firstlineno, qualname
from 3.11, name before); zlib's deflate under the Python function that
called it; `sprofd dump` equal, frame by frame, to the target's own
sys._current_frames() on parked threads; --no-python and
--interp-frames. The figures (shares, merge mismatches, frames matched)
are printed."""

import glob
import json
import math
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile

from sprofdtest import ROOT, SprofdTestCase

PYDIR = os.path.join(ROOT, "tests", "targets", "py")
PYWORK = os.path.join(PYDIR, "pywork.py")
PYUNI = os.path.join(PYDIR, "pyünï.py")
VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
CHROOT = os.environ.get("SPROFD_PY_CHROOT", "/var/cache/sprofd-py/sid")

STATS_RE = re.compile(r"python (\S+): (\d+) samples with Python frames, (\d+) where native "
                      r"and Python frames did not line up")
PYFRAME_RE = re.compile(r"^  #\d+\s+\(python\)\s+(.*) at (.*):(\d+)$")
THREAD_RE = re.compile(r"^Thread (\d+) \(.*\):$")


class Interp:
    """How to run one interpreter: argv prefix, and the root directory it
    sees ("" unless in a chroot)."""

    def __init__(self, cmd, root=""):
        self.cmd, self.root = cmd, root

    def minor(self):
        out = subprocess.run(self.cmd + ["-c", "import sys; print(sys.version_info[1])"],
                             stdout=subprocess.PIPE, text=True, timeout=60).stdout
        return int(out)

    def micro(self):
        out = subprocess.run(self.cmd + ["-c", "import sys; print(sys.version_info[2])"],
                             stdout=subprocess.PIPE, text=True, timeout=60).stdout
        return int(out)


def interpreters():
    """[(label, Interp or None, why missing)] in a fixed order."""
    out = []
    deb = "/usr/bin/python3"
    out.append(("debian", Interp([deb]) if os.access(deb, os.X_OK) else None, "no " + deb))
    for v in VERSIONS:
        found = sorted(glob.glob("/root/.pyenv/versions/%s.*/bin/python%s" % (v, v)))
        out.append(("pyenv-" + v, Interp(found[-1:]) if found else None,
                    "no pyenv build of Python %s under /root/.pyenv/versions" % v))
    for v in ("3.14", "3.15"):
        exe = os.path.join(CHROOT, "usr", "bin", "python" + v)
        ok = os.access(exe, os.X_OK) and os.getuid() == 0
        out.append(("sid-" + v, Interp(["chroot", CHROOT, "python" + v], CHROOT) if ok else None,
                    "no %s (a chroot with Debian sid's python%s; see SPROFD_PY_CHROOT)"
                    % (exe, v)))
    return out


def def_line(path, name):
    """The line of 'def NAME(' or 'class NAME' in a source file."""
    rx = re.compile(r"^\s*(def|class) %s\b" % re.escape(name))
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if rx.match(line):
                return n
    raise AssertionError("%s not defined in %s" % (name, path))


class PythonTest(SprofdTestCase):

    def place(self, py):
        """Where the target's sources are, as the target sees them:
        (pywork.py, pyünï.py); copied into a chroot when py runs in one."""
        if not py.root:
            return PYWORK, PYUNI
        d = tempfile.mkdtemp(prefix="sprofd-py-", dir=os.path.join(py.root, "tmp"))
        os.chmod(d, 0o755)
        self.addCleanup(shutil.rmtree, d, True)
        for f in (PYWORK, PYUNI):
            shutil.copy(f, d)
        inside = "/" + os.path.relpath(d, py.root)
        return (os.path.join(inside, os.path.basename(PYWORK)),
                os.path.join(inside, os.path.basename(PYUNI)))

    def start_py(self, py, script, *args, env=None):
        """Starts pywork.py (script) under py and waits for its "ready"."""
        e = dict(os.environ)
        e.update(env or {})
        err = open(self.log_path("pywork.stderr"), "wb")
        p = subprocess.Popen(py.cmd + [script] + [str(a) for a in args], cwd=self.logs,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                             env=e)

        def cleanup():
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            p.stdout.close()
            err.close()
        self.addCleanup(cleanup)
        ready, _, _ = select.select([p.stdout], [], [], 20)
        line = p.stdout.readline() if ready else b""
        self.assertEqual(line, b"ready\n", "pywork.py under %s did not get ready: %s"
                         % (" ".join(py.cmd), open(self.log_path("pywork.stderr")).read()))
        return p

    def for_each_interpreter(self, fn):
        """Runs fn(label, interp) under each interpreter, as a subtest."""
        for label, python, why in interpreters():
            with self.subTest(interpreter=label):
                if not python:
                    print("\n  %s: skipped: %s" % (label, why), file=sys.stderr)
                    self.skipTest(why)
                fn(label, python)

    def test_profile(self):
        """Shares, names and keys, deflate under pack, merge mismatches."""
        self.for_each_interpreter(self.one_profile)

    def one_profile(self, label, py):
        hz = 300
        if True:
            minor = py.minor()
            work, uni = self.place(py)
            # The split, measured on the main thread running alone.
            p = self.start_py(py, work, "split")
            # cpu mode, at randomly spaced times: a thread that waits for a
            # CPU on a busy machine is not seen while it waits (in wall
            # mode the ticks it waits all go to where it stopped, leaving
            # few independent samples).
            # A starved machine gives few: up to three runs add up.
            a = b = 0
            for i in range(3):
                out = self.path("%s-split%d.prof" % (label, i))
                run = self.sprofd("-p", p.pid, "-d", "5", "-F", 1000, "-m", "cpu", "-o", out,
                                  "-n", "0")
                prof = self.check_run(run, out, 1000, pid=p.pid, table=False)
                ka = (work, def_line(PYWORK, "heavy_a"), "heavy_a")
                kb = (work, def_line(PYWORK, "light_b"), "light_b")
                self.assertTrue(ka in prof.raw and kb in prof.raw, "%s\n%s" % (label, prof.top()))
                a, b = a + prof.raw[ka][0], b + prof.raw[kb][0]
                if a + b >= 400:
                    break
            p.kill()
            share = a / (a + b)
            # Everything else, with every thread busy.
            p = self.start_py(py, work)
            out = self.path("%s.prof" % label)
            run = self.sprofd("-p", p.pid, "-d", "2", "-F", hz, "-m", "wall", "-v", "-o", out,
                              "-f", "prof,collapsed", "-n", "5")
            prof = self.check_run(run, out, hz, pid=p.pid)
            # The whole version, 3.8 to 3.10 too (from Py_GetVersion's text).
            self.assertRegex(run.header().group("more") or "",
                             r"; python 3\.%d\.%d\b" % (minor, py.micro()), str(run))
            # Keys as cProfile makes them.
            q = minor >= 11
            src = {work: PYWORK, uni: PYUNI}
            want = [(work, "spin"), (work, "heavy_a"), (work, "light_b"),
                    (work, "main_loop"), (work, "gen_values"), (work, "recurse"),
                    (work, "pack"), (work, "zlib_loop"), (work, "sleeper"),
                    (work, "short_lived"),
                    (uni, "café_ünïcode"), (uni, "функция"), (uni, "函数_𠀀")]
            keys = [(f, def_line(src[f], n), n) for f, n in want]
            keys.append((work, def_line(PYWORK, "area"), "Shape.area" if q else "area"))
            keys.append((uni, def_line(PYUNI, "café_ünïcode") + 1,
                         "café_ünïcode.<locals>.<lambda>" if q else "<lambda>"))
            for k in keys:
                self.assertTrue(k in prof.raw, "%s: no %r in the profile\n%s"
                                % (label, k, prof.top()))
            # Recursion: one sample, several occurrences.
            rk = keys[5]
            self.assertGreater(prof.raw[rk][1], prof.raw[rk][0], label)
            # deflate (or libz's own code) under the Python caller.
            with open(self.collapsed_path(out), encoding="utf-8") as f:
                stacks = f.read().splitlines()
            zl = [s for s in stacks if re.search(r";pack;(.*;)?(deflate|\[libz)", s)]
            self.assertTrue(zl, "%s: no libz frame under pack\n%s" % (label, "\n".join(
                s for s in stacks if "pack" in s)))
            m = STATS_RE.search(run.err)
            self.assertIsNotNone(m, run.err)
            merged, mism = int(m.group(2)), int(m.group(3))
            # pywork starts a short-lived thread every few ms, dozens in
            # the run: what the reader keeps of each goes when it exits.
            kept = re.search(r"; (\d+) threads kept", run.err)
            self.assertIsNotNone(kept, run.err)
            self.assertLessEqual(int(kept.group(1)), 12, "%s: %s" % (label, run.err))
            print("\n  %s (python %s): main thread %d samples, heavy_a %.1f%% (truth 70%%), "
                  "error %.1f points; %d samples with Python frames, %d mismatched"
                  % (label, m.group(1), a + b, 100 * share, 100 * abs(share - 0.7), merged,
                     mism), file=sys.stderr)
            self.assertGreater(a + b, 100, "%s: too few samples of the main thread (a machine "
                               "too busy?)" % label)
            # 5 points; more only when a starved machine gave too few
            # samples for that (3.5 standard errors of the estimate).
            tol = max(0.05, 3.5 * math.sqrt(0.21 / (a + b)))
            self.assertLess(abs(share - 0.7), tol, "%s: heavy_a share %.3f of %d samples"
                            % (label, share, a + b))
            self.assertLessEqual(mism, max(3, merged // 50), run.err)

    def collapsed_path(self, prof_path):
        base = prof_path[:-len(".prof")]
        for c in glob.glob(glob.escape(base) + ".*"):
            if c != prof_path:
                return c
        raise AssertionError("no collapsed output next to %s: %s" % (prof_path,
                                                                      self.tmp_files()))

    def test_dump(self):
        """sprofd dump's Python frames equal the target's own dump."""
        self.for_each_interpreter(self.one_dump)

    def one_dump(self, label, py):
        if True:
            work, _ = self.place(py)
            dump = os.path.join(os.path.dirname(work), "%s.json" % label) if py.root else \
                self.log_path("%s.json" % label)
            p = self.start_py(py, work, "park", env={"PYWORK_DUMP": dump})
            with open(py.root + dump, encoding="utf-8") as f:
                own = {t["native_id"]: t for t in map(json.loads, f)}
            run = self.sprofd("dump", "-p", p.pid)
            self.assertEqual(run.rc, 0, str(run))
            seen, cur = {}, None
            for line in run.out.splitlines():
                m = THREAD_RE.match(line)
                if m:
                    cur = seen.setdefault(int(m.group(1)), [])
                    continue
                m = PYFRAME_RE.match(line)
                if m and cur is not None:
                    cur.append([m.group(2), int(m.group(3)), m.group(1)])
            matched = total = 0
            for tid, t in own.items():
                want = [fr[:3] for fr in t["frames"]]
                total += len(want)
                got = seen.get(tid)
                self.assertEqual(got, want, "%s: thread %s (%s)\n%s" % (label, tid, t["name"],
                                                                       run.out))
                matched += len(want)
            print("\n  %s: dump: %d of %d Python frames equal to the target's own, "
                  "%d threads" % (label, matched, total, len(own)), file=sys.stderr)
            self.assertGreaterEqual(len(own), 5)
            self.assertTrue(any("функция" in fr[2] for t in own.values() for fr in t["frames"]))

    def test_options(self):
        """--no-python gives today's native stacks; --interp-frames keeps the
        interpreter's frames between Python ones."""
        python = "/usr/bin/python3"
        if not os.access(python, os.X_OK):
            self.skipTest("no " + python)
        p = self.start_py(Interp([python]), PYWORK)
        runs = {}
        for opt in ("--no-python", "--interp-frames", None):
            out = self.path("o%s.collapsed" % (opt or ""))
            args = ["-p", p.pid, "-d", "1.5", "-m", "wall", "-o", out, "-f", "collapsed"]
            if opt:
                args.append(opt)
            run = self.sprofd(*args)
            self.assertEqual(run.rc, 0, str(run))
            with open(out) as f:
                runs[opt] = f.read()
        self.assertNotIn(";spin", runs["--no-python"])
        self.assertIn("_PyEval_EvalFrameDefault", runs["--no-python"])
        self.assertIn(";spin", runs[None])
        self.assertIn(";spin", runs["--interp-frames"])
        # map's C frames between the two Python frames.
        self.assertRegex(runs["--interp-frames"], r"mixed_loop;[^\n]*map_next|"
                         r"mixed_loop;[^\n]*\[python3[^;]*;[^\n]*<lambda>")
        self.assertNotRegex(runs[None], r"mixed_loop;list_vectorcall")

    def test_unknown_version(self):
        """A Python sprofd cannot read (3.7): one warning naming it, native
        frames only, the profile written as usual."""
        found = sorted(glob.glob("/root/.pyenv/versions/3.7.*/bin/python3.7"))
        if not found:
            print("\n  skipped: no pyenv build of Python 3.7", file=sys.stderr)
            self.skipTest("no pyenv build of Python 3.7 under /root/.pyenv/versions")
        p = self.start_py(Interp(found[-1:]), PYWORK, "split")
        out = self.path("old.prof")
        run = self.sprofd("-p", p.pid, "-d", "1", "-o", out, "-n", "3")
        prof = self.check_run(run, out, 100, pid=p.pid)
        warns = [ln for ln in run.err.splitlines() if "python" in ln.lower() and
                 "warning" in ln]
        self.assertEqual(len(warns), 1, run.err)
        self.assertIn("Python 3.7", warns[0])
        self.assertIn("native frames only", warns[0])
        self.assertFalse([k for k in prof.raw if k[0].endswith(".py")], prof.top())
        self.assertIn("_PyEval_EvalFrameDefault", [k[2] for k in prof.raw])
