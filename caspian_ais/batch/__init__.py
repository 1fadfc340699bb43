"""Scale: streaming reads, out-of-core batch runs and the Dask backend.

* :func:`iter_ais` -- :func:`caspian_ais.read_ais` as a stream of canonical batches.
* ``analyze(..., engine="batch")`` -- out of core: partition the input by vessel into a
  Parquet dataset, analyse one partition at a time (:mod:`caspian_ais.batch.run`),
  resumable, peak memory set by ``memory_limit``.
* ``analyze(..., engine="dask")`` -- the same stages on a Dask cluster
  (:mod:`caspian_ais.batch.dask`).

See ``docs/performance.md`` and ``docs/distributed.md``.
"""

from __future__ import annotations

from caspian_ais.batch.run import BatchSettings, parse_memory, run_batch
from caspian_ais.batch.stream import iter_ais

__all__ = ["iter_ais", "run_batch", "BatchSettings", "parse_memory"]
