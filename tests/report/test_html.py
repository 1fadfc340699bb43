"""report.html: self-contained, complete, and every image loads in headless Chromium."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from caspian_ais.pipeline import Analysis
from caspian_ais.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
]
EXTERNAL_REF = re.compile(
    r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:|ftp:|//)"""
    r"""|url\(\s*["']?\s*(?:https?:|//)|@import""",
    re.IGNORECASE,
)


def _analysis(scenario) -> Analysis:
    rejected = pd.DataFrame(
        {
            "source_file": ["caspian_sample.parquet"] * 3,
            "source_row": [4, 9, 12],
            "mmsi": [273310001, 273310001, 0],
            "timestamp": pd.NaT,
            "lat": 0.0,
            "lon": 0.0,
            "reason": ["duplicate", "position_jump", "duplicate"],
            "detail": "",
        }
    )
    return Analysis(
        tracks=scenario.tracks,
        rejected=rejected,
        gaps=scenario.gaps,
        tables={"port_calls": scenario.port_calls, "dark_port_calls": scenario.dark_port_calls},
        parameters={"format": None, "min_gap": "0 days 06:00:00", "max_speed_kn": 50.0},
        rows_read=len(scenario.tracks) + 3,
        sources=["data/sample/caspian_sample.parquet"],
    )


@pytest.fixture(scope="module")
def report(scenario, tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("report")
    (out / "rejected_rows.csv").write_text("written by export.write_outputs\n", encoding="utf-8")
    return out, write_report(_analysis(scenario), out, timelines=2)


def test_writes_tables_figures_and_page(report):
    out, paths = report
    names = {p.relative_to(out).as_posix() for p in paths}
    for csv in (
        "monthly_summary.csv",
        "monthly_by_ship_type.csv",
        "monthly_by_port.csv",
        "watch_list.csv",
        "port_table.csv",
    ):
        assert csv in names
    for fig in (
        "map",
        "monthly_gaps_by_flag",
        "gap_density",
        "vessel_422010002",
        "vessel_273310001",
    ):
        for ext in ("png", "svg"):
            assert f"figures/{fig}.{ext}" in names
    assert paths[-1] == out / "report.html"
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    assert (out / "figures/map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "figures/map.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    wl = pd.read_csv(out / "watch_list.csv")
    assert wl["rank"].tolist() == list(range(1, len(wl) + 1))
    assert (wl["hours_dark"].round(2) == wl["hours_dark"]).all()  # rounded to 0.01 h
    ms = pd.read_csv(out / "monthly_summary.csv")
    assert ms["month"].tolist()[0] == "2022-09"


def test_page_is_self_contained(report):
    out, _ = report
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not EXTERNAL_REF.search(page), EXTERNAL_REF.search(page)
    assert "<link" not in page and "<iframe" not in page
    assert re.search(r"<script[^>]+src", page) is None
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', page)
    assert len(srcs) == 5  # map, monthly, density, two vessel timelines
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
    # links to the files beside the page are relative
    for href in re.findall(r'href="([^"#][^"]*)"', page):
        assert not href.startswith(("/", "file:")), href
        assert (out / href).exists(), href
    assert 'href="rejected_rows.csv"' in page and 'href="figures/map.svg"' in page


def test_page_has_tables_parameters_inputs_and_rejected_rows(report, scenario):
    out, _ = report
    page = (out / "report.html").read_text(encoding="utf-8")
    for section in ("watch-list", "ports", "monthly", "run", "definitions"):
        assert f'id="{section}"' in page
    assert "VOLGA-DON 5071" in page and "Bandar Anzali" in page
    assert "max_speed_kn" in page and "0 days 06:00:00" in page  # parameters
    assert "data/sample/caspian_sample.parquet" in page  # inputs
    assert "Rejected rows: 3 of" in page
    assert re.search(r"<td class=\"t\">duplicate</td><td>2</td>", page)
    assert re.search(r"<td class=\"t\">position_jump</td><td>1</td>", page)
    n_dark = len(scenario.dark_port_calls)
    assert f'<div class="n">{n_dark}</div><div class="l">probable dark port calls</div>' in page


def test_report_of_gaps_only(scenario, tmp_path):
    """No suspicious column, no port call tables, no figures: still a complete page."""
    a = _analysis(scenario)
    a.gaps = scenario.gaps.drop(columns=["suspicious", "reason"])
    a.tables = {}
    paths = write_report(a, tmp_path, figures=False)
    assert not (tmp_path / "figures").exists()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<img" not in page and "No figures were drawn" in page
    # files that are not there are named, not linked
    assert 'href="rejected_rows.csv"' not in page and "<code>rejected_rows.csv</code>" in page
    assert 'href="watch_list.csv"' in page
    assert {p.name for p in paths} >= {"watch_list.csv", "port_table.csv", "report.html"}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_every_image_loads_in_headless_chromium(report, tmp_path):
    out, _ = report
    url = (out / "report.html").resolve().as_uri()
    base = [CHROMIUM, *CHROMIUM_FLAGS]
    dom = subprocess.run(
        [*base, f"--user-data-dir={tmp_path / 'profile1'}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, f"no DOM from chromium: {dom.stderr[-2000:]}"
    total = re.search(r'data-images-total="(\d+)"', body.group(1))
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(1))
    assert total and loaded, f"the page's load handler did not run: {body.group(0)}"
    assert int(total.group(1)) == 5
    assert int(loaded.group(1)) == int(total.group(1))
    # a screenshot, to be looked at when changing the page; it must not be blank
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            *base,
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--window-size=1280,2000",
            f"--screenshot={shot}",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 20_000
    from PIL import Image

    with Image.open(shot) as im:
        colours = im.convert("RGB").resize((320, 500)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50


def test_progress_bar_and_stage_messages(scenario, tmp_path, capsys):
    a = _analysis(scenario)
    keep = scenario.tracks["mmsi"].isin([273310001, 436000101])
    a.tracks = scenario.tracks[keep]
    a.gaps = scenario.gaps[scenario.gaps["mmsi"].isin([273310001, 436000101])]
    stages: list[str] = []
    write_report(a, tmp_path, formats=("png",), timelines=1, progress=True, on_stage=stages.append)
    assert stages == ["summary tables", "drawing figures", "writing report.html"]
    assert "figures" in capsys.readouterr().err  # the tqdm bar, on stderr
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "gap_density.png",
        "map.png",
        "monthly_gaps_by_flag.png",
        "vessel_273310001.png",
    ]
