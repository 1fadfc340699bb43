"""Sea lanes stay in the water; Astrakhan and Olya are reached through the canal."""

from __future__ import annotations

import numpy as np
import shapely

from caspian_ais.geodesy import haversine_km
from caspian_ais.ports import port_index, volga_canal
from caspian_ais.synthetic.routes import sea_lanes
from caspian_ais.water import canal_corridor, caspian_water


def test_every_port_pair_route_stays_in_water_or_canal() -> None:
    lanes = sea_lanes()
    water = shapely.union(caspian_water(), canal_corridor())
    n = len(lanes.ports)
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            r = lanes.port_route(a, b)
            segs = shapely.linestrings(
                np.stack(
                    [
                        np.column_stack([r.lon[:-1], r.lat[:-1]]),
                        np.column_stack([r.lon[1:], r.lat[1:]]),
                    ],
                    axis=1,
                )
            )
            assert shapely.covers(water, segs).all(), (a, b)
            assert r.length_km >= haversine_km(r.lat[0], r.lon[0], r.lat[-1], r.lon[-1]) - 1e-6


def test_berths_are_in_water_and_in_the_port_area() -> None:
    lanes = sea_lanes()
    water = shapely.union(caspian_water(), canal_corridor())
    for j, p in lanes.ports.iterrows():
        lat, lon = lanes.berth(j)
        assert shapely.contains_xy(water, lon, lat)
        assert haversine_km(lat, lon, p["lat"], p["lon"]) < p["area_radius_km"]


def test_astrakhan_route_goes_through_the_canal_past_olya() -> None:
    lanes = sea_lanes()
    ports = lanes.ports
    r = lanes.port_route(port_index("Astrakhan", ports), port_index("Anzali", ports))
    assert r.canal_range_km is not None
    a, b = r.canal_range_km
    assert 180 <= b - a <= 200, "the whole canal, Astrakhan to the sea end (~188 km)"
    olya = ports.loc[port_index("Olya", ports)]
    assert haversine_km(r.lat, r.lon, olya["lat"], olya["lon"]).min() < 3.0
    end = volga_canal().coords[-1]
    assert haversine_km(r.lat, r.lon, end[1], end[0]).min() < 0.1
