"""sprofd report --diff BEFORE AFTER: shares before and after and their
change, against what the target does by construction and against pstats;
cProfile's files; new, gone and moved functions; the differential flame
graph as XML and in headless Chromium; errors."""

import os
import pstats
import re
import subprocess
import sys
import textwrap
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

from sprofdtest import EXIT_NO_TARGET, EXIT_OK, EXIT_USAGE, ROOT_KEY, TIME_SCALE, SprofdTestCase

from test_formats import CHROMIUM, SVG_NS, chromium, console_lines

HAVE_WERKZEUG = subprocess.run([sys.executable, "-c", "import werkzeug"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

ROW = re.compile(r"^\s*([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)"
                 r"  (\+new |-gone|moved|     )  (.*)$")


def diff_rows(out):
    """The rows of a diff table: {location: (sb, sa, dself, cb, ca, dcum, mark)}."""
    rows = {}
    for line in out.splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(8)] = tuple(float(m.group(i)) for i in range(1, 7)) + (
                m.group(7).strip(),)
    return rows


def shares(path):
    """{(file, line, name): (self%, cum%)} as pstats reads the file, of its
    root's time for sprofd's files, of the sum of tt for cProfile's."""
    st = pstats.Stats(path).stats
    total = st[ROOT_KEY][3] if ROOT_KEY in st else sum(v[2] for v in st.values())
    return {k: (100.0 * v[2] / total, 100.0 * v[3] / total) for k, v in st.items()
            if k != ROOT_KEY}


def where(key):
    f, line, name = key
    if f == "~":
        return "{%s}" % name[1:-1] if name.startswith("<") and name.endswith(">") else name
    return "%s:%d(%s)" % key


PROG = """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def helper(x):
    return sorted(range(x), key=lambda v: -v)
def {extra}():
    return sum(i * i for i in range(20000))
def main():
    for _ in range({rounds}):
        fib(16)
    helper(20000)
    {extra}()
main()
"""


class DiffTest(SprofdTestCase):

    def report(self, *args):
        return self.sprofd("report", *args)

    def profile(self, name, *args):
        """A .prof of diffwork run with args (units of slow, steady, extra)."""
        target = self.start_target("diffwork", *args)
        prof = self.path(name)
        # 997 Hz: no multiple of a unit of work, a thousand samples or so.
        run = self.sprofd("-p", target.pid, "-F", 997, "-d", 1.5 * TIME_SCALE, "-o", prof,
                          "-n", 0)
        self.assert_ok(run)
        target.kill()
        return prof

    def test_optimization(self):
        """slow() shrinks from 6 units of 14 to 2 of 8 and extra() goes away:
        the table shows the change the work ratios make, within 5 points,
        and the numbers pstats reads from the two files."""
        before = self.profile("before.prof", 6, 6, 2)
        after = self.profile("after.prof", 2, 6, 0)
        rep = self.report("--diff", "-n", -1, before, after)
        self.assertEqual(rep.rc, EXIT_OK, str(rep))
        lines = rep.out.splitlines()
        self.assertTrue(lines[0].startswith("before: %s: " % before), str(rep))
        self.assertTrue(lines[1].startswith("after:  %s: " % after), str(rep))
        rows = diff_rows(rep.out)
        by_name = {loc.rsplit("(", 1)[1][:-1]: r for loc, r in rows.items()}
        expect = {"slow": (6 / 14, 2 / 8), "steady": (6 / 14, 6 / 8), "extra": (2 / 14, 0)}
        for name, (b, a) in expect.items():
            r = by_name[name]
            self.assertAlmostEqual(r[2], 100 * (a - b), delta=5, msg="%s\n%s" % (name, rep))
            self.assertAlmostEqual(r[0], 100 * b, delta=5, msg=name)
            self.assertAlmostEqual(r[1], 100 * a, delta=5, msg=name)
        self.assertEqual(by_name["extra"][6], "-gone")
        self.assertEqual(by_name["extra"][1], 0.0)
        self.assertEqual(by_name["slow"][6], "")
        # Every row as pstats reads the two files.
        sb, sa = shares(before), shares(after)
        self.assertEqual(len(rows), len(set(sb) | set(sa)), str(rep))
        for key in set(sb) | set(sa):
            r = rows[where(key)]
            b, a = sb.get(key, (0, 0)), sa.get(key, (0, 0))
            for got, want in ((r[0], b[0]), (r[1], a[0]), (r[3], b[1]), (r[4], a[1])):
                self.assertAlmostEqual(got, want, delta=0.006, msg=where(key))
            self.assertAlmostEqual(r[2], a[0] - b[0], delta=0.011)
            self.assertAlmostEqual(r[5], a[1] - b[1], delta=0.011)
        # Largest change of the self share first; -n cuts; cumtime sorts by
        # the cumulative change.
        order = [r for r in rows.values()]
        first = diff_rows(self.report("--diff", "-n", 3, before, after).out)
        self.assertEqual(len(first), 3)
        big = sorted(abs(r[2]) for r in order)[-3:]
        self.assertEqual(sorted(abs(r[2]) for r in first.values()), big)
        cum = self.report("--diff", "-s", "cumtime", "-n", 2, before, after)
        self.assertEqual(sorted(abs(r[5]) for r in diff_rows(cum.out).values()),
                         sorted(abs(r[5]) for r in order)[-2:], str(cum))
        # The other way round, extra() is new.
        back = diff_rows(self.report("--diff", "-n", -1, after, before).out)
        self.assertEqual([loc for loc, r in back.items() if r[6] == "+new"],
                         [loc for loc, r in rows.items() if r[6] == "-gone"])

        # The flame graph: AFTER's frames, slow() blue, steady() red, the
        # tooltips the numbers of the table.
        svg = self.path("diff.svg")
        rep = self.report("--diff", "-f", "svg", "-o", svg, before, after)
        self.assertEqual(rep.rc, EXIT_OK, str(rep))
        root = ET.parse(svg).getroot()
        frames = {}
        for g in root.iter(SVG_NS + "g"):
            t, r = g.find(SVG_NS + "title"), g.find(SVG_NS + "rect")
            if t is not None and r is not None:
                name, tip = t.text.rsplit(" (", 1)
                frames[name] = (tip, r.get("fill"), float(r.get("width")))
        self.assertNotIn("extra", frames)
        for name, colour in (("slow", "blue"), ("steady", "red")):
            tip, fill, width = frames[name]
            rgb = [int(fill[i:i + 2], 16) for i in (1, 3, 5)]
            self.assertEqual(colour, "blue" if rgb[2] > rgb[0] else "red", fill)
            r = by_name[name]
            self.assertIn("self %.2f%% before, %.2f%% after, %+.2f points" % (r[0], r[1], r[2]),
                          tip)
            # As wide as its share of AFTER (its only caller is one path).
            self.assertAlmostEqual(width / 1180, r[1] / 100, delta=0.01, msg=name)
        if CHROMIUM:
            self.open_in_chromium(svg, len(frames))

    def open_in_chromium(self, svg, nframes):
        url = "file://" + urllib.parse.quote(svg)
        out, err = chromium(["--dump-dom", url])
        self.assertEqual(console_lines(err), [], err)
        dom = ET.fromstring(out)
        self.assertEqual(dom.get("data-ready"), str(nframes), out[:500])

    @unittest.skipUnless(CHROMIUM, "chromium is missing (apt-get install chromium)")
    def test_svg_of_cprofile_in_chromium(self):
        """The differential flame graph of two cProfile files parses and
        opens in headless Chromium without console errors."""
        before, after = self.cprofile("b.prof", 3, "extra"), self.cprofile("a.prof", 1, "extra")
        svg = self.path("c.svg")
        rep = self.report("--diff", "-o", svg, before, after)
        self.assertEqual(rep.rc, EXIT_OK, str(rep))
        root = ET.parse(svg).getroot()
        titles = [t.text for t in root.iter(SVG_NS + "title")]
        self.assertTrue(any(t.startswith("fib (") for t in titles), titles)
        self.open_in_chromium(svg, len(titles))

    def cprofile(self, name, rounds, extra, shift=0):
        """cProfile's file of PROG, written as prog.py with shift blank
        lines first."""
        src = self.path("prog.py")
        with open(src, "w") as f:
            f.write("\n" * shift + textwrap.dedent(PROG.format(rounds=rounds, extra=extra)))
        out = self.path(name)
        subprocess.run([sys.executable, "-m", "cProfile", "-o", out, src], check=True,
                       timeout=60, cwd=self.tmp, stdout=subprocess.DEVNULL)
        return out

    def test_cprofile_files(self):
        """A cProfile file against itself: no change anywhere. Against the
        same program with its definitions two lines lower, one function
        renamed and fib called less: the moved ones pair up, the renamed
        one is gone and new, the shares are pstats'."""
        same = self.cprofile("same.prof", 3, "extra")
        rep = self.report("--diff", "-n", -1, same, same)
        self.assertEqual(rep.rc, EXIT_OK, str(rep))
        rows = diff_rows(rep.out)
        self.assertEqual(len(rows), len(shares(same)), str(rep))
        for loc, r in rows.items():
            self.assertEqual((r[2], r[5], r[6]), (0.0, 0.0, ""), loc)

        before = self.cprofile("b.prof", 3, "extra")
        after = self.cprofile("a.prof", 1, "other", shift=2)
        rep = self.report("--diff", "-n", -1, before, after)
        self.assertEqual(rep.rc, EXIT_OK, str(rep))
        rows = diff_rows(rep.out)
        marks = {loc.rsplit("(", 1)[1][:-1]: r[6] for loc, r in rows.items()
                 if loc.startswith(self.path("prog.py"))}
        self.assertEqual(marks["fib"], "moved", str(rep))
        self.assertEqual(marks["helper"], "moved")
        self.assertEqual(marks["extra"], "-gone")
        self.assertEqual(marks["other"], "+new")
        sb, sa = shares(before), shares(after)
        fib_b = [v for k, v in sb.items() if k[2] == "fib"][0]
        fib_a = [v for k, v in sa.items() if k[2] == "fib"][0]
        r = [r for loc, r in rows.items() if loc.endswith("(fib)")][0]
        self.assertAlmostEqual(r[0], fib_b[0], delta=0.006)
        self.assertAlmostEqual(r[1], fib_a[0], delta=0.006)
        self.assertAlmostEqual(r[4], fib_a[1], delta=0.006)

    @unittest.skipUnless(HAVE_WERKZEUG, "werkzeug is missing (apt-get install python3-werkzeug)")
    def test_werkzeug_files(self):
        """Files that Werkzeug's ProfilerMiddleware wrote for one request,
        before and after churn() was cut to a third: its cumulative share
        drops by what the work ratios make it, and the table has pstats'
        numbers."""
        script = textwrap.dedent("""
            import sys
            from werkzeug.middleware.profiler import ProfilerMiddleware
            from werkzeug.test import Client
            from werkzeug.wrappers import Response
            N = int(sys.argv[2])
            def churn(n):
                return sum(i * i for i in range(n))
            def steady(n):
                return sum(i * i for i in range(n))
            def app(environ, start_response):
                total = 0
                for _ in range(N):
                    total += churn(100000)
                for _ in range(10):
                    total += steady(100000)
                return Response(str(total))(environ, start_response)
            Client(ProfilerMiddleware(app, stream=None, profile_dir=sys.argv[1])).get("/")
        """)
        files = []
        for name, n in (("wb", 30), ("wa", 10)):
            d = self.path(name)
            os.mkdir(d)
            subprocess.run([sys.executable, "-c", script, d, str(n)], check=True, timeout=60)
            got = os.listdir(d)
            self.assertEqual(len(got), 1, got)
            files.append(os.path.join(d, got[0]))
        rep = self.report("--diff", "-n", -1, *files)
        self.assertEqual(rep.rc, EXIT_OK, str(rep))
        rows = diff_rows(rep.out)
        sb, sa = shares(files[0]), shares(files[1])
        self.assertEqual(len(rows), len(set(sb) | set(sa)), str(rep))
        for key in set(sb) & set(sa):
            r = rows[where(key)]
            self.assertEqual(r[6], "", where(key))
            self.assertAlmostEqual(r[2], sa[key][0] - sb[key][0], delta=0.011, msg=where(key))
            self.assertAlmostEqual(r[5], sa[key][1] - sb[key][1], delta=0.011, msg=where(key))
        # churn() does 30 of 40 like units of work before, 10 of 20 after.
        # cProfile times them on the clock: the units are long enough (a
        # run of about half a second) that a loaded machine's pauses do not
        # move the shares by much; at 0.1 s they moved them by 8 points.
        churn = [r for loc, r in rows.items() if loc.endswith("(churn)")]
        self.assertEqual(len(churn), 1, str(rep))
        self.assertAlmostEqual(churn[0][5], 100 * (10 / 20 - 30 / 40), delta=8, msg=str(rep))

    def test_errors(self):
        same = self.cprofile("same.prof", 1, "extra")
        self.assert_error(self.report("--diff", same), EXIT_USAGE, r"two files")
        self.assert_error(self.report("--diff", same, same, same), EXIT_USAGE, r"two files")
        self.assert_error(self.report("--diff", "-s", "ncalls", same, same), EXIT_USAGE,
                          r"sort key")
        self.assert_error(self.report("--diff", "-f", "pprof", "-o", "x", same, same),
                          EXIT_USAGE, r"only format is svg")
        self.assert_error(self.report("--diff", "-f", "svg", same, same), EXIT_USAGE, r"-o")
        self.assert_error(self.report("-o", "x.svg", same), EXIT_USAGE, r"--diff")
        self.assert_error(self.report("--diff", same, self.path("missing.prof")),
                          EXIT_NO_TARGET, r"missing\.prof")
        self.assertFalse(os.path.exists(self.path("x")))
