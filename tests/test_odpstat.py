# SPDX-License-Identifier: MIT
"""odpstat (tools/odpstat) against traffic whose counts are known.

- odpstat_odp_device: odp_demo's faults and invalidations show up in the
  odp device line (debugfs), by at least what the demo itself caused; the
  ioctl path (debugfs hidden) reports the same sums.
- odpstat_odp_mr: an MR held by a helper process (libodp through ctypes):
  after a device write of N pages, odpstat lists the MR under the helper's
  pid with page_faults >= N; after MADV_DONTNEED of the range,
  page_invalidations grew by >= N and pages_mapped fell to 0.
- odpstat_rxe_mrs: while ib_write_bw --odp runs on our rxe, `odpstat
  --json --watch` lists the ODP MRs of both perftest processes with
  page_faults > 0 (they start at 0 at registration), every counter of an MR
  and of the device is non-decreasing from sample to sample, and the device
  line (rxe's port hw counters) holds at least what its live MRs counted.
- odpstat_rxe_device: the device line of our rxe is the device's own
  totals (`rdma statistic show link`), not a sum over live MRs: after a
  verbs program faulted, deregistered its two ODP MRs and exited, the
  device's page_faults grew by exactly what those MRs had counted, while
  its MRs are gone from the per-MR view; sysfs hw_counters agree.
- odpstat_human: the human-readable output names the devices and counters.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO

ODPSTAT = os.path.join(REPO, "tools", "odpstat", "odpstat")
IBDEV = "rxe0"
ADDR = "10.99.0.1"
NPAGES = 32

needs_ours = pytest.mark.skipif(os.environ.get("ODP_RXE") != "ours",
                                reason="needs our ODP rxe (ODP_RXE=ours)")


def odpstat(*args, env=None):
    p = subprocess.run([ODPSTAT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, f"odpstat {' '.join(args)}: rc {p.returncode}\n{p.stderr}"
    return p.stdout


def snap(*args, env=None):
    return json.loads(odpstat("--json", *args, env=env))


def device(s, name):
    devs = [d for d in s["devices"] if d["name"] == name]
    assert devs, f"no device {name} in {s}"
    return devs[0]


def test_odpstat_odp_device():
    before = device(snap("--no-mrs"), "odp")
    assert before["source"] == "debugfs" and before["scope"] == "device"
    p = subprocess.run([os.path.join(REPO, "examples", "odp_demo")], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    assert p.returncode == 0, p.stdout
    after = device(snap("--no-mrs"), "odp")
    b, a = before["counters"], after["counters"]
    # odp_demo: 64 pages read (faulted), written, then zapped.
    assert a["page_faults"] - b["page_faults"] >= 64, (b, a)
    assert a["page_faults_handled"] > b["page_faults_handled"], (b, a)
    assert a["page_invalidations"] - b["page_invalidations"] >= 64, (b, a)
    assert a["page_invalidation_events"] > b["page_invalidation_events"], (b, a)
    assert a["page_prefetch"] > b["page_prefetch"], (b, a)
    # Without debugfs, the stats ioctl through libodp gives the same sums.
    env = dict(os.environ, ODPSTAT_DEBUGFS="/nonexistent")
    via_ioctl = device(snap("--no-mrs", env=env), "odp")
    assert via_ioctl["source"] == "ioctl", via_ioctl
    assert via_ioctl["counters"] == a, (via_ioctl["counters"], a)
    # ...and says that per-MR figures need debugfs.
    assert device(snap(env=env), "odp")["mrs"] is None


HELPER = textwrap.dedent(r"""
    import ctypes, mmap, sys
    lib = ctypes.CDLL(sys.argv[1], use_errno=True)
    lib.odp_open_device.restype = ctypes.c_void_p
    lib.odp_open_device.argtypes = [ctypes.c_char_p]
    lib.odp_alloc_pd.restype = ctypes.c_void_p
    lib.odp_alloc_pd.argtypes = [ctypes.c_void_p]
    lib.odp_reg_mr.restype = ctypes.c_void_p
    lib.odp_reg_mr.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lib.odp_mr_write.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p,
                                 ctypes.c_size_t]
    n = int(sys.argv[2]) * mmap.PAGESIZE
    ctx = lib.odp_open_device(None); assert ctx
    pd = lib.odp_alloc_pd(ctx); assert pd
    m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    mr = lib.odp_reg_mr(pd, addr, n, (1 << 0) | (1 << 6)); assert mr   # LOCAL_WRITE | ON_DEMAND
    buf = ctypes.create_string_buffer(b"\x5a" * n, n)
    assert lib.odp_mr_write(mr, addr, buf, n) == 0
    assert m[:1] == b"\x5a"
    print("written", flush=True)
    sys.stdin.readline()
    m.madvise(mmap.MADV_DONTNEED)
    print("zapped", flush=True)
    sys.stdin.readline()
""")


def test_odpstat_odp_mr(tmp_path):
    helper = tmp_path / "hold_mr.py"
    helper.write_text(HELPER)
    lib = os.path.join(REPO, "libodp", "libodp.so.1")
    p = subprocess.Popen([sys.executable, str(helper), lib, str(NPAGES)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "written"
        mine = [m for m in device(snap("--device", "odp"), "odp")["mrs"] if m["pid"] == p.pid]
        assert len(mine) == 1, mine
        mr = mine[0]
        assert mr["length"] == NPAGES * os.sysconf("SC_PAGE_SIZE"), mr
        assert mr["comm"] and mr["comm"].startswith("python"), mr
        c1 = mr["counters"]
        assert c1["page_faults"] >= NPAGES and c1["pages_mapped"] == NPAGES, c1
        p.stdin.write("\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "zapped"
        c2 = [m for m in device(snap("--device", "odp"), "odp")["mrs"]
              if m["pid"] == p.pid][0]["counters"]
        assert c2["page_invalidations"] - c1["page_invalidations"] >= NPAGES, (c1, c2)
        assert c2["page_invalidation_events"] > c1["page_invalidation_events"], (c1, c2)
        assert c2["pages_mapped"] == 0, c2
        p.stdin.write("\n")
        p.stdin.flush()
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _listening(port):
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], stdout=subprocess.PIPE,
                         text=True).stdout
    return bool(out.strip())


@needs_ours
def test_odpstat_rxe_mrs():
    port = 18700
    base = ["ib_write_bw", "-d", IBDEV, "-x", "1", "-F", "--odp", "-s", "65536",
            "-n", "3000", "-p", str(port)]
    srv = subprocess.Popen(base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    cli = watch = None
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end and srv.poll() is None and not _listening(port):
            time.sleep(0.05)
        assert _listening(port), "ib_write_bw server did not listen"
        cli = subprocess.Popen(base + [ADDR], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
        watch = subprocess.Popen([ODPSTAT, "--json", "--device", IBDEV, "--watch", "0.3"],
                                 stdout=subprocess.PIPE, text=True)
        cli_out, _ = cli.communicate(timeout=180)
        srv_out, _ = srv.communicate(timeout=60)
        watch.terminate()
        lines, _ = watch.communicate(timeout=30)
    finally:
        for proc in (cli, srv, watch):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert cli.returncode == 0 and srv.returncode == 0, f"{cli_out}\n{srv_out}"
    samples = [json.loads(line) for line in lines.splitlines() if line.strip()]
    assert len(samples) >= 2, lines
    seen = {}		# (pid, mrn) -> [counters, ...] in sample order
    prev = None
    for s in samples:
        d = device(s, IBDEV)
        assert d["scope"] == "device" and d["source"] == "rdma-statistic-link", d
        assert d["port"] == 1 and d["odp_mrs"] == len(d["mrs"]), d
        # The MRs were read just before the device: it has all they had.
        for k, v in d["counters"].items():
            if k != "pages_mapped" and not k.startswith("odp_"):
                assert v >= sum(m["counters"].get(k, 0) for m in d["mrs"]), (k, d)
        if prev is not None:
            for k, v in d["counters"].items():
                if k != "pages_mapped":
                    assert v >= prev[k], (k, prev, d["counters"])
        prev = d["counters"]
        for m in d["mrs"]:
            seen.setdefault((m["pid"], m["mrn"]), []).append(m["counters"])
    pids = {pid for pid, _ in seen}
    assert {srv.pid, cli.pid} <= pids, f"MRs of {pids}, perftest {srv.pid} {cli.pid}"
    for key, series in seen.items():
        assert series[-1]["page_faults"] > 0, (key, series)
        for a, b in zip(series, series[1:]):
            for k in a:
                if k != "pages_mapped":
                    assert b[k] >= a[k], (key, k, a, b)


VERBS = os.path.join(REPO, "tests", "verbs", "verbs_odp")
# The counters verbs_odp prints per MR (`a.<name>=` and `b.<name>=`).
VERBS_COUNTERS = ("page_faults", "page_faults_handled", "page_invalidations",
                  "page_invalidation_events", "page_prefetch", "fault_retries",
                  "fault_errors")


@needs_ours
def test_odpstat_rxe_device():
    before = device(snap("--device", IBDEV), IBDEV)
    assert before["scope"] == "device" and before["source"] == "rdma-statistic-link", before
    # Two ODP MRs, both sides' pages dropped before each of 6 WRITEs of
    # 64 KiB; the program deregisters its MRs and exits.
    p = subprocess.run([VERBS, "dontneed_write"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300, cwd="/tmp",
                       env=dict(os.environ, VERBS_DEV=IBDEV))
    assert p.returncode == 0, p.stdout
    mr = {k: int(v) for k, v in re.findall(r"\b([ab]\.\w+)=(-?\d+)", p.stdout)}
    after = device(snap("--device", IBDEV), IBDEV)
    assert after["scope"] == "device", after
    print(f"before {before['counters']}\nafter {after['counters']}\nMRs {mr}")
    # Its MRs are gone from the per-MR view (a sum over live MRs lost them) ...
    assert not [m for m in after["mrs"] if m["comm"] == "verbs_odp"], after["mrs"]
    assert after["odp_mrs"] == before["odp_mrs"], (before, after)
    # ... and the device kept exactly what they counted; deregistration
    # zapped the pages they still mapped (page_invalidations).
    b, a = before["counters"], after["counters"]
    assert mr["a.page_faults"] >= 6 * 16 and mr["b.page_faults"] >= 6 * 16, mr
    for k in VERBS_COUNTERS:
        want = mr[f"a.{k}"] + mr[f"b.{k}"]
        if k == "page_invalidations":
            want += mr["a.pages_mapped"] + mr["b.pages_mapped"]
        assert a[k] - b[k] == want, (k, b, a, mr)
    assert a["pages_mapped"] == b["pages_mapped"], (b, a)
    assert a["device_accesses"] > b["device_accesses"], (b, a)
    assert a["device_access_bytes"] - b["device_access_bytes"] >= 2 * 6 * 65536, (b, a)
    # sysfs shows the same device counters (nothing ran since the sample).
    hw = f"/sys/class/infiniband/{IBDEV}/ports/1/hw_counters"
    for k in ("page_faults", "page_invalidations", "page_prefetch"):
        with open(os.path.join(hw, k)) as f:
            assert int(f.read()) == a[k], (k, a)


def test_odpstat_human():
    out = odpstat()
    assert "odp: driver odp, device counters (debugfs)" in out, out
    for name in ("page_faults", "page_invalidations", "page_prefetch", "fault_retries",
                 "nonblock_refused"):
        assert name in out, out
    if os.environ.get("ODP_RXE") == "ours":
        assert f"{IBDEV}: driver rdma_rxe" in out, out
