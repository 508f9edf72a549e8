#!/usr/bin/env python3
"""Runs one known-answer case: tests/integration/NAME.expect.

The .expect file is data, one statement a line ('#' starts a comment):

    program NAME             the program, if not the .expect file's name
    run ARGS...              arguments for the program (default: none)
    options K=V,...          REFSWEEP_OPTIONS for the run (refsweep run adds its own)
    exit N                   refsweep run's exit status
    definite.blocks N        summary.definite.blocks of `report -f json`
    cycle.bytes N            (any class: definite indirect cycle possible
                              reachable suppressed; blocks or bytes;
                              ">= N" and "<= N" forms accepted)
    leak KIND FUNCTION       some leak group of KIND has FUNCTION in its stack
    noleak KIND FUNCTION     no leak group of KIND has FUNCTION in its stack
    processes N              number of processes in the report
    valgrind.definite N      valgrind --leak-check=full: "definitely lost" blocks
    valgrind.indirect N      ... "indirectly lost" blocks
    valgrind.possible N      ... "possibly lost" blocks
    lsan.direct N            LeakSanitizer: blocks in "Direct leak" reports
    lsan.indirect N          LeakSanitizer: blocks in "Indirect leak" reports

The program is $top_builddir/tests/integration/NAME. Peers that are not
installed are skipped with a note (CI installs them). Exit 0 pass, 1 fail,
99 hard error, as automake expects.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

CLASSES = ("definite", "indirect", "cycle", "possible", "reachable", "suppressed")


def parse_expect(path):
    items = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if line:
                items.append((lineno, line.split()))
    return items


def compare(got, op, want):
    return {"=": got == want, ">=": got >= want, "<=": got <= want}[op]


def number_clause(words):
    if words[1] in (">=", "<="):
        return words[1], int(words[2])
    return "=", int(words[1])


def valgrind_counts(prog, args, env):
    out = subprocess.run(["valgrind", "--leak-check=full", "--show-leak-kinds=all",
                          "--errors-for-leak-kinds=none", prog] + args,
                         env=env, capture_output=True, text=True, timeout=300).stderr
    counts = {}
    for key, label in (("definite", "definitely lost"), ("indirect", "indirectly lost"),
                       ("possible", "possibly lost")):
        # One summary per process: a fork child has its own.
        counts[key] = sum(int(n.replace(",", "")) for n in
                          re.findall(label + r": [\d,]+ bytes in ([\d,]+) blocks", out))
    return counts, out


def lsan_counts(prog, args, env):
    lsan = "/usr/lib/x86_64-linux-gnu/liblsan.so.0"
    e = dict(env, LD_PRELOAD=lsan, LSAN_OPTIONS="exitcode=0:report_objects=0")
    out = subprocess.run([prog] + args, env=e, capture_output=True, text=True,
                         timeout=300).stderr
    counts = {"direct": 0, "indirect": 0}
    for kind, blocks in re.findall(r"(Direct|Indirect) leak of \d+ byte\(s\) in (\d+) object", out):
        counts[kind.lower()] += int(blocks)
    return counts, out


def main():
    expect = sys.argv[1]
    name = os.path.splitext(os.path.basename(expect))[0]
    top_builddir = os.environ.get("top_builddir", ".")
    prog = os.path.join(top_builddir, "tests", "integration", name)
    refsweep = os.path.join(top_builddir, "refsweep")
    items = parse_expect(expect)
    args, options = [], []
    for _, words in items:
        if words[0] == "program":
            prog = os.path.join(top_builddir, "tests", "integration", words[1])
        elif words[0] == "run":
            args = words[1:]
        elif words[0] == "options":
            options.append(words[1])
    for f in (prog, refsweep):
        if not os.access(f, os.X_OK):
            print(f"{expect}: {f} is not built", file=sys.stderr)
            return 99
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("REFSWEEP_OPTIONS", None)
    failures = []
    with tempfile.TemporaryDirectory(prefix="rs-it-") as tmp:
        trace = os.path.join(tmp, "trace")
        run_env = dict(env)
        if options:
            run_env["REFSWEEP_OPTIONS"] = ",".join(options)
        cmd = [refsweep, "run", "-q", "-o", trace, "--", prog] + args
        run = subprocess.run(cmd, env=run_env, cwd=tmp,
                             capture_output=True, text=True, timeout=300)
        rep = subprocess.run([refsweep, "report", "-f", "json", trace], env=env,
                             capture_output=True, text=True, timeout=300)
        if rep.returncode != 0:
            print(f"{expect}: report failed ({rep.returncode}): {rep.stderr}", file=sys.stderr)
            return 1
        report = json.loads(rep.stdout)
        peers = {}
        for lineno, words in items:
            key = words[0]
            where = f"{expect}:{lineno}"
            if key in ("program", "run", "options"):
                continue
            if key == "exit":
                if run.returncode != int(words[1]):
                    failures.append(f"{where}: exit {run.returncode}, want {words[1]}")
            elif "." in key and key.split(".")[0] in CLASSES:
                cls, field = key.split(".")
                got = report["summary"][cls][field]
                op, want = number_clause(words)
                if not compare(got, op, want):
                    failures.append(f"{where}: {key} is {got}, want {op} {want}")
            elif key in ("leak", "noleak"):
                kind, func = words[1], words[2]
                found = any(l["kind"] == kind and any(fr.get("function") == func
                                                      for fr in l.get("stack", []))
                            for l in report["leaks"])
                if found != (key == "leak"):
                    failures.append(f"{where}: {'no' if key == 'leak' else 'a'} {kind} "
                                    f"leak group with {func} in its stack")
            elif key == "processes":
                if len(report["processes"]) != int(words[1]):
                    failures.append(f"{where}: {len(report['processes'])} processes, "
                                    f"want {words[1]}")
            elif key.startswith(("valgrind.", "lsan.")):
                tool, field = key.split(".")
                if tool == "valgrind" and not shutil.which("valgrind"):
                    print(f"{where}: valgrind not installed: skipped", file=sys.stderr)
                    continue
                if tool == "lsan" and not os.path.exists("/usr/lib/x86_64-linux-gnu/liblsan.so.0"):
                    print(f"{where}: liblsan.so.0 not installed: skipped", file=sys.stderr)
                    continue
                if tool not in peers:
                    peers[tool] = (valgrind_counts if tool == "valgrind" else lsan_counts)(
                        prog, args, env)
                got = peers[tool][0][field]
                op, want = number_clause(words)
                if not compare(got, op, want):
                    failures.append(f"{where}: {key} is {got}, want {op} {want}")
            else:
                print(f"{where}: unknown statement '{key}'", file=sys.stderr)
                return 99
        if failures:
            for f in failures:
                print(f, file=sys.stderr)
            print("---- refsweep run stderr\n" + run.stderr[-3000:], file=sys.stderr)
            print("---- summary " + json.dumps(report["summary"]), file=sys.stderr)
            for tool, (_, out) in peers.items():
                print(f"---- {tool}\n" + out[-2000:], file=sys.stderr)
            return 1
    print(f"{name}: {len(items)} statements hold", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
