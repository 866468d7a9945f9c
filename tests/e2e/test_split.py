"""Attribution: a thread that spends 70% of its time in hot_a() and 30% in
hot_b() by construction must be profiled as such, unwound to main() on every
sample, with functions keyed by their declaration lines."""

import os

from sprofdtest import SprofdTestCase, source_line


class SplitTest(SprofdTestCase):

    def test_shares_and_unwinding(self):
        target = self.start_target("split")
        out = self.path("split.prof")
        # In the default cpu mode the count depends on how much CPU the
        # target gets on a shared machine; sample for up to 12 s until 1,000.
        for secs in (3, 9):
            run = self.sprofd("-p", target.pid, "-F", 1000, "-d", secs, "-o", out)
            prof = self.check_run(run, out, 1000, pid=target.pid, comm="split")
            total = prof.total
            if total >= 1000:
                break
        info = "%d samples; top functions:\n%s\n%s" % (total, prof.top(), run)
        self.assertGreaterEqual(total, 1000, info)
        h = run.header()
        self.assertEqual(h.group("threads"), "1", info)
        self.assertAlmostEqual(float(h.group("secs")), secs, delta=0.5, msg=info)

        a = prof.self_samples("hot_a") / total * 100
        b = prof.self_samples("hot_b") / total * 100
        self.assertAlmostEqual(a, 70, delta=5, msg="hot_a self %.1f%%\n%s" % (a, info))
        self.assertAlmostEqual(b, 30, delta=5, msg="hot_b self %.1f%%\n%s" % (b, info))
        # hot_a and hot_b are leaves: all their samples are their own.
        self.assertEqual(prof.cc("hot_a"), prof.self_samples("hot_a"), info)
        self.assertEqual(prof.cc("hot_b"), prof.self_samples("hot_b"), info)

        # Every sample is in work(), called from main(), unwound without
        # frame pointers through DWARF CFI.
        self.assertGreaterEqual(prof.cc("work"), total * 0.99, info)
        self.assertEqual(prof.cc("main"), total, "main() is not on every stack\n" + info)
        self.assertEqual(prof.caller_names("hot_a"), ["work"], info)
        self.assertEqual(prof.caller_names("hot_b"), ["work"], info)
        self.assertEqual(prof.caller_names("work"), ["main"], info)
        self.assertEqual(prof.nc("work"), prof.cc("work"), "work() is not recursive\n" + info)

        # Keys carry the source file and the line where each function is
        # declared.
        for name in ("hot_a", "hot_b", "work"):
            key = prof.key(name)
            self.assertEqual(os.path.basename(key[0]), "split.c", repr(key))
            self.assertEqual(key[1], source_line("split", name), repr(key))

    def test_threads_split_alike(self):
        """Three threads running the same 70/30 loop: the shares hold over
        all of them, and each thread's stack reaches its start routine."""
        target = self.start_target("split", 3)
        out = self.path("split3.prof")
        run = self.sprofd("-p", target.pid, "-F", 300, "-d", 2, "-o", out)
        prof = self.check_run(run, out, 300, pid=target.pid)
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        self.assertEqual(run.header().group("threads"), "3", info)
        work = prof.cc("work")
        self.assertGreaterEqual(work, prof.total * 0.95, info)
        a = prof.self_samples("hot_a") / work * 100
        self.assertAlmostEqual(a, 70, delta=5, msg="hot_a %.1f%% of work()\n%s" % (a, info))
        self.assertEqual(prof.caller_names("work"), ["main", "worker"], info)
        # main's samples are those of the main thread: about a third.
        self.assertAlmostEqual(prof.cc("main") / prof.total, 1 / 3, delta=0.12, msg=info)
        self.assertEqual(prof.cc("main") + prof.cc("worker"), prof.total, info)
