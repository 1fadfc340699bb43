"""Loaders: read AIS from MarineCadastre, DMA, NMEA, CSV, Parquet and GeoParquet files.

The entry point is :func:`read_ais`; it returns the canonical table of
:mod:`caspian_ais.schema` with provenance columns and the loader's rejected rows.

Examples
--------
>>> from caspian_ais.io import read_ais
>>> table = read_ais("data/AIS_2022_01_03.zip")            # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from caspian_ais.io.detect import FORMATS, detect_format
from caspian_ais.io.read import read_ais

__all__ = ["read_ais", "detect_format", "FORMATS", "read_nmea"]


def __getattr__(name: str) -> Any:
    # read_nmea pulls in pyais; import it only when asked for
    if name == "read_nmea":
        from caspian_ais.io.nmea import read_nmea

        return read_nmea
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
