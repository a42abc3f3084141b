# SPDX-License-Identifier: MIT
"""Network namespaces (odp_netns.c, examples/odp_rc_pingpong).

A context uses the network namespace of the process that opened /dev/odp.
A process in a fresh namespace (`unshare -n`: a loopback that is down, no
route) cannot reach 10.99.0.1 of the initial namespace, cannot listen on it,
and its wildcard listener gets no connection from the initial namespace.
Any error of the isolated side counts, but it must come promptly.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdma"))
import rdmatest  # noqa: E402

CONNECT_BOUND_MS = 6000
PINGPONG_ITERS = "5"
CLIENT_LIMIT = 30       # s, the isolated pingpong client (its connect: 5 s)


def test_netns_connect_out(run):
    """A client in a fresh netns cannot connect to 10.99.0.1 (initial netns);
    the same client in the initial netns can (control)."""
    r = run("odp_netns", "netns_connect_out", timeout=90)
    assert r["control.connect_errno"] == 0
    assert r["netns.connect_errno"] != 0
    assert r["netns.ms"] <= CONNECT_BOUND_MS


def test_netns_listen_addr(run):
    """odp_listen on 10.99.0.1 fails in a fresh netns, where that address does not exist."""
    r = run("odp_netns", "netns_listen_addr", timeout=60)
    assert r["listen_errno"] != 0


def test_netns_listen_any(run):
    """A wildcard listener in a fresh netns gets no connection from the initial netns."""
    r = run("odp_netns", "netns_listen_any", timeout=90)
    if r["netns.listen_errno"] == 0:
        assert r["connect_errno"] != 0
        assert r["connect_ms"] <= CONNECT_BOUND_MS


def test_netns_pingpong_unshare():
    """The report's case: `unshare -n odp_rc_pingpong 10.99.0.1` fails to connect to a
    pingpong server of the initial netns (promptly); a client without unshare then
    runs the pingpong with that server (control)."""
    port = rdmatest.next_port() + 500
    pp = rdmatest.prog("odp_rc_pingpong")
    srv = rdmatest.spawn([pp, "-b", rdmatest.ADDR, "-p", str(port), "-n", PINGPONG_ITERS])
    try:
        time.sleep(1.0)         # the server listens
        t0 = time.monotonic()
        iso = subprocess.run(["unshare", "-n", pp, "-p", str(port), "-n", PINGPONG_ITERS,
                              rdmatest.ADDR], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=CLIENT_LIMIT,
                             cwd="/tmp")
        elapsed = time.monotonic() - t0
        print(f"$ unshare -n odp_rc_pingpong {rdmatest.ADDR}: exit {iso.returncode} "
              f"({elapsed:.2f}s)\n{iso.stdout}")
        assert iso.returncode != 0, (
            "a pingpong client in a fresh network namespace (no route to "
            f"{rdmatest.ADDR}) connected to the server of the initial namespace "
            f"and ran:\n{iso.stdout}")
        assert elapsed < 15, f"the isolated client took {elapsed:.1f}s to fail"

        cli = rdmatest.spawn([pp, "-p", str(port), "-n", PINGPONG_ITERS, rdmatest.ADDR])
        client, cli_to = rdmatest.finish(cli, "client", 60)
        server, srv_to = rdmatest.finish(srv, "server", 30)
        rdmatest.show(client, server)
        assert not cli_to and not srv_to, "control pingpong timed out"
        assert client.returncode == 0 and server.returncode == 0, \
            "control pingpong in the initial namespace failed"
    finally:
        rdmatest.kill(srv)
        srv.wait(timeout=10)
