"""Tests of the nearest-port search within a radius (caspian_ais.gaps.nearest_port_km)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.gaps import (
    _nearest_by_grid,
    _nearest_within,
    nearest_port_km,
    port_table,
    ports_within_km,
)
from caspian_ais.geodesy import EARTH_RADIUS_KM, haversine_km

KM_PER_DEG = np.pi * EARTH_RADIUS_KM / 180.0


def brute(lat: np.ndarray, lon: np.ndarray, ports: pd.DataFrame, max_km: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest port by measuring every port; -1 / inf beyond max_km."""
    idx, d = nearest_port_km(lat, lon, ports)  # max_km=None: brute force
    far = ~(d <= max_km)
    return np.where(far, -1, idx), np.where(far, np.inf, d)


def points_near(ports: pd.DataFrame, n_per: int, spread_km: float, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    plat = np.repeat(ports["lat"].to_numpy(), n_per)
    plon = np.repeat(ports["lon"].to_numpy(), n_per)
    dlat = rng.normal(0.0, spread_km, plat.size) / KM_PER_DEG
    dlon = rng.normal(0.0, spread_km, plat.size) / KM_PER_DEG / np.cos(np.radians(plat))
    return plat + dlat, plon + dlon


@pytest.mark.parametrize("max_km", [0.5, 3.0, 4.0, 7.0, 40.0, 300.0])
def test_grid_matches_brute_force(max_km: float) -> None:
    ports = port_table(None)
    lat, lon = points_near(ports, 400, max_km, seed=int(max_km * 10))
    rng = np.random.default_rng(0)
    lat = np.r_[lat, rng.uniform(36.0, 47.5, 3000), np.nan, 45.0]
    lon = np.r_[lon, rng.uniform(46.0, 55.5, 3000), 50.0, np.nan]
    got = nearest_port_km(lat, lon, ports, max_km=max_km)
    ref = brute(lat, lon, ports, max_km)
    assert np.array_equal(got[0], ref[0])
    assert np.array_equal(got[1], ref[1])
    rows, idx, d = ports_within_km(lat, lon, ports, max_km)
    assert np.array_equal(rows, np.flatnonzero(got[0] >= 0))
    assert np.array_equal(idx, got[0][rows]) and np.array_equal(d, got[1][rows])


def test_points_at_exactly_the_radius() -> None:
    ports = pd.DataFrame({"port": ["A", "B"], "lat": [40.0, 40.1], "lon": [50.0, 50.0]})
    brg = np.radians(np.arange(0, 360, 7.5))
    r = 5.0 / EARTH_RADIUS_KM
    p1, l1 = np.radians(40.0), np.radians(50.0)
    p2 = np.arcsin(np.sin(p1) * np.cos(r) + np.cos(p1) * np.sin(r) * np.cos(brg))
    l2 = l1 + np.arctan2(np.sin(brg) * np.sin(r) * np.cos(p1), np.cos(r) - np.sin(p1) * np.sin(p2))
    lat, lon = np.degrees(p2), np.degrees(l2)
    d = haversine_km(lat, lon, 40.0, 50.0)
    for max_km in (5.0, float(d.min()), float(d.max())):
        got = nearest_port_km(lat, lon, ports, max_km=max_km)
        ref = brute(lat, lon, ports, max_km)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


def test_equidistant_ports_give_the_first() -> None:
    ports = pd.DataFrame({"port": ["N", "S"], "lat": [0.01, -0.01], "lon": [0.0, 0.0]})
    idx, d = nearest_port_km([0.0], [0.0], ports, max_km=5.0)
    assert idx.tolist() == [0] and d[0] == haversine_km(0.0, 0.0, 0.01, 0.0)


@pytest.mark.parametrize("where", ["antimeridian", "pole"])
def test_boxes_across_the_antimeridian_or_a_pole(where: str) -> None:
    if where == "antimeridian":
        ports = pd.DataFrame({"port": ["E", "W"], "lat": [10.0, 10.02], "lon": [179.99, -179.99]})
    else:
        ports = pd.DataFrame({"port": ["P", "Q"], "lat": [89.99, 89.0], "lon": [0.0, 120.0]})
    lat, lon = points_near(ports, 300, 5.0, seed=3)
    lon = (lon + 180.0) % 360.0 - 180.0
    assert _nearest_by_grid(lat, lon, ports["lat"].to_numpy(), ports["lon"].to_numpy(),
                            8.0) is None
    got = nearest_port_km(lat, lon, ports, max_km=8.0)
    old = _nearest_within(lat, lon, ports["lat"].to_numpy(), ports["lon"].to_numpy(), 8.0)
    assert np.array_equal(got[0], old[0]) and np.array_equal(got[1], old[1])


def test_coordinates_out_of_range_and_missing() -> None:
    ports = port_table(None)
    plat, plon = ports["lat"].to_numpy(), ports["lon"].to_numpy()
    lat = np.array([plat[0], 95.0, -91.0, plat[1], np.nan, np.inf, plat[2]])
    lon = np.array([plon[0] + 360.0, plon[0], plon[0], np.nan, plon[1], plon[1], plon[2]])
    got = nearest_port_km(lat, lon, ports, max_km=7.0)
    old = _nearest_within(lat, lon, plat, plon, 7.0)
    assert np.array_equal(got[0], old[0]) and np.array_equal(got[1], old[1])
    assert got[0][-1] == 2 and got[0][3] == -1 and got[0][4] == -1


def test_grid_equals_the_grid_hash_on_many_points() -> None:
    ports = port_table(None)
    plat, plon = ports["lat"].to_numpy(), ports["lon"].to_numpy()
    lat, lon = points_near(ports, 2000, 6.0, seed=9)
    for max_km in (4.0, 7.0):
        found = _nearest_by_grid(lat, lon, plat, plon, max_km)
        assert found is not None
        rows, idx, d = found
        best, dist = _nearest_within(lat, lon, plat, plon, max_km)
        assert np.array_equal(rows, np.flatnonzero(best >= 0))
        assert np.array_equal(idx, best[rows]) and np.array_equal(d, dist[rows])
