"""Generic CSV/Parquet/GeoParquet loading, the timestamp parser and the converters."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from expected_tables import assert_same_table, expected_marinecadastre
from hypothesis import given, settings
from hypothesis import strategies as st

from caspian_ais.exceptions import MissingColumnError
from caspian_ais.io import read_ais
from caspian_ais.io.tabular import (
    generic_layout,
    parse_timestamps,
    to_class,
    to_float,
    to_imo,
    to_int,
    to_mmsi,
)
from caspian_ais.schema import validate

PAYLOAD = ["mmsi", "timestamp", "lat", "lon", "sog_kn", "cog_deg", "heading_deg",
           "nav_status", "imo", "name", "callsign", "ship_type", "length_m", "draught_m",
           "ais_class"]


@pytest.fixture(scope="module")
def canonical(excerpt_raw: pd.DataFrame) -> pd.DataFrame:
    """Canonical rows of the real excerpt, built without caspian_ais.io."""
    return expected_marinecadastre(excerpt_raw.head(500), "x")


def _same_payload(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    validate(got)
    assert_same_table(got[PAYLOAD], expected[PAYLOAD])
    assert got["source_row"].tolist() == list(range(1, len(expected) + 1))


# ------------------------------------------------------------------------------ CSV


def test_generic_csv_with_canonical_names(tmp_path: Path, canonical: pd.DataFrame) -> None:
    p = tmp_path / "canonical.csv"
    canonical[PAYLOAD].to_csv(p, index=False)  # pandas writes "2022-01-03 00:00:00+00:00"
    got = read_ais(p)
    _same_payload(got, canonical)


def test_generic_csv_with_column_mapping(tmp_path: Path, canonical: pd.DataFrame) -> None:
    german = {"mmsi": "Kennung", "timestamp": "Zeit", "lat": "Breite", "lon": "Laenge",
              "sog_kn": "Fahrt"}
    p = tmp_path / "german.csv"
    canonical[PAYLOAD].rename(columns=german).to_csv(p, index=False)
    mapping = {v.upper(): k for k, v in german.items()}  # matched case-insensitively
    got = read_ais(p, columns=mapping)
    _same_payload(got, canonical)
    with pytest.raises(MissingColumnError) as info:
        read_ais(p, columns={"Nord": "lat", "Zeit": "timestamp", "Kennung": "mmsi",
                             "Laenge": "lon"})
    assert "'Nord'" in str(info.value) and str(p) in str(info.value)
    with pytest.raises(ValueError, match="latitude"):
        read_ais(p, columns={"Breite": "latitude"})
    with pytest.raises(ValueError, match="columns="):
        read_ais(p, format="dma", columns={"Breite": "lat"})


def test_generic_csv_aliases_and_missing(tmp_path: Path, canonical: pd.DataFrame) -> None:
    p = tmp_path / "aliases.csv"
    canonical[["mmsi", "timestamp", "lat", "lon"]].rename(
        columns={"lat": "Latitude", "lon": "Longitude"}).to_csv(p, index=False)
    got = read_ais(p, format="csv")
    np.testing.assert_array_equal(got["lat"], canonical["lat"])
    q = tmp_path / "no_lat.csv"
    canonical[["mmsi", "timestamp", "lon"]].to_csv(q, index=False)
    with pytest.raises(MissingColumnError, match=r"no_lat\.csv: missing required column.*'lat'"):
        read_ais(q, format="csv")


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
@pytest.mark.parametrize("bom", [False, True])
def test_delimiters_and_bom(tmp_path: Path, excerpt_raw: pd.DataFrame, delimiter: str,
                            bom: bool) -> None:
    raw = excerpt_raw.head(100)
    p = tmp_path / "odd.csv"
    raw.to_csv(p, index=False, sep=delimiter, encoding="utf-8-sig" if bom else "utf-8")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf") == bom
    got = read_ais(p)
    assert_same_table(got, expected_marinecadastre(raw, str(p)))


def test_crlf_and_quoted_fields(tmp_path: Path, excerpt_raw: pd.DataFrame) -> None:
    raw = excerpt_raw.head(100)
    p = tmp_path / "windows.csv"
    raw.to_csv(p, index=False, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    assert p.read_bytes().startswith(b'"MMSI","BaseDateTime"')
    got = read_ais(p)
    assert_same_table(got, expected_marinecadastre(raw, str(p)))


def test_decimal_comma_with_semicolons(tmp_path: Path, excerpt_raw: pd.DataFrame) -> None:
    raw = excerpt_raw.head(50)
    p = tmp_path / "euro.csv"
    raw.to_csv(p, index=False, sep=";")
    p.write_text(p.read_text().replace(".", ","))  # 33,60716 ; also in names
    got = read_ais(p)
    expected = expected_marinecadastre(raw, str(p))
    np.testing.assert_allclose(got["lat"], expected["lat"])
    np.testing.assert_allclose(got["lon"], expected["lon"])
    # a junk value forces the text fallback; decimal commas must still be read
    junk = raw.copy()
    junk.loc[4, "SOG"] = "fast"
    q = tmp_path / "euro_junk.csv"
    junk.to_csv(q, index=False, sep=";")
    q.write_text(q.read_text().replace(".", ","))
    again = read_ais(q)
    np.testing.assert_allclose(again["lat"], expected["lat"])
    sog = expected["sog_kn"].copy()
    sog[4] = np.nan
    np.testing.assert_allclose(again["sog_kn"], sog)


def test_latin1_file(tmp_path: Path, excerpt_raw: pd.DataFrame) -> None:
    raw = excerpt_raw.head(20).copy()
    raw.loc[3, "VesselName"] = "SKJOLD ØRESUND"
    p = tmp_path / "latin1.csv"
    raw.to_csv(p, index=False, encoding="latin-1")
    got = read_ais(p)
    assert got.loc[3, "name"] == "SKJOLD ØRESUND"
    assert_same_table(got, expected_marinecadastre(raw, str(p)))


def test_mixed_offsets_and_naive_times(tmp_path: Path) -> None:
    times = ["2022-01-03T02:00:00+02:00", "2022-01-03T00:00:00Z", "2022-01-03 00:00:00",
             "2022-01-02T19:00:00-05:00", "2022-01-03T00:00:00.250", "yesterday", ""]
    p = tmp_path / "times.csv"
    pd.DataFrame({"mmsi": 273123456, "timestamp": times, "lat": 45.0, "lon": 50.0}).to_csv(
        p, index=False)
    got = read_ais(p)
    midnight = pd.Timestamp("2022-01-03", tz="UTC")
    assert got["timestamp"].iloc[:4].eq(midnight).all()
    assert got["timestamp"].iloc[4] == midnight + pd.Timedelta(milliseconds=250)
    assert got["timestamp"].iloc[5:].isna().all()
    assert len(got) == len(times)


# -------------------------------------------------------------------------- Parquet


def _arrow_payload(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df[PAYLOAD], preserve_index=False)


def test_parquet_round_trip(tmp_path: Path, canonical: pd.DataFrame) -> None:
    p = tmp_path / "canonical.parquet"
    pq.write_table(_arrow_payload(canonical), p)
    got = read_ais(p)
    _same_payload(got, canonical)
    assert got.attrs["sources"] == [str(p)]


def test_parquet_time_types_and_mapping(tmp_path: Path, canonical: pd.DataFrame) -> None:
    base = canonical[["mmsi", "timestamp", "lat", "lon", "name"]].copy()
    variants = {
        "naive": base.assign(timestamp=base["timestamp"].dt.tz_localize(None)),
        "berlin": base.assign(timestamp=base["timestamp"].dt.tz_convert("Europe/Berlin")),
        "epoch_s": base.assign(timestamp=base["timestamp"].astype("int64") // 10**9),
        "epoch_ms": base.assign(timestamp=base["timestamp"].astype("int64") // 10**6),
        "text": base.assign(timestamp=base["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")),
        "category": base.assign(name=base["name"].astype("category")),
    }
    for label, frame in variants.items():
        p = tmp_path / f"{label}.parquet"
        frame.rename(columns={"lat": "LAT", "mmsi": "ShipId"}).to_parquet(p, index=False)
        got = read_ais(p, columns={"ShipId": "mmsi"})
        pd.testing.assert_series_equal(got["timestamp"], canonical["timestamp"],
                                       check_names=False, obj=label)
        np.testing.assert_array_equal(got["mmsi"], canonical["mmsi"])
        np.testing.assert_array_equal(got["lat"], canonical["lat"])
        assert got["name"].equals(canonical["name"]), label


def test_parquet_missing_column(tmp_path: Path, canonical: pd.DataFrame) -> None:
    p = tmp_path / "nolon.parquet"
    canonical[["mmsi", "timestamp", "lat"]].to_parquet(p)
    with pytest.raises(MissingColumnError, match=r"nolon\.parquet.*'lon'"):
        read_ais(p)


def _geo(canonical: pd.DataFrame, crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    frame = canonical[PAYLOAD].drop(columns=["lat", "lon"])
    pts = gpd.points_from_xy(canonical["lon"], canonical["lat"], crs="EPSG:4326")
    gdf = gpd.GeoDataFrame(frame, geometry=pts)
    return gdf.to_crs(crs) if crs != "EPSG:4326" else gdf


@pytest.mark.parametrize("encoding", ["WKB", "geoarrow"])
def test_geoparquet_round_trip(tmp_path: Path, canonical: pd.DataFrame, encoding: str) -> None:
    p = tmp_path / "points.parquet"
    _geo(canonical).to_parquet(p, geometry_encoding=encoding)
    got = read_ais(p)
    _same_payload(got, canonical)
    assert_same_table(read_ais(p, format="geoparquet")[PAYLOAD], got[PAYLOAD])


def test_geoparquet_row_groups_in_parallel(tmp_path: Path, canonical: pd.DataFrame,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import caspian_ais.io.read as read_module

    p = tmp_path / "points_groups.parquet"
    _geo(canonical).to_parquet(p, row_group_size=max(len(canonical) // 7, 1))
    monkeypatch.setattr(read_module, "DECODE_THREADS", 3)
    parallel = read_ais(p)
    monkeypatch.setattr(read_module, "DECODE_THREADS", 1)
    assert_same_table(parallel, read_ais(p))
    _same_payload(parallel, canonical)


def test_geoparquet_projected_crs_and_other_geometries(tmp_path: Path,
                                                       canonical: pd.DataFrame) -> None:
    sub = canonical.head(50).reset_index(drop=True)
    p = tmp_path / "mercator.parquet"
    _geo(sub, "EPSG:3857").to_parquet(p)
    got = read_ais(p)
    np.testing.assert_allclose(got["lat"], sub["lat"], atol=1e-7)
    np.testing.assert_allclose(got["lon"], sub["lon"], atol=1e-7)
    gdf = _geo(sub)
    geoms = gdf.geometry.to_numpy().copy()
    geoms[1] = shapely.LineString([(0, 0), (1, 1)])
    geoms[2] = None
    geoms[3] = shapely.Point(sub.loc[3, "lon"], sub.loc[3, "lat"], 7.0)  # 3-D point
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, crs="EPSG:4326"))
    q = tmp_path / "mixed.parquet"
    gdf.to_parquet(q)
    got = read_ais(q)
    assert got.loc[[1, 2], ["lat", "lon"]].isna().all().all()
    keep = [i for i in range(len(sub)) if i not in (1, 2)]
    np.testing.assert_array_equal(got.loc[keep, "lat"], sub.loc[keep, "lat"])
    np.testing.assert_array_equal(got.loc[keep, "lon"], sub.loc[keep, "lon"])


# ------------------------------------------------------------------ timestamp parser


def test_parse_timestamps_known_cases() -> None:
    values = ["2022-01-03T00:00:00", "2022-01-03 00:00:00", "2022-01-03T01:00:00+01:00",
              "2022-01-03T00:00:00Z", "2022-01-03T00:00:00.5", " 2022-01-03T00:00:00 ",
              "2022-02-30T00:00:00", "2022-02-29 00:00:00", "2024-02-29T00:00:00",
              "yesterday", "", None]
    got = parse_timestamps(pa.array(values)).to_pylist()
    utc = dt.UTC
    midnight = dt.datetime(2022, 1, 3, tzinfo=utc)
    assert got[:4] == [midnight] * 4
    assert got[4] == midnight + dt.timedelta(milliseconds=500)
    assert got[5] == midnight
    assert got[6] is None and got[7] is None
    assert got[8] == dt.datetime(2024, 2, 29, tzinfo=utc)
    assert got[9:] == [None, None, None]


def test_parse_timestamps_day_first_layout() -> None:
    got = parse_timestamps(pa.array(["31/01/2022 12:00:00", "30/02/2022 12:00:00",
                                     "01/03/2022 00:00:01"]), ["%d/%m/%Y %H:%M:%S"])
    assert got.to_pylist()[0] == dt.datetime(2022, 1, 31, 12, tzinfo=dt.UTC)
    assert got.to_pylist()[1] is None
    assert got.to_pylist()[2] == dt.datetime(2022, 3, 1, 0, 0, 1, tzinfo=dt.UTC)


_stamps = st.tuples(
    st.datetimes(min_value=dt.datetime(1980, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.sampled_from(["T", " "]),
    st.sampled_from(["", "Z", "+00:00", "+02:00", "-05:30", "+14:00", "-12:00"]),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_stamps | st.sampled_from(["", "not a time", "2022-13-01T00:00:00"]),
                min_size=1, max_size=40))
def test_parse_timestamps_matches_python(
        items: list[str | tuple[dt.datetime, str, str, bool]]) -> None:
    texts: list[str] = []
    expected: list[dt.datetime | None] = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
            expected.append(None)
            continue
        when, sep, zone, frac = item
        when = when.replace(microsecond=when.microsecond if frac else 0)
        text = when.isoformat(sep=sep) + zone
        texts.append(text)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)  # naive = UTC
        expected.append(parsed.astimezone(dt.UTC))
    got = parse_timestamps(pa.array(texts, type=pa.string()))
    assert got.type == pa.timestamp("ns", tz="UTC")
    assert got.to_pylist() == expected


# ------------------------------------------------------------------------ converters


def test_converters() -> None:
    assert to_imo(pa.array(["IMO9198731", "9198731", "imo 1234567", "IMO", "", None, "x1",
                            "9198731.0"])).to_pylist() == [9198731, 9198731, 1234567, None,
                                                           None, None, None, None]
    assert to_imo(pa.array([9198731, None], type=pa.int64())).to_pylist() == [9198731, None]
    assert to_class(pa.array(["A", "b", "Class B", " class a ", "C", None])).to_pylist() == [
        "A", "B", "B", "A", None, None]
    assert to_float(pa.array(["1.5", "abc", None, " 2 "])).to_pylist() == [1.5, None, None, 2.0]
    assert to_int(pa.array([1.0, 1.5, 40000.0, -3.0]), pa.int16()).to_pylist() == [
        1, None, None, -3]
    assert to_mmsi(pa.array(["273123456", "", "2.7e8", "x"])).to_pylist() == [
        273123456, -1, 270000000, -1]


def test_generic_layout_rejects_duplicate_targets() -> None:
    with pytest.raises(ValueError, match="several"):
        generic_layout({"a": "lat", "b": "lat"})
