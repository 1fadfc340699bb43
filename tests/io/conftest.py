"""Fixtures for the tabular-loader tests (helpers live in ``expected_tables.py``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from expected_tables import EXCERPT, raw_text


@pytest.fixture(scope="session")
def excerpt_raw() -> pd.DataFrame:
    """The MarineCadastre excerpt as text."""
    return raw_text(EXCERPT)


@pytest.fixture()
def excerpt_copy(tmp_path: Path) -> Path:
    """A copy of the excerpt in a temporary directory."""
    dst = tmp_path / "AIS_2022_01_03.csv"
    dst.write_bytes(EXCERPT.read_bytes())
    return dst
