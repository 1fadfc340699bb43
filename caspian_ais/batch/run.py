"""Out-of-core analysis: stream, partition by vessel, analyse each partition in memory.

The batch engine behind ``analyze(..., engine="batch")`` and ``engine="dask"``. It runs
the *same* functions as the in-memory path (:func:`caspian_ais.clean`,
:func:`caspian_ais.detect_gaps`, :func:`caspian_ais.detect_port_calls`, ...) on one
partition at a time, where a partition holds every row of its vessels. Stages, each
resumable (a stage's unit of work writes its outputs under temporary names, renames them
into place, then writes a ``.done`` marker; a rerun skips every unit with a marker):

1. **partition** -- stream each input (groups of files of about one flush each) through
   the io modules' batch readers, hash the MMSI into ``n_partitions`` buckets and write
   the loaders' staging rows to ``WORKDIR/parts/gGGGGGG/bPPPP-SSSS-KK.parquet`` (arrow,
   buffered up to a third of a unit's working memory). Loader-rejected rows are
   buffered and written by bucket the same way, to ``ledger-bPPPP-SSSS-KK.parquet``
   (rows without a readable MMSI: bucket 0), with their input file and place in its
   ledger, so that a unit reads its own bucket's ledger files only and the merge
   restores the input order. The rows of every bucket are then known
   exactly: a bucket above the row budget (the hash spreads vessels unevenly) becomes
   several units of work, its vessels split by their row counts (:func:`plan_units`,
   ``parts/units.pkl``); the others are one unit each.
2. **clean** -- per unit ("partition" below): the canonical table (as
   :func:`caspian_ais.read_ais` builds it), :func:`caspian_ais.clean`, the cleaned
   tracks to ``clean/pPPPP.parquet``, the partition's share of the reception model's
   cell-month counts.
3. **context** -- what one vessel's gaps are judged against: the counts are merged;
   per partition the occupancy of cells by time bin and the starts of its gaps; merged
   into the :class:`~caspian_ais.reception.ReceptionModel`
   (:mod:`caspian_ais.reception`), identical to the one built from all tracks, and
   the table of every gap start (for ``co_onset``).
4. **detect** -- per partition: gaps (with the global model and the global data end),
   port calls, dark port calls, round trips, and the per-vessel part of the ship-to-ship
   and spoofing detectors (:func:`caspian_ais.pipeline.sts_per_vessel`: loitering,
   identity anomalies on the partition's tracks and ledger, the encounter samples
   written to ``detect/pPPPP.samples.parquet`` in time order, the rendezvous' visible
   side and vessel speeds).
5. **merge** -- concatenation in MMSI order; the ledger in input order. Then the
   detectors that compare vessels (:func:`caspian_ais.pipeline.sts_across_vessels`):
   encounters in one pass over time slices of every partition's samples (each slice
   read with a filter on the time bin and sized to the memory limit; the pairs of a
   run still open at a slice's end are carried into the next, so each encounter is
   found once and whole), dark rendezvous from the gaps and the partitions' visible
   sides and speeds, and the identity changes of IMO numbers seen on several MMSIs
   (those rows only, read back from the partitions).

Because a vessel's rows all lie in one partition, a gap that spans a file or day boundary
is found once, in its vessel's partition, exactly as in memory.

**Memory.** ``memory_limit`` bounds the process' peak RSS: the process' *floor* (measured
before the run: interpreter, libraries, whatever the caller holds), :data:`RESERVE_BYTES`
for the run's context and one unit's working memory, at most
:data:`PARTITION_BYTES_PER_ROW` per row of its partition. Each stage starts by returning
the memory freed by the previous one to the system, each unit Arrow's unused pages
(:func:`caspian_ais.batch.malloc.release_memory`). A limit too small for the floor, or
for the rows of the largest vessel, raises :class:`MemoryLimitError` with the minimum.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import pickle
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from caspian_ais.batch.malloc import current_rss, release_memory
from caspian_ais.exceptions import CaspianAISError

__all__ = ["BatchSettings", "parse_memory", "default_memory_limit", "plan_partitions",
           "run_batch", "LocalExecutor", "BYTES_PER_ROW",
           "PARTITION_BYTES_PER_ROW", "MemoryLimitError", "Units", "plan_units"]

#: Peak memory of the in-memory analysis per input row, bytes: ``engine="auto"`` takes
#: the batch engine when the input needs more than the memory limit at this rate.
BYTES_PER_ROW = 1200
#: Working memory of a unit of the clean or detect stage per row of its partition,
#: bytes, on top of :data:`RESERVE_BYTES` and the process' floor; partitions are sized
#: with it. Measured on the simulator's data with all columns (docs/performance.md): up
#: to ~730 a row (clean) and ~540 (detect); the rest is headroom for other data.
PARTITION_BYTES_PER_ROW = 1000
#: Memory a batch run holds besides one unit's working set and the process' floor,
#: bytes: the run-wide context (reception model, gap starts), libraries and tables
#: loaded on first use, the allocators' retained pages. Measured: at most ~150 MB.
RESERVE_BYTES = 150 << 20
#: The process' floor (interpreter and libraries) when it cannot be measured.
DEFAULT_FLOOR_BYTES = 200 << 20
#: Planned fill of a partition: the hash spreads vessels unevenly, and a partition above
#: its row budget is split into sub-partitions (each read with one more pass).
PLANNED_FILL = 0.8
#: Fewest bytes a unit of work must have (smaller limits are refused).
MIN_UNIT_BYTES = 16 << 20
#: Working memory of the encounter pass per sample of a time slice, bytes (pairs of a
#: dense anchorage included); slices are sized with it.
BYTES_PER_SAMPLE = 1000
#: Fewest samples in an encounter time slice.
_MIN_SLICE_SAMPLES = 10_000
_MANIFEST_VERSION = 4  # 4: loader ledgers by bucket (ledger-bPPPP-SSSS-KK)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


# ---------------------------------------------------------------------------------------
# settings


def parse_memory(value: str | int | float) -> int:
    """Bytes from ``4GB``, ``512MiB``, ``2.5G``, ``1e9`` or a number.

    Decimal (kB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB) units; a bare ``K``, ``M``,
    ``G`` or ``T`` is binary.

    Examples
    --------
    >>> parse_memory("4GB"), parse_memory("1GiB"), parse_memory(1000)
    (4000000000, 1073741824, 1000)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"memory limit must be positive, got {value!r}")
        return int(value)
    text = str(value).strip().replace(" ", "")
    units = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2,
             "mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3, "t": 1024**4,
             "tb": 1000**4, "tib": 1024**4}
    i = len(text)
    while i and text[i - 1].isalpha():
        i -= 1
    num, unit = text[:i], text[i:].lower()
    try:
        n = float(num)
    except ValueError:
        n = float("nan")
    if unit not in units or not math.isfinite(n) or n <= 0:
        raise ValueError(f"invalid memory size {value!r}: use e.g. 4GB, 512MiB or bytes")
    return int(n * units[unit])


def default_memory_limit() -> int:
    """Half of the machine's physical memory (the default ``memory_limit``)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 8 * 1024**3
    return int(total // 2)


class MemoryLimitError(CaspianAISError, ValueError):
    """The memory limit is below what a batch run needs (the message says the minimum)."""


def _mb(n: float) -> str:
    return f"{math.ceil(n / 1e6):,} MB"


@dataclass
class BatchSettings:
    """How a batch run uses memory and disk.

    Attributes
    ----------
    memory_limit : int
        Bytes the process may use at its peak (per worker process with Dask), the
        interpreter and libraries included. What is left after the process' ``floor``
        and :data:`RESERVE_BYTES` is one unit's working memory: it sets the rows of a
        partition (at :data:`PARTITION_BYTES_PER_ROW` a row), the streaming flush, the
        Parquet batch size and the encounter pass' time slices.
    workdir : pathlib.Path
        Intermediate datasets and the resume markers.
    n_partitions : int or None
        Force the number of partitions (default: from the input size and the limit).
    keep_workdir : bool
        Keep the intermediate files after a successful run.
    report_rows : int, optional
        Rows of cleaned tracks kept (thinned evenly) in ``Analysis.tracks`` for the
        report's figures. Default: a million, or fewer under a small limit.
    floor : int, optional
        Bytes the process holds before the run (interpreter, libraries, the caller's
        data). Default: measured by :func:`run_batch` (:data:`DEFAULT_FLOOR_BYTES`
        where it cannot be).
    """

    memory_limit: int
    workdir: Path
    n_partitions: int | None = None
    keep_workdir: bool = False
    report_rows: int | None = None
    floor: int | None = None

    @property
    def floor_bytes(self) -> int:
        return int(self.floor if self.floor is not None else DEFAULT_FLOOR_BYTES)

    @property
    def work_bytes(self) -> int:
        """Working memory of one unit: the limit less the floor and the reserve."""
        return int(self.memory_limit) - self.floor_bytes - RESERVE_BYTES

    @property
    def minimum_limit(self) -> int:
        """The smallest limit this process can run under."""
        return self.floor_bytes + RESERVE_BYTES + MIN_UNIT_BYTES

    def check(self) -> None:
        """Raise :class:`MemoryLimitError` when the limit leaves no room to work."""
        if self.work_bytes < MIN_UNIT_BYTES:
            raise MemoryLimitError(
                f"memory limit {_mb(self.memory_limit)} (per process: with Dask, each "
                f"worker's share) is below what a batch run needs: the process already "
                f"uses {_mb(self.floor_bytes)} (interpreter, libraries and data loaded "
                f"before the run), the run's context needs "
                f"{_mb(RESERVE_BYTES)} and a partition at least {_mb(MIN_UNIT_BYTES)}; "
                f"use a memory limit of at least {_mb(self.minimum_limit)}")

    @property
    def sample_rows(self) -> int:
        if self.report_rows is not None:
            return int(self.report_rows)
        return int(min(1_000_000, max(self.work_bytes // 4000, 10_000)))

    @property
    def flush_bytes(self) -> int:
        """Staging bytes buffered by the partition stage before they are written."""
        return max(self.work_bytes // 3, 4 << 20)

    @property
    def batch_rows(self) -> int:
        """Rows of a Parquet batch read by the partition stage."""
        return int(min(max(self.work_bytes // 4000, 16_384), 1 << 20))

    @property
    def partition_rows(self) -> int:
        """Most rows of a unit of the clean and detect stages."""
        return max(int(self.work_bytes / PARTITION_BYTES_PER_ROW), 1_000)


def plan_partitions(est_rows: int, settings: BatchSettings) -> int:
    """Number of vessel partitions for an input of about ``est_rows`` rows.

    Planned at :data:`PLANNED_FILL` of :attr:`BatchSettings.partition_rows`: hashing
    spreads the vessels unevenly, and a partition that turns out above the row budget is
    split into sub-partitions (:func:`plan_units`).
    """
    if settings.n_partitions:
        return int(settings.n_partitions)
    return max(1, math.ceil(est_rows / (settings.partition_rows * PLANNED_FILL)))


def bucket_of(mmsi: np.ndarray, n_partitions: int) -> np.ndarray:
    """Partition of each MMSI: a multiplicative hash, modulo ``n_partitions``."""
    m = np.asarray(mmsi, dtype=np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        h = (m * _GOLDEN) >> np.uint64(33)
    return (h % np.uint64(n_partitions)).astype(np.int64)


def _mmsi_of(table: pa.Table) -> np.ndarray:
    """The staging rows' MMSIs as int64 (as :class:`_Buffer` hashes them)."""
    return np.asarray(table.column("mmsi").to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass
class Units:
    """The units of work of the clean and detect stages.

    One unit per vessel partition (hash bucket), or several for a partition whose rows
    exceed the budget: its vessels are split into sub-partitions of whole vessels, by
    their exact row counts. Unit ``u`` writes ``clean/pUUUU.parquet`` and
    ``detect/pUUUU.*``.

    Attributes
    ----------
    n_parts : int
        Hash buckets of the partition stage.
    bucket : numpy.ndarray
        Bucket of each unit.
    rows : numpy.ndarray
        Staged rows of each unit.
    first : numpy.ndarray
        First unit of each bucket.
    split_mmsi, split_unit : numpy.ndarray
        The MMSIs of the split buckets (sorted) and their unit.
    """

    n_parts: int
    bucket: np.ndarray
    rows: np.ndarray
    first: np.ndarray
    split_mmsi: np.ndarray
    split_unit: np.ndarray

    @classmethod
    def whole(cls, n_parts: int) -> Units:
        """One unit per bucket."""
        first = np.arange(n_parts, dtype=np.int64)
        return cls(n_parts, first, np.zeros(n_parts, np.int64), first,
                   np.zeros(0, np.int64), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.bucket)

    def is_split(self, u: int) -> bool:
        """Whether unit ``u`` holds part of its bucket's vessels only."""
        b = int(self.bucket[u])
        return len(self) > 1 and ((u > 0 and int(self.bucket[u - 1]) == b) or
                                  (u + 1 < len(self) and int(self.bucket[u + 1]) == b))

    def unit_of(self, mmsi: np.ndarray) -> np.ndarray:
        """Unit of each MMSI (an MMSI of a split bucket with no staged row: its first
        unit)."""
        m = np.asarray(mmsi, dtype=np.int64)
        u = self.first[bucket_of(m, self.n_parts)]
        if len(self.split_mmsi) and len(m):
            i = np.searchsorted(self.split_mmsi, m).clip(0, len(self.split_mmsi) - 1)
            hit = self.split_mmsi[i] == m
            u[hit] = self.split_unit[i[hit]]
        return u


def _split_vessels(counts: np.ndarray, budget_rows: int) -> np.ndarray:
    """Sub-partition of each vessel (in the given order): consecutive vessels in as few
    groups as keep each within ``budget_rows`` (a vessel above it: alone)."""
    n = len(counts)
    if n == 0:
        return np.zeros(0, np.int64)
    total = float(counts.sum())
    mid = np.cumsum(counts) - counts / 2.0  # each vessel by the middle of its rows
    k = max(math.ceil(total / max(budget_rows, 1)), 1)
    while True:
        sub = np.minimum((mid * (k / total)).astype(np.int64), k - 1) if k < n else np.arange(n)
        load = np.bincount(sub, weights=counts)
        if k >= n or load.max() <= max(budget_rows, counts.max()):
            break
        k = min(n, k + max(1, k // 8))
    return np.unique(sub, return_inverse=True)[1].astype(np.int64)


def plan_units(part_rows: np.ndarray, budget_rows: int,
               vessel_rows: Callable[[int], tuple[np.ndarray, np.ndarray]]) -> Units:
    """The units of work: a bucket of at most ``budget_rows`` rows is one unit, a larger
    one is split by vessel (``vessel_rows(p)``: the bucket's MMSIs, sorted, and their
    rows)."""
    part_rows = np.asarray(part_rows, dtype=np.int64)
    n_parts = len(part_rows)
    bucket: list[int] = []
    rows: list[int] = []
    keys: list[np.ndarray] = []
    key_unit: list[np.ndarray] = []
    first = np.zeros(n_parts, dtype=np.int64)
    for p in range(n_parts):
        first[p] = len(bucket)
        if part_rows[p] <= budget_rows:
            bucket.append(p)
            rows.append(int(part_rows[p]))
            continue
        mmsi, counts = vessel_rows(p)
        sub = _split_vessels(counts, budget_rows)
        n_sub = int(sub.max()) + 1 if len(sub) else 1
        bucket.extend([p] * n_sub)
        rows.extend(np.bincount(sub, weights=counts, minlength=n_sub).astype(np.int64).tolist())
        keys.append(mmsi)
        key_unit.append(sub + first[p])
    split_mmsi = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    split_unit = np.concatenate(key_unit) if key_unit else np.zeros(0, np.int64)
    order = np.argsort(split_mmsi, kind="stable")
    return Units(n_parts, np.asarray(bucket, dtype=np.int64), np.asarray(rows, dtype=np.int64),
                 first, split_mmsi[order], split_unit[order])


def _bucket_vessel_rows(workdir: Path, p: int) -> tuple[np.ndarray, np.ndarray]:
    """The MMSIs of bucket ``p`` (sorted) and their staged rows, from its files."""
    release_memory(heap=False)
    uniq, counts = [], []
    for path in _partition_inputs(workdir, p):
        u, c = np.unique(_mmsi_of(pq.read_table(path, columns=["mmsi"])), return_counts=True)
        uniq.append(u)
        counts.append(c)
    if not uniq:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    u, inv = np.unique(np.concatenate(uniq), return_inverse=True)
    return u, np.bincount(inv, weights=np.concatenate(counts)).astype(np.int64)


# ---------------------------------------------------------------------------------------
# executors


class LocalExecutor:
    """Runs the units of a stage one after another in this process."""

    workers = 1

    def map(self, fn: Callable[..., Any], items: list[Any], *, desc: str, progress: bool,
            **kwargs: Any) -> Iterator[Any]:
        release_memory()  # a new stage: what the last one freed goes back to the system
        it: Iterable[Any] = items
        if progress and items:
            from tqdm.auto import tqdm

            it = tqdm(items, desc=desc, unit="part")
        for item in it:
            yield fn(item, **kwargs)

    def share(self, obj: Any) -> Any:
        return obj

    def floor(self) -> int | None:
        """What this process holds before the run (:func:`process_floor`)."""
        return process_floor()

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------
# atomic files


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _dump_pickle(path: Path, obj: Any) -> None:
    def w(p: Path) -> None:
        with open(p, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)

    _write_atomic(path, w)


def _load_pickle(path: Path) -> Any:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _dump_json(path: Path, obj: Any) -> None:
    def w(p: Path) -> None:
        p.write_text(json.dumps(obj, default=str), encoding="utf-8")

    _write_atomic(path, w)


#: Columns of the cleaned tracks and ledgers written without a Parquet dictionary: their
#: values are nearly unique per row, so the dictionary overflows its page and falls back
#: to plain encoding, wasted work. The others (text, MMSI, IMO, the 0.1-step speeds and
#: courses) stay dictionary-encoded: 2-3x smaller. Measured on the cleaned partitions of
#: a 10 M-row run (sim_10000000): 13 % less write time, 3 % smaller files, the
#: same values read back; text columns alone as dictionaries: 20 % faster, 12 % larger.
_PLAIN_COLUMNS = frozenset({"timestamp", "lat", "lon", "source_row"})


def _write_frame(path: Path, df: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    dictionary = [c for c in table.column_names if c not in _PLAIN_COLUMNS]
    _write_atomic(path, lambda p: pq.write_table(table, p, compression="lz4",
                                                 use_dictionary=dictionary))


# ---------------------------------------------------------------------------------------
# stage 1: partition


@dataclass
class _Group:
    gid: int
    files: list[tuple[int, Any]]  # (file index, SourceFile)


def _group_files(files: list[Any], estimates: list[int], target_rows: int) -> list[_Group]:
    groups: list[_Group] = []
    cur: list[tuple[int, Any]] = []
    rows = 0
    for i, (src, est) in enumerate(zip(files, estimates, strict=True)):
        cur.append((i, src))
        rows += est
        if rows >= target_rows:
            groups.append(_Group(len(groups), cur))
            cur, rows = [], 0
    if cur:
        groups.append(_Group(len(groups), cur))
    return groups


#: Columns the partition stage adds to the loaders' ledger rows: the input file's index
#: and the row's position in that file's ledger (the merge restores the input order).
_LEDGER_KEYS = ("_file", "_pos")


def _ledger_mmsi(mmsi: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Which ledger rows have a readable MMSI, and those MMSIs as int64."""
    mm = pd.to_numeric(mmsi, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    known = np.isfinite(mm)
    return known, mm[known].astype(np.int64)


def _ledger_buckets(mmsi: pd.Series, n_parts: int) -> np.ndarray:
    """Bucket of each loader-ledger row: its MMSI's; rows without a readable MMSI go to
    bucket 0, whose first unit (unit 0) keeps them (:func:`_partition_ledger`)."""
    known, mm = _ledger_mmsi(mmsi)
    b = np.zeros(len(known), dtype=np.int64)
    b[known] = bucket_of(mm, n_parts)
    return b


def _split_by_bucket(table: pa.Table, b: np.ndarray, n_parts: int
                     ) -> Iterator[tuple[int, pa.Table]]:
    """The rows of ``table`` by bucket ``b`` (each bucket's rows in their order)."""
    if n_parts < (1 << 15):
        b = b.astype(np.int16)  # a stable sort of 16-bit keys is a radix sort
    order = np.argsort(b, kind="stable")
    counts = np.bincount(b, minlength=n_parts)
    table = table.take(pa.array(order))
    start = 0
    for p in np.flatnonzero(counts):
        c = int(counts[p])
        yield int(p), table.slice(start, c)
        start += c


class _Buffer:
    """Staging rows by partition, flushed to Parquet when a byte budget is reached.

    The loaders' ledger rows (:meth:`add_ledger`) are buffered by bucket too and written
    with the same flushes, to ``ledger-bPPPP-SSSS-KK.parquet``: a unit of the detect
    stage reads its bucket's ledger files only.
    """

    def __init__(self, out: Path, n_parts: int, flush_bytes: int) -> None:
        self.out = out
        self.n_parts = n_parts
        self.flush_bytes = flush_bytes
        self.pieces: list[list[pa.Table]] = [[] for _ in range(n_parts)]
        self.ledger: list[list[pa.Table]] = [[] for _ in range(n_parts)]
        self.nbytes = 0
        self.seq = 0
        self.rows = np.zeros(n_parts, dtype=np.int64)
        self.flushed_files: dict[int, set[int]] = {}  # seq -> input files in it
        self.in_buffer: set[int] = set()

    def add(self, table: pa.Table, file_index: int) -> None:
        n = table.num_rows
        if n == 0:
            return
        table = table.append_column("_file", pa.array(np.full(n, file_index, np.int32)))
        b = bucket_of(table.column("mmsi").to_numpy(zero_copy_only=False), self.n_parts)
        for p, piece in _split_by_bucket(table, b, self.n_parts):
            self.pieces[p].append(piece)
            self.rows[p] += piece.num_rows
        self._added(table.nbytes, file_index)

    def add_ledger(self, ledger: pd.DataFrame, file_index: int) -> None:
        """Buffer one input file's loader-rejected rows by the bucket of their MMSI
        (rows without a readable one: bucket 0), with ``_file`` and ``_pos``."""
        n = len(ledger)
        if n == 0:
            return
        b = _ledger_buckets(ledger["mmsi"], self.n_parts)
        table = pa.Table.from_pandas(ledger, preserve_index=False)
        table = table.append_column("_file", pa.array(np.full(n, file_index, np.int32)))
        table = table.append_column("_pos", pa.array(np.arange(n, dtype=np.int64)))
        for p, piece in _split_by_bucket(table, b, self.n_parts):
            self.ledger[p].append(piece)
        self._added(table.nbytes, file_index)

    def _added(self, nbytes: int, file_index: int) -> None:
        self.nbytes += nbytes
        self.in_buffer.add(file_index)
        if self.nbytes >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        if not self.nbytes:
            return
        for prefix, buffered in (("b", self.pieces), ("ledger-b", self.ledger)):
            for p, pieces in enumerate(buffered):
                if not pieces:
                    continue
                # one file per run of equal schemas (files of different layouts may differ)
                runs: list[list[pa.Table]] = []
                for t in pieces:
                    if runs and runs[-1][0].schema.equals(t.schema):
                        runs[-1].append(t)
                    else:
                        runs.append([t])
                for k, run in enumerate(runs):
                    name = f"{prefix}{p:04d}-{self.seq:04d}-{k:02d}.parquet"
                    pq.write_table(pa.concat_tables(run), self.out / name, compression="lz4")
                buffered[p] = []
        self.flushed_files[self.seq] = set(self.in_buffer)
        self.in_buffer = set()
        self.seq += 1
        self.nbytes = 0

    def drop_file(self, file_index: int) -> None:
        """Forget every row of one input file (its reader restarts), its ledger rows
        too (a reader yields its ledger last, so there are none so far)."""
        for counted, buffered in ((True, self.pieces), (False, self.ledger)):
            for p, pieces in enumerate(buffered):
                kept = []
                for t in pieces:
                    f = t.column("_file").to_numpy()
                    mask = f != file_index
                    if counted:
                        self.rows[p] -= int((~mask).sum())
                    if mask.all():
                        kept.append(t)
                    elif mask.any():
                        kept.append(t.filter(pa.array(mask)))
                buffered[p] = kept
        self.in_buffer.discard(file_index)
        for seq, files in self.flushed_files.items():
            if file_index not in files:
                continue
            for path in sorted([*self.out.glob(f"b*-{seq:04d}-*.parquet"),
                                *self.out.glob(f"ledger-b*-{seq:04d}-*.parquet")]):
                t = pq.read_table(path)
                f = t.column("_file").to_numpy()
                mask = f != file_index
                if mask.all():
                    continue
                if path.name.startswith("b"):
                    self.rows[int(path.name[1:5])] -= int((~mask).sum())
                if mask.any():
                    pq.write_table(t.filter(pa.array(mask)), path, compression="lz4")
                else:
                    path.unlink()
            files.discard(file_index)


def _partition_group(group: _Group, *, workdir: str, n_parts: int, flush_bytes: int,
                     batch_rows: int, format: str | None, columns: Mapping[str, str] | None,
                     errors: str) -> dict[str, Any]:
    """Stage 1 unit: stream a group of input files into the partition buckets."""
    from caspian_ais.batch.stream import iter_staging

    root = Path(workdir) / "parts"
    final = root / f"g{group.gid:06d}"
    done = final / "_done.json"
    if done.exists():
        return dict(json.loads(done.read_text(encoding="utf-8")), skipped=True)
    tmp = root / f"g{group.gid:06d}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.mkdir(parents=True)
    release_memory(heap=False)
    buf = _Buffer(tmp, n_parts, flush_bytes)
    staged = 0
    rejected = 0
    per_file: dict[int, int] = {}
    for idx, src in group.files:
        n_file = 0
        for kind, payload in iter_staging(src, format, columns, errors=errors,
                                          batch_rows=batch_rows):
            if kind == "batch":
                buf.add(payload, idx)
                n_file += payload.num_rows
            elif kind == "restart":
                buf.drop_file(idx)
                n_file = 0
            else:  # the file's loader ledger (last), by bucket
                if payload is not None and len(payload):
                    buf.add_ledger(payload, idx)
                    rejected += len(payload)
        staged += n_file
        per_file[idx] = n_file
    buf.flush()
    info = {"gid": group.gid, "files": [i for i, _ in group.files], "staged": staged,
            "loader_rejected": rejected, "rows": buf.rows.tolist(),
            "rows_per_file": {str(k): v for k, v in per_file.items()}}
    (tmp / "_done.json").write_text(json.dumps(info), encoding="utf-8")
    os.replace(tmp, final)
    return info


# ---------------------------------------------------------------------------------------
# stage 2: clean


def _partition_inputs(workdir: Path, p: int) -> list[str]:
    return sorted(glob.glob(str(workdir / "parts" / "g*[0-9]" / f"b{p:04d}-*.parquet")))


def _unit_tables(wd: Path, p: int, units: Units | None) -> Iterator[pa.Table]:
    """The staging tables of unit ``p``: its bucket's files, filtered to the unit's
    vessels when the bucket is split."""
    if units is None:
        for path in _partition_inputs(wd, p):
            yield pq.read_table(path)
        return
    split = units.is_split(p)
    for path in _partition_inputs(wd, int(units.bucket[p])):
        t = pq.read_table(path)
        if split:
            t = t.filter(pa.array(units.unit_of(_mmsi_of(t)) == p))
        yield t


def _clean_partition(p: int, *, workdir: str, labels: list[str], max_speed_kn: float,
                     ropts: Any, units: Units | None = None) -> dict[str, Any]:
    """Stage 2 unit: canonical table, clean, reception counts of one partition (unit
    ``p`` of ``units``; without them, bucket ``p``)."""
    from caspian_ais.batch.stream import staging_to_canonical
    from caspian_ais.cleaning import clean
    from caspian_ais.reception import interval_partial

    wd = Path(workdir)
    out = wd / "clean"
    done = out / f"p{p:04d}.done.json"
    if done.exists():
        return dict(json.loads(done.read_text(encoding="utf-8")), skipped=True)
    release_memory(heap=False)
    tables, codes = [], []
    for t in _unit_tables(wd, p, units):
        codes.append(t.column("_file").to_numpy())
        tables.append(t.drop_columns(["_file"]))
    code = np.concatenate(codes) if codes else np.zeros(0, np.int32)
    del codes
    raw = staging_to_canonical(tables, code, labels)
    n_in = len(raw)
    cleaned = clean(raw, max_speed_kn=max_speed_kn)
    del raw
    tracks, ledger = cleaned
    _write_frame(out / f"p{p:04d}.parquet", tracks)
    _write_frame(out / f"p{p:04d}.rejected.parquet", ledger)
    _dump_pickle(out / f"p{p:04d}.intervals.pkl", interval_partial(tracks, ropts))
    info = {
        "p": p, "rows_in": n_in, "rows_kept": len(tracks), "rejected": len(ledger),
        "vessels": int(tracks["mmsi"].nunique()) if len(tracks) else 0,
        "t_max": int(tracks["timestamp"].max().value) if len(tracks) else None,
    }
    _dump_json(done, info)
    return info


# ---------------------------------------------------------------------------------------
# stage 3: reception


_MODEL_COLUMNS = ["mmsi", "timestamp", "lat", "lon", "sog_kn"]


def _model_columns(workdir: str, p: int) -> pd.DataFrame:
    return pd.read_parquet(Path(workdir) / "clean" / f"p{p:04d}.parquet",
                           columns=_MODEL_COLUMNS)


def _interval_partition(p: int, *, workdir: str, ropts: Any, plan: dict[str, Any]
                        ) -> np.ndarray:
    """Stage 3a unit: the partition's intervals in the run-wide median's sample."""
    from caspian_ais.reception import interval_sample

    release_memory(heap=False)
    return interval_sample(_model_columns(workdir, p), ropts, plan)


def _quality_partition(p: int, *, workdir: str, ropts: Any) -> dict[str, Any]:
    """Stage 3b unit: the partition's share of the reception model's cell-month counts."""
    from caspian_ais.reception import quality_partial

    path = Path(workdir) / "context" / f"p{p:04d}.quality.pkl"
    if path.exists():
        return {"p": p, "skipped": True}
    release_memory(heap=False)
    _dump_pickle(path, quality_partial(_model_columns(workdir, p), ropts))
    return {"p": p}


def _context_partition(p: int, *, workdir: str, q: Any, min_gap: Any,
                       core_options: dict[str, Any]) -> dict[str, Any]:
    """Stage 3 unit: what the partition contributes to cross-vessel context.

    Its share of the reception model's occupancy grids (when ``q`` is given) and the
    starts of its gaps (core gap table), against which every partition's gaps count
    their ``co_onset`` (other vessels going quiet nearby at the same time).
    """
    from caspian_ais.gaps import detect_gaps
    from caspian_ais.reception import occupancy_partial

    path = Path(workdir) / "context" / f"p{p:04d}.pkl"
    if path.exists():
        return {"p": p, "skipped": True}
    release_memory(heap=False)
    tracks = pd.read_parquet(Path(workdir) / "clean" / f"p{p:04d}.parquet",
                             columns=["mmsi", "timestamp", "lat", "lon"])
    core = detect_gaps(tracks, min_gap, enrich=False, **core_options)
    out = {"occupancy": occupancy_partial(tracks, q) if q is not None else None,
           "starts": core[["mmsi", "start_time", "start_lat", "start_lon"]]}
    _dump_pickle(path, out)
    return {"p": p, "gaps": len(core)}


def _onset_supported() -> bool:
    import inspect

    from caspian_ais.gaps import detect_gaps

    return "onset_reference" in inspect.signature(detect_gaps).parameters


# ---------------------------------------------------------------------------------------
# stage 4: detect


@dataclass
class _DetectParams:
    min_gap: Any
    ports: pd.DataFrame
    gap_options: dict[str, Any] = field(default_factory=dict)
    port_call_options: dict[str, Any] = field(default_factory=dict)
    dark_call_options: dict[str, Any] = field(default_factory=dict)
    round_trip_options: dict[str, Any] = field(default_factory=dict)
    sts_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    sample_every: int = 1


TABLES = ("gaps", "port_calls", "dark_port_calls", "round_trips")


def detect_partition(tracks: pd.DataFrame, params: _DetectParams, model: Any,
                     ledger: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The detectors of :func:`caspian_ais.analyze` (:func:`caspian_ais.pipeline.
    run_detectors`, the same call) on one partition's cleaned tracks and ledger."""
    from caspian_ais.pipeline import run_detectors

    gopts = dict(params.gap_options)
    if model is not None:
        gopts["reception_model"] = model
    gaps, tables = run_detectors(
        tracks, min_gap=params.min_gap, ports=params.ports, gap_options=gopts,
        port_call_options=params.port_call_options,
        dark_call_options=params.dark_call_options,
        round_trip_options=params.round_trip_options,
        sts_options=params.sts_options, ledger=ledger)
    return {"gaps": gaps, **tables}


def _loader_ledger_files(workdir: Path, bucket: int | None = None) -> list[str]:
    """The loader-ledger files of the partition stage: all, or those of one bucket."""
    name = "ledger-b*.parquet" if bucket is None else f"ledger-b{bucket:04d}-*.parquet"
    return sorted(glob.glob(str(workdir / "parts" / "g*[0-9]" / name)))


def _read_loader_ledger(files: list[str]) -> pd.DataFrame | None:
    """Loader-ledger files (of any buckets) as one frame in input order: by input file,
    then the row's place in that file's ledger; ``_file`` and ``_pos`` kept. None
    without files."""
    frames = [pd.read_parquet(f) for f in files]
    if not frames:
        return None
    lg = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    order = np.lexsort((lg["_pos"].to_numpy(), lg["_file"].to_numpy()))
    return lg.iloc[order].reset_index(drop=True)


def _loader_ledger(workdir: Path) -> pd.DataFrame | None:
    """Every loader-rejected row of the run, in input order (as :func:`caspian_ais.
    read_ais` concatenates the files' ledgers)."""
    lg = _read_loader_ledger(_loader_ledger_files(workdir))
    return None if lg is None else lg.drop(columns=list(_LEDGER_KEYS))


def _partition_ledger(workdir: Path, p: int, units: Units | int) -> pd.DataFrame:
    """The rejected rows of unit ``p``: the loaders' rows of its MMSIs, then clean's.
    (``units`` as an int: that many buckets, one unit each.)

    Only the ledger files of the unit's bucket are read (the partition stage wrote the
    loaders' rows by bucket). A row without a readable MMSI lies in bucket 0 and belongs
    to unit 0 (the first unit of bucket 0), so that it is in exactly one unit.
    """
    from caspian_ais.ledger import concat_ledgers

    if not isinstance(units, Units):
        units = Units.whole(int(units))
    frames: list[pd.DataFrame | None] = []
    lg = _read_loader_ledger(_loader_ledger_files(workdir, int(units.bucket[p])))
    if lg is not None:
        known, mm = _ledger_mmsi(lg["mmsi"])
        u = np.zeros(len(lg), dtype=np.int64)  # rows without a readable MMSI: unit 0
        u[known] = units.unit_of(mm)
        lg = lg[u == p].drop(columns=list(_LEDGER_KEYS))
        frames.append(lg)
    frames.append(pd.read_parquet(workdir / "clean" / f"p{p:04d}.rejected.parquet"))
    return concat_ledgers(frames)


def _sample_units(bin_min: float) -> int:
    """Encounter bins per unit of the slicing histogram (an hour)."""
    return max(1, int(round(60.0 / bin_min)))


def _write_samples(path: Path, samples: pd.DataFrame, unit: int) -> dict[str, Any]:
    """Write a partition's encounter samples in time order; return their histogram."""
    s = samples.iloc[np.argsort(samples["bin"].to_numpy(), kind="stable")]
    table = pa.Table.from_pandas(s, preserve_index=False)
    _write_atomic(path, lambda q: pq.write_table(table, q, compression="lz4",
                                                 row_group_size=1 << 16))
    u, c = np.unique(s["bin"].to_numpy() // unit, return_counts=True)
    return {"units": u, "counts": c}


def _detect_partition(p: int, *, workdir: str, params: _DetectParams, model: Any,
                      units: Units | int = 1) -> dict[str, Any]:
    """Stage 4 unit: the detectors on one partition (unit ``p`` of ``units``)."""
    out = Path(workdir) / "detect"
    done = out / f"p{p:04d}.done.json"
    if done.exists():
        return dict(json.loads(done.read_text(encoding="utf-8")), skipped=True)
    release_memory(heap=False)
    tracks = pd.read_parquet(Path(workdir) / "clean" / f"p{p:04d}.parquet")
    res = detect_partition(tracks, params, model,
                           ledger=_partition_ledger(Path(workdir), p, units))
    samples = res.pop("_sts_samples", None)
    if samples is not None:
        unit = _sample_units(float(params.sts_options.get("encounters", {}).get(
            "bin_min", 10.0)))
        res["_sts_hist"] = _write_samples(out / f"p{p:04d}.samples.parquet", samples, unit)
    k = max(int(params.sample_every), 1)
    res["sample"] = tracks.iloc[::k].reset_index(drop=True) if k > 1 else tracks
    del tracks
    _dump_pickle(out / f"p{p:04d}.pkl", res)
    info = {"p": p, **{name: len(t) for name, t in res.items()
                       if name != "sample" and not name.startswith("_")}}
    _dump_json(done, info)
    return info


# ---------------------------------------------------------------------------------------
# stage 5: the detectors that compare vessels


def _sample_slices(workdir: Path, parts: list[int], hists: list[dict[str, np.ndarray]],
                   unit: int, budget_rows: int) -> Iterator[tuple[pd.DataFrame, int | None]]:
    """Every partition's encounter samples, by time slice of at most ``budget_rows``
    samples (whole histogram units, an hour), in time order: ``(samples, end_bin)``."""
    if not hists:
        return
    u = np.concatenate([h["units"] for h in hists])
    c = np.concatenate([h["counts"] for h in hists])
    if not len(u):
        return
    units, inv = np.unique(u, return_inverse=True)
    counts = np.bincount(inv, weights=c).astype(np.int64)
    # greedy: consecutive units while the slice stays within the budget
    starts = [0]
    rows = 0
    for i, n in enumerate(counts.tolist()):
        if rows and rows + n > budget_rows:
            starts.append(i)
            rows = 0
        rows += n
    files = [workdir / "detect" / f"p{p:04d}.samples.parquet" for p in parts]
    for k, i0 in enumerate(starts):
        lo = int(units[i0]) * unit
        last = k == len(starts) - 1
        hi = None if last else int(units[starts[k + 1]]) * unit
        filters = [("bin", ">=", lo)] + ([] if hi is None else [("bin", "<", hi)])
        frames = [pq.read_table(f, filters=filters).to_pandas() for f in files if f.exists()]
        frames = [f for f in frames if len(f)]
        if frames:
            yield pd.concat(frames, ignore_index=True), hi


def _imo_rows(workdir: Path, parts: list[int], imos: np.ndarray) -> pd.DataFrame:
    """The cleaned rows carrying one of ``imos``, from every partition, in MMSI order."""
    from caspian_ais.pipeline import imo_frame

    wanted = [int(x) for x in imos]
    frames = []
    for p in parts:
        path = workdir / "clean" / f"p{p:04d}.parquet"
        if "imo" not in pq.read_schema(path).names:
            continue
        t = pq.read_table(path, columns=["mmsi", "timestamp", "imo"],
                          filters=[("imo", "in", wanted)])
        if t.num_rows:
            frames.append(t.to_pandas())
    if not frames:
        return imo_frame(np.zeros(0, np.int64), pd.DatetimeIndex([], tz="UTC"), [])
    df = pd.concat(frames, ignore_index=True)
    df = df.iloc[np.argsort(df["mmsi"].to_numpy(np.int64), kind="stable")]
    return imo_frame(df["mmsi"].to_numpy(np.int64), df["timestamp"], df["imo"])


# ---------------------------------------------------------------------------------------
# driver


def _fingerprint(files: list[Any], **options: Any) -> str:
    h = hashlib.sha256()
    for f in files:
        try:
            st = os.stat(f.path)
            h.update(f"{f.label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f.label}\n".encode())
    h.update(repr(sorted((k, repr(v)) for k, v in options.items())).encode())
    return h.hexdigest()


def _prepare_workdir(wd: Path, fingerprint: str, say: Callable[[str], None]) -> dict[str, Any]:
    wd.mkdir(parents=True, exist_ok=True)
    mpath = wd / "manifest.json"
    if mpath.exists():
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except ValueError:
            manifest = {}
        if manifest.get("fingerprint") == fingerprint:
            say(f"resuming the run in {wd}")
            return manifest
        say(f"{wd} holds another run (other inputs or settings): starting afresh")
    for sub in ("parts", "clean", "context", "detect"):
        shutil.rmtree(wd / sub, ignore_errors=True)
    manifest = {"version": _MANIFEST_VERSION, "fingerprint": fingerprint, "stages": {}}
    _dump_json(mpath, manifest)
    return manifest


def _mark(wd: Path, manifest: dict[str, Any], stage: str, **info: Any) -> None:
    manifest.setdefault("stages", {})[stage] = {"done": True, **info}
    _dump_json(wd / "manifest.json", manifest)


def _concat_in_order(frames: list[Any]) -> Any:
    """The non-empty frames (or series) concatenated in order, index kept; the first one
    when all are empty; None when all are None."""
    given = [f for f in frames if f is not None]
    full = [f for f in given if len(f)]
    if not full:
        return given[0] if given else None
    return full[0] if len(full) == 1 else pd.concat(full)


class _Pieces:
    """The per-unit frames of one result, concatenated in order every ``every`` units.

    Many small frames cost far more memory than their rows (a few hundred kB of
    objects per unit); concatenation in order keeps what the final merge computes: it
    ignores empty frames and the index, and sorts stably.
    """

    def __init__(self, every: int = 16,
                 concat: Callable[[list[Any]], Any] = _concat_in_order) -> None:
        self.every = every
        self.concat = concat
        self.chunks: list[Any] = []
        self.raw: list[Any] = []
        self.n = 0

    def add(self, frame: Any) -> None:
        self.raw.append(frame)
        self.n += 1
        if len(self.raw) >= self.every:
            self.chunks.append(self.concat(self.raw))
            self.raw = []

    def frames(self) -> list[Any]:
        """The pieces, more than one when more than one unit was added."""
        out = self.chunks + self.raw
        if self.n > 1 and len(out) == 1 and out[0] is not None:
            out.append(out[0].iloc[:0])  # several parts: the merge sorts as for several
        return out


def _sort_by_mmsi(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None]
    nonempty = [f for f in frames if len(f)]
    if not nonempty:
        return frames[0] if frames else pd.DataFrame()
    df = nonempty[0] if len(nonempty) == 1 else pd.concat(nonempty, ignore_index=True)
    order = np.argsort(df["mmsi"].to_numpy(dtype=np.int64), kind="stable")
    return df.iloc[order].reset_index(drop=True)


def _stage_modules() -> None:
    """Import what the stages run, so that a measured floor includes the libraries."""
    import caspian_ais.batch.stream
    import caspian_ais.encounters
    import caspian_ais.identity
    import caspian_ais.pipeline
    import caspian_ais.reception
    import caspian_ais.rendezvous  # noqa: F401


def process_floor() -> int | None:
    """Bytes this process holds with the stages' libraries loaded, once freed memory is
    returned (None where it cannot be measured)."""
    _stage_modules()
    import gc

    gc.collect()
    release_memory()
    return current_rss()


def measure_floor(executor: Any) -> int | None:
    """The floor of the processes that run the units: the executor's
    ``floor()`` (e.g. its workers'), else this process'."""
    measure = getattr(executor, "floor", None)
    return measure() if measure is not None else process_floor()


def _plan_or_load_units(wd: Path, part_rows: np.ndarray, settings: BatchSettings) -> Units:
    """The units of work after the partition stage (kept in ``parts/units.pkl`` for a
    resumed run); refuses a limit below what the largest vessel needs."""
    path = wd / "parts" / "units.pkl"
    if path.exists():
        return _load_pickle(path)
    units = plan_units(part_rows, settings.partition_rows,
                       lambda p: _bucket_vessel_rows(wd, p))
    largest = int(units.rows.max()) if len(units) else 0
    if largest > settings.partition_rows:  # one vessel alone above the budget
        need = settings.floor_bytes + RESERVE_BYTES + max(
            largest * PARTITION_BYTES_PER_ROW, MIN_UNIT_BYTES)
        raise MemoryLimitError(
            f"memory limit {_mb(settings.memory_limit)} is too small for this input: one "
            f"vessel has {largest:,} rows, which are cleaned and analysed together and "
            f"need about {_mb(largest * PARTITION_BYTES_PER_ROW)} besides the process' "
            f"{_mb(settings.floor_bytes)} and the run's context ({_mb(RESERVE_BYTES)}); "
            f"use a memory limit of at least {_mb(need)}")
    _dump_pickle(path, units)
    return units


def run_batch(
    source: Any,
    *,
    format: str | None,
    columns: Mapping[str, str] | None,
    min_gap: Any,
    max_speed_kn: float,
    ports: pd.DataFrame,
    gap_options: Mapping[str, Any],
    port_call_options: Mapping[str, Any],
    dark_call_options: Mapping[str, Any],
    round_trip_options: Mapping[str, Any],
    settings: BatchSettings,
    executor: Any = None,
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
    errors: str = "ledger",
    sts_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the partitioned analysis; returns the pieces of an :class:`Analysis`.

    See the module docstring for the stages. ``executor`` runs the units of each stage
    (default :class:`LocalExecutor`; :class:`caspian_ais.batch.dask.DaskExecutor` runs
    them on a Dask cluster). ``sts_options`` are :func:`caspian_ais.analyze`'s.
    """
    from caspian_ais.batch.stream import estimate_rows
    from caspian_ais.io.read import _check_arguments
    from caspian_ais.io.sources import resolve_sources
    from caspian_ais.ledger import concat_ledgers
    from caspian_ais.pipeline import sts_options_by_table
    from caspian_ais.reception import (
        interval_plan,
        merge_interval,
        merge_quality,
        model_from_partials,
        reception_options,
    )

    sts = sts_options_by_table(sts_options)
    say = on_stage or (lambda _m: None)
    ex = executor or LocalExecutor()
    t0 = time.perf_counter()
    _check_arguments(format, columns, errors)
    files = resolve_sources(source)
    labels = [f.label for f in files]
    estimates = [estimate_rows(f) for f in files]
    est = int(sum(estimates))
    if settings.floor is None:  # what the process (each worker) holds before the run
        settings = replace(settings, floor=measure_floor(ex))
    settings.check()
    gap_options = dict(gap_options)
    reception_given = gap_options.get("reception_model", None)
    ropts = reception_options(gap_options)
    fp = _fingerprint(files, format=format, columns=columns,
                      memory_limit=settings.memory_limit, n_partitions=settings.n_partitions,
                      max_speed_kn=max_speed_kn, min_gap=min_gap, ports=ports.to_json(),
                      gap=gap_options, pc=port_call_options, dc=dark_call_options,
                      rt=round_trip_options, sts=sts, version=_MANIFEST_VERSION)
    wd = Path(settings.workdir)
    manifest = _prepare_workdir(wd, fp, say)
    common = {"workdir": str(wd)}
    # the plan is kept in the manifest: a resumed run (whose floor may differ a little)
    # partitions as the interrupted one did
    if "n_parts" not in manifest:
        manifest["n_parts"] = plan_partitions(est, settings)
        _dump_json(wd / "manifest.json", manifest)
    n_parts = int(manifest["n_parts"])

    # 1. partition ----------------------------------------------------------------------
    say(f"partitioning {len(files):,} file(s), about {est:,} rows, into {n_parts} "
        f"vessel partition(s) of at most {settings.partition_rows:,} rows under {wd} "
        f"(memory limit {_mb(settings.memory_limit)}, of which the process uses "
        f"{_mb(settings.floor_bytes)} before the run)")
    groups = _group_files(files, estimates, max(settings.flush_bytes // 200, 1))
    (wd / "parts").mkdir(exist_ok=True)
    infos = list(ex.map(_partition_group, groups, desc="partition", progress=progress,
                        n_parts=n_parts, flush_bytes=settings.flush_bytes,
                        batch_rows=settings.batch_rows, format=format, columns=columns,
                        errors=errors, **common))
    staged = sum(int(i["staged"]) for i in infos)
    loader_rejected = sum(int(i["loader_rejected"]) for i in infos)
    part_rows = (np.sum([i["rows"] for i in infos], axis=0) if infos
                 else np.zeros(n_parts, np.int64))
    units = _plan_or_load_units(wd, part_rows, settings)
    _mark(wd, manifest, "partition", rows=staged, loader_rejected=loader_rejected,
          largest_partition=int(part_rows.max()) if len(part_rows) else 0,
          units=len(units), largest_unit=int(units.rows.max()) if len(units) else 0)

    # 2. clean --------------------------------------------------------------------------
    n_split = len(units) - n_parts
    say(f"cleaning {staged:,} rows in {len(units)} partition(s) "
        f"(largest {int(units.rows.max()) if len(units) else 0:,} rows"
        + (f"; {n_split} more from splitting buckets above the budget by vessel)"
           if n_split else ")"))
    (wd / "clean").mkdir(exist_ok=True)
    parts = list(range(len(units)))
    shared_units = ex.share(units)
    cinfo = list(ex.map(_clean_partition, parts, desc="clean", progress=progress,
                        labels=labels, max_speed_kn=max_speed_kn, ropts=ropts,
                        units=shared_units, **common))
    kept = sum(int(c["rows_kept"]) for c in cinfo)
    vessels = sum(int(c["vessels"]) for c in cinfo)
    t_max = max((c["t_max"] for c in cinfo if c["t_max"] is not None), default=None)
    _mark(wd, manifest, "clean", rows_kept=kept, vessels=vessels)

    # 3. context: the reception model and the starts of every gap ----------------------
    build = reception_given is None or reception_given is True
    if gap_options.get("include_open") and gap_options.get("data_end") is None and t_max:
        gap_options["data_end"] = pd.Timestamp(t_max, tz="UTC")
    core_options = {k: gap_options[k] for k in ("include_open", "data_end")
                    if k in gap_options}
    say("building the reception model and the gap context from all partitions"
        if build else "collecting the gap context from all partitions")
    (wd / "context").mkdir(exist_ok=True)
    mpath = wd / "context" / "model.pkl"
    model: Any = None
    q = None
    if build and not mpath.exists():
        # the data's reporting interval (the model scales its thresholds with it): the
        # median of a regular sample of all vessels' intervals, exactly as in memory
        if "report_interval_s" in ropts.kw and ropts.kw["report_interval_s"] is None:
            ipath = wd / "context" / "interval.json"
            if ipath.exists():
                interval = json.loads(ipath.read_text(encoding="utf-8"))["report_interval_s"]
            else:
                plan = interval_plan([_load_pickle(wd / "clean" / f"p{p:04d}.intervals.pkl")
                                      for p in parts])
                samples = list(ex.map(_interval_partition, parts, desc="interval",
                                      progress=progress, ropts=ropts, plan=ex.share(plan),
                                      **common))
                interval = merge_interval(samples, plan)
                del samples, plan
                _dump_json(ipath, {"report_interval_s": interval})
            ropts = ropts.with_interval(float(interval))
        list(ex.map(_quality_partition, parts, desc="quality", progress=progress,
                    ropts=ropts, **common))
        q = merge_quality([_load_pickle(wd / "context" / f"p{p:04d}.quality.pkl")
                           for p in parts], ropts)
    list(ex.map(_context_partition, parts, desc="context", progress=progress,
                q=ex.share(q), min_gap=min_gap, core_options=core_options, **common))
    ctx = [_load_pickle(wd / "context" / f"p{p:04d}.pkl") for p in parts]
    if build:
        if mpath.exists():
            model = _load_pickle(mpath)
        else:
            assert q is not None
            model = model_from_partials(q, [c["occupancy"] for c in ctx])
            _dump_pickle(mpath, model)
        q = None
        gap_options.pop("reception_model", None)
        for k in list(gap_options):  # the build options went into the model
            if k in ropts.kw:
                gap_options.pop(k)
    starts = [c["starts"] for c in ctx]
    del ctx
    if _onset_supported():
        gap_options["onset_reference"] = pd.concat(starts, ignore_index=True)
    del starts
    _mark(wd, manifest, "context")

    # 4. detect -------------------------------------------------------------------------
    say("detecting gaps, port calls, dark port calls, round trips, loitering and identity "
        "anomalies per partition")
    (wd / "detect").mkdir(exist_ok=True)
    params = _DetectParams(min_gap=min_gap, ports=ports, gap_options=gap_options,
                           port_call_options=dict(port_call_options),
                           dark_call_options=dict(dark_call_options),
                           round_trip_options=dict(round_trip_options),
                           sts_options=sts,
                           sample_every=max(1, math.ceil(kept / max(settings.sample_rows, 1))))
    list(ex.map(_detect_partition, parts, desc="detect", progress=progress,
                params=ex.share(params), model=ex.share(model), units=shared_units, **common))
    _mark(wd, manifest, "detect")

    # 5. merge --------------------------------------------------------------------------
    say("merging the partitions' results")
    release_memory()
    from caspian_ais.pipeline import merge_sts_parts, sts_across_vessels

    first = _load_pickle(wd / "detect" / f"p{parts[0]:04d}.pkl") if parts else {}
    names = [k for k in first if k != "sample" and not k.startswith("_")] or list(TABLES)
    private = [k for k in first if k.startswith("_")]
    pieces = {name: _Pieces() for name in (*names, *private, "sample") if name != "_sts_hist"}
    hists: list[Any] = []
    ledger_pieces = _Pieces(concat=concat_ledgers)
    for p in parts:
        res = _load_pickle(wd / "detect" / f"p{p:04d}.pkl")
        for name, piece in pieces.items():
            piece.add(res[name])
        if "_sts_hist" in res:
            hists.append(res["_sts_hist"])
        del res
        ledger_pieces.add(pd.read_parquet(wd / "clean" / f"p{p:04d}.rejected.parquet"))
    results = {name: piece.frames() for name, piece in pieces.items()}
    results["_sts_hist"] = hists
    del pieces
    tables = {name: merge_sts_parts(name, results.pop(name))
              if name in ("loitering", "identity_anomalies") else _sort_by_mmsi(results.pop(name))
              for name in names}
    sample = _sort_by_mmsi(results.pop("sample"))
    if "source_file" in sample and len(files):
        sample["source_file"] = pd.Categorical(sample["source_file"].astype(str),
                                               categories=pd.Index(labels))
    # ledger: the loaders' rows by file, then clean's in input order
    loader = _loader_ledger(wd)
    cl = concat_ledgers(ledger_pieces.frames())
    del ledger_pieces
    if len(cl):
        idx = pd.Series(np.arange(len(labels)), index=labels)
        key_f = idx.reindex(cl["source_file"].astype(str).to_numpy()).to_numpy()
        key_r = cl["source_row"].to_numpy(dtype="float64", na_value=np.nan)
        cl = cl.iloc[np.lexsort((key_r, key_f))].reset_index(drop=True)
    rejected = concat_ledgers([loader, cl])
    gaps = tables.pop("gaps")
    if "loitering" in tables:  # the detectors that compare vessels
        say("detecting encounters (by time slice) and dark rendezvous across partitions")
        unit = _sample_units(float(sts["encounters"].get("bin_min", 10.0)))
        budget = max(settings.work_bytes // 4 // BYTES_PER_SAMPLE, _MIN_SLICE_SAMPLES)
        slices = _sample_slices(wd, parts, results.get("_sts_hist", []), unit, budget)
        tables = sts_across_vessels(
            gaps, tables, ports, sts, samples=slices, visible=results["_sts_visible"],
            speeds=results["_sts_speeds"], imo_pairs=results["_sts_imo"],
            imo_rows=lambda imos: _imo_rows(wd, parts, imos))
        _mark(wd, manifest, "sts")
    if not settings.keep_workdir:
        shutil.rmtree(wd, ignore_errors=True)
    say(f"batch run done in {time.perf_counter() - t0:.1f} s")
    return {
        "tracks": sample,
        "rejected": rejected,
        "gaps": gaps,
        "tables": tables,
        "rows_read": staged + loader_rejected,
        "sources": labels,
        "counts": {"rows_kept": kept, "vessels": vessels},
        "workdir": str(wd) if settings.keep_workdir else None,
        "n_partitions": n_parts,
        "n_units": len(units),
    }
