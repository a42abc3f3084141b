# SPDX-License-Identifier: MIT
"""make install into a staging folder (DESTDIR, PREFIX) and what it installs.

- install_layout: libodp.so.1.0.0 with SONAME libodp.so.1, its links and the
  static library, odp.h, libodp.pc, man pages with their alias pages,
  odpstat and the examples, the three modules in updates/; uninstall removes
  every file again.
- install_pkg_config: a program built with `pkg-config --cflags --libs
  libodp` against the staged copy links, and runs on the staged libodp
  (odp_open_device + odp_query_device_stats on this VM's /dev/odp).
- install_symbol_versions: the installed library exports exactly the calls
  of libodp.map, each under its LIBODP_1.0 / LIBODP_1.1 node, and every
  call declared in include/odp.h is one of them.
- installed examples carry no rpath into the build tree.

The man pages themselves (a page per call, `man odp_dereg_mr`, groff -ww)
are checked in test_man.py.
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import KERNEL_61, REPO

PREFIX = "/usr"


def sh(cmd, **kw):
    p = subprocess.run(cmd, shell=isinstance(cmd, str), cwd=kw.pop("cwd", REPO),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=kw.pop("timeout", 300), **kw)
    return p.returncode, p.stdout


def kver():
    """The kernel release `make module` built driver/ for (its vermagic):
    Debian's 6.12, or 6.1 under make check KVER=6.1, whatever the VM boots."""
    rc, out = sh(["/usr/sbin/modinfo", "-F", "vermagic",
                  os.path.join(REPO, "driver", "core", "odp_core.ko")])
    assert rc == 0 and out.split(), f"driver/core/odp_core.ko: {out}"
    return out.split()[0]


def map_symbols():
    """{symbol: version node} of libodp/libodp.map."""
    text = open(os.path.join(REPO, "libodp", "libodp.map")).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = {}
    for node, body in re.findall(r"(LIBODP_[0-9.]+)\s*\{(.*?)\}", text, flags=re.S):
        glob = body.split("local:")[0].replace("global:", "")
        for sym in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*;", glob):
            out[sym] = node
    return out


def header_calls():
    """The functions include/odp.h declares."""
    text = open(os.path.join(REPO, "include", "odp.h")).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return set(re.findall(r"\b(odp_[a-z0-9_]+)\s*\(", text))


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    dest = str(tmp_path_factory.mktemp("destdir"))
    # -o module -o rxe: install what `make module rxe` built (a rebuild under
    # TCG would take minutes and change nothing).
    rc, out = sh(["make", "-s", "-o", "module", "-o", "rxe", "install",
                  f"DESTDIR={dest}", f"PREFIX={PREFIX}", f"KVER={kver()}"])
    assert rc == 0, out
    return dest


def test_install_layout(staged):
    k = kver()
    lib = os.path.join(staged, "usr/lib")
    real = os.path.join(lib, "libodp.so.1.0.0")
    assert os.path.isfile(real)
    assert os.readlink(os.path.join(lib, "libodp.so.1")) == "libodp.so.1.0.0"
    assert os.readlink(os.path.join(lib, "libodp.so")) == "libodp.so.1"
    assert os.path.isfile(os.path.join(lib, "libodp.a"))
    rc, out = sh(["readelf", "-d", real])
    assert rc == 0 and "Library soname: [libodp.so.1]" in out, out
    assert os.path.isfile(os.path.join(staged, "usr/include/odp.h"))
    pc = open(os.path.join(lib, "pkgconfig/libodp.pc")).read()
    assert "prefix=/usr\n" in pc and "Version: " in pc and "@" not in pc, pc
    for prog in ("odpstat", "odp_demo", "odp_rc_pingpong", "odp_write_bw"):
        assert os.access(os.path.join(staged, "usr/bin", prog), os.X_OK), prog
    man3 = os.path.join(staged, "usr/share/man/man3")
    assert os.path.isfile(os.path.join(man3, "odp_reg_mr.3"))
    assert open(os.path.join(man3, "odp_dereg_mr.3")).read() == ".so man3/odp_reg_mr.3\n"
    assert os.path.isfile(os.path.join(staged, "usr/share/man/man8/odpstat.8"))
    upd = os.path.join(staged, "lib/modules", k, "updates")
    # No ODP rxe on 6.1 (driver/rxe/README.md): make install leaves Debian's.
    kos = ["odp_core.ko", "odp.ko"] + ([] if KERNEL_61 else ["rdma_rxe.ko"])
    assert sorted(os.listdir(upd)) == sorted(kos), os.listdir(upd)
    for ko in kos:
        path = os.path.join(upd, ko)
        assert os.path.isfile(path), path
        rc, vm = sh(["/usr/sbin/modinfo", "-F", "vermagic", path])
        assert rc == 0 and vm.split()[0] == k, vm


def test_install_examples_use_installed_lib(staged):
    """The installed examples have no RUNPATH/RPATH into the build tree."""
    rc, out = sh(["readelf", "-d", os.path.join(staged, "usr/bin/odp_demo")])
    assert rc == 0, out
    assert "RPATH" not in out and "RUNPATH" not in out, out
    assert "Shared library: [libodp.so.1]" in out, out


def test_install_pkg_config(staged, tmp_path):
    env = dict(os.environ, PKG_CONFIG_SYSROOT_DIR=staged,
               PKG_CONFIG_LIBDIR=os.path.join(staged, "usr/lib/pkgconfig"))
    rc, flags = sh(["pkg-config", "--cflags", "--libs", "libodp"], env=env)
    assert rc == 0, flags
    assert f"-I{staged}/usr/include" in flags and f"-L{staged}/usr/lib" in flags \
        and "-lodp" in flags, flags
    src = tmp_path / "p.c"
    src.write_text("""
#include <odp.h>
#include <stdio.h>
int main(void)
{
	uint64_t v[ODP_STAT_MAX];
	struct odp_context *c = odp_open_device(NULL);
	int n;

	if (!c)
		return 2;
	n = odp_query_device_stats(c, v, ODP_STAT_MAX);
	printf("stats=%d first=%s\\n", n, odp_stat_name(0));
	odp_close_device(c);
	return n > 0 ? 0 : 3;
}
""")
    exe = str(tmp_path / "p")
    rc, out = sh(f"cc -std=gnu11 -Wall -Werror -o {exe} {src} {flags}", env=env)
    assert rc == 0, out
    # It runs on the staged library, not on the build tree's.
    rc, out = sh(["ldd", exe], env=dict(env, LD_LIBRARY_PATH=os.path.join(staged, "usr/lib")))
    assert f"{staged}/usr/lib/libodp.so.1" in out, out
    rc, out = sh([exe], env=dict(env, LD_LIBRARY_PATH=os.path.join(staged, "usr/lib")))
    assert rc == 0 and "stats=" in out and "first=faults" in out, out


def test_install_symbol_versions(staged):
    want = map_symbols()
    assert header_calls() <= set(want), \
        f"declared in odp.h but not exported: {sorted(header_calls() - set(want))}"
    rc, out = sh(["objdump", "-T", os.path.join(staged, "usr/lib/libodp.so.1.0.0")])
    assert rc == 0, out
    got = {}
    for line in out.splitlines():
        m = re.search(r"\s(LIBODP_[0-9.]+)\s+(\S+)$", line)
        if m and " .text" in line:
            got[m.group(2)] = m.group(1)
    assert got == want


def test_uninstall(staged, tmp_path):
    """uninstall removes every file install put there (folders may stay)."""
    dest = str(tmp_path / "d")
    shutil.copytree(staged, dest, symlinks=True)
    rc, out = sh(["make", "-s", "-o", "module", "-o", "rxe", "uninstall",
                  f"DESTDIR={dest}", f"PREFIX={PREFIX}", f"KVER={kver()}"])
    assert rc == 0, out
    left = [os.path.join(r, f) for r, _, fs in os.walk(dest) for f in fs]
    assert left == [], left
