"""Benchmark: scaling of the whole analysis with the input size -- seconds and peak RSS.

Each run is a separate ``caspian-ais analyze FILE --out DIR --no-report`` process (so that
its peak RSS, from ``wait4``, is its own), on the first N rows of a simulated scenario
written as one Parquet file, for each N of ``--sizes``, with the in-memory engine and
with the out-of-core batch engine under ``--memory-limit``. ``--big DIR`` adds one run of
the batch engine on a whole scenario directory (e.g. 200 M rows in 900 files). Prints a
table, writes the figures to ``--json`` and draws ``--plot`` (rows against seconds and
against peak RSS).

``--limits 500MB 1GB 4GB`` checks the batch engine's memory bound instead: one
``caspian-ais analyze FILE --engine batch --memory-limit L`` process per limit, on each
``--sizes`` file and each ``--limit-input`` (e.g. a directory of CSV files), with the peak
RSS against the limit (best wall time and largest peak of ``--repeat`` runs).

Run::

    python benchmarks/bench_scale.py --workdir /tmp/caspian_bench \\
        --sizes 1e6 3e6 1e7 3e7 --memory-limit 4GB --big /tmp/caspian_bench/sim \\
        --plot docs/img/scaling.png --json /tmp/caspian_bench/scale.json
    python benchmarks/bench_scale.py --workdir /tmp/caspian_bench --sizes 1e7 \
        --limits 500MB 1GB 4GB --limit-input /tmp/caspian_bench/mc10/ais --repeat 3
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


def _entry_point() -> list[str]:
    """The ``caspian-ais`` console script next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("caspian-ais")
    if script.exists():
        return [str(script)]
    found = shutil.which("caspian-ais")
    return [found] if found else [sys.executable, "-m", "caspian_ais.cli"]


def run(args: list[str], out: Path) -> dict[str, float]:
    """Run ``caspian-ais analyze`` in a child process: wall seconds and peak RSS (MB)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*_entry_point(), "analyze", *args, "--out", str(out), "--no-report", "-q"]
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
    ap.add_argument("--sizes", type=float, nargs="*", default=[1e6, 3e6, 1e7])
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--engines", nargs="*", default=["memory", "batch"])
    ap.add_argument("--limits", nargs="+", default=None, metavar="LIMIT",
                    help="check the batch engine's peak RSS under each memory limit "
                         "(instead of the scaling runs)")
    ap.add_argument("--limit-input", type=Path, action="append", default=[],
                    help="a further input (file, directory or glob) for --limits")
    ap.add_argument("--repeat", type=int, default=1, help="runs per point (--limits)")
    ap.add_argument("--big", type=Path, default=None,
                    help="a scenario directory to run the batch engine on as a whole")
    ap.add_argument("--add", action="append", default=[], metavar="ENGINE,ROWS,SECONDS,RSS_MB",
                    help="a point measured elsewhere (e.g. with /usr/bin/time -v) to plot too")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.limits:
        return check_limits(args)
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


def check_limits(args: argparse.Namespace) -> int:
    """The batch engine under each memory limit: peak RSS against the limit."""
    from caspian_ais.batch.run import parse_memory

    inputs = [simulated_parquet(args.workdir, int(size), source=args.scenario)
              for size in args.sizes] + list(args.limit_input)
    rows: list[dict[str, object]] = []
    print(f"{'input':<28}{'limit':>8}{'rows':>13}{'seconds':>9}{'peak RSS MB':>13}"
          f"{'of limit':>10}")
    for path in inputs:
        for limit in args.limits:
            runs = [run([str(path), "--engine", "batch", "--memory-limit", limit,
                         "--workdir", str(args.workdir / "work")],
                        args.workdir / "out_limit") for _ in range(max(args.repeat, 1))]
            peak_mb = max(r["peak_rss_mb"] for r in runs) * 1024**2 / 1e6  # MiB -> MB
            r = {"input": str(path), "limit": limit, "rows": runs[0]["rows"],
                 "seconds": min(r["seconds"] for r in runs), "peak_rss_mb": peak_mb,
                 "of_limit": peak_mb * 1e6 / parse_memory(limit)}
            rows.append(r)
            print(f"{path.name[-28:]:<28}{limit:>8}{int(r['rows']):>13,}{r['seconds']:>9.1f}"
                  f"{peak_mb:>13,.0f}{r['of_limit']:>10.0%}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    over = [r for r in rows if float(r["of_limit"]) > 1]  # type: ignore[arg-type]
    print("every peak within its limit" if not over else f"{len(over)} run(s) above the limit")
    return 1 if over else 0


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
