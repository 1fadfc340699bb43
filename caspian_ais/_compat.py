"""Version checks for the dependencies whose behaviour differs between releases.

Keep every ``if PANDAS_GE_3`` style switch of the package here, so that dropping
support for an old release means editing one file.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd
from packaging.version import Version

__all__ = ["PANDAS_GE_3", "PYAIS_VERSION", "STRING_DTYPE", "package_version",
           "utc_datetime_array"]


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


_UTC = pd.DatetimeTZDtype("ns", "UTC")


def utc_datetime_array(ns: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A ``datetime64[ns, UTC]`` array over int64 epoch nanoseconds (int64 min is NaT).

    The array wraps ``ns`` without a copy (so it stays writeable and the memory is not
    allocated twice) through pandas' ``DatetimeArray._simple_new``; where a pandas
    release lacks it, the values are localised with a copy.
    """
    values = np.asarray(ns, dtype=np.int64).view("M8[ns]")
    simple_new = getattr(pd.arrays.DatetimeArray, "_simple_new", None)
    if simple_new is not None:
        try:
            out = simple_new(values, dtype=_UTC)
            if isinstance(out.dtype, pd.DatetimeTZDtype) and len(out) == len(values):
                return out
        except (TypeError, ValueError, AttributeError):  # pragma: no cover - other pandas
            pass
    return pd.Series(values, copy=False).dt.tz_localize("UTC").array  # pragma: no cover
