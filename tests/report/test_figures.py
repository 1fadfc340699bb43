"""Figures: the right artists, labels, units and legends; fast on large inputs."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from caspian_ais.report import (
    gap_density_figure,
    map_figure,
    monthly_gaps_figure,
    monthly_summary,
    style,
    vessel_timeline_figure,
)

mpl = pytest.importorskip("matplotlib")
from matplotlib.collections import LineCollection, QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import PathPatch  # noqa: E402


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(mpl.text.Text)]


def _legend_texts(ax) -> list[str]:
    out = []
    for leg in [ax.get_legend(), *[a for a in ax.artists if isinstance(a, mpl.legend.Legend)]]:
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return out


def test_importing_report_does_not_import_matplotlib():
    code = (
        "import sys, caspian_ais.report, caspian_ais.report.figures; "
        "sys.exit(1 if 'matplotlib' in sys.modules or 'movingpandas' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_map_draws_gaps_ports_dark_calls_with_true_aspect(scenario):
    gaps = scenario.gaps
    fig = map_figure(scenario.tracks, gaps, dark_port_calls=scenario.dark_port_calls)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    # the Natural Earth water polygon over a land-coloured background
    assert any(isinstance(p, PathPatch) for p in ax.patches)
    assert mpl.colors.same_color(ax.get_facecolor(), style.LAND_COLOR)
    # one dashed segment per gap, from switch-off to switch-on, coloured by suspicion
    lcs = [c for c in ax.collections if isinstance(c, LineCollection)]
    segs = {mpl.colors.to_hex(lc.get_colors()[0]): lc.get_segments() for lc in lcs}
    assert len(segs[style.SUSPICIOUS_COLOR.lower()]) == int(gaps["suspicious"].sum())
    assert len(segs[style.GAP_COLOR.lower()]) == int((~gaps["suspicious"]).sum())
    first = segs[style.SUSPICIOUS_COLOR.lower()][0]
    g0 = gaps[gaps["suspicious"]].iloc[0]
    np.testing.assert_allclose(
        first, [[g0["start_lon"], g0["start_lat"]], [g0["end_lon"], g0["end_lat"]]]
    )
    assert all(ls[1] is not None for lc in lcs for ls in lc.get_linestyle())  # dashed
    # latitude-correct aspect: 1 / cos(middle latitude)
    y0, y1 = ax.get_ylim()
    assert ax.get_aspect() == pytest.approx(1 / math.cos(math.radians((y0 + y1) / 2)))
    assert ax.get_xlabel() == "Longitude" and ax.get_ylabel() == "Latitude"
    assert ax.xaxis.get_major_formatter()(50, 0) == "50°E"
    texts = _texts(fig)
    n_anzali = int((scenario.dark_port_calls["port"] == "Bandar Anzali").sum())
    assert f"Bandar Anzali\n{n_anzali} probable dark calls" in texts
    assert "Astrakhan" in texts and "100 km" in texts
    legend = _legend_texts(ax)
    assert f"suspicious gap ({int(gaps['suspicious'].sum())})" in legend
    assert "AIS tracks (8 vessels)" in legend
    assert any(t.startswith("port with probable dark calls") for t in legend)
    assert ax.get_title(loc="left").startswith("AIS tracks, gaps and probable dark port calls")


def test_map_outside_the_caspian_has_no_caspian_coastline(scenario):
    t = scenario.tracks.assign(lon=scenario.tracks["lon"] - 140.0)  # off North America
    g = scenario.gaps.assign(
        start_lon=scenario.gaps["start_lon"] - 140.0, end_lon=scenario.gaps["end_lon"] - 140.0
    )
    fig = map_figure(t, g, ports=False)
    ax = fig.axes[0]
    assert not any(isinstance(p, PathPatch) for p in ax.patches)
    x0, x1 = ax.get_xlim()
    assert -95 < x0 < x1 < -85
    assert ax.xaxis.get_major_formatter()(-90, 0) == "90°W"


def test_map_accepts_trajectory_collection(scenario):
    from caspian_ais.trajectories import to_trajectories

    small = scenario.tracks[scenario.tracks["mmsi"] == 273310001]
    gaps = scenario.gaps[scenario.gaps["mmsi"] == 273310001]
    fig = map_figure(to_trajectories(small, gaps=gaps), gaps)
    assert "AIS tracks (1 vessel)" in _legend_texts(fig.axes[0])


def test_map_of_ten_million_reports_is_subsampled_and_fast():
    from caspian_ais.report.figures import _track_lines

    n, vessels = 10_000_000, 2_000
    rng = np.random.default_rng(0)
    per = n // vessels
    mmsi = np.repeat(np.arange(273000000, 273000000 + vessels, dtype=np.int64), per)
    t_ns = (
        np.tile(np.arange(per, dtype=np.int64) * 60_000_000_000, vessels)
        + 1_661_990_400_000_000_000
    )
    # one report a minute; each vessel a random walk from a random start
    walk = rng.normal(0, 0.003, (2, vessels, per)).cumsum(axis=2)
    tracks = pd.DataFrame(
        {
            "mmsi": mmsi,
            "timestamp": pd.to_datetime(t_ns, utc=True),
            "lat": (38.0 + 7 * rng.random((vessels, 1)) + walk[0]).ravel(),
            "lon": (48.0 + 5 * rng.random((vessels, 1)) + walk[1]).ravel(),
        }
    )
    del walk, t_ns, mmsi
    gaps = pd.DataFrame(
        {
            "mmsi": [273000000],
            "start_time": tracks["timestamp"].iloc[:1].to_numpy(),
            "end_time": tracks["timestamp"].iloc[1:2].to_numpy(),
            "duration_h": [6.0],
            "start_lat": [40.0],
            "start_lon": [50.0],
            "end_lat": [41.0],
            "end_lon": [51.0],
        }
    )
    t0 = time.perf_counter()
    x, _, lone, _, nv = _track_lines(tracks, 300_000, 6.0)
    fig = map_figure(tracks, gaps, ports=False)
    fig.savefig(__import__("io").BytesIO(), format="png", dpi=60)
    elapsed = time.perf_counter() - t0
    assert nv == vessels and lone.size == 0
    assert x.size <= 2 * 300_000 + vessels
    assert elapsed < 15, f"drawing 10M reports took {elapsed:.1f} s"


def _expected_monthly(gaps):
    ms = monthly_summary(gaps, by="flag_group")
    months = sorted(ms["month"].unique())
    out = {}
    for grp in ["RU", "IR", "other flags"]:
        sub = ms[ms["flag_group"] == grp].set_index("month")[["gaps", "suspicious_gaps"]]
        out[grp] = sub.reindex(months).fillna(0)
    return out


def test_monthly_chart_panels_equal_monthly_counts(scenario):
    gaps = scenario.gaps
    fig = monthly_gaps_figure(gaps, min_gap="6 h")
    top, bottom = fig.axes
    exp = _expected_monthly(gaps)
    # top panel: all gaps per flag group; bottom panel (own scale): the suspicious ones
    assert len(top.containers) == len(bottom.containers) == 3
    for i, grp in enumerate(["RU", "IR", "other flags"]):
        assert [b.get_height() for b in top.containers[i]] == exp[grp]["gaps"].tolist()
        assert [b.get_height() for b in bottom.containers[i]] == exp[grp][
            "suspicious_gaps"
        ].tolist()
        assert mpl.colors.same_color(top.containers[i][0].get_facecolor(), style.flag_color(grp, i))
    assert top.get_ylabel() == "All AIS gaps\nper month (count)"
    assert bottom.get_ylabel() == "Suspicious AIS gaps\nper month (count)"
    assert bottom.get_xlabel() == "Month (UTC) in which AIS went silent"
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["Sep\n2022", "Oct", "Nov"]
    legend = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert legend == ["Russia (RU)-flagged", "Iran (IR)-flagged", "all other flags"]
    assert "silences of at least 6 h" in top.get_title(loc="left")
    assert fig.get_suptitle().startswith("AIS gaps per month: Russian- and Iranian-flagged")


def test_monthly_chart_overlay_in_one_panel(scenario):
    gaps = scenario.gaps
    fig = monthly_gaps_figure(gaps, suspicious="overlay")
    (ax,) = fig.axes
    exp = _expected_monthly(gaps)
    # per flag group: a pale bar for all gaps, then solid bars for the suspicious part
    assert len(ax.containers) == 6
    for i, grp in enumerate(["RU", "IR", "other flags"]):
        assert [b.get_height() for b in ax.containers[i]] == exp[grp]["gaps"].tolist()
        assert [b.get_height() for b in ax.containers[3 + i]] == exp[grp][
            "suspicious_gaps"
        ].tolist()
        assert ax.containers[i][0].get_alpha() == pytest.approx(0.3)
    assert ax.get_ylabel() == "AIS gaps per month (count)"
    assert {"pale bar: all gaps", "Russia (RU)-flagged"} <= set(_legend_texts(ax))
    only = monthly_gaps_figure(gaps, suspicious="only").axes[0]
    assert [b.get_height() for b in only.containers[0]] == exp["RU"]["suspicious_gaps"].tolist()


def test_monthly_chart_marks_partly_covered_months(scenario):
    t = scenario.tracks["timestamp"]
    fig = monthly_gaps_figure(scenario.gaps, period=(t.min(), t.max()))
    ax = fig.axes[-1]
    labels = [x.get_text() for x in ax.get_xticklabels()]
    assert labels[0].startswith("Sep\n2022\n(2–30 only)")  # the data start on 2 September
    assert labels[1] == "Oct" and labels[2] == "Nov\n(1–29 only)"
    assert "only part of Sep 2022, Nov 2022" in " ".join(_texts(fig))
    full = monthly_gaps_figure(scenario.gaps, period=("2022-09-01", "2022-11-30T23:59:59"))
    assert [x.get_text() for x in full.axes[-1].get_xticklabels()] == ["Sep\n2022", "Oct", "Nov"]


def test_monthly_chart_line_kind_hours_and_no_suspicious_column(scenario):
    gaps = scenario.gaps.drop(columns=["suspicious"])
    fig = monthly_gaps_figure(gaps, value="hours_dark", kind="line", flags=("RU",))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Hours without AIS per month (h)"
    assert len(ax.lines) == 2  # RU and the rest, no suspicious lines
    ru = gaps[gaps["mmsi"].astype(str).str.startswith("273")]
    assert sum(ax.lines[0].get_ydata()) == pytest.approx(ru["duration_h"].sum())
    with pytest.raises(ValueError, match="value"):
        monthly_gaps_figure(gaps, value="speed")


def test_vessel_timeline_lanes_and_title(scenario):
    mmsi = 273310001
    fig = vessel_timeline_figure(
        scenario.tracks, scenario.gaps, mmsi, scenario.port_calls, scenario.dark_port_calls
    )
    top, lanes = fig.axes[:2]
    assert [t.get_text() for t in lanes.get_yticklabels()] == [
        "AIS",
        "Visible port calls",
        "Probable dark\nport calls",
    ]
    assert top.get_ylabel() == "Latitude (°N)" and lanes.get_xlabel() == "Time (UTC)"
    assert fig.get_suptitle() == "VOLGA-DON 5071 · MMSI 273310001 · IMO 8951798 · flag Russia (RU)"
    # broken_barh: AIS on, silent (other / suspicious), visible calls, dark calls
    bars = [c for c in lanes.collections if isinstance(c, mpl.collections.PolyCollection)]
    lane_of = {3.0: "ais", 1.5: "visible", 0.0: "dark"}
    n = {"ais": 0, "visible": 0, "dark": 0}
    for c in bars:
        for p in c.get_paths():
            ext = p.get_extents()
            n[lane_of[round((ext.y0 + ext.y1) / 2, 1)]] += 1
    g = scenario.gaps[scenario.gaps["mmsi"] == mmsi]
    assert n["dark"] == int((scenario.dark_port_calls["mmsi"] == mmsi).sum())
    assert n["visible"] == int((scenario.port_calls["mmsi"] == mmsi).sum())
    assert n["ais"] == (len(g) + 1) + len(g)  # stretches on, and the silences between them
    # the ports it called at, as latitude lines
    assert {"Astrakhan", "Bandar Anzali"} <= set(_texts(fig))
    legend_texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert "probable dark port call" in legend_texts
    with pytest.raises(ValueError, match="no reports"):
        vessel_timeline_figure(scenario.tracks, scenario.gaps, 111)


def test_gap_density_counts_every_gap_once(scenario):
    gaps = scenario.gaps
    fig = gap_density_figure(gaps, cell_km=25)
    ax = fig.axes[0]
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert float(np.ma.sum(mesh.get_array())) == len(gaps)
    cbar_label = ax.child_axes[0].get_ylabel()  # the colour bar sits beside the map
    assert "25 km × 25 km" in cbar_label and "count" in cbar_label
    fig2 = gap_density_figure(gaps, suspicious_only=True)
    mesh2 = next(c for c in fig2.axes[0].collections if isinstance(c, QuadMesh))
    assert float(np.ma.sum(mesh2.get_array())) == int(gaps["suspicious"].sum())
    assert "suspicious gaps" in fig2.axes[0].get_title(loc="left")
    with pytest.raises(KeyError, match="suspicious"):
        gap_density_figure(gaps.drop(columns=["suspicious"]), suspicious_only=True)


def test_figures_draw_on_empty_gap_tables(scenario):
    empty = scenario.gaps.iloc[:0]
    for fig in (
        map_figure(scenario.tracks, empty),
        monthly_gaps_figure(empty),
        gap_density_figure(empty),
    ):
        fig.savefig(__import__("io").BytesIO(), format="png", dpi=40)
