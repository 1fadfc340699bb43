"""Tests of the reception model (quality per cell-month, co-silence)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.gaps import detect_gaps
from caspian_ais.reception import (
    build_reception_model,
    cell_ids,
    estimate_report_interval_s,
    score_gaps,
)

T0 = pd.Timestamp("2023-06-01T00:00:00Z")
PORTS = pd.DataFrame({"port": ["P"], "lat": [40.0], "lon": [48.0]})


def sailing(mmsi: int, lat: float, lon0: float, lon1: float, start_h: float, minutes: int,
            step_min: int = 5) -> pd.DataFrame:
    """A vessel sailing east along ``lat`` from ``lon0`` to ``lon1``, one report per step."""
    k = np.arange(0, minutes + 1, step_min)
    return pd.DataFrame({
        "mmsi": np.full(k.size, mmsi, dtype=np.int64),
        "timestamp": T0 + pd.to_timedelta(start_h * 60 + k, unit="min"),
        "lat": np.full(k.size, lat),
        "lon": lon0 + (lon1 - lon0) * k / max(minutes, 1),
    })


def drop_in_hole(t: pd.DataFrame, lon_a: float, lon_b: float, burst_every_h: float) -> pd.DataFrame:
    """Remove reports with lon in [lon_a, lon_b] except during short 'satellite passes'."""
    h = (t["timestamp"] - T0).dt.total_seconds() / 3600.0
    in_pass = (h % burst_every_h) < (12 / 60)
    inside = t["lon"].between(lon_a, lon_b)
    return t[~inside | in_pass]


@pytest.fixture(scope="module")
def world() -> pd.DataFrame:
    """40 vessels crossing from lon 50 to 53 along lat 40-40.4 over 10 days; the band
    lon 51.0-52.5 is a coverage hole heard only during passes every 7 h."""
    frames = []
    rng = np.random.default_rng(0)
    for i in range(40):
        frames.append(sailing(273000100 + i, 40.0 + 0.01 * (i % 40), 50.0, 53.0,
                              start_h=float(rng.uniform(0, 200)), minutes=20 * 60))
    t = pd.concat(frames, ignore_index=True)
    return drop_in_hole(t, 51.0, 52.5, 7.0).reset_index(drop=True)


def test_cell_ids_grid() -> None:
    c = cell_ids(np.array([40.01, 40.09, 40.11, np.nan]), np.array([50.0, 50.0, 50.0, 1.0]), 0.1)
    assert c[0] == c[1] != c[2]
    assert c[3] == -1


def test_quality_high_in_coverage_low_in_hole(world: pd.DataFrame) -> None:
    m = build_reception_model(world, cell_deg=0.1)
    covered = m.quality_at(np.array([40.2]), np.array([50.5]),
                           np.array([T0.value]))[0]
    hole = m.quality_at(np.array([40.2]), np.array([51.75]), np.array([T0.value]))[0]
    unseen = m.quality_at(np.array([10.0]), np.array([10.0]), np.array([T0.value]))[0]
    assert covered > 0.9
    assert hole <= 1 / 3 + 1e-9
    assert unseen == pytest.approx(m.prior_quality) == pytest.approx(0.5)
    assert {"cell", "month", "quality", "reports", "vessels", "well_heard"} <= set(m.cells)
    assert (m.cells["month"] == "2023-06").all()


def test_hole_gap_scores_low_dark_gap_scores_high(world: pd.DataFrame) -> None:
    # one more vessel that switches off for 8 h in covered water west of the hole
    dark = sailing(273000999, 40.2, 50.0, 50.9, 100.0, 30 * 60, step_min=5)
    h = (dark["timestamp"] - T0).dt.total_seconds() / 3600
    dark = dark[(h < 105) | (h > 113)]
    t = pd.concat([world, dark], ignore_index=True)
    g = detect_gaps(t, "5h", ports=PORTS, suspicious_min_h=5)
    assert not g.empty
    hole = g[g["mmsi"] != 273000999]
    mine = g[g["mmsi"] == 273000999].iloc[0]
    assert mine["reception_score"] > 0.8 and bool(mine["suspicious"])
    assert mine["reason"] == "dark_in_coverage"
    # gaps of the vessels crossing the hole are blamed on coverage
    assert hole["reason"].isin(["poor_coverage", "co_silence"]).all()
    assert (hole["reason"] == "poor_coverage").any()
    assert not hole["suspicious"].any()


def test_co_silence_flags_receiver_outage() -> None:
    """Ten vessels moored together; a 12 h outage silences all of them."""
    frames = []
    for i in range(10):
        k = np.arange(0, 3 * 24 * 60, 3)
        frames.append(pd.DataFrame({
            "mmsi": 273000200 + i, "timestamp": T0 + pd.to_timedelta(k, unit="min"),
            "lat": 41.0 + 0.001 * i, "lon": 49.0}))
    t = pd.concat(frames, ignore_index=True)
    h = (t["timestamp"] - T0).dt.total_seconds() / 3600
    outage = (h > 30) & (h < 42)
    # vessel 0 also switches off on its own for 10 h on day 3
    alone = (t["mmsi"] == 273000200) & (h > 50) & (h < 60)
    t = t[~outage & ~alone]
    g = detect_gaps(t, "6h", ports=PORTS)
    out = g[g["start_time"] < T0 + pd.Timedelta(hours=31)]
    assert len(out) == 10
    assert (out["co_silence"] > 0.9).all() and (out["reason"] == "co_silence").all()
    own = g[g["start_time"] > T0 + pd.Timedelta(hours=49)]
    assert len(own) == 1 and own.iloc[0]["co_silence"] < 0.2
    assert bool(own.iloc[0]["suspicious"])


def test_co_silence_unknown_when_traffic_too_thin() -> None:
    t = sailing(273000001, 40.0, 50.0, 50.5, 0, 60)
    t2 = sailing(273000001, 40.0, 50.5, 51.0, 10, 60)
    g = detect_gaps(pd.concat([t, t2]), "6h", ports=PORTS)
    assert len(g) == 1 and np.isnan(g.iloc[0]["co_silence"])


def test_score_gaps_threshold_boundary() -> None:
    model = build_reception_model(sailing(273000001, 40.0, 50.0, 50.5, 0, 600))
    g = pd.DataFrame({"start_time": [T0], "end_time": [T0 + pd.Timedelta(hours=8)],
                      "start_lat": [40.0], "start_lon": [50.1], "end_lat": [40.0],
                      "end_lon": [50.2]})
    s = score_gaps(g, model, min_expected_bins=1e9)
    assert np.isnan(s.iloc[0]["co_silence"])
    assert 0 < s.iloc[0]["reception_score"] <= 1


def test_empty_inputs() -> None:
    t = sailing(273000001, 40.0, 50.0, 50.5, 0, 60).iloc[:0]
    m = build_reception_model(t)
    assert m.cells.empty
    g = detect_gaps(t, ports=PORTS)
    assert g.empty and "suspicious" in g


# --- satellite passes ---------------------------------------------------------------


def _pass_table(n_vessels: int, *, minute: int = 25) -> pd.DataFrame:
    """``n_vessels`` each heard once in poorly covered water at 00:``minute`` (a burst)."""
    t0 = pd.Timestamp("2023-06-01", tz="UTC")
    rows = []
    for v in range(n_vessels):
        # two reports 3 h apart (missed time: a poorly covered cell), one in the burst
        for h in (0.0, 3.0):
            rows.append((273000100 + v, t0 + pd.Timedelta(hours=h), 42.0, 51.0 + 0.01 * v))
        rows.append((273000100 + v, t0 + pd.Timedelta(hours=10, minutes=minute), 42.0,
                     51.0 + 0.01 * v))
        rows.append((273000100 + v, t0 + pd.Timedelta(hours=13, minutes=minute), 42.0,
                     51.0 + 0.01 * v))
    return pd.DataFrame(rows, columns=["mmsi", "timestamp", "lat", "lon"])


def test_pass_detection_threshold_boundary() -> None:
    # exactly pass_min_vessels distinct vessels in one bin make a pass; one fewer does not
    at = build_reception_model(_pass_table(5), pass_min_vessels=5)
    below = build_reception_model(_pass_table(4), pass_min_vessels=5)
    assert at.pass_start_ns.size >= 1
    assert below.pass_start_ns.size == 0


def test_passes_within_counts_only_whole_passes() -> None:
    m = build_reception_model(_pass_table(6), pass_min_vessels=5)
    p0 = int(m.pass_start_ns[0])
    p1 = int(m.pass_end_ns[0])
    hour = 3_600_000_000_000
    w = int(m.pass_bin_min * 60e9)
    # a gap from well before to well after the pass contains it
    assert m.passes_within(np.array([p0 - 2 * hour]), np.array([p1 + 2 * hour]))[0] == 1
    # a gap starting inside the pass's first bin (the pass heard the vessel) does not
    assert m.passes_within(np.array([p0 + 1]), np.array([p1 + 2 * hour]))[0] == 0
    # nor one ending in the pass's last bin
    assert m.passes_within(np.array([p0 - 2 * hour]), np.array([p1 - 1]))[0] == 0
    # boundary: starting in the bin just before the pass counts it
    assert m.passes_within(np.array([p0 - w]), np.array([p1 + w]))[0] == 1


# --- sampling interval ----------------------------------------------------------------


def _thinned(n_vessels: int, every_min: float, hours: float, *, sog: float = 10.0
             ) -> pd.DataFrame:
    """``n_vessels`` sailing east, one report every ``every_min`` minutes."""
    t0 = pd.Timestamp("2023-06-01", tz="UTC")
    n = int(hours * 60 / every_min)
    frames = []
    for v in range(n_vessels):
        frames.append(pd.DataFrame({
            "mmsi": 273000200 + v,
            "timestamp": t0 + pd.to_timedelta(np.arange(n) * every_min + v * 0.37, "min"),
            "lat": 40.0 + 0.05 * v, "lon": 50.0 + np.arange(n) * 0.001, "sog_kn": sog}))
    return pd.concat(frames, ignore_index=True)


def test_estimate_report_interval() -> None:
    assert estimate_report_interval_s(_thinned(2, 30, 48)) == pytest.approx(1800.0)
    assert estimate_report_interval_s(_thinned(2, 1, 2)) == pytest.approx(60.0)
    # MIN_INTERVALS boundary: 50 intervals estimate, 49 do not
    assert estimate_report_interval_s(_thinned(1, 30, 51 * 0.5)) == pytest.approx(1800.0)
    assert np.isnan(estimate_report_interval_s(_thinned(1, 30, 50 * 0.5)))
    # intervals starting at reports below moving_min_kn are left out when enough remain
    t = pd.concat([_thinned(1, 30, 48), _thinned(1, 3, 10, sog=0.0).assign(mmsi=7)])
    assert estimate_report_interval_s(t) == pytest.approx(1800.0)
    assert estimate_report_interval_s(t, moving_min_kn=0.0) == pytest.approx(180.0)
    # no speeds: all intervals
    assert estimate_report_interval_s(_thinned(2, 30, 48).drop(columns="sog_kn")) == \
        pytest.approx(1800.0)


def test_pass_bins_widen_to_reporting_interval() -> None:
    t = _thinned(2, 30, 48)
    m = build_reception_model(t)
    assert m.report_interval_s == pytest.approx(1800.0)
    assert m.pass_bin_min == pytest.approx(30.0)
    # boundary: an interval equal to pass_bin_min changes nothing
    m10 = build_reception_model(t, report_interval_s=600.0)
    assert m10.pass_bin_min == pytest.approx(10.0)
    m_dense = build_reception_model(_thinned(2, 1, 2))
    assert m_dense.pass_bin_min == pytest.approx(10.0)
    assert m_dense.heard_max_h == pytest.approx(1.0)
    # heard_max_h widens to heard_max_intervals x the interval (1 h = 2 x 30 min: none)
    assert m.heard_max_h == pytest.approx(1.0)
    m3 = build_reception_model(t, report_interval_s=3 * 3600.0)
    assert m3.heard_max_h == pytest.approx(6.0)
    assert m3.pass_bin_min == pytest.approx(180.0)
    # given explicitly, the estimate is not used
    assert build_reception_model(t, report_interval_s=60.0).pass_bin_min == pytest.approx(10.0)


def test_smeared_pass_found_with_interval_wide_bins() -> None:
    # a pass heard by 6 vessels whose thinned report times spread over 30 minutes
    # (10:00-10:25): no 10-minute bin holds 5 of them, a 30-minute bin does
    t = _pass_table(6)
    burst = t["timestamp"].dt.hour == 10
    t.loc[burst, "timestamp"] = (pd.Timestamp("2023-06-01 10:00", tz="UTC")
                                 + pd.to_timedelta((t.loc[burst, "mmsi"] - 273000100) * 5,
                                                   "min"))
    lo, hi = (pd.Timestamp(f"2023-06-01 {h}", tz="UTC").value for h in ("09:00", "11:30"))

    def in_burst(m: object) -> int:
        s_ = m.pass_start_ns  # type: ignore[attr-defined]
        return int(((s_ >= lo) & (s_ < hi)).sum())

    assert in_burst(build_reception_model(t, report_interval_s=60.0)) == 0
    assert in_burst(build_reception_model(t, report_interval_s=1800.0)) == 1


# --- partial aggregates: any split of the vessels gives the same model ------------------


def _model_from_parts(parts: list[pd.DataFrame], **options: object) -> object:
    """The model built as the batch engine builds it, from per-partition partials."""
    from caspian_ais import reception as r

    opts = r.ReceptionOptions(**options)
    if opts.report_interval_s is None:
        plan = r.interval_plan([r.interval_partial(t, opts) for t in parts])
        opts = opts.with_interval(
            r.merge_interval([r.interval_sample(t, opts, plan) for t in parts], plan))
    q = r.merge_quality([r.quality_partial(t, opts) for t in parts], opts)
    return r.model_from_partials(q, [r.occupancy_partial(t, q) for t in parts])


def _assert_same_model(a: object, b: object) -> None:
    pd.testing.assert_frame_equal(a.cells, b.cells, check_exact=True)  # type: ignore[attr-defined]
    for name in ("_cell_keys", "_quality", "pass_start_ns", "pass_end_ns", "bin_h", "t0_ns",
                 "heard_max_h", "pass_bin_min", "report_interval_s"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for grid in ("_local", "_wide"):
        for name in ("cells", "cum", "solo_keys", "solo_bins"):
            np.testing.assert_array_equal(getattr(getattr(a, grid), name),
                                          getattr(getattr(b, grid), name), err_msg=name)


@pytest.mark.parametrize("n_parts", [1, 3, 7])
def test_partials_merge_to_the_same_model(world: pd.DataFrame, n_parts: int) -> None:
    # the hours of a cell-month are summed in one order whatever the split: exact equality
    whole = build_reception_model(world, pass_min_vessels=2)
    rng = np.random.default_rng(n_parts)
    bucket = dict(zip(world["mmsi"].unique(), rng.integers(0, n_parts, 40), strict=True))
    b = world["mmsi"].map(bucket).to_numpy()
    # partitions in any order, their rows in any order
    parts = [world[b == k].sample(frac=1.0, random_state=k) for k in range(n_parts)][::-1]
    _assert_same_model(whole, _model_from_parts(parts, pass_min_vessels=2))


def test_partials_sample_the_same_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    # more intervals than the median's sample: every step-th one in (mmsi, time) order,
    # whichever partition holds it
    from caspian_ais import reception as r

    monkeypatch.setattr(r, "MEDIAN_SAMPLE", 7)
    t = pd.concat([_thinned(5, 30, 48), _thinned(3, 1, 3).assign(mmsi=lambda d: d["mmsi"] + 9)],
                  ignore_index=True)
    opts = r.ReceptionOptions()
    whole = estimate_report_interval_s(t)
    assert np.isfinite(whole)
    for n_parts in (2, 4):
        parts = [t[t["mmsi"] % n_parts == k] for k in range(n_parts)]
        plan = r.interval_plan([r.interval_partial(p, opts) for p in parts])
        assert plan["step"] > 1
        got = r.merge_interval([r.interval_sample(p, opts, plan) for p in parts], plan)
        assert got == whole
    _assert_same_model(build_reception_model(t), _model_from_parts(parts))


def test_reception_options_are_the_build_defaults() -> None:
    import inspect
    import pickle

    from caspian_ais.reception import ReceptionOptions, reception_options

    sig = inspect.signature(build_reception_model).parameters
    o = ReceptionOptions()
    for k, p in sig.items():
        if k not in ("tracks", "order"):
            assert getattr(o, k) == p.default, k
    with pytest.raises(TypeError):
        ReceptionOptions(radius_km=3.0)  # a score_gaps option
    o2 = reception_options({"cell_deg": 0.5, "radius_km": 3.0}).with_interval(3 * 3600.0)
    assert (o2.cell_deg, o2.scaled()) == (0.5, (6.0, 180.0))
    assert pickle.loads(pickle.dumps(o2)).kw == o2.kw
