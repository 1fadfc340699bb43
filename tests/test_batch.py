"""Out-of-core batch engine: streaming reads, partitioned analysis identical to in memory,
resume after an interruption, memory settings, CLI options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caspian_ais import analyze, clean, read_ais
from caspian_ais.batch import iter_ais
from caspian_ais.batch import run as batch_run
from caspian_ais.batch.run import BatchSettings, bucket_of, parse_memory, plan_partitions
from caspian_ais.ledger import rejected_of
from caspian_ais.reception import (
    build_reception_model,
    interval_partial,
    interval_plan,
    interval_sample,
    merge_interval,
    merge_quality,
    model_from_partials,
    occupancy_partial,
    quality_partial,
    reception_options,
)


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five daily MarineCadastre CSV files of a small simulated fleet."""
    from caspian_ais.synthetic import write_scenario

    out = tmp_path_factory.mktemp("daily")
    write_scenario(out, n_vessels=16, days=5, start="2022-08-15", seed=4,
                   format="marinecadastre", workers=1)
    return out / "ais"


@pytest.fixture(scope="module")
def in_memory(daily: Path):
    return analyze(daily, engine="memory")




def assert_same_analysis(a, b) -> None:
    assert a.summary() == b.summary()
    s = b.summary()
    assert s["rows_read"] == s["rows_kept"] + s["rows_rejected"]  # every row accounted for
    pd.testing.assert_frame_equal(a.gaps, b.gaps)
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], obj=name)
    pd.testing.assert_frame_equal(a.rejected, b.rejected, obj="rejected")
    assert a.rows_read == b.rows_read
    assert a.sources == b.sources


def test_iter_ais_matches_read_ais(daily: Path) -> None:
    whole = read_ais(daily)
    batches = list(iter_ais(daily, batch_rows=5000))
    assert len(batches) >= len(list(daily.glob("*.csv")))
    streamed = pd.concat(batches, ignore_index=True)
    pd.testing.assert_frame_equal(whole, streamed)
    ledgers = [rejected_of(b) for b in batches]
    pd.testing.assert_frame_equal(
        rejected_of(whole), pd.concat([x for x in ledgers if len(x)] or [rejected_of(whole)],
                                      ignore_index=True))


def test_iter_ais_ledger_of_bad_rows(tmp_path: Path) -> None:
    header = ("MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,"
              "Status,Length,Width,Draft,Cargo,TransceiverClass")
    good = "273000001,2022-09-01T00:00:00,45.0,50.0,1,2,3,A,IMO1,C,70,0,100,20,5,70,A"
    path = tmp_path / "AIS_2022_09_01.csv"
    path.write_text("\n".join([header, good, "273000001,2022-09-01T00:10:00,45.0", good]) + "\n")
    batches = list(iter_ais(path))
    assert sum(len(b) for b in batches) == 2
    assert rejected_of(batches[-1])["reason"].tolist() == ["unparseable_row"]


@pytest.fixture(scope="module")
def nmea_and_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two daily NMEA files of a small simulated fleet and a MarineCadastre CSV excerpt:
    streamed batches of NMEA frames alone, partitions of NMEA frames next to loader
    tables."""
    from caspian_ais.synthetic import write_scenario

    out = tmp_path_factory.mktemp("nmea")
    write_scenario(out, n_vessels=8, days=2, start="2022-08-15", seed=4, format="nmea",
                   workers=1)
    csv = Path(__file__).parent / "data" / "marinecadastre_2022-01-03_excerpt.csv"
    (out / "ais" / csv.name).write_bytes(csv.read_bytes())
    return out / "ais"


def test_nmea_and_csv_streamed_and_batched_as_in_memory(nmea_and_csv: Path, tmp_path: Path,
                                                        no_floor: None) -> None:
    # the canonical table of NMEA frames (converted to arrow by iter_staging) is built by
    # staging_to_frame like any loader's table: the same rows and values as read_ais
    whole = read_ais(nmea_and_csv)
    assert {Path(str(f)).suffix for f in whole["source_file"].unique()} == {".nmea", ".csv"}
    streamed = pd.concat(list(iter_ais(nmea_and_csv, batch_rows=500)), ignore_index=True)
    pd.testing.assert_frame_equal(whole, streamed)
    in_memory = analyze(nmea_and_csv, engine="memory")
    for n in (1, 3):
        batch = analyze(nmea_and_csv, engine="batch", n_partitions=n,
                        workdir=tmp_path / f"w{n}")
        assert_same_analysis(in_memory, batch)


def test_reception_model_from_partitions_is_identical(daily: Path) -> None:
    tracks = clean(read_ais(daily)).tracks
    model = build_reception_model(tracks)
    opts = reception_options({})
    parts = [tracks[bucket_of(tracks["mmsi"].to_numpy(), 3) == p].reset_index(drop=True)
             for p in range(3)]
    if "report_interval_s" in opts.kw:  # the run-wide median interval, from the parts
        plan = interval_plan([interval_partial(t, opts) for t in parts])
        interval = merge_interval([interval_sample(t, opts, plan) for t in parts], plan)
        np.testing.assert_equal(interval, model.report_interval_s)
        opts = opts.with_interval(interval)
    q = merge_quality([quality_partial(t, opts) for t in parts], opts)
    merged = model_from_partials(q, [occupancy_partial(t, q) for t in parts])
    exact = ["cell", "month", "lat", "lon", "reports", "vessels", "well_heard", "quality",
             "reports_per_h"]
    pd.testing.assert_frame_equal(model.cells[exact], merged.cells[exact])
    pd.testing.assert_frame_equal(model.cells, merged.cells, check_exact=False, rtol=1e-9)
    np.testing.assert_array_equal(model._cell_keys, merged._cell_keys)
    np.testing.assert_array_equal(model._quality, merged._quality)
    assert (model.bin_h, model.t0_ns) == (merged.bin_h, merged.t0_ns)
    for a, b in ((model._local, merged._local), (model._wide, merged._wide)):
        for name in ("cells", "cum", "solo_keys", "solo_bins"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("pass_start_ns", "pass_end_ns", "heard_max_h", "pass_bin_min",
                 "report_interval_s"):
        if hasattr(model, name):
            np.testing.assert_array_equal(getattr(model, name), getattr(merged, name))


def test_batch_identical_to_memory(daily: Path, in_memory, tmp_path: Path) -> None:
    batch = analyze(daily, engine="batch", n_partitions=3, workdir=tmp_path / "w",
                    keep_workdir=False)
    assert batch.engine == "batch"
    assert_same_analysis(in_memory, batch)
    assert not (tmp_path / "w").exists()
    # gaps across a file (day) boundary are found, each once
    g = batch.gaps
    assert g["gap_id"].is_unique
    crosses = g["start_time"].dt.floor("D") != g["end_time"].dt.floor("D")
    assert crosses.any()


def test_batch_one_partition_and_tiny_flushes(daily: Path, in_memory, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              no_floor: None) -> None:
    # a memory limit far below the input: many flushes and partitions, same result
    monkeypatch.setattr(BatchSettings, "flush_bytes", property(lambda self: 200_000))
    batch = analyze(daily, engine="batch", memory_limit="40MB", workdir=tmp_path / "w")
    assert batch.parameters["n_partitions"] > 1
    assert_same_analysis(in_memory, batch)
    one = analyze(daily, engine="batch", n_partitions=1)
    assert_same_analysis(in_memory, one)
    many = analyze(daily, engine="batch", n_partitions=40)  # more partitions than vessels
    assert_same_analysis(in_memory, many)


def test_batch_resumes_after_interruption(daily: Path, in_memory, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    wd = tmp_path / "w"
    real = batch_run._detect_partition
    calls: list[int] = []

    def failing(p: int, **kw):
        calls.append(p)
        if p == 2:
            raise KeyboardInterrupt
        return real(p, **kw)

    monkeypatch.setattr(batch_run, "_detect_partition", failing)
    with pytest.raises(KeyboardInterrupt):
        analyze(daily, engine="batch", n_partitions=4, workdir=wd)
    assert (wd / "clean" / "p0003.done.json").exists()
    assert (wd / "detect" / "p0001.done.json").exists()
    monkeypatch.setattr(batch_run, "_detect_partition", real)
    cleaned: list[dict] = []
    real_clean = batch_run._clean_partition
    monkeypatch.setattr(batch_run, "_clean_partition",
                        lambda p, **kw: cleaned.append(real_clean(p, **kw)) or cleaned[-1])
    messages: list[str] = []
    resumed = analyze(daily, engine="batch", n_partitions=4, workdir=wd,
                      on_stage=messages.append)
    assert any("resuming" in m for m in messages)
    assert all(c.get("skipped") for c in cleaned)
    assert_same_analysis(in_memory, resumed)
    assert wd.exists()  # a given workdir is kept


def test_settings_and_partitioning() -> None:
    assert parse_memory("4GB") == 4_000_000_000
    assert parse_memory("512MiB") == 512 * 1024**2
    assert parse_memory(12345) == 12345
    with pytest.raises(ValueError):
        parse_memory("lots")
    small = BatchSettings(memory_limit=parse_memory("1GB"), workdir=Path("."))
    big = BatchSettings(memory_limit=parse_memory("8GB"), workdir=Path("."))
    assert plan_partitions(200_000_000, small) > plan_partitions(200_000_000, big) >= 1
    b = bucket_of(np.arange(273_000_000, 273_100_000), 16)
    counts = np.bincount(b, minlength=16)
    assert counts.min() > 0.8 * counts.mean()


def test_engine_choice(daily: Path) -> None:
    from caspian_ais.pipeline import _choose_engine

    assert _choose_engine("auto", daily, False, "100GB", None, None, None) == "memory"
    assert _choose_engine("auto", daily, False, "1MB", None, None, None) == "batch"
    assert _choose_engine("auto", daily, False, None, 2, None, None) == "dask"
    with pytest.raises(ValueError, match="already in memory"):
        _choose_engine("batch", pd.DataFrame(), True, None, None, None, None)
    with pytest.raises(ValueError, match="engine must be"):
        _choose_engine("spark", daily, False, None, None, None, None)


def test_cli_batch_engine(daily: Path, tmp_path: Path, no_floor: None) -> None:
    from caspian_ais.cli import main

    assert main(["analyze", str(daily), "--out", str(tmp_path / "mem"), "--no-report", "-q",
                 "--engine", "memory"]) == 0
    assert main(["analyze", str(daily), "--out", str(tmp_path / "bat"), "--no-report", "-q",
                 "--memory-limit", "30MB", "--partitions", "3"]) == 0
    for name in ("gaps.csv", "port_calls.csv", "dark_port_calls.csv", "rejected_rows.csv"):
        assert (tmp_path / "mem" / name).read_text() == (tmp_path / "bat" / name).read_text()
    assert not (tmp_path / "bat" / ".caspian_work").exists()
    assert main(["analyze", str(daily), "--out", str(tmp_path / "x"),
                 "--memory-limit", "lots"]) == 2


def test_read_ais_usecols_projection(daily: Path) -> None:
    full = read_ais(daily)
    few = read_ais(daily, usecols=["sog_kn", "ship_type"])
    assert "name" not in few and "flag_state" not in few and "ship_type" in few
    for col in ("mmsi", "timestamp", "lat", "lon", "sog_kn", "ship_type", "source_file",
                "source_row"):
        pd.testing.assert_series_equal(full[col], few[col])
    assert few["cog_deg"].isna().all()  # required columns are there, unread
    pd.testing.assert_frame_equal(rejected_of(full), rejected_of(few))
    with pytest.raises(ValueError, match="unknown canonical"):
        read_ais(daily, usecols=["speed"])


@pytest.fixture(scope="module")
def sts_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fleet with encounters, loitering, dark rendezvous and identity anomalies (among
    them an IMO number moving to an MMSI of another partition)."""
    from caspian_ais.synthetic import write_scenario

    out = tmp_path_factory.mktemp("sts")
    write_scenario(out, n_vessels=30, days=20, start="2022-08-01", seed=1, workers=1)
    return out / "ais"


def test_batch_sts_tables_identical_to_memory(sts_scenario: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              no_floor: None) -> None:
    mem = analyze(sts_scenario, engine="memory")
    t = mem.tables
    assert len(t["encounters"]) and len(t["loitering"]) and len(t["dark_rendezvous"])
    kinds = set(t["identity_anomalies"]["kind"])
    assert {"flag_change", "teleport", "two_places", "on_land", "name_change"} <= kinds
    # encounters by time slices of one hour: every encounter spans several slices
    monkeypatch.setattr(batch_run, "_MIN_SLICE_SAMPLES", 1)
    monkeypatch.setattr(batch_run, "BYTES_PER_SAMPLE", 1 << 40)
    n_slices: list[int] = []
    real = batch_run._sample_slices

    def counted(*args, **kw):
        for item in real(*args, **kw):
            n_slices.append(len(item[0]))
            yield item

    monkeypatch.setattr(batch_run, "_sample_slices", counted)
    bat = analyze(sts_scenario, engine="batch", memory_limit="30MB", workdir=tmp_path / "w")
    n_parts = bat.parameters["n_partitions"]
    assert n_parts > 3 and len(n_slices) > 20
    assert len(bat.tracks) < bat.summary()["rows_kept"]  # thinned copy; the tables are whole
    assert_same_analysis(mem, bat)
    # the reflagged ship's two MMSIs lie in different partitions
    fc = t["identity_anomalies"].query("kind == 'flag_change'").iloc[0]
    assert len(set(bucket_of(np.array([fc.mmsi, fc.other_mmsi]), n_parts).tolist())) == 2


def test_split_vessels_and_plan_units() -> None:
    counts = np.array([5, 1, 1, 8, 2, 2, 1, 3])
    sub = batch_run._split_vessels(counts, 8)
    assert (np.diff(sub) >= 0).all()  # consecutive vessels, in order
    load = np.bincount(sub, weights=counts)
    assert load.max() <= 8 and load.min() > 0
    assert len(load) <= 4
    # a vessel above the budget is alone
    sub = batch_run._split_vessels(np.array([1, 20, 1]), 8)
    assert np.bincount(sub, weights=[1, 20, 1]).max() == 20
    assert sub[1] != sub[0] and sub[1] != sub[2]
    # bucket 1 is too large: split by vessel
    mmsi = np.arange(273_000_000, 273_000_010)
    b = bucket_of(mmsi, 3)
    rows = np.where(b == 1, 40, 10)
    part_rows = np.bincount(b, weights=rows, minlength=3).astype(np.int64)
    budget = int(part_rows.max()) // 2

    def vessel_rows(p: int) -> tuple[np.ndarray, np.ndarray]:
        return mmsi[b == p], rows[b == p]

    units = batch_run.plan_units(part_rows, budget, vessel_rows)
    assert len(units) > 3 and (units.rows <= budget).all()
    assert units.rows.sum() == part_rows.sum()
    u = units.unit_of(mmsi)
    np.testing.assert_array_equal(units.bucket[u], b)  # every vessel stays in its bucket
    assert len(set(u[b == 1].tolist())) > 1
    assert [units.is_split(k) for k in range(len(units))] == [
        units.bucket[k] == 1 for k in range(len(units))]
    np.testing.assert_array_equal(np.bincount(u, weights=rows), units.rows)
    whole = batch_run.Units.whole(3)
    np.testing.assert_array_equal(whole.unit_of(mmsi), b)


def test_batch_splits_oversized_partitions(daily: Path, in_memory, tmp_path: Path,
                                           no_floor: None) -> None:
    # 2 buckets of ~19 k and ~41 k rows under a budget of 20 k rows a partition: the
    # larger bucket is cleaned and analysed as sub-partitions of whole vessels
    wd = tmp_path / "w"
    messages: list[str] = []
    limit = 20_000 * batch_run.PARTITION_BYTES_PER_ROW
    batch = analyze(daily, engine="batch", n_partitions=2, memory_limit=limit, workdir=wd,
                    on_stage=messages.append)
    units = batch_run._load_pickle(wd / "parts" / "units.pkl")
    assert units.n_parts == 2 and len(units) > 2
    assert (units.rows <= 20_000).all()
    assert any("splitting buckets" in m for m in messages)
    assert_same_analysis(in_memory, batch)
    # resumed from the detect stage: the same units, the same result
    for f in (wd / "detect").glob("p0001*"):
        f.unlink()
    again = analyze(daily, engine="batch", n_partitions=2, memory_limit=limit, workdir=wd)
    assert_same_analysis(in_memory, again)


def test_memory_limit_too_small(daily: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from caspian_ais.cli import main
    from caspian_ais.exceptions import CaspianAISError

    monkeypatch.setattr(batch_run, "measure_floor", lambda executor: 150_000_000)
    with pytest.raises(batch_run.MemoryLimitError, match=r"at least \d+ MB") as err:
        analyze(daily, engine="batch", memory_limit="200MB", workdir=tmp_path / "a")
    assert isinstance(err.value, CaspianAISError) and "150 MB" in str(err.value)
    assert main(["analyze", str(daily), "--out", str(tmp_path / "o"), "--no-report", "-q",
                 "--engine", "batch", "--memory-limit", "100MB"]) == 2
    # a vessel with more rows than a partition may hold
    monkeypatch.setattr(batch_run, "measure_floor", lambda executor: 0)
    monkeypatch.setattr(batch_run, "RESERVE_BYTES", 0)
    monkeypatch.setattr(batch_run, "MIN_UNIT_BYTES", 1)
    with pytest.raises(batch_run.MemoryLimitError, match="one vessel has") as err:
        analyze(daily, engine="batch", memory_limit=2000 * batch_run.PARTITION_BYTES_PER_ROW,
                workdir=tmp_path / "b")
    assert "at least" in str(err.value)


def test_memory_helpers() -> None:
    from caspian_ais.batch.malloc import current_rss, release_memory

    release_memory()
    rss = current_rss()
    assert rss is None or rss > 10_000_000
    floor = batch_run.process_floor()
    assert floor is None or floor > 10_000_000
    s = BatchSettings(memory_limit=parse_memory("500MB"), workdir=Path("."), floor=150_000_000)
    assert s.work_bytes == 500_000_000 - 150_000_000 - batch_run.RESERVE_BYTES
    assert s.partition_rows == int(s.work_bytes / batch_run.PARTITION_BYTES_PER_ROW)
    assert s.flush_bytes < s.work_bytes and s.batch_rows >= 16_384
    with pytest.raises(batch_run.MemoryLimitError):
        BatchSettings(memory_limit=100_000_000, workdir=Path("."), floor=150_000_000).check()
