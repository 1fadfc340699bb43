"""The rejected-rows ledger: every row a loader or :func:`caspian_ais.clean` drops, and why.

A ledger is a plain :class:`pandas.DataFrame` with the columns :data:`LEDGER_COLUMNS`:

``source_file``
    The file the row came from (empty when the table was built in memory).
``source_row``
    1-based data-row number in that file (CSV/Parquet), or line number (NMEA).
``mmsi``, ``timestamp``, ``lat``, ``lon``
    The row's values as far as they could be read (missing where they could not).
``reason``
    A stable machine-readable code, one of :data:`REASONS`.
``detail``
    Human-readable detail (the offending value, the implied speed, ...).

Loaders hand the rows they could not turn into canonical rows (a corrupt NMEA line, a
base-station report in a DMA file) to :func:`caspian_ais.clean` through the table's
``attrs["rejected_rows"]``; ``clean`` adds its own and returns the union.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LEDGER_COLUMNS",
    "REASONS",
    "Rejected",
    "make_ledger",
    "concat_ledgers",
    "attach_rejected",
    "rejected_of",
]

LEDGER_COLUMNS: tuple[str, ...] = (
    "source_file",
    "source_row",
    "mmsi",
    "timestamp",
    "lat",
    "lon",
    "reason",
    "detail",
)

#: Reason codes with their meaning. Codes are a public contract: add, never rename.
REASONS: dict[str, str] = {
    "unparseable_timestamp": "the timestamp is missing or could not be parsed",
    "missing_position": "latitude or longitude is missing or 'not available' (lat 91 / lon 181)",
    "impossible_coordinates": "latitude outside [-90, 90] or longitude outside [-180, 180]",
    "invalid_mmsi": "MMSI missing, malformed, or with a MID the ITU has not allocated",
    "non_vessel_mmsi": "a valid MMSI of a base station, aid to navigation or SAR aircraft",
    "duplicate": "exact duplicate of an earlier row (same MMSI, time, position, speed, course)",
    "position_jump": "the position implies more than the maximum speed from the previous one",
    "corrupt_nmea": "NMEA sentence with a bad checksum, bad framing or undecodable payload",
    "incomplete_nmea": "multi-fragment NMEA message with fragments missing",
    "base_station": "report from a base station or other non-vessel transmitter",
    "unparseable_row": "the row does not have the fields its format requires",
}


class Rejected(dict):
    """Rows a loader rejected, carried in ``DataFrame.attrs``.

    pandas deep-copies ``attrs`` on most operations; this holder makes that copy free
    (it returns itself) so that a large ledger does not slow the hot path.

    It is an (empty) ``dict`` only so that ``json.dumps(df.attrs)`` works: pandas does
    that in ``DataFrame.to_parquet``, which otherwise fails on a table carrying a ledger
    (the ledger itself is not written). Equality stays identity, so that ``pd.concat``
    does not take one table's ledger for another's.
    """

    __slots__ = ("frame",)
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__  # type: ignore[assignment]

    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__()
        self.frame = frame

    def __deepcopy__(self, memo: dict[int, Any]) -> Rejected:
        return self

    def __copy__(self) -> Rejected:
        return self

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"<Rejected: {len(self.frame)} rows>"


def make_ledger(
    rows: pd.DataFrame | None = None,
    reason: str | np.ndarray | pd.Series | None = None,
    detail: str | np.ndarray | pd.Series | None = None,
    *,
    source_file: str | None = None,
) -> pd.DataFrame:
    """Build a ledger from (a subset of) a canonical table or from loose records.

    Parameters
    ----------
    rows : pandas.DataFrame, optional
        Rows with any of the ledger's value columns (``source_file``, ``source_row``,
        ``mmsi``, ``timestamp``, ``lat``, ``lon``). Missing columns become missing values.
    reason : str or array-like
        One code of :data:`REASONS`, or one per row.
    detail : str or array-like, optional
        Free text, one for all rows or one per row.
    source_file : str, optional
        Used when ``rows`` has no ``source_file`` column.

    Returns
    -------
    pandas.DataFrame
        A ledger with exactly :data:`LEDGER_COLUMNS`.
    """
    if rows is None:
        rows = pd.DataFrame()
    n = len(rows)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    if "source_file" in rows:
        out["source_file"] = rows["source_file"].astype(str).to_numpy()
    else:
        out["source_file"] = np.full(n, source_file or "", dtype=object)
    out["source_row"] = (
        pd.array(rows["source_row"].to_numpy(), dtype="Int64")
        if "source_row" in rows
        else pd.array([pd.NA] * n, dtype="Int64")
    )
    out["mmsi"] = (
        pd.array(pd.to_numeric(rows["mmsi"], errors="coerce").to_numpy(), dtype="Int64")
        if "mmsi" in rows
        else pd.array([pd.NA] * n, dtype="Int64")
    )
    if "timestamp" in rows and isinstance(rows["timestamp"].dtype, pd.DatetimeTZDtype):
        out["timestamp"] = rows["timestamp"].dt.tz_convert("UTC").array
    else:
        out["timestamp"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    for c in ("lat", "lon"):
        out[c] = (
            pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype="float64")
            if c in rows
            else np.nan
        )
    if reason is None:
        raise ValueError("make_ledger needs a reason")
    out["reason"] = _broadcast(reason, n)
    out["detail"] = _broadcast("" if detail is None else detail, n)
    return out[list(LEDGER_COLUMNS)]


def _broadcast(value: str | np.ndarray | pd.Series, n: int) -> np.ndarray:
    if isinstance(value, str):
        return np.full(n, value, dtype=object)
    arr = np.asarray(value, dtype=object)
    if len(arr) != n:
        raise ValueError(f"expected {n} values, got {len(arr)}")
    return arr


def concat_ledgers(ledgers: Iterable[pd.DataFrame | None]) -> pd.DataFrame:
    """Concatenate ledgers, ignoring ``None`` and empty ones."""
    parts = [x for x in ledgers if x is not None and len(x)]
    if not parts:
        return make_ledger(reason="")
    return pd.concat(parts, ignore_index=True)[list(LEDGER_COLUMNS)]


def attach_rejected(table: pd.DataFrame, ledger: pd.DataFrame | None) -> pd.DataFrame:
    """Store ``ledger`` in ``table.attrs['rejected_rows']`` (appending to any already there)."""
    existing = rejected_of(table)
    combined = concat_ledgers([existing, ledger])
    table.attrs["rejected_rows"] = Rejected(combined)
    return table


def rejected_of(table: pd.DataFrame) -> pd.DataFrame:
    """Return the loader-rejected rows carried by ``table`` (an empty ledger if none)."""
    held = table.attrs.get("rejected_rows")
    if isinstance(held, Rejected):
        return held.frame
    if isinstance(held, pd.DataFrame):
        return held
    return make_ledger(reason="")
