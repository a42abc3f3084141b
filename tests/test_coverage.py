# SPDX-License-Identifier: MIT
"""Every named test of every C program has a pytest test of the same name."""

import glob
import os
import re
import subprocess

from conftest import PROGS, TESTS, prog_names


def test_every_prog_test_is_collected(progs):
    defined = set()
    for path in glob.glob(os.path.join(TESTS, "test_*.py")):
        with open(path) as f:
            defined.update(re.findall(r"^def (test_\w+)\(", f.read(), re.M))
    missing = []
    for prog in prog_names():
        out = subprocess.run([os.path.join(PROGS, prog), "-l"], stdout=subprocess.PIPE,
                             text=True, timeout=30, check=True).stdout.split()
        missing += [f"{prog}:{name}" for name in out if f"test_{name}" not in defined]
    assert not missing, "C tests without a pytest test: " + ", ".join(missing)
