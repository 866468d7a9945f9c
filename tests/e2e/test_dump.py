"""sprofd dump: every thread's stack, once. Checked frame by frame against
an independent unwinder and symbolizer, eu-stack -i -s (elfutils), on
stopped targets: same frames in the same order, same function names
(inline frames included) and the same source lines.

Where the two differ by design, the difference is classified and
explained (see EXPLAINED); anything else fails the test. The match rate is
printed."""

import os
import re
import shutil
import signal
import subprocess
import sys

from sprofdtest import (EXIT_NO_TARGET, EXIT_OK, EXIT_USAGE, SprofdTestCase, free_pid,
                        held_threads, proc_state, tasks, wait_until)

EU_STACK = shutil.which("eu-stack")

THREAD_RE = re.compile(r"^Thread (\d+) \((.*)\):$")
FRAME_RE = re.compile(r"^  #(\d+)\s+0x([0-9a-f]+) (.*)$")
EU_TID_RE = re.compile(r"^TID (\d+):$")
EU_FRAME_RE = re.compile(r"^#(\d+)\s+0x([0-9a-f]+)(?: (.*))?$")
UNNAMED_RE = re.compile(r"^\[.+\+0x[0-9a-f]+\]$")

# Differences that are sprofd's choice, not an error:
EXPLAINED = {
    "glibc-alias": "eu-stack names a non-inline frame by the ELF symbol at its address, "
                   "which for glibc is often an internal alias (__GI___nanosleep); sprofd "
                   "names it by its DWARF name, the function as written (__nanosleep)",
    "unnamed": "eu-stack prints no name for an address in a module without symbols for it "
               "(libstdc++ without debug info); sprofd prints [module+0xOFFSET]",
    "line-outside-symbol": "for _start (crt1.o, no line information) eu-stack prints the "
                           "nearest line-table row, which belongs to the function before "
                           "it (main's code); sprofd prints no line rather than a wrong one",
}


def parse_dump(text):
    """{tid: (name, [(addr, func, inlined, file, line)])} from sprofd dump."""
    threads, cur = {}, None
    for line in text.splitlines():
        m = THREAD_RE.match(line)
        if m:
            cur = []
            threads[int(m.group(1))] = (m.group(2), cur)
            continue
        m = FRAME_RE.match(line)
        if not m or cur is None:
            continue
        rest, file, lineno = m.group(3), None, 0
        if " at " in rest:
            rest, loc = rest.rsplit(" at ", 1)
            file, lineno = loc.rsplit(":", 1)
            lineno = int(lineno)
        elif " in " in rest:
            rest = rest.rsplit(" in ", 1)[0]
        inlined = rest.endswith(" (inlined)")
        if inlined:
            rest = rest[:-len(" (inlined)")]
        cur.append((int(m.group(2), 16), rest, inlined, file, lineno))
    return threads


def parse_eu_stack(text):
    """{tid: [(addr, func, file, line)]} from eu-stack -i -s."""
    threads, cur = {}, None
    for line in text.splitlines():
        m = EU_TID_RE.match(line)
        if m:
            cur = []
            threads[int(m.group(1))] = cur
            continue
        m = EU_FRAME_RE.match(line)
        if m and cur is not None:
            cur.append([int(m.group(2), 16), m.group(3) or "", None, 0])
            continue
        if line.startswith("    ") and cur:
            parts = line.strip().split(":")
            # file:line or file:line:column
            nums = [p for p in parts[1:] if p.isdigit()]
            if nums:
                cur[-1][2] = parts[0]
                cur[-1][3] = int(nums[0])
    return threads


def same_file(eu, ours):
    """eu-stack prints paths as the line table has them, relative to the
    compilation directory; sprofd joins them to it."""
    if eu is None or ours is None:
        return eu is None and ours is None
    eu = os.path.normpath(eu)
    if eu.startswith("/"):
        return eu == os.path.normpath(ours)
    while eu.startswith("../"):
        eu = eu[3:]
    return ours == eu or ours.endswith("/" + eu)


def compare(eu_frames, our_frames):
    """Yields (verdict, detail) per frame: "same", an EXPLAINED key, or
    "MISMATCH"."""
    n = max(len(eu_frames), len(our_frames))
    for i in range(n):
        if i >= len(eu_frames) or i >= len(our_frames):
            yield "MISMATCH", "frame #%d only in %s" % (
                i, "sprofd" if i >= len(eu_frames) else "eu-stack")
            continue
        ea, ename, efile, eline = eu_frames[i]
        oa, oname, _, ofile, oline = our_frames[i]
        detail = "#%d eu-stack %#x %s %s:%s | sprofd %#x %s %s:%s" % (
            i, ea, ename, efile, eline, oa, oname, ofile, oline)
        # Callers: sprofd shows the address it looked up, one below the
        # return address eu-stack shows.
        if oa not in (ea, ea - 1):
            yield "MISMATCH", "address: " + detail
            continue
        line_ok = eline == oline and (eline == 0 or same_file(efile, ofile))
        if ename == oname and line_ok:
            yield "same", detail
        elif ename.startswith("__GI_") and ename[5:] == oname and line_ok:
            yield "glibc-alias", detail
        elif ename == "" and UNNAMED_RE.match(oname) and line_ok:
            yield "unnamed", detail
        elif ename == oname == "_start" and oline == 0 and eline > 0:
            yield "line-outside-symbol", detail
        else:
            yield "MISMATCH", detail


class DumpTest(SprofdTestCase):

    def stop(self, target):
        os.kill(target.pid, signal.SIGSTOP)
        self.addCleanup(lambda: target.alive() and os.kill(target.pid, signal.SIGCONT))
        stopped = wait_until(lambda: all(
            (open("/proc/%d/task/%d/stat" % (target.pid, t)).read().rsplit(")", 1)[1].split()[0]
             == "T") for t in tasks(target.pid)), 5)
        self.assertTrue(stopped, "target %s did not stop" % target.name)

    def dump(self, pid, *args):
        run = self.sprofd("dump", "-p", pid, *args, timeout=60)
        self.assertEqual(run.rc, EXIT_OK, str(run))
        return run, parse_dump(run.out)

    def test_oracle_eu_stack(self):
        if not EU_STACK:
            self.skipTest("eu-stack (elfutils) is not installed")
        programs = [("threads", [3]), ("cxxserver", []), ("recurse", [12]), ("demo", [2])]
        counts, mismatches, explained = {}, [], {}
        for name, args in programs:
            target = self.start_target(name, *args)
            self.stop(target)
            eu = subprocess.run([EU_STACK, "-i", "-s", "-p", str(target.pid)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=60)
            eu_threads = parse_eu_stack(eu.stdout)
            run, ours = self.dump(target.pid)
            # Both leave a stopped process stopped.
            self.assertEqual(proc_state(target.pid), "T", str(run))
            self.assertEqual(sorted(ours), sorted(eu_threads),
                             "threads differ\n%s\n--- eu-stack:\n%s" % (run, eu.stdout))
            for tid in sorted(ours):
                for verdict, detail in compare(eu_threads[tid], ours[tid][1]):
                    counts[verdict] = counts.get(verdict, 0) + 1
                    where = "%s thread %d: %s" % (name, tid, detail)
                    if verdict == "MISMATCH":
                        mismatches.append(where)
                    elif verdict != "same":
                        explained.setdefault(verdict, []).append(where)
            os.kill(target.pid, signal.SIGCONT)
            target.kill()
        total = sum(counts.values())
        same = counts.get("same", 0)
        nexpl = sum(len(v) for v in explained.values())
        sys.stderr.write("\ndump oracle: %d frames of %d programs vs eu-stack -i -s: %d identical "
                         "(%.1f%%), %d explained differences, %d unexplained; match rate "
                         "%.1f%%\n" % (total, len(programs), same, 100.0 * same / max(total, 1),
                                       nexpl, len(mismatches),
                                       100.0 * (same + nexpl) / max(total, 1)))
        for key, items in sorted(explained.items()):
            sys.stderr.write("  %s (%d): %s\n" % (key, len(items), EXPLAINED[key]))
            for it in items[:3]:
                sys.stderr.write("    e.g. %s\n" % it)
        self.assertGreater(total, 60, "too few frames compared: %r" % counts)
        self.assertEqual(mismatches, [], "frames that differ from eu-stack:\n" +
                         "\n".join(mismatches))
        # Inline frames were among those compared.
        self.assertGreater(same, 0.8 * total, repr(counts))

    def test_inline_and_cxx_names(self):
        target = self.start_target("cxxserver")
        run, threads = self.dump(target.pid)
        by_name = {name: frames for name, frames in threads.values()}
        self.assertEqual(sorted(by_name), ["cxxserver", "lambda", "sleeper", "tmpl"], str(run))
        src = os.path.join("tests", "targets", "cxxserver.cc")
        main = [(f[1], f[2]) for f in by_name["cxxserver"]]
        # The main thread spins in sweep(), with cell() and mix() inlined.
        self.assertIn(("shapes::Grid<unsigned long>::sweep()", False), main, str(run))
        i = main.index(("shapes::Grid<unsigned long>::sweep()", False))
        chain = [f for f in by_name["cxxserver"][:i]]
        self.assertTrue(chain and all(f[2] for f in chain), str(run))
        self.assertIn("shapes::Grid<unsigned long>::cell(long)", [f[1] for f in chain], str(run))
        self.assertTrue(all(f[3] and f[3].endswith(src) and f[4] > 0 for f in chain), str(run))
        lam = [f[1] for f in by_name["lambda"]]
        self.assertIn("hot_inner", lam, str(run))
        self.assertLess(lam.index("hot_inner"), lam.index("hot_outer"), str(run))
        self.assertIn("unsigned long shapes::spin_template<unsigned long>(unsigned long)",
                      [f[1] for f in by_name["tmpl"]], str(run))
        self.assertIn("sleeper_loop()", [f[1] for f in by_name["sleeper"]], str(run))
        # The target runs on, released.
        self.assert_released(target.pid)
        self.assertTrue(target.alive())

        # --no-inline: only real functions, whose line is now the call site
        # of the outermost inlined function.
        run, threads = self.dump(target.pid, "--no-inline")
        by_name = {name: frames for name, frames in threads.values()}
        main = by_name["cxxserver"]
        self.assertFalse(any(f[2] for fs in by_name.values() for f in fs), str(run))
        self.assertEqual(main[0][1], "shapes::Grid<unsigned long>::sweep()", str(run))
        # --raw-names: the linkage names.
        run, threads = self.dump(target.pid, "--raw-names", "--no-inline")
        names = [f[1] for _, fs in threads.values() for f in fs]
        self.assertIn("_ZN6shapes4GridImE5sweepEv", names, str(run))
        self.assertIn("_ZN6shapes13spin_templateImEET_S1_", names, str(run))

    def test_running_threads(self):
        target = self.start_target("threads", 3)
        run, threads = self.dump(target.pid)
        self.assertRegex(run.out.splitlines()[0], r"^PID %d \(threads\): 4 threads$" % target.pid)
        self.assertEqual(sorted(threads), sorted(tasks(target.pid)), str(run))
        self.assertEqual(threads[target.pid][0], "threads", str(run))
        workers = [(n, fs) for tid, (n, fs) in threads.items() if tid != target.pid]
        self.assertEqual(sorted(n for n, _ in workers), ["worker-0", "worker-1", "worker-2"])
        for name, frames in workers:
            funcs = [f[1] for f in frames]
            lane = "lane_%s" % name.split("-")[1]
            self.assertEqual(funcs[:3], ["thread_work", lane, "worker"], str(run))
            self.assertTrue(frames[0][3].endswith("tests/targets/threads.c"), str(run))
        main = [f[1] for f in threads[target.pid][1]]
        self.assertIn("main", main, str(run))
        self.assertEqual(held_threads(target.pid), [])

    def test_stopped_stays_stopped(self):
        target = self.start_target("threads", 2)
        self.stop(target)
        run, threads = self.dump(target.pid)
        self.assertIn("stopped", run.out.splitlines()[0])
        self.assertEqual(len(threads), 3, str(run))
        for tid in tasks(target.pid):
            st = open("/proc/%d/task/%d/status" % (target.pid, tid)).read()
            self.assertIn("State:\tT (stopped)", st)
            self.assertIn("TracerPid:\t0", st)
        os.kill(target.pid, signal.SIGCONT)
        self.assertTrue(wait_until(lambda: proc_state(target.pid) in ("R", "S"), 5))

    def test_errors(self):
        run = self.sprofd("dump")
        self.assert_error(run, EXIT_USAGE, r"-p PID")
        run = self.sprofd("dump", "-p", "x")
        self.assert_error(run, EXIT_USAGE)
        run = self.sprofd("dump", "-p", free_pid())
        self.assert_error(run, EXIT_NO_TARGET)
        run = self.sprofd("dump", "--help")
        self.assertEqual(run.rc, EXIT_OK)
        self.assertIn("usage: sprofd dump", run.out)
