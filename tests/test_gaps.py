"""Tests of caspian_ais.gaps.detect_gaps (core columns, thresholds, edge cases)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from caspian_ais.gaps import BASE_COLUMNS, GAP_COLUMNS, detect_gaps, sort_tracks, to_timedelta

T0 = pd.Timestamp("2023-06-01T00:00:00Z")


def track(mmsi: int, hours: list[float], lat0: float = 40.0, lon0: float = 50.0,
          dlat: float = 0.01) -> pd.DataFrame:
    n = len(hours)
    return pd.DataFrame(
        {
            "mmsi": np.full(n, mmsi, dtype="int64"),
            "timestamp": [T0 + pd.Timedelta(hours=h) for h in hours],
            "lat": lat0 + dlat * np.arange(n),
            "lon": np.full(n, lon0),
        }
    )


def core(t: pd.DataFrame, min_gap: object = "6h", **kw: object) -> pd.DataFrame:
    return detect_gaps(t, min_gap, enrich=False, **kw)


def test_columns_and_dtypes() -> None:
    g = core(track(273000001, [0, 1, 8, 9]))
    assert tuple(g.columns) == GAP_COLUMNS
    assert tuple(g.columns[: len(BASE_COLUMNS)]) == BASE_COLUMNS
    assert str(g["mmsi"].dtype) == "int64"
    assert str(g["start_time"].dtype) == "datetime64[ns, UTC]"
    assert str(g["end_time"].dtype) == "datetime64[ns, UTC]"
    assert g["is_closed"].dtype == bool


def test_one_gap_values() -> None:
    g = core(track(273000001, [0, 1, 8, 9]))
    assert len(g) == 1
    r = g.iloc[0]
    assert r["start_time"] == T0 + pd.Timedelta(hours=1)
    assert r["end_time"] == T0 + pd.Timedelta(hours=8)
    assert r["duration_h"] == pytest.approx(7.0)
    assert r["start_lat"] == pytest.approx(40.01) and r["end_lat"] == pytest.approx(40.02)
    # 0.01 degree of latitude = 1.112 km
    assert r["distance_km"] == pytest.approx(1.1119508, rel=1e-6)
    assert r["implied_speed_kn"] == pytest.approx(1.1119508 / 1.852 / 7.0, rel=1e-6)
    assert r["gap_id"] == f"273000001-{int((T0 + pd.Timedelta(hours=1)).timestamp())}"
    assert bool(r["is_closed"])


def test_threshold_is_inclusive_at_boundary() -> None:
    t = track(273000001, [0, 6, 6 + 5.999, 12 + 5.999 + 1e-3])
    g = core(t, "6h")
    # intervals: 6 h (kept), 5.999 h (not), 6.001 h... (kept)
    assert g["duration_h"].round(6).tolist() == [6.0, pytest.approx(6.001, abs=1e-6)]
    one_second_short = track(273000001, [0, 6 - 1 / 3600])
    assert core(one_second_short, "6h").empty


@pytest.mark.parametrize(
    "min_gap", ["6h", pd.Timedelta(hours=6), dt.timedelta(hours=6), 6, 6.0, np.timedelta64(6, "h")]
)
def test_min_gap_forms(min_gap: object) -> None:
    assert len(core(track(273000001, [0, 6, 7]), min_gap)) == 1
    assert to_timedelta(min_gap) == pd.Timedelta(hours=6)


def test_min_gap_invalid() -> None:
    with pytest.raises(ValueError):
        core(track(1, [0, 1]), 0)
    with pytest.raises(TypeError):
        core(track(1, [0, 1]), [6])


def test_empty_and_single_row() -> None:
    e = core(track(1, [0, 7]).iloc[:0])
    assert e.empty and tuple(e.columns) == GAP_COLUMNS
    assert str(e["start_time"].dtype) == "datetime64[ns, UTC]"
    assert core(track(1, [0])).empty


def test_unsorted_multi_vessel() -> None:
    t = pd.concat([track(273000002, [0, 10, 11]), track(273000001, [0, 1, 20, 30]),
                   track(422000001, [5, 6])])
    rng = np.random.default_rng(1)
    shuffled = t.iloc[rng.permutation(len(t))].reset_index(drop=True)
    g = core(shuffled)
    assert g["mmsi"].tolist() == [273000001, 273000001, 273000002]
    assert g["duration_h"].tolist() == [19.0, 10.0, 10.0]
    pd.testing.assert_frame_equal(g, core(t))


def test_gaps_never_cross_vessels() -> None:
    a = track(273000001, [0, 1])
    b = track(273000002, [20, 21])
    assert core(pd.concat([a, b])).empty


def test_equal_timestamps_are_kept_not_gaps() -> None:
    # a moored vessel reporting twice per timestamp; duplicates never create or hide gaps
    t = track(273000001, [0, 0, 0, 7, 7, 8])
    g = core(t)
    assert len(g) == 1
    assert g.iloc[0]["start_time"] == T0 and g.iloc[0]["end_time"] == T0 + pd.Timedelta(hours=7)
    dup = pd.concat([t, t, t]).reset_index(drop=True)
    pd.testing.assert_frame_equal(core(dup), g)


def test_tied_ends_resolved_independently_of_row_order() -> None:
    t = track(273000001, [0, 1, 1, 9, 9])
    t.loc[2, "lat"] = 39.0  # two different positions at the same gap-start time
    t.loc[4, "lat"] = 38.0
    g1 = core(t)
    g2 = core(t.iloc[::-1].reset_index(drop=True))
    pd.testing.assert_frame_equal(g1, g2)
    assert g1.iloc[0]["start_lat"] == 39.0 and g1.iloc[0]["end_lat"] == 38.0


def test_open_gaps() -> None:
    t = pd.concat([track(273000001, [0, 1, 8]), track(273000002, [0, 20])])
    closed = core(t)
    assert closed["is_closed"].all() and len(closed) == 2
    g = core(t, include_open=True)
    op = g[~g["is_closed"]]
    # 273000001 last heard at 8 h, data end 20 h: 12 h of silence >= 6 h
    assert op["mmsi"].tolist() == [273000001]
    assert pd.isna(op.iloc[0]["end_time"]) and np.isnan(op.iloc[0]["end_lat"])
    assert op.iloc[0]["duration_h"] == pytest.approx(12.0)
    # explicit data_end at the boundary (exactly min_gap after 273000002's last report)
    g2 = core(t, include_open=True, data_end=T0 + pd.Timedelta(hours=26))
    assert set(g2.loc[~g2["is_closed"], "mmsi"]) == {273000001, 273000002}
    g3 = core(t, include_open=True, data_end=T0 + pd.Timedelta(hours=26) - pd.Timedelta("1s"))
    assert set(g3.loc[~g3["is_closed"], "mmsi"]) == {273000001}
    # the ordering stays (mmsi, start_time)
    assert g.equals(g.sort_values(["mmsi", "start_time"], ignore_index=True))


def test_gap_id_stable_across_splits() -> None:
    t = track(273000001, [0, 1, 30, 31, 60])
    whole = core(t)
    parts = [core(t.iloc[:3]), core(t.iloc[2:])]
    assert set(whole["gap_id"]) == set(pd.concat(parts)["gap_id"])
    assert whole["gap_id"].is_unique


def test_subsecond_and_nanosecond_timestamps_sort_exactly() -> None:
    ts = pd.to_datetime(["2023-01-01 00:00:00.000000001", "2023-01-01 00:00:00.000000002",
                         "2023-01-01 07:00:00.000000003"], utc=True)
    t = pd.DataFrame({"mmsi": [273000001] * 3, "timestamp": ts, "lat": [1.0, 2, 3],
                      "lon": [0.0, 0, 0]})
    g = core(t.iloc[[2, 0, 1]])
    assert g.iloc[0]["start_time"] == ts[1] and g.iloc[0]["end_time"] == ts[2]
    assert g.iloc[0]["gap_id"].endswith(".000000002")


def test_sort_tracks_fallback_matches_lexsort() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    mmsi = rng.integers(200_000_000, 800_000_000, 400)[rng.integers(0, 400, n)]
    # nanosecond resolution over ~30 years: the packed key cannot hold it
    ns = rng.integers(0, 30 * 365 * 86400 * 10**9, n)
    t = pd.DataFrame({"mmsi": mmsi, "timestamp": pd.to_datetime(ns, utc=True)})
    st = sort_tracks(t)
    ref = np.lexsort((ns, mmsi))
    assert np.array_equal(st.order, ref)
    t2 = t.assign(timestamp=t["timestamp"].dt.floor("s"))
    st2 = sort_tracks(t2)
    ns2 = t2["timestamp"].dt.tz_localize(None).to_numpy().view("int64")
    ref2 = np.lexsort((np.arange(n), ns2, mmsi))
    assert np.array_equal(st2.order, ref2)
    lo = st2.search(st2.code, st2.t_ns, side="left")
    assert np.array_equal(st2.t_ns[lo], st2.t_ns) and np.all(lo <= np.arange(n))


def test_naive_timestamps_taken_as_utc() -> None:
    t = track(273000001, [0, 7])
    naive = t.assign(timestamp=t["timestamp"].dt.tz_localize(None))
    pd.testing.assert_frame_equal(core(naive), core(t))


def test_nat_timestamp_raises() -> None:
    t = track(273000001, [0, 7])
    t.loc[1, "timestamp"] = pd.NaT
    with pytest.raises(ValueError, match="clean"):
        core(t)


# --------------------------------------------------------------------------- enrichment
PORTS = pd.DataFrame({"port": ["P", "Q"], "country": ["IR", "RU"], "lat": [40.0, 41.0],
                      "lon": [50.0, 50.0], "area_radius_km": [3.0, 3.0],
                      "approach_radius_km": [50.0, 50.0]})


def test_context_columns_in_order() -> None:
    from caspian_ais.gaps import CONTEXT_COLUMNS

    g = detect_gaps(track(273000001, [0, 1, 8, 9]), ports=PORTS)
    assert tuple(g.columns) == GAP_COLUMNS + CONTEXT_COLUMNS
    assert g["suspicious"].dtype == bool
    assert g.iloc[0]["flag_state"] == "RU"


def test_nearest_port_and_in_port_at_both_ends() -> None:
    # start 2.9 km north of P (inside its 3 km area), end 3.1 km north (outside)
    km = 1 / 111.195
    t = pd.DataFrame({"mmsi": [273000001] * 2, "lat": [40.0 + 2.9 * km, 40.0 + 3.1 * km],
                      "lon": [50.0, 50.0],
                      "timestamp": [T0, T0 + pd.Timedelta(hours=7)]})
    r = detect_gaps(t, ports=PORTS, reception_model=False).iloc[0]
    assert r["start_port"] == "P" and r["end_port"] == "P"
    assert r["start_port_km"] == pytest.approx(2.9, abs=1e-3)
    assert bool(r["start_in_port"]) and not bool(r["end_in_port"])
    assert r["reason"] == "dark_unscored" and bool(r["suspicious"])


def test_positions_before_and_after_windows_at_boundary() -> None:
    # reports at -12 h (inside the window, inclusive), -12.01 h (outside), duplicates
    hours = [-12.01, -12.0, -5, -5, 0, 7, 7 + 12, 7 + 12.01]
    t = track(273000001, hours)
    t.loc[3, "lat"] = t.loc[2, "lat"]
    g = detect_gaps(t, "6h", ports=PORTS, reception_model=False)
    r = g[g["start_time"] == T0].iloc[0]
    assert r["positions_before"] == 3  # -12, -5 (twice, counted once), 0
    assert r["positions_after"] == 2  # 7 and 19
    g2 = detect_gaps(t, "6h", ports=PORTS, reception_model=False, window_h=12.01)
    r2 = g2[g2["start_time"] == T0].iloc[0]
    assert r2["positions_before"] == 4 and r2["positions_after"] == 3


def test_reason_precedence_and_thresholds() -> None:
    km = 1 / 111.195
    # vessel 1: off at berth in P for 10 h; vessel 2: 5 h gap (short for suspicious_min_h=6
    # when min_gap is 4 h); vessel 3: impossible jump; vessel 4: open gap
    a = pd.DataFrame({"mmsi": 273000001, "lat": [40.0, 40.0 + km], "lon": 50.0,
                      "timestamp": [T0, T0 + pd.Timedelta(hours=10)]})
    b = pd.DataFrame({"mmsi": 273000002, "lat": [40.5, 40.5], "lon": 50.0,
                      "timestamp": [T0, T0 + pd.Timedelta(hours=5)]})
    c = pd.DataFrame({"mmsi": 273000003, "lat": [40.5, 45.5], "lon": 50.0,
                      "timestamp": [T0, T0 + pd.Timedelta(hours=6)]})
    d = pd.DataFrame({"mmsi": 273000004, "lat": [40.5], "lon": 51.0, "timestamp": [T0]})
    t = pd.concat([a, b, c, d], ignore_index=True)
    g = detect_gaps(t, "4h", ports=PORTS, reception_model=False, include_open=True)
    closed = g[g["is_closed"]]
    reasons = dict(zip(closed["mmsi"], closed["reason"], strict=True))
    assert reasons == {273000001: "off_at_berth", 273000002: "short",
                       273000003: "implausible_speed"}
    assert closed.set_index("mmsi")["suspicious"].to_dict() == {
        273000001: True, 273000002: False, 273000003: False}
    op = g[~g["is_closed"]]
    assert set(op["mmsi"]) == {273000002, 273000003, 273000004}
    assert (op["reason"] == "open").all() and not op["suspicious"].any()
    # at the boundary: a 5 h gap is suspicious with suspicious_min_h=5
    g5 = detect_gaps(t, "4h", ports=PORTS, reception_model=False, suspicious_min_h=5.0)
    g5 = g5[g5["is_closed"]]
    assert g5.set_index("mmsi").loc[273000002, "suspicious"]
    # 555.9 km in 6 h = 50.03 kn: above max_speed_kn=50, below 51
    g6 = detect_gaps(t, "4h", ports=PORTS, reception_model=False, max_speed_kn=51)
    g6 = g6[g6["is_closed"]]
    assert g6.set_index("mmsi").loc[273000003, "reason"] == "dark_unscored"


def test_unknown_option_rejected() -> None:
    with pytest.raises(TypeError, match="unexpected"):
        detect_gaps(track(273000001, [0, 7]), ports=PORTS, cel_deg=0.2)


def test_reception_options_passed_through() -> None:
    t = track(273000001, [0, 0.5, 1, 8, 9])
    g1 = detect_gaps(t, ports=PORTS, cell_deg=0.5, radius_km=5.0)
    assert len(g1) == 1 and 0 <= g1.iloc[0]["reception_score"] <= 1


def test_ship_type_filled_from_other_reports() -> None:
    t = track(273000001, [0, 1, 8, 9])
    t["ship_type"] = pd.array([pd.NA, pd.NA, 70, 70], dtype="Int16")
    g = detect_gaps(t, ports=PORTS, reception_model=False)
    assert g.iloc[0]["ship_type"] == 70


def test_co_onset_window_and_radius_boundaries() -> None:
    from caspian_ais.gaps import co_onset

    t0 = pd.Timestamp("2023-06-01", tz="UTC")
    g = pd.DataFrame({
        "mmsi": [1, 2, 3, 4],
        "start_time": [t0, t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(hours=1, seconds=1),
                       t0],
        "start_lat": [40.0, 40.0, 40.0, 40.0 + 30.5 / 111.195],
        "start_lon": [50.0, 50.0, 50.0, 50.0],
    })
    # exactly 1 h apart counts (inclusive); 1 h 1 s does not; 30.5 km is beyond 30 km
    assert co_onset(g, window_h=1.0, radius_km=30.0).tolist() == [1, 2, 1, 0]
    # the same vessel never counts for itself
    assert co_onset(g.assign(mmsi=1)).tolist() == [0, 0, 0, 0]


def test_co_onset_makes_outage_not_suspicious() -> None:
    # three vessels in good coverage fall silent together: a receiver outage
    t0 = pd.Timestamp("2023-06-01", tz="UTC")
    rows = []
    for v in range(3):
        for k in range(40):  # heard every 6 min, then 10 h of silence, then again
            rows.append((273000001 + v, t0 + pd.Timedelta(minutes=6 * k), 42.0, 51.0 + 0.01 * v))
            rows.append((273000001 + v, t0 + pd.Timedelta(hours=14, minutes=6 * k), 42.0,
                         51.0 + 0.01 * v))
    t = pd.DataFrame(rows, columns=["mmsi", "timestamp", "lat", "lon"])
    # without a reception model only the onset evidence is there
    g = detect_gaps(t, "6h", reception_model=False)
    assert (g["co_onset"] == 2).all()
    assert set(g["reason"]) == {"co_silence"} and not g["suspicious"].any()
    # boundary: 2 >= 2 applies, 2 >= 3 does not
    g3 = detect_gaps(t, "6h", reception_model=False, min_co_onset=3)
    assert set(g3["reason"]) == {"dark_unscored"}
    # with the learned model the neighbours' silence says the same
    assert not detect_gaps(t, "6h")["suspicious"].any()


# --- sampling interval and Class B ---------------------------------------------------


def _hourly(mmsi: int, lat: float, off_h: float, gap_at_h: float, *, hours: int = 60,
            gap_h: float = 7.0) -> pd.DataFrame:
    """A vessel under way reported once an hour, silent for ``gap_h`` from ``gap_at_h``."""
    t0 = pd.Timestamp("2023-06-01", tz="UTC")
    h = np.arange(hours, dtype=float) + off_h
    h = np.where(h > gap_at_h, h + gap_h, h)
    return pd.DataFrame({"mmsi": mmsi, "timestamp": t0 + pd.to_timedelta(h, "h"),
                         "lat": lat, "lon": 50.0 + h * 0.001, "sog_kn": 10.0})


def test_onset_window_widens_with_reporting_interval() -> None:
    from caspian_ais.gaps import detect_gaps as dg

    # three vessels 1 km apart begin gaps 2 h apart; reports every hour (interval 3600 s)
    t = pd.concat([_hourly(273000301, 40.00, 0.0, 20.0), _hourly(273000302, 40.01, 0.0, 22.0),
                   _hourly(273000303, 40.02, 0.0, 24.0)], ignore_index=True)
    g = dg(t, "6h", reception_model=False)
    assert g.attrs["report_interval_s"] == pytest.approx(3600.0)
    # window = max(1 h, 2 x 1 h) = 2 h: neighbours 2 h apart count (inclusive)
    assert g.sort_values("start_time")["co_onset"].tolist() == [1, 2, 1]
    assert (~g["suspicious"] | (g["co_onset"] < 2)).all()
    # just below the boundary they do not
    g2 = dg(t, "6h", reception_model=False, onset_intervals=1.99)
    assert g2["co_onset"].tolist() == [0, 0, 0]


def test_class_b_held_to_many_passes_only() -> None:
    import dataclasses

    from caspian_ais.gaps import detect_gaps as dg
    from caspian_ais.reception import build_reception_model as brm

    t0 = pd.Timestamp("2023-06-01", tz="UTC")
    t = pd.DataFrame({"mmsi": 273000401, "timestamp": [t0, t0 + pd.Timedelta(hours=30)],
                      "lat": 42.0, "lon": [50.0, 56.0], "sog_kn": 10.0, "ais_class": "B"})
    base = brm(t)
    hour = 3_600_000_000_000

    def model(k: int) -> object:
        s = np.array([t0.value + (2 + 3 * i) * hour for i in range(k)], dtype=np.int64)
        return dataclasses.replace(base, pass_start_ns=s, pass_end_ns=s + hour // 6)

    def reason(k: int, **kw: object) -> str:
        g = dg(t, "6h", reception_model=model(k), min_score=1.01, **kw)
        return str(g["reason"].iloc[0])

    assert reason(8) == "dark_between_passes"
    assert reason(7) == "poor_coverage"
    assert reason(7, min_passes_class_b=7) == "dark_between_passes"
    # the same as Class A: one pass while it kept moving is enough
    ta = t.assign(ais_class="A")
    g = dg(ta, "6h", reception_model=model(1), min_score=1.01)
    assert g["reason"].iloc[0] == "dark_between_passes"
