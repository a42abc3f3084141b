# SPDX-License-Identifier: MIT
"""The compatibility anchor: rdma_ops' scenarios over plain libibverbs +
librdmacm on rxe0, with pinned MRs (tests/rdma/ibv_ops, the same scenario
source built with -DRDMA_IBV).

What passes here is what a verbs device does, so the scenarios' data checks
and expected statuses are right; the ODP-only scenarios (unmapped memory,
invalidation races) are left out.  Where rxe itself departs from the verbs
spec, ibv_ops accepts rxe's status and prints `rxe_deviation=...`; those
departures are asserted below, so they stay visible.

One server/client pair runs every scenario (each session in child
processes, `ibv_ops server` / `ibv_ops client` without -t); each test here
reports one scenario of that run.  test_rdma_ibv_odp runs them all again
with every MR registered IBV_ACCESS_ON_DEMAND (IBV_OPS_ODP=1) on our rxe:
verbs ODP must give the bytes and statuses of pinned MRs.

On upstream's ODP rxe (trixie-backports' 6.18 kernel, ODP_RXE=upstream,
`make check-upstream`) both runs happen too; a scenario of the ODP run that
meets one of upstream's known defects (UPSTREAM_ODP_DEFECTS) is an xfail
naming it, after checking that its failure is that defect's; any other
failure fails, and so does a listed scenario that passes.
"""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdma"))
import rdmatest  # noqa: E402
from conftest import KERNEL_61, ODP_RXE, UPSTREAM, require_verbs_device  # noqa: E402

RUN_TIMEOUT = 600

# rxe's departures from the verbs spec that ibv_ops tolerates (and odp does not).
RXE_DEVIATIONS = {
    # A SEND longer than the receive: REM_OP_ERR, not REM_INV_REQ_ERR; the
    # receive completes LOC_QP_OP_ERR, not LOC_LEN_ERR.
    "err_recv_len": {"rxe_deviation": 11, "server.rxe_deviation": 2},
    # The same for a 32 KiB SEND into a 16 KiB receive.
    "whole_send_len": {"rxe_deviation": 11, "server.rxe_deviation": 2},
    # post_send on an unconnected QP: EINVAL from the kernel doorbell, bad_wr NULL.
    "post_unconnected": {"rxe_deviation": "bad_wr_null"},
}

# Two more of Debian's rxe that our rxe fixes: a WR whose local gather fails
# completes WR_FLUSH_ERR, not LOC_PROT_ERR (the requester puts the QP in ERR
# and the completer flushes the failed WQE with the rest; our
# driver/rxe/patches/0002-*), and a receive with a bad lkey completes
# LOC_QP_OP_ERR, not LOC_PROT_ERR (patches/0003-*).
OURS = ODP_RXE == "ours"
if not OURS:
    RXE_DEVIATIONS.update({
        "err_recv_lkey": {"server.rxe_deviation": 2},
        "err_lkey_write": {"rxe_deviation": 5},
        "err_lkey_bounds": {"rxe_deviation": 5},
        "err_lkey_after_inflight": {"rxe_deviation": 5},
    })

# Debian's 6.1 rxe (make check KVER=6.1 loads it) differs from 6.12's, read in
# linux-source-6.1=6.1.192-3.  Its departures where ibv_ops accepts them:
RXE_61_DEVIATIONS = {
    # A gather past the MR's end: copy_data() -> -EFAULT -> LOC_PROT_ERR, as
    # the spec says (6.12 flushes it).
    "err_lkey_bounds": {},
}
# Scenarios that fail on 6.1 exactly the way the reason says (the FAIL line
# must match the regex; then the test skips, else it fails).
RXE_61_FAILS = {
    "err_lkey_write": (
        r"completion wr_id 1 status local QP operation error \(2\)",
        "Debian's 6.1 rxe: a WR whose lkey does not exist completes with "
        "LOC_QP_OP_ERR (copy_data() returns -EINVAL for a failed lookup_mr(), "
        "rxe_req.c maps every error but -EFAULT to IB_WC_LOC_QP_OP_ERR); "
        "ibv_ops accepts LOC_PROT_ERR or rxe 6.12's WR_FLUSH_ERR"),
    "err_lkey_after_inflight": (
        r"completion wr_id 2 status local QP operation error \(2\)",
        "Debian's 6.1 rxe: the WRITE with a bad lkey completes with LOC_QP_OP_ERR "
        "(see err_lkey_write)"),
    "post_queue_full": (
        r"send WR beyond max_send_wr: post_send returned 0 \(success\)",
        "Debian's 6.1 rxe: create_qp returns the requested max_send_wr (16), not the "
        "queue's rounded-up size (31): rxe_qp_init_req() does not write it back, 6.12's "
        "rxe_init_sq() does; the WR beyond max_send_wr fits"),
}
RXE_61_FAILS = RXE_61_FAILS if KERNEL_61 else {}
if KERNEL_61:
    RXE_DEVIATIONS = {**RXE_DEVIATIONS, **RXE_61_DEVIATIONS}


# Scenarios of the ODP run that fail on upstream's rxe: (the defect, a regex
# that the scenario's FAIL lines must match).  `make check-upstream` on
# 6.18.15+deb13-amd64: every scenario fails at its first control message
# (a struct msg SENT into a 1 KiB slot of the peer's ODP receive MR) which
# arrives as zeros, on both sides (Documentation/upstream-rxe.md).
UP_CTRL_LOST = (
    "upstream rxe ODP loses received data: ibv_ops' control messages (SENDs into "
    "1 KiB slots of an ODP receive MR) arrive as zeros, so no scenario gets past "
    "its first request",
    r"^FAIL \w+ (client \(rdma_ops\.c:\d+\): answer type 0 op 0 to request \d+|"
    r"server \(rdma_ops\.c:\d+\): message type 0, expected a request)$")


@pytest.fixture(scope="module")
def odp_device():
    """Overrides conftest's: on upstream's kernel rxe0 is enough (no odp.ko)."""
    return require_verbs_device(rdmatest.IBDEV)


def _scenarios():
    """Scenario names from rdma_ops.c's table: not manual, not ODP-only."""
    src = os.path.join(rdmatest.RDMA_DIR, "rdma_ops.c")
    with open(src) as f:
        text = f.read()
    table = text[text.index("static const struct test tests[]"):]
    out = []
    for name, flags in re.findall(r'TEST\("(\w+)", t_\w+, \d+, ([^,]+),', table):
        if "T_MANUAL" not in flags and "T_ODP" not in flags:
            out.append(name)
    return out


# Every scenario of the ODP run that does not skip fails on upstream's rxe.
UPSTREAM_ODP_DEFECTS = {name: UP_CTRL_LOST for name in _scenarios()}


def _run_all(env=None):
    """Run every scenario once; {name: (block of client output, FAIL lines)}."""
    port = rdmatest.next_port()
    srv = rdmatest.spawn(rdmatest.server_args("ibv_ops", None, port), env)
    cli = rdmatest.spawn(rdmatest.client_args("ibv_ops", None, port), env)
    client, cli_to = rdmatest.finish(cli, "client", RUN_TIMEOUT)
    server, srv_to = rdmatest.finish(srv, "server", 30)
    blocks = {}
    for side in (client, server):      # the client's block, then the server's
        cur = None
        for line in side.stdout.splitlines():
            m = re.match(r"^test=(\S+) side=", line)
            if m:
                cur = m.group(1)
                blocks.setdefault(cur, [])
            if cur:
                blocks[cur].append(line)
    fails = [line for line in (client.stderr + server.stderr).splitlines()
             if line.startswith(("FAIL ", "SKIP "))]
    return {"client": client, "server": server, "timed_out": cli_to or srv_to,
            "blocks": {k: "\n".join(v) for k, v in blocks.items()}, "fails": fails}


@pytest.fixture(scope="module")
def ibv_run():
    """Every scenario over verbs with pinned MRs."""
    return _run_all()


@pytest.fixture(scope="module")
def ibv_odp_run():
    """Every scenario over verbs with ODP MRs (IBV_ACCESS_ON_DEMAND)."""
    if ODP_RXE == "stock":
        pytest.skip("Debian's rxe is loaded (ODP_RXE=stock): it has no ODP")
    return _run_all({"IBV_OPS_ODP": "1"})


def _check(run, name, how, defect=None):
    block = run["blocks"].get(name)
    mine = [f for f in run["fails"] if f.split()[1:2] == [name]]
    if block is None:
        pytest.fail(f"ibv_ops ({how}) did not run {name}" +
                    (" (the run timed out)" if run["timed_out"] else "") + "\n" +
                    run["client"].describe() + run["server"].describe(),
                    pytrace=False)
    print(block)
    if "result=skip" in block:
        pytest.skip("; ".join(mine) or "skipped")
    if name in RXE_61_FAILS:
        pattern, reason = RXE_61_FAILS[name]
        if "result=fail" in block and mine and all(
                re.search(pattern, f) or "the client failed" in f for f in mine):
            pytest.skip(reason)
        pytest.fail(f"{name}: expected to fail on Debian's 6.1 rxe matching {pattern!r} "
                    f"({reason}); got:\n{block}\n" + "\n".join(mine), pytrace=False)
    if defect:
        text, regex = defect
        failed = "result=fail" in block
        if failed and mine and all(re.search(regex, f) for f in mine):
            pytest.xfail(f"upstream's defect: {text}; " + "; ".join(mine)[:600])
        if not failed and "result=pass" in block:
            pytest.fail(f"{name} passed over ODP MRs of upstream's rxe, which has the defect "
                        f"'{text}': is it fixed? Update UPSTREAM_ODP_DEFECTS", pytrace=False)
        pytest.fail(f"{name} over ODP MRs of upstream's rxe did not fail the way its known "
                    f"defect '{text}' does (/{regex}/):\n{block}\n" + "\n".join(mine),
                    pytrace=False)
    if "result=pass" not in block or "result=fail" in block:
        pytest.fail(f"{name} over ibverbs ({how}):\n{block}\n" + "\n".join(mine),
                    pytrace=False)
    r = rdmatest.Side("ibv_ops", 0, block, "")
    got = {k: v for k, v in r.items() if k.endswith("rxe_deviation")}
    want = RXE_DEVIATIONS.get(name, {})
    assert got == want, (
        f"rxe's departures from the spec: {got}, expected {want}: rxe's behaviour "
        f"changed; update RXE_DEVIATIONS (and check the odp expectation)")


def _check_summary(run):
    assert not run["timed_out"], "the ibverbs run timed out"
    c, s = run["client"], run["server"]
    if RXE_61_FAILS:
        # On 6.1 the sides exit 1 for exactly the scenarios of RXE_61_FAILS
        # (each checked by test_rdma_ibv); any other FAIL line fails here.
        other = [f for f in run["fails"]
                 if f.startswith("FAIL ") and f.split()[1] not in RXE_61_FAILS]
        assert not other, "\n".join(other) + c.describe() + s.describe()
        assert c.returncode in (0, 1) and s.returncode in (0, 1), c.describe() + s.describe()
        return
    assert c.returncode == 0 and s.returncode == 0, c.describe() + s.describe()


@pytest.mark.parametrize("name", _scenarios())
def test_rdma_ibv(ibv_run, name):
    """The scenario passes over libibverbs + librdmacm with pinned MRs."""
    _check(ibv_run, name, "pinned MRs")


def test_rdma_ibv_summary(ibv_run):
    """Both sides of the run exited 0 (every session passed) in time."""
    _check_summary(ibv_run)


@pytest.mark.parametrize("name", _scenarios())
def test_rdma_ibv_odp(ibv_odp_run, name):
    """The scenario over libibverbs with ODP MRs of our rxe: the statuses and
    bytes it gets with pinned MRs."""
    _check(ibv_odp_run, name, "ODP MRs", UPSTREAM_ODP_DEFECTS.get(name) if UPSTREAM else None)


def test_rdma_ibv_odp_summary(ibv_odp_run):
    """Both sides of the ODP run exited 0 in time (on upstream's rxe: or the
    client exited 1 for the scenarios of UPSTREAM_ODP_DEFECTS alone)."""
    run = ibv_odp_run
    if UPSTREAM and not run["timed_out"] and run["server"].returncode in (0, 1) and \
            run["client"].returncode == 1:
        failed = sorted(n for n, b in run["blocks"].items() if "result=fail" in b)
        if failed and set(failed) <= set(UPSTREAM_ODP_DEFECTS):
            pytest.xfail(f"upstream's defects failed {len(failed)} scenarios: {' '.join(failed)}")
    _check_summary(run)
