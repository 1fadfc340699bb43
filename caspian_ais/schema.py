"""The canonical AIS table: column names, dtypes, units and sentinel handling.

Every loader in :mod:`caspian_ais.io` returns this table, and every detector takes it.
See ``docs/canonical_table.md`` for the full description with units and sources.

Columns
-------
Required (always present, in this order):

========================  ========================  ==============================================
column                    dtype                     meaning
========================  ========================  ==============================================
``mmsi``                  int64                     Maritime Mobile Service Identity
``timestamp``             datetime64[ns, UTC]       time of the report, UTC
``lat``                   float64                   latitude, decimal degrees WGS84
``lon``                   float64                   longitude, decimal degrees WGS84
``sog_kn``                float64                   speed over ground, knots
``cog_deg``               float64                   course over ground, degrees true [0, 360)
``heading_deg``           float64                   true heading, degrees [0, 360)
``nav_status``            Int16 (nullable)          ITU-R M.1371 navigational status code 0-15
========================  ========================  ==============================================

Optional static fields (present when the source has them): ``imo`` (Int64), ``name``,
``callsign`` (str), ``ship_type`` (Int16, ITU code), ``length_m``, ``draught_m`` (float64),
``destination`` (str), ``ais_class`` (str, "A" or "B").

Derived: ``flag_state`` (str, ISO 3166-1 alpha-2 from the MMSI's MID; see
:mod:`caspian_ais.flags`).

Provenance (added by :func:`caspian_ais.read_ais`): ``source_file`` (category) and
``source_row`` (int64, 1-based data row or line number within the file).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from caspian_ais._compat import STRING_DTYPE
from caspian_ais.exceptions import SchemaError

__all__ = [
    "REQUIRED_COLUMNS",
    "STATIC_COLUMNS",
    "PROVENANCE_COLUMNS",
    "CANONICAL_DTYPES",
    "CANONICAL_COLUMNS",
    "SENTINELS",
    "IMO_RANGE",
    "sentinel_mask",
    "trim_text",
    "to_canonical",
    "validate",
    "empty_table",
    "timestamp_ns",
]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "mmsi",
    "timestamp",
    "lat",
    "lon",
    "sog_kn",
    "cog_deg",
    "heading_deg",
    "nav_status",
)
STATIC_COLUMNS: tuple[str, ...] = (
    "imo",
    "name",
    "callsign",
    "ship_type",
    "length_m",
    "draught_m",
    "destination",
    "ais_class",
)
DERIVED_COLUMNS: tuple[str, ...] = ("flag_state",)
PROVENANCE_COLUMNS: tuple[str, ...] = ("source_file", "source_row")
CANONICAL_COLUMNS: tuple[str, ...] = (
    REQUIRED_COLUMNS + STATIC_COLUMNS + DERIVED_COLUMNS + PROVENANCE_COLUMNS
)

CANONICAL_DTYPES: dict[str, object] = {
    "mmsi": "int64",
    "timestamp": "datetime64[ns, UTC]",
    "lat": "float64",
    "lon": "float64",
    "sog_kn": "float64",
    "cog_deg": "float64",
    "heading_deg": "float64",
    "nav_status": "Int16",
    "imo": "Int64",
    "name": STRING_DTYPE,
    "callsign": STRING_DTYPE,
    "ship_type": "Int16",
    "length_m": "float64",
    "draught_m": "float64",
    "destination": STRING_DTYPE,
    "ais_class": STRING_DTYPE,
    "flag_state": STRING_DTYPE,
    "source_file": "category",
    "source_row": "int64",
}

#: ITU-R M.1371 "not available" values. A value equal to (or, for lat/lon, beyond) the
#: sentinel becomes missing. ``lat 91`` and ``lon 181`` are the default positions.
SENTINELS: dict[str, float] = {
    "lat": 91.0,
    "lon": 181.0,
    "sog_kn": 102.3,
    "cog_deg": 360.0,
    "heading_deg": 511.0,
    "nav_status": 15.0,  # 15 = "not defined (default)"
}


#: Valid IMO numbers (7 digits); others become missing.
IMO_RANGE: tuple[int, int] = (1_000_000, 9_999_999)

# speed, course, heading: the sentinel, and anything outside [0, upper) (heading 511 and
# course 360 are "not available")
_UPPER: dict[str, float] = {"sog_kn": SENTINELS["sog_kn"], "cog_deg": 360.0,
                            "heading_deg": 360.0}


def sentinel_mask(col: str, values: np.ndarray) -> np.ndarray | None:
    """Where the float64 ``values`` of column ``col`` mean "not available".

    Speed, course and heading outside ``[0, sentinel)``, latitude 91, longitude 181,
    length and draught not above 0; NaN is never flagged. Out-of-range coordinates that
    are not sentinels are kept, so that :func:`caspian_ais.clean` can reject them as
    impossible coordinates with their real value.

    Parameters
    ----------
    col : str
        Canonical column name.
    values : numpy.ndarray of float64

    Returns
    -------
    numpy.ndarray of bool, or None
        ``None`` when the column has no sentinel rule.
    """
    with np.errstate(invalid="ignore"):
        if col in _UPPER:
            return (values < 0) | (values >= _UPPER[col])  # False for NaN
        if col in ("lat", "lon"):
            return values == SENTINELS[col]
        if col in ("length_m", "draught_m"):
            return values <= 0
    return None


def _blank(df: pd.DataFrame, col: str, bad: np.ndarray) -> None:
    """Set ``df[col]`` missing where ``bad``; no copy when nothing is bad (the usual case)."""
    if bad.any():
        v = df[col].to_numpy(dtype=np.float64, copy=True)
        v[bad] = np.nan
        df[col] = v


def _mask_sentinels(df: pd.DataFrame) -> None:
    """Replace ITU "not available" sentinels by missing values, in place."""
    for col in ("sog_kn", "cog_deg", "heading_deg", "lat", "lon", "length_m", "draught_m"):
        if col in df:
            bad = sentinel_mask(col, df[col].to_numpy(dtype=np.float64))
            if bad is not None:
                _blank(df, col, bad)
    if "imo" in df:
        imo = df["imo"]
        df["imo"] = imo.where((imo >= IMO_RANGE[0]) & (imo <= IMO_RANGE[1]))


def to_canonical(
    df: pd.DataFrame,
    *,
    source_file: str | None = None,
    mask_sentinels: bool = True,
    add_flag_state: bool = True,
) -> pd.DataFrame:
    """Coerce a frame with canonical column names to the canonical dtypes and order.

    Missing required columns are an error; missing optional columns are left out.
    Unknown columns are dropped. Values that cannot be converted become missing.

    Parameters
    ----------
    df : pandas.DataFrame
        A frame whose columns already carry canonical names. ``timestamp`` may be
        naive (taken as UTC), tz-aware (converted to UTC) or text (parsed, failures
        become ``NaT``).
    source_file : str, optional
        Name to put in ``source_file`` when the frame has no such column.
    mask_sentinels : bool, default True
        Turn AIS "not available" sentinels (lat 91, lon 181, sog 102.3, heading 511,
        cog 360) into missing values.
    add_flag_state : bool, default True
        Derive ``flag_state`` from the MMSI's MID when the column is absent.

    Returns
    -------
    pandas.DataFrame
        The canonical table, with a fresh ``RangeIndex``.

    Examples
    --------
    >>> import pandas as pd
    >>> from caspian_ais.schema import to_canonical
    >>> t = to_canonical(pd.DataFrame({"mmsi": [273123456], "timestamp": ["2022-09-01T00:00:00Z"],
    ...                               "lat": [45.0], "lon": [48.0], "heading_deg": [511]}))
    >>> bool(pd.isna(t.loc[0, "heading_deg"]))   # 511 became missing
    True
    """
    missing = [c for c in ("mmsi", "timestamp", "lat", "lon") if c not in df.columns]
    if missing:
        raise SchemaError(
            f"table lacks required column(s) {', '.join(missing)}; "
            f"has {', '.join(map(str, df.columns))}"
        )
    out: dict[str, pd.Series] = {}
    n = len(df)
    index = pd.RangeIndex(n)
    for col in CANONICAL_COLUMNS:
        dtype = CANONICAL_DTYPES[col]
        if col in df.columns:
            s = df[col]
            s = s.set_axis(index) if not s.index.equals(index) else s
            out[col] = _coerce(s, col, dtype)
        elif col in REQUIRED_COLUMNS:
            out[col] = (
                pd.Series(pd.arrays.IntegerArray(np.zeros(n, dtype=np.int16),
                                                 np.ones(n, dtype=bool)), index=index,
                          copy=False)
                if dtype == "Int16"
                else pd.Series(np.full(n, np.nan), index=index, copy=False)
            )
    result = pd.DataFrame(out, index=index, copy=False)  # no consolidation copy
    if "source_file" not in result and source_file is not None:
        result["source_file"] = (
            pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [str(source_file)])
            if n
            else pd.Categorical([], categories=[str(source_file)])
        )
    if "source_row" not in result and "source_file" in result:
        result["source_row"] = np.arange(1, n + 1, dtype=np.int64)
    if mask_sentinels:
        _mask_sentinels(result)
    if add_flag_state and "flag_state" not in result:
        from caspian_ais.flags import flag_state_from_mmsi

        result["flag_state"] = flag_state_from_mmsi(result["mmsi"].to_numpy())
    order = [c for c in CANONICAL_COLUMNS if c in result.columns]
    return result[order]


def _coerce(s: pd.Series, col: str, dtype: object) -> pd.Series:
    if col == "timestamp":
        return _to_utc(s)
    if col == "mmsi":
        if s.dtype == "int64":
            return s
        num = pd.to_numeric(s, errors="coerce")
        if num.isna().any():
            # NaN MMSIs cannot live in an int64 column: mark them -1 so clean() rejects
            # them as invalid MMSIs with their row number.
            num = num.fillna(-1)
        return num.astype("int64")
    if dtype in ("float64",):
        return pd.to_numeric(s, errors="coerce").astype("float64")
    if dtype in ("Int16", "Int64"):
        if s.dtype == dtype:
            return s
        if str(s.dtype) in ("Int8", "int8", "Int16", "int16") or (
                dtype == "Int64" and pd.api.types.is_integer_dtype(s.dtype)
                and str(s.dtype).lower() not in ("uint64",)):
            return s.astype(dtype)  # integers that fit: nothing to check
        num = pd.to_numeric(s, errors="coerce")
        num = num.where(num.isna() | (num == np.round(num)))  # non-integers are invalid
        if dtype == "Int16":
            num = num.where(num.isna() | ((num >= -32768) & (num <= 32767)))
        return num.astype(dtype)
    if dtype == "category":
        return s.astype("category")
    if dtype == "int64":  # source_row
        return s if s.dtype == "int64" else pd.to_numeric(s).astype("int64")
    # text: stripped, empty text missing
    out = s.astype(dtype)
    text_dtype = pd.api.types.pandas_dtype(dtype)
    if getattr(text_dtype, "storage", None) == "pyarrow":  # in arrow, one pass per rule
        data = pa.array(out.array)  # the arrow data itself, no copy
        chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
        cleaned = pa.chunked_array([trim_text(c) for c in chunks], type=pa.large_string())
        return pd.Series(text_dtype.__from_arrow__(cleaned), index=s.index, copy=False)
    out = out.str.strip()
    return out.where(out != "")


def trim_text(values: pa.Array) -> pa.Array:
    """The canonical text rule in arrow: whitespace stripped, empty text null.

    The same as pandas' ``str.strip()`` of arrow-backed text followed by blanking
    ``""``; returns ``large_string`` (pandas' arrow text storage).

    Examples
    --------
    >>> import pyarrow as pa
    >>> trim_text(pa.array([" NORD ", "", "  ", None])).to_pylist()
    ['NORD', None, None, None]
    """
    text = pc.utf8_trim_whitespace(pc.cast(values, pa.large_string()))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.large_string()), text)


def _to_utc(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.dt.tz_localize("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_numeric_dtype(s.dtype):
        raise SchemaError(
            "timestamp column is numeric; convert epoch values with pandas.to_datetime first"
        )
    parsed = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601")
    bad = parsed.isna() & s.notna()
    if bad.any():
        # second chance for non-ISO layouts pandas can still understand
        retry = pd.to_datetime(s[bad], errors="coerce", utc=True, format="mixed")
        parsed = parsed.where(~bad, retry)
    return parsed.astype("datetime64[ns, UTC]")


def timestamp_ns(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Return UTC timestamps as int64 nanoseconds since the epoch (NaT -> int64 min).

    A zero-copy view where the column already is ``datetime64[ns, UTC]``.
    """
    arr = ts.array if isinstance(ts, pd.Series) else ts
    if isinstance(arr.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(arr.dtype):
        dtype = arr.dtype
        unit = dtype.unit if isinstance(dtype, pd.DatetimeTZDtype) else np.datetime_data(dtype)[0]
        if unit == "ns":
            return np.asarray(arr.asi8)
        return np.asarray(pd.DatetimeIndex(arr).as_unit("ns").asi8)
    raise SchemaError(f"expected a datetime column, got {arr.dtype}")


def empty_table() -> pd.DataFrame:
    """Return an empty canonical table with the required and derived columns."""
    cols = REQUIRED_COLUMNS + DERIVED_COLUMNS
    return pd.DataFrame({c: pd.Series([], dtype=CANONICAL_DTYPES[c]) for c in cols})


def validate(df: pd.DataFrame, *, name: str = "table") -> None:
    """Check that ``df`` is a canonical AIS table; raise :class:`SchemaError` if not.

    Parameters
    ----------
    df : pandas.DataFrame
        The table to check.
    name : str
        How to call the table in the error message.
    """
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in ("mmsi", "timestamp", "lat", "lon") if c not in df.columns]
    if missing:
        raise SchemaError(f"{name} lacks required column(s) {', '.join(missing)}")
    if str(df["mmsi"].dtype) != "int64":
        raise SchemaError(f"{name}: column 'mmsi' must be int64, is {df['mmsi'].dtype}")
    ts = df["timestamp"].dtype
    if not (isinstance(ts, pd.DatetimeTZDtype) and str(ts.tz) == "UTC"):
        raise SchemaError(f"{name}: column 'timestamp' must be datetime64[ns, UTC], is {ts}")


def coerce_frame(df: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Rename columns of ``df`` with ``mapping`` (source name -> canonical name)."""
    return df.rename(columns=dict(mapping))
