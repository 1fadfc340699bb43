"""Summary tables: monthly counts, watch list, port table, against independent groupbys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.report import gap_ports, monthly_summary, port_table, watch_list

MID_FLAG = {"273": "RU", "422": "IR", "436": "KZ", "423": "AZ", "434": "TM"}


def _flag(mmsi: pd.Series) -> pd.Series:
    return mmsi.astype(str).str[:3].map(MID_FLAG)


def _month(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m")


def test_monthly_by_flag_matches_independent_groupby(scenario):
    gaps, dark = scenario.gaps, scenario.dark_port_calls
    assert "flag_state" not in gaps.columns  # the flag must come from the MMSI
    got = monthly_summary(gaps, dark)
    assert list(got.columns) == [
        "month",
        "flag_state",
        "gaps",
        "vessels",
        "hours_dark",
        "suspicious_gaps",
        "suspicious_hours_dark",
        "dark_port_calls",
    ]
    assert str(got["month"].dtype) == "period[M]"

    g = gaps.assign(month=_month(gaps["start_time"]), flag=_flag(gaps["mmsi"]))
    exp = g.groupby(["month", "flag"]).agg(
        gaps=("mmsi", "size"),
        vessels=("mmsi", "nunique"),
        hours_dark=("duration_h", "sum"),
        suspicious_gaps=("suspicious", "sum"),
    )
    exp["suspicious_hours_dark"] = g[g["suspicious"]].groupby(["month", "flag"])["duration_h"].sum()
    d = dark.assign(month=_month(dark["start_time"]), flag=_flag(dark["mmsi"]))
    exp["dark_port_calls"] = d.groupby(["month", "flag"]).size()
    exp = exp.fillna(0).sort_index()

    got_i = (
        got.assign(month=got["month"].astype(str)).set_index(["month", "flag_state"]).sort_index()
    )
    assert got_i.index.tolist() == exp.index.tolist()
    for col in ("gaps", "vessels", "suspicious_gaps", "dark_port_calls"):
        np.testing.assert_array_equal(
            got_i[col].to_numpy(dtype="int64"), exp[col].to_numpy(dtype="int64"), col
        )
    for col in ("hours_dark", "suspicious_hours_dark"):
        np.testing.assert_allclose(
            got_i[col].to_numpy(dtype=float), exp[col].to_numpy(dtype=float), err_msg=col
        )
    # nothing lost, nothing counted twice
    assert got["gaps"].sum() == len(gaps)
    assert got["dark_port_calls"].sum() == len(dark)
    assert got["hours_dark"].sum() == pytest.approx(gaps["duration_h"].sum())


def test_monthly_gap_counts_in_month_it_started():
    gaps = pd.DataFrame(
        {
            "mmsi": [273000001, 273000001],
            "start_time": pd.to_datetime(["2022-09-30T20:00Z", "2022-10-02T00:00Z"]),
            "end_time": pd.to_datetime(["2022-10-01T08:00Z", "2022-10-02T10:00Z"]),
        }
    )
    got = monthly_summary(gaps, by=())
    assert got["month"].astype(str).tolist() == ["2022-09", "2022-10"]
    assert got["gaps"].tolist() == [1, 1]
    # no duration_h column: hours come from end - start; the whole gap counts at its start
    assert got["hours_dark"].tolist() == [12.0, 10.0]


def test_monthly_without_suspicious_or_dark_calls_is_missing_not_zero(scenario):
    gaps = scenario.gaps.drop(columns=["suspicious", "reason"])
    got = monthly_summary(gaps)
    assert got["suspicious_gaps"].isna().all()
    assert got["suspicious_hours_dark"].isna().all()
    assert got["dark_port_calls"].isna().all()
    assert got["gaps"].sum() == len(gaps)


def test_monthly_by_port_uses_switch_off_position(scenario):
    gaps, dark, ports = scenario.gaps, scenario.dark_port_calls, scenario.ports
    got = monthly_summary(gaps, dark, by=("port",), ports=ports)
    per_port = got.groupby("port")[["gaps", "dark_port_calls"]].sum()
    # the mid-sea receiver outages of the Kazakh vessel are at sea, the switch-offs at ports
    kz = gaps["mmsi"].astype(str).str.startswith("436")
    assert per_port.loc["open sea", "gaps"] == kz.sum()
    assert per_port["gaps"].sum() == len(gaps)
    exp_dark = dark.groupby("port").size()
    for port, n in exp_dark.items():
        assert per_port.loc[port, "dark_port_calls"] == n


def test_monthly_by_ship_category_and_flag_group(scenario):
    gaps = scenario.gaps.copy()
    gaps["ship_type"] = np.where(gaps["mmsi"] == 436000101, 80, 70)
    got = monthly_summary(gaps, scenario.dark_port_calls, by=("ship_category",))
    totals = got.groupby("ship_category")["gaps"].sum()
    assert totals.to_dict() == {
        "cargo": int((gaps["ship_type"] == 70).sum()),
        "tanker": int((gaps["ship_type"] == 80).sum()),
    }
    # dark calls get the ship type of their vessel from the gap table
    assert got.groupby("ship_category")["dark_port_calls"].sum()["cargo"] == len(
        scenario.dark_port_calls
    )
    fg = monthly_summary(gaps, by="flag_group")
    assert set(fg["flag_group"]) == {"RU", "IR", "other flags"}


def test_monthly_unknown_key_raises(scenario):
    with pytest.raises(KeyError, match="cannot group by"):
        monthly_summary(scenario.gaps, by=("no_such_column",))


def test_gap_ports_prefers_detector_columns():
    gaps = pd.DataFrame(
        {
            "start_lat": [0.0, 0.0, 0.0],
            "start_lon": [0.0, 0.0, 0.0],
            "start_port": ["Aktau", "Baku", "Baku"],
            "start_port_km": [10.0, 80.0, 80.0],
            "end_port": ["Aktau", "Kuryk", "Kuryk"],
            "end_port_km": [10.0, 20.0, 70.0],
        }
    )
    assert gap_ports(gaps, port_radius_km=50).tolist() == ["Aktau", "Kuryk", "open sea"]


def test_watch_list_is_ranked_with_identity(scenario):
    wl = watch_list(scenario.gaps, scenario.dark_port_calls, tracks=scenario.tracks)
    assert wl["rank"].tolist() == list(range(1, len(wl) + 1))
    assert wl["suspicious_hours_dark"].is_monotonic_decreasing
    assert set(wl["mmsi"]) == set(scenario.gaps["mmsi"])
    # identity from the tracks
    row = wl.set_index("mmsi").loc[273310001]
    assert row["name"] == "VOLGA-DON 5071"
    assert row["imo"] == 8951798
    assert row["flag_state"] == "RU"
    assert row["ship_type"] == 70
    # counts against groupbys
    exp_calls = scenario.dark_port_calls.groupby("mmsi").size()
    got_calls = wl.set_index("mmsi")["dark_port_calls"]
    for mmsi, n in exp_calls.items():
        assert got_calls[mmsi] == n
    exp_hours = scenario.gaps.groupby("mmsi")["duration_h"].sum()
    np.testing.assert_allclose(wl.set_index("mmsi").loc[exp_hours.index, "hours_dark"], exp_hours)
    assert row["dark_call_ports"] == f"Bandar Anzali ({exp_calls[273310001]})"
    # the vessel that only lost reception ranks below every dark caller
    assert wl["mmsi"].iloc[-1] == 436000101
    assert wl.loc[wl["mmsi"] == 436000101, "suspicious_gaps"].item() == 0


def test_watch_list_top_and_without_suspicious_column():
    gaps = pd.DataFrame(
        {
            "mmsi": [273000001, 422000001, 422000001, 436000001],
            "start_time": pd.to_datetime(
                ["2023-06-02", "2023-06-09", "2023-07-01", "2023-07-03"], utc=True
            ),
            "duration_h": [10.0, 7.5, 20.0, 10.0],
        }
    )
    wl = watch_list(gaps)
    assert wl["mmsi"].tolist() == [422000001, 273000001, 436000001]  # 27.5 h, then tie 10 h by MMSI
    assert wl["suspicious_hours_dark"].isna().all()
    assert wl["flag_state"].tolist() == ["IR", "RU", "KZ"]
    assert wl["name"].isna().all()
    assert len(watch_list(gaps, top=2)) == 2


def test_watch_list_ties_broken_by_dark_calls():
    gaps = pd.DataFrame(
        {
            "mmsi": [273000001, 273000002],
            "start_time": pd.to_datetime(["2023-06-02", "2023-06-09"], utc=True),
            "duration_h": [10.0, 10.0],
            "suspicious": [True, True],
        }
    )
    dark = pd.DataFrame(
        {
            "mmsi": [273000002],
            "port": ["Astrakhan"],
            "start_time": pd.to_datetime(["2023-06-09"], utc=True),
        }
    )
    assert watch_list(gaps, dark)["mmsi"].tolist() == [273000002, 273000001]


def test_watch_list_accepts_trajectory_collection(scenario):
    from caspian_ais.trajectories import to_trajectories

    small = scenario.tracks[scenario.tracks["mmsi"].isin([273310001, 422010002])]
    tc = to_trajectories(small, gaps=scenario.gaps)
    wl = watch_list(scenario.gaps, scenario.dark_port_calls, tracks=tc)
    names = wl.set_index("mmsi")["name"]
    assert names[273310001] == "VOLGA-DON 5071"
    assert names[422010002] == "PARSA"


def test_port_table_counts(scenario):
    pt = port_table(scenario.port_calls, scenario.dark_port_calls, ports=scenario.ports)
    assert list(pt.columns[:6]) == [
        "port",
        "country",
        "unlocode",
        "visible_calls",
        "dark_calls",
        "dark_share",
    ]
    t = pt.set_index("port")
    vis = scenario.port_calls.groupby("port").size()
    dark = scenario.dark_port_calls.groupby("port").size()
    for port in scenario.ports["port"]:
        assert t.loc[port, "visible_calls"] == vis.get(port, 0)
        assert t.loc[port, "dark_calls"] == dark.get(port, 0)
        total = vis.get(port, 0) + dark.get(port, 0)
        assert t.loc[port, "dark_share"] == pytest.approx(dark.get(port, 0) / total)
    assert t.loc["Bandar Anzali", "country"] == "IR"
    assert pt["dark_calls"].is_monotonic_decreasing
    assert t.loc["Bandar Anzali", "dark_call_flags"] == "IR 11, RU 11"
    assert t.loc["Astrakhan", "dark_call_flags"] == ""


def test_port_table_lists_every_gazetteer_port_and_marks_missing_tables():
    from caspian_ais.report.tables import default_ports

    ports = default_ports()
    dark = pd.DataFrame(
        {
            "mmsi": [273000001],
            "port": ["Bandar Anzali"],
            "start_time": pd.to_datetime(["2023-06-01"], utc=True),
            "end_time": pd.to_datetime(["2023-06-02"], utc=True),
        }
    )
    pt = port_table(None, dark)
    assert set(ports["port"]) <= set(pt["port"])
    assert pt["visible_calls"].isna().all()
    assert pt.loc[pt["port"] == "Bandar Anzali", "dark_calls"].item() == 1
    assert pt.loc[pt["port"] == "Bandar Anzali", "median_dark_call_h"].item() == 24.0
    only = port_table(None, dark, ports=False)
    assert only["port"].tolist() == ["Bandar Anzali"]
