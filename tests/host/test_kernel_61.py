# SPDX-License-Identifier: MIT
"""Debian 12's 6.1 kernel, in short: the short form of `make check KVER=6.1`.

`make check KVER=6.1` builds the modules for 6.1 and runs the whole suite
there (about 15 minutes).  `make check` on 6.12 runs this instead: the ODP
core and odp.ko built for 6.1, booted with Debian's own rxe (no ODP rxe on
6.1, driver/rxe/README.md), and the suites of the paths where 6.1 and 6.12
differ - the mm's notifiers and hmm_range_fault() on anonymous, file, THP and
hugetlb memory, fork, migration, the page table's zaps, the retry and
in-flight paths, prefetch, bad input and exit, the counters and tracepoints,
and the RDMA transport over 6.1's rxe.

KVER=6.1 builds driver/ in place, where the 6.12 modules of this very run
are, so the build happens in a copy of the tree under build/ (libodp and the
test programs do not depend on the kernel and come along built).
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import PYTHON, REPO, read_text

KERNEL_61 = os.environ.get("ODP_KSERIES") == "6.1"
CACHE = os.environ.get("ODP_CACHE", os.path.expanduser("~/.cache/odp"))
TIMEOUT = int(os.environ.get("ODP_KV61_TIMEOUT", "900"))
SUITES = ["test_anon.py", "test_file.py", "test_huge.py", "test_fork.py", "test_migrate.py",
          "test_core.py", "test_race.py", "test_retry.py", "test_prefetch.py",
          "test_badinput.py", "test_exit.py", "test_stats.py", "test_trace.py",
          "test_rdma_ops.py"]


def copy_tree(dst):
    """The work tree without build/ and .git, modification times kept."""
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    tar = subprocess.Popen(["tar", "-C", REPO, "--exclude=./build", "--exclude=./.git",
                            "-cf", "-", "."], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-C", dst, "-xf", "-"], stdin=tar.stdout)
    tar.stdout.close()
    assert tar.wait() == 0 and untar.returncode == 0, "copying the tree failed"


def test_kernel_61_short():
    if KERNEL_61:
        pytest.skip("make check KVER=6.1 runs the whole suite on 6.1")
    if os.environ.get("ODP_VM_KERNEL") == "debug":
        pytest.skip("make check KERNEL=debug: the debug kernel is a 6.12")
    tree = os.path.join(REPO, "build", f"kv61-{os.getpid()}")
    out = os.path.join(REPO, "build", "vm-out",
                       f"host-kv61-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    env = dict(os.environ, ODP_KSERIES="6.1", ODP_CACHE=CACHE)
    try:
        copy_tree(tree)
        p = subprocess.run(["make", "-C", tree, "module", "KVER=6.1"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=1200)
        assert p.returncode == 0, f"make module KVER=6.1:\n{p.stdout[-6000:]}"
        with open(os.path.join(CACHE, "kernel", "current-6.1")) as f:
            krel = f.read().strip()
        assert krel.startswith("6.1."), krel
        argv = [PYTHON, "tests/vm/run", "--kver", krel, "--stock-rxe",
                "--timeout", str(TIMEOUT), "--out", out, "--",
                PYTHON, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"] + \
            [os.path.join("tests", s) for s in SUITES]
        p = subprocess.run(argv, cwd=tree, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT + 300)
        summary = re.findall(r"^[= ]*((?:\d+ \w+, )*\d+ \w+ in [\d.]+s)", p.stdout, re.M)
        print(f"6.1 ({krel}): {summary[-1] if summary else 'no pytest summary'}; "
              f"VM output in {out}")
        assert p.returncode == 0, \
            f"6.1 VM run failed (rc {p.returncode}); {out}:\n{p.stdout[-6000:]}\n" \
            f"{read_text(os.path.join(out, 'console.log'))[-3000:]}"
        assert summary and " passed" in summary[-1], summary
        assert "failed" not in summary[-1] and "error" not in summary[-1], summary[-1]
    finally:
        shutil.rmtree(tree, ignore_errors=True)
