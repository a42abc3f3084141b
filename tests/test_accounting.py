# SPDX-License-Identifier: MIT
"""cgroup accounting of what the driver allocates (odp_account.c).

The C tests create a child cgroup of /sys/fs/cgroup (enabling the memory or
rdma controller there), run an unprivileged child (uid 65534) in it and read
the cgroup's files while the child's objects live; they remove the cgroup
at exit.
"""

ENOMEM = 12
EAGAIN = 11
MiB_BOUND_DROP = 96
MiB_MIN_PEAK = 32


def test_memcg_cq(run):
    """Max-size CQs by uid 65534 in a 64 MiB memcg: creation fails with ENOMEM (no OOM
    kill, no alloc splat) before MemAvailable falls by 96 MiB; memory.peak > 32 MiB."""
    r = run("odp_account", "memcg_cq", timeout=300)
    assert r["capped"] == 0
    assert r["avail_drop_mib"] < MiB_BOUND_DROP
    assert r["memcg_peak_mib"] > MiB_MIN_PEAK
    assert r["cq_errno"] == ENOMEM
    assert r["oom_kill"] == 0


def test_memcg_mr(run):
    """20000 one-page MRs by uid 65534: the memcg is charged >= 128 B per MR and
    >= half the slab they take."""
    r = run("odp_account", "memcg_mr", timeout=300)
    assert r["charged_per_obj"] >= 128


def test_memcg_qp(run):
    """4000 QPs by uid 65534: the memcg is charged >= 128 B per QP and >= half the
    slab they take."""
    r = run("odp_account", "memcg_qp", timeout=300)
    assert r["charged_per_obj"] >= 128


def test_rdmacg_bind(run):
    """rdma.max hca_handle=1: binding to rxe0 charges one hca_handle, a second
    context's bind fails with EAGAIN, closing gives it back."""
    r = run("odp_account", "rdmacg_bind", timeout=120)
    assert r["second_bind_errno"] == EAGAIN


def test_rdmacg_objects(run):
    """rdma.max hca_object=2: each QP and listener charges one hca_object, the third
    fails with EAGAIN, destroying gives it back, rdma.current back to 0."""
    r = run("odp_account", "rdmacg_objects", timeout=120)
    assert r["third_object_qp_errno"] == EAGAIN
    assert r["third_object_listen_errno"] == EAGAIN
