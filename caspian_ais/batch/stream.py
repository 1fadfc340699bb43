"""Streaming input: read AIS files batch by batch instead of whole.

:func:`iter_ais` is the streaming twin of :func:`caspian_ais.read_ais`: it yields
canonical tables of at most ``batch_rows`` rows, so that inputs larger than memory can be
read. It reuses the io modules' per-format parsing (:func:`caspian_ais.io.tabular.
iter_delimited`, :func:`caspian_ais.io.tabular.iter_parquet`, the MarineCadastre and DMA
layouts), so every batch holds exactly the rows and values ``read_ais`` gives for the
same part of the file.

The lower-level :func:`iter_staging` yields the loaders' *staging* tables (arrow, before
the canonical conversion) and each file's loader ledger; the batch engine
(:mod:`caspian_ais.batch.run`) partitions those.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from caspian_ais.exceptions import FormatDetectionError
from caspian_ais.io.detect import detect_format, sniff
from caspian_ais.io.sources import SourceFile, SourceLike, resolve_sources
from caspian_ais.io.tabular import iter_delimited, iter_parquet

__all__ = ["iter_ais", "iter_staging", "estimate_rows", "staging_to_canonical"]

#: Rough size of one row of delimited text (MarineCadastre: ~105 bytes), for estimates.
TEXT_BYTES_PER_ROW = 100
#: Assumed compression ratio of gzip/zstd streams whose size is not recorded.
STREAM_RATIO = 8


def iter_staging(
    src: SourceFile,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    *,
    errors: str = "ledger",
    batch_rows: int = 1 << 20,
    text_dictionary: bool = False,
) -> Iterator[tuple[str, Any]]:
    """Stream one file as staging tables.

    Yields ``("batch", pyarrow.Table)`` (staging columns plus ``source_row``; text
    dictionary-encoded with ``text_dictionary``, as :func:`caspian_ais.read_ais` reads it:
    the same canonical values, but the batch engine's buffers measured larger with it),
    ``("restart", None)`` (discard the batches of this file yielded so far: the reader
    starts again with other settings) and finally ``("ledger", DataFrame or None)``, the
    loader-rejected rows of the file. Format dispatch is :func:`caspian_ais.read_ais`'s.
    NMEA files are decoded whole (one batch).
    """
    from caspian_ais.io.read import _check_arguments, _read_nmea, format_layout

    _check_arguments(format, columns, errors)
    s = sniff(src)
    if format is not None:
        fmt = format
    elif columns is not None:
        fmt = {"parquet": "parquet", "nmea": "nmea"}.get(s.kind, "csv")
    else:
        fmt = detect_format(src, s)
    if fmt == "nmea":
        part = _read_nmea(src, errors)
        frame = part.frame if part.frame is not None else pd.DataFrame()
        yield ("batch", pa.Table.from_pandas(frame, preserve_index=False))
        yield ("ledger", part.ledger)
        return
    if fmt in ("parquet", "geoparquet"):
        if s.kind != "parquet":
            raise FormatDetectionError(src.label, f"format={fmt!r} but the file is not Parquet "
                                                  "(no PAR1 magic), expected a Parquet file")
        for table in iter_parquet(src, columns, geo=True if fmt == "geoparquet" else None,
                                  batch_rows=batch_rows, text_dictionary=text_dictionary):
            yield ("batch", table)
        yield ("ledger", None)
        return
    if s.kind != "text":
        raise FormatDetectionError(src.label, f"format={fmt!r} expects delimited text but the "
                                              f"file looks like {s.kind}")
    yield from iter_delimited(src, format_layout(fmt, columns), list(s.header),
                              delimiter=s.delimiter, encoding=s.encoding,
                              decimal_comma=s.decimal_comma, errors=errors,
                              text_dictionary=text_dictionary)


def staging_to_canonical(tables: list[pa.Table], file_index: Any,
                         labels: list[str]) -> pd.DataFrame:
    """Staging tables (with their file index per row) -> the canonical table.

    :func:`caspian_ais.io.canonical.staging_to_frame`, what :func:`caspian_ais.read_ais`
    does with whole files, with ``source_file`` a categorical over every input's label:
    the tables are written batch by batch into the canonical table's arrays, each freed
    once written. NMEA frames converted to arrow (already canonical) go the same way:
    masking, trimming and the IMO range are idempotent, and a column a table lacks is
    missing in its rows, as a concatenation would give. ``tables`` is emptied.
    """
    from caspian_ais.io.canonical import staging_to_frame

    codes = np.asarray(file_index, dtype=np.int32)
    return staging_to_frame(tables, pd.Categorical.from_codes(codes,
                                                              categories=pd.Index(labels)))


def estimate_rows(src: SourceFile) -> int:
    """A cheap estimate of the rows in a file (Parquet: exact, from the footer)."""
    try:
        if src.compression is None:
            with open(src.path, "rb") as fh:
                head = fh.read(4)
            if head == b"PAR1":
                import pyarrow.parquet as pq

                return int(pq.ParquetFile(src.path).metadata.num_rows)
            return os.path.getsize(src.path) // TEXT_BYTES_PER_ROW + 1
        if src.compression == "zip":
            with zipfile.ZipFile(src.path) as zf:
                size = zf.getinfo(str(src.member)).file_size
            return size // TEXT_BYTES_PER_ROW + 1
        return os.path.getsize(src.path) * STREAM_RATIO // TEXT_BYTES_PER_ROW + 1
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, pa.ArrowException):
        return 1


def iter_ais(
    source: SourceLike,
    format: str | None = None,
    columns: Mapping[str, str] | None = None,
    *,
    errors: str = "ledger",
    batch_rows: int = 1 << 20,
    progress: bool = False,
) -> Iterator[pd.DataFrame]:
    """Read AIS files as a stream of canonical tables: :func:`caspian_ais.read_ais` by batch.

    Parameters
    ----------
    source, format, columns, errors
        As for :func:`caspian_ais.read_ais`.
    batch_rows : int, default 1,048,576
        Most rows per Parquet batch. Delimited text comes in the CSV reader's blocks
        (4 MiB of text, about 40,000 rows); NMEA files come whole.
    progress : bool, default False
        Show a progress bar over the files.

    Yields
    ------
    pandas.DataFrame
        Canonical tables, in file and row order, each with ``source_file`` (a
        categorical over all input labels) and ``source_row``. The last batch of each
        file carries that file's loader-rejected rows in
        ``attrs["rejected_rows"]`` (read it with :func:`caspian_ais.ledger.rejected_of`)
        and ``attrs["sources"]`` the labels of all inputs. Concatenated, the batches are
        ``read_ais(source)``'s rows.

    Notes
    -----
    When a reader has to start a file again with other settings (a conversion error or
    a non-UTF-8 byte far into the file), the rows already yielded are not repeated.

    Examples
    --------
    >>> from caspian_ais.batch import iter_ais
    >>> for batch in iter_ais("dumps/AIS_2022_*.zip"):        # doctest: +SKIP
    ...     print(len(batch), batch["timestamp"].max())
    """
    from caspian_ais.ledger import attach_rejected

    files = resolve_sources(source)
    labels = [f.label for f in files]
    it: Any = files
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(files, desc="iter_ais", unit="file")
    for i, src in enumerate(it):
        done = 0  # rows already yielded of this file
        seen = 0
        pending: pd.DataFrame | None = None
        for kind, payload in iter_staging(src, format, columns, errors=errors,
                                          batch_rows=batch_rows):
            if kind == "restart":
                seen = 0
                continue
            if kind == "ledger":
                if pending is None:
                    pending = staging_to_canonical([], [], labels)
                attach_rejected(pending, payload)
                pending.attrs["sources"] = labels
                yield pending
                pending = None
                continue
            n = payload.num_rows
            skip = max(0, min(n, done - seen))
            seen += n
            if skip == n and n:
                continue
            table = payload.slice(skip)
            if pending is not None:
                pending.attrs["sources"] = labels
                yield pending
            pending = staging_to_canonical([table], np.full(table.num_rows, i, np.int32), labels)
            done += table.num_rows
