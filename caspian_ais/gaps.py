"""AIS transmission gaps: silences of at least ``min_gap`` between a vessel's reports.

:func:`detect_gaps` finds every gap of every vessel in one vectorised pass (a single
sort on a combined ``(mmsi, time)`` key, then neighbour differences); there is no
per-vessel Python loop. See ``docs/detection.md`` for the definitions and the sources
of every default.

The base columns are a public contract, in this order:

``mmsi, start_time, end_time, duration_h, start_lat, start_lon, end_lat, end_lon,
distance_km, implied_speed_kn``

followed by ``gap_id`` and ``is_closed`` and, unless ``enrich=False``, the context
columns (flag state, ship type, nearest ports, position counts, reception score,
``suspicious`` and ``reason``).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from caspian_ais.geodesy import EARTH_RADIUS_KM, KM_PER_NM, haversine_km
from caspian_ais.ordering import SortedTracks, sort_tracks
from caspian_ais.ports import DEFAULT_APPROACH_RADIUS_KM, DEFAULT_AREA_RADIUS_KM

if TYPE_CHECKING:
    from caspian_ais.reception import ReceptionModel

__all__ = [
    "DEFAULT_AREA_RADIUS_KM",
    "DEFAULT_APPROACH_RADIUS_KM",
    "port_table",
    "nearest_port_km",
    "ports_within_km",
    "BASE_COLUMNS",
    "GAP_COLUMNS",
    "CONTEXT_COLUMNS",
    "REASONS",
    "SortedTracks",
    "sort_tracks",
    "to_timedelta",
    "co_onset",
    "detect_gaps",
]

#: The base gap columns, a public contract (names and order).
BASE_COLUMNS: tuple[str, ...] = (
    "mmsi",
    "start_time",
    "end_time",
    "duration_h",
    "start_lat",
    "start_lon",
    "end_lat",
    "end_lon",
    "distance_km",
    "implied_speed_kn",
)

#: Columns of the core gap table (base columns plus identity and openness).
GAP_COLUMNS: tuple[str, ...] = BASE_COLUMNS + ("gap_id", "is_closed")

#: ``reason`` codes of :func:`detect_gaps`. A public contract: add, never rename.
REASONS: dict[str, str] = {
    "dark_in_coverage": "suspicious: both ends in well-covered water and nearby vessels "
    "kept reporting during the silence",
    "dark_unscored": "suspicious: no reception model was given, the gap is long enough",
    "dark_between_passes": "suspicious: poorly covered water (or a receiver outage), but "
    "satellite passes that heard the other vessels in such water happened during the gap "
    "while this vessel, under way, was not heard",
    "off_at_berth": "suspicious: both ends inside the same port area (AIS off at berth); "
    "a visible call, never a dark port call",
    "co_silence": "not suspicious: other vessels near the gap ends also went quiet, or "
    "went quiet at the same time and place (receiver outage more likely than a switch-off)",
    "poor_coverage": "not suspicious: vessels are rarely heard on the gap's path, and "
    "neither were the vessels in such water nearby during the gap",
    "implausible_speed": "not suspicious: the implied speed across the gap is impossible, "
    "more likely an identity or position error than a switch-off",
    "open": "not suspicious: the gap is still open at the end of the data",
    "short": "not suspicious: shorter than suspicious_min_h",
}

#: Context columns added by :func:`detect_gaps` with ``enrich=True``, in this order.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "flag_state",
    "ship_type",
    "start_port",
    "start_port_km",
    "start_in_port",
    "end_port",
    "end_port_km",
    "end_in_port",
    "positions_before",
    "positions_after",
    "start_sog_kn",
    "end_sog_kn",
    "start_cog_deg",
    "end_cog_deg",
    "start_draught_m",
    "end_draught_m",
    "reception_score",
    "co_silence",
    "co_silence_wide",
    "start_quality",
    "end_quality",
    "passes",
    "co_onset",
    "suspicious",
    "reason",
)

_NS_PER_H = 3_600_000_000_000


def to_timedelta(value: Any, *, name: str = "min_gap") -> pd.Timedelta:
    """Turn ``"6h"``, a :class:`pandas.Timedelta` / :class:`datetime.timedelta`, or hours
    given as a number, into a :class:`pandas.Timedelta`.

    Parameters
    ----------
    value : str, timedelta-like or float
        A number is taken as hours.
    name : str
        The option's name, for error messages.

    Returns
    -------
    pandas.Timedelta

    Examples
    --------
    >>> to_timedelta("6h") == to_timedelta(6) == to_timedelta(pd.Timedelta(hours=6))
    True
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a duration, got {value!r}")
    if isinstance(value, (str, _dt.timedelta, np.timedelta64, pd.Timedelta)):
        td = pd.Timedelta(value)
        if td is pd.NaT:
            raise ValueError(f"{name} is not a duration: {value!r}")
        return td
    if isinstance(value, (int, float, np.integer, np.floating)):
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return pd.Timedelta(hours=float(value))
    raise TypeError(f"{name} must be a str like '6h', a Timedelta or hours, got {value!r}")


# ---------------------------------------------------------------------------------------
# Ties at the gap ends (the sort itself is caspian_ais.ordering.sort_tracks, re-exported)
# ---------------------------------------------------------------------------------------


def _tie_break(st: SortedTracks, rows: np.ndarray, lat: np.ndarray, lon: np.ndarray,
               *, last: bool) -> np.ndarray:
    """Among rows sharing a vessel and timestamp with ``rows``, pick one deterministically.

    The pick (smallest latitude, then longitude) does not depend on input row order, so
    gap ends are the same whatever order the rows came in. ``rows`` are sorted positions;
    ``last`` says whether they are the last (gap start) or first (gap end) of their run.
    """
    if rows.size == 0:
        return rows
    n = len(st)
    nb = np.clip(rows - 1 if last else rows + 1, 0, n - 1)  # the neighbour inside the run
    tied = (nb != rows) & (st.code_of(nb) == st.code_of(rows)) & (st.t_of(nb) == st.t_of(rows))
    if not tied.any():
        return rows
    out = rows.copy()
    sel = np.flatnonzero(tied)
    r = rows[sel]
    code_r, t_r = st.code_of(r), st.t_of(r)
    # run bounds of equal (code, t): rows of a run are contiguous
    lo = st.search(code_r, t_r, side="left")
    hi = st.search(code_r, t_r, side="right")
    lens = hi - lo
    run_id = np.repeat(np.arange(sel.size), lens)
    members = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens - lo, lens)
    src = st.src_of(members)
    ordr = np.lexsort((lon[src], lat[src], run_id))
    run_sorted = run_id[ordr]
    first = np.r_[True, run_sorted[1:] != run_sorted[:-1]]
    out[sel[run_sorted[first]]] = members[ordr][first]
    return out



# ---------------------------------------------------------------------------------------
# Ports: the gazetteer and a fast nearest-port search
# ---------------------------------------------------------------------------------------

def port_table(ports: Any = None) -> pd.DataFrame:
    """The port gazetteer to use: ``ports`` or the bundled one, with radii filled in.

    Parameters
    ----------
    ports : pandas.DataFrame or path, optional
        A gazetteer (or a CSV/GeoJSON path for :func:`caspian_ais.ports.load_ports`)
        with at least ``port``, ``lat``, ``lon``; ``area_radius_km`` and
        ``approach_radius_km`` are filled with :data:`DEFAULT_AREA_RADIUS_KM` and
        :data:`DEFAULT_APPROACH_RADIUS_KM` where missing. ``None`` loads the bundled
        Caspian gazetteer with :func:`caspian_ais.ports.load_ports`.

    Returns
    -------
    pandas.DataFrame
        With a fresh ``RangeIndex`` (row positions are the port indices used by the
        detectors).
    """
    if ports is None:
        from caspian_ais.ports import load_ports

        ports = load_ports()
    elif not isinstance(ports, pd.DataFrame):
        from caspian_ais.ports import load_ports

        ports = load_ports(ports)  # a path to a CSV or GeoJSON gazetteer
    for col in ("port", "lat", "lon"):
        if col not in ports.columns:
            raise KeyError(f"ports lacks column {col!r}")
    p = ports.reset_index(drop=True).copy()
    if "area_radius_km" not in p:
        p["area_radius_km"] = DEFAULT_AREA_RADIUS_KM
    if "approach_radius_km" not in p:
        p["approach_radius_km"] = DEFAULT_APPROACH_RADIUS_KM
    p["area_radius_km"] = p["area_radius_km"].astype("float64").fillna(DEFAULT_AREA_RADIUS_KM)
    p["approach_radius_km"] = (
        p["approach_radius_km"].astype("float64").fillna(DEFAULT_APPROACH_RADIUS_KM)
    )
    return p


def nearest_port_km(
    lat: Any, lon: Any, ports: pd.DataFrame, *, max_km: float | None = None,
    chunk: int = 1_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest port of each point and its great-circle distance, vectorised.

    With ``max_km`` the search uses a grid of lat/lon cells: a point is measured only
    against the ports whose ``max_km`` box meets its cell, and points in no such cell
    (most AIS reports) are not measured at all, so it scales to tens of millions of
    points and thousands of ports; points with no port within ``max_km`` get ``-1`` /
    ``inf``. :func:`ports_within_km` gives the same answers for the points near a port
    only.

    Parameters
    ----------
    lat, lon : array-like of float
        Points, decimal degrees.
    ports : pandas.DataFrame
        Gazetteer with ``lat``, ``lon`` (row positions are the returned indices).
    max_km : float, optional
        Search radius, km. ``None``: always return the nearest port.
    chunk : int, default 1,000,000
        Points per block of the brute-force search (memory bound).

    Returns
    -------
    idx : numpy.ndarray of int64
        Row position in ``ports`` of the nearest port, -1 if none within ``max_km``.
    distance_km : numpy.ndarray of float64
        Distance to it in km (``inf`` if none).

    Examples
    --------
    >>> ports = pd.DataFrame({"port": ["A", "B"], "lat": [0.0, 1.0], "lon": [0.0, 0.0]})
    >>> idx, d = nearest_port_km([0.9, 5.0], [0.0, 0.0], ports, max_km=50)
    >>> idx.tolist(), [round(float(x), 1) for x in d]
    ([1, -1], [11.1, inf])
    """
    la = np.asarray(lat, dtype=np.float64).ravel()
    lo = np.asarray(lon, dtype=np.float64).ravel()
    n = la.size
    plat = ports["lat"].to_numpy(dtype=np.float64)
    plon = ports["lon"].to_numpy(dtype=np.float64)
    best = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    if n == 0 or plat.size == 0:
        return best, dist
    if max_km is None:
        for a in range(0, n, max(chunk // max(plat.size, 1), 1)):
            b = min(n, a + max(chunk // max(plat.size, 1), 1))
            d = haversine_km(la[a:b, None], lo[a:b, None], plat[None, :], plon[None, :])
            d = np.where(np.isnan(d), np.inf, d)
            j = np.argmin(d, axis=1)
            best[a:b] = np.where(np.isfinite(d[np.arange(b - a), j]), j, -1)
            dist[a:b] = d[np.arange(b - a), j]
        return best, dist
    # Only points in a lat/lon box around some port can be within max_km (most AIS
    # reports are far from every port): a dense grid of the boxes finds them, and the
    # ports to measure, in a few vector operations per point.
    rows, idx, d = ports_within_km(la, lo, ports, float(max_km))
    best[rows] = idx
    dist[rows] = d
    return best, dist


def _nearest_within(la: np.ndarray, lo: np.ndarray, plat: np.ndarray, plon: np.ndarray,
                    max_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest port within ``max_km`` of each point (-1 / inf if none), by a grid hash.

    Each point's answer depends on that point alone, so any subset of the points gets
    the same answers as the whole set.
    """
    n = la.size
    best = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    # grid hash: a cell is at least max_km wide in both directions at these latitudes
    max_abs_lat = min(float(np.nanmax(np.abs(plat))) + max_km / 111.0, 89.0)
    g = max(max_km / (111.195 * np.cos(np.radians(max_abs_lat))), max_km / 111.195, 1e-6)
    wide = 10_000_000
    pr = np.floor(plat / g).astype(np.int64)
    pc = np.floor(plon / g).astype(np.int64)
    d3 = np.array([-1, 0, 1])
    pk = ((pr[:, None, None] + d3[None, :, None]) * wide
          + (pc[:, None, None] + d3[None, None, :])).reshape(plat.size, 9)
    pid = np.repeat(np.arange(plat.size), 9)
    pk = pk.ravel()
    srt = np.argsort(pk, kind="stable")
    pk, pid = pk[srt], pid[srt]
    ok = np.isfinite(la) & np.isfinite(lo)
    rk = (np.floor(np.where(ok, la, 0.0) / g).astype(np.int64) * wide
          + np.floor(np.where(ok, lo, 0.0) / g).astype(np.int64))
    lo_i = np.searchsorted(pk, rk, side="left")
    hi_i = np.searchsorted(pk, rk, side="right")
    cnt = np.where(ok, hi_i - lo_i, 0)
    rows = np.flatnonzero(cnt)
    if rows.size == 0:
        return best, dist
    c = cnt[rows]
    rep = np.repeat(rows, c)
    group_start = np.cumsum(c) - c
    cand = pid[np.repeat(lo_i[rows], c) + (np.arange(rep.size) - np.repeat(group_start, c))]
    d = haversine_km(la[rep], lo[rep], plat[cand], plon[cand])
    if rep.size == rows.size:  # one candidate port per point
        r1, c1, d1 = rows, cand, d
    else:
        # per point, the first candidate (in candidate order) at the least distance
        d_min = np.fmin.reduceat(d, group_start)
        at_min = np.flatnonzero(d == np.repeat(d_min, c))
        grp = np.repeat(np.arange(rows.size), c)[at_min]
        first = np.r_[True, grp[1:] != grp[:-1]]
        at_min = at_min[first]
        r1, c1, d1 = rep[at_min], cand[at_min], d[at_min]
    within = d1 <= max_km
    best[r1[within]] = c1[within]
    dist[r1[within]] = d1[within]
    return best, dist


#: Largest number of cells of the port grid of :func:`_nearest_by_grid`.
_MAX_GRID_CELLS = 1 << 22


def ports_within_km(lat: Any, lon: Any, ports: pd.DataFrame, max_km: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points that have a port within ``max_km``: the sparse form of
    :func:`nearest_port_km` (same ports, same distances), for many points few of
    which are near a port.

    Parameters
    ----------
    lat, lon : array-like of float
        Points, decimal degrees.
    ports : pandas.DataFrame
        Gazetteer with ``lat``, ``lon``.
    max_km : float
        Search radius, km.

    Returns
    -------
    rows : numpy.ndarray of int64
        Positions of the points with a port within ``max_km``, ascending.
    idx : numpy.ndarray of int64
        Row position in ``ports`` of the nearest port of each of them.
    distance_km : numpy.ndarray of float64
        Distance to it, km.

    Examples
    --------
    >>> ports = pd.DataFrame({"port": ["A", "B"], "lat": [0.0, 1.0], "lon": [0.0, 0.0]})
    >>> rows, idx, d = ports_within_km([5.0, 0.9], [0.0, 0.0], ports, 50)
    >>> rows.tolist(), idx.tolist(), [round(float(x), 1) for x in d]
    ([1], [1], [11.1])
    """
    la = np.asarray(lat, dtype=np.float64).ravel()
    lo = np.asarray(lon, dtype=np.float64).ravel()
    plat = ports["lat"].to_numpy(dtype=np.float64)
    plon = ports["lon"].to_numpy(dtype=np.float64)
    if la.size == 0 or plat.size == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    found = _nearest_by_grid(la, lo, plat, plon, float(max_km))
    if found is None:  # boxes reach a pole or the antimeridian: the grid hash alone
        best, dist = _nearest_within(la, lo, plat, plon, float(max_km))
        rows = np.flatnonzero(best >= 0)
        return rows, best[rows], dist[rows]
    return found


def _nearest_by_grid(la: np.ndarray, lo: np.ndarray, plat: np.ndarray, plon: np.ndarray,
                     max_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Points with a port within ``max_km``, their nearest port and distance, on a grid.

    Each port gets a lat/lon box that holds every point whose haversine distance to it
    is at most ``max_km``, with a margin far above rounding: a point within angular
    distance ``delta`` of a port at latitude ``phi`` differs from it by at most
    ``delta`` in latitude and ``arcsin(sin(delta) / cos(phi))`` in longitude. A grid of
    cells lists the ports whose box meets each cell, in port order; a point is measured
    against the ports of its cell only, and gets the first of those at the least
    distance, as :func:`_nearest_within` would (both measure every port within
    ``max_km``). Points with coordinates outside [-90, 90] x [-180, 180] (the bounds do
    not hold for them) go to :func:`_nearest_within`.

    Returns
    -------
    (rows, idx, distance_km) as :func:`ports_within_km`, or None when a box reaches a
    pole or crosses the antimeridian (or a port has no position).
    """
    if not (np.isfinite(plat).all() and np.isfinite(plon).all()):
        return None
    delta = (max_km * (1.0 + 1e-9) + 1e-9) / EARTH_RADIUS_KM  # radians, with a margin
    half_lat = float(np.degrees(delta)) * (1.0 + 1e-9) + 1e-9
    cos_p = np.cos(np.radians(plat))
    if delta >= np.pi / 2 or bool((np.sin(delta) >= cos_p).any()):
        return None
    half_lon = np.degrees(np.arcsin(np.sin(delta) / cos_p)) * (1.0 + 1e-9) + 1e-9
    lat0, lat1 = float((plat - half_lat).min()), float((plat + half_lat).max())
    lon0, lon1 = float((plon - half_lon).min()), float((plon + half_lon).max())
    if lon0 < -180.0 or lon1 > 180.0:
        return None
    # cell size: the smallest box side, enlarged until the grid is small enough
    cell = min(half_lat, float(half_lon.min()))
    cell = max(cell, float(np.sqrt((lat1 - lat0) * (lon1 - lon0) / _MAX_GRID_CELLS)))
    inv = 1.0 / cell
    # boxes and points go through the same (monotone) cell formula, floor((x - x0) * inv)
    # clipped to [-1, top]: a border of empty cells all round catches every point
    # outside (NaN too: fmax/fmin drop it)
    n_i = int(np.floor((lat1 - lat0) * inv)) + 1
    n_j = int(np.floor((lon1 - lon0) * inv)) + 1
    width = n_j + 2
    i0 = np.floor((plat - half_lat - lat0) * inv).astype(np.int64) + 1
    i1 = np.floor((plat + half_lat - lat0) * inv).astype(np.int64) + 1
    j0 = np.floor((plon - half_lon - lon0) * inv).astype(np.int64) + 1
    j1 = np.floor((plon + half_lon - lon0) * inv).astype(np.int64) + 1
    cells: list[np.ndarray] = []
    for a, b, c, d in zip(i0.tolist(), i1.tolist(), j0.tolist(), j1.tolist(), strict=True):
        cells.append((np.arange(a, b + 1)[:, None] * width + np.arange(c, d + 1)).ravel())
    owner = np.repeat(np.arange(plat.size), [x.size for x in cells])
    cell_of_port = np.concatenate(cells)
    port_list = owner[np.argsort(cell_of_port, kind="stable")]  # by cell, then port
    count = np.bincount(cell_of_port, minlength=(n_i + 2) * width)
    first_entry = np.cumsum(count) - count

    # points outside [-90, 90] x [-180, 180] (or missing) fall in the border; find them
    # only if there are any
    lat_lo, lat_hi, lon_lo, lon_hi = la.min(), la.max(), lo.min(), lo.max()
    clean_range = bool(-90.0 <= lat_lo and lat_hi <= 90.0
                       and -180.0 <= lon_lo and lon_hi <= 180.0)  # False with a NaN

    def cell_index(x: np.ndarray, x0: float, top: int) -> np.ndarray:
        # truncation is floor for points inside a box (x >= x0); a point below the grid
        # may land in its first cells instead of the border: one more point measured
        buf = np.subtract(x, x0)
        buf *= inv
        if clean_range:
            np.clip(buf, -1.0, float(top), out=buf)
        else:  # fmax/fmin also send NaN to the border
            np.fmax(buf, -1.0, out=buf)
            np.fmin(buf, float(top), out=buf)
        return buf.astype(np.int64)

    flat = cell_index(la, lat0, n_i)
    flat *= width
    flat += cell_index(lo, lon0, n_j)
    flat += width + 1
    cnt = count[flat]
    odd = None
    if not clean_range:
        odd = np.abs(la) > 90.0
        odd |= np.abs(lo) > 180.0
        odd &= np.isfinite(la) & np.isfinite(lo)
        if odd.any():
            cnt[odd] = 0
        else:
            odd = None
    rows = np.flatnonzero(cnt)
    r1 = c1 = np.zeros(0, dtype=np.int64)
    d1 = np.zeros(0)
    if rows.size:
        flat = flat[rows]
        c = cnt[rows]
        if bool((c == 1).all()):  # one port per point, the usual case
            rep, cand = rows, port_list[first_entry[flat]]
        else:
            rep = np.repeat(rows, c)
            group_start = np.cumsum(c) - c
            cand = port_list[np.repeat(first_entry[flat], c)
                             + (np.arange(rep.size) - np.repeat(group_start, c))]
        d = haversine_km(la[rep], lo[rep], plat[cand], plon[cand])
        if rep.size == rows.size:
            r1, c1, d1 = rows, cand, d
        else:
            # per point, the first candidate (in port order) at the least distance
            d_min = np.fmin.reduceat(d, group_start)
            at_min = np.flatnonzero(d == np.repeat(d_min, c))
            grp = np.repeat(np.arange(rows.size), c)[at_min]
            at_min = at_min[np.r_[True, grp[1:] != grp[:-1]]]
            r1, c1, d1 = rep[at_min], cand[at_min], d[at_min]
        within = d1 <= max_km
        r1, c1, d1 = r1[within], c1[within], d1[within]
    if odd is not None:
        o = np.flatnonzero(odd)
        b_o, d_o = _nearest_within(la[o], lo[o], plat, plon, max_km)
        ok = b_o >= 0
        r1 = np.r_[r1, o[ok]]
        c1 = np.r_[c1, b_o[ok]]
        d1 = np.r_[d1, d_o[ok]]
        srt = np.argsort(r1, kind="stable")
        r1, c1, d1 = r1[srt], c1[srt], d1[srt]
    return r1, c1, d1


# ---------------------------------------------------------------------------------------
# detect_gaps
# ---------------------------------------------------------------------------------------


def _empty_gaps() -> pd.DataFrame:
    utc = "datetime64[ns, UTC]"
    cols: dict[str, pd.Series] = {
        "mmsi": pd.Series([], dtype="int64"),
        "start_time": pd.Series([], dtype=utc),
        "end_time": pd.Series([], dtype=utc),
    }
    for c in BASE_COLUMNS[3:]:
        cols[c] = pd.Series([], dtype="float64")
    cols["gap_id"] = pd.Series([], dtype="str")
    cols["is_closed"] = pd.Series([], dtype="bool")
    return pd.DataFrame(cols)


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 ns since the epoch (int64 min = NaT) -> tz-aware UTC datetimes."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize(
        "UTC"
    )


def _core_gaps(
    tracks: pd.DataFrame,
    st: SortedTracks,
    min_gap_ns: int,
    *,
    include_open: bool,
    data_end_ns: int | None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Base gap table plus the sorted positions of each gap's start and end rows."""
    n = len(st)
    lat_all = tracks["lat"].to_numpy(dtype=np.float64)
    lon_all = tracks["lon"].to_numpy(dtype=np.float64)
    i = st.steps(min_gap_ns)
    s_rows = _tie_break(st, i, lat_all, lon_all, last=True)
    e_rows = _tie_break(st, i + 1, lat_all, lon_all, last=False)
    o_rows = np.zeros(0, dtype=np.int64)
    if include_open and n:
        last_rows = st.vessel_bounds()[1] - 1
        t_last = st.t_of(last_rows)
        end_ns = int(t_last.max()) if data_end_ns is None else int(data_end_ns)
        o_rows = last_rows[(end_ns - t_last) >= min_gap_ns]
        o_rows = _tie_break(st, o_rows, lat_all, lon_all, last=True)
    else:
        end_ns = 0
    k, m = s_rows.size, o_rows.size
    s_all = np.r_[s_rows, o_rows]
    start_ns = st.t_of(s_all)
    t_e = st.t_of(e_rows)
    end_t = np.r_[t_e, np.full(m, np.iinfo(np.int64).min, dtype=np.int64)]
    dur_ns = np.r_[t_e - start_ns[:k], end_ns - start_ns[k:]].astype(np.float64)
    duration_h = dur_ns / _NS_PER_H
    s_src, e_src = st.src_of(s_all), st.src_of(e_rows)
    s_lat, s_lon = lat_all[s_src], lon_all[s_src]
    e_lat = np.r_[lat_all[e_src], np.full(m, np.nan)]
    e_lon = np.r_[lon_all[e_src], np.full(m, np.nan)]
    dist = haversine_km(s_lat, s_lon, e_lat, e_lon)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(duration_h > 0, dist / KM_PER_NM / duration_h, np.nan)
    speed[k:] = np.nan
    mmsi = st.mmsis[st.code_of(s_all)]
    sec, sub = np.divmod(start_ns, 1_000_000_000)
    if sub.any():  # sub-second starts: keep the id exact
        gap_id = [f"{m}-{s}.{f:09d}" for m, s, f in zip(mmsi.tolist(), sec.tolist(), sub.tolist(),
                                                       strict=True)]
    else:
        gap_id = [f"{m}-{s}" for m, s in zip(mmsi.tolist(), sec.tolist(), strict=True)]
    df = pd.DataFrame(
        {
            "mmsi": mmsi,
            "start_time": _utc(start_ns),
            "end_time": _utc(end_t),
            "duration_h": duration_h,
            "start_lat": s_lat,
            "start_lon": s_lon,
            "end_lat": e_lat,
            "end_lon": e_lon,
            "distance_km": dist,
            "implied_speed_kn": speed,
            "gap_id": pd.array(gap_id, dtype="str"),
            "is_closed": np.r_[np.ones(k, bool), np.zeros(m, bool)],
        }
    )
    # rows are in (mmsi, start) order already (sorted key), open gaps last per table:
    # restore a global (mmsi, start_time) order
    if m:
        o = np.lexsort((start_ns, mmsi))
        df = df.iloc[o].reset_index(drop=True)
        s_all = s_all[o]
        e_all = np.r_[e_rows, np.full(m, -1, dtype=np.int64)][o]
    else:
        e_all = e_rows
    return df, s_all, e_all


_BUILD_OPTIONS = ("cell_deg", "heard_max_h", "max_interval_h", "prior_heard", "prior_missed",
                  "bin_h", "max_bins", "wide_cell_deg", "poor_quality", "pass_bin_min",
                  "pass_min_vessels", "report_interval_s", "heard_max_intervals")
_SCORE_OPTIONS = ("radius_km", "min_expected_bins", "wide_radius_km", "min_expected_wide_bins",
                  "co_silence_parts", "normal_co_silence", "max_path_samples")


def _column_at(tracks: pd.DataFrame, col: str, rows: np.ndarray) -> pd.Series:
    """``tracks[col]`` at row positions ``rows`` (-1 gives missing)."""
    s = tracks[col]
    ok = rows >= 0
    vals = s.iloc[np.where(ok, rows, 0)].reset_index(drop=True)
    return vals.where(pd.Series(ok))


def _vessel_fill(tracks: pd.DataFrame, col: str, values: pd.Series, mmsi: np.ndarray
                 ) -> pd.Series:
    """Fill missing ``values`` with the vessel's most frequent non-missing ``col``."""
    miss = values.isna().to_numpy()
    if not miss.any() or col not in tracks:
        return values
    want = np.unique(mmsi[miss])
    sub = tracks.loc[tracks["mmsi"].isin(want) & tracks[col].notna(), ["mmsi", col]]
    if sub.empty:
        return values
    mode = sub.value_counts().reset_index().drop_duplicates("mmsi").set_index("mmsi")[col]
    filled = pd.Series(mmsi).map(mode)
    return values.where(~pd.Series(miss), filled.astype(values.dtype, errors="ignore"))


def _enrich(
    gaps: pd.DataFrame,
    tracks: pd.DataFrame,
    st: SortedTracks,
    s_rows: np.ndarray,
    e_rows: np.ndarray,
    *,
    ports: pd.DataFrame | None,
    window_h: float,
    reception_model: Any,
    suspicious_min_h: float,
    min_score: float,
    max_co_silence: float,
    max_speed_kn: float,
    moving_min_kn: float,
    min_passes_moving: int,
    min_passes: int,
    kept_moving_ratio: float,
    min_co_onset: int,
    onset_window_h: float,
    onset_radius_km: float,
    reception_options: dict[str, Any],
    min_passes_class_b: int = 8,
    onset_intervals: float = 2.0,
    onset_reference: pd.DataFrame | None = None,
) -> pd.DataFrame:
    n = len(gaps)
    g = gaps
    s_src = st.order[s_rows] if n else np.zeros(0, np.int64)
    e_src = np.where(e_rows >= 0, st.order[np.maximum(e_rows, 0)], -1) if n else s_src
    mmsi = g["mmsi"].to_numpy()
    closed = g["is_closed"].to_numpy(dtype=bool)
    # flag state and ship type
    if "flag_state" in tracks:
        fs = _column_at(tracks, "flag_state", s_src)
    else:
        from caspian_ais.flags import flag_state_from_mmsi

        fs = flag_state_from_mmsi(mmsi)
    g["flag_state"] = fs.to_numpy()
    if "ship_type" in tracks:
        stype = _vessel_fill(tracks, "ship_type", _column_at(tracks, "ship_type", s_src), mmsi)
        g["ship_type"] = pd.array(stype.to_numpy(), dtype="Int16")
    else:
        g["ship_type"] = pd.array([pd.NA] * n, dtype="Int16")
    # nearest ports at both ends
    ptab = port_table(ports)
    if len(ptab):
        names = ptab["port"].astype(str).to_numpy()
        area = ptab["area_radius_km"].to_numpy()
        for side, la, lo in (("start", g["start_lat"], g["start_lon"]),
                             ("end", g["end_lat"], g["end_lon"])):
            idx, d = nearest_port_km(la.to_numpy(), lo.to_numpy(), ptab)
            ok = idx >= 0
            g[f"{side}_port"] = pd.array(np.where(ok, names[np.maximum(idx, 0)], None),
                                         dtype="str")
            g[f"{side}_port_km"] = np.where(ok, d, np.nan)
            g[f"{side}_in_port"] = ok & (d <= area[np.maximum(idx, 0)])
    else:
        for side in ("start", "end"):
            g[f"{side}_port"] = pd.array([None] * n, dtype="str")
            g[f"{side}_port_km"] = np.nan
            g[f"{side}_in_port"] = False
    # positions (distinct report times) in the windows before the start / after the end
    w_ns = int(round(window_h * _NS_PER_H))
    uniq = np.ones(len(st), dtype=bool)
    if len(st) > 1:
        uniq[1:] = (st.code[1:] != st.code[:-1]) | (st.t_ns[1:] != st.t_ns[:-1])
    cum = np.r_[0, np.cumsum(uniq)]
    code_s = st.code[s_rows]
    t_s = st.t_ns[s_rows]
    lo_i = st.search(code_s, t_s - w_ns, side="left")
    hi_i = st.search(code_s, t_s, side="right")
    before = cum[hi_i] - cum[lo_i]
    e_ok = e_rows >= 0
    er = np.maximum(e_rows, 0)
    t_e = st.t_ns[er]
    lo_e = st.search(code_s, t_e, side="left")
    hi_e = st.search(code_s, t_e + w_ns, side="right")
    after = np.where(e_ok, cum[hi_e] - cum[lo_e], 0)
    g["positions_before"] = before.astype(np.int64)
    g["positions_after"] = after.astype(np.int64)
    for col, name in (("sog_kn", "sog_kn"), ("cog_deg", "cog_deg"), ("draught_m", "draught_m")):
        if col in tracks:
            g[f"start_{name}"] = _column_at(tracks, col, s_src).to_numpy(dtype=np.float64,
                                                                          na_value=np.nan)
            g[f"end_{name}"] = _column_at(tracks, col, e_src).to_numpy(dtype=np.float64,
                                                                        na_value=np.nan)
        else:
            g[f"start_{name}"] = np.nan
            g[f"end_{name}"] = np.nan
    # reception
    scored = reception_model is not False
    if scored:
        from caspian_ais.reception import build_reception_model, score_gaps

        model = reception_model
        if model is None or model is True:
            bopts = {k: v for k, v in reception_options.items() if k in _BUILD_OPTIONS}
            model = build_reception_model(tracks, order=st.order, **bopts)
        sopts = {k: v for k, v in reception_options.items() if k in _SCORE_OPTIONS}
        sc = score_gaps(g, model, **sopts)
        g["reception_score"] = sc["reception_score"].to_numpy()
        g["co_silence"] = sc["co_silence"].to_numpy()
        g["co_silence_wide"] = sc["co_silence_wide"].to_numpy()
        g["start_quality"] = sc["start_quality"].to_numpy()
        g["end_quality"] = sc["end_quality"].to_numpy()
        g["passes"] = sc["passes"].to_numpy(dtype=np.int64)
    else:
        g["start_quality"] = np.nan
        g["end_quality"] = np.nan
        g["reception_score"] = np.nan
        g["co_silence"] = np.nan
        g["co_silence_wide"] = np.nan
        g["passes"] = np.zeros(n, dtype=np.int64)
    # effective reporting interval: in a thinned dump a gap's start is known only to
    # within one interval, so gaps begun by one outage start up to an interval apart
    # (a supplied model is authoritative: NaN there means "assume dense reporting")
    delta_s = float(getattr(model, "report_interval_s", np.nan)) if scored else np.nan
    if not scored:
        from caspian_ais.reception import _interval_from_sorted

        sog_o = (tracks["sog_kn"].to_numpy(dtype=np.float64, na_value=np.nan)[st.order]
                 >= moving_min_kn) if "sog_kn" in tracks else None
        delta_s = _interval_from_sorted(st.code, st.t_ns, sog_o, 6.0)
    g.attrs["report_interval_s"] = delta_s
    onset_h = onset_window_h
    if np.isfinite(delta_s):
        onset_h = max(onset_window_h, onset_intervals * delta_s / 3600.0)
    g["co_onset"] = co_onset(g, window_h=onset_h, radius_km=onset_radius_km,
                             reference=onset_reference)
    # suspicious and reason (first rule that applies)
    dur = g["duration_h"].to_numpy()
    speed = g["implied_speed_kn"].to_numpy()
    score = g["reception_score"].to_numpy()
    co = g["co_silence"].to_numpy()
    poor = score < min_score
    # in satellite-only water a vessel under way is heard at nearly every pass (a Class A
    # transmitter sends every 10 s); a moored or anchored one (every 3 min) or a Class B
    # one often is not, so silence through passes only counts against Class A vessels
    # under way at both ends: one whole pass when the vessel kept moving across the gap
    # (implied speed at least kept_moving_ratio of its speed at the ends), min_passes
    # when it may have stopped (anchored or moored) somewhere in between
    s_sog = g["start_sog_kn"].to_numpy(dtype=np.float64)
    e_sog = g["end_sog_kn"].to_numpy(dtype=np.float64)
    moving = ((s_sog >= moving_min_kn) | np.isnan(s_sog)) & (
        (e_sog >= moving_min_kn) | np.isnan(e_sog))
    cls_b = np.zeros(n, dtype=bool)
    if "ais_class" in tracks:
        cls_b = _column_at(tracks, "ais_class", s_src).astype(object).to_numpy() == "B"
    n_pass = g["passes"].to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore"):
        kept_moving = speed >= kept_moving_ratio * np.fmin(s_sog, e_sog)
    passes_ok = moving & ~cls_b & (((n_pass >= min_passes_moving) & kept_moving)
                                   | (n_pass >= min_passes))
    # a Class B unit (2 W, every 30 s under way) is heard by a pass only now and then:
    # held to the satellites only when it kept moving through many of them
    passes_ok |= moving & cls_b & (n_pass >= min_passes_class_b)
    outage = (co > max_co_silence) | (g["co_onset"].to_numpy() >= min_co_onset)
    same_port = (g["start_in_port"].to_numpy(bool) & g["end_in_port"].to_numpy(bool)
                 & (g["start_port"].to_numpy(dtype=object) == g["end_port"].to_numpy(dtype=object)))
    conds = [
        ~closed,
        dur < suspicious_min_h,
        speed > max_speed_kn,
        outage & ~passes_ok,
        poor & ~passes_ok,
        poor | outage,  # (already passed the tests above)
        same_port,
        np.ones(n, dtype=bool),
    ]
    last = "dark_in_coverage" if scored else "dark_unscored"
    codes = ["open", "short", "implausible_speed", "co_silence", "poor_coverage",
             "dark_between_passes", "off_at_berth", last]
    reason = np.select(conds, codes, default=last)
    g["suspicious"] = np.isin(reason, ["off_at_berth", "dark_between_passes", last])
    g["reason"] = pd.array(reason.astype(object), dtype="str")
    return g[list(GAP_COLUMNS + CONTEXT_COLUMNS)]


def co_onset(gaps: pd.DataFrame, *, window_h: float = 1.0, radius_km: float = 30.0,
             reference: pd.DataFrame | None = None) -> np.ndarray:
    """Number of *other* vessels whose gap began near each gap's start, in time and place.

    A receiver outage silences every vessel in the station's range at once, so their gaps
    begin together; a deliberate switch-off is a single vessel's. For each gap, counts the
    distinct other MMSIs of ``gaps`` whose ``start_time`` lies within ``window_h`` and whose
    start position lies within ``radius_km`` (great circle). With ``reference`` (a table
    with ``mmsi``, ``start_time``, ``start_lat``, ``start_lon``) the other gaps are taken
    from it instead of from ``gaps``: the batch engine passes the gap starts of every
    vessel partition, so that each partition counts against all vessels. Vectorised: one
    sort by start time and a ``searchsorted`` window, then the candidate pairs.

    Examples
    --------
    >>> g = pd.DataFrame({"mmsi": [1, 2, 3], "start_lat": [40.0, 40.1, 42.0],
    ...     "start_lon": [50.0, 50.0, 50.0], "start_time": pd.to_datetime(
    ...     ["2023-01-01 00:00", "2023-01-01 00:30", "2023-01-01 00:10"], utc=True)})
    >>> co_onset(g).tolist()
    [1, 1, 0]
    """
    n = len(gaps)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ref = gaps if reference is None else reference

    def start_ns(frame: pd.DataFrame) -> np.ndarray:
        s = frame["start_time"]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s.to_numpy(dtype="datetime64[ns]").view(np.int64)

    t = start_ns(gaps)
    t_ref = t if reference is None else start_ns(ref)
    o = np.argsort(t_ref, kind="stable")
    ts = t_ref[o]
    w = int(round(window_h * _NS_PER_H))
    lo = np.searchsorted(ts, t - w, side="left")
    hi = np.searchsorted(ts, t + w, side="right")
    cnt = hi - lo
    rep = np.repeat(np.arange(n), cnt)
    j = o[np.repeat(lo, cnt) + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))]
    la = gaps["start_lat"].to_numpy(np.float64)
    lo_ = gaps["start_lon"].to_numpy(np.float64)
    mm = gaps["mmsi"].to_numpy(np.int64)
    la_r = ref["start_lat"].to_numpy(np.float64)
    lo_r = ref["start_lon"].to_numpy(np.float64)
    mm_r = ref["mmsi"].to_numpy(np.int64)
    ok = (mm[rep] != mm_r[j]) & (
        haversine_km(la[rep], lo_[rep], la_r[j], lo_r[j]) <= radius_km)
    if not ok.any():
        return np.zeros(n, dtype=np.int64)
    pairs = pd.DataFrame({"g": rep[ok], "m": mm_r[j[ok]]}).drop_duplicates()
    return np.bincount(pairs["g"].to_numpy(), minlength=n).astype(np.int64)


def detect_gaps(
    tracks: pd.DataFrame,
    min_gap: Any = "6h",
    *,
    include_open: bool = False,
    data_end: Any = None,
    enrich: bool = True,
    ports: pd.DataFrame | None = None,
    window_h: float = 12.0,
    reception_model: ReceptionModel | None | bool = None,
    suspicious_min_h: float = 6.0,
    min_score: float = 0.5,
    max_co_silence: float = 0.5,
    max_speed_kn: float = 50.0,
    moving_min_kn: float = 3.0,
    min_passes_moving: int = 1,
    min_passes: int = 4,
    kept_moving_ratio: float = 0.5,
    min_co_onset: int = 2,
    onset_window_h: float = 1.0,
    onset_radius_km: float = 30.0,
    min_passes_class_b: int = 8,
    onset_intervals: float = 2.0,
    onset_reference: pd.DataFrame | None = None,
    **reception_options: Any,
) -> pd.DataFrame:
    """Find every AIS gap: a silence of at least ``min_gap`` between consecutive reports.

    Vectorised over all vessels: one sort by ``(mmsi, timestamp)``, neighbour time
    differences, and a mask ``same vessel & dt >= min_gap`` (the threshold is inclusive).
    Reports sharing a timestamp (moored vessels, duplicates) are kept and simply give
    zero-length intervals, so exact duplicate rows never change the result.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Canonical AIS table (see :mod:`caspian_ais.schema`), any row order. Rows with
        missing ``lat``/``lon`` or ``timestamp`` should be removed beforehand by
        :func:`caspian_ais.clean` (a NaN position gives NaN distance and speed; a NaT
        timestamp raises ``ValueError``).
    min_gap : str, Timedelta or float, default "6h"
        Shortest silence reported, inclusive. A number is hours. Default: GFW's gap
        "off" event (Welch et al. 2022) and Skylight's "potential dark activity".
    include_open : bool, default False
        Also report, for each vessel whose last report is followed by at least
        ``min_gap`` of silence until ``data_end``, an *open* gap with ``end_time`` NaT
        and ``is_closed`` False (GFW pipe-gaps). ``duration_h`` of an open gap is the
        silence up to ``data_end``.
    data_end : timestamp-like, optional
        End of the data period for open gaps; default the table's latest timestamp.
    enrich : bool, default True
        Add the context columns (see Returns). ``False`` gives only the core columns,
        which is the fastest.
    ports : pandas.DataFrame, optional
        Port gazetteer as returned by :func:`caspian_ais.ports.load_ports`; default the
        bundled Caspian gazetteer. Used only when ``enrich``.
    window_h : float, default 12.0
        Length (hours) of the windows before the gap start and after the gap end in
        which reports are counted (GFW's ``positions_12_hours_before``).
    reception_model : ReceptionModel, bool or None, default None
        Reception model for the ``reception_score``/``co_silence`` columns. ``None``
        or ``True``: learn one from ``tracks`` with
        :func:`caspian_ais.reception.build_reception_model`. ``False``: no scoring
        (``suspicious`` then rests on duration and ports only).
    suspicious_min_h : float, default 6.0
        Shortest gap (hours) that can be ``suspicious``.
    min_score : float, default 0.5
        A gap is suspicious only if its ``reception_score`` (0-1) is at least this.
    max_co_silence : float, default 0.5
        A gap is *not* suspicious when more than this fraction of the other vessels heard
        near its ends before it went quiet during it (receiver outage).
    max_speed_kn : float, default 50.0
        A gap whose implied speed exceeds this is not suspicious (identity or position
        error more likely than a switch-off).
    moving_min_kn : float, default 3.0
        In poorly covered water (or during an outage) a gap is suspicious only if the
        vessel was under way (at least this speed at both ends), is not Class B, and
        satellite passes that heard other vessels happened during the gap (``passes``):
        only a moving Class A transmitter is reliably heard by a satellite pass.
    min_passes_moving : int, default 1
        Passes needed when the vessel kept moving across the gap (implied speed at least
        ``kept_moving_ratio`` times the lower of its speeds at the two ends).
    min_passes : int, default 4
        Passes needed otherwise (it may have anchored or moored in between, when it
        reports only every 3 minutes and a pass often misses it).
    kept_moving_ratio : float, default 0.5
        See ``min_passes_moving``.
    min_co_onset : int, default 2
        A gap is explained by a receiver outage (``co_silence``) when at least this many
        *other* vessels began a gap within ``onset_window_h`` and ``onset_radius_km`` of
        its start (``co_onset``), unless passes heard during it say otherwise.
    onset_window_h, onset_radius_km : float, default 1.0, 30.0
        See ``min_co_onset``.
    min_passes_class_b : int, default 8
        A Class B vessel (2 W, a report every 30 s under way; a satellite pass hears it
        only now and then) is held to the satellites only when it was under way at both
        ends, kept moving across the gap and at least this many whole passes fell inside
        it (at even odds per pass, eight passes all missed is under 1 %).
    onset_intervals : float, default 2.0
        In data thinned to one report per ``report_interval_s`` (the reception model's
        estimate, :func:`caspian_ais.reception.estimate_report_interval_s`) a gap's start
        is known only to within one interval, so the onset window is widened to
        ``max(onset_window_h, onset_intervals x report_interval_s)``. No effect at one
        report every 30 minutes or faster.
    onset_reference : pandas.DataFrame, optional
        The gaps that ``co_onset`` counts against (``mmsi``, ``start_time``,
        ``start_lat``, ``start_lon``); default the gaps found here. The batch and Dask
        engines pass the gap starts of all vessel partitions, so that a partition's gaps
        are judged against every vessel's, as in memory.
    **reception_options
        Passed to :func:`caspian_ais.reception.build_reception_model` and
        :func:`caspian_ais.reception.score_gaps` (e.g. ``cell_deg``, ``radius_cells``).

    Returns
    -------
    pandas.DataFrame
        One row per gap, ordered by ``(mmsi, start_time)``, with the base columns
        :data:`BASE_COLUMNS` (start = last report before the silence, end = first report
        after it; ``distance_km`` haversine; ``implied_speed_kn`` = distance / duration),
        ``gap_id`` (``"<mmsi>-<start unix seconds>"``, stable across runs and input
        splits) and ``is_closed``. With ``enrich``, also ``flag_state``, ``ship_type``,
        ``start_port``, ``start_port_km``, ``start_in_port``, ``end_port``,
        ``end_port_km``, ``end_in_port``, ``positions_before``, ``positions_after``
        (distinct report times within ``window_h`` before the start / after the end,
        the end reports themselves included), ``start_sog_kn``, ``end_sog_kn``,
        ``start_cog_deg``, ``end_cog_deg``, ``start_draught_m``, ``end_draught_m``,
        ``reception_score``, ``co_silence`` (see
        :func:`caspian_ais.reception.score_gaps`), ``suspicious`` and
        ``reason`` (a code of :data:`REASONS`).

    Examples
    --------
    >>> t = pd.DataFrame({"mmsi": [273000001] * 3, "lat": [45.0, 45.1, 45.2],
    ...                   "lon": [49.0, 49.0, 49.0], "timestamp": pd.to_datetime(
    ...     ["2023-06-01 00:00", "2023-06-01 06:00", "2023-06-01 07:00"], utc=True)})
    >>> g = detect_gaps(t, "6h", enrich=False)
    >>> g[["mmsi", "duration_h", "gap_id"]].to_dict("records")
    [{'mmsi': 273000001, 'duration_h': 6.0, 'gap_id': '273000001-1685577600'}]
    """
    rule_options: dict[str, Any] = dict(
        min_passes_moving=min_passes_moving, min_passes=min_passes,
        kept_moving_ratio=kept_moving_ratio, min_co_onset=min_co_onset,
        onset_window_h=onset_window_h, onset_radius_km=onset_radius_km,
        min_passes_class_b=min_passes_class_b, onset_intervals=onset_intervals,
        onset_reference=onset_reference)
    td = to_timedelta(min_gap)
    min_gap_ns = int(td.value)
    if min_gap_ns <= 0:
        raise ValueError(f"min_gap must be positive, got {min_gap!r}")
    for col in ("mmsi", "timestamp", "lat", "lon"):
        if col not in tracks.columns:
            raise KeyError(f"tracks lacks column {col!r}")
    data_end_ns = None
    if data_end is not None:
        de = pd.Timestamp(data_end)
        de = de.tz_localize("UTC") if de.tzinfo is None else de.tz_convert("UTC")
        data_end_ns = int(de.value)
    if len(tracks) == 0:
        gaps = _empty_gaps()
        if enrich:
            st0 = sort_tracks(tracks)
            e0 = np.zeros(0, dtype=np.int64)
            return _enrich(gaps, tracks, st0, e0, e0, ports=ports, window_h=window_h,
                           reception_model=False, suspicious_min_h=suspicious_min_h,
                           min_score=min_score, max_co_silence=max_co_silence,
                           max_speed_kn=max_speed_kn, moving_min_kn=moving_min_kn,
                           reception_options={}, **rule_options)
        return gaps
    st = sort_tracks(tracks)
    gaps, s_rows, e_rows = _core_gaps(
        tracks, st, min_gap_ns, include_open=include_open, data_end_ns=data_end_ns
    )
    if not enrich:
        return gaps
    unknown = set(reception_options) - set(_BUILD_OPTIONS) - set(_SCORE_OPTIONS)
    if unknown:
        raise TypeError(f"detect_gaps() got unexpected option(s) {sorted(unknown)}")
    return _enrich(
        gaps, tracks, st, s_rows, e_rows, ports=ports, window_h=window_h,
        reception_model=reception_model, suspicious_min_h=suspicious_min_h,
        min_score=min_score, max_co_silence=max_co_silence, max_speed_kn=max_speed_kn,
        moving_min_kn=moving_min_kn, reception_options=reception_options, **rule_options,
    )
