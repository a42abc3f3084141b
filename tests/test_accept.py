# SPDX-License-Identifier: MIT
"""ACCEPT at the edges of a connection's life (odp_accept.c).

An ACCEPT blocked on a QP that is destroyed: no client comes; another
thread destroys the QP the accept waits with (a raw DESTROY_QP).  Destroying
the QP releases its transport, which must wake the accept at once with
ECONNABORTED, as destroying the listener does.

Clients that give up: another thread destroys the connecting QP after a delay
swept over the time a connect takes, so that some clients withdraw (their
rdma_cm sends a REJ) just as the accept takes their request.  The accept then ends with a connection error
(ECONNABORTED, ECONNREFUSED, ...), never EINVAL: its arguments were fine.
"""

ECONNABORTED = 103
WAKE_BOUND_MS = 1000


def _check(r, name):
    assert r["test"] == name
    assert r["accept_returned"] == 1
    assert r["accept_errno"] == ECONNABORTED
    assert r["after_destroy_ms"] <= WAKE_BOUND_MS


def test_accept_destroy_qp(run):
    """accept(timeout 3 s) + DESTROY_QP of its QP: ECONNABORTED within 1 s, not ETIMEDOUT at 3 s."""
    _check(run("odp_accept", "accept_destroy_qp", timeout=60), "accept_destroy_qp")


def test_accept_destroy_qp_forever(run):
    """accept(timeout 0 = forever) + DESTROY_QP: ECONNABORTED within 1 s, not blocked for good."""
    _check(run("odp_accept", "accept_destroy_qp_forever", timeout=60),
           "accept_destroy_qp_forever")


def test_accept_withdrawn(run):
    """Clients that give up as the accept takes their request: a connection error, never EINVAL."""
    r = run("odp_accept", "accept_withdrawn", timeout=300)
    assert r["test"] == "accept_withdrawn"
    # The sweep spans both ends: some clients got through, some gave up.
    assert 0 < r["client_connected"] < r["rounds"]
