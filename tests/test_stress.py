# SPDX-License-Identifier: MIT
"""The short form of `make stress` (tests/stress/odp_stress, README.md there).

Server/client process pairs move data over ODP MRs (WRITE, READ, SEND,
atomics, on RC QPs over rxe0) while each process's mutator DONTNEEDs,
munmaps, mprotects, migrates, mremaps its buffers and forks, and the
supervisor kill -9's workers and starts replacements.  Every byte is
checked against the outcomes that are legal for the mutations that raced
it; afterwards no MR is left, the module is unreferenced and slab and
MemAvailable are back to the baseline.  ODP_STRESS_TIME (default 30 s) and
ODP_STRESS_ARGS (more options, e.g. "-s 7") tune it.
"""

import os
import shlex
import subprocess

import pytest

from conftest import REPO, parse_counters

STRESS = os.path.join(REPO, "tests", "stress", "odp_stress")
TIME = int(os.environ.get("ODP_STRESS_TIME", "30"))


def test_stress_mutate_kill():
    if not os.access(STRESS, os.X_OK):
        pytest.fail(f"{STRESS} not built: run `make progs` on the host first",
                    pytrace=False)
    args = [STRESS, "-t", str(TIME)] + shlex.split(os.environ.get("ODP_STRESS_ARGS", ""))
    # Warm-up, the run, the stop (bounded by 2 x the 60 s hang bound) and
    # the leak checks (up to 40 s).
    timeout = TIME + 300
    try:
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, cwd="/tmp")
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"odp_stress did not finish within {timeout}s\n"
                    f"--- stdout ---\n{e.stdout}\n--- stderr ---\n{e.stderr}",
                    pytrace=False)
    print(proc.stdout, end="")
    if proc.stderr:
        print("--- stderr ---\n" + proc.stderr, end="")
    if proc.returncode == 77:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, f"odp_stress exit {proc.returncode}:\n{proc.stderr}"
    r = parse_counters(proc.stdout)
    # A byte or completion that differed from every legal outcome ends the
    # run with a FAIL line (and exit 1); none may have been printed.
    assert "FAIL" not in proc.stderr, proc.stderr
    assert r["result"] == "pass"
    assert r["bytes_verified"] > 0
    assert r["operations"] > 0
    assert r["kills"] > 0, "no worker was killed"
    assert r["stat.peer_lost"] > 0, "no survivor saw its peer go"
    assert r["faults"] > 0 and r["invalidations"] > 0
    assert r["dev_faults"] >= r["faults"]
    assert r["dev_invalidations"] >= r["invalidations"]
    for kind in ("dontneed", "munmap", "mprotect", "mremap", "fork"):
        assert r[f"mut.{kind}"] > 0, f"no {kind} mutation ran"
    assert r["leaks"] == 0
    assert r["leak.mrs_left"] == 0
    assert r["leak.module_refcnt"] == 0
    # dev.pages_mapped back to its baseline is part of leaks == 0 (the baseline
    # need not be 0: see test_anon_dontneed_large).
