"""Many threads: every thread of the process is sampled, and the idle main
thread does not crowd out the workers."""

from sprofdtest import SprofdTestCase, held_threads

NTHREADS = 8


class ThreadsTest(SprofdTestCase):

    def test_all_threads_sampled(self):
        target = self.start_target("threads", NTHREADS)
        out = self.path("threads.prof")
        run = self.sprofd("-p", target.pid, "-F", 200, "-d", 2, "-o", out)
        prof = self.check_run(run, out, 200, pid=target.pid, comm="threads")
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        self.assertEqual(run.header().group("threads"), str(NTHREADS + 1), info)
        work = prof.cc("thread_work")
        # The main thread sleeps in pthread_join: at most 1/9 of samples are
        # its (if idle threads are sampled at all).
        self.assertGreaterEqual(work / prof.total, NTHREADS / (NTHREADS + 1) - 0.04, info)
        self.assertEqual(prof.self_samples("thread_work"), work, info)
        lanes = ["lane_%d" % i for i in range(NTHREADS)]
        self.assertEqual(prof.caller_names("thread_work"), lanes, info)
        for lane in lanes:
            share = prof.cc(lane) / work
            # Each thread is one eighth of the work; allow scheduling noise.
            self.assertGreater(share, 1 / NTHREADS / 2, "%s: %.3f\n%s" % (lane, share, info))
            self.assertLess(share, 2 / NTHREADS, "%s: %.3f\n%s" % (lane, share, info))
        self.assertTrue(target.alive())
        self.assertEqual(held_threads(target.pid), [])
