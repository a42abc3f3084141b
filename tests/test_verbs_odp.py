# SPDX-License-Identifier: MIT
"""ODP for every verbs application: plain libibverbs on our rxe.

tests/verbs/verbs_odp runs one named test per behaviour (exit 0 pass, 1
fail, 77 skip): two RC QPs of one process on rxe0, connected to each other
(GID index 1, MTU 1024), ODP MRs (IBV_ACCESS_ON_DEMAND) on both sides,
every byte checked.  The ODP counters come from `rdma stat show mr` (per MR,
found by lkey and pid in `rdma res show mr`); the program prints their
deltas as `a.<counter>=` (our MR) and `b.<counter>=` (the responder's), and
the key ones are asserted here again.

The device's ODP totals (port hw counters, sysfs ports/1/hw_counters/, the
same names) are read before and after each dontneed_* run: once the program
has deregistered its MRs and exited, they must have grown by exactly what
its MRs counted (and by the pages deregistration zapped).

Each test also fails on a kernel warning (conftest) and if an MR of the
device outlives the program (`rdma res show mr`).  Under Debian's own rxe
(tests/vm/run --stock-rxe, and always on Debian's 6.1 kernel) there are no
ODP caps and every test skips.

On upstream's ODP rxe (trixie-backports' 6.18 kernel, ODP_RXE=upstream,
`make check-upstream`) the same tests run on the data and the completion
statuses alone: that rxe has no per-MR ODP counters (verbs_odp runs with
VERBS_NO_MR_STATS=1, which checks that they are absent).  A test that meets
one of upstream's known defects (UPSTREAM_DEFECTS) is an xfail naming the
defect, after checking that it failed exactly that way; if it fails in any
other way it fails, and if it passes it fails too (the defect is gone:
update the table).
"""

import json
import os
import re
import subprocess
import time

import pytest

from conftest import (DEFAULT_TIMEOUT, KERNEL_61, NO_ODP_RXE_61, TESTS, UPSTREAM,
                      parse_counters, require_verbs_device, wait_for)

VERBS = os.path.join(TESTS, "verbs", "verbs_odp")
IBDEV = os.environ.get("ODP_RDMA_DEV", "rxe0")
HW_COUNTERS = f"/sys/class/infiniband/{IBDEV}/ports/1/hw_counters"
# The device ODP totals that verbs_odp also reports per MR (our rxe only).
DEVICE_ODP = ("page_faults", "page_faults_handled", "page_invalidations",
              "page_invalidation_events", "page_prefetch", "fault_retries",
              "fault_errors", "pages_mapped")
# Per-MR ODP counters (`rdma stat show mr`): ours has them, upstream's not.
COUNTERS = not UPSTREAM


class UpstreamDefect:
    """A known defect of upstream's rxe ODP: what it is, and the regex its
    failure matches in verbs_odp's stderr (skip: verbs_odp skips, exit 77)."""

    def __init__(self, text, regex, skip=False):
        self.text, self.regex, self.skip = text, regex, skip


# Upstream's defects as `make check-upstream` found them (6.18.15+deb13-amd64,
# Documentation/upstream-rxe.md).  With path MTU 1024 a transfer of more than
# one packet per page: of each 4 KiB page of the target only the first 1024
# bytes arrive, the rest stays as it was (bench_verbs check shows the same).
# verbs_odp's report of the bad bytes (tests/verbs/vt.c report_bad): the
# first bad range starts at page offset 1024.
UP_DATA_LOSS = UpstreamDefect(
    "upstream rxe ODP loses data: with path MTU 1024 only the first 1024 bytes "
    "of each 4 KiB page of a multi-packet transfer arrive",
    r"bytes wrong in \d+ runs; byte \d+ is 0x[0-9a-f]+, expected 0x[0-9a-f]+; "
    r"runs: \[\d+,\d+\) \(page offset 1024,")
# The same into THP-backed buffers (2 MiB WRITE at an odd offset): nearly
# every byte is wrong, and not with zeros: data lands at wrong offsets.
UP_DATA_LOSS_THP = UpstreamDefect(
    "upstream rxe ODP loses data: a multi-packet WRITE into THP-backed memory "
    "leaves nearly every byte wrong",
    r"WRITE across 2 MiB: \d+ of \d+ bytes wrong in \d+ runs")
# An atomic's original value, which the responder returns and the requester
# writes into its own ODP MR (8 bytes at page offset 64 + 8k), does not
# arrive there (the word stays 0), while the responder's word is right.
UP_ATOMIC_RESULT = UpstreamDefect(
    "upstream rxe ODP: the original value an atomic returns is not written "
    "into the requester's ODP MR (it stays 0); the responder's word is right",
    r"iteration 0 page 0: returned 0x0 \(expected 0x[0-9a-f]+\), responder holds "
    r"(0x[0-9a-f]+) \(expected \1\)")
UP_NO_HUGETLB = UpstreamDefect(
    "upstream rxe refuses IBV_ACCESS_HUGETLB: ibv_reg_mr of MAP_HUGETLB memory "
    "with ON_DEMAND|HUGETLB fails EOPNOTSUPP",
    r"ibv_reg_mr\(0x[0-9a-f]+, \d+, ON_DEMAND\|0x8f\): Operation not supported")
UP_NO_IMPLICIT = UpstreamDefect(
    "upstream rxe has no implicit ODP (general_odp_caps without ODP_SUPPORT_IMPLICIT)",
    r"has no implicit ODP$", skip=True)
# rxe's statuses that our driver/rxe/patches/0002 and 0003 correct, as
# Debian's 6.12 rxe gives them (tests/test_rdma_ibv.py RXE_DEVIATIONS).
UP_FLUSH_NOT_LOC_PROT = UpstreamDefect(
    "upstream rxe completes a WR whose local SGE cannot be faulted in with "
    "WR_FLUSH_ERR, not LOC_PROT_ERR (as Debian's 6.12 rxe; our patches/0002)",
    r"with a local SGE over unmapped pages: status 5 \(Work Request Flushed Error\), "
    r"expected a local protection/access error")
UP_RECV_QP_OP = UpstreamDefect(
    "upstream rxe completes a receive whose buffer cannot be faulted in with "
    "LOC_QP_OP_ERR, not LOC_PROT_ERR (as Debian's 6.12 rxe; our patches/0003)",
    r"receive over unmapped pages: status 2 \(local QP operation error\), "
    r"expected a local protection/access error")

# verbs_odp tests that fail on upstream's rxe, and for which defect.
UPSTREAM_DEFECTS = {
    "dontneed_send": UP_DATA_LOSS,
    "dontneed_write": UP_DATA_LOSS,
    "dontneed_read": UP_DATA_LOSS,
    "dontneed_cas": UP_ATOMIC_RESULT,
    "dontneed_fadd": UP_ATOMIC_RESULT,
    "unaligned_write": UP_DATA_LOSS,
    "unaligned_read": UP_DATA_LOSS,
    "unaligned_send": UP_DATA_LOSS,
    "munmap_remote_write": UP_DATA_LOSS,
    "munmap_remote_read": UP_DATA_LOSS,
    "mprotect_remote_write": UP_DATA_LOSS,
    "local_sge_unmapped_write": UP_FLUSH_NOT_LOC_PROT,
    # its status (LOC_PROT_ERR) is right; the WRITE after mmap again loses data
    "local_sge_unmapped_read": UP_DATA_LOSS,
    "local_sge_unmapped_send": UP_FLUSH_NOT_LOC_PROT,
    "local_sge_unmapped_recv": UP_RECV_QP_OP,
    "advise_mr": UP_DATA_LOSS,
    "fork_cow": UP_DATA_LOSS,
    "mremap_move": UP_DATA_LOSS,
    "numa_migrate": UP_DATA_LOSS,
    "thp": UP_DATA_LOSS_THP,
    "hugetlb": UP_NO_HUGETLB,
    "implicit": UP_NO_IMPLICIT,
    "storm_16qp": UP_DATA_LOSS,
    "dropped_tail_write": UP_DATA_LOSS,
    "dropped_tail_send": UP_DATA_LOSS,
}


@pytest.fixture(scope="module")
def odp_device():
    """Overrides conftest's: on upstream's kernel rxe0 is enough (no odp.ko)."""
    return require_verbs_device(IBDEV)


class RxeFinding(AssertionError):
    """A test failed exactly the way a known finding against our rxe says."""


# Findings against our rxe are strict xfails with raises=RxeFinding: the test
# documents the bug and turns into a failure (XPASS) once it is fixed; it
# fails for real if it fails in any other way.  None is open: a WR whose
# local SGE cannot be read used to complete WR_FLUSH_ERR and a receive over
# unmapped pages LOC_QP_OP_ERR, as on Debian's rxe; driver/rxe/patches/0002-*
# and 0003-* made both LOC_PROT_ERR.


def device_odp():
    """IBDEV's ODP totals (port hw counters), or None without them."""
    if not os.path.exists(os.path.join(HW_COUNTERS, "page_faults")):
        return None
    out = {}
    for name in DEVICE_ODP:
        with open(os.path.join(HW_COUNTERS, name)) as f:
            out[name] = int(f.read())
    return out


def rdma_mrs():
    """{mrn: pid} of IBDEV's MRs (`rdma res show mr`)."""
    out = subprocess.run(["rdma", "-j", "res", "show", "mr"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, timeout=30).stdout
    mrs = {}
    for line in out.splitlines():
        if line.strip().startswith("["):
            for obj in json.loads(line):
                if obj.get("ifname") == IBDEV:
                    mrs[obj["mrn"]] = obj.get("pid")
    return mrs


@pytest.fixture(autouse=True)
def no_rxe_mr_leak():
    """After each test the device's MRs are what they were before."""
    before = rdma_mrs()
    yield
    left = wait_for(lambda: set(rdma_mrs()) <= set(before), timeout=5)
    if not left:
        extra = {k: v for k, v in rdma_mrs().items() if k not in before}
        pytest.fail(f"MRs of {IBDEV} left after the test's processes exited "
                    f"(mrn: pid): {extra}", pytrace=False)


def vrun(test, timeout=DEFAULT_TIMEOUT, finding=None):
    """Run verbs_odp TEST; skip on 77, fail on anything but 0; the counters.

    finding: a regex; a failure whose stderr matches it raises RxeFinding.
    """
    if not os.access(VERBS, os.X_OK):
        pytest.fail(f"{VERBS} not built: run `make progs` on the host first",
                    pytrace=False)
    start = time.monotonic()
    env = dict(os.environ, VERBS_DEV=IBDEV)
    if not COUNTERS:
        env["VERBS_NO_MR_STATS"] = "1"
    try:
        proc = subprocess.run([VERBS, test], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout,
                              cwd="/tmp", env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"verbs_odp {test}: timed out after {timeout}s\n{e.stdout}\n{e.stderr}",
                    pytrace=False)
    print(f"$ {VERBS} {test}  ({time.monotonic() - start:.2f}s, exit {proc.returncode})")
    print(proc.stdout, end="")
    if proc.stderr:
        print("--- stderr ---\n" + proc.stderr, end="")
    if UPSTREAM and test in UPSTREAM_DEFECTS:
        upstream_defect(test, UPSTREAM_DEFECTS[test], proc)
    if proc.returncode == 77:
        reason = proc.stderr.strip().splitlines()
        pytest.skip(f"verbs_odp {test}: " + (f"{NO_ODP_RXE_61}: " if KERNEL_61 else "") +
                    (reason[-1] if reason else "skipped"))
    if proc.returncode != 0 and finding and re.search(finding, proc.stderr):
        raise RxeFinding(f"verbs_odp {test}: {proc.stderr.strip()}")
    if proc.returncode != 0:
        pytest.fail(f"verbs_odp {test}: exit {proc.returncode}\n--- stderr ---\n"
                    f"{proc.stderr}--- stdout ---\n{proc.stdout}", pytrace=False)
    return parse_counters(proc.stdout)


def upstream_defect(test, defect, proc):
    """xfail if verbs_odp TEST failed (or skipped) as upstream's DEFECT says;
    fail if it passed or failed in another way."""
    want = 77 if defect.skip else 1
    last = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
    if proc.returncode == want and re.search(defect.regex, proc.stderr, re.M):
        pytest.xfail(f"upstream's defect: {defect.text}; verbs_odp {test}: {last}")
    if proc.returncode == 0:
        pytest.fail(f"verbs_odp {test} passed on upstream's rxe, which has the defect "
                    f"'{defect.text}': is it fixed? Update UPSTREAM_DEFECTS", pytrace=False)
    pytest.fail(f"verbs_odp {test}: exit {proc.returncode} on upstream's rxe, not the failure "
                f"of its known defect '{defect.text}' (exit {want}, /{defect.regex}/)\n"
                f"--- stderr ---\n{proc.stderr}--- stdout ---\n{proc.stdout}", pytrace=False)


def test_verbs_every_test_is_collected():
    """Every named test of verbs_odp has a pytest test of the same name."""
    if not os.access(VERBS, os.X_OK):
        pytest.fail(f"{VERBS} not built", pytrace=False)
    names = subprocess.run([VERBS, "-l"], stdout=subprocess.PIPE, text=True,
                           timeout=30, check=True).stdout.split()
    with open(__file__) as f:
        defined = set(re.findall(r"^def (test_\w+)\(", f.read(), re.M))
    missing = [n for n in names if f"test_{n}" not in defined]
    assert not missing, "verbs_odp tests without a pytest test: " + ", ".join(missing)


# ---- MADV_DONTNEED of both sides before every iteration -------------------

# Our rxe's fault takes the rest of the message along (patches/0006): the
# sides whose copy knows what is left of the message - a requester's
# gather, a responder's WRITE and READ - fault each 64 KiB message in about
# one go, not once per page (16 times).  A receive buffer's and a READ
# response's scatter still fault per packet.
FAULT_AHEAD_SIDES = {"dontneed_write": ("a", "b"), "dontneed_read": ("b",),
                     "dontneed_send": ("a",)}


def _dontneed(test):
    before = device_odp()
    r = vrun(test)
    pages, iters = r["pages"], r["iters"]
    for side in ("a", "b") if COUNTERS else ():
        assert r[f"{side}.page_faults"] >= iters * pages
        assert r[f"{side}.page_invalidations"] >= (iters - 1) * pages
    for side in FAULT_AHEAD_SIDES.get(test, ()) if COUNTERS else ():
        assert r[f"{side}.page_faults_handled"] <= 2 * iters + 2, (side, r)
    _device_kept(test, before, r)
    return r


def _device_kept(test, before, r):
    """The device totals kept what the program's two MRs counted.

    verbs_odp reads its MRs' counters after registration (all 0) and after
    the traffic, then deregisters them, which zaps the pages they still map
    (a.pages_mapped + b.pages_mapped, counted as page_invalidations); nothing
    else touches rxe0's ODP MRs meanwhile (the tests run one at a time).
    """
    if before is None:
        if os.environ.get("ODP_RXE") == "ours":
            pytest.fail(f"our rxe has no ODP hw counters in {HW_COUNTERS}",
                        pytrace=False)
        return
    after = device_odp()
    d = {k: after[k] - before[k] for k in DEVICE_ODP}
    mr = {k: r[f"a.{k}"] + r[f"b.{k}"] for k in DEVICE_ODP}
    print(f"{test}: device deltas {d}, the MRs' {mr}")
    for k in ("page_faults", "page_faults_handled", "page_invalidation_events",
              "page_prefetch", "fault_retries", "fault_errors"):
        assert d[k] == mr[k], (k, d, mr)
    assert d["page_invalidations"] == mr["page_invalidations"] + mr["pages_mapped"], (d, mr)
    assert d["pages_mapped"] == 0, (before, after)


def test_dontneed_send():
    """SEND of 64 KiB, both buffers dropped before each of 6 iterations."""
    _dontneed("dontneed_send")


def test_dontneed_write():
    """RDMA WRITE of 64 KiB, both buffers dropped before each iteration."""
    _dontneed("dontneed_write")


def test_dontneed_read():
    """RDMA READ of 64 KiB, both buffers dropped before each iteration."""
    _dontneed("dontneed_read")


def test_dontneed_cas():
    """16 CMP_AND_SWAPs (one per page) per iteration, pages dropped first."""
    _dontneed("dontneed_cas")


def test_dontneed_fadd():
    """16 FETCH_AND_ADDs (one per page) per iteration, pages dropped first."""
    _dontneed("dontneed_fadd")


# ---- unaligned multi-page transfers, MTU 1024 -----------------------------
# Upstream 6.18's rxe ODP delivered only the first 1024 bytes of each 4 KiB
# page of such transfers; every byte (and the bytes around) is checked here.

def _unaligned(test):
    r = vrun(test)
    assert r["mtu"] == 1024 and r["transfers"] == 22
    assert not COUNTERS or (r["a.page_faults"] > 0 and r["b.page_faults"] > 0)
    return r


def test_unaligned_write():
    """RDMA WRITE of 8 KiB..1 MiB at odd offsets, untouched and mapped targets."""
    _unaligned("unaligned_write")


def test_unaligned_read():
    """RDMA READ of 8 KiB..1 MiB at odd offsets, untouched and mapped targets."""
    _unaligned("unaligned_read")


def test_unaligned_send():
    """SEND of 8 KiB..1 MiB at odd offsets into receives at odd offsets."""
    _unaligned("unaligned_send")


# ---- munmap, mmap again, mprotect, local SGEs ------------------------------

def test_munmap_remote_write():
    """WRITE into unmapped pages: REM_ACCESS_ERR; after mmap(MAP_FIXED) it works."""
    r = vrun("munmap_remote_write")
    assert r["unmapped_status"] == 10		# IBV_WC_REM_ACCESS_ERR
    if COUNTERS:
        assert r["b.page_invalidations"] >= 2 and r["b.fault_errors"] >= 1
        assert r["remap.b.page_faults"] >= 2


def test_munmap_remote_read():
    """READ from unmapped pages: REM_ACCESS_ERR; after mmap(MAP_FIXED) it works."""
    r = vrun("munmap_remote_read")
    assert r["unmapped_status"] == 10
    if COUNTERS:
        assert r["b.page_invalidations"] >= 2 and r["b.fault_errors"] >= 1
        assert r["remap.b.page_faults"] >= 2


def test_mprotect_remote_write():
    """WRITE into PROT_READ pages: REM_ACCESS_ERR, content kept; READ still works."""
    r = vrun("mprotect_remote_write")
    assert not COUNTERS or (r["b.page_invalidations"] >= 4 and r["b.fault_errors"] >= 1)


def test_local_sge_unmapped_write():
    """WRITE whose source is unmapped: LOC_PROT_ERR, the responder unchanged."""
    vrun("local_sge_unmapped_write")


def test_local_sge_unmapped_read():
    """READ whose target is unmapped: LOC_PROT_ERR (the completer's own status)."""
    r = vrun("local_sge_unmapped_read")
    assert r["status"] == 4			# IBV_WC_LOC_PROT_ERR
    assert not COUNTERS or r["a.fault_errors"] >= 1


def test_local_sge_unmapped_send():
    """SEND whose source is unmapped: LOC_PROT_ERR, the receiver unchanged."""
    vrun("local_sge_unmapped_send")


def test_local_sge_unmapped_recv():
    """A receive over unmapped pages: the sender REM_OP_ERR, the receive LOC_PROT_ERR."""
    r = vrun("local_sge_unmapped_recv")
    assert r["status"] == 11 and r["recv_status"] == 4	# REM_OP_ERR, LOC_PROT_ERR


def test_munmap_remote_atomic():
    """FETCH_ADD and CMP_SWAP on an unmapped page: REM_ACCESS_ERR, nothing returned."""
    r = vrun("munmap_remote_atomic")
    assert r["fadd_status"] == 10 and r["cas_status"] == 10
    assert not COUNTERS or r["b.fault_errors"] >= 2


def test_mprotect_remote_atomic():
    """Atomics on a PROT_READ page mapped writable before: REM_ACCESS_ERR, word kept."""
    r = vrun("mprotect_remote_atomic")
    assert r["fadd_status"] == 10 and r["cas_status"] == 10
    assert not COUNTERS or (r["b.page_invalidations"] >= 1 and r["b.fault_errors"] >= 2)


def test_advise_mr():
    """Prefetch (advise_mr PREFETCH_WRITE + FLUSH): page_prefetch, then no fault."""
    r = vrun("advise_mr")
    if COUNTERS:
        assert r["prefetch.a.page_prefetch"] >= 1 and r["prefetch.b.page_prefetch"] >= 1
        assert r["traffic.a.page_faults"] == 0 and r["traffic.b.page_faults"] == 0


# ---- fork, mremap, NUMA ---------------------------------------------------

def test_fork_cow():
    """After fork the parent's ODP MR works on the parent's pages, never the child's."""
    r = vrun("fork_cow")
    assert not COUNTERS or (r["b.page_invalidations"] > 0 and r["b.page_faults"] > 0)


def test_mremap_move():
    """mremap moves a registered buffer: old range REM_ACCESS_ERR, a new MR works."""
    r = vrun("mremap_move")
    assert not COUNTERS or r["b.page_invalidations"] >= 8


def test_numa_migrate():
    """move_pages() between node 0 and 1 before every WRITE and READ."""
    r = vrun("numa_migrate")
    assert not COUNTERS or r["b.page_invalidations"] >= 7 * 16
    assert r["pages_moved"] >= 8 * 48


# ---- huge pages -----------------------------------------------------------

def test_thp():
    """THP-backed buffers: traffic across 2 MiB, then after a PMD split and a drop."""
    r = vrun("thp")
    assert r["anon_huge_after_traffic"] >= 2 << 20
    assert not COUNTERS or (r["a.page_faults"] > 0 and r["b.page_invalidations"] > 0)


def test_hugetlb():
    """MAP_HUGETLB buffers with IBV_ACCESS_HUGETLB: traffic, MADV_DONTNEED, traffic."""
    r = vrun("hugetlb")
    assert not COUNTERS or (r["a.page_invalidations"] > 0 and r["b.page_invalidations"] > 0)


# ---- implicit ODP ---------------------------------------------------------

def test_implicit():
    """Implicit MRs; memory mmap'ed after registration used at once by every opcode."""
    r = vrun("implicit")
    assert not COUNTERS or (r["a.page_faults"] > 0 and r["b.page_faults"] > 0)


# ---- kill -9, many QPs -----------------------------------------------------

def test_kill9_midtraffic():
    """SIGKILL of a process with WRs in flight: its MRs and QPs go, nothing leaks."""
    r = vrun("kill9_midtraffic")
    assert r["victim_mrs"] == 2 and r["victim_qps"] == 2
    assert r["mrs_after"] == r["mrs_before"] and r["qps_after"] == r["qps_before"]
    assert r["victim_mrs_after"] == 0


def test_storm_16qp():
    """16 QPs WRITE and READ back 64 KiB each, all pages dropped before each round."""
    r = vrun("storm_16qp")
    assert r["qps"] == 16
    if COUNTERS:
        assert r["a.page_faults"] >= r["iters"] * 512
        assert r["b.page_invalidations"] >= (r["iters"] - 1) * 256


# ---- a message whose buffer is partly in the device's cache ---------------
# With odp_fault=deferred the responder NAKs (RNR) the first packet into the
# dropped tail, in the middle of the message (test_verbs_odp_deferred.py
# runs these in that mode and checks the NAKs happened).

def test_dropped_tail_write():
    """RDMA WRITE of 1 MiB + 5000 at an odd offset, the target's tail dropped."""
    r = vrun("dropped_tail_write")
    assert r["iters"] == 4


def test_dropped_tail_send():
    """SEND of 1 MiB + 5000 at an odd offset, the receive buffer's tail dropped."""
    r = vrun("dropped_tail_send")
    assert r["iters"] == 4


# ---- a big, mostly unmapped span ------------------------------------------

def test_sparse_span():
    """An ODP MR over 16 GiB with 64 KiB mapped: the mapped part works both
    ways, the unmapped end is a remote access error.  Our rxe's translation
    cache allocates 8 bytes per GiB of the span at registration (its
    directory, driver/core/pt.c), and a table and a block where a page is
    faulted."""
    if UPSTREAM:
        # Not run there: it takes the whole VM down (make check-upstream of
        # 2026-12-01, 6.18.15+deb13, Documentation/upstream-rxe.md).
        pytest.xfail("upstream's defect, not run: this registration crashes upstream's "
                     "kernel ('kernel BUG at mm/slub.c:634', kfree() in rxe_mr_cleanup() "
                     "from the error path of rxe_reg_user_mr())")
    r = vrun("sparse_span")
    assert r["span"] == 16 << 30 and r["mapped"] == 64 << 10
