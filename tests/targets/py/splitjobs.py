"""A Python program that is no web server, for --split FUNCTION: its main
loop hands each job to run_job(), which calls it. The jobs split the CPU by
work units, by construction: resize 2 units, encode 1, two jobs that the
interpreter knows by the same name "dup" 1 each, and one named
"job: a/b \u00e9" 1, so resize has 2/6 of the time under run_job and each
other job 1/6.

Usage: python3 splitjobs.py [seconds] (default: run until killed)
"""
import sys
import time

UNIT = 4000


def spin(units):
    total = 0
    for i in range(units * UNIT):
        total += i * i % 7
    return total


def resize():
    return spin(2)


def encode():
    return spin(1)


def dup_a():
    return spin(1)


def dup_b():
    return spin(1)


def odd():
    return spin(1)


def rename(fn, name):
    """Gives fn's code the name the interpreter reports for it."""
    kw = {"co_name": name}
    if hasattr(fn.__code__, "co_qualname"):
        kw["co_qualname"] = name
    fn.__code__ = fn.__code__.replace(**kw)


rename(dup_a, "dup")
rename(dup_b, "dup")
rename(odd, "job: a/b \u00e9")
JOBS = (resize, encode, dup_a, dup_b, odd)


def run_job(job):
    return job()


def main():
    end = time.monotonic() + float(sys.argv[1]) if len(sys.argv) > 1 else None
    while end is None or time.monotonic() < end:
        for job in JOBS:
            run_job(job)


if __name__ == "__main__":
    main()
