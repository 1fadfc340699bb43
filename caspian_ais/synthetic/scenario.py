"""Scenarios: plan, generate and write AIS rows with their ground truth.

:func:`simulate` builds a small scenario in memory; :func:`write_scenario` streams a large
one to disk, vessel group by vessel group and month by month (bounded memory), on several
processes. Both give the same rows for the same arguments.

Output layout of :func:`write_scenario` (``OUT``):

``OUT/ais/ais_YYYY-MM_gGGG.parquet``
    format ``parquet``: the canonical columns, one file per month and vessel group (a flat
    directory: ``read_ais("OUT/ais")`` reads it all).
``OUT/ais/AIS_YYYY_MM_DD.csv`` / ``aisdk-YYYY-MM-DD.csv`` / ``ais_YYYY-MM-DD.nmea``
    formats ``marinecadastre`` / ``dma`` / ``nmea``: one file per day, like real dumps.
``OUT/truth_*.csv``
    ground truth (see ``docs/simulator.md``): ``truth_vessels``, ``truth_events``,
    ``truth_dark_spells``, ``truth_reception_gaps``, ``truth_outages``, ``truth_stations``,
    ``truth_satellite_passes``.
``OUT/scenario.json``
    arguments, parameters, row and event counts.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from caspian_ais import __version__
from caspian_ais.synthetic.behaviours import ScenarioPlan, plan_scenario
from caspian_ais.synthetic.params import SimulationParams, dark_share
from caspian_ais.synthetic.reception import (
    ReceptionModel,
    make_outages,
    make_satellite_passes,
    make_stations,
)
from caspian_ais.synthetic.routes import sea_lanes
from caspian_ais.synthetic.tracks import GapCarry, GenContext, rows_to_table, vessel_month

__all__ = ["Scenario", "simulate", "write_scenario", "FORMATS", "TRUTH_TABLES"]

#: Output formats of :func:`write_scenario`.
FORMATS: tuple[str, ...] = ("parquet", "marinecadastre", "dma", "nmea")
#: Names of the ground-truth tables (``truth_<name>.csv``).
TRUTH_TABLES: tuple[str, ...] = (
    "vessels",
    "events",
    "dark_spells",
    "reception_gaps",
    "outages",
    "stations",
    "satellite_passes",
)
_GROUP_SIZE = 16
_PARQUET_OPTS: dict[str, Any] = {"compression": "zstd"}


@dataclass
class Scenario:
    """A simulated scenario held in memory.

    Attributes
    ----------
    tracks : pandas.DataFrame
        The AIS rows as a canonical table (:mod:`caspian_ais.schema`), in the order a dump
        would hold them (by MMSI, out-of-order rows late).
    truth : dict of str to pandas.DataFrame
        Ground-truth tables keyed by :data:`TRUTH_TABLES` names.
    info : dict
        Arguments, parameters and counts.
    """

    tracks: pd.DataFrame
    truth: dict[str, pd.DataFrame]
    info: dict[str, Any] = field(default_factory=dict)

    def write(self, out: str | os.PathLike[str], format: str = "parquet") -> Path:
        """Write the rows (one file) and the truth tables into directory ``out``.

        Parameters
        ----------
        out : path
            Directory (created if needed).
        format : {"parquet", "marinecadastre", "dma", "nmea"}
            Format of the rows file (``ais.parquet``, ``ais.csv``, ``ais.csv``, ``ais.nmea``).

        Returns
        -------
        pathlib.Path
            The rows file.
        """
        from caspian_ais.io.writers import write_ais

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        ext = {"parquet": "parquet", "marinecadastre": "csv", "dma": "csv", "nmea": "nmea"}[format]
        path = out / f"ais.{ext}"
        write_ais(self.tracks, path, format=format)
        _write_truth(out, self.truth, self.info)
        return path


# ----------------------------------------------------------------------------- preparation
def _period(start: str | pd.Timestamp, days: float) -> tuple[pd.Timestamp, pd.Timestamp]:
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    return t0, t0 + pd.Timedelta(days=float(days))


def _months(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[int, int, int]]:
    """(month number, lo, hi) in Unix seconds covering [start, end)."""
    out = []
    p = start.tz_localize(None).to_period("M")
    while True:
        m0 = max(p.start_time.tz_localize("UTC"), start)
        m1 = min((p + 1).start_time.tz_localize("UTC"), end)
        if m0 >= end:
            break
        out.append((p.year * 12 + p.month - 1, int(m0.value // 10**9), int(m1.value // 10**9)))
        p = p + 1
    return out


def _prepare(
    n_vessels: int, days: float, start: str | pd.Timestamp, seed: int, params: SimulationParams
) -> tuple[GenContext, ScenarioPlan, dict[str, pd.DataFrame], pd.Timestamp, pd.Timestamp]:
    if n_vessels < 1:
        raise ValueError("n_vessels must be at least 1")
    if days <= 0:
        raise ValueError("days must be positive")
    t0, t1 = _period(start, days)
    lanes = sea_lanes()
    plan = plan_scenario(int(n_vessels), t0, t1, int(seed), params, lanes)
    rng = np.random.default_rng([int(seed), 2])
    stations = make_stations(lanes.ports, rng, params.station_range_km)
    outages = make_outages(
        stations,
        t0,
        t1,
        rng,
        rate_per_day=params.outage_rate_per_day,
        median_h=params.outage_median_h,
    )
    passes = make_satellite_passes(t0, t1, rng, passes_per_day=params.sat_passes_per_day)
    model = ReceptionModel.build(
        stations, outages, passes, t0, t1, terr_p_msg=params.terr_p_msg, sat_p_msg=params.sat_p_msg
    )
    f = plan.fleet.set_index("vessel_id").sort_index()
    ids = f.index.to_numpy()
    if not np.array_equal(ids, np.arange(len(ids))):
        raise AssertionError("vessel ids must be 0..n-1")
    if len(plan.aliases):
        a = plan.aliases.set_index("vessel_id").sort_index()
        if not np.array_equal(a.index.to_numpy(), np.arange(len(ids), len(ids) + len(a))):
            raise AssertionError("alias ids must continue the vessel ids")
        f = pd.concat([f, a[f.columns]])
    static = {
        "mmsi": f["mmsi"].to_numpy(np.int64),
        "imo": f["imo"].fillna(0).to_numpy(np.int64),
        "name": f["name"].to_numpy(object),
        "callsign": f["callsign"].to_numpy(object),
        "ship_type": f["ship_type"].to_numpy(np.int16),
        "length_m": f["length_m"].to_numpy(np.float64),
        "ais_class": f["ais_class"].to_numpy(object),
        "flag_state": f["flag_state"].to_numpy(object),
    }
    dest_text = np.array([_destination_text(p) for p in lanes.ports["port"]], dtype=object)
    host_of = {}
    for e in plan.events[plan.events["kind"] == "shared_mmsi"].itertuples():
        ghost_id = int(str(e.detail).split("vessel_id ")[1].split(")")[0])
        host_of[ghost_id] = int(e.vessel_id)
    ctx = GenContext(
        plan.routes,
        model,
        static,
        dest_text,
        int(params.thin_s),
        int(seed),
        float(params.reception_gap_min_h) * 3600.0,
        host_of,
        plan.plans,
    )
    truth = {
        "vessels": _vessels_table(plan, lanes.ports, params, t0, t1),
        "events": _clip(plan.events, t0, t1),
        "dark_spells": _clip(plan.spells, t0, t1),
        "outages": outages,
        "stations": stations,
        "satellite_passes": passes,
    }
    return ctx, plan, truth, t0, t1


def _destination_text(port: str) -> str:
    """AIS destination field for a port: upper case, at most 20 characters, no brackets."""
    name = str(port).split("(")[0].strip().upper()
    return name[:20]


def _clip(t: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows whose interval overlaps the scenario period (true times are kept)."""
    keep = (t["end_time"] >= start) & (t["start_time"] < end)
    return t[keep].reset_index(drop=True)


def _vessels_table(
    plan: ScenarioPlan,
    ports: pd.DataFrame,
    params: SimulationParams,
    t0: pd.Timestamp,
    t1: pd.Timestamp,
) -> pd.DataFrame:
    f = plan.fleet.copy()
    months = pd.period_range(
        t0.tz_localize(None), (t1 - pd.Timedelta(seconds=1)).tz_localize(None), freq="M"
    )
    first_active = []
    for row in f.itertuples():
        w = float(params.dark_flag_weight.get(str(row.flag_state), 0.0))
        hit = [
            str(m)
            for m in months
            if row.role == "trader" and row.dark_u < dark_share(m, params.dark_share_by_month) * w
        ]
        first_active.append(hit[0] if hit else None)
    f["dark_active_from"] = first_active
    dark_ids = set(plan.spells["vessel_id"]) | set(
        plan.events.loc[plan.events["kind"] == "spoofing", "vessel_id"]
    )
    f["dark_actor"] = f["vessel_id"].isin(dark_ids)
    names = ports["port"].to_numpy(object)
    f["home_port"] = [names[i] for i in f["home_port"]]
    f["ferry_line"] = [
        f"{names[a]} - {names[b]}" if a >= 0 else None
        for a, b in zip(f["ferry_a"], f["ferry_b"], strict=True)
    ]
    cols = [
        "vessel_id",
        "mmsi",
        "imo",
        "name",
        "callsign",
        "flag_state",
        "ship_type",
        "role",
        "ais_class",
        "length_m",
        "width_m",
        "max_draught_m",
        "service_speed_kn",
        "canal_capable",
        "home_port",
        "ferry_line",
        "dark_actor",
        "dark_active_from",
        "dark_u",
        "sloppy_nav_status",
    ]
    return f[cols]


def _groups(plan: ScenarioPlan, ctx: GenContext) -> list[list[int]]:
    """Vessel groups for the workers; a ghost goes with its host."""
    ids = [int(v) for v in plan.fleet["vessel_id"] if int(v) not in ctx.host_of]
    groups = [ids[i : i + _GROUP_SIZE] for i in range(0, len(ids), _GROUP_SIZE)]
    where = {v: g for g, grp in enumerate(groups) for v in grp}
    for ghost, host in ctx.host_of.items():
        groups[where[host]].append(ghost)
    return groups


# ----------------------------------------------------------------------------- generation
_CTX: GenContext | None = None


def _init_worker(ctx: GenContext) -> None:
    global _CTX
    _CTX = ctx


def _run_group(
    task: tuple[int, list[int], list[tuple[int, int, int]], str | None],
) -> tuple[list[dict[str, Any]], list[pa.Table] | None, int]:
    """Generate a vessel group over all months; write parquet parts or return the tables."""
    gi, vids, months, out_dir = task
    ctx = _CTX
    assert ctx is not None
    carries: dict[int, GapCarry] = {v: GapCarry() for v in vids if v not in ctx.host_of}
    gaps: list[dict[str, Any]] = []
    tables: list[pa.Table] = []
    n_rows = 0
    for month, lo, hi in months:
        parts = []
        for v in vids:
            rows, g, c = vessel_month(ctx, ctx.plans[v], month, lo, hi, carries.get(v))
            if v in carries:
                carries[v] = c
            gaps.extend(g)
            if rows is not None:
                parts.append(rows)
        table = rows_to_table(ctx, parts)
        n_rows += table.num_rows
        if out_dir is None:
            tables.append(table)
        elif table.num_rows:
            y, m = divmod(month, 12)
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            pq.write_table(
                table, Path(out_dir) / f"ais_{y:04d}-{m + 1:02d}_g{gi:03d}.parquet", **_PARQUET_OPTS
            )
    return gaps, (tables if out_dir is None else None), n_rows


def _iter_results(ctx: GenContext, tasks: list, workers: int) -> Iterator[tuple]:
    if workers <= 1 or len(tasks) <= 1:
        _init_worker(ctx)
        for t in tasks:
            yield _run_group(t)
        return
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(ctx,)
    ) as pool:
        yield from pool.map(_run_group, tasks)


def _gap_table(gaps: list[dict[str, Any]]) -> pd.DataFrame:
    cols = [
        "mmsi",
        "vessel_id",
        "start_time",
        "end_time",
        "duration_h",
        "cause",
        "start_lat",
        "start_lon",
        "end_lat",
        "end_lon",
        "slots_missed",
        "slots_out_of_range",
        "slots_station_outage",
    ]
    if not gaps:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    g = pd.DataFrame(gaps)
    g["start_time"] = pd.to_datetime(g["start_s"], unit="s", utc=True)
    g["end_time"] = pd.to_datetime(g["end_s"], unit="s", utc=True)
    g["duration_h"] = ((g["end_s"] - g["start_s"]) / 3600.0).round(3)
    return g[cols].sort_values(["start_time", "mmsi"]).reset_index(drop=True)


def simulate(
    n_vessels: int = 30,
    days: float = 30,
    start: str | pd.Timestamp = "2022-08-15",
    seed: int = 0,
    **params: Any,
) -> Scenario:
    """Simulate a Caspian scenario in memory.

    Parameters
    ----------
    n_vessels : int, default 30
        Vessels with their own MMSI (ships sharing an MMSI come on top).
    days : float, default 30
        Length of the period, days.
    start : str or pandas.Timestamp, default "2022-08-15"
        First instant, UTC.
    seed : int, default 0
        Random seed: the same arguments give the same rows and truth.
    **params
        Any field of :class:`caspian_ais.synthetic.params.SimulationParams`
        (e.g. ``thin_s=300``).

    Returns
    -------
    Scenario
        ``.tracks`` (canonical table) and ``.truth`` (dict of tables).

    Examples
    --------
    >>> from caspian_ais.synthetic import simulate
    >>> sc = simulate(n_vessels=6, days=4, start="2022-09-01", seed=1, thin_s=600)
    >>> sorted(sc.truth)[:3], sc.tracks["mmsi"].nunique() >= 5
    (['dark_spells', 'events', 'outages'], True)
    """
    from caspian_ais.schema import to_canonical

    p = SimulationParams.from_kwargs(**params)
    ctx, plan, truth, t0, t1 = _prepare(n_vessels, days, start, seed, p)
    months = _months(t0, t1)
    tasks = [(gi, grp, months, None) for gi, grp in enumerate(_groups(plan, ctx))]
    gaps: list[dict[str, Any]] = []
    tables: list[pa.Table] = []
    for g, tabs, _ in _iter_results(ctx, tasks, 1):
        gaps.extend(g)
        tables.extend(tabs or [])
    table = pa.concat_tables(tables) if tables else rows_to_table(ctx, [])
    # one dump: by MMSI, months in order (a vessel's months are contiguous in the concatenation
    # order only within a group, so sort stably by MMSI)
    df = table.to_pandas()
    order = np.argsort(df["mmsi"].to_numpy(), kind="stable")
    tracks = to_canonical(df.iloc[order].reset_index(drop=True), add_flag_state=False)
    truth["reception_gaps"] = _gap_table(gaps)
    info = _info(n_vessels, days, t0, t1, seed, p, len(tracks), truth)
    return Scenario(tracks, truth, info)


def _info(
    n_vessels: int,
    days: float,
    t0: pd.Timestamp,
    t1: pd.Timestamp,
    seed: int,
    p: SimulationParams,
    n_rows: int,
    truth: dict[str, pd.DataFrame],
    fmt: str | None = None,
    elapsed_s: float | None = None,
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "generator": f"caspian_ais {__version__} caspian_ais.synthetic",
        "n_vessels": int(n_vessels),
        "days": float(days),
        "start": t0.isoformat(),
        "end": t1.isoformat(),
        "seed": int(seed),
        "rows": int(n_rows),
        "events": {
            str(k): int(v) for k, v in truth["events"]["kind"].value_counts().sort_index().items()
        },
        "dark_spells": int(len(truth["dark_spells"])),
        "reception_gaps": int(len(truth.get("reception_gaps", []))),
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(p).items()},
    }
    if fmt is not None:
        info["format"] = fmt
    if elapsed_s is not None:
        info["elapsed_s"] = round(elapsed_s, 1)
    return info


def _write_truth(out: Path, truth: dict[str, pd.DataFrame], info: dict[str, Any]) -> None:
    for name in TRUTH_TABLES:
        t = truth.get(name)
        if t is None:
            continue
        t = t.copy()
        for c in t.columns:
            if isinstance(t[c].dtype, pd.DatetimeTZDtype):
                t[c] = t[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            elif c.endswith(("lat", "lon")) and pd.api.types.is_float_dtype(t[c]):
                t[c] = t[c].round(5)
            elif c == "dark_u":
                t[c] = t[c].round(4)
        t.to_csv(out / f"truth_{name}.csv", index=False)
    (out / "scenario.json").write_text(
        json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8"
    )


def write_scenario(
    out: str | os.PathLike[str],
    n_vessels: int = 500,
    days: float = 365,
    start: str | pd.Timestamp = "2022-01-01",
    seed: int = 0,
    format: str = "parquet",
    *,
    workers: int | None = None,
    progress: bool | Callable[[str], None] = False,
    single_file: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Simulate a scenario and stream it to disk with its ground truth.

    Rows are generated per vessel group (16 vessels) and month, on ``workers`` processes, and
    written as Parquet parts as they come, so memory stays bounded whatever the size. For
    the CSV and NMEA formats the parts are then rewritten as one file per day, like real
    daily dumps, and removed.

    Parameters
    ----------
    out : path
        Output directory (created; an existing ``ais/`` inside it is replaced).
    n_vessels : int, default 500
    days : float, default 365
    start : str or pandas.Timestamp, default "2022-01-01"
    seed : int, default 0
    format : {"parquet", "marinecadastre", "dma", "nmea"}, default "parquet"
    workers : int, optional
        Processes (default: the number of CPUs, at most 8).
    progress : bool or callable, default False
        Print progress lines to stderr, or pass each line to the callable.
    single_file : str, optional
        Format ``parquet`` only: gather all rows into one compact Parquet file of this name
        in ``out`` (rows by MMSI, each vessel's rows in the order they were written) instead
        of the ``ais/`` parts. For small scenarios such as the bundled sample.
    **params
        Fields of :class:`caspian_ais.synthetic.params.SimulationParams`.

    Returns
    -------
    dict
        The content of ``scenario.json``: arguments, parameters, counts, elapsed seconds.

    Examples
    --------
    >>> import tempfile
    >>> from caspian_ais.synthetic import write_scenario
    >>> info = write_scenario(tempfile.mkdtemp(), n_vessels=4, days=2, seed=3, thin_s=600)
    >>> info["rows"] > 0
    True
    """
    import sys

    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if single_file is not None and format != "parquet":
        raise ValueError("single_file is for format 'parquet' only")
    t_start = time.perf_counter()

    def say(msg: str) -> None:
        if callable(progress):
            progress(msg)
        elif progress:
            print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    p = SimulationParams.from_kwargs(**params)
    if n_vessels < 1 or days <= 0:
        raise ValueError("n_vessels must be at least 1 and days positive")
    try:
        _period(start, days)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"start: cannot read {start!r} as a date ({exc})") from exc
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ais = out / "ais"
    if ais.exists():
        shutil.rmtree(ais)
    say(f"planning {n_vessels} vessels over {days:g} days")
    ctx, plan, truth, t0, t1 = _prepare(n_vessels, days, start, seed, p)
    months = _months(t0, t1)
    stage = ais if format == "parquet" and single_file is None else out / ".ais_parts"
    if stage.exists():
        shutil.rmtree(stage)
    groups = _groups(plan, ctx)
    tasks = [(gi, grp, months, str(stage)) for gi, grp in enumerate(groups)]
    n_workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    say(
        f"generating rows: {len(groups)} vessel groups x {len(months)} months "
        f"on {n_workers} process(es)"
    )
    gaps: list[dict[str, Any]] = []
    n_rows = 0
    for k, (g, _, n) in enumerate(_iter_results(ctx, tasks, n_workers), 1):
        gaps.extend(g)
        n_rows += n
        say(f"  group {k}/{len(tasks)} done, {n_rows:,} rows so far")
    if single_file is not None:
        say(f"gathering the rows into {out / single_file}")
        _single_file(stage, out / single_file)
        shutil.rmtree(stage, ignore_errors=True)
    elif format != "parquet":
        say(f"writing daily {format} files")
        _daily_files(stage, ais, format, t0, t1, say)
        shutil.rmtree(stage, ignore_errors=True)
    truth["reception_gaps"] = _gap_table(gaps)
    info = _info(
        n_vessels, days, t0, t1, seed, p, n_rows, truth, format, time.perf_counter() - t_start
    )
    _write_truth(out, truth, info)
    say(f"done: {n_rows:,} rows in {out}")
    return info


def _single_file(stage: Path, path: Path) -> None:
    """Gather the parts into one Parquet file, compactly encoded (zstd 19, byte-stream-split
    floats, delta-encoded times), rows by MMSI in the order each vessel's rows were written."""
    from caspian_ais.synthetic.tracks import ROW_SCHEMA

    files = sorted(stage.glob("ais_*_g*.parquet"))
    table = (
        pa.concat_tables([pq.read_table(f) for f in files]) if files else ROW_SCHEMA.empty_table()
    )
    order = np.argsort(table.column("mmsi").to_numpy(), kind="stable")
    table = table.take(pa.array(order))
    floats = [f.name for f in ROW_SCHEMA if pa.types.is_floating(f.type)]
    dictionary = [f.name for f in ROW_SCHEMA if f.name not in floats and f.name != "timestamp"]
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=19,
        use_dictionary=dictionary,
        use_byte_stream_split=floats,
        column_encoding={"timestamp": "DELTA_BINARY_PACKED"},
    )


_DAILY_NAME = {
    "marinecadastre": "AIS_{:%Y_%m_%d}.csv",
    "dma": "aisdk-{:%Y-%m-%d}.csv",
    "nmea": "ais_{:%Y-%m-%d}.nmea",
}


def _daily_files(
    stage: Path, ais: Path, fmt: str, t0: pd.Timestamp, t1: pd.Timestamp, say: Callable[[str], None]
) -> None:
    """Rewrite monthly Parquet parts as one file per day, keeping each vessel's row order."""
    from caspian_ais.io.writers import write_ais

    ais.mkdir(parents=True, exist_ok=True)
    files = sorted(stage.glob("ais_*_g*.parquet"))
    months = sorted({f.name.split("_")[1] for f in files})
    for month in months:
        parts = [f for f in files if f.name.split("_")[1] == month]
        table = pa.concat_tables([pq.read_table(f) for f in parts])
        df = table.to_pandas()
        day = df["timestamp"].dt.floor("D")
        for d, idx in df.groupby(day, sort=True).indices.items():
            sub = df.iloc[np.sort(idx)]
            write_ais(sub, ais / _DAILY_NAME[fmt].format(pd.Timestamp(d)), format=fmt)
        say(f"  {month}: {len(df):,} rows")
