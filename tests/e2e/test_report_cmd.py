"""sprofd report FILE.prof: the table of a saved profile without Python,
the same as the live run printed; cProfile's files read as pstats reads
them; callers and callees; errors."""

import re
import subprocess
import sys
import textwrap

from sprofdtest import EXIT_NO_TARGET, EXIT_OK, EXIT_USAGE, TIME_SCALE, SprofdTestCase

from test_report import num, table


def cprofile_file(path):
    """Profiles a small Python program with cProfile into path; returns the
    stats dict that pstats loads from it."""
    script = textwrap.dedent("""
        import cProfile, marshal, sys
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)
        def helper(x):
            return sorted(range(x), key=lambda v: -v)
        def main():
            for _ in range(3):
                fib(16)
            helper(20000)
        cProfile.run("main()", sys.argv[1])
    """)
    subprocess.run([sys.executable, "-c", script, path], check=True, timeout=60)
    import pstats
    return pstats.Stats(path).stats


class ReportCmdTest(SprofdTestCase):

    def report(self, *args):
        return self.sprofd("report", *args)

    def test_same_table_as_the_run(self):
        """The rows of 'sprofd report' are the rows the run printed, for
        each sort key."""
        target = self.start_target("split")
        prof = self.path("t.prof")
        live = self.sprofd("-p", target.pid, "-F", 300, "-d", 0.5, "-o", prof, "-n", 8)
        P = self.check_run(live, prof, 300, pid=target.pid, comm="split")
        for sort in ("tottime", "cumtime", "ncalls", "name"):
            rep = self.report("-n", 8, "-s", sort, prof)
            self.assertEqual(rep.rc, EXIT_OK, str(rep))
            self.assertEqual(rep.err, "", str(rep))
            first = rep.out.splitlines()[0]
            self.assertEqual(first, "%s: %s samples at 300 Hz (%.3f s), %d functions" % (
                prof, format(P.total, ","), P.total / 300, len(P.raw) - 1), str(rep))
            reduced, header, rows = table(rep.out)
            self.assertTrue(header, str(rep))
            self.assertEqual(len(rows), min(8, len(P.raw) - 1))
            if sort == "tottime":
                self.assertEqual(rows, table(live.out)[2], "report vs live\n%s\n%s" % (rep, live))
            for fields, where in rows:
                m = re.match(r"^(.*):(\d+)\((.*)\)$", where)
                if not m:
                    continue
                key = (m.group(1), int(m.group(2)), m.group(3))
                cc, nc, tt, ct, _ = P.raw[key]
                self.assertEqual(fields[0], str(nc) if nc == cc else "%d/%d" % (nc, cc))
                self.assertAlmostEqual(num(fields[1]), tt, delta=0.0006)
                self.assertAlmostEqual(num(fields[3]), ct, delta=0.0006)
        # -n -1: every function.
        rep = self.report("-n", -1, prof)
        self.assertEqual(len(table(rep.out)[2]), len(P.raw) - 1, str(rep))

    def test_callers_and_callees(self):
        target = self.start_target("split")
        prof = self.path("t.prof")
        # Long enough under valgrind too for hot_b (30% of the time) to be
        # sampled at all.
        run = self.sprofd("-p", target.pid, "-F", 300, "-d", 0.5 * TIME_SCALE, "-o", prof,
                          "-n", 0)
        P = self.check_run(run, prof, 300, table=False)
        rep = self.report("--callers", "hot_a", "--callees", "work", prof)
        self.assertEqual(rep.rc, EXIT_OK, str(rep))
        text = rep.out
        key_a, key_w = P.key("hot_a"), P.key("work")
        self.assertIn("\nCallers of %s:%d(hot_a): cumtime %.3f s" % (key_a[0], key_a[1],
                                                                   P.cc("hot_a") / 300), text)
        callers = P.callers("hot_a")
        self.assertEqual(list(callers), [key_w])
        nc, cc, tt, ct = callers[key_w]
        self.assertRegex(text, r"\n\s+%d\s+%.3f\s+%.3f\s+[\d.]+  %s:%d\(work\)\n" % (
            nc, tt, ct, re.escape(key_w[0]), key_w[1]))
        self.assertIn("\nCallees of %s:%d(work):" % key_w[:2], text)
        for callee in ("hot_a", "hot_b"):
            k = P.key(callee)
            nc, cc, tt, ct = P.callers(callee)[key_w]
            self.assertRegex(text, r"\n\s+%d\s+%.3f\s+%.3f\s+[\d.]+  %s:%d\(%s\)\n" % (
                nc, tt, ct, re.escape(k[0]), k[1], callee))
        # No table when asking for callers.
        self.assertFalse(table(text)[1], text)

    def test_cprofile_file(self):
        """A file cProfile wrote (marshal version 4, with references): the
        numbers pstats has, in the same columns."""
        path = self.path("c.prof")
        stats = cprofile_file(path)
        rep = self.report("-n", -1, "-s", "cumtime", path)
        self.assertEqual(rep.rc, EXIT_OK, str(rep))
        calls = sum(v[1] for v in stats.values())
        prim = sum(v[0] for v in stats.values())
        total = sum(v[2] for v in stats.values())
        self.assertEqual(rep.out.splitlines()[0],
                         "%s: %s function calls (%s primitive calls) in %.3f seconds" % (
                             path, format(calls, ","), format(prim, ","), total))
        _, header, rows = table(rep.out)
        self.assertTrue(header, str(rep))
        self.assertEqual(len(rows), len(stats))
        cum = [num(r[0][3]) for r in rows]
        self.assertEqual(cum, sorted(cum, reverse=True))
        by_name = {}
        for (f, line, name), v in stats.items():
            where = "{%s}" % name[1:-1] if f == "~" and name.startswith("<") else \
                name if f == "~" else "%s:%d(%s)" % (f, line, name)
            by_name[where] = v
        for fields, where in rows:
            cc, nc, tt, ct, _ = by_name[where]
            self.assertEqual(fields[0], str(nc) if nc == cc else "%d/%d" % (nc, cc), where)
            self.assertEqual(fields[1], "%.3f" % tt, where)
            self.assertEqual(fields[3], "%.3f" % ct, where)
        # fib calls itself: pstats' nc/cc for the recursive edge.
        rep = self.report("--callers", "fib", path)
        self.assertEqual(rep.rc, EXIT_OK, str(rep))
        fib = [k for k in stats if k[2] == "fib"][0]
        nc, cc, tt, ct = stats[fib][4][fib]
        self.assertRegex(rep.out, r"\n\s+%d/%d\s+%.3f\s+%.3f\s+[\d.]+  .*\(fib\)\n" % (nc, cc, tt,
                                                                                  ct))

    def test_errors(self):
        missing = self.path("nope.prof")
        self.assert_error(self.report(missing), EXIT_NO_TARGET,
                          r"^sprofd: cannot open .*nope\.prof: No such file or directory$")
        junk = self.path("junk.prof")
        with open(junk, "wb") as f:
            f.write(b"this is not marshal data")
        self.assert_error(self.report(junk), EXIT_NO_TARGET,
                          r"^sprofd: .*junk\.prof is not a pstats file: ")
        self.assert_error(self.report(), EXIT_USAGE, r"no file")
        self.assert_error(self.report("-s", "bogus", junk), EXIT_USAGE, r"sort key")
        self.assert_error(self.report(junk, junk), EXIT_USAGE, r"one file")
        path = self.path("c.prof")
        cprofile_file(path)
        run = self.report("--callers", "no_such_function", path)
        self.assertEqual(run.rc, EXIT_USAGE, str(run))
        self.assertIn("no function in %s is called 'no_such_function'" % path, run.err)
        run = self.report("-h")
        self.assertEqual(run.rc, EXIT_OK)
        self.assertIn("usage: sprofd report", run.out)
