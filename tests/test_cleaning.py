"""Tests of caspian_ais.cleaning.clean and its ledger."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caspian_ais.cleaning import clean, find_position_jumps
from caspian_ais.geodesy import KM_PER_NM, haversine_km
from caspian_ais.ledger import attach_rejected, make_ledger
from caspian_ais.schema import to_canonical
from caspian_ais.testing import assert_canonical, assert_ledger_valid

T0 = pd.Timestamp("2022-09-01T00:00:00Z")


def track(
    mmsi: int,
    n: int,
    *,
    step_min: float = 10.0,
    lat0: float = 42.0,
    dlat: float = 0.01,
    lon0: float = 50.0,
) -> pd.DataFrame:
    """A straight northbound track: n reports, one every step_min minutes."""
    return pd.DataFrame(
        {
            "mmsi": mmsi,
            "timestamp": T0 + pd.to_timedelta(np.arange(n) * step_min, unit="min"),
            "lat": lat0 + np.arange(n) * dlat,
            "lon": lon0,
            "sog_kn": 10.0,
        }
    )


def canon(df: pd.DataFrame) -> pd.DataFrame:
    return to_canonical(df.reset_index(drop=True), source_file="mem.csv")


def test_every_input_row_is_kept_or_ledgered() -> None:
    df = pd.concat([track(273000001, 20), track(422000001, 20, lat0=37.5)], ignore_index=True)
    df.loc[3, "lat"] = np.nan  # missing position
    df.loc[5, "lat"] = 123.4  # impossible
    df.loc[7, "mmsi"] = 123  # invalid MMSI
    df.loc[9, "timestamp"] = pd.NaT  # unparseable time
    df.loc[30, "lat"] = 44.0  # spike: > 100 km away for one report
    df = pd.concat([df, df.iloc[[12, 25]]], ignore_index=True)  # two exact duplicates
    raw = canon(df)
    tracks, ledger = clean(raw)
    assert_canonical(tracks)
    assert_ledger_valid(ledger)
    assert len(tracks) + len(ledger) == len(raw)
    got = dict(zip(ledger["source_row"].astype(int), ledger["reason"], strict=True))
    assert got == {
        4: "missing_position",
        6: "impossible_coordinates",
        8: "invalid_mmsi",
        10: "unparseable_timestamp",
        31: "position_jump",
        41: "duplicate",
        42: "duplicate",
    }
    # kept rows are sorted by vessel then time
    key = list(zip(tracks["mmsi"], tracks["timestamp"], strict=True))
    assert key == sorted(key)


def test_loader_rejections_are_carried_into_the_ledger() -> None:
    raw = canon(track(273000001, 5))
    attach_rejected(
        raw,
        make_ledger(None, reason="corrupt_nmea", source_file="log.nmea")
        .reindex([0])
        .assign(source_file="log.nmea", reason="corrupt_nmea", detail="bad checksum"),
    )
    _, ledger = clean(raw)
    assert list(ledger["reason"]) == ["corrupt_nmea"]
    assert ledger.loc[0, "source_file"] == "log.nmea"


@pytest.mark.parametrize(("factor", "dropped"), [(0.999, False), (1.0, False), (1.001, True)])
def test_jump_threshold_is_strictly_greater(factor: float, dropped: bool) -> None:
    # one report 30 min after the first, at exactly factor * 50 kn
    d_km = 50.0 * KM_PER_NM * 0.5 * factor
    dlat = d_km / haversine_km(0, 50, 1, 50).item()
    df = pd.DataFrame(
        {
            "mmsi": 273000001,
            "timestamp": [T0, T0 + pd.Timedelta("30min")],
            "lat": [42.0, 42.0 + dlat],
            "lon": 50.0,
        }
    )
    # a third report consistent with the first makes the second an isolated spike
    df = pd.concat(
        [
            df,
            pd.DataFrame(
                {
                    "mmsi": [273000001],
                    "timestamp": [T0 + pd.Timedelta("60min")],
                    "lat": [42.0],
                    "lon": [50.0],
                }
            ),
        ],
        ignore_index=True,
    )
    tracks, ledger = clean(canon(df), max_speed_kn=50.0)
    assert (len(ledger) == 1) is dropped
    assert len(tracks) == (2 if dropped else 3)


def test_jitter_within_tolerance_is_not_a_jump() -> None:
    df = pd.DataFrame(
        {
            "mmsi": 273000001,
            "timestamp": [T0, T0, T0 + pd.Timedelta("1s")],
            "lat": [42.0, 42.001, 42.0],
            "lon": 50.0,
        }
    )
    tracks, ledger = clean(canon(df))
    assert len(tracks) == 3 and len(ledger) == 0


def test_shared_mmsi_alternating_keeps_one_ship() -> None:
    # two ships 300 km apart transmitting the same MMSI alternately
    a = track(273000001, 12, step_min=5)
    b = track(273000001, 12, step_min=5, lat0=45.0)
    b["timestamp"] += pd.Timedelta("150s")
    raw = canon(pd.concat([a, b], ignore_index=True))
    tracks, ledger = clean(raw)
    assert len(tracks) + len(ledger) == 24
    assert set(ledger["reason"]) == {"position_jump"}
    lat = tracks["lat"].to_numpy()
    assert np.all(lat < 44.0) or np.all(lat >= 45.0)
    assert len(tracks) >= 11


def test_relocation_drops_the_shorter_stretch() -> None:
    a = track(273000001, 30)
    b = track(273000001, 5, lat0=46.0)
    b["timestamp"] += pd.Timedelta(minutes=300 + 10)
    tracks, ledger = clean(canon(pd.concat([a, b], ignore_index=True)))
    assert len(tracks) == 30 and (ledger["reason"] == "position_jump").sum() == 5
    # each dropped row reports the impossible step at the edge of its stretch
    speeds = ledger["detail"].str.extract(r"implied speed ([0-9.]+) kn")[0].astype(float)
    assert (speeds > 50.0).all()


def test_non_vessel_mmsi_kept_apart() -> None:
    df = pd.concat([track(273000001, 3), track(992731234, 3), track(2734567, 3)], ignore_index=True)
    tracks, ledger = clean(canon(df))
    assert set(tracks["mmsi"]) == {273000001}
    assert sorted(ledger["reason"].unique()) == ["non_vessel_mmsi"]
    tracks2, ledger2 = clean(canon(df), drop_non_vessels=False)
    assert set(tracks2["mmsi"]) == {273000001, 992731234, 2734567}


def test_moored_zero_length_steps_are_kept() -> None:
    df = pd.DataFrame(
        {
            "mmsi": 273000001,
            "timestamp": T0 + pd.to_timedelta(np.arange(50) * 3, unit="min"),
            "lat": 37.4769,
            "lon": 49.4718,
            "sog_kn": 0.0,
        }
    )
    tracks, ledger = clean(canon(df))
    assert len(tracks) == 50 and ledger.empty


def test_timezone_is_kept_utc() -> None:
    tracks, _ = clean(canon(track(273000001, 3)))
    assert str(tracks["timestamp"].dt.tz) == "UTC"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_result_independent_of_row_order_and_duplication(seed: int) -> None:
    rng = np.random.default_rng(seed)
    df = pd.concat([track(273000001, 15), track(422000001, 15, lat0=37.0)], ignore_index=True)
    df.loc[rng.integers(0, len(df)), "lat"] = 44.9  # a spike somewhere
    base, _ = clean(canon(df))
    shuffled = df.sample(frac=1.0, random_state=int(rng.integers(0, 2**31)))
    doubled = pd.concat([shuffled, shuffled.iloc[: int(rng.integers(0, len(df)))]])
    again, ledger = clean(canon(doubled))
    cols = ["mmsi", "timestamp", "lat", "lon"]
    pd.testing.assert_frame_equal(base[cols], again[cols])


def test_find_position_jumps_empty() -> None:
    rows, speed = find_position_jumps(
        np.empty(0, "int64"), np.empty(0, "int64"), np.empty(0), np.empty(0)
    )
    assert rows.size == 0 and speed.size == 0


def test_teleport_excursion_is_dropped_not_the_track_after_it() -> None:
    # 3 reports teleported 400 km away, then the real track resumes 5.5 h later at a
    # point that is reachable (< 50 kn) from the teleport but also from the true track:
    # the excursion must go, the real track after it must stay.
    a = track(422000001, 30)  # 42.00 .. 42.29 N
    tele = track(422000001, 3, step_min=1, lat0=45.6)  # 400 km north
    tele["timestamp"] += pd.Timedelta(minutes=300)
    b = track(422000001, 40, lat0=43.5)  # resumes 130 km on
    b["timestamp"] += pd.Timedelta(hours=10)
    tracks, ledger = clean(canon(pd.concat([a, tele, b], ignore_index=True)))
    assert sorted(ledger["source_row"]) == [31, 32, 33]
    assert set(ledger["reason"]) == {"position_jump"}
    assert len(tracks) == 70


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_timestamp_ns_converts_every_unit(unit: str) -> None:
    from caspian_ais.schema import timestamp_ns

    t = pd.Series(pd.to_datetime(["2022-09-01T00:00:01"]).as_unit(unit))
    expected = pd.Timestamp("2022-09-01T00:00:01Z").value
    assert timestamp_ns(t)[0] == expected
    assert timestamp_ns(t.dt.tz_localize("UTC"))[0] == expected


def _every_step(mmsi: np.ndarray, t_ns: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                max_kmh: float, tolerance_km: float,
                step_speed: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                ) -> tuple[np.ndarray, np.ndarray]:
    """The first pass measured on every step (no bound, as before the shortcut)."""
    i = np.arange(mmsi.size - 1)
    return step_speed(i, i + 1)


def _every_vessel(mmsi: np.ndarray, bad: np.ndarray, v: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All rows in the passes (no selection of the vessels with a jump)."""
    return np.arange(mmsi.size), bad, v


def jumpy_tracks(seed: int, *, grouped: bool = True) -> tuple[np.ndarray, ...]:
    """Sorted multi-vessel columns with spikes, teleports, ties, jitter and edge speeds."""
    rng = np.random.default_rng(seed)
    n_vessels = int(rng.integers(1, 7))
    cols: list[tuple[np.ndarray, ...]] = []
    for k in range(n_vessels):
        n = int(rng.integers(1, 80))
        step_s = rng.choice([0, 1, 10, 60, 600], n).astype(np.int64)
        t = T0.value + np.cumsum(step_s) * 10**9
        speed_kn = rng.choice([0.0, 5.0, 20.0, 49.9, 50.0, 50.1, 300.0], n)
        dist_km = speed_kn * KM_PER_NM * step_s / 3600.0
        dist_km += rng.choice([0.0, 0.3, 0.5, 0.50001, 2.0], n) * (rng.random(n) < 0.2)
        lat = 42.0 + np.cumsum(dist_km) / 111.19508
        lon = 50.0 + rng.normal(0.0, 1e-4, n) * (rng.random(n) < 0.3)
        spike = rng.random(n) < 0.08
        lat[spike] += rng.choice([1.0, 4.0, -3.0], int(spike.sum()))
        if rng.random() < 0.3 and n > 10:  # a teleported stretch
            a = int(rng.integers(1, n - 5))
            lat[a : a + int(rng.integers(1, 5))] += 5.0
        lat[rng.random(n) < 0.02] = np.nan
        cols.append((np.full(n, 273_000_001 + k, dtype=np.int64), t, lat, lon))
    mmsi, t, lat, lon = (np.concatenate(c) for c in zip(*cols, strict=True))
    if not grouped and mmsi.size > 4:  # one MMSI in two runs: the selection must not apply
        mmsi[-(mmsi.size // 3):] = 273_000_001
    return mmsi, t, lat, lon


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), grouped=st.booleans())
def test_jump_shortcuts_change_nothing(seed: int, grouped: bool) -> None:
    from unittest import mock

    from caspian_ais import cleaning

    cols = jumpy_tracks(seed, grouped=grouped)
    got = find_position_jumps(*cols)
    with mock.patch.object(cleaning, "_first_steps", _every_step), \
            mock.patch.object(cleaning, "_vessels_with_jumps", _every_vessel):
        ref = find_position_jumps(*cols)
    assert np.array_equal(got[0], ref[0])
    assert np.array_equal(got[1], ref[1], equal_nan=True)
