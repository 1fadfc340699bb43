"""Recognise the format of an AIS file from its first bytes and header.

:func:`sniff` reads the first 64 KiB (decompressed) and returns a :class:`Sniff`:
Parquet or text; for text the delimiter (among ``,`` ``;`` tab ``|``), the header
names, the text encoding and whether numbers use a decimal comma.
:func:`detect_format` turns that into one of :data:`FORMATS`:

* ``parquet`` / ``geoparquet``: the ``PAR1`` magic; GeoParquet when the footer has the
  ``geo`` metadata key.
* ``nmea``: the first line that is not a ``#`` comment starts with ``!`` (``!AIVDM``,
  ``!AIVDO``, other talkers), ``\\`` (tag block) or ``$`` (``$PGHP``).
* ``marinecadastre``, ``marinecadastre2025``, ``dma``: the header has the format's
  distinctive column (``BaseDateTime``, ``base_date_time``, ``Type of mobile``) or at
  least half of its columns.
* ``csv``: the header has canonical (or commonly aliased) column names.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import pyarrow.parquet as pq

from caspian_ais.exceptions import FormatDetectionError, InputError, UnreadableFileError
from caspian_ais.io.dma import HEADER as DMA_HEADER
from caspian_ais.io.marinecadastre import HEADER as MC_HEADER
from caspian_ais.io.marinecadastre import HEADER_2025 as MC_HEADER_2025
from caspian_ais.io.sources import SourceFile
from caspian_ais.io.tabular import GENERIC_ALIASES, geo_metadata, normalise_name
from caspian_ais.schema import REQUIRED_COLUMNS, STATIC_COLUMNS

__all__ = ["FORMATS", "Sniff", "sniff", "sniff_delimiter", "detect_format", "format_of_header"]

#: Format names accepted by ``read_ais(format=...)``.
FORMATS: tuple[str, ...] = (
    "marinecadastre", "marinecadastre2025", "dma", "nmea", "csv", "parquet", "geoparquet",
)

HEAD_BYTES = 1 << 16
_DELIMITERS = (",", ";", "\t", "|")
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_SIGNATURES: dict[str, tuple[frozenset[str], str]] = {
    "marinecadastre": (frozenset(normalise_name(h) for h in MC_HEADER),
                       "basedatetime"),
    "marinecadastre2025": (frozenset(normalise_name(h) for h in MC_HEADER_2025),
                           "base_date_time"),
    "dma": (frozenset(normalise_name(h) for h in DMA_HEADER[:22]), "type of mobile"),
}
_GENERIC_NAMES = frozenset(REQUIRED_COLUMNS + STATIC_COLUMNS).union(
    *[set(v) for v in GENERIC_ALIASES.values()])


@dataclass(frozen=True)
class Sniff:
    """What the first bytes of a file say about it.

    Attributes
    ----------
    kind : {"parquet", "text", "nmea"}
    header : tuple of str
        Column names of the first line (text files), BOM removed.
    delimiter : str
    encoding : str
        ``"utf8"``, or ``"latin-1"`` when the first bytes are not valid UTF-8.
    decimal_comma : bool
        Numbers in the first data line are written with a decimal comma.
    geo : bool
        Parquet file with GeoParquet metadata.
    first_line : str
        The header line, for error messages.
    """

    kind: str
    header: tuple[str, ...] = ()
    delimiter: str = ","
    encoding: str = "utf8"
    decimal_comma: bool = False
    geo: bool = False
    first_line: str = ""


def sniff_delimiter(header_line: str, data_line: str | None = None) -> str:
    """Pick the field delimiter among ``,`` ``;`` tab and ``|``.

    The candidate that splits the header into the most fields wins; when a data line
    is given, candidates whose field count differs there are passed over.

    Parameters
    ----------
    header_line : str
    data_line : str, optional

    Returns
    -------
    str

    Examples
    --------
    >>> sniff_delimiter("MMSI;BaseDateTime;LAT;LON", "1;2022-01-01T00:00:00;1,5;2,5")
    ';'
    """
    best, best_n = ",", 0
    for d in _DELIMITERS:
        n = len(next(csv.reader([header_line], delimiter=d)))
        if n <= 1:
            continue
        if data_line is not None and data_line.strip():
            m = len(next(csv.reader([data_line], delimiter=d)))
            if m != n and d != ",":
                continue
        if n > best_n:
            best, best_n = d, n
    return best


def _decode(head: bytes) -> tuple[str, str]:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        return head.decode("utf-8"), "utf8"
    except UnicodeDecodeError as exc:
        # the 64 KiB cut may split a character: decode up to the last full line
        cut = head.rfind(b"\n")
        if exc.start >= len(head) - 4 or (cut > 0 and exc.start > cut):
            try:
                return head[: cut if cut > 0 else exc.start].decode("utf-8"), "utf8"
            except UnicodeDecodeError:
                pass
        return head.decode("latin-1"), "latin-1"


def _is_nmea_line(line: str) -> bool:
    return line.startswith(("!", "\\", "$"))


def _looks_like_dma_header(line: str) -> bool:
    low = line.lower()
    return "timestamp" in low and ("type of mobile" in low or "mmsi" in low)


def sniff(src: SourceFile) -> Sniff:
    """Read the first bytes of ``src`` and describe the file.

    Parameters
    ----------
    src : SourceFile

    Returns
    -------
    Sniff

    Raises
    ------
    InputError
        If the file is empty.
    UnreadableFileError
        If it cannot be decompressed or holds binary data that is not Parquet.

    Examples
    --------
    >>> from caspian_ais.io.sources import resolve_sources
    >>> s = sniff(resolve_sources("AIS_2022_01_03.zip")[0])     # doctest: +SKIP
    >>> s.header[:2]                                            # doctest: +SKIP
    ('MMSI', 'BaseDateTime')
    """
    head = src.read_head(HEAD_BYTES)
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise InputError(src.label, "file is empty, expected a header")
    if head.startswith(b"PAR1"):
        return Sniff("parquet", geo=_parquet_is_geo(src))
    if b"\x00" in head:
        raise UnreadableFileError(
            src.label, "binary content that is not Parquet, expected CSV text, NMEA or Parquet")
    text, encoding = _decode(head)
    lines = [ln for ln in _LINE_BREAK.split(text) if ln.strip()]
    for ln in lines[:50]:
        s = ln.lstrip()
        if s.startswith("#") and not _looks_like_dma_header(s):
            continue
        if _is_nmea_line(s):
            return Sniff("nmea", encoding=encoding, first_line=ln)
        break
    header_line = lines[0]
    data_line = lines[1] if len(lines) > 1 else None
    delimiter = sniff_delimiter(header_line, data_line)
    header = tuple(h.replace("\ufeff", "") for h in
                   next(csv.reader([header_line], delimiter=delimiter)))
    decimal_comma = False
    if delimiter != "," and data_line is not None:
        fields = next(csv.reader([data_line], delimiter=delimiter))
        decimal_comma = any(_DECIMAL_COMMA.match(f) for f in fields)
    return Sniff("text", header, delimiter, encoding, decimal_comma, False, header_line)


def _parquet_is_geo(src: SourceFile) -> bool:
    try:
        if src.is_plain:
            schema = pq.read_schema(src.path)
        else:
            import pyarrow as pa

            schema = pq.read_schema(pa.BufferReader(src.read_all()))
    except InputError:
        raise
    except Exception as exc:
        raise UnreadableFileError(
            src.label, f"cannot read the Parquet footer ({str(exc).splitlines()[0]}); the file "
                       "is probably truncated or corrupt, expected a complete Parquet file"
        ) from exc
    return geo_metadata(schema) is not None


def format_of_header(header: tuple[str, ...] | list[str]) -> str | None:
    """Return the format a CSV header belongs to, or ``None`` if unknown.

    Parameters
    ----------
    header : sequence of str

    Returns
    -------
    str or None
        One of ``marinecadastre``, ``marinecadastre2025``, ``dma``, ``csv``.

    Examples
    --------
    >>> format_of_header(["mmsi", "base_date_time", "longitude", "latitude"])
    'marinecadastre2025'
    """
    names = {normalise_name(h) for h in header}
    if {"mmsi", "timestamp", "lat", "lon"} <= names:
        return "csv"
    best, best_score = None, 0.0
    for fmt, (sig, key) in _SIGNATURES.items():
        score = len(names & sig) / len(sig) + (1.0 if key in names else 0.0)
        if score > best_score:
            best, best_score = fmt, score
    if best is not None and best_score >= 0.5:
        return best
    if len(names & _GENERIC_NAMES) >= 2 and "mmsi" in names:
        return "csv"
    return None


def detect_format(src: SourceFile, sniffed: Sniff | None = None) -> str:
    """Detect the format of ``src``.

    Parameters
    ----------
    src : SourceFile
    sniffed : Sniff, optional
        A previous :func:`sniff` result for the same file.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    FormatDetectionError
        If the header matches no known format.

    Examples
    --------
    >>> from caspian_ais.io.sources import resolve_sources
    >>> detect_format(resolve_sources("aisdk-2024-01-01.csv")[0])  # doctest: +SKIP
    'dma'
    """
    s = sniffed or sniff(src)
    if s.kind == "parquet":
        return "geoparquet" if s.geo else "parquet"
    if s.kind == "nmea":
        return "nmea"
    fmt = format_of_header(s.header)
    if fmt is None:
        shown = s.first_line if len(s.first_line) <= 120 else s.first_line[:117] + "..."
        raise FormatDetectionError(
            src.label,
            f"cannot recognise the format from the first line {shown!r}; expected a "
            "MarineCadastre, DMA or NMEA file, Parquet, or a CSV with columns mmsi, "
            "timestamp, lat, lon (else pass format= and columns=)",
        )
    return fmt
