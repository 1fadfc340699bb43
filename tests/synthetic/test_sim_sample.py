"""The committed sample scenario in data/sample/."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from caspian_ais.water import on_water

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
pytestmark = pytest.mark.skipif(
    not (SAMPLE / "caspian_sample.parquet").exists(), reason="no sample"
)


def _truth(name: str) -> pd.DataFrame:
    t = pd.read_csv(SAMPLE / f"truth_{name}.csv")
    for c in t.columns:
        if c.endswith("_time"):
            t[c] = pd.to_datetime(t[c], utc=True)
    return t


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    io = pytest.importorskip("caspian_ais.io")
    return io.read_ais(SAMPLE / "caspian_sample.parquet")


def test_sample_is_small() -> None:
    size = sum(p.stat().st_size for p in SAMPLE.iterdir() if p.is_file())
    assert size < 5_000_000


def test_sample_rows_are_in_water_and_span_july_to_october(rows) -> None:
    ok = on_water(rows["lat"].to_numpy(), rows["lon"].to_numpy())
    ev = _truth("events")
    for e in ev[ev["kind"] == "on_land"].itertuples():  # labelled faults (synthetic.extras)
        ok |= ((rows["mmsi"] == e.mmsi)
               & rows["timestamp"].between(e.start_time, e.end_time)).to_numpy()
    assert ok.all()
    assert rows["timestamp"].min() >= pd.Timestamp("2022-07-01", tz="UTC")
    assert rows["timestamp"].max() < pd.Timestamp("2022-11-01", tz="UTC")


def test_sample_has_no_rows_inside_dark_spells(rows) -> None:
    for s in _truth("dark_spells").itertuples():
        m = (
            (rows["mmsi"] == s.mmsi)
            & (rows["timestamp"] >= s.start_time)
            & (rows["timestamp"] <= s.end_time)
        )
        assert not m.any(), s.event_id


def test_sample_shows_the_september_step() -> None:
    s = _truth("dark_spells")
    month = s["start_time"].dt.strftime("%Y-%m")
    per = month[s["mmsi"] // 1_000_000 == 273].value_counts()
    assert per.get("2022-09", 0) + per.get("2022-10", 0) >= 3 * (
        per.get("2022-07", 0) + per.get("2022-08", 0)
    )
    assert per.get("2022-07", 0) + per.get("2022-08", 0) > 0


def test_sample_matches_the_simulator(rows) -> None:
    """The committed sample is what its documented command produces with this code."""
    from caspian_ais.synthetic import simulate

    info = json.loads((SAMPLE / "scenario.json").read_text())
    sc = simulate(
        n_vessels=info["n_vessels"],
        days=info["days"],
        start=info["start"],
        seed=info["seed"],
        thin_s=info["params"]["thin_s"],
        extra_behaviours=info["params"].get("extra_behaviours", True),
    )
    fresh = sc.tracks
    stored = rows.drop(columns=["source_file", "source_row"])
    assert len(fresh) == len(stored)
    pd.testing.assert_frame_equal(
        fresh.reset_index(drop=True), stored.reset_index(drop=True), check_dtype=False
    )
    ev = _truth("events")
    assert len(ev) == len(sc.truth["events"])
    assert (ev["kind"].to_numpy() == sc.truth["events"]["kind"].to_numpy()).all()
