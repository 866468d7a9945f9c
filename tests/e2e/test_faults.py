"""Faults while sampling: the target is killed, exits, execs another
program, forks children or churns through thousands of threads, or sprofd
itself is killed at any moment. Whatever happens, the target must behave as
it does without sprofd and must never be left stopped or traced, and sprofd
must exit cleanly with the profile of what it sampled."""

import os
import random
import signal
import subprocess
import time

from test_formats import read_pprof
from sprofdtest import (EXIT_NO_SAMPLES, EXIT_OK, TARGETS, SprofdTestCase, held_threads,
                        parse_int, proc_state, read_file, task_status, tasks, wait_until)

EXECEE = os.path.join(TARGETS, "execee")


def tracers(pid):
    """TracerPid of each live thread of pid."""
    out = []
    for tid in tasks(pid):
        st = task_status(pid, tid)
        if st:
            out.append(st[1])
    return out


def children(pid):
    """PIDs of the children of pid (of any of its threads)."""
    kids = set()
    for tid in tasks(pid):
        text = read_file("/proc/%d/task/%d/children" % (pid, tid))
        if text is not None:
            kids.update(int(k) for k in text.split())
            continue
        # No /proc/.../children (CONFIG_PROC_CHILDREN off): scan /proc.
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            stat = read_file("/proc/%s/stat" % name)
            if stat and int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                kids.add(int(name))
        break
    return kids


def exit_signal(pid):
    """The signal pid sends its parent when it exits (field 38 of
    /proc/PID/stat), or None."""
    text = read_file("/proc/%d/stat" % pid)
    if text is None:
        return None
    return int(text[text.rindex(")") + 2:].split()[35])


def counters(path):
    """The name=value pairs of a blocky state file, or None."""
    text = (read_file(path) or "").strip()
    try:
        vals = dict(kv.split("=") for kv in text.split())
        return {k: int(v) for k, v in vals.items()}
    except ValueError:
        return None


class FaultsTest(SprofdTestCase):

    def start_waiting_target(self, name, *args):
        """A faults target that waits until a tracer is attached before its
        clock starts (FAULTS_WAIT_TRACER)."""
        os.environ["FAULTS_WAIT_TRACER"] = "1"
        try:
            return self.start_target(name, *args)
        finally:
            del os.environ["FAULTS_WAIT_TRACER"]

    def run_alone(self, name, *args, timeout=60):
        """Runs a target without sprofd; returns (exit status, stdout after
        the "ready" line, seconds)."""
        t0 = time.monotonic()
        p = subprocess.run([os.path.join(TARGETS, name)] + [str(a) for a in args],
                           cwd=self.logs, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        out = p.stdout.decode(errors="replace")
        self.assertTrue(out.startswith("ready\n"), "%s %r: %r %r" % (name, args, out, p.stderr))
        return p.returncode, out[len("ready\n"):], time.monotonic() - t0

    def wait_target(self, target, timeout):
        """Waits for a target to exit; returns (status, rest of its stdout)."""
        try:
            out, _ = target.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail("%s (pid %d) did not exit within %d s; threads %r"
                      % (target.name, target.pid, timeout,
                         [task_status(target.pid, t) for t in tasks(target.pid)]))
        return target.proc.returncode, out.decode(errors="replace")

    # -- 1 -----------------------------------------------------------------

    def test_target_sigkilled_mid_sample(self):
        """SIGKILL of the target at random moments while sampled at
        1000 Hz: sprofd exits 0 with a loadable profile of what it had (or
        reports no samples, for a kill right after the attach)."""
        rng = random.Random()
        delays = [rng.uniform(0.0, 0.3) for _ in range(2)] + [rng.uniform(0.3, 1.0)
                                                              for _ in range(4)]
        outcomes = []
        for i, delay in enumerate(delays):
            with self.subTest(trial=i, delay=round(delay, 3)):
                target = self.start_target("threads", 4)
                out = self.path("kill%d.prof" % i)
                p = self.spawn_sprofd("-p", target.pid, "-F", 1000, "-o", out)
                self.wait_attached(p, target)
                time.sleep(delay)
                target.proc.kill()
                self.assertEqual(target.proc.wait(timeout=10), -signal.SIGKILL)
                killed = time.monotonic()
                run = self.finish(p, 30)
                self.assertLess(time.monotonic() - killed, 10,
                                "sprofd took long to notice the kill\n%s" % run)
                if delay < 0.3 and run.rc == EXIT_NO_SAMPLES:
                    self.assertFalse(os.path.exists(out), str(run))
                    outcomes.append((delay, 0))
                    continue
                prof = self.check_run(run, out, 1000, pid=target.pid, comm="threads")
                self.assertGreater(prof.cc("thread_work"), 0, prof.top())
                self.assertIn("was killed by", run.err, str(run))
                outcomes.append((delay, prof.total))
        print("\n  target SIGKILLed: " + ", ".join("%.2f s -> %d samples" % o for o in outcomes))

    # -- 2 -----------------------------------------------------------------

    def test_target_exit_status_kept(self):
        """The target exits with status 42 mid-profile, from its main thread
        or from another thread after the main thread left: its parent sees
        42, as without sprofd, and the profile is written."""
        for where in ("main", "thread"):
            with self.subTest(where=where):
                alone = self.run_alone("faults", "exit", 0.3, 42, 3, where)
                self.assertEqual(alone[0], 42, "without sprofd: %r" % (alone,))
                target = self.start_waiting_target("faults", "exit", 1.0, 42, 3, where)
                out = self.path("exit-%s.prof" % where)
                p = self.spawn_sprofd("-p", target.pid, "-F", 1000, "-o", out)
                self.wait_attached(p, target)
                status, _ = self.wait_target(target, 30)
                self.assertEqual(status, 42)
                exited = time.monotonic()
                run = self.finish(p, 30)
                self.assertLess(time.monotonic() - exited, 10, str(run))
                prof = self.check_run(run, out, 1000, pid=target.pid, comm="faults")
                self.assertGreater(prof.cc("exit_spin"), 0, prof.top())
                self.assertIn("exited with status 42", run.err, str(run))

    # -- 3 -----------------------------------------------------------------

    def test_exec_followed(self):
        """The target execs execee from its main thread, or from another
        thread (which the kernel gives the leader's TID): sprofd samples the
        new program, and the program runs as it does alone: same output and
        exit status, never stopped or traced once sprofd is done, whether
        sprofd ends first (-d) or with the program. In pprof, each
        program's locations are plain addresses in a mapping of its own
        binary."""
        steps = 300000000
        sources = {}
        for src in ("faults.c", "execee.c"):
            with open(os.path.join(TARGETS, src)) as f:
                sources[src] = f.read()
        for where in ("main", "thread"):
            alone = self.run_alone("faults", "exec", 0.1, where, 3, EXECEE, steps, 23, 2, 1)
            self.assertEqual(alone[0], 23, "without sprofd: %r" % (alone,))
            self.assertRegex(alone[1], r"^execee: threads=2 sum=[0-9a-f]{16}\n$")
            for ends in ("duration", "exit"):
                with self.subTest(where=where, ends=ends):
                    # With -d, execee waits until it is untraced before its
                    # work: it surely outlives sprofd.
                    target = self.start_waiting_target("faults", "exec", 0.4, where, 3, EXECEE,
                                                       steps, 23, 2, int(ends == "duration"))
                    out = self.path("exec-%s-%s.prof" % (where, ends))
                    args = ["-p", target.pid, "-F", 1000, "-o", out, "-f", "prof,pprof"]
                    if ends == "duration":
                        args += ["-d", 1.2]
                    p = self.spawn_sprofd(*args)
                    self.wait_attached(p, target)
                    if ends == "duration":
                        run = self.finish(p, 30)
                        self.assertTrue(target.alive(), "execee ended before sprofd\n%s" % run)
                        self.assert_released(target.pid, 2.0)
                        self.assertNotIn(proc_state(target.pid), ("t", "T"))
                        self.assertIn("started another program", run.err, str(run))
                        status, output = self.wait_target(target, 60)
                    else:
                        status, output = self.wait_target(target, 60)
                        run = self.finish(p, 30)
                        self.assertIn("exited with status 23", run.err, str(run))
                    self.assertEqual((status, output), alone[:2], str(run))
                    prof = self.check_run(run, out, 1000, pid=target.pid, comm="faults")
                    info = "top functions:\n%s\n%s" % (prof.top(), run)
                    self.assertGreater(prof.cc("pre_exec_spin"), 0, info)
                    new = sum(prof.cc(f) for f in ("execee_work", "execee_wait") if prof.has(f))
                    self.assertGreater(new, 0, "no samples after the exec\n" + info)
                    # Each program's addresses are named from its own
                    # binary: every function filed under a source file is
                    # one that file defines.
                    for key in prof.raw:
                        src = os.path.basename(key[0])
                        if src in ("faults.c", "execee.c"):
                            self.assertIn(key[2] + "(", sources[src], info)
                    self.check_exec_pprof(out[:-len(".prof")] + ".pb.gz",
                                          {"pre_exec_spin": "faults", "execee_work": "execee",
                                           "execee_wait": "execee"})

    def check_exec_pprof(self, path, binaries):
        """Every location of a function in binaries (name -> binary) lies in
        a mapping of that binary; no address carries a program number."""
        pp = read_pprof(path)
        seen = set()
        for lid, (mapping, addr, lines) in pp["locations"].items():
            self.assertLess(addr, 1 << 56, "location %d: %#x" % (lid, addr))
            names = {pp["functions"][f][0] for f, _ in lines}
            for name in names & set(binaries):
                self.assertIn(mapping, pp["mappings"], "%s at %#x has no mapping" % (name, addr))
                start, limit, mpath, _ = pp["mappings"][mapping]
                self.assertEqual(os.path.basename(mpath), binaries[name], name)
                self.assertTrue(start <= addr < limit, "%s: %#x not in [%#x, %#x)" % (
                    name, addr, start, limit))
                seen.add(binaries[name])
        self.assertEqual(seen, set(binaries.values()), pp["mappings"])

    # -- 4 -----------------------------------------------------------------

    def test_fork_children_untraced(self):
        """The target forks children of every kind while sampled: none is
        traced or stopped (but for a moment at its birth, the clone() child
        that the kernel traces along with threads), each exits with the
        status it should, and the parent is sampled as usual (its two
        threads only)."""
        rounds = 6
        alone = self.run_alone("faults", "fork", rounds, EXECEE)
        self.assertEqual(alone[0], 0, "without sprofd: %r" % (alone,))
        target = self.start_waiting_target("faults", "fork", rounds, EXECEE)
        out = self.path("fork.prof")
        # Wall mode: the main thread spends most of its time waiting for
        # children, and must still show up in the profile.
        p = self.spawn_sprofd("-p", target.pid, "-m", "wall", "-F", 1000, "-o", out)
        self.wait_attached(p, target)
        # pid -> [exit signal, first seen, last seen held, times seen, times held]
        seen = {}
        deadline = time.monotonic() + 60
        while target.alive() and time.monotonic() < deadline:
            for kid in children(target.pid):
                st, sig, now = task_status(kid, kid), exit_signal(kid), time.monotonic()
                if st is None or sig is None:
                    continue
                rec = seen.setdefault(kid, [sig, now, None, 0, 0])
                rec[3] += 1
                if st[1] != 0 or st[0] in "tT":
                    rec[2] = now
                    rec[4] += 1
            time.sleep(0.002)
        status, output = self.wait_target(target, 30)
        run = self.finish(p, 30)
        forked = {k: v for k, v in seen.items() if v[0] == signal.SIGCHLD}
        cloned = {k: v for k, v in seen.items() if v[0] != signal.SIGCHLD}
        self.assertEqual([(k, v) for k, v in forked.items() if v[4]], [],
                         "forked children traced or stopped")
        # PTRACE_O_TRACECLONE traces a clone() child with no exit signal from
        # birth, like a thread: sprofd must let it go at its first stop.
        self.assertEqual([(k, v) for k, v in cloned.items() if v[4] and v[2] - v[1] > 0.05], [],
                         "clone() children held for long")
        print("\n  children seen: %d forked (%d observations, none held), %d cloned "
              "(%d observations, %d of them held at birth, for at most %.1f ms)"
              % (len(forked), sum(v[3] for v in forked.values()), len(cloned),
                 sum(v[3] for v in cloned.values()), sum(v[4] for v in cloned.values()),
                 max([(v[2] - v[1]) * 1e3 for v in cloned.values() if v[4]] or [0])))
        self.assertEqual((status, output), alone[:2], str(run))
        self.assertIn("fork: rounds=%d children=%d bad=0" % (rounds, 5 * rounds), output)
        # The children that live 200 ms were seen: the long-lived ones,
        # and most clone() ones (a loaded machine may hide one).
        self.assertGreaterEqual(len(forked), rounds, "children seen: %r" % seen)
        self.assertGreaterEqual(len(cloned), rounds // 2, "children seen: %r" % seen)
        prof = self.check_run(run, out, 1000, pid=target.pid, comm="faults")
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        self.assertEqual(run.header().group("threads"), "2", info)
        # Both threads are sampled: the helper spins, the main thread forks
        # and waits for children (mode_fork is on all its stacks).
        self.assertGreater(prof.cc("forker_helper"), 0, info)
        self.assertTrue(prof.has("mode_fork"), info)
        for child_fn in ("child_spin", "clone_child", "execee_work"):
            self.assertFalse(prof.has(child_fn), "a child was sampled: %s\n%s" % (child_fn, info))

    # -- 5 -----------------------------------------------------------------

    def test_thread_bursts(self):
        """10,000 threads created and joined in bursts of 250 while sampled
        at 1000 Hz: the result is right, every thread is counted once, the
        short-lived threads are in the profile; then a profile that ends
        mid-burst leaves no thread stopped or traced."""
        total, burst = 10000, 250
        rc, alone, alone_secs = self.run_alone("faults", "burst", total, burst)
        self.assertEqual(rc, 0, alone)
        self.assertRegex(alone, r"^burst: threads=%d sum=[0-9a-f]{16} secs=[\d.]+\n$" % total)
        result = alone.split(" secs=")[0]

        target = self.start_waiting_target("faults", "burst", total, burst)
        out = self.path("burst.prof")
        t0 = time.monotonic()
        p = self.spawn_sprofd("-p", target.pid, "-F", 1000, "-o", out)
        self.wait_attached(p, target)
        status, output = self.wait_target(target, 50)
        sampled_secs = time.monotonic() - t0
        run = self.finish(p, 30)
        self.assertEqual(status, 0, output)
        self.assertEqual(output.split(" secs=")[0], result, output)
        prof = self.check_run(run, out, 1000, pid=target.pid, comm="faults")
        info = "top functions:\n%s\n%s" % (prof.top(), run)
        self.assertGreater(prof.cc("burst_work"), 0, info)
        # Every thread once: the main thread and the 10,000.
        self.assertEqual(parse_int(run.header().group("threads")), total + 1, info)
        own = float(output.split(" secs=")[1])
        print("\n  %d threads in bursts of %d: %.2f s alone, %.2f s sampled at 1000 Hz "
              "(x%.2f; sprofd's whole run %.2f s); %d samples, %d in burst_work"
              % (total, burst, float(alone.split(" secs=")[1]), own,
                 own / max(float(alone.split(" secs=")[1]), 1e-3), sampled_secs,
                 prof.total, prof.cc("burst_work")))

        # sprofd ends while the bursts go on: no thread, old or new, is held.
        target = self.start_waiting_target("faults", "burst", total, burst)
        p = self.spawn_sprofd("-p", target.pid, "-F", 1000, "-d", 0.3,
                              "-o", self.path("burst-d.prof"))
        self.wait_attached(p, target)
        run = self.finish(p, 30)
        self.assertIn(run.rc, (EXIT_OK, EXIT_NO_SAMPLES), str(run))
        self.assertTrue(target.alive(), "the bursts ended before sprofd\n%s" % run)
        checks = 0
        while target.alive() and checks < 50:
            self.assertEqual(held_threads(target.pid), [], "after sprofd ended\n%s" % run)
            checks += 1
            time.sleep(0.01)
        status, output = self.wait_target(target, 50)
        self.assertEqual(status, 0, output)
        self.assertEqual(output.split(" secs=")[0], result, output)

    # -- 6 -----------------------------------------------------------------

    def test_sprofd_sigkilled_100_times(self):
        """sprofd SIGKILLed 100 times at a random moment in its first
        300 ms (attaching, sampling, detaching or writing; cpu and wall
        mode): each time every thread of the target is soon untraced and
        running, and every one of them goes on making progress."""
        state = self.log_path("blocky.state")
        target = self.start_target("faults", "blocky", state, 2)
        self.assertTrue(wait_until(lambda: counters(state), 5), "no state from blocky")
        rng = random.Random()
        phases = {}
        t_start = time.monotonic()
        for i in range(100):
            mode = ("cpu", "wall")[i % 2]
            delay = rng.uniform(0.0, 0.3)
            p = self.spawn_sprofd("-p", target.pid, "-m", mode, "-F", 1000, "-d", 0.15,
                                  "-o", self.path("k%d.prof" % i))
            end = time.monotonic() + delay
            was_traced = False
            while time.monotonic() < end:
                was_traced = was_traced or any(tracers(target.pid))
                time.sleep(0.002)
            if p.poll() is not None:
                phase = "after exit"
            else:
                now = tracers(target.pid)
                if now and all(now):
                    phase = "sampling"
                elif any(now):
                    phase = "attaching"
                elif was_traced:
                    phase = "detached, writing"
                else:
                    phase = "before attach"
                p.kill()
            try:
                p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.fail("trial %d: sprofd did not die within 10 s of SIGKILL" % i)
            phases[phase] = phases.get(phase, 0) + 1
            msg = "trial %d (%s mode, killed %s after %.3f s)" % (i, mode, phase, delay)
            held = wait_until(lambda: not held_threads(target.pid), 2.0)
            self.assertTrue(held, "%s: still held after 2 s: %r (tid, state, TracerPid)"
                            % (msg, held_threads(target.pid)))
            self.assertTrue(target.alive(), msg)
            before = counters(state)
            moved = wait_until(lambda: (lambda c: c and all(
                c[k] > before[k] for k in ("main", "pingpong", "sleep", "poll", "cond")))(
                    counters(state)), 3.0)
            self.assertTrue(moved, "%s: progress stuck: %r then %r" % (msg, before, counters(state)))
        elapsed = time.monotonic() - t_start
        final = counters(state)
        self.assertEqual(final["eintr"], 0,
                         "system calls that restart by themselves ended in EINTR: %r" % final)
        # epoll_wait ends with EINTR at any stop. Wall mode may stop the
        # sleeping epoll thread once, at first sight, when it cannot take
        # its stack otherwise; never again, however often the thread wakes.
        self.assertLessEqual(final["epoll_eintr"], 50, "epoll_wait interrupted: %r" % final)
        print("\n  100 trials in %.1f s: 100 released, %s; target counters %r"
              % (elapsed, ", ".join("killed %s %d" % kv for kv in sorted(phases.items())),
                 final))
