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
from caspian_ais.geodesy import KM_PER_NM, haversine_km
from caspian_ais.ledger import concat_ledgers, make_ledger, rejected_of
from caspian_ais.schema import PROVENANCE_COLUMNS, timestamp_ns, validate

__all__ = ["CleanResult", "clean", "sort_tracks", "find_position_jumps"]

_NS_PER_H = 3_600_000_000_000


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
    order, so results do not change when the input is shuffled.
    """
    ts = timestamp_ns(tracks["timestamp"])
    mmsi = tracks["mmsi"].to_numpy(dtype="int64")
    has_pos = "lat" in tracks and "lon" in tracks

    def positions() -> tuple[np.ndarray, np.ndarray]:
        return (np.nan_to_num(tracks["lon"].to_numpy(dtype="float64"), nan=999.0),
                np.nan_to_num(tracks["lat"].to_numpy(dtype="float64"), nan=999.0))

    order = _sort_mmsi_time(mmsi, ts)
    if order is None:  # the packed key does not fit: the general (slower) lexsort
        if has_pos:
            lon, lat = positions()
            return np.lexsort([lon, lat, ts, mmsi])
        return np.lexsort([ts, mmsi])
    if not has_pos or order.size < 2:
        return order
    # rows sharing (mmsi, timestamp) are adjacent and in input order (stable sort):
    # order each such run by latitude, then longitude, as the lexsort would
    m_o, t_o = mmsi[order], ts[order]
    tie = (m_o[1:] == m_o[:-1]) & (t_o[1:] == t_o[:-1])
    if not tie.any():
        return order
    in_run = np.zeros(order.size, dtype=bool)
    in_run[1:] |= tie
    in_run[:-1] |= tie
    pos = np.flatnonzero(in_run)
    run_id = np.cumsum(np.r_[True, ~tie])[pos]
    lon, lat = positions()
    rows = order[pos]
    order[pos] = rows[np.lexsort((lon[rows], lat[rows], run_id))]
    return order


def _sort_mmsi_time(mmsi: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
    """Stable argsort by (mmsi, ts) through one packed int64 key; None if it cannot fit.

    The key is (vessel rank, time in the coarsest exact unit); where the row number fits
    beside it, one unstable :func:`numpy.sort` of ``key << bits | row`` gives the stable
    order (several times faster than a stable argsort or a lexsort).
    """
    n = mmsi.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    d_m = np.diff(mmsi)
    if (d_m >= 0).all() and ((d_m > 0) | (np.diff(ts) >= 0)).all():
        return np.arange(n, dtype=np.int64)  # already in order
    del d_m
    lo, hi = int(ts.min()), int(ts.max())
    if lo == np.iinfo(np.int64).min:
        return None  # NaT: leave it to lexsort
    rel = ts - lo
    unit = 1
    for u in (1_000_000_000, 1_000_000, 1_000):
        if not np.remainder(rel, u).any():
            unit = u
            break
    if unit > 1:
        rel //= unit
    span = (hi - lo) // unit + 1
    codes, uniq = pd.factorize(mmsi)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(np.asarray(uniq), kind="stable")] = np.arange(len(uniq))
    n_codes = len(uniq)
    if n_codes * span >= (1 << 62):
        return None
    key = rank[codes]
    key *= span
    key += rel
    del rel, codes
    bits = max(int(n - 1).bit_length(), 1)
    if (n_codes * span).bit_length() + bits <= 63:
        key <<= bits
        key |= np.arange(n, dtype=np.int64)
        key.sort()
        key &= (1 << bits) - 1
        return key
    return np.argsort(key, kind="stable")


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
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)

    def mark(
        mask: np.ndarray, code: str, text: Callable[[np.ndarray], list[str]] | str = ""
    ) -> None:
        """Give ``code`` to rows in ``mask`` that have no reason yet; text is built lazily."""
        new = np.flatnonzero(mask & (reason == ""))
        if not len(new):
            return
        reason[new] = code
        detail[new] = text if isinstance(text, str) else text(new)

    mmsi = tracks["mmsi"].to_numpy(dtype="int64")
    lat = tracks["lat"].to_numpy(dtype="float64")
    lon = tracks["lon"].to_numpy(dtype="float64")

    mark(
        tracks["timestamp"].isna().to_numpy(),
        "unparseable_timestamp",
        "timestamp missing or unparseable",
    )

    ship = is_ship_mmsi(mmsi)
    non_vessel = ~ship & (mid_of(mmsi) > 0) & (mmsi >= 1_000_000)
    bad_mmsi = ~ship & ~non_vessel

    def mmsi_text(rows: np.ndarray) -> list[str]:
        return ["MMSI missing" if m < 0 else f"MMSI {m}" for m in mmsi[rows].tolist()]

    mark(bad_mmsi, "invalid_mmsi", mmsi_text)
    if drop_non_vessels:
        mark(non_vessel, "non_vessel_mmsi", mmsi_text)

    mark(np.isnan(lat) | np.isnan(lon), "missing_position", "latitude or longitude not available")
    impossible = (np.abs(lat) > 90.0) | (np.abs(lon) > 180.0)
    if drop_null_island:
        impossible |= (lat == 0.0) & (lon == 0.0)
    mark(
        impossible,
        "impossible_coordinates",
        lambda rows: [
            f"lat {a} lon {b}" for a, b in zip(lat[rows].tolist(), lon[rows].tolist(), strict=True)
        ],
    )

    # Everything below works on the rows still valid, in (mmsi, time) order.
    valid_pos = np.flatnonzero(reason == "")
    sub = tracks.iloc[valid_pos]
    order = valid_pos[sort_tracks(sub)]

    dup = _duplicates(tracks, order)
    mark_idx = order[dup]
    reason[mark_idx] = "duplicate"
    detail[mark_idx] = "exact duplicate of an earlier row"
    order = order[~dup]

    jump_rows, jump_speed = find_position_jumps(
        mmsi[order],
        timestamp_ns(tracks["timestamp"])[order],
        lat[order],
        lon[order],
        max_speed_kn=max_speed_kn,
        jump_tolerance_km=jump_tolerance_km,
        max_passes=max_jump_passes,
    )
    jidx = order[jump_rows]
    reason[jidx] = "position_jump"
    detail[jidx] = np.array(
        [f"implied speed {s:.1f} kn > {max_speed_kn:g} kn" for s in jump_speed], dtype=object
    )
    keep = np.ones(len(order), dtype=bool)
    keep[jump_rows] = False
    order = order[keep]

    cleaned = tracks.take(order).reset_index(drop=True)
    cleaned.attrs = {k: v for k, v in tracks.attrs.items() if k != "rejected_rows"}

    dropped = np.flatnonzero(reason != "")
    dropped_rows = tracks.iloc[dropped]
    cols = [c for c in ("mmsi", "timestamp", "lat", "lon", *PROVENANCE_COLUMNS) if c in tracks]
    ledger = make_ledger(dropped_rows[cols], reason=reason[dropped], detail=detail[dropped])
    ledger = concat_ledgers([rejected_of(tracks), ledger])
    return CleanResult(cleaned, ledger)


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


def _duplicates(tracks: pd.DataFrame, order: np.ndarray) -> np.ndarray:
    """Boolean mask over ``order``: rows identical to an earlier one in every value column.

    Only rows sharing (mmsi, timestamp) with a neighbour can be exact duplicates, so the
    costly hashing runs on that small subset.
    """
    if len(order) < 2:
        return np.zeros(len(order), dtype=bool)
    m = tracks["mmsi"].to_numpy(dtype="int64")[order]
    t = timestamp_ns(tracks["timestamp"])[order]
    same = (m[1:] == m[:-1]) & (t[1:] == t[:-1])
    cand = np.zeros(len(order), dtype=bool)
    cand[1:] |= same
    cand[:-1] |= same
    if not cand.any():
        return np.zeros(len(order), dtype=bool)
    value_cols = [c for c in tracks.columns if c not in PROVENANCE_COLUMNS]
    pos = np.flatnonzero(cand)
    sub = tracks.iloc[order[pos]][value_cols].reset_index(drop=True)
    out = np.zeros(len(order), dtype=bool)
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
    alive = np.arange(n)
    dropped: list[np.ndarray] = []
    speeds: list[np.ndarray] = []
    max_kmh = max_speed_kn * KM_PER_NM

    def step_speed(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = haversine_km(lat[a], lon[a], lat[b], lon[b])
        dt_h = (t_ns[b] - t_ns[a]) / _NS_PER_H
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(dt_h > 0, d / dt_h, np.inf)
        bad = (mmsi[a] == mmsi[b]) & (d > jump_tolerance_km) & (v > max_kmh)
        return bad, v / KM_PER_NM

    bad: np.ndarray | None = None  # the steps of the previous pass, reused where unchanged
    v: np.ndarray | None = None

    def steps_after(removed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """bad/v of the steps between the rows kept from the previous ``alive``."""
        kept = np.flatnonzero(~removed)
        same = kept[1:] == kept[:-1] + 1  # the step existed before
        nb = np.empty(max(kept.size - 1, 0), dtype=bool)
        nv = np.empty(max(kept.size - 1, 0), dtype=np.float64)
        old = kept[:-1][same]
        assert bad is not None and v is not None
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
        a, b = alive[:-1], alive[1:]
        if bad is None or v is None:
            bad, v = step_speed(a, b)  # bad[k]: step alive[k] -> alive[k+1]
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
        return np.empty(0, dtype=np.int64), np.empty(0, dtype="float64")
    rows = np.concatenate(dropped)
    sp = np.concatenate(speeds)
    o = np.argsort(rows, kind="stable")
    return rows[o], sp[o]
