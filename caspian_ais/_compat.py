"""Version checks for the dependencies whose behaviour differs between releases.

Keep every ``if PANDAS_GE_3`` style switch of the package here, so that dropping
support for an old release means editing one file.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

__all__ = ["PANDAS_GE_3", "PYAIS_VERSION", "package_version"]


def package_version(name: str) -> Version | None:
    """Return the installed version of distribution ``name``, or ``None``."""
    try:
        return Version(version(name))
    except PackageNotFoundError:
        return None


_pandas = package_version("pandas")
PANDAS_GE_3: bool = _pandas is not None and _pandas >= Version("3.0.0.dev0")
PYAIS_VERSION: Version | None = package_version("pyais")

#: The dtype of text columns in the canonical table. pandas 3 has a dedicated string
#: dtype ("str"); pandas 2.2 keeps text in object columns unless told otherwise.
STRING_DTYPE: str = "str" if PANDAS_GE_3 else "string"
