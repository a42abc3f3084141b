# SPDX-License-Identifier: MIT
"""The man pages: one for every public call, found by man, rendered clean.

- man_every_call_has_a_page: every call include/odp.h declares is named in
  the NAME section of a page of man/ (its own page or a shared one).
- man_finds_every_call: after `make install-man` into a staging folder,
  `man -M <staged> -w <call>` finds a page for every call, and `man
  odp_dereg_mr` shows odp_reg_mr(3) through its alias page.
- man_renders_without_warnings: `groff -ww -man -z` (with tbl where the
  page asks for it) and `man --warnings -l` print nothing for every page.
"""

import os
import re
import subprocess

import pytest

from conftest import REPO

MAN = os.path.join(REPO, "man")
PAGES = sorted(f for f in os.listdir(MAN) if re.search(r"\.[1-8]$", f))


def header_calls():
    text = open(os.path.join(REPO, "include", "odp.h")).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return sorted(set(re.findall(r"\b(odp_[a-z0-9_]+)\s*\(", text)))


def page_names(page):
    """The names of a page's NAME section ("a, b \\- text" -> [a, b])."""
    lines = open(os.path.join(MAN, page)).read().splitlines()
    i = lines.index(".SH NAME")
    return [n.strip() for n in re.split(r"\s*\\-", lines[i + 1])[0].split(",")]


def sh(argv, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60, **kw)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def manpath(tmp_path_factory):
    dest = str(tmp_path_factory.mktemp("man"))
    p = subprocess.run(["make", "-s", "install-man", f"DESTDIR={dest}", "PREFIX=/usr"],
                       cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout
    return os.path.join(dest, "usr/share/man")


def test_man_every_call_has_a_page():
    named = {}
    for page in PAGES:
        if page.endswith(".3"):
            for n in page_names(page):
                named[n] = page
    missing = [c for c in header_calls() if c not in named]
    assert not missing, f"calls of odp.h without a man page: {missing}"
    # Each page is named after its first call.
    for page in PAGES:
        assert page_names(page)[0] == page.rsplit(".", 1)[0], page


@pytest.mark.parametrize("call", header_calls())
def test_man_finds_every_call(manpath, call):
    rc, out, err = sh(["man", "-M", manpath, "-w", call])
    assert rc == 0 and out.startswith(manpath), f"man -w {call}: {out}{err}"


def test_man_dereg_mr_shows_reg_mr(manpath):
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0", LC_ALL="C.UTF-8")
    rc, out, err = sh(["man", "-M", manpath, "-P", "cat", "odp_dereg_mr"], env=env)
    assert rc == 0, err
    assert out.splitlines()[0].startswith("ODP_REG_MR(3)"), out[:200]
    assert "odp_reg_mr, odp_dereg_mr - register or deregister" in out, out[:600]


@pytest.mark.parametrize("page", PAGES)
def test_man_renders_without_warnings(page):
    path = os.path.join(MAN, page)
    first = open(path).readline()
    pre = ["-t"] if first.startswith("'\\\" t") else []
    rc, out, err = sh(["groff", "-ww", "-man", "-z", *pre, path])
    assert rc == 0 and not out and not err, f"groff -ww: {out}{err}"
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    rc, out, err = sh(["man", "--warnings", "-l", path], env=env)
    assert rc == 0 and not err, f"man --warnings -l {page}: {err}"
    assert out.strip(), f"man -l {page} rendered nothing"
