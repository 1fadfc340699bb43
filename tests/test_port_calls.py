"""Tests of visible port-call detection (hysteresis, stops, in-port gaps, confidence)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.geodesy import EARTH_RADIUS_KM
from caspian_ais.port_calls import PORT_CALL_COLUMNS, detect_port_calls

T0 = pd.Timestamp("2023-06-01T00:00:00Z")
PORTS = pd.DataFrame({"port": ["P", "Q"], "country": ["IR", "RU"], "unlocode": ["IRPPP", "RUQQQ"],
                      "lat": [0.0, 1.0], "lon": [0.0, 0.0], "area_radius_km": [3.0, 3.0],
                      "approach_radius_km": [50.0, 50.0]})
KM_PER_DEG = np.pi * EARTH_RADIUS_KM / 180.0


def visit(dist_km: list[float], sog: list[float], step_h: float = 0.5, mmsi: int = 273000001,
          start_h: float = 0.0) -> pd.DataFrame:
    """Reports at the given distances north of port P (lon 0), one every ``step_h``."""
    n = len(dist_km)
    return pd.DataFrame({
        "mmsi": np.full(n, mmsi, dtype=np.int64),
        "timestamp": T0 + pd.to_timedelta(start_h + step_h * np.arange(n), unit="h"),
        "lat": np.asarray(dist_km, float) / KM_PER_DEG,
        "lon": np.zeros(n),
        "sog_kn": np.asarray(sog, float),
        "draught_m": np.r_[np.full(n // 2, 3.0), np.full(n - n // 2, 4.0)],
    })


def test_full_call_confidence_4() -> None:
    t = visit([10, 5, 2, 1, 1, 1, 2, 5, 10], [10, 8, 3, 0.1, 0.0, 0.1, 3, 8, 10])
    c = detect_port_calls(t, PORTS)
    assert tuple(c.columns) == PORT_CALL_COLUMNS
    assert len(c) == 1
    r = c.iloc[0]
    assert r["port"] == "P" and r["country"] == "IR"
    assert r["start_time"] == T0 + pd.Timedelta(hours=1.0)
    assert r["end_time"] == T0 + pd.Timedelta(hours=3.0)
    assert r["entry_seen"] and r["exit_seen"] and r["stop_seen"] and not r["gap_seen"]
    assert r["confidence"] == 4 and r["n_positions"] == 5
    assert r["min_distance_km"] == pytest.approx(1.0, abs=1e-6)
    assert r["start_draught_m"] == 3.0 and r["end_draught_m"] == 4.0


def test_entry_and_exit_hysteresis_boundaries() -> None:
    # 2.999 km enters; 3.5 km (between 3 and 4 km) stays in; 3.999 km stays in;
    # 4.01 km leaves
    t = visit([10, 2.999, 3.5, 3.999, 3.5, 4.01, 10], [5, 0.1, 1, 1, 1, 1, 5])
    c = detect_port_calls(t, PORTS)
    assert len(c) == 1
    assert c.iloc[0]["n_positions"] == 4
    assert c.iloc[0]["end_time"] == T0 + pd.Timedelta(hours=2.0)
    # 3.001 km never enters
    t2 = visit([10, 3.001, 3.5, 10], [5, 0.0, 0.0, 5])
    assert detect_port_calls(t2, PORTS, min_confidence=1).empty
    # in the hysteresis band the call goes on: a second dip below 3 km is the same call
    t3 = visit([10, 2, 3.8, 2, 10], [5, 0.0, 1, 0.0, 5])
    assert len(detect_port_calls(t3, PORTS)) == 1
    # leaving beyond 4 km and coming back makes two calls
    t4 = visit([10, 2, 4.5, 2, 10], [5, 0.0, 5, 0.0, 5])
    assert len(detect_port_calls(t4, PORTS)) == 2


def test_radius_options() -> None:
    t = visit([10, 5, 5, 10], [5, 0.0, 0.0, 5])
    assert detect_port_calls(t, PORTS).empty
    c = detect_port_calls(t, PORTS, entry_radius_km=5.0)
    assert len(c) == 1 and c.iloc[0]["n_positions"] == 2
    assert len(detect_port_calls(visit([10, 2, 5.5, 2, 10], [5, 0, 1, 0, 5]), PORTS,
                                 exit_margin_km=3.0)) == 1


def test_stop_hysteresis_thresholds() -> None:
    # a pass through the port at 0.3 kn never starts a stop (needs < 0.2 kn)
    t = visit([10, 2, 1, 2, 10], [5, 0.3, 0.3, 0.3, 5])
    assert detect_port_calls(t, PORTS).empty
    c = detect_port_calls(t, PORTS, min_confidence=1)
    assert c.iloc[0]["confidence"] == 1 and not c.iloc[0]["stop_seen"]
    # 0.19 kn starts a stop; 0.45 kn keeps it going; 0.55 kn ends it
    t2 = visit([10, 2, 1, 1, 1, 2, 10], [5, 0.19, 0.45, 0.45, 0.55, 3, 5])
    c2 = detect_port_calls(t2, PORTS)
    assert c2.iloc[0]["stop_seen"]
    assert c2.iloc[0]["stop_h"] == pytest.approx(1.5)
    t3 = visit([10, 2, 1, 10], [5, 0.2, 0.2, 5])  # exactly 0.2 is not below 0.2
    assert not detect_port_calls(t3, PORTS, min_confidence=1).iloc[0]["stop_seen"]
    t4 = visit([10, 2, 1, 10], [5, 0.3, 0.3, 5])
    assert detect_port_calls(t4, PORTS, stop_start_kn=0.35).iloc[0]["stop_seen"]


def test_in_port_gap_is_part_of_the_call() -> None:
    t = visit([10, 2, 1, 1, 2, 10], [5, 1, 1, 1, 1, 5])
    ts = t["timestamp"].to_numpy().copy()
    t["timestamp"] = pd.to_datetime(ts, utc=True)
    t.loc[3:, "timestamp"] = t.loc[3:, "timestamp"] + pd.Timedelta(hours=4)  # 4.5 h silence
    c = detect_port_calls(t, PORTS)
    assert len(c) == 1
    r = c.iloc[0]
    assert r["gap_seen"] and not r["stop_seen"] and r["confidence"] == 4
    assert r["max_gap_h"] == pytest.approx(4.5)
    # below in_port_gap_h it is no gap event
    assert detect_port_calls(t, PORTS, in_port_gap_h=5.0).empty


def test_confidence_levels_with_unseen_entry_or_exit() -> None:
    # first report already in port: entry not seen; exit seen -> 3
    t = visit([1, 1, 2, 10], [0, 0, 3, 10])
    assert detect_port_calls(t, PORTS).iloc[0]["confidence"] == 3
    # arrival after a long silence: entry not seen (max_transition_h)
    t2 = visit([10, 1, 1, 10], [10, 0, 0, 10], step_h=5.0)
    r = detect_port_calls(t2, PORTS).iloc[0]
    assert not r["entry_seen"] and not r["exit_seen"] and r["confidence"] == 2
    r2 = detect_port_calls(t2, PORTS, max_transition_h=5.0).iloc[0]
    assert r2["entry_seen"] and r2["exit_seen"] and r2["confidence"] == 4


def test_many_vessels_two_ports_unsorted() -> None:
    a = visit([10, 2, 1, 2, 10], [5, 0, 0, 0, 5], mmsi=273000002)
    b = visit([10, 2, 1, 2, 10], [5, 0, 0, 0, 5], mmsi=422000001)
    b["lat"] = 1.0 - b["lat"]  # Q is at lat 1
    t = pd.concat([a, b]).sample(frac=1.0, random_state=3)
    c = detect_port_calls(t, PORTS)
    assert c[["mmsi", "port"]].values.tolist() == [[273000002, "P"], [422000001, "Q"]]
    assert c["flag_state"].tolist() == ["RU", "IR"]
    assert c["call_id"].is_unique


def test_empty() -> None:
    c = detect_port_calls(visit([10], [5]).iloc[:0], PORTS)
    assert c.empty and tuple(c.columns) == PORT_CALL_COLUMNS
    assert detect_port_calls(visit([100, 100], [5, 5]), PORTS).empty
