"""Every way a session can be refused, with its exit code and its one-line
message, and no profile left behind."""

import os
import shutil
import subprocess
import time

from sprofdtest import (EXIT_NO_SAMPLES, EXIT_NO_TARGET, EXIT_OK, EXIT_OUTPUT, EXIT_PERM,
                        EXIT_TRACED, EXIT_USAGE, SPROFD, Run, SprofdTestCase, free_pid,
                        held_threads, kernel_thread_pid, proc_state, tracer_of, wait_until)


class TargetErrorsTest(SprofdTestCase):

    def test_no_such_process(self):
        pid = free_pid()
        run = self.sprofd("-p", pid, "-d", 1, "-o", self.path("x.prof"), timeout=10)
        self.assert_error(run, EXIT_NO_TARGET, str(pid))
        self.assertEqual(self.tmp_files(), [])

    def test_kernel_thread(self):
        pid = kernel_thread_pid()
        if pid is None:
            self.skipTest("no kernel thread visible in this PID namespace")
        run = self.sprofd("-p", pid, "-d", 1, "-o", self.path("x.prof"), timeout=10)
        self.assert_error(run, EXIT_NO_TARGET)
        self.assertEqual(self.tmp_files(), [])

    def test_zombie(self):
        child = subprocess.Popen(["true"])
        self.addCleanup(child.wait)
        self.assertTrue(wait_until(lambda: proc_state(child.pid) == "Z", 5), "no zombie")
        run = self.sprofd("-p", child.pid, "-d", 1, "-o", self.path("x.prof"), timeout=10)
        self.assert_error(run, EXIT_NO_TARGET)
        self.assertEqual(self.tmp_files(), [])

    def test_own_pid(self):
        # The shell's PID becomes sprofd's own through exec.
        run = self.sprofd("-d", 1, "-o", self.path("x.prof"), timeout=10,
                          prefix=("sh", "-c", 'exec "$@" -p $$', "sh"))
        self.assert_error(run, EXIT_NO_TARGET)
        self.assertEqual(self.tmp_files(), [])

    def test_permission_denied(self):
        if not shutil.which("setpriv"):
            self.skipTest("setpriv (util-linux) is not installed")
        if os.geteuid() != 0:
            self.skipTest("needs root to start a root-owned target")
        target = self.start_target("progress", self.log_path("progress.state"))
        # A copy of sprofd that user nobody can surely execute.
        bindir = self.log_path("bin")
        os.mkdir(bindir)
        os.chmod(self.logs, 0o755)
        os.chmod(bindir, 0o755)
        exe = os.path.join(bindir, "sprofd")
        shutil.copy(SPROFD, exe)
        os.chmod(exe, 0o755)
        os.chmod(self.tmp, 0o777)
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                exe, "-p", str(target.pid), "-d", "1", "-o", self.path("x.prof")]
        p = subprocess.run(argv, cwd=self.tmp, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=15)
        run = Run(argv, p.returncode, p.stdout, p.stderr, 0)
        self.assert_error(run, EXIT_PERM, r"CAP_SYS_PTRACE|root")
        self.assertEqual(self.tmp_files(), [])
        self.assertEqual(held_threads(target.pid), [])

    def test_already_traced(self):
        target = self.start_target("progress", self.log_path("progress.state"))
        tracer = self.start_target("tracer", target.pid)
        self.assertEqual(tracer_of(target.pid), tracer.pid)
        run = self.sprofd("-p", target.pid, "-d", 1, "-o", self.path("x.prof"), timeout=10)
        self.assert_error(run, EXIT_TRACED, r"already traced by PID %d \(tracer\)" % tracer.pid)
        self.assertEqual(self.tmp_files(), [])
        # The other tracer keeps its tracee, and the tracee keeps running.
        self.assertEqual(tracer_of(target.pid), tracer.pid)
        self.assertNotIn(proc_state(target.pid), ("t", "T"))
        self.assert_progress(self.log_path("progress.state"))


class UsageErrorsTest(SprofdTestCase):

    def setUp(self):
        super().setUp()
        # A harmless process to name with -p, in case a bad flag is accepted.
        self.victim = subprocess.Popen(["sleep", "60"])
        self.addCleanup(self.victim.wait)
        self.addCleanup(self.victim.kill)

    def bad(self, args, pattern=None):
        run = self.sprofd(*args, timeout=10)
        self.assert_error(run, EXIT_USAGE, pattern)
        self.assertEqual(self.tmp_files(), [])

    def test_bad_frequency(self):
        pid = self.victim.pid
        for val in ("0", "-5", "abc", "1000000", "10001", "1.5", ""):
            with self.subTest(F=val):
                self.bad(["-p", pid, "-d", 0.2, "-F", val], r"\b1\b.*\b10000\b")
        for val in ("0", "-5", "abc"):
            with self.subTest(freq=val):
                self.bad(["--pid", pid, "-d", 0.2, "--freq", val], r"\b1\b.*\b10000\b")

    def test_bad_duration(self):
        pid = self.victim.pid
        for val in ("0", "x", "-1", "", "nan"):
            with self.subTest(d=val):
                self.bad(["-p", pid, "-d", val])

    def test_bad_pid(self):
        for args in (["-p", "abc"], ["-p", "-3"], ["-p", "0"], ["-p", ""],
                     ["-p", "12x", "-d", "1"], ["-d", "1"], []):
            with self.subTest(args=args):
                self.bad(args)

    def test_bad_rows_and_sort(self):
        pid = self.victim.pid
        with self.subTest(n="-1"):
            self.bad(["-p", pid, "-d", 0.2, "-n", "-1"])
        with self.subTest(n="x"):
            self.bad(["-p", pid, "-d", 0.2, "-n", "x"])
        with self.subTest(s="bogus"):
            self.bad(["-p", pid, "-d", 0.2, "-s", "bogus"], r"tottime.*cumtime.*ncalls.*name")

    def test_unknown_option_and_stray_argument(self):
        pid = self.victim.pid
        with self.subTest("--bogus"):
            self.bad(["-p", pid, "-d", 0.2, "--bogus"])
        with self.subTest("-Z"):
            self.bad(["-p", pid, "-d", 0.2, "-Z"])
        with self.subTest("stray"):
            self.bad(["-p", pid, "-d", 0.2, "extra"])
        with self.subTest("missing value"):
            self.bad(["-p", pid, "-d"])
        self.assertIsNone(self.victim.poll())
        self.assertEqual(held_threads(self.victim.pid), [])

    def test_help_and_version(self):
        run = self.sprofd("--help", timeout=10)
        self.assertEqual(run.rc, EXIT_OK, str(run))
        self.assertRegex(run.out, r"(?i)usage")
        for opt in ("-p", "-F", "-d", "-o", "-n", "-s", "--max-depth"):
            self.assertIn(opt, run.out, str(run))
        self.assertEqual(self.sprofd("-h", timeout=10).rc, EXIT_OK)
        run = self.sprofd("--version", timeout=10)
        self.assertEqual(run.rc, EXIT_OK, str(run))
        self.assertRegex(run.out, r"\d+\.\d+\.\d+", str(run))
        self.assertEqual(self.tmp_files(), [])


class CommandRoutingTest(SprofdTestCase):
    """sprofd goes to the daemon only for an option that only the daemon
    has, read as getopt_long reads the command line: an option's value,
    after the option's full name or an abbreviation, is never taken for
    one, and the daemon's own options may be abbreviated too."""

    def test_value_that_looks_like_a_daemon_option(self):
        target = self.start_target("progress", self.log_path("progress.state"))
        path = self.path("-t")
        for opt in ("-o", "--output", "--out", "--o"):
            with self.subTest(opt=opt):
                run = self.sprofd(opt, "-t", "--mo", "wall", "-p", target.pid, "-d", 0.3,
                                  "-n", 0, timeout=20)
                self.check_run(run, path, 100, table=False)
                os.unlink(path)
        self.assert_released(target.pid)

    def test_abbreviated_daemon_options(self):
        missing = self.path("no-such.conf")
        for args in (["--te", "--conf", missing], ["--test", "--config=" + missing],
                     ["-qt", "-c", missing]):
            with self.subTest(args=args):
                run = self.sprofd(*args, timeout=10)
                if args[0] == "-qt":
                    # -q is the profiling command's: the daemon refuses it.
                    self.assert_error(run, EXIT_USAGE, r"-q for the daemon")
                else:
                    self.assert_error(run, EXIT_USAGE, r"no-such\.conf.*configuration")
        self.assertEqual(self.tmp_files(), [])


class OutputErrorsTest(SprofdTestCase):

    def test_missing_directory(self):
        target = self.start_target("progress", self.log_path("progress.state"))
        out = self.path("no/such/dir/x.prof")
        # -q: errors only, so the error is the one line on stderr.
        run = self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-o", out, timeout=20)
        self.assert_error(run, EXIT_OUTPUT, "no/such/dir")
        self.assertEqual(self.tmp_files(), [])
        self.assert_released(target.pid)

    def test_output_is_a_directory(self):
        """The file cannot replace a directory: exit 6, and the temporary
        file written beside it is removed."""
        target = self.start_target("progress", self.log_path("progress.state"))
        os.mkdir(self.path("taken.prof"))
        run = self.sprofd("-q", "-p", target.pid, "-d", 0.5, "-o", self.path("taken.prof"),
                          timeout=20)
        self.assert_error(run, EXIT_OUTPUT, "taken.prof")
        self.assertEqual(self.tmp_files(), ["taken.prof"])
        self.assertEqual(os.listdir(self.path("taken.prof")), [])
        self.assert_released(target.pid)

    def test_no_samples(self):
        """One sample a second for a tenth of a second: either no sample was
        taken (exit 7, says so, no file) or the one taken is a whole
        profile."""
        target = self.start_target("progress", self.log_path("progress.state"))
        out = self.path("few.prof")
        t0 = time.monotonic()
        run = self.sprofd("-q", "-p", target.pid, "-F", 1, "-d", 0.1, "-o", out, timeout=20)
        self.assertLess(time.monotonic() - t0, 5, str(run))
        if run.rc == EXIT_NO_SAMPLES:
            self.assert_error(run, EXIT_NO_SAMPLES, r"(?i)no samples")
            self.assertEqual(self.tmp_files(), [])
        else:
            self.check_run(run, out, 1, pid=target.pid, table=False)
        self.assert_released(target.pid)
