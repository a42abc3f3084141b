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

