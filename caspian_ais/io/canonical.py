"""Staging tables -> the canonical table, batch by batch, without a pandas round trip.

The loaders of :mod:`caspian_ais.io.tabular` give "staging" tables (pyarrow; canonical
names, types close to the canonical dtypes). :class:`CanonicalBuilder` writes them,
batch by batch, straight into the canonical table's final arrays: numbers into numpy
arrays allocated once for all rows (each staging batch can be freed as soon as it is
written, so the whole input is never held twice), text trimmed on its dictionary (once
per distinct value) and gathered into pandas' arrow-backed text arrays, sentinels
masked in place. The result equals ``schema.to_canonical`` of the staging tables
converted to pandas (what :func:`caspian_ais.read_ais` did before), in a fraction of the
time and memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from caspian_ais._compat import PANDAS_GE_3, STRING_DTYPE, utc_datetime_array
from caspian_ais.schema import (
    CANONICAL_COLUMNS,
    CANONICAL_DTYPES,
    IMO_RANGE,
    PROVENANCE_COLUMNS,
    REQUIRED_COLUMNS,
    sentinel_mask,
    trim_text,
)

__all__ = ["CanonicalBuilder", "staging_to_frame"]

_TEXT_DTYPE = pd.api.types.pandas_dtype(STRING_DTYPE)
#: pandas' text dtype keeps arrow data (pandas 3): trim and blank in arrow, no copy.
_ARROW_TEXT = getattr(_TEXT_DTYPE, "storage", None) == "pyarrow"
_I_NAT = np.iinfo(np.int64).min
_LARGE = pa.large_string()


class CanonicalBuilder:
    """Fill the canonical table's columns from staging tables, one batch at a time.

    Parameters
    ----------
    n_rows : int
        Rows of all the staging tables together.
    columns : iterable of str
        The staging columns found in any of the tables (a table may lack some: its
        rows get missing values there, as a concatenation would give).
    usecols : iterable of str, optional
        As for :func:`caspian_ais.read_ais`: keep only these columns besides the
        required and provenance ones; ``flag_state`` only when listed.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"mmsi": [273123456], "timestamp": pa.array([0], pa.timestamp("ns", "UTC")),
    ...               "lat": [45.0], "lon": [91.0], "source_row": [1]})
    >>> b = CanonicalBuilder(1, t.column_names)
    >>> b.append(t)
    >>> b.finish(pd.Categorical(["f.csv"]))[["mmsi", "lat", "flag_state"]]
            mmsi   lat flag_state
    0  273123456  45.0         RU
    """

    def __init__(self, n_rows: int, columns: Iterable[str], *,
                 usecols: Iterable[str] | None = None) -> None:
        present = set(columns)
        keep = (None if usecols is None
                else set(usecols) | set(REQUIRED_COLUMNS) | set(PROVENANCE_COLUMNS))
        self.n_rows = int(n_rows)
        self.columns = [c for c in CANONICAL_COLUMNS
                        if c not in ("source_file", "flag_state")
                        and (c in REQUIRED_COLUMNS or c == "source_row"
                             or (c in present and (keep is None or c in keep)))]
        self._flag = usecols is None or "flag_state" in set(usecols)
        # required float columns no input has: all missing, filled once at the end
        self._absent = [c for c in self.columns
                        if c not in present and CANONICAL_DTYPES[c] == "float64"]
        n = self.n_rows
        self._values: dict[str, np.ndarray] = {}
        self._masks: dict[str, np.ndarray] = {}
        self._text: dict[str, list[tuple[int, list[pa.Array]]]] = {}
        for col in self.columns:
            dtype = CANONICAL_DTYPES[col]
            if col in self._absent:
                continue
            if col == "timestamp" or dtype == "int64":
                self._values[col] = np.empty(n, dtype=np.int64)
            elif dtype == "float64":
                self._values[col] = np.empty(n, dtype=np.float64)
            elif dtype in ("Int16", "Int64"):
                self._values[col] = np.empty(n, dtype=np.int16 if dtype == "Int16" else np.int64)
                self._masks[col] = np.empty(n, dtype=bool)
            else:
                self._text[col] = []
        if self._flag:
            self._text["flag_state"] = []
        self._pos = 0
        self._written = 0
        self._lock = threading.Lock()

    @property
    def rows_written(self) -> int:
        """Rows appended so far."""
        return self._written

    def append(self, table: pa.Table, start: int | None = None) -> None:
        """Write a staging table's rows: after the rows written so far, or at row ``start``.

        Appends with explicit, disjoint ``start`` ranges may run on several threads at
        once (each writes its own slice of the arrays; text is put in order at the end).
        """
        k = table.num_rows
        if k == 0:
            return
        if start is None:
            start = self._pos
        stop = start + k
        if stop > self.n_rows:
            raise ValueError(f"more rows than announced ({self.n_rows})")
        names = set(table.column_names)
        for col in self.columns:
            if col in self._absent:
                continue
            arr = table.column(col) if col in names else None
            if col in self._text:
                self._text[col].append((start, _text_chunks(arr, k)))
            elif arr is None:
                self._fill_missing(col, start, stop)
            else:
                self._fill(col, arr, start, stop)
        if self._flag:
            from caspian_ais.flags import flag_state_arrow

            self._text["flag_state"].append(
                (start, [flag_state_arrow(self._values["mmsi"][start:stop])]))
        with self._lock:
            self._written += k
            self._pos = max(self._pos, stop)

    def _fill_missing(self, col: str, start: int, stop: int) -> None:
        values = self._values[col]
        if col == "source_row":  # as to_canonical: the row number
            values[start:stop] = np.arange(start + 1, stop + 1)
        elif col in self._masks:
            values[start:stop] = 0
            self._masks[col][start:stop] = True
        elif col == "timestamp":
            values[start:stop] = _I_NAT
        else:  # float64 (mmsi is always there)
            values[start:stop] = np.nan

    def _fill(self, col: str, arr: pa.ChunkedArray, start: int, stop: int) -> None:
        values = self._values[col]
        mask = self._masks.get(col)
        pos = start
        for chunk in arr.chunks:
            end = pos + len(chunk)
            if col == "timestamp":
                ns = pc.cast(chunk, pa.timestamp("ns", tz="UTC")).view(pa.int64())
                _put(values[pos:end], pc.fill_null(ns, _I_NAT) if ns.null_count else ns)
            elif mask is not None:
                if col == "imo":
                    chunk = pc.cast(chunk, pa.int64())
                _put(values[pos:end], pc.fill_null(chunk, 0) if chunk.null_count else chunk)
                if chunk.null_count:
                    mask[pos:end] = chunk.is_null().to_numpy(zero_copy_only=False)
                else:
                    mask[pos:end] = False
                if col == "imo":  # 7 digits, anything else missing
                    v = values[pos:end]
                    mask[pos:end] |= (v < IMO_RANGE[0]) | (v > IMO_RANGE[1])
            elif values.dtype == np.int64:  # mmsi (missing -> -1), source_row
                _put(values[pos:end], pc.fill_null(chunk, -1) if chunk.null_count else chunk)
            else:  # float64: nulls -> NaN, then the "not available" sentinels
                _put(values[pos:end], chunk)
                bad = sentinel_mask(col, values[pos:end])
                if bad is not None:
                    values[pos:end][bad] = np.nan
            pos = end
        if pos != stop:  # pragma: no cover - a staging table is rectangular
            raise ValueError(f"column {col} has {pos - start} rows, expected {stop - start}")

    def finish(self, source_file: pd.Categorical) -> pd.DataFrame:
        """Return the canonical table (``source_file``: the value of every row)."""
        if self._written != self.n_rows:
            raise ValueError(f"{self._written} rows written, {self.n_rows} announced")
        out: dict[str, object] = {}
        out.update(_all_missing(self._absent, self.n_rows))
        for col in self.columns:
            if col in out:
                continue
            if col in self._text:
                out[col] = _text_array(_in_order(self._text.pop(col)))
            elif col == "timestamp":
                out[col] = utc_datetime_array(self._values.pop(col))
            elif col in self._masks:
                out[col] = pd.arrays.IntegerArray(self._values.pop(col), self._masks.pop(col))
            else:
                out[col] = self._values.pop(col)
        out["source_file"] = source_file
        if self._flag:
            out["flag_state"] = _text_array(_in_order(self._text.pop("flag_state")))
        index = pd.RangeIndex(self.n_rows)
        order = [c for c in CANONICAL_COLUMNS if c in out]
        return pd.DataFrame({c: pd.Series(out[c], index=index, copy=False) for c in order},
                            index=index, copy=False)


def staging_to_frame(tables: list[pa.Table], source_file: pd.Categorical, *,
                     usecols: Iterable[str] | None = None) -> pd.DataFrame:
    """Build the canonical table from staging tables, in order.

    Parameters
    ----------
    tables : list of pyarrow.Table
        Staging tables (:data:`caspian_ais.io.tabular.STAGING_TYPES`, text columns
        plain or dictionary-encoded, with ``source_row``). The list is emptied, each
        table as soon as it is written.
    source_file : pandas.Categorical
        The ``source_file`` value of every row (as many as the tables have rows).
    usecols : iterable of str, optional
        See :class:`CanonicalBuilder`.

    Returns
    -------
    pandas.DataFrame
        The canonical table: ``to_canonical`` of the tables' rows, sentinels masked,
        ``flag_state`` derived from the MMSI.
    """
    columns = dict.fromkeys(c for t in tables for c in t.column_names)
    builder = CanonicalBuilder(len(source_file), columns, usecols=usecols)
    tables.reverse()
    while tables:
        builder.append(tables.pop())
    return builder.finish(source_file)


def _in_order(pieces: list[tuple[int, list[pa.Array]]]) -> list[pa.Array]:
    """Text chunks of appends, in row order."""
    pieces.sort(key=lambda p: p[0])
    return [chunk for _, chunks in pieces for chunk in chunks]


def _all_missing(columns: list[str], n: int) -> dict[str, pd.Series]:
    """All-NaN float columns. With copy-on-write (pandas 3) they share one array: pandas
    copies a column before anything is written to it."""
    if not columns:
        return {}
    if not PANDAS_GE_3:  # pragma: no cover - no copy-on-write to protect a shared array
        return {c: pd.Series(np.full(n, np.nan), copy=False) for c in columns}
    first = pd.Series(np.full(n, np.nan), copy=False)
    return {c: first.copy(deep=False) for c in columns}


def _put(out: np.ndarray, chunk: pa.Array) -> None:
    """Copy an arrow array into a numpy slice (nulls of floats as NaN): one pass."""
    np.copyto(out, chunk.to_numpy(zero_copy_only=False), casting="same_kind")


def _text_chunks(arr: pa.ChunkedArray | None, n: int) -> list[pa.Array]:
    """A staging text column's chunks as large_string, trimmed and blanked.

    Dictionary chunks are trimmed on their dictionary, then gathered once per row.
    With python-backed pandas strings the chunks are only decoded: :func:`_text_array`
    trims them as ``to_canonical`` does.
    """
    if arr is None:
        return [pa.nulls(n, type=_LARGE)]
    chunks = []
    for chunk in arr.chunks:
        if pa.types.is_null(chunk.type):
            chunks.append(pa.nulls(len(chunk), type=_LARGE))
        elif pa.types.is_dictionary(chunk.type):
            values = trim_text(chunk.dictionary) if _ARROW_TEXT else pc.cast(
                chunk.dictionary, _LARGE)
            chunks.append(pc.take(values, chunk.indices))
        else:
            chunks.append(trim_text(chunk) if _ARROW_TEXT else pc.cast(chunk, _LARGE))
    return chunks


def _text_array(chunks: list[pa.Array]) -> pd.api.extensions.ExtensionArray:
    """The canonical text array of large_string chunks (trimmed unless python-backed)."""
    text = _TEXT_DTYPE.__from_arrow__(pa.chunked_array(chunks, type=_LARGE))
    if _ARROW_TEXT:
        return text
    s = pd.Series(text, copy=False).str.strip()  # pragma: no cover - pandas < 3
    return s.where(s != "").array  # pragma: no cover
