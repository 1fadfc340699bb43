"""Dark rendezvous candidates: a ship-to-ship meeting where one side went dark.

A vessel that meets another at sea to transfer cargo often switches its AIS off; its
partner may not. The visible side then *loiters*; the dark side shows a *gap* that covers
the meeting, with switch-off and switch-on positions within reach of the meeting place.
:func:`detect_dark_rendezvous` pairs them (see ``docs/encounters_identity.md`` and
``/work/shared/method.md`` "Encounters and loitering"):

``kind = "loitering"``
    Vessel A loiters (:func:`caspian_ais.loitering.detect_loitering` with
    ``min_loiter_h``) while vessel B's gap overlaps the loitering by at least
    ``min_overlap_h``; B's switch-off and switch-on positions lie within
    ``max_switch_distance_km`` of A's position, and B, at its own usual speed, could
    have sailed from the switch-off to A before A left, stayed at least ``min_slack_h``
    and sailed on to the switch-on within the gap (Windward's reachability test). Where
    B was reported under way at a switch more than ``course_min_distance_km`` from A,
    its course there must point towards A (at the switch-off) or away from it (at the
    switch-on) within ``max_course_offset_deg``: a ship heading for a meeting steers for
    it. B's *window* at A (the time it could have spent beside A, at its own speed) must
    last ``min_overlap_h`` and cover at least ``min_presence_share`` of A's stop: two
    ships lie together for most of a transfer. A gap explained by a call at one port (both
    ends within ``port_call_max_km`` of it, the course towards it before and away after)
    is left out. Where candidates contest one vessel (A's stop claimed by two dark ships,
    or B's gap by two stops it could not both attend) the clearly better one is kept
    (``rank_partners``).
``kind = "slow_gap"``
    As ``loitering``, but vessel A's lying still is seen as a silence of at least
    ``min_loiter_h`` across which it moved slower than ``max_loiter_speed_kn``.
``kind = "dark_round_trip"``
    Vessel A is on a dark round trip (:func:`caspian_ais.detect_round_trips`) while
    vessel B's gap overlaps it by at least ``min_overlap_h``, and a meeting point exists
    within ``max_switch_distance_km`` of both vessels' switch-off and switch-on positions
    that both could reach and leave in time (tested on candidate points between the four
    ends). B's gap must be flagged ``suspicious`` (when the column exists): with both
    sides dark, geometry alone pairs too many coincidences.

Gaps that start and end inside a port area (``start_in_port`` and ``end_in_port``, when
present) are left out: the ship stayed in port. The dark vessel must have had time to
spare for the stop at its own speed (``speed_factor`` × its usual speed): a ship passing
by on its voyage has none. With ``require_suspicious`` only gaps flagged ``suspicious`` by
:func:`caspian_ais.detect_gaps` are used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.geodesy import KM_PER_NM, angle_diff_deg, bearing_deg, haversine_km
from caspian_ais.ordering import mmsi_time_order

__all__ = ["RENDEZVOUS_COLUMNS", "VISIBLE_COLUMNS", "detect_dark_rendezvous", "merge_visible",
           "vessel_speeds_kn", "visible_side"]

_NS_PER_H = 3_600_000_000_000

#: Columns of :func:`detect_dark_rendezvous`, in order.
RENDEZVOUS_COLUMNS: tuple[str, ...] = (
    "rendezvous_id",
    "kind",
    "mmsi",
    "other_mmsi",
    "start_time",
    "end_time",
    "overlap_h",
    "lat",
    "lon",
    "gap_id",
    "gap_start_time",
    "gap_end_time",
    "switch_off_km",
    "switch_on_km",
    "slack_h",
)


def _empty() -> pd.DataFrame:
    utc = "datetime64[ns, UTC]"
    dt = {"rendezvous_id": "str", "kind": "str", "mmsi": "int64", "other_mmsi": "int64",
          "start_time": utc, "end_time": utc, "gap_id": "str", "gap_start_time": utc,
          "gap_end_time": utc}
    return pd.DataFrame({c: pd.Series([], dtype=dt.get(c, "float64")) for c in RENDEZVOUS_COLUMNS})


def _ns(s: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(s).as_unit("ns").asi8


def _overlaps(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray,
              max_b_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) of intervals a_i and b_j that overlap; b sorted by start, each
    b at most ``max_b_ns`` long. Vectorised with searchsorted (no n*m matrix)."""
    lo = np.searchsorted(b0, a0 - max_b_ns, side="left")
    hi = np.searchsorted(b0, a1, side="right")
    cnt = np.maximum(hi - lo, 0)
    i = np.repeat(np.arange(len(a0)), cnt)
    j = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    ok = b1[j] > a0[i]
    return i[ok], j[ok]


def _course_offset(cog_deg: np.ndarray, sog_kn: np.ndarray, distance_km: np.ndarray,
                   bearing_deg: np.ndarray, min_sog_kn: float, min_distance_km: float
                   ) -> np.ndarray:
    """How far a reported course is off the bearing to (or from) a place, degrees.

    Measured where the ship was under way (``sog_kn >= min_sog_kn``, with a course) and
    the place is more than ``min_distance_km`` away; NaN elsewhere (not tested).
    """
    with np.errstate(invalid="ignore"):
        tested = (sog_kn >= min_sog_kn) & np.isfinite(cog_deg) & (distance_km > min_distance_km)
    out = np.full(len(cog_deg), np.nan)
    if tested.any():
        out[tested] = angle_diff_deg(cog_deg[tested], bearing_deg[tested])
    return out


def _within(offset_deg: np.ndarray, max_offset_deg: float) -> np.ndarray:
    """Untested (NaN) offsets pass; tested ones must be at most ``max_offset_deg``."""
    with np.errstate(invalid="ignore"):
        return np.isnan(offset_deg) | (offset_deg <= max_offset_deg)


def _slow_gaps(tracks: pd.DataFrame, ports: Any, min_h: float, max_kn: float,
               min_port_km: float, max_gap_h: float) -> pd.DataFrame:
    """Silences of a vessel across which it hardly moved: it stopped while unheard."""
    from caspian_ais.encounters import default_anchorages, offshore_ok
    from caspian_ais.schema import timestamp_ns

    mm = tracks["mmsi"].to_numpy(np.int64)
    t = timestamp_ns(tracks["timestamp"])
    lat, lon = tracks["lat"].to_numpy(float), tracks["lon"].to_numpy(float)
    o = mmsi_time_order(mm, t)
    mm, t, lat, lon = mm[o], t[o], lat[o], lon[o]
    dt_h = (t[1:] - t[:-1]) / _NS_PER_H
    d = haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        v = d / dt_h / KM_PER_NM
    k = np.flatnonzero((mm[1:] == mm[:-1]) & (dt_h >= min_h) & (dt_h <= max_gap_h) & (v < max_kn))
    if not len(k):
        return pd.DataFrame()
    mlat, mlon = 0.5 * (lat[k] + lat[k + 1]), 0.5 * (lon[k] + lon[k + 1])
    ok, _, _ = offshore_ok(mlat, mlon, ports, min_port_km, default_anchorages(ports))
    k = k[ok]
    return pd.DataFrame({"mmsi": mm[k], "start_time": pd.to_datetime(t[k], utc=True),
                         "end_time": pd.to_datetime(t[k + 1], utc=True), "lat": mlat[ok],
                         "lon": mlon[ok], "kind": "slow_gap"})


def _port_call(lat0: np.ndarray, lon0: np.ndarray, cog0: np.ndarray, sog0: np.ndarray,
               place0_km: np.ndarray, lat1: np.ndarray, lon1: np.ndarray, cog1: np.ndarray,
               sog1: np.ndarray, place1_km: np.ndarray, ports: Any, max_km: float,
               max_offset_deg: float, min_sog_kn: float, min_distance_km: float
               ) -> np.ndarray:
    """Whether a gap is explained by a call at (or a wait off) one port.

    Both ends lie within ``max_km`` of the same port, each nearer to it than to the
    meeting place (``place0_km``, ``place1_km``), and the ship, where reported under way
    more than ``min_distance_km`` from the port, was heading for the port at the
    switch-off and away from it at the switch-on, within ``max_offset_deg``.
    """
    from caspian_ais.gaps import nearest_port_km, port_table

    pt = port_table(ports)
    if pt.empty:
        return np.zeros(len(lat0), dtype=bool)
    p0, d0 = nearest_port_km(lat0, lon0, pt)
    p1, d1 = nearest_port_km(lat1, lon1, pt)
    near = ((p0 == p1) & (d0 <= max_km) & (d1 <= max_km) & (d0 < place0_km)
            & (d1 < place1_km))
    if not near.any():
        return near
    plat, plon = pt["lat"].to_numpy(float)[p0], pt["lon"].to_numpy(float)[p0]
    to_port = _course_offset(cog0, sog0, d0, bearing_deg(lat0, lon0, plat, plon),
                             min_sog_kn, min_distance_km)
    from_port = _course_offset(cog1, sog1, d1, bearing_deg(plat, plon, lat1, lon1),
                               min_sog_kn, min_distance_km)
    return near & _within(to_port, max_offset_deg) & _within(from_port, max_offset_deg)


def _pairs_within(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ordered pairs (a, b), a != b, of positions with equal ``key`` (vectorised)."""
    n = len(key)
    o = np.lexsort((np.arange(n), key))
    ko = key[o]
    start = np.flatnonzero(np.r_[True, ko[1:] != ko[:-1]]) if n else np.zeros(0, np.int64)
    size = np.diff(np.r_[start, n])
    gs, gn = start[size > 1], size[size > 1]
    # the members of each run, then each member repeated once per member of its run
    member = np.repeat(gs, gn) + (np.arange(gn.sum()) - np.repeat(np.cumsum(gn) - gn, gn))
    sz = np.repeat(gn, gn)
    a = np.repeat(member, sz)
    b = np.repeat(np.repeat(gs, gn), sz) + (np.arange(sz.sum()) - np.repeat(np.cumsum(sz) - sz, sz))
    keep = a != b
    return o[a[keep]], o[b[keep]]


def _best_claims(stop: np.ndarray, gap: np.ndarray, w0: np.ndarray, w1: np.ndarray,
                 score: np.ndarray, lat: np.ndarray, lon: np.ndarray, kmh: np.ndarray,
                 margin: float) -> np.ndarray:
    """Positions of the candidates that no clearly better candidate contests.

    Candidates contest each other when they claim the same visible stop (``stop``) at
    overlapping times (windows ``[w0, w1]``, ns: one transfer beside a ship at a time),
    or the same gap (``gap``) at times the dark vessel could not cover both, its windows
    apart by less than the sailing time between the two places at its speed ``kmh``
    (a ship is in one place at a time). A candidate is dropped when a contesting one
    scores more than ``margin`` higher.
    """
    beaten = np.zeros(len(stop), dtype=bool)
    for key, travel in ((stop, False), (gap, True)):
        a, b = _pairs_within(key)
        if not len(a):
            continue
        pad = np.zeros(len(a))
        if travel:
            pad = haversine_km(lat[a], lon[a], lat[b], lon[b]) / kmh[a] * _NS_PER_H
        tol = 1e-9 * _NS_PER_H  # windows that meet exactly do not overlap
        hit = ((w0[a] < w1[b] + pad - tol) & (w0[b] < w1[a] + pad - tol)
               & (score[b] > score[a] + margin))
        beaten[a[hit]] = True
    return np.flatnonzero(~beaten)


#: Columns of :func:`visible_side`.
VISIBLE_COLUMNS: tuple[str, ...] = ("kind", "mmsi", "start_time", "end_time", "lat", "lon")


def vessel_speeds_kn(tracks: pd.DataFrame, *, min_sog_kn: float = 3.0,
                     quantile: float = 0.9, mmsi: Any = None) -> pd.Series:
    """Each vessel's usual sailing speed: the 90th percentile of its reported SOG above
    3 kn, knots.

    Per vessel: the speeds of a table are the union of those of its vessels (the batch
    engine computes them partition by partition).

    Parameters
    ----------
    tracks : pandas.DataFrame
        Cleaned canonical table (``mmsi``, ``sog_kn``).
    min_sog_kn : float, default 3
        Only reports faster than this count, knots.
    quantile : float, default 0.9
        The percentile, as a fraction.
    mmsi : array-like, optional
        Only these vessels.

    Returns
    -------
    pandas.Series
        Indexed by MMSI (sorted); vessels with no report above ``min_sog_kn`` are absent.
    """
    if tracks is None or not len(tracks) or "sog_kn" not in tracks:
        return pd.Series([], dtype=float, index=pd.Index([], dtype="int64", name="mmsi"))
    sog = tracks["sog_kn"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        fast = sog > min_sog_kn
    mm = tracks["mmsi"].to_numpy(np.int64)
    if mmsi is not None:
        fast &= np.isin(mm, np.asarray(mmsi, dtype=np.int64))
    out = pd.Series(sog[fast]).groupby(mm[fast]).quantile(quantile)
    out.index = out.index.astype("int64").rename("mmsi")
    return out


def visible_side(
    tracks: pd.DataFrame,
    ports: Any = None,
    *,
    loitering: pd.DataFrame | None = None,
    min_loiter_h: float = 1.0,
    max_loiter_speed_kn: float = 2.0,
    min_port_distance_km: float = 20.0,
    max_gap_h: float = 72.0,
    include_slow_gaps: bool = False,
) -> pd.DataFrame:
    """The visible side of dark-rendezvous candidates: loitering episodes and, with
    ``include_slow_gaps``, slow silences offshore (see :func:`detect_dark_rendezvous`).

    Per vessel: the batch engine computes it partition by partition and combines the
    parts with :func:`merge_visible`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`VISIBLE_COLUMNS`; ``kind`` ``"loitering"`` or ``"slow_gap"``.
    """
    lo = loitering
    if lo is None:
        from caspian_ais.loitering import detect_loitering

        lo = detect_loitering(tracks, ports, max_mean_speed_kn=max_loiter_speed_kn,
                              min_duration_h=min_loiter_h,
                              min_port_distance_km=min_port_distance_km)
    lo = lo.assign(kind="loitering")
    if include_slow_gaps and tracks is not None and len(tracks):
        sg = _slow_gaps(tracks, ports, min_loiter_h, max_loiter_speed_kn, min_port_distance_km,
                        max_gap_h)
        if len(sg):
            lo = pd.concat([lo, sg], ignore_index=True)
    return lo[list(VISIBLE_COLUMNS)]


def merge_visible(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Combine :func:`visible_side` tables of disjoint sets of vessels into the table of
    all of them (loitering by start time and MMSI, then slow gaps by MMSI and time)."""
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return visible_side(None, loitering=_empty_loitering())
    v = pd.concat(parts, ignore_index=True)
    lo = v[v["kind"] == "loitering"].sort_values(["start_time", "mmsi"], kind="stable")
    sg = v[v["kind"] != "loitering"].sort_values(["mmsi", "start_time"], kind="stable")
    return pd.concat([lo, sg], ignore_index=True)


def _empty_loitering() -> pd.DataFrame:
    from caspian_ais.loitering import _empty as empty

    return empty()


def detect_dark_rendezvous(
    tracks: pd.DataFrame,
    gaps: pd.DataFrame,
    ports: Any = None,
    *,
    round_trips: pd.DataFrame | None = None,
    loitering: pd.DataFrame | None = None,
    min_loiter_h: float = 1.0,
    max_loiter_speed_kn: float = 2.0,
    min_port_distance_km: float = 20.0,
    require_suspicious: bool = False,
    min_overlap_h: float = 1.0,
    max_switch_distance_km: float = 300.0,
    min_slack_h: float = 2.0,
    max_transit_speed_kn: float = 15.0,
    speed_factor: float = 1.1,
    max_gap_h: float = 72.0,
    max_course_offset_deg: float = 90.0,
    course_min_sog_kn: float = 2.0,
    course_min_distance_km: float = 10.0,
    port_call_max_km: float | None = 50.0,
    max_port_course_offset_deg: float = 60.0,
    rank_partners: bool = True,
    rank_margin: float = 0.05,
    min_presence_share: float = 0.5,
    include_slow_gaps: bool = False,
    visible: pd.DataFrame | None = None,
    vessel_speeds: pd.Series | None = None,
) -> pd.DataFrame:
    """Find candidate dark rendezvous: one vessel loitering (or on a dark round trip)
    while another's AIS gap covers the meeting.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Cleaned canonical table (for the loitering, when ``loitering`` is not given).
    gaps : pandas.DataFrame
        From :func:`caspian_ais.detect_gaps` (``gap_id``, ``start_lat`` ... and, when
        ``require_suspicious``, ``suspicious``).
    ports : pandas.DataFrame or path, optional
        Port gazetteer; default the bundled Caspian one.
    round_trips : pandas.DataFrame, optional
        From :func:`caspian_ais.detect_round_trips`: adds ``dark_round_trip`` candidates.
    loitering : pandas.DataFrame, optional
        Loitering episodes to use instead of computing them with
        :func:`caspian_ais.loitering.detect_loitering` (``min_loiter_h``,
        ``max_loiter_speed_kn``, ``min_port_distance_km``).
    min_loiter_h : float, default 1
        Shortest loitering of the visible side, hours (a transfer takes hours; the
        dark side is often back on air before the partner leaves).
    max_loiter_speed_kn : float, default 2
        Mean speed of the visible side below this, knots.
    min_port_distance_km : float, default 20
        The loitering must lie strictly farther than this from every port, km.
    require_suspicious : bool, default False
        Use only gaps with ``suspicious`` true (when the column exists). Off by default:
        offshore, :func:`caspian_ais.detect_gaps` often calls a dark spell "poor
        coverage", and the own-speed reachability test (``speed_factor``) already tells
        a ship that stopped from one passing by.
    min_overlap_h : float, default 1
        The gap must cover at least this much of the loitering or round trip, and leave
        this much time at the meeting place after the transit, hours, inclusive. For the
        ``loitering`` and ``slow_gap`` kinds: the dark vessel's *window* -- the time it
        could have spent beside the visible one, from its arrival (switch-off plus the
        sailing time to the place at its own speed, see ``speed_factor``) or the start
        of the visible stop, whichever is later, to its departure (switch-on minus the
        sailing time from the place) or the end of the stop, whichever is earlier --
        must last at least this long.
    max_switch_distance_km : float, default 300
        Switch-off and switch-on positions at most this far from the meeting place, km,
        inclusive (1-6 h of sailing at 8-12 kn, plus the silence poor offshore reception
        adds on either side: a dark side last heard 272 and 284 km away on the tuning
        seeds; the course test keeps the far coincidences out).
    min_slack_h : float, default 2
        The gap must leave at least this much time at the meeting place after sailing
        there from the switch-off and on to the switch-on at the vessel's own speed,
        hours (a transfer takes hours; passing ships that merely slowed have less).
    max_transit_speed_kn : float, default 15
        Highest speed assumed for the reachability test, knots (above Caspian service
        speeds).
    speed_factor : float, default 1.1
        The dark vessel's own speed in the reachability test is ``speed_factor`` × the
        90th percentile of its reported SOG above 3 kn (capped at
        ``max_transit_speed_kn``): a ship passing by on its way has no time to spare for
        a stop, a ship that met another has.
    max_gap_h : float, default 72
        Longer gaps are not considered, hours.
    max_course_offset_deg : float, default 90
        Course test of the ``loitering`` and ``slow_gap`` kinds: the dark vessel's course
        over ground at the switch-off may differ from the bearing from there to the
        meeting place, and its course at the switch-on from the bearing from the meeting
        place to there, by at most this, degrees (inclusive; 90: it was closing on the
        place, or leaving it). A ship that goes dark on its way elsewhere, or to and from
        a port, fails it. Needs the gap columns ``start_cog_deg``, ``start_sog_kn``,
        ``end_cog_deg`` and ``end_sog_kn`` (from :func:`caspian_ais.detect_gaps`);
        without them it is skipped.
    course_min_sog_kn : float, default 2
        The course test applies at a switch reported at least this fast, knots (below it
        a ship is not under way and its course means little: GFW's 2 kn).
    course_min_distance_km : float, default 10
        ... and more than this far from the meeting place, km (the place is the visible
        vessel's mean position, known to a few km; nearer, the ship is manoeuvring).
    port_call_max_km : float or None, default 50
        Distance from a port, km, inclusive: a gap both of whose ends lie at most this far
        from the same port, each nearer to the port than to the meeting place, is
        explained by a call at that port (or a wait in its approaches) when the ship's
        course agrees (``max_port_course_offset_deg``), and is not paired. 50 km is the
        gazetteer's default approach radius
        (:data:`caspian_ais.ports.DEFAULT_APPROACH_RADIUS_KM`), where Lloyd's List's dark
        port calls switch off and on. ``None`` turns the test off.
    max_port_course_offset_deg : float, default 60
        ... when, where reported under way (``course_min_sog_kn``) more than
        ``course_min_distance_km`` from the port, its course at the switch-off is at most
        this far off the bearing to the port and at the switch-on off the bearing from
        it, degrees, inclusive (the course evidence of
        :func:`caspian_ais.detect_dark_port_calls`). A ship that left the port for a
        meeting and came back sails the other way, and stays a candidate.
    min_presence_share : float, default 0.5
        The dark vessel's window (``min_overlap_h``) must cover at least this share of
        the visible vessel's stop, a fraction, inclusive (0 turns the test off). In a
        transfer the visible ship stops *for* the meeting: the two lie together for most
        of its stop. A dark ship that could have been there for a fraction of it only --
        passing with a few hours to spare, or dark for another meeting nearby -- is a
        coincidence. On the tuning scenarios the true pairs' windows cover 0.96-1 of the
        stop, the coincidences' 0.2-1 (18 of 32 below 0.5); 0.5 keeps a wide margin for
        a visible ship that waited for its partner. Lower it for data where ships wait
        long (a mother ship serving several dark ones).
    rank_partners : bool, default True
        Where candidates contest one vessel, keep the clearly better. Two candidates
        contest each other when they claim the same visible stop with overlapping
        windows (one ship lies beside another for one transfer at a time), or the same
        gap of the dark vessel with windows closer in time than its sailing time between
        the two places (a ship is in one place at a time). A candidate's score is its
        window's share of the visible stop times the cosine of the larger tested course
        offset at its switches (the share of the dark vessel's speed that closed on the
        place, or left it: 1 where untested); a candidate is dropped when a contesting
        one scores more than ``rank_margin`` higher. Without it, two meetings close in
        space and time pair each visible ship with the other's dark ship, and a lone
        loiterer near a meeting is paired with its dark ship.
    rank_margin : float, default 0.05
        The score difference (a fraction) above which a contesting candidate wins; within
        it both are kept (an analyst sees both leads). 0.05 is the score lost to a course
        18 degrees off (cos 18 deg = 0.95) or to 5 % of the stop: about the noise of a
        reported COG and of the own-speed estimate; the contests decided on the tuning
        scenarios differed by 0.12 or more.
    include_slow_gaps : bool, default False
        Also treat as the visible side a silence of at least ``min_loiter_h`` across
        which a vessel moved slower than ``max_loiter_speed_kn`` offshore (kind
        ``slow_gap``): offshore the partner is often heard only before and after lying
        still. Off by default: on the simulator most such silences are not meetings.
    visible : pandas.DataFrame, optional
        The visible side from :func:`visible_side` (loitering and slow gaps), instead of
        computing it from ``tracks`` (``loitering``, ``min_loiter_h``, ... are then
        unused).
    vessel_speeds : pandas.Series, optional
        Each vessel's usual speed from :func:`vessel_speeds_kn`, instead of computing it
        from ``tracks``. With ``visible`` and ``vessel_speeds``, ``tracks`` may be
        ``None``: the batch engine passes the per-vessel parts of all partitions.

    Returns
    -------
    pandas.DataFrame
        One row per candidate, columns :data:`RENDEZVOUS_COLUMNS`: ``mmsi`` the loitering
        (or round-trip) vessel, ``other_mmsi`` the vessel whose gap covers it;
        ``start_time``/``end_time`` the overlap, UTC; ``lat``/``lon`` the meeting place
        (loitering position, or the tested meeting point); ``gap_id`` the other vessel's
        gap; ``switch_off_km``/``switch_on_km`` its ends' distances to the meeting place;
        ``slack_h`` the time the gap leaves at the meeting place after sailing there and
        back at ``max_transit_speed_kn``. ``rendezvous_id`` is
        ``"<mmsi>-<other_mmsi>-<start unix seconds>"``.
    """
    if gaps is None or len(gaps) == 0:
        return _empty()
    g = gaps.reset_index(drop=True)
    ok = g["end_time"].notna().to_numpy().copy()
    if "is_closed" in g:
        ok &= g["is_closed"].to_numpy(dtype=bool)
    if "start_in_port" in g and "end_in_port" in g:
        # AIS off at berth (or a port's receiver down): the ship stayed in port
        both = (g["start_in_port"].fillna(False).to_numpy(dtype=bool)
                & g["end_in_port"].fillna(False).to_numpy(dtype=bool))
        ok &= ~both
    if require_suspicious and "suspicious" in g:
        ok &= g["suspicious"].fillna(False).to_numpy(dtype=bool)
    g0 = _ns(g["start_time"])
    g1 = _ns(g["end_time"].fillna(g["start_time"]))
    ok &= (g1 - g0) <= max_gap_h * _NS_PER_H
    g = g[ok].reset_index(drop=True)
    if g.empty:
        return _empty()
    if "gap_id" not in g:
        g["gap_id"] = g["mmsi"].astype(str) + "-" + (_ns(g["start_time"]) // 10**9).astype(str)
    g = g.sort_values("start_time", kind="stable").reset_index(drop=True)
    g0, g1 = _ns(g["start_time"]), _ns(g["end_time"])
    gm = g["mmsi"].to_numpy(np.int64)
    g_susp = (g["suspicious"].fillna(False).to_numpy(dtype=bool) if "suspicious" in g
              else np.ones(len(g), dtype=bool))
    glat0, glon0 = g["start_lat"].to_numpy(float), g["start_lon"].to_numpy(float)
    glat1, glon1 = g["end_lat"].to_numpy(float), g["end_lon"].to_numpy(float)

    def gcol(name: str) -> np.ndarray:
        if name not in g:
            return np.full(len(g), np.nan)
        return pd.to_numeric(g[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    gcog0, gsog0 = gcol("start_cog_deg"), gcol("start_sog_kn")
    gcog1, gsog1 = gcol("end_cog_deg"), gcol("end_sog_kn")
    v_kmh = max_transit_speed_kn * KM_PER_NM
    # each gap vessel's own sailing speed (90th percentile of its SOG above 3 kn), capped
    g_kmh = np.full(len(g), v_kmh)
    top = vessel_speeds
    if top is None and tracks is not None and len(tracks) and "sog_kn" in tracks:
        top = vessel_speeds_kn(tracks, mmsi=np.unique(gm))
    if top is not None:
        own = pd.Series(gm).map(top).to_numpy(float) * speed_factor * KM_PER_NM
        g_kmh = np.where(np.isfinite(own), np.fmin(own, v_kmh), v_kmh)
    max_g = int(max_gap_h * _NS_PER_H)
    parts: list[pd.DataFrame] = []

    # ---- loitering side ---------------------------------------------------------------
    lo = visible if visible is not None else visible_side(
        tracks, ports, loitering=loitering, min_loiter_h=min_loiter_h,
        max_loiter_speed_kn=max_loiter_speed_kn, min_port_distance_km=min_port_distance_km,
        max_gap_h=max_gap_h, include_slow_gaps=include_slow_gaps)
    if len(lo):
        l0, l1 = _ns(lo["start_time"]), _ns(lo["end_time"])
        lkind = lo["kind"].to_numpy(object)
        i, j = _overlaps(l0, l1, g0, g1, max_g)
        lm = lo["mmsi"].to_numpy(np.int64)
        keep = lm[i] != gm[j]
        i, j = i[keep], j[keep]
        llat, llon = lo["lat"].to_numpy(float)[i], lo["lon"].to_numpy(float)[i]
        d_off = haversine_km(glat0[j], glon0[j], llat, llon)
        d_on = haversine_km(glat1[j], glon1[j], llat, llon)
        ov0, ov1 = np.maximum(l0[i], g0[j]), np.minimum(l1[i], g1[j])
        overlap_h = (ov1 - ov0) / _NS_PER_H
        dur_h = (g1[j] - g0[j]) / _NS_PER_H
        vj = g_kmh[j]
        slack = dur_h - (d_off + d_on) / vj
        # the window the dark vessel could have spent beside the visible one, sailing
        # from the switch-off and on to the switch-on at its own speed: min_overlap_h
        w0 = np.maximum(g0[j] + d_off / vj * _NS_PER_H, l0[i])
        w1 = np.minimum(g1[j] - d_on / vj * _NS_PER_H, l1[i])
        good = ((overlap_h >= min_overlap_h - 1e-9) & (d_off <= max_switch_distance_km)
                & (d_on <= max_switch_distance_km) & (slack >= min_slack_h - 1e-9)
                & (w1 - w0 >= (min_overlap_h - 1e-9) * _NS_PER_H))
        k = np.flatnonzero(good)
        jk = j[k]
        # the course test, on the pairs still in: steering for the place, and away from it
        c_off = _course_offset(gcog0[jk], gsog0[jk], d_off[k],
                               bearing_deg(glat0[jk], glon0[jk], llat[k], llon[k]),
                               course_min_sog_kn, course_min_distance_km)
        c_on = _course_offset(gcog1[jk], gsog1[jk], d_on[k],
                              bearing_deg(llat[k], llon[k], glat1[jk], glon1[jk]),
                              course_min_sog_kn, course_min_distance_km)
        ok_k = _within(c_off, max_course_offset_deg) & _within(c_on, max_course_offset_deg)
        if port_call_max_km is not None and len(k):
            ok_k &= ~_port_call(glat0[jk], glon0[jk], gcog0[jk], gsog0[jk], d_off[k],
                                glat1[jk], glon1[jk], gcog1[jk], gsog1[jk], d_on[k], ports,
                                port_call_max_km, max_port_course_offset_deg,
                                course_min_sog_kn, course_min_distance_km)
        k, c_off, c_on = k[ok_k], c_off[ok_k], c_on[ok_k]
        # the window as a share of the visible vessel's stop, and the share of the dark
        # vessel's speed that closed on the place (or left it)
        ik = i[k]
        share = (w1[k] - w0[k]) / np.maximum(l1[ik] - l0[ik], 1)
        vmg = np.fmin(np.cos(np.radians(np.nan_to_num(c_off))),
                      np.cos(np.radians(np.nan_to_num(c_on))))
        ok_k = share >= min_presence_share - 1e-9
        k, share, vmg = k[ok_k], share[ok_k], vmg[ok_k]
        if len(k) and rank_partners:
            # of two claims on one vessel, the better wins
            k = k[_best_claims(i[k], j[k], w0[k], w1[k], share * vmg, llat[k], llon[k],
                               vj[k], rank_margin)]
        if len(k):
            parts.append(pd.DataFrame({
                "kind": lkind[i[k]], "mmsi": lm[i[k]], "other_mmsi": gm[j[k]],
                "start_time": pd.to_datetime(ov0[k], utc=True),
                "end_time": pd.to_datetime(ov1[k], utc=True), "overlap_h": overlap_h[k],
                "lat": llat[k], "lon": llon[k], "gap_id": g["gap_id"].to_numpy()[j[k]],
                "gap_start_time": pd.to_datetime(g0[j[k]], utc=True),
                "gap_end_time": pd.to_datetime(g1[j[k]], utc=True),
                "switch_off_km": d_off[k], "switch_on_km": d_on[k], "slack_h": slack[k]}))

    # ---- dark round-trip side -------------------------------------------------------------
    if round_trips is not None and len(round_trips):
        rt = round_trips.reset_index(drop=True)
        gid = pd.Series(np.arange(len(gaps)), index=gaps["gap_id"].astype(str).to_numpy()) \
            if "gap_id" in gaps else None
        rows = []
        if gid is not None:
            for r, ids in enumerate(rt["gap_ids"].astype(str)):
                for x in ids.split(";"):
                    if x in gid.index:
                        rows.append((r, int(gid[x])))
        if rows:
            ra = np.array(rows)
            gg = gaps.reset_index(drop=True).iloc[ra[:, 1]]
            a0, a1 = _ns(gg["start_time"]), _ns(gg["end_time"])
            am = gg["mmsi"].to_numpy(np.int64)
            alat0, alon0 = gg["start_lat"].to_numpy(float), gg["start_lon"].to_numpy(float)
            alat1, alon1 = gg["end_lat"].to_numpy(float), gg["end_lon"].to_numpy(float)
            i, j = _overlaps(a0, a1, g0, g1, max_g)
            keep = (am[i] != gm[j]) & g_susp[j]
            i, j = i[keep], j[keep]
            ov0, ov1 = np.maximum(a0[i], g0[j]), np.minimum(a1[i], g1[j])
            overlap_h = (ov1 - ov0) / _NS_PER_H
            i, j, ov0, ov1, overlap_h = (x[overlap_h >= min_overlap_h - 1e-9]
                                         for x in (i, j, ov0, ov1, overlap_h))
            if len(i):
                # candidate meeting points: weighted means of the four ends
                w = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                              [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0], [0, 1, 0, 1],
                              [1, 1, 1, 1], [2, 2, 1, 1], [1, 1, 2, 2]], dtype=float)
                w /= w.sum(axis=1, keepdims=True)
                la = np.stack([alat0[i], alat1[i], glat0[j], glat1[j]], axis=1) @ w.T
                lo_ = np.stack([alon0[i], alon1[i], glon0[j], glon1[j]], axis=1) @ w.T

                def dist(lat_: np.ndarray, lon_: np.ndarray) -> np.ndarray:
                    return haversine_km(lat_[:, None], lon_[:, None], la, lo_)

                da0, da1 = dist(alat0[i], alon0[i]), dist(alat1[i], alon1[i])
                db0, db1 = dist(glat0[j], glon0[j]), dist(glat1[j], glon1[j])
                # both must reach M, stay min_overlap_h together inside the overlap, leave
                vb = g_kmh[j, None]
                arr = np.maximum(a0[i, None] + da0 / v_kmh * _NS_PER_H,
                                 g0[j, None] + db0 / vb * _NS_PER_H)
                dep = np.minimum(a1[i, None] - da1 / v_kmh * _NS_PER_H,
                                 g1[j, None] - db1 / vb * _NS_PER_H)
                near = np.maximum.reduce([da0, da1, db0, db1]) <= max_switch_distance_km
                fit = near & ((dep - arr) >= min_overlap_h * _NS_PER_H)
                has = fit.any(axis=1)
                best = np.argmax(np.where(fit, dep - arr, -np.inf), axis=1)
                k = np.flatnonzero(has)
                b = best[k]
                parts.append(pd.DataFrame({
                    "kind": "dark_round_trip", "mmsi": am[i[k]], "other_mmsi": gm[j[k]],
                    "start_time": pd.to_datetime(ov0[k], utc=True),
                    "end_time": pd.to_datetime(ov1[k], utc=True), "overlap_h": overlap_h[k],
                    "lat": la[k, b], "lon": lo_[k, b], "gap_id": g["gap_id"].to_numpy()[j[k]],
                    "gap_start_time": pd.to_datetime(g0[j[k]], utc=True),
                    "gap_end_time": pd.to_datetime(g1[j[k]], utc=True),
                    "switch_off_km": db0[k, b], "switch_on_km": db1[k, b],
                    "slack_h": (dep[k, b] - arr[k, b]) / _NS_PER_H}))
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    out["rendezvous_id"] = (out["mmsi"].astype(str) + "-" + out["other_mmsi"].astype(str) + "-"
                            + (_ns(out["start_time"]) // 10**9).astype(str))
    out = out.drop_duplicates("rendezvous_id").sort_values(["start_time", "mmsi"])
    out["kind"] = out["kind"].astype("str")
    out["gap_id"] = out["gap_id"].astype("str")
    out["rendezvous_id"] = out["rendezvous_id"].astype("str")
    return out.reset_index(drop=True)[list(RENDEZVOUS_COLUMNS)]
