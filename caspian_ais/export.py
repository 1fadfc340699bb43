"""Writing result tables to disk: CSV with ISO-8601 UTC times, Parquet, GeoJSON.

The file names and leading columns written by ``caspian-ais analyze`` are a public
contract (see ``docs/cli.md``): new columns may be appended, existing ones are never
renamed or reordered.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from caspian_ais.gaps import BASE_COLUMNS

if TYPE_CHECKING:
    from caspian_ais.pipeline import Analysis

__all__ = ["GAP_COLUMNS", "format_times", "write_table", "write_outputs"]

#: Leading columns of ``gaps.csv``, in order (public contract; defined by :mod:`caspian_ais.gaps`).
GAP_COLUMNS: tuple[str, ...] = BASE_COLUMNS


def format_times(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with every datetime column as ISO-8601 UTC text.

    Times are written as ``YYYY-MM-DDTHH:MM:SSZ`` (with fractional seconds only where a
    value has them); missing times become empty fields.
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
            if isinstance(s.dtype, pd.DatetimeTZDtype):
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            has_frac = bool(
                (s.dropna().dt.microsecond != 0).any() or (s.dropna().dt.nanosecond != 0).any()
            )
            fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if has_frac else "%Y-%m-%dT%H:%M:%SZ"
            text = s.dt.strftime(fmt)
            out[col] = text.where(s.notna(), "")
    return out


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` to ``path``; the suffix picks the format (.csv, .parquet, .geojson).

    Parameters
    ----------
    df : pandas.DataFrame or geopandas.GeoDataFrame
        The table. For ``.geojson`` it must be a GeoDataFrame.
    path : path-like
        Destination file; parent directories are created.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        format_times(df).to_csv(p, index=False)
    elif suffix == ".parquet":
        df.to_parquet(p, index=False)
    elif suffix in (".geojson", ".json"):
        import geopandas as gpd

        if not isinstance(df, gpd.GeoDataFrame):
            raise TypeError("GeoJSON output needs a GeoDataFrame")
        format_times(df).to_file(p, driver="GeoJSON")
    else:
        raise ValueError(
            f"{p}: unknown table format {suffix!r}; expected .csv, .parquet or .geojson"
        )
    return p


def write_outputs(result: Analysis, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the files of ``caspian-ais analyze`` into ``out_dir``.

    Files (public contract): ``rejected_rows.csv``, ``gaps.csv`` (leading columns
    :data:`GAP_COLUMNS`), one CSV per further table of the analysis (``port_calls.csv``,
    ``dark_port_calls.csv``, ``round_trips.csv``, ...), and ``run.json`` with the
    parameters, inputs and headline counts.

    Parameters
    ----------
    result : caspian_ais.pipeline.Analysis
        What :func:`caspian_ais.analyze` returned.
    out_dir : path-like
        Directory to write into (created if needed).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_table(result.rejected, out / "rejected_rows.csv")]
    gaps = result.gaps
    lead = [c for c in GAP_COLUMNS if c in gaps.columns]
    gaps = gaps[lead + [c for c in gaps.columns if c not in lead]]
    written.append(write_table(gaps, out / "gaps.csv"))
    for name, table in result.tables.items():
        written.append(write_table(table, out / f"{name}.csv"))
    run = {
        "parameters": result.parameters,
        "inputs": result.sources,
        "summary": result.summary(),
    }
    run_path = out / "run.json"
    run_path.write_text(json.dumps(run, indent=2, default=str) + "\n", encoding="utf-8")
    written.append(run_path)
    return written
