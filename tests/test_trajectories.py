"""movingpandas interop: track tables to TrajectoryCollections split at gaps, and back."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from caspian_ais.gaps import detect_gaps
from caspian_ais.testing import assert_tracks_equal
from caspian_ais.trajectories import (
    as_tracks,
    is_trajectory_collection,
    segment_ids,
    to_trajectories,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    import geopandas as gpd
    import movingpandas as mpd


def _tracks() -> pd.DataFrame:
    """Two vessels: A with two gaps (>= 6 h), B with none; rows deliberately shuffled."""
    t0 = pd.Timestamp("2023-06-01T00:00:00Z")
    a_h = [0, 1, 2, 9, 10, 11, 20, 21]  # silences 2->9 (7 h) and 11->20 (9 h)
    b_h = [0, 2, 4, 6, 8]
    df = pd.DataFrame(
        {
            "mmsi": [273000001] * len(a_h) + [422000002] * len(b_h),
            "timestamp": [t0 + pd.Timedelta(hours=h) for h in a_h + b_h],
            "lat": np.linspace(40.0, 41.0, len(a_h) + len(b_h)),
            "lon": np.linspace(50.0, 51.0, len(a_h) + len(b_h)),
            "name": ["ALPHA"] * len(a_h) + ["BRAVO"] * len(b_h),
        }
    )
    return df.sample(frac=1.0, random_state=3).reset_index(drop=True)


def test_split_at_gaps_gives_one_trajectory_per_stretch():
    t = _tracks()
    gaps = detect_gaps(t, "6h", enrich=False)
    assert len(gaps) == 2
    tc = to_trajectories(t, gaps=gaps)
    assert isinstance(tc, mpd.TrajectoryCollection)
    ids = sorted(traj.id for traj in tc)
    assert ids == ["273000001_0", "273000001_1", "273000001_2", "422000002_0"]
    assert {traj.obj_id for traj in tc} == {273000001, 422000002}
    # no trajectory spans a silence
    for traj in tc:
        start, end = traj.get_start_time(), traj.get_end_time()
        g = gaps[gaps["mmsi"] == traj.obj_id]
        for s, e in zip(
            g["start_time"].dt.tz_localize(None), g["end_time"].dt.tz_localize(None), strict=True
        ):
            assert end <= s or start >= e
    assert sum(len(traj.df) for traj in tc) == len(t)


def test_gaps_detected_when_not_given_and_no_split():
    t = _tracks()
    assert len(to_trajectories(t, min_gap="6h")) == 4
    assert len(to_trajectories(t, min_gap="8h")) == 3  # only the 9 h silence
    whole = to_trajectories(t, split_at_gaps=False)
    assert sorted(traj.id for traj in whole) == ["273000001", "422000002"]


def test_round_trip_through_movingpandas_keeps_reports():
    t = _tracks()
    tc = to_trajectories(t)
    assert is_trajectory_collection(tc)
    back = as_tracks(tc)
    assert str(back["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert_tracks_equal(back, t, columns=["mmsi", "timestamp", "lat", "lon", "name"], atol_deg=1e-9)
    # a collection is accepted where a table is: splitting it again gives the same stretches
    again = to_trajectories(tc)
    assert sorted(x.id for x in again) == sorted(x.id for x in tc)


def test_as_tracks_takes_mmsi_from_object_id_and_geometry():
    t = pd.DataFrame(
        {
            "t": pd.date_range("2023-06-01", periods=3, freq="h"),
            "vessel": [273000001] * 3,
            "geometry": gpd.points_from_xy([50.0, 50.1, 50.2], [40.0, 40.1, 40.2]),
        }
    )
    gdf = gpd.GeoDataFrame(t, geometry="geometry", crs="EPSG:4326").set_index("t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traj = mpd.Trajectory(gdf, traj_id="273000001_0", obj_id=273000001)
    back = as_tracks(traj)
    assert back["mmsi"].tolist() == [273000001] * 3
    assert back["lat"].tolist() == pytest.approx([40.0, 40.1, 40.2])
    assert back["flag_state"].iloc[0] == "RU"


def test_as_tracks_passes_tables_and_rejects_other_things():
    t = _tracks()
    assert as_tracks(t) is t
    pts = gpd.GeoDataFrame(
        t.drop(columns=["lat", "lon"]),
        geometry=gpd.points_from_xy(t["lon"], t["lat"]),
        crs="EPSG:4326",
    )
    np.testing.assert_allclose(as_tracks(pts)["lat"], t["lat"])
    with pytest.raises(TypeError, match="TrajectoryCollection"):
        as_tracks([1, 2, 3])


def test_single_report_stretches_are_dropped_by_movingpandas():
    t0 = pd.Timestamp("2023-06-01T00:00:00Z")
    t = pd.DataFrame(
        {
            "mmsi": [273000001] * 4,
            "timestamp": [
                t0,
                t0 + pd.Timedelta("1h"),
                t0 + pd.Timedelta("10h"),
                t0 + pd.Timedelta("20h"),
            ],
            "lat": [40.0, 40.1, 40.2, 40.3],
            "lon": [50.0, 50.1, 50.2, 50.3],
        }
    )
    tc = to_trajectories(t, min_gap="6h")
    assert [traj.id for traj in tc] == ["273000001_0"]


def test_segment_ids_counts_gaps_per_vessel_in_row_order():
    t = _tracks()
    gaps = detect_gaps(t, "6h", enrich=False)
    seg = segment_ids(t, gaps)
    # independent: number of the vessel's gap starts strictly before each report
    exp = [
        int(((gaps["mmsi"] == m) & (gaps["start_time"] < ts)).sum())
        for m, ts in zip(t["mmsi"], t["timestamp"], strict=True)
    ]
    assert seg.tolist() == exp
    assert segment_ids(t, gaps.iloc[:0]).tolist() == [0] * len(t)


def test_import_does_not_import_movingpandas():
    code = "import sys, caspian_ais.trajectories; sys.exit('movingpandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
