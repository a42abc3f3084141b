# SPDX-License-Identifier: MIT
"""What a poll takes off a CQ (odp_cq.c).

The completions are receives flushed by a QP whose connect was refused (in
the error state), so no peer is needed; the polls are raw POLL_CQ ioctls.
"""

EFAULT = 14
EOVERFLOW = 75
NRECV = 8


def test_cq_poll_efault(run):
    """A poll whose buffer turns PROT_NONE half-way: EFAULT, and it takes off the
    ring only the entries it reported written (at most the 4 that fit); a correct
    poll then gets all the others, in order: no completion is lost."""
    r = run("odp_cq", "cq_poll_efault", timeout=60)
    assert r["efault_poll_errno"] == EFAULT
    assert r["efault_poll_entries"] <= 4
    assert r["total_entries"] == NRECV
    assert r["efault_poll_entries"] + r["later_poll_entries"] == NRECV


def test_cq_overrun(run):
    """A CQ of 4 that got 8 completions is in error: every poll (raw, three times,
    and odp_poll_cq()) reports EOVERFLOW and none takes entries (item 16)."""
    r = run("odp_cq", "cq_overrun", timeout=60)
    for i in range(3):
        assert r[f"overrun_poll{i}_errno"] == EOVERFLOW
        assert r[f"overrun_poll{i}_entries"] == 0
    assert r["overrun_libodp"] == -EOVERFLOW
