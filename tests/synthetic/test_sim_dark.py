"""Labelled dark behaviours: where AIS goes off and on, the canal, the monthly profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.geodesy import haversine_km
from caspian_ais.ports import approach_membership, load_ports, port_index, volga_canal
from caspian_ais.synthetic import SimulationParams, dark_share
from caspian_ais.synthetic.behaviours import plan_scenario
from caspian_ais.synthetic.routes import sea_lanes
from caspian_ais.water import canal_corridor

PORTS = load_ports()


def test_dark_port_calls_at_anzali_amirabad_astrakhan(scenario) -> None:
    spells = scenario.truth["dark_spells"]
    dpc = spells[spells["kind"] == "dark_port_call"]
    assert {"Bandar Anzali", "Bandar Amirabad", "Astrakhan"} <= set(dpc["port"])


@pytest.mark.parametrize("side", ["switch_off", "switch_on"])
def test_dark_port_calls_switch_in_the_approaches(scenario, side: str) -> None:
    spells = scenario.truth["dark_spells"]
    for kind in ("dark_port_call", "dark_round_trip"):
        s = spells[spells["kind"] == kind]
        lat, lon = s[f"{side}_lat"].to_numpy(), s[f"{side}_lon"].to_numpy()
        member = approach_membership(lat, lon, PORTS)
        j = np.array([port_index(p, PORTS) for p in s["port"]])
        assert member[np.arange(len(s)), j].all()
        d = haversine_km(lat, lon, PORTS["lat"].to_numpy()[j], PORTS["lon"].to_numpy()[j])
        assert (d > PORTS["area_radius_km"].to_numpy()[j] + 1.0).all(), "outside the port area"


def test_dark_port_call_has_a_stay_with_a_draught_change(scenario) -> None:
    ev = scenario.truth["events"]
    t = scenario.tracks
    dpc = ev[ev["kind"] == "dark_port_call"]
    assert dpc["port_entry_time"].notna().all()
    assert (dpc["port_entry_time"] > dpc["start_time"]).all()
    assert (dpc["port_exit_time"] < dpc["end_time"]).all()
    stay_h = (dpc["port_exit_time"] - dpc["port_entry_time"]).dt.total_seconds() / 3600
    assert (stay_h >= 12).all()
    changed = []
    for e in dpc.itertuples():
        g = t[t["mmsi"] == e.mmsi]
        before = g[g["timestamp"] < e.start_time]["draught_m"].dropna()
        after = g[g["timestamp"] > e.end_time]["draught_m"].dropna()
        if len(before) and len(after):
            changed.append(before.iloc[-1] != after.iloc[0])
    assert changed and all(changed)


def test_berth_blackout_is_inside_a_visible_port_call(scenario) -> None:
    ev = scenario.truth["events"]
    t = scenario.tracks
    seen = n = 0
    for b in ev[ev["kind"] == "berth_blackout"].itertuples():
        call = ev[
            (ev["kind"] == "port_call")
            & (ev["mmsi"] == b.mmsi)
            & (ev["start_time"] < b.start_time)
            & (ev["end_time"] > b.end_time)
        ]
        assert len(call) == 1
        g = t[
            (t["mmsi"] == b.mmsi)
            & (t["timestamp"] >= call["start_time"].iloc[0])
            & (t["timestamp"] <= call["end_time"].iloc[0])
        ]
        seen += int((g["timestamp"] < b.start_time).any() and (g["timestamp"] > b.end_time).any())
        n += 1
    # rows on both sides of the blackout unless reception failed there too (a station outage)
    assert n >= 1 and seen >= n / 2


def test_astrakhan_tracks_follow_the_canal_past_olya(scenario) -> None:
    t = scenario.tracks
    ev = scenario.truth["events"]
    olya = PORTS.loc[port_index("Olya", PORTS)]
    visitors = ev[(ev["port"] == "Astrakhan") & (ev["kind"] == "port_call")]["mmsi"].unique()
    assert len(visitors) >= 1
    # north of the canal's sea end, every row is in the canal corridor (but the rows
    # labelled as positions on land, caspian_ais.synthetic.extras)
    for e in ev[ev["kind"] == "on_land"].itertuples():
        t = t[~((t["mmsi"] == e.mmsi) & t["timestamp"].between(e.start_time, e.end_time))]
    north = t[(t["lat"] > 44.9) & (t["lon"] < 48.5)]
    assert len(north) > 100
    import shapely

    assert shapely.contains_xy(
        canal_corridor(), north["lon"].to_numpy(), north["lat"].to_numpy()
    ).all()
    passed = 0
    for m in visitors:
        g = t[t["mmsi"] == m]
        d = haversine_km(g["lat"].to_numpy(), g["lon"].to_numpy(), olya["lat"], olya["lon"])
        passed += int((d < 4.0).any())
    assert passed >= 1
    sea_end = volga_canal().coords[-1]
    assert (
        haversine_km(t["lat"].to_numpy(), t["lon"].to_numpy(), sea_end[1], sea_end[0]) < 5
    ).any()


def test_dark_share_jumps_between_august_and_september_2022() -> None:
    assert dark_share("2022-09") >= 4 * dark_share("2022-08")
    plan = plan_scenario(
        240,
        pd.Timestamp("2022-07-01", tz="UTC"),
        pd.Timestamp("2022-11-01", tz="UTC"),
        3,
        SimulationParams(guarantee_behaviours=False),
        sea_lanes(),
    )
    s = plan.spells
    ru = s[(s["mmsi"] // 1_000_000 == 273)]
    per_month = ru.groupby(ru["start_time"].dt.month).size()
    assert per_month.get(9, 0) >= 2.5 * max(per_month.get(8, 0), 1)
    assert per_month.get(10, 0) >= 2.5 * max(per_month.get(7, 0), 1)


def test_dark_profile_is_a_parameter() -> None:
    flat = {"2000-01": 0.2}
    plan = plan_scenario(
        120,
        pd.Timestamp("2022-07-01", tz="UTC"),
        pd.Timestamp("2022-11-01", tz="UTC"),
        3,
        SimulationParams(guarantee_behaviours=False, dark_share_by_month=flat),
        sea_lanes(),
    )
    per_month = plan.spells.groupby(plan.spells["start_time"].dt.month).size()
    assert per_month.get(9, 0) < 2.5 * max(per_month.get(8, 0), 1)
