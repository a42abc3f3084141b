#!/usr/bin/python3
"""What one packet's copy costs through a pinned MR and through an ODP MR.

Run in the VM (root, our rxe loaded), e.g.

    make vm CMD='benchmarks/copy_cost.py --rounds 4'

Every rxe packet is one call of rxe_mr_copy_ahead() on either side: the
requester's gather and the responder's scatter.  This times each call with
the function_graph tracer, hooked on that one function only, while
`ib_write_bw -s 65536` runs on rxe0 (1 KiB packets), once with pinned MRs
and once with --odp per round, the order alternating.  It prints each run's
median, quartiles and mean call duration, then the medians side by side.
The tracer's own cost is in both.

Not part of `make bench`: enabling the tracer rewrites the function's
entry (text_poke_bp()), which under QEMU's multi-threaded TCG is what
benchmarks/README.md warns about for run.py's profiles.  One enable and
one disable per run is what it does.
"""

import argparse
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (perftest runner and its port allocator)

TRACING = "/sys/kernel/tracing"
FUNC = "rxe_mr_copy_ahead"
DURATION = re.compile(r"([\d.]+) us\s+\|\s+" + FUNC + r"[^;\n]*;")


def write(name, value):
    with open(os.path.join(TRACING, name), "w") as f:
        f.write(value)


def durations(trace):
    """Call durations in us; calls that did not fit on one line are left out."""
    return sorted(float(m.group(1)) for m in DURATION.finditer(trace))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4, help="pinned + ODP runs each")
    ap.add_argument("--iters", type=int, default=600, help="64 KiB writes per run")
    args = ap.parse_args()

    raw = os.path.join(os.environ.get("ODP_OUT", "/tmp"), "copy_cost")
    os.makedirs(raw, exist_ok=True)
    write("tracing_on", "0")
    write("buffer_size_kb", "65536")
    write("set_ftrace_filter", FUNC)
    write("current_tracer", "function_graph")
    medians = {"pinned": [], "odp": []}
    try:
        for rnd in range(args.rounds):
            for mode in ("pinned", "odp") if rnd % 2 == 0 else ("odp", "pinned"):
                write("trace", "")
                write("tracing_on", "1")
                res = run.run_perftest("write", 65536, args.iters, raw, f"{mode}-{rnd}",
                                       odp=mode == "odp")
                write("tracing_on", "0")
                with open(os.path.join(TRACING, "trace")) as f:
                    d = durations(f.read())
                if not res or not d:
                    print(f"{mode} round {rnd}: no result", flush=True)
                    continue
                medians[mode].append(statistics.median(d))
                print(f"{mode} round {rnd}: {len(d)} calls, median "
                      f"{statistics.median(d):.3f} us, quartiles {d[len(d) // 4]:.3f}-"
                      f"{d[3 * len(d) // 4]:.3f} us, mean {statistics.mean(d):.3f} us",
                      flush=True)
    finally:
        write("tracing_on", "0")
        write("current_tracer", "nop")
        write("set_ftrace_filter", "")
    for mode, v in medians.items():
        print(f"{mode}: medians " + ", ".join(f"{x:.3f}" for x in v) + " us")
    if medians["pinned"] and medians["odp"]:
        p, o = statistics.median(medians["pinned"]), statistics.median(medians["odp"])
        print(f"per copy: pinned {p:.3f} us, ODP {o:.3f} us, ODP - pinned {o - p:+.3f} us")
    return 0 if all(len(v) == args.rounds for v in medians.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
