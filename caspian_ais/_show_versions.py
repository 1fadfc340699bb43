"""``show_versions()``: what to paste into a bug report."""

from __future__ import annotations

import platform
import sys

from caspian_ais._compat import package_version

__all__ = ["show_versions"]

_DEPENDENCIES = (
    "numpy",
    "pandas",
    "pyarrow",
    "geopandas",
    "shapely",
    "pyproj",
    "movingpandas",
    "pyais",
    "matplotlib",
    "zstandard",
    "tqdm",
)
_OPTIONAL = ("duckdb", "polars", "dask", "distributed", "dask-geopandas", "hypothesis", "nbclient")


def _versions() -> dict[str, dict[str, str]]:
    from caspian_ais import __version__

    def ver(name: str) -> str:
        v = package_version(name)
        return str(v) if v is not None else "not installed"

    return {
        "system": {
            "python": sys.version.replace("\n", " "),
            "executable": sys.executable,
            "machine": platform.platform(),
            "caspian_ais": __version__,
        },
        "dependencies": {name: ver(name) for name in _DEPENDENCIES},
        "optional": {name: ver(name) for name in _OPTIONAL},
    }


def show_versions() -> None:
    """Print the versions of caspian_ais, Python, and the dependencies.

    Examples
    --------
    >>> import caspian_ais
    >>> caspian_ais.show_versions()  # doctest: +SKIP
    """
    for section, items in _versions().items():
        print(f"\n{section.upper()}\n{'-' * len(section)}")
        width = max(len(k) for k in items)
        for key, value in items.items():
            print(f"{key:>{width}}: {value}")
