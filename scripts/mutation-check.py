#!/usr/bin/env python3
"""Breaks each VJP and JVP rule in turn and checks that a test notices.

For every `case OP_...:` of vjp_rule and jvp_rule in core/autodiff_rules.c,
the first cotangent/tangent the rule assigns is negated (wrapped in
op_axpby(..., -1, -1.0, 0.0)); the tree is rebuilt in a scratch copy and
test_op_gradients and test_hvp run. A rule whose mutation passes both is
reported MISSED and the script exits 1.

Usage: scripts/mutation-check.py [SCRATCH_DIR]   (about 15 minutes on 2 cores)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
scratch = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="tsedarts-mutation-")
src = os.path.join(scratch, "src")
if not os.path.isdir(src):
    shutil.copytree(root, src, ignore=shutil.ignore_patterns("build", ".git", "results"))
rules = os.path.join(src, "core", "autodiff_rules.c")
original = open(rules).read()
build = os.path.join(src, "build")
subprocess.run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DTSEDARTS_CUDA=OFF"],
               check=True, stdout=subprocess.DEVNULL)


def tests_fail():
    cmd = (f"cmake --build {build} -j2 --target test_op_gradients test_hvp > /dev/null 2>&1 && "
           f"{build}/tests/test_op_gradients > /dev/null 2>&1 && {build}/tests/test_hvp > /dev/null 2>&1")
    return subprocess.run(cmd, shell=True).returncode != 0


vjp_at, jvp_at = original.index("void vjp_rule("), original.index("int jvp_rule(")
caught = missed = 0
try:
    for half, (lo, hi) in (("vjp", (vjp_at, jvp_at)), ("jvp", (jvp_at, len(original)))):
        seg = original[lo:hi]
        for m in re.finditer(r"    case (OP_[A-Z0-9_]+):", seg):
            start = m.end()
            end = seg.find("break;", start)
            body = seg[start:end]
            first = re.search(r"(ct\[\d\]|r) = ", body)
            if not first:
                continue
            i = first.end()
            semi = body.index(";", i)
            mutated_body = body[:i] + "op_axpby(g, " + body[i:semi] + ", -1, -1.0, 0.0)" + body[semi:]
            with open(rules, "w") as f:
                f.write(original[:lo] + seg[:start] + mutated_body + seg[end:] + original[hi:])
            ok = tests_fail()
            caught += ok
            missed += not ok
            print(f"{half} {m.group(1)}: {'caught' if ok else 'MISSED'}", flush=True)
finally:
    with open(rules, "w") as f:
        f.write(original)
print(f"{caught} mutated rules caught, {missed} missed (scratch tree: {scratch})")
sys.exit(1 if missed else 0)
