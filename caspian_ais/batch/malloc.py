"""Allocator tuning and process memory for numpy-heavy runs (glibc only).

The detectors allocate many short-lived arrays of tens to hundreds of MB. glibc serves
each such block with a fresh ``mmap`` and returns it on ``free``, so every allocation
pays the kernel's page faults again (on the benchmark VM: ~0.1 s per 80 MB array, the
largest single cost of ``detect_gaps``' sort and of ``read_ais``). :func:`tune_malloc`
makes glibc serve large blocks from its heap and keep freed memory for reuse
(``mallopt(M_MMAP_MAX, 0)``, ``mallopt(M_TRIM_THRESHOLD, 2 GiB)``): 30 % less wall time
for ``analyze`` on 10 M rows, peak RSS within a few % (freed memory is reused, not
returned to the system before the process ends).

``caspian-ais analyze`` calls it; set ``CASPIAN_AIS_TUNE_MALLOC=0`` to disable.
Python users may call it at the start of a long-running analysis process.

The batch engine bounds its peak memory unit by unit: :func:`release_memory` hands the
memory freed by earlier work back to the system -- glibc's free pages (``malloc_trim``,
before each stage) and Arrow's pool (before each unit) -- so that numpy's heap and
Arrow's pool do not each keep the high-water mark of another stage;
:func:`current_rss` reads what the process holds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import Any

__all__ = ["tune_malloc", "release_memory", "current_rss"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_done = False
_libc: Any = None


def _glibc() -> Any:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                lib.malloc_trim.argtypes = [ctypes.c_size_t]
                lib.malloc_trim.restype = ctypes.c_int
                lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                lib.mallopt.restype = ctypes.c_int
                _libc = lib
            except (OSError, AttributeError):
                pass
    return _libc or None


def tune_malloc() -> bool:
    """Keep large freed blocks for reuse (glibc); returns whether it was applied.

    A no-op (False) on other C libraries and platforms, or when the environment variable
    ``CASPIAN_AIS_TUNE_MALLOC`` is ``0``.
    """
    global _done
    if _done:
        return True
    if os.environ.get("CASPIAN_AIS_TUNE_MALLOC", "1") == "0":
        return False
    libc = _glibc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD,
                                                                  2**31 - 1))
    _done = ok
    return ok


def release_memory(*, heap: bool = True) -> None:
    """Return the memory the process has freed to the system.

    Arrow's memory pool releases its unused pages and, with ``heap``, glibc's
    ``malloc_trim(0)`` gives back every free page of its heaps (with :func:`tune_malloc`,
    glibc otherwise keeps up to 2 GiB of freed memory).

    Parameters
    ----------
    heap : bool, default True
        Trim glibc's heaps too. The next allocations fault their pages in again: the
        batch engine trims between stages, and releases only Arrow's pool (whose freed
        pages another allocator could not reuse) between the units of a stage.
    """
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):  # pragma: no cover - pyarrow is a dependency
        pass
    libc = _glibc() if heap else None
    if libc is not None:
        libc.malloc_trim(0)


def current_rss() -> int | None:
    """Resident memory of this process now, in bytes (Linux; None where unknown)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
