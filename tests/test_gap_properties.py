"""Property tests of detect_gaps, and agreement with an independent DuckDB computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caspian_ais.gaps import detect_gaps

DATA = Path(__file__).parent / "data" / "marinecadastre_2022-01-03_excerpt.csv"
T0 = pd.Timestamp("2023-06-01T00:00:00Z")


@st.composite
def tracks(draw: st.DrawFn) -> pd.DataFrame:
    """A few vessels, each with distinct report times (minutes) and positions."""
    n_vessels = draw(st.integers(1, 4))
    frames = []
    for k in range(n_vessels):
        minutes = draw(st.lists(st.integers(0, 5 * 24 * 60), min_size=1, max_size=25,
                                unique=True))
        m = np.array(sorted(minutes), dtype=np.int64)
        frames.append(pd.DataFrame({
            "mmsi": np.full(m.size, 273000001 + k, dtype=np.int64),
            "timestamp": T0 + pd.to_timedelta(m, unit="min"),
            "lat": 40.0 + 0.001 * m,
            "lon": 50.0 + 0.0005 * m + k,
        }))
    return pd.concat(frames, ignore_index=True)


def run(t: pd.DataFrame, **kw: object) -> pd.DataFrame:
    return detect_gaps(t, "6h", enrich=False, **kw)


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(t=tracks(), seed=st.integers(0, 2**31 - 1))
def test_shuffle_invariance(t: pd.DataFrame, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shuffled = t.iloc[rng.permutation(len(t))].reset_index(drop=True)
    pd.testing.assert_frame_equal(run(shuffled), run(t))


@SETTINGS
@given(t=tracks(), seed=st.integers(0, 2**31 - 1))
def test_duplicate_invariance(t: pd.DataFrame, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dup = t.iloc[rng.integers(0, len(t), size=len(t))]
    doubled = pd.concat([t, dup]).iloc[rng.permutation(2 * len(t))].reset_index(drop=True)
    pd.testing.assert_frame_equal(run(doubled), run(t))
    # the enriched counts too: duplicates are not counted twice
    cols = ["gap_id", "positions_before", "positions_after"]
    a = detect_gaps(doubled, "6h", reception_model=False, ports=_PORTS)[cols]
    b = detect_gaps(t, "6h", reception_model=False, ports=_PORTS)[cols]
    pd.testing.assert_frame_equal(a, b)


_PORTS = pd.DataFrame({"port": ["P"], "lat": [40.0], "lon": [50.0]})


@SETTINGS
@given(t=tracks())
def test_daily_split_invariance(t: pd.DataFrame) -> None:
    """Reading daily files and concatenating them gives the same gaps as one file."""
    days = t["timestamp"].dt.floor("D")
    parts = [part for _, part in t.groupby(days, sort=True)]
    recombined = pd.concat(parts[::-1], ignore_index=True)  # files in any order
    pd.testing.assert_frame_equal(run(recombined), run(t))
    # the gap ids, computed from mmsi + start only, are the same
    assert run(recombined)["gap_id"].tolist() == run(t)["gap_id"].tolist()


@SETTINGS
@given(t=tracks())
def test_matches_naive_loop(t: pd.DataFrame) -> None:
    """An obvious per-vessel loop (the reference) finds the same gaps."""
    ref = []
    for mmsi, v in t.sort_values(["mmsi", "timestamp"]).groupby("mmsi"):
        ts = v["timestamp"].tolist()
        for a, b in zip(ts[:-1], ts[1:], strict=True):
            if b - a >= pd.Timedelta(hours=6):
                ref.append((mmsi, a, b))
    got = run(t)
    assert list(zip(got["mmsi"], got["start_time"], got["end_time"], strict=True)) == ref
    assert (got["duration_h"] >= 6).all()


@SETTINGS
@given(t=tracks(), hours=st.floats(0.5, 30))
def test_threshold_monotone(t: pd.DataFrame, hours: float) -> None:
    """A longer min_gap never finds a gap a shorter one misses."""
    short = set(detect_gaps(t, hours, enrich=False)["gap_id"])
    long_ = set(detect_gaps(t, hours + 1.0, enrich=False)["gap_id"])
    assert long_ <= short


def _real_excerpt() -> pd.DataFrame:
    raw = pd.read_csv(DATA, usecols=["MMSI", "BaseDateTime", "LAT", "LON"])
    return pd.DataFrame({
        "mmsi": raw["MMSI"].astype("int64"),
        "timestamp": pd.to_datetime(raw["BaseDateTime"], utc=True),
        "lat": raw["LAT"].astype(float),
        "lon": raw["LON"].astype(float),
    })


@pytest.mark.parametrize("min_gap_s", [60, 180, 600])
def test_matches_duckdb_window_query_on_real_marinecadastre(min_gap_s: int) -> None:
    duckdb = pytest.importorskip("duckdb")
    t = _real_excerpt()
    con = duckdb.connect()
    con.register("t", t.assign(ts=t["timestamp"].dt.tz_localize(None)))
    ref = con.execute(
        f"""
        SELECT mmsi, prev AS start_time, ts AS end_time FROM (
            SELECT mmsi, ts, lag(ts) OVER (PARTITION BY mmsi ORDER BY ts) AS prev FROM t)
        WHERE prev IS NOT NULL AND ts - prev >= INTERVAL {min_gap_s} SECOND
        ORDER BY mmsi, start_time
        """
    ).df()
    got = detect_gaps(t, pd.Timedelta(seconds=min_gap_s), enrich=False)
    assert len(got) >= 10
    assert got["mmsi"].tolist() == ref["mmsi"].tolist()
    assert (got["start_time"].dt.tz_localize(None).to_numpy()
            == ref["start_time"].to_numpy(dtype="datetime64[ns]")).all()
    assert (got["end_time"].dt.tz_localize(None).to_numpy()
            == ref["end_time"].to_numpy(dtype="datetime64[ns]")).all()
