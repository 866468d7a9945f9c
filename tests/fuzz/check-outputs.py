#!/usr/bin/env python3
"""Loads every .prof that the writers fuzz target saved (SPROFD_FUZZ_OUT)
with Python's own pstats module, and checks that pstats sees what the
profile held (NAME.json): every function as an entry of its own, every
caller edge, the samples as the root's calls, and the total time. Also
gunzips each .pb.gz. Usage: check-outputs.py DIR"""

import glob
import gzip
import json
import math
import os
import pstats
import sys

ROOT = ("~", 0, "<all samples>")


def check(base):
    """Returns a list of problems with base.prof and base.pb.gz."""
    with open(base + ".json") as f:
        want = json.load(f)
    problems = []
    try:
        st = pstats.Stats(base + ".prof")
    except Exception as e:  # pstats raises whatever marshal or its own code raise
        return ["pstats cannot load it: %r" % e]
    total, interval = want["total"], want["interval"]
    if len(st.stats) != want["nfuncs"]:
        problems.append("%d entries in pstats, %d functions written (keys collide?)"
                        % (len(st.stats), want["nfuncs"]))
    edges = sum(len(v[4]) for v in st.stats.values())
    if edges != want["nedges"]:
        problems.append("%d caller edges in pstats, %d written" % (edges, want["nedges"]))
    root = st.stats.get(ROOT)
    if root is None:
        problems.append("no root entry %r" % (ROOT,))
    elif root[0] != total or root[1] != total:
        problems.append("root has cc %d nc %d, expected %d samples" % (root[0], root[1], total))
    if not math.isclose(st.total_tt, total * interval, rel_tol=1e-9, abs_tol=1e-12):
        problems.append("total time %r, expected %r" % (st.total_tt, total * interval))
    for func, (cc, nc, tt, ct, callers) in st.stats.items():
        if not math.isclose(ct, cc * interval, rel_tol=1e-9, abs_tol=1e-12):
            problems.append("%r: ct %r for %d samples" % (func, ct, cc))
            break
        if nc < cc or tt > ct * (1 + 1e-9):
            problems.append("%r: counts (%d, %d, %r, %r) do not fit" % (func, cc, nc, tt, ct))
            break
    try:
        with gzip.open(base + ".pb.gz") as f:
            if not f.read():
                problems.append("empty pprof profile")
    except (OSError, EOFError) as e:
        problems.append("the .pb.gz does not gunzip: %s" % e)
    return problems


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    bases = sorted(p[:-len(".json")] for p in glob.glob(os.path.join(sys.argv[1], "*.json")))
    if not bases:
        sys.exit("check-outputs: no profiles in %s" % sys.argv[1])
    bad = 0
    for base in bases:
        problems = check(base)
        if problems:
            bad += 1
            print("check-outputs: %s.prof:" % base)
            for p in problems:
                print("    " + p)
    print("check-outputs: %d of %d .prof files load in pstats with the totals written%s"
          % (len(bases) - bad, len(bases), "" if not bad else "; %d do not" % bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
