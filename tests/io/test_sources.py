"""Resolving paths, globs, directories and lists; opening compressed files."""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path

import pytest
import zstandard
from expected_tables import EXCERPT

from caspian_ais.exceptions import SourceNotFoundError, UnreadableFileError
from caspian_ais.io.sources import expand_paths, resolve_sources

DATA_BYTES = EXCERPT.read_bytes()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "days"
    d.mkdir()
    for name in ("AIS_2022_01_02.csv", "AIS_2022_01_01.csv", "AIS_2022_01_03.csv.gz"):
        (d / name).write_bytes(DATA_BYTES if not name.endswith(".gz")
                               else gzip.compress(DATA_BYTES))
    (d / "README.md").write_text("notes")
    (d / ".hidden.csv").write_text("x")
    (d / "sub").mkdir()
    (d / "sub" / "AIS_2022_01_04.csv").write_bytes(DATA_BYTES)
    return d


def test_directory_is_sorted_and_skips_non_data(folder: Path) -> None:
    got = expand_paths(folder)
    assert [os.path.basename(p) for p in got] == [
        "AIS_2022_01_01.csv", "AIS_2022_01_02.csv", "AIS_2022_01_03.csv.gz"]


def test_glob_list_and_dedup(folder: Path) -> None:
    pattern = str(folder / "AIS_2022_01_0[12].csv")
    assert [os.path.basename(p) for p in expand_paths(pattern)] == [
        "AIS_2022_01_01.csv", "AIS_2022_01_02.csv"]
    listed = expand_paths([folder / "AIS_2022_01_02.csv", pattern])
    assert [os.path.basename(p) for p in listed] == ["AIS_2022_01_02.csv",
                                                     "AIS_2022_01_01.csv"]
    recursive = expand_paths(str(folder / "**" / "*.csv"))
    assert "AIS_2022_01_04.csv" in [os.path.basename(p) for p in recursive]


def test_not_found(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="no such file"):
        expand_paths(tmp_path / "nope.csv")
    with pytest.raises(SourceNotFoundError, match="matches no file"):
        expand_paths(str(tmp_path / "*.zip"))
    with pytest.raises(SourceNotFoundError, match="no input"):
        expand_paths([])
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(SourceNotFoundError, match="no data files"):
        expand_paths(empty)
    with pytest.raises(TypeError):
        expand_paths(3)  # type: ignore[arg-type]


def test_compression_from_magic_bytes(tmp_path: Path) -> None:
    gz = tmp_path / "a.bin"
    gz.write_bytes(gzip.compress(DATA_BYTES))
    zst = tmp_path / "b.csv.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(DATA_BYTES))
    plain = tmp_path / "c.csv"
    plain.write_bytes(DATA_BYTES)
    srcs = resolve_sources([gz, zst, plain])
    assert [s.compression for s in srcs] == ["gzip", "zstd", None]
    for s in srcs:
        assert s.read_head(100) == DATA_BYTES[:100]
        assert s.read_all() == DATA_BYTES


def test_zip_members(tmp_path: Path) -> None:
    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("b.csv", DATA_BYTES)
        zf.writestr("a.csv", DATA_BYTES)
        zf.writestr("docs/readme.txt", "x")
        zf.writestr("__MACOSX/._a.csv", "x")
        zf.writestr("dir/", "")
    srcs = resolve_sources(z)
    assert [s.member for s in srcs] == ["b.csv", "a.csv"]
    assert [s.label for s in srcs] == [f"{z}!b.csv", f"{z}!a.csv"]
    one = tmp_path / "one.zip"
    with zipfile.ZipFile(one, "w") as zf:
        zf.writestr("AIS_2022_01_03.csv", DATA_BYTES)
    assert [s.label for s in resolve_sources(one)] == [str(one)]


def test_truncated_and_misnamed_archives(tmp_path: Path) -> None:
    z = tmp_path / "cut.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", DATA_BYTES)
    z.write_bytes(z.read_bytes()[: len(z.read_bytes()) // 2])
    with pytest.raises(UnreadableFileError, match=r"cut\.zip: cannot open zip archive"):
        resolve_sources(z)
    fake = tmp_path / "fake.gz"
    fake.write_text("MMSI,BaseDateTime\n")
    with pytest.raises(UnreadableFileError, match=r"fake\.gz: file name says gzip"):
        resolve_sources(fake)
    empty_zip = tmp_path / "nothing.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("readme.md", "x")
    with pytest.raises(UnreadableFileError, match="no data file"):
        resolve_sources(empty_zip)
