"""Signal fidelity: a sampled process sees exactly the signals, in the same
order and with the same siginfo, and the same results of its system calls,
as without sprofd.

The siglog target runs a fixed script (tests/targets/siglog.c) and writes
down everything it observes: each handler run with its si_code, sender and
status, per thread and in order; what sigwaitinfo and signalfd return;
EINTR and the other results of blocking calls; sigpending sets; the wait
statuses of its children; counts for the storms whose exact interleaving
is up to the kernel. Process IDs are written as self, parent or child#N,
so the log of a run without sprofd is the log of any correct run. It is
run once alone and then under sprofd at 1000 Hz in cpu and in wall mode,
and the logs must be identical.

Twice the script stops itself with raise(SIGSTOP): the test continues it
the first time, a child of the target the second time. While it is
stopped the process must be stopped as job control sees it: its parent
(this test) is told CLD_STOPPED, every thread is in state T (t while
traced: the kernel shows a traced thread in group stop so), it uses no
CPU, and it stays so until SIGCONT, which its handler then sees once.

SPROFD_SIGLOG_TRIALS=N (default 1) repeats each sampled run N times."""

import difflib
import os
import re
import signal
import sys
import time

from sprofdtest import (SprofdTestCase, held_threads, read_file, task_status, tasks, tracer_of,
                        wait_until)

HZ = 1000
TRIALS = int(os.environ.get("SPROFD_SIGLOG_TRIALS", "1"))
# Generous: the script takes a few seconds alone, and the machine may be
# busy with other tests.
STOP_TIMEOUT = 180
DONE_TIMEOUT = 240
EXIT_STATUS = 3

# What the kernel promises, and so what every correct log says (checked
# in the run without sprofd, so that comparing the runs means something).
PENDING_ORDER = """\
pending: USR1 USR2 RTMIN+0 RTMIN+1 RTMIN+2
sig USR1 code=-6 pid=self
sig RTMIN+0 code=-1 pid=self value=5
sig USR1 code=0 pid=self
sig USR2 code=0 pid=self
sig RTMIN+0 code=-1 pid=self value=2
sig RTMIN+1 code=-1 pid=self value=4
sig RTMIN+2 code=-1 pid=self value=1
sig RTMIN+2 code=-1 pid=self value=3
sigprocmask unblock=0
"""
EXPECTED_LINES = [
    "flood: 2000 received, 0 out of order",
    "storm: forked 500, reaped 500, 500 with the status they exited with",
    "storm: SIGCHLD handled 1 to N times, 0 not CLD_EXITED",
    "storm: 500 queued signals, 0 wrong or repeated",
    "waitpid with no children=-1 ECHILD",
    "sig CONT code=0 pid=parent\nraise STOP=0",
    "sig CONT code=0 pid=child#0\nraise STOP=0\nwaitpid: child#0 exited 5",
    "SIGCONT handled 2 times",
    "unexpected EINTR: 0",
    "read, no SA_RESTART=-1 EINTR\nread again=1",
    "read, SA_RESTART=1",
    "epoll_wait 20 ms x20: timed out 20, EINTR 0, other 0",
    "sigtimedwait 20 ms x20: timed out 20, EINTR 0, other 0",
    "sig SEGV code=1 addr=0x10\nsig SEGV code=2 addr=page+0x8\nsig ILL code=2\nsig FPE code=1\n"
    "sig TRAP code=128\nafter int3",
    "sigwaitinfo=RTMIN+7 code=-2 value=77",
    "read signalfd: 3\nsignalfd=USR1 code=-6 pid=self value=0\n"
    "signalfd=RTMIN+2 code=-1 pid=self value=31\nsignalfd=RTMIN+2 code=-1 pid=self value=32",
    "sig CHLD code=5 pid=child#3 status=19\nchild 2: child#3 stopped by STOP\n"
    "sig CHLD code=6 pid=child#3 status=18\nchild 2: child#3 continued\n"
    "sig CHLD code=1 pid=child#3 status=2\nchild 2: child#3 exited 2",
]


def cpu_ticks(pid):
    """utime + stime of the whole process, in clock ticks."""
    text = read_file("/proc/%d/stat" % pid) or ""
    fields = text[text.rindex(")") + 2:].split() if ")" in text else []
    return int(fields[11]) + int(fields[12]) if len(fields) > 12 else None


def events(log):
    """How many observations a log compares: handler runs, signals taken by
    sigwaitinfo and signalfd, and the storms' signals counted in bulk."""
    n = len(re.findall(r"^(?:sig |sigwaitinfo=|signalfd=)", log, re.M))
    m = re.search(r"^flood: (\d+) received", log, re.M)
    n += int(m.group(1)) if m else 0
    m = re.search(r"^storm: (\d+) queued signals", log, re.M)
    n += int(m.group(1)) if m else 0
    return n


class SigFidelityTest(SprofdTestCase):

    baseline = None

    def wait_job(self, target, flag, what, timeout):
        """Waits for the target's next job-control report to its parent
        (flag: WSTOPPED or WCONTINUED), as a shell would get it; returns
        the waitid result."""
        got = [None]

        def poll():
            got[0] = os.waitid(os.P_PID, target.pid, flag | os.WNOHANG)
            return got[0] is not None or not target.alive()
        wait_until(poll, timeout, 0.005)
        self.assertIsNotNone(got[0], "no %s report for siglog within %d s (alive: %s)\n%s"
                             % (what, timeout, target.alive(), read_file(target.errpath)))
        return got[0]

    def check_stopped(self, target, sprofd_proc):
        """The target is in the group stop of raise(SIGSTOP): the parent got
        CLD_STOPPED, every thread is stopped (T; t when traced), it uses no
        CPU, sprofd still traces it (when sampling), and it stays so."""
        r = self.wait_job(target, os.WSTOPPED, "CLD_STOPPED", STOP_TIMEOUT)
        self.assertEqual((r.si_code, r.si_status), (os.CLD_STOPPED, signal.SIGSTOP))
        allowed = "Tt" if sprofd_proc else "T"

        def states():
            return [task_status(target.pid, t) for t in tasks(target.pid)]
        ok = wait_until(lambda: all(st and st[0] in allowed for st in states()), 5)
        self.assertTrue(ok, "not every thread stopped: %r" % states())
        if sprofd_proc:
            tracer = tracer_of(target.pid)
            self.assertTrue(tracer == sprofd_proc.pid or tracer in tasks(sprofd_proc.pid),
                            "siglog not traced by sprofd while stopped (TracerPid %r)" % tracer)
        else:
            self.assertEqual(held_threads(target.pid),
                             [(t, "T", 0) for t in tasks(target.pid)])
        # Stays stopped while sprofd keeps sampling: no CPU, no SIGCONT.
        cpu0 = cpu_ticks(target.pid)
        time.sleep(0.5)
        self.assertEqual(cpu_ticks(target.pid), cpu0, "siglog ran while stopped")
        self.assertIsNone(os.waitid(os.P_PID, target.pid, os.WCONTINUED | os.WNOHANG),
                          "siglog continued without SIGCONT")
        self.assertTrue(all(st and st[0] in allowed for st in states()),
                        "a thread left the stop: %r" % states())

    def run_script(self, mode=None):
        """Runs the script, alone (mode None) or sampled by sprofd in mode;
        returns the log."""
        d = self.log_path("siglog-%s-%d" % (mode or "alone", len(os.listdir(self.logs))))
        os.mkdir(d)
        target = self.start_target("siglog", d)
        p = None
        if mode:
            out = os.path.join(d, "p.prof")
            p = self.spawn_sprofd("-p", target.pid, "-F", HZ, "-m", mode, "-o", out, "-n", 0)
            self.wait_attached(p, target)
            time.sleep(0.2)   # sampling before the script starts, too
        open(os.path.join(d, "go"), "w").close()

        self.check_stopped(target, p)
        os.kill(target.pid, signal.SIGCONT)
        r = self.wait_job(target, os.WCONTINUED, "CLD_CONTINUED", 30)
        self.assertEqual((r.si_code, r.si_status), (os.CLD_CONTINUED, signal.SIGCONT))
        # Only now may it stop again (see siglog.c).
        open(os.path.join(d, "cont1"), "w").close()

        self.check_stopped(target, p)
        open(os.path.join(d, "cont2"), "w").close()
        r = self.wait_job(target, os.WCONTINUED, "CLD_CONTINUED", 30)
        self.assertEqual(r.si_code, os.CLD_CONTINUED)

        done = wait_until(lambda: os.path.exists(os.path.join(d, "done"))
                          or not target.alive(), DONE_TIMEOUT, 0.02)
        self.assertTrue(done and target.alive(),
                        "siglog did not finish its script (alive: %s)\n%s"
                        % (target.alive(), read_file(target.errpath)))
        if p:
            self.assertIsNone(p.poll(), "sprofd ended before the script did")
            p.send_signal(signal.SIGINT)
            run = self.finish(p, 60)
            prof = self.check_run(run, out, HZ, pid=target.pid, comm="siglog", table=False)
            self.assertGreater(prof.cc("burn_forever"), 0, prof.top())
            # Nothing sprofd did leaves a thread stopped or traced.
            self.assert_released(target.pid, 5)
        open(os.path.join(d, "exit"), "w").close()
        try:
            target.proc.wait(timeout=30)
        except Exception:
            self.fail("siglog did not exit when told to")
        self.assertEqual(target.proc.returncode, EXIT_STATUS,
                         "siglog exited %s\n%s" % (target.proc.returncode,
                                                   read_file(target.errpath)))
        log = read_file(os.path.join(d, "log"))
        self.assertIsNotNone(log, "siglog wrote no log")
        return log

    def alone(self):
        """The log of the script without sprofd, checked against what the
        kernel promises; made once for all tests."""
        if SigFidelityTest.baseline is None:
            log = self.run_script()
            self.assertIn(PENDING_ORDER, log)
            for want in EXPECTED_LINES:
                self.assertIn(want + "\n", log)
            self.assertNotIn("TIMEOUT", log)
            self.assertNotIn("other:", log)
            self.assertEqual(log.count("[main]\n") + log.count("[sigthread]\n")
                             + log.count("[waiter]\n"), 3)
            SigFidelityTest.baseline = log
        return SigFidelityTest.baseline

    def compare(self, mode):
        want = self.alone()
        for trial in range(TRIALS):
            got = self.run_script(mode)
            if got != want:
                diff = "".join(difflib.unified_diff(
                    want.splitlines(True), got.splitlines(True), "without sprofd",
                    "sprofd -m %s -F %d (trial %d)" % (mode, HZ, trial + 1)))
                hint = ""
                if re.search(r"(?m)^\+.*(?:EINTR [1-9]|=-1 EINTR)", diff):
                    hint = ("\nA wait that only a timeout or a signal of the script ends "
                            "returned EINTR: a thread was stopped for a sample while "
                            "asleep in a system call that the kernel does not restart "
                            "(epoll_wait, sigtimedwait).")
                self.fail("the sampled script saw something else:\n%s%s" % (diff, hint))
        sys.stderr.write("\nsiglog -m %s: %d trial%s, %d log lines and %d signal events "
                         "identical to the run without sprofd\n"
                         % (mode, TRIALS, "" if TRIALS == 1 else "s",
                            want.count("\n"), events(want)))

    def test_cpu_mode(self):
        self.compare("cpu")

    def test_wall_mode(self):
        self.compare("wall")
