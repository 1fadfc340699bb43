"""Loitering: boundaries of every threshold, splitting, and the simulator's labelled episodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.loitering import LOITERING_COLUMNS, detect_loitering

T0 = pd.Timestamp("2022-09-01 00:00", tz="UTC")
LAT, LON = 42.0, 50.0
M_PER_DEG = 111_195.0
PORT = pd.DataFrame({"port": ["P"], "lat": [LAT], "lon": [LON + 1.0]})  # ~83 km east


def drift(hours: float = 5.0, sog: float = 0.3, step_min: float = 10.0, lat: float = LAT,
          lon: float = LON, mmsi: int = 273000001) -> pd.DataFrame:
    n = int(round(hours * 60 / step_min)) + 1
    t = T0 + pd.to_timedelta(np.arange(n) * step_min, unit="min")
    # drift north at the reported speed
    la = lat + np.arange(n) * step_min / 60 * sog * 1852 / M_PER_DEG
    return pd.DataFrame({"mmsi": mmsi, "timestamp": t, "lat": la, "lon": lon, "sog_kn": sog})


def run(t: pd.DataFrame, **kw) -> pd.DataFrame:
    kw.setdefault("anchorages", False)
    return detect_loitering(t, PORT, **kw)


def test_columns_and_values() -> None:
    lo = run(drift())
    assert list(lo.columns) == list(LOITERING_COLUMNS)
    r = lo.iloc[0]
    assert r.duration_h == pytest.approx(5.0)
    assert r.mean_speed_kn == pytest.approx(0.3)
    assert r.n_positions == 31
    assert r.loitering_id == f"273000001-{T0.value // 10**9}"
    assert str(lo["start_time"].dtype) == "datetime64[ns, UTC]"
    assert r.port_distance_km > 20 and r.nearest_port == "P"


@pytest.mark.parametrize(("hours", "found"), [(4.0, True), (4.0 - 10 / 60, False)])
def test_min_duration_h_is_inclusive(hours: float, found: bool) -> None:
    assert (len(run(drift(hours=hours))) == 1) is found


@pytest.mark.parametrize(("sog", "found"), [(1.9, True), (2.0, False)])
def test_max_mean_speed_kn_is_strict(sog: float, found: bool) -> None:
    assert (len(run(drift(sog=sog))) == 1) is found


@pytest.mark.parametrize(("km", "found"), [(19.8, False), (20.2, True)])
def test_min_port_distance_km_boundary(km: float, found: bool) -> None:
    lon = PORT["lon"].iat[0] - km / (M_PER_DEG / 1000 * np.cos(np.radians(LAT)))
    assert (len(run(drift(sog=0.0, lon=lon))) == 1) is found


def test_thresholds_are_parameters() -> None:
    t = drift(hours=3.0, sog=2.5)
    assert run(t).empty
    assert len(run(t, min_duration_h=3.0, max_mean_speed_kn=3.0)) == 1


def test_a_fast_stretch_or_a_long_silence_splits_the_episode() -> None:
    a = drift(hours=5.0)
    b = drift(hours=5.0).assign(timestamp=lambda d: d["timestamp"] + pd.Timedelta(hours=12))
    lo = run(pd.concat([a, b]))
    assert len(lo) == 2  # 7 h of silence > max_gap_h = 6 h
    assert len(run(pd.concat([a, b]), max_gap_h=8.0)) == 1


def test_a_voyage_hidden_in_a_silence_is_not_loitering() -> None:
    # slow reports before and after a 5 h silence, but 60 km apart (12 kn across it)
    a = drift(hours=2.0)
    b = drift(hours=2.0, lat=LAT + 60 / 111.195).assign(
        timestamp=lambda d: d["timestamp"] + pd.Timedelta(hours=7))
    assert run(pd.concat([a, b])).empty


@pytest.mark.parametrize(("silence_s", "found"), [(3600, False), (3601, True)])
def test_a_long_step_moves_at_its_implied_speed(silence_s: int, found: bool) -> None:
    # 3 h drifting, then heard again at the same place after a silence, already under way
    # (leaving): over a step of at most max_sog_step_h = 1 h the mean of the two reported
    # speeds (5.1 kn) counts, over a longer one the implied speed (0 kn)
    a = drift(hours=3.0)
    last = a.iloc[[-1]].assign(timestamp=a["timestamp"].iat[-1] + pd.Timedelta(seconds=silence_s),
                               sog_kn=9.9)
    lo = run(pd.concat([a, last], ignore_index=True))
    assert (len(lo) == 1) is found
    if found:
        assert lo["duration_h"].iat[0] == pytest.approx(4.0 + 1 / 3600)
        assert lo["mean_speed_kn"].iat[0] < 0.3


@pytest.mark.parametrize(("sog", "found"), [(2.0, False), (1.99, True)])
def test_a_long_step_under_way_at_both_ends_is_no_stop(sog: float, found: bool) -> None:
    # heard at the same place 5 h apart: a stop only if reported slower than 2 kn at one
    # end (else it may have gone somewhere and come back: a port call in a silence)
    t = pd.DataFrame({"mmsi": 273000001, "timestamp": [T0, T0 + pd.Timedelta(hours=5)],
                      "lat": LAT, "lon": LON, "sog_kn": [sog, 11.0]})
    assert (len(run(t)) == 1) is found


def test_max_sog_step_h_is_a_parameter() -> None:
    a = drift(hours=3.0)
    last = a.iloc[[-1]].assign(timestamp=a["timestamp"].iat[-1] + pd.Timedelta(hours=1.5),
                               sog_kn=9.9)
    t = pd.concat([a, last], ignore_index=True)
    assert len(run(t)) == 1
    assert run(t, max_sog_step_h=2.0).empty


def test_anchorages_and_ports_are_excluded() -> None:
    mine = pd.DataFrame({"name": ["here"], "lat": [LAT], "lon": [LON], "radius_km": [5.0]})
    assert run(drift(), anchorages=mine).empty
    # default anchorages include every port's roadstead
    assert detect_loitering(drift(), PORT).shape[0] == 1


def test_several_vessels_at_once_and_order_invariance() -> None:
    t = pd.concat([drift(), drift(mmsi=422000002, lon=LON + 0.3)], ignore_index=True)
    a = run(t)
    b = run(t.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(a, b)
    assert set(a["mmsi"]) == {273000001, 422000002}


def test_uses_implied_speed_without_sog() -> None:
    t = drift(sog=0.5).drop(columns="sog_kn")
    lo = run(t)
    assert len(lo) == 1 and lo["mean_speed_kn"].iat[0] == pytest.approx(0.5, rel=0.02)


@pytest.fixture(scope="module")
def scenario():
    from caspian_ais import clean
    from caspian_ais.synthetic import simulate

    sc = simulate(n_vessels=12, days=40, start="2022-08-10", seed=4, thin_s=120)
    return sc, clean(sc.tracks).tracks


def test_finds_the_simulated_loitering(scenario) -> None:
    sc, tracks = scenario
    ev = sc.truth["events"]
    truth = ev[ev["kind"] == "loitering"]
    assert len(truth) >= 1
    lo = detect_loitering(tracks)
    for e in truth.itertuples():
        hit = lo[(lo["mmsi"] == e.mmsi) & (lo["start_time"] < e.end_time)
                 & (lo["end_time"] > e.start_time)]
        assert len(hit) == 1, e.event_id
    # every detection is a labelled loitering or ship-to-ship meeting
    ok = ev[ev["kind"].isin(["loitering", "sts_meeting"])]
    for d in lo.itertuples():
        m = ok[(ok["mmsi"] == d.mmsi) & (ok["start_time"] < d.end_time)
               & (ok["end_time"] > d.start_time)]
        assert len(m), d.loitering_id


def test_a_vessels_episodes_do_not_depend_on_the_other_vessels(scenario) -> None:
    # the batch engine finds them partition by partition: the same values, to the bit
    _, tracks = scenario
    whole = detect_loitering(tracks, anchorages=False, min_port_distance_km=0.0)
    assert len(whole) > 10
    parts = [detect_loitering(tracks[tracks["mmsi"] % 3 == k], anchorages=False,
                              min_port_distance_km=0.0) for k in range(3)]
    merged = pd.concat(parts, ignore_index=True).sort_values(
        ["start_time", "mmsi"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, merged, check_exact=True)


def test_longer_episodes_are_a_subset_of_shorter_ones(scenario) -> None:
    # analyze() computes the loitering of the rendezvous' visible side (>= 1 h) once and
    # keeps the episodes of at least 4 h for the loitering table
    _, tracks = scenario
    short = detect_loitering(tracks, min_duration_h=1.0)
    long = detect_loitering(tracks)
    pd.testing.assert_frame_equal(
        long, short[short["duration_h"] >= 4.0 - 1e-9].reset_index(drop=True))
