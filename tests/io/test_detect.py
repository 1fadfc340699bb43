"""Format detection from the first bytes and the header."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from expected_tables import DATA, EXCERPT, HEADER_2025, raw_text, write_2025
from hypothesis import given
from hypothesis import strategies as st

from caspian_ais.exceptions import FormatDetectionError, InputError, UnreadableFileError
from caspian_ais.io import FORMATS, detect_format
from caspian_ais.io.detect import format_of_header, sniff, sniff_delimiter
from caspian_ais.io.dma import HEADER as DMA_HEADER
from caspian_ais.io.marinecadastre import HEADER as MC_HEADER
from caspian_ais.io.sources import resolve_sources


def _detect(path: Path) -> str:
    return detect_format(resolve_sources(path)[0])


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_formats_list() -> None:
    assert FORMATS == ("marinecadastre", "marinecadastre2025", "dma", "nmea", "csv",
                       "parquet", "geoparquet")


def test_text_headers(tmp_path: Path) -> None:
    assert _detect(EXCERPT) == "marinecadastre"
    assert _detect(write_2025(raw_text(EXCERPT).head(3), tmp_path / "a.csv")) == \
        "marinecadastre2025"
    old = ",".join(MC_HEADER[:-1]) + "\n"
    assert _detect(_write(tmp_path / "old.csv", old)) == "marinecadastre"
    assert _detect(_write(tmp_path / "dma.csv", ",".join(DMA_HEADER) + "\n")) == "dma"
    assert _detect(_write(tmp_path / "dma22.csv", ",".join(DMA_HEADER[:22]) + "\n")) == "dma"
    assert _detect(_write(tmp_path / "c.csv", "mmsi,timestamp,lat,lon,sog_kn\n")) == "csv"
    assert _detect(_write(tmp_path / "c2.csv", "MMSI;Time;Latitude;Longitude\n")) == "csv"
    # a MarineCadastre header with a column missing is still MarineCadastre
    no_lat = ",".join(h for h in MC_HEADER if h != "LAT") + "\n"
    assert _detect(_write(tmp_path / "nolat.csv", no_lat)) == "marinecadastre"


@pytest.mark.parametrize("name", ["ais_test_messages", "gatehouse.nmea", "messages.ais",
                                  "sample.ais", "timestamped.ais"])
def test_real_nmea_logs(name: str) -> None:
    assert _detect(DATA / "nmea" / name) == "nmea"


@pytest.mark.parametrize("first", [
    "!AIVDO,1,1,,,B>qc:003wk?8mP=18D3Q3wgTiT;T,0*13",
    "\\s:2573345,c:1662000000*0F\\!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23",
    "!BSVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23",
    "$PGHP,1,2008,5,9,0,0,0,10,338,2,,1,09*17",
])
def test_nmea_line_starts(tmp_path: Path, first: str) -> None:
    p = _write(tmp_path / "log.txt", f"# comment\n\n{first}\n")
    assert _detect(p) == "nmea"
    gz = tmp_path / "log.txt.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    assert _detect(gz) == "nmea"


def test_parquet_and_geoparquet(tmp_path: Path) -> None:
    df = pd.DataFrame({"mmsi": [273123456], "timestamp": pd.to_datetime(["2022-01-01"],
                                                                        utc=True),
                       "lat": [45.0], "lon": [50.0]})
    p = tmp_path / "x.data"  # no telling suffix: detected from the magic bytes
    df.to_parquet(p)
    assert _detect(p) == "parquet"
    g = gpd.GeoDataFrame(df.drop(columns=["lat", "lon"]),
                         geometry=gpd.points_from_xy([50.0], [45.0], crs="EPSG:4326"))
    q = tmp_path / "g.parquet"
    g.to_parquet(q)
    assert _detect(q) == "geoparquet"
    z = tmp_path / "g.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(q, "g.parquet")
    assert _detect(z) == "geoparquet"


def test_unknown_header_is_a_clear_error(tmp_path: Path) -> None:
    p = _write(tmp_path / "weird.csv", "foo,bar,baz\n1,2,3\n")
    with pytest.raises(FormatDetectionError) as info:
        _detect(p)
    msg = str(info.value)
    assert msg.startswith(str(p)) and "'foo,bar,baz'" in msg and "mmsi" in msg
    assert "\n" not in msg


def test_empty_and_binary(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.csv", "")
    with pytest.raises(InputError, match=r"empty\.csv: file is empty, expected a header"):
        _detect(empty)
    blank = _write(tmp_path / "blank.csv", "\n\n  \n")
    with pytest.raises(InputError, match="file is empty"):
        _detect(blank)
    binary = tmp_path / "x.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UnreadableFileError, match=r"x\.bin.*binary"):
        _detect(binary)


def test_sniff_reports_delimiter_and_decimal_comma(tmp_path: Path) -> None:
    p = _write(tmp_path / "e.csv", "\ufeffMMSI;BaseDateTime;LAT;LON\n1;2022-01-03T00:00:00;"
                                   "55,5;10,25\n")
    s = sniff(resolve_sources(p)[0])
    assert s.delimiter == ";" and s.decimal_comma
    assert s.header == ("MMSI", "BaseDateTime", "LAT", "LON")


@given(st.sampled_from([",", ";", "\t", "|"]),
       st.lists(st.sampled_from(list(MC_HEADER) + HEADER_2025), min_size=2, max_size=10,
                unique=True))
def test_sniff_delimiter_property(delimiter: str, names: list[str]) -> None:
    header = delimiter.join(names)
    data = delimiter.join(["1.5"] * len(names))
    assert sniff_delimiter(header, data) == delimiter


def test_format_of_header_is_case_and_space_insensitive() -> None:
    assert format_of_header([f" {h.upper()} " for h in MC_HEADER]) == "marinecadastre"
    assert format_of_header(["x", "y"]) is None
