"""Benchmark: read_ais + detect_gaps against DuckDB and movingpandas, side by side.

1. **DuckDB** (default 10 M rows of Parquet): ``read_ais(file, usecols=[])`` (the
   canonical table's required columns: the same four columns the query reads, plus
   provenance) + ``detect_gaps(..., enrich=False)`` (the core gap table) against the
   equivalent DuckDB window query::

       SELECT ... FROM (SELECT mmsi, timestamp, lat, lon,
                        lag(timestamp) OVER w AS prev_ts, ...
                        FROM read_parquet(file) WINDOW w AS (PARTITION BY mmsi ORDER BY timestamp))
       WHERE timestamp - prev_ts >= INTERVAL 6 HOUR

   timed in the same run on the same file (best of ``--repeat``), each fetched to pandas,
   and checked to give the same gaps (mmsi, start, end). The enriched ``detect_gaps``
   (ports, reception model, co-silence, suspicious) is timed too, for information.
2. **movingpandas** (default 1 M rows): ``ObservationGapSplitter(tc).split(gap=6 h)`` on a
   ``TrajectoryCollection`` of the same rows against ``detect_gaps(tracks,
   enrich=False)``; the collection is built beforehand and not timed (in movingpandas'
   favour). Gap counts are checked to agree.

Run::

    python benchmarks/bench_gaps.py --workdir /tmp/caspian_bench            # both
    python benchmarks/bench_gaps.py --rows 1000000 --mp-rows 200000          # quicker

The input is simulated once (``caspian-ais simulate --vessels 1200 --days 365``, about
200 M rows, a few minutes) unless ``--scenario DIR`` names an existing simulation;
``--rows`` rows of it are written to one Parquet file in ``--workdir``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_malloc_option, peak_rss_mb, prepare_input, timed

QUERY = """
SELECT mmsi, prev_ts AS start_time, timestamp AS end_time,
       (t - prev_t) / 3.6e12 AS duration_h,
       prev_lat AS start_lat, prev_lon AS start_lon, lat AS end_lat, lon AS end_lon
FROM (
    SELECT mmsi, timestamp, epoch_ns(timestamp) AS t, lat, lon,
           lag(timestamp) OVER w AS prev_ts,
           lag(epoch_ns(timestamp)) OVER w AS prev_t,
           lag(lat) OVER w AS prev_lat,
           lag(lon) OVER w AS prev_lon
    FROM read_parquet('{path}')
    WHERE timestamp IS NOT NULL
    WINDOW w AS (PARTITION BY mmsi ORDER BY timestamp)
)
WHERE t - prev_t >= {gap_ns}
"""


def _key(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "mmsi": df["mmsi"].to_numpy(dtype=np.int64),
        "start": pd.to_datetime(df["start_time"], utc=True).to_numpy(dtype="datetime64[ns]"),
        "end": pd.to_datetime(df["end_time"], utc=True).to_numpy(dtype="datetime64[ns]"),
    })
    return out.sort_values(["mmsi", "start", "end"], ignore_index=True)


def bench_duckdb(path: Path, hours: float, repeat: int) -> dict[str, float]:
    import duckdb

    from caspian_ais import detect_gaps, read_ais

    def ours() -> pd.DataFrame:
        # only the columns the gap table needs, as the DuckDB query reads only those
        t = read_ais(path, usecols=[])
        if t["timestamp"].isna().any():
            t = t[t["timestamp"].notna()]
        return detect_gaps(t, f"{hours}h", enrich=False)

    def duck() -> pd.DataFrame:
        con = duckdb.connect()
        try:
            return con.execute(QUERY.format(path=path, gap_ns=int(hours * 3.6e12))).df()
        finally:
            con.close()

    # warm the page cache and the imports once
    duck()
    t_read, tracks = timed(lambda: read_ais(path, usecols=[]), repeat)
    n = len(tracks)
    tracks = tracks[tracks["timestamp"].notna()]
    t_core, _ = timed(lambda t=tracks: detect_gaps(t, f"{hours}h", enrich=False), repeat)
    del tracks
    full = read_ais(path)
    t_read_all = 0.0
    t_enr, enriched = timed(
        lambda f=full: detect_gaps(f[f["timestamp"].notna()], f"{hours}h"), 1)
    del full
    t_read_all, _ = timed(lambda: read_ais(path), 1)
    t_ours, g_ours = timed(ours, repeat)
    t_duck, g_duck = timed(duck, repeat)
    same = _key(g_ours).equals(_key(g_duck))
    print(f"rows                                  {n:>14,}")
    print(f"gaps (>= {hours:g} h)                       {len(g_ours):>14,}")
    print(f"read_ais(usecols=[]) (4 columns)      {t_read:>12.2f} s")
    print(f"read_ais (all 17 columns)             {t_read_all:>12.2f} s")
    print(f"detect_gaps core                      {t_core:>12.2f} s")
    print(f"read_ais + detect_gaps core           {t_ours:>12.2f} s  "
          f"({n / t_ours / 1e6:.2f} M rows/s)")
    print(f"DuckDB lag() window query             {t_duck:>12.2f} s  "
          f"({n / t_duck / 1e6:.2f} M rows/s)")
    print(f"speed-up over DuckDB                  {t_duck / t_ours:>12.2f} x")
    print(f"same gaps as DuckDB                   {str(same):>14}")
    print(f"detect_gaps enriched (for reference)  {t_enr:>12.2f} s  "
          f"({len(enriched):,} gaps, {int(enriched['suspicious'].sum()):,} suspicious)")
    print(f"peak RSS                              {peak_rss_mb():>12.0f} MB")
    return {"rows": n, "ours_s": t_ours, "duckdb_s": t_duck, "same": same}


def bench_movingpandas(path: Path, rows: int, hours: float) -> dict[str, float]:
    import warnings
    from datetime import timedelta

    import geopandas as gpd
    import movingpandas as mpd

    from caspian_ais import detect_gaps, read_ais

    tracks = read_ais(path)
    tracks = tracks[tracks["timestamp"].notna()].iloc[:rows].reset_index(drop=True)
    t_ours, g = timed(lambda: detect_gaps(tracks, f"{hours}h", enrich=False), 3)
    t_build0 = __import__("time").perf_counter()
    gdf = gpd.GeoDataFrame(
        tracks[["mmsi", "timestamp", "lat", "lon"]].assign(
            t=tracks["timestamp"].dt.tz_localize(None)),
        geometry=gpd.points_from_xy(tracks["lon"], tracks["lat"]), crs="EPSG:4326")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tc = mpd.TrajectoryCollection(gdf, traj_id_col="mmsi", t="t")
        t_build = __import__("time").perf_counter() - t_build0
        t_mp, split = timed(
            lambda: mpd.ObservationGapSplitter(tc).split(gap=timedelta(hours=hours)), 1)
    # pieces of a trajectory = its gaps + 1 (movingpandas drops single-point pieces)
    n_traj = len(tc.trajectories)
    n_pieces = len(split.trajectories)
    print(f"rows                                  {len(tracks):>14,}")
    print(f"vessels (trajectories)                {n_traj:>14,}")
    print(f"detect_gaps core                      {t_ours:>12.3f} s  ({len(g):,} gaps)")
    print(f"TrajectoryCollection (not timed)      {t_build:>12.2f} s")
    print(f"ObservationGapSplitter.split          {t_mp:>12.2f} s  ({n_pieces:,} pieces)")
    print(f"speed-up over movingpandas            {t_mp / t_ours:>12.0f} x")
    print(f"pieces - trajectories = gaps?         {str(n_pieces - n_traj == len(g)):>14}"
          f"  ({n_pieces - n_traj:,} vs {len(g):,}; pieces of one report are dropped)")
    return {"ours_s": t_ours, "mp_s": t_mp}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/caspian_bench"))
    ap.add_argument("--scenario", type=Path, default=None,
                    help="an existing `caspian-ais simulate` output directory to take rows from")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--mp-rows", type=int, default=1_000_000)
    ap.add_argument("--min-gap-h", type=float, default=6.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip", choices=["duckdb", "movingpandas"], action="append", default=[])
    add_malloc_option(ap)
    args = ap.parse_args(argv)
    path = prepare_input(args)
    print(f"input: {path}")
    if "duckdb" not in args.skip:
        print("\n== read_ais + detect_gaps vs DuckDB ==")
        bench_duckdb(path, args.min_gap_h, args.repeat)
    if "movingpandas" not in args.skip:
        print("\n== detect_gaps vs movingpandas ObservationGapSplitter ==")
        bench_movingpandas(path, args.mp_rows, args.min_gap_h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
