"""Names that formats must escape: threads called with spaces, a newline, a
tab, a semicolon, markup, bytes that are not UTF-8, non-ASCII UTF-8 and a
backslash (tests/targets/weirdnames.c), spinning in functions of shared
objects whose paths are as awkward and nearly PATH_MAX long. The test
builds the libraries itself, with cc:

  lib B: DIR/lib B \\xff;<&"> e-acute...so, 4090 bytes, compiled from
         DIR/src B<newline>\\xff<tab>tab;<&">.c, so the source path that
         the symbolizer reports has a newline, a tab and the rest;
  lib A: DIR/nl<newline>dir/lib A<newline>\\xff.so, a newline in the module
         path itself;

where DIR is a chain of directories "dir with spaces;semi<&"> \\xff\\xfe
e-acute<tab>tab" some 3,900 bytes long. One run with every format and
--threads, one with --lines, and sprofd dump; then each output is read
back as its readers read it, and each name must be there, escaped as
sprofd(8) says (FORMATS):

  prof       UTF-8 strs; each maximal invalid subpart one U+FFFD, which is
             bytes.decode('utf-8', 'replace'); all else as is
  pprof      the same (protobuf strings must be UTF-8)
  collapsed  bytes as they are, but ';' becomes ':' and CR, LF a space
  callgrind  bytes as they are, but CR, LF a space
  svg        XML: markup as entities, invalid UTF-8 as U+FFFD, control
             characters as spaces
  dump       one line per frame

Where a name is lost before any writer sees it (a thread name cut at its
newline, a module path with a newline never symbolized), the test that
says so is its own, so that the others still check the writers."""

import gzip
import io
import os
import pstats
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter

from sprofdtest import SPROFD, WRAP, WROTE_RE, SprofdTestCase, tasks
from test_formats import SVG_NS, pb_fields, pprof_stacks, read_pprof, svg_frames

HZ = 200
# How long a sprofd run may take: much longer under a wrapper (valgrind).
LONG = 900 if WRAP else 120
CC = shutil.which("cc") or shutil.which("gcc")
CALLGRIND_ANNOTATE = shutil.which("callgrind_annotate")

# The thread names of weirdnames.c, as the kernel keeps them.
NAMES = [b"with space", b"new\nline", b"tab\there", b"semi;colon", b"x<&\">y",
         b"bad\xff\xe2\x82z", "gr\u00f6\u00dfe\u2192ok".encode(), b"back\\slash"]
NEWLINE_NAME = b"new\nline"
COMP = b"dir with spaces;semi<&\"> \xff\xfe \xc3\xa9\ttab"
SOURCE = b"""void %s(volatile unsigned long *sink, long n)
{
\tunsigned long acc = *sink;

\tfor (long i = 0; i < n; i++) {
\t\tacc = acc * 6364136223846793005UL + 1442695040888963407UL;
\t\t__asm__ volatile("" : "+r"(acc));
\t}
\t*sink = acc;
}
"""


# -- each format's escaping, as sprofd(8) documents it ------------------------

def as_prof(b):
    """A name as .prof and pprof files have it."""
    return b.decode("utf-8", "replace")


def as_collapsed(b):
    return b.replace(b";", b":").replace(b"\r", b" ").replace(b"\n", b" ")


def as_callgrind(b):
    return b.replace(b"\r", b" ").replace(b"\n", b" ")


def as_svg(b):
    """The text an XML parser reads back from the flame graph."""
    s = b.decode("utf-8", "replace")
    s = re.sub(r"[\x00-\x1f\x7f]", " ", s)
    return s.replace("\ufffe", "\ufffd").replace("\uffff", "\ufffd")


def thread_frame(tid, name):
    return b"thread %d (" % tid + name + b")"


class EscapingTest(SprofdTestCase):
    """One target, one set of outputs, each format checked by a test of its
    own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="sprofd-e2e-escaping-")
        os.chmod(cls.dir, 0o755)
        if not os.environ.get("SPROFD_TEST_KEEP"):
            cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.out = {}

    # -- the shared run -------------------------------------------------------

    def build(self):
        """Builds both libraries; returns {lib_a, lib_b, src_a, src_b} as
        bytes."""
        if not CC:
            self.skipTest("no C compiler (cc) to build the libraries with")
        top = os.fsencode(self.dir)
        d = top
        while len(d) + 1 + len(COMP) < 3940:
            d += b"/" + COMP
        dir_a = d + b"/nl\ndir"
        # exist_ok: a test after one that failed half-way builds again.
        os.makedirs(dir_a, exist_ok=True)
        name_b = b"lib B \xff;<&\"> \xc3\xa9 "
        p = {"src_a": dir_a + b"/src A.c", "lib_a": dir_a + b"/lib A\n\xff.so",
             "src_b": d + b"/src B\n\xff\ttab;<&\">.c",
             "lib_b": d + b"/" + name_b + b"x" * (4090 - len(d) - 1 - len(name_b) - 3) + b".so"}
        self.assertEqual(len(p["lib_b"]), 4090)
        for lib, src, fn in (("lib_a", "src_a", b"weird_hot_a"), ("lib_b", "src_b", b"weird_hot_b")):
            with open(p[src], "wb") as f:
                f.write(SOURCE % fn)
            r = subprocess.run([os.fsencode(CC), b"-shared", b"-fPIC", b"-g", b"-O1", b"-o",
                                p[lib], p[src]], cwd=self.dir, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout.decode(errors="replace"))
        return p

    def sprofd_bytes(self, *args, timeout=None):
        """Runs sprofd; returns (exit code, stdout bytes, stderr text)."""
        argv = WRAP + [SPROFD] + [str(a) for a in args]
        try:
            r = subprocess.run(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout or LONG)
        except subprocess.TimeoutExpired:
            self.fail("sprofd %s hung" % " ".join(argv[1:]))
        return r.returncode, r.stdout, r.stderr.decode(errors="replace")

    def run_weird(self):
        """The shared run, made by the first test that needs it."""
        if self.out:
            return self.out
        o = self.build()
        target = self.start_target("weirdnames", os.fsdecode(o["lib_a"]), os.fsdecode(o["lib_b"]))
        # What the kernel calls each thread (comm ends in one newline).
        o["tids"] = {}
        for tid in tasks(target.pid):
            with open("/proc/%d/task/%d/comm" % (target.pid, tid), "rb") as f:
                o["tids"][f.read()[:-1]] = tid
        self.assertTrue(set(NAMES) <= set(o["tids"]), o["tids"])
        o["pid"] = target.pid

        prof = os.path.join(self.dir, "t.prof")
        run = self.sprofd("-p", target.pid, "-F", HZ, "-d", 1.5, "-o", prof, "-f",
                          "prof,pprof,collapsed,callgrind,svg", "--threads", "-n", 0,
                          cwd=self.dir, timeout=LONG)
        o["P"] = self.check_run(run, prof, HZ, pid=target.pid, comm="weirdnames", table=False)
        wrote = [WROTE_RE.match(l.strip()) for l in run.err.splitlines()]
        wrote = [m.group("path") for m in wrote if m]
        self.assertEqual(len(wrote), 5, str(run))
        o.update(prof=prof, pprof=wrote[1], collapsed=wrote[2],
                 callgrind=os.path.join(self.dir, wrote[3]), svg=wrote[4], run=run)

        lines = os.path.join(self.dir, "l.prof")
        run = self.sprofd("-p", target.pid, "-F", HZ, "-d", 1, "-o", lines, "-f",
                          "prof,collapsed,svg", "--threads", "--lines", "-n", 0, cwd=self.dir,
                          timeout=LONG)
        o["L"] = self.check_run(run, lines, HZ, pid=target.pid, comm="weirdnames", table=False)
        o.update(lines_collapsed=os.path.join(self.dir, "l.folded"),
                 lines_svg=os.path.join(self.dir, "l.svg"))

        rc, out, err = self.sprofd_bytes("dump", "-p", target.pid)
        self.assertEqual(rc, 0, err)
        o["dump"] = out
        type(self).out.update(o)
        return self.out

    def sampled(self, o):
        """(name, tid) of the threads that the profile has."""
        return [(n, o["tids"][n]) for n in NAMES
                if o["P"].has(as_prof(thread_frame(o["tids"][n], n)))]

    def assert_threads(self, o, frames, render):
        """Every thread but the one with a newline in its name (see
        test_thread_names) is among frames as render makes it; the most
        threads were sampled, and none is unaccounted for."""
        sampled = self.sampled(o)
        self.assertGreaterEqual(len(sampled), len(NAMES) - 2, "threads sampled: %r" % sampled)
        for n, tid in sampled:
            if n != NEWLINE_NAME:
                self.assertIn(render(thread_frame(tid, n)), frames)
        threads = {f for f in frames if f.startswith(render(b"thread "))}
        extra = threads - {render(thread_frame(tid, n)) for n, tid in o["tids"].items()}
        # The thread with a newline may show under another name; no other.
        self.assertLessEqual(len(extra), 1, extra)

    # -- the formats ---------------------------------------------------------

    def test_prof(self):
        """pstats loads the file (load_profile checks the format), prints it
        to a strict UTF-8 stream, and has the library's source file: the
        whole 3.9 KB path, newline and tab and markup kept, the byte that
        is not UTF-8 one U+FFFD."""
        o = self.run_weird()
        P = o["P"]
        for path in (o["prof"], os.path.join(self.dir, "l.prof")):
            stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
            st = pstats.Stats(path, stream=stream)
            st.sort_stats("cumulative").print_stats()
            st.print_callers()
            st.print_callees()
            stream.flush()
        key = P.key("weird_hot_b")
        self.assertEqual(key[0], as_prof(o["src_b"]))
        self.assertGreater(len(o["src_b"]), 3900)
        self.assertIn("\n", key[0])
        self.assertIn("\ufffd", key[0])
        for k in P.raw:
            for s in (k[0], k[2]):
                s.encode("utf-8")   # no lone surrogates
        self.assert_threads(o, {k[2] for k in P.raw}, as_prof)
        # --lines keys by source line, in the same file.
        lk = o["L"].keys("weird_hot_b")
        self.assertTrue(lk, o["L"].top())
        self.assertEqual({k[0] for k in lk}, {as_prof(o["src_b"])})

    def test_pprof(self):
        """Every string of the table is UTF-8; functions, mappings and
        thread labels carry the names as .prof does; the stacks are those
        of the collapsed file."""
        o = self.run_weird()
        with open(o["pprof"], "rb") as f:
            data = gzip.decompress(f.read())
        bad = []
        for field, _, v in pb_fields(data):
            if field == 6:
                try:
                    v.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append(v)
        self.assertEqual(bad, [], "strings that are not UTF-8")
        pp = read_pprof(o["pprof"])
        funcs = {f[0]: f for f in pp["functions"].values()}
        self.assertIn("weird_hot_b", funcs, sorted(funcs))
        self.assertEqual(funcs["weird_hot_b"][1], as_prof(o["src_b"]))
        self.assertIn(as_prof(o["lib_b"]), [m[2] for m in pp["mappings"].values()])
        self.assert_threads(o, set(funcs), as_prof)
        names = {tid: as_prof(n) for n, tid in o["tids"].items()}
        for _, _, labels in pp["samples"]:
            tid = labels["thread_id"]
            if names.get(tid) != as_prof(NEWLINE_NAME):
                self.assertEqual(labels.get("thread_name"), names.get(tid), labels)
        # The same stacks as the collapsed file, once both are read alike.
        col = read_collapsed_bytes(o["collapsed"])
        self.assertEqual(Counter({tuple(as_collapsed(f.encode()).decode() for f in s): n
                                  for s, n in pprof_stacks(pp).items()}),
                         Counter({tuple(f.decode("utf-8", "replace") for f in s): n
                                  for s, n in col.items()}))

    def test_collapsed(self):
        """One line per stack, "frame;frame;... COUNT", counts adding up;
        no frame holds a ';' or a line break of its own."""
        o = self.run_weird()
        for path, P in ((o["collapsed"], o["P"]), (o["lines_collapsed"], o["L"])):
            with open(path, "rb") as f:
                data = f.read()
            self.assertNotIn(b"\r", data)
            self.assertTrue(data.endswith(b"\n"))
            col = read_collapsed_bytes(path)
            self.assertEqual(sum(col.values()), P.total)
            self.assertEqual(len(col), data.count(b"\n"), "stacks repeated or split")
            frames = {f for s in col for f in s}
            self.assertNotIn(b"", frames)
            self.assert_threads(o, frames, as_collapsed)
        col = read_collapsed_bytes(o["collapsed"])
        self.assertIn(b"weird_hot_b", {s[-1] for s in col})
        # --lines: the source file's base name, ';' and newline and all.
        col = read_collapsed_bytes(o["lines_collapsed"])
        base = as_collapsed(os.path.basename(o["src_b"]))
        leaves = {s[-1] for s in col if s[-1].startswith(b"weird_hot_b ")}
        self.assertTrue(leaves, sorted({s[-1] for s in col}))
        for leaf in leaves:
            self.assertRegex(leaf, b"^weird_hot_b \\(" + re.escape(base) + b":\\d+\\)$")

    def test_callgrind(self):
        """Every line is one the format knows; names hold no line break;
        callgrind_annotate reads it and its total is the .prof's."""
        o = self.run_weird()
        with open(o["callgrind"], "rb") as f:
            data = f.read()
        self.assertNotIn(b"\r", data)
        line_re = re.compile(rb"^(?:|#.*|[a-z]+: .*|(?:c?ob|c?fl|c?fn|fi|fe)=\(\d+\)(?: .+)?"
                             rb"|calls=\d+ -?\d+|-?\d+ \d+)$")
        for line in data.split(b"\n"):
            self.assertRegex(line, line_re)
        names = dict(re.findall(rb"^c?fn=\((\d+)\) (.+)$", data, re.M))
        files = dict(re.findall(rb"^c?fl=\((\d+)\) (.+)$", data, re.M))
        objs = dict(re.findall(rb"^c?ob=\((\d+)\) (.+)$", data, re.M))
        self.assertIn(b"weird_hot_b", names.values())
        self.assertIn(as_callgrind(o["src_b"]), files.values())
        self.assertIn(os.path.basename(o["lib_b"]), objs.values())
        self.assert_threads(o, set(names.values()), as_callgrind)
        if not CALLGRIND_ANNOTATE:
            self.skipTest("callgrind_annotate is missing (apt-get install valgrind)")
        p = subprocess.run([CALLGRIND_ANNOTATE, "--auto=no", "--threshold=100",
                            o["callgrind"]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120, cwd=self.dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, b"")
        m = re.search(rb"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", p.stdout, re.M)
        self.assertIsNotNone(m, p.stdout)
        self.assertEqual(int(m.group(1).replace(b",", b"")), o["P"].total)
        self.assertRegex(p.stdout, rb":weird_hot_b \[")

    def test_svg(self):
        """Well-formed XML in UTF-8; every frame's title is its name, markup
        and all; the text drawn is the name or a cut of it."""
        o = self.run_weird()
        for path, P in ((o["svg"], o["P"]), (o["lines_svg"], o["L"])):
            with open(path, "rb") as f:
                f.read().decode("utf-8")
            root = ET.parse(path).getroot()
            frames = svg_frames(root)
            self.assertEqual([f[1] for f in frames if f[0] == "all"], [P.total])
            names = {f[0] for f in frames}
            self.assert_threads(o, names, lambda b: as_svg(b))
            for g in root.iter(SVG_NS + "g"):
                t, text = g.find(SVG_NS + "title"), g.find(SVG_NS + "text")
                if t is None or text is None:
                    continue
                name = t.text.rsplit(" (", 1)[0]
                shown = text.text or ""
                self.assertTrue(shown == name or (shown.endswith("..") and
                                                  name.startswith(shown[:-2])),
                                (shown, name))
        title = ET.parse(o["svg"]).getroot().find(SVG_NS + "text").text
        self.assertEqual(title, "Flame graph of weirdnames (PID %d)" % o["pid"])
        # --lines: the source file's base name, newline and tab as spaces.
        frames = svg_frames(ET.parse(o["lines_svg"]).getroot())
        base = as_svg(os.path.basename(o["src_b"]))
        leaves = {f[0] for f in frames if f[0].startswith("weird_hot_b ")}
        self.assertTrue(leaves)
        for leaf in leaves:
            self.assertRegex(leaf, "^weird_hot_b \\(" + re.escape(base) + ":\\d+\\)$")

    # -- what is lost before the writers -------------------------------------

    def test_dump(self):
        """sprofd dump: a header line per thread, one line per frame, even
        where a source path has a newline."""
        o = self.run_weird()
        line_re = re.compile(rb"^(?:PID \d+ \(.*\): \d+ threads?.*|Thread \d+ \(.*\):"
                             rb"|  #\d+ +0x[0-9a-f]+ .+|  no stack: .*|  \.\.\. .*|)$")
        bad = [l for l in o["dump"].split(b"\n") if not line_re.match(l)]
        self.assertEqual(bad, [], "lines that are neither a thread nor a frame")
        heads = dict((int(t), n) for t, n in re.findall(rb"^Thread (\d+) \((.*)\):$",
                                                          o["dump"], re.M))
        for n, tid in o["tids"].items():
            if n in NAMES and n != NEWLINE_NAME:
                self.assertEqual(heads.get(tid), n)
        self.assertRegex(o["dump"], rb"(?m)^  #0 +0x[0-9a-f]+ weird_hot_b at ")

    def test_thread_names(self):
        """A thread whose name has a newline keeps all of its name: as the
        kernel has it (all of /proc/PID/task/TID/comm but the newline that
        ends the file), escaped as each format escapes line breaks."""
        o = self.run_weird()
        tid = o["tids"][NEWLINE_NAME]
        frame = thread_frame(tid, NEWLINE_NAME)
        if not o["P"].has(as_prof(frame)):
            short = [k[2] for k in o["P"].raw if k[2].startswith("thread %d " % tid)]
            self.assertEqual(short, [], "thread %d is in the profile under another name" % tid)
            self.skipTest("thread %d (new\\nline) was not sampled" % tid)
        self.assertIn(as_collapsed(frame), {f for s in read_collapsed_bytes(o["collapsed"])
                                            for f in s})
        self.assertIn(as_svg(frame), {f[0] for f in svg_frames(ET.parse(o["svg"]).getroot())})
        pp = read_pprof(o["pprof"])
        self.assertIn(as_prof(NEWLINE_NAME), {l.get("thread_name") for _, _, l in pp["samples"]})
        self.assertRegex(o["dump"], rb"(?m)^Thread %d \(new.{1,4}line\):$" % tid)

    def test_module_path_with_newline(self):
        """A library whose path has a newline (which /proc/PID/maps shows
        as \\012) is found and symbolized like any other: its function
        with its source file, its mapping with its real path."""
        o = self.run_weird()
        P = o["P"]
        self.assertTrue(P.has("weird_hot_a"), "weird_hot_a not symbolized:\n%s" % P.top())
        self.assertEqual(P.key("weird_hot_a")[0], as_prof(o["src_a"]))
        pp = read_pprof(o["pprof"])
        self.assertIn(as_prof(o["lib_a"]), [m[2] for m in pp["mappings"].values()])


def read_collapsed_bytes(path):
    """Counter of stacks (tuples of frames as bytes, outermost first)."""
    out = Counter()
    with open(path, "rb") as f:
        for line in f.read().split(b"\n")[:-1]:
            m = re.match(rb"^(.+) (\d+)$", line)
            assert m, "not a collapsed line: %r" % line
            out[tuple(m.group(1).split(b";"))] += int(m.group(2))
    return out
