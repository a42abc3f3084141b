# SPDX-License-Identifier: MIT
"""RC semantics: the two directions of a QP are independent (rdma_ops indep_*).

The server SENDs to the client, which has posted no receive: the SEND waits
(RNR, retried for as long as it takes).  Meanwhile the client's own RDMA
WRITE, READ and atomic to the server must complete promptly (within 3 s):
their ACK, READ response and atomic response must not queue behind the
SEND that waits for a receive.  Then the client posts its receives, and
every SEND arrives, in order, with its data, and completes at the server.
`indep_many_sends` sends 40 SENDs, more than the 32 wire receive buffers of
the odp transport.  ibv_ops (tests/test_rdma_ibv.py) runs the same
scenarios on plain rxe.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdma"))
import rdmatest  # noqa: E402

PROMPT_MS = 3000    # rdma_ops.c INDEP_PROMPT_MS


@pytest.mark.parametrize("test,key", [
    ("indep_write", "write_ms"), ("indep_read", "read_ms"),
    ("indep_atomic", "fetch_add_ms")])
def test_rdma_indep(test, key):
    """Our WRITE / READ / atomic completes in 3 s while the peer's SEND waits for a receive."""
    client, _ = rdmatest.run_pair(test)
    assert client[key] < PROMPT_MS
    assert client["sends"] == 1


def test_rdma_indep_many_sends():
    """40 peer SENDs wait (> 32 wire buffers): our requests complete; all 40 arrive in order."""
    client, _ = rdmatest.run_pair("indep_many_sends")
    for key in ("write_ms", "read_ms", "fetch_add_ms"):
        assert client[key] < PROMPT_MS
    assert client["sends"] == 40
