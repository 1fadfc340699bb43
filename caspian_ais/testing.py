"""Assertion helpers for tests of code that produces caspian_ais tables.

Public, like :mod:`geopandas.testing`: use them in your own test suites.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from caspian_ais.ledger import LEDGER_COLUMNS, REASONS
from caspian_ais.schema import CANONICAL_DTYPES, REQUIRED_COLUMNS, validate

__all__ = ["assert_canonical", "assert_tracks_equal", "assert_ledger_valid"]


def assert_canonical(df: pd.DataFrame) -> None:
    """Assert that ``df`` is a canonical AIS table with canonical dtypes.

    Parameters
    ----------
    df : pandas.DataFrame
        The table to check.

    Raises
    ------
    AssertionError
        Naming the first column whose presence or dtype is wrong.
    """
    try:
        validate(df)
    except Exception as exc:  # SchemaError
        raise AssertionError(str(exc)) from exc
    for col in REQUIRED_COLUMNS:
        assert col in df.columns, f"missing required column {col!r}"
    for col in df.columns:
        if col in CANONICAL_DTYPES:
            expected = pd.api.types.pandas_dtype(CANONICAL_DTYPES[col])
            if isinstance(expected, pd.CategoricalDtype):
                assert isinstance(df[col].dtype, pd.CategoricalDtype), (
                    f"column {col!r} is not categorical"
                )
                continue
            assert df[col].dtype == expected, (
                f"column {col!r} has dtype {df[col].dtype}, expected {expected}"
            )


def assert_tracks_equal(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    check_provenance: bool = False,
    check_order: bool = False,
    atol_deg: float = 0.0,
    columns: list[str] | None = None,
) -> None:
    """Assert two canonical tables hold the same reports.

    Parameters
    ----------
    left, right : pandas.DataFrame
        Canonical tables.
    check_provenance : bool, default False
        Also compare ``source_file`` and ``source_row``.
    check_order : bool, default False
        Compare rows in the given order; otherwise both are sorted by
        (mmsi, timestamp, lat, lon) first.
    atol_deg : float, default 0.0
        Absolute tolerance on lat/lon in degrees (formats round positions).
    columns : list of str, optional
        Compare only these columns (default: those present in both).
    """
    cols = columns or [c for c in left.columns if c in right.columns]
    if not check_provenance:
        cols = [c for c in cols if c not in ("source_file", "source_row")]
    a, b = left[cols], right[cols]
    if not check_order:
        key = [c for c in ("mmsi", "timestamp", "lat", "lon") if c in cols]
        a = a.sort_values(key, kind="stable").reset_index(drop=True)
        b = b.sort_values(key, kind="stable").reset_index(drop=True)
    assert len(a) == len(b), f"row counts differ: {len(a)} != {len(b)}"
    for c in cols:
        if c in ("lat", "lon") and atol_deg > 0:
            np.testing.assert_allclose(
                a[c].to_numpy(float), b[c].to_numpy(float), atol=atol_deg, err_msg=c
            )
        else:
            pd.testing.assert_series_equal(
                a[c], b[c], check_dtype=False, check_names=True, obj=f"column {c!r}"
            )


def assert_ledger_valid(ledger: pd.DataFrame) -> None:
    """Assert ``ledger`` has the ledger columns and only known reason codes."""
    assert tuple(ledger.columns) == LEDGER_COLUMNS, f"ledger columns {list(ledger.columns)}"
    unknown = set(ledger["reason"]) - set(REASONS)
    assert not unknown, f"unknown reason code(s) {sorted(unknown)}"
