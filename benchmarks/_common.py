"""Shared helpers of the benchmark scripts: inputs, timing, peak memory."""

from __future__ import annotations

import glob
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def simulated_parquet(workdir: Path, rows: int, *, vessels: int = 1200, days: float = 365,
                      seed: int = 0, source: Path | None = None) -> Path:
    """A single Parquet file of exactly ``rows`` simulated canonical rows (cached).

    The rows are the first ``rows`` of a simulated scenario (``caspian-ais simulate``,
    written once into ``workdir/sim`` unless ``source`` names an existing scenario), in
    file order: whole vessel-months, as a monthly dump would hold them.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = workdir / f"sim_{rows}.parquet"
    if out.exists():
        return out
    src_dir = source or workdir / "sim"
    files = sorted(glob.glob(str(src_dir / "ais" / "*.parquet")))
    if not files:
        subprocess.run([sys.executable, "-m", "caspian_ais.cli", "simulate", "--vessels",
                        str(vessels), "--days", str(days), "--start", "2022-01-01",
                        "--seed", str(seed), "--out", str(src_dir), "--format", "parquet",
                        "-q"], check=True)
        files = sorted(glob.glob(str(src_dir / "ais" / "*.parquet")))
    writer = None
    got = 0
    tmp = out.with_suffix(".tmp")
    for f in files:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=1 << 20):
            take = min(batch.num_rows, rows - got)
            t = pa.Table.from_batches([batch.slice(0, take)])
            if writer is None:
                writer = pq.ParquetWriter(tmp, t.schema, compression="zstd")
            writer.write_table(t, row_group_size=1 << 20)
            got += take
            if got >= rows:
                break
        if got >= rows:
            break
    if writer is not None:
        writer.close()
    if got < rows:
        raise SystemExit(f"the scenario in {src_dir} has only {got:,} rows, {rows:,} wanted")
    os.replace(tmp, out)
    return out


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time (s) of ``repeat`` calls and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def add_malloc_option(ap: Any) -> None:
    """Add ``--no-tune-malloc`` to an :class:`argparse.ArgumentParser`."""
    ap.add_argument("--no-tune-malloc", action="store_true",
                    help="leave glibc's allocator as it is (caspian-ais analyze tunes it)")


def prepare_input(args: Any) -> Path:
    """Tune the allocator as ``caspian-ais analyze`` does (unless ``--no-tune-malloc``),
    then return the ``--rows``-row Parquet input (``simulated_parquet``)."""
    if not args.no_tune_malloc:
        from caspian_ais.batch.malloc import tune_malloc

        print(f"tune_malloc: {tune_malloc()}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    return simulated_parquet(args.workdir, args.rows, source=args.scenario)
