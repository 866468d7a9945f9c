"""The example configuration (src/sprofd.conf.example): sprofd -t accepts
it, it sets everything to the built-in defaults (so copying it changes
nothing), its commented-out targets are valid once uncommented, and
make install puts it where Debian packages keep examples."""

import os
import re
import shutil
import subprocess

from sprofdtest import ROOT, SprofdTestCase

EXAMPLE = os.path.join(ROOT, "src", "sprofd.conf.example")
EXAMPLES_DIR = os.path.join("share", "doc", "sprofd", "examples")
# Any target: the per-target values only show in one.
ONE_TARGET = "\nTarget probe\n\tProcess pid 1\n"


class ExampleConfTest(SprofdTestCase):
    def write(self, name, text):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def settings(self, path):
        """sprofd -t's effective settings of path, without its header line."""
        run = self.sprofd("-t", "-c", path, timeout=20)
        self.assertEqual(run.rc, 0, run)
        lines = run.out.splitlines()
        self.assertTrue(lines and lines[0].startswith("# effective settings of "), run)
        return lines[1:]

    def example(self):
        with open(EXAMPLE) as f:
            return f.read()

    def test_example_sets_the_defaults(self):
        text = self.example()
        ex = self.write("example.conf", text)
        empty = self.write("empty.conf", "")
        self.assertEqual(self.settings(ex), self.settings(empty))
        # The global defaults for targets, seen through one target.
        ex_t = self.write("example-target.conf", text + ONE_TARGET)
        empty_t = self.write("empty-target.conf", ONE_TARGET)
        got = self.settings(ex_t)
        self.assertIn("Target probe", got)
        self.assertEqual(got, self.settings(empty_t))

    def test_example_targets_are_commented_out_and_valid(self):
        text = self.example()
        self.assertNotRegex(text, re.compile(r"^\s*Target\b", re.M | re.I))
        targets = re.findall(r"^#Target (\S+)$", text, re.M)
        self.assertGreaterEqual(len(targets), 2, "the README's example targets")
        # Uncommented, each is a target sprofd -t takes as written.
        live = re.sub(r"^#(Target |\t)", r"\1", text, flags=re.M)
        got = self.settings(self.write("live.conf", live))
        for name in targets:
            self.assertIn("Target %s" % name, got)
        web = got[got.index("Target web"):]
        self.assertIn("\tProcess pidfile /run/nginx.pid", web)
        self.assertIn("\tJitter 1m", web)
        self.assertIn("\tMaxFiles 500", web)
        self.assertIn("\tMaxAge 7d", web)

    def test_make_install_and_uninstall(self):
        make = shutil.which("make")
        if not make:
            self.skipTest("make is not installed")
        stage = self.path("stage")

        def run_make(goal):
            p = subprocess.run([make, "-s", "-C", ROOT, goal, "DESTDIR=" + stage, "prefix=/usr"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
            self.assertEqual(p.returncode, 0, "make %s:\n%s" % (goal, p.stdout))

        run_make("install")
        installed = os.path.join(stage, "usr", EXAMPLES_DIR, "sprofd.conf")
        with open(installed) as f:
            self.assertEqual(f.read(), self.example())
        self.assertEqual(os.stat(installed).st_mode & 0o777, 0o644)
        self.assertEqual(self.settings(installed), self.settings(self.write("empty.conf", "")))

        run_make("uninstall")
        left = [os.path.join(d, f) for d, _, files in os.walk(stage) for f in files]
        self.assertEqual(left, [], "make uninstall left files behind")
        self.assertFalse(os.path.exists(os.path.dirname(installed)))
