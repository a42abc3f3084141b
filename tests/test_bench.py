# SPDX-License-Identifier: MIT
"""The benchmark pipeline, in its short form: `benchmarks/run.py --quick`.

`make bench` takes a quarter of an hour and runs outside CI; this runs every
benchmark program once with tiny sizes (about two minutes) so that a program
that no longer builds its states, divides by zero or loses its data check
fails the suite, and report.py must turn the result into the report.

What is asserted is behaviour, not speed: every step ran without an error,
every table has rows with positive times, the driver invalidated exactly
the pages each mapped range had, and every byte of the verbs data check
arrived.  With Debian's rxe (make check KVER=6.1) the verbs step, which
needs ODP in the device, is left out; on the debug kernel the whole test,
whose programs and time limits assume Debian's kernel.
"""
import json
import math
import os
import subprocess
import sys

import pytest

from conftest import KERNEL_61, NO_ODP_RXE_61, STOCK_RXE, TIMEOUT_SCALE

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(REPO, "benchmarks", "run.py")
REPORT = os.path.join(REPO, "benchmarks", "report.py")
# bench_verbs and perftest --odp need ODP in rxe0; Debian's rxe has none.
STEPS = ("reg", "fault", "inval", "bw", "scale") + (() if STOCK_RXE else ("verbs",))
NO_VERBS = NO_ODP_RXE_61 if KERNEL_61 else "Debian's rxe: no ODP caps"


def medians(obj, key=""):
    """(key, median) of every summary in @obj (dicts with 'median' and 'n')."""
    if isinstance(obj, dict):
        if "median" in obj and "n" in obj:
            yield key, obj["median"]
            return
        for k, v in obj.items():
            yield from medians(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from medians(v, key)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    if TIMEOUT_SCALE > 1:
        pytest.skip("the debug kernel: the benchmarks' own time limits assume Debian's kernel")
    out = tmp_path_factory.mktemp("bench")
    only = ",".join(("numa", "profile") + STEPS)
    proc = subprocess.run([sys.executable, RUN, "--quick", "--only", only, "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    with open(out / "bench.json") as f:
        doc = json.load(f)
    return proc, doc, out


def test_bench_quick_runs_clean(quick_run):
    proc, doc, _ = quick_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert doc["complete"] and doc["quick"]
    assert doc["errors"] == {}
    if "verbs" in STEPS:
        assert doc["verbs"]["errors"] == []
    for step in STEPS:
        assert step in doc, f"{step} missing"
    for step in ("reg", "fault", "inval", "bw", "scale"):
        assert doc[step]["rows"], f"{step}: no rows"


def test_bench_quick_figures_are_numbers(quick_run):
    """Every summary is a number; every time and rate is positive (a
    difference, such as slab memory between two reads, may be negative)."""
    _, doc, _ = quick_run
    seen = 0
    for step in STEPS:
        for key, m in medians(doc[step]):
            if m is None:
                continue
            assert math.isfinite(m), f"{step} {key}: median {m}"
            if key.endswith(("_ns", "_per_s", "_over_plain", "_over_pinned",
                             "_over_perftest", "_over_bare")):
                assert m > 0, f"{step} {key}: median {m}"
            seen += 1
    assert seen > 50
    for r in doc["inval"]["rows"]:
        assert r["plain_ns"]["median"] > 0 and r["mapped_ns"]["median"] > 0


def test_bench_quick_invalidates_every_mapped_page(quick_run):
    """bench_inval's mapped ranges: the driver's count of invalidated pages
    is the range's, or the benchmark timed something else."""
    _, doc, _ = quick_run
    rows = doc["inval"]["rows"]
    assert {r["kind"] for r in rows} == {"4k", "thp"}
    for r in rows:
        assert r["pages_invalidated"]["median"] == r["pages"], r
    if "verbs" in STEPS:
        assert doc["verbs"]["inval"]


def test_bench_quick_data_arrives(quick_run):
    if "verbs" not in STEPS:
        pytest.skip(NO_VERBS)
    _, doc, _ = quick_run
    checks = doc["verbs"]["data_check"]
    assert checks
    bad = [c for c in checks if c["status"] or c["bad_bytes"]]
    assert not bad, bad


def test_bench_quick_report(quick_run, tmp_path):
    _, _, out = quick_run
    proc = subprocess.run([sys.executable, REPORT, "--docs", str(tmp_path),
                           str(out / "bench.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "benchmarks.md") as f:
        md = f.read()
    assert "## Targets" in md and "## 3. Invalidation overhead" in md
