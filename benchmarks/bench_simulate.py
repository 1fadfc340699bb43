"""Benchmark: simulate 500 vessels for 365 days at one report a minute to partitioned Parquet.

Run::

    python benchmarks/bench_simulate.py                      # the full benchmark (~2 min, 2 cores)
    python benchmarks/bench_simulate.py --vessels 50 --days 30 --workers 1

Prints the elapsed seconds, the rows written, rows per second, the bytes on disk and the
peak resident memory of the main process and of its worker processes (``ru_maxrss`` of
``RUSAGE_SELF`` and ``RUSAGE_CHILDREN``: the largest single process of each kind).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vessels", type=int, default=500)
    ap.add_argument("--days", type=float, default=365)
    ap.add_argument("--start", default="2022-01-01")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--thin-s",
        type=int,
        default=60,
        help="thinning interval, s (default 60: one report a minute)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: a temporary one, removed)",
    )
    args = ap.parse_args(argv)

    from caspian_ais.synthetic import write_scenario

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_simulate_"))
    t0 = time.perf_counter()
    info = write_scenario(
        out,
        n_vessels=args.vessels,
        days=args.days,
        start=args.start,
        seed=args.seed,
        format="parquet",
        workers=args.workers,
        thin_s=args.thin_s,
        progress=True,
    )
    elapsed = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in (out / "ais").glob("*.parquet"))
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"vessels x days        {args.vessels} x {args.days:g} "
        f"(thin {args.thin_s} s, {args.workers} workers)"
    )
    print(f"elapsed               {elapsed:.1f} s")
    print(f"rows                  {info['rows']:,}")
    print(f"rows per second       {info['rows'] / elapsed:,.0f}")
    print(f"parquet on disk       {size / 1e9:.2f} GB")
    print(f"peak RSS main         {self_mb:,.0f} MB")
    print(f"peak RSS worker       {child_mb:,.0f} MB")
    print(
        f"truth: {info['events']}; dark spells {info['dark_spells']}; "
        f"natural gaps {info['reception_gaps']}"
    )
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
