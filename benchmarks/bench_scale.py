"""Benchmark: scaling of the whole analysis with the input size -- seconds and peak RSS.

Each run is a separate ``caspian-ais analyze FILE --out DIR --no-report`` process (so that
its peak RSS, from ``wait4``, is its own), on the first N rows of a simulated scenario
written as one Parquet file, for each N of ``--sizes``, with the in-memory engine and
with the out-of-core batch engine under ``--memory-limit``. ``--big DIR`` adds one run of
the batch engine on a whole scenario directory (e.g. 200 M rows in 900 files). Prints a
table, writes the figures to ``--json`` and draws ``--plot`` (rows against seconds and
against peak RSS).

Run::

    python benchmarks/bench_scale.py --workdir /tmp/caspian_bench \\
        --sizes 1e6 3e6 1e7 3e7 --memory-limit 4GB --big /tmp/caspian_bench/sim \\
        --plot docs/img/scaling.png --json /tmp/caspian_bench/scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import simulated_parquet


def run(args: list[str], out: Path) -> dict[str, float]:
    """Run ``caspian-ais analyze`` in a child process: wall seconds and peak RSS (MB)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "caspian_ais.cli", "analyze", *args, "--out", str(out),
           "--no-report", "-q"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    summary = json.loads((out / "run.json").read_text())["summary"]
    return {"seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024.0,
            "rows": summary["rows_read"], "gaps": summary["gaps"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caspian_bench"))
    ap.add_argument("--scenario", type=Path, default=None)
    ap.add_argument("--sizes", type=float, nargs="+", default=[1e6, 3e6, 1e7])
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--engines", nargs="+", default=["memory", "batch"])
    ap.add_argument("--big", type=Path, default=None,
                    help="a scenario directory to run the batch engine on as a whole")
    ap.add_argument("--add", action="append", default=[], metavar="ENGINE,ROWS,SECONDS,RSS_MB",
                    help="a point measured elsewhere (e.g. with /usr/bin/time -v) to plot too")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, object]] = []
    print(f"{'engine':<8}{'rows':>14}{'seconds':>10}{'M rows/s':>10}{'peak RSS MB':>13}")

    def report(engine: str, r: dict[str, float]) -> None:
        results.append({"engine": engine, **r})
        print(f"{engine:<8}{int(r['rows']):>14,}{r['seconds']:>10.1f}"
              f"{r['rows'] / r['seconds'] / 1e6:>10.2f}{r['peak_rss_mb']:>13,.0f}", flush=True)

    for size in args.sizes:
        path = simulated_parquet(args.workdir, int(size), source=args.scenario)
        for engine in args.engines:
            extra = ["--engine", engine]
            if engine != "memory":
                extra += ["--memory-limit", args.memory_limit,
                          "--workdir", str(args.workdir / "work")]
            report(engine, run([str(path), *extra], args.workdir / f"out_{engine}"))
    if args.big is not None:
        big = args.big / "ais" if (args.big / "ais").is_dir() else args.big
        report("batch", run([str(big), "--engine", "batch", "--memory-limit",
                             args.memory_limit, "--workdir", str(args.workdir / "work")],
                            args.workdir / "out_big"))
    for item in args.add:
        engine, rows, secs, rss = item.split(",")
        report(engine, {"rows": float(rows), "seconds": float(secs),
                        "peak_rss_mb": float(rss), "gaps": float("nan")})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot, args.memory_limit)
    return 0


def plot(results: list[dict[str, object]], path: Path, limit: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for engine, marker in (("memory", "o"), ("batch", "s"), ("dask", "^")):
        pts = sorted((r for r in results if r["engine"] == engine),
                     key=lambda r: float(r["rows"]))  # type: ignore[arg-type]
        if not pts:
            continue
        x = [float(r["rows"]) for r in pts]  # type: ignore[arg-type]
        a1.plot(x, [float(r["seconds"]) for r in pts], marker=marker, label=engine)  # type: ignore[arg-type]
        a2.plot(x, [float(r["peak_rss_mb"]) / 1024 for r in pts], marker=marker,  # type: ignore[arg-type]
                label=engine)
    a1.set(xscale="log", yscale="log", xlabel="input rows", ylabel="wall seconds",
           title="caspian-ais analyze: time")
    a2.set(xscale="log", xlabel="input rows", ylabel="peak RSS (GB)",
           title=f"peak memory (batch: --memory-limit {limit})")
    for a in (a1, a2):
        a.grid(True, which="both", alpha=0.3)
        a.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
