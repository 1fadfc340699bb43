"""Cleaning: drop rows that cannot be trusted, and say which and why.

:func:`clean` is the second step of the pipeline (io → **clean** → detect → report).
Every row it drops goes into the ledger (:mod:`caspian_ais.ledger`) with its source
file, row number and a reason code; together with the rows the loaders rejected, the
ledger accounts for every input row that is not in the cleaned table.

Checks, in order of precedence (a row gets the first reason that applies):

1. ``unparseable_timestamp`` — ``timestamp`` is missing (NaT).
2. ``invalid_mmsi`` — not a 9-digit ship-station MMSI with an allocated MID
   (ITU-R M.585); ``non_vessel_mmsi`` — a valid identity of a base station, aid to
   navigation, SAR aircraft or other non-vessel station (kept out of vessel analysis).
3. ``missing_position`` — latitude or longitude missing (incl. AIS "not available"
   91/181, already turned into missing values by the loaders).
4. ``impossible_coordinates`` — latitude outside [-90, 90], longitude outside
   [-180, 180], or exactly (0, 0) ("null island", a common GPS default).
5. ``duplicate`` — identical to an earlier row in every value column.
6. ``position_jump`` — reaching the position needs more than ``max_speed_kn``
   (default 50 kn, above any merchant ship's speed; method.md "Spoofing indicators"
   uses 60 kn for *two ships on one MMSI*).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from caspian_ais.flags import is_ship_mmsi, mid_of
from caspian_ais.geodesy import KM_PER_NM, distance_bound_km, haversine_km
from caspian_ais.ledger import concat_ledgers, make_ledger, rejected_of
from caspian_ais.ordering import (
    mmsi_time_order,
    order_ties_by_position,
    sort_mmsi_time,
    take_rows,
)
from caspian_ais.schema import PROVENANCE_COLUMNS, timestamp_ns, validate

__all__ = ["CleanResult", "clean", "sort_tracks", "find_position_jumps"]

_NS_PER_H = 3_600_000_000_000
_NAT = np.iinfo(np.int64).min

# reason codes of clean(), in order of precedence (0: the row is kept)
_REASON_NAMES = np.array(
    ["", "unparseable_timestamp", "invalid_mmsi", "non_vessel_mmsi", "missing_position",
     "impossible_coordinates", "duplicate", "position_jump"],
    dtype=object,
)
(_UNPARSEABLE, _INVALID_MMSI, _NON_VESSEL, _MISSING_POSITION, _IMPOSSIBLE, _DUPLICATE,
 _POSITION_JUMP) = range(1, 8)
_CONSTANT_DETAIL = {
    _UNPARSEABLE: "timestamp missing or unparseable",
    _MISSING_POSITION: "latitude or longitude not available",
    _DUPLICATE: "exact duplicate of an earlier row",
}


class CleanResult(NamedTuple):
    """What :func:`clean` returns; unpacks as ``tracks, ledger = clean(raw)``.

    Attributes
    ----------
    tracks : pandas.DataFrame
        The cleaned canonical table, sorted by ``mmsi`` then ``timestamp``.
    ledger : pandas.DataFrame
        Every rejected row (loader rejections first, then clean's), see
        :data:`caspian_ais.ledger.LEDGER_COLUMNS`.
    """

    tracks: pd.DataFrame
    ledger: pd.DataFrame

    def summary(self) -> pd.Series:
        """Count of rejected rows per reason code."""
        return self.ledger["reason"].value_counts().rename("rows")


def sort_tracks(tracks: pd.DataFrame) -> np.ndarray:
    """Return the positions that sort ``tracks`` by (mmsi, timestamp, lat, lon).

    The latitude/longitude tie-break makes the order independent of the input row
    order, so results do not change when the input is shuffled. A thin wrapper of
    :func:`caspian_ais.ordering.mmsi_time_order`, the package's one sort.
    """
    has_pos = "lat" in tracks and "lon" in tracks
    return mmsi_time_order(
        tracks["mmsi"].to_numpy(dtype="int64"),
        timestamp_ns(tracks["timestamp"]),
        tracks["lat"].to_numpy(dtype="float64") if has_pos else None,
        tracks["lon"].to_numpy(dtype="float64") if has_pos else None,
    )


def clean(
    tracks: pd.DataFrame,
    *,
    max_speed_kn: float = 50.0,
    jump_tolerance_km: float = 0.5,
    drop_non_vessels: bool = True,
    drop_null_island: bool = True,
    max_jump_passes: int = 10,
) -> CleanResult:
    """Remove untrustworthy rows from a canonical AIS table and ledger each one.

    Parameters
    ----------
    tracks : pandas.DataFrame or movingpandas.TrajectoryCollection
        A canonical table, as returned by :func:`caspian_ais.read_ais`. Rows the loader
        already rejected (``tracks.attrs["rejected_rows"]``) are carried into the ledger.
    max_speed_kn : float, default 50.0
        A position whose implied speed from the vessel's previous kept position is
        strictly greater than this (knots) is a jump.
    jump_tolerance_km : float, default 0.5
        Moves of at most this distance (km) are never jumps, whatever the time step:
        two receivers may stamp the same report a second apart with GPS jitter.
    drop_non_vessels : bool, default True
        Drop valid MMSIs that are not ship stations (base stations, aids to
        navigation, SAR aircraft) with reason ``non_vessel_mmsi``.
    drop_null_island : bool, default True
        Treat exactly (0, 0) as impossible coordinates.
    max_jump_passes : int, default 10
        Upper bound on the vectorised passes of the jump filter (each pass removes
        isolated spikes, then the shorter side of any remaining jump).

    Returns
    -------
    CleanResult
        ``(tracks, ledger)``; ``tracks`` is sorted by ``mmsi``, ``timestamp`` with a
        fresh ``RangeIndex``.

    Examples
    --------
    >>> import pandas as pd
    >>> from caspian_ais.cleaning import clean
    >>> from caspian_ais.schema import to_canonical
    >>> raw = to_canonical(pd.DataFrame({
    ...     "mmsi": [273000001, 273000001, 1],
    ...     "timestamp": ["2022-09-01T00:00Z", "2022-09-01T00:00Z", "2022-09-01T00:01Z"],
    ...     "lat": [45.0, 45.0, 45.0], "lon": [50.0, 50.0, 50.0]}))
    >>> tracks, ledger = clean(raw)
    >>> len(tracks), sorted(ledger["reason"])
    (1, ['duplicate', 'invalid_mmsi'])
    """
    if not isinstance(tracks, pd.DataFrame) or "timestamp" not in tracks:
        from caspian_ais.trajectories import as_tracks  # movingpandas objects, GeoDataFrames

        tracks = as_tracks(tracks)
    validate(tracks, name="tracks")
    if max_speed_kn <= 0:
        raise ValueError(f"max_speed_kn must be positive, got {max_speed_kn}")
    n = len(tracks)
    # reason of each row as a code into _REASON_NAMES (0: kept, so far), given in order
    # of precedence: a row keeps the first reason that applies
    reason = np.zeros(n, dtype=np.int8)

    def mark(mask: np.ndarray, code: int) -> None:
        """Give ``code`` to the rows in ``mask`` that have no reason yet."""
        mask &= reason == 0
        reason[mask] = code

    mmsi = tracks["mmsi"].to_numpy(dtype="int64")
    lat = tracks["lat"].to_numpy(dtype="float64")
    lon = tracks["lon"].to_numpy(dtype="float64")
    t_all = timestamp_ns(tracks["timestamp"])

    mark(t_all == _NAT, _UNPARSEABLE)
    bad_mmsi, non_vessel = _mmsi_kinds(mmsi)
    mark(bad_mmsi, _INVALID_MMSI)
    if drop_non_vessels:
        mark(non_vessel, _NON_VESSEL)
    mark(np.isnan(lat) | np.isnan(lon), _MISSING_POSITION)
    impossible = np.abs(lat) > 90.0
    impossible |= np.abs(lon) > 180.0
    if drop_null_island:
        impossible |= (lat == 0.0) & (lon == 0.0)
    mark(impossible, _IMPOSSIBLE)
    del bad_mmsi, non_vessel, impossible

    # Everything below works on the rows still valid, in (mmsi, time, lat, lon) order:
    # the one packed-key sort of caspian_ais.ordering (none if already in order).
    valid = np.flatnonzero(reason == 0)
    all_valid = valid.size == n
    if all_valid:
        st = sort_mmsi_time(mmsi, t_all)
        tie = st.ties()
        order = order_ties_by_position(st, lat, lon, tie)
    else:
        la_v, lo_v = lat[valid], lon[valid]
        st = sort_mmsi_time(mmsi[valid], t_all[valid])
        tie = st.ties()
        order = valid[order_ties_by_position(st, la_v, lo_v, tie)]
        del la_v, lo_v
    del st

    dup = _duplicates(tracks, order, tie)
    del tie
    if dup.any():
        reason[order[dup]] = _DUPLICATE
        order = order[~dup]
    # the columns of the jump filter, in order (one gather each)
    m_s, t_s, la_s, lo_s = mmsi[order], t_all[order], lat[order], lon[order]

    jump_rows, jump_speed = find_position_jumps(
        m_s, t_s, la_s, lo_s,
        max_speed_kn=max_speed_kn,
        jump_tolerance_km=jump_tolerance_km,
        max_passes=max_jump_passes,
    )
    del m_s, t_s, la_s, lo_s
    jidx = order[jump_rows]
    reason[jidx] = _POSITION_JUMP
    if jump_rows.size:
        keep = np.ones(len(order), dtype=bool)
        keep[jump_rows] = False
        order = order[keep]

    if order.size == n and (n < 2 or bool((order[1:] > order[:-1]).all())):
        cleaned = tracks.reset_index(drop=True)  # already clean and in order: no copy
    else:
        cleaned = take_rows(tracks, order)
    cleaned.attrs = {k: v for k, v in tracks.attrs.items() if k != "rejected_rows"}

    dropped = np.flatnonzero(reason)
    codes = reason[dropped]
    detail = np.full(dropped.size, "", dtype=object)
    for code, text in _CONSTANT_DETAIL.items():
        detail[codes == code] = text
    for code in (_INVALID_MMSI, _NON_VESSEL):
        sel = np.flatnonzero(codes == code)
        if sel.size:
            detail[sel] = [
                "MMSI missing" if m < 0 else f"MMSI {m}" for m in mmsi[dropped[sel]].tolist()
            ]
    sel = np.flatnonzero(codes == _IMPOSSIBLE)
    if sel.size:
        rows = dropped[sel]
        detail[sel] = [
            f"lat {a} lon {b}"
            for a, b in zip(lat[rows].tolist(), lon[rows].tolist(), strict=True)
        ]
    if jidx.size:
        # place each jump's text at its row of the ledger (dropped holds every jidx)
        detail[np.searchsorted(dropped, jidx)] = [
            f"implied speed {s:.1f} kn > {max_speed_kn:g} kn" for s in jump_speed.tolist()
        ]
    cols = [c for c in ("mmsi", "timestamp", "lat", "lon", *PROVENANCE_COLUMNS) if c in tracks]
    ledger = make_ledger(
        tracks[cols].iloc[dropped], reason=_REASON_NAMES[codes], detail=detail
    )
    ledger = concat_ledgers([rejected_of(tracks), ledger])
    return CleanResult(cleaned, ledger)


def _mmsi_kinds(mmsi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(invalid, non-vessel) masks of the MMSIs, worked out once per run of equal values."""
    n = mmsi.size
    starts = np.flatnonzero(mmsi[1:] != mmsi[:-1])
    if starts.size < n // 8:  # rows grouped by vessel, as usual: one test per run
        starts = np.r_[0, starts + 1]
        bad, non_vessel = _mmsi_kinds_of(mmsi[starts])
        lengths = np.diff(np.r_[starts, n])
        return np.repeat(bad, lengths), np.repeat(non_vessel, lengths)
    return _mmsi_kinds_of(mmsi)


def _mmsi_kinds_of(mmsi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ship = is_ship_mmsi(mmsi)
    non_vessel = ~ship & (mid_of(mmsi) > 0) & (mmsi >= 1_000_000)
    return ~ship & ~non_vessel, non_vessel


def _excursions(
    bi: np.ndarray,
    alive: np.ndarray,
    mmsi: np.ndarray,
    t_ns: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    max_kmh: float,
    tolerance_km: float,
    lookahead: int,
) -> np.ndarray:
    """Mask over ``alive``: rows between each impossible step and the way back.

    For each impossible step ``alive[i] -> alive[i + 1]``, find the first ``j`` in
    ``i + 2 .. i + lookahead`` of the same vessel reachable from ``alive[i]``; rows
    ``i + 1 .. j - 1`` form the excursion. Steps without a way back mark nothing.
    Vectorised as a (steps × lookahead) array, in chunks to bound memory.
    """
    k = len(alive)
    out = np.zeros(k, dtype=bool)
    if lookahead < 2 or not len(bi):
        return out
    offsets = np.arange(2, lookahead + 1)
    diff = np.zeros(k + 1, dtype=np.int64)
    for start in range(0, len(bi), 65_536):
        b = bi[start : start + 65_536]
        cand = b[:, None] + offsets[None, :]
        inside = cand < k
        cand_c = np.where(inside, cand, k - 1)
        src = alive[b][:, None]
        dst = alive[cand_c]
        d = haversine_km(lat[src], lon[src], lat[dst], lon[dst])
        dt_h = (t_ns[dst] - t_ns[src]) / _NS_PER_H
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (d <= tolerance_km) | ((dt_h > 0) & (d <= max_kmh * dt_h))
        ok &= inside & (mmsi[dst] == mmsi[src])
        has = ok.any(axis=1)
        first_ok = np.argmax(ok, axis=1)  # index into offsets
        b, first_ok = b[has], first_ok[has]
        end = b + offsets[first_ok]  # exclusive end of the excursion
        np.add.at(diff, b + 1, 1)
        np.add.at(diff, end, -1)
    out[:] = np.cumsum(diff[:-1]) > 0
    return out


def _duplicates(tracks: pd.DataFrame, order: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """Boolean mask over ``order``: rows identical to an earlier one in every value column.

    Only rows sharing (mmsi, timestamp) with a neighbour (``tie[i]``: sorted rows ``i``
    and ``i + 1`` do) can be exact duplicates, so the costly hashing runs on that small
    subset.
    """
    out = np.zeros(len(order), dtype=bool)
    if len(order) < 2:
        return out
    pos = np.flatnonzero(tie)
    if pos.size == 0:
        return out
    cand = np.zeros(len(order), dtype=bool)
    cand[pos] = True
    cand[pos + 1] = True
    pos = np.flatnonzero(cand)
    value_cols = [i for i, c in enumerate(tracks.columns) if c not in PROVENANCE_COLUMNS]
    sub = tracks.iloc[order[pos], value_cols].reset_index(drop=True)
    out[pos] = sub.duplicated(keep="first").to_numpy()
    return out


def find_position_jumps(
    mmsi: np.ndarray,
    t_ns: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    max_speed_kn: float = 50.0,
    jump_tolerance_km: float = 0.5,
    max_passes: int = 10,
    lookahead: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Find rows whose position implies an impossible speed, vectorised over vessels.

    Inputs must be sorted by (mmsi, time). Each pass (a) drops isolated spikes — a row
    that is impossible to reach from its predecessor *and* to leave to its successor,
    while predecessor to successor is possible — taking every other row of a run of
    spikes; else (b) drops excursions — after an impossible step, the rows up to the
    first one (within ``lookahead`` rows) that is reachable from the last row before
    the step (a teleport of a few reports); else (c) drops the shorter of the two
    consistent stretches either side of each impossible step (the minority position
    source of a shared MMSI). Passes repeat until no impossible step is left or
    ``max_passes`` is reached.

    Two shortcuts leave the result unchanged: a step whose length is bounded (without
    trigonometry) within the tolerance or the speed limit is not measured, and the
    passes run only on the vessels with an impossible step (others never change).

    Parameters
    ----------
    mmsi, t_ns, lat, lon : numpy.ndarray
        Sorted columns; ``t_ns`` is nanoseconds since the epoch.
    max_speed_kn : float
        Steps faster than this (strictly greater) are impossible.
    jump_tolerance_km : float
        Steps of at most this many km are never impossible.
    max_passes : int
        Bound on the number of passes.
    lookahead : int
        How many rows after an impossible step to search for the way back (b).

    Returns
    -------
    rows : numpy.ndarray of int
        Positions (into the inputs) of the rows to drop, ascending.
    speed_kn : numpy.ndarray of float
        For each dropped row, the implied speed (kn) of the step into it that made
        it impossible (``inf`` for a step with zero elapsed time).
    """
    n = len(mmsi)
    dropped: list[np.ndarray] = []
    speeds: list[np.ndarray] = []
    max_kmh = max_speed_kn * KM_PER_NM
    empty = np.empty(0, dtype=np.int64), np.empty(0, dtype="float64")
    if n < 2 or max_passes < 1:
        return empty

    def step_speed(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = haversine_km(lat[a], lon[a], lat[b], lon[b])
        dt_h = (t_ns[b] - t_ns[a]) / _NS_PER_H
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(dt_h > 0, d / dt_h, np.inf)
        bad = (mmsi[a] == mmsi[b]) & (d > jump_tolerance_km) & (v > max_kmh)
        return bad, v / KM_PER_NM

    # The first pass's steps: a cheap upper bound of each step's length rules out most
    # of them before any trigonometry; only the rest get step_speed (identical values).
    bad0, v0 = _first_steps(mmsi, t_ns, lat, lon, max_kmh, jump_tolerance_km, step_speed)
    if not bad0.any():
        return empty
    # Passes only ever touch vessels with an impossible step (a vessel's rows and steps
    # change only around its own impossible steps): run them on those vessels alone.
    alive, bad, v = _vessels_with_jumps(mmsi, bad0, v0)
    del bad0, v0

    def steps_after(removed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """bad/v of the steps between the rows kept from the previous ``alive``."""
        kept = np.flatnonzero(~removed)
        same = kept[1:] == kept[:-1] + 1  # the step existed before
        nb = np.empty(max(kept.size - 1, 0), dtype=bool)
        nv = np.empty(max(kept.size - 1, 0), dtype=np.float64)
        old = kept[:-1][same]
        nb[same] = bad[old]
        nv[same] = v[old]
        new = np.flatnonzero(~same)
        if new.size:
            new_alive = alive[kept]
            nb[new], nv[new] = step_speed(new_alive[new], new_alive[new + 1])
        return nb, nv

    for _ in range(max_passes):
        if len(alive) < 2:
            break
        a, b = alive[:-1], alive[1:]  # bad[k], v[k]: the step alive[k] -> alive[k + 1]
        if not bad.any():
            break
        k = len(alive)
        first = np.ones(k, dtype=bool)
        first[1:] = mmsi[b] != mmsi[a]
        last = np.ones(k, dtype=bool)
        last[:-1] = mmsi[b] != mmsi[a]
        bad_in = np.zeros(k, dtype=bool)
        bad_in[1:] = bad
        bad_out = np.zeros(k, dtype=bool)
        bad_out[:-1] = bad
        # bridge: predecessor -> successor possible?
        bridge_ok = np.zeros(k, dtype=bool)
        mid = ~first & ~last
        mi = np.flatnonzero(mid & bad_in & bad_out)  # only these can be spikes
        if len(mi):
            bb, _ = step_speed(alive[mi - 1], alive[mi + 1])
            bridge_ok[mi] = ~bb
        spike = mid & bad_in & bad_out & bridge_ok
        # a vessel's first/last row that cannot be joined to a consistent neighbour
        nxt_ok = np.zeros(k, dtype=bool)
        nxt_ok[:-2] = ~bad[1:] & ~last[1:-1]
        prv_ok = np.zeros(k, dtype=bool)
        prv_ok[2:] = ~bad[:-1] & ~first[1:-1]
        spike |= first & ~last & bad_out & nxt_ok
        spike |= last & ~first & bad_in & prv_ok
        # in a run of adjacent spikes keep alternate rows (ABAB: drop the Bs)
        run_start = spike & ~np.concatenate([[False], spike[:-1]])
        run_id = np.cumsum(run_start)
        pos_in_run = np.arange(k) - np.maximum.accumulate(np.where(run_start, np.arange(k), 0))
        spike &= (pos_in_run % 2 == 0) & (run_id > 0)
        if spike.any():
            si = np.flatnonzero(spike)
            sp = np.where(
                bad_in[si], np.concatenate([[0.0], v])[si], np.concatenate([v, [0.0]])[si]
            )
            dropped.append(alive[si])
            speeds.append(sp)
            bad, v = steps_after(spike)
            alive = alive[~spike]
            continue
        bi = np.flatnonzero(bad)  # step alive[bi] -> alive[bi + 1] is impossible
        # (b) an excursion: the first later row reachable from the last good row ends it
        to_drop = _excursions(
            bi, alive, mmsi, t_ns, lat, lon, max_kmh, jump_tolerance_km, lookahead
        )
        if not to_drop.any():
            # (c) no way back within the look-ahead: split at impossible steps and drop
            # the shorter stretch of each pair (the minority position source)
            seg = np.cumsum(np.concatenate([[True], bad | (mmsi[b] != mmsi[a])]))
            size = np.bincount(seg)
            left, right = seg[bi], seg[bi + 1]
            drop_seg = np.unique(np.where(size[right] < size[left], right, left))
            to_drop = np.isin(seg, drop_seg)
        di = np.flatnonzero(to_drop)
        # every row of a dropped stretch reports the impossible step at its edge
        edge = np.zeros(k)
        np.maximum.at(edge, bi, v[bi])
        np.maximum.at(edge, bi + 1, v[bi])
        starts = np.flatnonzero(np.concatenate([[True], np.diff(di) != 1]))
        run_speed = np.maximum.reduceat(edge[di], starts)
        dropped.append(alive[di])
        speeds.append(np.repeat(run_speed, np.diff(np.append(starts, len(di)))))
        bad, v = steps_after(to_drop)
        alive = alive[~to_drop]
    if not dropped:
        return empty
    rows = np.concatenate(dropped)
    sp = np.concatenate(speeds)
    o = np.argsort(rows, kind="stable")
    return rows[o], sp[o]


def _first_steps(
    mmsi: np.ndarray,
    t_ns: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    max_kmh: float,
    tolerance_km: float,
    step_speed: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """``bad``/``v`` of every step ``i -> i + 1``, as ``step_speed`` gives them.

    A step's great-circle length is at most ``R (|dlat| + |dlon|)`` (radians): along the
    parallel, then the meridian. Steps whose bound (with a margin far above rounding) is
    within the tolerance or the speed limit cannot be impossible and are not measured;
    their ``v`` is left 0, and is never read (only impossible steps' speeds are).
    """
    same = mmsi[1:] == mmsi[:-1]
    bound_km = distance_bound_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    dt_h = (t_ns[1:] - t_ns[:-1]) / _NS_PER_H
    dt_h *= max_kmh  # the most a vessel may move in the step, km
    ok = bound_km <= tolerance_km
    ok |= bound_km <= dt_h
    del dt_h
    # NaN positions fail both tests and are measured, like every step of doubt
    cand = np.flatnonzero(same & ~ok)
    del same, ok, bound_km
    bad = np.zeros(mmsi.size - 1, dtype=bool)
    v = np.zeros(mmsi.size - 1, dtype=np.float64)
    if cand.size:
        bad[cand], v[cand] = step_speed(cand, cand + 1)
    return bad, v


def _vessels_with_jumps(
    mmsi: np.ndarray, bad: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the vessels with an impossible step, and the steps between those rows.

    Between two selected vessels that other vessels separate, one row of those stays as
    a barrier: runs of adjacent rows (alternate spikes, the speed of a dropped stretch)
    must not join across vessels that were never neighbours. A barrier is a vessel of
    one row here, with no impossible step: no pass ever drops it. Exact only when each
    MMSI forms one run of rows (sorted input); otherwise all rows are kept, so that rows
    of one MMSI never become neighbours by the selection.
    """
    n = mmsi.size
    starts = np.r_[0, np.flatnonzero(mmsi[1:] != mmsi[:-1]) + 1]
    if np.unique(mmsi[starts]).size != starts.size:
        return np.arange(n), bad, v
    run_of_bad = np.searchsorted(starts, np.flatnonzero(bad), side="right") - 1
    hit = np.zeros(starts.size, dtype=bool)
    hit[run_of_bad] = True
    if hit.all():
        return np.arange(n), bad, v
    take = np.repeat(hit, np.diff(np.r_[starts, n]))
    # the first row of each block of unselected vessels is a barrier
    block_first = ~hit & np.r_[True, hit[:-1]]
    take[starts[block_first]] = True
    rows = np.flatnonzero(take)
    step = rows[:-1]
    inner = rows[1:] == step + 1  # an existing step (between two vessels: never bad)
    sb = np.zeros(step.size, dtype=bool)
    sv = np.zeros(step.size, dtype=np.float64)
    sb[inner] = bad[step[inner]]
    sv[inner] = v[step[inner]]
    return rows, sb, sv
