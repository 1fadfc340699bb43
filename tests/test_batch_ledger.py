"""Batch engine: the loaders' rejected rows are partitioned by bucket in stage 1, each
detect unit reads only its own bucket's ledger files, and the merged ledger is the
in-memory engine's, row for row."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from caspian_ais import analyze, read_ais
from caspian_ais.batch import run as batch_run
from caspian_ais.ledger import make_ledger, rejected_of

N_FILES = 4
BASE_STATIONS = 12  # base-station MMSIs, spread over the buckets by the hash


@pytest.fixture(scope="module")
def dma_with_rejects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Daily DMA files of a small simulated fleet; every file gets base-station rows of
    several MMSIs and rows with too few fields (no readable MMSI), interleaved with the
    vessel rows: loader rejects in several files and several buckets."""
    from caspian_ais.synthetic import write_scenario

    out = tmp_path_factory.mktemp("dma")
    write_scenario(out, n_vessels=12, days=N_FILES, start="2022-08-15", seed=4, format="dma",
                   workers=1)
    rng = np.random.default_rng(7)
    files = sorted((out / "ais").glob("*.csv"))
    assert len(files) == N_FILES
    for k, path in enumerate(files):
        lines = path.read_text().splitlines()
        header, rows = lines[0], lines[1:]
        n_fields = header.count(",") + 1
        extra: list[tuple[int, str]] = []
        for j in range(3 * BASE_STATIONS):
            fields = rows[int(rng.integers(len(rows)))].split(",")
            fields[1] = "Base Station"
            fields[2] = f"{2_730_000 + (j + k) % BASE_STATIONS:09d}"
            extra.append((int(rng.integers(len(rows))), ",".join(fields)))
        for _ in range(3):
            short = ",".join(rows[int(rng.integers(len(rows)))].split(",")[:3])
            assert short.count(",") + 1 < n_fields
            extra.append((int(rng.integers(len(rows))), short))
        for pos, line in sorted(extra, reverse=True):
            rows.insert(pos, line)
        path.write_text("\n".join([header, *rows]) + "\n")
    return out / "ais"


@pytest.fixture(scope="module")
def in_memory(dma_with_rejects: Path):
    return analyze(dma_with_rejects, engine="memory")




def _assert_same(a, b) -> None:
    assert a.summary() == b.summary()
    pd.testing.assert_frame_equal(a.rejected, b.rejected, obj="rejected")
    pd.testing.assert_frame_equal(a.gaps, b.gaps)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], obj=name)


def test_fixture_has_loader_rejects_in_every_file(dma_with_rejects: Path) -> None:
    led = rejected_of(read_ais(dma_with_rejects))
    assert set(led["reason"]) == {"base_station", "unparseable_row"}
    assert led["source_file"].nunique() == N_FILES
    assert led.loc[led["reason"] == "base_station", "mmsi"].nunique() == BASE_STATIONS
    assert led.loc[led["reason"] == "unparseable_row", "mmsi"].isna().all()


@pytest.mark.parametrize("n_parts", [1, 3, 7])
def test_batch_ledger_identical_to_memory(dma_with_rejects: Path, in_memory, tmp_path: Path,
                                          n_parts: int) -> None:
    batch = analyze(dma_with_rejects, engine="batch", n_partitions=n_parts,
                    workdir=tmp_path / "w", keep_workdir=True)
    _assert_same(in_memory, batch)
    files = batch_run._loader_ledger_files(tmp_path / "w")
    assert files and all(re.fullmatch(r"ledger-b\d{4}-\d{4}-\d{2}\.parquet", Path(f).name)
                         for f in files)
    assert not list((tmp_path / "w" / "parts").glob("g*/ledger-0*.parquet"))  # no per-file
    buckets = {int(Path(f).name[8:12]) for f in files}
    assert buckets <= set(range(n_parts)) and 0 in buckets  # bucket 0: rows without MMSI
    assert len(buckets) > 1 or n_parts == 1


def test_units_read_only_their_buckets_ledger(dma_with_rejects: Path, in_memory,
                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              no_floor: None) -> None:
    # tiny flushes (several ledger files per bucket) and a row budget below the largest
    # bucket (split buckets: units sharing a bucket's ledger files)
    monkeypatch.setattr(batch_run.BatchSettings, "flush_bytes",
                        property(lambda self: 150_000))
    monkeypatch.setattr(batch_run, "MIN_UNIT_BYTES", 1)
    wd = tmp_path / "w"
    rows = in_memory.summary()["rows_read"]
    limit = rows // 4 * batch_run.PARTITION_BYTES_PER_ROW  # 3 buckets of ~rows/3
    opened: list[tuple[int, str]] = []
    real_read = pd.read_parquet
    real_detect = batch_run._detect_partition
    current: list[int] = []

    def spy_read(path, *args, **kw):
        if current:
            opened.append((current[-1], str(path)))
        return real_read(path, *args, **kw)

    def spy_detect(p: int, **kw):
        current.append(p)
        try:
            return real_detect(p, **kw)
        finally:
            current.pop()

    monkeypatch.setattr(pd, "read_parquet", spy_read)
    monkeypatch.setattr(batch_run, "_detect_partition", spy_detect)
    batch = analyze(dma_with_rejects, engine="batch", n_partitions=3, memory_limit=limit,
                    workdir=wd, keep_workdir=True)
    monkeypatch.setattr(pd, "read_parquet", real_read)
    _assert_same(in_memory, batch)

    units = batch_run._load_pickle(wd / "parts" / "units.pkl")
    assert len(units) > units.n_parts  # a bucket was split
    every = batch_run._loader_ledger_files(wd)
    by_bucket = {b: batch_run._loader_ledger_files(wd, b) for b in range(units.n_parts)}
    assert sorted(f for fs in by_bucket.values() for f in fs) == every
    assert max(len(fs) for fs in by_bucket.values()) > 1  # several flushes
    for p in range(len(units)):
        ledger_reads = sorted(f for u, f in opened if u == p and "ledger-" in Path(f).name)
        assert ledger_reads == by_bucket[int(units.bucket[p])], p  # its bucket's, no more

    # every loader row in exactly one unit; the rows without an MMSI in unit 0
    loader = rejected_of(read_ais(dma_with_rejects))
    per_unit = [batch_run._partition_ledger(wd, p, units) for p in range(len(units))]
    cleaned = [real_read(wd / "clean" / f"p{p:04d}.rejected.parquet") for p in range(len(units))]
    got = [lg.iloc[: len(lg) - len(c)] for lg, c in zip(per_unit, cleaned, strict=True)]
    assert sum(len(g) for g in got) == len(loader)
    no_mmsi = [int(g["mmsi"].isna().sum()) for g in got]
    assert no_mmsi[0] == int(loader["mmsi"].isna().sum()) > 0 and sum(no_mmsi[1:]) == 0
    for p, g in enumerate(got):
        known = g["mmsi"].notna().to_numpy()
        mm = g["mmsi"].to_numpy(dtype="float64", na_value=np.nan)[known].astype(np.int64)
        assert (units.unit_of(mm) == p).all()
        # in input order: by file, then the file's ledger order
        key = loader.reset_index().merge(g, on=list(g.columns))["index"].to_numpy()
        assert len(key) == len(g) and (np.diff(key) > 0).all()


def test_ledger_buckets_at_the_unreadable_boundary() -> None:
    mmsi = pd.Series(pd.array([2_730_001, pd.NA, 273_000_001, pd.NA], dtype="Int64"))
    b = batch_run._ledger_buckets(mmsi, 5)
    np.testing.assert_array_equal(
        b, [batch_run.bucket_of(np.array([2_730_001]), 5)[0], 0,
            batch_run.bucket_of(np.array([273_000_001]), 5)[0], 0])
    # text that is not a number is unreadable too (bucket 0); 0 is a readable MMSI
    b = batch_run._ledger_buckets(pd.Series(["x", "0", None], dtype=object), 5)
    np.testing.assert_array_equal(b, [0, batch_run.bucket_of(np.array([0]), 5)[0], 0])


def test_buffer_drops_a_restarted_files_ledger_rows(tmp_path: Path) -> None:
    n_parts = 4
    buf = batch_run._Buffer(tmp_path, n_parts, flush_bytes=1 << 40)
    mmsi = np.arange(273_000_000, 273_000_040)
    staging = pa.table({"mmsi": mmsi, "source_row": np.arange(1, 41)})
    led = make_ledger(pd.DataFrame({"mmsi": mmsi[:10], "source_row": np.arange(1, 11)}),
                      "base_station", source_file="f")
    for f in (0, 1):
        buf.add(staging, f)
        buf.add_ledger(led, f)
    buf.flush()  # file 1 in a flushed file, then again in the buffer
    buf.add(staging, 1)
    buf.add_ledger(led, 1)
    buf.drop_file(1)
    buf.flush()
    np.testing.assert_array_equal(
        buf.rows, np.bincount(batch_run.bucket_of(mmsi, n_parts), minlength=n_parts))
    ledgers = [pd.read_parquet(f) for f in sorted(tmp_path.glob("ledger-b*.parquet"))]
    got = pd.concat(ledgers, ignore_index=True)
    assert set(got["_file"]) == {0} and len(got) == len(led)
    for f in tmp_path.glob("ledger-b*.parquet"):  # each file holds its bucket's rows
        b = int(f.name[8:12])
        m = pd.read_parquet(f)["mmsi"].to_numpy(dtype=np.int64)
        assert (batch_run.bucket_of(m, n_parts) == b).all()
    # read back in the file's ledger order, as written
    back = batch_run._read_loader_ledger([str(f) for f in sorted(tmp_path.glob("ledger-b*"))])
    assert back is not None
    np.testing.assert_array_equal(back["_pos"], np.arange(len(led)))
    pd.testing.assert_frame_equal(back.drop(columns=["_file", "_pos"]), led)


def test_write_frame_dictionary_only_where_values_repeat(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    n = 5000
    rng = np.random.default_rng(1)
    df = pd.DataFrame({
        "mmsi": np.repeat(np.arange(273_000_000, 273_000_005), n // 5),
        "timestamp": pd.date_range("2022-08-01", periods=n, freq="37s", tz="UTC"),
        "lat": rng.uniform(36, 47, n), "lon": rng.uniform(46, 55, n),
        "sog_kn": np.round(rng.uniform(0, 15, n), 1),
        "name": pd.array(np.where(rng.random(n) < 0.5, "A", None), dtype=object),
        "source_file": pd.Categorical(np.where(rng.random(n) < 0.5, "a.csv", "b.csv")),
        "source_row": np.arange(1, n + 1),
    })
    path = tmp_path / "f.parquet"
    batch_run._write_frame(path, df)
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)
    meta = pq.ParquetFile(path).metadata.row_group(0)
    dictionary = {meta.column(j).path_in_schema: any("DICTIONARY" in e for e in
                                                     meta.column(j).encodings)
                  for j in range(meta.num_columns)}
    assert {c for c, d in dictionary.items() if not d} == set(batch_run._PLAIN_COLUMNS)
