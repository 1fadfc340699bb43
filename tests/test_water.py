"""The Caspian water polygon and the on-water test."""

from __future__ import annotations

import numpy as np
import shapely

from caspian_ais.ports import volga_canal
from caspian_ais.water import buffer_km, canal_corridor, caspian_water, on_water


def test_polygon() -> None:
    w = caspian_water()
    assert w.is_valid and w.geom_type == "Polygon"
    minx, miny, maxx, maxy = w.bounds
    assert 46 < minx < 47.5 and 54 < maxx < 55.5 and 36 < miny < 37 and 46.5 < maxy < 47.5
    assert len(w.interiors) > 0  # islands are holes
    assert caspian_water() is w  # cached


def test_on_water_points() -> None:
    lat = [42.0, 41.7, 40.45, np.nan, 45.79]
    lon = [50.0, 44.8, 49.9, 50.0, 47.56]  # mid-sea, Tbilisi, Absheron peninsula, NaN, Olya (canal)
    assert on_water(lat, lon).tolist() == [True, False, False, False, True]
    assert on_water(lat, lon, include_canal=False).tolist() == [True, False, False, False, False]


def test_on_water_broadcasts_and_is_vectorised() -> None:
    lat = np.full((3, 4), 42.0)
    assert on_water(lat, 50.0).shape == (3, 4)
    rng = np.random.default_rng(0)
    big = on_water(rng.uniform(36, 47, 200_000), rng.uniform(46, 55, 200_000))
    assert 0.2 < big.mean() < 0.6


def test_tolerance_grows_the_sea() -> None:
    # Bandar Anzali's reference point is 1.6 km inland of the Natural Earth shore
    assert not on_water(37.4769, 49.4718, include_canal=False)[()]
    assert on_water(37.4769, 49.4718, tolerance_km=2.0, include_canal=False)[()]
    assert not on_water(37.4769, 49.4718, tolerance_km=1.0, include_canal=False)[()]


def test_canal_corridor() -> None:
    c = canal_corridor()
    assert c.covers(volga_canal())
    lon, lat = volga_canal().coords[0]  # Astrakhan: 63 km from the sea polygon
    assert on_water(lat, lon)[()] and not on_water(lat, lon, include_canal=False)[()]
    assert not on_water(lat + 0.05, lon)[()]  # 5.5 km off the river


def test_buffer_km_is_in_kilometres() -> None:
    d = buffer_km(shapely.Point(50.0, 40.0), 20.0)
    x, y = np.asarray(d.exterior.coords).T
    from caspian_ais.geodesy import haversine_km

    assert np.allclose(haversine_km(y, x, 40.0, 50.0), 20.0, rtol=0.01)
