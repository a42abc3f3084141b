# SPDX-License-Identifier: MIT
"""The CPU that tests/vm/run emulates keeps the guest correct.

- cmpxchg16b_keeps_flags: tests/vm/cmpxchg16b-flags.c, built here, finds
  EFLAGS intact after CMPXCHG16B, or no CMPXCHG16B at all.  QEMU 7.2's TCG
  corrupts them (1000 of 1000 rounds with `-cpu max`), and in the kernel
  that killed two-host VMs with a double fault in SLUB's fast path; the
  runner hides the feature (-cpu max,-cx16).
"""

import os
import subprocess

from conftest import TESTS

PROBE = os.path.join(TESTS, "vm", "cmpxchg16b-flags.c")


def test_cmpxchg16b_keeps_flags(tmp_path):
    exe = str(tmp_path / "cmpxchg16b-flags")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, PROBE],
                   check=True, timeout=120)
    p = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    print(p.stdout)
    assert p.returncode == 0, p.stdout
