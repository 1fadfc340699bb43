"""The :func:`read_ais` entry point: any supported source -> one canonical table."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from caspian_ais.exceptions import FormatDetectionError, InputError
from caspian_ais.io.detect import FORMATS, Sniff, detect_format, sniff
from caspian_ais.io.dma import LAYOUT as DMA_LAYOUT
from caspian_ais.io.dma import read_dma
from caspian_ais.io.marinecadastre import LAYOUT as MC_LAYOUT
from caspian_ais.io.marinecadastre import LAYOUT_2025 as MC_LAYOUT_2025
from caspian_ais.io.marinecadastre import read_marinecadastre
from caspian_ais.io.sources import SourceFile, SourceLike, decompression_error, resolve_sources
from caspian_ais.io.tabular import (
    Layout,
    Loaded,
    generic_layout,
    read_delimited,
    read_parquet,
    select_fields,
)
from caspian_ais.ledger import attach_rejected, concat_ledgers, rejected_of
from caspian_ais.schema import to_canonical

__all__ = ["read_ais", "ERRORS"]

#: Accepted values of ``errors=``.
ERRORS: tuple[str, ...] = ("ledger", "raise")

_MAPPED_FORMATS = ("csv", "parquet", "geoparquet")
_TYPES_MAPPER = {pa.int16(): pd.Int16Dtype()}


@dataclass
class _Part:
    label: str
    table: pa.Table | None = None
    frame: pd.DataFrame | None = None
    ledger: pd.DataFrame | None = None

    @property
    def n_rows(self) -> int:
        if self.table is not None:
            return int(self.table.num_rows)
        return 0 if self.frame is None else len(self.frame)


def read_ais(
    source: SourceLike,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    *,
    errors: str = "ledger",
    progress: bool = False,
    usecols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read AIS files of any supported format into one canonical table.

    Parameters
    ----------
    source : str, os.PathLike, or list of those
        A file, a glob pattern (``"data/AIS_2022_01_*.zip"``), a directory (its data
        files, sorted by name, not recursive), or a list of any of those. Files may be
        compressed: ``.zip`` (every data member is read), ``.gz``, ``.zst``; compression
        is recognised from the content.
    format : str, optional
        One of ``"marinecadastre"``, ``"marinecadastre2025"``, ``"dma"``, ``"nmea"``,
        ``"csv"``, ``"parquet"``, ``"geoparquet"``. Default: detected per file from
        its first bytes and header.
    columns : mapping of str to str, optional
        ``{source_name: canonical_name}`` for a generic CSV or Parquet file whose
        columns are not named canonically, e.g. ``{"Breite": "lat"}``. Source names
        are matched case-insensitively. Canonical columns not in the mapping are still
        found under their own names (or aliases such as ``latitude``). A mapped column
        missing from a file is an error if it is required (``mmsi``, ``timestamp``,
        ``lat``, ``lon``) and skipped otherwise. Implies the generic ``csv``/``parquet``
        reader.
    errors : {"ledger", "raise"}, default "ledger"
        Rows the loader cannot parse at all (wrong number of fields, corrupt NMEA):
        record them in ``attrs["rejected_rows"]``, or raise :class:`InputError`.
        Rows with bad *values* are never dropped here (see Notes).
    progress : bool, default False
        Show a tqdm progress bar over the files.
    usecols : sequence of str, optional
        Read only these canonical columns, e.g. ``["sog_kn"]`` (column projection: much
        faster on wide files, notably Parquet). ``mmsi``, ``timestamp``, ``lat``,
        ``lon``, the provenance columns and the other required columns (missing values
        where not read) are always in the result; ``flag_state`` only when listed.
        Default: every column the source has.

    Returns
    -------
    pandas.DataFrame
        The canonical table (:mod:`caspian_ais.schema`), concatenated over files in
        order, with ``source_file`` (category: the path as given or expanded; for a zip
        archive with several data members ``archive.zip!member.csv``) and
        ``source_row`` (1-based data-row number within the file or archive member, the
        header not counted; the line number for NMEA). ``attrs["rejected_rows"]``
        holds the rows the loader rejected (a :class:`caspian_ais.ledger.Rejected`;
        read it with :func:`caspian_ais.ledger.rejected_of`), e.g. DMA base-station
        rows (``base_station``) and rows with too few fields (``unparseable_row``).
        ``attrs["sources"]`` lists the files read.

    Raises
    ------
    SourceNotFoundError
        Nothing matches ``source``.
    UnreadableFileError
        A file is truncated or corrupt (zip, gzip, zstd, Parquet) or not text.
    MissingColumnError
        A file lacks a required column (named in the message with the file).
    FormatDetectionError
        A file's format cannot be recognised.
    InputError
        A file is empty (0 bytes: "file is empty, expected a header").

    Notes
    -----
    Values that cannot be read become missing and the row is kept, so that
    :func:`caspian_ais.clean` can ledger it with the reason: an unreadable timestamp
    becomes ``NaT``, an unreadable latitude ``NaN``, a missing MMSI ``-1``;
    out-of-range values (latitude 123.4) are kept as they are. Text such as ``N/A`` or
    ``NULL`` is read as missing in every column. Timestamps without a UTC
    offset are taken as UTC; timestamps with an offset (``+02:00``, ``Z``) are converted
    to UTC. A header-only file gives an empty table.

    Examples
    --------
    >>> from caspian_ais.io import read_ais
    >>> t = read_ais("data/AIS_2022_01_0*.zip", progress=True)       # doctest: +SKIP
    >>> t[["mmsi", "timestamp", "lat", "lon", "source_row"]].head(2)  # doctest: +SKIP
    >>> from caspian_ais.ledger import rejected_of
    >>> rejected_of(read_ais("aisdk-2024-01-01.csv"))["reason"].value_counts()  # doctest: +SKIP
    """
    _check_arguments(format, columns, errors, usecols)
    files = resolve_sources(source)
    iterator: object = files
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc="read_ais", unit="file")
    parts = [_read_one(src, format, columns, errors, usecols)
             for src in iterator]  # type: ignore[attr-defined]
    return _combine(parts, usecols)


def _check_arguments(format: str | None, columns: object, errors: str,
                     usecols: object = None) -> None:
    if usecols is not None:
        from caspian_ais.schema import CANONICAL_COLUMNS

        cols = [] if isinstance(usecols, str) else list(usecols)  # type: ignore[call-overload]
        if isinstance(usecols, str) or not all(isinstance(c, str) for c in cols):
            raise TypeError("usecols must be a list of canonical column names")
        bad = sorted(set(cols) - set(CANONICAL_COLUMNS))
        if bad:
            raise ValueError(f"usecols: unknown canonical column(s) {', '.join(bad)}")
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if errors not in ERRORS:
        raise ValueError(f"errors must be one of {', '.join(ERRORS)}, not {errors!r}")
    if columns is not None:
        if not isinstance(columns, Mapping):
            raise TypeError("columns must be a mapping {source_name: canonical_name}, "
                            f"not {type(columns).__name__}")
        if format is not None and format not in _MAPPED_FORMATS:
            raise ValueError(f"columns= applies to the formats {', '.join(_MAPPED_FORMATS)}, "
                             f"not to {format!r}")
        generic_layout(columns)  # validates the targets


def _read_one(src: SourceFile, format: str | None, columns: Mapping[str, str] | None,
              errors: str, usecols: Sequence[str] | None = None) -> _Part:
    s = sniff(src)
    if format is not None:
        fmt = format
    elif columns is not None:  # a user mapping means the generic reader
        fmt = {"parquet": "parquet", "nmea": "nmea"}.get(s.kind, "csv")
    else:
        fmt = detect_format(src, s)
    if fmt == "nmea":
        return _read_nmea(src, errors)
    if fmt in ("parquet", "geoparquet"):
        if s.kind != "parquet":
            raise FormatDetectionError(src.label, f"format={fmt!r} but the file is not Parquet "
                                                  "(no PAR1 magic), expected a Parquet file")
        loaded = read_parquet(src, columns, geo=True if fmt == "geoparquet" else None,
                              usecols=usecols)
        return _Part(src.label, loaded.table, ledger=loaded.ledger)
    if s.kind != "text":
        raise FormatDetectionError(src.label, f"format={fmt!r} expects delimited text but the "
                                              f"file looks like {s.kind}")
    loaded = _read_text(src, fmt, s, columns, errors, usecols)
    return _Part(src.label, loaded.table, ledger=loaded.ledger)


def _read_text(src: SourceFile, fmt: str, s: Sniff, columns: Mapping[str, str] | None,
               errors: str, usecols: Sequence[str] | None = None) -> Loaded:
    header = list(s.header)
    common = {"delimiter": s.delimiter, "encoding": s.encoding,
              "decimal_comma": s.decimal_comma, "errors": errors}
    if usecols is not None:  # column projection: the format's layout, fewer fields
        return read_delimited(src, select_fields(format_layout(fmt, columns), usecols),
                              header, **common)  # type: ignore[arg-type]
    if fmt in ("marinecadastre", "marinecadastre2025"):
        return read_marinecadastre(src, header, variant=fmt, **common)  # type: ignore[arg-type]
    if fmt == "dma":
        return read_dma(src, header, **common)  # type: ignore[arg-type]
    return read_delimited(src, generic_layout(columns), header, **common)  # type: ignore[arg-type]


def format_layout(fmt: str, columns: Mapping[str, str] | None = None) -> Layout:
    """The :class:`~caspian_ais.io.tabular.Layout` of a delimited-text format."""
    if fmt == "marinecadastre":
        return MC_LAYOUT
    if fmt == "marinecadastre2025":
        return MC_LAYOUT_2025
    if fmt == "dma":
        return DMA_LAYOUT
    return generic_layout(columns)


def _read_nmea(src: SourceFile, errors: str) -> _Part:
    from caspian_ais.io.nmea import read_nmea

    if src.compression != "zip":  # read_nmea decompresses gzip and zstd itself
        frame = read_nmea(src.path, source_name=src.label, errors=errors)
    else:
        fd, tmp = tempfile.mkstemp(prefix="caspian_ais_", suffix=".nmea")
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with src.open() as fh:
                        shutil.copyfileobj(fh, out, 1 << 20)
                except InputError:
                    raise
                except (OSError, EOFError, ValueError) as exc:
                    raise decompression_error(src, exc) from exc
            frame = read_nmea(tmp, source_name=src.label, errors=errors)
        finally:
            os.unlink(tmp)
    ledger = rejected_of(frame)
    frame = frame.drop(columns=[c for c in ("source_file", "flag_state") if c in frame])
    if "source_row" not in frame:
        frame["source_row"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    frame.attrs = {}
    return _Part(src.label, frame=frame, ledger=ledger if len(ledger) else None)


def _combine(parts: list[_Part], usecols: Sequence[str] | None = None) -> pd.DataFrame:
    labels = [p.label for p in parts]
    lengths = np.array([p.n_rows for p in parts], dtype=np.int64)
    ledger = concat_ledgers(p.ledger for p in parts)
    tables = [p.table for p in parts if p.table is not None]
    frames = [p.frame for p in parts]
    for p in parts:  # let to_pandas free arrow buffers as it goes
        p.table = None
    if all(f is None for f in frames):
        df = _arrow_to_pandas(tables)
    else:
        pieces = []
        it = iter(tables)
        for f in frames:
            pieces.append(f if f is not None else _arrow_to_pandas([next(it)]))
        df = pd.concat(pieces, ignore_index=True)
        del pieces
    codes = np.repeat(np.arange(len(parts), dtype=np.int32), lengths)
    df["source_file"] = pd.Categorical.from_codes(codes, categories=pd.Index(labels))
    if usecols is None:
        result = to_canonical(df)
    else:
        from caspian_ais.schema import PROVENANCE_COLUMNS, REQUIRED_COLUMNS

        keep = set(usecols) | set(REQUIRED_COLUMNS) | set(PROVENANCE_COLUMNS)
        df = df.drop(columns=[c for c in df.columns if c not in keep])
        result = to_canonical(df, add_flag_state="flag_state" in usecols)
    del df
    attach_rejected(result, ledger)
    result.attrs["sources"] = labels
    return result


def _arrow_to_pandas(tables: list[pa.Table]) -> pd.DataFrame:
    """Concatenate staging tables (zero-copy) and convert them to one pandas frame.

    Numeric columns become numpy arrays (one copy, arrow buffers released as it goes,
    ``self_destruct``); text columns stay arrow-backed without a copy. ``tables`` is
    emptied so that no other reference keeps the arrow buffers alive.
    """
    if len(tables) == 1:
        table = tables.pop()
    else:
        table = pa.concat_tables(
            tables, promote_options="default")
        tables.clear()
    df = table.to_pandas(types_mapper=_TYPES_MAPPER.get, split_blocks=True,
                         self_destruct=True)
    del table
    pa.default_memory_pool().release_unused()  # hand the freed arrow buffers back
    return df
