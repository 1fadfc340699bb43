"""Flag state from an MMSI's Maritime Identification Digits (MID).

The MID table is the ITU's full list (``caspian_ais/data/mid.csv``: ``mid``,
``iso2``, ``country``), not only the Caspian states. Ship-station MMSIs have the form
``MIDXXXXXX``; other station kinds embed the MID elsewhere (``0MIDXXXXX`` group,
``00MIDXXXX`` coast station, ``111MIDXXX`` SAR aircraft, ``98MIDXXXX`` craft
associated with a parent ship, ``99MIDXXXX`` aid to navigation). ITU-R M.585.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from caspian_ais._compat import STRING_DTYPE

__all__ = ["mid_table", "mid_of", "flag_state_from_mmsi", "flag_state_arrow", "is_ship_mmsi"]


@lru_cache(maxsize=1)
def mid_table() -> pd.DataFrame:
    """Return the ITU MID table as a DataFrame with ``mid``, ``iso2``, ``country``.

    The frame is cached: copy it before modifying it.
    """
    path = files("caspian_ais").joinpath("data/mid.csv")
    with path.open("r", encoding="utf-8") as fh:
        t = pd.read_csv(
            fh,
            comment="#",
            dtype={"mid": "int64", "iso2": str, "country": str},
            keep_default_na=False,
        )
    return t


@lru_cache(maxsize=1)
def _lookup() -> tuple[np.ndarray, np.ndarray]:
    t = mid_table()
    codes = np.array([None, *sorted(set(t["iso2"]))], dtype=object)
    index = {c: i for i, c in enumerate(codes)}
    lut = np.zeros(1000, dtype=np.int16)
    lut[t["mid"].to_numpy()] = [index[c] for c in t["iso2"]]
    return lut, codes


def mid_of(mmsi: npt.ArrayLike) -> np.ndarray:
    """Return the MID embedded in each MMSI (0 where the MMSI carries none).

    Parameters
    ----------
    mmsi : array-like of int

    Returns
    -------
    numpy.ndarray of int64
    """
    m = np.asarray(mmsi, dtype="int64")
    mid = np.zeros(m.shape, dtype="int64")
    ship = (m >= 200_000_000) & (m <= 799_999_999)
    mid[ship] = m[ship] // 1_000_000
    sar = (m >= 111_000_000) & (m <= 111_999_999)
    mid[sar] = (m[sar] // 1_000) % 1000
    child = (m >= 980_000_000) & (m <= 999_999_999)
    mid[child] = (m[child] // 10_000) % 1000
    group = (m >= 10_000_000) & (m <= 99_999_999)  # 0MIDXXXXX
    mid[group] = m[group] // 100_000
    coast = (m >= 1_000_000) & (m <= 9_999_999)  # 00MIDXXXX
    mid[coast] = m[coast] // 10_000
    return mid


def flag_state_from_mmsi(mmsi: npt.ArrayLike) -> pd.Series:
    """Return the ISO 3166-1 alpha-2 flag code for each MMSI (missing when unknown).

    Parameters
    ----------
    mmsi : array-like of int

    Returns
    -------
    pandas.Series of str

    Examples
    --------
    >>> list(flag_state_from_mmsi([273123456, 422000001, 123]))
    ['RU', 'IR', nan]

    (pandas 2.2 shows ``<NA>`` for the last value.)
    """
    lut, codes = _lookup()
    index = mmsi.index if isinstance(mmsi, pd.Series) else None
    arr = np.atleast_1d(np.asarray(mmsi))
    if arr.dtype.kind in "iu":  # the canonical int64 column: no conversion
        ints = arr.astype("int64", copy=False)
    else:  # nullable or mixed input: unreadable values count as no MMSI
        values = pd.to_numeric(pd.Series(arr.astype(object)), errors="coerce")
        ints = values.fillna(-1).to_numpy(dtype="int64")
    dtype = pd.api.types.pandas_dtype(STRING_DTYPE)
    if getattr(dtype, "storage", None) != "pyarrow":  # python-backed strings (pandas < 3)
        idx = _flag_index(ints)  # 0: no flag (codes[0] is None)
        return pd.Series(codes[idx], index=index, dtype=STRING_DTYPE)
    text = flag_state_arrow(ints)
    return pd.Series(dtype.__from_arrow__(pa.chunked_array([text])), index=index, copy=False)


def flag_state_arrow(mmsi: np.ndarray) -> pa.Array:
    """:func:`flag_state_from_mmsi` of int64 MMSIs as a pyarrow ``large_string`` array.

    No Python string is made per row: the flag index of each row is gathered from the
    (cached) list of ISO codes.

    Parameters
    ----------
    mmsi : numpy.ndarray of int64

    Returns
    -------
    pyarrow.Array of large_string

    Examples
    --------
    >>> import numpy as np
    >>> flag_state_arrow(np.array([273123456, 123])).to_pylist()
    ['RU', None]
    """
    idx = _flag_index(np.asarray(mmsi, dtype=np.int64))  # 0: no flag (codes[0] is None)
    return pc.take(_code_values(), pa.array(idx, type=pa.int16()))


@lru_cache(maxsize=1)
def _code_values() -> pa.Array:
    _, codes = _lookup()
    return pa.array(list(codes), type=pa.large_string())  # first entry null


@lru_cache(maxsize=1)
def _by_leading_digits() -> np.ndarray:
    """Flag index by ``mmsi // 1_000_000 + 1`` (0..1000): -1 where the MID sits elsewhere."""
    lut, _ = _lookup()
    top = np.arange(-1, 1001)  # -1: negative MMSI, 1000: 10 digits or more
    table = np.zeros(len(top), dtype=np.int16)
    ship = (top >= 200) & (top <= 799)
    table[ship] = lut[top[ship]]
    # coast 00MID, group 0MID, SAR aircraft 111MID, craft 98MID/AtoN 99MID: see mid_of
    table[((top >= 1) & (top <= 99)) | (top == 111) | ((top >= 980) & (top <= 999))] = -1
    return table


def _flag_index(mmsi: np.ndarray) -> np.ndarray:
    """``lut[mid_of(mmsi)]`` in a few passes: ship MMSIs (almost all rows) from a table."""
    top = mmsi // 1_000_000
    np.clip(top, -1, 1000, out=top)
    top += 1
    idx = _by_leading_digits()[top]
    other = idx < 0
    if other.any():
        lut, _ = _lookup()
        idx[other] = lut[mid_of(mmsi[other])]
    return idx


def is_ship_mmsi(mmsi: npt.ArrayLike) -> np.ndarray:
    """True where the MMSI is a 9-digit ship-station identity with an allocated MID."""
    m = np.asarray(mmsi, dtype="int64")
    lut, _ = _lookup()
    ship = (m >= 200_000_000) & (m <= 799_999_999)
    mid = np.where(ship, m // 1_000_000, 0)
    return ship & (lut[mid] > 0)
