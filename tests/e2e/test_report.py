"""The console table on stdout: header, pstats-style columns, -n and -s."""

import re

from sprofdtest import COLUMNS, ROOT_KEY, SprofdTestCase

REDUCED_RE = re.compile(r"^List reduced from (\d+) to (\d+) due to restriction <(\d+)>$")


def table(out):
    """(reduced-line match or None, column header seen, rows) of a console
    table; each row is (fields[0:7], 'filename:lineno(function)')."""
    reduced, header, rows = None, False, []
    for line in out.splitlines():
        s = line.strip()
        if not header:
            reduced = reduced or REDUCED_RE.match(s)
            if s.split() == COLUMNS.split():
                header = True
            continue
        if not s:
            if rows:
                break
            continue
        parts = s.split(None, 7)
        rows.append((parts[:7], parts[7] if len(parts) > 7 else ""))
    return reduced, header, rows


def num(field):
    """A column value: '12', '51/50', '0.123', '70.0%'."""
    return float(field.split("/")[0].rstrip("%"))


class ReportTest(SprofdTestCase):

    def profile_split(self, *args, table=True):
        target = self.start_target("split")
        out = self.path("t.prof")
        run = self.sprofd("-p", target.pid, "-F", 500, "-d", 1, "-o", out, *args)
        return run, self.check_run(run, out, 500, pid=target.pid, comm="split", table=table)

    def test_rows_limit(self):
        run, prof = self.profile_split("-n", 5, "-s", "tottime")
        reduced, header, rows = table(run.out)
        self.assertTrue(header, "no column header %r\n%s" % (COLUMNS, run))
        self.assertIsNotNone(reduced, "no 'List reduced from' line\n%s" % run)
        self.assertIn(int(reduced.group(1)), (len(prof.raw), len(prof.raw) - 1), str(run))
        self.assertEqual(reduced.group(2, 3), ("5", "5"), str(run))
        nfuncs = len(prof.raw) - 1
        self.assertEqual(len(rows), min(5, int(reduced.group(1))), str(run))
        self.assertGreaterEqual(nfuncs, 5, "split has at least main, work, hot_a, hot_b, _start..")
        tottimes = [num(r[0][1]) for r in rows]
        self.assertEqual(tottimes, sorted(tottimes, reverse=True), "not sorted by tottime\n%s" % run)
        # The first row is hot_a, with its share of the samples.
        fields, where = rows[0]
        self.assertTrue(where.endswith("(hot_a)"), str(run))
        self.assertRegex(where, r"split\.c:%d\(hot_a\)$" % prof.key("hot_a")[1])
        tt = prof.raw[prof.key("hot_a")][2]
        self.assertAlmostEqual(num(fields[1]), tt, delta=0.0015, msg=str(run))
        self.assertAlmostEqual(num(fields[5]), 100.0 * tt / (prof.total / 500), delta=0.15,
                               msg=str(run))
        self.assertEqual(int(num(fields[0])), prof.nc("hot_a"), str(run))

    def test_sort_cumtime(self):
        run, prof = self.profile_split("-n", 8, "-s", "cumtime")
        _, header, rows = table(run.out)
        self.assertTrue(header, str(run))
        self.assertGreater(len(rows), 3, str(run))
        cum = [num(r[0][3]) for r in rows]
        self.assertEqual(cum, sorted(cum, reverse=True), "not sorted by cumtime\n%s" % run)
        names = [r[1] for r in rows]
        self.assertTrue(any(n.endswith("(main)") for n in names), str(run))
        self.assertTrue(any(n.endswith("(work)") for n in names), str(run))

    def test_sort_ncalls(self):
        run, _ = self.profile_split("--rows", 6, "--sort", "ncalls")
        _, header, rows = table(run.out)
        self.assertTrue(header, str(run))
        calls = [num(r[0][0]) for r in rows]
        self.assertEqual(len(calls), 6, str(run))
        self.assertEqual(calls, sorted(calls, reverse=True), "not sorted by ncalls\n%s" % run)

    def test_sort_name(self):
        run, _ = self.profile_split("-n", 50, "-s", "name")
        _, header, rows = table(run.out)
        self.assertTrue(header, str(run))
        self.assertGreater(len(rows), 3, str(run))

    def test_no_table(self):
        run, _ = self.profile_split("-n", 0, table=False)
        reduced, header, rows = table(run.out)
        self.assertFalse(header, "-n 0 printed a table\n%s" % run)
        self.assertEqual(rows, [], str(run))
        self.assertIsNone(reduced, str(run))

    def test_default_rows(self):
        run, prof = self.profile_split()
        _, header, rows = table(run.out)
        self.assertTrue(header, str(run))
        nfuncs = len([k for k in prof.raw if k != ROOT_KEY])
        self.assertIn(len(rows), (min(20, nfuncs), min(20, nfuncs + 1)), str(run))
