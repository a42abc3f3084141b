# SPDX-License-Identifier: MIT
"""rdma-core's own test suite on rxe0: the verbs conformance of our rxe.

Debian's python3-pyverbs ships rdma-core's suite in
/usr/share/doc/rdma-core/tests/ (many files gzipped).  It is copied to a
temporary folder, gunzipped and run once:

    run_tests.py --dev rxe0 --gid 1 -v -b

(GID index 1 is rxe's IPv4-mapped GID; -v lists every test with its result,
-b keeps the output of passing tests out of that list).  Then:

- no test may fail or error (a known race of one test is rerun, see
  RACY: up to 8 reruns), and the kernel may log no warning, oops, ...
  while the suite runs;
- test_odp.py: while rxe0 reports no ODP caps (ibv_devinfo -v:
  general_odp_caps empty, as with Debian's 6.12 rxe and our pristine build),
  all of it skips, and that is checked to be for "No ODP caps" (or rxe's
  missing XRC).  Once our rxe reports ODP caps, a test_odp test may skip
  only for a reason in ODP_ALLOWED_SKIPS: rxe has no XRC, and librxe 44 has no
  advise_mr (ibv_advise_mr() is EOPNOTSUPP in userspace).  Anything else
  (implicit ODP, huge pages, a transport's caps) must run and pass.

On upstream's ODP rxe (trixie-backports' 6.18 kernel, ODP_RXE=upstream,
`make check-upstream`) the same holds, except for the test_odp.py tests in
UPSTREAM_ODP_DEFECTS: upstream's known defects (no implicit ODP; refuses
IBV_ACCESS_HUGETLB).  Each must show exactly its defect's outcome (a skip
with that reason, or an ERROR with that report), and test_rdma_core_odp_skips
is then an xfail naming them; a listed test that passes fails it.

Baseline in the VM, Debian's rxe (--stock-rxe) and our pristine build alike:
Ran 273 tests: 87 ok, 186 skipped, 0 failures, 0 errors (about 15 s).

The unittest summary, the rxe in use and the retried tests are printed (past
pytest's capture); the whole log is in $ODP_OUT/rdma-core-suite.log.
"""

import ast
import gzip
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import KERNEL_61, UPSTREAM, KernelLog, kernel_problems

SUITE = "/usr/share/doc/rdma-core/tests"
DEV = "rxe0"
GID = 1
PYTHON = "/usr/bin/python3"	# Debian's (pyverbs), not a pyenv shim
TIMEOUT = int(os.environ.get("ODP_RDMA_CORE_TIMEOUT", "300"))

# Skips a test_odp.py test may report once rxe0 has ODP caps, as regexes
# over the skip reason; a test not named here may not skip at all.
NO_XRC = (r"^Create XRCD is not supported$|"
          r"^ODP is unavailable - Operation not supported on this device$")  # xrc_odp_caps 0
NO_ADVISE_MR = r"^Advise MR with flags \(\d+\) and advice \(\d+\) is not supported$"
ODP_ALLOWED_SKIPS = {
    # rxe has no XRC
    "test_odp_xrc_traffic": NO_XRC,
    # librxe 44 has no advise_mr: ibv_advise_mr() fails in userspace
    "test_odp_sync_prefetch_rc_traffic": NO_ADVISE_MR,
    "test_odp_async_prefetch_rc_traffic": NO_ADVISE_MR,
    "test_odp_implicit_sync_prefetch_rc_traffic": NO_ADVISE_MR,
    "test_odp_implicit_async_prefetch_rc_traffic": NO_ADVISE_MR,
    "test_odp_prefetch_sync_no_page_fault_rc_traffic": NO_ADVISE_MR,
    "test_odp_prefetch_async_no_page_fault_rc_traffic": NO_ADVISE_MR,
}
# test_odp.py tests that upstream's rxe fails: test -> (defect, outcome,
# regex over the skip reason or over unittest's report of the ERROR/FAIL).
UP_NO_IMPLICIT = "upstream rxe has no implicit ODP (no ODP_SUPPORT_IMPLICIT)"
UP_NO_HUGETLB = "upstream rxe refuses IBV_ACCESS_HUGETLB (ibv_reg_mr: EOPNOTSUPP)"
IMPLICIT_SKIP = r"^ODP implicit is not supported$"
HUGETLB_ERROR = (r"PyverbsRDMAError: Failed to register a MR\. length: \d+, access flags: "
                 r"\d+\. Errno: 95, Operation not supported")
UPSTREAM_ODP_DEFECTS = {
    "test_odp_implicit_rc_traffic": (UP_NO_IMPLICIT, "skipped", IMPLICIT_SKIP),
    "test_odp_implicit_sync_prefetch_rc_traffic": (UP_NO_IMPLICIT, "skipped", IMPLICIT_SKIP),
    "test_odp_implicit_async_prefetch_rc_traffic": (UP_NO_IMPLICIT, "skipped", IMPLICIT_SKIP),
    "test_odp_rc_huge_traffic": (UP_NO_HUGETLB, "ERROR", HUGETLB_ERROR),
    "test_odp_rc_huge_user_addr_traffic": (UP_NO_HUGETLB, "ERROR", HUGETLB_ERROR),
}

# Without ODP caps every test_odp test skips, for one of these.
NO_ODP_SKIP = r"^ODP is not supported - No ODP caps$|^Create XRCD is not supported$"

# Known races of the suite itself on rxe: a failure of one of these gets up
# to RETRIES reruns of that test alone, and passes if a rerun passes.
RACY = {
    # It posts UD sends and at once shrinks the CQ below the completions it
    # expects there, asserting EINVAL; rxe completes sends asynchronously on
    # its workqueue, so under TCG the CQ may still be empty and the resize
    # succeeds ("PyverbsRDMAError not raised").  Seen on Debian's rxe and on
    # our pristine build alike: in 1 of 6 back-to-back suite runs, in 2 of 2
    # first runs after boot, in 3 of 8 runs of the test alone; with RETRIES
    # reruns a false failure is below 1 in 100 suite runs.
    "tests.test_cq.CQTest.test_resize_cq",
}
RETRIES = 8

# Tests that fail on Debian's 6.1 rxe (make check KVER=6.1) for a reason of
# that kernel: test -> (outcome, regex over its report, reason).  Accepted
# only on 6.1, only with that outcome and report.
RXE_61_FAILS = {
    "tests.test_qpex.QpExTestCase.test_qp_ex_rc_atomic_write": (
        "ERROR", r"Completion status is local QP operation error",
        "Debian's 6.1 rxe has no RDMA ATOMIC WRITE (IB_WR_ATOMIC_WRITE came to rxe in 6.2; "
        "librxe 44 posts it, 6.1's requester fails the WR with LOC_QP_OP_ERR)"),
}

OUTCOMES = r"(ok|FAIL|ERROR|expected failure|unexpected success|skipped (.*))$"
# "test_x (tests.mod.Class.test_x) ... ok", the " ... ok" maybe on the next
# line (after a docstring line) or alone on a line (after output from C).
RESULT = re.compile(r"(?: \.\.\. |^)" + OUTCOMES)
TEST_START = re.compile(r"^(test\w*) \(([\w.]+)\)")
RAN = re.compile(r"^Ran (\d+) tests? in ([\d.]+)s$", re.M)
FINAL = re.compile(r"^(OK|FAILED)(?: \((.*)\))?$", re.M)


@pytest.fixture(scope="module")
def odp_device():
    """Overrides the suite's: this module needs rxe0 (the VM), not /dev/odp."""
    if not os.path.isdir(f"/sys/class/infiniband/{DEV}"):
        pytest.skip(f"no {DEV}: run in the VM (make check, or tests/vm/run -- "
                    f"/usr/bin/python3 -m pytest tests/test_rdma_core_suite.py)")
    if os.geteuid() != 0:
        pytest.skip("rdma-core's suite needs root (raw Ethernet, huge pages)")
    if not os.path.isfile(os.path.join(SUITE, "run_tests.py")):
        pytest.skip(f"{SUITE} missing: apt-get install python3-pyverbs")
    return DEV


@pytest.fixture
def no_mr_leak():
    """Overrides the suite's: rdma-core's tests use verbs, not /dev/odp."""
    yield


def parse(log):
    """{test id: (outcome, skip reason or None)} from unittest's -v listing."""
    results = {}
    current = None
    for line in log.splitlines():
        if line.startswith(("=" * 20, "-" * 20)):
            break	# the failure reports that follow the listing
        m = TEST_START.match(line)
        if m:
            current = m.group(2)
        m = RESULT.search(line)
        if m and current:
            outcome, reason = m.group(1), m.group(2)
            if reason is not None:
                outcome = "skipped"
                try:
                    reason = ast.literal_eval(reason)
                except (ValueError, SyntaxError):
                    pass
            results[current] = (outcome, reason)
            current = None
    return results


def error_reports(log):
    """{test id: unittest's report of its ERROR/FAIL} (the part after the listing)."""
    out = {}
    for part in re.split(r"^={70}$", log, flags=re.M)[1:]:
        m = re.match(r"\s*(?:ERROR|FAIL): \w+ \(([\w.]+)\)", part)
        if m:
            out[m.group(1)] = part.split("-" * 70 + "\nRan ")[0]
    return out


def upstream_defect_seen(test, outcome, reason, report):
    """The defect of UPSTREAM_ODP_DEFECTS that test_odp.py's TEST showed, or None."""
    defect, want, regex = UPSTREAM_ODP_DEFECTS[test]
    text = reason if want == "skipped" else report
    if outcome == want and text and re.search(regex, text, re.M):
        return defect
    return None


def summary(log):
    """(ran, seconds, {"failures": n, "errors": n, "skipped": n, ...})."""
    ran, secs = RAN.findall(log)[-1]
    status, counts = FINAL.findall(log)[-1]
    out = {"failures": 0, "errors": 0, "skipped": 0, "expected failures": 0,
           "unexpected successes": 0}
    for item in filter(None, (c.strip() for c in counts.split(","))):
        key, val = item.split("=")
        out[key.replace("_", " ")] = int(val)
    out["ok"] = int(ran) - sum(out.values())
    out["status"] = status
    return int(ran), float(secs), out


def odp_caps():
    """rxe0's general_odp_caps flags from `ibv_devinfo -v` ([] if none)."""
    out = subprocess.run(["ibv_devinfo", "-v", "-d", DEV], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=60).stdout
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "general_odp_caps:":
            caps = []
            for cap in lines[i + 1:]:
                if re.match(r"^\t\S.*:", cap):	# the next attribute
                    break
                if cap.strip() and cap.strip() != "NO SUPPORT":
                    caps.append(cap.strip())
            return caps
    raise AssertionError(f"no general_odp_caps in ibv_devinfo -v -d {DEV}:\n{out}")


def which_rxe():
    kind = os.environ.get("ODP_RXE", "?")
    try:
        with open("/sys/module/rdma_rxe/taint") as f:
            taint = f.read().strip()
    except OSError:
        taint = "?"
    return f"{kind} rdma_rxe (taint '{taint}')"


@pytest.fixture(scope="module")
def suite(tmp_path_factory, odp_device):
    """Run the suite once; (log, ran, secs, counts, results, retried)."""
    root = tmp_path_factory.mktemp("rdma-core")
    tests = root / "tests"	# the package must be called `tests`
    shutil.copytree(SUITE, tests)
    for gz in tests.glob("*.gz"):
        with gzip.open(gz) as src, open(gz.with_suffix(""), "wb") as dst:
            shutil.copyfileobj(src, dst)
        gz.unlink()

    def run(*names):
        proc = subprocess.run([PYTHON, "run_tests.py", "--dev", DEV, "--gid", str(GID), "-v", "-b",
                               *names], cwd=tests, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT,
                              env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        return proc.stdout

    klog = KernelLog()
    try:
        log = run()
        kernel = klog.new_lines()
    finally:
        klog.close()
    ran, secs, counts = summary(log)
    results = parse(log)
    retried = {}
    for test, (outcome, _) in sorted(results.items()):
        if outcome in ("FAIL", "ERROR") and test in RACY:
            tries = []
            for _ in range(RETRIES):
                again = parse(run(test)).get(test, ("missing", None))[0]
                tries.append(again)
                if again == "ok":
                    break
            retried[test] = (outcome, tries)
            log += f"\n#### rerun of {test}: {' '.join(tries)}\n"
    out = os.environ.get("ODP_OUT")
    if out and os.path.isdir(out):
        with open(os.path.join(out, "rdma-core-suite.log"), "w") as f:
            f.write(log)
    return log, ran, secs, counts, results, retried, kernel


def report_of(log, test):
    """unittest's report (traceback) of TEST (module.Class.method) in LOG."""
    method = test.rsplit(".", 1)[1]
    head = rf"^(?:ERROR|FAIL): {re.escape(method)} \({re.escape(test)}\)\n"
    m = re.search(head + r"(.*?)(?=^={70}|^-{70}\nRan |\Z)", log, re.M | re.S)
    return m.group(1) if m else ""


def test_rdma_core_suite(suite, capsys):
    """The suite ran, nothing failed (a known race may pass on a rerun)."""
    log, ran, secs, counts, results, retried, kernel = suite
    line = (f"rdma-core suite on {DEV}, {which_rxe()}: Ran {ran} tests in {secs:.1f}s: "
            f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failures']} failures, "
            f"{counts['errors']} errors")
    for k in ("expected failures", "unexpected successes"):
        if counts[k]:
            line += f", {counts[k]} {k}"
    with capsys.disabled():
        print(f"\n{line}", file=sys.stderr)
        for test, (outcome, tries) in retried.items():
            print(f"  racy {test}: {outcome}, reruns: {' '.join(tries)}", file=sys.stderr)
    bad = kernel_problems(kernel)
    assert not bad, "kernel log during the suite:\n  " + "\n  ".join(bad[:20])
    assert ran > 200, f"only {ran} tests ran:\n{log[-3000:]}"
    assert len(results) == ran, \
        f"listed {len(results)} results for {ran} tests: the -v listing did not parse"
    reps = error_reports(log)
    bad = {t: o for t, (o, r) in results.items()
           if o in ("FAIL", "ERROR", "unexpected success")
           and not (t in retried and retried[t][1][-1] == "ok")
           # upstream's known defects: test_rdma_core_odp_skips reports them
           and not (UPSTREAM and ".test_odp." in t and t.rsplit(".", 1)[1] in UPSTREAM_ODP_DEFECTS
                    and upstream_defect_seen(t.rsplit(".", 1)[1], o, r, reps.get(t)))}
    for t in [t for t in bad if KERNEL_61 and t in RXE_61_FAILS]:
        outcome, pattern, reason = RXE_61_FAILS[t]
        if bad[t] == outcome and re.search(pattern, report_of(log, t)):
            del bad[t]
            with capsys.disabled():
                print(f"  6.1: {t}: {outcome} as expected: {reason}", file=sys.stderr)
    reports = log[log.find("=" * 70):] if bad else ""
    assert not bad, f"rdma-core tests failed on {DEV}: {bad}\n{reports[-6000:]}"


def test_rdma_core_odp_skips(suite, capsys):
    """test_odp.py skips only for what rxe/librxe cannot do (see module doc)."""
    results = suite[4]
    odp = {t.rsplit(".", 1)[1]: r for t, r in results.items() if ".test_odp." in t}
    assert len(odp) >= 17, f"test_odp.py has {len(odp)} tests here, rdma-core 44 has 17"
    caps = odp_caps()
    ran = sorted(t for t, (o, _) in odp.items() if o == "ok")
    with capsys.disabled():
        print(f"\ntest_odp.py on {DEV} (general_odp_caps: {' '.join(caps) or 'none'}): "
              f"{len(ran)} of {len(odp)} ran", file=sys.stderr)
        for test, (outcome, reason) in sorted(odp.items()):
            print(f"  {test}: {outcome}" + (f" ({reason})" if reason else ""), file=sys.stderr)
    if not caps:
        # Today: no ODP in rxe; then all of test_odp.py skips, for that reason.
        wrong = {t: r for t, r in odp.items() if r[0] != "skipped" or not re.search(NO_ODP_SKIP, r[1])}
        assert not wrong, f"{DEV} has no ODP caps, yet test_odp.py did not skip as expected: {wrong}"
        return
    wrong, defects = {}, {}
    reps = error_reports(suite[0])
    for test, (outcome, reason) in sorted(odp.items()):
        if UPSTREAM and test in UPSTREAM_ODP_DEFECTS:
            tid = next(t for t in results if ".test_odp." in t and t.rsplit(".", 1)[1] == test)
            defect = upstream_defect_seen(test, outcome, reason, reps.get(tid))
            if defect:
                defects.setdefault(defect, []).append(test)
            else:
                wrong[test] = (f"expected upstream's defect '{UPSTREAM_ODP_DEFECTS[test][0]}' "
                               f"({UPSTREAM_ODP_DEFECTS[test][1]}), got {outcome}: "
                               f"{reason or reps.get(tid, '')[-800:]}")
            continue
        if outcome == "skipped":
            allowed = ODP_ALLOWED_SKIPS.get(test)
            if not allowed or not re.search(allowed, reason):
                wrong[test] = reason
    assert not wrong, (f"{DEV} has ODP caps ({' '.join(caps)}) but test_odp.py tests skipped for "
                       f"reasons not in ODP_ALLOWED_SKIPS: {wrong}")
    if defects:
        pytest.xfail("upstream's defects: " + "; ".join(f"{d}: {', '.join(t)}"
                                                      for d, t in sorted(defects.items())))
