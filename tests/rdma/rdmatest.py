# SPDX-License-Identifier: MIT
"""Running the RDMA test programs (rdma_ops, ibv_ops) as server/client pairs.

Both processes of a pair run in this VM, connected over rxe0 (10.99.0.1,
loopback).  Every process has a time limit: the client's run is bounded, and
the server is waited for (and killed) with its own, so a dead partner never
hangs the suite.  Used by tests/test_rdma_*.py (and reusable for two hosts:
the programs only need `server -b ADDR -p PORT` and `client -p PORT ADDR`).
"""

import itertools
import os
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import DEFAULT_TIMEOUT, parse_counters

RDMA_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(RDMA_DIR))
EXAMPLES = os.path.join(REPO, "examples")
ADDR = os.environ.get("ODP_RDMA_ADDR", "10.99.0.1")
IBDEV = os.environ.get("ODP_RDMA_DEV", "rxe0")
# A fresh port per pair: a listener of a previous pair may still be going away.
_PORTS = itertools.count(int(os.environ.get("ODP_RDMA_PORT", "18700")))

# libibverbs' enum ibv_wc_status values the tests name.
WC_SUCCESS = 0
WC_LOC_LEN_ERR = 1
WC_LOC_QP_OP_ERR = 2
WC_LOC_PROT_ERR = 4
WC_WR_FLUSH_ERR = 5
WC_REM_INV_REQ_ERR = 9
WC_REM_ACCESS_ERR = 10
WC_REM_OP_ERR = 11


def next_port():
    return next(_PORTS)


def prog(name):
    """Path of tests/rdma/<name> or examples/<name>; fails clearly if not built."""
    for d in (RDMA_DIR, EXAMPLES):
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    pytest.fail(f"{name} not built: run `make progs examples` on the host first",
                pytrace=False)


class Side(dict):
    """One process of a pair: its counters (a dict), exit status and output."""

    def __init__(self, name, returncode, stdout, stderr):
        super().__init__(parse_counters(stdout or ""))
        self.name = name
        self.returncode = returncode
        self.stdout = stdout or ""
        self.stderr = stderr or ""

    def __missing__(self, key):
        raise KeyError(f"{key!r} not printed by the {self.name}; it printed:\n{self.stdout}")

    def describe(self):
        rc = self.returncode
        why = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit {rc}"
        return (f"--- {self.name} ({why}) stdout ---\n{self.stdout}"
                f"--- {self.name} stderr ---\n{self.stderr}")


def _text(data):
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def spawn(args, env=None):
    """A program in its own process group, output piped, cwd /tmp; env: extra
    environment variables."""
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd="/tmp", start_new_session=True,
                            env=dict(os.environ, **env) if env else None)


def finish(proc, name, timeout):
    """Wait for proc (killing it after timeout); returns (Side, timed_out)."""
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill(proc)
        out, err = proc.communicate()
    return Side(name, proc.returncode, _text(out), _text(err)), timed_out


def kill(proc, sig=signal.SIGKILL):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass


def server_args(program, test, port, bind=ADDR):
    args = [prog(program), "server", "-b", bind, "-p", str(port)]
    return args + (["-t", test] if test else [])


def client_args(program, test, port, addr=ADDR):
    return [prog(program), "client", "-p", str(port)] + \
        (["-t", test] if test else []) + [addr]


def show(*sides):
    for s in sides:
        print(s.describe(), end="")


def run_pair(test, program="rdma_ops", timeout=DEFAULT_TIMEOUT, check=True):
    """Run TEST as a server/client pair; returns (client, server) Sides.

    check: fail unless both exit 0 (skip if the client skipped with 77).
    """
    port = next_port()
    start = time.monotonic()
    srv = spawn(server_args(program, test, port))
    cli = spawn(client_args(program, test, port))
    client, cli_to = finish(cli, "client", timeout)
    # The server ends right after the client; a dead client ends it too.
    server, srv_to = finish(srv, "server", 30 if not cli_to else 5)
    print(f"$ {program} {test} (port {port}): {time.monotonic() - start:.2f}s, "
          f"client exit {client.returncode}, server exit {server.returncode}")
    show(client, server)
    if not check:
        return client, server
    if cli_to or srv_to:
        pytest.fail(f"{program} {test}: {'client' if cli_to else 'server'} timed out "
                    f"(limit {timeout if cli_to else 30}s)\n" +
                    client.describe() + server.describe(), pytrace=False)
    if client.returncode == 77:
        reason = client.stderr.strip().splitlines()
        pytest.skip(f"{program} {test}: " + (reason[-1] if reason else "skipped"))
    if client.returncode != 0 or server.returncode != 0:
        pytest.fail(f"{program} {test}: client exit {client.returncode}, server exit "
                    f"{server.returncode}\n" + client.describe() + server.describe(),
                    pytrace=False)
    assert client["result"] == "pass" and server["result"] == "pass"
    return client, server


def wait_line(proc, pattern, timeout, seen):
    """Read proc's stdout until a line matches pattern; seen collects the text.

    Returns the match, or None on timeout / EOF.
    """
    rx = re.compile(pattern)
    fd = proc.stdout.fileno()
    end = time.monotonic() + timeout
    buf = ""
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        text = chunk.decode("utf-8", "replace")
        seen.append(text)
        buf += text
        while "\n" in buf:
            line, buf = buf.split("\n", 1)
            m = rx.search(line)
            if m:
                return m
    return None


def finish_streamed(proc, name, timeout, seen):
    """finish() for a process whose stdout was partly read by wait_line()."""
    side, timed_out = finish(proc, name, timeout)
    side = Side(name, side.returncode, "".join(seen) + side.stdout, side.stderr)
    return side, timed_out
