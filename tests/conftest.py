"""Fixtures shared by the test modules of the batch engine."""

from __future__ import annotations

import pytest

from caspian_ais.batch import run as batch_run


@pytest.fixture
def no_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory limits as if the process held nothing before the run: the tests run tiny
    limits (many partitions of a small input) in a large pytest process."""
    monkeypatch.setattr(batch_run, "measure_floor", lambda executor: 0)
    monkeypatch.setattr(batch_run, "RESERVE_BYTES", 0)
