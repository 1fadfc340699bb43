"""Shared scenarios for the simulator tests (built once per session, a few seconds each)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caspian_ais.synthetic import Scenario, simulate

#: Positional tolerance of each format, degrees (MarineCadastre writes 5 decimals, DMA 6, and
#: the NMEA reader returns 1/10000 minute rounded to 6 decimals).
POSITION_TOL_DEG = {"parquet": 0.0, "marinecadastre": 5.1e-6, "dma": 5.1e-7, "nmea": 5.1e-7}


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """24 vessels over 40 days across the August/September 2022 step, 5-minute thinning."""
    return simulate(n_vessels=24, days=40, start="2022-08-10", seed=11, thin_s=300)


def canonical_order(t: pd.DataFrame) -> pd.DataFrame:
    """Rows in an order that does not depend on the file layout."""
    k = t.assign(_la=t["lat"].round(4), _lo=t["lon"].round(4))
    k = k.sort_values(["mmsi", "timestamp", "_la", "_lo", "sog_kn", "cog_deg"], kind="stable")
    return k.drop(columns=["_la", "_lo"]).reset_index(drop=True)


def assert_same_rows(a: pd.DataFrame, b: pd.DataFrame, fmt: str) -> None:
    """Assert two canonical tables hold the same rows to the precision of ``fmt``."""
    a, b = canonical_order(a), canonical_order(b)
    assert len(a) == len(b)
    exact = [
        "mmsi",
        "timestamp",
        "nav_status",
        "imo",
        "name",
        "callsign",
        "ship_type",
        "ais_class",
        "flag_state",
        "length_m",
    ]
    if fmt != "marinecadastre":
        exact.append("destination")
    for c in exact:
        x, y = a[c], b[c]
        same = (x == y).fillna(False).astype(bool) | (x.isna() & y.isna())
        assert same.all(), f"{fmt}: column {c} differs in {(~same).sum()} rows"
    tol = {
        "lat": POSITION_TOL_DEG[fmt],
        "lon": POSITION_TOL_DEG[fmt],
        "sog_kn": 1e-9,
        "cog_deg": 1e-9,
        "heading_deg": 0.0,
        "draught_m": 1e-9,
    }
    for c, t in tol.items():
        x, y = a[c].to_numpy(float), b[c].to_numpy(float)
        ok = (np.abs(x - y) <= t + 1e-12) | (np.isnan(x) & np.isnan(y))
        assert ok.all(), (
            f"{fmt}: column {c} differs in {(~ok).sum()} rows, e.g. {x[~ok][:3]} vs {y[~ok][:3]}"
        )


@pytest.fixture(scope="session")
def same_rows():
    """The :func:`assert_same_rows` helper, as a fixture."""
    return assert_same_rows
