"""Benchmark: the full in-memory analysis, stage by stage, in rows per second.

Times what ``analyze(path, engine="memory")`` does -- read_ais, clean, detect_gaps
(enriched: ports, reception model, co-silence, suspicious; also timed without the
reception model, as an indented line not counted in the sums), detect_port_calls,
detect_dark_port_calls, detect_round_trips -- each stage on its own, then the whole
``analyze`` call, on one Parquet file of simulated rows (figures and the HTML report are
not part of it). Prints seconds and rows per second per stage and the peak RSS.

Run::

    python benchmarks/bench_analyze.py --workdir /tmp/caspian_bench --rows 10000000
    python benchmarks/bench_analyze.py --rows 1000000 --profile     # + cProfile top 25
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_malloc_option, peak_rss_mb, prepare_input


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caspian_bench"))
    ap.add_argument("--scenario", type=Path, default=None,
                    help="an existing `caspian-ais simulate` output directory")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of analyze()")
    add_malloc_option(ap)
    args = ap.parse_args(argv)
    path = prepare_input(args)

    from caspian_ais import (
        analyze,
        clean,
        detect_dark_port_calls,
        detect_gaps,
        detect_port_calls,
        detect_round_trips,
        load_ports,
        read_ais,
    )

    ports = load_ports()
    read_ais(path, usecols=[])  # warm the page cache
    stages: list[tuple[str, float]] = []

    def stage(name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        stages.append((name, time.perf_counter() - t0))
        return out

    raw = stage("read_ais", lambda: read_ais(path))
    n = len(raw)
    tracks, ledger = stage("clean", lambda raw=raw: clean(raw))
    del raw
    stage("  gaps w/o reception model",
          lambda tracks=tracks: detect_gaps(tracks, "6h", ports=ports, reception_model=False))
    gaps = stage("detect_gaps (enriched)",
                 lambda tracks=tracks: detect_gaps(tracks, "6h", ports=ports))
    calls = stage("detect_port_calls",
                  lambda tracks=tracks: detect_port_calls(tracks, ports=ports))
    dark = stage("detect_dark_port_calls", lambda g=gaps, t=tracks, c=calls: detect_dark_port_calls(
        g, t, ports=ports, port_calls=c))
    stage("detect_round_trips", lambda g=gaps, c=calls, d=dark: detect_round_trips(
        g, c, ports=ports, dark_port_calls=d))
    del tracks, ledger, gaps, calls, dark
    # indented stages are parts of the next one, shown apart: not added to the sums
    total = sum(t for name, t in stages if not name.startswith(" "))
    print(f"input: {path} ({n:,} rows)\n")
    print(f"{'stage':<28}{'seconds':>10}{'M rows/s':>12}")
    for name, t in stages:
        print(f"{name:<28}{t:>10.2f}{n / t / 1e6:>12.2f}")
    print(f"{'sum of stages':<28}{total:>10.2f}{n / total / 1e6:>12.2f}")
    without_read = total - stages[0][1]
    print(f"{'sum without read_ais':<28}{without_read:>10.2f}{n / without_read / 1e6:>12.2f}")
    t0 = time.perf_counter()
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        result = prof.runcall(analyze, path, engine="memory")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    else:
        result = analyze(path, engine="memory")
    t = time.perf_counter() - t0
    print(f"{'analyze(engine=memory)':<28}{t:>10.2f}{n / t / 1e6:>12.2f}")
    print(f"\nsummary: {result.summary()}")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
