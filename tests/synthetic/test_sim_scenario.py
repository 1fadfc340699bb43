"""The simulated scenario: determinism, water, identities, truth consistency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.flags import flag_state_from_mmsi
from caspian_ais.geodesy import haversine_km
from caspian_ais.synthetic import TRUTH_TABLES, simulate
from caspian_ais.synthetic.behaviours import EVENT_KINDS, SPELL_KINDS
from caspian_ais.synthetic.fleet import imo_check_digit
from caspian_ais.water import on_water

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_same_seed_same_output_other_seed_other_output() -> None:
    a = simulate(n_vessels=6, days=5, start="2022-09-01", seed=4, thin_s=600)
    b = simulate(n_vessels=6, days=5, start="2022-09-01", seed=4, thin_s=600)
    c = simulate(n_vessels=6, days=5, start="2022-09-01", seed=5, thin_s=600)
    pd.testing.assert_frame_equal(a.tracks, b.tracks)
    for name in TRUTH_TABLES:
        pd.testing.assert_frame_equal(a.truth[name], b.truth[name])
    assert not a.tracks["mmsi"].equals(c.tracks["mmsi"]) or not a.tracks["lat"].equals(
        c.tracks["lat"]
    )


def test_output_does_not_depend_on_workers(tmp_path) -> None:
    from caspian_ais.io import read_ais
    from caspian_ais.synthetic import write_scenario

    kw = {"n_vessels": 20, "days": 3, "start": "2022-09-01", "seed": 8, "thin_s": 900}
    write_scenario(tmp_path / "one", workers=1, **kw)
    write_scenario(tmp_path / "two", workers=2, **kw)
    a = read_ais(tmp_path / "one" / "ais").drop(columns=["source_file", "source_row"])
    b = read_ais(tmp_path / "two" / "ais").drop(columns=["source_file", "source_row"])
    pd.testing.assert_frame_equal(a, b)


def test_tracks_are_canonical_and_in_water(scenario) -> None:
    t = scenario.tracks
    assert str(t["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert t["mmsi"].dtype == "int64"
    assert len(t) > 50_000
    ok = on_water(t["lat"].to_numpy(), t["lon"].to_numpy())
    # the only rows on land are the labelled ``on_land`` faults (synthetic.extras)
    ev = scenario.truth["events"]
    labelled = np.zeros(len(t), dtype=bool)
    for e in ev[ev["kind"] == "on_land"].itertuples():
        inside = t["timestamp"].between(e.start_time, e.end_time)
        labelled |= ((t["mmsi"] == e.mmsi) & inside).to_numpy()
    assert labelled.any()
    assert (ok | labelled).all(), t.loc[~ok & ~labelled, ["mmsi", "timestamp", "lat", "lon"]].head()
    assert not ok[labelled].any()


def test_identities(scenario) -> None:
    v = scenario.truth["vessels"]
    from caspian_ais.synthetic.extras import DEFAULT_MMSIS

    default = v["mmsi"].isin(DEFAULT_MMSIS)  # labelled ``default_mmsi`` ships
    ev = scenario.truth["events"]
    assert set(v.loc[default, "mmsi"]) == set(ev.loc[ev["kind"] == "default_mmsi", "mmsi"])
    v = v[~default]
    assert set(v["mmsi"] // 1_000_000) <= {273, 422, 436, 423, 434}
    real = v[v["role"] != "ghost"]
    assert real["mmsi"].is_unique
    imo = real["imo"].dropna().astype("int64").to_numpy()
    assert ((imo >= 1_000_000) & (imo <= 1_999_999)).all()
    assert (imo % 10 == imo_check_digit(imo // 10)).all()
    assert (flag_state_from_mmsi(v["mmsi"]).to_numpy() == v["flag_state"].to_numpy()).all()
    assert set(v["ship_type"]) <= {60, 70, 80}
    assert (v["service_speed_kn"].between(8, 12)).all()
    t = scenario.tracks
    under_way = t[(t["nav_status"] == 0) & (t["sog_kn"] > 4)]
    assert under_way["sog_kn"].between(4, 13.5).all()


def test_truth_tables_have_their_columns(scenario) -> None:
    tr = scenario.truth
    assert set(tr) == set(TRUTH_TABLES)
    assert {
        "event_id",
        "mmsi",
        "kind",
        "port",
        "start_time",
        "end_time",
        "other_mmsi",
        "lat",
        "lon",
        "detail",
    } <= set(tr["events"].columns)
    assert {
        "mmsi",
        "start_time",
        "end_time",
        "kind",
        "port",
        "event_id",
        "switch_off_lat",
        "switch_off_lon",
        "switch_on_lat",
        "switch_on_lon",
    } <= set(tr["dark_spells"].columns)
    assert {"station_id", "lat", "lon", "range_km", "start_time", "end_time"} <= set(
        tr["outages"].columns
    )
    assert {"mmsi", "start_time", "end_time", "cause", "duration_h"} <= set(
        tr["reception_gaps"].columns
    )
    assert set(tr["events"]["kind"]) <= set(EVENT_KINDS)
    assert set(tr["dark_spells"]["kind"]) <= set(SPELL_KINDS)
    assert tr["events"]["event_id"].is_unique
    assert set(tr["dark_spells"]["event_id"]) <= set(tr["events"]["event_id"])
    assert (tr["dark_spells"]["end_time"] > tr["dark_spells"]["start_time"]).all()


def test_every_behaviour_is_present(scenario) -> None:
    kinds = set(scenario.truth["events"]["kind"])
    assert kinds == set(EVENT_KINDS)


def _rows_inside(t: pd.DataFrame, mmsi: int, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
    return t[(t["mmsi"] == mmsi) & (t["timestamp"] >= a) & (t["timestamp"] <= b)]


def test_no_rows_inside_dark_spells(scenario) -> None:
    t = scenario.tracks
    for s in scenario.truth["dark_spells"].itertuples():
        inside = _rows_inside(t, s.mmsi, s.start_time, s.end_time)
        assert inside.empty, f"{len(inside)} rows inside spell {s.event_id}"


def test_spells_do_not_overlap_per_vessel(scenario) -> None:
    for _, g in scenario.truth["dark_spells"].sort_values("start_time").groupby("vessel_id"):
        assert (g["start_time"].iloc[1:].to_numpy() > g["end_time"].iloc[:-1].to_numpy()).all()


def test_sts_meetings_pair_up_within_500_m(scenario) -> None:
    ev = scenario.truth["events"]
    sts = ev[ev["kind"] == "sts_meeting"]
    assert len(sts) >= 2 and len(sts) % 2 == 0
    spells = scenario.truth["dark_spells"]
    for e in sts.itertuples():
        other = sts[
            (sts["mmsi"] == e.other_mmsi)
            & (sts["other_mmsi"] == e.mmsi)
            & (sts["end_time"] == e.end_time)
        ]
        assert len(other) == 1
        d = haversine_km(e.lat, e.lon, other["lat"].iloc[0], other["lon"].iloc[0])
        assert float(d) < 0.5
        pair = {e.event_id, other["event_id"].iloc[0]}
        if "both transmitting" in e.detail:  # visible meetings (synthetic.extras)
            assert not spells["event_id"].isin(pair).any()
        else:
            assert spells["event_id"].isin(pair).any(), "at least one side is dark"


def test_data_faults_are_in_the_rows(scenario) -> None:
    t = scenario.tracks.reset_index(drop=True)
    ev = scenario.truth["events"]
    dup = ev[ev["kind"] == "duplicates"]
    found = 0
    for e in dup.itertuples():
        r = _rows_inside(t, e.mmsi, e.start_time, e.end_time)
        found += int(r.duplicated(subset=["timestamp", "lat", "lon", "sog_kn"]).sum())
    assert found > 0
    ooo = ev[ev["kind"] == "out_of_order"]
    late = 0
    for e in ooo.itertuples():
        g = t[t["mmsi"] == e.mmsi]
        late += int((g["timestamp"].diff() < pd.Timedelta(0)).sum())
    assert late > 0
    sh = ev[ev["kind"] == "shared_mmsi"].iloc[0]
    r = _rows_inside(t, sh.mmsi, sh.start_time, sh.end_time).sort_values("timestamp")
    d = haversine_km(
        r["lat"].to_numpy()[:-1],
        r["lon"].to_numpy()[:-1],
        r["lat"].to_numpy()[1:],
        r["lon"].to_numpy()[1:],
    )
    dt_h = np.diff(r["timestamp"].to_numpy()).astype("timedelta64[s]").astype(float) / 3600
    assert (d / np.maximum(dt_h, 1 / 60) > 60 / 1.852 * 1.852).any(), "two ships on one MMSI jump"


def test_draught_changes_across_port_calls(scenario) -> None:
    t = scenario.tracks
    ev = scenario.truth["events"]
    calls = ev[
        (ev["kind"] == "port_call")
        & (ev["start_time"] > t["timestamp"].min() + pd.Timedelta("1D"))
        & (ev["end_time"] < t["timestamp"].max() - pd.Timedelta("1D"))
    ]
    changed = 0
    for c in calls.head(60).itertuples():
        g = t[t["mmsi"] == c.mmsi]
        before = g[g["timestamp"] < c.start_time]["draught_m"].dropna()
        after = g[g["timestamp"] > c.end_time]["draught_m"].dropna()
        if len(before) and len(after):
            changed += int(before.iloc[-1] != after.iloc[0])
    assert changed >= 10


def test_fault_rows_lie_inside_their_events(scenario) -> None:
    t = scenario.tracks
    ev = scenario.truth["events"]
    for e in ev[ev["kind"] == "teleport"].itertuples():
        g = t[t["mmsi"] == e.mmsi]
        near = haversine_km(g["lat"].to_numpy(), g["lon"].to_numpy(), e.lat, e.lon) < 1.0
        assert near.any()
        ts = g.loc[near, "timestamp"]
        assert ((ts >= e.start_time) & (ts <= e.end_time)).all()
    dups = ev[ev["kind"] == "duplicates"]
    for m, g in t[t.duplicated(keep=False)].groupby("mmsi"):
        d = dups[dups["mmsi"] == m]
        inside = np.zeros(len(g), dtype=bool)
        for e in d.itertuples():
            inside |= ((g["timestamp"] >= e.start_time) & (g["timestamp"] <= e.end_time)).to_numpy()
        assert inside.all(), f"duplicated rows of {m} outside its duplicates events"
