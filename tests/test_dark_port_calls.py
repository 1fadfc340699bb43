"""Tests of probable dark port calls (qualification, reachability, ranking, evidence)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.dark_port_calls import DARK_PORT_CALL_COLUMNS, detect_dark_port_calls, route_km
from caspian_ais.geodesy import EARTH_RADIUS_KM, KM_PER_NM
from caspian_ais.ports import load_ports

T0 = pd.Timestamp("2023-06-01T00:00:00Z")
KM_PER_DEG = np.pi * EARTH_RADIUS_KM / 180.0
PORTS = pd.DataFrame({"port": ["P", "Q"], "country": ["IR", "IR"], "unlocode": ["IRPPP", "IRQQQ"],
                      "lat": [0.0, 0.0], "lon": [0.0, 1.0], "area_radius_km": [3.0, 3.0],
                      "approach_radius_km": [50.0, 50.0]})


def gap(start_km: float, end_km: float, hours: float, *, mmsi: int = 273000001,
        suspicious: bool = True, start_in_port: bool = False, end_in_port: bool = False,
        draughts: tuple[float, float] = (3.0, 3.0), cogs: tuple[float, float] = (180.0, 0.0),
        gid: str = "g1") -> dict:
    """A gap whose ends lie ``start_km``/``end_km`` north of P (lat 0, lon 0)."""
    return {"mmsi": mmsi, "gap_id": gid, "start_time": T0,
            "end_time": T0 + pd.Timedelta(hours=hours),
            "duration_h": hours, "start_lat": start_km / KM_PER_DEG, "start_lon": 0.0,
            "end_lat": end_km / KM_PER_DEG, "end_lon": 0.0, "is_closed": True,
            "suspicious": suspicious, "start_in_port": start_in_port, "end_in_port": end_in_port,
            "start_draught_m": draughts[0], "end_draught_m": draughts[1],
            "start_cog_deg": cogs[0], "end_cog_deg": cogs[1], "flag_state": "RU", "ship_type": 70}


def frame(*rows: dict) -> pd.DataFrame:
    g = pd.DataFrame(list(rows))
    for c in ("start_time", "end_time"):
        g[c] = pd.to_datetime(g[c], utc=True)
    return g


def test_qualifying_gap_gives_dark_call_with_window_and_evidence() -> None:
    g = frame(gap(20, 30, 24, draughts=(3.0, 4.2)))
    d = detect_dark_port_calls(g, ports=PORTS)
    assert tuple(d.columns) == DARK_PORT_CALL_COLUMNS
    assert len(d) == 1
    r = d.iloc[0]
    assert r["port"] == "P" and r["start_time"] == T0 and r["gap_id"] == "g1"
    v_kmh = 10.0 * KM_PER_NM  # default speed
    assert r["window_start"] == T0 + pd.Timedelta(hours=20 / v_kmh)
    assert r["max_stay_h"] == pytest.approx(24 - 50 / v_kmh, abs=1e-6)
    assert len(detect_dark_port_calls(g, ports=PORTS, min_stay_h=24 - 50 / v_kmh + 0.01)) == 0
    assert r["draught_change_m"] == pytest.approx(1.2)
    assert r["heading_to_port"] and r["heading_from_port"]
    assert r["confidence_level"] == "high" and r["n_candidates"] == 1


def test_end_inside_port_area_is_never_a_dark_call() -> None:
    g = frame(gap(1, 1, 48, start_in_port=True, end_in_port=True),
              gap(1, 20, 48, start_in_port=True, gid="g2"),
              gap(20, 2, 48, end_in_port=True, gid="g3"))
    assert detect_dark_port_calls(g, ports=PORTS).empty
    # without the columns the function measures the distance itself
    bare = g.drop(columns=["start_in_port", "end_in_port"])
    assert detect_dark_port_calls(bare, ports=PORTS).empty


def test_not_suspicious_or_open_gaps_are_skipped() -> None:
    g = frame(gap(20, 30, 24, suspicious=False))
    assert detect_dark_port_calls(g, ports=PORTS).empty
    assert len(detect_dark_port_calls(g, ports=PORTS, require_suspicious=False)) == 1
    op = frame(gap(20, 30, 24))
    op["is_closed"] = False
    assert detect_dark_port_calls(op, ports=PORTS).empty


def test_approach_boundary() -> None:
    # approach 50 km + margin 10 km: both ends must be within 60 km of P
    assert len(detect_dark_port_calls(frame(gap(59.9, 20, 48)), ports=PORTS)) == 1
    assert detect_dark_port_calls(frame(gap(60.1, 20, 48)), ports=PORTS).empty
    assert len(detect_dark_port_calls(frame(gap(60.1, 20, 48)), ports=PORTS,
                                      approach_margin_km=11)) == 1


def test_reachability_boundary_uses_observed_speed() -> None:
    # 40 km in and 40 km out at 8 kn = 5.4 h, plus the 4 h minimum stay
    v = 8.0
    need = 80 / (v * KM_PER_NM) + 4.0
    tracks = pd.DataFrame({"mmsi": [273000001] * 3, "sog_kn": [v, v, 0.0],
                           "timestamp": [T0] * 3, "lat": [1.0] * 3, "lon": [0.5] * 3})
    ok = frame(gap(40, 40, need + 1e-6))
    short = frame(gap(40, 40, need - 1e-3))
    assert len(detect_dark_port_calls(ok, tracks, ports=PORTS)) == 1
    assert detect_dark_port_calls(short, tracks, ports=PORTS).empty
    assert len(detect_dark_port_calls(short, tracks, ports=PORTS, min_stay_h=3.99)) == 1
    r = detect_dark_port_calls(ok, tracks, ports=PORTS).iloc[0]
    assert r["speed_kn"] == pytest.approx(v)


def test_candidates_ranked_nearest_first() -> None:
    # ends between P (lon 0) and Q (lon 0.8), nearer Q
    ports = PORTS.assign(lon=[0.0, 0.8])
    g = frame(gap(0, 0, 48))
    g["start_lon"] = g["end_lon"] = 0.5
    d = detect_dark_port_calls(g, ports=ports)
    assert len(d) == 1 and d.iloc[0]["port"] == "Q"
    assert d.iloc[0]["candidates"] == "Q;P" and d.iloc[0]["n_candidates"] == 2
    allc = detect_dark_port_calls(g, ports=ports, all_candidates=True)
    assert allc["port"].tolist() == ["Q", "P"] and allc["rank"].tolist() == [1, 2]
    assert allc["confidence"].iloc[0] > allc["confidence"].iloc[1]


def test_round_trip_from_the_same_port_is_not_a_dark_call() -> None:
    g = frame(gap(20, 30, 48))
    calls = pd.DataFrame({"mmsi": [273000001] * 2, "port": ["P", "P"],
                          "start_time": pd.to_datetime([T0 - pd.Timedelta(days=2),
                                                        T0 + pd.Timedelta(hours=50)]),
                          "end_time": pd.to_datetime([T0 - pd.Timedelta(hours=3),
                                                      T0 + pd.Timedelta(hours=60)])})
    assert detect_dark_port_calls(g, ports=PORTS, port_calls=calls).empty
    assert len(detect_dark_port_calls(g, ports=PORTS, port_calls=calls,
                                      exclude_round_trips=False)) == 1
    other = calls.assign(port=["Q", "P"])
    assert len(detect_dark_port_calls(g, ports=PORTS, port_calls=other)) == 1


def test_open_gaps_with_port_calls() -> None:
    # an open gap (no end time) next to visible calls used to break the look-up of the
    # call after each gap
    g = frame(gap(20, 30, 48), gap(20, 30, 24, gid="g2"))
    g.loc[1, ["end_time", "end_lat", "end_lon"]] = [pd.NaT, np.nan, np.nan]
    g.loc[1, "is_closed"] = False
    calls = pd.DataFrame({"mmsi": [273000001] * 2, "port": ["Q", "P"],
                          "start_time": pd.to_datetime([T0 - pd.Timedelta(days=2),
                                                        T0 + pd.Timedelta(hours=50)]),
                          "end_time": pd.to_datetime([T0 - pd.Timedelta(hours=3),
                                                      T0 + pd.Timedelta(hours=60)])})
    out = detect_dark_port_calls(g, ports=PORTS, port_calls=calls)
    assert out["gap_id"].tolist() == ["g1"]


def test_canal_route_is_longer_than_great_circle() -> None:
    p = load_ports()
    ast = p[p["port"] == "Astrakhan"].iloc[0]
    # a point on the canal near its sea end
    lat, lon = 44.80, 47.76
    d_canal = route_km([lat], [lon], [ast["lat"]], [ast["lon"]], [True])[0]
    d_direct = route_km([lat], [lon], [ast["lat"]], [ast["lon"]], [False])[0]
    assert d_canal > d_direct + 5


def test_bundled_gazetteer_astrakhan_canal_approach() -> None:
    """Ends on the Volga canal far below Astrakhan still qualify for Astrakhan."""
    g = frame(gap(0, 0, 72))
    g["start_lat"], g["start_lon"] = 45.20, 47.72
    g["end_lat"], g["end_lon"] = 45.10, 47.73
    d = detect_dark_port_calls(g, ports=load_ports(), all_candidates=True)
    assert "Astrakhan" in set(d["port"])


def test_empty() -> None:
    e = detect_dark_port_calls(frame(gap(20, 30, 24)).iloc[:0], ports=PORTS)
    assert e.empty and tuple(e.columns) == DARK_PORT_CALL_COLUMNS
