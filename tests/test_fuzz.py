# SPDX-License-Identifier: MIT
"""The fuzzers of tests/fuzz, briefly (`make fuzz` runs them for minutes).

Each run prints its seed first (`seed=N`); a failing run prints a
reproducer (the seed, and for peer_fuzz the session: `peer_fuzz -s N -r K`).
ODP_FUZZ_TIME sets the seconds per fuzzer (default 25), ODP_FUZZ_SEED a seed.
The kernel log is checked by conftest as for every test.
"""

import os
import subprocess
import time

import pytest

from conftest import TESTS, parse_counters

FUZZ = os.path.join(TESTS, "fuzz")
FUZZ_TIME = int(os.environ.get("ODP_FUZZ_TIME", "25"))
FUZZ_SEED = os.environ.get("ODP_FUZZ_SEED")


def run_fuzzer(name, args, expect_rc=0, env=None):
    path = os.path.join(FUZZ, name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not built: run `make progs` on the host first", pytrace=False)
    if FUZZ_SEED:
        args = ["-s", FUZZ_SEED] + args
    start = time.monotonic()
    try:
        proc = subprocess.run([path] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=FUZZ_TIME + 300, cwd="/tmp",
                              env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        pytest.fail(f"{name} {' '.join(args)}: hung ({FUZZ_TIME + 300} s)\n{out}",
                    pytrace=False)
    print(f"$ {path} {' '.join(args)}  ({time.monotonic() - start:.1f}s, "
          f"exit {proc.returncode})")
    print(proc.stdout, end="")
    if proc.stderr:
        print("--- stderr ---")
        print(proc.stderr[-20000:], end="")
    if proc.returncode == 77:
        pytest.skip(f"{name}: {proc.stderr.strip()}")
    lines = proc.stdout.splitlines()
    assert lines and lines[0].startswith("seed="), f"{name} did not print its seed first"
    if proc.returncode != expect_rc:
        pytest.fail(f"{name} {' '.join(args)} ({lines[0]}): exit {proc.returncode}, "
                    f"expected {expect_rc}\n--- stderr ---\n{proc.stderr[-8000:]}",
                    pytrace=False)
    counters = parse_counters(proc.stdout)
    counters["_stderr"] = proc.stderr
    return counters


def test_ioctl_fuzz():
    c = run_fuzzer("ioctl_fuzz", ["-t", str(FUZZ_TIME), "-j", "4"])
    assert c["violations"] == 0
    assert c["iterations"] > 100
    # The structured paths got through, not only the refusals.
    for op in ("alloc_pd", "reg_mr", "mr_access", "create_cq", "create_qp", "check"):
        assert c[f"ok.{op}"] > 0, f"no successful {op}"
    for op in ("raw", "post_send", "traffic", "advise_mr"):
        assert c[f"count.{op}"] > 0, f"no {op}"


def test_peer_fuzz():
    c = run_fuzzer("peer_fuzz", ["-t", str(FUZZ_TIME)])
    assert c["violations"] == 0
    assert c["sessions"] > 5
    assert c["messages"] > c["sessions"]
    assert c["target.flushed"] > 0


def test_peer_consumed_order():
    """A SEND waiting for a receive survives the answer to our READ.

    The peer stamps the SEND's credit count before it sees our READ and
    answers the READ after it; the SEND waits (no receive yet), the answer
    overtakes it.  Credit counts must be taken in arrival order, or the
    stalled SEND looks like the count going backwards and errors the QP
    (found by peer_fuzz, fixed in d01711e).
    """
    run_fuzzer("peer_fuzz", ["-R", "consumed_order", "-p", "19876"])


def test_peer_fuzz_oracle_selftest():
    """The memory oracle fires: a byte of an MR without remote write changes."""
    c = run_fuzzer("peer_fuzz", ["-n", "2", "-p", "19877"], expect_rc=1,
                   env={"PEER_FUZZ_SELFTEST": "1"})
    assert "memory the peer may not write changed" in c["_stderr"]
    assert "reproduce: tests/fuzz/peer_fuzz -s" in c["_stderr"]
