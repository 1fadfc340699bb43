"""DMA loader on DMA-shaped files generated here from real MarineCadastre rows.

The DMA text (dd/mm/YYYY times, status and ship-type words, "Class A", "Unknown") is
written with the tables below, which restate the DMA/ITU conventions independently of
:mod:`caspian_ais.io.dma`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from expected_tables import assert_same_table

from caspian_ais.exceptions import MissingColumnError
from caspian_ais.io import read_ais
from caspian_ais.io.detect import detect_format
from caspian_ais.io.dma import HEADER, nav_status_codes, ship_type_codes
from caspian_ais.io.sources import resolve_sources
from caspian_ais.ledger import rejected_of
from caspian_ais.schema import to_canonical, validate

NAV_TEXT = {
    0: "Under way using engine", 1: "At anchor", 2: "Not under command",
    3: "Restricted maneuverability", 4: "Constrained by her draught", 5: "Moored",
    6: "Aground", 7: "Engaged in fishing", 8: "Under way sailing",
    9: "Reserved for future amendment [HSC]", 10: "Reserved for future amendment [WIG]",
    11: "Power-driven vessel towing astern",
    12: "Power-driven vessel pushing ahead or towing alongside",
    13: "Reserved for future use", 14: "AIS-SART", 15: "Unknown value",
}
SHIP_WORD = {
    30: "Fishing", 31: "Towing", 32: "Towing long/wide", 33: "Dredging", 34: "Diving",
    35: "Military", 36: "Sailing", 37: "Pleasure", 50: "Pilot", 51: "SAR", 52: "Tug",
    53: "Port tender", 54: "Anti-pollution", 55: "Law enforcement", 58: "Medical",
    59: "Not party to conflict",
}
RANGE_WORD = {2: "WIG", 4: "HSC", 6: "Passenger", 7: "Cargo", 8: "Tanker", 9: "Other"}
CARGO_WORD = {1: "Category X", 2: "Category Y", 3: "Category Z", 4: "Category OS"}


def _ship_text(code: float) -> tuple[str, str, float]:
    """ITU ship type -> (DMA ship type, DMA cargo type, ship type DMA text implies)."""
    if np.isnan(code):
        return "Undefined", "", np.nan
    c = int(code)
    if c in SHIP_WORD:
        return SHIP_WORD[c], "", float(c)
    if 20 <= c <= 99 and c // 10 in RANGE_WORD:
        digit = c % 10
        cargo = CARGO_WORD.get(digit, "No additional information")
        return RANGE_WORD[c // 10], cargo, float(c // 10 * 10 + (digit if digit in CARGO_WORD
                                                                 else 0))
    return "Undefined", "", np.nan


def make_dma(raw: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame,
                                                                   pd.DataFrame]:
    """DMA text rows for MarineCadastre text rows, and the canonical values they encode."""
    ts = pd.to_datetime(raw["BaseDateTime"], utc=True)
    status = pd.to_numeric(raw["Status"], errors="coerce")
    vtype = pd.to_numeric(raw["VesselType"], errors="coerce")
    ship = [_ship_text(v) for v in vtype]
    imo = raw["IMO"].str.extract(r"^IMO(\d+)$", expand=False)
    dest = np.where(rng.random(len(raw)) < 0.5, "COPENHAGEN", "Unknown")
    dma = pd.DataFrame({
        "# Timestamp": ts.dt.strftime("%d/%m/%Y %H:%M:%S"),
        "Type of mobile": "Class " + raw["TransceiverClass"],
        "MMSI": raw["MMSI"],
        "Latitude": raw["LAT"],
        "Longitude": raw["LON"],
        "Navigational status": [NAV_TEXT[int(s)] if s == s else "Unknown value"
                                for s in status],
        "ROT": "",
        "SOG": raw["SOG"],
        "COG": raw["COG"],
        "Heading": raw["Heading"].where(raw["Heading"] != "511", ""),
        "IMO": imo.fillna("Unknown"),
        "Callsign": raw["CallSign"].fillna("Unknown"),
        "Name": raw["VesselName"].fillna(""),
        "Ship type": [s[0] for s in ship],
        "Cargo type": [s[1] for s in ship],
        "Width": raw["Width"].fillna(""),
        "Length": raw["Length"].fillna(""),
        "Type of position fixing device": "GPS",
        "Draught": raw["Draft"].fillna(""),
        "Destination": dest,
        "ETA": "",
        "Data source type": "AIS",
        "A": "", "B": "", "C": "", "D": "",
    })
    expected = pd.DataFrame({
        "mmsi": pd.to_numeric(raw["MMSI"]).astype("int64"),
        "timestamp": ts,
        "lat": pd.to_numeric(raw["LAT"]),
        "lon": pd.to_numeric(raw["LON"]),
        "sog_kn": pd.to_numeric(raw["SOG"]),
        "cog_deg": pd.to_numeric(raw["COG"]),
        "heading_deg": pd.to_numeric(raw["Heading"]).where(raw["Heading"] != "511"),
        "nav_status": status.fillna(15),
        "imo": pd.to_numeric(imo),
        "name": raw["VesselName"],
        "callsign": raw["CallSign"],
        "ship_type": [s[2] for s in ship],
        "length_m": pd.to_numeric(raw["Length"]),
        "draught_m": pd.to_numeric(raw["Draft"]),
        "destination": pd.Series(dest).where(dest != "Unknown").to_numpy(),
        "ais_class": raw["TransceiverClass"],
    })
    return dma, expected.reset_index(drop=True)


def _base_station(i: int) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row.update({"# Timestamp": f"03/01/2022 00:00:{i % 60:02d}", "Type of mobile": "Base Station",
                "MMSI": str(2_190_000 + i), "Latitude": f"{55 + i / 100:.6f}",
                "Longitude": "10.500000", "Navigational status": "Unknown value",
                "IMO": "Unknown", "Callsign": "Unknown", "Ship type": "Undefined",
                "Destination": "Unknown", "Data source type": "AIS"})
    return row


def _build_file(raw: pd.DataFrame, tmp_path: Path, n_cols: int, name: str,
                seed: int = 1) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dma, expected = make_dma(raw, rng)
    rows: list[dict[str, str]] = []
    exp_rows: list[int] = []
    source_rows: list[int] = []
    stations: list[tuple[int, dict[str, str]]] = []
    for i in range(len(dma)):
        if i % 97 == 5:  # a base station or an aid to navigation now and then
            st = _base_station(i)
            if i % 2:
                st["Type of mobile"] = "AtoN"
                st["MMSI"] = str(992_191_000 + i)
            rows.append(st)
            stations.append((len(rows), st))
        rows.append(dma.iloc[i].to_dict())
        exp_rows.append(i)
        source_rows.append(len(rows))
        if i % 41 == 0:  # DMA duplicates are frequent: exact copy of the row
            rows.append(dma.iloc[i].to_dict())
            exp_rows.append(i)
            source_rows.append(len(rows))
    frame = pd.DataFrame(rows, columns=list(HEADER)).iloc[:, :n_cols]
    path = tmp_path / name
    frame.to_csv(path, index=False)
    exp = expected.iloc[exp_rows].reset_index(drop=True)
    exp["source_row"] = np.asarray(source_rows, dtype=np.int64)
    exp = to_canonical(exp, source_file=str(path))
    st_frame = pd.DataFrame({"row": [r for r, _ in stations],
                             "mmsi": [int(s["MMSI"]) for _, s in stations],
                             "lat": [float(s["Latitude"]) for _, s in stations],
                             "mobile": [s["Type of mobile"] for _, s in stations]})
    return path, exp, st_frame


@pytest.fixture(scope="module")
def raw_rows() -> pd.DataFrame:
    from expected_tables import EXCERPT, raw_text

    return raw_text(EXCERPT).head(600)


@pytest.mark.parametrize("n_cols", [26, 22])
def test_dma_file_round_trip(tmp_path: Path, raw_rows: pd.DataFrame, n_cols: int) -> None:
    path, expected, stations = _build_file(raw_rows, tmp_path, n_cols, f"aisdk_{n_cols}.csv")
    assert detect_format(resolve_sources(path)[0]) == "dma"
    got = read_ais(path)
    validate(got)
    assert_same_table(got, expected)
    # duplicates are kept for clean()
    assert got.duplicated(subset=["mmsi", "timestamp", "lat", "lon"]).sum() > 5
    led = rejected_of(got)
    assert (led["reason"] == "base_station").all()
    assert led["source_row"].tolist() == stations["row"].tolist()
    assert led["mmsi"].tolist() == stations["mmsi"].tolist()
    np.testing.assert_allclose(led["lat"].to_numpy(dtype=float), stations["lat"].to_numpy())
    assert led["detail"].tolist() == [f"Type of mobile: {m}" for m in stations["mobile"]]
    assert (led["source_file"] == str(path)).all()
    assert led["timestamp"].notna().all()


def test_dma_in_zip(tmp_path: Path, raw_rows: pd.DataFrame) -> None:
    path, expected, stations = _build_file(raw_rows.head(200), tmp_path, 26, "aisdk.csv")
    z = tmp_path / "aisdk-2022-01-03.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(path, "aisdk-2022-01-03.csv")
    got = read_ais(z)
    assert_same_table(got, expected, ignore=("source_file",))
    assert rejected_of(got)["source_row"].tolist() == stations["row"].tolist()
    assert set(rejected_of(got)["source_file"]) == {str(z)}


def test_dma_missing_mmsi_column(tmp_path: Path, raw_rows: pd.DataFrame) -> None:
    path, _, _ = _build_file(raw_rows.head(20), tmp_path, 26, "aisdk.csv")
    frame = pd.read_csv(path, dtype=str).drop(columns=["MMSI"])
    frame.to_csv(path, index=False)
    with pytest.raises(MissingColumnError, match=r"aisdk\.csv.*'MMSI'"):
        read_ais(path, format="dma")


def test_status_and_ship_type_words() -> None:
    words = list(NAV_TEXT.values()) + ["Reserved for future use [11]", "moored ", "nonsense",
                                       None]
    got = nav_status_codes(pa.array(words)).to_pylist()
    assert got == [*NAV_TEXT, 11, 5, None, None]
    ships = ["Cargo", "Tanker", "Tanker", "Passenger", "Fishing", "Undefined", "Reserved",
             "Towing long/wide", "Tug", "70"]
    cargo = [None, "Category Y", "No additional information", "Category OS", "Category X",
             None, None, None, None, None]
    assert ship_type_codes(pa.array(ships), pa.array(cargo, type=pa.string())).to_pylist() == [
        70, 82, 80, 64, 30, None, None, 32, 52, 70]


def test_dma_bad_times_and_dayfirst(tmp_path: Path) -> None:
    header = ",".join(HEADER[:22])
    tail = ",Under way using engine,,1.0,90.0,,Unknown,Unknown,X,Cargo,,,,GPS,,Unknown,,AIS"
    lines = [header,
             "03/01/2022 10:00:00,Class A,219000001,55.1,10.1" + tail,   # 3 January
             "31/12/2021 23:59:59,Class A,219000001,55.2,10.2" + tail,
             "31/02/2022 00:00:00,Class A,219000001,55.3,10.3" + tail,   # no such day
             "yesterday,Class A,219000001,55.4,10.4" + tail]
    p = tmp_path / "times.csv"
    p.write_text("\n".join(lines) + "\n")
    got = read_ais(p)
    assert got["timestamp"].iloc[0] == pd.Timestamp("2022-01-03 10:00:00", tz="UTC")
    assert got["timestamp"].iloc[1] == pd.Timestamp("2021-12-31 23:59:59", tz="UTC")
    assert got["timestamp"].iloc[2:].isna().all()
    assert len(got) == 4 and (got["nav_status"] == 0).all()
    assert (got["ship_type"] == 70).all() and got["callsign"].isna().all()
