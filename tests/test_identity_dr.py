"""Dead reckoning with one change of velocity, stale fixes, excursions left by an
impossible step, and placeholder names (``caspian_ais.identity``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.identity import detect_identity_anomalies

T0 = pd.Timestamp("2022-09-01 00:00", tz="UTC")
SHIP = 273000001
LAT, LON = 38.5, 50.6  # open water; a few hundred km north stay at sea
KM_PER_DEG = 6371.0088 * np.pi / 180.0


def voyage(times_h: list[float] | np.ndarray, legs: list[tuple[float, float, float]],
           lat: float = LAT, lon: float = LON) -> pd.DataFrame:
    """Reports at ``times_h`` (hours after T0) of a ship sailing ``legs``: ``(hours, sog
    kn, cog deg)`` one after the other (rhumb lines, integrated minute by minute); each
    report gives the leg it is on."""
    ends = np.cumsum([h for h, _, _ in legs])
    rows = []
    for th in np.asarray(times_h, dtype=float):
        la, lo, start = lat, lon, 0.0
        sog = cog = 0.0
        for (_, sog, cog), end in zip(legs, ends, strict=True):
            n_min = int(np.ceil((min(th, end) - start) * 60))
            for dt in np.full(n_min, (min(th, end) - start) / max(n_min, 1)):
                km = sog * 1.852 * dt
                mid = la + km * np.cos(np.radians(cog)) / 2 / KM_PER_DEG
                la += km * np.cos(np.radians(cog)) / KM_PER_DEG
                lo += km * np.sin(np.radians(cog)) / (KM_PER_DEG * np.cos(np.radians(mid)))
            start = end
            if th <= end:
                break
        rows.append({"mmsi": SHIP, "timestamp": T0 + pd.Timedelta(hours=float(th)),
                     "lat": la, "lon": lo, "sog_kn": sog, "cog_deg": cog})
    return pd.DataFrame(rows)


def kinds(df: pd.DataFrame, **kw) -> list[str]:
    return detect_identity_anomalies(df, **kw)["kind"].tolist()


def shift_east(df: pd.DataFrame, rows: pd.Index | list[int], km: float,
               bearing_deg: float = 90.0) -> None:
    """Move ``rows`` ``km`` on ``bearing_deg`` (east by default)."""
    b = np.radians(bearing_deg)
    df.loc[rows, "lat"] += km * np.cos(b) / KM_PER_DEG
    df.loc[rows, "lon"] += km * np.sin(b) / (KM_PER_DEG * np.cos(np.radians(df.loc[rows, "lat"])))


# ---- dead reckoning: one change of velocity at an unknown moment -----------------------


def residual(df: pd.DataFrame, a: int, b: int) -> tuple[float, float, float]:
    from caspian_ais.identity import _dr_residual
    from caspian_ais.schema import timestamp_ns

    rn, re, res = _dr_residual(df["lat"].to_numpy(), df["lon"].to_numpy(),
                               timestamp_ns(df["timestamp"]), df["sog_kn"].to_numpy(),
                               df["cog_deg"].to_numpy(), np.array([a]), np.array([b]), 2.0)
    return float(rn[0]), float(re[0]), float(res[0])


@pytest.mark.parametrize("change_h", [0.01, 3.0, 7.0, 9.99])
def test_one_change_of_speed_and_course_is_explained(change_h: float) -> None:
    # 11 kn north, then 7 kn on 40 deg, the change at any moment of a 10 h silence
    t = voyage([0.0, 10.0], [(change_h, 11.0, 0.0), (20.0, 7.0, 40.0)])
    assert residual(t, 0, 1)[2] < 0.2


def test_residual_of_a_steady_ship_is_the_plain_dead_reckoning_error() -> None:
    t = voyage([0.0, 5.0], [(10.0, 10.0, 0.0)])
    shift_east(t, [1], 20.0)
    rn, re, res = residual(t, 0, 1)
    assert res == pytest.approx(20.0, abs=0.2)
    assert re == pytest.approx(20.0, abs=0.2) and abs(rn) < 0.2
    # beyond the fitted change: displaced along the course, past the faster velocity
    t = voyage([0.0, 5.0], [(2.0, 10.0, 0.0), (3.0, 6.0, 0.0)])
    t.loc[1, "lat"] += 30.0 / KM_PER_DEG  # 30 km further than even 10 kn all along
    assert residual(t, 0, 1)[2] == pytest.approx(30.0 - 4 * 1.852 * 3.0, abs=0.3)


def spoof_left_slowing(offset_km: float = 40.0) -> pd.DataFrame:
    """Heard every 2 h at 11 kn north; after 3.5 h of silence reports 3-6 are broadcast
    ``offset_km`` north-east (60 deg) of the track; then 10 h of silence in which the
    ship turned to 30 deg and slowed to 7 kn, heard every 2 h again after. Every step is
    possible."""
    times = [0, 2, 4, 7.5, 9, 11, 13, 23, 25, 27, 29]
    t = voyage(times, [(17.0, 11.0, 0.0), (30.0, 7.0, 30.0)])
    shift_east(t, list(t.index[3:7]), offset_km, 60.0)
    return t


def test_spoof_left_across_a_silence_with_a_change_of_speed_and_course() -> None:
    t = spoof_left_slowing()
    out = detect_identity_anomalies(t)
    assert out["kind"].tolist() == ["spoofing"]
    assert out["start_time"].iat[0] == t["timestamp"].iat[3]
    assert out["end_time"].iat[0] == t["timestamp"].iat[6]
    assert kinds(t, dr_offset_min_km=None) == []
    # (a change of speed and a turn of course in the silence leave room for 40 km across
    # and along the course; one change of velocity at an unknown moment does not)
    # the same voyage unspoofed: the turn and the slowing down explain the silence
    unspoofed = spoof_left_slowing(0.0)
    assert residual(unspoofed, 6, 7)[2] < 0.5
    assert kinds(unspoofed) == []


# ---- stale fixes: a position the ship passed, sent again later --------------------------


def stale_voyage(n_stale: int = 1, stale_sog: float = 10.0) -> pd.DataFrame:
    """Heard every 10 min at 10 kn north, silent from 3 h to 8 h; ``n_stale`` reports at
    7.5 h (3 min apart) give the position of 5 h."""
    heard = [*np.arange(0, 3.01, 1 / 6), *np.arange(8.0, 10.01, 1 / 6)]
    t = voyage(heard, [(12.0, 10.0, 0.0)])
    pos = voyage([5.0], [(12.0, 10.0, 0.0)])
    stale = pd.concat([pos] * n_stale, ignore_index=True).assign(
        timestamp=[T0 + pd.Timedelta(hours=7.5) + pd.Timedelta(minutes=3 * k)
                   for k in range(n_stale)], sog_kn=stale_sog)
    return pd.concat([t, stale], ignore_index=True).sort_values("timestamp",
                                                                ignore_index=True)


@pytest.mark.parametrize("n_stale", [1, 2])
def test_a_stale_fix_between_silences_is_a_frozen_position(n_stale: int) -> None:
    t = stale_voyage(n_stale)
    out = detect_identity_anomalies(t)
    assert out["kind"].tolist() == ["frozen_position"]
    assert out["n_rows"].iat[0] == n_stale
    assert out["start_time"].iat[0] == T0 + pd.Timedelta(hours=7.5)
    assert "2.5 h before" in out["detail"].iat[0]
    # fewer than min_frozen_repeats identical reports: not a run of identical fixes
    assert kinds(t, dr_offset_min_km=None) in (["frozen_position"], ["position_jump"])


def test_a_ship_stopped_on_its_track_is_not_a_stale_fix() -> None:
    # the same report, but the ship says it is stopped there
    assert "frozen_position" not in kinds(stale_voyage(1, stale_sog=0.0))


def test_a_report_beside_the_track_is_not_a_stale_fix() -> None:
    t = stale_voyage(1)
    i = t.index[t["timestamp"] == T0 + pd.Timedelta(hours=7.5)]
    shift_east(t, i, 40.0)
    assert kinds(t) == ["teleport"]


def stale_numbers(cross_km: float, stale_h: float = 5.0) -> tuple[bool, float]:
    from caspian_ais.identity import _stale_fix
    from caspian_ais.schema import timestamp_ns

    t = voyage([0.0, stale_h, 8.0], [(12.0, 10.0, 0.0)])
    t.loc[1, "timestamp"] = T0 + pd.Timedelta(hours=7.5)
    shift_east(t, [1], cross_km)
    ok, km, _ = _stale_fix(t["lat"].to_numpy(), t["lon"].to_numpy(),
                           timestamp_ns(t["timestamp"]), t["sog_kn"].to_numpy(),
                           t["cog_deg"].to_numpy(), np.array([0]), np.array([1]),
                           np.array([2]), 1.0, 2.0)
    return bool(ok[0]), float(km[0])


def test_stale_fix_tolerances() -> None:
    # across the track: at most jump_tolerance_km (1 km) off the fitted track
    assert stale_numbers(0.95)[0]
    assert not stale_numbers(1.05)[0]
    # along it: more than 1 km behind where the ship was when the report was sent
    behind_h = 1.0 / (10 * 1.852)  # 1 km at 10 kn
    assert stale_numbers(0.0, 7.5 - 1.02 * behind_h)[0]
    assert not stale_numbers(0.0, 7.5 - 0.98 * behind_h)[0]
    assert not stale_numbers(0.0, 7.6)[0]  # ahead of the ship: not a fix it passed


# ---- a few reports left by an impossible step ---------------------------------------------


def test_excursion_entered_across_a_silence_and_left_by_an_impossible_step() -> None:
    # heard every 10 min, silent from 2 h to 22 h; two reports 150 km off (a plausible
    # 4 kn from the last report, their course is noise), then the true track 30 min
    # later: the step back is impossible, the step out is not
    heard = [*np.arange(0, 2.01, 1 / 6), *np.arange(22.5, 24.01, 1 / 6)]
    t = voyage(heard, [(30.0, 10.0, 0.0)])
    far = voyage([22.0, 22.02], [(30.0, 10.0, 0.0)], lat=LAT - 1.0, lon=LON - 1.2).assign(
        cog_deg=[95.0, 251.0], lat=lambda d: LAT + 0.5, lon=lambda d: LON + 1.5)
    both = pd.concat([t, far], ignore_index=True).sort_values("timestamp", ignore_index=True)
    out = detect_identity_anomalies(both)
    assert out["kind"].tolist() == ["teleport"]
    assert out["n_rows"].iat[0] == 2
    assert out["start_time"].iat[0] == T0 + pd.Timedelta(hours=22)
    assert kinds(both, dr_offset_min_km=None) == ["position_jump"]
    # with a stale fix on another ship in the same table
    two = pd.concat([both, stale_voyage(1).assign(mmsi=SHIP + 1)], ignore_index=True)
    out = detect_identity_anomalies(two)
    assert sorted(zip(out["mmsi"], out["kind"], strict=True)) == [(SHIP, "teleport"),
                                                                  (SHIP + 1, "frozen_position")]


# ---- names ---------------------------------------------------------------------------------


def named(*names: str, rows: int = 5) -> pd.DataFrame:
    t = voyage(np.arange(len(names) * rows) / 60, [(10.0, 10.0, 0.0)])
    return t.assign(name=[n for n in names for _ in range(rows)])


@pytest.mark.parametrize("placeholder", ["N/A", "NULL", "unknown", "", "  n/a ", "@@@@@@"])
def test_placeholder_names_are_no_name(placeholder: str) -> None:
    assert kinds(named("ALPHA", placeholder, "ALPHA")) == []
    out = detect_identity_anomalies(named("ALPHA", placeholder, "BETA"))
    assert out["kind"].tolist() == ["name_change"]
    assert (out["old_value"].iat[0], out["new_value"].iat[0]) == ("ALPHA", "BETA")
    assert out["start_time"].iat[0] == T0 + pd.Timedelta(minutes=10)


def test_name_padding_is_not_a_change() -> None:
    assert kinds(named("ALPHA", "ALPHA@@@@", " alpha ")) == []
    assert kinds(named("ALPHA", "ALPHA 2")) == ["name_change"]
