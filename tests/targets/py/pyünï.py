# -*- coding: utf-8 -*-
"""Functions with non-ASCII names in a file with a non-ASCII name, for
sprofd's tests: latin-1 (one byte per character in CPython), Cyrillic (two
bytes) and a CJK Extension B character (four bytes)."""


def café_ünïcode(work, n):
    return sorted(range(n), key=lambda v: work(30) - v)


def функция(work, n):
    return work(n)


def 函数_𠀀(work, n):
    return функция(work, n)
