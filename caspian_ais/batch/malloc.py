"""Allocator tuning for numpy-heavy runs (glibc only).

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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune_malloc"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_done = False


def tune_malloc() -> bool:
    """Keep large freed blocks for reuse (glibc); returns whether it was applied.

    A no-op (False) on other C libraries and platforms, or when the environment variable
    ``CASPIAN_AIS_TUNE_MALLOC`` is ``0``.
    """
    global _done
    if _done:
        return True
    if os.environ.get("CASPIAN_AIS_TUNE_MALLOC", "1") == "0" or not sys.platform.startswith(
            "linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    _done = ok
    return ok
