"""How a session ends: the target exits, sprofd is interrupted, or sprofd
is killed outright. In every case the target must be left running freely."""

import os
import re
import signal
import time

from sprofdtest import (SprofdTestCase, held_threads, proc_state, task_status, tasks,
                        wait_until)


class LifecycleTest(SprofdTestCase):

    def test_target_exits_mid_profile(self):
        target = self.start_target("exiter", 2, 7, 3)
        out = self.path("exiter.prof")
        p = self.spawn_sprofd("-p", target.pid, "-F", 200, "-d", 30, "-o", out)
        self.wait_attached(p, target)
        # The parent (this test) still reaps the target and sees its status.
        self.assertEqual(target.proc.wait(timeout=10), 7)
        exited = time.monotonic()
        run = self.finish(p, 30)
        prof = self.check_run(run, out, 200, pid=target.pid, comm="exiter")
        self.assertLess(time.monotonic() - exited, 5,
                        "sprofd kept running after the target exited\n%s" % run)
        self.assertGreater(prof.cc("exiter_work"), 0, prof.top())
        self.assertEqual(run.header().group("threads"), "3", str(run))

    def test_sigkill_releases_target(self):
        """SIGKILL leaves no cleanup to sprofd: the kernel must release the
        target, and nothing sprofd did may leave it stopped."""
        state = self.log_path("progress.state")
        target = self.start_target("progress", state)
        for i, delay in enumerate((0.3, 0.55, 0.8)):
            with self.subTest(round=i):
                p = self.spawn_sprofd("-p", target.pid, "-F", 1000, "-o", self.path("k%d.prof" % i))
                self.wait_attached(p, target)
                time.sleep(delay)
                p.kill()
                self.finish(p, 10)
                self.assert_released(target.pid, 1.0)
                self.assertTrue(target.alive())
                self.assertNotIn(proc_state(target.pid), ("t", "T", "Z", None))
                self.assert_progress(state)

    def _interrupt(self, sig):
        state = self.log_path("progress.state")
        target = self.start_target("progress", state)
        out = self.path("int.prof")
        p = self.spawn_sprofd("-p", target.pid, "-F", 200, "-o", out)
        self.wait_attached(p, target)
        time.sleep(0.8)
        self.assertIsNone(p.poll(), "sprofd without -d exited on its own")
        p.send_signal(sig)
        run = self.finish(p, 15)
        prof = self.check_run(run, out, 200, pid=target.pid, comm="progress")
        self.assertGreater(prof.cc("progress_step"), 0, prof.top())
        self.assertAlmostEqual(float(run.header().group("secs")), 0.8, delta=0.6, msg=str(run))
        self.assert_released(target.pid)
        self.assert_progress(state)

    def test_sigint_without_duration(self):
        self._interrupt(signal.SIGINT)

    def test_sigterm_without_duration(self):
        self._interrupt(signal.SIGTERM)

    def test_sighup_without_duration(self):
        self._interrupt(signal.SIGHUP)

    def test_job_control_while_sampling(self):
        """kill -STOP stops a sampled target and kill -CONT resumes it."""
        state = self.log_path("progress.state")
        target = self.start_target("progress", state)
        out = self.path("jc.prof")
        p = self.spawn_sprofd("-p", target.pid, "-F", 200, "-d", 2.5, "-o", out)
        self.wait_attached(p, target)
        time.sleep(0.3)
        os.kill(target.pid, signal.SIGSTOP)
        self.assert_stalled(state)
        os.kill(target.pid, signal.SIGCONT)
        self.assert_progress(state)
        run = self.finish(p)
        self.check_run(run, out, 200, pid=target.pid)
        self.assert_released(target.pid)
        self.assert_progress(state)

    def test_stopped_target_stays_stopped(self):
        """A target stopped with SIGSTOP while sampled is still stopped
        (state T, untraced) after sprofd detaches, and SIGCONT resumes it."""
        state = self.log_path("progress.state")
        target = self.start_target("progress", state)
        out = self.path("st.prof")
        p = self.spawn_sprofd("-p", target.pid, "-F", 200, "-d", 1.5, "-o", out)
        self.wait_attached(p, target)
        time.sleep(0.5)
        os.kill(target.pid, signal.SIGSTOP)
        self.assert_stalled(state)
        run = self.finish(p)
        self.check_run(run, out, 200, pid=target.pid)
        ok = wait_until(lambda: all(st and st[0] == "T" and st[1] == 0 for st in
                                    (task_status(target.pid, t) for t in tasks(target.pid))), 1)
        self.assertTrue(ok, "after sprofd: %r" % [task_status(target.pid, t)
                                                  for t in tasks(target.pid)])
        self.assert_stalled(state)
        os.kill(target.pid, signal.SIGCONT)
        self.assert_released(target.pid)
        self.assert_progress(state)

    def test_default_output_name(self):
        target = self.start_target("progress", self.log_path("progress.state"))
        t0 = time.time()
        run = self.sprofd("-p", target.pid, "-d", 0.5)
        t1 = time.time()
        self.assert_ok(run)
        files = self.tmp_files()
        self.assertEqual(len(files), 1, "%r\n%s" % (files, run))
        m = re.match(r"^progress\.%d\.(\d+)\.prof$" % target.pid, files[0])
        self.assertTrue(m, "unexpected output name %r\n%s" % (files[0], run))
        self.assertTrue(int(t0) - 1 <= int(m.group(1)) <= int(t1) + 1, files[0])
        self.check_run(run, self.path(files[0]), 100, pid=target.pid, comm="progress")

    def test_quiet(self):
        target = self.start_target("progress", self.log_path("progress.state"))
        out = self.path("quiet.prof")
        run = self.sprofd("-p", target.pid, "-d", 0.5, "-q", "-o", out)
        self.assert_ok(run)
        self.assertEqual(run.out, "", "-q printed a table\n%s" % run)
        self.assertFalse([l for l in run.err.splitlines() if "warning" not in l],
                         "-q printed more than errors\n%s" % run)
        prof = self.load_profile(out, 100)
        self.assertGreater(prof.total, 0)

    def test_duration_is_honoured(self):
        target = self.start_target("progress", self.log_path("progress.state"))
        out = self.path("d.prof")
        # Wall mode: every thread counts at every tick, so the sample count
        # follows the duration whatever else loads the machine.
        run = self.sprofd("-p", target.pid, "-m", "wall", "-F", 100, "-d", 1.5, "-o", out)
        prof = self.check_run(run, out, 100, pid=target.pid)
        self.assertGreaterEqual(run.elapsed, 1.5, str(run))
        self.assertLess(run.elapsed, 6, str(run))
        self.assertAlmostEqual(float(run.header().group("secs")), 1.5, delta=0.3, msg=str(run))
        # Two threads (main and the napper) at 100 Hz for 1.5 s: 300 samples.
        self.assertLessEqual(prof.total, 2 * 100 * 1.5 * 1.1 + 2, str(run))
        self.assertGreaterEqual(prof.total, 2 * 100 * 1.5 * 0.9, str(run))
        self.assertEqual(held_threads(target.pid), [])
        self.assertFalse([f for f in os.listdir(self.tmp) if f != "d.prof"], self.tmp_files())
