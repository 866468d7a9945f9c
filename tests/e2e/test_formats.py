"""Every output format from one run, read back by the tools people use
(go tool pprof, callgrind_annotate, a headless Chromium) and by readers of
our own, and checked against the .prof of the same run: same samples, same
functions, same shares. Tools that are missing make their tests skip, with
the package to install."""

import gzip
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import urllib.parse
import xml.etree.ElementTree as ET
import zlib
from collections import Counter, defaultdict

from sprofdtest import (EXIT_USAGE, ROOT_KEY, SprofdTestCase, WROTE_RE, parse_int,
                        read_file, source_line, tasks)

HZ = 500
ALL = "prof,pprof,collapsed,callgrind,svg"
SVG_NS = "{http://www.w3.org/2000/svg}"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GO = shutil.which("go")
CALLGRIND_ANNOTATE = shutil.which("callgrind_annotate")


# -- readers of our own -------------------------------------------------------

def read_varint(buf, pos):
    v = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7


def pb_fields(buf):
    """(field, wire type, value) of a protobuf message; value is an int or
    the bytes of a length-delimited field."""
    pos, out = 0, []
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = read_varint(buf, pos)
        elif wire == 2:
            n, pos = read_varint(buf, pos)
            v = buf[pos:pos + n]
            if len(v) != n:
                raise ValueError("field %d runs past the end" % field)
            pos += n
        else:
            raise ValueError("wire type %d" % wire)
        out.append((field, wire, v))
    return out


def packed(v):
    """Values of a packed repeated varint field (or one unpacked value)."""
    if isinstance(v, int):
        return [v]
    pos, out = 0, []
    while pos < len(v):
        x, pos = read_varint(v, pos)
        out.append(x)
    return out


def read_pprof(path):
    """A decoded profile.proto: strings, samples (location ids leaf first,
    values, labels), locations (id -> (mapping, address, [(function, line)])),
    functions (id -> (name, file, start line)), mappings and the rest."""
    with open(path, "rb") as f:
        data = gzip.decompress(f.read())
    p = {"strings": [], "samples": [], "locations": {}, "functions": {}, "mappings": {},
         "sample_types": [], "comments": []}
    raw = pb_fields(data)
    for field, _, v in raw:
        if field == 6:
            p["strings"].append(v.decode("utf-8", "replace"))
    s = p["strings"]
    for field, _, v in raw:
        if field == 1:
            d = dict((f, x) for f, _, x in pb_fields(v))
            p["sample_types"].append((s[d.get(1, 0)], s[d.get(2, 0)]))
        elif field == 2:
            locs, vals, labels = [], [], {}
            for f, _, x in pb_fields(v):
                if f == 1:
                    locs += packed(x)
                elif f == 2:
                    vals += packed(x)
                elif f == 3:
                    d = dict((g, y) for g, _, y in pb_fields(x))
                    labels[s[d.get(1, 0)]] = s[d[2]] if 2 in d else d.get(3, 0)
            p["samples"].append((locs, vals, labels))
        elif field == 3:
            d = dict((f, x) for f, _, x in pb_fields(v))
            p["mappings"][d[1]] = (d.get(2, 0), d.get(3, 0), s[d.get(5, 0)], s[d.get(6, 0)])
        elif field == 4:
            lid, mapping, addr, lines = 0, 0, 0, []
            for f, _, x in pb_fields(v):
                if f == 1:
                    lid = x
                elif f == 2:
                    mapping = x
                elif f == 3:
                    addr = x
                elif f == 4:
                    d = dict((g, y) for g, _, y in pb_fields(x))
                    lines.append((d.get(1, 0), d.get(2, 0)))
            p["locations"][lid] = (mapping, addr, lines)
        elif field == 5:
            d = dict((f, x) for f, _, x in pb_fields(v))
            p["functions"][d[1]] = (s[d.get(2, 0)], s[d.get(4, 0)], d.get(5, 0))
        elif field == 12:
            p["period"] = v
        elif field == 10:
            p["duration"] = v
        elif field == 13:
            p["comments"].append(s[v])
    return p


def pprof_stacks(p):
    """Counter of stacks (tuples of function names, outermost first) with
    their sample counts."""
    out = Counter()
    for locs, vals, _ in p["samples"]:
        names = []
        for lid in locs:
            for fid, _ in p["locations"][lid][2]:
                names.append(p["functions"][fid][0])
        out[tuple(reversed(names))] += vals[0]
    return out


def read_collapsed(path):
    """Counter of stacks (tuples of frames, outermost first)."""
    out = Counter()
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            out[tuple(stack.split(";"))] += int(count)
    return out


def read_callgrind(path):
    """Our own reading of a callgrind file: (header dict, self cost per
    function name, calls as {(caller, callee): (count, inclusive cost)})."""
    header, selfc, calls = {}, Counter(), defaultdict(lambda: [0, 0])
    names = {}
    fn = cfn = None
    pending = None

    def name(kind, text):
        m = re.match(r"\((\d+)\)(?: (.*))?$", text)
        if not m:
            return text
        key = (kind, m.group(1))
        if m.group(2) is not None:
            names[key] = m.group(2)
        return names[key]

    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if re.match(r"^[a-z]+: ", line) and not line[0].isdigit():
                k, _, v = line.partition(": ")
                header.setdefault(k, v)
                continue
            key, eq, val = line.partition("=")
            if eq and key in ("ob", "cob"):
                name("ob", val)
            elif eq and key in ("fl", "cfl", "fi", "fe", "cfi"):
                name("fl", val)
            elif eq and key == "fn":
                fn = name("fn", val)
            elif eq and key == "cfn":
                cfn = name("fn", val)
            elif eq and key == "calls":
                pending = int(val.split()[0])
            else:
                pos, cost = line.split()
                if pending is not None:
                    calls[(fn, cfn)][0] += pending
                    calls[(fn, cfn)][1] += int(cost)
                    pending = None
                else:
                    selfc[fn] += int(cost)
    return header, selfc, dict(calls)


def frames_of(collapsed):
    """Per frame name: samples with it anywhere on the stack (pstats' cc)."""
    cc = Counter()
    for stack, n in collapsed.items():
        for name in set(stack):
            cc[name] += n
    return cc


def png_rows(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB(A) PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 4 if ctype == 6 else 3
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pr) & 0xFF
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def svg_frames(root):
    """The frames of a flame graph: (name, samples, x, y, width, fill)."""
    out = []
    for g in root.iter(SVG_NS + "g"):
        title, rect = g.find(SVG_NS + "title"), g.find(SVG_NS + "rect")
        if title is None or rect is None:
            continue
        m = re.match(r"^(.*) \(([\d,]+) samples?, ([\d.]+)%\)$", title.text)
        out.append((m.group(1), parse_int(m.group(2)), float(rect.get("x")),
                    float(rect.get("y")), float(rect.get("width")), rect.get("fill")))
    return out


def chromium(args, timeout=120):
    """Runs headless Chromium with a fresh profile directory; returns
    (stdout, stderr)."""
    ud = tempfile.mkdtemp(prefix="sprofd-chromium-")
    try:
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + ud,
                "--force-device-scale-factor=1", "--hide-scrollbars",
                "--enable-logging=stderr", "--v=0"] + args
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, text=True,
                           errors="replace")
        return p.stdout, p.stderr
    finally:
        shutil.rmtree(ud, True)


def console_lines(stderr):
    return [l for l in stderr.splitlines() if ":CONSOLE" in l]


# -- the tests ----------------------------------------------------------------

class FormatsTest(SprofdTestCase):
    """One run of the split target (hot_a 70%, hot_b 30% by construction)
    with every format; then every reader against the .prof."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="sprofd-e2e-formats-")
        os.chmod(cls.dir, 0o755)
        if not os.environ.get("SPROFD_TEST_KEEP"):
            cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.out = {}

    def run_split(self):
        """The shared run, made by the first test that needs it."""
        if self.out:
            return self.out
        target = self.start_target("split")
        prof = os.path.join(self.dir, "t.prof")
        run = self.sprofd("-p", target.pid, "-F", HZ, "-d", 1.5, "-o", prof, "-f", ALL, "-n", 0,
                          cwd=self.dir)
        self.assert_ok(run)
        wrote = [WROTE_RE.match(l.strip()) for l in run.err.splitlines()]
        wrote = [m.group("path") for m in wrote if m]
        base = os.path.join(self.dir, "t")
        cg = "callgrind.out.split.%d." % target.pid
        cgs = [f for f in os.listdir(self.dir) if f.startswith(cg)]
        self.assertEqual(len(cgs), 1, "callgrind file %s* in %r" % (cg, os.listdir(self.dir)))
        cgpath = os.path.join(self.dir, cgs[0])
        self.assertEqual(wrote, [prof, base + ".pb.gz", base + ".folded", cgpath, base + ".svg"],
                         str(run))
        type(self).out.update(run=run, pid=target.pid, prof=prof, pprof=base + ".pb.gz",
                              collapsed=base + ".folded", callgrind=cgpath, svg=base + ".svg",
                              P=self.load_profile(prof, HZ))
        return self.out

    def unique_names(self, prof):
        """Functions whose name is unique in the .prof (others cannot be
        compared by name), without the root."""
        n = Counter(k[2] for k in prof.raw)
        return [k[2] for k in prof.raw if n[k[2]] == 1 and k != ROOT_KEY]

    def test_same_totals_everywhere(self):
        """Same run, same samples: every format adds up to the .prof's
        total, and every function has the same self and total samples."""
        o = self.run_split()
        P = o["P"]
        total = P.total
        # Enough samples for the comparisons to mean something; in cpu mode
        # a target starved by a loaded machine (or sprofd under valgrind)
        # yields far fewer than 500 Hz x 1.5 s.
        self.assertGreater(total, 10, "too few samples:\n%s" % o["run"])
        names = self.unique_names(P)
        self.assertIn("hot_a", names)

        col = read_collapsed(o["collapsed"])
        self.assertEqual(sum(col.values()), total, "collapsed total")
        col_cc, col_self = frames_of(col), Counter()
        for stack, n in col.items():
            col_self[stack[-1]] += n

        pp = read_pprof(o["pprof"])
        self.assertEqual(pp["strings"][0], "")
        self.assertEqual(pp["sample_types"], [("samples", "count"), ("cpu", "nanoseconds")])
        self.assertEqual(pp["period"], 1000000000 // HZ)
        self.assertEqual(sum(v[0] for _, v, _ in pp["samples"]), total, "pprof total")
        self.assertEqual(sum(v[1] for _, v, _ in pp["samples"]), total * 1000000000 // HZ)
        pps = pprof_stacks(pp)
        # Collapsed stacks and pprof's are the same stacks.
        self.assertEqual(pps, col, "pprof and collapsed stacks differ")

        hdr, cg_self, cg_calls = read_callgrind(o["callgrind"])
        self.assertEqual(int(hdr["summary"]), total)
        self.assertEqual(int(hdr["totals"]), total)
        self.assertEqual(sum(cg_self.values()), total, "callgrind self costs")

        root = ET.parse(o["svg"]).getroot()
        frames = svg_frames(root)
        self.assertEqual([f for f in frames if f[0] == "all"][0][1], total)

        for name in names:
            cc, tt = P.cc(name), P.self_samples(name)
            self.assertEqual(col_cc[name], cc, "collapsed cc of %s" % name)
            self.assertEqual(col_self[name], tt, "collapsed self of %s" % name)
            self.assertEqual(cg_self.get(name, 0), tt, "callgrind self of %s" % name)
            # Without recursion, the calls into a function add up to its
            # samples; the outermost frame has no caller.
            into = sum(c[1] for (a, b), c in cg_calls.items() if b == name)
            if into:
                self.assertEqual(into, cc, "callgrind calls into %s" % name)
            # The flame graph has each function once per distinct path.
            self.assertEqual(sum(f[1] for f in frames if f[0] == name), cc,
                             "svg samples of %s" % name)

    def test_pprof_layout(self):
        """Locations carry their mapping and lines; functions their file
        and line; mappings the build ID of the binary; threads are labels."""
        o = self.run_split()
        pp = read_pprof(o["pprof"])
        fnames = {fid: f[0] for fid, f in pp["functions"].items()}
        hot = [fid for fid, f in pp["functions"].items() if f[0] == "hot_a"]
        self.assertEqual(len(hot), 1)
        name, path, start = pp["functions"][hot[0]]
        self.assertTrue(path.endswith("tests/targets/split.c"), path)
        self.assertEqual(start, o["P"].key("hot_a")[1])
        # The binary's mapping, with the ID that readelf reports.
        maps = [m for m in pp["mappings"].values() if m[2].endswith("/tests/targets/split")]
        self.assertEqual(len(maps), 1, pp["mappings"])
        readelf = shutil.which("readelf") or shutil.which("eu-readelf")
        if readelf:
            out = subprocess.run([readelf, "-n", maps[0][2]], stdout=subprocess.PIPE, text=True,
                                 check=False).stdout
            m = re.search(r"Build ID: ([0-9a-f]+)", out)
            self.assertIsNotNone(m, out)
            self.assertEqual(maps[0][3], m.group(1))
        mid = [k for k, v in pp["mappings"].items() if v == maps[0]][0]
        for lid, (mapping, addr, lines) in pp["locations"].items():
            if any(fnames[f] == "hot_a" for f, _ in lines):
                self.assertEqual(mapping, mid)
                self.assertTrue(maps[0][0] <= addr < maps[0][1], hex(addr))
        # Every sample says which thread.
        for _, _, labels in pp["samples"]:
            self.assertEqual(labels.get("thread_id"), o["pid"])
            self.assertEqual(labels.get("thread_name"), "split")
        self.assertTrue(any("PID %d (split)" % o["pid"] in c for c in pp["comments"]),
                        pp["comments"])

    @unittest.skipUnless(GO, "go tool pprof is missing (apt-get install golang-go)")
    def test_go_tool_pprof(self):
        """go tool pprof reads the file; -top agrees with the .prof, and
        -traces lists the same stacks as the collapsed file."""
        o = self.run_split()
        P = o["P"]
        env = dict(os.environ, PPROF_TMPDIR=self.dir, HOME=self.dir, GOFLAGS="",
                   PPROF_BINARY_PATH=self.dir)
        p = subprocess.run([GO, "tool", "pprof", "-top", "-sample_index=samples",
                            "-nodecount=100000", "-nodefraction=0", "-edgefraction=0",
                            o["pprof"]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        m = re.search(r"Showing nodes accounting for (\d+), [\d.]+% of (\d+) total", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertEqual(int(m.group(2)), P.total, p.stdout)
        rows = {}
        for line in p.stdout.splitlines():
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[0].isdigit() and parts[3].isdigit():
                rows[parts[5]] = (int(parts[0]), int(parts[3]))
        for name in self.unique_names(P):
            self.assertIn(name, rows, p.stdout)
            self.assertEqual(rows[name], (P.self_samples(name), P.cc(name)),
                             "%s: pprof flat/cum vs .prof tt/cc\n%s" % (name, p.stdout))

        p = subprocess.run([GO, "tool", "pprof", "-traces", "-sample_index=samples", o["pprof"]],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        traces = Counter()
        for block in p.stdout.split("-----------+-------------------------------------------------------")[1:]:
            lines = [l for l in block.splitlines() if l.strip()]
            frames, count = [], None
            for l in lines:
                if re.match(r"^\s*\S+:\s", l) and count is None:
                    continue   # labels
                m = re.match(r"^\s*(\d+)\s+(.*)$", l)
                if m and count is None:
                    count = int(m.group(1))
                    frames.append(m.group(2).strip())
                elif count is not None:
                    frames.append(l.strip())
            if count is not None:
                traces[tuple(reversed(frames))] += count
        self.assertEqual(traces, read_collapsed(o["collapsed"]), p.stdout)
        self.assertIn("thread_id:", p.stdout)

    @unittest.skipUnless(CALLGRIND_ANNOTATE, "callgrind_annotate is missing (apt-get install valgrind)")
    def test_callgrind_annotate(self):
        """valgrind's callgrind_annotate reads the file; its totals and its
        per-function self and inclusive costs agree with the .prof."""
        o = self.run_split()
        P = o["P"]
        for inclusive in ("no", "yes"):
            p = subprocess.run([CALLGRIND_ANNOTATE, "--auto=no", "--threshold=100",
                                "--inclusive=" + inclusive, o["callgrind"]],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120, cwd=self.dir)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, "", "callgrind_annotate complained")
            m = re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", p.stdout, re.M)
            self.assertIsNotNone(m, p.stdout)
            self.assertEqual(parse_int(m.group(1)), P.total)
            rows = {}
            for line in p.stdout.splitlines():
                m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*?):(\S+) \[.*\]$", line)
                if m:
                    rows[m.group(3)] = parse_int(m.group(1))
            for name in ("hot_a", "hot_b", "work", "main"):
                want = P.self_samples(name) if inclusive == "no" else P.cc(name)
                self.assertEqual(rows.get(name, 0), want,
                                 "%s (inclusive=%s)\n%s" % (name, inclusive, p.stdout))

    def test_svg_widths(self):
        """The flame graph parses as XML; every frame is as wide as its
        share of the samples, children within their parents."""
        o = self.run_split()
        P = o["P"]
        root = ET.parse(o["svg"]).getroot()
        self.assertEqual(root.tag, SVG_NS + "svg")
        width = float(root.get("width"))
        frames = svg_frames(root)
        full = width - 20
        for name, n, x, y, w, fill in frames:
            self.assertAlmostEqual(w, full * n / P.total, delta=0.06, msg=name)
        a = [f for f in frames if f[0] == "hot_a"]
        b = [f for f in frames if f[0] == "hot_b"]
        work = [f for f in frames if f[0] == "work"]
        self.assertEqual((len(a), len(b), len(work)), (1, 1, 1))
        share = P.cc("hot_a") / P.total
        self.assertAlmostEqual(a[0][4] / full, share, delta=0.001)
        # hot_a and hot_b sit side by side on top of work, in name order.
        self.assertEqual(a[0][3], b[0][3])
        self.assertEqual(a[0][3], work[0][3] - 16)
        self.assertAlmostEqual(a[0][2], work[0][2], delta=0.06)
        self.assertAlmostEqual(b[0][2], a[0][2] + a[0][4], delta=0.11)
        self.assertIsNotNone(root.find(SVG_NS + "script"))
        # Self-contained: no link to anything.
        text = read_file(o["svg"])
        self.assertNotIn("href", text)
        self.assertEqual(text.count("http"), text.count("http://www.w3.org/2000/svg"))

    @unittest.skipUnless(CHROMIUM, "chromium is missing (apt-get install chromium)")
    def test_svg_in_chromium(self):
        """A headless Chromium opens the flame graph without console errors,
        draws the frames where the file says and as wide as their shares,
        and zooms and searches when the address asks it to."""
        o = self.run_split()
        P = o["P"]
        root = ET.parse(o["svg"]).getroot()
        W, H = int(root.get("width")), int(root.get("height"))
        url = "file://" + urllib.parse.quote(o["svg"])
        shot = os.path.join(self.dir, "shot.png")
        _, err = chromium(["--window-size=%d,%d" % (W, H), "--screenshot=" + shot, url])
        self.assertEqual(console_lines(err), [], err)
        self.assertTrue(os.path.isfile(shot), err)
        w, h, rows = png_rows(shot)
        self.assertEqual((w, h), (W, H))

        def near(px, rgb):
            return all(abs(px[i] - rgb[i]) <= 8 for i in range(3))

        frames = svg_frames(root)
        drawn = 0
        for name, n, x, y, fw, fill in frames:
            if fw < 20:
                continue
            rgb = tuple(int(fill[i:i + 2], 16) for i in (1, 3, 5))
            row = rows[int(y) + 1]   # above the text
            xs = [i for i in range(w) if near(row[i], rgb)]
            # The frame's colour runs from its left edge for its width.
            run = [i for i in xs if x - 1 <= i <= x + fw + 1]
            self.assertGreaterEqual(len(run), fw - 3,
                                    "%s: %d px of colour %s, width %.1f" % (name, len(run), fill, fw))
            if name in ("hot_a", "hot_b"):
                self.assertAlmostEqual(len(run) / (W - 20), P.cc(name) / P.total, delta=0.01,
                                       msg=name)
            drawn += 1
        self.assertGreaterEqual(drawn, 7)

        # ?f=hot_b zooms into hot_b: it spans the width, its ancestors are
        # faded, hot_a is hidden; ?s= searches and reports the share.
        out, err = chromium(["--dump-dom", url + "?f=hot_b&s=%5Ehot_a%24"])
        self.assertEqual(console_lines(err), [], err)
        dom = ET.fromstring(out)
        self.assertEqual(dom.get("data-ready"), str(len(frames)), out[:500])
        state = {}
        for g in dom.iter(SVG_NS + "g"):
            t, r = g.find(SVG_NS + "title"), g.find(SVG_NS + "rect")
            if t is not None and r is not None:
                state[t.text.rsplit(" (", 1)[0]] = (g.get("class"), float(r.get("width")),
                                                    r.get("fill"))
        self.assertEqual(state["hot_b"][:2], ("", W - 20.0))
        self.assertEqual(state["work"][:2], ("above", W - 20.0))
        self.assertEqual(state["hot_a"][0], "off")
        self.assertEqual(state["hot_a"][2], "#e040e0")
        self.assertAlmostEqual(float(dom.get("data-matched")),
                               100.0 * P.cc("hot_a") / P.total, delta=0.1)


class ThreadViewTest(SprofdTestCase):
    """--threads: each thread, with its id and name, is the outermost frame
    in every format."""

    def test_threads_everywhere(self):
        target = self.start_target("threads", 3)
        prof = self.path("t.prof")
        run = self.sprofd("-p", target.pid, "-F", 200, "-d", 1.5, "-o", prof, "-f", ALL,
                          "--threads", "-n", 0)
        P = self.check_run(run, prof, 200, pid=target.pid, comm="threads", table=False)
        names = {}
        for tid in tasks(target.pid):
            names[tid] = read_file("/proc/%d/task/%d/comm" % (target.pid, tid)).strip()
        want = {"thread %d (%s)" % (t, n) for t, n in names.items()}
        workers = {"thread %d (%s)" % (t, n) for t, n in names.items() if n.startswith("worker-")}
        self.assertEqual(len(workers), 3, names)

        # .prof: the threads are called by the root and call the rest.
        threads = [k for k in P.raw if k[2].startswith("thread ")]
        self.assertTrue(workers <= {k[2] for k in threads}, (threads, want))
        self.assertTrue({k[2] for k in threads} <= want, (threads, want))
        for k in threads:
            self.assertEqual(k[0], "~")
            self.assertEqual(list(P.raw[k][4]), [ROOT_KEY])
        self.assertEqual(sum(P.raw[k][0] for k in threads), P.total)

        col = read_collapsed(self.path("t.folded"))
        self.assertEqual(sum(col.values()), P.total)
        for stack in col:
            self.assertIn(stack[0], want, stack)
        pp = read_pprof(self.path("t.pb.gz"))
        self.assertEqual(pprof_stacks(pp), col)
        for locs, _, labels in pp["samples"]:
            outer = pp["locations"][locs[-1]]
            self.assertEqual(outer[1], 0)
            fname = pp["functions"][outer[2][0][0]][0]
            self.assertEqual(fname, "thread %d (%s)" % (labels["thread_id"],
                                                        labels["thread_name"]))
        _, cg_self, cg_calls = read_callgrind(
            self.path("callgrind.out.threads.%d.%s" % (target.pid, prof_time(run))))
        self.assertEqual(sum(c[1] for (a, b), c in cg_calls.items() if a in want), P.total)
        frames = svg_frames(ET.parse(self.path("t.svg")).getroot())
        self.assertEqual(sum(f[1] for f in frames if f[0] in want), P.total)


def prof_time(run):
    """The unix time in the callgrind file name that run wrote."""
    for line in run.err.splitlines():
        m = re.search(r"callgrind\.out\.[^ ]*\.(\d+) \(", line)
        if m:
            return m.group(1)
    raise AssertionError("no callgrind file in\n%s" % run)


class RecursionTest(SprofdTestCase):
    """Deep recursion: every format keeps whole stacks, and callgrind's
    calls count every level, as valgrind's own files do."""

    def test_recursion(self):
        depth = 20
        target = self.start_target("recurse", depth)
        prof = self.path("r.prof")
        run = self.sprofd("-p", target.pid, "-F", 300, "-d", 1, "-o", prof, "-f",
                          "prof,collapsed,callgrind,svg", "-n", 0)
        P = self.check_run(run, prof, 300, pid=target.pid, comm="recurse", table=False)
        col = read_collapsed(self.path("r.folded"))
        self.assertEqual(sum(col.values()), P.total)
        nc = sum(stack.count("recurse") * n for stack, n in col.items())
        self.assertEqual(nc, P.nc("recurse"))
        self.assertEqual(frames_of(col)["recurse"], P.cc("recurse"))
        deepest = max(stack.count("recurse") for stack in col)
        self.assertEqual(deepest, depth + 1)
        cgname = [f for f in os.listdir(self.tmp) if f.startswith("callgrind.out.recurse.")][0]
        _, cg_self, cg_calls = read_callgrind(self.path(cgname))
        self.assertEqual(sum(cg_self.values()), P.total)
        # recurse -> recurse: one call per level below the first.
        self.assertEqual(cg_calls[("recurse", "recurse")][1], P.nc("recurse") - P.cc("recurse"))
        # From outside, the calls into recurse add up to its samples, as
        # KCachegrind counts a recursive function's inclusive cost.
        outside = sum(c[1] for (a, b), c in cg_calls.items() if b == "recurse" and a != "recurse")
        self.assertEqual(outside, P.cc("recurse"))
        frames = svg_frames(ET.parse(self.path("r.svg")).getroot())
        self.assertEqual(sum(f[1] for f in frames if f[0] == "recurse"), P.nc("recurse"))


class LinesTest(SprofdTestCase):
    """--lines: one .prof entry per (file, line, function), still valid
    pstats with the same totals; other formats show the lines too."""

    def test_lines(self):
        target = self.start_target("split")
        prof = self.path("l.prof")
        run = self.sprofd("-p", target.pid, "-F", HZ, "-d", 1, "-o", prof, "-f",
                          "prof,collapsed", "--lines", "-n", 0)
        P = self.check_run(run, prof, HZ, pid=target.pid, comm="split", table=False)
        keys = P.keys("hot_a")
        self.assertTrue(keys, P.top())
        col = read_collapsed(self.path("l.folded"))
        self.assertEqual(sum(col.values()), P.total)
        decl = source_line("split", "hot_a")
        if {k[1] for k in keys} == {decl}:
            self.skipTest("no sampled lines from the symbolizer (declaration lines only)")
        # hot_a's samples fall on lines of its body, and the collapsed
        # frames say the same lines with the same samples.
        for k in keys:
            self.assertTrue(decl <= k[1] <= decl + 8, (k, decl))
        leaf = Counter()
        for stack, n in col.items():
            m = re.match(r"^hot_a \(split\.c:(\d+)\)$", stack[-1])
            if m:
                leaf[int(m.group(1))] += n
        want = {k[1]: round(P.raw[k][2] * HZ) for k in keys if P.raw[k][2] > 0}
        self.assertEqual(dict(leaf), want)


class NamesTest(SprofdTestCase):
    """File names without -o, the wrote lines, and -f errors."""

    def test_default_names(self):
        target = self.start_target("split")
        run = self.sprofd("-p", target.pid, "-F", 200, "-d", 0.5, "-f",
                          "collapsed,callgrind,icicle,pprof", "-n", 0)
        self.assert_ok(run)
        wrote = [WROTE_RE.match(l.strip()) for l in run.err.splitlines()]
        paths = [m.group("path") for m in wrote if m]
        self.assertEqual(len(paths), 4, str(run))
        stem = paths[0][:-len(".folded")]
        self.assertRegex(stem, r"^split\.%d\.\d+$" % target.pid)
        self.assertEqual(paths, [stem + ".folded", "callgrind.out." + stem, stem + ".icicle.svg",
                                 stem + ".pb.gz"])
        self.assertEqual(sorted(self.tmp_files()), sorted(paths))
        counts = {parse_int(m.group("samples")) for m in wrote if m}
        self.assertEqual(len(counts), 1)

    def test_bad_format(self):
        run = self.sprofd("-p", os.getpid(), "-f", "prof,flame")
        self.assert_error(run, EXIT_USAGE, r"-f prof,flame: unknown format 'flame'; the "
                          r"formats are prof, pprof, collapsed, callgrind, svg or icicle")
