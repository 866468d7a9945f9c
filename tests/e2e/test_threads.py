"""Many threads: every thread of the process is sampled, in proportion to
the CPU time it had, and the idle main thread does not crowd out the
workers."""

import sys

from sprofdtest import SprofdTestCase, held_threads, read_file, tasks

NTHREADS = 8
# Largest gap allowed between a thread's share of the samples and its share
# of the CPU time: about four standard deviations of the sampling error
# with ~450 samples (sqrt(1/8 * 7/8 / 450) = 0.016).
SHARE_SLACK = 0.06


def worker_cpu_ns(pid):
    """CPU time so far of each thread named worker-I, by name."""
    out = {}
    for tid in tasks(pid):
        name = read_file("/proc/%d/task/%d/comm" % (pid, tid))
        stat = read_file("/proc/%d/task/%d/schedstat" % (pid, tid))
        if name and stat and name.startswith("worker-"):
            out[name.strip()] = int(stat.split()[0])
    return out


class ThreadsTest(SprofdTestCase):

    def test_all_threads_sampled(self):
        target = self.start_target("threads", NTHREADS)
        out = self.path("threads.prof")
        before = worker_cpu_ns(target.pid)
        run = self.sprofd("-p", target.pid, "-F", 200, "-d", 2, "-o", out)
        after = worker_cpu_ns(target.pid)
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
        # Each thread has an eighth of the work, but not always an eighth
        # of the CPU on a busy machine: its samples follow the CPU it got.
        names = ["worker-%d" % i for i in range(NTHREADS)]
        self.assertEqual(sorted(before), sorted(names))
        self.assertEqual(sorted(after), sorted(names))
        cpu = {n: after[n] - before[n] for n in names}
        total = sum(cpu.values())
        shares = []
        for i, lane in enumerate(lanes):
            got, want = prof.cc(lane) / work, cpu[names[i]] / total
            shares.append("%s %.3f/%.3f" % (lane, got, want))
            self.assertLess(abs(got - want), SHARE_SLACK, "%s: %.3f of the samples, %.3f of "
                            "the CPU time\n%s" % (lane, got, want, info))
        sys.stderr.write("\n    samples/CPU share: %s " % ", ".join(shares))
        self.assertTrue(target.alive())
        self.assertEqual(held_threads(target.pid), [])
