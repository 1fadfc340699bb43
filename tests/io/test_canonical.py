"""read_ais's direct staging -> canonical conversion, null markers, batching, read-ahead.

The expected tables are built the slow, independent way: the staging table in pandas
(``pyarrow.Table.to_pandas``) through :func:`caspian_ais.schema.to_canonical`, the
shared contract for dtypes, trimming and sentinels.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from expected_tables import EXCERPT, raw_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import caspian_ais.io.read as read_module
from caspian_ais.exceptions import UnreadableFileError
from caspian_ais.io import read_ais
from caspian_ais.io.canonical import CanonicalBuilder, staging_to_frame
from caspian_ais.io.tabular import (
    NULL_VALUES,
    as_dictionary,
    blank_null_markers,
    map_text,
)
from caspian_ais.ledger import rejected_of
from caspian_ais.schema import CANONICAL_DTYPES, to_canonical, validate

MC_HEADER = ["MMSI", "BaseDateTime", "LAT", "LON", "SOG", "COG", "Heading", "VesselName",
             "IMO", "CallSign", "VesselType", "Status", "Length", "Width", "Draft", "Cargo",
             "TransceiverClass"]


def _expected(path: Path | str, usecols: list[str] | None = None) -> pd.DataFrame:
    """to_canonical of the file read with pandas (Parquet with canonical names)."""
    df = pd.read_parquet(path)
    df = df.drop(columns=[c for c in ("flag_state", "source_file", "source_row") if c in df])
    if usecols is not None:
        keep = set(usecols) | {"mmsi", "timestamp", "lat", "lon"}  # others: not read
        df = df[[c for c in df.columns if c in keep]]
    df["source_file"] = pd.Categorical([str(path)] * len(df))
    df["source_row"] = np.arange(1, len(df) + 1, dtype=np.int64)
    return to_canonical(df, add_flag_state=usecols is None or "flag_state" in usecols)


def _awkward(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A canonical-named table with sentinels, nulls, padded and empty text."""
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86400, n),
                                                                  unit="s")
    lat = rng.uniform(36, 47, n)
    lat[::17] = 91.0
    lat[::23] = np.nan
    lat[5] = 123.4  # out of range, not a sentinel: kept
    heading = rng.choice([0.0, 90.0, 359.9, 360.0, 511.0, np.nan], n)
    sog = rng.choice([0.0, 12.5, 102.2, 102.3, -1.0, np.inf, np.nan], n)
    imo = pd.array(rng.choice([9198731, 1234567, 999_999, 10_000_000, 0], n), dtype="Int64")
    imo[::7] = pd.NA
    names = np.array(["  NORD ", "", "   ", "N/A", "NULL", "ÅLAND\t", None, "X"], dtype=object)
    mmsi = rng.choice([273123456, 422000001, 436000007, 2731234, 111273123, 992731234, 123,
                       -1, 999_999_999_999], n)
    return pd.DataFrame({
        "mmsi": mmsi,
        "timestamp": ts.where(rng.random(n) > 0.05),
        "lat": lat,
        "lon": rng.uniform(47, 55, n),
        "sog_kn": sog,
        "cog_deg": rng.choice([0.0, 180.0, 360.0, np.nan], n),
        "heading_deg": heading,
        "nav_status": pd.array(rng.choice([0, 5, 15], n), dtype="Int16"),
        "imo": imo,
        "name": names[rng.integers(0, len(names), n)],
        "callsign": names[rng.integers(0, len(names), n)],
        "ship_type": pd.array(rng.choice([70, 80, 0], n), dtype="Int16"),
        "length_m": rng.choice([0.0, -3.0, 120.0, np.nan], n),
        "draught_m": rng.choice([0.0, 7.5, np.nan], n),
        "destination": names[rng.integers(0, len(names), n)],
        "ais_class": rng.choice(["A", "B", "Class B", "C", None], n),
    })


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    g, e = got.copy(), expected.copy()
    g.attrs, e.attrs = {}, {}
    g["source_file"] = g["source_file"].astype(str)
    e["source_file"] = e["source_file"].astype(str)
    pd.testing.assert_frame_equal(g, e, check_exact=True)


# ------------------------------------------------------------ Parquet: direct conversion


@pytest.mark.parametrize("usecols", [None, [], ["sog_kn", "flag_state", "name", "imo"]])
def test_parquet_equals_to_canonical(tmp_path: Path, usecols: list[str] | None) -> None:
    p = tmp_path / "awkward.parquet"
    raw = _awkward()
    raw["ais_class"] = raw["ais_class"].where(raw["ais_class"].isin(["A", "B"]))
    raw.to_parquet(p, row_group_size=64)
    got = read_ais(p, usecols=usecols)
    validate(got)
    _same(got, _expected(p, usecols))
    assert [str(got[c].dtype) for c in got.columns] == [
        str(pd.api.types.pandas_dtype(CANONICAL_DTYPES[c])) for c in got.columns]


def test_small_batches_and_many_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _awkward(1000, seed=1)
    raw["ais_class"] = raw["ais_class"].where(raw["ais_class"].isin(["A", "B"]))
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    raw.iloc[:400].to_parquet(a, row_group_size=50)
    raw.iloc[400:700].drop(columns=["destination", "imo"]).to_parquet(b)  # fewer columns
    raw.iloc[700:0].to_parquet(c)  # empty
    whole = read_ais([a, b, c])
    monkeypatch.setattr(read_module, "STREAM_BATCH_ROWS", 7)
    batched = read_ais([a, b, c])
    _same(batched, whole)
    assert batched["source_file"].astype(str).tolist() == [str(a)] * 400 + [str(b)] * 300
    assert batched["source_row"].tolist() == list(range(1, 401)) + list(range(1, 301))
    part_b = batched.iloc[400:]
    assert part_b["destination"].isna().all() and part_b["imo"].isna().all()
    _same(batched.iloc[:400].reset_index(drop=True), read_ais(a))


@pytest.mark.parametrize("threads", [2, 4])
def test_row_groups_decoded_in_parallel_equal_one_batch_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    raw = _awkward(3000, seed=5)
    raw["ais_class"] = raw["ais_class"].where(raw["ais_class"].isin(["A", "B"]))
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    raw.iloc[:1700].to_parquet(a, row_group_size=37)  # 46 groups, the last one short
    raw.iloc[1700:2000].to_parquet(b)  # one group: decoded batch by batch
    raw.iloc[2000:].drop(columns=["name"]).to_parquet(c, row_group_size=250)
    files = [a, b, c]
    calls: list[int] = []
    original = read_module.ParquetStaging.decode_row_groups

    def spy(self, sink, *, threads):  # type: ignore[no-untyped-def]
        done = original(self, sink, threads=threads)
        calls.append(int(done))
        return done

    monkeypatch.setattr(read_module.ParquetStaging, "decode_row_groups", spy)
    monkeypatch.setattr(read_module, "DECODE_THREADS", threads)
    parallel = read_ais(files)
    assert calls == [1, 0, 1]  # a and c in parallel, b (one row group) not
    monkeypatch.setattr(read_module, "DECODE_THREADS", 1)
    sequential = read_ais(files)
    _same(parallel, sequential)
    assert parallel["source_row"].tolist() == (list(range(1, 1701)) + list(range(1, 301))
                                               + list(range(1, 1001)))
    assert parallel.iloc[2000:]["name"].isna().all()
    _same(read_ais(a, usecols=["name", "flag_state"]), _expected(a, ["name", "flag_state"]))


def test_large_row_groups_are_decoded_batch_by_batch(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from caspian_ais.io import tabular
    from caspian_ais.io.sources import resolve_sources

    p = tmp_path / "big_groups.parquet"
    raw = _awkward(500, seed=6)
    raw["ais_class"] = "A"
    raw.to_parquet(p, row_group_size=100)
    monkeypatch.setattr(tabular, "PARALLEL_MAX_GROUP_ROWS", 99)
    monkeypatch.setattr(read_module, "DECODE_THREADS", 2)
    staged = tabular.open_parquet(resolve_sources(p)[0], text_dictionary=True)
    assert staged.decode_row_groups(lambda t, o: None, threads=2) is False
    monkeypatch.setattr(tabular, "PARALLEL_MAX_GROUP_ROWS", 100)
    seen: list[int] = []
    assert staged.decode_row_groups(lambda t, o: seen.append(o), threads=2) is True
    assert sorted(seen) == [0, 100, 200, 300, 400]
    _same(read_ais(p), _expected(p))


def test_columns_are_writeable(tmp_path: Path) -> None:
    p = tmp_path / "t.parquet"
    _awkward(50).assign(ais_class="A").to_parquet(p)
    got = read_ais(p)
    got.loc[3, "timestamp"] = pd.Timestamp("2020-01-01", tz="UTC")
    got.loc[3, "lat"] = 1.5
    got.loc[3, "mmsi"] = 7
    got.loc[3, "nav_status"] = 2
    got.loc[3, "imo"] = 9198731
    got.loc[3, "name"] = "Y"
    got.iloc[4, got.columns.get_loc("source_row")] = 99
    assert got.loc[3, ["lat", "mmsi", "nav_status", "imo", "name"]].tolist() == [
        1.5, 7, 2, 9198731, "Y"]
    assert got.loc[3, "timestamp"] == pd.Timestamp("2020-01-01", tz="UTC")
    assert got.sort_values(["mmsi", "timestamp"])["mmsi"].is_monotonic_increasing


def test_corrupt_parquet_data_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.parquet"
    raw = _awkward(20_000, seed=3)
    raw["ais_class"] = "A"
    raw.to_parquet(p, compression="zstd", row_group_size=2000)
    data = bytearray(p.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(4096)
    p.write_bytes(bytes(data))
    with pytest.raises(UnreadableFileError, match="broken.parquet"):
        read_ais(p)


def test_builder_rejects_wrong_row_counts() -> None:
    t = pa.table({"mmsi": [1, 2], "timestamp": pa.array([0, 1], pa.timestamp("ns", "UTC")),
                  "lat": [1.0, 2.0], "lon": [3.0, 4.0], "source_row": [1, 2]})
    b = CanonicalBuilder(3, t.column_names)
    b.append(t)
    with pytest.raises(ValueError, match="announced"):
        b.finish(pd.Categorical(["f"] * 3))
    with pytest.raises(ValueError, match="more rows"):
        b.append(t)


def test_staging_to_frame_plain_and_dictionary_text() -> None:
    base = {"mmsi": [273123456] * 3, "lat": [45.0, 91.0, None], "lon": [50.0] * 3,
            "source_row": [1, 2, 3]}
    ts = pa.array([0, None, 2], pa.timestamp("ns", "UTC"))
    plain = pa.table({**base, "timestamp": ts, "name": pa.array([" A ", "", None])})
    coded = pa.table({**base, "timestamp": ts,
                      "name": as_dictionary(pa.array([" A ", "", None]))})
    cat = pd.Categorical(["f"] * 6)
    got = staging_to_frame([plain, coded], cat)
    assert got["name"].tolist()[:3] == got["name"].tolist()[3:]
    assert got["name"].iloc[0] == "A" and got["name"].iloc[1:3].isna().all()
    assert got["lat"].iloc[1:3].isna().all()
    assert got["timestamp"].isna().tolist() == [False, True, False] * 2
    assert got["flag_state"].tolist() == ["RU"] * 6


# ------------------------------------------------------------ CSV: null markers


def _mc_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(MC_HEADER)]
    for r in rows:
        lines.append(",".join(r.get(h, "") for h in MC_HEADER))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_null_markers_only_in_numeric_time_and_coded_columns(tmp_path: Path) -> None:
    good = {"MMSI": "273123456", "BaseDateTime": "2022-01-03T00:00:00", "LAT": "45.1",
            "LON": "50.2", "SOG": "1.5", "COG": "10", "Heading": "20", "VesselName": "NORD",
            "IMO": "IMO9198731", "CallSign": "UBCD7", "VesselType": "70", "Status": "0",
            "Length": "100", "Draft": "5", "TransceiverClass": "A"}
    rows = [
        good,
        {**good, "CallSign": "N/A", "VesselName": "NULL", "IMO": "N/A", "LAT": "N/A",
         "SOG": "NA", "Status": "null", "TransceiverClass": "N/A", "BaseDateTime": "N/A"},
        {**good, "CallSign": " None ", "VesselName": "nan", "MMSI": "N/A", "Length": "NaN"},
        {**good, "CallSign": '"N/A"', "VesselName": '"  "', "BaseDateTime": '""'},
        {**good, "CallSign": "", "VesselName": "#N/A"},
    ]
    p = _mc_rows(tmp_path / "AIS_2022_01_03.csv", rows)
    got = read_ais(p)
    assert got["callsign"].tolist()[:4] == ["UBCD7", "N/A", "None", "N/A"]
    assert pd.isna(got.loc[4, "callsign"])
    assert got["name"].tolist()[:3] == ["NORD", "NULL", "nan"]
    assert pd.isna(got.loc[3, "name"]) and got.loc[4, "name"] == "#N/A"
    assert np.isnan(got.loc[1, "lat"]) and np.isnan(got.loc[1, "sog_kn"])
    assert got.loc[1, "nav_status"] is pd.NA and got.loc[1, "imo"] is pd.NA
    assert pd.isna(got.loc[1, "ais_class"]) and got.loc[0, "ais_class"] == "A"
    assert got["timestamp"].isna().tolist() == [False, True, False, True, False]
    assert got.loc[2, "mmsi"] == -1 and np.isnan(got.loc[2, "length_m"])
    # the same with every value quoted, and column projection
    sub = read_ais(p, usecols=["callsign", "name"])
    assert sub["callsign"].tolist()[:4] == ["UBCD7", "N/A", "None", "N/A"]


def test_null_marker_call_signs_in_generic_and_dma_files(tmp_path: Path) -> None:
    p = tmp_path / "positions.csv"
    p.write_text("mmsi,timestamp,lat,lon,callsign,destination\n"
                 "273123456,2022-01-03T00:00:00,45,50,N/A,NA\n"
                 "273123456,N/A,N/A,50,NA, null \n")
    got = read_ais(p)
    assert got["callsign"].tolist() == ["N/A", "NA"]
    assert got["destination"].tolist() == ["NA", "null"]
    assert got["timestamp"].isna().tolist() == [False, True]
    assert np.isnan(got.loc[1, "lat"])
    q = tmp_path / "aisdk-2022-01-03.csv"
    q.write_text("# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,"
                 "SOG,COG,Heading,IMO,Callsign,Name,Ship type,Cargo type,Width,Length,"
                 "Type of position fixing device,Draught,Destination,ETA,Data source type\n"
                 "03/01/2022 00:00:01,Class A,219000001,55.1,10.1,Moored,0,N/A,90.0,,Unknown,"
                 "N/A,Unknown,Tanker,,20,120,GPS,7.5,N/A,,AIS\n")
    dma = read_ais(q)
    assert dma.loc[0, "callsign"] == "N/A" and dma.loc[0, "destination"] == "N/A"
    assert pd.isna(dma.loc[0, "name"]) and dma.loc[0, "imo"] is pd.NA  # DMA "Unknown"
    assert np.isnan(dma.loc[0, "sog_kn"]) and dma.loc[0, "nav_status"] == 5


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.sampled_from([*NULL_VALUES, " N/A", "NORD", " x ", "NA "]),
                     min_size=1, max_size=12))
def test_text_columns_keep_null_markers_verbatim(tmp_path: Path, text: list[str]) -> None:
    p = tmp_path / "gen.csv"
    rows = [{"mmsi": "273123456", "timestamp": "2022-01-03T00:00:00", "lat": "45",
             "lon": "50", "callsign": f'"{v}"'} for v in text]
    p.write_text("mmsi,timestamp,lat,lon,callsign\n"
                 + "".join(",".join(r.values()) + "\n" for r in rows))
    got = read_ais(p)
    expected = [v.strip() or None for v in text]
    assert [None if pd.isna(v) else v for v in got["callsign"]] == expected


# ------------------------------------------------------------ CSV: batches


def test_csv_small_blocks_same_table_and_ledger(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    lines = EXCERPT.read_text().splitlines()
    lines[10] = "367379190,2022-01-03T00:00:00,30.3"      # data row 10: too few fields
    lines[900] = lines[900] + ",extra"                    # data row 900: too many
    p = tmp_path / "AIS_2022_01_03.csv"
    p.write_text("\n".join(lines) + "\n")
    whole = read_ais(p)
    monkeypatch.setattr(read_module, "STREAM_BLOCK_SIZE", 4096)
    small = read_ais(p)
    _same(small, whole)
    pd.testing.assert_frame_equal(rejected_of(small), rejected_of(whole))
    assert sorted(rejected_of(small)["source_row"].tolist()) == [10, 900]
    assert len(whole) == len(raw_text(EXCERPT)) - 2


# ------------------------------------------------------------ helpers


def test_blank_null_markers_and_map_text() -> None:
    arr = pa.array(["1", "N/A", "", None, "NULLISH", "#NA"])
    assert blank_null_markers(arr).to_pylist() == ["1", None, None, None, "NULLISH", None]
    coded = arr.dictionary_encode()
    out = blank_null_markers(coded)
    assert pa.types.is_dictionary(out.type)
    assert out.to_pylist() == ["1", None, None, None, "NULLISH", None]
    assert out.null_count == 4  # the codes are null, not just the dictionary values
    assert blank_null_markers(pa.array([1.5, None])).to_pylist() == [1.5, None]
    upper = map_text(as_dictionary(pa.array(["a", "b", None, "a"])),
                     lambda a: pa.compute.utf8_upper(a))
    assert upper.to_pylist() == ["A", "B", None, "A"]


def test_read_ahead_propagates_errors_and_stops_early() -> None:
    def failing():
        yield 1
        raise RuntimeError("boom")

    it = read_module._read_ahead(failing())
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="boom"):
        next(it)
    produced: list[int] = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    before = threading.active_count()
    gen = read_module._read_ahead(endless(), depth=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()  # the consumer stops: the producer thread ends
    assert threading.active_count() == before
    assert len(produced) <= 3 + 2 + 1


def test_parquet_text_read_dictionary_encoded(tmp_path: Path) -> None:
    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"mmsi": [273123456, 273123457],
                             "timestamp": pa.array([0, 1], pa.timestamp("s")),
                             "lat": [45.0, 46.0], "lon": [50.0, 51.0],
                             "name": pa.array([" A", "B "], pa.large_string()),
                             "ais_class": ["Class B", "a"]}), p)
    got = read_ais(p)
    assert got["name"].tolist() == ["A", "B"] and got["ais_class"].tolist() == ["B", "A"]


def test_columns_not_read_are_independent(tmp_path: Path) -> None:
    p = tmp_path / "t.parquet"
    _awkward(30).assign(ais_class="A").to_parquet(p)
    got = read_ais(p, usecols=[])
    assert got[["sog_kn", "cog_deg", "heading_deg"]].isna().all().all()
    assert got["nav_status"].isna().all()
    got.loc[0, "sog_kn"] = 5.0
    got.iloc[1, got.columns.get_loc("cog_deg")] = 7.0
    assert got["sog_kn"].notna().sum() == 1 and got["cog_deg"].notna().sum() == 1
    assert got["heading_deg"].isna().all() and np.isnan(got.loc[1, "sog_kn"])
