# SPDX-License-Identifier: MIT
"""Destroying a QP that a failing connect or accept, a rejected connection or
device removal still holds (odp_qp_race.c; issue 7, item 7).

Each holder keeps its own QP reference and, giving up, tears the transport
down and kicks the QP's work item; a kick after destroy's cancel_work_sync()
would run the work on freed memory.  A production kernel rarely shows such a
use after free: these races are meant for the debug kernel (KASAN,
DEBUG_OBJECTS, lockdep; `make check KERNEL=debug`), where the runner fails
on any report.  Here they check that every connect and accept comes back
with a documented errno within 10 s of the destroy, every destroy succeeds,
and nothing is left.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdma"))
import rdmatest  # noqa: E402
from conftest import PROGS, module_refcnt, parse_counters, wait_for  # noqa: E402
from test_rdma_lifecycle import IBDEV, _netdev_of, _rdma, _restore_ibdev  # noqa: E402

RACE_MS = os.environ.get("ODP_RACE_MS", "4000")


def test_qp_connect_refused_destroy(run):
    """connect to a port nobody listens on racing DESTROY_QP of the connecting
    QP (and receives posted on it): every connect ends, refused or aborted."""
    r = run("odp_qp_race", "qp_connect_refused_destroy", timeout=120,
            env={"ODP_RACE_MS": RACE_MS})
    assert r["iters"] > 0


def test_qp_accept_reject_destroy(run):
    """connect + accept pairs racing DESTROY_QP of either side and
    DESTROY_LISTEN (which rejects the pending request)."""
    r = run("odp_qp_race", "qp_accept_reject_destroy", timeout=120,
            env={"ODP_RACE_MS": RACE_MS})
    assert r["rounds"] > 0


def test_qp_race_devremove(progs):
    """The pairs with SEND traffic while rxe0 is removed (`rdma link del`) and
    added again, three times: the program runs to its end, no connect or
    accept hangs, nothing leaks."""
    netdev = _netdev_of(IBDEV)
    env = dict(os.environ, ODP_RACE_MS="20000")
    proc = subprocess.Popen([os.path.join(PROGS, "odp_qp_race"), "qp_race_devremove"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd="/tmp")
    try:
        for _ in range(3):
            time.sleep(2.5)
            p = _rdma("link", "del", IBDEV)
            print(f"$ rdma link del {IBDEV}: {p.returncode} {p.stdout}")
            assert p.returncode == 0, p.stdout
            time.sleep(0.5)
            _restore_ibdev(netdev)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _restore_ibdev(netdev)
    print(out)
    print(err)
    assert proc.returncode == 0, err
    r = parse_counters(out)
    assert r["rounds"] > 0
    assert r["reopened"] >= 2, "the device removals were not seen"
    assert wait_for(lambda: module_refcnt() == 0, timeout=10)
    # rxe0 is back and carries traffic.
    client, _ = rdmatest.run_pair("send")
    assert client["client.faults"] > 0
