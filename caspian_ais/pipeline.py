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
from caspian_ais.gaps import detect_gaps
from caspian_ais.io import read_ais
from caspian_ais.ledger import rejected_of

__all__ = ["Analysis", "analyze"]

Source: TypeAlias = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pd.DataFrame


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
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> Analysis:
    """Run the analysis pipeline on files or on an already loaded table.

    Parameters
    ----------
    source : path, glob, directory, list of those, or pandas.DataFrame
        What :func:`caspian_ais.read_ais` accepts, or a canonical table.
    format : str, optional
        Force the input format (see :func:`caspian_ais.read_ais`).
    columns : mapping, optional
        Source-to-canonical column mapping for generic CSV/Parquet.
    min_gap : str, Timedelta or float (hours), default "6h"
        Shortest silence reported as a gap.
    max_speed_kn : float, default 50.0
        Position jumps implying more than this speed are rejected by cleaning.
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
        "min_gap": str(min_gap),
        "max_speed_kn": max_speed_kn,
    }
    if isinstance(source, pd.DataFrame):
        raw = source
    else:
        say("reading input")
        raw = read_ais(source, format=format, columns=columns, progress=progress)
    sources = list(raw.attrs.get("sources", []))
    say(f"cleaning {len(raw):,} rows")
    cleaned = clean(raw, max_speed_kn=max_speed_kn)
    loader_rejected = len(rejected_of(raw))
    say("detecting gaps")
    gaps = detect_gaps(cleaned.tracks, min_gap=min_gap)
    return Analysis(
        tracks=cleaned.tracks,
        rejected=cleaned.ledger,
        gaps=gaps,
        parameters=params,
        rows_read=len(raw) + loader_rejected,
        sources=sources,
    )
