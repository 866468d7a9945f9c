"""Threads that start and exit all the time while sprofd samples."""

from sprofdtest import SprofdTestCase


class ChurnTest(SprofdTestCase):

    def test_thread_churn(self):
        target = self.start_target("churn", 3)
        out = self.path("churn.prof")
        run = self.sprofd("-p", target.pid, "-F", 200, "-d", 2, "-o", out)
        prof = self.check_run(run, out, 200, pid=target.pid, comm="churn")
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        # A new thread every 3 ms: hundreds over the session.
        self.assertGreaterEqual(int(run.header().group("threads").replace(",", "")), 20, info)
        self.assertGreater(prof.cc("main_spin"), 0, info)
        self.assertGreater(prof.cc("short_lived_spin"), 0, info)
        self.assertIn("short_lived", prof.caller_names("short_lived_spin"), info)
        self.assertTrue(target.alive(), "churn died under sprofd")
        self.assert_released(target.pid)
