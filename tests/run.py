#!/usr/bin/env python3
"""Runs sprofd's tests: the Check unit tests (tests/unit/run-unit), then the
end-to-end suite (unittest discovery in tests/e2e), and closes with one line
"N passed, N failed[, N skipped]" counting unit checks and e2e tests. Exits
non-zero when anything failed.

Usage: tests/run.py [--unit-only | --e2e-only] [-k PATTERN]...

-k keeps the e2e tests whose full name (module.Class.test) matches PATTERN,
a shell-style pattern, or a plain substring; it may be repeated.

Environment: SPROFD names the binary under test (default ./sprofd);
SPROFD_WRAP a command to run it under in the e2e tests (for example
"valgrind -q --error-exitcode=99"); UNIT_WRAP the same for the unit
runner, and UNIT_TIMEOUT its time limit in seconds (default 600);
SPROFD_TEST_KEEP=1 keeps each test's temporary directory; CK_FORK and the
other Check variables reach the unit runner unchanged.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNIT = os.path.join(ROOT, "tests", "unit", "run-unit")
E2E = os.path.join(ROOT, "tests", "e2e")
UNIT_WRAP = shlex.split(os.environ.get("UNIT_WRAP", ""))
UNIT_TIMEOUT = int(os.environ.get("UNIT_TIMEOUT", "600"))

SUMMARY_RE = re.compile(r"(\d+)%: Checks: (\d+), Failures: (\d+), Errors: (\d+)")


def run_unit():
    """Runs the unit binary; returns (passed, failed)."""
    print("== unit tests: %s" % os.path.relpath(UNIT, ROOT), flush=True)
    if not os.access(UNIT, os.X_OK):
        print("run.py: %s is not built (run: make tests/unit/run-unit)" % UNIT, flush=True)
        return 0, 1
    try:
        p = subprocess.run(UNIT_WRAP + [UNIT], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=UNIT_TIMEOUT)
        out, rc = p.stdout.decode(errors="replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        rc = None
    sys.stdout.write(out)
    if out and not out.endswith("\n"):
        sys.stdout.write("\n")
    m = None
    for m in SUMMARY_RE.finditer(out):
        pass
    if rc is None:
        print("run.py: unit tests timed out after %d s" % UNIT_TIMEOUT, flush=True)
    if not m:
        # Crashed or hung before Check could summarize: one failure, so that
        # the total cannot look clean.
        print("run.py: no Check summary from the unit tests (exit %s)" % rc, flush=True)
        return 0, 1
    checks, failures, errors = int(m.group(2)), int(m.group(3)), int(m.group(4))
    failed = failures + errors
    if rc != 0 and failed == 0:
        print("run.py: unit tests exited %s despite a clean summary" % rc, flush=True)
        failed = 1
    return checks - failures - errors, failed


def test_id(test):
    """The id of a test, or of the test that a subtest belongs to."""
    return getattr(test, "test_case", test).id()


def run_e2e(patterns):
    """Runs the e2e suite; returns (passed, failed, skipped)."""
    print("== e2e tests: %s" % os.path.relpath(E2E, ROOT), flush=True)
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = [p if "*" in p else "*%s*" % p for p in patterns]
    try:
        suite = loader.discover(E2E, pattern="test_*.py", top_level_dir=E2E)
    except ImportError as e:
        print("run.py: cannot load the e2e tests: %s" % e, flush=True)
        return 0, 1, 0
    if suite.countTestCases() == 0:
        print("run.py: no e2e test matches %s" % " ".join(patterns), flush=True)
        return 0, 1, 0
    t0 = time.monotonic()
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    sys.stdout.flush()
    # Count tests, not reports: a test with several failing subtests, or
    # failing both in its body and in its cleanup, fails once.
    failed_ids = {test_id(t) for t, _ in result.failures + result.errors}
    failed_ids |= {test_id(t) for t in result.unexpectedSuccesses}
    skipped_ids = {test_id(t) for t, _ in result.skipped} - failed_ids
    # Errors in setUpClass and the like are reported against a pseudo-test
    # that testsRun does not count.
    ran = result.testsRun + len([i for i in failed_ids if not i.startswith("test_")])
    failed, skipped = len(failed_ids), len(skipped_ids)
    passed = max(0, ran - failed - skipped - len(result.expectedFailures))
    print("e2e: %d tests in %.1f s" % (result.testsRun, time.monotonic() - t0), flush=True)
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser(description="Run sprofd's unit and end-to-end tests.")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--unit-only", action="store_true", help="run only the unit tests")
    only.add_argument("--e2e-only", action="store_true", help="run only the e2e tests")
    ap.add_argument("-k", dest="patterns", action="append", default=[], metavar="PATTERN",
                    help="run only e2e tests whose name matches PATTERN (repeatable)")
    args = ap.parse_args()
    os.chdir(ROOT)

    passed = failed = skipped = 0
    if not args.e2e_only:
        p, f = run_unit()
        passed, failed = passed + p, failed + f
    if not args.unit_only:
        p, f, s = run_e2e(args.patterns)
        passed, failed, skipped = passed + p, failed + f, skipped + s
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
