# A pure-Python workload that allocates through malloc when run with
# PYTHONMALLOC=malloc: dicts, lists, strings, json, regex, classes with
# reference cycles collected by gc, and sorting.
import gc, json, re, hashlib

class Node:
    def __init__(self, v):
        self.v = v
        self.peer = None

def cycles(n):
    for i in range(n):
        a, b = Node(i), Node(-i)
        a.peer, b.peer = b, a
    return gc.collect()

words = [hashlib.sha1(str(i).encode()).hexdigest()[: 3 + i % 17] for i in range(40000)]
index = {}
for w in words:
    index.setdefault(w[0], []).append(w)
doc = json.dumps({k: sorted(v)[:50] for k, v in sorted(index.items())})
back = json.loads(doc)
pat = re.compile(r"([a-f]+)([0-9]+)")
matches = sum(len(pat.findall(w)) for w in words)
cycles(20000)
print(len(words), len(index), len(doc), sum(len(v) for v in back.values()), matches)
print(sorted(words, key=lambda w: (len(w), w))[-3:])
