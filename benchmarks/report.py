#!/usr/bin/python3
"""Turn the JSON of a benchmark run into Documentation/benchmarks.{md,png,json}.

    benchmarks/report.py [--started EPOCH] [--docs DIR] RUN/bench.json

Runs on the host after `make bench` (benchmarks/run.py wrote RUN/bench.json
inside the VM).  Every number in the Markdown and in the plot is taken from
that JSON; nothing is typed by hand.  The JSON is copied next to the
Markdown as benchmarks.json, so the docs and their data travel together.
--started is the epoch second `make bench` began, for its total duration.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# The targets of the issue.
T_REG_RATIO = 1000.0        # ODP registration of 1 GiB >= 1000x cheaper than pinned
T_REG_FLAT = 1.5            # ... and flat: no size costs more than 1.5x the smallest
T_FAULT = 1.5               # 64-page batched fault within 1.5x of the CPU's first touch
T_INVAL = 1.10              # invalidation overhead under 10 %
T_BW = 0.9                  # >= 0.9x of perftest
T_VERBS_BW = 0.95           # perftest --odp >= 0.95x of pinned on the ODP rxe
T_STORM_UP = 2.0            # fault storm: at least 2x upstream's throughput


# ---------------------------------------------------------------- formatting

def size_arg(a):
    """'1G' (a program argument) -> '1 GiB'."""
    if not a:
        return "?"
    mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(a[-1].upper(), 1)
    return size_str(int(a.rstrip("KMGkmg")) * mult)


def by_size(d):
    """{'64': 300, ...} -> '300 (64 B), ...'."""
    return ", ".join(f"{v} ({size_str(int(k))})" for k, v in d.items())


def size_str(b):
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= div and b % div == 0:
            return f"{b // div} {unit}"
    return f"{b} B"


def num(x, digits=2):
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def ratio(s, unit="x"):
    """'median x [min-max]' of a summary."""
    if not s:
        return "-"
    if s.get("n", 1) > 1 and "min" in s:
        return f"{num(s['median'])}{unit} [{num(s['min'])}-{num(s['max'])}]"
    return f"{num(s['median'])}{unit}"


def pct(s):
    """Overhead of a ratio summary as +x % [min-max]."""
    if not s:
        return "-"
    f = lambda r: f"{(r - 1) * 100:+.0f}%"
    if s.get("n", 1) > 1:
        return f"{f(s['median'])} [{f(s['min'])}..{f(s['max'])}]"
    return f(s["median"])


def t_ns(ns):
    if ns is None:
        return "-"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def med(s):
    return s["median"] if s else None


def t_med(s):
    return t_ns(med(s))


def table(header, rows, align=None):
    out = ["| " + " | ".join(header) + " |"]
    align = align or ["---"] + ["--:"] * (len(header) - 1)
    out.append("|" + "|".join(align) + "|")
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def yesno(ok):
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**missed**"


# ---------------------------------------------------------------- targets

REG_STATES = ("untouched", "touched_4k", "touched_thp")
REG_TITLE = {"untouched": "Untouched memory (system THP policy)",
             "touched_4k": "Touched memory, 4 KiB pages",
             "touched_thp": "Touched memory, transparent huge pages"}
REG_SHORT = {"untouched": "untouched", "touched_4k": "touched 4 KiB",
             "touched_thp": "touched THP"}


def reg_rows(doc, state):
    return [r for r in doc.get("reg", {}).get("rows", []) if r["state"] == state]


def target_reg(doc):
    """(ok, text, details) for 1 GiB >= 1000x, and for flatness."""
    res = {}
    for state in REG_STATES:
        row = next((r for r in reg_rows(doc, state) if r["size"] == 2**30), None)
        if row and row["reg_pinned_over_odp"]:
            res[state] = row["reg_pinned_over_odp"]
    ok = None
    if res:
        ok = all(v["median"] >= T_REG_RATIO for v in res.values())
    flat = {}
    for state in REG_STATES:
        rows = [r for r in reg_rows(doc, state) if r["odp_reg_vs_smallest"]]
        if rows:
            worst = max(rows, key=lambda r: r["odp_reg_vs_smallest"]["median"])
            flat[state] = (worst, rows[0]["size"])
    flat_ok = None
    if flat:
        flat_ok = all(w["odp_reg_vs_smallest"]["median"] <= T_REG_FLAT for w, _ in flat.values())
    return ok, res, flat_ok, flat


def fault_row(doc, kind, mode, batch):
    return next((r for r in doc.get("fault", {}).get("rows", [])
                 if r["kind"] == kind and r["mode"] == mode and r["batch"] == batch), None)


def target_fault(doc):
    row = fault_row(doc, "4k", "fault_write", 64)
    if not row:
        return None, None
    return row["odp_over_cpu"]["median"] <= T_FAULT, row


def target_inval(doc):
    rows = [r for r in doc.get("inval", {}).get("rows", []) if r["mapped_over_plain"]]
    if not rows:
        return None, [], None
    bad = [r for r in rows if r["mapped_over_plain"]["median"] > T_INVAL]
    worst = max(rows, key=lambda r: r["mapped_over_plain"]["median"])
    return not bad, bad, worst


def target_bw(doc):
    rows = [r for r in doc.get("bw", {}).get("rows", []) if r["odp_over_perftest"]]
    if not rows:
        return None, [], None
    bad = [r for r in rows if r["odp_over_perftest"]["median"] < T_BW]
    worst = min(rows, key=lambda r: r["odp_over_perftest"]["median"])
    return not bad, bad, worst


# ---------------------------------------------------------------- sections

def header(doc, args):
    env = doc["env"]
    started = doc.get("started_utc", "")
    date = started[:10]
    total = ""
    if doc.get("make_bench_seconds"):
        total = (f" The whole `make bench` (build, VM boot, benchmarks, report) took "
                 f"{doc['make_bench_seconds'] / 60:.1f} min.")
    vm = (f"QEMU {env['accel']} (`{env['cpu_model']}`), {env['vcpus']} vCPUs, "
          f"{env['mem_total_mib']} MiB in {env['numa_nodes']} NUMA nodes, "
          f"{env['page_size']} B pages, THP `{env['thp_enabled']}` (defrag "
          f"`{env['thp_defrag']}`), automatic NUMA balancing "
          f"{'off' if env.get('numa_balancing') == '0' else env.get('numa_balancing')} for the "
          f"measurements (default {env.get('numa_balancing_default', '?')}), "
          f"clocksource `{env.get('clocksource', '?')}`")
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/report.py from Documentation/benchmarks.json,",
        "     the output of the last `make bench`. Do not edit: run `make bench`. -->",
        "",
        f"**Run of {date}**" + (f" (`build/vm-out/{doc['run_id']}`)" if doc.get("run_id") else "") +
        f" (UTC {started} to {doc.get('finished_utc', '')}), "
        f"kernel `{env['kernel']}`, VM: {vm}. RDMA device `{env['rdma_device']}` "
        f"(rxe on a dummy netdev, loopback traffic). perftest {env['perftest']}, "
        f"commit `{env['git_commit']}`{' (with uncommitted changes)' if env['git_dirty'] else ''}. "
        f"The benchmarks ran {doc['seconds'] / 60:.1f} min in the VM.{total}",
        "",
        "Every figure is a **ratio against a baseline measured in the same VM run**: "
        "the VM is QEMU TCG (no KVM on these hosts), slow and shared with other "
        "jobs, so absolute times mean little and vary from run to run; they are "
        "shown only for orientation. Each ratio is the **median over repetitions**, "
        "with the **spread [min-max]**; where subject and baseline are measured in the "
        "same repetition the ratio is taken per repetition and then summarised. "
        "The raw samples are in [benchmarks.json](benchmarks.json); the programs and "
        "what exactly each measures are in [benchmarks/](../benchmarks/).",
        "",
        "![benchmark plots](benchmarks.png)",
        "",
    ]
    if doc.get("quick"):
        lines += ["> **This is a --quick smoke run** (tiny sizes, one repetition): "
                  "the figures are not meaningful.", ""]
    if doc.get("errors"):
        lines += ["> **Errors in this run:** " +
                  "; ".join(f"{k}: {v}" for k, v in doc["errors"].items()), ""]
    if not doc.get("complete"):
        lines += ["> **The run did not complete**: sections without data are missing.", ""]
    return lines


def summary_section(doc):
    lines = ["## Targets", ""]
    rows = []
    ok, res, flat_ok, flat = target_reg(doc)
    rows.append(["1", f"ODP registration of 1 GiB at least {T_REG_RATIO:,.0f}x cheaper "
                 "than pinned `ibv_reg_mr`",
                 "; ".join(f"{REG_SHORT[st]}: {ratio(v)}" for st, v in res.items() if v) or "-",
                 yesno(ok)])
    rows.append(["1", f"... and flat in size (no size above {T_REG_FLAT}x the smallest)",
                 "; ".join(f"{REG_SHORT[st]}: worst {ratio(w['odp_reg_vs_smallest'])} at "
                           f"{size_str(w['size'])} vs {size_str(s0)}"
                           for st, (w, s0) in flat.items()) or "-",
                 yesno(flat_ok)])
    ok, row = target_fault(doc)
    thp = fault_row(doc, "thp", "fault_write", 64)
    rows.append(["2", f"64-page batched fault within {T_FAULT}x of the CPU's own first touch",
                 (f"4 KiB pages: {ratio(row['odp_over_cpu'])}" if row else "-") +
                 (f"; THP: {ratio(thp['odp_over_cpu'])}" if thp else ""), yesno(ok)])
    ok, bad, worst = target_inval(doc)
    rows.append(["3", f"invalidation of a registered, device-mapped range under "
                 f"{(T_INVAL - 1) * 100:.0f}% extra",
                 (f"worst: {pct(worst['mapped_over_plain'])} ({worst['op']}, "
                  f"{worst['pages']} pages, {worst['kind']}); {len(bad)} of "
                  f"{len(doc['inval']['rows'])} cases over" if worst else "-"), yesno(ok)])
    ok, bad, worst = target_bw(doc)
    rows.append(["4", f"libodp WRITE/READ/SEND at least {T_BW}x of perftest (pinned)",
                 (f"worst: {ratio(worst['odp_over_perftest'])} ({worst['op'].upper()} "
                  f"{size_str(worst['size'])}); {len(bad)} of {len(doc['bw']['rows'])} "
                  f"cases under" if worst else "-"), yesno(ok)])
    rows += verbs_target_rows(doc)
    lines.append(table(["#", "target", "measured: median [min-max]", ""], rows,
                       ["--:", "---", "---", "---"]))
    lines += ["", "Items 5 (fault storm) and 6 (scaling) have no target; their figures "
              "are below. Where a target is missed, [Notes on missed targets]"
              "(#notes-on-missed-targets) says by how much, why, and what would close it.", ""]
    return lines


def reg_section(doc):
    reg = doc.get("reg")
    if not reg:
        return []
    p = dict(zip(reg["args"][::2], reg["args"][1::2]))
    env = doc["env"]
    lines = [
        "## 1. Registration and deregistration cost vs size",
        "",
        "`bench_reg`: `odp_reg_mr(ODP_ACCESS_ON_DEMAND)` against pinned `ibv_reg_mr` "
        "(libibverbs, same rxe0 device, same access flags `LOCAL_WRITE|REMOTE_WRITE|"
        "REMOTE_READ`) on the same memory. *Untouched*: "
        "memory never touched, THP policy of the system "
        f"(`{env['thp_enabled']}`); ODP registers the same buffer repeatedly (it faults "
        "nothing), pinning faults every page in, so it gets a fresh mapping each time "
        "(mapping not timed). *Touched*: one store per page first, in 4 KiB pages "
        "(`MADV_NOHUGEPAGE`) or in transparent huge pages (`MADV_HUGEPAGE`, from 2 MiB); "
        "pinning THP-backed memory is much cheaper, so both are shown. Pinning untouched "
        f"memory allocates it and the VM has {env['mem_total_mib']} MiB: pinned "
        f"registration and touched buffers go up to {size_arg(p.get('--pinned-max'))}, ODP "
        "alone up to the largest size. Ratios are pinned / ODP (how many times cheaper ODP "
        "is), per repetition; "
        "*ODP reg vs smallest* is ODP's registration time over its time at the smallest "
        "size (flatness). *ODP dereg, mapped*: deregistration of an MR whose every page "
        f"was device-mapped first (up to {size_arg(p.get('--mapped-max'))}), i.e. including the "
        f"teardown of its translations. Repetitions: ODP {p.get('--reps')} at every size, "
        "each the median of 16 registrations; pinned and *dereg, mapped* "
        f"{p.get('--reps')} ({p.get('--big-reps')} from 256 MiB), each the median of up to "
        "8 calls. All ODP repetitions of a buffer run before the pinned ones: freeing a big "
        "pinned MR leaves the kernel work that would land in the next calls.",
        "",
    ]
    for state in REG_STATES:
        rows = []
        touched = state != "untouched"
        for r in reg_rows(doc, state):
            rows.append([
                size_str(r["size"]), t_med(r["odp_reg_ns"]), t_med(r["pinned_reg_ns"]),
                ratio(r["reg_pinned_over_odp"]), ratio(r["odp_reg_vs_smallest"]),
                t_med(r["odp_dereg_ns"]), t_med(r["pinned_dereg_ns"]),
                ratio(r["dereg_pinned_over_odp"]),
            ] + ([t_med(r["odp_mapped_dereg_ns"]), ratio(r["mapped_dereg_pinned_over_odp"])]
                 if touched else []))
        if not rows:
            continue
        head = ["size", "ODP reg", "pinned reg", "reg: pinned / ODP", "ODP reg vs smallest",
                "ODP dereg", "pinned dereg", "dereg: pinned / ODP"]
        if touched:
            head += ["ODP dereg, mapped", "pinned dereg / ODP dereg mapped"]
        lines += [f"**{REG_TITLE[state]}**", "", table(head, rows), ""]
    return lines


def numa_section(doc):
    nu = doc.get("numa")
    if not nu or not nu.get("rows"):
        return []
    rows = []
    for r in nu["rows"]:
        rows.append([r["numa_balancing"], f"{r['pages']:,}", r["seconds"],
                     f"{r['mapped_after'] / r['mapped_before']:.2f}" if r["mapped_before"] else "-",
                     f"{r['invalidations']:,}", f"{r['pages_invalidated']:,}"])
    env = doc["env"]
    return [
        "## Automatic NUMA balancing and ODP translations",
        "",
        f"The VM has {env['numa_nodes']} NUMA nodes and the kernel enables automatic NUMA "
        f"balancing by default (`kernel.numa_balancing` = {env.get('numa_balancing_default', '?')}). "
        "Its scanner periodically changes the protection of a running process's pages "
        "(`MMU_NOTIFY_PROTECTION_VMA`), which this driver answers by dropping the "
        "translations (Documentation/design.md, *Invalidation*), and the scan's cost lands "
        "on whatever system call the process returns from next. `bench_scale "
        "--numa-probe`: one MR of resident pages, all device-mapped by a write prefetch, "
        "then the process keeps running (reading its memory) for a few seconds:",
        "",
        table(["kernel.numa_balancing", "pages", "seconds", "translations left (after / before)",
               "invalidations meanwhile", "pages invalidated meanwhile"], rows),
        "",
        f"So every other benchmark runs with `kernel.numa_balancing` = "
        f"{env.get('numa_balancing', '?')} (run.py sets it and restores it afterwards): "
        "with it on, registration and invalidation times pick up the scanner's work at "
        "random, and device-mapped pages do not stay mapped.",
        "",
    ]


FAULT_MODES = [
    ("fault_write", "`odp_advise_mr(PREFETCH_WRITE)` vs one store per page"),
    ("fault_read", "`odp_advise_mr(PREFETCH)` vs one load per page (zero page)"),
    ("access_write", "`odp_mr_write()` of the batch (fault + copy) vs `memset()` of it"),
]


def fault_section(doc):
    f = doc.get("fault")
    if not f:
        return []
    p = dict(zip(f["args"][::2], f["args"][1::2]))
    thp = f.get("thp_check") or {}
    lines = [
        "## 2. Fault cost per page and per batch",
        "",
        "`bench_fault`: a region of fresh pages is made accessible in batches of N pages, "
        "one call per batch, against the CPU's own first touch of the same amount of fresh "
        "memory in the same process (each on its own fresh region, alternating which goes "
        "first). A synchronous write prefetch of N pages is exactly one device fault of N "
        "pages (one `hmm_range_fault()` for N <= 512): the kernel allocates and zeroes the "
        "pages as for the CPU's faults and the driver installs N translations. Registration "
        f"is not timed. Region: {p.get('--pages')} pages of 4 KiB (`MADV_NOHUGEPAGE`), "
        f"{p.get('--thp-pages')} pages with THP (2 MiB aligned, `MADV_HUGEPAGE`; the first "
        "batch touching a 2 MiB range faults the whole huge page, for the CPU and the "
        f"device alike; THP check: {thp.get('anon_huge_kb', '?')} kB AnonHugePages after "
        f"touching 2 MiB). Repetitions: {p.get('--reps')}. Ratio: ODP / CPU (below 1: the "
        "device path is faster).",
        "",
    ]
    for kind, title in (("4k", "4 KiB pages"), ("thp", "THP")):
        rows = []
        for mode, desc in FAULT_MODES:
            for r in f["rows"]:
                if r["kind"] != kind or r["mode"] != mode:
                    continue
                rows.append([f"{mode}", r["batch"], ratio(r["odp_over_cpu"]),
                             t_med(r["odp_ns_per_batch"]), t_med(r["cpu_ns_per_batch"]),
                             t_med(r["odp_ns_per_page"]), t_med(r["cpu_ns_per_page"]),
                             num(med(r["faults_per_run"]), 0)])
        if rows:
            lines += [f"**{title}**", "",
                      table(["mode", "batch (pages)", "ODP / CPU", "ODP per batch",
                             "CPU per batch", "ODP per page", "CPU per page",
                             "driver faults per run"], rows,
                            ["---", "--:", "--:", "--:", "--:", "--:", "--:", "--:"]), ""]
    lines += ["Modes: " + "; ".join(f"`{m}`: {d}" for m, d in FAULT_MODES) + ".", ""]
    return lines


PREP_TEXT = (
    "Plain, registered and mapped make the same calls before the timed one - two ODP "
    "registrations and a synchronous prefetch through the second, each over the range or "
    "over a second resident range of the same size - and differ only in what covers the "
    "range (plain: both MRs cover the other range). What those calls leave behind in the VM "
    "(caches, QEMU's TLB and translated code) then weighs the same on all three; *bare* "
    "(no MR, no preparation at all) shows how much: the last column. The ranges are mapped "
    "and written in batches of up to 64 MiB before their calls, each call's with an "
    "inaccessible 4 MiB gap after them: a range written just before its call left the call "
    "to run in a software TLB full of the range's pages (after two THPs, a plain "
    "`MADV_DONTNEED` took 109 us instead of 23 us, and the notifier's share grew with it), "
    "and ranges of different calls merged into one VMA, whose splitting cost whichever "
    "state's range sat where (benchmarks/README.md). Until the morning of 2026-12-01 plain "
    "was bare; until its afternoon each range was written just before its call.")


def inval_section(doc):
    inv = doc.get("inval")
    if not inv:
        return []
    p = dict(zip(inv["args"][::2], inv["args"][1::2]))
    rows = []
    for r in inv["rows"]:
        rows.append([r["kind"], r["op"], r["pages"], t_med(r["plain_ns"]),
                     t_med(r["registered_ns"]), t_med(r["mapped_ns"]),
                     pct(r["registered_over_plain"]), pct(r["mapped_over_plain"]),
                     num(med(r["pages_invalidated"]), 0), pct(r.get("plain_over_bare"))])
    return [
        "## 3. Invalidation overhead",
        "",
        "`bench_inval`: `munmap()` or `madvise(MADV_DONTNEED)` of S resident pages: "
        "*plain* (not registered, the baseline), *registered* (inside an ODP MR, nothing "
        "device-mapped: the notifier alone), *mapped* (inside an ODP MR, every page "
        "device-mapped by a synchronous prefetch: the subject). " + PREP_TEXT + " Only the "
        "call is timed; "
        "small ranges (under 2048 4 KiB pages or 64 THPs) repeat it on separate ranges "
        f"(median of those). Repetitions: {p.get('--reps', 7)}; the "
        "states take turns call by call, in a random order each round. Extra = state / "
        "plain - 1, per repetition.",
        "",
        table(["page size", "op", "S (pages)", "plain", "registered", "mapped",
               "extra: registered", "extra: mapped", "pages invalidated (driver)",
               "plain / bare - 1"], rows,
              ["---", "---", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:"]),
        "",
    ]


def bw_section(doc):
    bw = doc.get("bw")
    if not bw:
        return []
    prm = doc["params"]
    rows = []
    for r in bw["rows"]:
        rows.append([r["op"].upper(), size_str(r["size"]), f"`{r['odp_tool']}`",
                     ratio(r["odp_over_perftest"]), num(med(r["odp_msg_per_s"]), 0),
                     num(med(r["perftest_msg_per_s"]), 0), num(med(r["odp_mib_s"])),
                     num(med(r["perftest_mib_s"]))])
    lines = [
        "## 4. Bandwidth and message rate over rxe, resident pages",
        "",
        "libodp against perftest (`ib_write_bw`, `ib_read_bw`, `ib_send_bw`, pinned MRs) on "
        "the same device and sizes, loopback on rxe0 (server and client in the same VM), "
        "tx-depth 128 and a completion every 16 operations on both sides "
        "(`-t 128 -Q 16`; perftest also `-x 1 -F`). WRITE uses `examples/odp_write_bw`; READ "
        "and SEND use `benchmarks/bench_bw` (the same loop over libodp; its buffers are "
        "made resident and device-mapped before the clock starts). Each repetition runs "
        "perftest and libodp back to back. libodp's message rate is about two orders of "
        "magnitude lower here, so the two get different iteration counts (libodp "
        f"{by_size(prm['odp_iters'])}, READ {by_size(prm['odp_read_iters'])}; perftest "
        f"{by_size(prm['perftest_iters'])}); rates are per operation either way. "
        f"Repetitions: {bw['reps']}. Ratio: libodp / perftest message rate (= bandwidth "
        "ratio at equal size).",
        "",
        table(["op", "size", "libodp tool", "libodp / perftest", "libodp msg/s",
               "perftest msg/s", "libodp MiB/s", "perftest MiB/s"], rows,
              ["---", "--:", "---", "--:", "--:", "--:", "--:", "--:"]),
        "",
    ]
    cross = [r for r in bw["rows"] if r.get("bench_bw_over_odp_write_bw")]
    if cross:
        lines += ["Cross-check of the two libodp loops on WRITE: `bench_bw` / `odp_write_bw` = " +
                  ", ".join(f"{ratio(r['bench_bw_over_odp_write_bw'])} at {size_str(r['size'])}"
                            for r in cross) + ".", ""]
    for r in bw["rows"]:
        if r.get("txdepth"):
            lines += [f"Diagnostic, {r['op'].upper()} {size_str(r['size'])} with fewer "
                      "operations outstanding (libodp `-t`; perftest stays at 128):", "",
                      table(["tx-depth", "libodp / perftest", "vs libodp at 128",
                             "libodp msg/s", "rxe0 RNR NAKs received per op"],
                            [[t["tx_depth"], ratio(t["odp_over_perftest"]),
                              ratio(t["over_tx128"]), num(med(t["msg_per_s"]), 0),
                              num(t["rxe_per_op"].get("rcvd_rnr_err", 0), 3)]
                             for t in r["txdepth"]] +
                            [[128, ratio(r["odp_over_perftest"]), "1x",
                              num(med(r["odp_msg_per_s"]), 0),
                              num(r["odp_rxe_per_op"].get("rcvd_rnr_err", 0), 3)]]), ""]
    fails = bw.get("failed_attempts") or []
    if fails or bw.get("failures"):
        lines += [f"{len(fails)} run{'s' if len(fails) != 1 else ''} failed and "
                  f"{'were' if len(fails) != 1 else 'was'} repeated "
                  "(up to 3 attempts each: "
                  f"{sum(1 for x in fails if 'perftest' in x['tag'])} perftest, "
                  f"{sum(1 for x in fails if 'perftest' not in x['tag'])} libodp); "
                  f"{len(bw.get('failures') or [])} measurements are missing after 3 attempts"
                  + (f" ({', '.join(bw['failures'][:8])})" if bw.get("failures") else "") +
                  ". See *Other findings*.", ""]
    return lines


def storm_section(doc):
    bw = doc.get("bw")
    if not bw or not bw.get("storm"):
        return []
    prm = doc["params"]
    rows = []
    for r in bw["storm"]:
        st, sp = r["storm_stats_per_op"], r["storm_prefetch_stats_per_op"]
        rows.append([size_str(r["size"]), ratio(r["storm_over_resident"]),
                     ratio(r["storm_prefetch_over_resident"]),
                     ratio(r["storm_prefetch_over_storm"]),
                     num(med(r["storm_msg_per_s"]), 0), num(med(r["storm_prefetch_msg_per_s"]), 0),
                     num(med(r["resident_msg_per_s"]), 0),
                     f"{num(st.get('pages_faulted'), 1)} / {num(sp.get('pages_faulted'), 1)}",
                     f"{num(st.get('invalidations'), 0)} / {num(sp.get('invalidations'), 0)}"])
    return [
        "## 5. Bandwidth under a fault storm",
        "",
        "`odp_write_bw --odp-fault`: the client throws its source buffer away with "
        "`MADV_DONTNEED` before every write and the server throws its target buffer away "
        "over and over while the client writes; `--prefetch` adds `odp_advise_mr()` after "
        "every `madvise`. Against the resident case of section 4 (`odp_write_bw` without "
        "`--odp-fault`, same repetition). Iterations: "
        f"{by_size(prm['storm_iters'])}. Counters: module-wide, both sides, per write.",
        "",
        table(["size", "storm / resident", "storm+prefetch / resident",
               "storm+prefetch / storm", "storm msg/s", "storm+prefetch msg/s",
               "resident msg/s", "pages faulted per write (storm / +prefetch)",
               "invalidations per write (storm / +prefetch)"], rows),
        "",
    ] + ([
        "A ratio above 1 is possible: the resident runs use `-t 128` and include the RNR "
        "waits of section 4 (see the notes), which the slower storm runs may escape.", ""]
        if any(med(r["storm_prefetch_over_resident"]) and med(r["storm_prefetch_over_resident"]) > 1
               or med(r["storm_over_resident"]) and med(r["storm_over_resident"]) > 1
               for r in bw["storm"]) else [])


def verbs_target_rows(doc):
    """Section 7's targets (our ODP rxe through libibverbs) for the summary."""
    v = doc.get("verbs")
    if not v:
        return []
    upv = (doc.get("upstream") or {}).get("verbs") or {}
    rows = []
    pt = [r for r in v.get("perftest", []) if r.get("odp_over_pinned")]
    if pt:
        worst = min(pt, key=lambda r: r["odp_over_pinned"]["median"])
        bad = [r for r in pt if r["odp_over_pinned"]["median"] < T_VERBS_BW]
        rows.append(["7", f"perftest `--odp` at least {T_VERBS_BW}x of pinned on our rxe "
                     "(4 and 64 KiB, pages resident)",
                     f"worst: {ratio(worst['odp_over_pinned'])} (`ib_{worst['op']}_bw` "
                     f"{size_str(worst['size'])}); {len(bad)} of {len(pt)} cases under",
                     yesno(not bad)])
    reg = [r for r in v.get("reg", []) if r.get("pinned_over_odp") and not r["touched"]]
    if reg:
        r = reg[-1]
        rows.append(["7", f"`ibv_reg_mr` ODP of {size_str(r['size'])} at least "
                     f"{T_REG_RATIO:,.0f}x cheaper than pinned (untouched memory)",
                     ratio(r["pinned_over_odp"]), yesno(r["pinned_over_odp"]["median"] >= T_REG_RATIO)])
    inv = [r for r in v.get("inval", []) if r.get("mapped_over_plain")]
    if inv:
        worst = max(inv, key=lambda r: r["mapped_over_plain"]["median"])
        bad = [r for r in inv if r["mapped_over_plain"]["median"] > T_INVAL]
        rows.append(["7", f"invalidation of a device-mapped range (our rxe) under "
                     f"{(T_INVAL - 1) * 100:.0f}% extra",
                     f"worst: {pct(worst['mapped_over_plain'])} ({worst['op']}, {worst['pages']} "
                     f"pages, {worst['kind']}); {len(bad)} of {len(inv)} cases over",
                     yesno(not bad)])
    us = {(r["op"], r["size"], r["qps"]): r for r in upv.get("storm", [])}
    pairs = [(r, us.get((r["op"], r["size"], r["qps"]))) for r in v.get("storm", [])]
    pairs = [(o, u) for o, u in pairs if u and med(o["storm_msg_per_s"]) and
             med(u["storm_msg_per_s"])]
    if pairs:
        rs = [(med(o["storm_msg_per_s"]) / med(u["storm_msg_per_s"]), o) for o, u in pairs]
        rows.append(["7", f"fault storm throughput at least {T_STORM_UP:.0f}x upstream's "
                     "(aim; two VM runs)",
                     "; ".join(f"WRITE {size_str(o['size'])} x {o['qps']} QPs: {num(x)}x"
                               for x, o in rs), yesno(all(x >= T_STORM_UP for x, _ in rs))])
    ck = v.get("data_check")
    if ck:
        wrong = [c for c in ck if c["bad_bytes"] or c["status"]]
        rows.append(["7", "multi-packet WRITE/READ/SEND through ODP MRs arrive intact "
                     "(`bench_verbs check`)", f"{len(ck) - len(wrong)} of {len(ck)} cases right",
                     yesno(not wrong)])
    return rows


def fault_modes_lines(fm):
    """Our rxe's inline vs deferred faults (run.py fault_modes())."""
    if not fm or fm.get("skipped"):
        return [f"Fault modes not measured: {fm.get('skipped', 'no data')}.", ""]
    lines = []
    rows = []
    for d in fm.get("deferred_fault", []):
        rows.append([f"{d['pages']} ({size_str(d['pages'] * 4096)})",
                     t_med(d.get("cpu_ns_per_page")), t_med(d.get("fault_extra_ns_per_page")),
                     ratio(d.get("fault_extra_over_cpu"))])
    if rows:
        lines += ["Deferred mode, `bench_verbs fault` as above (the inline figures are the "
                  "table above, from the same VM run):", "",
                  table(["pages per batch", "CPU first touch/page", "deferred fault/page",
                         "deferred fault/CPU"], rows), ""]
    rows = []
    for sm in fm.get("rxe_storm_summary", []):
        runs = [r for r in fm.get("rxe_storm", []) if r["qps"] == sm["qps"] and
                r["chunk"] == sm["chunk"] and r["shared_mr"] == sm["shared_mr"]]
        mbps = {m: summary_of([r["storm_MBps"] for r in runs if r["mode"] == m])
                for m in ("inline", "deferred")}
        defer = sum(r["odp_deferred_faults"] for r in runs if r["mode"] == "deferred")
        rnr = sum(r["send_rnr_err"] for r in runs if r["mode"] == "deferred")
        rows.append([f"{sm['qps']} QPs x {size_str(sm['chunk'])} WRITEs, {sm['iters']} iters, "
                     f"{sm['reps']} reps", num(med(mbps["inline"])), num(med(mbps["deferred"])),
                     ratio(sm.get("storm_MBps_deferred_over_inline")),
                     ratio(sm.get("resident_latency_storm_over_quiet_inline")),
                     ratio(sm.get("resident_latency_storm_over_quiet_deferred")),
                     f"{defer} / {rnr}"])
    if rows:
        lines += ["`bench_rxe_storm`: N QP pairs WRITE into responder pages dropped before "
                  "every iteration while one more QP pair, whose pages stay resident, times "
                  "back-to-back 4 KiB WRITEs; the two modes alternate per repetition. "
                  "*Resident latency, storm/quiet*: that QP's median WRITE latency during the "
                  "storm over the same without it (1.0: the storm does not stall it).", "",
                  table(["storm", "storm MB/s inline", "deferred", "deferred/inline",
                         "resident latency storm/quiet: inline", "deferred",
                         "deferred faults / RNR NAKs (deferred runs)"], rows), ""]
        ratios = [med(sm.get("storm_MBps_deferred_over_inline"))
                  for sm in fm.get("rxe_storm_summary", [])]
        if not ratios or any(r is None or r >= 1 for r in ratios):
            lines += ["**In this run deferred faults were not slower than inline ones in every "
                      "case above: the choice of the default (inline) should be revisited.**", ""]
            return lines
        lines += ["Inline stays the default: a fault in inline mode occupies only its own "
                  "QP's work item, so the resident QP is not stalled in either mode (the "
                  "latency ratios above), while every deferred fault costs the faulting QP an "
                  "RNR wait (rxe's requester waits at least one jiffy, 4 ms at HZ=250) and a "
                  "resend. Deferred mode stays as an option: it is what a peer sees from ODP "
                  "hardware, and it keeps the QP's task from ever sleeping in "
                  "`hmm_range_fault()`.", ""]
    return lines


def summary_of(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    n = len(v)
    return {"median": v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2,
            "min": v[0], "max": v[-1], "n": n}


def verbs_section(doc, up):
    """ODP through libibverbs: our rxe (this run) and upstream's (the 6.18 run)."""
    ours = doc.get("verbs")
    upv = (up or {}).get("verbs")
    if not ours and not upv:
        return []
    ours, upv = ours or {}, upv or {}
    ok_k = doc["env"]["kernel"]
    up_k = up["env"]["kernel"] if up else "-"
    up_run = (up or {}).get("run_id", "")
    lines = [
        "## 7. ODP through libibverbs: our rxe and upstream's, side by side",
        "",
        f"Every verbs program on `rxe0`. **Ours**: our ODP rxe on `{ok_k}` (this run). "
        f"**Upstream**: the stock rxe of Debian trixie-backports' `{up_k}` (upstream ODP, "
        "6.15+), booted in the same VM by `tests/vm/run --kver ... --stock-rxe` "
        f"({'run `' + up_run + '`, ' if up_run else ''}"
        f"started {up.get('started_utc', '?') if up else 'not run'}), same host userland "
        "(Debian 12: perftest 4.5, rdma-core 44). Each ratio comes from one VM run "
        "(subject and baseline on the same device, interleaved); absolute rates of the two "
        "runs are comparable only roughly (TCG, shared host).",
        "",
        "rdma-core's test suite, our verbs ODP cases, ibv_ops' scenarios over ODP MRs and "
        "perftest `--odp` on upstream's rxe (`make check-upstream`), test by test: "
        "[upstream-rxe.md](upstream-rxe.md).",
        "",
    ]
    if ours.get("errors") or upv.get("errors"):
        lines += ["> Errors: " + "; ".join(["ours: " + e for e in ours.get("errors", [])] +
                                          ["upstream: " + e for e in upv.get("errors", [])]), ""]

    def idx(v, key, *fields):
        return {tuple(r[f] for f in fields): r for r in v.get(key, [])}

    up_wrong = [c for c in upv.get("data_check", []) if c["mode"] == "odp" and
                (c["bad_bytes"] or c["status"])]
    if up_wrong:
        lines += [
            f"> **Upstream's ODP transfers lose data** in this run: {len(up_wrong)} of "
            f"{sum(1 for c in upv['data_check'] if c['mode'] == 'odp')} ODP cases of "
            "`bench_verbs check` below arrived wrong (pinned: "
            f"{sum(1 for c in upv['data_check'] if c['mode'] == 'pinned' and not c['bad_bytes'])}"
            f" of {sum(1 for c in upv['data_check'] if c['mode'] == 'pinned')} right). Its ODP "
            "rates below count packets, not correct bytes.",
            "",
        ]
    # perftest
    po, pu = idx(ours, "perftest", "op", "size"), idx(upv, "perftest", "op", "size")
    rows = []
    for k in sorted(set(po) | set(pu)):
        o, u = po.get(k, {}), pu.get(k, {})
        r = o.get("odp_over_pinned")
        rows.append([f"`ib_{k[0]}_bw`", size_str(k[1]), ratio(r), t_mib(o.get("pinned_mib_s")),
                     ratio(u.get("odp_over_pinned")), t_mib(u.get("pinned_mib_s")),
                     yesno(r["median"] >= T_VERBS_BW) if r else yesno(None)])
    prm = doc.get("params", {})
    lines += [
        "### perftest `--odp` against pinned, pages resident",
        "",
        f"`ib_write_bw`/`ib_read_bw`/`ib_send_bw -d rxe0 -x 1 -F -t 128 -Q 16 -s SIZE -n N` "
        f"with and without `--odp` (N: {by_size(prm.get('verbs_perftest_iters', {}))}), "
        f"{prm.get('verbs_reps', '?')} repetitions alternating which goes first; ratio of "
        "message rates ODP / pinned per repetition. perftest writes its buffers before "
        f"the timed loop, so the pages are resident. Target on ours: >= {T_VERBS_BW}x.",
        "",
        table(["tool", "size", "ours ODP/pinned", "ours pinned MiB/s",
               "upstream ODP/pinned", "upstream pinned MiB/s", f"ours >= {T_VERBS_BW}"], rows),
        "",
    ] + perftest_profile_text(doc.get("profile") or {})
    # storm
    so, su = idx(ours, "storm", "op", "size", "qps"), idx(upv, "storm", "op", "size", "qps")
    rows = []
    for k in sorted(set(so) | set(su)):
        o, u = so.get(k, {}), su.get(k, {})
        om, um = med(o.get("storm_msg_per_s")), med(u.get("storm_msg_per_s"))
        rows.append([f"{k[0].upper()} {size_str(k[1])} x {k[2]} QPs",
                     num(med(o.get("resident_msg_per_s")), 0), num(om, 0),
                     num(med(o.get("storm_prefetch_msg_per_s")), 0),
                     ratio(o.get("storm_over_resident")),
                     num(med(u.get("resident_msg_per_s")), 0), num(um, 0),
                     num(med(u.get("storm_prefetch_msg_per_s")), 0),
                     ratio(u.get("storm_over_resident")),
                     f"{num(om / um)}x" if om and um else "-"])
    checks = {}
    for tag, v in (("ours", ours), ("upstream", upv)):
        for c in v.get("storm_checks", []):
            checks.setdefault(tag, []).append(
                f"{c['op'].upper()} {size_str(c['size'])}: {'right' if c['data_ok'] else 'WRONG'}")
    adv = sorted({r.get("advise") for v in (ours, upv) for r in v.get("storm", [])} - {None})
    lines += [
        "### Fault storm across many QPs, with and without prefetch",
        "",
        "`bench_verbs storm`: 8 RC QP pairs over one ODP MR per side, each pair its own "
        "slice; one iteration posts one RDMA WRITE per pair and waits for all. *resident*: "
        "pages stay mapped; *storm*: `MADV_DONTNEED` of both sides' buffers before every "
        "iteration (every page faulted again by the device); *+prefetch*: the same, then "
        "`advise_mr(PREFETCH_WRITE, FLUSH)` of both MRs before posting (through "
        f"`{', '.join(adv) or '?'}`: Debian's librxe 44 has no `ibv_advise_mr`). "
        f"Rates in messages/s (all QPs), median of the repetitions. Aim: storm at least "
        f"{T_STORM_UP:.0f}x upstream's.",
        "",
        table(["case", "ours resident", "ours storm", "ours storm+prefetch",
               "ours storm/resident", "upstream resident", "upstream storm",
               "upstream storm+prefetch", "upstream storm/resident", "storm: ours/upstream"],
              rows),
        "",
        "Data after one more storm iteration (pattern in the sources, both sides dropped "
        "first, every byte compared): " +
        "; ".join(f"{t}: {', '.join(v)}" for t, v in checks.items()) + ".",
        "",
    ]
    # reg
    ro, ru = idx(ours, "reg", "size", "touched"), idx(upv, "reg", "size", "touched")
    rows = []
    for k in sorted(set(ro) | set(ru)):
        o, u = ro.get(k, {}), ru.get(k, {})
        r = o.get("pinned_over_odp")
        rows.append([f"{size_str(k[0])}, {'touched' if k[1] else 'untouched'}",
                     t_med(o.get("odp_reg_ns")), t_med(o.get("pinned_reg_ns")), ratio(r),
                     t_med(u.get("odp_reg_ns")), t_med(u.get("pinned_reg_ns")),
                     ratio(u.get("pinned_over_odp")),
                     yesno(r["median"] >= T_REG_RATIO) if r else yesno(None)])
    lines += [
        "### Registration: `ibv_reg_mr` with `IBV_ACCESS_ON_DEMAND` against pinned",
        "",
        "`bench_verbs reg`: one `ibv_reg_mr` of anonymous memory, ODP and pinned "
        "alternating first; ratio pinned / ODP per repetition.",
        "",
        table(["memory", "ours ODP", "ours pinned", "ours pinned/ODP", "upstream ODP",
               "upstream pinned", "upstream pinned/ODP", f"ours >= {T_REG_RATIO:,.0f}x"], rows),
        "",
    ]
    # fault
    fo, fu = idx(ours, "fault", "pages"), idx(upv, "fault", "pages")
    rows = []
    for k in sorted(set(fo) | set(fu)):
        o, u = fo.get(k, {}), fu.get(k, {})
        rows.append([f"{k[0]} ({size_str(k[0] * 4096)})", t_med(o.get("cpu_ns_per_page")),
                     t_med(o.get("fault_extra_ns_per_page")), ratio(o.get("fault_extra_over_cpu")),
                     t_med(o.get("prefetch_ns_per_page")), ratio(o.get("prefetch_over_cpu")),
                     t_med(u.get("fault_extra_ns_per_page")), ratio(u.get("fault_extra_over_cpu")),
                     t_med(u.get("prefetch_ns_per_page")), ratio(u.get("prefetch_over_cpu"))])
    lines += [
        "### Fault path per page against the CPU's first touch",
        "",
        "`bench_verbs fault`: per batch of P pages, *fault* = time of an RDMA WRITE of P "
        "pages into a target dropped before every iteration minus the same WRITE into a "
        "resident target (what the responder's faults add), per page; *prefetch* = "
        "`advise_mr(PREFETCH_WRITE, FLUSH)` of P dropped pages, per page; *CPU* = one "
        "store per page into as much freshly dropped memory. All three allocate and zero "
        "the pages. Ours: the default inline fault mode (deferred: below).",
        "",
        table(["pages per batch", "CPU first touch/page", "ours fault/page", "ours fault/CPU",
               "ours prefetch/page", "ours prefetch/CPU", "upstream fault/page",
               "upstream fault/CPU", "upstream prefetch/page", "upstream prefetch/CPU"], rows),
        "",
    ]
    # inval
    io_, iu = idx(ours, "inval", "kind", "op", "pages"), idx(upv, "inval", "kind", "op", "pages")
    rows = []
    for k in sorted(set(io_) | set(iu), key=lambda k: (k[0] != "4k", k[1], k[2])):
        o, u = io_.get(k, {}), iu.get(k, {})
        r = o.get("mapped_over_plain")
        rows.append([f"{k[1]}, {k[2]} pages, {'THP' if k[0] == 'thp' else '4 KiB'}",
                     t_med(o.get("plain_ns")), pct(r), pct(o.get("registered_over_plain")),
                     pct(u.get("mapped_over_plain")), pct(u.get("registered_over_plain")),
                     pct(o.get("plain_over_bare")),
                     yesno(r["median"] <= T_INVAL) if r else yesno(None)])
    lines += [
        "### Invalidation: `munmap` / `MADV_DONTNEED` of a device-mapped range",
        "",
        "`bench_verbs inval`: the call alone on touched memory, against the same on a "
        "never-registered range (*plain*); *mapped*: an ODP MR over it with every page "
        "device-mapped by `advise_mr`; *registered*: the MR, nothing mapped. " + PREP_TEXT +
        " THP: 2 MiB "
        "aligned, `MADV_HUGEPAGE`. Ranges under 2048 4 KiB pages (64 THPs) repeat the call "
        "on fresh ranges (2048 / pages times, 64 / THPs, at most 128) and take the median, "
        "per state and repetition; the states take turns call by call, in a random order "
        "each round. "
        f"Target on ours: mapped at most +{(T_INVAL - 1) * 100:.0f}%.",
        "",
        table(["case", "plain (time)", "ours mapped", "ours registered", "upstream mapped",
               "upstream registered", "ours plain / bare - 1",
               f"ours <= +{(T_INVAL - 1) * 100:.0f}%"], rows),
        "",
    ]
    bad4k = [r for r in ours.get("inval", []) if r["kind"] == "4k" and r.get("mapped_over_plain")
             and r["mapped_over_plain"]["median"] > T_INVAL and r["pages"] >= 512]
    if bad4k:
        per = [(med(r["mapped_ns"]) - med(r["plain_ns"])) / r["pages"] for r in bad4k]
        lines += [
            f"**Invalidation with 4 KiB pages misses the target on ours** ({len(bad4k)} cases of "
            f"512 pages or more; about {num(min(per), 0)}-{num(max(per), 0)} ns more per "
            "device-mapped page), while *registered* (nothing mapped) stays near the plain cost "
            "and THP stays within or near it: the cost is in dropping 4 KiB translations. "
            "The ODP core's `odp_pt_zap()` (driver/core/pt.c) clears the entries of the "
            "range's 2 MiB blocks, counting them as it goes, and frees nothing; a THP is one "
            "entry. Upstream clears a flat per-page array. Section 3 has the profile of the "
            "same zap through odp.ko.",
            "",
        ]
    lines += [
        "**Inline vs deferred faults.** Our rxe resolves a responder's fault in one of two "
        "ways (`rdma_rxe odp_fault=`, driver/rxe/README.md): *inline* (the default), in the "
        "faulting QP's own task on rxe's unbound workqueue, with no MR-wide lock held, so "
        "other QPs' tasks and other accesses to the same MR go on meanwhile (upstream's "
        "rxe faults inline too, but under the umem mutex); or *deferred*, as ODP hardware "
        "does: the responder answers with an RNR NAK, a worker faults the pages in, and "
        "the requester resends after its RNR timer.",
        "",
    ]
    lines += fault_modes_lines(ours.get("fault_modes") or {})
    lines += [
        "",
    ]
    # bench_verbs check
    def ck_idx(v):
        return {(c["op"], c["size"], c["offset"], c["mode"], c["pass"]): c
                for c in v.get("data_check", [])}

    def ck_str(c):
        if not c:
            return "-"
        if c["status"] == 0 and not c["bad_bytes"]:
            return "right"
        st = f"status {c['status']}, " if c["status"] else ""
        return (f"**{st}{c['bad_bytes']} B wrong, {c['pages_bad']}/{c['pages']} pages; first "
                f"wrong byte at page offset {', '.join(map(str, c['first_bad_in_page']))}**")

    ko, ku = ck_idx(ours), ck_idx(upv)
    rows = []
    for k in sorted(set(ko) | set(ku), key=lambda k: (["write", "read", "send"].index(k[0]),
                                                     k[1], k[2], k[3], k[4] != "first")):
        rows.append([f"{k[0].upper()} {size_str(k[1])}" + (f" at +{k[2]}" if k[2] else ""),
                     f"{k[3]}{', target dropped' if k[4] == 'dropped' else ''}",
                     ck_str(ko.get(k)), ck_str(ku.get(k))])
    if rows:
        lines += [
            "### Does the data arrive? (`bench_verbs check`)",
            "",
            "One transfer per case on a fresh RC pair's MRs (path MTU 1024, so 8-64 packets "
            "and several per 4 KiB page), page-aligned or at offset +100; ODP MRs freshly "
            "registered (the transfer faults), then once more after `MADV_DONTNEED` of the "
            "target; pinned MRs as the control. Every byte compared with the pattern.",
            "",
            table(["transfer", "MRs", "ours", "upstream"], rows, ["---", "---", "---", "---"]),
            "",
        ]
    # data checks
    co = {c["test"]: c for c in ours.get("checks", [])}
    cu = {c["test"]: c for c in upv.get("checks", [])}
    rows = []
    for t in list(dict.fromkeys(list(co) + list(cu))):
        o, u = co.get(t, {}), cu.get(t, {})
        rows.append([f"`{t}`", o.get("result", "-"), u.get("result", "-"),
                     (u.get("detail") or "").replace("|", "/")[:300]
                     if u.get("result") != "pass" else ""])
    if rows:
        lines += [
            "### Data checks (`tests/verbs/verbs_odp`)",
            "",
            "Multi-packet transfers (path MTU 1024) through ODP MRs, every byte compared: "
            "`dontneed_*` drop both sides' pages before every iteration, `unaligned_*` move "
            "unaligned multi-page ranges, `thp`/`hugetlb` use huge pages "
            "(`IBV_ACCESS_HUGETLB` with `MAP_HUGETLB`), `implicit` registers the whole "
            "address space. These tests also read each MR's ODP counters from `rdma stat "
            "show mr` (where mlx5 and our rxe put them); upstream's rxe has none, so there "
            "they run with `VERBS_NO_MR_STATS=1`: data and completion statuses only. The whole "
            "test suite's outcomes on upstream's rxe (`make check-upstream`) are in "
            "[upstream-rxe.md](upstream-rxe.md).",
            "",
            table(["test", "ours", "upstream", "upstream's output (not passing)"], rows,
                  ["---", "---", "---", "---"]),
            "",
        ]
    return lines


def t_mib(s):
    return num(med(s), 0) if s else "-"


# Below this many MRs a slab delta or a per-MR difference is noise.
SLAB_MIN_MRS = 100


def scale_section(doc):
    sc = doc.get("scale")
    if not sc:
        return []
    p = dict(zip(sc["args"][::2], sc["args"][1::2]))
    rows = []
    for r in sc["rows"]:
        small = r["mrs"] < SLAB_MIN_MRS
        rows.append([f"{r['mrs']:,}", num(med(r["reg_per_s"]), 0),
                     num(med(r["pinned_reg_per_s"]), 0) if r["pinned_reg_per_s"] else "-",
                     ratio(r["reg_rate_odp_over_pinned"]),
                     ratio(r["reg_ns_per_mr_vs_smallest"]),
                     num(med(r["dereg_per_s"]), 0),
                     "(noise)" if small else num(med(r["slab_bytes_per_mr"]), 0),
                     "(noise)" if small else (num(med(r["pinned_slab_bytes_per_mr"]), 0)
                                              if r["pinned_slab_bytes_per_mr"] else "-")])
    inv = []
    for r in sc["rows"]:
        inv.append([f"{r['mrs']:,}", ratio(r["unrelated_over_base"]), ratio(r["one_over_base"]),
                    ratio(r["all_over_base"]),
                    t_med(r["all_extra_ns_per_mr"]) if r["mrs"] >= SLAB_MIN_MRS else "(noise)"])
    big = sc["rows"][-1] if sc["rows"] else None
    caches = ", ".join(f"`{c['name']}` {c['obj_bytes'] / big['mrs']:.0f} B"
                       for c in big["caches"] if c["obj_bytes"] >= big["mrs"]) if big else ""
    pinned_big = next((r for r in reversed(sc["rows"]) if r["pinned_caches"]), None)
    pcaches = ", ".join(f"`{c['name']}` {c['obj_bytes'] / pinned_big['mrs']:.0f} B"
                        for c in pinned_big["pinned_caches"]
                        if c["obj_bytes"] >= pinned_big["mrs"]) \
        if pinned_big else ""
    prow = []
    for r in sc.get("pages", []):
        prow.append([f"{r['pages']:,}", num(med(r["slab_bytes_per_page"])),
                     f"{med(r['slab_bytes_per_page_over_page_size']) * 100:.2f}%",
                     num(med(r["pagetables_bytes_per_page"])), f"{r['pages_mapped']:,}",
                     ", ".join(f"`{c['name']}`" for c in r["caches"] if c["obj_bytes"] > 0) or "-"])
    dev = sc.get("device", {})
    return [
        "## 6. Scaling: many MRs in one address space",
        "",
        "`bench_scale`: N one-page MRs side by side in one mapping of one process, all "
        "registered at once. Baseline for rates and memory: N pinned one-page "
        f"`ibv_reg_mr` on rxe0 (which allows {dev.get('max_mr', '?'):,} MRs), same run. "
        "Memory: `/proc/slabinfo` before and after registering (object bytes of the caches "
        "that grew; the module keeps no memory accounting of its own, see the notes). "
        f"Repetitions: {p.get('--reps')}. Below {SLAB_MIN_MRS} MRs the slab deltas and "
        "per-MR differences are noise and not shown.",
        "",
        table(["MRs", "ODP reg/s", "pinned reg/s", "reg rate: ODP / pinned",
               "ODP reg time per MR vs N=1", "ODP dereg/s", "slab B per ODP MR",
               "slab B per pinned MR"], rows),
        "",
        (f"At {big['mrs']:,} MRs the module's memory per MR is: {caches} (the `struct odp_mr`, "
         "allocated with `kzalloc`, plus the context's handle xarray)." if big else "") +
        (f" A pinned MR on rxe0 costs: {pcaches} (at {pinned_big['mrs']:,} MRs)." if pinned_big else ""),
        "",
        "Invalidation with N MRs sharing the mm, each against the same operation measured "
        "in the same repetition before any MR existed: *unrelated* = `MADV_DONTNEED` of 16 "
        "resident pages no MR covers (every invalidation looks the mm's interval tree up); "
        "*one* = `MADV_DONTNEED` of one device-mapped page of one MR (baseline: the same "
        "page CPU-touched, no MR); *all* = `MADV_DONTNEED` of the whole region with all N "
        "MRs device-mapped (baseline: the region CPU-touched, no MR).",
        "",
        table(["MRs", "unrelated / no MRs", "one MR hit / no MRs", "all N hit / no MRs",
               "extra time per MR (all)"], inv),
        "",
        "Memory per device-mapped page: one MR of M pages made device-accessible by a read "
        "prefetch of untouched memory (every entry points at the shared zero page, so no "
        "page is allocated and only the translation cache grows).",
        "",
        table(["M (pages)", "slab B per mapped page", "of a 4 KiB page",
               "CPU page tables B per page (not the module)", "pages_mapped (driver)",
               "caches that grew"], prow,
              ["--:", "--:", "--:", "--:", "--:", "---"]),
        "",
    ]


def prof_lines(prof, name, n=8):
    p = prof.get(name) or {}
    top = p.get("top") or []
    if not top:
        return "(no profile)"
    return "; ".join(f"`{t['symbol']}` ({t['comm']}) {t['percent']:.1f}%" for t in top[:n])


def prof_comm(prof, name):
    p = prof.get(name) or {}
    return ", ".join(f"{c['comm']} {c['percent']:.0f}%" for c in p.get("by_comm", [])) or "-"


def prof_children(prof, name, syms):
    ch = (prof.get(name) or {}).get("children") or {}
    return ", ".join(f"`{s}` {ch[s]:.0f}%" for s in syms if s in ch) or "-"


def inval_profile_text(prof):
    parts = []
    for name, title in (("inval_4k", "4 KiB pages"), ("inval_thp", "THP")):
        ch = (prof.get(name) or {}).get("children") or {}
        mad = ch.get("__x64_sys_madvise")
        inv = ch.get("odp_umem_invalidate")
        if mad and inv is not None:
            parts.append(f"{title}: `odp_umem_invalidate` {inv / mad * 100:.0f}% of the time in "
                         f"`madvise()`, the CPU's own `unmap_page_range` "
                         f"{ch.get('unmap_page_range', 0) / mad * 100:.0f}%")
    if not parts:
        return "(No profile.)"
    return ("Profile (`perf record -a -g` in the guest, `bench_inval`'s own samples, of "
            "`bench_inval --profile-loop`: 8192 "
            "pages, device-mapped by a read prefetch of untouched memory - the zero page, so "
            "nothing is cleared - and `MADV_DONTNEED`, over and over; with the zero page the "
            "CPU frees no page, so this is the driver's share at its largest): " +
            "; ".join(parts) + ".")


def before_section(doc):
    """Before/after of a core change: the same parts, same VM run (--before)."""
    b = doc.get("before")
    if not b:
        return []
    lines = [
        "## Before and after: the ODP core change, in one VM run",
        "",
        f"The same VM run, after the figures above, swapped in {b.get('label')} (with our "
        "rxe and odp.ko built against it) and ran `benchmarks/run.py --only inval,verbs` "
        "again, same parameters (started "
        f"{b.get('started_utc', '?')}). *After* is this document's run. Ratios as above "
        "(median [min-max]).",
        "",
    ]
    def idx(v, key, *fields):
        return {tuple(r[f] for f in fields): r for r in v.get(key, [])}

    pb, pa = idx(b.get("verbs") or {}, "perftest", "op", "size"), \
        idx(doc.get("verbs") or {}, "perftest", "op", "size")
    rows = [[f"`ib_{k[0]}_bw`", size_str(k[1]), ratio(pb[k].get("odp_over_pinned")),
             ratio(pa.get(k, {}).get("odp_over_pinned"))] for k in sorted(pb)]
    if rows:
        lines += ["perftest `--odp` / pinned on our rxe:", "",
                  table(["tool", "size", "before", "after"], rows), ""]
    rows = []
    for name, part, src in (("`bench_inval` (odp.ko)", "inval", "rows"),
                            ("`bench_verbs inval` (our rxe)", "verbs", "inval")):
        ib = {(r["kind"], r["op"], r["pages"]): r
              for r in ((b.get(part) or {}).get(src) or [])}
        ia = {(r["kind"], r["op"], r["pages"]): r
              for r in ((doc.get(part) or {}).get(src) or [])}
        for k in sorted(ib, key=lambda k: (k[0] != "4k", k[1], k[2])):
            rows.append([name, f"{k[1]}, {k[2]} pages, {'THP' if k[0] == 'thp' else '4 KiB'}",
                         pct(ib[k].get("mapped_over_plain")),
                         pct((ia.get(k) or {}).get("mapped_over_plain")),
                         pct((ia.get(k) or {}).get("registered_over_plain"))])
    if rows:
        lines += ["Invalidation of a device-mapped range, extra over the plain one:", "",
                  table(["benchmark", "case", "before", "after", "after, registered only"],
                        rows), ""]
    return lines


def perftest_profile_text(prof):
    """Section 7: where `ib_write_bw` 4 KiB spends time, pinned against --odp."""
    runs = {m: prof.get(f"perftest_write_4096_{m}") for m in ("pinned", "odp")}
    if not all(runs.values()):
        return []

    def share(m, sym):
        return (runs[m].get("children") or {}).get(sym, 0.0)

    def rate(m):
        r = runs[m].get("result") or {}
        return f"{r['msg_per_s']:,.0f} msg/s" if r.get("msg_per_s") else "no result"

    cells = []
    for sym, what in (("copy_data", "rxe's gather `copy_data` (both)"),
                      ("rxe_mr_copy_ahead", "rxe's MR copy `rxe_mr_copy_ahead` (both)"),
                      ("odp_umem_copy_ahead", "the ODP core's copy `odp_umem_copy_ahead`"),
                      ("rxe_mr_copy", "rxe's copy for pinned MRs `rxe_mr_copy`"),
                      ("odp_umem_copy", "the ODP core's copy `odp_umem_copy`"),
                      ("odp_pt_lookup", "the ODP core's lookup `odp_pt_lookup`"),
                      ("mutex_lock", "`mutex_lock`"),
                      ("__cond_resched", "`__cond_resched`"),
                      ("__schedule", "`__schedule`"),
                      ("rxe_requester", "`rxe_requester`"),
                      ("rxe_receiver", "`rxe_receiver`"),
                      ("pv_native_safe_halt", "idle")):
        # A symbol this run's profile did not record (renamed, inlined) is left out.
        if share('pinned', sym) or share('odp', sym):
            cells.append(f"{what} {share('pinned', sym):.1f}% / {share('odp', sym):.1f}%")
    return [
        "Profile (`perf record -a -g` in the guest, "
        f"{prof.get('hz', '?')} Hz, `ib_write_bw -s 4096 -n {runs['odp'].get('iters', '?')}`, whole "
        f"VM; pinned {rate('pinned')}, ODP {rate('odp')}), inclusive share of all samples, "
        "pinned / ODP: " + "; ".join(cells) + ". Each 1024-byte packet is one copy on "
        "either side. The ODP core's access takes no lock: a copy of at most a page whose "
        "translation is cached (every packet here) announces itself in its CPU's access "
        "slot with preemption off, looks the translation up under RCU and copies; "
        "invalidations read the slots after their zap (Documentation/locking.md, *Fast "
        "path*). Before that it went on the umem's in-flight list under a spinlock, twice "
        "per packet: ODP/pinned was 0.86-0.93 (medians of the run of 2026-12-01 02:10). "
        "Before commit 9c43fce "
        "it took the umem mutex per copy, and `mutex_lock()`'s voluntary "
        "preemption point rescheduled rxe's task in the middle of its packet loop: in the "
        "profile that found it, `__cond_resched` was 1.4% and `__schedule` 2.3% of all "
        "samples with ODP against 0.3% pinned, and ODP/pinned 0.64-0.90 (medians).",
        "",
    ]


def hpet_text(prof):
    ch = (prof.get("write_64_t16") or {}).get("children") or {}
    h = ch.get("read_hpet")
    if h is None or h < 5:
        return ""
    return (f"`read_hpet` ({h:.0f}% at 64 B) is `odp_write_bw`'s stall check: it reads the "
            "clock on every empty poll, and the guest's clocksource is an emulated HPET, so "
            "the polling processes burn CPU there that the kworkers moving the data do not "
            "get (`bench_bw` reads the clock every 4096 empty polls; perftest reads the TSC).")


def rnr_stall(w64):
    """Seconds of stall per RNR NAK implied by the tx-depth diagnostic, or None."""
    td = (w64 or {}).get("txdepth") or []
    low = [t for t in td if t["msg_per_s"] and (t["rxe_per_op"].get("rcvd_rnr_err", 0) == 0)]
    rnr = w64["odp_rxe_per_op"].get("rcvd_rnr_err", 0) if w64 else 0
    if not low or not rnr or not w64["odp_msg_per_s"]:
        return None, None
    fast = max(low, key=lambda t: t["msg_per_s"]["median"])
    extra = 1 / w64["odp_msg_per_s"]["median"] - 1 / fast["msg_per_s"]["median"]
    return extra / rnr, fast


def notes_section(doc):
    prof = doc.get("profile") or {}
    lines = ["## Notes on missed targets", ""]
    missed = 0

    ok, res, flat_ok, flat = target_reg(doc)
    if ok is False:
        missed += 1
        low = {s: v for s, v in res.items() if v["median"] < T_REG_RATIO}
        why = []
        for st in low:
            row = next(r for r in reg_rows(doc, st) if r["size"] == 2**30)
            first = reg_rows(doc, st)[0]
            why.append(
                f"{REG_SHORT[st]}: ODP {t_med(row['odp_reg_ns'])} ({ratio(row['odp_reg_vs_smallest'])} "
                f"of its cost at {size_str(first['size'])}), pinned {t_med(row['pinned_reg_ns'])}" +
                (" - pinning memory already resident in transparent huge pages takes one "
                 "reference per 2 MiB, so the baseline itself is cheap" if st == "touched_thp" else ""))
        lines += [
            "**1. Registration, 1 GiB.** Pinned / ODP: " +
            ", ".join(f"{REG_SHORT[s]} {ratio(v)}" for s, v in res.items()) +
            f"; target {T_REG_RATIO:,.0f}x, missed for " +
            ", ".join(f"{REG_SHORT[s]} (by {T_REG_RATIO / v['median']:.1f}x)"
                      for s, v in low.items()) + ". " + "; ".join(why) + ". "
            "ODP registration does no per-page work (one walk of the VMAs in the range, "
            "`mmu_interval_notifier_insert()`, one xarray insert), so there is nothing "
            "size-dependent to remove; where its time at 1 GiB exceeds its time at the "
            "smallest size, see the flatness note.", ""]
    if flat_ok is False:
        missed += 1
        parts = []
        for st, (w, s0) in flat.items():
            if w["odp_reg_vs_smallest"]["median"] > T_REG_FLAT:
                parts.append(f"{REG_SHORT[st]}: {size_str(w['size'])} costs "
                             f"{ratio(w['odp_reg_vs_smallest'])} of {size_str(s0)} "
                             f"({t_med(w['odp_reg_ns'])})")
        lines += [
            "**1. Flatness.** " + "; ".join(parts) + f" (target <= {T_REG_FLAT}x). "
            "Registration does no per-page work (a walk of the VMAs in the range, "
            "`mmu_interval_notifier_insert()`, an xarray insert, the translation "
            "directory: 8 bytes per GiB); a size dependence seen here "
            "comes from work the kernel still does after the previous, large operation of "
            "the benchmark in the same VM (all ODP repetitions run before the pinned ones "
            "for this reason), see the spread.", ""]

    ok, row = target_fault(doc)
    if ok is False:
        missed += 1
        lines += [f"**2. Fault.** A 64-page batch costs {ratio(row['odp_over_cpu'])} of the "
                  f"CPU's first touch (target {T_FAULT}x), "
                  f"{row['odp_over_cpu']['median'] / T_FAULT:.2f}x over. Profile: none taken "
                  "for this case.", ""]

    ok, bad, worst = target_inval(doc)
    if ok is False:
        missed += 1
        inv = [r for r in doc["inval"]["rows"] if r["mapped_over_plain"]]
        reg_ok = [r for r in inv if r["registered_over_plain"] and
                  r["registered_over_plain"]["median"] <= T_INVAL]
        per_page = []
        for r in inv:
            if r["mapped_ns"] and r["plain_ns"]:
                per_page.append((r, (r["mapped_ns"]["median"] - r["plain_ns"]["median"]) / r["pages"]))
        lines += [
            f"**3. Invalidation.** {len(bad)} of {len(inv)} cases exceed "
            f"{(T_INVAL - 1) * 100:.0f}% extra: " +
            "; ".join(f"{r['op']} of {r['pages']} pages ({r['kind']}) {pct(r['mapped_over_plain'])}"
                      for r in bad) +
            f"; the worst, {worst['op']} of {worst['pages']} pages ({worst['kind']}), by "
            f"{(worst['mapped_over_plain']['median'] - T_INVAL) * 100:.1f} points over the "
            f"{(T_INVAL - 1) * 100:.0f}% budget. "
            f"With nothing device-mapped (*registered*), {len(reg_ok)} of {len(inv)} cases are "
            "within 10%" + (": what *mapped* adds to that is the dropping of "
                            "translations. " if len(reg_ok) == len(inv) else
                            ": the notifier's call alone (the mm's interval tree, the umem "
                            "mutex and sequence) is a fixed cost that small ranges feel. ") +
            "The extra time per device-mapped page, (mapped - plain) / pages: " +
            ", ".join(f"{t_ns(pp)} ({r['op']} {r['pages']} {r['kind']})" for r, pp in per_page
                      if r["pages"] >= 512) + ".",
            "",
            "What the callback does (`odp_umem_invalidate`, driver/core/invalidate.c): it "
            "takes the umem mutex, sets the notifier sequence, clears the range's entries in "
            "the blocks of 512 that exist (for all of the umem with nothing mapped, its gauge "
            "says so and nothing is visited; blocks are never freed by an invalidation; "
            "`odp_pt_zap`, driver/core/pt.c), then checks the CPUs' access slots and the "
            "in-flight list. A THP is one entry. "
            "The *registered* column is the "
            "part that does not depend on what is mapped. " + inval_profile_text(prof),
            "",
        ]

    ok, bad, worst = target_bw(doc)
    if ok is False:
        missed += 1
        bw = doc["bw"]
        w64 = next((r for r in bw["rows"] if r["op"] == "write" and r["size"] == 64), None)
        wbig = max((r for r in bw["rows"] if r["op"] == "write"), key=lambda r: r["size"],
                   default=None)
        lines += [
            f"**4. Bandwidth and message rate.** {len(bad)} of {len(bw['rows'])} cases are "
            f"under {T_BW}x of perftest: " +
            "; ".join(f"{r['op'].upper()} {size_str(r['size'])} {ratio(r['odp_over_perftest'])}"
                      for r in bad) +
            f". The worst, {worst['op'].upper()} {size_str(worst['size'])}, is "
            f"{T_BW / worst['odp_over_perftest']['median']:.0f}x short of the target; "
            "the gap is largest for small messages (message rate) and smallest at 64 KiB "
            "(bandwidth).",
            "",
        ]
        stall, fast = rnr_stall(w64)
        if w64 and w64.get("txdepth"):
            naks = [w64["odp_rxe_per_op"].get("rcvd_rnr_err", 0)] + \
                   [t["rxe_per_op"].get("rcvd_rnr_err", 0) for t in w64["txdepth"]]
            rates = (f"at WRITE 64 B it runs {num(med(w64['odp_msg_per_s']), 0)} msg/s at "
                     "`-t 128`, " +
                     ", ".join(f"{num(med(t['msg_per_s']), 0)} at `-t {t['tx_depth']}`"
                               for t in w64["txdepth"]) + " (section 4, diagnostic)")
            if max(naks) < 0.001:
                lines += [
                    "*No RNR waits.* " + rates[0].upper() + rates[1:] + "; rxe0 counted "
                    f"{num(max(naks), 3)} RNR NAKs received per operation at every depth. "
                    "The transport's credits (a requester never has more requests "
                    "outstanding than the peer has receive buffers) and its 0.32 ms RNR timer "
                    "(`rdma_set_min_rnr_timer()`, 0b1dd61) keep the receive buffers from "
                    "running out; what is left of the gap is the cost of every message in "
                    "software (below).",
                    "",
                ]
            else:
                lines += [
                    "*RNR waits.* " + rates[0].upper() + rates[1:] + "; rxe0 counted "
                    f"{num(naks[0], 3)} RNR NAKs received per operation at `-t 128` and " +
                    ", ".join(f"{num(t['rxe_per_op'].get('rcvd_rnr_err', 0), 3)} at "
                              f"`-t {t['tx_depth']}`" for t in w64["txdepth"]) +
                    (f"; the time lost per NAK, (1/rate at 128 - 1/rate at "
                     f"{fast['tx_depth']}) / NAKs per op, is {stall * 1000:.0f} ms"
                     if stall else "") + ". A QP whose 32 receive buffers are all taken "
                    "answers RNR NAK and the sender waits out the RNR timer.",
                    "",
                ]
            if fast:
                lines += [
                    f"*Without RNR waits* (`-t {fast['tx_depth']}`) libodp still reaches only "
                    f"{ratio(fast['odp_over_perftest'])} of perftest at WRITE 64 B: every WR is "
                    "a message the peer's odp.ko executes (design.md, *Transport*): the "
                    "requester's kworker copies the payload from the ODP MR into a freshly "
                    "`kzalloc`ed 16 KiB buffer and posts a SEND on the kernel QP, the peer's "
                    "kworker copies it into its MR and answers each WR with an ACK message, "
                    "which completes it; the application polls with one `ioctl` per poll. "
                    "rxe0 sent "
                    f"{num(fast['rxe_per_op'].get('sent_pkts'), 1)} packets per WRITE (64 B, "
                    f"`-t {fast['tx_depth']}`) against "
                    f"{num(w64['perftest_rxe_per_op'].get('sent_pkts'), 1)} for perftest"
                    + (f", and {num(wbig['odp_rxe_per_op'].get('sent_pkts'), 1)} against "
                       f"{num(wbig['perftest_rxe_per_op'].get('sent_pkts'), 1)} at "
                       f"{size_str(wbig['size'])}" if wbig else "") + ".",
                    "",
                ]
        if prof.get("write_64_t16"):
            lines += [
                "Profiles (`perf record -a -g` in the guest, whole VM, "
                f"{prof.get('hz', '?')} Hz): WRITE 64 B at `-t 16`: CPU time "
                f"{prof_comm(prof, 'write_64_t16')}; inclusive: "
                f"{prof_children(prof, 'write_64_t16', CHILD_BW)}; top: "
                f"{prof_lines(prof, 'write_64_t16', 6)}. WRITE 64 KiB (`-t 128`): "
                f"{prof_comm(prof, 'write_65536')}; inclusive: "
                f"{prof_children(prof, 'write_65536', CHILD_BW)}. "
                + hpet_text(prof),
                "",
            ]
        lines += [
            "What would close it: the transport already has credit-based flow control (a "
            "requester never has more requests outstanding than the peer has receive "
            "buffers) and a 0.32 ms RNR timer (`rdma_set_min_rnr_timer()`, 0b1dd61); what "
            "is left is the zero-copy path the project design "
            "names (post real RDMA WRITE/READ on the kernel QP from short-lived "
            "fast-registration MRs of pages the driver has faulted and fenced, so a WR is "
            "one rxe operation again); short of that, acknowledge only signaled WRs or "
            "batches, reuse preallocated message buffers instead of `kzalloc(16 KiB)` per "
            "message, and deliver completions through a ring mapped into user space instead "
            "of one `ioctl` per poll.",
            "",
        ]
    vn = verbs_notes(doc)
    if vn:
        missed += 1
        lines += vn
    sn = storm_note(doc)
    if sn:
        missed += 1
        lines += sn
    if not missed:
        lines += ["No target was missed in this run.", ""]
    return lines


def verbs_notes(doc):
    """Section 7's perftest and invalidation targets, when missed."""
    v = doc.get("verbs") or {}
    upv = (doc.get("upstream") or {}).get("verbs") or {}
    lines = []
    pt = [r for r in v.get("perftest", []) if r.get("odp_over_pinned")]
    bad = [r for r in pt if r["odp_over_pinned"]["median"] < T_VERBS_BW]
    if bad:
        up = {(r["op"], r["size"]): r for r in upv.get("perftest", [])
              if r.get("odp_over_pinned")}
        upr = [r["odp_over_pinned"]["median"] for r in up.values()]
        lines += [
            f"**7. perftest `--odp` against pinned.** {len(bad)} of {len(pt)} cases under "
            f"{T_VERBS_BW}x: " + "; ".join(
                f"`ib_{r['op']}_bw` {size_str(r['size'])} {ratio(r['odp_over_pinned'])}"
                for r in bad) +
            (f". Upstream's own ODP/pinned medians in its run span {num(min(upr))}-"
             f"{num(max(upr))}x, and the repetitions of one case of ours span up to "
             f"{num(max(r['odp_over_pinned']['max'] - r['odp_over_pinned']['min'] for r in pt))}"
             ": misses by this little are within what one run can tell apart. "
             if upr else ". ") +
            "What ODP adds per packet (`benchmarks/copy_cost.py`: `function_graph` of "
            "`rxe_mr_copy_ahead()` alone during `ib_write_bw` 64 KiB, pinned and ODP "
            "alternating, medians of four runs each): on 2026-12-01 one 1 KiB copy of a "
            "packet took 1.17 us through a pinned MR and 1.44 us through an ODP MR; with "
            "the device page table's blocks in a flat array (no `xa_load()`) 1.15 / 1.33 "
            "us, with the fast path's lookup, copy and counts inline 1.14 / 1.22 us, "
            "and with the table's three levels 1.26 / 1.33 us (0.07 us more; another "
            "run). A 64 KiB message makes 128 such copies (64 packets, both sides). "
            "Builds without the fast path's full barrier, without its per-CPU counts, or "
            "without the dirty marking of written pages (experiments only: each is "
            "needed) were no cheaper. What is left: the call of `rxe_odp_mr_copy()` "
            "between rxe_mr.c and the core, the core's own range check, the access slot "
            "with its barrier, and the counts.",
            "",
        ]
    inv = [r for r in v.get("inval", []) if r.get("mapped_over_plain")]
    badi = [r for r in inv if r["mapped_over_plain"]["median"] > T_INVAL]
    upinv = {(r["kind"], r["op"], r["pages"]): r for r in upv.get("inval", [])}
    if badi:
        lines += [
            "**7. Invalidation through our rxe.** " + "; ".join(
                f"{r['op']} of {r['pages']} pages ({r['kind']}) {pct(r['mapped_over_plain'])}, "
                f"registered {pct(r['registered_over_plain'])}" for r in badi) +
            ". The same ODP core as section 3, so the same costs: the notifier's call "
            "alone (*registered*: the mm's interval tree and sequence, the umem mutex, the "
            "gauge, the slot check and the counters, a fixed cost per call that ranges of a "
            "few tens of microseconds in this VM feel most) and, for the mapped pages, "
            "clearing their entries (no allocation and no free since the two-level table of "
            "2026-12-01). Upstream's *registered* in its run: " + ", ".join(
                f"{r['op']} {r['pages']} {r['kind']} {pct(u['registered_over_plain'])}"
                for r in badi for u in [upinv.get((r['kind'], r['op'], r['pages']))]
                if u and u.get("registered_over_plain")) + ".",
            "",
        ]
    return lines


def storm_note(doc):
    """Why the fault storm's aim (2x upstream) is out of reach, from the figures."""
    v = doc.get("verbs") or {}
    upv = (doc.get("upstream") or {}).get("verbs") or {}
    us = {(r["op"], r["size"], r["qps"]): r for r in upv.get("storm", [])}
    parts = []
    for o in v.get("storm", []):
        u = us.get((o["op"], o["size"], o["qps"]))
        if not u:
            continue
        os_, or_ = med(o.get("storm_msg_per_s")), med(o.get("resident_msg_per_s"))
        us_, ur = med(u.get("storm_msg_per_s")), med(u.get("resident_msg_per_s"))
        if not (os_ and or_ and us_ and ur) or os_ >= T_STORM_UP * us_:
            continue
        parts.append(f"WRITE {size_str(o['size'])} x {o['qps']} QPs: {T_STORM_UP:.0f}x "
                     f"upstream's storm is {num(T_STORM_UP * us_, 0)} msg/s, "
                     f"{num(T_STORM_UP * us_ / or_)}x our own resident rate "
                     f"({num(or_, 0)}); ours under the storm is {num(os_ / or_)}x of it, "
                     f"upstream's {num(us_ / ur)}x of its own")
    if not parts:
        return []
    return [
        f"**7. Fault storm, aim {T_STORM_UP:.0f}x upstream.** Out of reach in this VM: "
        + "; ".join(parts) + ". A storm cannot run faster than the same traffic with "
        "nothing to fault, and upstream's faults cost it only that share here: with two "
        "vCPUs, its umem mutex serialises faults that would mostly wait for the CPU "
        "anyway. What ours does that upstream's does not - no MR-wide lock while "
        "faulting, one fault for the rest of the message (patches/0006) - shows in the "
        "64 KiB row.",
        "",
    ]


CHILD_BW = ["odp_ioctl", "odp_cq_poll", "odp_qp_work", "odp_requester_step",
            "odp_responder_request", "odp_tx_alloc", "odp_sge_copy", "rxe_requester",
            "rxe_responder", "rxe_completer", "read_hpet"]


def findings_section(doc):
    """Other things this run measured that a reader should know."""
    prof = doc.get("profile") or {}
    lines = ["## Other findings", ""]
    f = [r for r in doc.get("fault", {}).get("rows", []) if r["mode"] == "access_write"]
    if f:
        worst = max(f, key=lambda r: r["odp_over_cpu"]["median"])
        small = min((r for r in f if r["kind"] == worst["kind"]), key=lambda r: r["batch"])
        lines.append(
            f"- `odp_mr_write()` (device write through the translation cache, fault + copy) "
            f"costs {ratio(worst['odp_over_cpu'])} of a CPU `memset()` of fresh memory at "
            f"{worst['batch']} pages per call ({worst['kind']}), against "
            f"{ratio(small['odp_over_cpu'])} at {small['batch']} page(s) per call. The ioctl "
            "path moves the data through a kernel bounce buffer (`kvmalloc` of up to 256 KiB "
            "per call: above 8 pages that is a high-order or vmalloc allocation) and copies "
            "it once more into the pages. Profile at 64 pages per call (inclusive): "
            f"{prof_children(prof, 'access_write_64', CHILDREN_ACCESS)}.")
    thp = fault_row(doc, "thp", "fault_read", 512)
    if thp:
        lines.append(
            f"- With THP, a read fault of 512 pages costs {ratio(thp['odp_over_cpu'])} of "
            "the CPU's read first touch, which maps the huge zero page with one PMD (the "
            "driver enters it as one huge translation too; its cost is in the fault path "
            "around that).")
    bw = doc.get("bw") or {}
    fails = bw.get("failed_attempts") or []
    odp_fails = [x for x in fails if "perftest" not in x["tag"]]
    flush_after = [x for x in odp_fails if "Flush" in (x["client"] or "") and x.get("measured")]
    read_done = [x for x in odp_fails if "send DONE" in (x["client"] or "")]
    if odp_fails:
        lines.append(
            f"- {len(odp_fails)} libodp runs failed and were repeated (at most 3 attempts; "
            "their messages are in the JSON, `bw.failed_attempts`). " +
            (f"{len(flush_after)} of them finished the measured part and then saw their last "
             "WR complete with `WR_FLUSH_ERR`: the peer's odp.ko answers a message before it "
             "reports the receive (`odp_responder_write`: \"answer first\"), but when the "
             "peer process then destroys its QP at once, the answer can be lost with it, and "
             "the requester's QP goes to the error state. `bench_bw` waits 200 ms before "
             "destroying its QP; `examples/odp_write_bw` does not. " if flush_after else "") +
            (f"{len(read_done)} were `bench_bw` READ runs whose final SEND was flushed. "
             if read_done else "") +
            "Messages: " + "; ".join(sorted({"`" + x["client"] + "`" for x in odp_fails
                                             if x["client"]}))[:600] + ".")
    pt = [x for x in fails if "perftest" in x["tag"]]
    if pt:
        lines.append(
            f"- {len(pt)} perftest run{'s were' if len(pt) != 1 else ' was'} repeated: "
            "perftest reports 0 when its TSC "
            "calibration fails (r² < 0.9) under TCG, or its client found the server not yet "
            "listening.")
    nu = doc.get("numa") or {}
    on = next((r for r in nu.get("rows", []) if r["numa_balancing"] == 1), None)
    if on and on["mapped_before"]:
        lines.append(
            f"- With automatic NUMA balancing on, {100 - 100 * on['mapped_after'] / on['mapped_before']:.0f}% "
            f"of the device translations of a running process's resident MR were dropped "
            f"within {on['seconds']} s (section *Automatic NUMA balancing*): a device "
            "touching such memory faults again after every scan period. The driver drops "
            "translations on `MMU_NOTIFY_PROTECTION_VMA`; NUMA-hinting protection changes "
            "could instead keep them (the pages stay where they are until migrated, and a "
            "migration sends its own invalidation).")
    lines.append(
        "- The module has no memory accounting of its own (only the `pages_mapped` gauge): "
        "per-MR and per-page memory here come from `/proc/slabinfo` deltas (after flushing "
        "the slab caches' per-CPU slabs). A counter of bytes held by translation tables "
        "would make this measurable without root.")
    lines.append("")
    return lines


CHILDREN_ACCESS = ["odp_ioctl", "odp_umem_copy", "odp_umem_fault", "hmm_range_fault",
                   "__kvmalloc_node_noprof", "__vmalloc_node_range_noprof", "kvfree",
                   "clear_page_erms", "rep_movs_alternative", "_copy_from_user",
                   "folio_mark_dirty"]


def reproduce_section(doc):
    return [
        "## Reproducing",
        "",
        "`make bench`" + (f" ({doc['make_bench_seconds'] / 60:.0f} minutes for this run)"
                          if doc.get("make_bench_seconds") else "") +
        ": builds the module, libodp, the "
        "examples and `benchmarks/`, boots one VM (`tests/vm/run`), runs "
        "`benchmarks/run.py` in it (raw output in `build/vm-out/bench-<date>/`), then "
        "`benchmarks/report.py` writes this file, `benchmarks.png` and `benchmarks.json`. "
        "`benchmarks/run.py --quick` is a two-minute smoke test of the pipeline. Programs: "
        "`bench_reg` (1), `bench_fault` (2), `bench_inval` (3), `bench_bw` and perftest "
        "(4, 5), `bench_scale` (6), perftest `--odp`, `bench_verbs` and "
        "`tests/verbs/verbs_odp` (7); each file's header says exactly what it measures. "
        "Section 7's upstream columns come from a second VM that `make bench` boots with "
        "trixie-backports' 6.18 kernel (`tests/vm/run --kver $(bash tests/vm/fetch-kernel.sh "
        "--upstream) --stock-rxe --no-module --odp-core none -- benchmarks/run.py --only verbs`; "
        "`tests/vm/fetch-kernel.sh --upstream` fetches it with a private apt "
        "configuration); `report.py --upstream` reads its `bench.json`.",
        "",
    ]


# ---------------------------------------------------------------- plot

def plot(doc, png):
    """Six panels with gnuplot; every point comes from the JSON."""
    if not shutil.which("gnuplot"):
        print("report: gnuplot not found (apt-get install gnuplot-nox): no plot",
              file=sys.stderr)
        return False
    tmp = tempfile.mkdtemp(prefix="odp-bench-")

    def data(name, rows):
        """A data file, or None if there is nothing to plot."""
        rows = [r for r in rows if r[1] is not None]
        if not rows:
            return None
        path = os.path.join(tmp, name + ".dat")
        with open(path, "w") as f:
            for r in rows:
                f.write(" ".join("nan" if v is None else str(v) for v in r) + "\n")
        return path

    def plot_cmd(series, extra=()):
        """series: (file, using, style, title); file None: left out."""
        parts = [f'"{f}" u {u} w {w} t "{t}"' for f, u, w, t in series if f]
        if not parts:
            return 'set label 1 "no data" at graph 0.5,0.5 center\nplot 2 notitle lc rgb "white"\nunset label 1'
        return "plot " + ", \\\n     ".join(parts + list(extra))

    reg = []
    for state in REG_STATES:
        rows = [[r["size"], med(r["odp_reg_ns"]), r["odp_reg_ns"]["min"], r["odp_reg_ns"]["max"],
                 med(r["pinned_reg_ns"]), (r["pinned_reg_ns"] or {}).get("min"),
                 (r["pinned_reg_ns"] or {}).get("max")] for r in reg_rows(doc, state)]
        f = data(f"reg_{state}", rows)
        reg.append((f, "1:2:3:4", "yerrorlines", f"ODP, {REG_SHORT[state]}"))
        fp = data(f"regp_{state}", [[r[0], r[4], r[5], r[6]] for r in rows])
        reg.append((fp, "1:2:3:4", "yerrorlines", f"pinned, {REG_SHORT[state]}"))

    fault = []
    for kind, mode, title in (("4k", "fault_write", "prefetch write, 4 KiB"),
                              ("thp", "fault_write", "prefetch write, THP"),
                              ("4k", "fault_read", "prefetch read, 4 KiB"),
                              ("4k", "access_write", "odp_mr_write, 4 KiB")):
        rows = [[r["batch"], r["odp_over_cpu"]["median"], r["odp_over_cpu"]["min"],
                 r["odp_over_cpu"]["max"]]
                for r in doc.get("fault", {}).get("rows", [])
                if r["kind"] == kind and r["mode"] == mode]
        fault.append((data(f"fault_{kind}_{mode}", rows), "1:2:3:4", "yerrorlines", title))

    inval = data("inval", [[i, med(r["mapped_over_plain"]), med(r["registered_over_plain"]),
                            f'"{r["op"]} {r["pages"]}p {r["kind"]}"']
                           for i, r in enumerate(doc.get("inval", {}).get("rows", []))])
    bw = data("bw", [[i, med(r["odp_over_perftest"]),
                      (r["odp_over_perftest"] or {}).get("min"),
                      (r["odp_over_perftest"] or {}).get("max"),
                      f'"{r["op"].upper()} {size_str(r["size"]).replace(" ", "")}"']
                     for i, r in enumerate(doc.get("bw", {}).get("rows", []))])
    storm = data("storm", [[i, med(r["storm_over_resident"]),
                            med(r["storm_prefetch_over_resident"]),
                            f'"WRITE {size_str(r["size"]).replace(" ", "")}"']
                           for i, r in enumerate(doc.get("bw", {}).get("storm", []))])
    sc_rows = doc.get("scale", {}).get("rows", [])
    scale = [
        (data("sc_reg", [[r["mrs"], med(r["reg_ns_per_mr_vs_smallest"])] for r in sc_rows]),
         "1:2", "linespoints", "reg time per MR / at N=1"),
        (data("sc_unrel", [[r["mrs"], med(r["unrelated_over_base"])] for r in sc_rows]),
         "1:2", "linespoints", "unrelated inval / no MRs"),
        (data("sc_one", [[r["mrs"], med(r["one_over_base"])] for r in sc_rows]),
         "1:2", "linespoints", "one-MR inval / no MRs"),
        (data("sc_all", [[r["mrs"], med(r["all_over_base"])] for r in sc_rows
                         if r["mrs"] >= SLAB_MIN_MRS]),
         "1:2", "linespoints", f"all-MR inval / no MRs (from {SLAB_MIN_MRS})"),
    ]

    env = doc["env"]
    title = (f"odp benchmarks {doc['started_utc'][:10]}, kernel {env['kernel']}, QEMU "
             f"{env['accel']} {env['vcpus']} vCPUs {env['mem_total_mib']} MiB; "
             "ratios vs baselines of the same run (median; bars min-max)")
    gp = f"""
set terminal pngcairo size 1500,1000 font "DejaVu Sans,10" noenhanced
set output "{png}"
set multiplot layout 2,3 title "{title}"
set grid
set key top left font ",8"

set title "1. Registration time vs size"
set logscale xy
set xlabel "MR size (bytes)"
set ylabel "ns per registration (log)"
set xtics ("4K" 4096, "64K" 65536, "1M" 1048576, "16M" 16777216, "256M" 268435456, "1G" 1073741824, "4G" 4294967296)
{plot_cmd(reg)}
set xtics auto

set title "2. Device fault / CPU first touch"
set logscale x 2
set logscale y
set xlabel "pages per call"
set ylabel "ODP / CPU (log)"
{plot_cmd(fault, [f'{T_FAULT} w l dt 2 lc rgb "red" t "target {T_FAULT}"'])}

set title "3. Invalidation time / unregistered"
unset logscale
set xlabel ""
set ylabel "ratio"
set yrange [0:*]
set style data histogram
set style histogram clustered
set style fill solid 0.6 border -1
set boxwidth 0.9
set xtics rotate by -40 font ",7"
{plot_cmd([(inval, "2:xtic(4)", "histogram", "device-mapped"),
           (inval, "3", "histogram", "registered, nothing mapped")],
          [f'{T_INVAL} w l dt 2 lc rgb "red" t "target {T_INVAL}"'])}

set title "4. libodp / perftest message rate"
set logscale y
set yrange [0.001:2]
set key top right
set ylabel "ratio (log)"
set xtics rotate by -40 font ",7"
{plot_cmd([(bw, "2:xtic(5)", "histogram", "libodp / perftest")],
          [f'{T_BW} w l dt 2 lc rgb "red" t "target {T_BW}"'])}

set title "5. Fault storm / resident (WRITE)"
set key top left
unset logscale y
set yrange [0:*]
set ylabel "ratio"
set xtics rotate by 0 font ",8"
{plot_cmd([(storm, "2:xtic(4)", "histogram", "storm"),
           (storm, "3", "histogram", "storm + prefetch")])}

set title "6. Many MRs in one mm"
set style data linespoints
set logscale x 10
set logscale y
set yrange [*:*]
set xlabel "MRs"
set ylabel "ratio (log)"
set xtics auto
{plot_cmd(scale)}
unset multiplot
"""
    with open(os.path.join(tmp, "plot.gp"), "w") as f:
        f.write(gp)
    p = subprocess.run(["gnuplot", os.path.join(tmp, "plot.gp")], stderr=subprocess.PIPE,
                       text=True)
    if p.returncode:
        print(f"report: gnuplot failed (files kept in {tmp}):\n{p.stderr}", file=sys.stderr)
        return False
    shutil.rmtree(tmp)
    return True


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", help="bench.json of a run")
    ap.add_argument("--docs", default=os.path.join(REPO, "Documentation"))
    ap.add_argument("--started", type=float, help="epoch seconds when `make bench` started")
    ap.add_argument("--upstream", metavar="JSON",
                    help="bench.json of the upstream anchor run (run.py --only verbs on the "
                         "6.18 kernel): shown beside ours and kept in benchmarks.json")
    ap.add_argument("--before", metavar="JSON",
                    help="bench.json of run.py --only inval,verbs in the same VM run with an "
                         "older ODP core swapped in: a before/after section, kept in "
                         "benchmarks.json")
    ap.add_argument("--before-label", default="an older ODP core",
                    help="what --before ran (e.g. a commit)")
    args = ap.parse_args()
    with open(args.json) as f:
        doc = json.load(f)
    up = None
    if args.upstream:
        try:
            with open(args.upstream) as f:
                up = json.load(f)
            up["run_id"] = os.path.basename(os.path.dirname(os.path.abspath(args.upstream)))
        except (OSError, ValueError) as e:
            print(f"report: no upstream data ({e})", file=sys.stderr)
        doc["upstream"] = up
    elif isinstance(doc.get("upstream"), dict):
        up = doc["upstream"]
    if args.before:
        with open(args.before) as f:
            doc["before"] = json.load(f)
        doc["before"]["label"] = args.before_label
    doc.setdefault("run_id", os.path.basename(os.path.dirname(os.path.abspath(args.json))))
    if args.started:
        doc["make_bench_seconds"] = datetime.datetime.now().timestamp() - args.started

    md = []
    md += header(doc, args)
    md += summary_section(doc)
    md += reg_section(doc)
    md += numa_section(doc)
    md += fault_section(doc)
    md += inval_section(doc)
    md += bw_section(doc)
    md += storm_section(doc)
    md += scale_section(doc)
    md += verbs_section(doc, up)
    md += before_section(doc)
    md += notes_section(doc)
    md += findings_section(doc)
    md += reproduce_section(doc)

    os.makedirs(args.docs, exist_ok=True)
    out_json = os.path.join(args.docs, "benchmarks.json")
    if os.path.abspath(args.json) != os.path.abspath(out_json):
        with open(out_json, "w") as f:
            json.dump(doc, f, indent=1)
    with open(os.path.join(args.docs, "benchmarks.md"), "w") as f:
        f.write("\n".join(md).rstrip() + "\n")
    ok = plot(doc, os.path.join(args.docs, "benchmarks.png"))
    print(f"report: wrote {os.path.join(args.docs, 'benchmarks.md')}, benchmarks.json"
          f"{', benchmarks.png' if ok else ' (no plot)'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
