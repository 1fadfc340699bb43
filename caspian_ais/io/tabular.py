"""Tabular loading through pyarrow: the CSV engine, Parquet/GeoParquet, column converters.

Every delimited format (MarineCadastre, DMA, generic CSV) is described by a
:class:`Layout`: which source columns map to which canonical column, and how to convert
them. :func:`read_delimited` streams a file through :func:`pyarrow.csv.open_csv` with
``include_columns`` and explicit ``column_types``, converts each record batch with
vectorised pyarrow kernels and returns "staging" columns (canonical names, arrow types
close to the canonical dtypes) plus the rows the loader itself rejected.

Conventions
-----------
* Column names are matched after :func:`normalise_name` (stripped, lower-case, leading
  ``#`` removed, UTF-8 BOM removed).
* Values that cannot be converted become missing; the row is kept so that
  :func:`caspian_ais.clean` can put it in the ledger with the reason. A missing or
  unreadable MMSI becomes ``-1``.
* Text equal to a null marker (:data:`NULL_VALUES`: empty, ``NA``, ``N/A``, ``NULL``,
  ``None``, ``NaN`` ...) is missing in the numeric, time, IMO and class columns. Text
  columns (names, call signs, destinations) are kept verbatim: a call sign ``N/A`` or a
  vessel called ``NULL`` stays as written (``to_canonical`` strips it; only an empty
  value is missing).
* Timestamps without a UTC offset are taken as UTC. Offsets (``+02:00``, ``Z``) are
  converted to UTC.
* ``source_row`` is the 1-based data-row number in the file: the header is not counted,
  and neither are blank lines (which pyarrow skips).
"""

from __future__ import annotations

import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from caspian_ais.exceptions import (
    FormatDetectionError,
    InputError,
    MissingColumnError,
    UnreadableFileError,
)
from caspian_ais.io.sources import SourceFile, decompression_error
from caspian_ais.ledger import make_ledger
from caspian_ais.schema import CANONICAL_DTYPES, REQUIRED_COLUMNS, STATIC_COLUMNS

__all__ = [
    "Field",
    "Layout",
    "Loaded",
    "Rejection",
    "ISO_FORMATS",
    "STAGING_TYPES",
    "normalise_name",
    "match_columns",
    "generic_layout",
    "select_fields",
    "parse_timestamps",
    "read_delimited",
    "iter_delimited",
    "empty_staging",
    "read_parquet",
    "iter_parquet",
    "open_parquet",
    "ParquetStaging",
]

#: strptime layouts tried first for ISO-like text; anything else falls back to pandas.
ISO_FORMATS: tuple[str, ...] = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")

#: Text read as missing in the numeric, time, IMO and class columns (not in text columns).
NULL_VALUES: list[str] = [
    "", "NA", "N/A", "n/a", "na", "NaN", "nan", "-nan", "-NaN", "NULL", "null", "None",
    "none", "#N/A", "#NA",
]

#: Arrow types of the staging columns; to_pandas maps them onto the canonical dtypes.
STAGING_TYPES: dict[str, pa.DataType] = {
    "mmsi": pa.int64(),
    "timestamp": pa.timestamp("ns", tz="UTC"),
    "lat": pa.float64(),
    "lon": pa.float64(),
    "sog_kn": pa.float64(),
    "cog_deg": pa.float64(),
    "heading_deg": pa.float64(),
    "nav_status": pa.int16(),
    "imo": pa.int32(),
    "name": pa.string(),
    "callsign": pa.string(),
    "ship_type": pa.int16(),
    "length_m": pa.float64(),
    "draught_m": pa.float64(),
    "destination": pa.string(),
    "ais_class": pa.string(),
}

#: Staging type of the text columns when a reader keeps them dictionary-encoded
#: (``text_dictionary=True``): one string per distinct value, int32 codes per row.
TEXT_DICTIONARY: pa.DataType = pa.dictionary(pa.int32(), pa.string())
#: Staging columns that hold text.
TEXT_COLUMNS: tuple[str, ...] = ("name", "callsign", "destination", "ais_class")

_BLOCK_SIZE = 4 << 20
_PARQUET_BATCH_ROWS = 1 << 20
#: Largest row group :meth:`ParquetStaging.decode_row_groups` decodes whole on a thread.
PARALLEL_MAX_GROUP_ROWS = 1 << 21
#: Text per CSV record batch when a whole file is read for the canonical table.
STREAM_BLOCK_SIZE = 16 << 20
#: Batch rows when a Parquet file is decoded straight into the canonical table: about
#: one row group of pyarrow's default writer settings for 10 M rows, small enough that
#: the batch buffers are reused from batch to batch.
STREAM_BATCH_ROWS = 1 << 18
_INT_BOUNDS = {"int16": (-32768, 32767), "int32": (-(2**31), 2**31 - 1)}
_I_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class Field:
    """How one source column becomes one staging column.

    Parameters
    ----------
    target : str
        Canonical column name, or an auxiliary name starting with ``_`` that a
        :attr:`Layout.finish` hook consumes.
    names : tuple of str
        Accepted source names, already normalised (see :func:`normalise_name`).
    kind : str
        Converter: ``mmsi``, ``float``, ``int16``, ``str``, ``class``, ``imo``,
        ``timestamp`` or ``raw`` (text kept as is, for hooks).
    required : bool
        Whether a file without the column is an error.
    display : str
        The column's name as the format spells it, for error messages.
    """

    target: str
    names: tuple[str, ...]
    kind: str
    required: bool = False
    display: str = ""

    @property
    def label(self) -> str:
        """Name used in error messages."""
        return self.display or self.names[0]


@dataclass(frozen=True)
class Rejection:
    """Rows of one batch a layout hook rejects, with the ledger reason and detail."""

    mask: np.ndarray
    reason: str
    detail: np.ndarray | str = ""


Finish = Callable[[dict[str, pa.Array]], tuple[dict[str, pa.Array], list[Rejection]]]


@dataclass(frozen=True)
class Layout:
    """A delimited-text format: its fields, timestamp layouts and optional row hook."""

    name: str
    fields: tuple[Field, ...]
    timestamp_formats: tuple[str, ...] = ISO_FORMATS
    finish: Finish | None = None


@dataclass
class Loaded:
    """What a loader returns for one file.

    ``table`` holds staging columns (see :data:`STAGING_TYPES`) and ``source_row``;
    ``ledger`` the rows the loader rejected (or ``None``).
    """

    table: pa.Table
    ledger: pd.DataFrame | None = None


# ---------------------------------------------------------------------------------------
# column names


def normalise_name(name: str) -> str:
    """Normalise a header name for matching: strip, lower-case, drop BOM and leading ``#``.

    Examples
    --------
    >>> normalise_name("\\ufeff# Timestamp ")
    'timestamp'
    """
    return name.replace("\ufeff", "").strip().lstrip("#").strip().lower()


def match_columns(
    layout: Layout, header: Sequence[str], label: str
) -> list[tuple[str, Field]]:
    """Pair the layout's fields with the file's actual column names.

    Parameters
    ----------
    layout : Layout
        The format.
    header : sequence of str
        The column names as they appear in the file.
    label : str
        The file, for the error message.

    Returns
    -------
    list of (str, Field)
        Actual column name and the field it feeds, for every field found.

    Raises
    ------
    MissingColumnError
        If a required field has no column.

    Examples
    --------
    >>> plan = match_columns(generic_layout(), ["MMSI", "Time", "Lat", "Lon"], "f.csv")
    >>> [(actual, f.target) for actual, f in plan]
    [('MMSI', 'mmsi'), ('Time', 'timestamp'), ('Lat', 'lat'), ('Lon', 'lon')]
    """
    by_norm: dict[str, str] = {}
    for h in header:
        by_norm.setdefault(normalise_name(h), h)
    used: set[str] = set()
    plan: list[tuple[str, Field]] = []
    missing: list[str] = []
    for f in layout.fields:
        actual = next((by_norm[n] for n in f.names if n in by_norm and by_norm[n] not in used),
                      None)
        if actual is None:
            if f.required:
                missing.append(f.label)
            continue
        used.add(actual)
        plan.append((actual, f))
    if missing:
        raise MissingColumnError(label, missing, list(header))
    return plan


# ---------------------------------------------------------------------------------------
# converters (pyarrow array -> staging array); all vectorised


def _null(n: int, typ: pa.DataType) -> pa.Array:
    return pa.nulls(n, type=typ)


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t)
                or pa.types.is_string_view(t))


def _plain(arr: pa.Array) -> pa.Array:
    """Decode dictionary arrays; leave others alone."""
    if pa.types.is_dictionary(arr.type):
        return arr.dictionary_decode()
    return arr


def staging_type(col: str, text_dictionary: bool = False) -> pa.DataType:
    """Arrow type of staging column ``col`` (text dictionary-encoded when asked)."""
    if text_dictionary and col in TEXT_COLUMNS:
        return TEXT_DICTIONARY
    return STAGING_TYPES[col]


def as_dictionary(arr: pa.Array) -> pa.Array:
    """Return text as a ``dictionary<int32, string>`` array (:data:`TEXT_DICTIONARY`).

    Examples
    --------
    >>> import pyarrow as pa
    >>> d = as_dictionary(pa.array(["A", "B", "A", None]))
    >>> d.dictionary.to_pylist(), d.indices.to_pylist()
    (['A', 'B'], [0, 1, 0, None])
    """
    if pa.types.is_dictionary(arr.type):
        if arr.type == TEXT_DICTIONARY:
            return arr
        values = arr.dictionary
        if not pa.types.is_string(values.type):
            values = pc.cast(values, pa.string())
        return pa.DictionaryArray.from_arrays(pc.cast(arr.indices, pa.int32()), values)
    if pa.types.is_null(arr.type):
        return pa.DictionaryArray.from_arrays(pa.nulls(len(arr), pa.int32()),
                                              pa.array([], pa.string()))
    return pc.dictionary_encode(to_str(arr))


def map_text(arr: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Apply a text -> text function to every value; to a dictionary array's dictionary only.

    A dictionary array stays a dictionary array: ``fn`` runs once per distinct value, and
    rows whose value ``fn`` turns into null get a null code.

    Examples
    --------
    >>> import pyarrow as pa, pyarrow.compute as pc
    >>> d = pa.array(["a", "b", "a"]).dictionary_encode()
    >>> map_text(d, pc.utf8_upper).to_pylist()
    ['A', 'B', 'A']
    """
    if not pa.types.is_dictionary(arr.type):
        return fn(arr)
    mapped = fn(arr.dictionary)
    indices = arr.indices
    if mapped.null_count:
        valid = pc.take(mapped.is_valid(), indices)
        indices = pc.if_else(valid, indices, pa.scalar(None, indices.type))
        mapped = mapped.fill_null("")
    return pa.DictionaryArray.from_arrays(indices, mapped)


def _per_value(arr: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``fn(arr)`` for text; for a dictionary array ``fn`` of the dictionary, taken per row."""
    if pa.types.is_dictionary(arr.type):
        return pc.take(fn(arr.dictionary), arr.indices)
    return fn(arr)


_NULL_SET = pa.array(NULL_VALUES, pa.string())
_NULL_MAX_LEN = max(len(v) for v in NULL_VALUES)


def blank_null_markers(arr: pa.Array) -> pa.Array:
    """Turn text equal to a null marker (:data:`NULL_VALUES`) into null.

    Other arrays are returned as they are; dictionary arrays are handled on their
    dictionary.

    Examples
    --------
    >>> import pyarrow as pa
    >>> blank_null_markers(pa.array(["1.5", "N/A", "", None])).to_pylist()
    ['1.5', None, None, None]
    """
    if pa.types.is_dictionary(arr.type):
        return map_text(arr, blank_null_markers)
    if not _is_text(arr.type) or len(arr) == 0:
        return arr
    short = pc.less_equal(pc.utf8_length(arr), _NULL_MAX_LEN)  # only short text can match
    if not pc.any(short).as_py():
        return arr
    markers = _NULL_SET if arr.type == pa.string() else pc.cast(_NULL_SET, arr.type)
    hit = pc.and_(short, pc.is_in(arr, value_set=markers))
    return pc.if_else(hit, pa.scalar(None, arr.type), arr)


def _text_to_float(arr: pa.Array) -> pa.Array:
    try:
        return pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # junk somewhere ("N/A" is already null, but "abc" or "12,5" is not): coerce per value
    text = pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object).str.strip()
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return pa.array(num, type=pa.float64(), from_pandas=True)


def to_float(arr: pa.Array) -> pa.Array:
    """Convert to float64; unconvertible values become null.

    Parameters
    ----------
    arr : pyarrow.Array
        Numbers or text.

    Returns
    -------
    pyarrow.Array of float64

    Examples
    --------
    >>> import pyarrow as pa
    >>> to_float(pa.array(["1.5", "fast", None])).to_pylist()
    [1.5, None, None]
    """
    arr = _plain(arr)
    t = arr.type
    if pa.types.is_float64(t):
        return arr
    if pa.types.is_null(t):
        return _null(len(arr), pa.float64())
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return pc.cast(arr, pa.float64())
    if pa.types.is_boolean(t):
        return pc.cast(arr, pa.float64())
    if _is_text(t):
        return _text_to_float(arr)
    raise TypeError(f"cannot read a number from a {t} column")


def to_int(arr: pa.Array, typ: pa.DataType) -> pa.Array:
    """Convert to an integer type; non-integral or out-of-range values become null.

    Parameters
    ----------
    arr : pyarrow.Array
        Numbers or text.
    typ : pyarrow.DataType
        Target integer type.

    Returns
    -------
    pyarrow.Array of ``typ``

    Examples
    --------
    >>> import pyarrow as pa
    >>> to_int(pa.array([5.0, 5.5, 70000.0]), pa.int16()).to_pylist()
    [5, None, None]
    """
    arr = _plain(arr)
    lo, hi = _INT_BOUNDS.get(str(typ), (-(2**63), 2**63 - 1))
    if arr.type == typ:
        return arr
    if pa.types.is_integer(arr.type):
        ok = pc.and_(pc.greater_equal(arr, lo), pc.less_equal(arr, hi))
        return pc.cast(pc.if_else(ok, arr, pa.scalar(None, arr.type)), typ)
    f = to_float(arr)
    lo_f, hi_f = float(max(lo, -(2**62))), float(min(hi, 2**62))  # exact in float64
    ok = pc.and_(pc.and_(pc.is_finite(f), pc.equal(pc.floor(f), f)),
                 pc.and_(pc.greater_equal(f, lo_f), pc.less_equal(f, hi_f)))
    return pc.cast(pc.if_else(ok, f, pa.scalar(None, pa.float64())), typ)


def to_mmsi(arr: pa.Array) -> pa.Array:
    """Convert to int64; a missing or unreadable MMSI becomes -1 (rejected by clean()).

    Parameters
    ----------
    arr : pyarrow.Array

    Returns
    -------
    pyarrow.Array of int64

    Examples
    --------
    >>> import pyarrow as pa
    >>> to_mmsi(pa.array(["273123456", "", None])).to_pylist()
    [273123456, -1, -1]
    """
    out = to_int(arr, pa.int64())
    return pc.fill_null(out, -1) if out.null_count else out


def to_str(arr: pa.Array) -> pa.Array:
    """Convert to text. Trimming and empty-to-missing are left to ``to_canonical``.

    Parameters
    ----------
    arr : pyarrow.Array

    Returns
    -------
    pyarrow.Array of string

    Examples
    --------
    >>> import pyarrow as pa
    >>> to_str(pa.array([1, None])).to_pylist()
    ['1', None]
    """
    arr = _plain(arr)
    if pa.types.is_null(arr.type):
        return _null(len(arr), pa.string())
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def _trimmed(arr: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(to_str(arr))


_CLASS_SPELLINGS = {f"{p}{c}": c.upper() for p in ("", "class ", "Class ", "CLASS ")
                    for c in ("A", "B", "a", "b")}
_CLASS_KEYS = pa.array(list(_CLASS_SPELLINGS))
_CLASS_VALUES = pa.array(list(_CLASS_SPELLINGS.values()))


def to_class(arr: pa.Array) -> pa.Array:
    """Map transceiver-class text ("A", "Class B", "b") to "A"/"B"; anything else null.

    Parameters
    ----------
    arr : pyarrow.Array

    Returns
    -------
    pyarrow.Array of string

    Examples
    --------
    >>> import pyarrow as pa
    >>> to_class(pa.array(["A", "Class B", "C"])).to_pylist()
    ['A', 'B', None]
    """
    return pc.take(_CLASS_VALUES, pc.index_in(_trimmed(arr), value_set=_CLASS_KEYS))


def to_imo(arr: pa.Array) -> pa.Array:
    """Read IMO numbers, also written as ``IMO9198731``; staging type int32.

    Anything that is not (``IMO`` followed by) 1-9 digits becomes null.

    Parameters
    ----------
    arr : pyarrow.Array
        Text or integers.

    Returns
    -------
    pyarrow.Array of int32

    Examples
    --------
    >>> import pyarrow as pa
    >>> to_imo(pa.array(["IMO9198731", "9198731", "unknown", None])).to_pylist()
    [9198731, 9198731, None, None]
    """
    arr = _plain(arr)
    if not _is_text(arr.type) and not pa.types.is_null(arr.type):
        return to_int(arr, pa.int32())
    text = to_str(arr)
    if text.null_count == len(text):
        return _null(len(text), pa.int32())
    if pc.all(pc.starts_with(text, "IMO")).as_py():  # MarineCadastre: always "IMOnnnnnnn"
        try:
            return pc.cast(pc.utf8_slice_codeunits(text, 3), pa.int32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    text = pc.utf8_trim_whitespace(text)
    prefixed = pc.starts_with(text, "IMO", ignore_case=True)
    if pc.any(prefixed).as_py():
        text = pc.if_else(prefixed, pc.utf8_ltrim_whitespace(
            pc.utf8_slice_codeunits(text, 3)), text)
    ok = pc.and_(pc.utf8_is_digit(text), pc.less_equal(pc.utf8_length(text), 9))
    return pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.int32())


_DIRECTIVE_WIDTH = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}


def _day_slice(fmt: str) -> tuple[int, int, int] | None:
    """Position of the day digits and the full length for fixed-width layouts."""
    pos = 0
    day = None
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            width = _DIRECTIVE_WIDTH.get(fmt[i + 1:i + 2])
            if width is None:
                return None
            if fmt[i + 1] == "d":
                day = pos
            pos += width
            i += 2
        else:
            pos += 1
            i += 1
    return None if day is None else (day, day + 2, pos)


def _strptime_checked(text: pa.Array, fmt: str) -> pa.Array:
    """pyarrow strptime, with impossible dates (30 February) turned into nulls.

    Arrow normalises an out-of-range day into the next month (30 February -> 2 March)
    instead of failing. Such a date lands on day 1-3 of a month; for fixed-width layouts
    those rows are checked against the day written in the text.
    """
    parsed = pc.strptime(text, format=fmt, unit="ns", error_is_null=True)
    where = _day_slice(fmt)
    if where is None or parsed.null_count == len(parsed):
        return parsed
    suspect = pc.fill_null(pc.less_equal(pc.day(parsed), 3), False)
    if not pc.any(suspect).as_py():
        return parsed
    idx = pa.array(np.flatnonzero(suspect.to_numpy(zero_copy_only=False)))
    sub, sub_parsed = text.take(idx), parsed.take(idx)
    start, stop, width = where
    written = pc.utf8_slice_codeunits(sub, start, stop)
    day = pc.utf8_lpad(pc.cast(pc.day(sub_parsed), pa.string()), 2, "0")
    bad = pc.and_(pc.equal(pc.utf8_length(sub), width), pc.not_equal(written, day))
    bad_idx = idx.filter(bad).to_numpy(zero_copy_only=False)
    if len(bad_idx):
        mask = np.zeros(len(parsed), dtype=bool)
        mask[bad_idx] = True
        parsed = pc.if_else(pa.array(mask), pa.scalar(None, parsed.type), parsed)
    return parsed


def _fallback_times(text: pa.Array) -> np.ndarray:
    """Parse leftover timestamps with pandas (ISO 8601, any UTC offset); int64 ns."""
    values = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object).str.strip()
    parsed = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
    try:
        parsed = parsed.dt.as_unit("ns")
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        parsed = pd.to_datetime(
            values.where(parsed.dt.year.between(1678, 2261)), format="ISO8601", utc=True,
            errors="coerce").dt.as_unit("ns")
    out = parsed.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT"))
    return out.view("int64")


def parse_timestamps(arr: pa.Array, formats: Sequence[str] = ISO_FORMATS) -> pa.Array:
    """Parse timestamps to ``timestamp[ns, UTC]``; unparseable values become null.

    Text is parsed with :func:`pyarrow.compute.strptime` for each layout in ``formats``;
    only the values that no layout matches go through
    ``pandas.to_datetime(format="ISO8601", utc=True, errors="coerce")``, which also
    handles fractional seconds and UTC offsets. Naive values are UTC; null markers
    (:data:`NULL_VALUES`) are missing. Timestamp columns are converted (naive taken as
    UTC); integer columns are Unix epoch times whose unit (s, ms, us, ns) is guessed from
    their magnitude.

    Parameters
    ----------
    arr : pyarrow.Array
        Text, timestamp, date or integer values.
    formats : sequence of str
        strptime layouts to try first, most likely first.

    Returns
    -------
    pyarrow.Array of timestamp[ns, tz=UTC]

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = parse_timestamps(pa.array(["2022-01-03T00:00:00", "2022-01-03T02:00:00+02:00",
    ...                                "yesterday"]))
    >>> [str(v) for v in t.to_pandas()]
    ['2022-01-03 00:00:00+00:00', '2022-01-03 00:00:00+00:00', 'NaT']
    """
    arr = _plain(arr)
    target = STAGING_TYPES["timestamp"]
    t = arr.type
    if pa.types.is_null(t):
        return _null(len(arr), target)
    if pa.types.is_timestamp(t):
        if t.tz is None:
            arr = pc.cast(arr, pa.timestamp(t.unit, tz="UTC"))
        return pc.cast(arr, target)
    if pa.types.is_date(t):
        return pc.cast(pc.cast(arr, pa.timestamp("s")), target)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _epoch_to_timestamps(arr)
    if not _is_text(t):
        raise TypeError(f"cannot read a time from a {t} column")
    if not pa.types.is_string(t):
        arr = pc.cast(arr, pa.string())
    if formats and formats[0] in ISO_FORMATS:
        try:  # strict ISO 8601 without offset: the fast path for clean files
            return pc.cast(pc.cast(arr, pa.timestamp("ns")), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    # null markers ("", "N/A", ...) are missing, not unparseable (no pandas fallback)
    arr = blank_null_markers(arr)
    result: pa.Array | None = None
    for fmt in formats:
        parsed = _strptime_checked(arr, fmt)
        result = parsed if result is None else pc.coalesce(result, parsed)
        if result.null_count == arr.null_count:
            break
    if result is None:
        result = _null(len(arr), pa.timestamp("ns"))
    failed = pc.and_(pc.is_null(result), pc.is_valid(arr))
    if pc.any(failed).as_py():
        idx = np.flatnonzero(failed.to_numpy(zero_copy_only=False))
        ns = pc.fill_null(pc.cast(result, pa.int64()), _I_NAT).to_numpy().copy()
        ns[idx] = _fallback_times(arr.take(pa.array(idx)))
        return pa.array(ns, type=target, mask=ns == _I_NAT)
    return pc.cast(result, target)


def _epoch_to_timestamps(arr: pa.Array) -> pa.Array:
    target = STAGING_TYPES["timestamp"]
    values = to_float(arr).to_numpy(zero_copy_only=False)
    finite = np.isfinite(values)
    if not finite.any():
        return _null(len(arr), target)
    scale = np.nanmedian(np.abs(values[finite]))
    factor = 10**9 if scale < 1e11 else 10**6 if scale < 1e14 else 10**3 if scale < 1e17 else 1
    with np.errstate(invalid="ignore", over="ignore"):
        ns = values * factor
    ok = finite & (np.abs(ns) < 9.2e18)
    ints = np.where(ok, ns, 0).astype("int64")
    return pa.array(ints, type=target, mask=~ok)


_CONVERTERS: dict[str, Callable[[pa.Array], pa.Array]] = {
    "mmsi": to_mmsi,
    "float": to_float,
    "int16": lambda a: to_int(a, pa.int16()),
    "int32": lambda a: to_int(a, pa.int32()),
    "str": to_str,
    "class": to_class,
    "imo": to_imo,
    "raw": lambda a: _plain(a) if _is_text(_plain(a).type) else pc.cast(_plain(a), pa.string()),
}


def convert_columns(
    columns: Mapping[str, pa.Array], plan: Sequence[tuple[str, Field]],
    timestamp_formats: Sequence[str], *, text_dictionary: bool = False,
) -> dict[str, pa.Array]:
    """Convert source arrays (keyed by actual name) into staging arrays keyed by target.

    Parameters
    ----------
    columns : mapping of str to pyarrow.Array
        Source columns by their name in the file.
    plan : sequence of (str, Field)
        From :func:`match_columns`.
    timestamp_formats : sequence of str
        strptime layouts for :func:`parse_timestamps`.
    text_dictionary : bool, default False
        Give the text columns (``str`` and ``class`` fields) as
        :data:`TEXT_DICTIONARY` arrays. Dictionary-encoded input (Parquet read with
        ``read_dictionary``, CSV read with dictionary column types) is then converted on
        its dictionary only, once per distinct value; so is an ``imo`` field.

    Returns
    -------
    dict of str to pyarrow.Array

    Examples
    --------
    >>> import pyarrow as pa
    >>> plan = [("LAT", Field("lat", ("lat",), "float"))]
    >>> convert_columns({"LAT": pa.array(["1.5"])}, plan, ISO_FORMATS)["lat"].to_pylist()
    [1.5]
    """
    out: dict[str, pa.Array] = {}
    for actual, f in plan:
        arr = columns[actual]
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if f.kind == "timestamp":
            out[f.target] = parse_timestamps(arr, timestamp_formats)
        elif text_dictionary and f.kind == "str":
            out[f.target] = as_dictionary(arr)
        elif text_dictionary and f.kind == "class":
            out[f.target] = as_dictionary(map_text(as_dictionary(arr), to_class))
        elif f.kind == "imo" and pa.types.is_dictionary(arr.type) and _is_text(
                arr.type.value_type):
            out[f.target] = _per_value(arr, to_imo)
        else:
            out[f.target] = _CONVERTERS[f.kind](arr)
    return out


# ---------------------------------------------------------------------------------------
# generic layout


#: Extra source names the generic loader accepts for canonical columns.
GENERIC_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("time", "datetime", "date_time", "timestamp_utc"),
    "lat": ("latitude",),
    "lon": ("longitude", "long", "lng"),
    "sog_kn": ("sog",),
    "cog_deg": ("cog",),
    "heading_deg": ("heading", "true_heading"),
    "nav_status": ("navstatus", "navigational_status"),
    "name": ("vessel_name", "shipname", "ship_name"),
    "callsign": ("call_sign",),
    "ship_type": ("shiptype", "vessel_type"),
    "length_m": ("length",),
    "draught_m": ("draught", "draft"),
    "ais_class": ("class", "transceiver_class"),
}

_KIND_OF_DTYPE = {"float64": "float", "Int16": "int16", "Int64": "int32"}


def _kind_for(col: str) -> str:
    if col == "mmsi":
        return "mmsi"
    if col == "timestamp":
        return "timestamp"
    if col == "imo":
        return "imo"
    if col == "ais_class":
        return "class"
    return _KIND_OF_DTYPE.get(str(CANONICAL_DTYPES[col]), "str")


def generic_layout(columns: Mapping[str, str] | None = None) -> Layout:
    """Layout of a table with canonical column names, or with a user mapping.

    Parameters
    ----------
    columns : mapping of str to str, optional
        ``{source_name: canonical_name}``. Source names are matched case-insensitively.
        Canonical columns not named in the mapping are still found under their own
        name (or a common alias such as ``latitude``).

    Returns
    -------
    Layout

    Raises
    ------
    ValueError
        If a mapping target is not a canonical column, or appears twice.

    Examples
    --------
    >>> lay = generic_layout({"Breite": "lat"})
    >>> [f.names for f in lay.fields if f.target == "lat"]
    [('breite',)]
    """
    targets = REQUIRED_COLUMNS + STATIC_COLUMNS
    mapping = dict(columns or {})
    bad = sorted(str(v) for v in mapping.values() if v not in targets)
    if bad:
        raise ValueError(
            f"columns= maps to unknown canonical column(s) {', '.join(bad)}; "
            f"expected some of {', '.join(targets)}"
        )
    dup = sorted({v for v in mapping.values() if list(mapping.values()).count(v) > 1})
    if dup:
        raise ValueError(f"columns= maps several source columns to {', '.join(dup)}")
    by_target = {v: normalise_name(k) for k, v in mapping.items()}
    fields = []
    for col in targets:
        if col in by_target:
            names: tuple[str, ...] = (by_target[col],)
            display = next(k for k, v in mapping.items() if v == col)
        else:
            names = (col, *GENERIC_ALIASES.get(col, ()))
            display = col
        required = col in ("mmsi", "timestamp", "lat", "lon")
        fields.append(Field(col, names, _kind_for(col), required, display))
    return Layout("csv", tuple(fields))


def select_fields(layout: Layout, usecols: Iterable[str] | None) -> Layout:
    """``layout`` restricted to the canonical columns ``usecols`` (column projection).

    The required fields (``mmsi``, ``timestamp``, ``lat``, ``lon``) and the inputs of a
    layout hook (targets starting with ``_``) are always kept.

    Examples
    --------
    >>> [f.target for f in select_fields(generic_layout(), ["sog_kn"]).fields]
    ['mmsi', 'timestamp', 'lat', 'lon', 'sog_kn']
    """
    if usecols is None:
        return layout
    keep = set(usecols) | {"mmsi", "timestamp", "lat", "lon"}
    fields = tuple(f for f in layout.fields if f.target in keep or f.target.startswith("_"))
    return Layout(layout.name, fields, layout.timestamp_formats, layout.finish)


# ---------------------------------------------------------------------------------------
# the CSV engine


class _Restart(Exception):
    """Internal: read the file again with other options."""

    def __init__(self, **changes: Any) -> None:
        super().__init__(str(changes))
        self.changes = changes


@dataclass
class _Options:
    delimiter: str = ","
    encoding: str = "utf8"
    decimal_comma: bool = False
    text_only: bool = False  # read every column as text (after a conversion error)
    use_threads: bool = True
    text_dictionary: bool = False  # text columns dictionary-encoded (see convert_columns)
    block_size: int = _BLOCK_SIZE  # bytes of text per record batch
    whole: bool = False  # parse the whole file at once, multi-threaded


_TYPED = {"mmsi": pa.int64(), "float": pa.float64(), "int16": pa.int16(), "int32": pa.int32()}


class _RowCounter:
    """Assign 1-based data-row numbers to kept rows, skipping rows pyarrow rejected.

    ``invalid`` is the list the invalid-row handler appends to, in file order (the
    reader is serial whenever rows are rejected); pyarrow numbers rows from 1 with the
    header as row 1 and blank lines not counted, so data row = number - 1.
    """

    def __init__(self, invalid: list[tuple[int | None, int, int, str]]) -> None:
        self.consumed = 0
        self.invalid = invalid
        self._next = 0

    def rows_for(self, n: int) -> np.ndarray:
        start = self.consumed + 1
        end = start + n - 1
        skipped: list[int] = []
        while self._next < len(self.invalid):
            number = self.invalid[self._next][0]
            if number is None:
                self._next += 1
                continue
            v = number - 1
            if v > end:
                break
            if v >= start:
                skipped.append(v)
                end += 1
            self._next += 1
        rows = np.arange(start, end + 1, dtype=np.int64)
        if skipped:
            rows = np.delete(rows, np.asarray(skipped, dtype=np.int64) - start)
        self.consumed = end
        return rows


def read_delimited(
    src: SourceFile,
    layout: Layout,
    header: Sequence[str],
    *,
    delimiter: str = ",",
    encoding: str = "utf8",
    decimal_comma: bool = False,
    errors: str = "ledger",
    text_dictionary: bool = False,
    block_size: int = _BLOCK_SIZE,
    whole: bool = False,
) -> Loaded:
    """Read one delimited-text file with ``layout``.

    Parameters
    ----------
    src : SourceFile
        The file (or archive member).
    layout : Layout
        The format's columns and converters.
    header : sequence of str
        Column names as found in the file's first line.
    delimiter : str
        Field separator.
    encoding : str
        ``"utf8"`` or another codec name for pyarrow to transcode from.
    decimal_comma : bool
        Numbers are written with a decimal comma (``57,8794``).
    errors : {"ledger", "raise"}
        What to do with rows that have the wrong number of fields: put them in the
        ledger as ``unparseable_row`` or raise :class:`InputError`.
    text_dictionary : bool, default False
        Read the text columns dictionary-encoded and give them as
        :data:`TEXT_DICTIONARY` staging columns (see :func:`convert_columns`).
    block_size : int, default 4 MiB
        Bytes of text per record batch. Larger blocks cost less per row (fewer batches
        to convert) and hold more memory per batch.
    whole : bool, default False
        Parse the whole file at once with pyarrow's multi-threaded reader
        (:func:`pyarrow.csv.read_csv`; the streaming reader is single-threaded), then
        convert it batch by batch. Faster; holds the file's parsed columns in memory.
        Files with rows of the wrong width are read again serially (for their row
        numbers), as they are without it.

    Returns
    -------
    Loaded
        Staging table with ``source_row``, and the loader's ledger.

    Raises
    ------
    MissingColumnError, UnreadableFileError, InputError

    Examples
    --------
    >>> from caspian_ais.io.sources import resolve_sources
    >>> src = resolve_sources("positions.csv")[0]                     # doctest: +SKIP
    >>> loaded = read_delimited(src, generic_layout(), ["mmsi", "timestamp", "lat", "lon"])
    ... # doctest: +SKIP
    >>> loaded.table.column_names                                     # doctest: +SKIP
    ['mmsi', 'timestamp', 'lat', 'lon', 'source_row']
    """
    plan = match_columns(layout, header, src.label)
    opts = _Options(delimiter, encoding, decimal_comma, use_threads=errors != "raise",
                    text_dictionary=text_dictionary, block_size=block_size, whole=whole)
    for _ in range(6):
        try:
            return _scan(src, layout, plan, opts, errors)
        except _Restart as again:
            for k, v in again.changes.items():
                setattr(opts, k, v)
    raise UnreadableFileError(src.label, "cannot read the file with any reader setting")


def iter_delimited(
    src: SourceFile,
    layout: Layout,
    header: Sequence[str],
    *,
    delimiter: str = ",",
    encoding: str = "utf8",
    decimal_comma: bool = False,
    errors: str = "ledger",
    text_dictionary: bool = False,
    block_size: int = _BLOCK_SIZE,
    whole: bool = False,
) -> Iterator[tuple[str, Any]]:
    """Stream one delimited-text file: the batch-level entry point of :func:`read_delimited`.

    Yields ``(kind, payload)`` pairs:

    ``("batch", pyarrow.Table)``
        Staging columns of one record batch (as :func:`read_delimited`'s table) with
        ``source_row``.
    ``("restart", None)``
        The reader must start the file again with other settings (a conversion error,
        a non-UTF-8 byte late in the file): discard every batch yielded so far.
    ``("ledger", pandas.DataFrame or None)``
        Last item: the rows the loader rejected in the whole file, in the order
        :func:`read_delimited` gives them.

    Concatenating the batches after the last ``restart`` gives exactly
    :func:`read_delimited`'s table. ``text_dictionary``, ``block_size`` and ``whole``
    are :func:`read_delimited`'s.
    """
    plan = match_columns(layout, header, src.label)
    opts = _Options(delimiter, encoding, decimal_comma, use_threads=errors != "raise",
                    text_dictionary=text_dictionary, block_size=block_size, whole=whole)
    for _ in range(6):
        try:
            yield from _scan_iter(src, layout, plan, opts, errors)
            return
        except _Restart as again:
            for k, v in again.changes.items():
                setattr(opts, k, v)
            yield ("restart", None)
    raise UnreadableFileError(src.label, "cannot read the file with any reader setting")


def _scan(src: SourceFile, layout: Layout, plan: list[tuple[str, Field]], opts: _Options,
          errors: str) -> Loaded:
    tables: list[pa.Table] = []
    ledger: pd.DataFrame | None = None
    for kind, payload in _scan_iter(src, layout, plan, opts, errors):
        if kind == "batch":
            tables.append(payload)
        else:
            ledger = payload
    if not tables:
        return Loaded(_assemble({}, [], plan, opts.text_dictionary), ledger)
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return Loaded(table, ledger)


def _scan_iter(src: SourceFile, layout: Layout, plan: list[tuple[str, Field]],
               opts: _Options, errors: str) -> Iterator[tuple[str, Any]]:
    invalid: list[tuple[int | None, int, int, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.expected_columns, row.actual_columns, row.text))
        return "error" if errors == "raise" else "skip"

    include = [actual for actual, _ in plan]
    types = {actual: _csv_type(f.kind, opts) for actual, f in plan}
    read_options = pacsv.ReadOptions(use_threads=opts.use_threads, block_size=opts.block_size,
                                     encoding=opts.encoding)
    parse_options = pacsv.ParseOptions(delimiter=opts.delimiter, invalid_row_handler=on_invalid)
    # null markers make typed (numeric) columns null in the reader; text columns are read
    # verbatim, and the markers are applied below to every column but the "str" ones
    convert_options = pacsv.ConvertOptions(
        include_columns=include, column_types=types, null_values=NULL_VALUES,
        strings_can_be_null=False, quoted_strings_can_be_null=False,
        decimal_point="," if opts.decimal_comma else ".",
    )
    # (timestamps: parse_timestamps blanks them, after its fast path)
    marked = [actual for actual, f in plan if f.kind not in ("str", "timestamp")
              and types[actual] not in _TYPED.values()]
    counter = _RowCounter(invalid)
    rejected: list[tuple[pa.Table, str, np.ndarray | str]] = []
    try:
        with src.open() as fh:
            if opts.whole and opts.use_threads:
                # pyarrow's multi-threaded reader (open_csv is always single-threaded);
                # its blocks are then converted one by one, each freed once converted
                reader: Iterable[pa.RecordBatch] = _popping(pacsv.read_csv(
                    fh, read_options=read_options, parse_options=parse_options,
                    convert_options=convert_options).to_batches())
            else:
                reader = pacsv.open_csv(fh, read_options=read_options,
                                        parse_options=parse_options,
                                        convert_options=convert_options)
            for batch in reader:
                if invalid and invalid[0][0] is None:
                    if opts.use_threads:
                        raise _Restart(use_threads=False)
                rows = counter.rows_for(batch.num_rows)
                source = {name: batch.column(name) for name in batch.schema.names}
                for actual in marked:
                    source[actual] = blank_null_markers(source[actual])
                if opts.text_only and opts.decimal_comma:
                    for actual, f in plan:
                        if f.kind in _TYPED:
                            source[actual] = pc.replace_substring(source[actual], ",", ".")
                cols = convert_columns(source, plan, layout.timestamp_formats,
                                       text_dictionary=opts.text_dictionary)
                if layout.finish is not None:
                    cols, rejections = layout.finish(cols)
                    cols, rows = _apply_rejections(cols, rows, rejections, rejected)
                chunks = {k: [v] for k, v in cols.items() if not k.startswith("_")}
                yield ("batch", _assemble(chunks, [rows], plan, opts.text_dictionary))
    except _Restart:
        raise
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if invalid and errors == "raise":
            number, n_expected, n_actual, text = invalid[0]
            where = f"row {number - 1}" if number is not None else "a row"
            raise InputError(src.label, f"{where}: expected {n_expected} fields, got "
                                        f"{n_actual}: {text[:120]!r}") from exc
        if "conversion error" in msg.lower() and not opts.text_only:
            raise _Restart(text_only=True) from exc
        if "utf8" in msg.lower() and opts.encoding == "utf8":
            raise _Restart(encoding="latin-1") from exc
        if "empty csv" in msg.lower():
            raise InputError(src.label, "file is empty, expected a header") from exc
        raise UnreadableFileError(src.label, f"cannot parse as delimited text: "
                                             f"{msg.splitlines()[0]}") from exc
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise decompression_error(src, exc) from exc
    if invalid and invalid[0][0] is None and opts.use_threads:
        raise _Restart(use_threads=False)
    yield ("ledger", _ledger(src.label, invalid, rejected))


def _popping(batches: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Yield the batches in order, dropping the list's reference to each one."""
    batches.reverse()
    while batches:
        yield batches.pop()


def _apply_rejections(
    cols: dict[str, pa.Array], rows: np.ndarray, rejections: Iterable[Rejection],
    sink: list[tuple[pa.Table, str, np.ndarray | str]],
) -> tuple[dict[str, pa.Array], np.ndarray]:
    drop = np.zeros(len(rows), dtype=bool)
    for r in rejections:
        mask = r.mask & ~drop
        if not mask.any():
            continue
        picked = pa.array(mask)
        part: dict[str, pa.Array] = {
            c: pc.filter(cols[c], picked) for c in ("mmsi", "timestamp", "lat", "lon")
            if c in cols}
        part["source_row"] = pa.array(rows[mask])
        detail = r.detail if isinstance(r.detail, str) else np.asarray(r.detail)[mask]
        sink.append((pa.table(part), r.reason, detail))
        drop |= mask
    if not drop.any():
        return cols, rows
    keep = pa.array(~drop)
    return {k: pc.filter(v, keep) for k, v in cols.items()}, rows[~drop]


def empty_staging(layout: Layout, header: Sequence[str], label: str, *,
                  text_dictionary: bool = False) -> pa.Table:
    """The staging table (no rows) of a file with ``header`` read with ``layout``."""
    return _assemble({}, [], match_columns(layout, header, label), text_dictionary)


def _csv_type(kind: str, opts: _Options) -> pa.DataType:
    """The type the CSV reader gives a column of a field of ``kind``."""
    if opts.text_dictionary and kind in ("str", "class", "imo"):
        return TEXT_DICTIONARY
    if opts.text_only:
        return pa.string()
    return _TYPED.get(kind, pa.string())


def _assemble(chunks: dict[str, list[pa.Array]], rows_chunks: list[np.ndarray],
              plan: Sequence[tuple[str, Field]], text_dictionary: bool = False) -> pa.Table:
    data: dict[str, pa.ChunkedArray] = {}
    targets = [f.target for _, f in plan if not f.target.startswith("_")]
    for k in dict.fromkeys(list(chunks) + targets):
        if k.startswith("_") or k not in STAGING_TYPES:
            continue
        typ = staging_type(k, text_dictionary)
        parts = chunks.get(k, [])
        if typ == TEXT_DICTIONARY:  # a layout hook may give plain text (DMA ais_class)
            parts = [as_dictionary(a) for a in parts]
        data[k] = pa.chunked_array(parts, type=typ)
    rows = np.concatenate(rows_chunks) if rows_chunks else np.zeros(0, dtype=np.int64)
    data["source_row"] = pa.chunked_array([rows], type=pa.int64())
    return pa.table(data)


def _ledger(label: str, invalid: list[tuple[int | None, int, int, str]],
            rejected: list[tuple[pa.Table, str, np.ndarray | str]]) -> pd.DataFrame | None:
    parts: list[pd.DataFrame] = []
    if invalid:
        rows = pd.DataFrame({"source_row": [None if n is None else n - 1 for n, *_ in invalid]})
        texts = [f"expected {e} fields, got {a}: {t[:200]}" for _, e, a, t in invalid]
        parts.append(make_ledger(rows, "unparseable_row", np.asarray(texts, dtype=object),
                                 source_file=label))
    for table, reason, detail in rejected:
        parts.append(make_ledger(table.to_pandas(), reason, detail, source_file=label))
    if not parts:
        return None
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


# ---------------------------------------------------------------------------------------
# Parquet and GeoParquet


def _parquet_file(src: SourceFile, read_dictionary: Sequence[str] | None = None,
                  metadata: pq.FileMetaData | None = None) -> pq.ParquetFile:
    """Open a Parquet file (``read_dictionary``: columns to read dictionary-encoded).

    ``pre_buffer`` is off: it fetches the compressed column chunks of every row group
    ahead, which helps remote storage but on a local file only holds the whole file's
    compressed columns in memory (and costs more page faults than it saves reads).
    """
    try:
        if src.is_plain:
            return pq.ParquetFile(src.path, read_dictionary=read_dictionary, metadata=metadata,
                                  pre_buffer=False)
        return pq.ParquetFile(pa.BufferReader(src.read_all()), read_dictionary=read_dictionary,
                              metadata=metadata, pre_buffer=False)
    except InputError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFileError(
            src.label, f"cannot read Parquet ({str(exc).splitlines()[0]}); the file is "
                       "probably truncated or corrupt, expected a complete Parquet file") from exc


def geo_metadata(schema: pa.Schema) -> dict[str, Any] | None:
    """Return the decoded GeoParquet ``geo`` metadata of a schema, or ``None``.

    Parameters
    ----------
    schema : pyarrow.Schema

    Returns
    -------
    dict or None

    Examples
    --------
    >>> import pyarrow as pa
    >>> geo_metadata(pa.schema([("x", pa.int8())], metadata={"geo": '{"version": "1.1.0"}'}))
    {'version': '1.1.0'}
    """
    import json

    meta = schema.metadata or {}
    raw = meta.get(b"geo")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_parquet(
    src: SourceFile, columns: Mapping[str, str] | None = None, *, geo: bool | None = None,
    usecols: Iterable[str] | None = None, text_dictionary: bool = False,
) -> Loaded:
    """Read a Parquet or GeoParquet file with canonical (or mapped) column names.

    Only the needed columns are read (column projection). For GeoParquet, ``lon``/``lat``
    come from the primary point geometry (WKB or native point encoding), decoded
    vectorised; coordinates in another CRS are transformed to WGS84 with pyproj.

    Parameters
    ----------
    src : SourceFile
        The file.
    columns : mapping of str to str, optional
        ``{source_name: canonical_name}``, as in :func:`generic_layout`.
    geo : bool, optional
        Take positions from the geometry column. Default: when the file has GeoParquet
        metadata and no ``lat``/``lon`` columns of its own.
    usecols : iterable of str, optional
        Read only these canonical columns (and the required ones); see
        :func:`select_fields`.
    text_dictionary : bool, default False
        Read the text columns dictionary-encoded (Parquet ``read_dictionary``: no
        string per row is built) and give them as :data:`TEXT_DICTIONARY` staging
        columns.

    Returns
    -------
    Loaded

    Examples
    --------
    >>> from caspian_ais.io.sources import resolve_sources
    >>> loaded = read_parquet(resolve_sources("tracks.parquet")[0])  # doctest: +SKIP
    >>> loaded.table.num_rows                                        # doctest: +SKIP
    1000000
    """
    tables = list(iter_parquet(src, columns, geo=geo, usecols=usecols, whole=True,
                               text_dictionary=text_dictionary))
    return Loaded(tables[0] if len(tables) == 1 else pa.concat_tables(tables))


def iter_parquet(
    src: SourceFile, columns: Mapping[str, str] | None = None, *, geo: bool | None = None,
    batch_rows: int = _PARQUET_BATCH_ROWS, usecols: Iterable[str] | None = None,
    whole: bool = False, text_dictionary: bool = False,
) -> Iterator[pa.Table]:
    """Stream a Parquet or GeoParquet file as staging tables: :func:`read_parquet` by batch.

    Yields one staging table (with ``source_row``) per record batch of at most
    ``batch_rows`` rows; an empty file yields one empty table. Concatenated, the tables
    are :func:`read_parquet`'s. With ``whole=True`` the file is decoded at once (row
    groups and columns in parallel) and converted batch by batch.
    ``text_dictionary`` is :func:`read_parquet`'s.
    """
    staged = open_parquet(src, columns, geo=geo, usecols=usecols,
                          text_dictionary=text_dictionary)
    yield from staged.batches(batch_rows, whole=whole)


def open_parquet(
    src: SourceFile, columns: Mapping[str, str] | None = None, *, geo: bool | None = None,
    usecols: Iterable[str] | None = None, text_dictionary: bool = False,
) -> ParquetStaging:
    """Open a Parquet or GeoParquet file and plan its staging columns; decode nothing yet.

    The footer is read and the columns are matched now (so a corrupt footer or a missing
    required column fails here); :meth:`ParquetStaging.batches` decodes the data.
    Parameters as for :func:`read_parquet`.
    """
    layout = select_fields(generic_layout(columns), usecols)
    pf = _parquet_file(src)
    schema = pf.schema_arrow
    names = list(schema.names)
    meta = geo_metadata(schema)
    geom_col = None
    if meta is not None or geo:
        geom_col = (meta or {}).get("primary_column") or ("geometry" if "geometry" in names
                                                           else None)
        if geom_col not in names:
            if geo:
                raise FormatDetectionError(src.label, "no geometry column found, expected "
                                                      "GeoParquet with a point geometry")
            geom_col = None
    use_geo = geom_col is not None and (geo or not _has_latlon(layout, names))
    if use_geo:
        fields = tuple(f for f in layout.fields if f.target not in ("lat", "lon"))
        layout = Layout(layout.name, fields)
    plan = match_columns(layout, names, src.label)
    as_dict: list[str] = []
    if text_dictionary:  # decode each distinct value once, not once per row
        as_dict = [actual for actual, f in plan if f.kind in ("str", "class", "imo")
                   and (pa.types.is_string(schema.field(actual).type)
                        or pa.types.is_large_string(schema.field(actual).type))]
    col_meta = ((meta or {}).get("columns") or {}).get(geom_col, {}) if geom_col else {}
    metadata = pf.metadata
    pf.close()  # reopened to decode: many files planned at once hold no handle or buffer
    return ParquetStaging(src, metadata, plan, geom_col if use_geo else None, col_meta,
                          text_dictionary, as_dict)


@dataclass
class ParquetStaging:
    """A Parquet file planned by :func:`open_parquet`: its rows, staging columns, batches."""

    src: SourceFile
    metadata: pq.FileMetaData
    plan: list[tuple[str, Field]]
    geom_col: str | None
    col_meta: Mapping[str, Any]
    text_dictionary: bool = False
    read_dictionary: list[str] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        """Rows in the file (from the footer)."""
        return int(self.metadata.num_rows)

    @property
    def columns(self) -> list[str]:
        """Names of the staging columns, ``source_row`` included."""
        targets = [f.target for _, f in self.plan] + (["lon", "lat"] if self.geom_col else [])
        return [k for k in dict.fromkeys(targets) if k in STAGING_TYPES] + ["source_row"]

    def _staging(self, data: dict[str, pa.Array], first_row: int, n_rows: int) -> pa.Table:
        out: dict[str, pa.ChunkedArray] = {
            k: pa.chunked_array([data[k]] if k in data else [],
                                type=staging_type(k, self.text_dictionary))
            for k in self.columns if k != "source_row"}
        out["source_row"] = pa.chunked_array(
            [np.arange(first_row, first_row + n_rows, dtype=np.int64)])
        return pa.table(out)

    def _wanted(self) -> list[str]:
        return [actual for actual, _ in self.plan] + ([self.geom_col] if self.geom_col else [])

    def _convert(self, batch: pa.RecordBatch | pa.Table, first_row: int) -> pa.Table:
        """One decoded batch as a staging table whose first row is number ``first_row``."""
        data = convert_columns({nm: batch.column(nm) for nm in batch.schema.names},
                               self.plan, ISO_FORMATS, text_dictionary=self.text_dictionary)
        if self.geom_col:
            data["lon"], data["lat"] = point_coordinates(
                batch.column(self.geom_col), self.col_meta, self.src.label)
        return self._staging(data, first_row, batch.num_rows)

    def _corrupt(self, exc: BaseException) -> UnreadableFileError:
        return UnreadableFileError(self.src.label, f"cannot read Parquet data ({exc}); the "
                                                   "file is probably truncated or corrupt")

    def batches(self, batch_rows: int = _PARQUET_BATCH_ROWS, *,
                whole: bool = False) -> Iterator[pa.Table]:
        """Decode the file as staging tables of at most ``batch_rows`` rows (see
        :func:`iter_parquet`)."""
        wanted = self._wanted()
        pf = _parquet_file(self.src, self.read_dictionary or None, metadata=self.metadata)
        n = 0
        try:
            # batch by batch: only one raw batch is held besides the converted columns
            batches = (pf.read(columns=wanted, use_threads=True).to_batches(batch_rows)
                       if whole else
                       pf.iter_batches(batch_size=batch_rows, columns=wanted,
                                       use_threads=True))
            for batch in batches:
                yield self._convert(batch, n + 1)
                n += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise self._corrupt(exc) from exc
        finally:
            pf.close()
        if n == 0:
            yield self._staging({}, 1, 0)

    def decode_row_groups(self, sink: Callable[[pa.Table, int], None], *,
                          threads: int) -> bool:
        """Decode the file on ``threads`` threads, one row group per task.

        Each staging table goes to ``sink(table, offset)`` (``offset``: the file's row
        index of its first row), called on the decoding threads in no particular order.
        Decoding, conversion and the sink's copies of whole row groups run in parallel,
        where :meth:`batches` decodes one batch at a time (columns in parallel).

        Parameters
        ----------
        sink : callable
            Called once per row group; must be safe to call from several threads at once
            for disjoint row ranges.
        threads : int
            Decoding threads (at most one per row group).

        Returns
        -------
        bool
            ``False``, with nothing decoded, when the file has no rows, a single row group,
            a row group larger than :data:`PARALLEL_MAX_GROUP_ROWS` (memory: each
            thread holds one decoded row group), or is inside an archive or compressed;
            use :meth:`batches` then.
        """
        md = self.metadata
        sizes = np.array([md.row_group(i).num_rows for i in range(md.num_row_groups)],
                         dtype=np.int64)
        if (threads < 2 or sizes.size < 2 or int(sizes.max()) > PARALLEL_MAX_GROUP_ROWS
                or not self.src.is_plain):  # a compressed member would be read per thread
            return False
        offsets = np.r_[0, np.cumsum(sizes)[:-1]].tolist()
        wanted = self._wanted()
        next_group = iter(range(sizes.size))  # shared by the threads, under `lock`
        stop = threading.Event()
        lock = threading.Lock()

        def work() -> None:
            pf = _parquet_file(self.src, self.read_dictionary or None, metadata=md)
            try:
                while not stop.is_set():
                    with lock:
                        i = next(next_group, None)
                    if i is None:
                        return
                    table = pf.read_row_group(i, columns=wanted, use_threads=False)
                    sink(self._convert(table, offsets[i] + 1), offsets[i])
            except BaseException:
                stop.set()
                raise
            finally:
                pf.close()

        with ThreadPoolExecutor(max_workers=min(threads, sizes.size),
                                thread_name_prefix="caspian_ais-parquet") as pool:
            futures = [pool.submit(work) for _ in range(min(threads, sizes.size))]
        try:
            for f in futures:
                f.result()
        except (pa.ArrowException, OSError) as exc:
            raise self._corrupt(exc) from exc
        return True


def _has_latlon(layout: Layout, names: Sequence[str]) -> bool:
    norm = {normalise_name(n) for n in names}
    need = [f for f in layout.fields if f.target in ("lat", "lon")]
    return all(any(n in norm for n in f.names) for f in need)


def point_coordinates(
    geom: pa.ChunkedArray | pa.Array, col_meta: Mapping[str, Any], label: str
) -> tuple[pa.Array, pa.Array]:
    """Return (lon, lat) float64 arrays from a GeoParquet point geometry column.

    WKB points are decoded with numpy when every value is a 2-D little-endian point
    (21 bytes); other WKB goes through :func:`shapely.from_wkb`. Non-point geometries
    give missing coordinates. Native GeoArrow points (struct of x/y) are read directly.

    Parameters
    ----------
    geom : pyarrow.Array or ChunkedArray
        The geometry column.
    col_meta : mapping
        The column's entry of the ``geo`` metadata (for its ``crs``).
    label : str
        The file, for error messages.

    Returns
    -------
    (pyarrow.Array, pyarrow.Array)
        Longitude and latitude, float64, WGS84.

    Examples
    --------
    >>> import pyarrow as pa, shapely
    >>> wkb = pa.array([shapely.to_wkb(shapely.Point(50.0, 45.0))])
    >>> [a.to_pylist() for a in point_coordinates(wkb, {}, "f")]
    [[50.0], [45.0]]
    """
    if isinstance(geom, pa.ChunkedArray):
        geom = geom.combine_chunks()
    t = geom.type
    if pa.types.is_struct(t):
        x = to_float(geom.field("x"))
        y = to_float(geom.field("y"))
        if geom.null_count:
            x = pc.if_else(geom.is_valid(), x, pa.scalar(None, pa.float64()))
            y = pc.if_else(geom.is_valid(), y, pa.scalar(None, pa.float64()))
        xs, ys = x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False)
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        xs, ys = _wkb_points(geom)
    else:
        raise FormatDetectionError(label, f"geometry column has type {t}, expected WKB or "
                                          "GeoArrow points")
    xs, ys = _to_wgs84(xs, ys, col_meta.get("crs", "OGC:CRS84"), label)
    return (pa.array(xs, type=pa.float64(), from_pandas=True),
            pa.array(ys, type=pa.float64(), from_pandas=True))


def _wkb_points(geom: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    n = len(geom)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    lengths = pc.binary_length(geom).to_numpy(zero_copy_only=False)
    if geom.null_count == 0 and np.all(lengths == 21):
        offsets_buf, data_buf = geom.buffers()[1], geom.buffers()[2]
        off_type = np.int64 if pa.types.is_large_binary(geom.type) else np.int32
        offsets = np.frombuffer(offsets_buf, dtype=off_type)[geom.offset:geom.offset + n + 1]
        raw = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]].reshape(n, 21)
        if np.all(raw[:, 0] == 1) and np.all(raw[:, 1:5].view("<u4")[:, 0] == 1):
            xy = raw[:, 5:21].copy().view("<f8")
            return xy[:, 0].copy(), xy[:, 1].copy()
    import shapely

    geoms = shapely.from_wkb(geom.to_numpy(zero_copy_only=False), on_invalid="ignore")
    is_point = shapely.get_type_id(geoms) == 0
    xs = np.where(is_point, shapely.get_x(np.where(is_point, geoms, None)), np.nan)
    ys = np.where(is_point, shapely.get_y(np.where(is_point, geoms, None)), np.nan)
    return xs.astype("float64"), ys.astype("float64")


def _to_wgs84(xs: np.ndarray, ys: np.ndarray, crs: Any, label: str) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    if crs is None or _is_wgs84(crs):
        return xs, ys
    try:
        from pyproj import CRS, Transformer

        source = CRS.from_user_input(crs)
        tr = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    except Exception as exc:  # pyproj missing or CRS not understood
        raise FormatDetectionError(label, f"cannot interpret the geometry CRS ({exc}); "
                                          "expected WGS84 longitude/latitude") from exc
    lon, lat = tr.transform(xs, ys)
    return np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")


def _is_wgs84(crs: Any) -> bool:
    if isinstance(crs, str):
        return crs.upper().replace(" ", "") in ("OGC:CRS84", "EPSG:4326", "CRS84", "WGS84")
    if isinstance(crs, dict):
        ident = crs.get("id") or {}
        auth, code = str(ident.get("authority", "")).upper(), str(ident.get("code", ""))
        return (auth, code) in (("EPSG", "4326"), ("OGC", "CRS84"))
    return False

