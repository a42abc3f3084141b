# SPDX-License-Identifier: MIT
"""debugfs `qps`, each QP's wire state (odp_qps.c)."""


def test_qps_view(run):
    """A new QP (reset, no kernel QP), a connected pair (rts, 32 receive
    buffers posted each), one SEND (credit counts move by one on both sides,
    no send slot left out), a 1 MiB SEND (at most one CREDIT message per 8
    request messages consumed), destroy (the lines go)."""
    r = run("odp_qps", "qps_view")
    assert "state rts" in r["qps.server"] and "state rts" in r["qps.client"]
    assert r["big.messages"] >= 64
    assert r["big.credit_msgs"] * 8 <= r["big.messages"]


def test_qps_rnr_recovery(run):
    """A client whose work item is parked (retry hook) while its 1 MiB READ
    is answered runs out of receive buffers, the server is RNR-NAKed; once
    the fault goes on, the READ completes within 400 ms (the CM's default
    RNR wait alone is 655 ms)."""
    r = run("odp_qps", "qps_rnr_recovery")
    assert "rx_posted 0 " in r["rnr.starved"]
    assert r["rnr.release_to_completion_ms"] < 400


def test_qps_error_cause(run):
    """A QP in the error state says why in debugfs: "wr 10" on both sides
    of a WRITE that failed with REM_ACCESS_ERR, "peer_gone 0" on the side
    whose peer destroyed its QP (its own WRs would all have flushed)."""
    r = run("odp_qps", "qps_error_cause")
    assert r["cause.wr.client"].endswith(" error wr 10")
    assert r["cause.wr.server"].endswith(" error wr 10")
    assert r["cause.peer_gone.client"].endswith(" error peer_gone 0")
