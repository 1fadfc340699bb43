"""Sea lanes: a waypoint graph inside the Caspian water polygon and the routes along it.

The graph has four kinds of node:

* coarse sea nodes every ~15 km, at least :data:`OFFSHORE_MARGIN_KM` from the shore;
* fine nodes every ~1.5 km within :data:`PORT_GRID_RADIUS_KM` of each sea port, at least
  :data:`NEAR_MARGIN_KM` from the shore, so that ships can leave bays and harbours;
* one berth node per port, inside the water and inside the port area;
* the Volga-Caspian Ship Canal (:func:`caspian_ais.ports.volga_canal`) as a chain of nodes
  every ~2 km, with the berths of Astrakhan and Olya on it. The canal is the only way
  into the Volga delta: the North Caspian north of :data:`SHALLOW_NORTH_LAT` (depths
  under 5 m) and the Kara-Bogaz-Gol lagoon are left out of the graph.

Edges join nearby nodes whose straight segment stays in the water (shrunk by
:data:`NEAR_MARGIN_KM`); they cost their length, doubled within 5 km of the shore so that
lanes keep off the coast. Routes are shortest paths (Dijkstra from each berth), then
straightened ("string pulling") where the straight segment stays
:data:`OFFSHORE_MARGIN_KM` from the shore, or :data:`NEAR_MARGIN_KM` for short hops near
a port. Every route is checked to lie in the water polygon or the canal corridor.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon, box

from caspian_ais.geodesy import haversine_km
from caspian_ais.ports import load_ports, volga_canal
from caspian_ais.water import buffer_km, canal_corridor, caspian_water

__all__ = [
    "OFFSHORE_MARGIN_KM",
    "NEAR_MARGIN_KM",
    "PORT_GRID_RADIUS_KM",
    "SHALLOW_NORTH_LAT",
    "Route",
    "SeaLanes",
    "sea_lanes",
]

#: Coarse lanes keep at least this far from the shore, km.
OFFSHORE_MARGIN_KM: float = 3.0
#: Any lane keeps at least this far from the shore, km.
NEAR_MARGIN_KM: float = 0.3
#: Radius of the fine grid around each sea port, km.
PORT_GRID_RADIUS_KM: float = 25.0
#: North of this latitude the Caspian is under ~5 m deep: ships use the dredged canal only.
SHALLOW_NORTH_LAT: float = 44.9
_COARSE_KM = 15.0
_FINE_KM = 1.5
_CANAL_STEP_KM = 2.0
_NEAR_HOP_KM = 30.0
_SHORE_PENALTY_KM = 5.0
KIND_COARSE, KIND_FINE, KIND_CANAL, KIND_BERTH = 0, 1, 2, 3


@dataclass(frozen=True)
class Route:
    """A route between two graph nodes, as a polyline with cumulative distances.

    Attributes
    ----------
    start, end : int
        Graph node ids.
    lat, lon : numpy.ndarray
        Vertices, degrees.
    cum_km : numpy.ndarray
        Distance along the route at each vertex, km (0 at ``start``).
    canal : numpy.ndarray of bool
        True for vertices on the canal chain.
    """

    start: int
    end: int
    lat: np.ndarray
    lon: np.ndarray
    cum_km: np.ndarray
    canal: np.ndarray

    @property
    def length_km(self) -> float:
        """Total length, km."""
        return float(self.cum_km[-1])

    @cached_property
    def canal_range_km(self) -> tuple[float, float] | None:
        """Along-route (start, end) km of the canal part, or None if the route has none."""
        idx = np.flatnonzero(self.canal)
        if len(idx) < 2:
            return None
        return float(self.cum_km[idx[0]]), float(self.cum_km[idx[-1]])

    def position(self, d_km: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Positions at along-route distances ``d_km`` (linear between vertices)."""
        d = np.clip(np.asarray(d_km, dtype="float64"), 0.0, self.length_km)
        return np.interp(d, self.cum_km, self.lat), np.interp(d, self.cum_km, self.lon)

    def samples(self, step_km: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points every ``step_km`` along the route: (distance km, lat, lon)."""
        n = max(2, int(np.ceil(self.length_km / step_km)) + 1)
        d = np.linspace(0.0, self.length_km, n)
        return (d, *self.position(d))

    def reversed(self) -> Route:
        """The same route travelled the other way."""
        return Route(
            self.end,
            self.start,
            self.lat[::-1].copy(),
            self.lon[::-1].copy(),
            self.length_km - self.cum_km[::-1],
            self.canal[::-1].copy(),
        )


@lru_cache(maxsize=4)
def _eroded_water(margin_km: float) -> shapely.Geometry:
    return buffer_km(caspian_water(), -margin_km)


def _grid(
    lat0: float, lat1: float, lon0: float, lon1: float, step_km: float
) -> tuple[np.ndarray, np.ndarray]:
    dlat = step_km / 111.2
    lat_mid = 0.5 * (lat0 + lat1)
    dlon = dlat / np.cos(np.radians(lat_mid))
    la, lo = np.meshgrid(
        np.arange(lat0, lat1 + dlat, dlat), np.arange(lon0, lon1 + dlon, dlon), indexing="ij"
    )
    return la.ravel(), lo.ravel()


class SeaLanes:
    """The sea-lane graph of the Caspian and the routes along it.

    Parameters
    ----------
    ports : pandas.DataFrame, optional
        Gazetteer (:func:`caspian_ais.ports.load_ports`); default the bundled one.

    Examples
    --------
    >>> from caspian_ais.synthetic.routes import sea_lanes
    >>> lanes = sea_lanes()
    >>> r = lanes.port_route(4, 0)      # Astrakhan -> Bandar Anzali
    >>> round(r.length_km, -1) > 1000, r.canal_range_km is not None
    (True, True)
    """

    def __init__(self, ports: pd.DataFrame | None = None) -> None:
        self.ports = load_ports() if ports is None else ports.reset_index(drop=True)
        water = caspian_water()
        excluded = shapely.union_all(
            [
                box(40.0, SHALLOW_NORTH_LAT, 60.0, 50.0),  # shallow North Caspian
                box(52.95, 40.55, 56.0, 42.4),  # Kara-Bogaz-Gol lagoon
            ]
        )
        self._near = shapely.difference(buffer_km(water, -NEAR_MARGIN_KM), excluded)
        self._far = shapely.difference(buffer_km(water, -OFFSHORE_MARGIN_KM), excluded)
        self._coastal = shapely.difference(water, buffer_km(water, -_SHORE_PENALTY_KM))
        self._offshore20 = shapely.difference(buffer_km(water, -20.0), excluded)
        for g in (self._near, self._far, self._coastal, self._offshore20):
            shapely.prepare(g)
        self._check = shapely.union(water, canal_corridor())
        shapely.prepare(self._check)
        self._build_nodes()
        self._build_edges()
        self._trees: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._routes: dict[tuple[int, int], Route] = {}

    # ------------------------------------------------------------------ nodes
    def _build_nodes(self) -> None:
        lat: list[np.ndarray] = []
        lon: list[np.ndarray] = []
        kind: list[np.ndarray] = []
        minx, miny, maxx, maxy = caspian_water().bounds
        la, lo = _grid(miny, maxy, minx, maxx, _COARSE_KM)
        keep = shapely.contains_xy(self._far, lo, la)
        lat.append(la[keep])
        lon.append(lo[keep])
        kind.append(np.full(int(keep.sum()), KIND_COARSE))

        p = self.ports
        canal_port = p["volga_canal"].to_numpy(dtype=bool)
        berth_lat = np.zeros(len(p))
        berth_lon = np.zeros(len(p))
        for j in np.flatnonzero(~canal_port):
            plat, plon = float(p.loc[j, "lat"]), float(p.loc[j, "lon"])
            dr = PORT_GRID_RADIUS_KM / 111.2
            la, lo = _grid(
                plat - dr,
                plat + dr,
                plon - dr / np.cos(np.radians(plat)),
                plon + dr / np.cos(np.radians(plat)),
                _FINE_KM,
            )
            keep = (haversine_km(la, lo, plat, plon) <= PORT_GRID_RADIUS_KM) & shapely.contains_xy(
                self._near, lo, la
            )
            lat.append(la[keep])
            lon.append(lo[keep])
            kind.append(np.full(int(keep.sum()), KIND_FINE))
            berth_lat[j], berth_lon[j] = self._berth_point(
                plat, plon, float(p.loc[j, "area_radius_km"])
            )

        # the canal chain, with the berths of canal ports inserted at their along-canal km
        line = volga_canal()
        c = np.asarray(line.coords)
        seg = haversine_km(c[:-1, 1], c[:-1, 0], c[1:, 1], c[1:, 0])
        ccum = np.concatenate([[0.0], np.cumsum(seg)])
        stops = list(np.arange(0.0, ccum[-1], _CANAL_STEP_KM)) + [ccum[-1]]
        stops += list(ccum[1:-1])  # keep the turning points
        berth_km = {}
        fine_km = np.linspace(0.0, ccum[-1], int(ccum[-1] / 0.05) + 1)
        fine_lat, fine_lon = np.interp(fine_km, ccum, c[:, 1]), np.interp(fine_km, ccum, c[:, 0])
        for j in np.flatnonzero(canal_port):
            plat, plon = float(p.loc[j, "lat"]), float(p.loc[j, "lon"])
            km = float(fine_km[np.argmin(haversine_km(fine_lat, fine_lon, plat, plon))])
            berth_km[j] = max(km, 1.5)  # Astrakhan's reference point is the canal's first vertex
        stop_km = np.unique(np.round(np.array(stops + list(berth_km.values())), 6))
        canal_lat = np.interp(stop_km, ccum, c[:, 1])
        canal_lon = np.interp(stop_km, ccum, c[:, 0])
        ckind = np.full(len(stop_km), KIND_CANAL)
        for j, km in berth_km.items():
            k = int(np.argmin(np.abs(stop_km - round(km, 6))))
            ckind[k] = KIND_BERTH
            berth_lat[j], berth_lon[j] = canal_lat[k], canal_lon[k]

        n_sea = sum(len(x) for x in lat)
        self.canal_first = n_sea
        self.canal_km = stop_km
        lat.append(canal_lat)
        lon.append(canal_lon)
        kind.append(ckind)
        # sea-port berths go last
        sea_berths = np.flatnonzero(~canal_port)
        lat.append(berth_lat[sea_berths])
        lon.append(berth_lon[sea_berths])
        kind.append(np.full(len(sea_berths), KIND_BERTH))

        self.lat = np.concatenate(lat)
        self.lon = np.concatenate(lon)
        self.kind = np.concatenate(kind).astype(np.int8)
        self.n_canal = len(stop_km)
        self.berth_node = np.zeros(len(p), dtype=np.int64)
        base = self.canal_first + self.n_canal
        for i, j in enumerate(sea_berths):
            self.berth_node[j] = base + i
        for j, km in berth_km.items():
            self.berth_node[j] = self.canal_first + int(np.argmin(np.abs(stop_km - round(km, 6))))
        self.canal_sea_end = self.canal_first + self.n_canal - 1
        self.in_canal = np.zeros(len(self.lat), dtype=bool)
        self.in_canal[self.canal_first : self.canal_first + self.n_canal] = True

    def _berth_point(self, plat: float, plon: float, area_km: float) -> tuple[float, float]:
        """The point nearest to a port's reference point that is 0.5 km into the water
        and inside the port area."""
        from shapely.ops import nearest_points

        from caspian_ais.ports import disc

        inner = shapely.intersection(_eroded_water(0.5), disc(plat, plon, area_km - 0.3))
        if inner.is_empty:
            raise ValueError(f"no water within {area_km} km of the port at {plat}, {plon}")
        q = nearest_points(inner, shapely.Point(plon, plat))[0]
        return float(q.y), float(q.x)

    # ------------------------------------------------------------------ edges
    def _build_edges(self) -> None:
        n = len(self.lat)
        sea = np.flatnonzero(~self.in_canal)
        radius = {
            KIND_COARSE: 1.6 * _COARSE_KM,
            KIND_FINE: 1.6 * _FINE_KM,
            KIND_BERTH: 2.0 * _FINE_KM,
        }
        src: list[np.ndarray] = []
        dst: list[np.ndarray] = []
        lat, lon, kind = self.lat[sea], self.lon[sea], self.kind[sea]
        r_node = np.array([radius[int(k)] for k in kind])
        lat32, lon32 = lat.astype(np.float32), lon.astype(np.float32)
        for s in range(0, len(sea), 400):
            e = min(len(sea), s + 400)
            # equirectangular distance: exact enough at these ranges (< 25 km)
            coslat = np.cos(np.radians(lat[s:e]))[:, None].astype(np.float32)
            dy = (lat32[s:e, None] - lat32[None, :]) * np.float32(111.2)
            dx = (lon32[s:e, None] - lon32[None, :]) * coslat * np.float32(111.2)
            d = np.sqrt(dx * dx + dy * dy)
            # coarse-coarse within 1.6 x 15 km; fine/berth hops use the smaller radius;
            # fine-coarse joins within 1.6 x 15 km as well
            lim = np.maximum(r_node[s:e, None], r_node[None, :])
            both_fine = (kind[s:e, None] != KIND_COARSE) & (kind[None, :] != KIND_COARSE)
            lim = np.where(both_fine, np.minimum(r_node[s:e, None], r_node[None, :]) + 0.5, lim)
            ii, jj = np.nonzero((d <= lim) & (d > 0))
            ii = ii + s
            keep = ii < jj
            src.append(sea[ii[keep]])
            dst.append(sea[jj[keep]])
        a = np.concatenate(src)
        b = np.concatenate(dst)
        segs = shapely.linestrings(
            np.stack(
                [
                    np.column_stack([self.lon[a], self.lat[a]]),
                    np.column_stack([self.lon[b], self.lat[b]]),
                ],
                axis=1,
            )
        )
        ok = shapely.covers(self._near, segs)
        a, b = a[ok], b[ok]
        # the canal chain and its sea end
        c = np.arange(self.canal_first, self.canal_first + self.n_canal)
        a = np.concatenate([a, c[:-1]])
        b = np.concatenate([b, c[1:]])
        end = self.canal_sea_end
        d_end = haversine_km(self.lat[end], self.lon[end], self.lat[sea], self.lon[sea])
        near_end = sea[d_end <= 25.0]
        segs = shapely.linestrings(
            np.stack(
                [
                    np.column_stack(
                        [
                            np.full(len(near_end), self.lon[end]),
                            np.full(len(near_end), self.lat[end]),
                        ]
                    ),
                    np.column_stack([self.lon[near_end], self.lat[near_end]]),
                ],
                axis=1,
            )
        )
        ok = shapely.covers(self._near, segs)
        a = np.concatenate([a, np.full(int(ok.sum()), end)])
        b = np.concatenate([b, near_end[ok]])
        length = haversine_km(self.lat[a], self.lon[a], self.lat[b], self.lon[b])
        mid_lat, mid_lon = 0.5 * (self.lat[a] + self.lat[b]), 0.5 * (self.lon[a] + self.lon[b])
        coastal = shapely.contains_xy(self._coastal, mid_lon, mid_lat)
        in_c = self.in_canal[a] & self.in_canal[b]
        cost = length * np.where(coastal & ~in_c, 2.0, 1.0)
        # CSR adjacency (undirected)
        u = np.concatenate([a, b])
        v = np.concatenate([b, a])
        w = np.concatenate([cost, cost])
        order = np.argsort(u, kind="stable")
        self._adj_v = v[order]
        self._adj_w = w[order]
        self._adj_ptr = np.searchsorted(u[order], np.arange(n + 1))
        self.n_edges = len(a)

    # ------------------------------------------------------------------ search
    def _tree(self, source: int) -> tuple[np.ndarray, np.ndarray]:
        if source not in self._trees:
            n = len(self.lat)
            dist = np.full(n, np.inf)
            pred = np.full(n, -1, dtype=np.int64)
            dist[source] = 0.0
            heap = [(0.0, source)]
            ptr, adj_v, adj_w = self._adj_ptr, self._adj_v.tolist(), self._adj_w.tolist()
            ptr_l = ptr.tolist()
            dist_l = dist.tolist()
            pred_l = pred.tolist()
            done = [False] * n
            while heap:
                du, u = heapq.heappop(heap)
                if done[u]:
                    continue
                done[u] = True
                for k in range(ptr_l[u], ptr_l[u + 1]):
                    v = adj_v[k]
                    nd = du + adj_w[k]
                    if nd < dist_l[v]:
                        dist_l[v] = nd
                        pred_l[v] = u
                        heapq.heappush(heap, (nd, v))
            self._trees[source] = (np.array(dist_l), np.array(pred_l, dtype=np.int64))
        return self._trees[source]

    def cost(self, source: int, target: int) -> float:
        """Path cost between two nodes (km, coastal legs counted double)."""
        return float(self._tree(source)[0][target])

    def _path(self, source: int, target: int) -> list[int]:
        dist, pred = self._tree(source)
        if not np.isfinite(dist[target]):
            raise ValueError(f"no sea lane from node {source} to node {target}")
        path = [target]
        while path[-1] != source:
            path.append(int(pred[path[-1]]))
        return path[::-1]

    def _pull(self, nodes: list[int]) -> list[int]:
        """Straighten a run of sea nodes: keep a node only where a shortcut leaves the water."""
        if len(nodes) <= 2:
            return nodes
        idx = np.asarray(nodes)
        lat, lon = self.lat[idx], self.lon[idx]
        far = shapely.contains_xy(self._far, lon, lat)
        out = [0]
        i = 0
        while i < len(idx) - 1:
            js = np.arange(i + 1, len(idx))
            segs = shapely.linestrings(
                np.stack(
                    [
                        np.column_stack([np.full(len(js), lon[i]), np.full(len(js), lat[i])]),
                        np.column_stack([lon[js], lat[js]]),
                    ],
                    axis=1,
                )
            )
            ok_far = shapely.covers(self._far, segs)
            hop = haversine_km(lat[i], lon[i], lat[js], lon[js])
            ok_near = shapely.covers(self._near, segs) & (hop <= _NEAR_HOP_KM) & ~(far[i] & far[js])
            ok = ok_far | ok_near
            ok[0] = True  # the graph edge itself is always allowed
            i = int(js[np.flatnonzero(ok)[-1]])
            out.append(i)
        return [nodes[k] for k in out]

    def route(self, start: int, end: int) -> Route:
        """The route from node ``start`` to node ``end`` (one of them a berth), cached.

        Parameters
        ----------
        start, end : int
            Graph node ids; Dijkstra runs from whichever is a berth (or the lower id), and
            the other direction is the same polyline reversed.

        Returns
        -------
        Route
        """
        start, end = int(start), int(end)
        key = (start, end)
        if key in self._routes:
            return self._routes[key]
        # one canonical direction per pair (from the berth, or from the lower id), so that a
        # route does not depend on which direction was asked for first
        berths = set(self.berth_node.tolist())
        if (start in berths) == (end in berths):
            canon = (min(start, end), max(start, end))
        else:
            canon = (start, end) if start in berths else (end, start)
        if canon != key:
            r = self.route(*canon).reversed()
            self._routes[key] = r
            return r
        path = self._path(start, end)
        # straighten the sea runs, keep the canal chain as it is
        pieces: list[int] = []
        run: list[int] = []
        for node in path:
            if self.in_canal[node]:
                if run:
                    pieces.extend(self._pull(run + [node])[:-1])
                    run = []
                pieces.append(node)
            else:
                run.append(node)
        if run:
            if pieces and self.in_canal[pieces[-1]]:
                pieces.extend(self._pull([pieces[-1], *run])[1:])
            else:
                pieces.extend(self._pull(run))
        idx = np.asarray(pieces)
        lat, lon = self.lat[idx], self.lon[idx]
        seg = haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        segs = shapely.linestrings(
            np.stack(
                [np.column_stack([lon[:-1], lat[:-1]]), np.column_stack([lon[1:], lat[1:]])], axis=1
            )
        )
        if not shapely.covers(self._check, segs).all():  # pragma: no cover - a bug if it happens
            raise AssertionError(f"route {start}->{end} leaves the water")
        r = Route(start, end, lat, lon, cum, self.in_canal[idx].copy())
        self._routes[key] = r
        return r

    def port_route(self, origin: int, destination: int) -> Route:
        """Route between the berths of two ports (rows of :attr:`ports`)."""
        return self.route(int(self.berth_node[origin]), int(self.berth_node[destination]))

    def berth(self, port: int) -> tuple[float, float]:
        """(lat, lon) of a port's berth node."""
        k = int(self.berth_node[port])
        return float(self.lat[k]), float(self.lon[k])

    def berth_canal_km(self, port: int) -> float:
        """Along-canal km (from Astrakhan) of a canal port's berth."""
        k = int(self.berth_node[port]) - self.canal_first
        if not 0 <= k < self.n_canal:
            raise ValueError(f"port {port} has no berth on the canal")
        return float(self.canal_km[k])

    def canal_position(self, km: float) -> tuple[float, float]:
        """(lat, lon) of the canal centre line ``km`` from Astrakhan."""
        sl = slice(self.canal_first, self.canal_first + self.n_canal)
        k = float(np.clip(km, 0.0, self.canal_km[-1]))
        return float(np.interp(k, self.canal_km, self.lat[sl])), float(
            np.interp(k, self.canal_km, self.lon[sl])
        )

    @cached_property
    def offshore_nodes(self) -> np.ndarray:
        """Coarse nodes >= 20 km from shore and >= 60 km from any port (meeting spots)."""
        idx = np.flatnonzero(self.kind == KIND_COARSE)
        ok = shapely.contains_xy(self._offshore20, self.lon[idx], self.lat[idx])
        d = haversine_km(
            self.lat[idx, None],
            self.lon[idx, None],
            self.ports["lat"].to_numpy()[None, :],
            self.ports["lon"].to_numpy()[None, :],
        )
        ok &= d.min(axis=1) >= 60.0
        return idx[ok]

    def water_polygon(self) -> Polygon:
        """The polygon every route is checked against (sea plus canal corridor)."""
        return self._check


@lru_cache(maxsize=4)
def _lanes_cached(key: int) -> SeaLanes:
    return SeaLanes()


def sea_lanes(ports: pd.DataFrame | None = None) -> SeaLanes:
    """Return the sea-lane graph for ``ports`` (the bundled gazetteer's graph is cached)."""
    if ports is None:
        return _lanes_cached(0)
    return SeaLanes(ports)
