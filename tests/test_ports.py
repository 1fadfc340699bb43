"""The port gazetteer, port areas, approach zones and the Volga-Caspian canal."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from caspian_ais.exceptions import InputError
from caspian_ais.geodesy import haversine_km
from caspian_ais.ports import (
    PORT_COLUMNS,
    approach_membership,
    approach_zones,
    in_approach,
    load_ports,
    nearest_port,
    port_areas,
    port_index,
    volga_canal,
    volga_canal_waypoints,
)
from caspian_ais.water import caspian_water, on_water


def test_bundled_gazetteer() -> None:
    p = load_ports()
    assert list(p.columns[: len(PORT_COLUMNS)]) == list(PORT_COLUMNS)
    assert len(p) == 12 and p["port"].is_unique
    assert {
        "Bandar Anzali",
        "Bandar Amirabad",
        "Astrakhan",
        "Olya",
        "Makhachkala",
        "Aktau",
        "Baku",
        "Turkmenbashi",
    } <= set(p["port"])
    assert p["source"].notna().all() and p["unlocode"].str.len().eq(5).all()
    assert (p["area_radius_km"] >= 3.0).all() and (p["approach_radius_km"].between(30, 60)).all()
    assert set(p.loc[p["volga_canal"], "port"]) == {"Astrakhan", "Olya"}
    # every sea port's area reaches the water polygon (Natural Earth's shore is ~1-4 km off)
    for r in p[~p["volga_canal"]].itertuples():
        d = caspian_water().exterior.distance(shapely.Point(r.lon, r.lat)) * 111
        assert d < r.area_radius_km


def test_load_ports_returns_a_copy() -> None:
    a = load_ports()
    a.loc[0, "lat"] = 0.0
    assert load_ports().loc[0, "lat"] != 0.0


def test_port_index() -> None:
    assert load_ports()["port"][port_index("alat")].startswith("Alat")
    assert port_index("RUASF") == port_index("Astrakhan")
    with pytest.raises(KeyError):
        port_index("Nowhere")


def test_nearest_port_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    lat = rng.uniform(36.5, 47.0, 5000)
    lon = rng.uniform(46.5, 55.0, 5000)
    lat[7] = np.nan
    p = load_ports()
    idx, d = nearest_port(lat, lon)
    brute = haversine_km(
        lat[:, None], lon[:, None], p["lat"].to_numpy()[None, :], p["lon"].to_numpy()[None, :]
    )
    ok = ~np.isnan(lat)
    assert (idx[ok] == np.nanargmin(brute[ok], axis=1)).all()
    assert np.allclose(d[ok], np.nanmin(brute[ok], axis=1))
    assert idx[7] == -1 and np.isnan(d[7])


def test_port_areas_are_discs_of_the_radius() -> None:
    areas = port_areas()
    assert str(areas.crs) == "EPSG:4326"
    exits = port_areas(exit=True)
    for (_, a), (_, e) in zip(areas.iterrows(), exits.iterrows(), strict=True):
        x, y = np.asarray(a.geometry.exterior.coords).T
        assert np.allclose(haversine_km(y, x, a["lat"], a["lon"]), a["area_radius_km"], rtol=1e-6)
        x, y = np.asarray(e.geometry.exterior.coords).T
        assert np.allclose(
            haversine_km(y, x, e["lat"], e["lon"]), e["area_radius_km"] + 1.0, rtol=1e-6
        )


def test_approach_zones_hold_the_canal_for_canal_ports() -> None:
    z = approach_zones().set_index("port")
    canal = volga_canal()
    assert z.loc["Astrakhan", "geometry"].covers(canal)
    assert z.loc["Olya", "geometry"].covers(canal)
    assert not z.loc["Bandar Anzali", "geometry"].intersects(canal)
    assert (
        z.loc["Bandar Anzali", "geometry"].area
        > port_areas().set_index("port").loc["Bandar Anzali", "geometry"].area
    )


def test_in_approach_agrees_with_the_zone_polygons() -> None:
    rng = np.random.default_rng(1)
    lat = rng.uniform(36.5, 46.6, 20000)
    lon = rng.uniform(46.8, 54.8, 20000)
    zones = approach_zones()
    idx = in_approach(lat, lon)
    member = approach_membership(lat, lon)
    for j, g in enumerate(zones.geometry):
        inside = shapely.contains_xy(g, lon, lat)
        # the 72-gon disc differs from the exact disc by < 0.1 % of the radius
        assert (inside == member[:, j]).mean() > 0.999
    assert ((idx >= 0) == member.any(axis=1)).all()
    hit = idx >= 0
    assert member[np.flatnonzero(hit), idx[hit]].all()
    # overlapping discs (Baku and Alat are ~58 km apart): the nearer port wins
    p = load_ports()
    both = member[:, port_index("Baku")] & member[:, port_index("Alat")]
    d_baku = haversine_km(lat, lon, *p.loc[port_index("Baku"), ["lat", "lon"]])
    d_alat = haversine_km(lat, lon, *p.loc[port_index("Alat"), ["lat", "lon"]])
    assert both.any()
    want = np.where(d_baku < d_alat, port_index("Baku"), port_index("Alat"))
    assert (idx[both] == want[both]).all()


def test_in_approach_on_the_canal() -> None:
    w = volga_canal_waypoints()
    idx = in_approach(w["lat"], w["lon"])
    p = load_ports()
    assert set(p["port"][idx]) <= {"Astrakhan", "Olya"}
    assert in_approach([44.70], [47.76])[0] == port_index("Astrakhan")  # the sea end's roadstead
    assert in_approach([42.0], [50.0])[0] == -1


def test_volga_canal_geometry() -> None:
    line = volga_canal()
    c = np.asarray(line.coords)
    seg = haversine_km(c[:-1, 1], c[:-1, 0], c[1:, 1], c[1:, 0])
    assert 180 < seg.sum() < 200
    p = load_ports().set_index("port")
    assert (
        haversine_km(c[0, 1], c[0, 0], p.loc["Astrakhan", "lat"], p.loc["Astrakhan", "lon"]) < 1.0
    )
    assert on_water(c[-1, 1], c[-1, 0], include_canal=False)
    fine = line.interpolate(np.linspace(0, 1, 4000), normalized=True)
    x, y = shapely.get_x(fine), shapely.get_y(fine)
    assert haversine_km(y, x, p.loc["Olya", "lat"], p.loc["Olya", "lon"]).min() < 3.0
    w = volga_canal_waypoints()
    assert w["source"].notna().all() and w["approximate"].dtype == bool


def test_user_csv_with_defaults(tmp_path) -> None:
    f = tmp_path / "ports.csv"
    f.write_text("port,lat,lon\nNovorossiysk,44.72,37.78\nAstrakhan,46.35,48.03\n")
    p = load_ports(f)
    assert list(p.columns[: len(PORT_COLUMNS)]) == list(PORT_COLUMNS)
    assert p["area_radius_km"].tolist() == [3.0, 3.0]
    assert p["approach_radius_km"].tolist() == [50.0, 50.0]
    assert p["volga_canal"].tolist() == [False, True]
    assert p["source"].iloc[0] == str(f)
    idx, d = nearest_port([44.7], [37.8], p)
    assert idx[0] == 0 and d[0] < 3
    assert in_approach([44.9], [37.9], p)[0] == 0
    assert len(approach_zones(p)) == 2


def test_user_geojson(tmp_path) -> None:
    f = tmp_path / "ports.geojson"
    f.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [29.0, 41.0]},
                        "properties": {"name": "Istanbul", "area_radius_km": 5},
                    },
                    {
                        "type": "Feature",
                        "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
                        "properties": {"name": "not a port"},
                    },
                ],
            }
        )
    )
    p = load_ports(f)
    assert p["port"].tolist() == ["Istanbul"]
    assert p["area_radius_km"].tolist() == [5.0]
    assert port_areas(p).geometry.iloc[0].contains(shapely.Point(29.0, 41.0))


def test_bad_user_tables(tmp_path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("name,latitude\nX,1\n")
    with pytest.raises(InputError, match="lat"):
        load_ports(f)
    g = tmp_path / "bad2.csv"
    g.write_text("port,lat,lon\nX,95,10\n")
    with pytest.raises(InputError, match="valid lat/lon"):
        load_ports(g)
    with pytest.raises(InputError):
        load_ports(tmp_path / "missing.csv")
