# SPDX-License-Identifier: MIT
"""The transport examples run as a pair over rxe0 and exit 0 (examples/).

The client is started after the server is listening (the examples connect
once, they do not retry); both have a time limit.
"""

import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdma"))
import rdmatest  # noqa: E402

TIMEOUT = 120


def _listening(port):
    """Whether an rdma_cm listener is bound to port (rdma res show cm_id)."""
    try:
        out = subprocess.run(["rdma", "res", "show", "cm_id"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any("LISTEN" in line and f":{port}" in line for line in out.splitlines())


def run_example(name, *opts):
    port = rdmatest.next_port()
    path = rdmatest.prog(name)
    srv = rdmatest.spawn([path, "-p", str(port), *opts])
    # The kernel's listener shows in `rdma res show cm_id`.
    end = time.monotonic() + 10
    while time.monotonic() < end and not _listening(port) and srv.poll() is None:
        time.sleep(0.2)
    cli = rdmatest.spawn([path, "-p", str(port), *opts, rdmatest.ADDR])
    client, cli_to = rdmatest.finish(cli, "client", TIMEOUT)
    server, srv_to = rdmatest.finish(srv, "server", 30)
    rdmatest.show(client, server)
    assert not cli_to and not srv_to, f"{name} {' '.join(opts)}: timed out"
    assert client.returncode == 0, client.describe()
    assert server.returncode == 0, server.describe()
    return client, server


def test_rdma_example_pingpong_check():
    """odp_rc_pingpong -c: 200 checked round trips of 4 KiB."""
    client, server = run_example("odp_rc_pingpong", "-c", "-n", "200")
    assert "iters in" in client.stdout and "iters in" in server.stdout


def test_rdma_example_pingpong_odp_fault():
    """odp_rc_pingpong -c --odp-fault: every message faults both sides."""
    client, server = run_example("odp_rc_pingpong", "-c", "--odp-fault", "-n", "100")
    assert "iters in" in client.stdout


def test_rdma_example_write_bw():
    """odp_write_bw: 300 WRITEs of 64 KiB, and the checked last one."""
    client, server = run_example("odp_write_bw", "-s", "65536", "-n", "300")
    assert "checked" in server.stdout
    assert "MsgRate" in client.stdout


@pytest.mark.parametrize("prefetch", [False, True], ids=["", "prefetch"])
def test_rdma_example_write_bw_odp_fault(prefetch):
    """odp_write_bw --odp-fault: a fault storm on both sides while writing."""
    opts = ["-s", "65536", "-n", "200", "--odp-fault"] + (["--prefetch"] if prefetch else [])
    client, server = run_example("odp_write_bw", *opts)
    assert "checked" in server.stdout
