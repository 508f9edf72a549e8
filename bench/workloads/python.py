# python: a pure-Python workload run as /usr/bin/python3 with
# PYTHONMALLOC=malloc, so every object goes through the C malloc. Stresses
# a real program with no frame pointers (stack capture falls back to
# unwinding tables), millions of small short-lived objects, a growing live
# heap of dicts, lists and strings, and reference cycles left to Python's gc.
#
# Usage: python3 python.py SCALE   (deterministic; prints a checksum)
import gc
import json
import re
import sys
import zlib


class Node:
    __slots__ = ("key", "peer", "kids")

    def __init__(self, key):
        self.key = key
        self.peer = None
        self.kids = []


def build_index(n):
    words = ["%x-%s" % (i * 2654435761 % 4294967296, "ab" * (i % 13)) for i in range(n)]
    index = {}
    for w in words:
        index.setdefault(w[:2], []).append(w)
    return words, index


def cycles(n):
    keep = []
    for i in range(n):
        a, b = Node(i), Node(-i)
        a.peer, b.peer = b, a
        a.kids.append(b)
        if i % 10 == 0:
            keep.append(a)
    return len(keep) + gc.collect()


def text(n):
    pat = re.compile(r"([a-f]+)([0-9]+)")
    total = 0
    for i in range(n):
        s = "".join("%d%s" % (j, "abcdef"[j % 6]) for j in range(i % 40))
        total += len(pat.findall(s)) + len(s.split("e"))
    return total


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    words, index = build_index(20000 * scale)
    doc = json.dumps({k: sorted(v)[:40] for k, v in sorted(index.items())})
    back = json.loads(doc)
    found = cycles(10000 * scale)
    t = text(4000 * scale)
    ranked = sorted(words, key=lambda w: (len(w), w))
    print(len(words), len(index), len(doc), sum(len(v) for v in back.values()),
          found, t, ranked[-1], zlib.crc32(doc.encode()))


main()
