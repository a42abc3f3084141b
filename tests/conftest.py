# SPDX-License-Identifier: MIT
"""Fixtures and helpers of the odp test suite.

The suite runs as root inside the test VM (tests/vm/run), with odp.ko loaded
and /dev/odp present; without /dev/odp every test is skipped.  Each test
drives one named test of a C program in tests/progs/ (exit 0 pass, 1 fail,
77 skip) and asserts on the `key=value` counters it prints, and on debugfs.

Every test also fails if the kernel log gained a warning, BUG, oops, lockdep
report, ... while it ran (see KERNEL_PROBLEMS).
"""

import errno
import os
import re
import subprocess
import time

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
PROGS = os.path.join(TESTS, "progs")
DEV = "/dev/odp"
DEBUGFS = "/sys/kernel/debug/odp"
MODULE_REFCNT = "/sys/module/odp/refcnt"

# Kernel log lines that fail the test during which they appeared.
KERNEL_PROBLEMS = re.compile(
    r"WARNING:|BUG:|kernel BUG|Oops|general protection fault|"
    r"list_add corruption|list_del corruption|refcount_t:|"
    r"possible circular locking|possible recursive locking|"
    r"KASAN|UBSAN|hung task|hung_task|blocked for more than|Call Trace|"
    r"soft lockup|hard LOCKUP|Kernel panic|rcu.*detected stall"
)

DEFAULT_TIMEOUT = int(os.environ.get("ODP_TEST_TIMEOUT", "120"))
# Which rxe the VM runs (tests/vm/guest-init.sh): "ours" (build/rxe), "stock"
# (the kernel's own, without ODP: Debian's 6.1 and 6.12) or "upstream" (the
# kernel's own with upstream's ODP: trixie-backports' 6.18, booted by `make
# check-upstream` without odp.ko, whose kernel is not the one ours is built for).
ODP_RXE = os.environ.get("ODP_RXE", "ours")
UPSTREAM = ODP_RXE == "upstream"
# Every time limit of the harness (run_prog's, wait_for's) is multiplied by
# this: a slower kernel (the debug kernel: KASAN, lockdep) gets more time,
# the tests' assertions stay the same.
TIMEOUT_SCALE = float(os.environ.get("ODP_TIMEOUT_SCALE", "1"))

# The kernel the VM booted and the rxe it loaded (tests/vm/guest-init.sh).
# On Debian's 6.1 kernel (make check KVER=6.1) the runner always loads
# Debian's rdma_rxe: there is no ODP rxe for 6.1 (driver/rxe/README.md).
KERNEL_61 = os.environ.get("ODP_KVER", "").startswith("6.1.")
STOCK_RXE = os.environ.get("ODP_RXE", "ours") == "stock"
NO_ODP_RXE_61 = ("Debian's 6.1 kernel: no ODP rxe, Debian's rdma_rxe is loaded (6.1's rxe runs "
                 "requester, responder and completer in tasklets, which cannot sleep to fault "
                 "pages in; driver/rxe/README.md)")


# --------------------------------------------------------------------------
# The kernel log
# --------------------------------------------------------------------------

class KernelLog:
    """New kernel log records since construction.

    Reads /dev/kmsg non-blocking from its end (each open file has its own
    position); falls back to counting `dmesg` lines where /dev/kmsg is not
    readable.
    """

    def __init__(self):
        self.fd = None
        self.lines = 0
        try:
            self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            self.fd = None
            self.lines = len(self._dmesg())

    @staticmethod
    def _dmesg():
        try:
            out = subprocess.run(["dmesg"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True,
                                 timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            return []
        return out.splitlines()

    def new_lines(self):
        if self.fd is None:
            return self._dmesg()[self.lines:]
        out = []
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EPIPE:	# overwritten records: go on
                    continue
                raise
            if not rec:
                break
            text = rec.decode("utf-8", "replace")
            head, _, msg = text.partition(";")
            out.append(msg.rstrip("\n"))
        return out

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def kernel_problems(lines):
    return [line for line in lines if KERNEL_PROBLEMS.search(line)]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Fail the test if the kernel complained while it ran."""
    klog = KernelLog()
    try:
        yield
        # Deferred work (async prefetch, context release) gets a moment.
        time.sleep(0.05)
        lines = klog.new_lines()
    finally:
        klog.close()
    bad = kernel_problems(lines)
    if bad:
        context = "\n".join(lines[-80:])
        pytest.fail("kernel log during the test:\n  " + "\n  ".join(bad[:20]) +
                    "\n--- last kernel lines ---\n" + context, pytrace=False)


# --------------------------------------------------------------------------
# Session-wide preconditions
# --------------------------------------------------------------------------

def require_odp_device():
    """Skip (with the reason) unless odp.ko is loaded; the suite runs as root."""
    if not os.path.exists(DEV):
        pytest.skip(f"{DEV} missing: odp.ko not loaded (run the suite in the "
                    f"VM: make check, or tests/vm/run -- /usr/bin/python3 -m pytest -v tests/)")
    if os.geteuid() != 0:
        pytest.skip("the suite needs root (debugfs, /proc/self/pagemap, hugetlb)")
    if not os.path.isdir(DEBUGFS):
        pytest.fail(f"{DEBUGFS} missing: debugfs not mounted or odp.ko has no debugfs dir",
                    pytrace=False)
    return DEV


@pytest.fixture(autouse=True, scope="session")
def odp_device():
    """Skip everything (with the reason) when the module is not loaded."""
    return require_odp_device()


def require_verbs_device(ibdev="rxe0"):
    """odp_device of the modules that test rxe0 through libibverbs only.

    On upstream's rxe (ODP_RXE=upstream) there is no odp.ko: rxe0 and root
    are enough, and None is returned (no /dev/odp, no debugfs).  Everywhere
    else exactly require_odp_device().
    """
    if not UPSTREAM:
        return require_odp_device()
    if not os.path.isdir(f"/sys/class/infiniband/{ibdev}"):
        pytest.skip(f"ODP_RXE=upstream but no {ibdev}: run in the VM (make check-upstream)")
    if os.geteuid() != 0:
        pytest.skip("the suite needs root")
    return None


@pytest.fixture(scope="session")
def progs():
    """Path of the built C programs; fails clearly if they are not built."""
    missing = [p for p in prog_names() if not os.access(os.path.join(PROGS, p), os.X_OK)]
    if missing:
        pytest.fail(f"tests/progs not built ({', '.join(missing)} missing): "
                    f"run `make -C tests/progs` on the host first", pytrace=False)
    return PROGS


def prog_names():
    with open(os.path.join(PROGS, "Makefile")) as f:
        text = f.read().replace("\\\n", " ")
    m = re.search(r"^PROGS\s*:=\s*(.*)$", text, re.M)
    return m.group(1).split()


# --------------------------------------------------------------------------
# Running the C programs
# --------------------------------------------------------------------------

_TOKEN = re.compile(r'([A-Za-z_][\w.\-]*)=("[^"]*"|\S+)')


def parse_counters(text):
    """All `key=value` tokens of text; later keys win; ints where possible."""
    out = {}
    for key, val in _TOKEN.findall(text):
        if val.startswith('"'):
            val = val[1:-1]
        try:
            out[key] = int(val, 0)
        except ValueError:
            out[key] = val
    return out


class ProgResult(dict):
    """Parsed counters of one program run (a dict) plus its raw output."""

    def __init__(self, proc, counters):
        super().__init__(counters)
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def __missing__(self, key):
        raise KeyError(f"{key!r} not printed by the program; it printed:\n{self.stdout}")


def run_prog(prog, test, timeout=DEFAULT_TIMEOUT, env=None, expect_rc=0):
    """Run tests/progs/<prog> <test>; skip on 77, fail on anything unexpected.

    Returns a ProgResult: the counters as a dict, .stdout, .stderr.
    """
    path = os.path.join(PROGS, prog)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not built: run `make -C tests/progs` on the host first",
                    pytrace=False)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    timeout *= TIMEOUT_SCALE
    start = time.monotonic()
    try:
        proc = subprocess.run([path, test], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              timeout=timeout, env=full_env, cwd="/tmp")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"{prog} {test}: timed out after {timeout}s\n"
                    f"--- stdout ---\n{out}\n--- stderr ---\n{err}", pytrace=False)
    elapsed = time.monotonic() - start
    print(f"$ {path} {test}  ({elapsed:.2f}s, exit {proc.returncode})")
    print(proc.stdout, end="")
    if proc.stderr:
        print("--- stderr ---")
        print(proc.stderr, end="")
    if proc.returncode == 77 and expect_rc != 77:
        reason = proc.stderr.strip().splitlines()
        pytest.skip(f"{prog} {test}: " + (reason[-1] if reason else "skipped"))
    if proc.returncode != expect_rc:
        why = "killed by signal %d" % -proc.returncode if proc.returncode < 0 \
            else "exit %d" % proc.returncode
        pytest.fail(f"{prog} {test}: {why}, expected {expect_rc}\n"
                    f"--- stderr ---\n{proc.stderr}\n--- stdout ---\n{proc.stdout}",
                    pytrace=False)
    return ProgResult(proc, parse_counters(proc.stdout))


@pytest.fixture
def no_numa_balancing():
    """NUMA balancing's scans (PROTECTION_VMA invalidations) drop an MR's
    entries at random (Documentation/benchmarks.md): off while a test that
    needs them in place runs (the zap tests' big MR before its munmap; the
    OOM reaper's victim, parked for seconds before the reap)."""
    path = "/proc/sys/kernel/numa_balancing"
    try:
        with open(path) as f:
            saved = f.read().strip()
    except OSError:
        yield
        return
    with open(path, "w") as f:
        f.write("0")
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(saved)


@pytest.fixture
def run(progs):
    """run(prog, test, **kw) -> ProgResult; see run_prog()."""
    return run_prog


# --------------------------------------------------------------------------
# debugfs and module state
# --------------------------------------------------------------------------

def read_stats():
    """/sys/kernel/debug/odp/stats as {name: value}, in file order."""
    out = {}
    with open(os.path.join(DEBUGFS, "stats")) as f:
        for line in f:
            name, value = line.split()
            out[name] = int(value)
    return out


_MR_LINE = re.compile(
    r"^mr (?P<handle>\d+) pid (?P<pid>\d+) lkey 0x(?P<lkey>[0-9a-fA-F]+) "
    r"addr 0x(?P<addr>[0-9a-fA-F]+) length (?P<length>\d+) access 0x(?P<access>[0-9a-fA-F]+)"
    r"(?P<rest>.*)$")


def read_mrs():
    """/sys/kernel/debug/odp/mrs as a list of dicts (fields + counters)."""
    mrs = []
    with open(os.path.join(DEBUGFS, "mrs")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            m = _MR_LINE.match(line)
            assert m, f"unexpected line in {DEBUGFS}/mrs: {line!r}"
            mr = {
                "handle": int(m["handle"]), "pid": int(m["pid"]),
                "lkey": int(m["lkey"], 16), "addr": int(m["addr"], 16),
                "length": int(m["length"]), "access": int(m["access"], 16),
            }
            mr.update(parse_counters(m["rest"]))
            mrs.append(mr)
    return mrs


def mrs_of_pid(pid):
    return [mr for mr in read_mrs() if mr["pid"] == pid]


def module_refcnt():
    """The odp module's reference count, or None if not visible."""
    try:
        with open(MODULE_REFCNT) as f:
            return int(f.read())
    except OSError:
        return None


def wait_for(pred, timeout=10.0, interval=0.05):
    """Poll pred() until it is truthy or timeout; returns its last value."""
    end = time.monotonic() + timeout * TIMEOUT_SCALE
    while True:
        val = pred()
        if val or time.monotonic() > end:
            return val
        time.sleep(interval)


@pytest.fixture(autouse=True)
def no_mr_leak(odp_device):
    """After each test the MR list of debugfs is back to what it was.

    The C programs have exited by then, so every context they opened is
    closed and every MR of theirs must be gone.  No check where the
    module's odp_device is None: upstream's rxe without odp.ko
    (require_verbs_device()), which has no debugfs.
    """
    if odp_device is None:
        yield
    else:
        yield from debugfs_mr_leak_check()


def debugfs_mr_leak_check():
    """no_mr_leak's check, a generator for fixtures: yield between before and after."""
    before = {(mr["pid"], mr["handle"]) for mr in read_mrs()}
    yield
    left = wait_for(lambda: not ({(mr["pid"], mr["handle"]) for mr in read_mrs()} - before),
                    timeout=5)
    if not left:
        extra = [mr for mr in read_mrs() if (mr["pid"], mr["handle"]) not in before]
        pytest.fail(f"MRs left in {DEBUGFS}/mrs after the test's processes exited: {extra}",
                    pytrace=False)


@pytest.fixture
def debugfs():
    """Access to the debugfs helpers from tests."""
    class _D:
        stats = staticmethod(read_stats)
        mrs = staticmethod(read_mrs)
        mrs_of_pid = staticmethod(mrs_of_pid)
    return _D
