#!/usr/bin/env python3
"""Writes tests/unit/pylines_fixtures.h: line tables of one function as
real interpreters compiled it, with the line of every instruction offset
as that interpreter itself says (dis for 3.8/3.9, co_lines() from 3.10),
for test_pycode.c. Run it with every interpreter to include:

    tests/unit/gen_pylines.py PYTHON... > tests/unit/pylines_fixtures.h

Each interpreter prints its own entry (this file runs itself under it with
--entry)."""
import subprocess
import sys

SOURCE = '''
def sample(n, flag):
    total = 0
    for i in range(n):
        if flag and i % 3 == 0:
            total += i * 2
        elif i > 1000:
            try:
                total -= int("x")
            except ValueError:
                total = -total
        else:
            total = (total +
                     i)
    while total > 10 ** 6:
        total //= 7
    return [v for v in range(3)] + [total]
''' + "\n" * 200 + '''
def far_lines(x):
    y = x + 1
''' + "\n" * 300 + '''
    return y
'''


def entry():
    import dis
    ns = {}
    exec(compile(SOURCE, "fixture.py", "exec"), ns)
    v = sys.version_info
    out = []
    for fname in ("sample", "far_lines"):
        co = ns[fname].__code__
        if v < (3, 10):
            kind, table = "PY_LINES_LNOTAB", co.co_lnotab
            starts = dict(dis.findlinestarts(co))
            line, pairs = co.co_firstlineno, []
            for ins in dis.get_instructions(co):
                line = starts.get(ins.offset, line)
                pairs.append((ins.offset, line))
        elif v < (3, 11):
            kind, table = "PY_LINES_PEP626", co.co_linetable
            pairs = [(s, l or 0) for s, e, l in co.co_lines() for _ in [0]]
        else:
            kind, table = "PY_LINES_LOCATIONS", co.co_linetable
            pairs = []
            for s, e, l in co.co_lines():
                for off in range(s, e, 2):
                    pairs.append((off // 2, l or 0))
        out.append((fname, kind, co.co_firstlineno, bytes(table), pairs))
    tag = "%d%d" % (v[0], v[1])
    for fname, kind, first, table, pairs in out:
        name = "py%s_%s" % (tag, fname)
        print("static const uint8_t %s_table[] = {%s};" % (
            name, ",".join(str(b) for b in table)))
        print("static const struct pyline_probe %s_probes[] = {%s};" % (
            name, ",".join("{%d,%d}" % p for p in pairs)))
        print('#define %s_FIXTURE { "%s %s", %s, %d, %s_table, sizeof(%s_table), '
              '%s_probes, sizeof(%s_probes) / sizeof(%s_probes[0]) }'
              % (name, sys.version.split()[0], fname, kind, first, name, name, name, name, name))
        print()
    return ["py%s_%s_FIXTURE" % (tag, f) for f, *_ in out]


def main():
    if sys.argv[1:2] == ["--entry"]:
        names = entry()
        print("// NAMES " + " ".join(names))
        return
    print("/* pylines_fixtures.h: written by tests/unit/gen_pylines.py; do not edit. */")
    print("/* Line tables and lines from: %s */" % ", ".join(sys.argv[1:]))
    names = []
    for py in sys.argv[1:]:
        out = subprocess.run([py, __file__, "--entry"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout
        for line in out.splitlines():
            if line.startswith("// NAMES "):
                names += line.split()[2:]
            else:
                print(line)
    print("#define PYLINES_FIXTURES %s" % ", ".join(names))


if __name__ == "__main__":
    main()
