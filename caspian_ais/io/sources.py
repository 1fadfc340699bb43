"""Resolve the ``source`` argument of :func:`caspian_ais.io.read_ais` into readable files.

A source is a path, a glob pattern, a directory, or a list of those. Each file becomes
one or more :class:`SourceFile` objects: one per file, or one per data member of a zip
archive. Compression is recognised from the file's first bytes (not only its name):
gzip, zstandard and zip. Decompression streams through pyarrow (gzip, zstd) or
:mod:`zipfile`, so a file is never inflated in memory as a whole.
"""

from __future__ import annotations

import glob
import os
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from caspian_ais.exceptions import InputError, SourceNotFoundError, UnreadableFileError

__all__ = [
    "SourceFile",
    "SourceLike",
    "expand_paths",
    "resolve_sources",
    "decompression_error",
]

SourceLike = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")

#: Files a directory source skips: documentation, pictures, sidecar files.
_SKIP_SUFFIXES = frozenset({
    ".md", ".rst", ".json", ".xml", ".html", ".htm", ".pdf", ".png", ".jpg", ".jpeg",
    ".gif", ".py", ".ipynb", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".sh", ".prj",
    ".shp", ".shx", ".dbf", ".cpg", ".qmd", ".crc", ".sha256", ".md5", ".sig", ".lock",
})
_SKIP_PREFIXES = (".", "_", "readme", "license", "licence", "notice", "changelog")


@dataclass(frozen=True)
class SourceFile:
    """One readable unit: a file, or one member of a zip archive.

    Parameters
    ----------
    path : str
        The file on disk, as given or as expanded from a glob or directory.
    member : str, optional
        The member's name when the unit is a member of a zip archive.
    compression : {None, "gzip", "zstd", "zip"}
        How the file is compressed, from its magic bytes.
    label : str
        The name that goes into the ``source_file`` column and into error messages:
        ``path``, or ``path!member`` for an archive with several data members.
    """

    path: str
    member: str | None
    compression: str | None
    label: str

    @contextmanager
    def open(self) -> Iterator[Any]:
        """Yield a binary, readable stream of the decompressed content."""
        if self.compression == "zip":
            try:
                with zipfile.ZipFile(self.path) as zf, zf.open(str(self.member)) as fh:
                    yield fh
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
                raise decompression_error(self, exc) from exc
            return
        codec = {"gzip": "gzip", "zstd": "zstd"}.get(self.compression or "")
        try:
            stream = pa.input_stream(self.path, compression=codec)
        except OSError as exc:
            raise UnreadableFileError(self.label, f"cannot open file: {exc}") from exc
        with stream:
            yield stream

    def read_head(self, n_bytes: int) -> bytes:
        """Return up to ``n_bytes`` of decompressed content from the start.

        Raises
        ------
        UnreadableFileError
            If the file cannot be opened or its first bytes cannot be decompressed.
        """
        try:
            with self.open() as fh:
                chunks: list[bytes] = []
                got = 0
                while got < n_bytes:
                    chunk = fh.read(n_bytes - got)
                    if not chunk:
                        break
                    chunks.append(bytes(chunk))
                    got += len(chunk)
                return b"".join(chunks)
        except InputError:
            raise
        except (OSError, EOFError, zipfile.BadZipFile, pa.ArrowException, ValueError) as exc:
            # a truncated stream shorter than n_bytes fails here already
            raise decompression_error(self, exc) from exc

    def read_all(self) -> bytes:
        """Return the whole decompressed content (used for small Parquet-in-archive cases)."""
        try:
            with self.open() as fh:
                return bytes(fh.read())
        except InputError:
            raise
        except (OSError, EOFError, zipfile.BadZipFile, pa.ArrowException, ValueError) as exc:
            raise decompression_error(self, exc) from exc

    @property
    def is_plain(self) -> bool:
        """True when the unit is an uncompressed file that can be read by path."""
        return self.compression is None


def decompression_error(src: SourceFile, exc: BaseException) -> UnreadableFileError:
    """Build the one-line error for a stream that failed while being decompressed.

    Parameters
    ----------
    src : SourceFile
        The file.
    exc : BaseException
        What the decompressor raised.

    Returns
    -------
    UnreadableFileError

    Examples
    --------
    >>> src = SourceFile("day.csv.gz", None, "gzip", "day.csv.gz")
    >>> str(decompression_error(src, OSError("Truncated compressed stream")))[:45]
    'day.csv.gz: cannot read gzip data (Truncated '
    """
    kind = {"gzip": "gzip", "zstd": "zstandard", "zip": "zip"}.get(src.compression or "", "")
    what = f"{kind} data" if kind else "file"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UnreadableFileError(
        src.label,
        f"cannot read {what} ({detail}); the file is probably truncated or corrupt, "
        "expected a complete archive",
    )


def _has_magic(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _is_data_file(name: str) -> bool:
    base = os.path.basename(name).lower()
    if base.startswith(_SKIP_PREFIXES):
        return False
    stem = base
    for comp in (".gz", ".zst", ".zstd", ".zip"):
        if stem.endswith(comp):
            stem = stem[: -len(comp)]
            break
    return os.path.splitext(stem)[1] not in _SKIP_SUFFIXES


def _expand_one(item: str | os.PathLike[str]) -> list[str]:
    text = os.path.expanduser(os.fspath(item))
    if os.path.isdir(text):
        names = sorted(
            os.path.join(text, n) for n in os.listdir(text)
            if os.path.isfile(os.path.join(text, n)) and _is_data_file(n)
        )
        if not names:
            raise SourceNotFoundError(text, "directory contains no data files, expected AIS files "
                                            "(.csv, .zip, .gz, .zst, .parquet, NMEA logs)")
        return names
    if os.path.isfile(text):
        return [text]
    if _has_magic(text):
        matches = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
        if not matches:
            raise SourceNotFoundError(text, "glob pattern matches no file")
        return matches
    if os.path.exists(text):
        raise SourceNotFoundError(text, "not a regular file or directory")
    raise SourceNotFoundError(text, "no such file or directory")


def expand_paths(source: SourceLike) -> list[str]:
    """Expand a path, glob, directory or list of those into a list of file paths.

    Files keep the order given; a directory or glob contributes its files sorted by
    name. A file named twice is read once.

    Parameters
    ----------
    source : str, os.PathLike or sequence of those
        What to read.

    Returns
    -------
    list of str
        Existing files.

    Raises
    ------
    SourceNotFoundError
        If an item matches nothing, or the list is empty.

    Examples
    --------
    >>> expand_paths("data/AIS_2022_01_0*.zip")          # doctest: +SKIP
    ['data/AIS_2022_01_01.zip', 'data/AIS_2022_01_02.zip']
    """
    items: Sequence[str | os.PathLike[str]]
    if isinstance(source, (str, os.PathLike)):
        items = [source]
    elif isinstance(source, Sequence) and not isinstance(source, (bytes, bytearray)):
        items = list(source)
        if not items:
            raise SourceNotFoundError("<empty list>", "no input given, expected at least one path")
    else:
        raise TypeError(
            f"source must be a path, glob, directory or list of those, not {type(source).__name__}"
        )
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"source items must be paths, not {type(item).__name__}")
        for path in _expand_one(item):
            key = os.path.abspath(path)
            if key not in seen:
                seen.add(key)
                out.append(path)
    return out


def _sniff_compression(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot open file: {exc}") from exc
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    if magic.startswith(_ZSTD_MAGIC):
        return "zstd"
    if magic.startswith(_ZIP_MAGICS):
        return "zip"
    lower = path.lower()
    expected = next((kind for suffix, kind in ((".gz", "gzip"), (".zst", "zstandard"),
                                              (".zstd", "zstandard"), (".zip", "zip"))
                     if lower.endswith(suffix)), None)
    if expected and magic:
        raise UnreadableFileError(path, f"file name says {expected} but the content is not "
                                        f"{expected} data (first bytes {magic!r})")
    return None


def _zip_members(path: str) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UnreadableFileError(
            path, f"cannot open zip archive ({exc}); the file is probably truncated or corrupt, "
                  "expected a complete archive") from exc
    names = [
        i.filename for i in infos
        if not i.is_dir() and not i.filename.startswith("__MACOSX/")
        and _is_data_file(i.filename)
    ]
    if not names:
        raise UnreadableFileError(path, "zip archive holds no data file, expected a CSV member")
    return names


def resolve_sources(source: SourceLike) -> list[SourceFile]:
    """Expand ``source`` into readable units, one per file or zip member.

    Parameters
    ----------
    source : str, os.PathLike or sequence of those
        Paths, glob patterns or directories.

    Returns
    -------
    list of SourceFile

    Raises
    ------
    SourceNotFoundError
        If nothing matches.
    UnreadableFileError
        If a zip archive cannot be opened (truncated central directory) or a file named
        ``.gz``/``.zst``/``.zip`` holds something else.

    Examples
    --------
    >>> [s.label for s in resolve_sources("AIS_2022_01_03.zip")]   # doctest: +SKIP
    ['AIS_2022_01_03.zip']
    """
    out: list[SourceFile] = []
    for path in expand_paths(source):
        comp = _sniff_compression(path)
        if comp == "zip":
            members = _zip_members(path)
            for m in members:
                label = path if len(members) == 1 else f"{path}!{m}"
                out.append(SourceFile(path, m, "zip", label))
        else:
            out.append(SourceFile(path, None, comp, path))
    return out

