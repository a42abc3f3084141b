# SPDX-License-Identifier: MIT
"""Two hosts: libodp traffic between two VMs over rxe on a virtio NIC.

Each test boots one pair (VM A 10.7.0.1 runs the servers, VM B 10.7.0.2 the
clients; see conftest.py) and runs several scenarios in it, one after the
other, each on its own rdma_cm port.  Under TCG with one vCPU per VM a round
trip is ~50-90 ms: the sizes are small.
"""

import os
import re

import pytest

from conftest import REPO

PINGPONG = "examples/odp_rc_pingpong"
WRITE_BW = "examples/odp_write_bw"
RDMA_OPS = "tests/rdma/rdma_ops"

STATS_RE = re.compile(r"^odp(?: (\w+))?: faults (\d+) pages_faulted (\d+) invalidations (\d+) "
                      r"pages_invalidated (\d+) prefetches (\d+)", re.M)


def need(path, how):
    if not os.access(os.path.join(REPO, path), os.X_OK):
        pytest.fail(f"{path} is not built ({how})", pytrace=False)


def stats(text):
    """The last 'odp: faults ...' line of a step's output, as a dict."""
    found = STATS_RE.findall(text)
    assert found, "no 'odp: faults ...' statistics line in:\n" + text[-2000:]
    keys = ("faults", "pages_faulted", "invalidations", "pages_invalidated", "prefetches")
    return dict(zip(keys, map(int, found[-1][1:])))


def both(*names):
    return [(side, name) for name in names for side in "ab"]


def test_two_hosts_pingpong(pair_runner):
    """odp_rc_pingpong across the two VMs: plain, with --odp-fault (both
    buffers dropped with MADV_DONTNEED before every send: faults on both
    sides every iteration), and with 40000-byte messages (several wire
    messages each); -c checks every byte received."""
    need(PINGPONG, "make examples")
    n = 50
    pair = pair_runner(
        f"""
serve   pingpong       300 {PINGPONG} -c -n {n} -p 18515
serve   pingpong_fault 240 {PINGPONG} -c -n {n} --odp-fault -p 18516
serve   pingpong_large 240 {PINGPONG} -c -n 10 -s 40000 -p 18517
""",
        f"""
connect pingpong       120 240 {PINGPONG} -c -n {n} -p 18515 $PEER
connect pingpong_fault 180 120 {PINGPONG} -c -n {n} --odp-fault -p 18516 $PEER
connect pingpong_large 180 120 {PINGPONG} -c -n 10 -s 40000 -p 18517 $PEER
""")
    pair.check(both("pingpong", "pingpong_fault", "pingpong_large"))
    for vm in pair.vms:
        assert f"{n} iters in" in vm.step_log("pingpong"), vm.step_log("pingpong")
        assert "10 iters in" in vm.step_log("pingpong_large"), vm.step_log("pingpong_large")
        out = vm.step_log("pingpong_fault")
        assert f"{n} iters in" in out, out
        st = stats(out)
        # Every send is preceded by a MADV_DONTNEED of both buffers, and one
        # message is in flight at a time: at least one invalidation and one
        # device fault per message sent.
        assert st["invalidations"] >= n and st["faults"] >= n, (vm.name, st)


def test_two_hosts_write_bw(pair_runner):
    """odp_write_bw across the two VMs (the client in B RDMA-writes into an
    ODP MR in A), plain and with --odp-fault (both sides drop their buffers
    over and over); the server checks the last write's data."""
    need(WRITE_BW, "make examples")
    pair = pair_runner(
        f"""
serve   write_bw       300 {WRITE_BW} -s 65536 -n 300 -p 18615
serve   write_bw_fault 240 {WRITE_BW} -s 65536 -n 100 --odp-fault -p 18616
""",
        f"""
connect write_bw       180 240 {WRITE_BW} -s 65536 -n 300 -p 18615 $PEER
connect write_bw_fault 180 120 {WRITE_BW} -s 65536 -n 100 --odp-fault -p 18616 $PEER
""")
    pair.check(both("write_bw", "write_bw_fault"))
    for step in ("write_bw", "write_bw_fault"):
        server = pair.a.step_log(step)
        assert re.search(r"^server: \d+ bytes written with immediate 0x0dd0c0de checked",
                         server, re.M), server
        client = pair.b.step_log(step)
        assert re.search(r"^ 65536\s+\d+\s+[\d.]+\s+[\d.]+", client, re.M), client
    for vm in pair.vms:
        st = stats(vm.step_log("write_bw_fault"))
        assert st["invalidations"] > 0 and st["faults"] > 0, (vm.name, st)


def ops_results(text, side="client"):
    """{test: (result, [FAIL/SKIP lines])} from an all-tests run of one side."""
    results, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"test=(\S+) side=(\w+)\b", line)
        if m and m.group(2) == side:
            cur = m.group(1)
            results[cur] = ["none", []]
            continue
        m = re.match(r"test=(\S+) result=(\w+)", line)	# the client's parent's verdict
        if m:
            results.setdefault(m.group(1), ["none", []])[0] = m.group(2)
            continue
        if cur is None:
            continue
        m = re.match(r"result=(\w+)", line)
        if m:
            results[cur][0] = m.group(1)
        elif line.startswith(("FAIL ", "SKIP ", "check `")):
            results[cur][1].append(line)
    return {k: (v[0], v[1]) for k, v in results.items()}


def test_two_hosts_ops(pair_runner):
    """tests/rdma/rdma_ops, every scenario that needs no outside action
    (opcodes, large and multi-SGE transfers, many outstanding WRs, atomics
    from two QPs, remote/local errors, post errors, races of invalidations
    against the responder and the requester), server in A, client in B.
    A scenario fails if either side of its session failed.

    With ODP_HOST_BASELINE=1 (and tests/rdma/ibv_ops built) the same
    scenarios run first over plain rxe verbs with pinned MRs (the
    compatibility anchor, about 70 s more): its results are not a verdict,
    they say whether a failing scenario also fails without odp."""
    rdma_ops = os.path.join(REPO, RDMA_OPS)
    if not os.access(rdma_ops, os.X_OK):
        pytest.skip(f"{RDMA_OPS} is not built (make progs; its source is tests/rdma/rdma_ops.c)")
    ibv_ops = os.path.join(REPO, "tests", "rdma", "ibv_ops")
    baseline = os.access(ibv_ops, os.X_OK) and os.environ.get("ODP_HOST_BASELINE", "0") == "1"
    srv, cli = [], []
    if baseline:
        srv.append("serve   ibv_ops  600 tests/rdma/ibv_ops server -p 18700")
        cli.append("connect ibv_ops  600 0 tests/rdma/ibv_ops client -p 18700 $PEER")
    srv.append(f"serve   rdma_ops 600 {RDMA_OPS} server -p 18750")
    cli.append(f"connect rdma_ops 600 0 {RDMA_OPS} client -p 18750 $PEER")
    pair = pair_runner("\n".join(srv), "\n".join(cli), timeout=1500)

    client = ops_results(pair.b.step_log("rdma_ops"), "client")
    server = ops_results(pair.a.step_log("rdma_ops"), "server")
    ibv = {}
    if baseline:
        ibv_c = ops_results(pair.b.step_log("ibv_ops"), "client")
        ibv_s = ops_results(pair.a.step_log("ibv_ops"), "server")
        for t in set(ibv_c) | set(ibv_s):
            got = {ibv_c.get(t, ("none",))[0], ibv_s.get(t, ("none",))[0]} - {"none"}
            ibv[t] = "fail" if got - {"pass", "skip"} else "skip" if "skip" in got else \
                     "pass" if got else "no result"
    ok = ("pass", "skip")
    names = list(client) + [t for t in server if t not in client]
    failed = [t for t in names if client.get(t, ("none",))[0] not in ok
              or server.get(t, ("pass",))[0] not in ok]
    lines = []
    for t in failed:
        c, sv = client.get(t, ("none", [])), server.get(t, ("none", []))
        lines.append(f"  {t}: client {c[0]}, server {sv[0]}"
                     + (f"; ibv_ops: {ibv.get(t, 'not run')}" if baseline else ""))
        lines += ["      " + w[:300] for w in (c[1] + sv[1])[:4]]
    if baseline:
        ibv_failed = sorted(t for t, r in ibv.items() if r != "pass" and r != "skip")
        lines.append(f"ibv_ops (pinned MRs, plain rxe) failed {len(ibv_failed)} of {len(ibv)}: "
                     + (", ".join(ibv_failed) or "-"))
    print("\n".join(lines))
    summary = re.search(r"^summary passed=(\d+) failed=(\d+) skipped=(\d+)",
                        pair.b.step_log("rdma_ops"), re.M)
    if failed:
        pytest.fail(f"rdma_ops across two hosts: {len(failed)} of {len(names)} scenarios failed"
                    + (f" (client {summary.group(0)})" if summary else "") + ":\n"
                    + "\n".join(lines)
                    + f"\nlogs: {os.path.relpath(pair.a.out, REPO)}/step-rdma_ops.log (server), "
                    f"{os.path.relpath(pair.b.out, REPO)}/step-rdma_ops.log (client)",
                    pytrace=False)
    pair.check([("a", "rdma_ops"), ("b", "rdma_ops")])
    assert summary, "no summary line from the rdma_ops client"
    assert client and int(summary.group(1)) > 0, summary.group(0)


def test_two_hosts_verbs_odp(pair_runner):
    """Verbs ODP between the two VMs, our rxe on both: rdma_ops' scenarios
    over libibverbs with every MR registered IBV_ACCESS_ON_DEMAND
    (tests/rdma/ibv_ops, IBV_OPS_ODP=1; ibv_ops checks first that rxe0
    reports RC ODP), then `ib_write_bw --odp` and `ib_read_bw --odp`, which
    must run to the end and report bandwidth."""
    ibv_ops = os.path.join(REPO, "tests", "rdma", "ibv_ops")
    if not os.access(ibv_ops, os.X_OK):
        pytest.fail("tests/rdma/ibv_ops is not built (make progs)", pytrace=False)
    if os.environ.get("ODP_RXE", "ours") != "ours":
        pytest.skip("Debian's rxe (ODP_RXE=stock) has no ODP")
    if os.environ.get("ODP_KSERIES") == "6.1":
        pytest.skip("Debian's 6.1 kernel: no ODP rxe (driver/rxe/README.md), the VMs run "
                    "Debian's rdma_rxe, which has no ODP")
    pt = "-d rxe0 -x 1 -F --odp -s 65536 -n 200"
    pair = pair_runner(
        f"""
serve   ibv_odp  900 env IBV_OPS_ODP=1 tests/rdma/ibv_ops server -p 18800
serve   write_bw 240 ib_write_bw {pt} -p 18810
serve   read_bw  240 ib_read_bw {pt} -p 18820
""",
        f"""
connect ibv_odp  900 0 env IBV_OPS_ODP=1 tests/rdma/ibv_ops client -p 18800 $PEER
connect write_bw 180 120 ib_write_bw {pt} -p 18810 $PEER
connect read_bw  180 120 ib_read_bw {pt} -p 18820 $PEER
""", timeout=1500)
    client = ops_results(pair.b.step_log("ibv_odp"), "client")
    server = ops_results(pair.a.step_log("ibv_odp"), "server")
    ok = ("pass", "skip")
    failed = [t for t in client if client[t][0] not in ok
              or server.get(t, ("pass",))[0] not in ok]
    passed = [t for t in client if client[t][0] == "pass"]
    print(f"ibv_ops with ODP MRs across two hosts: {len(passed)} passed of {len(client)}")
    assert not failed, "scenarios failed with ODP MRs across two hosts:\n" + "\n".join(
        f"  {t}: client {client[t][0]}, server {server.get(t, ('none',))[0]}: "
        + "; ".join(w[:300] for w in (client[t][1] + server.get(t, ('', []))[1])[:3])
        for t in failed)
    assert len(passed) >= 40, f"only {len(passed)} scenarios passed: {sorted(client)}"
    pair.check(both("ibv_odp", "write_bw", "read_bw"))
    for step in ("write_bw", "read_bw"):
        out = pair.b.step_log(step)
        m = re.search(r"^\s*65536\s+200\s+([\d.]+)\s+([\d.]+)", out, re.M)
        assert m and float(m.group(2)) > 0, f"{step}: no bandwidth line:\n{out[-2000:]}"
        print(f"{step} --odp across two hosts: {m.group(2)} MB/s average")
