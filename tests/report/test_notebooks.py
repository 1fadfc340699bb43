"""The notebooks run top to bottom (nbclient), and are committed without outputs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
EXCERPT = ROOT / "tests" / "data" / "marinecadastre_2022-01-03_excerpt.csv"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SAMPLE = ROOT / "data" / "sample" / "caspian_sample.parquet"
#: Inputs each notebook reads (relative to the repository root).
NEEDS = {
    "01_quickstart.ipynb": SAMPLE,
    "02_caspian_dark_port_calls.ipynb": SAMPLE,
    "03_real_data_marinecadastre.ipynb": EXCERPT,
}


def test_the_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == sorted(NEEDS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: strip the outputs"
            assert cell.execution_count is None, f"{path.name}: strip the execution counts"
    assert book.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path):
    need = NEEDS[path.name]
    if not need.exists():
        pytest.skip(f"{need.relative_to(ROOT)} is not in the repository yet")
    # a copy of the notebook in tmp/notebooks/, with tmp/data and tmp/tests pointing at the
    # repository's, so that the notebook's relative paths work and its outputs land in tmp
    for d in ("data", "tests"):
        (tmp_path / d).symlink_to(ROOT / d, target_is_directory=True)
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    shutil.copy(path, nb_dir / path.name)
    book = nbformat.read(nb_dir / path.name, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(nb_dir)}}
    )
    t0 = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - t0
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook shows no figure"
    assert elapsed < 60, f"{path.name} took {elapsed:.0f} s to run"
    if path.name != "03_real_data_marinecadastre.ipynb":
        assert list((nb_dir / "out").glob("*/report.html"))
