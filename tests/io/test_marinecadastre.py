"""MarineCadastre loader on real NOAA rows (tests/data excerpt), both header generations."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zstandard
from expected_tables import (
    EXCERPT,
    assert_same_table,
    expected_marinecadastre,
    raw_text,
    write_2025,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caspian_ais.exceptions import MissingColumnError
from caspian_ais.io import read_ais
from caspian_ais.io.detect import sniff
from caspian_ais.io.marinecadastre import HEADER, HEADER_2025, read_marinecadastre
from caspian_ais.io.sources import resolve_sources
from caspian_ais.io.tabular import NULL_VALUES
from caspian_ais.ledger import rejected_of
from caspian_ais.schema import validate


def test_excerpt_matches_independent_pandas_read(excerpt_copy: Path,
                                                 excerpt_raw: pd.DataFrame) -> None:
    got = read_ais(excerpt_copy)
    validate(got)
    expected = expected_marinecadastre(excerpt_raw, str(excerpt_copy))
    assert_same_table(got, expected)
    assert len(got) == len(excerpt_raw) > 2000
    assert got.attrs["sources"] == [str(excerpt_copy)]
    assert len(rejected_of(got)) == 0


def test_values_that_matter_are_read(excerpt_copy: Path, excerpt_raw: pd.DataFrame) -> None:
    got = read_ais(excerpt_copy)
    # spot checks against the text, row by row, of fields with special handling
    i = int(np.flatnonzero(excerpt_raw["IMO"].fillna("").str.match(r"IMO[1-9]\d{6}$"))[0])
    assert got.loc[i, "imo"] == int(excerpt_raw.loc[i, "IMO"][3:])
    assert got.loc[i, "name"] == excerpt_raw.loc[i, "VesselName"]
    quoted = excerpt_raw["VesselName"].fillna("").str.contains('"')
    assert quoted.any()
    assert (got.loc[quoted.to_numpy(), "name"] == excerpt_raw.loc[quoted, "VesselName"]).all()
    assert set(got["ais_class"].dropna()) == {"A", "B"}
    h511 = excerpt_raw["Heading"] == "511"
    assert h511.any() and got.loc[h511.to_numpy(), "heading_deg"].isna().all()


def test_2025_header_gives_same_rows(tmp_path: Path, excerpt_raw: pd.DataFrame,
                                     excerpt_copy: Path) -> None:
    p = write_2025(excerpt_raw, tmp_path / "ais-2022-01-03.csv")
    assert p.read_text().splitlines()[0] == ",".join(HEADER_2025)
    new = read_ais(p)
    old = read_ais(excerpt_copy)
    assert_same_table(new, old, ignore=("source_file",))
    # zstandard-compressed, as NOAA publishes it from 2025
    zst = tmp_path / "ais-2022-01-03.csv.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(p.read_bytes()))
    assert_same_table(read_ais(zst), old, ignore=("source_file",))


def test_old_variant_without_transceiver_class(tmp_path: Path,
                                               excerpt_raw: pd.DataFrame) -> None:
    raw = excerpt_raw.drop(columns=["TransceiverClass"])
    p = tmp_path / "AIS_2016_01_01.csv"
    raw.to_csv(p, index=False)
    got = read_ais(p)
    assert "ais_class" not in got
    assert_same_table(got, expected_marinecadastre(raw, str(p)))


@pytest.mark.parametrize("kind", ["zip", "gz", "zst"])
def test_compressed_versions(tmp_path: Path, excerpt_copy: Path, kind: str) -> None:
    data = excerpt_copy.read_bytes()
    if kind == "zip":
        p = tmp_path / "AIS_2022_01_03.zip"
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("AIS_2022_01_03.csv", data)
    elif kind == "gz":
        p = tmp_path / "AIS_2022_01_03.csv.gz"
        p.write_bytes(gzip.compress(data))
    else:
        p = tmp_path / "AIS_2022_01_03.csv.zst"
        p.write_bytes(zstandard.ZstdCompressor().compress(data))
    got = read_ais(p)
    assert_same_table(got, read_ais(excerpt_copy), ignore=("source_file",))
    assert list(got["source_file"].cat.categories) == [str(p)]


def test_missing_latitude_names_file_and_column(tmp_path: Path,
                                                excerpt_raw: pd.DataFrame) -> None:
    p = tmp_path / "no_lat.csv"
    excerpt_raw.drop(columns=["LAT"]).to_csv(p, index=False)
    with pytest.raises(MissingColumnError) as info:
        read_ais(p)
    msg = str(info.value)
    assert str(p) in msg and "'LAT'" in msg and "\n" not in msg
    assert info.value.missing == ["LAT"]
    q = tmp_path / "no_lat_2025.csv"
    write_2025(excerpt_raw, q)
    text = raw_text(q).drop(columns=["latitude"])
    text.to_csv(q, index=False)
    with pytest.raises(MissingColumnError, match="'latitude'"):
        read_ais(q)


def test_bad_values_are_kept_for_clean(tmp_path: Path, excerpt_raw: pd.DataFrame) -> None:
    raw = excerpt_raw.head(50).copy()
    raw.loc[3, "LAT"] = "N/A"
    raw.loc[4, "LAT"] = "123.4"
    raw.loc[5, "BaseDateTime"] = "yesterday"
    raw.loc[6, "MMSI"] = np.nan
    raw.loc[7, "SOG"] = "fast"
    raw.loc[8, "Status"] = "moored"
    raw.loc[9, "BaseDateTime"] = "2022-02-30T00:00:00"
    p = tmp_path / "bad.csv"
    raw.to_csv(p, index=False)
    got = read_ais(p)
    assert len(got) == 50
    assert np.isnan(got.loc[3, "lat"])
    assert got.loc[4, "lat"] == 123.4
    assert got.loc[5, "timestamp"] is pd.NaT and got.loc[9, "timestamp"] is pd.NaT
    assert got.loc[6, "mmsi"] == -1
    assert np.isnan(got.loc[7, "sog_kn"])
    assert got.loc[8, "nav_status"] is pd.NA
    # every other row as if the file were clean
    expected = expected_marinecadastre(raw, str(p))
    assert_same_table(got, expected)
    fine = np.r_[0:3, 10:50]
    clean = raw_text(EXCERPT).head(50)
    pd.testing.assert_series_equal(
        got.loc[fine, "timestamp"].reset_index(drop=True),
        pd.to_datetime(clean.loc[fine, "BaseDateTime"], utc=True).reset_index(drop=True)
        .astype("datetime64[ns, UTC]"), check_names=False)


def test_unparseable_rows_go_to_ledger_with_row_numbers(tmp_path: Path) -> None:
    lines = EXCERPT.read_text().splitlines()[:41]
    lines[10] = "367379190,2022-01-03T00:00:00,30.3"          # too few fields (data row 10)
    lines[25] = lines[25] + ",extra,fields"                    # too many (data row 25)
    p = tmp_path / "ragged.csv"
    p.write_text("\n".join(lines) + "\n")
    got = read_ais(p)
    led = rejected_of(got)
    assert sorted(led["source_row"].tolist()) == [10, 25]
    assert set(led["reason"]) == {"unparseable_row"}
    assert (led["source_file"] == str(p)).all()
    kept = [r for r in range(1, 41) if r not in (10, 25)]
    assert got["source_row"].tolist() == kept
    # row k of the table is data line k of the file
    raw = raw_text(EXCERPT).head(40)
    assert got["mmsi"].tolist() == raw.loc[[r - 1 for r in kept], "MMSI"].astype(int).tolist()


def test_read_marinecadastre_direct(excerpt_copy: Path) -> None:
    src = resolve_sources(excerpt_copy)[0]
    s = sniff(src)
    assert s.header == HEADER
    loaded = read_marinecadastre(src, list(s.header))
    assert loaded.table.num_rows == len(raw_text(EXCERPT))
    assert loaded.table.column("source_row").to_pylist()[:3] == [1, 2, 3]


_row = st.fixed_dictionaries({
    "MMSI": st.integers(0, 999_999_999).map(str) | st.just(""),
    "BaseDateTime": st.datetimes(min_value=pd.Timestamp("2015-01-01").to_pydatetime(),
                                 max_value=pd.Timestamp("2030-12-31").to_pydatetime())
    .map(lambda d: d.replace(microsecond=0).isoformat()) | st.sampled_from(["", "never"]),
    "LAT": st.floats(-200, 200, allow_nan=False).map(lambda v: f"{v:.5f}") | st.just("N/A"),
    "LON": st.floats(-400, 400, allow_nan=False).map(lambda v: f"{v:.5f}"),
    "SOG": st.floats(0, 102.3).map(lambda v: f"{v:.1f}"),
    "COG": st.floats(0, 360).map(lambda v: f"{v:.1f}"),
    "Heading": st.sampled_from(["0", "90", "359", "360", "511", ""]),
    # text equal to a null marker ("NA", "null", ...) is read as missing: documented
    "VesselName": st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                          max_size=20).filter(lambda v: v not in NULL_VALUES),
    "IMO": st.sampled_from(["", "IMO9198731", "IMO0000000", "IMO1234567"]),
    "CallSign": st.sampled_from(["", "WDD1234", "UBCD7"]),
    "VesselType": st.integers(0, 99).map(str) | st.just(""),
    "Status": st.integers(0, 15).map(str) | st.just(""),
    "Length": st.sampled_from(["", "0", "25", "300"]),
    "Width": st.just(""),
    "Draft": st.sampled_from(["", "3.3", "0"]),
    "Cargo": st.just(""),
    "TransceiverClass": st.sampled_from(["A", "B"]),
})


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=30))
def test_generated_rows_round_trip(tmp_path: Path, rows: list[dict[str, str]]) -> None:
    raw = pd.DataFrame(rows, columns=list(HEADER))
    p = tmp_path / "gen.csv"
    raw.to_csv(p, index=False)
    text = raw_text(p)  # what pandas reads back is the independent expectation
    got = read_ais(p)
    assert_same_table(got, expected_marinecadastre(text, str(p)))
