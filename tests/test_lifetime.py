# SPDX-License-Identifier: MIT
"""Object lifetime (odp_lifetime.c): creates racing destroys of guessed handles.

A handle is the lowest free one, so another thread can destroy an object
before its creator got the handle back.  The driver must make an object
visible only once it is fully set up and its result was copied out; every
call returns 0 or a clean errno, the kernel logs nothing (conftest fails the
test on a BUG / list corruption / WARN), nothing is left afterwards.

A driver that gets this wrong can oops while holding a lock (the MR list
lock of debugfs), after which the test process and any reader of
/sys/kernel/debug/odp/mrs sleep forever in the kernel.  So the program runs
with its output in files and a bounded wait, and the MR-leak check of this
module reads debugfs from a helper process it does not wait for forever.
"""

import os
import signal
import subprocess
import tempfile
import types

import pytest

from conftest import DEBUGFS, PROGS, ProgResult, parse_counters

PROG = "odp_lifetime"
TIMEOUT = 45            # one test: a few s of race (ODP_RACE_MS) plus setup
DEBUGFS_TIMEOUT = 10


def _read_mrs_bounded():
    """(pid, handle) of every MR in debugfs, or None if the read hangs."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(["cat", os.path.join(DEBUGFS, "mrs")], stdout=out,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=DEBUGFS_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()         # it sleeps in the kernel: leave it
            return None
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    mrs = set()
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == "mr" and f[2] == "pid":
            mrs.add((int(f[3]), int(f[1])))
    return mrs


@pytest.fixture(autouse=True)
def no_mr_leak(odp_device):
    """conftest's MR-leak check, with a bounded read of debugfs."""
    before = _read_mrs_bounded()
    if before is None:
        pytest.fail(f"reading {DEBUGFS}/mrs blocks (its lock is held by a task "
                    f"that died?)", pytrace=False)
    yield
    after = _read_mrs_bounded()
    if after is None:
        pytest.fail(f"reading {DEBUGFS}/mrs blocks after the test: the MR list "
                    f"lock is held forever (a task oopsed holding it?)", pytrace=False)
    if after - before:
        pytest.fail(f"MRs left in {DEBUGFS}/mrs after the test's processes exited: "
                    f"{sorted(after - before)}", pytrace=False)


def _text(f):
    f.seek(0)
    return f.read().decode("utf-8", "replace")


def run_bounded(test, timeout=TIMEOUT):
    """tests/progs/odp_lifetime TEST; never waits more than timeout + 10 s."""
    path = os.path.join(PROGS, PROG)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not built: run `make -C tests/progs` on the host first",
                    pytrace=False)
    stuck = timed_out = False
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([path, test], stdout=out, stderr=err, cwd="/tmp",
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                stuck = True    # unkillable: asleep in the kernel for good
        stdout, stderr = _text(out), _text(err)
    print(f"$ {path} {test}  (exit {proc.returncode})")
    print(stdout, end="")
    if stderr:
        print("--- stderr ---")
        print(stderr, end="")
    if timed_out:
        pytest.fail(f"{PROG} {test}: still running after {timeout}s"
                    f"{' and unkillable (stuck in the kernel)' if stuck else ''}\n"
                    f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}", pytrace=False)
    if proc.returncode == 77:
        reason = stderr.strip().splitlines()
        pytest.skip(f"{PROG} {test}: " + (reason[-1] if reason else "skipped"))
    if proc.returncode != 0:
        why = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exit {proc.returncode}")
        pytest.fail(f"{PROG} {test}: {why}\n--- stderr ---\n{stderr}\n"
                    f"--- stdout ---\n{stdout}", pytrace=False)
    res = types.SimpleNamespace(returncode=proc.returncode, stdout=stdout, stderr=stderr)
    return ProgResult(res, parse_counters(stdout))


def _race(name, kind):
    r = run_bounded(name)
    assert r["test"] == name
    assert r[f"{kind}.creates"] > 0
    return r


def _efault(name, kind):
    r = run_bounded(name)
    assert r["test"] == name
    assert r[f"{kind}.creates"] > 0
    assert r["visible"] == 0
    return r


def test_lifetime_race_pd(progs):
    """ALLOC_PD racing DEALLOC_PD of handles 1-2: only 0/EINVAL, sane handles, none left."""
    _race("lifetime_race_pd", "pd")


def test_lifetime_race_mr(progs):
    """REG_MR racing DEREG_MR of handles 1-2: no list corruption/BUG, 0/EINVAL, PD freeable."""
    _race("lifetime_race_mr", "mr")


def test_lifetime_race_cq(progs):
    """CREATE_CQ racing DESTROY_CQ of handles 1-2: only 0/EINVAL, none left."""
    _race("lifetime_race_cq", "cq")


def test_lifetime_race_qp(progs):
    """CREATE_QP racing DESTROY_QP of handles 1-2: only 0/EINVAL, CQ and PD freeable after."""
    _race("lifetime_race_qp", "qp")


def test_lifetime_race_listen(progs):
    """LISTEN racing DESTROY_LISTEN of handles 1-2: only 0/EINVAL, none left."""
    _race("lifetime_race_listen", "listen")


def test_lifetime_efault_pd(progs):
    """ALLOC_PD with a read-only arg: EFAULT, the PD never visible to another thread, none left."""
    _efault("lifetime_efault_pd", "pd")


def test_lifetime_efault_mr(progs):
    """REG_MR with a read-only arg: EFAULT, the MR never visible, none left, PD freeable."""
    _efault("lifetime_efault_mr", "mr")


def test_lifetime_efault_cq(progs):
    """CREATE_CQ with a read-only arg: EFAULT, the CQ never visible, none left."""
    _efault("lifetime_efault_cq", "cq")


def test_lifetime_efault_qp(progs):
    """CREATE_QP with a read-only arg: EFAULT, the QP never visible, none left, CQ/PD freeable."""
    _efault("lifetime_efault_qp", "qp")


def test_lifetime_efault_listen(progs):
    """LISTEN with a read-only arg: EFAULT, the listener never visible, none left."""
    _efault("lifetime_efault_listen", "listen")

