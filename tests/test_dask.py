"""The Dask backend on a LocalCluster of 2 workers: results identical to the local engines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")

from caspian_ais import analyze  # noqa: E402


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from caspian_ais.synthetic import write_scenario

    out = tmp_path_factory.mktemp("daily_dask")
    write_scenario(out, n_vessels=12, days=4, start="2022-08-15", seed=7,
                   format="marinecadastre", workers=1)
    return out / "ais"


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       memory_limit=0, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_dask_identical_to_memory_and_batch(daily: Path, client, tmp_path: Path) -> None:
    mem = analyze(daily, engine="memory")
    bat = analyze(daily, engine="batch", n_partitions=3)
    das = analyze(daily, engine="dask", client=client, n_partitions=3,
                  workdir=tmp_path / "w", keep_workdir=True)
    assert das.engine == "dask"
    assert (tmp_path / "w" / "clean" / "p0002.parquet").exists()
    for other in (bat, das):
        assert other.summary() == mem.summary()
        pd.testing.assert_frame_equal(mem.gaps, other.gaps)
        for name in mem.tables:
            pd.testing.assert_frame_equal(mem.tables[name], other.tables[name], obj=name)
        pd.testing.assert_frame_equal(mem.rejected, other.rejected)
    # the tasks ran on the workers
    assert len(client.scheduler_info()["workers"]) == 2


def test_dask_resume_skips_finished_units(daily: Path, client, tmp_path: Path) -> None:
    wd = tmp_path / "w"
    first = analyze(daily, engine="dask", client=client, n_partitions=2, workdir=wd)
    messages: list[str] = []
    again = analyze(daily, engine="dask", client=client, n_partitions=2, workdir=wd,
                    on_stage=messages.append)
    assert any("resuming" in m for m in messages)
    pd.testing.assert_frame_equal(first.gaps, again.gaps)


def test_dask_sts_tables_identical_to_memory(client, tmp_path: Path) -> None:
    """Encounters, loitering, dark rendezvous and identity anomalies (one IMO number
    moving between MMSIs of two partitions) on the cluster, as in memory."""
    from caspian_ais.synthetic import write_scenario

    write_scenario(tmp_path / "sc", n_vessels=30, days=20, start="2022-08-01", seed=1,
                   workers=1)
    src = tmp_path / "sc" / "ais"
    mem = analyze(src, engine="memory")
    assert len(mem.tables["encounters"]) and len(mem.tables["dark_rendezvous"])
    assert "flag_change" in set(mem.tables["identity_anomalies"]["kind"])
    das = analyze(src, engine="dask", client=client, n_partitions=4)
    assert das.summary() == mem.summary()
    for name in mem.tables:
        pd.testing.assert_frame_equal(mem.tables[name], das.tables[name], obj=name)


def test_dask_worker_floor(client) -> None:
    """The batch engine sizes partitions from what a worker holds before the run."""
    from caspian_ais.batch.dask import DaskExecutor

    floor = DaskExecutor(client=client).floor()
    assert floor is None or 10_000_000 < floor < 4_000_000_000
