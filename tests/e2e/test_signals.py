"""Signals sent to a sampled process all reach it, exactly once, and the
sampling itself interrupts none of its system calls."""

import os
import re
import signal
import time

from sprofdtest import SprofdTestCase, read_file, wait_until

NSIGNALS = 1000
STATE_RE = re.compile(r"^signals=(\d+) eintr=(\d+)$")


class SignalsTest(SprofdTestCase):

    def state(self, path):
        m = STATE_RE.match((read_file(path) or "").strip())
        return (int(m.group(1)), int(m.group(2))) if m else None

    def test_signals_delivered_while_sampling(self):
        state = self.log_path("signals.state")
        target = self.start_target("signals", state)
        out = self.path("signals.prof")
        p = self.spawn_sprofd("-p", target.pid, "-F", 500, "-d", 4, "-o", out)
        self.wait_attached(p, target)
        # One signal every 1 ms or so, so they overlap with the sampling.
        sig = signal.SIGRTMIN
        for i in range(NSIGNALS):
            os.kill(target.pid, sig)
            if i % 10 == 9:
                time.sleep(0.01)
        self.assertIsNone(p.poll(), "sprofd ended before all signals were sent")
        got = wait_until(lambda: (self.state(state) or (0, 0))[0] >= NSIGNALS and self.state(state),
                         10)
        self.assertTrue(got, "target counted %r of %d signals while sampled"
                        % (self.state(state), NSIGNALS))
        run = self.finish(p)
        prof = self.check_run(run, out, 500, pid=target.pid, comm="signals")
        self.assertGreater(prof.cc("busy"), 0, prof.top())
        self.assert_released(target.pid)
        time.sleep(0.1)
        target.proc.send_signal(signal.SIGTERM)
        try:
            line, _ = target.proc.communicate(timeout=10)
        except Exception:
            self.fail("signals target did not exit on SIGTERM")
        self.assertEqual(target.proc.returncode, 0)
        self.assertEqual(line.decode().strip(), "signals=%d eintr=0" % NSIGNALS,
                         "the target saw lost, extra or interrupting signals\n%s" % run)
