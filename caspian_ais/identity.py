"""Identity and position anomalies: spoofing, shared MMSIs, teleports, land, frozen fixes.

:func:`detect_identity_anomalies` works on the **raw** table (as read, before
:func:`caspian_ais.clean`): cleaning removes exactly the rows that betray these anomalies
(position jumps, the minority track of a shared MMSI, invalid MMSIs), and keeps only a
ledger line for each. Passing a cleaned table still works but finds less. See
``docs/encounters_identity.md`` and ``/work/shared/method.md`` "Spoofing indicators".

Kinds (column ``kind``), each vectorised over all vessels:

``default_mmsi`` / ``invalid_mmsi``
    An MMSI from :data:`DEFAULT_MMSIS` (factory and test values such as 123456789,
    111111111, 0), or one that is not a 9-digit ship-station MMSI with an allocated MID
    and not a known non-vessel station either (ITU-R M.585). One row per MMSI.
``two_places``
    One MMSI reported from two places at once: an episode of at least
    ``min_two_places_jumps`` impossible steps (implied speed above ``max_speed_kn``) in at
    least ``min_two_places_bursts`` bursts (or one burst longer than ``max_teleport_min``),
    consecutive bursts at most ``episode_gap_h`` apart.
``teleport``
    At most ``max_teleport_rows`` reports far away, reached and left by impossible steps,
    with the track consistent before and after; or reached by a possible step that dead
    reckoning (below) puts at least ``dr_offset_min_km`` off the track and left by an
    impossible one, the step from the report before them to the one after consistent.
``spoofing``
    A longer excursion: an impossible step away and one back, the positions in between
    consistent with each other (a track broadcast off the true one). Offshore the steps
    onto and off a spoofed stretch often cross hours of silence at a plausible speed, so
    the stretch is also found by *dead reckoning*: a step that lands at least
    ``dr_offset_min_km`` off where the ship's own reported speeds and courses put it
    (sailing at the velocity reported at the start of the step, then at the one reported
    at its end, changing once at an unknown moment), and a later step, at most
    ``episode_gap_h`` after, that takes the offset back (the two offsets cancel to within
    ``dr_return_frac``), the ship reporting itself under way (``dr_min_sog_kn``)
    throughout. Such a stretch of at most ``max_teleport_rows`` reports is a
    ``teleport`` (or a ``frozen_position``, below).
``position_jump``
    A single impossible step not otherwise explained (a spoofed or mis-attributed
    stretch whose other end went unheard).
``on_land``
    Reports on land: outside the Caspian water polygon grown by ``land_tolerance_km``
    and outside the Volga-Caspian canal corridor (which holds the river ports Astrakhan
    and Olya). Only points inside :data:`CASPIAN_BBOX` are tested.
``frozen_position``
    At least ``min_frozen_repeats`` consecutive reports at exactly the same position over
    at least ``min_frozen_h`` (or reporting a mean speed of at least
    ``frozen_moving_sog_kn``), more than ``frozen_min_port_distance_km`` from any port.
    Offshore a stuck fix is often heard only once or twice, between silences: an
    excursion of at most ``max_teleport_rows`` reports (as for a ``teleport``) that all
    repeat one position, report at least ``dr_min_sog_kn``, and lie on the ship's
    dead-reckoned track between the reports around them (within ``jump_tolerance_km``
    plus that track's own residual) more than ``jump_tolerance_km`` *behind* where the
    ship was when they were sent, is a *stale fix*: ``frozen_position`` too.
``name_change`` / ``imo_change``
    An MMSI starts transmitting a new name or IMO number (each value seen in at least
    ``min_identity_rows`` reports). Names are compared upper-case, without spaces or the
    ``@`` padding of AIS text at either end; placeholders (``""``, ``N/A``, ``NULL``,
    ``UNKNOWN`` ...: :data:`_PLACEHOLDER_NAMES`) are no name, so ``ALPHA -> N/A -> ALPHA``
    is no change.
``flag_change`` / ``mmsi_change``
    An IMO number moves to another MMSI, with another MID (reflagging) or the same.

How it is fast (about 0.5 s for 10 M rows; every shortcut gives exactly the result of
the plain computation, which the tests check):

* rows already in ``(mmsi, time)`` order are not sorted again; a table in that order
  with rows appended (the cleaned tracks and their ledger) is merged by binary search;
* the table is read through the sorted row positions, block by block, never copied;
  with ``ledger=`` the ledger's rows are read alongside the cleaned table, without
  building :func:`raw_from_ledger`'s table;
* a step is measured (haversine, dead reckoning) only when cheap bounds without
  trigonometry say it may be impossible or offset;
* the on-land test reads a 0.01-degree grid of the water polygon and tests one by one
  only the points in the cells the shore crosses;
* the vessels' speed percentiles come from counts of tenths of a knot; names and IMO
  numbers are compared run by run.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import pandas as pd

from caspian_ais.geodesy import EARTH_RADIUS_KM as _R_KM
from caspian_ais.geodesy import KM_PER_NM, haversine_km
from caspian_ais.schema import timestamp_ns

__all__ = [
    "ANOMALY_COLUMNS",
    "ANOMALY_KINDS",
    "CASPIAN_BBOX",
    "DEFAULT_MMSIS",
    "detect_identity_anomalies",
    "raw_from_ledger",
]

_NS_PER_H = 3_600_000_000_000
_NAT = np.iinfo(np.int64).min
#: Kilometres per degree of great-circle arc.
_KM_PER_DEG = _R_KM * np.pi / 180.0
#: Relative margin of the cheap bounds that decide which steps to measure exactly: far
#: above floating-point rounding, so that a bound never drops a step the exact test keeps.
_MARGIN = 1e-9

#: Default, test and filler MMSIs seen in real AIS.
DEFAULT_MMSIS: frozenset[int] = frozenset(
    {0, 1, 12345678, 123456789, 987654321, 100000000, 999999999, 111111111, 222222222,
     333333333, 444444444, 555555555, 666666666, 777777777, 888888888}
)
#: Names that say the name is unknown (compared upper-case, stripped of spaces and of the
#: "@" padding of AIS text): they count as no name, not as a change of name.
_PLACEHOLDER_NAMES: frozenset[str] = frozenset(
    {"", "-", "N/A", "NA", "#N/A", "NULL", "NONE", "NAN", "UNKNOWN"})
#: (lon_min, lat_min, lon_max, lat_max): where the on-land test applies, degrees.
CASPIAN_BBOX: tuple[float, float, float, float] = (45.5, 35.5, 56.0, 48.0)

#: ``kind`` codes, a public contract (add, never rename).
ANOMALY_KINDS: dict[str, str] = {
    "default_mmsi": "a default or test MMSI",
    "invalid_mmsi": "not a valid ship-station MMSI",
    "two_places": "one MMSI reported from two places at once",
    "teleport": "a few reports far away, then back",
    "spoofing": "a stretch of positions broadcast off the track, then back",
    "position_jump": "a single impossible step",
    "on_land": "positions on land",
    "frozen_position": "identical positions repeated in open water",
    "name_change": "the MMSI transmits a new name",
    "imo_change": "the MMSI transmits a new IMO number",
    "flag_change": "the IMO number moves to an MMSI of another flag",
    "mmsi_change": "the IMO number moves to another MMSI of the same flag",
}

#: Columns of :func:`detect_identity_anomalies`, in order.
ANOMALY_COLUMNS: tuple[str, ...] = (
    "anomaly_id",
    "mmsi",
    "kind",
    "start_time",
    "end_time",
    "n_rows",
    "lat",
    "lon",
    "max_speed_kn",
    "other_mmsi",
    "old_value",
    "new_value",
    "detail",
)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    utc = "datetime64[ns, UTC]"
    if not rows:
        dt = {"anomaly_id": "str", "mmsi": "int64", "kind": "str", "start_time": utc,
              "end_time": utc, "n_rows": "int64", "other_mmsi": "Int64", "old_value": "str",
              "new_value": "str", "detail": "str"}
        return pd.DataFrame({c: pd.Series([], dtype=dt.get(c, "float64")) for c in ANOMALY_COLUMNS})
    out = pd.DataFrame(rows)
    for c in ANOMALY_COLUMNS:
        if c not in out:
            out[c] = None
    out["start_time"] = pd.to_datetime(out["start_time"].astype("int64"), utc=True)
    out["end_time"] = pd.to_datetime(out["end_time"].astype("int64"), utc=True)
    out["mmsi"] = out["mmsi"].astype("int64")
    out["n_rows"] = out["n_rows"].astype("int64")
    out["other_mmsi"] = pd.array(out["other_mmsi"].tolist(), dtype="Int64")
    for c in ("lat", "lon", "max_speed_kn"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in ("kind", "old_value", "new_value", "detail"):
        out[c] = out[c].astype("str").where(out[c].notna(), None)
    out["anomaly_id"] = (out["mmsi"].astype(str) + "-" + out["kind"] + "-"
                         + (out["start_time"].astype("int64") // 1_000_000_000).astype(str))
    out = out.sort_values(["start_time", "mmsi", "kind"], kind="stable").reset_index(drop=True)
    return out[list(ANOMALY_COLUMNS)]


def _runs(key_change: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (inclusive) indices of runs where ``key_change`` marks run starts."""
    starts = np.flatnonzero(key_change)
    ends = np.r_[starts[1:], len(key_change)] - 1
    return starts, ends


def _step(lat: _Rows, lon: _Rows, t: _Rows, a: np.ndarray, b: np.ndarray,
          max_kmh: float, tol_km: float, soft_kmh_a: np.ndarray | None = None,
          soft_min_h: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(impossible?, implied speed kn) of steps a -> b.

    A step is impossible above ``max_kmh``, or, when it lasts at least ``soft_min_h``
    hours, above the vessel's own cap ``soft_kmh_a`` (km/h, one value per step).
    """
    d = haversine_km(lat[a], lon[a], lat[b], lon[b])
    dt_h = (t[b] - t[a]) / _NS_PER_H
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(dt_h > 0, d / dt_h, np.inf)
    cap = np.full(len(v), max_kmh)
    if soft_kmh_a is not None:
        cap = np.where(dt_h >= soft_min_h, np.fmin(cap, soft_kmh_a), cap)
    return (d > tol_km) & (v > cap), v / KM_PER_NM


def _north_km(lat: _Rows, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Northward displacement of steps a -> b, km (local flat Earth)."""
    return np.radians(lat[b] - lat[a]) * _R_KM


def _east_km(lat: _Rows, lon: _Rows, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Eastward displacement of steps a -> b, km (at the steps' mean latitude)."""
    dlon = (lon[b] - lon[a] + 180.0) % 360.0 - 180.0
    return np.radians(dlon) * _R_KM * np.cos(np.radians((lat[a] + lat[b]) / 2))


def _dr_fit(lat: _Rows, lon: _Rows, t: _Rows, sog: _Rows, cog: _Rows, a: np.ndarray,
            b: np.ndarray, min_sog_kn: float) -> tuple[np.ndarray, ...]:
    """:func:`_dr_residual` and its fit, for steps a -> b: (north km, east km, length
    km; the share of the step sailed at the velocity of ``a``; that velocity's north and
    east km over the whole step, and the same of ``b``), NaN where not measurable."""
    dt_h = (t[b] - t[a]) / _NS_PER_H
    sa, sb = sog[a], sog[b]
    ca, cb = np.radians(cog[a]), np.radians(cog[b])
    # the ends of the segment of predicted displacements, km
    an, ae = sa * np.cos(ca) * KM_PER_NM * dt_h, sa * np.sin(ca) * KM_PER_NM * dt_h
    bn, be = sb * np.cos(cb) * KM_PER_NM * dt_h, sb * np.sin(cb) * KM_PER_NM * dt_h
    dn, de = _north_km(lat, a, b) - bn, _east_km(lat, lon, a, b) - be
    sn, se = an - bn, ae - be
    ln2 = sn * sn + se * se
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.clip((dn * sn + de * se) / ln2, 0.0, 1.0)
    s = np.where(ln2 > 0, s, 0.0)
    rn, re = dn - s * sn, de - s * se
    res = np.hypot(rn, re)
    with np.errstate(invalid="ignore"):
        ok = (sa >= min_sog_kn) & (sb >= min_sog_kn) & (dt_h > 0) & np.isfinite(res)
    return tuple(np.where(ok, x, np.nan) for x in (rn, re, res, s, an, ae, bn, be))


def _dr_residual(lat: _Rows, lon: _Rows, t: _Rows, sog: _Rows, cog: _Rows, a: np.ndarray,
                 b: np.ndarray, min_sog_kn: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dead-reckoning residual of steps a -> b: (north km, east km, length km).

    The ship is taken to sail at the velocity it reported at ``a`` (SOG, COG), then at
    the one it reported at ``b``, changing once, at an unknown moment: over a step of
    duration ``T`` it moves ``v_a x s + v_b x (T - s)`` for some ``0 <= s <= T``, a
    point of the segment from ``v_b x T`` to ``v_a x T``. The residual is the displacement
    minus the nearest such point: what neither reported velocity, nor one change between
    them (of speed, course or both), explains. With equal velocities it is the plain
    dead-reckoning error. Steps whose ends do not both report at least ``min_sog_kn`` (or
    lack SOG or COG) get NaN.

    The residual's length is at most ``|displacement| + min(sog[a], sog[b]) x T``
    (the distance to the end ``v_b x T`` or ``v_a x T``), which
    :func:`_candidate_steps` uses.
    """
    rn, re, res = _dr_fit(lat, lon, t, sog, cog, a, b, min_sog_kn)[:3]
    return rn, re, res


def _polyline_km(pn: np.ndarray, pe: np.ndarray, *corners: tuple[np.ndarray, np.ndarray]
                 ) -> np.ndarray:
    """Distance (km) from points ``(pn, pe)`` to the polylines through ``corners`` (each a
    ``(north, east)`` pair of arrays, one point per polyline), flat coordinates."""
    best = np.full(np.shape(pn), np.inf)
    for (n0, e0), (n1, e1) in zip(corners[:-1], corners[1:], strict=True):
        vn, ve = n1 - n0, e1 - e0
        ln2 = vn * vn + ve * ve
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.clip(((pn - n0) * vn + (pe - e0) * ve) / ln2, 0.0, 1.0)
        u = np.where(ln2 > 0, u, 0.0)
        best = np.fmin(best, np.hypot(pn - n0 - u * vn, pe - e0 - u * ve))
    return best


def _stale_fix(lat: _Rows, lon: _Rows, t: _Rows, sog: _Rows, cog: _Rows, a: np.ndarray,
               p: np.ndarray, b: np.ndarray, tol_km: float, min_sog_kn: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether the position of row ``p`` is a fix the ship passed before it was sent, on
    its way from row ``a`` to row ``b``: (stale?, km behind, hours behind).

    The ship's track from ``a`` to ``b`` is the dead-reckoning fit of
    :func:`_dr_residual` (the velocity reported at ``a``, then the one reported at
    ``b``); the position must lie within ``tol_km`` plus that fit's residual of it. Where
    dead reckoning cannot be used the track is the straight line from ``a`` to ``b``,
    within ``tol_km``. Along that line the position must lie between the two and more
    than ``tol_km`` behind where sailing it at constant speed puts the ship at ``t[p]``.
    Hours behind: that distance at the line's mean speed.
    """
    pn, pe = _north_km(lat, a, p), _east_km(lat, lon, a, p)
    bn, be = _north_km(lat, a, b), _east_km(lat, lon, a, b)
    chord = np.hypot(bn, be)
    span = (t[b] - t[a]).astype(np.float64)
    rn, re, res, s, van, vae, vbn, vbe = _dr_fit(lat, lon, t, sog, cog, a, b, min_sog_kn)
    # the fitted track: a, the change of velocity, the predicted end
    xn, xe = s * van, s * vae
    fitted = _polyline_km(pn, pe, (np.zeros_like(xn), np.zeros_like(xe)), (xn, xe),
                          (xn + (1 - s) * vbn, xe + (1 - s) * vbe))
    straight = _polyline_km(pn, pe, (np.zeros_like(bn), np.zeros_like(be)), (bn, be))
    off = np.where(np.isfinite(res), fitted - res, straight)
    with np.errstate(invalid="ignore", divide="ignore"):
        along = (pn * bn + pe * be) / chord
        behind = chord * (t[p] - t[a]) / span - along
        stale = ((chord > 0) & (span > 0) & (along >= 0) & (along <= chord)
                 & (off <= tol_km) & (behind > tol_km))
        hours = behind / chord * span / _NS_PER_H
    return stale, behind, hours


# ---- speed-ups: exact, every one checked against the plain computation ------------------


#: Rows per block of the scans over the whole table: a few MB per column, so that the
#: scans work in the processor's cache and allocate no table-sized temporaries.
_CHUNK = 1 << 18


class _Rows(Protocol):
    """What the detectors read a column through: ``len`` and ``[int | slice | array]``."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: Any, /) -> Any: ...


class _Column:
    """A column of the rows analysed: the table's (``head``), then the ledger's (``tail``),
    read by position (``column[key]``, ``key`` an int, a slice or an int array) without
    concatenating them."""

    def __init__(self, head: np.ndarray, tail: np.ndarray | None = None) -> None:
        self.head = head
        self.tail = tail if tail is not None and len(tail) else None
        self.n_head = len(head)

    def __len__(self) -> int:
        return self.n_head + (0 if self.tail is None else len(self.tail))

    def __getitem__(self, key: Any) -> Any:
        if self.tail is None:
            return self.head[key]
        if isinstance(key, slice):
            key = np.arange(*key.indices(len(self)))
        pos = np.asarray(key)
        if pos.ndim == 0:
            i = int(pos)
            return self.head[i] if i < self.n_head else self.tail[i - self.n_head]
        if self.n_head == 0:
            return self.tail[pos]
        out = np.take(self.head, pos, mode="clip")  # the ledger's rows are put right below
        late = pos >= self.n_head
        if late.any():
            out[late] = self.tail[pos[late] - self.n_head]
        return out


class _View:
    """``column`` read through ``index`` (``None``: as it is): ``view[key]`` is
    ``column[index[key]]``, computed when read."""

    def __init__(self, column: _Column, index: np.ndarray | None) -> None:
        self.column, self.index = column, index

    def __len__(self) -> int:
        return len(self.column) if self.index is None else len(self.index)

    def __getitem__(self, key: Any) -> Any:
        return self.column[key if self.index is None else self.index[key]]


def _blocks(n: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of the blocks of :data:`_CHUNK` rows covering ``n`` rows."""
    return [(a, min(n, a + _CHUNK)) for a in range(0, n, _CHUNK)]


def _neighbours(n: int, *columns: _Rows, test: Any) -> np.ndarray:
    """Positions ``i`` where ``test(*(c[i] for c in columns), *(c[i + 1] ...))`` holds,
    over all consecutive rows, block by block."""
    out = []
    for a, b in _blocks(n - 1):
        cur = [c[a:b + 1] for c in columns]
        hit = test(*(x[:-1] for x in cur), *(x[1:] for x in cur))
        out.append(a + np.flatnonzero(hit))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _first_after(keys: np.ndarray, lo: np.ndarray, hi: np.ndarray, x: np.ndarray) -> np.ndarray:
    """For each ``i`` the first position in ``[lo[i], hi[i])`` whose key exceeds ``x[i]``
    (``hi[i]`` if none), ``keys`` ascending within each range: a vectorised bisection."""
    lo, hi = lo.copy(), hi.copy()
    last = len(keys) - 1
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) >> 1
        right = keys[np.minimum(mid, last)] <= x
        lo = np.where(active & right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)


def _sorted_rows(mmsi: _Column | np.ndarray, t: _Column | np.ndarray, sel: np.ndarray
                 ) -> np.ndarray | None:
    """Positions of the rows where ``sel`` holds, in stable ``(mmsi, t)`` order; ``None``
    when that is every row, in input order.

    A table in that order with rows appended (what :func:`raw_from_ledger` gives, or a
    table and its ledger) is merged: only the appended rows are sorted, then placed by
    binary search. Anything else goes through :func:`caspian_ais.ordering.sort_mmsi_time`.
    """
    mmsi = mmsi if isinstance(mmsi, _Column) else _Column(mmsi)
    t = t if isinstance(t, _Column) else _Column(t)
    n, n1 = len(mmsi), mmsi.n_head
    mh, th = mmsi.head, t.head
    unordered = th[1:] < th[:-1]
    unordered &= mh[1:] == mh[:-1]
    unordered |= mh[1:] < mh[:-1]
    # rows [0, p) are in order (the ledger's rows, if any, are merged in all the same)
    p = int(np.argmax(unordered)) + 1 if unordered.any() else n1
    del unordered
    everything = bool(sel.all())
    if p == n:
        return None if everything else np.flatnonzero(sel)
    if n - p > n // 4:
        from caspian_ais.ordering import sort_mmsi_time

        pick = np.flatnonzero(sel)
        return pick[sort_mmsi_time(mmsi[pick], t[pick]).order]
    tail = p + np.flatnonzero(sel[p:])
    m_tail, t_tail = mmsi[tail], t[tail]
    srt = np.lexsort((t_tail, m_tail))
    tail, m_tail, t_tail = tail[srt], m_tail[srt], t_tail[srt]
    lo = np.searchsorted(mh[:p], m_tail, side="left")
    hi = np.searchsorted(mh[:p], m_tail, side="right")
    at = _first_after(th[:p], lo, hi, t_tail)
    # equal insertion points keep the order of ``tail``: a stable merge
    merged = np.insert(np.arange(p, dtype=np.int64), at, tail)
    return merged if everything or sel[:p].all() else merged[sel[merged]]


def _order_ties(o: np.ndarray, tie: np.ndarray, lat: _Rows, lon: _Rows) -> np.ndarray:
    """Order rows sharing vessel and time by ``(lat, lon, input position)``, in place.

    ``o`` holds the input positions of rows sorted by ``(mmsi, time)``, ``tie`` the
    positions ``i`` where rows ``i`` and ``i + 1`` share vessel and time, ``lat`` and
    ``lon`` the input's positions. Afterwards ``o`` is the order of a stable sort of the
    input by ``(mmsi, time, lat, lon)``. Returns the positions of exact duplicates (same
    vessel, time and position as the row before).
    """
    rows = np.union1d(tie, tie + 1)
    run = np.cumsum(~np.isin(rows - 1, tie))
    src = o[rows]
    o[rows] = src[np.lexsort((src, lon[src], lat[src], run))]
    a, b = o[tie], o[tie + 1]
    same = (lat[b] == lat[a]) & (lon[b] == lon[a])
    return tie[same] + 1


def _bad_mmsi(mmsi: np.ndarray) -> np.ndarray:
    """Default, test or invalid MMSIs (see :func:`detect_identity_anomalies`)."""
    from caspian_ais.flags import is_ship_mmsi, mid_of

    ship = is_ship_mmsi(mmsi)
    non_vessel = ~ship & (mid_of(mmsi) > 0) & (mmsi >= 1_000_000)
    default = np.isin(mmsi, np.fromiter(DEFAULT_MMSIS, dtype=np.int64))
    return default | (~ship & ~non_vessel)


_CELL_NOT_LAND, _CELL_LAND, _CELL_EXACT = 0, 1, 2
#: Cell size of the on-land grid, degrees, and the margin (degrees, far above rounding)
#: by which a cell must clear the shore and the edges of CASPIAN_BBOX to be decided whole.
_GRID_DEG, _GRID_EPS_DEG = 0.01, 1e-7


@lru_cache(maxsize=8)
def _land_grid(tolerance_km: float) -> tuple[np.ndarray, float, float, int, int]:
    """The on-land test of :func:`detect_identity_anomalies` on a lat/lon grid, cached.

    Returns ``(state, lon0, lat0, nx, ny)``: cell ``(i, j)`` spans longitudes
    ``lon0 + [i, i + 1] x`` :data:`_GRID_DEG` and the same in latitude; its state, at
    ``j * nx + i``, is ``_CELL_NOT_LAND`` (every point of it is on water or outside
    :data:`CASPIAN_BBOX`), ``_CELL_LAND`` or ``_CELL_EXACT`` (the shore or an edge of the
    box passes within ``_GRID_EPS_DEG``: test its points one by one).

    The shore (the boundary of the grown water polygon and canal corridor) is cut into
    segments shorter than half a cell, and every cell within ``_GRID_EPS_DEG`` of one is
    ``_CELL_EXACT``. The other cells of a row between two such cells form a connected
    strip that the shore does not touch: all its points lie on the same side, so one
    point-in-polygon test per strip decides it.
    """
    import shapely

    from caspian_ais.water import navigable_water, on_water

    x0, y0, x1, y1 = CASPIAN_BBOX
    d, eps = _GRID_DEG, _GRID_EPS_DEG
    gx0, gy0 = x0 - 2 * d, y0 - 2 * d
    nx = int(np.ceil((x1 - x0) / d)) + 4
    ny = int(np.ceil((y1 - y0) / d)) + 4
    ex = gx0 + np.arange(nx + 1) * d
    ey = gy0 + np.arange(ny + 1) * d
    in_x = (ex[:-1] - eps >= x0) & (ex[1:] + eps <= x1)
    in_y = (ey[:-1] - eps >= y0) & (ey[1:] + eps <= y1)
    out_x = (ex[1:] + eps < x0) | (ex[:-1] - eps > x1)
    out_y = (ey[1:] + eps < y0) | (ey[:-1] - eps > y1)
    outside = out_y[:, None] | out_x[None, :]
    todo = in_y[:, None] & in_x[None, :]  # wholly inside the box: decided below
    state = np.where(outside, _CELL_NOT_LAND, _CELL_EXACT).astype(np.int8)
    # cells within eps of a segment of the shore (segments shorter than half a cell)
    geom = navigable_water(float(tolerance_km), True)
    rings = shapely.segmentize(shapely.get_rings(shapely.get_parts(geom)), d / 2)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    seg = ring[1:] == ring[:-1]
    xa, xb, ya, yb = xy[:-1, 0][seg], xy[1:, 0][seg], xy[:-1, 1][seg], xy[1:, 1][seg]
    ix0 = np.clip(np.floor((np.minimum(xa, xb) - eps - gx0) / d), 0, nx - 1).astype(np.int64)
    ix1 = np.clip(np.floor((np.maximum(xa, xb) + eps - gx0) / d), 0, nx - 1).astype(np.int64)
    iy0 = np.clip(np.floor((np.minimum(ya, yb) - eps - gy0) / d), 0, ny - 1).astype(np.int64)
    iy1 = np.clip(np.floor((np.maximum(ya, yb) + eps - gy0) / d), 0, ny - 1).astype(np.int64)
    span = int(max((ix1 - ix0).max(initial=0), (iy1 - iy0).max(initial=0)))
    for dx in range(span + 1):
        for dy in range(span + 1):
            hit = (ix0 + dx <= ix1) & (iy0 + dy <= iy1)
            todo[iy0[hit] + dy, ix0[hit] + dx] = False
    # strips of undecided cells along each row: one test at the centre of the first cell
    flat = todo.ravel()
    first = flat & ~np.r_[False, flat[:-1]]
    first[::nx] = flat[::nx]  # a strip never continues from the row below
    heads = np.flatnonzero(first)
    water = on_water(gy0 + (heads // nx + 0.5) * d, gx0 + (heads % nx + 0.5) * d,
                     tolerance_km=tolerance_km, include_canal=True)
    strip = np.cumsum(first) - 1
    cells = np.flatnonzero(flat)
    state.ravel()[cells] = np.where(water[strip[cells]], _CELL_NOT_LAND, _CELL_LAND)
    return state.ravel(), gx0, gy0, nx, ny


def _on_land(lat: np.ndarray, lon: np.ndarray, tolerance_km: float) -> np.ndarray:
    """Points inside :data:`CASPIAN_BBOX`, off the water grown by ``tolerance_km`` and
    off the Volga canal corridor (no NaN): exactly
    ``~caspian_ais.water.on_water(..., include_canal=True)`` on the box, through the
    grid of :func:`_land_grid` (only points near the shore are tested one by one)."""
    from caspian_ais.water import on_water

    state, gx0, gy0, nx, ny = _land_grid(float(tolerance_km))
    inv = 1.0 / _GRID_DEG
    f = np.subtract(lat, gy0)
    f *= inv
    np.clip(f, 0, ny - 1, out=f)
    cell = f.astype(np.int32)
    cell *= nx
    np.subtract(lon, gx0, out=f)
    f *= inv
    np.clip(f, 0, nx - 1, out=f)
    cell += f.astype(np.int32)
    del f
    st = state[cell]
    del cell
    land = st == _CELL_LAND
    exact = np.flatnonzero(st == _CELL_EXACT)
    if len(exact):
        x0, y0, x1, y1 = CASPIAN_BBOX
        la, lo = lat[exact], lon[exact]
        box = (lo >= x0) & (lo <= x1) & (la >= y0) & (la <= y1)
        land[exact[box]] = ~on_water(la[box], lo[box], tolerance_km=tolerance_km,
                                     include_canal=True)
    return land


_TENTH_BITS = 20  # a speed key is vessel code << _TENTH_BITS | tenths of a knot


def _tenths_keys(v: np.ndarray, code_of: Any) -> np.ndarray | None:
    """Keys (vessel code, tenths) of the values above 1 (``code_of(rows)``: the vessel
    codes of rows of ``v``), or ``None`` when a value is not a whole number of tenths
    (or is huge)."""
    above = np.flatnonzero(v > 1.0)
    vals = v[above]
    tenths = vals * 10.0
    np.rint(tenths, out=tenths)
    if not (tenths / 10.0 == vals).all() or (len(vals) and tenths.max() >= 1 << _TENTH_BITS):
        return None
    return (code_of(above) << _TENTH_BITS) | tenths.astype(np.int64)  # tenths >= 10


def _quantile_of_tenths(keys: list[np.ndarray], n_vessels: int, q: float) -> np.ndarray | None:
    """Per vessel the ``q`` quantile (linear, as pandas' ``group_quantile``) of the values
    of :func:`_tenths_keys`, NaN where none; ``None`` if the counts would be too large."""
    key = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
    k = key & ((1 << _TENTH_BITS) - 1)
    width = int(k.max()) + 1 if len(k) else 1
    if n_vessels * width > 1 << 25:
        return None
    key >>= _TENTH_BITS
    n_above = np.bincount(key, minlength=n_vessels)
    key *= width
    key += k
    del k
    cum = np.cumsum(np.bincount(key, minlength=n_vessels * width).reshape(n_vessels, width),
                    axis=1)
    # the idx-th value, interpolated towards the next one
    q_idx = q * (n_above - 1).astype(np.float64)
    idx = q_idx.astype(np.int64)
    frac = q_idx % 1
    val = (cum <= idx[:, None]).sum(axis=1) / 10.0
    nxt = np.minimum((cum <= idx[:, None] + 1).sum(axis=1), width - 1) / 10.0
    out = np.where(frac == 0.0, val, val + (nxt - val) * frac)
    out[n_above == 0] = np.nan
    return out


def _vessel_quantile(values: _Rows, mmsi: _Rows, starts: np.ndarray, q: float,
                     keys: list[np.ndarray] | None = None) -> np.ndarray:
    """Per vessel the ``q`` quantile of its values above 1 (NaN where none), exactly as
    ``pandas.Series(values).where(values > 1).groupby(mmsi).quantile(q)`` gives it.

    Rows are sorted by vessel, ``starts`` the first row of each. Reported speeds come in
    tenths of a knot: then the order statistics come from per-vessel counts of the tenths
    (``keys``, from :func:`_tenths_keys`, when the caller has them), without sorting;
    other values go through pandas.
    """
    if keys is None:
        keys = []
        for a, b in _blocks(len(values)):
            kb = _tenths_keys(values[a:b], lambda r, a=a: np.searchsorted(starts, a + r,
                                                                          side="right") - 1)
            if kb is None:
                break
            keys.append(kb)
        else:
            out = _quantile_of_tenths(keys, len(starts), q)
            if out is not None:
                return out
    else:
        out = _quantile_of_tenths(keys, len(starts), q)
        if out is not None:
            return out
    v, m = values[:], mmsi[:]
    top = pd.Series(np.where(v > 1.0, v, np.nan)).groupby(m).quantile(q)
    return top.reindex(m[starts]).to_numpy(float)


def _arrow_chunks(values: pd.Series) -> Any:
    """The Arrow chunked array of an Arrow-backed column (no copy), else ``None``."""
    if not isinstance(values.array, pd.arrays.ArrowExtensionArray) and not (
            isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        return None
    import pyarrow as pa

    arr = values.array.__arrow_array__()
    return pa.chunked_array([arr]) if isinstance(arr, pa.Array) else arr


def _value_breaks(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``i`` where row ``i + 1`` may hold another value than row ``i`` (a
    missing value differs from every other), and the positions of missing values."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iufbmM":
        v = values.to_numpy()
        # NaN and NaT differ from everything
        return np.flatnonzero(v[1:] != v[:-1]), np.flatnonzero(values.isna().to_numpy())
    arr = _arrow_chunks(values)
    if arr is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            same = pc.fill_null(pc.equal(arr[1:], arr[:-1]), False)
            brk = np.asarray(pc.indices_nonzero(pc.invert(same)), dtype=np.int64)
        except (NotImplementedError, TypeError, ValueError, pa.ArrowInvalid):
            pass  # a type Arrow cannot compare: below
        else:
            nulls, off = [], 0
            for c in arr.chunks:  # only chunks holding nulls are scanned
                if c.null_count:
                    nulls.append(off + np.asarray(pc.indices_nonzero(pc.is_null(c)),
                                                  dtype=np.int64))
                off += len(c)
            return brk, np.concatenate(nulls) if nulls else np.zeros(0, dtype=np.int64)
    numpy_dtype = getattr(dtype, "numpy_dtype", None)  # nullable (masked) numbers
    if numpy_dtype is not None and np.dtype(numpy_dtype).kind in "iufb":
        na = values.isna().to_numpy()
        v = values.to_numpy(dtype=numpy_dtype, na_value=0)
        return np.flatnonzero((v[1:] != v[:-1]) | na[1:] | na[:-1]), np.flatnonzero(na)
    codes, _ = pd.factorize(values)
    return (np.flatnonzero((codes[1:] != codes[:-1]) | (codes[1:] < 0) | (codes[:-1] < 0)),
            np.flatnonzero(codes < 0))


def _take(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """``values.iloc[rows]`` (rows ascending); an Arrow column chunk by chunk, without
    concatenating its chunks first."""
    arr = _arrow_chunks(values)
    if arr is None or arr.num_chunks < 2:
        return values.iloc[rows]
    import pyarrow as pa

    parts, off = [], 0
    for c in arr.chunks:
        lo, hi = np.searchsorted(rows, [off, off + len(c)])
        if hi > lo:
            parts.append(c.take(pa.array(rows[lo:hi] - off)))
        off += len(c)
    return pd.Series(values.dtype.__from_arrow__(pa.chunked_array(parts, type=arr.type)),
                     index=values.index[rows], name=values.name)


def _union(*positions: np.ndarray) -> np.ndarray:
    """Sorted distinct values of integer arrays (by sorting: small arrays)."""
    c = np.sort(np.concatenate(positions))
    return c[np.r_[True, c[1:] != c[:-1]]] if len(c) else c


def _below(x: float) -> float:
    """``x`` lowered by the relative margin :data:`_MARGIN` (a bound that is never too high)."""
    return x - abs(x) * _MARGIN


def _candidate_steps(m: np.ndarray, t: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                     sog: np.ndarray, *, max_kmh: float, tol_km: float, soft_lb_kmh: float,
                     dr_offset_min_km: float | None, dr_min_sog_kn: float
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Steps ``k -> k + 1`` of one vessel that may be impossible, and those whose
    dead-reckoning residual may be offset (``None`` without that test): a superset of
    what :func:`_step` and :func:`_dr_residual` keep, from bounds without trigonometry.

    ``|dlat| + |dlon|`` (degrees of arc) is at least the great-circle distance; a step
    can be impossible only if that exceeds the tolerance and the distance the lowest cap
    that applies (``max_kmh``, or ``soft_lb_kmh`` over ``soft_min_h``) allows in its
    duration. The dead-reckoning residual is at most ``|displacement| +
    min(sog[a], sog[b]) x duration <= |displacement| + (sog[a] + sog[b]) / 2 x duration``.
    Each bound is lowered by :data:`_MARGIN`.
    """
    arc = np.subtract(lat[1:], lat[:-1])
    np.abs(arc, out=arc)
    buf = np.subtract(lon[1:], lon[:-1])
    np.abs(buf, out=buf)
    arc += buf
    dt = t[1:] - t[:-1]
    # impossible: farther than the tolerance and faster than the lowest cap that applies
    thr = np.multiply(dt, _below(max_kmh / _NS_PER_H / _KM_PER_DEG), out=buf)
    if soft_lb_kmh < max_kmh:
        lng = np.flatnonzero(dt >= int(_below(0.25 * _NS_PER_H)))
        thr[lng] = dt[lng] * (_below(soft_lb_kmh / _NS_PER_H / _KM_PER_DEG)
                              if soft_lb_kmh > 0 else -np.inf)
    np.maximum(thr, _below(tol_km / _KM_PER_DEG), out=thr)
    ck = np.flatnonzero(arc >= thr)
    ck = ck[m[ck] == m[ck + 1]]
    dk = None
    if dr_offset_min_km is not None and dr_min_sog_kn < 0:
        dk = np.flatnonzero(m[1:] == m[:-1])  # backward speeds: no bound, measure all
    elif dr_offset_min_km is not None:
        # (only steps reporting speeds >= dr_min_sog_kn >= 0 count)
        s = np.add(sog[1:], sog[:-1], out=buf)
        s *= dt
        s *= 0.5 * KM_PER_NM / _NS_PER_H / _KM_PER_DEG
        s += arc
        dk = np.flatnonzero(s >= _below(dr_offset_min_km / _KM_PER_DEG))
        dk = dk[m[dk] == m[dk + 1]]
    return ck, dk


def _scan_steps(m: _Rows, t: _Rows, lat: _Rows, lon: _Rows, sog: _Rows, *, speeds: bool,
                **kw: Any) -> tuple[np.ndarray, list[np.ndarray] | None, np.ndarray,
                                    np.ndarray | None]:
    """One pass over all rows, block by block: the first row of each vessel, the speed
    keys of :func:`_tenths_keys` (if ``speeds``; ``None`` if not all in tenths) and
    :func:`_candidate_steps` (keywords ``kw``)."""
    n = len(m)
    brk, ck, dk = [], [], []
    keys: list[np.ndarray] | None = [] if speeds else None
    code0 = 0
    for a, b in _blocks(n):
        e = min(b + 1, n)  # the next block's first row ends this block's last step
        mb, sb = m[a:e], sog[a:e]
        kb = np.flatnonzero(mb[1:] != mb[:-1])
        brk.append(a + kb)
        if keys is not None:
            kk = _tenths_keys(sb[:b - a], lambda r, c0=code0, kb=kb: c0 + np.searchsorted(kb, r))
            keys = None if kk is None else [*keys, kk]
        code0 += len(kb)
        if e - a > 1:
            c, d = _candidate_steps(mb, t[a:e], lat[a:e], lon[a:e], sb, **kw)
            ck.append(a + c)
            if d is not None:
                dk.append(a + d)
    empty = np.zeros(0, dtype=np.int64)
    vstart = np.r_[0, np.concatenate(brk) + 1] if brk else empty
    return (vstart, keys, np.concatenate(ck) if ck else empty,
            None if kw["dr_offset_min_km"] is None else np.concatenate(dk) if dk else empty)


def _jump_anomalies(m2: _Rows, t2: _Rows, la2: _Rows, lo2: _Rows, sog2: _Rows, cog2: _Rows,
                    want: set[str], *,
                    max_speed_kn: float, jump_tolerance_km: float,
                    vessel_speed_factor: float | None, vessel_speed_margin_kn: float,
                    max_teleport_rows: int, max_teleport_min: float, min_two_places_jumps: int,
                    min_two_places_bursts: int, episode_gap_h: float,
                    dr_offset_min_km: float | None, dr_return_frac: float,
                    dr_min_sog_kn: float) -> list[dict[str, Any]]:
    """``two_places``, ``teleport``, ``spoofing`` and ``position_jump`` rows of
    :func:`detect_identity_anomalies` from the kept rows, sorted by vessel and time.

    Every step ``k -> k + 1`` first gets cheap upper bounds of its distance and of its
    dead-reckoning residual (no trigonometry); only the steps whose bounds pass the
    thresholds are measured exactly, with the same formulas, so the result is that of
    measuring every step.
    """
    out: list[dict[str, Any]] = []
    n2 = len(m2)
    max_kmh = max_speed_kn * KM_PER_NM
    # the lowest speed cap any vessel can have: max(p95, 5) x factor + margin
    f = vessel_speed_factor
    soft_lb = max_kmh if f is None else -np.inf if f < 0 else \
        min(max_kmh, (5.0 * f + vessel_speed_margin_kn) * KM_PER_NM)
    vstart, keys, ck, dk = _scan_steps(
        m2, t2, la2, lo2, sog2, speeds=f is not None, max_kmh=max_kmh,
        tol_km=jump_tolerance_km, soft_lb_kmh=soft_lb, dr_offset_min_km=dr_offset_min_km,
        dr_min_sog_kn=dr_min_sog_kn)  # vstart: first row of each vessel
    soft_v = np.full(len(vstart), np.inf)
    if f is not None:
        # each vessel's own top speed: the 95th percentile of its reported SOG
        vs = _vessel_quantile(sog2, m2, vstart, 0.95, keys)
        soft_v = np.where(np.isfinite(vs), (np.maximum(vs, 5.0) * f
                                            + vessel_speed_margin_kn) * KM_PER_NM, np.inf)

    def soft(rows: np.ndarray) -> np.ndarray:
        """The speed cap (km/h) of the vessel of each row."""
        return soft_v[np.searchsorted(vstart, rows, side="right") - 1]

    bad_c, v_c = _step(la2, lo2, t2, ck, ck + 1, max_kmh, jump_tolerance_km, soft(ck))
    bi, v_bi = ck[bad_c], v_c[bad_c]  # impossible steps and their implied speeds, kn

    # bursts of impossible steps (at most max_teleport_min apart), then episodes of
    # bursts (at most episode_gap_h apart). Many bursts: two transmitters on one MMSI;
    # a lone short burst of several steps: far reports interleaved with the track.
    handled = np.zeros(n2, dtype=bool)
    if len(bi):
        mb, tb = m2[bi], t2[bi]
        burst = np.cumsum(np.r_[True, (mb[1:] != mb[:-1])
                                | (tb[1:] - tb[:-1] > max_teleport_min * 60e9)])
        b_first = np.r_[True, burst[1:] != burst[:-1]]
        bs = np.flatnonzero(b_first)  # first step index (into bi) of each burst
        be = np.r_[bs[1:], len(bi)] - 1
        new = np.r_[True, (mb[bs][1:] != mb[bs][:-1])
                    | (tb[bs][1:] - tb[be][:-1] > episode_gap_h * _NS_PER_H)]
        for s, e in zip(*_runs(new), strict=True):
            steps = bi[bs[s]:be[e] + 1]
            r0, r1 = steps[0], steps[-1] + 1
            sp = float(np.max(v_bi[bs[s]:be[e] + 1]))
            n_bursts = e - s + 1
            longest = max(t2[bi[be[k]]] - t2[bi[bs[k]]] for k in range(s, e + 1))
            if len(steps) >= min_two_places_jumps and (
                    n_bursts >= min_two_places_bursts or longest > max_teleport_min * 60e9):
                handled[r0:r1 + 1] = True
                if "two_places" in want:
                    out.append({
                        "mmsi": m2[r0], "kind": "two_places", "start_time": t2[r0],
                        "end_time": t2[r1], "n_rows": len(steps),
                        "lat": float(la2[steps[0] + 1]), "lon": float(lo2[steps[0] + 1]),
                        "max_speed_kn": sp,
                        "detail": f"{len(steps)} impossible steps (up to {sp:.0f} kn) in "
                        f"{n_bursts} bursts between interleaved positions: two "
                        "transmitters on one MMSI"})
                continue
            for k in range(s, e + 1):
                st = bi[bs[k]:be[k] + 1]
                if len(st) < 3:
                    continue  # one or two steps: an excursion, below
                q0, q1 = st[0], st[-1] + 1
                handled[q0:q1 + 1] = True
                spk = float(np.max(v_bi[bs[k]:be[k] + 1]))
                if "teleport" in want:
                    out.append({
                        "mmsi": m2[q0], "kind": "teleport", "start_time": t2[st[0] + 1],
                        "end_time": t2[st[-1]], "n_rows": len(st) // 2,
                        "lat": float(la2[st[0] + 1]), "lon": float(lo2[st[0] + 1]),
                        "max_speed_kn": spk,
                        "detail": f"reports far away interleaved with the track for "
                        f"{(t2[q1] - t2[q0]) / 60e9:.0f} min ({len(st)} impossible "
                        f"steps, up to {spk:.0f} kn)"})
    # teleports: after an impossible step k -> k+1, the first row j <= k+1+max rows
    # reachable from row k ends the excursion
    tele = np.zeros(n2, dtype=bool)
    fresh = ~handled[bi]
    bt, vt = bi[fresh], v_bi[fresh]
    tele_rows: list[tuple[int, int, float]] = []
    if len(bt):
        offs = np.arange(2, max_teleport_rows + 2)
        cand2 = bt[:, None] + offs[None, :]
        inside = cand2 < n2
        cc = np.where(inside, cand2, n2 - 1)
        src = np.repeat(bt[:, None], len(offs), axis=1)
        imp, _ = _step(la2, lo2, t2, src.ravel(), cc.ravel(), max_kmh, jump_tolerance_km,
                       soft(src.ravel()))
        reach = (~imp.reshape(cc.shape)) & inside & (m2[cc] == m2[src])
        has = reach.any(axis=1)
        j = bt + offs[np.argmax(reach, axis=1)]
        for k, jj, h, vk in zip(bt, j, has, vt, strict=True):
            if h and not tele[k + 1] and not tele[k]:  # not the step back
                tele[k + 1:jj] = True
                tele_rows.append((k + 1, jj - 1, float(vk)))
    if "teleport" in want:
        for s, e, sp in tele_rows:
            out.append({"mmsi": m2[s], "kind": "teleport", "start_time": t2[s],
                        "end_time": t2[e], "n_rows": e - s + 1,
                        "lat": float(la2[s]), "lon": float(lo2[s]), "max_speed_kn": sp,
                        "detail": f"{e - s + 1} report(s) reached at {sp:.0f} kn, then back"})

    # the rest: an excursion out and back (spoofing) or a single jump. The rows left
    # ("rest") are all rows but the few in teleports and bursts; rest-space position q is
    # row rest(q), and a step between consecutive rest rows k, k + 1 is step k.
    gone = tele | handled
    removed = np.flatnonzero(gone)
    if n2 - len(removed) <= 1:
        return out

    def rest_pos(k: np.ndarray) -> np.ndarray:
        """Rest-space position of kept rows ``k``."""
        return k - np.searchsorted(removed, k, side="left")

    ok3 = ~gone[bi] & ~gone[bi + 1]
    kk, vk3 = bi[ok3], v_bi[ok3]  # impossible steps between consecutive rest rows
    single = np.zeros(0, dtype=np.int64)  # lone impossible steps (indices into kk)
    if len(kk):
        m3k, t3k = m2[kk], t2[kk]
        new = np.r_[True, (m3k[1:] != m3k[:-1])
                    | (t3k[1:] - t3k[:-1] > episode_gap_h * _NS_PER_H)]
        lone = []
        for s, e in zip(*_runs(new), strict=True):
            if e == s:
                lone.append(s)
                continue
            sp = float(np.max(vk3[s:e + 1]))
            r0, r1 = kk[s] + 1, kk[e]
            if "spoofing" in want:
                out.append({
                    "mmsi": m2[r0], "kind": "spoofing", "start_time": t2[r0],
                    "end_time": t2[max(r1, r0)], "n_rows": e - s + 1,
                    "lat": float(la2[r0]), "lon": float(lo2[r0]), "max_speed_kn": sp,
                    "detail": f"positions {(t2[r1] - t2[r0]) / _NS_PER_H:.1f} h away "
                    f"from the track, reached and left at up to {sp:.0f} kn"})
        single = np.asarray(lone, dtype=np.int64)
    alive = np.ones(len(single), dtype=bool)

    def stale(a: int, r0: int, r1: int, b: int) -> dict[str, Any] | None:
        """The ``frozen_position`` row of the rows ``r0..r1`` (rows in teleports and
        bursts aside) between rows ``a`` and ``b``, if they all repeat one position, report
        the ship under way, and that position is a fix the ship passed before
        (:func:`_stale_fix`); else ``None``."""
        rows = np.arange(r0, r1 + 1)
        rows = rows[~gone[rows]]
        if not len(rows) or not ((la2[rows] == la2[rows[0]]).all()
                                 and (lo2[rows] == lo2[rows[0]]).all()):
            return None
        if not (sog2[rows] >= dr_min_sog_kn).all():
            return None  # a ship stopped there, or no speed: not a stale fix
        ok, km, hrs = _stale_fix(la2, lo2, t2, sog2, cog2, np.array([a]), rows[:1],
                                 np.array([b]), jump_tolerance_km, dr_min_sog_kn)
        if not ok[0]:
            return None
        f, e = int(rows[0]), int(rows[-1])
        return {"mmsi": m2[f], "kind": "frozen_position", "start_time": t2[f],
                "end_time": t2[e], "n_rows": len(rows), "lat": float(la2[f]),
                "lon": float(lo2[f]),
                "detail": f"{len(rows)} report(s) at a position the ship passed about "
                f"{hrs[0]:.1f} h before ({km[0]:.0f} km behind its track between the "
                "reports around them) while reporting it was under way: a stale fix"}

    # dead reckoning: a stretch displaced off the track the ship reports sailing,
    # entered and left by steps whose offsets cancel
    if dk is not None:
        sk = kk[single]
        dk = dk[~gone[dk] & ~gone[dk + 1]]
        at = np.minimum(np.searchsorted(bi, dk), max(len(bi) - 1, 0))
        if len(bi):
            dk = dk[bi[at] != dk]  # possible steps only
        _, _, un_d = _dr_residual(la2, lo2, t2, sog2, cog2, dk, dk + 1, dr_min_sog_kn)
        with np.errstate(invalid="ignore"):
            off = un_d >= dr_offset_min_km
        ok_ = dk[off]
        _, v_off = _step(la2, lo2, t2, ok_, ok_ + 1, max_kmh, jump_tolerance_km, soft(ok_))
        # a lone impossible step may be one end of such a stretch; without a usable
        # speed and course its prediction is no motion, its offset its displacement
        ck = np.r_[ok_, sk]
        srt = np.argsort(ck, kind="stable")
        ck = ck[srt]
        rn_, re_, res = _dr_residual(la2, lo2, t2, sog2, cog2, ck, ck + 1, dr_min_sog_kn)
        no_dr = ~np.isfinite(res)
        rn_ = np.where(no_dr, _north_km(la2, ck, ck + 1), rn_)
        re_ = np.where(no_dr, _east_km(la2, lo2, ck, ck + 1), re_)
        res = np.hypot(rn_, re_)
        cv = np.r_[v_off, vk3[single]][srt]
        which = np.r_[np.full(len(ok_), -1), np.arange(len(single))][srt]
        if len(ck) > 1:
            cq = rest_pos(ck)
            i, j = np.arange(len(ck) - 1), np.arange(1, len(ck))
            back = np.hypot(rn_[i] + rn_[j], re_[i] + re_[j])
            pair = ((m2[ck[i]] == m2[ck[j]])
                    & (t2[ck[j]] - t2[ck[i] + 1] <= episode_gap_h * _NS_PER_H)
                    & (back <= dr_return_frac * np.minimum(res[i], res[j])))
            # every report from the start of step i to the end of step j under way (rows
            # in teleports and bursts aside)
            for q in np.flatnonzero(pair):
                rows = slice(ck[q], ck[q + 1] + 2)
                pair[q] = not (~gone[rows] & (sog2[rows] < dr_min_sog_kn)).any()
            # no step ends two stretches: in a run of pairs take every other one
            first = pair & ~np.r_[False, pair[:-1]]
            pos = np.arange(len(pair)) - np.maximum.accumulate(
                np.where(first, np.arange(len(pair)), 0))
            for q in np.flatnonzero(pair & (pos % 2 == 0)):
                for w in which[[q, q + 1]]:
                    if w >= 0:
                        alive[w] = False
                si, sj = cq[q], cq[q + 1]
                r0, r1 = ck[q] + 1, ck[q + 1]
                sp = float(max(cv[q], cv[q + 1]))
                # a few reports: a teleport reached or left across a silence, or a
                # stale fix
                kind = "teleport" if sj - si <= max_teleport_rows else "spoofing"
                if kind == "teleport":
                    fz = stale(ck[q], r0, r1, ck[q + 1] + 1)
                    if fz is not None:
                        if "frozen_position" in want:
                            out.append(fz)
                        continue
                if kind in want:
                    out.append({
                        "mmsi": m2[r0], "kind": kind, "start_time": t2[r0],
                        "end_time": t2[r1], "n_rows": sj - si,
                        "lat": float(la2[r0]), "lon": float(lo2[r0]),
                        "max_speed_kn": sp,
                        "detail": f"{sj - si} report(s) over "
                        f"{(t2[r1] - t2[r0]) / _NS_PER_H:.1f} h displaced "
                        f"{res[q]:.0f} km off the course and speed the ship "
                        f"reported, and {res[q + 1]:.0f} km back (dead reckoning)"})
    # a lone impossible step may leave an excursion entered by a possible step: the
    # shortest run of at most max_teleport_rows reports before it whose removal leaves a
    # possible step is a stale fix, or a teleport if dead reckoning shows it off the
    # track (its entry offset, the step around it not)
    if len(single) and alive.any():
        rest = np.flatnonzero(~gone)
        w_open = np.flatnonzero(alive)
        k_open = kk[single[w_open]]  # the impossible steps k -> k + 1
        q_open = rest_pos(k_open)
        for mm in range(1, max_teleport_rows + 1):
            # the excursion: the mm rows before the step; a: the row before them
            ok = q_open - mm >= 0
            w_open, k_open, q_open = w_open[ok], k_open[ok], q_open[ok]
            a_open = rest[q_open - mm]
            ok = m2[a_open] == m2[k_open]
            w_open, k_open, q_open, a_open = w_open[ok], k_open[ok], q_open[ok], a_open[ok]
            if not len(w_open):
                break
            imp, _ = _step(la2, lo2, t2, a_open, k_open + 1, max_kmh, jump_tolerance_km,
                           soft(a_open))
            for w, k, q, a in zip(w_open[~imp], k_open[~imp], q_open[~imp], a_open[~imp],
                                  strict=True):
                r0, r1 = int(rest[q - mm + 1]), int(k)
                fz = stale(int(a), r0, r1, int(k) + 1)
                if fz is not None:
                    alive[w] = False
                    if "frozen_position" in want:
                        out.append(fz)
                    continue
                if dr_offset_min_km is None:
                    continue
                entry = _dr_residual(la2, lo2, t2, sog2, cog2, np.array([a]), np.array([r0]),
                                     dr_min_sog_kn)[2][0]
                skip = _dr_residual(la2, lo2, t2, sog2, cog2, np.array([a]),
                                    np.array([k + 1]), dr_min_sog_kn)[2][0]
                # (NaN, not measurable, fails both tests)
                if entry >= dr_offset_min_km and skip < dr_offset_min_km:
                    alive[w] = False
                    sp = float(vk3[single[w]])
                    if "teleport" in want:
                        out.append({
                            "mmsi": m2[r0], "kind": "teleport", "start_time": t2[r0],
                            "end_time": t2[r1], "n_rows": mm,
                            "lat": float(la2[r0]), "lon": float(lo2[r0]),
                            "max_speed_kn": sp,
                            "detail": f"{mm} report(s) {entry:.0f} km off the course and "
                            f"speed the ship reported (dead reckoning), left at {sp:.0f} "
                            "kn; the track around them is consistent"})
            # the first possible step around an excursion decides
            w_open, k_open, q_open = w_open[imp], k_open[imp], q_open[imp]
    if "position_jump" in want:
        for w in np.flatnonzero(alive):
            k = kk[single[w]]
            r0 = k + 1
            out.append({"mmsi": m2[r0], "kind": "position_jump", "start_time": t2[r0],
                        "end_time": t2[r0], "n_rows": 1, "lat": float(la2[r0]),
                        "lon": float(lo2[r0]), "max_speed_kn": float(vk3[single[w]]),
                        "detail": f"one impossible step ({vk3[single[w]]:.0f} kn)"})
    return out


def _run_starts(x: np.ndarray | None) -> np.ndarray:
    """First positions of the runs of equal values of ``x``."""
    if x is None or not len(x):
        return np.zeros(0, dtype=np.int64)
    return np.r_[0, np.flatnonzero(x[1:] != x[:-1]) + 1]


def _appendable(raw: pd.DataFrame, lg: pd.DataFrame) -> bool:
    """Whether the ledger's rows read the same apart as in ``raw_from_ledger(raw, ...)``
    (same dtypes): otherwise that table is built and analysed."""
    need = ("mmsi", "timestamp", "lat", "lon")
    if not all(c in raw and c in lg for c in need):
        return False
    if any(raw[c].dtype != lg[c].dtype for c in need):
        return False
    return raw["mmsi"].dtype == np.int64 and raw["lat"].dtype == raw["lon"].dtype == np.float64


def raw_from_ledger(tracks: pd.DataFrame, ledger: pd.DataFrame | None) -> pd.DataFrame:
    """Rebuild the raw positions from cleaned tracks and the rejected-rows ledger.

    :func:`caspian_ais.clean` keeps every dropped row in its ledger (``mmsi, timestamp,
    lat, lon, reason``), so the rows :func:`detect_identity_anomalies` needs are
    recoverable after cleaning, without keeping the raw table: this is what
    :func:`caspian_ais.analyze` does. Ledger rows have no speed, course, name or IMO number;
    rows whose time could not be read are left out.
    ``detect_identity_anomalies(tracks, ledger=ledger)`` analyses the same rows without
    building this table.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Cleaned canonical table.
    ledger : pandas.DataFrame or None
        The rejected-rows ledger of the same run.

    Returns
    -------
    pandas.DataFrame
        ``tracks`` with the ledger's rows appended (missing columns empty).
    """
    lg = _ledger_rows(ledger)
    if lg is None:
        return tracks
    keep = [c for c in tracks.columns if c in ("mmsi", "timestamp", "lat", "lon", "sog_kn",
                                                "cog_deg", "name", "imo")]
    return pd.concat([tracks[keep], lg], ignore_index=True)


def _ledger_rows(ledger: pd.DataFrame | None) -> pd.DataFrame | None:
    """The ledger's rows :func:`raw_from_ledger` appends (``None`` if none)."""
    if ledger is None or not len(ledger):
        return None
    cols = [c for c in ("mmsi", "timestamp", "lat", "lon") if c in ledger.columns]
    lg = ledger[cols]
    lg = lg[lg["timestamp"].notna() & lg["mmsi"].notna()] if {"timestamp", "mmsi"} <= set(cols) \
        else lg.iloc[:0]
    if not len(lg):
        return None
    return lg.assign(mmsi=pd.to_numeric(lg["mmsi"], errors="coerce").astype("int64"))


def detect_identity_anomalies(
    raw: pd.DataFrame,
    ports: Any = None,
    *,
    max_speed_kn: float = 30.0,
    jump_tolerance_km: float = 1.0,
    vessel_speed_factor: float | None = 1.2,
    vessel_speed_margin_kn: float = 2.0,
    max_teleport_rows: int = 3,
    max_teleport_min: float = 15.0,
    min_two_places_jumps: int = 4,
    min_two_places_bursts: int = 3,
    episode_gap_h: float = 36.0,
    dr_offset_min_km: float | None = 15.0,
    dr_return_frac: float = 0.7,
    dr_min_sog_kn: float = 2.0,
    land_tolerance_km: float = 2.0,
    min_frozen_repeats: int = 3,
    min_frozen_h: float = 0.5,
    frozen_min_port_distance_km: float = 10.0,
    frozen_moving_sog_kn: float = 2.0,
    min_identity_rows: int = 2,
    kinds: tuple[str, ...] | None = None,
    ledger: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Find identity and position anomalies in a raw AIS table.

    Parameters
    ----------
    raw : pandas.DataFrame
        Canonical table as read by :func:`caspian_ais.read_ais`, **before** cleaning.
    ports : pandas.DataFrame or path, optional
        Port gazetteer (for the frozen-position test); default the bundled one.
    max_speed_kn : float, default 30
        A step between consecutive reports of one MMSI is impossible above this implied
        speed, knots. Caspian merchant ships sail at 8-15 kn; method.md cites 60 kn for
        world fleets with fast craft. Raise it for other seas.
    jump_tolerance_km : float, default 1
        Steps of at most this many km are never impossible (GPS jitter, receive-time
        noise). Also how far a stale fix may lie off the ship's dead-reckoned track
        (besides that track's own residual), and how far behind the ship it must lie.
    vessel_speed_factor : float or None, default 1.2
        Over a step of at least 15 minutes, an implied speed above ``vessel_speed_factor``
        × the vessel's own top speed (95th percentile of its reported SOG above 1 kn, at
        least 5 kn) + ``vessel_speed_margin_kn`` is impossible too ("implied speed above
        the vessel's maximum", method.md). Over hours-long gaps offshore a spoofed
        stretch is often reached at 15-20 kn, possible for a ship but not for this one.
        ``None`` uses ``max_speed_kn`` alone.
    vessel_speed_margin_kn : float, default 2
        See ``vessel_speed_factor``, knots.
    max_teleport_rows : int, default 3
        Longest excursion (reports) still called a teleport; longer ones are spoofing.
    max_teleport_min : float, default 15
        An episode of impossible steps lasting at most this many minutes is a teleport
        (a burst of far reports interleaved with the true ones), not two transmitters.
    min_two_places_jumps : int, default 4
        Impossible steps in one episode that make it ``two_places`` (a teleport or a
        spoofed stretch has two: out and back).
    min_two_places_bursts : int, default 3
        Bursts of impossible steps (steps at most ``max_teleport_min`` apart) in one
        episode that make it ``two_places``: one short burst is a teleport, two the ends of
        a spoofed stretch. A single burst lasting longer than ``max_teleport_min`` is
        ``two_places`` too.
    episode_gap_h : float, default 36
        Impossible steps at most this far apart belong to one episode, hours; also the
        longest stretch (first to last report) between the two ends of a spoofed stretch
        found by dead reckoning, inclusive.
    dr_offset_min_km : float or None, default 15
        Dead reckoning: a step between reports that both give SOG and COG is *offset*
        when it ends at least this far (km, inclusive) from every place the ship could
        reach by sailing at the velocity reported at its start, then at the one reported
        at its end, changing once at an unknown moment (of speed, course or both). An
        offset step and a later one (or a lone impossible step) whose offsets cancel make
        a spoofed stretch. ``None`` turns the test off. A modelling choice, tuned on the
        simulator (whose spoofs are offset 30-120 km): of the 158,786 unspoofed steps of
        at least an hour on the tuning seeds, 98.8 % leave less than 15 km unexplained
        (median 1.0 km, 95th percentile 5.9 km); the 1.2 % above (stops and port calls
        during a silence) find no partner, which ``dr_return_frac`` and ``dr_min_sog_kn``
        ensure: every value from 11 to 20 km gives the same result on the tuning seeds.
    dr_return_frac : float, default 0.7
        The two offsets cancel when the length of their vector sum is at most this
        fraction of the smaller one (inclusive). Every value from 0.55 to 0.9 gives the
        same result on the tuning seeds.
    dr_min_sog_kn : float, default 2
        Dead reckoning needs a ship under way: both ends of each step, and every report
        from the first step's start to the second step's end, must report at least this
        speed, knots (inclusive; below 2 kn a ship is loitering or drifting, the GFW
        threshold of :func:`caspian_ais.loitering.detect_loitering`).
    land_tolerance_km : float, default 2
        Positions up to this far outside the water polygon still count as water, km
        (Natural Earth 1:10m shore is accurate to about a kilometre).
    min_frozen_repeats : int, default 3
        Shortest run of identical positions, reports (offshore, a stuck receiver is often
        heard only a few times, during satellite passes).
    min_frozen_h : float, default 0.5
        Shortest run of identical positions, hours, inclusive.
    frozen_min_port_distance_km : float, default 10
        A frozen run must lie strictly farther than this from every port, km.
    frozen_moving_sog_kn : float, default 2
        A run whose mean reported speed is at least this (knots) is frozen whatever its
        duration: a ship under way cannot keep exactly the same position.
    min_identity_rows : int, default 2
        A name, IMO number or MMSI must be seen in at least this many reports to count.
    kinds : tuple of str, optional
        Only these kinds (:data:`ANOMALY_KINDS`); default all.
    ledger : pandas.DataFrame, optional
        The rejected-rows ledger of :func:`caspian_ais.clean` when ``raw`` is the cleaned
        table: the result is that of ``detect_identity_anomalies(raw_from_ledger(raw,
        ledger), ...)``, without building that table (half a GB on 10 M rows).

    Returns
    -------
    pandas.DataFrame
        One row per anomaly, columns :data:`ANOMALY_COLUMNS`: ``anomaly_id``
        ``"<mmsi>-<kind>-<start unix seconds>"`` (stable); times UTC; ``n_rows`` reports
        involved; ``lat``/``lon`` a representative position (the far position of a jump,
        the frozen or on-land position); ``max_speed_kn`` the largest implied speed;
        ``other_mmsi`` the new MMSI of a flag or MMSI change; ``old_value``/``new_value``
        the identity values; ``detail`` a sentence.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"mmsi": [273000001] * 4,
    ...     "timestamp": pd.to_datetime(["2022-09-01 00:00", "2022-09-01 00:10",
    ...                                  "2022-09-01 00:11", "2022-09-01 00:20"], utc=True),
    ...     "lat": [42.0, 42.02, 41.0, 42.04], "lon": [50.0, 50.0, 51.0, 50.0]})
    >>> detect_identity_anomalies(raw)["kind"].tolist()
    ['teleport']
    """
    want = set(ANOMALY_KINDS) if kinds is None else set(kinds)
    unknown = want - set(ANOMALY_KINDS)
    if unknown:
        raise ValueError(f"unknown anomaly kind(s) {sorted(unknown)}")
    if max_speed_kn <= 0:
        raise ValueError(f"max_speed_kn must be positive, got {max_speed_kn}")
    out: list[dict[str, Any]] = []
    lg = _ledger_rows(ledger)
    if lg is not None and not _appendable(raw, lg):
        raw, lg = raw_from_ledger(raw, ledger), None  # as analysed without a ledger
    n1 = len(raw)
    n_all = n1 + (0 if lg is None else len(lg))
    if n_all == 0:
        return _frame(out)

    # the columns: the table's rows, then the ledger's (never concatenated); no speed or
    # course: NaN
    def column(name: str, get: Any, optional: bool = False) -> _Column:
        head = np.full(n1, np.nan) if optional and name not in raw else get(raw[name])
        tail = None if lg is None else get(lg[name]) if name in lg else np.full(len(lg), np.nan)
        return _Column(head, tail)

    def floats(c: pd.Series) -> np.ndarray:
        return c.to_numpy(float)

    mmsi = column("mmsi", lambda c: c.to_numpy(np.int64))
    tcol = column("timestamp", timestamp_ns)
    lat, lon = column("lat", floats), column("lon", floats)
    sog, cog = column("sog_kn", floats, True), column("cog_deg", floats, True)

    def by_part(f: Any, *cols: _Column) -> np.ndarray:
        """``f`` of the table's rows, then of the ledger's (concatenated)."""
        head = f(*(c.head for c in cols))
        if lg is None:
            return head
        return np.concatenate([head, f(*(c.tail if c.tail is not None else c.head[:0]
                                         for c in cols))])

    has_t = by_part(lambda t: t != _NAT, tcol)
    # NaN fails every comparison: no separate test
    valid_pos = by_part(lambda la, lo: (la >= -90) & (la <= 90) & (lo >= -180) & (lo <= 180),
                        lat, lon)
    valid_pos &= has_t
    zero = np.flatnonzero(by_part(lambda la: la == 0, lat))
    valid_pos[zero[lon[zero] == 0]] = False

    # ---- MMSIs ---------------------------------------------------------------------
    # tested once per run of equal MMSIs (rows are grouped by vessel as a rule)
    run0 = np.r_[_run_starts(mmsi.head), n1 + _run_starts(mmsi.tail)]
    if len(run0) <= n_all // 8 + 1:
        bad_run = _bad_mmsi(mmsi[run0])
        bad = np.repeat(bad_run, np.diff(np.r_[run0, n_all])) if bad_run.any() else None
    else:
        bad = _bad_mmsi(mmsi[:])
        bad = bad if bad.any() else None
    if bad is not None:
        bad &= has_t
    if bad is not None and bad.any() and want & {"default_mmsi", "invalid_mmsi"}:
        bi = np.flatnonzero(bad)
        b = pd.DataFrame({"mmsi": mmsi[bi], "t": tcol[bi], "lat": lat[bi], "lon": lon[bi]})
        agg = b.groupby("mmsi").agg(t0=("t", "min"), t1=("t", "max"), n=("t", "size"),
                                    lat=("lat", "median"), lon=("lon", "median"))
        for m, r in agg.iterrows():
            kind = "default_mmsi" if int(m) in DEFAULT_MMSIS else "invalid_mmsi"
            if kind in want:
                out.append({"mmsi": int(m), "kind": kind, "start_time": r.t0, "end_time": r.t1,
                            "n_rows": r.n, "lat": r.lat, "lon": r.lon,
                            "detail": f"{int(r.n)} reports with MMSI {int(m)}"})

    # ---- positions: valid ship MMSIs, sorted, exact duplicates dropped ------------------
    # The rows are read through ``o`` (their positions, None: as they are), never copied.
    sel = valid_pos if bad is None else valid_pos & ~bad
    o = _sorted_rows(mmsi, tcol, sel)
    n = n_all if o is None else len(o)
    tie = _neighbours(n, _View(mmsi, o), _View(tcol, o),
                      test=lambda m0, t0, m1, t1: (m0 == m1) & (t0 == t1))
    if len(tie):
        o = np.arange(n_all, dtype=np.int64) if o is None else o
        dup = _order_ties(o, tie, lat, lon)
        if len(dup):
            o = np.delete(o, dup)
            n = len(o)
    mm, t, la, lo, sg, cg = (_View(c, o) for c in (mmsi, tcol, lat, lon, sog, cog))
    ignore = np.zeros(n, dtype=bool)  # rows left out of the jump analysis

    # one pass: positions on land, and rows with the same fix as the next one
    land = np.zeros(n, dtype=bool)
    reps = []
    for a, b in _blocks(n):
        e = min(b + 1, n)
        mb, lab, lob = mm[a:e], la[a:e], lo[a:e]
        land[a:b] = _on_land(lab[:b - a], lob[:b - a], land_tolerance_km)
        reps.append(a + np.flatnonzero((mb[1:] == mb[:-1]) & (lab[1:] == lab[:-1])
                                       & (lob[1:] == lob[:-1])))
    rep = np.concatenate(reps) if reps else np.zeros(0, dtype=np.int64)
    del reps

    # on land
    if n:
        ignore |= land
        if land.any() and "on_land" in want:
            li = np.flatnonzero(land)
            new = np.r_[True, (mm[li][1:] != mm[li][:-1])
                        | (t[li][1:] - t[li][:-1] > _NS_PER_H)]
            for s, e in zip(*_runs(new), strict=True):
                rows = li[s:e + 1]
                out.append({"mmsi": mm[rows[0]], "kind": "on_land", "start_time": t[rows[0]],
                            "end_time": t[rows[-1]], "n_rows": len(rows),
                            "lat": float(np.median(la[rows])), "lon": float(np.median(lo[rows])),
                            "detail": f"{len(rows)} report(s) on land"})

    # frozen positions: consecutive identical fixes in open water
    if n > 1:
        if min_frozen_repeats >= 2:
            # only runs of two or more rows can qualify: find them from the repeats alone
            first = np.flatnonzero(np.r_[True, rep[1:] != rep[:-1] + 1]) if len(rep) else rep
            starts = rep[first]
            ends = rep[np.r_[first[1:], len(rep)] - 1] + 1 if len(rep) else rep
        else:
            same_fix = np.zeros(n - 1, dtype=bool)
            same_fix[rep] = True
            starts, ends = _runs(np.r_[True, ~same_fix])
        long = (ends - starts + 1 >= min_frozen_repeats) & (
            (t[ends] - t[starts]) >= min_frozen_h * _NS_PER_H - 1)
        # a run reporting speed while its position stays put needs no minimum duration
        moving = np.flatnonzero((ends - starts + 1 >= min_frozen_repeats) & ~long)
        if len(moving):
            sog_all = sg[:]
            csog = np.r_[0.0, np.cumsum(np.nan_to_num(sog_all))]
            cnt = np.r_[0, np.cumsum(~np.isnan(sog_all))]
            s_, e_ = starts[moving], ends[moving]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_sog = (csog[e_ + 1] - csog[s_]) / (cnt[e_ + 1] - cnt[s_])
            long[moving] = mean_sog >= frozen_moving_sog_kn
            del sog_all, csog, cnt
        starts, ends = starts[long], ends[long]
        if len(starts):
            from caspian_ais.encounters import offshore_ok

            ok, dist, _ = offshore_ok(la[starts], lo[starts], ports,
                                      frozen_min_port_distance_km, None)
            for s, e, d in zip(starts[ok], ends[ok], dist[ok], strict=True):
                ignore[s:e + 1] = True
                if "frozen_position" in want:
                    run_sog = sg[s:e + 1]
                    med = np.nanmedian(run_sog) if np.isfinite(run_sog).any() else np.nan
                    out.append({"mmsi": mm[s], "kind": "frozen_position", "start_time": t[s],
                                "end_time": t[e], "n_rows": e - s + 1, "lat": la[s],
                                "lon": lo[s],
                                "detail": f"{e - s + 1} reports at exactly the same position "
                                f"over {(t[e] - t[s]) / _NS_PER_H:.1f} h, {d:.0f} km from port; "
                                f"median reported speed {med:.1f} kn"})

    # ---- impossible steps ----------------------------------------------------------------
    jump_kinds = {"teleport", "spoofing", "two_places", "position_jump"}
    if ignore.any():
        o = np.flatnonzero(~ignore) if o is None else o[~ignore]
        n = len(o)
    if n > 1 and want & jump_kinds:
        m2, t2, la2, lo2, sog2, cog2 = (_View(c, o) for c in (mmsi, tcol, lat, lon, sog, cog))
        out.extend(_jump_anomalies(
            m2, t2, la2, lo2, sog2, cog2, want, max_speed_kn=max_speed_kn,
            jump_tolerance_km=jump_tolerance_km, vessel_speed_factor=vessel_speed_factor,
            vessel_speed_margin_kn=vessel_speed_margin_kn, max_teleport_rows=max_teleport_rows,
            max_teleport_min=max_teleport_min, min_two_places_jumps=min_two_places_jumps,
            min_two_places_bursts=min_two_places_bursts, episode_gap_h=episode_gap_h,
            dr_offset_min_km=dr_offset_min_km, dr_return_frac=dr_return_frac,
            dr_min_sog_kn=dr_min_sog_kn))

    # ---- identity over time ----------------------------------------------------------------
    # Consecutive rows of one MMSI with one value collapse into a run first. The ledger's
    # rows have no name or IMO number: the table's rows alone count.
    ok_id = has_t[:n1] if bad is None else has_t[:n1] & ~bad[:n1]
    fixed = _union(run0[run0 < n1][1:] - 1, np.flatnonzero(ok_id[1:] != ok_id[:-1]))
    mmsi_h, t_h = mmsi.head, tcol.head

    def value_runs(vals: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """First rows of the runs of one MMSI and one value, and which of them count."""
        brk, nulls = _value_breaks(vals)
        starts = np.r_[0, _union(fixed, brk) + 1] if n1 else np.zeros(0, dtype=np.int64)
        h = ok_id[starts]
        if len(nulls):
            at = np.minimum(np.searchsorted(nulls, starts), len(nulls) - 1)
            h &= nulls[at] != starts
        return starts, h

    for col, kind in (("name", "name_change"), ("imo", "imo_change")):
        if col not in raw or kind not in want:
            continue
        vals = raw[col]
        starts, h = value_runs(vals)
        if not h.any():
            continue
        size = np.diff(np.r_[starts, n1])
        t_min = np.minimum.reduceat(t_h, starts)
        starts = starts[h]
        v = _take(vals, starts).astype(str).str.upper()
        # names: AIS pads text with "@" (ITU-R M.1371) or spaces; a placeholder is no name
        v = v.str.strip(" @") if col == "name" else v.str.strip()
        d = pd.DataFrame({"mmsi": mmsi_h[starts], "t": t_min[h], "n": size[h],
                          "v": v.to_numpy()})
        if col == "name":
            d = d[~d["v"].isin(_PLACEHOLDER_NAMES)]
        first = d.groupby(["mmsi", "v"], sort=False).agg(t=("t", "min"), n=("n", "sum"))
        first = first[first["n"] >= min_identity_rows].reset_index().sort_values(["mmsi", "t"])
        prev_v = first.groupby("mmsi")["v"].shift(1)
        ch = first[prev_v.notna()].assign(old=prev_v[prev_v.notna()])
        for r in ch.itertuples():
            out.append({"mmsi": r.mmsi, "kind": kind, "start_time": r.t, "end_time": r.t,
                        "n_rows": r.n, "old_value": r.old, "new_value": r.v,
                        "detail": f"{col} {r.old} -> {r.v}"})
    if "imo" in raw and want & {"flag_change", "mmsi_change"}:
        imo = raw["imo"]
        starts, h = value_runs(imo)
        if h.any():
            size = np.diff(np.r_[starts, n1])
            t_min = np.minimum.reduceat(t_h, starts)
            t_max = np.maximum.reduceat(t_h, starts)
            starts = starts[h]
            d = pd.DataFrame({"imo": _take(imo, starts).astype("int64").to_numpy(),
                              "mmsi": mmsi_h[starts], "t": t_min[h], "t_last": t_max[h],
                              "n": size[h]})
            first = d.groupby(["imo", "mmsi"], sort=False).agg(
                t=("t", "min"), t_last=("t_last", "max"), n=("n", "sum"))
            first = first[first["n"] >= min_identity_rows].reset_index().sort_values(["imo", "t"])
            prev = first.groupby("imo")["mmsi"].shift(1)
            ch = first[prev.notna()].assign(old=prev[prev.notna()].astype("int64"))
            for r in ch.itertuples():
                kind = "flag_change" if int(r.old) // 1_000_000 != int(r.mmsi) // 1_000_000 \
                    else "mmsi_change"
                if kind in want:
                    out.append({"mmsi": int(r.old), "kind": kind, "start_time": r.t,
                                "end_time": r.t, "n_rows": r.n, "other_mmsi": int(r.mmsi),
                                "old_value": str(int(r.old)), "new_value": str(int(r.mmsi)),
                                "detail": f"IMO {r.imo} moved from MMSI {int(r.old)} to "
                                f"{int(r.mmsi)}"})
    return _frame(out)
