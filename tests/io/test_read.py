"""The read_ais entry point: sources, dispatch, provenance, ledger, errors."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zstandard
from expected_tables import DATA, EXCERPT, assert_same_table, expected_marinecadastre, raw_text
from hypothesis import given, settings
from hypothesis import strategies as st

from caspian_ais.exceptions import (
    CaspianAISError,
    FormatDetectionError,
    InputError,
    SourceNotFoundError,
    UnreadableFileError,
)
from caspian_ais.io import read_ais
from caspian_ais.io.nmea import read_nmea
from caspian_ais.io.tabular import _RowCounter
from caspian_ais.ledger import LEDGER_COLUMNS, rejected_of
from caspian_ais.schema import CANONICAL_DTYPES, validate

PAYLOAD = ["mmsi", "timestamp", "lat", "lon", "sog_kn", "cog_deg", "heading_deg", "nav_status"]

DMA_TEXT = """# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,\
Heading,IMO,Callsign,Name,Ship type,Cargo type,Width,Length,Type of position fixing device,\
Draught,Destination,ETA,Data source type
03/01/2022 00:00:00,Base Station,2190068,55.5,11.2,Unknown value,,,,,Unknown,Unknown,,Undefined,,,,\
GPS,,Unknown,,AIS
03/01/2022 00:00:01,Class A,219000001,55.1,10.1,Moored,0,0.0,90.0,,9198731,OXAB2,NORD,Tanker,\
Category Y,20,120,GPS,7.5,AARHUS,,AIS
03/01/2022 00:00:02,Class B,219000002,55.2,10.2,Unknown value,,5.5,180.5,181,Unknown,Unknown,,\
Pleasure,,,,GPS,,Unknown,,AIS
"""


def _payload(df: pd.DataFrame) -> pd.DataFrame:
    return df[PAYLOAD].reset_index(drop=True)


@pytest.fixture()
def mixed(tmp_path: Path, excerpt_raw: pd.DataFrame) -> list[Path]:
    mc = tmp_path / "AIS_2022_01_03.csv"
    excerpt_raw.head(300).to_csv(mc, index=False)
    dma = tmp_path / "aisdk-2022-01-03.csv"
    dma.write_text(DMA_TEXT)
    pq_path = tmp_path / "table.parquet"
    read_ais(mc)[PAYLOAD].head(40).to_parquet(pq_path)
    nmea = tmp_path / "sample.ais"
    nmea.write_bytes((DATA / "nmea" / "sample.ais").read_bytes())
    return [mc, dma, pq_path, nmea]


def test_list_of_mixed_formats(mixed: list[Path]) -> None:
    singles = [read_ais(p) for p in mixed]
    got = read_ais([str(p) for p in mixed])
    validate(got)
    assert len(got) == sum(len(s) for s in singles)
    assert list(got["source_file"].cat.categories) == [str(p) for p in mixed]
    assert got.attrs["sources"] == [str(p) for p in mixed]
    start = 0
    for path, single in zip(mixed, singles, strict=True):
        part = got.iloc[start:start + len(single)]
        assert (part["source_file"] == str(path)).all()
        assert part["source_row"].tolist() == single["source_row"].tolist()
        pd.testing.assert_frame_equal(_payload(part), _payload(single))
        start += len(single)
    led = rejected_of(got)
    assert list(led.columns) == list(LEDGER_COLUMNS)
    expected = pd.concat([rejected_of(s) for s in singles], ignore_index=True)
    pd.testing.assert_frame_equal(led, expected, check_dtype=False)
    dma_led = led[led["source_file"] == str(mixed[1])]
    assert dma_led["reason"].tolist() == ["base_station"]
    assert dma_led["source_row"].tolist() == [1]
    assert (led.loc[led["source_file"] == str(mixed[3]), "reason"] != "base_station").all()


def test_small_dma_values(tmp_path: Path) -> None:
    p = tmp_path / "dma.csv"
    p.write_text(DMA_TEXT)
    got = read_ais(p)
    assert got["mmsi"].tolist() == [219000001, 219000002]
    assert got["source_row"].tolist() == [2, 3]
    assert got["ship_type"].tolist() == [82, 37]
    assert got["nav_status"].tolist() == [5, 15]
    assert got["ais_class"].tolist() == ["A", "B"]
    assert got["imo"].tolist()[0] == 9198731 and got["imo"].isna().tolist()[1]
    assert got["destination"].tolist()[0] == "AARHUS" and pd.isna(got["destination"].iloc[1])
    assert got["heading_deg"].tolist()[1] == 181.0 and got["draught_m"].tolist()[0] == 7.5


def test_nmea_dispatch(tmp_path: Path) -> None:
    src = DATA / "nmea" / "sample.ais"
    direct = read_nmea(str(src))
    got = read_ais(src)
    pd.testing.assert_frame_equal(_payload(got), _payload(direct))
    assert got["source_row"].tolist() == direct["source_row"].tolist()
    z = tmp_path / "log.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(src, "sample.ais")
    zipped = read_ais(z)
    pd.testing.assert_frame_equal(_payload(zipped), _payload(direct))
    assert list(zipped["source_file"].cat.categories) == [str(z)]
    assert zipped["source_row"].tolist() == direct["source_row"].tolist()


def test_directory_and_glob(tmp_path: Path, excerpt_raw: pd.DataFrame) -> None:
    d = tmp_path / "days"
    d.mkdir()
    parts = {"AIS_2022_01_02.csv": excerpt_raw.iloc[100:150],
             "AIS_2022_01_01.csv": excerpt_raw.iloc[:100]}
    for name, frame in parts.items():
        frame.to_csv(d / name, index=False)
    got = read_ais(d)
    assert got.attrs["sources"] == [str(d / "AIS_2022_01_01.csv"), str(d / "AIS_2022_01_02.csv")]
    assert got["source_row"].tolist() == list(range(1, 101)) + list(range(1, 51))
    expected = pd.concat([expected_marinecadastre(parts["AIS_2022_01_01.csv"], "a"),
                          expected_marinecadastre(parts["AIS_2022_01_02.csv"], "b")])
    assert_same_table(got, expected, ignore=("source_file",))
    by_glob = read_ais(str(d / "AIS_*.csv"))
    assert_same_table(by_glob, got)


def test_header_only_and_empty(tmp_path: Path) -> None:
    p = tmp_path / "header.csv"
    p.write_text(EXCERPT.read_text().splitlines()[0] + "\n")
    got = read_ais(p)
    validate(got)
    assert len(got) == 0
    for col in got.columns:
        assert str(got[col].dtype) == str(CANONICAL_DTYPES[col]) or col == "source_file"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.csv: file is empty, expected a header"):
        read_ais(empty)
    with pytest.raises(InputError, match="file is empty"):
        read_ais([p, empty])


def test_truncated_compressed_files(tmp_path: Path) -> None:
    data = EXCERPT.read_bytes()
    cut_gz = tmp_path / "cut.csv.gz"
    cut_gz.write_bytes(gzip.compress(data)[:30_000])
    cut_zst = tmp_path / "cut.csv.zst"
    cut_zst.write_bytes(zstandard.ZstdCompressor().compress(data)[:30_000])
    cut_zip = tmp_path / "cut.zip"
    with zipfile.ZipFile(cut_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("AIS.csv", data)
    cut_zip.write_bytes(cut_zip.read_bytes()[:30_000])
    for path in (cut_gz, cut_zst, cut_zip):
        with pytest.raises(UnreadableFileError) as info:
            read_ais(path)
        msg = str(info.value)
        assert msg.startswith(str(path)) and "truncated" in msg and "\n" not in msg
    # a zip whose member data is damaged (bad CRC) is caught while reading
    bad = tmp_path / "bad_member.zip"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("AIS.csv", data)
    raw = bytearray(bad.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(UnreadableFileError, match=r"bad_member\.zip"):
        read_ais(bad)


def test_errors_raise_and_arguments(tmp_path: Path) -> None:
    lines = EXCERPT.read_text().splitlines()[:20]
    lines[7] = "1,2,3"
    p = tmp_path / "ragged.csv"
    p.write_text("\n".join(lines) + "\n")
    assert rejected_of(read_ais(p))["source_row"].tolist() == [7]
    with pytest.raises(InputError, match=r"ragged\.csv: row 7: expected 17 fields, got 3"):
        read_ais(p, errors="raise")
    with pytest.raises(ValueError, match="unknown format"):
        read_ais(p, format="excel")
    with pytest.raises(ValueError, match="errors must be"):
        read_ais(p, errors="ignore")
    with pytest.raises(TypeError, match="mapping"):
        read_ais(p, columns=["mmsi"])  # type: ignore[arg-type]
    with pytest.raises(FormatDetectionError, match="not Parquet"):
        read_ais(p, format="parquet")
    with pytest.raises(SourceNotFoundError):
        read_ais(tmp_path / "missing" / "*.csv")
    assert issubclass(SourceNotFoundError, CaspianAISError)


def test_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "a.csv"
    raw_text(EXCERPT).head(5).to_csv(p, index=False)
    read_ais([p], progress=True)
    assert "read_ais" in capsys.readouterr().err


def test_row_numbers_across_many_batches(tmp_path: Path) -> None:
    """Rows rejected in a multi-megabyte file keep every other row's number right."""
    lines = EXCERPT.read_text().splitlines()
    body = lines[1:] * 30  # ~6 MB: several 4 MiB reader blocks
    bad_rows = [1, 777, 20_000, 20_001, 41_000, len(body)]
    for r in bad_rows:
        body[r - 1] = "999,1"
    p = tmp_path / "big.csv.gz"
    p.write_bytes(gzip.compress(("\n".join([lines[0], *body]) + "\n").encode()))
    got = read_ais(p)
    assert rejected_of(got)["source_row"].tolist() == bad_rows
    kept = np.setdiff1d(np.arange(1, len(body) + 1), bad_rows)
    np.testing.assert_array_equal(got["source_row"].to_numpy(), kept)
    mmsi_text = np.array([b.split(",", 1)[0] for b in body])
    np.testing.assert_array_equal(got["mmsi"].astype(str).to_numpy(), mmsi_text[kept - 1])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(1, 7))
def test_row_counter(valid: list[bool], block: int) -> None:
    """Simulate the serial reader: per block, rejected rows are reported, then a batch."""
    invalid: list[tuple[int | None, int, int, str]] = []
    counter = _RowCounter(invalid)
    got: list[int] = []
    for start in range(0, len(valid), block):
        chunk = valid[start:start + block]
        for k, ok in enumerate(chunk):
            if not ok:
                invalid.append((start + k + 1 + 1, 3, 1, ""))  # pyarrow counts the header
        got.extend(counter.rows_for(sum(chunk)).tolist())
    assert got == [i + 1 for i, ok in enumerate(valid) if ok]
