"""Dark rendezvous: a loitering vessel and another vessel's gap that could have reached it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.rendezvous import RENDEZVOUS_COLUMNS, detect_dark_rendezvous

T0 = pd.Timestamp("2022-09-01 00:00", tz="UTC")
LAT, LON = 42.0, 50.0
KM_LAT = 1 / 111.195
PORT = pd.DataFrame({"port": ["P"], "lat": [LAT], "lon": [LON + 1.5]})  # ~125 km east
VIS, DARK = 422000002, 273000001


def loiterer(hours: float = 5.0) -> pd.DataFrame:
    n = int(hours * 6) + 1
    t = T0 + pd.Timedelta(hours=2) + pd.to_timedelta(np.arange(n) * 10, unit="min")
    return pd.DataFrame({"mmsi": VIS, "timestamp": t, "lat": LAT, "lon": LON, "sog_kn": 0.3})


def gap(start_h: float = 0.0, end_h: float = 10.0, off_km: float = 40.0, on_km: float = 40.0,
        mmsi: int = DARK, suspicious: bool = True) -> pd.DataFrame:
    return pd.DataFrame({
        "mmsi": [mmsi], "gap_id": [f"{mmsi}-1"], "is_closed": [True],
        "start_time": [T0 + pd.Timedelta(hours=start_h)],
        "end_time": [T0 + pd.Timedelta(hours=end_h)],
        "duration_h": [end_h - start_h],
        "start_lat": [LAT - off_km * KM_LAT], "start_lon": [LON],
        "end_lat": [LAT + on_km * KM_LAT], "end_lon": [LON], "suspicious": [suspicious]})


def dark_tracks(speed_kn: float = 10.0) -> pd.DataFrame:
    """Reports of the dark vessel before and after, giving its usual speed."""
    t = T0 - pd.to_timedelta(np.arange(1, 7) * 10, unit="min")
    return pd.DataFrame({"mmsi": DARK, "timestamp": t, "lat": LAT - 0.5, "lon": LON,
                         "sog_kn": speed_kn})


def run(g: pd.DataFrame, **kw) -> pd.DataFrame:
    tracks = pd.concat([loiterer(), dark_tracks()], ignore_index=True)
    return detect_dark_rendezvous(tracks, g, PORT, **kw)


def test_pairs_a_loiterer_with_a_gap_that_could_reach_it() -> None:
    r = run(gap())
    assert list(r.columns) == list(RENDEZVOUS_COLUMNS)
    assert len(r) == 1
    x = r.iloc[0]
    assert (x.kind, x.mmsi, x.other_mmsi) == ("loitering", VIS, DARK)
    assert x.switch_off_km == pytest.approx(40.0, rel=0.01)
    assert x.overlap_h == pytest.approx(5.0)
    # 10 h gap, 80 km at 11 kn (1.1 x its 10 kn): 10 - 80 / 20.37 = 6.07 h to spare
    assert x.slack_h == pytest.approx(10 - 80 / (11 * 1.852), rel=0.01)
    assert x.rendezvous_id.startswith(f"{VIS}-{DARK}-")


def test_a_ship_passing_by_has_no_time_to_stop() -> None:
    # 160 km in 8 h at its own 10 kn (18.5 km/h): no hour to spare
    assert run(gap(start_h=0.0, end_h=8.0, off_km=80.0, on_km=80.0)).empty


def test_gap_must_overlap_the_loitering() -> None:
    assert run(gap(start_h=8.0, end_h=20.0)).empty
    # overlap of 0.5 h < min_overlap_h = 1 h
    g = gap(start_h=6.5, end_h=16.0, off_km=5, on_km=5)
    assert run(g).empty
    # sailing 5 km at 11 kn from the switch-off at 6.5 h, the dark ship is at the place
    # from 6.745 h: 0.255 h before the loiterer leaves at 7 h (a twentieth of its stop)
    assert run(g, min_overlap_h=0.5, min_presence_share=0.0).empty
    assert len(run(g, min_overlap_h=0.25, min_presence_share=0.0)) == 1


def test_switch_positions_must_be_close() -> None:
    g = gap(start_h=-20.0, end_h=30.0, off_km=310.0, on_km=20.0)
    assert run(g).empty  # max_switch_distance_km = 300
    assert len(run(g, max_switch_distance_km=320.0)) == 1


def test_max_switch_distance_km_is_inclusive() -> None:
    from caspian_ais.geodesy import haversine_km

    g = gap(start_h=-20.0, end_h=30.0, off_km=290.0, on_km=20.0)
    d_km = float(haversine_km(g["start_lat"].iat[0], LON, LAT, LON))
    assert len(run(g, max_switch_distance_km=d_km)) == 1
    assert run(g, max_switch_distance_km=float(np.nextafter(d_km, 0.0))).empty


V_KMH = 11.0 * 1.852  # the dark vessel's own speed in the tests: 1.1 x its 10 kn


def switch_on_km(g: pd.DataFrame) -> float:
    from caspian_ais.geodesy import haversine_km

    return float(haversine_km(g["end_lat"].iat[0], g["end_lon"].iat[0], LAT, LON))


@pytest.mark.parametrize(("window_h", "found"), [(1.0, True), (0.99, False)])
def test_window_beside_the_loiterer_lasts_min_overlap_h(window_h: float, found: bool) -> None:
    # the loiterer lies there from 2 h to 7 h; the dark ship, dark from -10 h, can stay
    # until it must leave for its switch-on 2 km away: window_h after the loiterer came
    g = gap(start_h=-10.0, end_h=0.0, off_km=40.0, on_km=2.0)
    end_h = 2.0 + window_h + switch_on_km(g) / V_KMH
    g = gap(start_h=-10.0, end_h=end_h, off_km=40.0, on_km=2.0)
    assert (len(run(g, min_presence_share=0.0)) == 1) is found


@pytest.mark.parametrize(("window_h", "found"), [(2.5, True), (2.49, False)])
def test_min_presence_share_of_the_stop(window_h: float, found: bool) -> None:
    # the share of the loiterer's 5 h stop the dark ship could have spent beside it:
    # 2.5 h is 0.5 (inclusive)
    g0 = gap(start_h=-10.0, end_h=0.0, off_km=40.0, on_km=2.0)
    g = gap(start_h=-10.0, end_h=2.0 + window_h + switch_on_km(g0) / V_KMH, off_km=40.0,
            on_km=2.0)
    assert (len(run(g)) == 1) is found
    assert len(run(g, min_presence_share=0.0)) == 1


def course(g: pd.DataFrame, cog0: float = np.nan, sog0: float = 10.0, cog1: float = np.nan,
           sog1: float = 10.0) -> pd.DataFrame:
    """The gap with the course and speed reported at its switch-off and switch-on."""
    return g.assign(start_cog_deg=cog0, start_sog_kn=sog0, end_cog_deg=cog1, end_sog_kn=sog1)


# the switch-off lies due south of the meeting place and the switch-on due north: the
# bearings switch-off -> place and place -> switch-on are both exactly 0 degrees
@pytest.mark.parametrize(("cog", "found"), [(0.0, True), (359.0, True), (90.0, True),
                                            (270.0, True), (90.5, False), (180.0, False)])
def test_course_at_the_switch_off_points_at_the_meeting_place(cog: float, found: bool) -> None:
    assert (len(run(course(gap(), cog0=cog))) == 1) is found


@pytest.mark.parametrize(("cog", "found"), [(0.0, True), (90.0, True), (269.5, False)])
def test_course_at_the_switch_on_points_away_from_it(cog: float, found: bool) -> None:
    assert (len(run(course(gap(), cog1=cog))) == 1) is found


def test_max_course_offset_deg_is_a_parameter() -> None:
    g = course(gap(), cog0=120.0)
    assert run(g).empty
    assert len(run(g, max_course_offset_deg=120.0)) == 1


@pytest.mark.parametrize(("sog", "found"), [(2.0, False), (1.99, True)])
def test_course_tested_only_under_way(sog: float, found: bool) -> None:
    # course_min_sog_kn = 2 (inclusive): below it the course means little
    assert (len(run(course(gap(), cog0=180.0, sog0=sog))) == 1) is found


def test_course_tested_only_far_from_the_meeting_place() -> None:
    from caspian_ais.geodesy import haversine_km

    g = course(gap(off_km=12.0), cog0=180.0)
    d_km = float(haversine_km(g["start_lat"].iat[0], LON, LAT, LON))
    # course_min_distance_km is strict: a switch exactly that far is not tested
    assert len(run(g, course_min_distance_km=d_km)) == 1
    assert run(g, course_min_distance_km=float(np.nextafter(d_km, 0.0))).empty
    assert run(g).empty  # default 10 km < 12 km


def test_course_needs_speed_and_course() -> None:
    assert len(run(course(gap(), cog0=np.nan, sog0=10.0))) == 1
    assert len(run(course(gap(), cog0=180.0, sog0=np.nan))) == 1
    # nullable columns (a gap table read back from a file) work the same way
    g = course(gap(), cog0=180.0).astype({"start_cog_deg": "Float64", "start_sog_kn": "Float64"})
    assert run(g).empty
    g["start_cog_deg"] = pd.array([pd.NA], dtype="Float64")
    assert len(run(g)) == 1


KM_LON = 1 / (111.195 * np.cos(np.radians(LAT)))
# a port 30 km south of the loiterer (the loiterer stays offshore: > 20 km)
PORT_S = pd.concat([PORT, pd.DataFrame({"port": ["S"], "lat": [LAT - 30 * KM_LAT],
                                        "lon": [LON]})], ignore_index=True)


def port_gap(off_xy: tuple[float, float], on_xy: tuple[float, float], cog0: float,
             cog1: float, sog_kn: float = 10.0) -> pd.DataFrame:
    """A 10 h gap whose ends lie at (east, north) km from the loiterer."""
    g = gap()
    return course(g.assign(start_lat=LAT + off_xy[1] * KM_LAT, start_lon=LON + off_xy[0] * KM_LON,
                           end_lat=LAT + on_xy[1] * KM_LAT, end_lon=LON + on_xy[0] * KM_LON),
                  cog0=cog0, sog0=sog_kn, cog1=cog1, sog1=sog_kn)


def run_s(g: pd.DataFrame, **kw) -> pd.DataFrame:
    tracks = pd.concat([loiterer(), dark_tracks()], ignore_index=True)
    return detect_dark_rendezvous(tracks, g, PORT_S, **kw)


def ends_to_port(g: pd.DataFrame) -> tuple[float, float, float, float]:
    """Distances of the gap's ends to port S (km) and the bearings from the switch-off to
    it and from it to the switch-on (degrees)."""
    from caspian_ais.geodesy import bearing_deg, haversine_km

    plat, plon = PORT_S["lat"].iat[1], PORT_S["lon"].iat[1]
    a = (g["start_lat"].iat[0], g["start_lon"].iat[0])
    b = (g["end_lat"].iat[0], g["end_lon"].iat[0])
    return (float(haversine_km(*a, plat, plon)), float(haversine_km(*b, plat, plon)),
            float(bearing_deg(*a, plat, plon)), float(bearing_deg(plat, plon, *b)))


def test_a_dark_port_call_is_not_a_rendezvous() -> None:
    # dark 15 km north of port S heading for it (and for the loiterer beyond it); back on
    # 18 km from it, sailing away from it (and from the loiterer: the course test passes)
    g = port_gap((0.0, -45.0), (10.0, -45.0), cog0=0.0, cog1=np.nan)
    d0, d1, _, b1 = ends_to_port(g)
    g = g.assign(end_cog_deg=b1)
    assert len(run_s(g, port_call_max_km=None)) == 1
    assert run_s(g).empty
    # port_call_max_km is inclusive: both ends at most that far from the port
    assert run_s(g, port_call_max_km=max(d0, d1)).empty
    assert len(run_s(g, port_call_max_km=float(np.nextafter(max(d0, d1), 0.0)))) == 1


def test_a_dark_port_call_needs_the_course_to_and_from_the_port() -> None:
    g = port_gap((0.0, -45.0), (10.0, -45.0), cog0=0.0, cog1=np.nan)
    _, _, b0, b1 = ends_to_port(g)
    # max_port_course_offset_deg = 60, inclusive
    assert run_s(g.assign(end_cog_deg=b1 - 60.0)).empty
    assert len(run_s(g.assign(end_cog_deg=b1 - 60.5))) == 1
    assert run_s(g.assign(end_cog_deg=b1 - 60.5), max_port_course_offset_deg=61.0).empty
    # not under way at both ends (waiting in the approaches): explained by the port
    assert run_s(g.assign(start_sog_kn=0.5, end_sog_kn=0.5)).empty


def test_a_ship_that_left_the_port_for_the_meeting_and_came_back_is_kept() -> None:
    # dark 12 km north of port S heading north for the loiterer, back on 13 km from the
    # port heading for it: a round trip from the port to the meeting, not a port call
    g = port_gap((0.0, -18.0), (5.0, -18.0), cog0=0.0, cog1=np.nan)
    d0, d1, _, b1 = ends_to_port(g)
    assert max(d0, d1) < 15.0
    g = g.assign(end_cog_deg=(b1 + 180.0) % 360.0)
    assert len(run_s(g)) == 1


DARK2, VIS2 = 273000002, 422000003


def stop(mmsi: int, start_h: float, hours: float, east_km: float = 0.0) -> pd.DataFrame:
    """A ship lying still ``east_km`` east of the loiterer's place."""
    n = int(hours * 6) + 1
    t = T0 + pd.Timedelta(hours=start_h) + pd.to_timedelta(np.arange(n) * 10, unit="min")
    return pd.DataFrame({"mmsi": mmsi, "timestamp": t, "lat": LAT, "lon": LON + east_km * KM_LON,
                         "sog_kn": 0.3})


def test_two_dark_ships_for_one_stop_keep_the_better() -> None:
    from caspian_ais.geodesy import angle_diff_deg, bearing_deg

    a = course(gap())  # courses unknown: score 1
    b = course(gap(mmsi=DARK2).assign(gap_id="b"), cog0=30.0)  # 30 degrees off at the switch-off
    g = pd.concat([a, b], ignore_index=True)
    assert set(run(g)["other_mmsi"]) == {DARK}
    assert set(run(g, rank_partners=False)["other_mmsi"]) == {DARK, DARK2}
    # both windows cover the whole stop: the scores are 1 and cos(30 deg); the worse is
    # dropped when the better scores more than rank_margin higher
    off = float(angle_diff_deg(30.0, bearing_deg(b["start_lat"].iat[0], LON, LAT, LON)))
    c = float(np.cos(np.radians(off)))
    m = 1.0 - c
    while c + m < 1.0:
        m = float(np.nextafter(m, 1.0))
    while c + float(np.nextafter(m, 0.0)) >= 1.0:
        m = float(np.nextafter(m, 0.0))
    assert set(run(g, rank_margin=m)["other_mmsi"]) == {DARK, DARK2}
    assert set(run(g, rank_margin=float(np.nextafter(m, 0.0)))["other_mmsi"]) == {DARK}
    # equally good claims are both kept
    b2 = course(gap(mmsi=DARK2).assign(gap_id="b"))
    assert len(run(pd.concat([a, b2], ignore_index=True))) == 2


def test_one_dark_ship_for_two_stops_at_once_keeps_the_better() -> None:
    # the dark ship steers for the loiterer (course 0: north); a second ship lies 30 km
    # east at the same time, 37 degrees off its courses
    tracks = pd.concat([loiterer(), stop(VIS2, 2.0, 5.0, east_km=30.0), dark_tracks()],
                       ignore_index=True)
    g = course(gap(), cog0=0.0, cog1=0.0)
    assert set(detect_dark_rendezvous(tracks, g, PORT)["mmsi"]) == {VIS}
    both = detect_dark_rendezvous(tracks, g, PORT, rank_partners=False)
    assert set(both["mmsi"]) == {VIS, VIS2}


@pytest.mark.parametrize(("late_h", "kept"), [(0.0, True), (-0.01, False)])
def test_one_dark_ship_can_attend_two_stops_in_turn(late_h: float, kept: bool) -> None:
    from caspian_ais.geodesy import haversine_km

    # a 20 h gap; the loiterer lies there from 2 h to 5 h; the second ship's 3 h stop 30 km
    # east starts when the dark ship, leaving the first at 5 h, could reach it (+ late_h)
    sail_h = float(haversine_km(LAT, LON, LAT, LON + 30.0 * KM_LON)) / V_KMH
    tracks = pd.concat([stop(VIS, 2.0, 3.0), stop(VIS2, 5.0 + sail_h + late_h, 3.0, 30.0),
                        dark_tracks()], ignore_index=True)
    g = course(gap(end_h=20.0), cog0=0.0, cog1=0.0)
    r = detect_dark_rendezvous(tracks, g, PORT)
    assert set(r["mmsi"]) == ({VIS, VIS2} if kept else {VIS})


def test_own_vessel_gap_and_suspicious_filter() -> None:
    assert run(gap(mmsi=VIS)).empty
    assert len(run(gap(suspicious=False))) == 1
    assert run(gap(suspicious=False), require_suspicious=True).empty


def test_round_trip_candidates() -> None:
    g = pd.concat([gap(), gap(mmsi=436000003).assign(gap_id="x")], ignore_index=True)
    rt = pd.DataFrame({"mmsi": [436000003], "gap_ids": ["x"]})
    r = detect_dark_rendezvous(dark_tracks(), g, PORT, round_trips=rt,
                               loitering=loiterer().iloc[:0].assign(lat=[], lon=[],
                                                                    start_time=[], end_time=[]))
    assert set(r["kind"]) == {"dark_round_trip"}
    assert set(zip(r["mmsi"], r["other_mmsi"], strict=True)) == {(436000003, DARK)}


def test_no_gaps_gives_empty_table() -> None:
    r = detect_dark_rendezvous(loiterer(), gap().iloc[:0], PORT)
    assert r.empty and list(r.columns) == list(RENDEZVOUS_COLUMNS)


@pytest.fixture(scope="module")
def analysis():
    from caspian_ais import analyze
    from caspian_ais.synthetic import simulate

    sc = simulate(n_vessels=12, days=40, start="2022-08-10", seed=4, thin_s=120)
    return sc, analyze(sc.tracks)


def test_finds_simulated_meetings_with_one_side_dark(analysis) -> None:
    sc, an = analysis
    ev = sc.truth["events"]
    sts = ev[ev["kind"] == "sts_meeting"]
    pairs = {tuple(sorted((int(a), int(b)))) for a, b in zip(sts["mmsi"], sts["other_mmsi"],
                                                              strict=True)}
    near = sts[sts["detail"].str.contains("near coastal coverage")]
    r = detect_dark_rendezvous(an.tracks, an.gaps)
    found = {tuple(sorted((int(a), int(b)))) for a, b in zip(r["mmsi"], r["other_mmsi"],
                                                              strict=True)}
    assert found <= pairs
    want = {tuple(sorted((int(a), int(b)))) for a, b in zip(near["mmsi"], near["other_mmsi"],
                                                             strict=True)}
    assert want and want <= found


def test_by_partition_parts_give_the_same_candidates(analysis) -> None:
    from caspian_ais.rendezvous import merge_visible, vessel_speeds_kn, visible_side

    _, an = analysis
    tr = an.tracks
    for kw in ({}, {"include_slow_gaps": True}):
        whole = detect_dark_rendezvous(tr, an.gaps, **kw)
        assert len(whole)
        parts = [tr[tr["mmsi"] % 2 == k] for k in (0, 1)]
        vis = merge_visible([visible_side(p, **kw) for p in parts])
        speeds = pd.concat([vessel_speeds_kn(p) for p in parts])
        pd.testing.assert_frame_equal(
            whole, detect_dark_rendezvous(None, an.gaps, visible=vis, vessel_speeds=speeds))
