"""Tests of dark round trips (leave P, go dark, come back to P)."""

from __future__ import annotations

import pandas as pd
import pytest

from caspian_ais.round_trips import ROUND_TRIP_COLUMNS, detect_round_trips

T0 = pd.Timestamp("2023-06-01T00:00:00Z")
PORTS = pd.DataFrame({"port": ["P", "Q"], "lat": [0.0, 0.0], "lon": [0.0, 1.0],
                      "area_radius_km": [3.0, 3.0], "approach_radius_km": [50.0, 50.0]})


def h(x: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=x)


def calls(*rows: tuple[str, float, float], mmsi: int = 273000001) -> pd.DataFrame:
    return pd.DataFrame({"mmsi": [mmsi] * len(rows), "port": [r[0] for r in rows],
                         "start_time": [h(r[1]) for r in rows],
                         "end_time": [h(r[2]) for r in rows]})


def gaps(*rows: tuple[float, float], mmsi: int = 273000001, **extra: list) -> pd.DataFrame:
    g = pd.DataFrame({"mmsi": [mmsi] * len(rows),
                      "gap_id": [f"{mmsi}-{i}" for i in range(len(rows))],
                      "start_time": [h(a) for a, _ in rows], "end_time": [h(b) for _, b in rows],
                      "duration_h": [b - a for a, b in rows], "is_closed": True,
                      "start_lat": 0.3, "start_lon": 0.0, "end_lat": 0.2, "end_lon": 0.0,
                      "suspicious": True, "start_in_port": False, "end_in_port": False})
    for k, v in extra.items():
        g[k] = v
    return g


def test_one_gap_round_trip() -> None:
    r = detect_round_trips(gaps((12, 60)), calls(("P", 0, 10), ("P", 64, 80)), PORTS)
    assert tuple(r.columns) == ROUND_TRIP_COLUMNS
    assert len(r) == 1
    row = r.iloc[0]
    assert row["port"] == "P" and row["start_time"] == h(12) and row["end_time"] == h(60)
    assert row["depart_time"] == h(10) and row["return_time"] == h(64)
    assert row["trip_h"] == pytest.approx(54) and row["dark_h"] == pytest.approx(48)
    assert row["max_offshore_km"] == pytest.approx(0.3 * 111.195, rel=1e-3)


def test_several_gaps_between_the_same_calls_make_one_trip() -> None:
    r = detect_round_trips(gaps((12, 30), (31, 60)), calls(("P", 0, 10), ("P", 64, 80)), PORTS)
    assert len(r) == 1 and r.iloc[0]["n_gaps"] == 2
    assert r.iloc[0]["gap_ids"] == "273000001-0;273000001-1"
    assert r.iloc[0]["dark_h"] == pytest.approx(47)


def test_calling_elsewhere_is_no_round_trip() -> None:
    assert detect_round_trips(gaps((12, 60)), calls(("P", 0, 10), ("Q", 64, 80)), PORTS).empty
    # a visible call at Q between the departure and the return breaks it
    c = calls(("P", 0, 10), ("Q", 40, 45), ("P", 64, 80))
    assert detect_round_trips(gaps((12, 38)), c, PORTS).empty
    # a probable dark call at Q during the gap breaks it too
    dark = pd.DataFrame({"gap_id": ["273000001-0"], "port": ["Q"]})
    assert detect_round_trips(gaps((12, 60)), calls(("P", 0, 10), ("P", 64, 80)), PORTS,
                              dark_port_calls=dark).empty


def test_gap_filters() -> None:
    c = calls(("P", 0, 10), ("P", 64, 80))
    assert detect_round_trips(gaps((12, 60), suspicious=[False]), c, PORTS).empty
    assert len(detect_round_trips(gaps((12, 60), suspicious=[False]), c, PORTS,
                                  require_suspicious=False)) == 1
    assert detect_round_trips(gaps((12, 60), start_in_port=[True]), c, PORTS).empty
    # trip length and offshore distance bounds, at the boundary
    assert len(detect_round_trips(gaps((12, 60)), c, PORTS, max_trip_h=54)) == 1
    assert detect_round_trips(gaps((12, 60)), c, PORTS, max_trip_h=53.9).empty
    assert detect_round_trips(gaps((12, 60)), c, PORTS, min_offshore_km=40).empty
    assert detect_round_trips(gaps((12, 60)), c, PORTS, min_dark_share=0.9).empty


def test_other_vessels_calls_do_not_count() -> None:
    c = pd.concat([calls(("P", 0, 10)), calls(("P", 64, 80), mmsi=273000002)])
    assert detect_round_trips(gaps((12, 60)), c, PORTS).empty


def test_empty() -> None:
    e = detect_round_trips(gaps((12, 60)).iloc[:0], calls(("P", 0, 10)), PORTS)
    assert e.empty and tuple(e.columns) == ROUND_TRIP_COLUMNS
