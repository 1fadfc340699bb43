"""Importing caspian_ais must stay light: no optional or heavy dependency at import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import caspian_ais


@pytest.mark.parametrize(
    "module",
    [
        "duckdb",
        "polars",
        "dask",
        "distributed",
        "matplotlib",
        "movingpandas",
        "hypothesis",
        "pyais",
        "nbclient",
    ],
)
def test_import_pulls_in_no_optional_dependency(module: str) -> None:
    code = f"import sys, caspian_ais; sys.exit(1 if {module!r} in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"'import caspian_ais' imported {module}\n{result.stderr}"


def test_public_api_is_explicit() -> None:
    for name in caspian_ais.__all__:
        assert hasattr(caspian_ais, name), name
    assert caspian_ais.__version__


def test_show_versions_runs(capsys: pytest.CaptureFixture[str]) -> None:
    caspian_ais.show_versions()
    out = capsys.readouterr().out
    assert "pandas" in out and "caspian_ais" in out
