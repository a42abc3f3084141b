# SPDX-License-Identifier: MIT
"""A rejected request changes no memory (rdma_ops whole_*).

Bounds and access rights are checked over the whole request before any byte
moves, as a NIC's responder checks the whole RETH length on the first
packet, even when the request is larger than one wire message of the odp
transport (16 KiB).  Each scenario posts the bad WR and a good WRITE behind
it, and checks the statuses and that the server's memory (its whole MR and
the bytes mapped around it) and our buffer are byte for byte unchanged.
The client prints `status=`, `remote_changed=` and `local_changed=` (bytes).
ibv_ops (tests/test_rdma_ibv.py) runs them on plain rxe, where rxe allows.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdma"))
import rdmatest  # noqa: E402
from rdmatest import (WC_LOC_LEN_ERR, WC_LOC_PROT_ERR, WC_REM_ACCESS_ERR,  # noqa: E402
                      WC_REM_INV_REQ_ERR, WC_WR_FLUSH_ERR)


def pair(test):
    client, _ = rdmatest.run_pair(test)
    assert client["flushed_status"] == WC_WR_FLUSH_ERR
    assert client["remote_changed"] == 0 and client["local_changed"] == 0
    return client


def test_rdma_whole_write_tail():
    """32 KiB WRITE, last 16 KiB past the remote MR: REM_ACCESS_ERR, nothing written."""
    r = pair("whole_write_tail")
    assert r["status"] == WC_REM_ACCESS_ERR and r["server_status"] == WC_WR_FLUSH_ERR


def test_rdma_whole_read_tail():
    """32 KiB READ whose tail is past the remote MR: REM_ACCESS_ERR, our buffer untouched."""
    r = pair("whole_read_tail")
    assert r["status"] == WC_REM_ACCESS_ERR and r["server_status"] == WC_WR_FLUSH_ERR


def test_rdma_whole_local_tail():
    """WRITE, a 32 KiB SGE over 20 KiB of its MR: LOC_PROT_ERR, nothing reaches the peer."""
    assert pair("whole_local_tail")["status"] == WC_LOC_PROT_ERR


def test_rdma_whole_local_lkey2():
    """WRITE of two 16 KiB SGEs, the second with a bad lkey: LOC_PROT_ERR, peer untouched."""
    assert pair("whole_local_lkey2")["status"] == WC_LOC_PROT_ERR


def test_rdma_whole_local_huge():
    """WRITE with a 2 GiB - 1 SGE over a 64 KiB MR: LOC_PROT_ERR, the remote MR untouched."""
    assert pair("whole_local_huge")["status"] == WC_LOC_PROT_ERR


def test_rdma_whole_send_len():
    """32 KiB SEND into a 16 KiB receive: REM_INV_REQ_ERR / LOC_LEN_ERR, nothing written past it."""
    r = pair("whole_send_len")
    assert r["status"] == WC_REM_INV_REQ_ERR and r["server_status"] == WC_LOC_LEN_ERR


def test_rdma_whole_write_repeat():
    """WRITE, tail out of bounds, 10 connections: always REM_ACCESS_ERR, WRs behind flushed."""
    client, _ = rdmatest.run_pair("whole_write_repeat")
    assert client["rounds"] == 10 and client["rem_access_err"] == 10
    assert client["wr_flush_err"] == 0 and client["rounds_remote_changed"] == 0
