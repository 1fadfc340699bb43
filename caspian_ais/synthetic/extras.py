"""Extra labelled behaviours: visible meetings, loitering and identity anomalies.

These behaviours are carried by *extra vessels* appended to the fleet after every other
vessel has been planned, and all their randomness comes from their own streams
(``default_rng([seed, 77])`` for the choices here, ``default_rng([seed, 7, vessel_id, 0])``
for each extra vessel's itinerary and ``default_rng([seed, 11, vessel_id, month])`` for its
reports). The rows and truth of the other vessels are therefore the same with and without
them; they only add rows, vessels and events.

Labelled kinds (``truth_events.csv``):

``sts_meeting`` (near coastal coverage)
    Two extra vessels lie 2.5-8 h side by side (~80 m apart, < 1 kn) at an offshore spot
    (>= 20 km from shore, >= 60 km from ports) within 35 km of a coastal AIS station, with
    both transponders on (``detail``: ``dark: no; partner dark: no; both transmitting``)
    or with one side dark from 1-6 h before to 1-6 h after (a dark spell, as for the
    other ship-to-ship meetings).
``loitering``
    An extra vessel drifts (0.3 kn) or lies at anchor 4.5-16 h at an offshore spot, alone,
    transmitting.
``identity_change``
    From ``start_time`` on, a vessel transmits another name, another IMO number, or (a
    reflagging) another MMSI with another country's MID and call sign; ``detail`` says which
    and the old and new values; ``other_mmsi`` is the new MMSI of a reflagging.
``on_land``
    1-3 reports at a position 4-30 km inland (GNSS spoofing or a bad fix).
``frozen_position``
    For 1.5-6 h while sailing in open water the reported position stays identical (a stuck
    or spoofed GNSS receiver); the speed field keeps reporting the true speed.
``default_mmsi``
    A ship transmitting a default or invalid MMSI (123456789, 111111111, 0, 999999999) for
    the whole period.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from caspian_ais.geodesy import haversine_km
from caspian_ais.water import on_water

if TYPE_CHECKING:
    from caspian_ais.synthetic.behaviours import _Planner, _Vessel

__all__ = ["DEFAULT_MMSIS", "add_extras"]

#: Default or invalid MMSIs seen in real AIS (factory settings, test values).
DEFAULT_MMSIS: tuple[int, ...] = (123456789, 111111111, 0, 999999999)
_H = 3600.0
_MID = {"RU": 273, "IR": 422, "AZ": 423, "KZ": 436, "TM": 434}
_CALL = {"RU": "U", "IR": "EP", "AZ": "4J", "KZ": "UN", "TM": "EZ"}


def _good_spots(pl: _Planner) -> np.ndarray:
    """Offshore nodes (>= 20 km from shore, >= 60 km from ports) within 35 km of a station."""
    from caspian_ais.synthetic.reception import COASTAL_STATIONS

    spots = pl.lanes.offshore_nodes
    slat = np.r_[pl.plat, [c[1] for c in COASTAL_STATIONS]]
    slon = np.r_[pl.plon, [c[2] for c in COASTAL_STATIONS]]
    d = haversine_km(pl.lanes.lat[spots, None], pl.lanes.lon[spots, None], slat[None], slon[None])
    near = spots[d.min(axis=1) <= 35.0]
    return near if len(near) else spots


#: Two extra vessels never lie within this distance (km) of each other at the same time
#: (within :data:`_SPOT_MARGIN_H`): they would form an encounter that no label names.
_SPOT_CLEAR_KM = 5.0
#: Hours kept free before and after a booked spot (the arrival time is an estimate).
_SPOT_MARGIN_H = 12.0


def _by_detour(pl: _Planner, a_node: int, b_node: int) -> np.ndarray:
    """The offshore spots' indices, least detour from ``a_node`` to ``b_node`` first."""
    spots = pl._extra_spots
    detour = (
        pl.lanes._tree(a_node)[0][spots]
        + pl.lanes._tree(b_node)[0][spots]
        - pl.lanes._tree(a_node)[0][b_node]
    )
    return np.argsort(detour)


def _spot(pl: _Planner, v: _Vessel, a_node: int, b_node: int) -> int:
    spots = pl._extra_spots
    return int(spots[v.rng.choice(_by_detour(pl, a_node, b_node)[: min(6, len(spots))])])


def _free_spot(pl: _Planner, m: int, a_node: int, b_node: int, t0: float, t1: float) -> int:
    """``m`` when no other extra vessel is booked near it over ``[t0, t1]`` (seconds, with
    :data:`_SPOT_MARGIN_H` each side); else the free spot of least detour (``m`` if none).

    Takes no random draw, so scenarios without a clash are unchanged.
    """
    book = pl._spot_bookings
    if not book:
        return m
    nodes = np.array([b[0] for b in book])
    busy = ((np.array([b[1] for b in book]) < t1 + _SPOT_MARGIN_H * _H)
            & (np.array([b[2] for b in book]) > t0 - _SPOT_MARGIN_H * _H))
    if not busy.any():
        return m
    lat, lon = pl.lanes.lat, pl.lanes.lon

    def free(node: int) -> bool:
        d = haversine_km(lat[node], lon[node], lat[nodes[busy]], lon[nodes[busy]])
        return bool((d >= _SPOT_CLEAR_KM).all())

    if free(m):
        return m
    for k in _by_detour(pl, a_node, b_node):
        node = int(pl._extra_spots[k])
        if free(node):
            return node
    return m


def _book_spot(pl: _Planner, v: _Vessel, m: int, a_node: int, b_node: int, t_dep: float,
               dur: float) -> tuple[int, Any, float]:
    """Move the chosen spot ``m`` off a booked one if needed, and book it; returns the
    spot, the route to it and the estimated arrival time (s)."""
    rid1 = pl.book.get(a_node, m)
    t_a = t_dep + pl.travel_h(v, rid1) * _H
    m2 = _free_spot(pl, m, a_node, b_node, t_a, t_a + dur)
    if m2 != m:
        m, rid1 = m2, pl.book.get(a_node, m2)
        t_a = t_dep + pl.travel_h(v, rid1) * _H
    pl._spot_bookings.append((m, t_a, t_a + dur))
    return m, rid1, t_a


def _loiter_action(
    pl: _Planner, v: _Vessel, arg: int, here: int, t_dep: float, draught: float, call: Any
) -> Any:
    from caspian_ais.synthetic.behaviours import ANCHORED, DRIFT, NAV_ANCHORED, NAV_UNDERWAY

    q = pl.choose_dest(v, here)
    a_node, b_node = int(pl.lanes.berth_node[here]), int(pl.lanes.berth_node[q])
    m = _spot(pl, v, a_node, b_node)
    dur = v.rng.uniform(4.5, 16.0) * _H
    m, rid1, t_a = _book_spot(pl, v, m, a_node, b_node, t_dep, dur)
    if t_a < pl.start_s + 86400 or t_a + dur > pl.end_s - 86400:
        pl._spot_bookings.pop()
        return pl.normal(v, here, t_dep, draught, call, dest=q)
    t_m, rid1, p1 = pl.to_node(v, a_node, m, t_dep, draught, slow_start=True, slow_end=False)
    lat, lon = float(pl.lanes.lat[m]), float(pl.lanes.lon[m])
    anchored = bool(v.rng.random() < 0.4)
    pl.add_seg(
        v, t_m, t_m + dur, ANCHORED if anchored else DRIFT, lat=lat, lon=lon,
        nav=NAV_ANCHORED if anchored else NAV_UNDERWAY, draught=draught,
        heading=float(v.rng.uniform(0, 360)), speed=0.0 if anchored else 0.3,
    )
    v.dest = q
    t_arr, rid2, p2 = pl.to_node(v, m, b_node, t_m + dur, draught, slow_start=False,
                                 slow_end=True)
    pl.finish_port_call(v, call, rid1, p1, here, t_dep)
    pl.new_event(
        "loitering", v, port=-1, start_time=t_m, end_time=t_m + dur, lat=lat, lon=lon,
        detail=f"{'at anchor' if anchored else 'drifting'} {dur / _H:.1f} h at sea, alone, "
        "transmitting",
    )
    return q, t_arr, pl.arrival_entry(rid2, p2, q), draught


def _meeting_action(
    pl: _Planner, v: _Vessel, arg: int, here: int, t_dep: float, draught: float, call: Any
) -> Any:
    """A meeting with extra vessel ``arg // 4``; ``arg % 4``: 0 both transmit, 1 this
    vessel goes dark, 2 the partner goes dark."""
    from caspian_ais.ports import EXIT_HYSTERESIS_KM
    from caspian_ais.synthetic.behaviours import DRIFT, NAV_UNDERWAY

    partner, mode = divmod(int(arg), 4)

    q = pl.choose_dest(v, here)
    a_node, b_node = int(pl.lanes.berth_node[here]), int(pl.lanes.berth_node[q])
    m = _spot(pl, v, a_node, b_node)
    dur = v.rng.uniform(2.5, 8.0) * _H
    m, rid1, t_a = _book_spot(pl, v, m, a_node, b_node, t_dep, dur)
    if t_a < pl.start_s + 6 * 86400 or t_a + dur > pl.end_s - 2 * 86400:
        pl._spot_bookings.pop()
        return pl.normal(v, here, t_dep, draught, call, dest=q)
    t_m, rid1, p1 = pl.to_node(v, a_node, m, t_dep, draught, slow_start=True, slow_end=False)
    lat, lon = float(pl.lanes.lat[m]), float(pl.lanes.lon[m])
    pl.add_seg(v, t_m, t_m + dur, DRIFT, lat=lat, lon=lon, nav=NAV_UNDERWAY, draught=draught,
               heading=float(v.rng.uniform(0, 360)), speed=0.3)
    v.dest = q
    t_arr, rid2, p2 = pl.to_node(v, m, b_node, t_m + dur, draught, slow_start=False,
                                 slow_end=True)
    pl.finish_port_call(v, call, rid1, p1, here, t_dep)
    prow = SimpleNamespace(**pl.fleet.loc[partner].to_dict())
    yn = {True: "yes", False: "no"}
    where = "; both transmitting" if mode == 0 else "; near coastal coverage"
    eid_a = pl.new_event(
        "sts_meeting", v, port=-1, start_time=t_m, end_time=t_m + dur,
        other_mmsi=int(prow.mmsi), lat=lat, lon=lon,
        detail=f"ship-to-ship meeting at sea; dark: {yn[mode == 1]}; partner dark: "
        f"{yn[mode == 2]}{where}")
    eid_b = pl.new_event(
        "sts_meeting", None, vessel_id=int(prow.vessel_id), mmsi=int(prow.mmsi), port=-1,
        start_time=t_m, end_time=t_m + dur, other_mmsi=int(v.row.mmsi), lat=lat + 0.0007,
        lon=lon, detail=f"ship-to-ship meeting at sea; dark: {yn[mode == 2]}; partner dark: "
        f"{yn[mode == 1]}{where}")
    if mode == 1:
        area = float(pl.area[here])
        earliest = pl.time_at(
            p1, pl.crossing(rid1, here, area + EXIT_HYSTERESIS_KM + 1.0, inbound=False))
        t_off = max(t_m - v.rng.uniform(1.0, 6.0) * _H, earliest)
        latest = pl.time_at(p2, pl.crossing(rid2, q, float(pl.area[q]) + 5.0, inbound=True))
        t_on = min(t_m + dur + v.rng.uniform(1.0, 6.0) * _H, latest)
        pl.add_spell(v, t_off, t_on, "sts_meeting", -1, eid_a)
    pl.appointments.setdefault(int(partner), []).append(
        {"t_a": t_m, "t_l": t_m + dur, "node": m, "event": eid_b, "dark": mode == 2,
         "lat": lat + 0.0007, "lon": lon}
    )
    return q, t_arr, pl.arrival_entry(rid2, p2, q), draught


def _new_rows(pl: _Planner, rng: np.random.Generator, n: int, first_id: int) -> pd.DataFrame:
    from caspian_ais.synthetic.fleet import SHIP_TYPE_TANKER, make_fleet

    f = make_fleet(n, rng, pl.ports, flag_mix={"RU": 0.5, "IR": 0.5}, class_b_share=0.0)
    used = set(pl.fleet["mmsi"].astype("int64"))
    for i in range(n):
        while int(f.at[i, "mmsi"]) in used:
            f.at[i, "mmsi"] = _MID[str(f.at[i, "flag_state"])] * 1_000_000 + int(
                rng.integers(100_000, 999_999))
        used.add(int(f.at[i, "mmsi"]))
    ferry = f["role"] == "ferry"
    f.loc[ferry, "ship_type"] = SHIP_TYPE_TANKER
    f["role"] = "trader"
    f["ferry_a"] = -1
    f["ferry_b"] = -1
    f["dark_u"] = 1.0
    f["sloppy_nav_status"] = False
    f["vessel_id"] = np.arange(first_id, first_id + n, dtype=np.int64)
    return f


def _times(pl: _Planner, rng: np.random.Generator, k: int, lo_days: float) -> np.ndarray:
    span = pl.end_s - pl.start_s
    lo = pl.start_s + min(lo_days * 86400, 0.3 * span)
    hi = pl.start_s + max(0.35 * span, span - 14 * 86400)
    return np.sort(rng.uniform(lo, max(hi, lo + 1), k))


def add_extras(
    pl: _Planner, fleet: pd.DataFrame, vessels: dict[int, Any], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plan the extra vessels and their labelled behaviours.

    Parameters
    ----------
    pl : _Planner
        The planner, after every other vessel (ghosts included) has been planned.
    fleet : pandas.DataFrame
        The fleet so far (vessel ids 0..n-1).
    vessels : dict
        Planned vessels by id; the extra vessels are added to it.
    seed : int
        Scenario seed.

    Returns
    -------
    fleet : pandas.DataFrame
        The fleet with the extra vessels appended.
    aliases : pandas.DataFrame
        Static identities used after identity changes (``vessel_id`` continues the fleet's
        ids; these entries transmit nothing of their own).
    """
    from caspian_ais.synthetic.behaviours import SAIL, _free_time

    p = pl.p
    rng = np.random.default_rng([int(seed), 77])
    months = (pl.end_s - pl.start_s) / (30 * 86400)
    g = p.guarantee_behaviours

    def count(rate: float) -> int:
        k = int(rng.poisson(rate * months))
        return max(k, 1) if g else k

    n_vis = count(p.visible_meetings_per_month)
    n_dark = count(p.dark_side_meetings_per_month)
    n_meet = n_vis + n_dark
    n_loiter = count(p.loitering_per_month)
    n_ident = max(count(p.identity_changes_per_month), 3 if g else 0)
    n_land = count(p.on_land_per_month)
    n_frozen = count(p.frozen_positions_per_month)
    n_default = count(p.default_mmsi_per_month)
    n_loiterers = int(np.ceil(n_loiter / 2))
    n_carriers = 3 if (n_ident + n_land + n_frozen) else 0
    n_new = 2 * n_meet + n_loiterers + n_carriers + n_default
    empty = pd.DataFrame()
    if n_new == 0:
        return fleet, empty
    pl._extra_spots = _good_spots(pl)
    pl._spot_bookings = []
    pl.extra_actions["visible_meeting"] = (_meeting_action, "sts_meeting")
    pl.extra_actions["loitering"] = (_loiter_action, "loitering")
    base = len(fleet)
    new = _new_rows(pl, rng, n_new, base)
    for i in range(n_default):
        new.loc[new.index[-1 - i], "mmsi"] = DEFAULT_MMSIS[i % len(DEFAULT_MMSIS)]
    fleet = pd.concat([fleet, new], ignore_index=True)
    pl.fleet = fleet
    ids = new["vessel_id"].tolist()
    meet_a, meet_b = ids[:n_meet], ids[n_meet:2 * n_meet]
    loiterers = ids[2 * n_meet:2 * n_meet + n_loiterers]
    carriers = ids[2 * n_meet + n_loiterers:2 * n_meet + n_loiterers + n_carriers]
    defaults = ids[len(ids) - n_default:]

    def plan(vid: int, forced: list | None) -> Any:
        row = SimpleNamespace(**fleet.loc[vid].to_dict())
        vessels[vid] = pl.plan_vessel(row, forced, allow_dark=False)
        return vessels[vid]

    t_meet = _times(pl, rng, n_meet, 6.0)
    modes = [0] * n_vis + [1 + k % 2 for k in range(n_dark)]
    for a, b, t, mode in zip(meet_a, meet_b, t_meet, modes, strict=True):
        plan(a, [(float(t), "visible_meeting", int(b) * 4 + mode)])
    for b in meet_b:
        plan(b, None)
    t_loi = _times(pl, rng, n_loiter, 1.0)
    for k, vid in enumerate(loiterers):
        plan(vid, [(float(t), "loitering", -1) for t in t_loi[k::n_loiterers]])
    for vid in carriers + defaults:
        plan(vid, None)
    from caspian_ais.flags import flag_state_from_mmsi

    for vid in defaults:
        v = vessels[vid]
        # as a reader derives it from the MMSI (none for a default MMSI)
        flag = flag_state_from_mmsi(np.array([int(v.row.mmsi)])).iloc[0]
        fleet.loc[vid, "flag_state"] = None if pd.isna(flag) else str(flag)
        pl.new_event(
            "default_mmsi", v, port=-1, start_time=pl.start_s, end_time=pl.end_s,
            lat=np.nan, lon=np.nan,
            detail=f"a ship transmits the default or invalid MMSI {int(v.row.mmsi)}",
        )
    # identity anomalies on the carriers
    aliases: list[dict[str, Any]] = []
    identity_faults: list[tuple[int, dict[str, Any]]] = []
    current = {vid: fleet.loc[vid].to_dict() for vid in carriers}
    kinds = ["name", "imo", "flag"]
    next_alias = len(fleet)
    planned = []  # (time, carrier, kind): drawn first, then applied in time order
    for k in range(n_ident):
        vid = carriers[k % n_carriers]
        t = _free_time(vessels[vid], rng, pl.start_s + 3 * 86400, pl.end_s - 3 * 86400,
                       3 * 86400)
        if t is None:
            continue
        planned.append((float(np.floor(t)), vid, kinds[k % 3] if k < 3 else
                        kinds[int(rng.integers(3))]))
    for t, vid, what in sorted(planned):
        v = vessels[vid]
        old = dict(current[vid])
        new_id = dict(old)
        if what == "name":
            new_id["name"] = f"{str(old['name']).split('-')[0]}-{int(rng.integers(300, 999))}"
            text = f"name {old['name']} -> {new_id['name']}"
        elif what == "imo":
            from caspian_ais.synthetic.fleet import imo_check_digit

            six = int(rng.integers(100_000, 199_999))
            new_id["imo"] = six * 10 + int(imo_check_digit(np.array([six]))[0])
            text = f"IMO {old['imo']} -> {new_id['imo']}"
        else:
            flag = "IR" if old["flag_state"] == "RU" else "RU"
            new_id["flag_state"] = flag
            new_id["mmsi"] = _MID[flag] * 1_000_000 + int(rng.integers(100_000, 999_999))
            letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
            new_id["callsign"] = _CALL[flag] + "".join(rng.choice(letters, 5 - len(_CALL[flag])))
            text = (f"reflagged {old['flag_state']} -> {flag}: MMSI {old['mmsi']} -> "
                    f"{new_id['mmsi']}, same IMO {old['imo']} and name")
        new_id["vessel_id"] = next_alias
        new_id["role"] = "alias"
        aliases.append(new_id)
        lat, lon = pl.position_at(v, t)
        eid = pl.new_event(
            "identity_change", v, port=-1, start_time=t, end_time=t, lat=lat, lon=lon,
            other_mmsi=int(new_id["mmsi"]) if what == "flag" else None,
            detail=f"{what} change: {text}",
        )
        identity_faults.append((vid, {"kind": "identity", "t0": t, "t1": pl.end_s + 86400,
                                      "alias": next_alias, "event": eid}))
        current[vid] = new_id
        next_alias += 1
    for k in range(n_land):
        vid = carriers[(k + 1) % n_carriers]
        v = vessels[vid]
        for _ in range(40):
            t = _free_time(v, rng, pl.start_s + 86400, pl.end_s - 86400, 180.0)
            if t is None:
                break
            t = float(np.floor(t))
            lat, lon = pl.position_at(v, t)
            d, b = rng.uniform(8.0, 45.0), rng.uniform(0, 2 * np.pi)
            la = lat + d * np.cos(b) / 111.2
            lo = lon + d * np.sin(b) / (111.2 * np.cos(np.radians(lat)))
            if on_water(la, lo, tolerance_km=4.0)[()]:
                continue
            n = int(rng.integers(1, 4))
            eid = pl.new_event(
                "on_land", v, port=-1, start_time=t, end_time=t + 60.0 * (n - 1), lat=la,
                lon=lo, detail=f"{n} report(s) on land, {d:.0f} km from the true position",
            )
            v.faults.append({"kind": "on_land", "t0": t, "t1": t + 60.0 * (n - 1), "n": n,
                             "lat": la, "lon": lo, "event": eid})
            break
    for k in range(n_frozen):
        vid = carriers[(k + 2) % n_carriers]
        v = vessels[vid]
        segs = np.array([s[:3] for s in v.segs]) if v.segs else np.zeros((0, 3))
        for _ in range(60):
            length = rng.uniform(1.5, 6.0) * _H
            t = _free_time(v, rng, pl.start_s + 86400, pl.end_s - 86400, length)
            if t is None:
                break
            t, length = float(np.floor(t)), float(np.ceil(length))
            # the whole interval at sea, under way, far from ports
            inside = (segs[:, 1] > t) & (segs[:, 0] < t + length)
            if not len(segs) or not (segs[inside, 2] == SAIL).all():
                continue
            ts = np.linspace(t, t + length, 8)
            pos = np.array([pl.position_at(v, x) for x in ts])
            dport = haversine_km(pos[:, 0, None], pos[:, 1, None], pl.plat[None], pl.plon[None])
            if dport.min() < 25.0:
                continue
            lat, lon = float(pos[0, 0]), float(pos[0, 1])
            eid = pl.new_event(
                "frozen_position", v, port=-1, start_time=t, end_time=t + length, lat=lat,
                lon=lon, detail=f"position stuck for {length / _H:.1f} h while sailing",
            )
            v.faults.append({"kind": "frozen", "t0": t, "t1": t + length, "lat": lat,
                             "lon": lon, "event": eid})
            break
    for vid, fault in identity_faults:
        vessels[vid].faults.append(fault)
    # events after a reflagging carry the MMSI in use at the time
    new_mmsi = {f["event"]: (vid, f["t0"], int(a["mmsi"]))
                for (vid, f), a in zip(identity_faults, aliases, strict=True)}
    for eid, (vid, t0, mmsi) in sorted(new_mmsi.items(), key=lambda x: x[1][1]):
        for e in pl.events:
            if (e["vessel_id"] == vid and e["event_id"] != eid
                    and float(e.get("start_time", -np.inf)) >= t0):
                e["mmsi"] = mmsi
    return fleet, pd.DataFrame(aliases)
