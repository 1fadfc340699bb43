"""Row order by ``(mmsi, timestamp)``: the one sort every detector relies on.

Every step after loading works on each vessel's reports in time order. This module
holds the package's single implementation of that sort, used by
:func:`caspian_ais.clean`, :func:`caspian_ais.detect_gaps`,
:func:`caspian_ais.detect_port_calls` and the reception model.

How it is fast:

* a table that is already in ``(mmsi, timestamp)`` order (the output of ``clean``, and
  often a daily dump) is recognised with one pass of neighbour differences and not
  sorted at all;
* otherwise the vessel rank, the time (in the coarsest exact unit, whole seconds as a
  rule) and the row number are packed into one int64 whose plain :func:`numpy.sort`
  (a SIMD sort) gives the stable order. Measured on 10 M rows of a 2-core machine it is
  faster than a stable ``argsort`` or ``lexsort``, than :func:`pyarrow.compute.sort_indices`
  and than Polars' multi-threaded ``arg_sort`` of the same key (0.1 s against 0.1-0.6 s
  for Polars and 0.3-2.3 s for Arrow), on shuffled and on nearly sorted input alike;
* vessel ranks come from the runs of equal MMSIs when the rows are grouped by vessel
  (a hash factorisation otherwise).

Where the key cannot hold the timestamps exactly (nanoseconds over decades) the sort
falls back to :func:`numpy.lexsort`; the result is the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from caspian_ais.schema import timestamp_ns

__all__ = [
    "SortedTracks",
    "sort_tracks",
    "sort_mmsi_time",
    "mmsi_time_order",
    "order_ties_by_position",
    "vessel_codes",
    "take_rows",
]

_UNITS_NS = (1_000_000_000, 1_000_000, 1_000, 1)  # s, ms, us, ns
_NAT = np.iinfo(np.int64).min


class _KeyLayout(NamedTuple):
    key: np.ndarray
    unit_ns: int
    stride: int
    t0_ns: int
    exact: bool


@dataclass(frozen=True)
class SortedTracks:
    """A canonical table's rows in ``(mmsi, timestamp)`` order, with a searchable key.

    Attributes
    ----------
    order : numpy.ndarray of int64
        Row positions (``iloc``) of the input in sorted order.
    code : numpy.ndarray of int64
        Vessel code of each sorted row (rank of its MMSI among ``mmsis``).
    mmsis : numpy.ndarray of int64
        The distinct MMSIs, ascending; ``mmsis[code]`` is each row's MMSI.
    t_ns : numpy.ndarray of int64
        Timestamps of the sorted rows, nanoseconds since the Unix epoch (exact).
    presorted : bool
        ``True`` when the input was already in order (``order`` is ``0 .. n - 1``).
    key : numpy.ndarray of int64
        ``code * stride + (t_ns - t0_ns) // unit_ns``, non-decreasing: a combined key
        for :func:`numpy.searchsorted` over all vessels at once. Worked out on first
        use when the input needed no sort.
    unit_ns, stride, t0_ns : int
        Resolution (ns) of the time part of ``key``, the per-vessel stride, and the
        time origin.
    exact : bool
        ``True`` when every timestamp is a multiple of ``unit_ns`` (the key is exact).
    """

    order: np.ndarray
    code: np.ndarray
    mmsis: np.ndarray
    t_ns: np.ndarray
    presorted: bool = False
    layout: _KeyLayout | None = field(default=None, repr=False, compare=False)

    def _layout(self) -> _KeyLayout:
        if self.layout is None:
            object.__setattr__(self, "layout", _layout_of_sorted(self.code, self.t_ns,
                                                                 int(self.mmsis.size)))
        assert self.layout is not None
        return self.layout

    @property
    def key(self) -> np.ndarray:
        return self._layout().key

    @property
    def unit_ns(self) -> int:
        return self._layout().unit_ns

    @property
    def stride(self) -> int:
        return self._layout().stride

    @property
    def t0_ns(self) -> int:
        return self._layout().t0_ns

    @property
    def exact(self) -> bool:
        return self._layout().exact

    def __len__(self) -> int:
        return int(self.order.size)

    def key_of(self, code: np.ndarray, t_ns: np.ndarray, *, ceil: bool = False) -> np.ndarray:
        """Combined key of vessel codes and times (ns), clipped to the vessel's range.

        With ``ceil=True`` a time between two units rounds up (so that ``searchsorted``
        with side ``"left"`` counts times strictly below it exactly).
        """
        rel = np.asarray(t_ns, dtype=np.int64) - self.t0_ns
        if ceil:
            q = -((-rel) // self.unit_ns)
        else:
            q = rel // self.unit_ns
        q = np.clip(q, -1, self.stride - 1)
        return np.asarray(code, dtype=np.int64) * self.stride + q

    def vessel_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """First row and one-past-last row (in sorted order) of each vessel code."""
        n_codes = self.mmsis.size
        starts = np.searchsorted(self.code, np.arange(n_codes), side="left")
        ends = np.searchsorted(self.code, np.arange(n_codes), side="right")
        return starts, ends

    def ties(self) -> np.ndarray:
        """Boolean mask of length ``len - 1``: sorted rows ``i`` and ``i + 1`` share
        vessel and timestamp."""
        if self.code.size < 2:
            return np.zeros(0, dtype=bool)
        tie = self.code[1:] == self.code[:-1]
        tie &= self.t_ns[1:] == self.t_ns[:-1]
        return tie


def _timestamps_ns(tracks: pd.DataFrame) -> np.ndarray:
    ts = tracks["timestamp"]
    if not (isinstance(ts.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(ts.dtype)):
        ts = pd.to_datetime(ts, utc=True)
    arr = timestamp_ns(ts)  # UTC epoch ns; a zero-copy view for the canonical column
    if arr.size and arr.min() == _NAT:
        raise ValueError("timestamp has missing values (NaT); run caspian_ais.clean first")
    return arr


def vessel_codes(mmsi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each row's MMSI among the distinct MMSIs, and those MMSIs ascending.

    Rows grouped by vessel (the usual layout of a dump) are ranked from their runs of
    equal MMSIs, without hashing every row.

    Parameters
    ----------
    mmsi : numpy.ndarray of int64

    Returns
    -------
    codes : numpy.ndarray of int64
        ``mmsis[codes] == mmsi``.
    mmsis : numpy.ndarray of int64
        Distinct MMSIs, ascending.

    Examples
    --------
    >>> codes, mmsis = vessel_codes(np.array([7, 7, 3, 3, 9, 3]))
    >>> codes.tolist(), mmsis.tolist()
    ([1, 1, 0, 0, 2, 0], [3, 7, 9])
    """
    m = np.asarray(mmsi, dtype=np.int64)
    n = m.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(m[1:] != m[:-1])
    if starts.size < n // 8:
        starts = np.r_[0, starts + 1]
        vals = m[starts]
        mmsis = np.unique(vals)
        run_code = np.searchsorted(mmsis, vals).astype(np.int64, copy=False)
        codes = np.repeat(run_code, np.diff(np.r_[starts, n]))
        return codes, mmsis
    codes, uniq = pd.factorize(m)
    codes = codes.astype(np.int64, copy=False)
    uniq = np.asarray(uniq, dtype=np.int64)
    by_mmsi = np.argsort(uniq, kind="stable")
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[by_mmsi] = np.arange(uniq.size)
    return rank[codes], uniq[by_mmsi]


def _key_layout(rel: np.ndarray, n_codes: int, scratch: np.ndarray) -> tuple[int, int, bool]:
    """(unit_ns, stride, exact) of the combined key for times ``rel`` (ns from t0)."""
    span = int(rel.max()) if rel.size else 0
    limit = (1 << 62) // max(n_codes, 1)
    # coarsest unit that represents every timestamp exactly (whole seconds, usually)
    unit = 1
    head = rel[:4096]
    for u in _UNITS_NS[:-1]:
        # a few rows rule most units out before the full (costly) integer division
        if np.remainder(head, u).any():
            continue
        if not np.remainder(rel, u, out=scratch).any():
            unit = u
            break
    exact = span // unit + 2 < limit
    if not exact:
        # the finest unit whose key fits; the sort itself stays exact (lexsort)
        unit = next((u for u in _UNITS_NS[::-1] if u > unit and span // u + 2 < limit), 0)
        if unit == 0:
            unit = max(1_000_000_000, span // max(limit - 2, 1) + 1)
    return unit, span // unit + 2, exact


def _sorted_starts(mmsi: np.ndarray, t_ns: np.ndarray) -> np.ndarray | None:
    """First row of each vessel if rows are in (mmsi, time) order, else None.

    Works on boolean neighbour tests: time may go back only where the MMSI goes up.
    """
    if not (mmsi[1:] >= mmsi[:-1]).all():
        return None
    back = np.flatnonzero(t_ns[1:] < t_ns[:-1])  # few: only at vessel changes if sorted
    if back.size and not (mmsi[back + 1] > mmsi[back]).all():
        return None
    return np.r_[0, np.flatnonzero(mmsi[1:] != mmsi[:-1]) + 1]


def sort_mmsi_time(mmsi: np.ndarray, t_ns: np.ndarray) -> SortedTracks:
    """Sort rows by ``(mmsi, t_ns)``, stably, with one vectorised sort (or none).

    Parameters
    ----------
    mmsi : numpy.ndarray of int64
        MMSI of each row.
    t_ns : numpy.ndarray of int64
        Timestamps, nanoseconds since the epoch (no NaT: ``int64`` min).

    Returns
    -------
    SortedTracks
        Rows with equal ``(mmsi, t_ns)`` keep their input order.

    Examples
    --------
    >>> st = sort_mmsi_time(np.array([5, 2, 5]), np.array([20, 30, 10]))
    >>> st.order.tolist(), st.mmsis.tolist(), st.code.tolist()
    ([1, 2, 0], [2, 5], [0, 1, 1])
    """
    mmsi = np.asarray(mmsi, dtype=np.int64)
    t_ns = np.asarray(t_ns, dtype=np.int64)
    n = mmsi.size
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return SortedTracks(e, e, e, e, True, _KeyLayout(e, 1_000_000_000, 1, 0, True))
    t0 = int(t_ns.min())
    if t0 == _NAT:
        raise ValueError("timestamp has missing values (NaT); run caspian_ais.clean first")
    starts = _sorted_starts(mmsi, t_ns)
    if starts is not None:
        return _already_sorted(mmsi, t_ns, starts)
    runs = _sorted_runs(mmsi, t_ns)
    if runs is not None:
        return runs
    codes, mmsis = vessel_codes(mmsi)
    n_codes = int(mmsis.size)
    # Work in two scratch buffers: fresh large allocations are costly, reuse them.
    a = np.subtract(t_ns, t0)  # time relative to t0, ns
    b = np.empty_like(a)
    unit, stride, exact = _key_layout(a, n_codes, b)
    if unit > 1:
        np.floor_divide(a, unit, out=a)
    np.multiply(codes, stride, out=b)
    a += b  # a = key = code * stride + time // unit
    idx_bits = max(int(n - 1).bit_length(), 1)
    key_max = (n_codes - 1) * stride + stride
    if exact and int(key_max).bit_length() + idx_bits <= 63:
        a <<= idx_bits
        a |= np.arange(n, dtype=np.int64)
        a.sort()
        order = np.bitwise_and(a, (1 << idx_bits) - 1, out=b)
        a >>= idx_bits
        skey = a
        scode = codes[order]
        st_ns = t_ns[order]
    else:
        order = np.lexsort((t_ns, codes)).astype(np.int64)  # lexsort is stable
        skey = a[order]
        scode = codes[order]
        st_ns = t_ns[order]
    return SortedTracks(order=order, code=scode, mmsis=mmsis, t_ns=st_ns,
                        layout=_KeyLayout(skey, int(unit), int(stride), t0, exact))


#: Largest share of rows that may start a run for :func:`_sorted_runs` to be used.
_MAX_RUN_SHARE = 1 / 64


def _sorted_runs(mmsi: np.ndarray, t_ns: np.ndarray) -> SortedTracks | None:
    """Order of rows that come in a few runs each in order (one vessel, time ascending).

    A dump written vessel by vessel (or month by month, vessel by vessel) is such a
    sequence of runs: ordering the runs by ``(mmsi, first time)`` sorts the table when
    the runs of one vessel do not overlap in time, with no comparison sort of the rows.
    Returns ``None`` when the rows are not laid out like that (then a sort is needed).
    """
    n = mmsi.size
    brk = mmsi[1:] != mmsi[:-1]
    brk |= t_ns[1:] < t_ns[:-1]
    starts = np.flatnonzero(brk)
    del brk
    if starts.size + 1 > n * _MAX_RUN_SHARE:
        return None
    starts = np.r_[0, starts + 1]
    ends = np.r_[starts[1:], n]
    r_mmsi, r_t0, r_t1 = mmsi[starts], t_ns[starts], t_ns[ends - 1]
    idx = np.arange(starts.size)
    ro = np.lexsort((idx, r_t0, r_mmsi))  # by vessel, first time, then input order
    m_s, t0_s, t1_s, i_s = r_mmsi[ro], r_t0[ro], r_t1[ro], idx[ro]
    same = m_s[1:] == m_s[:-1]
    # stable: a vessel's next run starts after the previous one ends, or at the same
    # instant and later in the input
    fits = (t1_s[:-1] < t0_s[1:]) | ((t1_s[:-1] == t0_s[1:]) & (i_s[:-1] < i_s[1:]))
    lengths = (ends - starts)[ro]
    offsets = np.r_[0, np.cumsum(lengths)[:-1]]
    order = np.arange(n, dtype=np.int64)
    order += np.repeat(starts[ro] - offsets, lengths)
    new_vessel = np.r_[True, ~same]
    run_code = np.cumsum(new_vessel) - 1
    clash = same & ~fits  # this run overlaps the vessel's previous one in time
    if clash.any():
        # vessels with rows out of order across runs: sort just their rows (their runs
        # are already together, in the vessel's place of the output)
        bad_code = np.zeros(int(run_code[-1]) + 1, dtype=bool)
        bad_code[run_code[1:][clash]] = True
        bad_run = bad_code[run_code]
        if lengths[bad_run].sum() > n // 2:
            return None
        pos = np.flatnonzero(np.repeat(bad_run, lengths))
        rows = order[pos]
        order[pos] = rows[np.lexsort((rows, t_ns[rows], mmsi[rows]))]
    code = np.repeat(run_code.astype(np.int64), lengths)
    return SortedTracks(order=order, code=code, mmsis=m_s[new_vessel], t_ns=t_ns[order])


def _already_sorted(mmsi: np.ndarray, t_ns: np.ndarray, starts: np.ndarray) -> SortedTracks:
    """SortedTracks of rows already in ``(mmsi, timestamp)`` order (no sort needed)."""
    n = mmsi.size
    code = np.repeat(np.arange(starts.size, dtype=np.int64), np.diff(np.r_[starts, n]))
    return SortedTracks(order=np.arange(n, dtype=np.int64), code=code, mmsis=mmsi[starts],
                        t_ns=t_ns, presorted=True)


def _layout_of_sorted(code: np.ndarray, t_ns: np.ndarray, n_codes: int) -> _KeyLayout:
    """The combined key of sorted rows (as :func:`sort_mmsi_time` builds it)."""
    if t_ns.size == 0:
        return _KeyLayout(np.zeros(0, dtype=np.int64), 1_000_000_000, 1, 0, True)
    t0 = int(t_ns.min())
    rel = t_ns - t0
    buf = np.empty_like(rel)
    unit, stride, exact = _key_layout(rel, n_codes, buf)
    key = np.floor_divide(rel, unit, out=rel) if unit > 1 else rel
    np.multiply(code, stride, out=buf)
    key += buf
    return _KeyLayout(key, int(unit), int(stride), t0, exact)


def sort_tracks(tracks: pd.DataFrame) -> SortedTracks:
    """Sort a canonical table by ``(mmsi, timestamp)`` with one vectorised sort.

    Rows with equal ``(mmsi, timestamp)`` keep their input order. A table already in
    that order is not sorted again. See :func:`sort_mmsi_time`.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Canonical table with at least ``mmsi`` and ``timestamp`` (no NaT).

    Returns
    -------
    SortedTracks

    Raises
    ------
    ValueError
        If a timestamp is missing (NaT).

    Examples
    --------
    >>> t = pd.DataFrame({"mmsi": [2, 1, 2], "timestamp": pd.to_datetime(
    ...     ["2022-01-01 02:00", "2022-01-01 05:00", "2022-01-01 01:00"], utc=True)})
    >>> sort_tracks(t).order.tolist()
    [1, 2, 0]
    """
    mmsi = tracks["mmsi"].to_numpy(dtype=np.int64)
    return sort_mmsi_time(mmsi, _timestamps_ns(tracks))


def order_ties_by_position(st: SortedTracks, lat: np.ndarray, lon: np.ndarray,
                           tie: np.ndarray | None = None) -> np.ndarray:
    """``st.order`` with rows sharing vessel and timestamp ordered by latitude, longitude.

    The result sorts by ``(mmsi, timestamp, lat, lon)`` (missing positions last, rows
    equal in all four in input order), so that it does not depend on the input row
    order. ``st.code`` and ``st.t_ns`` stay valid for it (only tied rows move).

    Parameters
    ----------
    st : SortedTracks
    lat, lon : numpy.ndarray of float
        Positions of the input rows (indexed by ``st.order``).
    tie : numpy.ndarray of bool, optional
        ``st.ties()``, when the caller already has it.

    Returns
    -------
    numpy.ndarray of int64
        A new array when ties moved rows, else ``st.order`` itself.
    """
    order = st.order
    if order.size < 2:
        return order
    if tie is None:
        tie = st.ties()
    pos = np.flatnonzero(tie)
    if pos.size == 0:
        return order
    in_run = np.zeros(order.size, dtype=bool)
    in_run[pos] = True
    in_run[pos + 1] = True
    pos = np.flatnonzero(in_run)
    run_id = np.cumsum(np.r_[True, ~tie])[pos]
    rows = order[pos]
    la = np.nan_to_num(np.asarray(lat, dtype=np.float64)[rows], nan=999.0)
    lo = np.nan_to_num(np.asarray(lon, dtype=np.float64)[rows], nan=999.0)
    out = order.copy()
    out[pos] = rows[np.lexsort((lo, la, run_id))]
    return out


def mmsi_time_order(mmsi: np.ndarray, t_ns: np.ndarray, lat: np.ndarray | None = None,
                    lon: np.ndarray | None = None) -> np.ndarray:
    """Positions that sort rows by ``(mmsi, t_ns[, lat, lon])``, stably.

    Parameters
    ----------
    mmsi, t_ns : numpy.ndarray of int64
        Missing timestamps (NaT, ``int64`` min) sort first within their vessel.
    lat, lon : numpy.ndarray of float, optional
        Tie-break of rows sharing vessel and time (missing positions last).

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> mmsi_time_order(np.array([2, 1, 2, 2]), np.array([5, 9, 5, 1]),
    ...                 np.array([3.0, 0.0, 1.0, 0.0]), np.zeros(4)).tolist()
    [1, 3, 2, 0]
    """
    mmsi = np.asarray(mmsi, dtype=np.int64)
    t_ns = np.asarray(t_ns, dtype=np.int64)
    has_pos = lat is not None and lon is not None
    if mmsi.size and int(t_ns.min()) == _NAT:
        keys = [t_ns, mmsi]
        if has_pos:
            keys = [np.nan_to_num(np.asarray(lon, dtype=np.float64), nan=999.0),
                    np.nan_to_num(np.asarray(lat, dtype=np.float64), nan=999.0), *keys]
        return np.lexsort(keys).astype(np.int64, copy=False)
    st = sort_mmsi_time(mmsi, t_ns)
    if not has_pos:
        return st.order
    assert lat is not None and lon is not None
    return order_ties_by_position(st, lat, lon)


#: At most this many runs of consecutive rows for the zero-copy path of :func:`take_rows`.
_MAX_SLICES = 20_000


def take_rows(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``frame.take(rows)`` with a fresh ``RangeIndex``; Arrow columns by zero-copy slices.

    A dump grouped by vessel needs only a few thousand runs of consecutive rows to be put
    in ``(mmsi, timestamp)`` order. Arrow-backed columns (the strings) are then rebuilt as
    chunked arrays of slices of the input, which copies no string data: on 10 M rows
    that saves writing ~700 MB of fresh memory. Other columns, and inputs in many short
    runs, go through :meth:`pandas.DataFrame.take`. The values are the same either way.

    Parameters
    ----------
    frame : pandas.DataFrame
    rows : numpy.ndarray of int
        Row positions, each at most once.

    Returns
    -------
    pandas.DataFrame
    """
    rows = np.asarray(rows, dtype=np.int64)
    n = rows.size
    arrow = [i for i in range(frame.shape[1]) if _arrow_backed(frame.iloc[:, i].array)]
    brk = np.flatnonzero(rows[1:] != rows[:-1] + 1) + 1 if n else rows
    if not arrow or brk.size + 1 > min(n // 256, _MAX_SLICES):
        return frame.take(rows).reset_index(drop=True)
    starts = rows[np.r_[0, brk]].tolist()
    lengths = np.diff(np.r_[0, brk, n]).tolist()
    others = [i for i in range(frame.shape[1]) if i not in set(arrow)]
    out = frame.iloc[:, others].take(rows).reset_index(drop=True)
    # one Table of the Arrow columns, sliced once per run: the slices share its buffers
    table = pa.table([frame.iloc[:, i].array.__arrow_array__() for i in arrow],
                     names=[str(j) for j in range(len(arrow))])
    table = pa.concat_tables([table.slice(a, k) for a, k in zip(starts, lengths, strict=True)])
    for j, i in enumerate(arrow):  # ascending: each lands at its own position
        dtype = frame.iloc[:, i].dtype
        out.insert(i, frame.columns[i], dtype.__from_arrow__(table.column(j)),
                   allow_duplicates=True)
    out.attrs = frame.attrs
    return out


def _arrow_backed(arr: object) -> bool:
    return isinstance(arr, pd.arrays.ArrowExtensionArray) and hasattr(
        getattr(arr, "dtype", None), "__from_arrow__")
