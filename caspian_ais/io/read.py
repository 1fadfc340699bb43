"""The :func:`read_ais` entry point: any supported source -> one canonical table."""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from caspian_ais.exceptions import FormatDetectionError, InputError
from caspian_ais.io.canonical import CanonicalBuilder
from caspian_ais.io.detect import FORMATS, Sniff, detect_format, sniff
from caspian_ais.io.dma import LAYOUT as DMA_LAYOUT
from caspian_ais.io.marinecadastre import LAYOUT as MC_LAYOUT
from caspian_ais.io.marinecadastre import LAYOUT_2025 as MC_LAYOUT_2025
from caspian_ais.io.sources import SourceFile, SourceLike, decompression_error, resolve_sources
from caspian_ais.io.tabular import (
    STREAM_BATCH_ROWS,
    STREAM_BLOCK_SIZE,
    Layout,
    ParquetStaging,
    empty_staging,
    generic_layout,
    iter_delimited,
    open_parquet,
    select_fields,
)
from caspian_ais.ledger import attach_rejected, concat_ledgers, rejected_of
from caspian_ais.schema import to_canonical

__all__ = ["read_ais", "ERRORS"]

#: Accepted values of ``errors=``.
ERRORS: tuple[str, ...] = ("ledger", "raise")

_MAPPED_FORMATS = ("csv", "parquet", "geoparquet")
#: Threads decoding one Parquet file's row groups at once (pyarrow's CPU count).
DECODE_THREADS = max(1, min(pa.cpu_count(), 8))
_TYPES_MAPPER = {pa.int16(): pd.Int16Dtype()}


@dataclass
class _Part:
    """One file read: staging tables (delimited text), an opened Parquet file (decoded
    when the parts are combined, straight into the result), or an NMEA frame."""

    label: str
    tables: list[pa.Table] | None = None
    parquet: ParquetStaging | None = None
    frame: pd.DataFrame | None = None
    ledger: pd.DataFrame | None = None

    @property
    def n_rows(self) -> int:
        if self.parquet is not None:
            return self.parquet.num_rows
        if self.tables is not None:
            return sum(int(t.num_rows) for t in self.tables)
        return 0 if self.frame is None else len(self.frame)

    @property
    def columns(self) -> list[str]:
        """The staging columns (arrow parts only)."""
        if self.parquet is not None:
            return self.parquet.columns
        return list(dict.fromkeys(c for t in self.tables or [] for c in t.column_names))

    def decode_into(self, builder: CanonicalBuilder, base: int) -> bool:
        """Decode a Parquet part on :data:`DECODE_THREADS` threads, one row group per task,
        straight into ``builder`` from its row ``base``. ``False`` (nothing done) for
        other parts and files not split into row groups of a suitable size."""
        if self.parquet is None:
            return False
        done = self.parquet.decode_row_groups(
            lambda table, offset: builder.append(table, start=base + offset),
            threads=DECODE_THREADS)
        if done:
            self.parquet = None
        return done

    def staging(self) -> Iterator[pa.Table]:
        """The staging tables, each released by the part once handed out.

        A Parquet file is decoded on a background thread, a batch or two ahead of the
        caller (decoding and the caller's copies release the GIL, so they overlap).
        """
        if self.parquet is not None:
            parquet, self.parquet = self.parquet, None
            yield from _read_ahead(parquet.batches(STREAM_BATCH_ROWS))
        elif self.tables is not None:
            tables, self.tables = self.tables, None
            tables.reverse()
            while tables:
                yield tables.pop()


_T = TypeVar("_T")


def _read_ahead(items: Iterator[_T], depth: int = 2) -> Iterator[_T]:
    """Iterate ``items`` on a background thread, at most ``depth`` items ahead.

    An exception of the producer is raised in the caller; when the caller stops early
    (an exception of its own), the producer stops at its next item.
    """
    slots: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, end))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))

    worker = threading.Thread(target=produce, name="caspian_ais-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = slots.get()
            if not ok:
                raise item
            if item is end:
                return
            yield item
            del item
    finally:
        stop.set()
        worker.join()


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
    out-of-range values (latitude 123.4) are kept as they are. In delimited text, null
    markers such as ``N/A``, ``NA`` or ``NULL`` are missing values in the numeric, time,
    IMO and class columns; text columns (``name``, ``callsign``, ``destination``) keep
    them as written (a call sign may be ``NA``): text is only stripped, and empty text is
    missing. Timestamps without a UTC offset are taken as UTC; timestamps with an offset
    (``+02:00``, ``Z``) are converted to UTC. A header-only file gives an empty table.

    Parquet files are decoded straight into the result's columns (text
    dictionary-encoded), so the file's data is never held twice in memory: row groups
    of up to 2 M rows on ``DECODE_THREADS`` threads at once (one group per thread),
    larger ones batch by batch.

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
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(files), desc="read_ais", unit="file")
    try:
        parts = []
        for src in files:
            parts.append(_read_one(src, format, columns, errors, usecols))
            if bar is not None and parts[-1].parquet is None:  # Parquet: once decoded
                bar.update()
        return _combine(parts, usecols, bar)
    finally:
        if bar is not None:
            bar.close()


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
        # footer and columns checked now; the data is decoded straight into the result
        staged = open_parquet(src, columns, geo=True if fmt == "geoparquet" else None,
                              usecols=usecols, text_dictionary=True)
        return _Part(src.label, parquet=staged)
    if s.kind != "text":
        raise FormatDetectionError(src.label, f"format={fmt!r} expects delimited text but the "
                                              f"file looks like {s.kind}")
    return _read_text(src, fmt, s, columns, errors, usecols)


def _read_text(src: SourceFile, fmt: str, s: Sniff, columns: Mapping[str, str] | None,
               errors: str, usecols: Sequence[str] | None = None) -> _Part:
    """Read a delimited file into staging batches (the format's reader, text kept
    dictionary-encoded)."""
    layout = select_fields(format_layout(fmt, columns), usecols)
    tables: list[pa.Table] = []
    ledger: pd.DataFrame | None = None
    for kind, payload in iter_delimited(src, layout, list(s.header), delimiter=s.delimiter,
                                        encoding=s.encoding, decimal_comma=s.decimal_comma,
                                        errors=errors, text_dictionary=True,
                                        block_size=STREAM_BLOCK_SIZE, whole=True):
        if kind == "batch":
            tables.append(payload)
        elif kind == "restart":
            tables.clear()
        else:
            ledger = payload
    if not tables:  # a header-only file: its (empty) staging columns
        tables.append(empty_staging(layout, list(s.header), src.label, text_dictionary=True))
    return _Part(src.label, tables=tables, ledger=ledger)


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


def _combine(parts: list[_Part], usecols: Sequence[str] | None = None,
             bar: Any = None) -> pd.DataFrame:
    labels = [p.label for p in parts]
    lengths = np.array([p.n_rows for p in parts], dtype=np.int64)
    ledger = concat_ledgers(p.ledger for p in parts)
    codes = np.repeat(np.arange(len(parts), dtype=_code_dtype(len(parts))), lengths)
    source_file = pd.Categorical.from_codes(codes, categories=pd.Index(labels))
    if all(p.frame is None for p in parts):
        # staging batches straight into the canonical table's arrays, each batch freed
        # once written (no pandas round trip, the input never held twice)
        builder = CanonicalBuilder(int(lengths.sum()),
                                   dict.fromkeys(c for p in parts for c in p.columns),
                                   usecols=usecols)
        base = 0
        for p in parts:
            decoded_here = p.parquet is not None
            if not p.decode_into(builder, base):
                for table in p.staging():
                    builder.append(table)
                    del table
            base = builder.rows_written
            if bar is not None and decoded_here:
                bar.update()
        result = builder.finish(source_file)
    else:  # NMEA frames among the parts: concatenate in pandas, then to_canonical
        pieces = []
        for p in parts:
            decoded_here = p.parquet is not None
            pieces.append(p.frame if p.frame is not None else _arrow_to_pandas(list(p.staging())))
            if bar is not None and decoded_here:
                bar.update()
        df = pd.concat(pieces, ignore_index=True)
        del pieces
        df["source_file"] = source_file
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


def _code_dtype(n_categories: int) -> type[np.signedinteger]:
    """The integer type pandas itself picks for the codes of ``n_categories`` categories."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _arrow_to_pandas(tables: list[pa.Table]) -> pd.DataFrame:
    """Concatenate staging tables (zero-copy) and convert them to one pandas frame.

    Dictionary-encoded text is decoded first (the frame goes through ``to_canonical``
    like any other). ``tables`` is emptied so that no other reference keeps the arrow
    buffers alive.
    """
    if len(tables) == 1:
        table = tables.pop()
    else:
        table = pa.concat_tables(
            tables, promote_options="default")
        tables.clear()
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    df = table.to_pandas(types_mapper=_TYPES_MAPPER.get, split_blocks=True,
                         self_destruct=True)
    del table
    pa.default_memory_pool().release_unused()  # hand the freed arrow buffers back
    return df
