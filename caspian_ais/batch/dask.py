"""The Dask backend: the batch engine's stages as tasks on a ``dask.distributed`` cluster.

``analyze(..., engine="dask", scheduler="tcp://host:8786")`` (or ``workers=N`` for a
local cluster of N processes) runs :mod:`caspian_ais.batch.run` with each unit of work --
an input file group to partition, a vessel partition to clean, to count for the
reception model, to run the detectors on -- submitted as one task. The shuffle by MMSI
is stage 1: every task hashes its rows' MMSIs into the partitions and writes them to the
work directory, which must therefore be on storage that every worker and the client
see under the same path (NFS, a cluster file system; see ``docs/distributed.md``).
The detectors are the in-memory ones: there is no second implementation, and the
results are identical to ``engine="memory"`` and ``engine="batch"``.

Needs ``pip install caspian_ais[dask]`` (``dask[distributed]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["DaskExecutor"]


class DaskExecutor:
    """Runs the units of each stage as tasks on a Dask cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``) or a scheduler file
        (``*.json``). Default: start a :class:`distributed.LocalCluster`.
    workers : int, optional
        Worker processes of the local cluster (default 2). Ignored with ``scheduler``.
    client : distributed.Client, optional
        Use this client (and leave it open).
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None,
                 client: Any = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("engine='dask' needs dask.distributed: "
                              "pip install 'caspian_ais[dask]'") from exc
        self._own = client is None
        self._cluster = None
        if client is not None:
            self.client = client
        elif scheduler:
            if str(scheduler).endswith(".json"):
                self.client = Client(scheduler_file=str(scheduler))
            else:
                self.client = Client(str(scheduler))
        else:
            self._cluster = LocalCluster(n_workers=int(workers or 2), threads_per_worker=1,
                                         processes=True, memory_limit=0,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        self.workers = max(len(self.client.scheduler_info().get("workers", {})), 1)

    def map(self, fn: Callable[..., Any], items: list[Any], *, desc: str, progress: bool,
            **kwargs: Any) -> Iterator[Any]:
        """Submit ``fn(item, **kwargs)`` for every item; results in the items' order."""
        from distributed import as_completed

        if not items:
            return iter(())
        from caspian_ais.batch.malloc import release_memory

        try:  # a new stage: the workers return what the last one freed
            self.client.run(release_memory)
        except Exception:  # a worker that cannot: its memory is released unit by unit
            pass
        futures = self.client.map(fn, items, pure=False, **kwargs)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(futures), desc=f"{desc} (dask)", unit="part")
        try:
            for fut in as_completed(futures):
                results[index[fut.key]] = fut.result()  # re-raises a task's error
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return iter(results)

    def share(self, obj: Any) -> Any:
        """Send ``obj`` to every worker once; tasks receive it by reference."""
        if obj is None:
            return None
        return self.client.scatter(obj, broadcast=True, hash=False)

    def floor(self) -> int | None:
        """The largest memory a worker holds before the run (its libraries loaded), or
        None when the workers cannot say."""
        from caspian_ais.batch.run import process_floor

        try:
            got = self.client.run(process_floor)
        except Exception:  # a worker that cannot answer: the floor is unknown
            return None
        values = [int(v) for v in got.values() if v]
        return max(values) if values else None

    def close(self) -> None:
        if self._own:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
