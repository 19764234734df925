#!/usr/bin/env python3
"""Breaks each VJP and JVP rule in turn and checks that a test notices.

Every op's derivative rules live beside it in core/ops/*.c, as
`static void NAME_vjp(graph *g, ...)` and `static int NAME_jvp(graph *g, ...)`.
In each rule the first cotangent it assigns (`ct[k] = ...;`) or the first
tangent it returns (`return ...;`, other than an absent tangent, a failure
or a refusal) is negated
(wrapped in op_axpby(g, ..., -1, -1.0, 0.0); an absent value, -1, stays
absent). The tree is rebuilt in a scratch copy and test_op_gradients and
test_hvp run. A rule whose mutation passes both is reported MISSED and the
script exits 1; a rule with nothing to mutate is reported and not counted.

Usage: scripts/mutation-check.py [SCRATCH_DIR [NAME]]   (about 20 minutes on
2 cores; NAME: only the rules whose name contains it, e.g. concat_jvp)
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
scratch = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="tsedarts-mutation-")
only = sys.argv[2] if len(sys.argv) > 2 else ""
src = os.path.join(scratch, "src")
if not os.path.isdir(src):
    shutil.copytree(root, src, ignore=shutil.ignore_patterns("build", ".git", "out", "results"))
build = os.path.join(src, "build")
subprocess.run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DTSEDARTS_CUDA=OFF"],
               check=True, stdout=subprocess.DEVNULL)

# a rule's name, kind and body: written over several lines, or on one
RULES = (re.compile(r"^static (?:void|int) (\w+)_(vjp|jvp)\(graph \*g,[^)]*\)\n\{\n(.*?)^\}\n", re.S | re.M),
         re.compile(r"^static (?:void|int) (\w+)_(vjp|jvp)\(graph \*g,[^)\n]*\) \{ (.*) \}$", re.M))
# what a rule computes: not an absent tangent, nor the paths that fail
# (out of memory) or refuse a derivative, which the tests never reach
SITE = {"vjp": re.compile(r"ct\[\w+\] = "), "jvp": re.compile(r"return (?!-1;|graph_fail\(|op_refuse_derivative\()")}


def tests_fail():
    cmd = (f"cmake --build {build} -j2 --target test_op_gradients test_hvp > /dev/null 2>&1 && "
           f"{build}/tests/test_op_gradients > /dev/null 2>&1 && {build}/tests/test_hvp > /dev/null 2>&1")
    return subprocess.run(cmd, shell=True).returncode != 0


def mutated(text, rule):
    """text with rule's first assignment or return negated, or None."""
    body_at = rule.start(3)
    site = SITE[rule.group(2)].search(rule.group(3))
    if not site:
        return None
    i = body_at + site.end()
    semi = text.index(";", i)
    return text[:i] + "op_axpby(g, " + text[i:semi] + ", -1, -1.0, 0.0)" + text[semi:]


if tests_fail():
    sys.exit("mutation-check: the unmutated tree does not build or its tests fail; fix that first")
caught = missed = 0
for path in sorted(glob.glob(os.path.join(src, "core", "ops", "*.c"))):
    original = open(path).read()
    try:
        for rule in sorted((r for rx in RULES for r in rx.finditer(original)), key=lambda r: r.start()):
            name = f"{os.path.basename(path)} {rule.group(1)}_{rule.group(2)}"
            if only not in name:
                continue
            text = mutated(original, rule)
            if text is None:
                print(f"{name}: nothing to mutate", flush=True)
                continue
            with open(path, "w") as f:
                f.write(text)
            ok = tests_fail()
            caught += ok
            missed += not ok
            print(f"{name}: {'caught' if ok else 'MISSED'}", flush=True)
    finally:
        with open(path, "w") as f:
            f.write(original)
print(f"{caught} mutated rules caught, {missed} missed (scratch tree: {scratch})")
sys.exit(1 if missed else 0)
