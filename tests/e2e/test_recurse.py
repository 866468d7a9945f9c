"""Deep recursion: recurse() 50 levels deep must be counted once per sample
in cc and once per frame in nc, with every stack reaching main()."""

from sprofdtest import EXIT_USAGE, SprofdTestCase

DEPTH = 50


class RecurseTest(SprofdTestCase):

    def test_recursion_counts(self):
        target = self.start_target("recurse", DEPTH)
        out = self.path("recurse.prof")
        run = self.sprofd("-p", target.pid, "-F", 500, "-d", 2, "-o", out)
        prof = self.check_run(run, out, 500, pid=target.pid, comm="recurse")
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        cc, nc = prof.cc("recurse"), prof.nc("recurse")
        self.assertGreaterEqual(cc, prof.total * 0.99, info)
        self.assertGreater(nc, cc, info)
        # DEPTH + 1 frames on nearly every stack, never more.
        self.assertGreaterEqual(nc / cc, 45, "nc/cc = %d/%d\n%s" % (nc, cc, info))
        self.assertLessEqual(nc, (DEPTH + 1) * cc, "nc/cc = %d/%d\n%s" % (nc, cc, info))
        self.assertLessEqual(prof.raw[prof.key("recurse")][3], prof.total / 500 + 1e-9, info)
        self.assertEqual(prof.cc("main"), prof.total, "main() is not on every stack\n" + info)
        # The self-edge carries all but the outermost frame of each stack.
        callers = prof.callers("recurse")
        self.assertEqual(sorted(k[2] for k in callers), ["main", "recurse"], info)
        self_edge = callers[prof.key("recurse")]
        main_edge = callers[prof.key("main")]
        self.assertEqual(main_edge[0], cc, "main->recurse nc\n" + info)
        self.assertEqual(self_edge[0], nc - cc, "recurse->recurse nc\n" + info)
        self.assertEqual(prof.self_samples("recurse"), cc, info)

    def test_max_depth_truncates(self):
        target = self.start_target("recurse", DEPTH)
        out = self.path("shallow.prof")
        run = self.sprofd("-p", target.pid, "-F", 200, "-d", 1, "--max-depth", 20, "-o", out)
        prof = self.check_run(run, out, 200, pid=target.pid)
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        cc, nc = prof.cc("recurse"), prof.nc("recurse")
        self.assertLessEqual(nc, 20 * cc, "nc/cc = %d/%d with --max-depth 20\n%s" % (nc, cc, info))
        self.assertGreaterEqual(nc, 15 * cc, info)
        # The bottom 20 frames are all recurse(): main is out of reach.
        self.assertLess(prof.cc("main") if prof.has("main") else 0, prof.total * 0.05, info)

    def test_max_depth_range(self):
        target = self.start_target("recurse", 3)
        for bad in ("0", "-1", "4097", "x"):
            with self.subTest(max_depth=bad):
                run = self.sprofd("-p", target.pid, "-d", 0.2, "--max-depth", bad,
                                  "-o", self.path("x.prof"), timeout=10)
                self.assert_error(run, EXIT_USAGE, r"4096")
                self.assertFalse(self.tmp_files(), str(run))
