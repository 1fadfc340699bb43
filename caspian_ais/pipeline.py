"""The end-to-end analysis: read → clean → detect, as one call.

:func:`analyze` is what ``caspian-ais analyze`` runs; in a notebook it returns every
intermediate table in one :class:`Analysis` object.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

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
        the rejected-rows ledger, which together hold every raw position). With the
        batch and Dask engines they run on the full cleaned tracks of the work directory
        when it is kept and they fit in ``memory_limit``, else on the tracks kept in
        memory (a thinned copy for large inputs: the tables are then incomplete).
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
    if engine != "memory":
        params["engine"] = engine
        return _with_sts_tables(_analyze_batch(
            source, engine=engine, format=format, columns=columns, min_gap=min_gap,
            max_speed_kn=max_speed_kn, port_table=port_table, params=params,
            gap_options=gap_options, port_call_options=port_call_options,
            dark_call_options=dark_call_options, round_trip_options=round_trip_options,
            progress=progress, on_stage=say, memory_limit=memory_limit, workdir=workdir,
            keep_workdir=keep_workdir, n_partitions=n_partitions, workers=workers,
            scheduler=scheduler, client=client), port_table, sts_options, say)
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
        round_trip_options=round_trip_options, on_stage=say)
    return _with_sts_tables(Analysis(
        tracks=tracks,
        rejected=cleaned.ledger,
        gaps=gaps,
        tables=tables,
        parameters=params,
        rows_read=len(raw) + loader_rejected,
        sources=sources,
    ), port_table, sts_options, say)


def _with_sts_tables(result: Analysis, ports: pd.DataFrame,
                     options: Mapping[str, Mapping[str, Any]] | None,
                     say: Callable[[str], None]) -> Analysis:
    """Add ``encounters``, ``loitering``, ``dark_rendezvous`` and ``identity_anomalies``
    to ``result.tables`` (issue 7; see ``docs/encounters_identity.md``)."""
    from caspian_ais.encounters import detect_encounters
    from caspian_ais.identity import detect_identity_anomalies, raw_from_ledger
    from caspian_ais.loitering import detect_loitering
    from caspian_ais.rendezvous import detect_dark_rendezvous

    opts = {k: dict(v) for k, v in dict(options or {}).items()}
    unknown = set(opts) - {"encounters", "loitering", "dark_rendezvous", "identity_anomalies"}
    if unknown:
        raise TypeError(f"sts_options: unknown table(s) {sorted(unknown)}")
    t = result.tracks
    kept = int((getattr(result, "counts", None) or {}).get("rows_kept", len(t)))
    wd = getattr(result, "workdir", None)
    limit = result.parameters.get("memory_limit")
    if kept > len(t) and wd is not None and limit and kept * 200 <= int(limit):
        # batch/Dask: the full cleaned tracks, when kept and small enough, not the thinned copy
        from pathlib import Path

        parts = sorted(Path(wd).glob("clean/p[0-9][0-9][0-9][0-9].parquet"))
        if parts:
            t = pd.concat([pd.read_parquet(f) for f in parts], ignore_index=True)
    say("detecting encounters, loitering, dark rendezvous and identity anomalies")
    result.tables["encounters"] = detect_encounters(t, ports, **opts.get("encounters", {}))
    result.tables["loitering"] = detect_loitering(t, ports, **opts.get("loitering", {}))
    result.tables["dark_rendezvous"] = detect_dark_rendezvous(
        t, result.gaps, ports, **opts.get("dark_rendezvous", {}))
    result.tables["identity_anomalies"] = detect_identity_anomalies(
        raw_from_ledger(t, result.rejected), ports, **opts.get("identity_anomalies", {}))
    return result


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
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The detectors of :func:`analyze` on cleaned tracks: gaps and the further tables.

    The one sequence of detectors of every engine: the batch and Dask engines call it
    on each vessel partition (with the run-wide reception model and gap starts in
    ``gap_options``).
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
    return gaps, {"port_calls": calls, "dark_port_calls": dark, "round_trips": trips}


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
                   round_trip_options: Mapping[str, Any] | None, progress: bool,
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
                        settings=settings, executor=executor, progress=progress,
                        on_stage=on_stage)
    finally:
        if executor is not None:
            executor.close()
    params["memory_limit"] = limit
    params["n_partitions"] = out["n_partitions"]
    return Analysis(tracks=out["tracks"], rejected=out["rejected"], gaps=out["gaps"],
                    tables=out["tables"], parameters=params, rows_read=out["rows_read"],
                    sources=out["sources"], engine=engine, counts=out["counts"],
                    workdir=out["workdir"])
