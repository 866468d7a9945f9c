"""Naming what the profiler samples, on programs built for it: C++ names
demangled and inline frames counted as functions; Rust names; a stripped
executable whose DWARF is found by build ID; libc's separate debug info
(libc6-dbg); a plugin loaded after sprofd attached; an executable deleted
while it runs; a process in its own mount namespace; JIT code named by
/tmp/perf-PID.map, read again as it grows; anonymous code as [anon]."""

import os
import re
import select
import shutil
import subprocess
import time

from sprofdtest import TARGETS, SprofdTestCase, Target, read_file

CXX_SRC = os.path.join(TARGETS, "cxxserver.cc")
THREADS_SRC = os.path.join(TARGETS, "threads.c")

PLUGIN_SRC = """#include <stdint.h>
volatile uint64_t plugin_sink;
void plugin_work(void);
void plugin_work(void)
{
\tuint64_t acc = 1;

\tfor (;;) {
\t\tacc = acc * 6364136223846793005ULL + 1442695040888963407ULL;
\t\t__asm__ volatile("" : "+r"(acc));
\t\tplugin_sink = acc;
\t}
}
"""
PLUGIN_WORK_LINE = 4


def decl_line(path, pattern):
    """1-based line of the first line of path matching pattern."""
    rx = re.compile(pattern)
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if rx.search(line):
                return n
    raise AssertionError("%s not in %s" % (pattern, path))


def build_id(path):
    """The GNU build ID of an ELF file, in hex, from readelf -n."""
    out = subprocess.run(["readelf", "-n", path], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    if not m:
        raise AssertionError("no build ID in %s" % path)
    return m.group(1)


def read_line(proc, timeout):
    """One line of a target's stdout, or b'' after timeout seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else b""


class SymbolsTest(SprofdTestCase):

    def profile(self, target, *args, secs=1, hz=200, name="p.prof"):
        out = self.path(name)
        run = self.sprofd("-p", target.pid, "-F", hz, "-d", secs, "-o", out, "-n", 0, *args)
        return self.check_run(run, out, hz, pid=target.pid, table=False), run

    def info(self, prof, run):
        return "top functions:\n%s\n%s" % (prof.top(25), run)

    def copy_target(self, name, dest_name=None):
        dest = os.path.join(self.logs, dest_name or name)
        shutil.copy2(os.path.join(TARGETS, name), dest)
        return dest

    def test_cxx_inline_and_demangle(self):
        target = self.start_target("cxxserver")
        prof, run = self.profile(target)
        info = self.info(prof, run)
        sweep = "shapes::Grid<unsigned long>::sweep()"
        cell = "shapes::Grid<unsigned long>::cell(long)"
        tmpl = "unsigned long shapes::spin_template<unsigned long>(unsigned long)"
        # The hot loops are inlined: their time belongs to the inlined
        # functions, each a function of its own with its declaration line.
        for fn in ("mix", "hot_inner", tmpl):
            self.assertGreater(prof.self_samples(fn), 0, fn + "\n" + info)
        self.assertEqual(prof.caller_names("mix"), [cell], info)
        self.assertEqual(prof.caller_names(cell), [sweep], info)
        self.assertEqual(prof.caller_names("hot_inner"), ["hot_outer"], info)
        key = prof.key("mix")
        self.assertTrue(key[0].endswith("/tests/targets/cxxserver.cc"), key)
        self.assertEqual(key[1], decl_line(CXX_SRC, r"uint64_t mix\("), key)
        self.assertEqual(prof.key(sweep)[1], decl_line(CXX_SRC, r"void sweep\(\)"), info)
        self.assertEqual(prof.self_samples(sweep), 0, info)

        # Without inline frames, the time is the real functions' own.
        prof, run = self.profile(target, "--no-inline", name="noinline.prof")
        info = self.info(prof, run)
        for fn in ("mix", cell, "hot_inner", "hot_outer"):
            self.assertFalse(prof.has(fn), fn + "\n" + info)
        self.assertGreater(prof.self_samples(sweep), 0, info)

        # Raw names: linkage names as in the symbol table.
        prof, run = self.profile(target, "--raw-names", name="raw.prof")
        info = self.info(prof, run)
        self.assertGreater(prof.cc("_ZN6shapes4GridImE5sweepEv"), 0, info)
        self.assertFalse(prof.has(sweep), info)

    def test_rust_names(self):
        target = self.start_target("rustnames")
        prof, run = self.profile(target)
        info = self.info(prof, run)
        # v0 and legacy manglings; the legacy hash is dropped.
        self.assertGreater(prof.self_samples("mycrate::hot_spin"), 0, info)
        self.assertGreater(prof.self_samples("mycrate::inner::Thing::work"), 0, info)
        self.assertEqual(prof.caller_names("mycrate::hot_spin"), ["v0_thread"], info)
        prof, run = self.profile(target, "--raw-names", name="raw.prof")
        info = self.info(prof, run)
        self.assertGreater(prof.self_samples("_RNvCsjrVPa4l567z_7mycrate8hot_spin"), 0, info)
        self.assertGreater(
            prof.self_samples("_ZN7mycrate5inner5Thing4work17hb76e956ac5ddd22cE"), 0, info)

    def test_libc_debug_package(self):
        # libc6-dbg puts libc's DWARF under /usr/lib/debug/.build-id/.
        libc = "/lib/x86_64-linux-gnu/libc.so.6"
        bid = build_id(libc)
        debug = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
        if not os.path.exists(debug):
            self.skipTest("libc6-dbg is not installed (%s)" % debug)
        target = self.start_target("cxxserver")
        run = self.sprofd("dump", "-p", target.pid)
        self.assert_ok(run)
        m = re.search(r"^  #0 +0x[0-9a-f]+ __clock_nanosleep at (\S+):(\d+)$", run.out, re.M)
        self.assertTrue(m, "the sleeping thread's libc frame has no source line\n%s" % run)
        self.assertTrue(m.group(1).endswith("clock_nanosleep.c"), str(run))

    def test_stripped_with_build_id_debug_file(self):
        if os.geteuid() != 0 or not shutil.which("objcopy"):
            self.skipTest("needs root (to write /usr/lib/debug) and binutils")
        exe = self.copy_target("threads", "stripped")
        # Not next to the executable, where libdw would look for
        # stripped.debug too.
        os.mkdir(os.path.join(self.logs, "elsewhere"))
        dbg = os.path.join(self.logs, "elsewhere", "stripped.debug")
        subprocess.run(["objcopy", "--only-keep-debug", exe, dbg], check=True)
        subprocess.run(["strip", "--strip-all", exe], check=True)
        bid = build_id(exe)
        dest = "/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:])
        self.assertFalse(os.path.exists(dest), dest)

        # No symbols anywhere: module and offset, never a wrong name.
        target = Target(exe, [2], self.logs)
        self.addCleanup(target.kill)
        prof, run = self.profile(target, name="bare.prof")
        info = self.info(prof, run)
        self.assertFalse(prof.has("thread_work"), info)
        leaf = max(prof.raw.items(), key=lambda kv: kv[1][2])[0]
        self.assertRegex(leaf[2], r"^\[stripped\+0x[0-9a-f]+\]$", info)
        self.assertTrue(leaf[0].endswith("/stripped"), info)

        # The debug file where distributions put it: found by build ID.
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(dbg, dest)
        self.addCleanup(os.unlink, dest)
        os.unlink(dbg)
        prof, run = self.profile(target, name="debug.prof")
        info = self.info(prof, run)
        key = prof.key("thread_work")
        self.assertTrue(key[0].endswith("/tests/targets/threads.c"), info)
        self.assertEqual(key[1], decl_line(THREADS_SRC, r"void thread_work\("), info)
        self.assertEqual(prof.caller_names("thread_work"), ["lane_0", "lane_1"], info)

    def test_plugin_loaded_after_attach(self):
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            self.skipTest("no C compiler")
        src = os.path.join(self.logs, "plugin.c")
        so = os.path.join(self.logs, "libplugin.so")
        with open(src, "w") as f:
            f.write(PLUGIN_SRC)
        subprocess.run([cc, "-O2", "-g", "-shared", "-fPIC", "-o", so, src], check=True)
        trigger = os.path.join(self.logs, "load-now")
        target = self.start_target("dlhost", so, trigger)
        p = self.spawn_sprofd("-p", target.pid, "-F", 200, "-d", 2.5, "-o", self.path("dl.prof"),
                              "-n", 0)
        self.wait_attached(p, target)
        time.sleep(0.3)
        self.assertNotIn("libplugin.so", read_file("/proc/%d/maps" % target.pid))
        open(trigger, "w").close()
        self.assertEqual(read_line(target.proc, 5), b"loaded\n")
        run = self.finish(p)
        prof = self.check_run(run, self.path("dl.prof"), 200, pid=target.pid, table=False)
        info = self.info(prof, run)
        key = prof.key("plugin_work")
        self.assertEqual(os.path.realpath(key[0]), os.path.realpath(src), info)
        self.assertEqual(key[1], PLUGIN_WORK_LINE, info)
        self.assertGreater(prof.self_samples("plugin_work"), 0, info)
        # Unwinding goes on into the host (the unwinder may learn of the
        # new module a little later than the symbolizer: those first
        # samples end at plugin_work).
        self.assertIn("host_call_plugin", prof.caller_names("plugin_work"), info)
        self.assertFalse(prof.has("[unknown]"), info)

    def test_deleted_executable(self):
        exe = self.copy_target("threads", "deleted-threads")
        target = Target(exe, [2], self.logs)
        self.addCleanup(target.kill)
        os.unlink(exe)
        self.assertIn("(deleted)", read_file("/proc/%d/maps" % target.pid))
        prof, run = self.profile(target)
        info = self.info(prof, run)
        # Through /proc/PID/map_files, which root may open.
        if os.geteuid() == 0:
            self.assertGreater(prof.self_samples("thread_work"), 0, info)
            self.assertEqual(prof.caller_names("thread_work"), ["lane_0", "lane_1"], info)
        self.assertFalse([k for k in prof.raw if "(deleted)" in k[0] or "(deleted)" in k[2]],
                         info)

    def test_mount_namespace(self):
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare (util-linux)")
        # The target's executable is on a tmpfs that only its own mount
        # namespace sees; at the same path we see another program.
        d = os.path.join(self.logs, "ns")
        os.mkdir(d)
        shutil.copy2(os.path.join(TARGETS, "recurse"), os.path.join(d, "app"))
        script = ("mount -t tmpfs tmpfs '%s' && cp '%s' '%s/app' && exec '%s/app' 2"
                  % (d, os.path.join(TARGETS, "threads"), d, d))
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

        def stop():
            proc.kill()
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(stop)
        line = read_line(proc, 10)
        if line != b"ready\n":
            why = proc.stderr.read1(4096) if proc.poll() is not None else line
            self.skipTest("cannot start a process in a new mount namespace: %r" % why)
        self.assertNotEqual(os.stat("/proc/%d/ns/mnt" % proc.pid).st_ino,
                            os.stat("/proc/self/ns/mnt").st_ino)
        target = type("T", (), {"pid": proc.pid})
        prof, run = self.profile(target)
        info = self.info(prof, run)
        self.assertGreater(prof.self_samples("thread_work"), 0, info)
        self.assertEqual(prof.key("thread_work")[1], decl_line(THREADS_SRC, r"void thread_work\("))
        self.assertFalse(prof.has("recurse"), info)
        run = self.sprofd("dump", "-p", proc.pid)
        self.assert_ok(run)
        self.assertIn("lane_1 at ", run.out, str(run))

    def test_perf_map_jit(self):
        trigger = os.path.join(self.logs, "second")
        target = self.start_target("jit", trigger)
        perfmap = "/tmp/perf-%d.map" % target.pid
        self.addCleanup(lambda: os.path.exists(perfmap) and os.unlink(perfmap))
        self.assertIn("jit_first", read_file(perfmap, ""))
        p = self.spawn_sprofd("-p", target.pid, "-F", 200, "-d", 2.5, "-o", self.path("jit.prof"),
                              "-n", 0)
        self.wait_attached(p, target)
        time.sleep(0.5)
        # A function generated and announced while sprofd runs.
        open(trigger, "w").close()
        self.assertEqual(read_line(target.proc, 5), b"second\n")
        run = self.finish(p)
        prof = self.check_run(run, self.path("jit.prof"), 200, pid=target.pid, table=False)
        info = self.info(prof, run)
        for fn in ("jit_first", "jit_second", "[anon]"):
            self.assertGreater(prof.self_samples(fn), 0, fn + "\n" + info)
        self.assertEqual(prof.key("jit_first")[0], perfmap, info)
        self.assertEqual(prof.key("[anon]")[0], "", info)
        self.assertFalse(prof.has("[unknown]"), info)
