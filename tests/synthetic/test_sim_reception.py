"""Reception model: ITU reporting intervals and natural gaps with their causes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from caspian_ais.synthetic import simulate
from caspian_ais.synthetic.reception import report_interval_s


def _intervals(t: pd.DataFrame, status: int | None, moving: bool) -> np.ndarray:
    t = t.sort_values(["mmsi", "timestamp"])
    dt = t.groupby("mmsi")["timestamp"].diff().dt.total_seconds()
    sel = t["sog_kn"] > 3 if moving else t["sog_kn"] < 0.5
    if status is not None:
        sel &= t["nav_status"] == status
    prev_sel = sel.groupby(t["mmsi"]).shift(fill_value=False)
    return dt[sel & prev_sel].dropna().to_numpy()


def test_itu_rates() -> None:
    assert report_interval_s("A", np.array([True, False])).tolist() == [10, 180]
    assert report_interval_s("A", np.array([True]), np.array([18.0])).tolist() == [6]
    assert report_interval_s("B", np.array([True, False])).tolist() == [30, 180]


def test_unthinned_class_a_reports_every_10_s_under_way_and_3_min_moored() -> None:
    sc = simulate(
        n_vessels=4,
        days=1.5,
        start="2022-09-05",
        seed=2,
        thin_s=0,
        class_b_share=0.0,
        guarantee_behaviours=False,
    )
    t = sc.tracks
    assert abs(np.median(_intervals(t, 0, True)) - 10) <= 1  # reports carry a second of jitter
    assert abs(np.median(_intervals(t, 5, False)) - 180) <= 5


def test_unthinned_class_b_reports_every_30_s_moving_and_3_min_still() -> None:
    sc = simulate(
        n_vessels=3,
        days=1.5,
        start="2022-09-05",
        seed=2,
        thin_s=0,
        class_b_share=1.0,
        flag_mix={"RU": 1.0},
        guarantee_behaviours=False,
    )
    t = sc.tracks
    assert (t["ais_class"] == "B").all()
    assert abs(np.median(_intervals(t, None, True)) - 30) <= 5
    assert abs(np.median(_intervals(t, None, False)) - 180) <= 5


def test_thinned_to_one_report_a_minute(scenario) -> None:
    sc = simulate(
        n_vessels=4,
        days=2,
        start="2022-09-05",
        seed=2,
        thin_s=60,
        class_b_share=0.0,
        guarantee_behaviours=False,
    )
    assert abs(np.median(_intervals(sc.tracks, 0, True)) - 60) <= 5
    assert (
        abs(np.median(_intervals(scenario.tracks, 0, True)) - 300) <= 5
    )  # the fixture thins to 5 min


def test_natural_gaps_come_from_coverage_holes_and_outages(scenario) -> None:
    g = scenario.truth["reception_gaps"]
    assert {"coverage_hole", "station_outage"} <= set(g["cause"])
    assert (g["duration_h"] >= 2.0).all()
    assert (g.groupby("cause")["duration_h"].max() >= 4.0).all(), "multi-hour natural gaps"
    assert len(scenario.truth["outages"]) > 0
    long_out = scenario.truth["outages"]
    assert ((long_out["end_time"] - long_out["start_time"]) > pd.Timedelta("1D")).any()


def test_natural_gaps_match_the_rows_and_avoid_dark_spells(scenario) -> None:
    t = scenario.tracks
    g = scenario.truth["reception_gaps"]
    spells = scenario.truth["dark_spells"]
    ev = scenario.truth["events"]
    odd = set(ev.loc[ev["kind"].isin(["teleport", "shared_mmsi"]), "mmsi"])
    checked = 0
    for r in g[~g["mmsi"].isin(odd)].head(150).itertuples():
        rows = t[t["mmsi"] == r.mmsi]
        assert (rows["timestamp"] == r.start_time).any() and (rows["timestamp"] == r.end_time).any()
        inside = rows[(rows["timestamp"] > r.start_time) & (rows["timestamp"] < r.end_time)]
        assert inside.empty
        s = spells[spells["mmsi"] == r.mmsi]
        assert not ((s["start_time"] <= r.end_time) & (s["end_time"] >= r.start_time)).any()
        checked += 1
    assert checked > 20
