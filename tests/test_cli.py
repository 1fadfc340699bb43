"""Tests of the caspian-ais command line (analyze)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caspian_ais.cli import main

MC_HEADER = (
    "MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,"
    "Status,Length,Width,Draft,Cargo,TransceiverClass"
)


def marinecadastre_csv(
    path: Path,
    n_vessels: int = 3,
    n: int = 40,
    *,
    gap_after: int = 20,
    gap_h: float = 8.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Write a MarineCadastre CSV: a report every 10 min, one silence of gap_h hours per vessel."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(n_vessels):
        mmsi = 273000100 + v
        dt = np.arange(n) * 600.0
        dt[gap_after:] += gap_h * 3600 - 600
        t = pd.Timestamp("2022-09-01") + pd.to_timedelta(dt, unit="s")
        lat = 42.0 + v * 0.2 + np.arange(n) * 0.01
        lon = 50.0 + rng.normal(0, 0.001, n)
        rows.append(
            pd.DataFrame(
                {
                    "MMSI": mmsi,
                    "BaseDateTime": t.strftime("%Y-%m-%dT%H:%M:%S"),
                    "LAT": lat.round(5),
                    "LON": lon.round(5),
                    "SOG": 10.0,
                    "COG": 0.0,
                    "Heading": 511,
                    "VesselName": f"SHIP {v}",
                    "IMO": "IMO9198731",
                    "CallSign": "UBCD",
                    "VesselType": 70,
                    "Status": 0,
                    "Length": 120,
                    "Width": 16,
                    "Draft": 4.5,
                    "Cargo": 70,
                    "TransceiverClass": "A",
                }
            )
        )
    df = pd.concat(rows, ignore_index=True)
    df.to_csv(path, index=False)
    return df


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caspian_ais.cli", *args], capture_output=True, text=True
    )


def test_analyze_writes_contract_files(tmp_path: Path) -> None:
    src = tmp_path / "AIS_2022_09_01.csv"
    marinecadastre_csv(src)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "--min-gap", "6h", "--quiet"]) == 0
    gaps = pd.read_csv(out / "gaps.csv")
    assert list(gaps.columns[:10]) == [
        "mmsi",
        "start_time",
        "end_time",
        "duration_h",
        "start_lat",
        "start_lon",
        "end_lat",
        "end_lon",
        "distance_km",
        "implied_speed_kn",
    ]
    assert sorted(gaps["mmsi"]) == [273000100, 273000101, 273000102]
    assert np.allclose(gaps["duration_h"], 8.0)
    assert gaps["start_time"].str.endswith("Z").all()
    assert (gaps["start_time"] == "2022-09-01T03:10:00Z").all()
    rejected = pd.read_csv(out / "rejected_rows.csv")
    assert rejected.empty and "reason" in rejected.columns
    assert (out / "run.json").exists()


def test_min_gap_boundary_is_inclusive(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    marinecadastre_csv(src, n_vessels=1, gap_h=6.0)
    out = tmp_path / "o"
    assert main(["analyze", str(src), "--out", str(out), "--min-gap", "6h", "-q"]) == 0
    assert len(pd.read_csv(out / "gaps.csv")) == 1
    assert main(["analyze", str(src), "--out", str(out), "--min-gap", "6.01", "-q"]) == 0
    assert len(pd.read_csv(out / "gaps.csv")) == 0


def test_two_percent_corrupt_rows_are_all_ledgered(tmp_path: Path) -> None:
    src = tmp_path / "corrupt.csv"
    df = marinecadastre_csv(src, n_vessels=5, n=100, seed=3)
    rng = np.random.default_rng(7)
    bad = rng.choice(len(df), size=int(0.02 * len(df)) * 3, replace=False)
    na, ts, hi = np.array_split(bad, 3)
    df = df.astype({"LAT": object, "BaseDateTime": object})
    df.loc[na, "LAT"] = "N/A"
    df.loc[ts, "BaseDateTime"] = "yesterday"
    df.loc[hi, "LAT"] = 123.4
    df.to_csv(src, index=False)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "-q"]) == 0
    rejected = pd.read_csv(out / "rejected_rows.csv")
    # source_row is the 1-based data row: DataFrame position + 1
    assert set(rejected["source_row"]) == set(bad + 1)
    by_reason = rejected.groupby("reason")["source_row"].apply(set).to_dict()
    assert by_reason["missing_position"] == set(na + 1)
    assert by_reason["unparseable_timestamp"] == set(ts + 1)
    assert by_reason["impossible_coordinates"] == set(hi + 1)
    assert (rejected["source_file"] == str(src)).all()


def test_missing_latitude_column_is_one_line_exit_2(tmp_path: Path) -> None:
    src = tmp_path / "nolat.csv"
    df = marinecadastre_csv(src, n_vessels=1, n=5)
    df.drop(columns=["LAT"]).to_csv(src, index=False)
    r = run_cli("analyze", str(src), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "nolat.csv" in lines[0] and "LAT" in lines[0].upper()
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage\xff" * 10])
def test_unreadable_file_is_one_line_exit_2(tmp_path: Path, content: bytes) -> None:
    src = tmp_path / "bad.csv"
    src.write_bytes(content)
    r = run_cli("analyze", str(src), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "bad.csv" in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_input_exit_2(tmp_path: Path) -> None:
    r = run_cli("analyze", str(tmp_path / "nothing-*.csv"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "nothing-" in r.stderr and "Traceback" not in r.stderr


def test_summary_is_printed(tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    marinecadastre_csv(src, n_vessels=2)
    r = run_cli("analyze", str(src), "--out", str(tmp_path / "o"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "rows read" in r.stdout and "gaps" in r.stdout and "outputs in" in r.stdout
