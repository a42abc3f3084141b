# SPDX-License-Identifier: MIT
"""The benchmark pipeline, in its short form: `benchmarks/run.py --quick`.

`make bench` takes a quarter of an hour and runs outside CI; this runs every
benchmark program once with tiny sizes (about two minutes) so that a program
that no longer builds its states, divides by zero or loses its data check
fails the suite, and report.py must turn the result into the report.

What is asserted is behaviour, not speed: every step ran without an error,
every table has rows with positive times, the driver invalidated exactly
the pages each mapped range had, and every byte of the verbs data check
arrived; and no step turns perf_sched_events on (see
test_bench_quick_leaves_the_scheduler_text_alone).  With Debian's rxe
(make check KVER=6.1) the verbs step, which needs ODP in the device, is
left out; on the debug kernel the whole test, whose programs and time
limits assume Debian's kernel.
"""
import json
import math
import os
import struct
import subprocess
import sys
import threading

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


def kernel_symbol(name):
    with open("/proc/kallsyms") as f:
        for line in f:
            addr, _, sym = line.split()[:3]
            if sym == name:
                return int(addr, 16)
    return None


def kcore_offset(f, addr):
    """Where kernel address @addr is in /proc/kcore (@f), through its ELF segments."""
    eh = os.pread(f, 64, 0)
    phoff, = struct.unpack_from("<Q", eh, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", eh, 0x36)
    for i in range(phnum):
        ph = os.pread(f, 48, phoff + i * phentsize)
        ptype, _, off, vaddr, _, _, memsz = struct.unpack("<IIQQQQQ", ph)
        if ptype == 1 and vaddr <= addr < vaddr + memsz:
            return off + addr - vaddr
    raise OSError(f"{addr:#x} is in no segment of /proc/kcore")


class StaticKeyWatch(threading.Thread):
    """Samples a static key's enable count (struct static_key's first field)
    every 0.1 s until stopped; samples stays empty if it cannot be read
    (no such symbol, addresses hidden, no /proc/kcore).  The key's place in
    /proc/kcore is found once: a sample is one read."""

    def __init__(self, name):
        super().__init__(daemon=True)
        self.addr = kernel_symbol(name)
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        if not self.addr:
            return
        try:
            f = os.open("/proc/kcore", os.O_RDONLY)
        except OSError:
            return
        try:
            off = kcore_offset(f, self.addr)
            while not self.stop.wait(0.1):
                self.samples.append(struct.unpack("<i", os.pread(f, 4, off))[0])
        except OSError:
            return
        finally:
            os.close(f)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    if TIMEOUT_SCALE > 1:
        pytest.skip("the debug kernel: the benchmarks' own time limits assume Debian's kernel")
    out = tmp_path_factory.mktemp("bench")
    only = ",".join(("numa", "profile") + STEPS)
    watch = StaticKeyWatch("perf_sched_events")
    watch.start()
    try:
        proc = subprocess.run([sys.executable, RUN, "--quick", "--only", only, "--out", str(out)],
                              capture_output=True, text=True, timeout=900)
    finally:
        watch.stop.set()
        watch.join()
    with open(out / "bench.json") as f:
        doc = json.load(f)
    return proc, doc, out, watch.samples


def test_bench_quick_runs_clean(quick_run):
    proc, doc, _, _ = quick_run
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
    _, doc, _, _ = quick_run
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
    _, doc, _, _ = quick_run
    rows = doc["inval"]["rows"]
    assert {r["kind"] for r in rows} == {"4k", "thp"}
    for r in rows:
        assert r["pages_invalidated"]["median"] == r["pages"], r
    if "verbs" in STEPS:
        assert doc["verbs"]["inval"]


def test_bench_quick_leaves_the_scheduler_text_alone(quick_run):
    """No step turns the kernel's perf_sched_events on.  Each turn rewrites
    the static branches in the scheduler's context switch while both vCPUs
    run through it, and QEMU 7.2's multi-threaded TCG can keep a stale
    translation of such a site: a vCPU executed the int3 of a patch already
    finished and the kernel oopsed in finish_task_switch() (a CI run of this
    test, when the profile step still recorded its local programs per task;
    benchmarks/README.md).  The profiles must still be there."""
    _, doc, _, samples = quick_run
    if not samples:
        pytest.skip("perf_sched_events cannot be read through /proc/kallsyms and /proc/kcore")
    assert max(samples) == 0, f"perf_sched_events was on in {sum(map(bool, samples))} samples"
    if "error" not in doc["profile"]:   # perf is installed
        for name in ("inval_4k", "inval_thp", "access_write_64"):
            assert doc["profile"][name]["top"], f"profile {name}: no samples of its command"


def test_bench_quick_data_arrives(quick_run):
    if "verbs" not in STEPS:
        pytest.skip(NO_VERBS)
    _, doc, _, _ = quick_run
    checks = doc["verbs"]["data_check"]
    assert checks
    bad = [c for c in checks if c["status"] or c["bad_bytes"]]
    assert not bad, bad


def test_bench_quick_report(quick_run, tmp_path):
    _, _, out, _ = quick_run
    proc = subprocess.run([sys.executable, REPORT, "--docs", str(tmp_path),
                           str(out / "bench.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "benchmarks.md") as f:
        md = f.read()
    assert "## Targets" in md and "## 3. Invalidation overhead" in md
