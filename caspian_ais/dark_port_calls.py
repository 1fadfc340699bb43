"""Probable dark port calls: gaps during which the vessel could have called at a port.

Lloyd's List Intelligence's "probable dark port calls" (reported by CNN, 2023) are calls
that the AIS never shows: the vessel switches off in the port's approaches, calls, and
switches on again in the approaches. A suspicious gap (:func:`caspian_ais.detect_gaps`)
qualifies for port ``P`` when

1. both ends lie outside every port area (a gap with an end inside a port area is a
   *visible* call with AIS off at berth, or a departure/arrival that was seen: never a
   dark call);
2. both ends lie in ``P``'s approach zone, or within ``approach_margin_km`` of it (the
   zone of a Volga canal port, Astrakhan or Olya, includes the canal corridor);
3. the gap is long enough to reach ``P``, stay ``min_stay_h`` and come back, at the
   vessel's observed speed (Windward's *reachability* test); for canal ports the route
   follows the Volga-Caspian Ship Canal;
4. it is not a dark round trip from ``P`` (the visible calls just before and just after
   the gap are both at ``P``: :mod:`caspian_ais.round_trips`).

Where several ports qualify, they are ranked first by how many ends lie in the port's own
approach zone (:func:`caspian_ais.ports.in_approach`, which gives the Volga canal corridor
to Astrakhan beyond Olya's disc), then by route length (the nearest first); the best
becomes ``port``. Each call carries the window in which the vessel could have been
in port, the evidence (draught change across the gap, course towards the port before the
gap and away from it after), and a confidence.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.gaps import nearest_port_km, port_table
from caspian_ais.geodesy import KM_PER_NM, angle_diff_deg, bearing_deg, haversine_km

__all__ = ["DARK_PORT_CALL_COLUMNS", "detect_dark_port_calls", "route_km"]

_NS_PER_H = 3_600_000_000_000

#: Columns of :func:`detect_dark_port_calls`, in order.
DARK_PORT_CALL_COLUMNS: tuple[str, ...] = (
    "mmsi",
    "port",
    "start_time",
    "end_time",
    "duration_h",
    "gap_id",
    "country",
    "unlocode",
    "rank",
    "n_candidates",
    "candidates",
    "start_port_km",
    "end_port_km",
    "route_km",
    "speed_kn",
    "window_start",
    "window_end",
    "max_stay_h",
    "draught_change_m",
    "heading_to_port",
    "heading_from_port",
    "confidence",
    "confidence_level",
    "flag_state",
    "ship_type",
    "start_lat",
    "start_lon",
    "end_lat",
    "end_lon",
)


@lru_cache(maxsize=1)
def _canal_points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Volga canal centre line densified to ~0.5 km: lat, lon, km from Astrakhan."""
    from caspian_ais.ports import volga_canal

    xy = np.asarray(volga_canal().coords)
    lon, lat = xy[:, 0], xy[:, 1]
    seg = haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    k = np.maximum(np.ceil(seg / 0.5).astype(int), 1)
    plat = np.concatenate([np.linspace(lat[i], lat[i + 1], k[i], endpoint=False)
                           for i in range(seg.size)] + [lat[-1:]])
    plon = np.concatenate([np.linspace(lon[i], lon[i + 1], k[i], endpoint=False)
                           for i in range(seg.size)] + [lon[-1:]])
    along = np.r_[0.0, np.cumsum(haversine_km(plat[:-1], plon[:-1], plat[1:], plon[1:]))]
    return plat, plon, along


def route_km(lat: Any, lon: Any, port_lat: Any, port_lon: Any, canal: Any) -> np.ndarray:
    """Sailing distance (km) from points to ports, following the Volga canal where needed.

    For an ordinary port the distance is the great circle. For a port reached through
    the Volga-Caspian Ship Canal (``canal`` true) it is the distance from the point to
    the nearest point of the canal centre line plus the distance along the canal from
    there to the port.

    Parameters
    ----------
    lat, lon : array-like of float
        Points, degrees.
    port_lat, port_lon : array-like of float
        The port of each point, degrees (broadcast with ``lat``).
    canal : array-like of bool
        Whether each port is reached by the canal.

    Returns
    -------
    numpy.ndarray of float
        Distances, km.

    Examples
    --------
    >>> d = route_km([44.76], [47.76], [46.3498], [48.0326], [True])  # canal sea end
    >>> bool(d[0] > haversine_km(44.76, 47.76, 46.3498, 48.0326) + 10)
    True
    """
    lat, lon, plat, plon, canal = np.broadcast_arrays(
        np.asarray(lat, float), np.asarray(lon, float), np.asarray(port_lat, float),
        np.asarray(port_lon, float), np.asarray(canal, bool))
    out = haversine_km(lat, lon, plat, plon)
    c = np.flatnonzero(canal)
    if c.size:
        clat, clon, along = _canal_points()
        dp = haversine_km(lat[c, None], lon[c, None], clat[None, :], clon[None, :])
        j = np.argmin(dp, axis=1)
        dq = haversine_km(plat[c, None], plon[c, None], clat[None, :], clon[None, :])
        jq = np.argmin(dq, axis=1)
        via = (dp[np.arange(c.size), j] + np.abs(along[j] - along[jq])
               + dq[np.arange(c.size), jq])
        out[c] = np.maximum(via, out[c])
    return out


def _ns(s: pd.Series) -> np.ndarray:
    """Datetimes (naive = UTC) as int64 ns since the epoch."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.to_datetime(s).to_numpy(dtype="datetime64[ns]").view(np.int64)


def _vessel_speed(tracks: pd.DataFrame | None, mmsi: np.ndarray, *, moving_min_kn: float,
                  default_speed_kn: float) -> np.ndarray:
    """Median speed over ground of each vessel's moving reports (knots)."""
    out = np.full(mmsi.size, float(default_speed_kn))
    if tracks is None or "sog_kn" not in tracks or mmsi.size == 0:
        return out
    want = np.unique(mmsi)
    sub = tracks.loc[tracks["mmsi"].isin(want), ["mmsi", "sog_kn"]]
    sub = sub[sub["sog_kn"] >= moving_min_kn]
    if sub.empty:
        return out
    med = sub.groupby("mmsi")["sog_kn"].median()
    v = pd.Series(mmsi).map(med).to_numpy(dtype=np.float64)
    return np.where(np.isfinite(v) & (v > 0), v, out)


def _empty() -> pd.DataFrame:
    utc = "datetime64[ns, UTC]"
    dt: dict[str, Any] = {c: "float64" for c in DARK_PORT_CALL_COLUMNS}
    dt.update({"mmsi": "int64", "port": "str", "start_time": utc, "end_time": utc,
               "gap_id": "str", "country": "str", "unlocode": "str", "rank": "int64",
               "n_candidates": "int64", "candidates": "str", "window_start": utc,
               "window_end": utc, "heading_to_port": "bool", "heading_from_port": "bool",
               "confidence_level": "str", "flag_state": "str", "ship_type": "Int16"})
    return pd.DataFrame({c: pd.Series([], dtype=dt[c]) for c in DARK_PORT_CALL_COLUMNS})


def _prev_next_ports(g: pd.DataFrame, port_calls: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Port of the last visible call before each gap and of the first one after it."""
    n = len(g)
    if port_calls is None or len(port_calls) == 0 or n == 0:
        return np.full(n, None, dtype=object), np.full(n, None, dtype=object)
    left = pd.DataFrame({"mmsi": g["mmsi"].to_numpy(), "s": g["start_time"].to_numpy(),
                         "e": g["end_time"].to_numpy(), "i": np.arange(n)})
    pc = pd.DataFrame({"mmsi": port_calls["mmsi"].to_numpy(),
                       "cs": port_calls["start_time"].to_numpy(),
                       "ce": port_calls["end_time"].to_numpy(),
                       "port": port_calls["port"].astype(object).to_numpy()})
    prev = pd.merge_asof(left.sort_values("s"), pc.sort_values("ce"), left_on="s",
                         right_on="ce", by="mmsi", direction="backward")
    # an open gap (no end) has no call after it
    nxt = pd.merge_asof(left[left["e"].notna()].sort_values("e"), pc.sort_values("cs"),
                        left_on="e", right_on="cs", by="mmsi", direction="forward")
    pp = np.full(n, None, dtype=object)
    pn = np.full(n, None, dtype=object)
    pp[prev["i"].to_numpy()] = prev["port"].to_numpy(dtype=object)
    pn[nxt["i"].to_numpy()] = nxt["port"].to_numpy(dtype=object)
    return pp, pn


def detect_dark_port_calls(
    gaps: pd.DataFrame,
    tracks: pd.DataFrame | None = None,
    ports: Any = None,
    port_calls: pd.DataFrame | None = None,
    *,
    require_suspicious: bool = True,
    approach_margin_km: float = 10.0,
    min_stay_h: float = 4.0,
    default_speed_kn: float = 10.0,
    moving_min_kn: float = 3.0,
    max_speed_factor: float = 1.0,
    min_draught_change_m: float = 0.2,
    heading_tolerance_deg: float = 60.0,
    exclude_round_trips: bool = True,
    poor_quality: float = 0.5,
    poor_reach_km: float = 400.0,
    all_candidates: bool = False,
) -> pd.DataFrame:
    """Find the gaps during which the vessel probably called at a port with AIS off.

    Parameters
    ----------
    gaps : pandas.DataFrame
        From :func:`caspian_ais.detect_gaps` (enriched, so that ``suspicious``,
        ``start_in_port``/``end_in_port`` and the draught and course columns are there;
        a bare gap table works too, with fewer checks and less evidence).
    tracks : pandas.DataFrame, optional
        The tracks the gaps came from, for the vessels' observed speeds.
    ports : pandas.DataFrame or path, optional
        Gazetteer; default the bundled Caspian one.
    port_calls : pandas.DataFrame, optional
        From :func:`caspian_ais.port_calls.detect_port_calls`, to tell dark round trips
        (leave ``P``, dark, come back to ``P``) from dark calls at ``P``.
    require_suspicious : bool, default True
        Consider only gaps with ``suspicious`` true (when the column exists).
    approach_margin_km : float, default 10.0
        A gap end counts as "near" the approaches within this distance beyond the
        approach disc (``approach_radius_km`` of the gazetteer), km.
    min_stay_h : float, default 4.0
        Shortest time in port that makes a call, hours: berthing and cargo work take
        hours (GFW counts an in-port silence of 4 h or more as part of a visit).
    default_speed_kn : float, default 10.0
        Speed used when the vessel's own cannot be measured, knots.
    moving_min_kn : float, default 3.0
        Reports at or above this speed count towards the vessel's observed speed (the
        median of its moving reports), knots.
    max_speed_factor : float, default 1.0
        Multiplier on the observed speed for the reachability test (above 1 is more
        lenient).
    min_draught_change_m : float, default 0.2
        A draught change across the gap at least this large counts as evidence of cargo
        work (Kpler's "analyst assumption"), m.
    heading_tolerance_deg : float, default 60.0
        The course at the gap start counts as "towards the port" (at the end, "away
        from it") within this angle of the bearing, degrees.
    exclude_round_trips : bool, default True
        Drop the gap when the visible calls just before and just after it are both at
        the same port ``X`` and both its ends are in (or near) ``X``'s approaches: a dark
        round trip from ``X`` (needs ``port_calls``).
    poor_quality : float, default 0.5
        A gap end whose reception quality (``start_quality``/``end_quality`` of the gap
        table) is below this lies in poorly covered water: the vessel may have switched
        off (on) later (earlier) and closer in than where it was last (first) heard ...
    poor_reach_km : float, default 400.0
        ... so such an end counts as near a port within this distance, km (one end at
        most, and the other must then lie in the port's own approach zone per
        :func:`caspian_ais.ports.in_approach`). The reachability test still applies.
    all_candidates : bool, default False
        One row per (gap, candidate port) with its ``rank``, instead of one row per gap.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DARK_PORT_CALL_COLUMNS`. ``start_time``/``end_time`` are the gap's;
        ``window_start``/``window_end`` bound the time the vessel could have been in
        port (earliest arrival, latest departure at ``speed_kn``); ``max_stay_h`` is
        their difference; ``candidates`` lists all qualifying ports, best first;
        ``confidence`` is 0-1 and ``confidence_level`` ``"high"`` (>= 0.8),
        ``"medium"`` (>= 0.6) or ``"low"``.

    Examples
    --------
    >>> ports = pd.DataFrame({"port": ["P"], "lat": [0.0], "lon": [0.0],
    ...                       "area_radius_km": [3.0], "approach_radius_km": [50.0]})
    >>> g = pd.DataFrame({"mmsi": [273000001], "gap_id": ["273000001-0"],
    ...     "start_time": pd.to_datetime(["2023-01-01"], utc=True),
    ...     "end_time": pd.to_datetime(["2023-01-02"], utc=True), "duration_h": [24.0],
    ...     "start_lat": [0.2], "start_lon": [0.0], "end_lat": [0.0], "end_lon": [0.2],
    ...     "is_closed": [True], "suspicious": [True]})
    >>> detect_dark_port_calls(g, ports=ports)[["port", "max_stay_h"]].round(1).values.tolist()
    [['P', 21.6]]
    """
    ptab = port_table(ports)
    if len(gaps) == 0 or len(ptab) == 0:
        return _empty()
    g = gaps.reset_index(drop=True)
    ok = np.ones(len(g), dtype=bool)
    if "is_closed" in g:
        ok &= g["is_closed"].to_numpy(dtype=bool)
    ok &= g["end_time"].notna().to_numpy()
    if require_suspicious and "suspicious" in g:
        ok &= g["suspicious"].to_numpy(dtype=bool)
    slat, slon = g["start_lat"].to_numpy(float), g["start_lon"].to_numpy(float)
    elat, elon = g["end_lat"].to_numpy(float), g["end_lon"].to_numpy(float)
    # 1. both ends outside every port area
    area = ptab["area_radius_km"].to_numpy(float)
    for la, lo, c in ((slat, slon, "start_in_port"), (elat, elon, "end_in_port")):
        if c in g:
            ok &= ~g[c].to_numpy(dtype=bool)
        else:
            i, d = nearest_port_km(la, lo, ptab, max_km=float(area.max()))
            ok &= ~((i >= 0) & (d <= area[np.maximum(i, 0)]))
    gi = np.flatnonzero(ok)
    if gi.size == 0:
        return _empty()
    # 2. both ends in (or near) the approaches of the candidate port
    from caspian_ais.ports import approach_membership, in_approach

    P = len(ptab)
    canal = (ptab["volga_canal"].to_numpy(dtype=bool) if "volga_canal" in ptab
             else np.zeros(P, dtype=bool))
    plat, plon = ptab["lat"].to_numpy(float), ptab["lon"].to_numpy(float)
    reach = ptab["approach_radius_km"].to_numpy(float) + float(approach_margin_km)

    def near(la: np.ndarray, lo: np.ndarray, quality: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = haversine_km(la[:, None], lo[:, None], plat[None, :], plon[None, :])
        member = approach_membership(la, lo, ptab)
        owner = in_approach(la, lo, ptab)
        own = np.zeros(d.shape, dtype=bool)
        own[np.flatnonzero(owner >= 0), owner[owner >= 0]] = True
        ok = member | (d <= reach[None, :])
        # last heard in poorly covered water: the switch-off may have come later, closer in
        relaxed = (quality < poor_quality)[:, None] & (d <= poor_reach_km) & ~ok
        return ok, own, relaxed

    def qcol(c: str) -> np.ndarray:
        return (g[c].to_numpy(dtype=np.float64, na_value=np.nan)[gi] if c in g
                else np.full(gi.size, np.nan))

    ns, own_s, rel_s = near(slat[gi], slon[gi], qcol("start_quality"))
    ne, own_e, rel_e = near(elat[gi], elon[gi], qcol("end_quality"))
    # both ends near; at most one of them only by the poor-coverage allowance, and then
    # the other one must lie in the port's own approach zone
    both = (ns & ne) | (own_s & rel_e) | (rel_s & own_e)
    # a round trip from X (visible calls at X just before and after, ends in X's zone) is
    # not a dark call anywhere
    if exclude_round_trips and port_calls is not None and len(port_calls):
        pp, pn = _prev_next_ports(g, port_calls)
        names_all = ptab["port"].astype(str).to_numpy()
        idx_of = {nm: i for i, nm in enumerate(names_all)}
        home = np.array([idx_of.get(a, -1) if a is not None and a == b else -1
                         for a, b in zip(pp[gi], pn[gi], strict=True)], dtype=np.int64)
        hk = home >= 0
        rt = np.zeros(gi.size, dtype=bool)
        rt[hk] = both[hk, home[hk]]
        both[rt] = False
    n_own = own_s.astype(np.int64) + own_e.astype(np.int64)
    pair_g, pair_p = np.nonzero(both)
    if pair_g.size == 0:
        return _empty()
    rows = gi[pair_g]
    # 3. reachability at the vessel's observed speed
    mmsi = g["mmsi"].to_numpy()
    speed = _vessel_speed(tracks, mmsi[rows], moving_min_kn=moving_min_kn,
                          default_speed_kn=default_speed_kn) * float(max_speed_factor)
    rs = route_km(slat[rows], slon[rows], plat[pair_p], plon[pair_p], canal[pair_p])
    re_ = route_km(elat[rows], elon[rows], plat[pair_p], plon[pair_p], canal[pair_p])
    v_kmh = speed * KM_PER_NM
    s_ns = _ns(g["start_time"])[rows]
    e_ns = _ns(g["end_time"])[rows]
    w0 = s_ns + (rs / v_kmh * _NS_PER_H).astype(np.int64)
    w1 = e_ns - (re_ / v_kmh * _NS_PER_H).astype(np.int64)
    stay_h = (w1 - w0) / _NS_PER_H
    keep = stay_h >= min_stay_h
    if not keep.any():
        return _empty()
    owned = n_own[pair_g, pair_p]
    rows, pair_p, rs, re_, w0, w1, stay_h, speed, owned = (
        a[keep] for a in (rows, pair_p, rs, re_, w0, w1, stay_h, speed, owned))
    # ranking: the port whose approach zone holds the ends (caspian_ais.ports.in_approach),
    # then the shortest route
    route = rs + re_
    o = np.lexsort((pair_p, route, -owned, rows))
    rows, pair_p, rs, re_, w0, w1, stay_h, speed, route = (
        a[o] for a in (rows, pair_p, rs, re_, w0, w1, stay_h, speed, route))
    first = np.r_[True, rows[1:] != rows[:-1]]
    grp = np.cumsum(first) - 1
    rank = np.arange(rows.size) - np.flatnonzero(first)[grp] + 1
    n_cand = np.bincount(grp)[grp]
    names = ptab["port"].astype(str).to_numpy()
    cand_names = pd.Series(names[pair_p])
    joined = cand_names.groupby(grp).agg(";".join).to_numpy()[grp]
    # evidence
    def gcol(c: str) -> np.ndarray:
        return (g[c].to_numpy(dtype=np.float64, na_value=np.nan)[rows] if c in g
                else np.full(rows.size, np.nan))

    dchange = gcol("end_draught_m") - gcol("start_draught_m")
    b_in = bearing_deg(slat[rows], slon[rows], plat[pair_p], plon[pair_p])
    b_out = bearing_deg(plat[pair_p], plon[pair_p], elat[rows], elon[rows])
    to_port = angle_diff_deg(gcol("start_cog_deg"), b_in) <= heading_tolerance_deg
    from_port = angle_diff_deg(gcol("end_cog_deg"), b_out) <= heading_tolerance_deg
    conf = (0.5 + 0.2 * (np.abs(dchange) >= min_draught_change_m) + 0.1 * to_port
            + 0.1 * from_port + 0.1 * (n_cand == 1) - 0.1 * (rank > 1))
    conf = np.clip(conf, 0.0, 1.0)
    level = np.where(conf >= 0.8, "high", np.where(conf >= 0.6, "medium", "low"))

    def utc(ns: np.ndarray) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")

    def pcol(c: str) -> Any:
        if c in ptab:
            return pd.array(ptab[c].to_numpy(dtype=object)[pair_p], dtype="str")
        return pd.array([None] * rows.size, dtype="str")

    gsub = g.iloc[rows].reset_index(drop=True)
    out = pd.DataFrame({
        "mmsi": gsub["mmsi"].to_numpy(),
        "port": pd.array(names[pair_p], dtype="str"),
        "start_time": gsub["start_time"].to_numpy(),
        "end_time": gsub["end_time"].to_numpy(),
        "duration_h": gsub["duration_h"].to_numpy(dtype=float),
        "gap_id": (gsub["gap_id"].astype(str).to_numpy() if "gap_id" in gsub
                   else np.full(rows.size, "")),
        "country": pcol("country"),
        "unlocode": pcol("unlocode"),
        "rank": rank.astype(np.int64),
        "n_candidates": n_cand.astype(np.int64),
        "candidates": pd.array(joined, dtype="str"),
        "start_port_km": rs,
        "end_port_km": re_,
        "route_km": route,
        "speed_kn": speed,
        "window_start": utc(w0),
        "window_end": utc(w1),
        "max_stay_h": stay_h,
        "draught_change_m": dchange,
        "heading_to_port": to_port,
        "heading_from_port": from_port,
        "confidence": conf,
        "confidence_level": pd.array(level.astype(object), dtype="str"),
        "flag_state": (pd.array(gsub["flag_state"].to_numpy(dtype=object), dtype="str")
                       if "flag_state" in gsub else pd.array([None] * rows.size, dtype="str")),
        "ship_type": (pd.array(gsub["ship_type"].to_numpy(dtype=object), dtype="Int16")
                      if "ship_type" in gsub else pd.array([pd.NA] * rows.size, dtype="Int16")),
        "start_lat": slat[rows],
        "start_lon": slon[rows],
        "end_lat": elat[rows],
        "end_lon": elon[rows],
    })
    for c in ("start_time", "end_time"):
        if not isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = pd.to_datetime(out[c], utc=True)
    if not all_candidates:
        out = out[out["rank"] == 1]
    return out.sort_values(["mmsi", "start_time", "rank"], ignore_index=True)[
        list(DARK_PORT_CALL_COLUMNS)]
