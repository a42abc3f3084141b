# SPDX-License-Identifier: MIT
"""The ODP core's tracepoints (events/odp_core/ in tracefs), read while odp.ko
MR access and rxe ODP verbs traffic run (tests/progs/odp_core.c,
odp_retry.c, odp_oom.c, tests/verbs/verbs_odp).  Documentation/design.md
("Tracepoints") describes the events and fields asserted here."""

import os
import re
import subprocess

import pytest

from conftest import DEFAULT_TIMEOUT, TESTS, parse_counters

TRACEFS = "/sys/kernel/tracing"
EVENTS = ("odp_fault", "odp_retry", "odp_invalidate", "odp_prefetch")
VERBS = os.path.join(TESTS, "verbs", "verbs_odp")

# "  odp_core-1234    [001] .....  12.345678: odp_fault: umem=3 ..."
LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[\d+\].*?\s(?P<event>odp_\w+): (?P<fields>.*)$")


class Event(dict):
    def __init__(self, name, comm, fields):
        super().__init__(fields)
        self.name = name
        self.comm = comm

    def __repr__(self):
        return f"{self.comm}: {self.name}: {dict(self)}"


def _write(path, value):
    with open(path, "w") as f:
        f.write(value)


@pytest.fixture
def trace():
    """Enable the odp_core events on an empty buffer; yields a function that
    returns the events recorded so far (and stops recording)."""
    if not os.path.isdir(os.path.join(TRACEFS, "events")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=False)
    events = os.path.join(TRACEFS, "events", "odp_core")
    if not os.path.isdir(events):
        pytest.fail(f"{events} missing: odp_core.ko has no tracepoints, or no tracefs",
                    pytrace=False)
    _write(os.path.join(TRACEFS, "tracing_on"), "0")
    _write(os.path.join(TRACEFS, "buffer_size_kb"), "4096")
    _write(os.path.join(TRACEFS, "trace"), "")
    for e in EVENTS:
        _write(os.path.join(events, e, "enable"), "1")
    _write(os.path.join(TRACEFS, "tracing_on"), "1")

    def collect():
        _write(os.path.join(TRACEFS, "tracing_on"), "0")
        out = []
        with open(os.path.join(TRACEFS, "trace")) as f:
            for line in f:
                m = LINE.match(line)
                if m:
                    out.append(Event(m["event"], m["comm"].strip(),
                                     parse_counters(m["fields"])))
        return out
    try:
        yield collect
    finally:
        _write(os.path.join(TRACEFS, "tracing_on"), "0")
        _write(os.path.join(events, "enable"), "0")
        _write(os.path.join(TRACEFS, "trace"), "")


def test_trace_format():
    """Each event's format file lists the documented fields."""
    fields = {
        "odp_fault": ["umem_id", "parent_id", "start", "end", "write", "no_fault",
                      "pages", "retries", "ret"],
        "odp_retry": ["umem_id", "start", "end", "seq", "cur_seq"],
        "odp_invalidate": ["umem_id", "parent_id", "start", "end", "event", "pages",
                           "write_protect", "waited", "blockable", "refused"],
        "odp_prefetch": ["umem_id", "start", "end", "write", "no_fault", "ret"],
    }
    if not os.path.isdir(os.path.join(TRACEFS, "events")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=False)
    for name, want in fields.items():
        with open(os.path.join(TRACEFS, "events", "odp_core", name, "format")) as f:
            text = f.read()
        got = re.findall(r"field:[^;]*?(\w+);", text)
        assert [g for g in got if not g.startswith("common_")] == want, name


def _in(ev, lo, hi):
    return lo <= ev["start"] and ev["end"] <= hi


def test_trace_workload(run, trace):
    """odp.ko MR access: a read's fault, MADV_DONTNEED (clear), munmap
    (unmap), a write prefetch and mprotect (protection_vma) each show with
    their exact range, pages and flags."""
    r = run("odp_core", "trace_workload")
    evs = trace()
    base, ps = r["addr"], r["page_size"]
    mine = [e for e in evs if _in(e, base, base + r["len"])]
    print("\n".join(map(repr, mine)))
    faults = [e for e in mine if e.name == "odp_fault"]
    assert faults, f"no odp_fault in [{base:#x}, +{r['len']}); all events: {evs[:20]}"
    umem = faults[0]["umem"]
    mine = [e for e in mine if e["umem"] == umem]

    def one(name, start, npages, **want):
        hits = [e for e in mine if e.name == name and e["start"] == base + start * ps and
                e["end"] == base + (start + npages) * ps]
        assert hits, f"no {name} of pages [{start}, {start + npages}): {mine}"
        for k, v in want.items():
            assert hits[0][k] == v, f"{name} {k}: {hits[0]}"

    one("odp_fault", 0, 8, write=0, no_fault=0, pages=8, retries=0, ret=0, parent=0)
    one("odp_invalidate", 2, 2, event="clear", pages=2, write_protect=0, waited=0,
        blockable=1, refused=0)
    one("odp_invalidate", 6, 1, event="unmap", pages=1, blockable=1, refused=0)
    one("odp_prefetch", 8, 8, write=1, no_fault=0, ret=0)
    one("odp_fault", 8, 8, write=1, pages=8, ret=0)
    one("odp_invalidate", 8, 2, event="protection_vma", pages=2, write_protect=0)
    assert not [e for e in mine if e.name == "odp_retry"]


def test_trace_retry(run, trace):
    """A fault parked by the retry hook while the page is replaced: an
    odp_retry with the walked and the new sequence, and the fault's
    odp_fault counts the retry and succeeds."""
    r = run("odp_retry", "retry_hook_read", timeout=60)
    assert r["retry.retries"] >= 1
    evs = trace()
    retries = [e for e in evs if e.name == "odp_retry"]
    assert retries, f"no odp_retry: {evs}"
    rt = retries[0]
    assert rt["seq"] != rt["cur_seq"]
    faults = [e for e in evs if e.name == "odp_fault" and e["umem"] == rt["umem"] and
              e["retries"] >= 1]
    assert faults and faults[0]["ret"] == 0, evs
    assert faults[0]["start"] <= rt["start"] and rt["end"] <= faults[0]["end"]


def _waited_for_parked(run, trace, test):
    """odp_core TEST parks a one-page read, then MADV_DONTNEEDs its page:
    the invalidation waited for the read (waited=1, blockable=1)."""
    r = run("odp_core", test, timeout=60)
    evs = trace()
    hits = [e for e in evs if e.name == "odp_invalidate" and e["start"] == r["addr"]
            and e["event"] == "clear"]
    assert hits, evs
    assert hits[0]["waited"] == 1 and hits[0]["blockable"] == 1
    assert r["madvise_ms"] >= 100


def test_trace_inflight(run, trace):
    """MADV_DONTNEED of a page a device access holds in flight: the
    invalidation waited for it (waited=1, blockable=1)."""
    _waited_for_parked(run, trace, "trace_inflight")


def test_fast_inflight(run, trace):
    """MADV_DONTNEED of a page a fast-path access (one page, preemption off,
    in its CPU's access slot instead of on the in-flight list) is copying:
    the invalidation waited for it too, and the access read the old data."""
    _waited_for_parked(run, trace, "fast_inflight")


def test_trace_nonblock(run, trace, no_numa_balancing):
    """The OOM reaper's invalidations (process_mrelease): blockable=0, taken
    when nothing is in flight, refused=1 when an access is."""
    run("odp_oom", "nonblock_reap", timeout=60)
    run("odp_oom", "nonblock_refused_inflight", timeout=60)
    evs = [e for e in trace() if e.name == "odp_invalidate" and e["blockable"] == 0]
    assert [e for e in evs if e["refused"] == 0 and e["pages"] >= 1], evs
    assert [e for e in evs if e["refused"] == 1 and e["pages"] == 0], evs


def test_trace_rxe_verbs(trace):
    """Our rxe's ODP MRs go through the same core: plain verbs traffic
    (verbs_odp dontneed_write: RDMA WRITEs into an ODP MR after
    MADV_DONTNEED) leaves successful faults and clear invalidations."""
    if not os.access(VERBS, os.X_OK):
        pytest.fail(f"{VERBS} not built: run `make progs` on the host first", pytrace=False)
    proc = subprocess.run([VERBS, "dontneed_write"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=DEFAULT_TIMEOUT,
                          cwd="/tmp", env=dict(os.environ, VERBS_DEV="rxe0"))
    print(proc.stdout)
    if proc.returncode == 77:
        pytest.skip("verbs_odp skipped (no ODP caps: Debian's rxe?)")
    assert proc.returncode == 0
    evs = trace()
    faults = [e for e in evs if e.name == "odp_fault" and e["ret"] == 0 and e["pages"] > 0]
    clears = [e for e in evs if e.name == "odp_invalidate" and e["event"] == "clear"]
    assert faults, evs[:50]
    assert clears, evs[:50]
    print(f"{len(faults)} faults (tasks: {sorted({e.comm for e in faults})}), "
          f"{len(clears)} clear invalidations")
