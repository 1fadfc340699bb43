"""Encounters: boundaries of every threshold, invariances, and the simulator's meetings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.encounters import ENCOUNTER_COLUMNS, default_anchorages, detect_encounters

T0 = pd.Timestamp("2022-09-01 00:00", tz="UTC")
LAT, LON = 42.0, 50.0  # mid-Caspian, > 100 km from every port
M_PER_DEG = 111_195.0
PORT = pd.DataFrame({"port": ["P"], "lat": [LAT], "lon": [LON + 1.0]})  # ~83 km east


def pair(hours: float = 3.0, gap_m: float = 300.0, sog: float = 0.3, step_min: float = 10.0,
         lat: float = LAT, lon: float = LON) -> pd.DataFrame:
    """Two vessels lying still ``gap_m`` apart (north-south) for ``hours``."""
    n = int(round(hours * 60 / step_min)) + 1
    t = T0 + pd.to_timedelta(np.arange(n) * step_min, unit="min")
    a = pd.DataFrame({"mmsi": 273000001, "timestamp": t, "lat": lat, "lon": lon, "sog_kn": sog})
    b = a.assign(mmsi=422000002, lat=lat + gap_m / M_PER_DEG)
    return pd.concat([a, b], ignore_index=True)


def run(t: pd.DataFrame, **kw) -> pd.DataFrame:
    kw.setdefault("anchorages", False)
    return detect_encounters(t, PORT, **kw)


def test_columns_units_and_stable_id() -> None:
    e = run(pair())
    assert list(e.columns) == list(ENCOUNTER_COLUMNS)
    assert len(e) == 1
    r = e.iloc[0]
    assert (r.mmsi_a, r.mmsi_b) == (273000001, 422000002)
    assert r.duration_h == pytest.approx(3.0)
    assert r.median_distance_m == pytest.approx(300.0, rel=0.01)
    assert str(e["start_time"].dtype) == "datetime64[ns, UTC]"
    assert r.encounter_id == f"273000001-422000002-{T0.value // 10**9}"
    assert r.flag_state_a == "RU" and r.flag_state_b == "IR"


@pytest.mark.parametrize(("gap_m", "found"), [(495.0, True), (505.0, False)])
def test_max_distance_m_boundary(gap_m: float, found: bool) -> None:
    assert (len(run(pair(gap_m=gap_m))) == 1) is found


@pytest.mark.parametrize(("hours", "found"), [(2.0, True), (2.0 - 10 / 60, False)])
def test_min_duration_h_is_inclusive(hours: float, found: bool) -> None:
    assert (len(run(pair(hours=hours))) == 1) is found


@pytest.mark.parametrize(("sog", "found"), [(1.9, True), (2.0, False)])
def test_max_median_speed_kn_is_strict(sog: float, found: bool) -> None:
    assert (len(run(pair(sog=sog))) == 1) is found


@pytest.mark.parametrize(("km", "found"), [(9.8, False), (10.2, True)])
def test_min_port_distance_km_boundary(km: float, found: bool) -> None:
    lon = PORT["lon"].iat[0] - km / (M_PER_DEG / 1000 * np.cos(np.radians(LAT)))
    e = run(pair(lon=lon, gap_m=0.1))
    assert (len(e) == 1) is found
    if found:
        assert e["port_distance_km"].iat[0] == pytest.approx(km, abs=0.05)


def test_thresholds_are_parameters() -> None:
    t = pair(gap_m=800.0, hours=1.5, sog=2.5)
    assert run(t).empty
    e = run(t, max_distance_m=1000, min_duration_h=1.5, max_median_speed_kn=3)
    assert len(e) == 1


def test_anchorages_are_excluded() -> None:
    anch = default_anchorages(PORT)
    assert "Volga-Caspian canal roadstead" in set(anch["name"])
    # a disc around the encounter excludes it
    mine = pd.DataFrame({"name": ["here"], "lat": [LAT], "lon": [LON], "radius_km": [5.0]})
    assert run(pair(), anchorages=mine).empty
    # ships waiting together at the canal's sea end are not an encounter by default
    r = anch.iloc[-1]
    far_ports = pd.DataFrame({"port": ["P"], "lat": [40.0], "lon": [50.0]})
    t = pair(lat=r.lat, lon=r.lon)
    assert detect_encounters(t, far_ports, anchorages=False).shape[0] == 1
    assert detect_encounters(t, far_ports).empty


def test_no_self_pairs_and_row_order_invariance() -> None:
    t = pd.concat([pair(), pair().assign(mmsi=lambda d: d["mmsi"] + 5)], ignore_index=True)
    a = run(t)
    b = run(t.sample(frac=1.0, random_state=1))
    pd.testing.assert_frame_equal(a, b)
    assert (a["mmsi_a"] != a["mmsi_b"]).all()
    assert (a["mmsi_a"] < a["mmsi_b"]).all()


def test_interpolates_between_sparse_reports_but_not_across_long_silences() -> None:
    t = pair(hours=3.0, step_min=90.0)  # three reports each, 90 min apart
    assert len(run(t)) == 1
    assert run(t, max_interp_gap_h=1.0).empty


def test_moving_convoy_is_not_an_encounter() -> None:
    t = pair(hours=3.0, sog=10.0)
    lat = LAT + (t["timestamp"] - T0).dt.total_seconds() / 3600 * 10 * 1852 / M_PER_DEG
    t = t.assign(lat=lat + (t["mmsi"] == 422000002) * 300 / M_PER_DEG)
    assert run(t).empty


def test_empty_and_single_vessel() -> None:
    assert run(pair().iloc[:0]).empty
    assert list(run(pair().iloc[:0]).columns) == list(ENCOUNTER_COLUMNS)
    assert run(pair().query("mmsi == 273000001")).empty


@pytest.fixture(scope="module")
def scenario():
    from caspian_ais import clean
    from caspian_ais.synthetic import simulate

    sc = simulate(n_vessels=12, days=40, start="2022-08-10", seed=4, thin_s=120)
    return sc, clean(sc.tracks).tracks


def test_finds_the_simulated_meetings_and_nothing_else(scenario) -> None:
    sc, tracks = scenario
    ev = sc.truth["events"]
    sts = ev[ev["kind"] == "sts_meeting"]
    both = sts[sts["detail"].str.contains("dark: no; partner dark: no")]
    truth = {tuple(sorted((int(a), int(b)))) for a, b in zip(both["mmsi"], both["other_mmsi"],
                                                               strict=True)}
    assert truth, "the simulator guarantees a visible meeting"
    e = detect_encounters(tracks)
    found = set(zip(e["mmsi_a"], e["mmsi_b"], strict=True))
    assert truth <= found
    any_pair = {tuple(sorted((int(a), int(b)))) for a, b in zip(sts["mmsi"], sts["other_mmsi"],
                                                                 strict=True)}
    assert found <= any_pair
    for r in e.itertuples():
        m = both[(both["mmsi"] == r.mmsi_a) & (both["other_mmsi"] == r.mmsi_b)].iloc[0]
        assert r.start_time < m.end_time and r.end_time > m.start_time


def test_analyze_adds_the_tables_and_write_outputs_writes_them(scenario, tmp_path) -> None:
    from caspian_ais import analyze
    from caspian_ais.export import write_outputs

    sc, _ = scenario
    result = analyze(sc.tracks, sts_options={"encounters": {"max_distance_m": 500.0}})
    for name in ("encounters", "loitering", "dark_rendezvous", "identity_anomalies"):
        assert name in result.tables, name
    assert len(result.tables["encounters"]) >= 1
    assert set(result.tables["identity_anomalies"]["kind"]) >= {"default_mmsi", "teleport"}
    written = {p.name for p in write_outputs(result, tmp_path)}
    assert {"encounters.csv", "loitering.csv", "dark_rendezvous.csv",
            "identity_anomalies.csv"} <= written
    text = (tmp_path / "encounters.csv").read_text().splitlines()
    assert text[0].startswith("encounter_id,mmsi_a,mmsi_b,start_time,end_time,duration_h")
    assert text[1].split(",")[3].endswith("Z")
    with pytest.raises(TypeError, match="unknown table"):
        analyze(sc.tracks.iloc[:100], sts_options={"nope": {}})


def _slices(s: pd.DataFrame, n: int) -> list[tuple[pd.DataFrame, int | None]]:
    b = s["bin"].to_numpy()
    edges = np.linspace(b.min(), b.max() + 1, n + 1).astype(np.int64)[1:-1]
    out, lo = [], b.min()
    for e in [*edges.tolist(), None]:
        m = (b >= lo) & (b < e if e is not None else True)
        out.append((s[m], e))
        lo = e
    return out


@pytest.mark.parametrize("kw", [{}, {"anchorages": False, "min_port_distance_km": 0.0}])
def test_time_slices_give_the_same_encounters(scenario, kw) -> None:
    from caspian_ais.encounters import encounter_samples, encounters_from_samples

    _, tracks = scenario
    whole = detect_encounters(tracks, **kw)
    if kw:
        assert len(whole) > 20  # without the port rule ships berthed together are many
    s = encounter_samples(tracks, **kw)
    for n in (2, 17, 300):  # runs carried across many slice ends
        pd.testing.assert_frame_equal(whole, encounters_from_samples(iter(_slices(s, n)), **kw))
    # the samples of a table are those of its vessels (the batch engine's partitions)
    odd = tracks["mmsi"] % 2 == 1
    parts = pd.concat([encounter_samples(tracks[odd], **kw),
                       encounter_samples(tracks[~odd], **kw)], ignore_index=True)
    pd.testing.assert_frame_equal(whole, encounters_from_samples(parts, **kw))


def test_stays_in_port_are_left_out_without_changing_the_result(scenario, monkeypatch) -> None:
    from caspian_ais import encounters as enc

    _, tracks = scenario
    pruned = enc.encounter_samples(tracks)
    assert len(pruned) < 0.2 * len(enc.track_samples(tracks))
    monkeypatch.setattr(enc, "_drop_port_stays", lambda arrays, ports, opts: arrays)
    assert len(enc.encounter_samples(tracks)) == len(enc.track_samples(tracks))
    for kw in ({}, {"min_port_distance_km": 3.0}, {"max_distance_m": 2000.0}):
        full = enc.detect_encounters(tracks, anchorages=False, **kw)
        monkeypatch.undo()
        pd.testing.assert_frame_equal(full, enc.detect_encounters(tracks, anchorages=False, **kw))
        monkeypatch.setattr(enc, "_drop_port_stays", lambda arrays, ports, opts: arrays)


def test_a_meeting_drifting_out_of_a_port_disc_is_kept() -> None:
    # 3 h together, starting 9 km from the port (inside its 10 km) and drifting out to
    # 12 km: the mean position lies outside, so the stay must not be dropped
    t = pair(hours=3.0, sog=0.5, lon=LON + 1.0 - 9.0 / 82.6)
    f = (t["timestamp"] - T0).dt.total_seconds() / (3 * 3600)
    t = t.assign(lon=t["lon"] - f * 3.0 / 82.6)
    e = run(t)
    assert len(e) == 1 and e["port_distance_km"].iloc[0] > 10.0

