"""The end-to-end analysis: read → clean → detect, as one call.

:func:`analyze` is what ``caspian-ais analyze`` runs; in a notebook it returns every
intermediate table in one :class:`Analysis` object.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from caspian_ais.cleaning import clean
from caspian_ais.dark_port_calls import detect_dark_port_calls
from caspian_ais.gaps import detect_gaps
from caspian_ais.io import read_ais
from caspian_ais.ledger import rejected_of
from caspian_ais.port_calls import detect_port_calls
from caspian_ais.ports import load_ports
from caspian_ais.round_trips import detect_round_trips
from caspian_ais.trajectories import as_tracks, is_trajectory_collection

__all__ = ["Analysis", "analyze"]

Source: TypeAlias = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pd.DataFrame


def _duration_text(value: str | pd.Timedelta | float) -> str:
    """``6h``-style text for a duration given as text, Timedelta or hours."""
    if isinstance(value, str):
        return value
    td = value if isinstance(value, pd.Timedelta) else pd.Timedelta(hours=float(value))
    hours = td / pd.Timedelta(hours=1)
    return f"{hours:g}h"


@dataclass
class Analysis:
    """Everything one analysis run produced.

    Attributes
    ----------
    tracks : pandas.DataFrame
        The cleaned canonical table.
    rejected : pandas.DataFrame
        The rejected-rows ledger (loader and cleaning rejections).
    gaps : pandas.DataFrame
        One row per transmission gap (see :func:`caspian_ais.detect_gaps`).
    tables : dict of str to pandas.DataFrame
        Further result tables by name (``port_calls``, ``dark_port_calls``, ...).
    parameters : dict
        The parameters of the run, for the record.
    rows_read : int
        Rows in the input (accepted plus rejected by the loaders).
    sources : list of str
        The input files.
    engine : str
        The engine that ran: ``"memory"``, ``"batch"`` or ``"dask"``.
    counts : dict
        With the batch and Dask engines, ``rows_kept`` and ``vessels`` of the whole run:
        there ``tracks`` is an evenly thinned copy of the cleaned tracks (at most about
        a million rows, for the report's figures), not all of them.
    workdir : str or None
        Batch and Dask engines with ``keep_workdir=True``: the work directory, whose
        ``clean/pNNNN.parquet`` files hold the full cleaned tracks by vessel partition.
    """

    tracks: pd.DataFrame
    rejected: pd.DataFrame
    gaps: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    rows_read: int = 0
    sources: list[str] = field(default_factory=list)
    engine: str = "memory"
    counts: dict[str, int] = field(default_factory=dict)
    workdir: str | None = None

    def summary(self) -> dict[str, Any]:
        """Headline counts of the run."""
        out: dict[str, Any] = {
            "rows_read": self.rows_read,
            "rows_rejected": int(len(self.rejected)),
            "rows_kept": int(self.counts.get("rows_kept", len(self.tracks))),
            "vessels": int(self.counts["vessels"]) if "vessels" in self.counts else (
                int(self.tracks["mmsi"].nunique()) if len(self.tracks) else 0),
            "gaps": int(len(self.gaps)),
        }
        if "suspicious" in self.gaps:
            out["suspicious_gaps"] = int(self.gaps["suspicious"].sum())
        for name, table in self.tables.items():
            out[name] = int(len(table))
        return out


def analyze(
    source: Source,
    *,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    min_gap: str | pd.Timedelta | float = "6h",
    max_speed_kn: float = 50.0,
    ports: str | os.PathLike[str] | pd.DataFrame | None = None,
    gap_options: Mapping[str, Any] | None = None,
    port_call_options: Mapping[str, Any] | None = None,
    dark_call_options: Mapping[str, Any] | None = None,
    round_trip_options: Mapping[str, Any] | None = None,
    sts_options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
    engine: str = "auto",
    memory_limit: str | int | None = None,
    workdir: str | os.PathLike[str] | None = None,
    keep_workdir: bool | None = None,
    n_partitions: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
) -> Analysis:
    """Run the analysis pipeline on files or on an already loaded table.

    Parameters
    ----------
    source : path, glob, directory, list of those, pandas.DataFrame or TrajectoryCollection
        What :func:`caspian_ais.read_ais` accepts, a canonical table, or a
        movingpandas ``TrajectoryCollection``.
    format : str, optional
        Force the input format (see :func:`caspian_ais.read_ais`).
    columns : mapping, optional
        Source-to-canonical column mapping for generic CSV/Parquet.
    min_gap : str, Timedelta or float (hours), default "6h"
        Shortest silence reported as a gap.
    max_speed_kn : float, default 50.0
        Position jumps implying more than this speed are rejected by cleaning.
    ports : path or pandas.DataFrame, optional
        Port gazetteer (CSV or GeoJSON path, or a table from
        :func:`caspian_ais.load_ports`); default the bundled Caspian gazetteer.
    gap_options, port_call_options, dark_call_options, round_trip_options : mapping, optional
        Keyword options passed to :func:`caspian_ais.detect_gaps`,
        :func:`caspian_ais.detect_port_calls`, :func:`caspian_ais.detect_dark_port_calls`
        and :func:`caspian_ais.detect_round_trips` (every threshold is one of them).
    sts_options : mapping, optional
        Keyword options by table name for the ship-to-ship and spoofing detectors run
        after the others (``docs/encounters_identity.md``): ``"encounters"``
        (:func:`caspian_ais.detect_encounters`), ``"loitering"``
        (:func:`caspian_ais.detect_loitering`), ``"dark_rendezvous"``
        (:func:`caspian_ais.detect_dark_rendezvous`) and ``"identity_anomalies"``
        (:func:`caspian_ais.detect_identity_anomalies`, run on the cleaned tracks plus
        the rejected-rows ledger, which together hold every raw position). Every engine
        computes them on all the data: loitering and identity anomalies per vessel
        partition, encounters in a pass over time slices of the partitions' samples,
        dark rendezvous from the partitions' loitering, speeds and the gaps.
    progress : bool, default False
        Show progress bars while reading.
    on_stage : callable, optional
        Called with a short message as each stage starts (the CLI prints them).
    engine : {"auto", "memory", "batch", "dask"}, default "auto"
        ``"memory"``: read everything, then analyse it (the fastest when it fits).
        ``"batch"``: out of core -- stream the input, partition it by vessel into a
        Parquet dataset under ``workdir``, analyse one partition at a time
        (:mod:`caspian_ais.batch.run`); peak memory follows ``memory_limit``, not the
        input size, and an interrupted run resumes where it stopped. ``"dask"``: the
        same stages as tasks on a Dask cluster (``scheduler``, ``workers`` or
        ``client``). ``"auto"``: ``"dask"`` when ``scheduler``/``workers``/``client``
        is given, else ``"batch"`` when the input (estimated from the file sizes)
        would need more than ``memory_limit`` in memory, else ``"memory"``. The three
        engines give identical results.
    memory_limit : str or int, optional
        Memory the run may use, e.g. ``"4GB"`` (per worker with Dask). Default: half
        the machine's memory (``engine="auto"`` compares the input with it).
    workdir : path, optional
        Work directory of the batch and Dask engines (on storage every Dask worker
        sees). Default: a new temporary directory. Reusing the directory of an
        interrupted run resumes it.
    keep_workdir : bool, optional
        Keep the work directory after success (default: keep it only when
        ``workdir`` was given).
    n_partitions : int, optional
        Number of vessel partitions (default: from the input size and the limit).
    workers : int, optional
        Dask: start a local cluster of this many worker processes.
    scheduler : str, optional
        Dask: address of a running scheduler (``tcp://host:8786``) or a scheduler file.
    client : distributed.Client, optional
        Dask: an existing client to use.

    Returns
    -------
    Analysis

    Examples
    --------
    >>> from caspian_ais import analyze
    >>> result = analyze("data/sample/caspian_sample.parquet")  # doctest: +SKIP
    >>> result.gaps.head()  # doctest: +SKIP
    """
    say = on_stage or (lambda _msg: None)
    params: dict[str, Any] = {
        "format": format,
        "min_gap": _duration_text(min_gap),
        "max_speed_kn": max_speed_kn,
        "ports": ports if ports is None or isinstance(ports, (str, os.PathLike)) else "<table>",
        "gap_options": dict(gap_options or {}),
        "port_call_options": dict(port_call_options or {}),
        "dark_call_options": dict(dark_call_options or {}),
        "round_trip_options": dict(round_trip_options or {}),
        "sts_options": {k: dict(v) for k, v in dict(sts_options or {}).items()},
    }
    port_table = ports if isinstance(ports, pd.DataFrame) else load_ports(ports)
    in_memory = isinstance(source, pd.DataFrame) or is_trajectory_collection(source)
    engine = _choose_engine(engine, source, in_memory, memory_limit, workers, scheduler,
                            client)
    sts = sts_options_by_table(sts_options)
    if engine != "memory":
        params["engine"] = engine
        return _analyze_batch(
            source, engine=engine, format=format, columns=columns, min_gap=min_gap,
            max_speed_kn=max_speed_kn, port_table=port_table, params=params,
            gap_options=gap_options, port_call_options=port_call_options,
            dark_call_options=dark_call_options, round_trip_options=round_trip_options,
            sts_options=sts, progress=progress, on_stage=say, memory_limit=memory_limit,
            workdir=workdir, keep_workdir=keep_workdir, n_partitions=n_partitions,
            workers=workers, scheduler=scheduler, client=client)
    if in_memory:
        raw = as_tracks(source)
    else:
        say("reading input")
        raw = read_ais(source, format=format, columns=columns, progress=progress)
    sources = list(raw.attrs.get("sources", []))
    say(f"cleaning {len(raw):,} rows")
    cleaned = clean(raw, max_speed_kn=max_speed_kn)
    loader_rejected = len(rejected_of(raw))
    tracks = cleaned.tracks
    say(f"detecting gaps in {len(tracks):,} rows of {tracks['mmsi'].nunique():,} vessels")
    gaps, tables = run_detectors(
        tracks, min_gap=min_gap, ports=port_table, gap_options=gap_options,
        port_call_options=port_call_options, dark_call_options=dark_call_options,
        round_trip_options=round_trip_options, on_stage=say, sts_options=sts,
        ledger=cleaned.ledger)
    parts = {k: tables.pop(k) for k in list(tables) if k.startswith("_")}
    say("detecting encounters and dark rendezvous")
    tables = sts_across_vessels(
        gaps, tables, port_table, sts, samples=parts["_sts_samples"],
        visible=[parts["_sts_visible"]], speeds=[parts["_sts_speeds"]],
        imo_pairs=[parts["_sts_imo"]], imo_rows=lambda imos: _imo_rows(tracks, imos))
    return Analysis(
        tracks=tracks,
        rejected=cleaned.ledger,
        gaps=gaps,
        tables=tables,
        parameters=params,
        rows_read=len(raw) + loader_rejected,
        sources=sources,
    )


# ---------------------------------------------------------------------------------------
# ship-to-ship and spoofing tables (issue 7)

#: The ship-to-ship and spoofing tables, in their order in ``Analysis.tables``.
STS_TABLES: tuple[str, ...] = ("encounters", "loitering", "dark_rendezvous",
                               "identity_anomalies")
#: Identity-anomaly kinds that compare vessels (an IMO number moving between MMSIs).
CROSS_VESSEL_KINDS: tuple[str, ...] = ("flag_change", "mmsi_change")
#: Options of ``detect_dark_rendezvous`` that are tables for the whole run.
_RV_GIVEN = ("loitering", "visible", "vessel_speeds")


def sts_options_by_table(options: Mapping[str, Mapping[str, Any]] | None
                         ) -> dict[str, dict[str, Any]]:
    """``sts_options`` of :func:`analyze` checked, one (possibly empty) dict per table."""
    opts = {k: dict(v) for k, v in dict(options or {}).items()}
    unknown = set(opts) - set(STS_TABLES)
    if unknown:
        raise TypeError(f"sts_options: unknown table(s) {sorted(unknown)}")
    return {name: opts.get(name, {}) for name in STS_TABLES}


def _same_option(a: Any, b: Any) -> bool:
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        return a is b
    return bool(a == b)


def _loitering_tables(tracks: pd.DataFrame, ports: pd.DataFrame, lo_opts: Mapping[str, Any],
                      rv_opts: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The loitering table and the (shorter) loitering of the rendezvous' visible side.

    Both come from one :func:`caspian_ais.loitering.detect_loitering` pass when their
    options differ only in ``min_duration_h``: an episode's other tests do not depend on
    it, so the longer episodes are the shorter ones' rows with ``duration_h`` above it.
    """
    import inspect

    from caspian_ais.loitering import detect_loitering
    from caspian_ais.rendezvous import detect_dark_rendezvous

    if any(k in rv_opts for k in ("loitering", "visible")):
        return detect_loitering(tracks, ports, **lo_opts), None

    def defaults(fn: Callable[..., Any]) -> dict[str, Any]:
        return {k: p.default for k, p in inspect.signature(fn).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}

    lo_kw = {**defaults(detect_loitering), **lo_opts}
    rv_def = {**defaults(detect_dark_rendezvous), **rv_opts}
    rv_kw = {**defaults(detect_loitering), "max_mean_speed_kn": rv_def["max_loiter_speed_kn"],
             "min_duration_h": rv_def["min_loiter_h"],
             "min_port_distance_km": rv_def["min_port_distance_km"]}
    if set(lo_kw) != set(rv_kw) or not all(
            _same_option(lo_kw[k], rv_kw[k]) for k in lo_kw if k != "min_duration_h"):
        return detect_loitering(tracks, ports, **lo_kw), detect_loitering(tracks, ports, **rv_kw)
    d_lo, d_rv = float(lo_kw["min_duration_h"]), float(rv_kw["min_duration_h"])
    base = detect_loitering(tracks, ports, **{**lo_kw, "min_duration_h": min(d_lo, d_rv)})

    def longer(d: float) -> pd.DataFrame:
        if d <= min(d_lo, d_rv):
            return base
        return base[base["duration_h"] >= d - 1e-9].reset_index(drop=True)

    return longer(d_lo), longer(d_rv)


def _imo_pairs(tracks: pd.DataFrame) -> pd.DataFrame:
    """The distinct (IMO number, MMSI) pairs of a table."""
    empty = pd.DataFrame({"imo": np.zeros(0, np.int64), "mmsi": np.zeros(0, np.int64)})
    if "imo" not in tracks or not len(tracks):
        return empty
    imo = tracks["imo"]
    has = imo.notna().to_numpy()
    if not has.any():
        return empty
    im = imo.to_numpy(dtype="float64", na_value=np.nan)[has].astype(np.int64)
    mm = tracks["mmsi"].to_numpy(np.int64)[has]
    change = np.r_[True, (im[1:] != im[:-1]) | (mm[1:] != mm[:-1])]
    key = np.unique(im[change] * 1_000_000_000 + mm[change])
    return pd.DataFrame({"imo": key // 1_000_000_000, "mmsi": key % 1_000_000_000})


def _imo_rows(tracks: pd.DataFrame, imos: np.ndarray) -> pd.DataFrame:
    """The rows of ``tracks`` carrying one of ``imos``, as the identity-change test of
    :func:`caspian_ais.detect_identity_anomalies` reads them (positions left empty)."""
    sel = tracks["imo"].isin(imos).to_numpy() if "imo" in tracks else np.zeros(len(tracks), bool)
    return imo_frame(tracks["mmsi"].to_numpy(np.int64)[sel], tracks["timestamp"][sel],
                     tracks["imo"][sel])


def imo_frame(mmsi: np.ndarray, timestamp: Any, imo: Any) -> pd.DataFrame:
    """A raw table of (MMSI, time, IMO number) rows without positions."""
    n = len(mmsi)
    return pd.DataFrame({"mmsi": np.asarray(mmsi, dtype=np.int64),
                         "timestamp": pd.DatetimeIndex(timestamp).as_unit("ns"),
                         "lat": np.full(n, np.nan), "lon": np.full(n, np.nan),
                         "imo": pd.array(np.asarray(imo, dtype="float64"), dtype="Int64")})


def sts_per_vessel(tracks: pd.DataFrame, ledger: pd.DataFrame | None, ports: pd.DataFrame,
                   options: Mapping[str, Mapping[str, Any]] | None = None
                   ) -> dict[str, pd.DataFrame]:
    """The ship-to-ship and spoofing detectors' work that needs one vessel at a time.

    Run by :func:`run_detectors` on all tracks (memory engine) or on each vessel
    partition (batch and Dask engines): ``loitering``, the per-MMSI
    ``identity_anomalies`` (on :func:`caspian_ais.identity.raw_from_ledger` of the tracks
    and the ledger) and, under names starting with ``_sts_``, the per-vessel inputs of
    :func:`sts_across_vessels` (encounter samples, rendezvous' visible side and vessel
    speeds, IMO-MMSI pairs).
    """
    from caspian_ais.encounters import encounter_samples
    from caspian_ais.identity import ANOMALY_KINDS, detect_identity_anomalies
    from caspian_ais.rendezvous import vessel_speeds_kn, visible_side

    opts = sts_options_by_table(options)
    rv = opts["dark_rendezvous"]
    loitering, rv_lo = _loitering_tables(tracks, ports, opts["loitering"], rv)
    if "visible" in rv:
        visible = None
    else:
        if "loitering" in rv:  # the run's own table, used as is by sts_across_vessels
            rv_lo = loitering.iloc[:0]
        vis_kw = {k: rv[k] for k in ("min_loiter_h", "max_loiter_speed_kn",
                                     "min_port_distance_km", "max_gap_h",
                                     "include_slow_gaps") if k in rv}
        visible = visible_side(tracks, ports, loitering=rv_lo, **vis_kw)
    speeds = None if "vessel_speeds" in rv else vessel_speeds_kn(tracks)
    ia = dict(opts["identity_anomalies"])
    kinds = ia.pop("kinds", None)
    want = set(ANOMALY_KINDS) if kinds is None else set(kinds)
    per_vessel = tuple(k for k in ANOMALY_KINDS if k in want and k not in CROSS_VESSEL_KINDS)
    if want - set(ANOMALY_KINDS):
        per_vessel = tuple(kinds or ())  # let the detector name the unknown kinds
    # the raw positions are the cleaned tracks plus the ledger's rows (raw_from_ledger),
    # merged inside the detector without building that table
    anomalies = detect_identity_anomalies(tracks, ports, ledger=ledger, kinds=per_vessel, **ia)
    return {
        "loitering": loitering,
        "identity_anomalies": anomalies,
        "_sts_samples": encounter_samples(tracks, ports, **opts["encounters"]),
        "_sts_visible": visible,
        "_sts_speeds": speeds,
        "_sts_imo": _imo_pairs(tracks) if want & set(CROSS_VESSEL_KINDS) else None,
    }


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenation of the non-empty frames (the first one when all are empty)."""
    full = [f for f in frames if f is not None and len(f)]
    if not full:
        return frames[0]
    return full[0] if len(full) == 1 else pd.concat(full, ignore_index=True)


def merge_sts_parts(name: str, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One per-vessel STS table (``loitering`` or ``identity_anomalies``) from the tables
    of disjoint sets of vessels, in the order the memory engine gives."""
    out = _concat(parts)
    keys = {"loitering": ["start_time", "mmsi"],
            "identity_anomalies": ["start_time", "mmsi", "kind"]}[name]
    if len(parts) > 1 and len(out):
        out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    return out


def sts_across_vessels(
    gaps: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    ports: pd.DataFrame,
    options: Mapping[str, Mapping[str, Any]] | None,
    *,
    samples: Any,
    visible: list[pd.DataFrame | None],
    speeds: list[pd.Series | None],
    imo_pairs: list[pd.DataFrame | None],
    imo_rows: Callable[[np.ndarray], pd.DataFrame],
) -> dict[str, pd.DataFrame]:
    """Finish the ship-to-ship and spoofing tables with the detectors that compare
    vessels, from the per-vessel parts of :func:`sts_per_vessel`.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Every gap of the run.
    tables : dict
        The run's tables, with the merged per-vessel ``loitering`` and
        ``identity_anomalies``.
    ports : pandas.DataFrame
    options : mapping
        ``sts_options`` of :func:`analyze`.
    samples : pandas.DataFrame or iterable
        Encounter samples, whole or by time slice
        (:func:`caspian_ais.encounters.encounters_from_samples`).
    visible, speeds, imo_pairs : list
        The parts ``_sts_visible``, ``_sts_speeds`` and ``_sts_imo`` of every partition.
    imo_rows : callable
        ``imo_rows(imos)``: the raw rows carrying these IMO numbers (:func:`imo_frame`).

    Returns
    -------
    dict
        ``tables`` with :data:`STS_TABLES` added, in that order.
    """
    from caspian_ais.encounters import encounters_from_samples
    from caspian_ais.identity import ANOMALY_KINDS, detect_identity_anomalies
    from caspian_ais.rendezvous import detect_dark_rendezvous, merge_visible

    opts = sts_options_by_table(options)
    out = {k: v for k, v in tables.items() if k not in STS_TABLES}
    out["encounters"] = encounters_from_samples(samples, ports, **opts["encounters"])
    out["loitering"] = tables["loitering"]
    rv = dict(opts["dark_rendezvous"])
    given = {k: rv.pop(k) for k in _RV_GIVEN if k in rv}
    vis = given.get("visible")
    if vis is None:
        vis = merge_visible([v for v in visible if v is not None])
        if "loitering" in given:
            from caspian_ais.rendezvous import visible_side

            vis = pd.concat([visible_side(None, loitering=given["loitering"]), vis],
                            ignore_index=True)
    sp = given.get("vessel_speeds")
    if sp is None:
        sp = pd.concat([x for x in speeds if x is not None])
    out["dark_rendezvous"] = detect_dark_rendezvous(None, gaps, ports, visible=vis,
                                                    vessel_speeds=sp, **rv)
    ia = dict(opts["identity_anomalies"])
    kinds = ia.pop("kinds", None)
    want = set(ANOMALY_KINDS) if kinds is None else set(kinds)
    cross = tuple(k for k in CROSS_VESSEL_KINDS if k in want)
    anomalies = tables["identity_anomalies"]
    if cross:
        pairs = pd.concat([p for p in imo_pairs if p is not None], ignore_index=True)
        per_imo = pairs.drop_duplicates().groupby("imo")["mmsi"].size()
        shared = per_imo.index[per_imo >= 2].to_numpy(np.int64)
        if len(shared):
            found = detect_identity_anomalies(imo_rows(shared), ports, kinds=cross, **ia)
            anomalies = merge_sts_parts("identity_anomalies", [anomalies, found])
    out["identity_anomalies"] = anomalies
    return out


def run_detectors(
    tracks: pd.DataFrame,
    *,
    min_gap: str | pd.Timedelta | float,
    ports: pd.DataFrame,
    gap_options: Mapping[str, Any] | None = None,
    port_call_options: Mapping[str, Any] | None = None,
    dark_call_options: Mapping[str, Any] | None = None,
    round_trip_options: Mapping[str, Any] | None = None,
    on_stage: Callable[[str], None] | None = None,
    sts_options: Mapping[str, Mapping[str, Any]] | None = None,
    ledger: pd.DataFrame | None = None,
    sts: bool = True,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The detectors of :func:`analyze` on cleaned tracks: gaps and the further tables.

    The one sequence of detectors of every engine: the batch and Dask engines call it
    on each vessel partition (with the run-wide reception model and gap starts in
    ``gap_options``). With ``sts`` it ends with :func:`sts_per_vessel` (``ledger`` is
    the tracks' rejected-rows ledger): the tables then include ``loitering`` and the
    per-MMSI ``identity_anomalies``, and under names starting with ``_sts_`` the inputs
    of :func:`sts_across_vessels`, which finishes the tables once every vessel is done.
    """
    say = on_stage or (lambda _msg: None)
    gaps = detect_gaps(tracks, min_gap=min_gap, ports=ports, **dict(gap_options or {}))
    say("detecting port calls")
    calls = detect_port_calls(tracks, ports=ports, **dict(port_call_options or {}))
    say("detecting probable dark port calls")
    dark = detect_dark_port_calls(
        gaps, tracks, ports=ports, port_calls=calls, **dict(dark_call_options or {})
    )
    say("detecting dark round trips")
    trips = detect_round_trips(
        gaps, calls, ports=ports, dark_port_calls=dark, **dict(round_trip_options or {})
    )
    tables = {"port_calls": calls, "dark_port_calls": dark, "round_trips": trips}
    if sts:
        say("detecting loitering and identity anomalies")
        tables.update(sts_per_vessel(tracks, ledger, ports, sts_options))
    return gaps, tables


ENGINES: tuple[str, ...] = ("auto", "memory", "batch", "dask")


def _choose_engine(engine: str, source: Any, in_memory: bool, memory_limit: Any,
                   workers: int | None, scheduler: str | None, client: Any) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine != "auto":
        if engine != "memory" and in_memory:
            raise ValueError(f"engine={engine!r} reads files; this table is already in "
                             "memory: use engine='memory'")
        return engine
    if in_memory:
        return "memory"
    if workers or scheduler or client is not None:
        return "dask"
    from caspian_ais.batch.run import BYTES_PER_ROW, default_memory_limit, parse_memory
    from caspian_ais.batch.stream import estimate_rows
    from caspian_ais.io.sources import resolve_sources

    limit = parse_memory(memory_limit) if memory_limit is not None else default_memory_limit()
    est = sum(estimate_rows(f) for f in resolve_sources(source))
    return "batch" if est * BYTES_PER_ROW > limit else "memory"


def _analyze_batch(source: Any, *, engine: str, format: str | None,
                   columns: Mapping[str, str] | None, min_gap: Any, max_speed_kn: float,
                   port_table: pd.DataFrame, params: dict[str, Any],
                   gap_options: Mapping[str, Any] | None,
                   port_call_options: Mapping[str, Any] | None,
                   dark_call_options: Mapping[str, Any] | None,
                   round_trip_options: Mapping[str, Any] | None,
                   sts_options: dict[str, dict[str, Any]], progress: bool,
                   on_stage: Callable[[str], None], memory_limit: Any, workdir: Any,
                   keep_workdir: bool | None, n_partitions: int | None,
                   workers: int | None, scheduler: str | None, client: Any) -> Analysis:
    import tempfile
    from pathlib import Path

    from caspian_ais.batch.run import BatchSettings, default_memory_limit, parse_memory, run_batch

    limit = parse_memory(memory_limit) if memory_limit is not None else default_memory_limit()
    executor: Any = None
    if engine == "dask":
        from caspian_ais.batch.dask import DaskExecutor

        executor = DaskExecutor(scheduler=scheduler, workers=workers, client=client)
        if not scheduler and client is None:  # a local cluster shares the machine's limit
            limit = max(limit // max(executor.workers, 1), 64 << 20)
    wd = Path(workdir) if workdir is not None else Path(
        tempfile.mkdtemp(prefix="caspian_ais_batch_"))
    keep = bool(workdir is not None) if keep_workdir is None else bool(keep_workdir)
    settings = BatchSettings(memory_limit=limit, workdir=wd, n_partitions=n_partitions,
                             keep_workdir=keep)
    try:
        out = run_batch(source, format=format, columns=columns, min_gap=min_gap,
                        max_speed_kn=max_speed_kn, ports=port_table,
                        gap_options=dict(gap_options or {}),
                        port_call_options=dict(port_call_options or {}),
                        dark_call_options=dict(dark_call_options or {}),
                        round_trip_options=dict(round_trip_options or {}),
                        sts_options=sts_options, settings=settings, executor=executor,
                        progress=progress, on_stage=on_stage)
    finally:
        if executor is not None:
            executor.close()
    params["memory_limit"] = limit
    params["n_partitions"] = out["n_partitions"]
    return Analysis(tracks=out["tracks"], rejected=out["rejected"], gaps=out["gaps"],
                    tables=out["tables"], parameters=params, rows_read=out["rows_read"],
                    sources=out["sources"], engine=engine, counts=out["counts"],
                    workdir=out["workdir"])
