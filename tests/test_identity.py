"""Identity and position anomalies on raw tables, and on the simulator's labelled faults."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.identity import ANOMALY_COLUMNS, ANOMALY_KINDS, detect_identity_anomalies

T0 = pd.Timestamp("2022-09-01 00:00", tz="UTC")
LAT, LON = 42.0, 50.0
KM_LAT = 1 / 111.195
SHIP = 273000001


def track(n: int = 60, step_min: float = 1.0, sog: float = 10.0, mmsi: int = SHIP,
          lat: float = LAT, lon: float = LON, t0: pd.Timestamp = T0) -> pd.DataFrame:
    """A ship sailing north at ``sog`` knots, one report every ``step_min`` minutes."""
    h = np.arange(n) * step_min / 60
    return pd.DataFrame({"mmsi": mmsi, "timestamp": t0 + pd.to_timedelta(h, unit="h"),
                         "lat": lat + h * sog * 1.852 * KM_LAT, "lon": lon, "sog_kn": sog,
                         "cog_deg": 0.0})


def kinds(df: pd.DataFrame, **kw) -> list[str]:
    return detect_identity_anomalies(df, **kw)["kind"].tolist()


def test_clean_track_has_no_anomaly() -> None:
    out = detect_identity_anomalies(track())
    assert out.empty and list(out.columns) == list(ANOMALY_COLUMNS)


def test_default_and_invalid_mmsis() -> None:
    t = pd.concat([track(5, mmsi=123456789), track(5, mmsi=0, lon=50.5),
                   track(5, mmsi=12345, lon=51.0), track(5)], ignore_index=True)
    out = detect_identity_anomalies(t)
    got = dict(zip(out["mmsi"], out["kind"], strict=True))
    assert got == {123456789: "default_mmsi", 0: "default_mmsi", 12345: "invalid_mmsi"}
    assert out.set_index("mmsi").loc[123456789, "n_rows"] == 5


def test_teleport_burst() -> None:
    t = track()
    far = t.iloc[[30, 31]].assign(lat=LAT + 300 * KM_LAT,
                                  timestamp=lambda d: d["timestamp"] + pd.Timedelta(seconds=20))
    out = detect_identity_anomalies(pd.concat([t, far]))
    assert out["kind"].tolist() == ["teleport"]
    assert out["lat"].iat[0] == pytest.approx(LAT + 300 * KM_LAT)


def test_sparse_teleport_is_reported_once() -> None:
    # reports every 30 min; one far report between two of them; the step back from it
    # must not start a second excursion
    t = track(20, step_min=30.0)
    far = t.iloc[[8]].assign(lat=LAT + 250 * KM_LAT,
                             timestamp=lambda d: d["timestamp"] + pd.Timedelta(minutes=2))
    out = detect_identity_anomalies(pd.concat([t, far]))
    assert out["kind"].tolist() == ["teleport"]
    assert out["n_rows"].iat[0] == 1


def test_two_places_at_once() -> None:
    a = track(120, step_min=2.0)
    b = track(120, step_min=2.0, lon=LON + 1.5).assign(
        timestamp=lambda d: d["timestamp"] + pd.Timedelta(minutes=1))
    out = detect_identity_anomalies(pd.concat([a, b]))
    assert out["kind"].tolist() == ["two_places"]
    assert out["n_rows"].iat[0] >= 100


def test_spoofed_stretch_and_single_jump() -> None:
    t = track(600)
    off = t.index[(t.index >= 200) & (t.index < 400)]
    spoof = t.copy()
    spoof.loc[off, "lon"] += 1.0  # 83 km east for 200 minutes
    out = detect_identity_anomalies(spoof)
    assert out["kind"].tolist() == ["spoofing"]
    assert out["start_time"].iat[0] == t["timestamp"].iat[200]
    jump = t.copy()
    jump.loc[jump.index >= 300, "lon"] += 1.0  # never comes back
    assert kinds(jump) == ["position_jump"]


def test_speed_threshold_is_a_parameter_and_vessel_speed_matters() -> None:
    # a 24 kn step between reports 30 min apart: possible for a ship (< 30 kn), not for
    # this 10 kn one (cap 1.2 x 10 + 2 = 14 kn)
    t = track(10, step_min=30.0)
    t.loc[8:, "lat"] += 13 * KM_LAT
    assert kinds(t, vessel_speed_factor=None) == []
    assert kinds(t) == ["position_jump"]
    assert kinds(t, max_speed_kn=15.0, vessel_speed_factor=None) == ["position_jump"]


SLAT, SLON = 37.8, 50.5  # a 550 km run north from here stays at sea


def km_east(km: float, lat: float = LAT) -> float:
    """Degrees of longitude spanning ``km`` at ``lat``."""
    return km / (111.195 * np.cos(np.radians(lat)))


def sparse_spoof(offset_km: float = 30.0, back_km: float | None = None) -> pd.DataFrame:
    """A ship heard every 2 h (satellite passes) sailing north at 10 kn; reports 8-11
    broadcast ``offset_km`` east of the track, the rest of the track shifted
    ``offset_km - back_km`` east (0 by default: the offset is taken back)."""
    t = track(16, step_min=120.0, lat=SLAT, lon=SLON)
    back = offset_km if back_km is None else back_km
    t.loc[8:11, "lon"] += km_east(offset_km, SLAT)
    t.loc[12:, "lon"] += km_east(offset_km - back, SLAT)
    return t


def dr_numbers(t: pd.DataFrame, entry: int = 7, exit_: int = 11) -> tuple[float, float]:
    """(smallest unexplained offset, vector sum / smaller offset) of the entry and exit
    steps, as the detector computes them."""
    from caspian_ais.identity import _dr_residual
    from caspian_ais.schema import timestamp_ns

    a, b = np.array([entry, exit_]), np.array([entry + 1, exit_ + 1])
    rn, re, un = _dr_residual(t["lat"].to_numpy(), t["lon"].to_numpy(),
                              timestamp_ns(t["timestamp"]),
                              t["sog_kn"].to_numpy(), t["cog_deg"].to_numpy(), a, b, 2.0)
    res = np.hypot(rn, re)
    return float(un.min()), float(np.hypot(rn.sum(), re.sum()) / res.min())


def test_spoof_across_silences_is_found_by_dead_reckoning() -> None:
    t = sparse_spoof()
    # each step onto and off the false track is a plausible 13 kn (cap 14 kn) ...
    assert kinds(t, dr_offset_min_km=None) == []
    # ... but lands 30 km abeam of where the reported course and speed put the ship
    out = detect_identity_anomalies(t)
    assert out["kind"].tolist() == ["spoofing"]
    assert out["start_time"].iat[0] == t["timestamp"].iat[8]
    assert out["end_time"].iat[0] == t["timestamp"].iat[11]
    assert out["n_rows"].iat[0] == 4
    # the same with only 1-3 false reports is a teleport
    short = track(16, step_min=120.0, lat=SLAT, lon=SLON)
    short.loc[8:10, "lon"] += km_east(30.0, SLAT)
    assert kinds(short) == ["teleport"]
    # a ship that moves off its line during a silence and stays there is not spoofing
    shift = track(16, step_min=120.0, lat=SLAT, lon=SLON)
    shift.loc[8:, "lon"] += km_east(30.0, SLAT)
    assert kinds(shift) == []


def test_dead_reckoning_offset_boundary() -> None:
    t = sparse_spoof()
    un, _ = dr_numbers(t)
    assert 27.0 < un < 31.0  # 30 km of longitude at 37.8 N, a little less further north
    assert kinds(t, dr_offset_min_km=un) == ["spoofing"]  # inclusive
    assert kinds(t, dr_offset_min_km=float(np.nextafter(un, np.inf))) == []


def test_dead_reckoning_return_boundary() -> None:
    t = sparse_spoof(offset_km=34.0, back_km=22.0)  # 12 km of the offset is not taken back
    _, frac = dr_numbers(t)
    assert 0.5 < frac < 0.7
    assert kinds(t, dr_return_frac=frac) == ["spoofing"]  # inclusive
    assert kinds(t, dr_return_frac=float(np.nextafter(frac, 0.0))) == []


def test_dead_reckoning_needs_a_ship_under_way() -> None:
    t = sparse_spoof()
    t.loc[9, "sog_kn"] = 3.0  # one slow report on the false track
    assert kinds(t, dr_min_sog_kn=3.0) == ["spoofing"]  # inclusive
    assert kinds(t, dr_min_sog_kn=float(np.nextafter(3.0, np.inf))) == []
    # without speed or course there is no dead reckoning
    assert kinds(sparse_spoof().drop(columns="cog_deg")) == []


def test_dead_reckoning_stretch_length_boundary() -> None:
    t = sparse_spoof()  # first to last false report: 6 h
    assert kinds(t, episode_gap_h=6.0) == ["spoofing"]  # inclusive
    assert kinds(t, episode_gap_h=float(np.nextafter(6.0, 0.0))) == []


def test_teleport_reached_across_a_silence() -> None:
    # heard every 10 min, then 6 h of silence; one far report reached at a plausible
    # speed (its course is noise), then the true track 15 min later: the step back is
    # impossible, the step out is not, but it is far off the reported course
    t = pd.concat([track(13, step_min=10.0),
                   track(13, step_min=10.0, t0=T0 + pd.Timedelta(hours=8))
                   .assign(lat=lambda d: d["lat"] + 8 * 10 * 1.852 * KM_LAT)],
                  ignore_index=True)
    far = pd.DataFrame({"mmsi": [SHIP], "timestamp": [T0 + pd.Timedelta(hours=7.75)],
                        "lat": [LAT], "lon": [LON + km_east(120.0)], "sog_kn": [10.0],
                        "cog_deg": [223.0]})
    both = pd.concat([t, far], ignore_index=True)
    out = detect_identity_anomalies(both)
    assert out["kind"].tolist() == ["teleport"]
    assert out["start_time"].iat[0] == far["timestamp"].iat[0]
    assert kinds(both, dr_offset_min_km=None) == ["position_jump"]


def test_positions_on_land_but_not_on_the_volga_canal() -> None:
    t = track(30)
    land = t.iloc[[10]].assign(lat=40.40, lon=49.20, timestamp=lambda d: d["timestamp"]
                               + pd.Timedelta(seconds=5))  # inland Azerbaijan
    olya = track(5, sog=0.0, lat=45.7947, lon=47.5634, mmsi=273000009)  # river port
    out = detect_identity_anomalies(pd.concat([t, land, olya]))
    assert out["kind"].tolist() == ["on_land"]
    assert out["mmsi"].iat[0] == SHIP
    # outside the Caspian region the test does not apply
    assert kinds(track(5, lat=55.0, lon=10.0)) == []


@pytest.mark.parametrize(("n", "step", "sog", "found"), [
    (3, 15.0, 0.0, True),     # 3 identical fixes over 30 min
    (3, 14.0, 0.0, False),    # 28 min < min_frozen_h
    (2, 60.0, 0.0, False),    # too few repeats
    (3, 1.0, 10.0, True),     # moving ship, 2 min: frozen whatever the duration
])
def test_frozen_position_boundaries(n: int, step: float, sog: float, found: bool) -> None:
    t = track(n, step_min=step, sog=sog).assign(lat=LAT, lon=LON)
    assert (kinds(t) == ["frozen_position"]) is found


def test_frozen_position_near_a_port_is_ignored() -> None:
    ports = pd.DataFrame({"port": ["P"], "lat": [LAT], "lon": [LON + 0.1]})  # 8 km
    t = track(10, step_min=10.0, sog=0.0).assign(lat=LAT, lon=LON)
    assert detect_identity_anomalies(t, ports).empty


def test_name_imo_and_flag_changes() -> None:
    a = track(20).assign(name="STAR-1", imo=1234567)
    b = track(20, t0=T0 + pd.Timedelta(hours=1)).assign(name="STAR-2", imo=1234567)
    c = track(20, t0=T0 + pd.Timedelta(hours=2)).assign(name="STAR-2", imo=7654321)
    d = track(20, t0=T0 + pd.Timedelta(hours=3), mmsi=422000005).assign(name="STAR-2",
                                                                        imo=7654321)
    out = detect_identity_anomalies(pd.concat([a, b, c, d], ignore_index=True))
    by = {k: r for k, r in zip(out["kind"], out.itertuples(), strict=True)}
    assert set(by) == {"name_change", "imo_change", "flag_change"}
    assert (by["name_change"].old_value, by["name_change"].new_value) == ("STAR-1", "STAR-2")
    assert by["name_change"].start_time == T0 + pd.Timedelta(hours=1)
    assert by["flag_change"].mmsi == SHIP and by["flag_change"].other_mmsi == 422000005
    # a single odd report is not a change
    e = a.copy()
    e.loc[5, "name"] = "STRA-1"
    assert kinds(e) == []


def test_kinds_filter_and_unknown_kind() -> None:
    t = pd.concat([track(5, mmsi=123456789), track()])
    assert detect_identity_anomalies(t, kinds=("teleport",)).empty
    with pytest.raises(ValueError, match="unknown"):
        detect_identity_anomalies(t, kinds=("nope",))
    assert set(ANOMALY_KINDS) >= {"two_places", "on_land", "frozen_position"}


@pytest.fixture(scope="module")
def scenario():
    from caspian_ais.synthetic import simulate

    return simulate(n_vessels=12, days=40, start="2022-08-10", seed=4, thin_s=120)


def test_finds_the_simulated_faults_in_the_raw_rows(scenario) -> None:
    ev = scenario.truth["events"]
    out = detect_identity_anomalies(scenario.tracks)
    want = {"teleport": {"teleport"}, "shared_mmsi": {"two_places"}, "on_land": {"on_land"},
            "spoofing": {"spoofing", "position_jump", "teleport"},
            "default_mmsi": {"default_mmsi"},
            "identity_change": {"name_change", "imo_change", "flag_change"}}
    for kind, accept in want.items():
        truth = ev[ev["kind"] == kind]
        assert len(truth), kind
        for e in truth.itertuples():
            d = out[(out["mmsi"] == e.mmsi) & out["kind"].isin(accept)
                    & (out["end_time"] >= e.start_time - pd.Timedelta(hours=1))
                    & (out["start_time"] <= e.end_time + pd.Timedelta(days=1))]
            assert len(d), (kind, e.event_id)


def test_clean_removes_what_the_detector_needs(scenario) -> None:
    """Documented choice: run on the raw rows; cleaning drops the evidence."""
    from caspian_ais import clean

    raw = scenario.tracks
    on_raw = detect_identity_anomalies(raw)
    on_clean = detect_identity_anomalies(clean(raw).tracks)
    assert (on_raw["kind"] == "two_places").sum() >= 1
    assert (on_clean["kind"] == "default_mmsi").sum() == 0
    assert len(on_clean) < len(on_raw)


def test_raw_rows_can_be_rebuilt_from_the_ledger(scenario) -> None:
    """What analyze does: cleaned tracks plus clean's ledger find the same anomalies."""
    from caspian_ais import clean
    from caspian_ais.identity import raw_from_ledger

    raw = scenario.tracks
    tracks, ledger = clean(raw)
    a = detect_identity_anomalies(raw)
    b = detect_identity_anomalies(raw_from_ledger(tracks, ledger))
    assert set(a["anomaly_id"]) == set(b["anomaly_id"])
    assert raw_from_ledger(tracks, None) is tracks


def test_simulated_spoof_entered_across_a_silence() -> None:
    """On this scenario the spoofed stretch is entered across hours of silence at a
    plausible speed: only its exit is an impossible step. Dead reckoning finds the whole
    stretch: every received report of it, nothing outside it."""
    from caspian_ais.synthetic import simulate

    sc = simulate(n_vessels=12, days=40, start="2022-08-10", seed=2, thin_s=120)
    raw, ev = sc.tracks, sc.truth["events"]
    (e,) = ev[ev["kind"] == "spoofing"].itertuples()
    mine = raw[raw["mmsi"] == e.mmsi]
    false = mine[(mine["timestamp"] >= e.start_time) & (mine["timestamp"] <= e.end_time)]
    assert len(false) > 100
    out = detect_identity_anomalies(raw)
    got = out[out["mmsi"] == e.mmsi]
    assert got["kind"].tolist() == ["spoofing"]
    assert got["start_time"].iat[0] == false["timestamp"].min()
    assert got["end_time"].iat[0] == false["timestamp"].max()
    off = detect_identity_anomalies(raw, dr_offset_min_km=None)
    assert off[off["mmsi"] == e.mmsi]["kind"].tolist() == ["position_jump"]


# ---- the fast paths give exactly what the plain computations give ----------------------


def test_candidate_steps_keep_every_step_the_exact_tests_keep() -> None:
    """The cheap bounds only drop steps that cannot be impossible or offset."""
    from caspian_ais.identity import _candidate_steps, _dr_residual, _step

    rng = np.random.default_rng(7)
    n = 20_000
    m = np.repeat(np.arange(20, dtype=np.int64) + SHIP, n // 20)
    dt_s = rng.choice([0, 10, 60, 900, 3600, 6 * 3600], n, p=[0.05, 0.3, 0.5, 0.05, 0.05, 0.05])
    dt_s = dt_s * rng.uniform(0.5, 1.5, n)
    t = (np.cumsum(dt_s) * 1e9).astype(np.int64)
    heading = rng.uniform(0, 2 * np.pi, n)
    step_deg = rng.uniform(0, 15, n) * 1.852 * KM_LAT * dt_s / 3600  # 0-15 kn
    lat = LAT + np.cumsum(step_deg * np.cos(heading))
    lon = LON + np.cumsum(step_deg * np.sin(heading))
    jump = rng.random(n) < 0.01
    lat[jump] += rng.uniform(-1, 1, jump.sum())
    sog = np.round(rng.uniform(0, 25, n), 1)
    sog[rng.random(n) < 0.05] = np.nan
    cog = rng.uniform(0, 360, n)
    a, b = np.arange(n - 1), np.arange(1, n)
    same = m[a] == m[b]
    _, _, unexplained = _dr_residual(lat, lon, t, sog, cog, a, b, 2.0)
    with np.errstate(invalid="ignore"):
        offset = np.flatnonzero((unexplained >= 15.0) & same)
    assert len(offset)
    for max_kn, tol_km, soft_kmh in [(30.0, 1.0, 20.0), (15.0, 0.0, np.inf), (30.0, -1.0, -5.0)]:
        max_kmh = max_kn * 1.852
        bad, _ = _step(lat, lon, t, a, b, max_kmh, tol_km, np.full(n - 1, soft_kmh))
        ck, dk = _candidate_steps(m, t, lat, lon, sog, max_kmh=max_kmh, tol_km=tol_km,
                                  soft_lb_kmh=min(max_kmh, soft_kmh), dr_offset_min_km=15.0,
                                  dr_min_sog_kn=2.0)
        assert dk is not None
        assert (bad & same).any()
        assert set(np.flatnonzero(bad & same)) <= set(ck.tolist())
        assert set(offset.tolist()) <= set(dk.tolist())
        if soft_kmh == 20.0:  # and they do rule most steps out
            assert len(ck) < n // 4 and len(dk) < n // 4


@pytest.mark.parametrize("tolerance_km", [2.0, 0.0])
def test_land_grid_is_the_point_in_polygon_test(tolerance_km: float) -> None:
    import shapely

    from caspian_ais.identity import _GRID_DEG, CASPIAN_BBOX, _land_grid, _on_land
    from caspian_ais.water import navigable_water, on_water

    rng = np.random.default_rng(3)
    shore = shapely.get_coordinates(navigable_water(tolerance_km, True).boundary)
    k = rng.integers(0, len(shore), 20_000)
    _, lon0, lat0, nx, ny = _land_grid(tolerance_km)
    lat = np.r_[rng.uniform(34.0, 49.5, 30_000), shore[k, 1] + rng.normal(0, 0.005, len(k)),
                shore[:, 1], lat0 + rng.integers(0, ny, 5000) * _GRID_DEG, 35.5, 48.0]
    lon = np.r_[rng.uniform(44.0, 57.5, 30_000), shore[k, 0] + rng.normal(0, 0.005, len(k)),
                shore[:, 0], lon0 + rng.integers(0, nx, 5000) * _GRID_DEG, 45.5, 56.0]
    x0, y0, x1, y1 = CASPIAN_BBOX
    box = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    want = np.zeros(len(lat), dtype=bool)
    want[box] = ~on_water(lat[box], lon[box], tolerance_km=tolerance_km, include_canal=True)
    assert want.any() and (~want).any()
    np.testing.assert_array_equal(_on_land(lat, lon, tolerance_km), want)


def test_vessel_quantile_is_pandas_groupby_quantile() -> None:
    from caspian_ais.identity import _vessel_quantile

    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 200, 40)
    m = np.repeat(SHIP + np.arange(40), sizes)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    tenths = np.round(rng.uniform(0, 25, len(m)), 1)
    for v in (tenths, tenths + rng.normal(0, 1e-3, len(m))):  # counted, then by pandas
        v = v.copy()
        v[rng.random(len(m)) < 0.1] = np.nan
        v[:sizes[0]] = 0.5  # a vessel without speeds above 1 kn
        for q in (0.95, 0.5, 1.0):
            want = pd.Series(v).where(lambda x: x > 1.0).groupby(m).quantile(q).to_numpy()
            np.testing.assert_array_equal(_vessel_quantile(v, m, starts, q), want)


@pytest.mark.parametrize("layout", ["sorted", "appended", "shuffled"])
def test_row_order_is_a_stable_sort_by_vessel_time_and_position(layout: str) -> None:
    from caspian_ais.identity import _order_ties, _sorted_rows

    rng = np.random.default_rng(11)
    n = 5000
    m = rng.integers(0, 30, n) + SHIP
    t = rng.integers(0, 400, n) * 1_000_000_000
    lat = rng.integers(0, 3, n).astype(float)
    lon = rng.integers(0, 3, n).astype(float)
    srt = np.lexsort((t, m))
    if layout == "sorted":
        idx = srt
    elif layout == "appended":  # what raw_from_ledger gives: sorted rows, then others
        late = rng.choice(n, 300, replace=False)
        idx = np.r_[srt[~np.isin(srt, late)], late]
    else:
        idx = rng.permutation(n)
    m, t, lat, lon = m[idx], t[idx], lat[idx], lon[idx]
    for sel in (np.ones(n, dtype=bool), rng.random(n) > 0.05):
        o = _sorted_rows(m, t, sel)
        o = np.arange(n) if o is None else o.copy()
        tie = np.flatnonzero((m[o][1:] == m[o][:-1]) & (t[o][1:] == t[o][:-1]))
        dup = _order_ties(o, tie, lat, lon)
        s = np.flatnonzero(sel)
        want = s[np.lexsort((lon[s], lat[s], t[s], m[s]))]
        np.testing.assert_array_equal(o, want)
        same = [(x[want][1:] == x[want][:-1]) for x in (m, t, lat, lon)]
        np.testing.assert_array_equal(dup, np.flatnonzero(np.logical_and.reduce(same)) + 1)


@pytest.mark.parametrize("dtype", ["str", "object", "Int64", "float64", "string[python]",
                                   "string[pyarrow]", "int64[pyarrow]", "category"])
def test_value_breaks_and_chunked_take(dtype: str) -> None:
    from caspian_ais.identity import _take, _value_breaks

    raw = ["A", "A", None, None, "B", "B", "A", None] if dtype not in (
        "Int64", "float64", "int64[pyarrow]") else [1, 1, None, None, 2, 2, 1, None]
    values = pd.concat([pd.Series(raw[:5], dtype=dtype), pd.Series(raw[5:], dtype=dtype)],
                       ignore_index=True)  # two Arrow chunks where Arrow-backed
    brk, nulls = _value_breaks(values)
    na = values.isna().to_numpy()
    np.testing.assert_array_equal(nulls, np.flatnonzero(na))
    changes = [i for i in range(len(raw) - 1)
               if na[i] or na[i + 1] or values.iat[i] != values.iat[i + 1]]
    assert brk.tolist() == changes
    rows = np.array([0, 4, 6, 7])
    pd.testing.assert_series_equal(_take(values, rows), values.iloc[rows])


def test_input_order_does_not_matter(scenario) -> None:
    from caspian_ais import clean
    from caspian_ais.identity import raw_from_ledger

    raw = scenario.tracks
    want = detect_identity_anomalies(raw)
    shuffled = raw.sample(frac=1, random_state=0)
    pd.testing.assert_frame_equal(detect_identity_anomalies(shuffled), want)
    tracks, ledger = clean(raw)  # sorted rows with the ledger's rows appended
    merged = raw_from_ledger(tracks, ledger)
    pd.testing.assert_frame_equal(detect_identity_anomalies(merged),
                                  detect_identity_anomalies(merged.sample(frac=1, random_state=1)))


def test_ledger_keyword_is_raw_from_ledger(scenario) -> None:
    """``ledger=`` analyses the rows of raw_from_ledger without building that table."""
    from caspian_ais import clean
    from caspian_ais.identity import raw_from_ledger

    tracks, ledger = clean(scenario.tracks)
    assert len(ledger)
    want = detect_identity_anomalies(raw_from_ledger(tracks, ledger))
    pd.testing.assert_frame_equal(detect_identity_anomalies(tracks, ledger=ledger), want)
    pd.testing.assert_frame_equal(detect_identity_anomalies(tracks, ledger=ledger.iloc[:0]),
                                  detect_identity_anomalies(tracks))
    pd.testing.assert_frame_equal(detect_identity_anomalies(tracks.iloc[:0], ledger=ledger),
                                  detect_identity_anomalies(raw_from_ledger(tracks.iloc[:0],
                                                                            ledger)))


def test_blocks_do_not_change_the_result(scenario, monkeypatch) -> None:
    """The whole-table scans run block by block; block edges fall anywhere."""
    from caspian_ais import clean, identity

    tracks, ledger = clean(scenario.tracks)
    raw = scenario.tracks
    want = [detect_identity_anomalies(raw), detect_identity_anomalies(tracks, ledger=ledger)]
    monkeypatch.setattr(identity, "_CHUNK", 997)
    got = [detect_identity_anomalies(raw), detect_identity_anomalies(tracks, ledger=ledger)]
    for g, w in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(g, w)
