"""Itineraries and labelled behaviours, planned at the event level.

For each vessel the planner walks through time from port to port: it stays at a berth,
chooses what to do at the departure, and emits *segments* (sailing along a route at a
constant speed, moored, at anchor, drifting) together with the ground truth:

* ``events``: one row per labelled behaviour (:data:`EVENT_KINDS`);
* ``dark spells``: every interval during which a vessel deliberately transmitted nothing;
* ``faults``: data faults applied to the rows later (spoofed offsets, teleports,
  duplicates, out-of-order rows, an MMSI shared by a second ship).

Row generation (:mod:`caspian_ais.synthetic.tracks`) turns the segments into reports.
Everything here is cheap Python per voyage; there are only hundreds of vessels times tens
of voyages.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.geodesy import haversine_km
from caspian_ais.ports import EXIT_HYSTERESIS_KM, in_approach, port_index
from caspian_ais.synthetic.fleet import SHIP_TYPE_PASSENGER, SHIP_TYPE_TANKER, port_weights
from caspian_ais.synthetic.params import SimulationParams, dark_share
from caspian_ais.synthetic.routes import Route, SeaLanes
from caspian_ais.water import on_water

__all__ = [
    "SAIL",
    "MOORED",
    "ANCHORED",
    "DRIFT",
    "EVENT_KINDS",
    "SPELL_KINDS",
    "RouteBook",
    "RouteTable",
    "VesselPlan",
    "ScenarioPlan",
    "plan_scenario",
]

SAIL, MOORED, ANCHORED, DRIFT = 0, 1, 2, 3
NAV_UNDERWAY, NAV_ANCHORED, NAV_MOORED = 0, 1, 5
#: Kinds of ``truth_events.csv`` rows.
EVENT_KINDS: tuple[str, ...] = (
    "port_call",
    "berth_blackout",
    "dark_port_call",
    "dark_transit",
    "dark_round_trip",
    "sts_meeting",
    "spoofing",
    "teleport",
    "shared_mmsi",
    "duplicates",
    "out_of_order",
    "loitering",
    "identity_change",
    "on_land",
    "frozen_position",
    "default_mmsi",
)
#: Kinds of ``truth_dark_spells.csv`` rows (the deliberate silences).
SPELL_KINDS: tuple[str, ...] = (
    "berth_blackout",
    "dark_port_call",
    "dark_transit",
    "dark_round_trip",
    "sts_meeting",
)
_H = 3600.0
_KMH_PER_KN = 1.852


# ----------------------------------------------------------------------------- routes
class RouteBook:
    """The directed routes a plan uses, by integer id."""

    def __init__(self, lanes: SeaLanes) -> None:
        self.lanes = lanes
        self.routes: list[Route] = []
        self._ids: dict[tuple[int, int], int] = {}
        self._cache: dict[tuple[Any, ...], Any] = {}

    def get(self, start: int, end: int) -> int:
        """Id of the route from node ``start`` to node ``end`` (computed once)."""
        key = (int(start), int(end))
        if key not in self._ids:
            self._ids[key] = len(self.routes)
            self.routes.append(self.lanes.route(*key))
        return self._ids[key]

    def port_route(self, a: int, b: int) -> int:
        """Id of the route between the berths of ports ``a`` and ``b``."""
        return self.get(int(self.lanes.berth_node[a]), int(self.lanes.berth_node[b]))

    def table(self) -> RouteTable:
        """All routes concatenated for vectorised interpolation."""
        return RouteTable.build(self.routes)

    def approach_index(self, rid: int, step_km: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """Route samples every ``step_km``: (distance km, ``in_approach`` port index), cached."""
        key = ("appr", rid, step_km)
        if key not in self._cache:
            d, lat, lon = self.routes[rid].samples(step_km)
            idx = in_approach(lat, lon, self.lanes.ports).astype(np.int16)
            self._cache[key] = (d, idx)
        return self._cache[key]

    def port_distance(
        self, rid: int, port: int, step_km: float = 0.5
    ) -> tuple[np.ndarray, np.ndarray]:
        """Route samples every ``step_km``: (distance km, distance to ``port`` km), cached."""
        key = ("dist", rid, port, step_km)
        if key not in self._cache:
            d, lat, lon = self.routes[rid].samples(step_km)
            p = self.lanes.ports
            dist = haversine_km(lat, lon, float(p["lat"].iat[port]), float(p["lon"].iat[port]))
            self._cache[key] = (d, dist.astype(np.float32))
        return self._cache[key]


@dataclass
class RouteTable:
    """Routes laid end to end (with 1000 km spacers) so one ``np.interp`` serves them all."""

    offset_km: np.ndarray
    cum_km: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    bearing_deg: np.ndarray

    @classmethod
    def build(cls, routes: list[Route]) -> RouteTable:
        offs, cums, lats, lons, brgs = [], [], [], [], []
        base = 0.0
        for r in routes:
            offs.append(base)
            cums.append(base + r.cum_km)
            lats.append(r.lat)
            lons.append(r.lon)
            p1, p2 = np.radians(r.lat[:-1]), np.radians(r.lat[1:])
            dl = np.radians(r.lon[1:] - r.lon[:-1])
            b = (
                np.degrees(
                    np.arctan2(
                        np.sin(dl) * np.cos(p2),
                        np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl),
                    )
                )
                % 360.0
            )
            brgs.append(np.r_[b, b[-1] if len(b) else 0.0])
            base += r.length_km + 1000.0
        if not routes:
            z = np.zeros(0)
            return cls(z, z, z, z, z)
        return cls(
            np.array(offs),
            np.concatenate(cums),
            np.concatenate(lats),
            np.concatenate(lons),
            np.concatenate(brgs),
        )

    def position(
        self, rid: np.ndarray, d_km: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lat, lon, bearing) at along-route distances for route ids (vectorised)."""
        g = self.offset_km[rid] + d_km
        lat = np.interp(g, self.cum_km, self.lat)
        lon = np.interp(g, self.cum_km, self.lon)
        k = np.clip(np.searchsorted(self.cum_km, g, side="right") - 1, 0, len(self.cum_km) - 1)
        return lat, lon, self.bearing_deg[k]


# ----------------------------------------------------------------------------- plans
@dataclass
class VesselPlan:
    """Segments, dark spells and data faults of one transmitter."""

    vessel_id: int
    seg: dict[str, np.ndarray] = field(default_factory=dict)
    spells: list[tuple[int, int, str, int, str]] = field(
        default_factory=list
    )  # t_off, t_on, kind, port, event
    faults: list[dict[str, Any]] = field(default_factory=list)
    tx_window: tuple[int, int] | None = None  # ghosts transmit only inside it


@dataclass
class ScenarioPlan:
    """Everything the row generator needs, and the event-level truth."""

    start_s: int
    end_s: int
    fleet: pd.DataFrame
    plans: dict[int, VesselPlan]
    routes: RouteTable
    events: pd.DataFrame
    spells: pd.DataFrame
    #: static identities used after identity changes (see caspian_ais.synthetic.extras)
    aliases: pd.DataFrame = field(default_factory=pd.DataFrame)


class _Vessel:
    """Mutable planning state of one vessel."""

    def __init__(self, row: Any, rng: np.random.Generator) -> None:
        self.row = row
        self.rng = rng
        self.segs: list[tuple] = []
        self.spells: list[tuple[float, float, str, int, str]] = []
        self.faults: list[dict[str, Any]] = []
        self.laden = bool(rng.random() < 0.5)
        self.dest = -1
        self.tx_window: tuple[float, float] | None = None


class _Planner:
    def __init__(
        self,
        lanes: SeaLanes,
        fleet: pd.DataFrame,
        params: SimulationParams,
        start: pd.Timestamp,
        end: pd.Timestamp,
        seed: int,
    ) -> None:
        self.lanes = lanes
        self.ports = lanes.ports
        self.book = RouteBook(lanes)
        self.fleet = fleet
        self.p = params
        self.start = start
        self.end = end
        self.start_s = float(start.value // 10**9)
        self.end_s = float(end.value // 10**9)
        self.seed = seed
        self.events: list[dict[str, Any]] = []
        self.spell_rows: list[dict[str, Any]] = []
        self.plans: dict[int, VesselPlan] = {}
        self.appointments: dict[int, list[dict[str, Any]]] = {}
        self.dark_ports = []
        for name in params.dark_ports:
            try:
                self.dark_ports.append(port_index(name, self.ports))
            except KeyError:
                continue
        self.canal_port = self.ports["volga_canal"].to_numpy(dtype=bool)
        self.country = self.ports["country"].fillna("").to_numpy(dtype=object)
        self.area = self.ports["area_radius_km"].to_numpy(dtype=float)
        self.plat = self.ports["lat"].to_numpy(dtype=float)
        self.plon = self.ports["lon"].to_numpy(dtype=float)
        self.pname = self.ports["port"].to_numpy(dtype=object)
        self._weights: dict[str, np.ndarray] = {}
        self._crossings: dict[tuple, float] = {}
        self._event_by_id: dict[str, dict[str, Any]] = {}
        self._share_cache: dict[int, float] = {}
        self._n_events = 0
        # actions of the extra vessels (caspian_ais.synthetic.extras): name -> (handler,
        # kind of the event that shows the action happened)
        self.extra_actions: dict[str, tuple[Any, str]] = {}
        #: offshore lane nodes where the extra behaviours meet or loiter (synthetic.extras)
        self._extra_spots: np.ndarray = np.zeros(0, dtype=np.int64)
        #: (spot node, from, to in s) of the extra vessels' meetings and loitering
        self._spot_bookings: list[tuple[int, float, float]] = []

    # ------------------------------------------------------------------ helpers
    def rng(self, vessel_id: int, stream: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, 7, int(vessel_id), stream])

    def new_event(self, kind: str, v: _Vessel | None, **kw: Any) -> str:
        self._n_events += 1  # a counter: ids stay unique after events are filtered
        eid = f"E{self._n_events:06d}"
        row = {
            "event_id": eid,
            "vessel_id": int(v.row.vessel_id) if v is not None else kw.pop("vessel_id"),
            "mmsi": int(v.row.mmsi) if v is not None else kw.pop("mmsi"),
            "kind": kind,
        }
        row.update(kw)
        self.events.append(row)
        self._event_by_id[eid] = row
        return eid

    def share(self, t: float) -> float:
        d = _dt.datetime.fromtimestamp(float(t), tz=_dt.UTC)
        key = d.year * 12 + d.month - 1
        if key not in self._share_cache:
            self._share_cache[key] = dark_share(
                f"{d.year:04d}-{d.month:02d}", self.p.dark_share_by_month
            )
        return self._share_cache[key]

    def active(self, v: _Vessel, t: float) -> bool:
        w = float(self.p.dark_flag_weight.get(str(v.row.flag_state), 0.0))
        return bool(v.row.dark_u < self.share(t) * w)

    def stay_h(self, v: _Vessel) -> float:
        r = v.rng
        if v.row.ship_type == SHIP_TYPE_PASSENGER:
            return float(r.uniform(3.0, 10.0))
        if v.row.ais_class == "B":
            return float(np.clip(r.lognormal(np.log(12.0), 0.5), 4.0, 48.0))
        if v.row.ship_type == SHIP_TYPE_TANKER:
            return float(np.clip(r.lognormal(np.log(20.0), 0.5), 6.0, 72.0))
        return float(np.clip(r.lognormal(np.log(44.0), 0.55), 8.0, 168.0))

    def draught(self, v: _Vessel) -> float:
        if v.row.ais_class == "B":
            return float("nan")
        mx = float(v.row.max_draught_m)
        if v.row.ship_type == SHIP_TYPE_PASSENGER:
            return round(mx - v.rng.uniform(0.0, 0.4), 1)
        f = v.rng.uniform(0.85, 0.98) if v.laden else v.rng.uniform(0.45, 0.65)
        return round(mx * f, 1)

    def choose_dest(self, v: _Vessel, here: int, *, exclude: tuple[int, ...] = ()) -> int:
        if v.row.role == "ferry" and v.row.ferry_a >= 0:
            return int(v.row.ferry_b if here == v.row.ferry_a else v.row.ferry_a)
        flag = str(v.row.flag_state)
        if flag not in self._weights:
            self._weights[flag] = port_weights(flag, self.ports)
        w = self._weights[flag].copy()
        if not v.row.canal_capable:
            w[self.canal_port] = 0.0
        w[here] = 0.0
        for e in exclude:
            w[e] = 0.0
        foreign = self.country != self.country[here]
        w = w * np.where(foreign, 2.5, 1.0)
        if self.canal_port[here]:
            w[self.canal_port] *= 0.1
        if w.sum() <= 0:
            w = np.ones(len(w))
            w[here] = 0.0
        return int(v.rng.choice(len(w), p=w / w.sum()))

    # ------------------------------------------------------------------ segments
    def add_seg(
        self,
        v: _Vessel,
        t0: float,
        t1: float,
        mode: int,
        *,
        route: int = -1,
        d0: float = 0.0,
        d1: float = 0.0,
        lat: float = np.nan,
        lon: float = np.nan,
        speed: float = 0.0,
        nav: int = NAV_UNDERWAY,
        draught: float = np.nan,
        heading: float = np.nan,
        port: int = -1,
    ) -> None:
        if t1 <= t0:
            return
        v.segs.append(
            (t0, t1, mode, route, d0, d1, lat, lon, speed, nav, draught, v.dest, heading, port)
        )

    def drift(
        self, v: _Vessel, t0: float, t1: float, lat: float, lon: float, draught: float
    ) -> None:
        """Lie drifting at 0.3 kn around (``lat``, ``lon``) from ``t0`` to ``t1`` (s)."""
        self.add_seg(
            v,
            t0,
            t1,
            DRIFT,
            lat=lat,
            lon=lon,
            nav=NAV_UNDERWAY,
            draught=draught,
            heading=float(v.rng.uniform(0, 360)),
            speed=0.3,
        )

    def sail(
        self,
        v: _Vessel,
        rid: int,
        t0: float,
        draught: float,
        *,
        d_from: float = 0.0,
        d_to: float | None = None,
        slow_start: bool = True,
        slow_end: bool = True,
    ) -> tuple[float, list]:
        """Sail route ``rid`` from ``d_from`` to ``d_to``; return (arrival time, pieces)."""
        r = self.book.routes[rid]
        L = r.length_km
        d_to = L if d_to is None else d_to
        h = self.p.harbour_km
        bps = {d_from, d_to}
        s_out, s_in = min(h, L / 3.0), max(L - h, 2.0 * L / 3.0)
        for b in (s_out, s_in):
            if d_from < b < d_to:
                bps.add(b)
        cr = r.canal_range_km
        if cr is not None:
            for b in cr:
                if d_from < b < d_to:
                    bps.add(b)
        pts = sorted(bps)
        speed = float(v.row.service_speed_kn)
        pieces = []
        t = t0
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            if b - a <= 1e-9:
                continue
            mid = 0.5 * (a + b)
            if (slow_start and mid < s_out) or (slow_end and mid > s_in):
                kn = self.p.harbour_speed_kn
            elif cr is not None and cr[0] <= mid <= cr[1]:
                kn = min(self.p.canal_speed_kn, speed)
            else:
                kn = speed
            dt = (b - a) / (kn * _KMH_PER_KN) * _H
            self.add_seg(v, t, t + dt, SAIL, route=rid, d0=a, d1=b, speed=kn, draught=draught)
            pieces.append((a, b, t, t + dt))
            t += dt
        return t, pieces

    @staticmethod
    def time_at(pieces: list, d: float) -> float:
        for a, b, t0, t1 in pieces:
            if a - 1e-9 <= d <= b + 1e-9:
                return t0 + (t1 - t0) * (d - a) / max(b - a, 1e-12)
        raise ValueError("distance outside the sailed pieces")

    def travel_h(self, v: _Vessel, rid: int) -> float:
        """Sailing time of a route at the vessel's speeds, hours."""
        r = self.book.routes[rid]
        L = r.length_km
        h = min(self.p.harbour_km, L / 3.0)
        cr = r.canal_range_km
        canal = (cr[1] - cr[0]) if cr else 0.0
        speed = float(v.row.service_speed_kn)
        rest = max(L - 2 * h - canal, 0.0)
        return (
            2 * h / self.p.harbour_speed_kn
            + canal / min(self.p.canal_speed_kn, speed)
            + rest / speed
        ) / _KMH_PER_KN

    def crossing(self, rid: int, port: int, radius_km: float, inbound: bool) -> float:
        """Along-route km where a route enters (inbound) or leaves a port's radius."""
        key = (rid, port, round(radius_km, 6), inbound)
        hit = self._crossings.get(key)
        if hit is not None:
            return hit
        d, dist = self.book.port_distance(rid, port, 0.25)
        inside = dist <= radius_km
        out = np.flatnonzero(~inside)
        if inbound:
            val = float(d[out[-1] + 1]) if len(out) and out[-1] + 1 < len(d) else float(d[-1])
        else:
            val = float(d[out[0]]) if len(out) else float(d[-1])
        self._crossings[key] = val
        return val

    def approach_points(self, rid: int, port: int, inbound: bool) -> np.ndarray:
        """Along-route km inside ``port``'s approach zone (per ``in_approach``) but >= 10 km
        and outside the area + 2 km: where a deliberate switch-off or -on happens."""
        d, idx = self.book.approach_index(rid)
        _, dist = self.book.port_distance(rid, port)
        area = float(self.area[port])
        ok = (idx == port) & (dist >= max(area + 2.0, 10.0))
        cand = d[ok]
        if not len(cand):
            return cand
        # only the stretch next to the port end concerned
        L = self.book.routes[rid].length_km
        return cand[cand >= L / 2] if inbound else cand[cand <= L / 2]

    def position_at(self, v: _Vessel, t: float) -> tuple[float, float]:
        for s in v.segs:
            if s[0] <= t <= s[1]:
                if s[2] == SAIL:
                    d = s[4] + (s[5] - s[4]) * (t - s[0]) / max(s[1] - s[0], 1e-9)
                    lat, lon = self.book.routes[s[3]].position(d)
                    return float(lat), float(lon)
                return float(s[6]), float(s[7])
        return float("nan"), float("nan")

    def stay(
        self, v: _Vessel, port: int, t0: float, t1: float, draught: float, mode: int = MOORED
    ) -> None:
        lat, lon = self.lanes.berth(port)
        if self.canal_port[port]:
            # river berths: somewhere along the quay line, on the canal
            lat, lon = self.lanes.canal_position(
                self.lanes.berth_canal_km(port) + v.rng.uniform(-0.6, 0.6)
            )
        else:
            for _ in range(5):
                dl = v.rng.normal(0, 60.0) / 111_200.0
                dn = v.rng.normal(0, 60.0) / (111_200.0 * np.cos(np.radians(lat)))
                if on_water(lat + dl, lon + dn, tolerance_km=-0.2, include_canal=False)[()]:
                    lat, lon = lat + dl, lon + dn
                    break
        nav = NAV_MOORED if mode == MOORED else NAV_ANCHORED
        if v.row.sloppy_nav_status:
            nav = NAV_UNDERWAY
        self.add_seg(
            v,
            t0,
            t1,
            mode,
            lat=lat,
            lon=lon,
            nav=nav,
            draught=draught,
            heading=float(v.rng.uniform(0, 360)),
            port=port,
        )

    # ------------------------------------------------------------------ voyages
    def voyage(
        self, v: _Vessel, a: int, b: int, t0: float, draught: float, *, anchor: bool | None = None
    ) -> tuple[float, int, list]:
        """Port ``a`` to port ``b``, perhaps waiting at anchor; (berth time, route, pieces)."""
        rid = self.book.port_route(a, b)
        v.dest = b
        r = self.book.routes[rid]
        if anchor is None:
            anchor = (
                v.row.ship_type != SHIP_TYPE_PASSENGER and v.rng.random() < self.p.anchorage_wait_p
            )
        if not anchor:
            t, pieces = self.sail(v, rid, t0, draught)
            return t, rid, pieces
        if self.canal_port[b] and r.canal_range_km is not None:
            d_anchor = max(r.canal_range_km[0] - v.rng.uniform(0.5, 3.0), 0.5)
        else:
            area = float(self.area[b])
            d_anchor = self.crossing(rid, b, area + v.rng.uniform(2.5, 6.0), inbound=True)
        if d_anchor <= self.p.harbour_km or d_anchor >= r.length_km - 1.0:
            t, pieces = self.sail(v, rid, t0, draught)
            return t, rid, pieces
        t, p1 = self.sail(v, rid, t0, draught, d_to=d_anchor, slow_end=False)
        lat, lon = r.position(d_anchor)
        wait = float(v.rng.uniform(2.0, 24.0)) * _H
        nav = NAV_UNDERWAY if v.row.sloppy_nav_status else NAV_ANCHORED
        self.add_seg(
            v,
            t,
            t + wait,
            ANCHORED,
            lat=float(lat),
            lon=float(lon),
            nav=nav,
            draught=draught,
            heading=float(v.rng.uniform(0, 360)),
        )
        t, p2 = self.sail(v, rid, t + wait, draught, d_from=d_anchor, slow_start=False)
        return t, rid, p1 + p2

    def to_node(
        self,
        v: _Vessel,
        a_node: int,
        b_node: int,
        t0: float,
        draught: float,
        *,
        slow_start: bool,
        slow_end: bool,
    ) -> tuple[float, int, list]:
        rid = self.book.get(a_node, b_node)
        t, pieces = self.sail(v, rid, t0, draught, slow_start=slow_start, slow_end=slow_end)
        return t, rid, pieces

    def add_spell(
        self, v: _Vessel, t_off: float, t_on: float, kind: str, port: int, eid: str
    ) -> None:
        t_off, t_on = float(np.floor(t_off)), float(np.ceil(t_on))
        v.spells.append((t_off, t_on, kind, port, eid))
        if kind != "sts_meeting" and self.events and self.events[-1]["event_id"] == eid:
            self.events[-1]["start_time"], self.events[-1]["end_time"] = t_off, t_on

    def finish_port_call(
        self,
        v: _Vessel,
        call: dict | None,
        rid: int | None,
        pieces: list | None,
        port: int,
        t_dep: float,
    ) -> None:
        if call is None:
            return
        if rid is not None and pieces:
            area = float(self.area[port])
            d_exit = self.crossing(rid, port, area + EXIT_HYSTERESIS_KM, inbound=False)
            try:
                call["end_time"] = self.time_at(pieces, d_exit)
            except ValueError:
                call["end_time"] = t_dep
        else:
            call["end_time"] = t_dep

    def port_call_event(
        self,
        v: _Vessel,
        port: int,
        t_entry: float,
        t_arr: float,
        t_dep: float,
        d_before: float,
        d_after: float,
    ) -> dict:
        eid = self.new_event(
            "port_call",
            v,
            port=port,
            start_time=t_entry,
            end_time=t_dep,
            lat=float(self.plat[port]),
            lon=float(self.plon[port]),
            detail=f"moored {(t_dep - t_arr) / _H:.1f} h; draught {d_before} -> {d_after} m",
        )
        assert self.events[-1]["event_id"] == eid
        return self.events[-1]

    # ------------------------------------------------------------------ one vessel
    def plan_vessel(
        self, row: Any, forced: list[tuple[float, str, int]] | None = None, allow_dark: bool = True
    ) -> _Vessel:
        v = _Vessel(row, self.rng(row.vessel_id))
        forced = sorted(forced or [], key=lambda x: x[0])
        appts = sorted(self.appointments.get(int(row.vessel_id), []), key=lambda a: a["t_a"])
        here = int(row.home_port)
        t_arr = self.start_s - v.rng.uniform(0.0, 1.0) * self.stay_h(v) * _H
        t_entry = t_arr - 0.5 * _H
        draught = self.draught(v)
        v.dest = here
        guard = 0
        while t_arr < self.end_s and guard < 10_000:
            guard += 1
            action, arg, is_forced = "normal", -1, False
            if forced and forced[0][0] <= t_arr:
                action, arg, is_forced = forced[0][1], forced[0][2], True
            elif (
                allow_dark
                and row.role == "trader"
                and self.active(v, t_arr)
                and v.rng.random() < self.p.p_dark_opportunity
            ):
                kinds = list(self.p.behaviours)
                w = np.array([self.p.behaviours[k] for k in kinds], dtype=float)
                action = kinds[int(v.rng.choice(len(kinds), p=w / w.sum()))]
            # ---- the stay at `here`
            stay = self.stay_h(v) * _H
            blackout = None
            if action == "berth_blackout":
                pre, black, post = (
                    v.rng.uniform(2, 10) * _H,
                    v.rng.uniform(8, 60) * _H,
                    v.rng.uniform(2, 10) * _H,
                )
                stay = pre + black + post
                blackout = (t_arr + pre, t_arr + pre + black)
            t_dep = t_arr + stay
            new_draught = draught
            if v.row.ship_type == SHIP_TYPE_PASSENGER or v.rng.random() < 0.75:
                v.laden = not v.laden
                new_draught = self.draught(v)
            if appts:
                # an STS partner: go to the meeting when another voyage would make it late
                appt = appts[0]
                rid_m = self.book.get(int(self.lanes.berth_node[here]), appt["node"])
                tau = self.travel_h(v, rid_m) * _H
                q_try = self.choose_dest(v, here)
                rid_q = self.book.port_route(here, q_try)
                rid_qm = self.book.get(int(self.lanes.berth_node[q_try]), appt["node"])
                need = (
                    t_dep
                    + (self.travel_h(v, rid_q) + 26.0 + 8.0 + self.travel_h(v, rid_qm) + 1.0) * _H
                )
                if need > appt["t_a"]:
                    t_dep = max(t_arr + 2 * _H, appt["t_a"] - tau)
                    self.stay(v, here, t_arr, t_dep, draught)
                    call = self.port_call_event(
                        v, here, t_entry, t_arr, t_dep, draught, new_draught
                    )
                    appts.pop(0)
                    here, t_arr, t_entry, draught = self.partner_meeting(
                        v, here, t_dep, new_draught, appt, call
                    )
                else:
                    self.stay(v, here, t_arr, t_dep, draught)
                    call = self.port_call_event(
                        v, here, t_entry, t_arr, t_dep, draught, new_draught
                    )
                    here, t_arr, t_entry, draught = self.normal(
                        v, here, t_dep, new_draught, call, dest=q_try
                    )
                continue
            self.stay(v, here, t_arr, t_dep, draught)
            call = self.port_call_event(v, here, t_entry, t_arr, t_dep, draught, new_draught)
            if blackout is not None:
                eid = self.new_event(
                    "berth_blackout",
                    v,
                    port=here,
                    start_time=blackout[0],
                    end_time=blackout[1],
                    lat=call["lat"],
                    lon=call["lon"],
                    detail=f"AIS off while moored; port call {call['event_id']}",
                )
                self.add_spell(v, blackout[0], blackout[1], "berth_blackout", here, eid)
                call["detail"] += f"; berth blackout {eid}"
                if is_forced:
                    forced.pop(0)
                action = "normal"
            n_before = len(self.events)
            here, t_arr, t_entry, draught = self.do_action(
                v, action, arg, here, t_dep, new_draught, call
            )
            done_kind = self.extra_actions[action][1] if action in self.extra_actions else action
            if (
                is_forced
                and action != "normal"
                and any(e["kind"] == done_kind for e in self.events[n_before:])
            ):
                forced.pop(0)
        return v

    # ------------------------------------------------------------------ actions
    def do_action(
        self,
        v: _Vessel,
        action: str,
        arg: int,
        here: int,
        t_dep: float,
        draught: float,
        call: dict | None,
    ) -> tuple[int, float, float, float]:
        """Carry out a departure action; fall back to a normal voyage when it does not fit."""
        if action == "dark_port_call":
            return self.dark_port_call(v, here, t_dep, draught, call, arg)
        if action == "dark_transit":
            return self.dark_transit(v, here, t_dep, draught, call)
        if action == "dark_round_trip":
            return self.dark_round_trip(v, here, t_dep, draught, call)
        if action == "sts_meeting":
            return self.sts_meeting(v, here, t_dep, draught, call)
        if action == "spoofing":
            return self.spoofing(v, here, t_dep, draught, call)
        if action in self.extra_actions:
            return self.extra_actions[action][0](self, v, arg, here, t_dep, draught, call)
        return self.normal(v, here, t_dep, draught, call)

    def arrival_entry(self, rid: int, pieces: list, port: int) -> float:
        area = float(self.area[port])
        return self.time_at(pieces, self.crossing(rid, port, area, inbound=True))

    def normal(
        self,
        v: _Vessel,
        here: int,
        t_dep: float,
        draught: float,
        call: dict | None,
        dest: int | None = None,
    ) -> tuple[int, float, float, float]:
        q = self.choose_dest(v, here) if dest is None else dest
        t_arr, rid, pieces = self.voyage(v, here, q, t_dep, draught)
        self.finish_port_call(v, call, rid, pieces, here, t_dep)
        return q, t_arr, self.arrival_entry(rid, pieces, q), draught

    def dark_port_call(
        self,
        v: _Vessel,
        here: int,
        t_dep: float,
        draught: float,
        call: dict | None,
        target: int = -1,
    ) -> Any:
        cands = [
            q
            for q in self.dark_ports
            if q != here and (v.row.canal_capable or not self.canal_port[q])
        ]
        if target >= 0:
            cands = [q for q in cands if q == target]
        if not cands:
            return self.normal(v, here, t_dep, draught, call)
        q = cands[int(v.rng.integers(len(cands)))]
        rid_in = self.book.port_route(here, q)
        d_off = self.approach_points(rid_in, q, inbound=True)
        r_next = self.choose_dest(v, q, exclude=(here,))
        rid_out = self.book.port_route(q, r_next)
        d_on = self.approach_points(rid_out, q, inbound=False)
        if not len(d_off) or not len(d_on):
            return self.normal(v, here, t_dep, draught, call)
        t_in, rid_in, p_in = self.voyage(v, here, q, t_dep, draught, anchor=False)
        self.finish_port_call(v, call, rid_in, p_in, here, t_dep)
        t_off = self.time_at(p_in, float(v.rng.choice(d_off)))
        entry = self.arrival_entry(rid_in, p_in, q)
        stay = v.rng.uniform(12.0, 72.0) * _H
        self.stay(v, q, t_in, t_in + stay, draught)
        v.laden = not v.laden
        new_draught = self.draught(v)
        if new_draught == draught:
            new_draught = round(draught + (0.3 if v.laden else -0.3), 1)
        t_arr, rid_out, p_out = self.voyage(v, q, r_next, t_in + stay, new_draught)
        area = float(self.area[q])
        exit_t = self.time_at(
            p_out, self.crossing(rid_out, q, area + EXIT_HYSTERESIS_KM, inbound=False)
        )
        t_on = self.time_at(p_out, float(v.rng.choice(d_on)))
        eid = self.new_event(
            "dark_port_call",
            v,
            port=q,
            start_time=t_off,
            end_time=t_on,
            port_entry_time=entry,
            port_exit_time=exit_t,
            lat=float(self.plat[q]),
            lon=float(self.plon[q]),
            detail=f"AIS off in the approaches, {stay / _H:.0f} h at berth, draught "
            f"{draught} -> {new_draught} m; came from {self.pname[here]}, "
            f"went on to {self.pname[r_next]}",
        )
        self.add_spell(v, t_off, t_on, "dark_port_call", q, eid)
        return r_next, t_arr, self.arrival_entry(rid_out, p_out, r_next), new_draught

    def _open_sea_window(self, rid: int, pieces: list) -> tuple[float, float] | None:
        d, idx = self.book.approach_index(rid)
        free = idx < 0
        if not free.any():
            return None
        # the longest run of samples outside every approach zone
        edges = np.diff(np.r_[0, free.astype(np.int8), 0])
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        k = int(np.argmax(ends - starts))
        return self.time_at(pieces, float(d[starts[k]])), self.time_at(pieces, float(d[ends[k]]))

    def dark_transit(
        self, v: _Vessel, here: int, t_dep: float, draught: float, call: dict | None
    ) -> Any:
        q = self.choose_dest(v, here)
        rid = self.book.port_route(here, q)
        t_arr, rid, pieces = self.voyage(v, here, q, t_dep, draught)
        self.finish_port_call(v, call, rid, pieces, here, t_dep)
        win = self._open_sea_window(rid, pieces)
        if win is not None and win[1] - win[0] >= 6 * _H:
            dur = v.rng.uniform(6.0, min(30.0, (win[1] - win[0]) / _H))
            t_off = v.rng.uniform(win[0], win[1] - dur * _H)
            eid = self.new_event(
                "dark_transit",
                v,
                port=-1,
                start_time=t_off,
                end_time=t_off + dur * _H,
                lat=np.nan,
                lon=np.nan,
                detail=f"AIS off at sea between {self.pname[here]} and {self.pname[q]}",
            )
            self.add_spell(v, t_off, t_off + dur * _H, "dark_transit", -1, eid)
            lat, lon = self.position_at(v, t_off + 0.5 * dur * _H)
            self.events[-1]["lat"], self.events[-1]["lon"] = lat, lon
        return q, t_arr, self.arrival_entry(rid, pieces, q), draught

    def dark_round_trip(
        self, v: _Vessel, here: int, t_dep: float, draught: float, call: dict | None
    ) -> Any:
        hidden_port = v.rng.random() < 0.6
        if hidden_port:
            opts = [
                q
                for q in range(len(self.ports))
                if q != here
                and self.country[q] != self.country[here]
                and (v.row.canal_capable or not self.canal_port[q])
                and not (self.canal_port[q] and self.canal_port[here])
            ]
            if not opts:
                hidden_port = False
        node_here = int(self.lanes.berth_node[here])
        if hidden_port:
            h = int(v.rng.choice(opts))
            rid_out, rid_back = self.book.port_route(here, h), self.book.port_route(h, here)
        else:
            spots = self.lanes.offshore_nodes
            costs = self.lanes._tree(node_here)[0][spots]
            near = spots[np.argsort(costs)[: max(5, len(spots) // 4)]]
            m = int(v.rng.choice(near))
            rid_out, rid_back = self.book.get(node_here, m), self.book.get(m, node_here)
        d_off = self.approach_points(rid_out, here, inbound=False)
        d_on = self.approach_points(rid_back, here, inbound=True)
        if not len(d_off) or not len(d_on):
            return self.normal(v, here, t_dep, draught, call)
        if hidden_port:
            t_h, rid_out, p_out = self.voyage(v, here, h, t_dep, draught, anchor=False)
            stay = v.rng.uniform(12.0, 48.0) * _H
            self.stay(v, h, t_h, t_h + stay, draught)
            v.laden = not v.laden
            d2 = self.draught(v)
            t_back, rid_back, p_back = self.voyage(v, h, here, t_h + stay, d2, anchor=False)
            what = f"hidden call at {self.pname[h]} ({stay / _H:.0f} h)"
        else:
            t_m, rid_out, p_out = self.to_node(
                v, node_here, m, t_dep, draught, slow_start=True, slow_end=False
            )
            loiter = v.rng.uniform(6.0, 36.0) * _H
            lat, lon = float(self.lanes.lat[m]), float(self.lanes.lon[m])
            self.drift(v, t_m, t_m + loiter, lat, lon, draught)
            v.dest = here
            d2 = draught
            t_back, rid_back, p_back = self.to_node(
                v, m, node_here, t_m + loiter, d2, slow_start=False, slow_end=True
            )
            what = f"loitered {loiter / _H:.0f} h at sea ({lat:.3f}, {lon:.3f})"
        self.finish_port_call(v, call, rid_out, p_out, here, t_dep)
        t_off = self.time_at(p_out, float(v.rng.choice(d_off)))
        t_on = self.time_at(p_back, float(v.rng.choice(d_on)))
        eid = self.new_event(
            "dark_round_trip",
            v,
            port=here,
            start_time=t_off,
            end_time=t_on,
            lat=float(self.plat[here]),
            lon=float(self.plon[here]),
            detail=f"left {self.pname[here]} and came back without a visible call "
            f"elsewhere; truth: {what}",
        )
        self.add_spell(v, t_off, t_on, "dark_round_trip", here, eid)
        return here, t_back, self.arrival_entry(rid_back, p_back, here), d2

    def sts_meeting(
        self, v: _Vessel, here: int, t_dep: float, draught: float, call: dict | None
    ) -> Any:
        q = self.choose_dest(v, here)
        a_node, b_node = int(self.lanes.berth_node[here]), int(self.lanes.berth_node[q])
        spots = self.lanes.offshore_nodes
        if not len(spots):
            return self.normal(v, here, t_dep, draught, call, dest=q)
        detour = (
            self.lanes._tree(a_node)[0][spots]
            + self.lanes._tree(b_node)[0][spots]
            - self.lanes._tree(a_node)[0][b_node]
        )
        m = int(spots[v.rng.choice(np.argsort(detour)[:10])])
        rid1 = self.book.get(a_node, m)
        t_a = t_dep + self.travel_h(v, rid1) * _H
        dur = v.rng.uniform(2.0, 8.0) * _H
        partner = self.find_partner(v, t_a, t_a + dur)
        if partner is None or t_a < self.start_s + 6 * 86400 or t_a + dur > self.end_s - 2 * 86400:
            return self.normal(v, here, t_dep, draught, call, dest=q)
        t_m, rid1, p1 = self.to_node(v, a_node, m, t_dep, draught, slow_start=True, slow_end=False)
        lat, lon = float(self.lanes.lat[m]), float(self.lanes.lon[m])
        self.drift(v, t_m, t_m + dur, lat, lon, draught)
        v.dest = q
        t_arr, rid2, p2 = self.to_node(
            v, m, b_node, t_m + dur, draught, slow_start=False, slow_end=True
        )
        self.finish_port_call(v, call, rid1, p1, here, t_dep)
        mode = v.rng.choice(["first", "second", "both"], p=[0.35, 0.25, 0.40])
        prow = SimpleNamespace(**self.fleet.loc[partner].to_dict())
        eid_a = self.new_event(
            "sts_meeting",
            v,
            port=-1,
            start_time=t_m,
            end_time=t_m + dur,
            other_mmsi=int(prow.mmsi),
            lat=lat,
            lon=lon,
            detail=f"ship-to-ship meeting at sea; dark: {'yes' if mode != 'second' else 'no'}"
            f"; partner dark: {'yes' if mode != 'first' else 'no'}",
        )
        eid_b = self.new_event(
            "sts_meeting",
            None,
            vessel_id=int(prow.vessel_id),
            mmsi=int(prow.mmsi),
            port=-1,
            start_time=t_m,
            end_time=t_m + dur,
            other_mmsi=int(v.row.mmsi),
            lat=lat + 0.0007,
            lon=lon,
            detail=f"ship-to-ship meeting at sea; dark: {'yes' if mode != 'first' else 'no'}"
            f"; partner dark: {'yes' if mode != 'second' else 'no'}",
        )
        if mode in ("first", "both"):
            area = float(self.area[here])
            earliest = self.time_at(
                p1, self.crossing(rid1, here, area + EXIT_HYSTERESIS_KM + 1.0, inbound=False)
            )
            t_off = max(t_m - v.rng.uniform(1.0, 6.0) * _H, earliest)
            area_q = float(self.area[q])
            latest = self.time_at(p2, self.crossing(rid2, q, area_q + 5.0, inbound=True))
            t_on = min(t_m + dur + v.rng.uniform(1.0, 6.0) * _H, latest)
            self.add_spell(v, t_off, t_on, "sts_meeting", -1, eid_a)
        self.appointments.setdefault(int(partner), []).append(
            {
                "t_a": t_m,
                "t_l": t_m + dur,
                "node": m,
                "event": eid_b,
                "dark": mode in ("second", "both"),
                "lat": lat + 0.0007,
                "lon": lon,
            }
        )
        return q, t_arr, self.arrival_entry(rid2, p2, q), draught

    def find_partner(self, v: _Vessel, t_a: float, t_l: float) -> int | None:
        pool = self.fleet.index[(self.fleet["role"] == "sts_partner")].tolist()
        v.rng.shuffle(pool)
        for k in pool:
            busy = self.appointments.get(int(k), [])
            if all(t_a > b["t_l"] + 8 * 86400 or t_l < b["t_a"] - 8 * 86400 for b in busy):
                return int(k)
        return None

    def partner_meeting(
        self, v: _Vessel, here: int, t_dep: float, draught: float, appt: dict, call: dict | None
    ) -> tuple[int, float, float, float]:
        node_here = int(self.lanes.berth_node[here])
        m = int(appt["node"])
        v.dest = -1
        t_m, rid1, p1 = self.to_node(
            v, node_here, m, t_dep, draught, slow_start=True, slow_end=False
        )
        self.finish_port_call(v, call, rid1, p1, here, t_dep)
        t_l = max(appt["t_l"], t_m + 1.0 * _H)
        self.drift(v, t_m, t_l, appt["lat"], appt["lon"], draught)
        q = self.choose_dest(v, here)
        v.dest = q
        rid2 = self.book.get(m, int(self.lanes.berth_node[q]))
        t_arr, p2 = self.sail(v, rid2, t_l, draught, slow_start=False)
        e = self._event_by_id[appt["event"]]
        if t_m > appt["t_a"] + 600:
            e["detail"] += f"; arrived {(t_m - appt['t_a']) / _H:.1f} h late"
            e["start_time"] = t_m
        if appt["dark"]:
            area = float(self.area[here])
            earliest = self.time_at(
                p1, self.crossing(rid1, here, area + EXIT_HYSTERESIS_KM + 1.0, inbound=False)
            )
            t_off = max(t_m - v.rng.uniform(1.0, 6.0) * _H, earliest)
            area_q = float(self.area[q])
            latest = self.time_at(p2, self.crossing(rid2, q, area_q + 5.0, inbound=True))
            t_on = min(t_l + v.rng.uniform(1.0, 6.0) * _H, latest)
            self.add_spell(v, t_off, t_on, "sts_meeting", -1, appt["event"])
        return q, t_arr, self.arrival_entry(rid2, p2, q), draught

    def spoofing(
        self, v: _Vessel, here: int, t_dep: float, draught: float, call: dict | None
    ) -> Any:
        q = self.choose_dest(v, here)
        rid = self.book.port_route(here, q)
        t_arr, rid, pieces = self.voyage(v, here, q, t_dep, draught)
        self.finish_port_call(v, call, rid, pieces, here, t_dep)
        win = self._open_sea_window(rid, pieces)
        if win is not None and win[1] - win[0] >= 6 * _H:
            dur = v.rng.uniform(6.0, min(30.0, (win[1] - win[0]) / _H))
            t0 = float(np.floor(v.rng.uniform(win[0], win[1] - dur * _H)))
            t1 = t0 + float(np.ceil(dur * _H))  # whole seconds
            ts = np.linspace(t0, t1, 40)
            pos = np.array([self.position_at(v, t) for t in ts])
            for _ in range(30):
                dist_km, brg = v.rng.uniform(30.0, 120.0), v.rng.uniform(0.0, 2 * np.pi)
                dlat = dist_km * np.cos(brg) / 111.2
                dlon = dist_km * np.sin(brg) / (111.2 * np.cos(np.radians(pos[:, 0].mean())))
                if on_water(
                    pos[:, 0] + dlat, pos[:, 1] + dlon, tolerance_km=-1.0, include_canal=False
                ).all():
                    eid = self.new_event(
                        "spoofing",
                        v,
                        port=-1,
                        start_time=t0,
                        end_time=t1,
                        lat=float(pos[0, 0] + dlat),
                        lon=float(pos[0, 1] + dlon),
                        detail=f"positions offset {dist_km:.0f} km on bearing "
                        f"{np.degrees(brg):.0f} deg from the true track",
                    )
                    v.faults.append(
                        {
                            "kind": "spoofing",
                            "t0": t0,
                            "t1": t1,
                            "dlat": dlat,
                            "dlon": dlon,
                            "event": eid,
                        }
                    )
                    break
        return q, t_arr, self.arrival_entry(rid, pieces, q), draught


def _iso(t: float) -> str:
    return pd.Timestamp(int(round(t)), unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- faults
def _free_time(
    v: _Vessel, rng: np.random.Generator, lo: float, hi: float, length: float
) -> float | None:
    """A start time in [lo, hi - length] whose window overlaps no dark spell or fault."""
    busy = [(s[0], s[1]) for s in v.spells] + [(f["t0"], f["t1"]) for f in v.faults]
    for _ in range(30):
        if hi - length <= lo:
            return None
        t = float(rng.uniform(lo, hi - length))
        if all(t + length < a - 600 or t > b + 600 for a, b in busy):
            return t
    return None


def _add_faults(pl: _Planner, vessels: dict[int, _Vessel], rng: np.random.Generator) -> None:
    p = pl.p
    months = (pl.end_s - pl.start_s) / (30 * 86400)
    ids = sorted(vessels)
    kinds = {
        "duplicates": p.duplicates_per_vessel_month,
        "out_of_order": p.out_of_order_per_vessel_month,
        "teleport": p.teleport_per_vessel_month,
    }
    for kind, rate in kinds.items():
        counts = {i: int(rng.poisson(rate * months)) for i in ids}
        if p.guarantee_behaviours and ids and sum(counts.values()) == 0:
            counts[int(rng.choice(ids))] = 1
        for i in ids:
            v = vessels[i]
            for _ in range(counts[i]):
                if kind == "duplicates":
                    length = rng.uniform(1.0, 12.0) * _H
                elif kind == "out_of_order":
                    length = rng.uniform(10.0, 90.0) * 60.0
                else:
                    length = 180.0
                t = _free_time(v, rng, pl.start_s + 3600, pl.end_s - 3600, length)
                if t is None:
                    continue
                t, length = float(np.floor(t)), float(np.ceil(length))  # whole seconds
                lat, lon = pl.position_at(v, t)
                if kind == "duplicates":
                    eid = pl.new_event(
                        kind,
                        v,
                        port=-1,
                        start_time=t,
                        end_time=t + length,
                        lat=lat,
                        lon=lon,
                        detail="about half of the rows in the interval appear twice",
                    )
                    v.faults.append(
                        {"kind": kind, "t0": t, "t1": t + length, "p": 0.5, "event": eid}
                    )
                elif kind == "out_of_order":
                    delay = rng.uniform(15.0, 120.0) * 60.0
                    eid = pl.new_event(
                        kind,
                        v,
                        port=-1,
                        start_time=t,
                        end_time=t + length,
                        lat=lat,
                        lon=lon,
                        detail=f"rows written {delay / 60:.0f} min late, after later rows",
                    )
                    v.faults.append(
                        {"kind": kind, "t0": t, "t1": t + length, "delay": delay, "event": eid}
                    )
                else:
                    spots = pl.lanes.offshore_nodes
                    far = spots[
                        haversine_km(pl.lanes.lat[spots], pl.lanes.lon[spots], lat, lon) > 150.0
                    ]
                    if not len(far):
                        continue
                    k = int(rng.choice(far))
                    n = int(rng.integers(1, 4))
                    tlat, tlon = float(pl.lanes.lat[k]), float(pl.lanes.lon[k])
                    eid = pl.new_event(
                        kind,
                        v,
                        port=-1,
                        start_time=t,
                        end_time=t + 60.0 * (n - 1),
                        lat=tlat,
                        lon=tlon,
                        detail=f"{n} report(s) at a position "
                        f"{float(haversine_km(lat, lon, tlat, tlon)):.0f} km from the true one",
                    )
                    v.faults.append(
                        {
                            "kind": kind,
                            "t0": t,
                            "t1": t + 60.0 * (n - 1),
                            "n": n,
                            "lat": tlat,
                            "lon": tlon,
                            "event": eid,
                        }
                    )


# ----------------------------------------------------------------------------- scenario
def _forced_items(pl: _Planner, fleet: pd.DataFrame, rng: np.random.Generator) -> dict[int, list]:
    """One of each dark behaviour on suitable vessels, at times weighted by the dark share."""
    items = [("dark_port_call", q) for q in pl.dark_ports] + [
        ("berth_blackout", -1),
        ("dark_transit", -1),
        ("dark_round_trip", -1),
        ("sts_meeting", -1),
        ("spoofing", -1),
    ]
    traders = fleet[(fleet["role"] == "trader")]
    pref = traders[traders["flag_state"].isin(["RU", "IR"])]
    pool = (pref if len(pref) else traders).sort_values("dark_u")
    if not len(pool):
        return {}
    span = pl.end_s - pl.start_s
    # early enough for the behaviour to finish inside the period, even after a week in port
    hi = pl.start_s + float(np.clip(span - 20 * 86400, 0.3 * span, 0.75 * span))
    lo = pl.start_s + min(2 * 86400, span * 0.2)
    if any(k == "sts_meeting" for k, _ in items):
        lo_sts = pl.start_s + min(6 * 86400, span * 0.3)
    else:
        lo_sts = lo
    # candidate start times weighted by the dark share of their month
    grid = np.linspace(lo, hi, 200)
    w = np.array([pl.share(t) for t in grid]) + 1e-9
    out: dict[int, list] = {}
    vids = pool["vessel_id"].to_numpy()
    canal_ok = pool["canal_capable"].to_numpy()
    k = 0
    for kind, arg in items:
        need_canal = arg >= 0 and pl.canal_port[arg]
        for _ in range(len(vids)):
            j = k % len(vids)
            k += 1
            if not need_canal or canal_ok[j]:
                break
        t = float(rng.choice(grid, p=w / w.sum()))
        if kind == "sts_meeting":
            t = max(t, lo_sts)
        out.setdefault(int(vids[j]), []).append((t, kind, arg))
    return out


def plan_scenario(
    n_vessels: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    params: SimulationParams,
    lanes: SeaLanes,
) -> ScenarioPlan:
    """Plan the whole scenario: fleet, itineraries, behaviours, faults and their truth.

    Parameters
    ----------
    n_vessels : int
        Vessels (each with its own MMSI; ships sharing an MMSI come on top).
    start, end : pandas.Timestamp
        Period, UTC.
    seed : int
        Random seed; the same seed gives the same plan.
    params : SimulationParams
    lanes : SeaLanes

    Returns
    -------
    ScenarioPlan
    """
    from caspian_ais.synthetic.fleet import make_fleet

    rng = np.random.default_rng([seed, 1])
    fleet = make_fleet(
        n_vessels,
        rng,
        lanes.ports,
        flag_mix=params.flag_mix,
        class_b_share=params.class_b_share,
        speed_kn=params.speed_kn,
    )
    # STS partners: tankers and cargo ships of Iran and Russia, set apart
    n_part = int(round(params.sts_partner_share * n_vessels))
    if params.guarantee_behaviours and n_vessels >= 4:
        n_part = max(n_part, 1)
    cand = fleet.index[
        (fleet["role"] == "trader")
        & fleet["flag_state"].isin(["IR", "RU"])
        & (fleet["ais_class"] == "A")
    ].to_numpy()
    if n_part and len(cand) > n_part:
        pick = rng.choice(cand, size=n_part, replace=False)
        fleet.loc[pick, "role"] = "sts_partner"
    pl = _Planner(lanes, fleet, params, start, end, seed)
    forced = _forced_items(pl, fleet, rng) if params.guarantee_behaviours else {}
    vessels: dict[int, _Vessel] = {}
    order = (
        fleet.index[fleet["role"] != "sts_partner"].tolist()
        + fleet.index[fleet["role"] == "sts_partner"].tolist()
    )
    for i in order:
        row = SimpleNamespace(**fleet.loc[i].to_dict())
        vessels[int(row.vessel_id)] = pl.plan_vessel(
            row, forced.get(int(row.vessel_id)), allow_dark=row.role == "trader"
        )
    # MMSIs shared by a second ship ("ghosts")
    months = (pl.end_s - pl.start_s) / (30 * 86400)
    n_ghost = int(rng.poisson(params.shared_mmsi_per_vessel_month * n_vessels * months))
    if params.guarantee_behaviours and n_ghost == 0 and n_vessels >= 2:
        n_ghost = 1
    ghosts: list[tuple[SimpleNamespace, _Vessel, tuple[float, float]]] = []
    traders = fleet.index[fleet["role"] == "trader"].tolist()
    for _ in range(n_ghost):
        if not traders:
            break
        host = SimpleNamespace(**fleet.loc[int(rng.choice(traders))].to_dict())
        hv = vessels[int(host.vessel_id)]
        length = rng.uniform(3.0, 15.0) * 86400
        t = _free_time(hv, rng, pl.start_s, pl.end_s, min(length, 0.8 * (pl.end_s - pl.start_s)))
        if t is None:
            continue
        length = float(np.ceil(min(length, 0.8 * (pl.end_s - pl.start_s))))
        t = float(np.floor(t))
        grow = SimpleNamespace(**vars(host))
        gid = n_vessels + len(ghosts)
        grow.vessel_id = gid
        grow.home_port = pl.choose_dest(hv, int(host.home_port))
        grow.service_speed_kn = round(float(rng.uniform(*params.speed_kn)), 1)
        grow.role = "ghost"
        gv = pl.plan_vessel(grow, None, allow_dark=False)
        eid = pl.new_event(
            "shared_mmsi",
            hv,
            port=-1,
            start_time=t,
            end_time=t + length,
            lat=np.nan,
            lon=np.nan,
            detail=f"a second ship (vessel_id {gid}) transmits this MMSI and identity",
        )
        gv.faults.append({"kind": "ghost", "t0": t, "t1": t + length, "event": eid})
        ghosts.append((grow, gv, (t, t + length)))
        hv.faults.append({"kind": "shared_mmsi", "t0": t, "t1": t + length, "event": eid})
    _add_faults(pl, vessels, rng)
    # assemble
    if ghosts:
        fleet = pd.concat([fleet, pd.DataFrame([vars(g[0]) for g in ghosts])], ignore_index=True)
        for grow, gv, win in ghosts:
            vessels[int(grow.vessel_id)] = gv
            gv.tx_window = win
    if ghosts:
        # a ghost's own port calls are only truth while it transmits
        keep = []
        wins = {int(g[0].vessel_id): g[2] for g in ghosts}
        for e in pl.events:
            gwin = wins.get(int(e["vessel_id"]))
            if gwin is not None and e["kind"] == "port_call":
                if e["end_time"] < gwin[0] or e["start_time"] > gwin[1]:
                    continue
                e["detail"] += (
                    f"; by the second ship transmitting this MMSI (vessel_id {e['vessel_id']})"
                )
            keep.append(e)
        pl.events = keep
    aliases = pd.DataFrame()
    if params.extra_behaviours:
        from caspian_ais.synthetic.extras import add_extras

        fleet, aliases = add_extras(pl, fleet, vessels, seed)
    plans = {vid: _to_plan(vid, v) for vid, v in vessels.items()}
    events = _events_frame(pl)
    spells = _spells_frame(pl, vessels, events)
    # events: dark spells kept their event ids; port/lat/lon filled
    return ScenarioPlan(
        int(pl.start_s), int(pl.end_s), fleet, plans, pl.book.table(), events, spells, aliases
    )


def _to_plan(vid: int, v: _Vessel) -> VesselPlan:
    cols = [
        "t0",
        "t1",
        "mode",
        "route",
        "d0",
        "d1",
        "lat",
        "lon",
        "speed",
        "nav",
        "draught",
        "dest",
        "heading",
        "port",
    ]
    arr = np.array(v.segs, dtype=float).reshape(-1, len(cols))
    order = np.argsort(arr[:, 0], kind="stable")
    arr = arr[order]
    seg = {c: arr[:, k] for k, c in enumerate(cols)}
    for c in ("t0", "t1"):
        seg[c] = np.round(seg[c]).astype(np.int64)
    # make the segments contiguous after rounding
    if len(seg["t0"]) > 1:
        seg["t0"][1:] = seg["t1"][:-1]
    for c in ("mode", "route", "nav", "dest", "port"):
        seg[c] = seg[c].astype(np.int64)
    spells = sorted((int(a), int(b), k, int(p), e) for a, b, k, p, e in v.spells)
    faults = []
    for f in v.faults:
        g = dict(f)
        g["t0"], g["t1"] = int(np.floor(f["t0"])), int(np.ceil(f["t1"]))
        faults.append(g)
    win = (
        None
        if v.tx_window is None
        else (int(np.floor(v.tx_window[0])), int(np.ceil(v.tx_window[1])))
    )
    return VesselPlan(vid, seg, spells, faults, win)


def _ts(x: Any) -> Any:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return pd.NaT
    return pd.Timestamp(int(round(float(x))), unit="s", tz="UTC")


def _times(values: list[Any]) -> pd.Series:
    x = pd.to_numeric(pd.Series(values, dtype="float64"), errors="coerce").round()
    return pd.to_datetime(x, unit="s", utc=True)


def _events_frame(pl: _Planner) -> pd.DataFrame:
    names = pl.ports["port"].to_numpy(dtype=object)
    cols = [
        "event_id",
        "vessel_id",
        "mmsi",
        "kind",
        "port",
        "start_time",
        "end_time",
        "other_mmsi",
        "lat",
        "lon",
        "port_entry_time",
        "port_exit_time",
        "detail",
    ]
    ev = pl.events
    port = [e.get("port", -1) for e in ev]
    out = pd.DataFrame(
        {
            "event_id": [e["event_id"] for e in ev],
            "vessel_id": np.array([e["vessel_id"] for e in ev], dtype=np.int64),
            "mmsi": np.array([e["mmsi"] for e in ev], dtype=np.int64),
            "kind": [e["kind"] for e in ev],
            "port": [names[p] if p is not None and p >= 0 else None for p in port],
            "start_time": _times([e.get("start_time") for e in ev]),
            "end_time": _times([e.get("end_time") for e in ev]),
            "other_mmsi": pd.array([e.get("other_mmsi") for e in ev], dtype="Int64"),
            "lat": np.array([e.get("lat", np.nan) for e in ev], dtype=float),
            "lon": np.array([e.get("lon", np.nan) for e in ev], dtype=float),
            "port_entry_time": _times([e.get("port_entry_time") for e in ev]),
            "port_exit_time": _times([e.get("port_exit_time") for e in ev]),
            "detail": [e.get("detail", "") for e in ev],
        },
        columns=cols,
    )
    return out


def _spells_frame(pl: _Planner, vessels: dict[int, _Vessel], events: pd.DataFrame) -> pd.DataFrame:
    names = pl.ports["port"].to_numpy(dtype=object)
    rows = []
    for vid, v in vessels.items():
        for a, b, kind, port, eid in v.spells:
            la0, lo0 = pl.position_at(v, a)
            la1, lo1 = pl.position_at(v, b)
            rows.append(
                {
                    "mmsi": int(v.row.mmsi),
                    "vessel_id": vid,
                    "start_time": _ts(np.floor(a)),
                    "end_time": _ts(np.ceil(b)),
                    "kind": kind,
                    "port": names[port] if port >= 0 else None,
                    "event_id": eid,
                    "switch_off_lat": la0,
                    "switch_off_lon": lo0,
                    "switch_on_lat": la1,
                    "switch_on_lon": lo1,
                }
            )
    cols = [
        "mmsi",
        "vessel_id",
        "start_time",
        "end_time",
        "kind",
        "port",
        "event_id",
        "switch_off_lat",
        "switch_off_lon",
        "switch_on_lat",
        "switch_on_lon",
    ]
    out = pd.DataFrame(rows, columns=cols)
    for c in ("start_time", "end_time"):
        out[c] = pd.to_datetime(out[c], utc=True)
    return out.sort_values(["start_time", "mmsi"]).reset_index(drop=True)
