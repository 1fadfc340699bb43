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
    """

    tracks: pd.DataFrame
    rejected: pd.DataFrame
    gaps: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    rows_read: int = 0
    sources: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Headline counts of the run."""
        out: dict[str, Any] = {
            "rows_read": self.rows_read,
            "rows_rejected": int(len(self.rejected)),
            "rows_kept": int(len(self.tracks)),
            "vessels": int(self.tracks["mmsi"].nunique()) if len(self.tracks) else 0,
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
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
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
    progress : bool, default False
        Show progress bars while reading.
    on_stage : callable, optional
        Called with a short message as each stage starts (the CLI prints them).

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
    }
    port_table = ports if isinstance(ports, pd.DataFrame) else load_ports(ports)
    if isinstance(source, pd.DataFrame) or is_trajectory_collection(source):
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
    gaps = detect_gaps(tracks, min_gap=min_gap, ports=port_table, **dict(gap_options or {}))
    say("detecting port calls")
    calls = detect_port_calls(tracks, ports=port_table, **dict(port_call_options or {}))
    say("detecting probable dark port calls")
    dark = detect_dark_port_calls(
        gaps, tracks, ports=port_table, port_calls=calls, **dict(dark_call_options or {})
    )
    say("detecting dark round trips")
    trips = detect_round_trips(
        gaps, calls, ports=port_table, dark_port_calls=dark, **dict(round_trip_options or {})
    )
    return Analysis(
        tracks=tracks,
        rejected=cleaned.ledger,
        gaps=gaps,
        tables={"port_calls": calls, "dark_port_calls": dark, "round_trips": trips},
        parameters=params,
        rows_read=len(raw) + loader_rejected,
        sources=sources,
    )
