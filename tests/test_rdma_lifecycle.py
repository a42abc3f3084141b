# SPDX-License-Identifier: MIT
"""A peer or the device going away while RDMA streams (tests/rdma/rdma_ops.c).

The client streams WRITE + READ rounds into the server's ODP MR
(`kill_stream` / `devremove_stream`) and prints `streaming=1` after the
first round; then we SIGKILL one side, or remove rxe0.  The survivors must
see error completions - every outstanding WR and receive completes, none
hangs - and exit by themselves; afterwards no MR is left in debugfs and the
module's reference count is back to 0.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdma"))
import rdmatest  # noqa: E402
from conftest import module_refcnt, read_mrs, wait_for  # noqa: E402
from rdmatest import WC_WR_FLUSH_ERR  # noqa: E402

STREAM_START = 60       # seconds until the first round has completed
ERROR_BOUND = 30        # seconds from the kill/removal until the survivor exits
IBDEV = rdmatest.IBDEV
IBDEV_SYS = f"/sys/class/infiniband/{IBDEV}"


def _start_stream(test):
    port = rdmatest.next_port()
    srv = rdmatest.spawn(rdmatest.server_args("rdma_ops", test, port))
    cli = rdmatest.spawn(rdmatest.client_args("rdma_ops", test, port))
    seen = []
    if not rdmatest.wait_line(cli, r"^streaming=1", STREAM_START, seen):
        rdmatest.kill(cli)
        rdmatest.kill(srv)
        c, _ = rdmatest.finish_streamed(cli, "client", 10, seen)
        s, _ = rdmatest.finish(srv, "server", 10)
        pytest.fail(f"{test}: the stream did not start within {STREAM_START}s\n" +
                    c.describe() + s.describe(), pytrace=False)
    return srv, cli, seen


def _nothing_left(pids):
    """No MR of the pids in debugfs, the module unreferenced."""
    left = wait_for(lambda: not [m for m in read_mrs() if m["pid"] in pids], timeout=10)
    assert left, f"MRs left after exit: {[m for m in read_mrs() if m['pid'] in pids]}"
    refcnt = wait_for(lambda: module_refcnt() == 0, timeout=10)
    assert refcnt, f"/sys/module/odp/refcnt is {module_refcnt()} after every process exited"


def _streamed_until_error(r, teardown_ok=True):
    if teardown_ok:
        assert r["result"] == "pass"
    assert r["rounds"] >= 1
    assert r["error_status"] != 0
    assert r["ctrl_flushed"] == 8      # every control receive completed


def test_rdma_kill_server_mid_stream():
    """kill -9 of the responder: the requester's WRs complete with errors within
    ERROR_BOUND seconds (no hang), it exits, nothing leaks."""
    srv, cli, seen = _start_stream("kill_stream")
    time.sleep(0.5)
    rdmatest.kill(srv, signal.SIGKILL)
    t0 = time.monotonic()
    client, cli_to = rdmatest.finish_streamed(cli, "client", ERROR_BOUND, seen)
    elapsed = time.monotonic() - t0
    server, _ = rdmatest.finish(srv, "server", 10)
    rdmatest.show(client, server)
    assert not cli_to, f"the client hung after the server was killed (> {ERROR_BOUND}s)"
    assert server.returncode == -signal.SIGKILL
    assert client.returncode == 0, client.describe()
    _streamed_until_error(client)
    print(f"client exited {elapsed:.2f}s after the kill")
    _nothing_left({srv.pid, cli.pid})


def test_rdma_kill_client_mid_stream():
    """kill -9 of the requester: the responder's posted receives flush, it exits."""
    srv, cli, seen = _start_stream("kill_stream")
    time.sleep(0.5)
    rdmatest.kill(cli, signal.SIGKILL)
    client, _ = rdmatest.finish_streamed(cli, "client", 10, seen)
    server, srv_to = rdmatest.finish(srv, "server", ERROR_BOUND)
    rdmatest.show(client, server)
    assert not srv_to, f"the server hung after the client was killed (> {ERROR_BOUND}s)"
    assert client.returncode == -signal.SIGKILL
    assert server.returncode == 0, server.describe()
    assert server["peer_gone"] == 1
    assert server["server.data_recv_flushed"] == 1
    _nothing_left({srv.pid, cli.pid})


def _netdev_of(ibdev):
    try:
        return os.listdir(f"/sys/class/infiniband/{ibdev}/device/net")[0]
    except OSError:
        pass
    try:
        with open(f"/sys/class/infiniband/{ibdev}/ports/1/gid_attrs/ndevs/0") as f:
            return f.read().strip()
    except OSError:
        return "d0"


def _rdma(*args):
    return subprocess.run(["rdma", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)


def _port_active():
    try:
        with open(f"{IBDEV_SYS}/ports/1/state") as f:
            return "ACTIVE" in f.read()
    except OSError:
        return False


def _restore_ibdev(netdev):
    """rxe0 back on its netdev, port ACTIVE (whatever happened before)."""
    for _ in range(20):
        if os.path.exists(IBDEV_SYS):
            break
        p = _rdma("link", "add", IBDEV, "type", "rxe", "netdev", netdev)
        print(f"$ rdma link add {IBDEV} type rxe netdev {netdev}: {p.returncode} {p.stdout}")
        if p.returncode == 0:
            break
        time.sleep(0.5)
    assert wait_for(_port_active, timeout=30), f"{IBDEV} is not back (ACTIVE)"


def test_rdma_device_removal():
    """`rdma link del rxe0` under a connected pair: both sides' outstanding WRs and
    receives complete with WR_FLUSH_ERR, no crash or warning; rxe0 added again,
    binding to it works (a fresh pair runs) and nothing leaks."""
    netdev = _netdev_of(IBDEV)
    srv = cli = None
    try:
        srv, cli, seen = _start_stream("devremove_stream")
        time.sleep(0.3)
        t0 = time.monotonic()
        p = _rdma("link", "del", IBDEV)
        print(f"$ rdma link del {IBDEV}: {p.returncode} {p.stdout} "
              f"({time.monotonic() - t0:.2f}s)")
        assert p.returncode == 0, f"rdma link del {IBDEV} failed: {p.stdout}"
        client, cli_to = rdmatest.finish_streamed(cli, "client", ERROR_BOUND, seen)
        server, srv_to = rdmatest.finish(srv, "server", ERROR_BOUND)
        rdmatest.show(client, server)
        assert not cli_to and not srv_to, "a side hung after the device was removed"
        for side in (client, server):
            assert side.returncode == 0, side.describe()
        _streamed_until_error(client, True)
        assert client["error_status"] == WC_WR_FLUSH_ERR
        assert server["peer_gone"] == 1
        assert server["server.data_recv_flushed"] == 1
        _nothing_left({srv.pid, cli.pid})
    finally:
        for proc in (cli, srv):
            if proc is not None:
                rdmatest.kill(proc)
                proc.wait()
        _restore_ibdev(netdev)
    # The module attached to the new rxe0: contexts bind, QPs connect, data moves.
    client, _ = rdmatest.run_pair("send")
    assert client["client.faults"] > 0
