# SPDX-License-Identifier: MIT
"""Bad input (odp_badinput.c): the documented errno, and nothing changes.

Each C test snapshots the MR count of /sys/kernel/debug/odp/mrs and every
device counter before the bad calls and fails if either moved.
"""


def _run(run, name):
    r = run("odp_badinput", name)
    assert r["test"] == name


def test_bad_reg_unknown_access(run):
    """REG_MR with unknown access bits: EINVAL."""
    _run(run, "bad_reg_unknown_access")


def test_bad_reg_no_on_demand(run):
    """REG_MR without ON_DEMAND: EOPNOTSUPP."""
    _run(run, "bad_reg_no_on_demand")


def test_bad_reg_remote_write_without_local_write(run):
    """REG_MR with REMOTE_WRITE/REMOTE_ATOMIC but no LOCAL_WRITE: EINVAL."""
    _run(run, "bad_reg_remote_write_without_local_write")


def test_bad_reg_zero_length(run):
    """REG_MR with length 0: EINVAL."""
    _run(run, "bad_reg_zero_length")


def test_bad_reg_overflow(run):
    """REG_MR whose addr + length wraps or leaves the user address space: EINVAL."""
    _run(run, "bad_reg_overflow")


def test_bad_reg_kernel_address(run):
    """REG_MR of a kernel address: EINVAL."""
    _run(run, "bad_reg_kernel_address")


def test_bad_reg_unmapped(run):
    """REG_MR of a range not (fully) mapped: EFAULT."""
    _run(run, "bad_reg_unmapped")


def test_bad_reg_write_on_readonly_mapping(run):
    """REG_MR with LOCAL_WRITE on a PROT_READ mapping (or any on PROT_NONE): EACCES."""
    _run(run, "bad_reg_write_on_readonly_mapping")


def test_bad_reg_hole_and_readonly(run):
    """REG_MR over a hole and a read-only mapping: the first problem decides."""
    _run(run, "bad_reg_hole_and_readonly")


def test_bad_bind_port(run):
    """odp_bind_device: unknown device ENODEV, missing port EINVAL, nothing bound."""
    _run(run, "bad_bind_port")


def test_qp_num_at_create(run):
    """qp->qp_num is set (never 0 or 1) when odp_create_qp() returns."""
    _run(run, "qp_num_at_create")


def test_mr_access_buf_inside_mr(run):
    """odp_mr_read/write with the buffer inside the same MR work."""
    _run(run, "mr_access_buf_inside_mr")


def test_bad_reg_unknown_pd(run):
    """REG_MR with an unknown PD handle or a reserved field set: EINVAL."""
    _run(run, "bad_reg_unknown_pd")


def test_bad_access_out_of_bounds(run):
    """Device access outside the MR's bounds, length 0, wrapping: EINVAL."""
    _run(run, "bad_access_out_of_bounds")


def test_bad_access_bad_lkey(run):
    """Device access with an unknown lkey or a bad direction: EINVAL."""
    _run(run, "bad_access_bad_lkey")


def test_bad_access_other_context_lkey(run):
    """lkey / handle of another context (device opened twice): EINVAL."""
    _run(run, "bad_access_other_context_lkey")


def test_bad_access_bad_buf(run):
    """Device access with an unmapped or kernel buffer: EFAULT."""
    _run(run, "bad_access_bad_buf")


def test_bad_write_readonly_mr(run):
    """Device write through an MR without LOCAL_WRITE: EACCES, memory unchanged."""
    _run(run, "bad_write_readonly_mr")


def test_bad_dereg_twice(run):
    """A second DEREG_MR of the same handle: EINVAL."""
    _run(run, "bad_dereg_twice")


def test_bad_dealloc_pd_busy(run):
    """DEALLOC_PD with MRs on it: EBUSY (PD intact); unknown PD: EINVAL."""
    _run(run, "bad_dealloc_pd_busy")


def test_bad_reserved_fields(run):
    """Reserved fields set in ALLOC_PD / DEALLOC_PD / DEREG_MR: EINVAL."""
    _run(run, "bad_reserved_fields")


def test_bad_advise(run):
    """ADVISE_MR with num_sge 0 / too many, bad lkey, length, range, PD, advice, flags: EINVAL."""
    _run(run, "bad_advise")


def test_bad_ioctl_number(run):
    """An unknown ioctl number or magic: ENOTTY."""
    _run(run, "bad_ioctl_number")


def test_bad_struct_e2big(run):
    """A longer struct with a non-zero unknown input tail: E2BIG (zero tail accepted)."""
    _run(run, "bad_struct_e2big")


def test_abi_struct_shorter_than_v1(run):
    """A struct shorter than version 1 (the oldest): EINVAL, nothing written."""
    _run(run, "abi_struct_shorter_than_v1")


def test_bad_query_stats(run):
    """QUERY_STATS of an unknown MR: EINVAL; bad output pointer: EFAULT."""
    _run(run, "bad_query_stats")

