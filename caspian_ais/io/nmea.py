"""Read raw AIS NMEA 0183 logs (``!AIVDM`` / ``!AIVDO`` sentences) into the canonical table.

The payloads are decoded by :mod:`pyais`; this module adds what an analysis needs on top
of it: line numbers, receive times, a ledger of the lines that could not be used, and the
static data of each vessel merged onto its positions.

What is read
------------
* ``!xxVDM`` / ``!xxVDO`` sentences of any talker (``AI``, ``BS``, ``SA``, ...), plain,
  gzip (``.gz``) or Zstandard (``.zst``) compressed (detected from the file's magic
  bytes, not its name). Multi-sentence messages are joined on (sequence id, channel,
  talker, sentence type, fragment count), like :mod:`pyais` does.
* NMEA 4.10 tag blocks ``\\s:station,c:1700000000*hh\\!AIVDM,...``; ``c:`` is the
  receive time in Unix seconds, or milliseconds when larger than ``1e11``.
* Gatehouse ``$PGHP,1,YYYY,M,D,h,m,s,ms,...`` headers: the time applies to the next AIS
  sentence (the first fragment of the next message), as in :mod:`pyais`.
* Blank lines, ``#`` comments and other ``$`` sentences are not data and are skipped.

Timestamps
----------
Each message gets, in this order of preference: the ``c:`` time of its tag block (the
first fragment that has one), else the time of the ``$PGHP`` line before it, else
``default_time``, else ``NaT``. A ``c:`` value outside the range pandas can represent
(years 1677-2262) gives ``NaT`` without falling back. Rows with ``NaT`` are left in the
table; :func:`caspian_ais.clean` ledgers them as ``unparseable_timestamp``.

Static data
-----------
Types 1, 2, 3 (Class A) and 18, 19 (Class B) become position rows. The static fields of
types 5, 24 (parts A and B) and 19 are merged onto the positions of the same MMSI, field by
field: a position gets, for each field, the latest value known at or before its time
(:func:`pandas.merge_asof` by MMSI). A position earlier than the first value of a field
gets that first value, so that every position of a vessel seen with static data carries
it (a vessel's name and IMO number rarely change, and a log often starts mid-voyage).
Positions without a timestamp are matched by line order instead. "Not available" values
(IMO 0, ship type 0, length 0, draught 0, empty text) never overwrite a known value.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
from collections.abc import Iterable
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from pyais.exceptions import UnknownMessageException
from pyais.messages import AISSentence, GatehouseSentence, NMEASentenceFactory
from pyais.util import compute_checksum

from caspian_ais.exceptions import SourceNotFoundError, UnreadableFileError
from caspian_ais.ledger import attach_rejected, make_ledger
from caspian_ais.schema import to_canonical

__all__ = ["read_nmea", "decode_nmea_lines"]

_NAT_NS: int = int(np.iinfo(np.int64).min)  # the int64 value of NaT
_MIN_NS: int = pd.Timestamp.min.value
_MAX_NS: int = pd.Timestamp.max.value
_EPOCH = dt.datetime(1970, 1, 1)
_HASH, _DOLLAR, _BANG, _BACKSLASH = b"#"[0], b"$"[0], b"!"[0], b"\\"[0]
#: The 64 characters of the AIS 6-bit payload armour ("0"-"W" and "`"-"w").
_ARMOUR = bytes(range(48, 88)) + bytes(range(96, 120))
#: Position report types (1-3 Class A, 18-19 Class B) and the payload bits each needs to
#: hold every field read here (up to the heading).
_MIN_POSITION_BITS = {1: 137, 2: 137, 3: 137, 18: 133, 19: 133}
_STATIC_FIELDS = ("imo", "name", "callsign", "ship_type", "length_m", "draught_m", "destination")
_TEXT_FIELDS = ("name", "callsign", "destination")
_MAX_DETAIL = 200
_FRAMING = "!xxVDM,<count>,<number>,<sequence id>,<channel>,<payload>,<fill bits>*hh"


class _BadLine(Exception):
    """A line that cannot be used: ``problem`` is what is wrong, ``expected`` what was due."""

    def __init__(self, problem: str, expected: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.expected = expected


class _Rejects:
    """Collects rejected lines, or raises on the first one when ``errors="raise"``."""

    def __init__(self, source: str, raise_errors: bool, path: str) -> None:
        self.source = source
        self.raise_errors = raise_errors
        self.path = path
        self.rows: list[int] = []
        self.mmsi: list[int | None] = []
        self.time_ns: list[int] = []
        self.reasons: list[str] = []
        self.details: list[str] = []
        self.corrupt = 0
        self.incomplete = 0

    def add(self, lineno: int, reason: str, problem: str, expected: str, line: bytes,
            mmsi: int | None = None, time_ns: int = _NAT_NS) -> None:
        if self.raise_errors:
            raise UnreadableFileError(self.path, f"line {lineno}: {problem}; expected {expected}")
        text = line.decode("ascii", "backslashreplace")
        if len(text) > _MAX_DETAIL:
            text = text[:_MAX_DETAIL] + "..."
        self.rows.append(lineno)
        self.mmsi.append(mmsi)
        self.time_ns.append(time_ns)
        self.reasons.append(reason)
        self.details.append(f"{problem}: {text}")
        if reason == "corrupt_nmea":
            self.corrupt += 1
        else:
            self.incomplete += 1

    def ledger(self) -> pd.DataFrame:
        rows = pd.DataFrame({
            "source_row": np.asarray(self.rows, dtype=np.int64),
            "mmsi": pd.array(self.mmsi, dtype="Int64"),
            "timestamp": _ns_to_utc(np.asarray(self.time_ns, dtype=np.int64)),
        })
        return make_ledger(rows, reason=np.asarray(self.reasons, dtype=object),
                           detail=np.asarray(self.details, dtype=object),
                           source_file=self.source)


class _Pending:
    """Fragments of a multi-sentence message received so far."""

    __slots__ = ("parts", "lines", "linenos", "time_ns", "has_time")

    def __init__(self, part: AISSentence, line: bytes, lineno: int, time_ns: int,
                 has_time: bool) -> None:
        self.parts = [part]
        self.lines = [line]
        self.linenos = [lineno]
        self.time_ns = time_ns
        self.has_time = has_time


def _ns_to_utc(ns: np.ndarray) -> pd.Series:
    """int64 nanoseconds since the epoch (``_NAT_NS`` = missing) to a UTC datetime Series."""
    return pd.Series(ns.view("datetime64[ns]")).dt.tz_localize("UTC")


def _epoch_text_to_ns(text: str) -> int:
    """Tag-block ``c:`` value (Unix seconds, or milliseconds above 1e11) to nanoseconds.

    Raises ``ValueError`` for text that is not a number; returns ``_NAT_NS`` for a number
    outside the range of ``datetime64[ns]``.
    """
    value = float(text)
    if value != value:  # NaN
        raise ValueError(text)
    seconds = value / 1000.0 if abs(value) > 1e11 else value
    if not (-9.2e9 < seconds < 9.2e9):
        return _NAT_NS
    if text.isdigit():  # exact integer arithmetic for the usual case
        ns = int(text) * (1_000_000 if abs(value) > 1e11 else 1_000_000_000)
    else:
        ns = round(seconds * 1e9)
    return ns if _MIN_NS <= ns <= _MAX_NS else _NAT_NS


def _gatehouse_ns(line: bytes) -> int:
    """Time of a ``$PGHP,1,...`` line in nanoseconds; raises :class:`_BadLine`."""
    try:
        sentence = NMEASentenceFactory.produce(line)
    except Exception as exc:  # pyais raises several types for malformed input
        raise _BadLine(f"malformed Gatehouse $PGHP header ({exc})",
                       "$PGHP,1,YYYY,M,D,h,m,s,ms,country,region,pss,online*hh") from None
    if not isinstance(sentence, GatehouseSentence):
        raise _BadLine("unrecognised $PGHP sentence", "$PGHP,1,YYYY,M,D,h,m,s,ms,...*hh")
    if not sentence.is_valid:
        raise _BadLine(
            f"Gatehouse $PGHP checksum mismatch (stated {sentence.checksum:02X}, "
            f"computed {compute_checksum(sentence.raw):02X})",
            "a valid NMEA checksum")
    ns = (sentence.timestamp - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    return ns if _MIN_NS <= ns <= _MAX_NS else _NAT_NS


def _is_other_nmea(line: bytes) -> bool:
    """True for a well-formed, checksummed NMEA sentence that is not AIS (``!AIALR``...)."""
    if line[0] == _BACKSLASH:
        end = line.find(b"\\", 1)
        line = line[end + 1:] if end > 0 else b""
    if len(line) < 4 or line[0] not in (_BANG, _DOLLAR) or b"*" not in line:
        return False
    stated = line.rsplit(b"*", 1)[1].strip()
    try:
        return int(stated, 16) == compute_checksum(line)
    except ValueError:
        return False


def _open(path: str) -> BinaryIO:
    """Open ``path`` for reading bytes, decompressing gzip or Zstandard transparently."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise SourceNotFoundError(path, "no such file; expected an NMEA log") from None
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot open ({exc.strerror or exc})") from None
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
        return io.BufferedReader(reader)
    return open(path, "rb")


def read_nmea(
    path: str | os.PathLike[str],
    *,
    source_name: str | None = None,
    errors: str = "ledger",
    default_time: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Read an AIS NMEA 0183 log into the canonical table.

    Every ``!AIVDM``/``!AIVDO`` position report (types 1, 2, 3, 18, 19) becomes a row,
    with the static and voyage data (types 5, 19, 24) of the same MMSI merged on. See the
    module documentation for how receive times and static data are assigned.

    Parameters
    ----------
    path : str or os.PathLike
        The log: plain text, gzip or Zstandard compressed, one sentence per line,
        optionally with NMEA 4.10 tag blocks or Gatehouse ``$PGHP`` headers.
    source_name : str, optional
        Name to record in ``source_file`` and in the ledger, and to give in error messages
        (default: ``path``); e.g. ``"archive.zip:day1.nmea"`` for a file extracted to a
        temporary path.
    errors : {"ledger", "raise"}, default "ledger"
        ``"ledger"``: lines with a bad checksum, bad framing or an undecodable payload
        are recorded as ``corrupt_nmea``, fragments of messages whose other fragments
        never arrive as ``incomplete_nmea``, and reading goes on. ``"raise"``: the first
        such line raises :class:`~caspian_ais.exceptions.UnreadableFileError`.
    default_time : pandas.Timestamp, optional
        Time for messages that have neither a tag-block ``c:`` time nor a ``$PGHP``
        header (naive values are taken as UTC). Without it they get ``NaT``.

    Returns
    -------
    pandas.DataFrame
        The canonical table in file order, with the static columns and ``ais_class``
        ("A" for types 1-3, "B" for 18/19), ``source_file`` and ``source_row`` (the
        1-based line number of the sentence, of the last fragment for joined messages).
        ``attrs["rejected_rows"]`` holds the ledger of rejected lines (see
        :func:`caspian_ais.ledger.rejected_of`) and ``attrs["nmea_stats"]`` the counts:
        ``lines`` (all lines), ``sentences`` (lines that are neither blank, comments nor
        ``$`` sentences), ``messages`` (complete AIS messages decoded), ``positions``
        (position rows, types 1/2/3/18/19), ``static`` (static reports, types 5/19/24;
        type 19 counts as both), ``corrupt`` and ``incomplete`` (ledgered lines, a corrupt
        ``$PGHP`` header included) and ``other_types`` (messages of other types).

    Raises
    ------
    SourceNotFoundError
        ``path`` does not exist.
    UnreadableFileError
        The file cannot be read or decompressed, or ``errors="raise"`` and a line is bad
        (the message names ``source_name`` or ``path`` and the line number).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from caspian_ais.io.nmea import read_nmea
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "ais.nmea"
    >>> sentence = "\\\\c:1662000000*5A\\\\!AIVDM,1,1,,B,15NBj>PP1gG>1PVKTDTUJOv00<0M,0*09"
    >>> _ = log.write_text("# a comment\\n" + sentence + "\\n")
    >>> t = read_nmea(log)
    >>> row = t.iloc[0]
    >>> int(row.mmsi), float(row.lat), float(row.lon), row.ais_class, int(row.source_row)
    (367309370, 48.177737, -122.765622, 'A', 2)
    >>> row.timestamp
    Timestamp('2022-09-01 02:40:00+0000', tz='UTC')
    """
    path = os.fspath(path)
    source = source_name if source_name is not None else path
    fh = _open(path)
    try:
        return _decode(fh, source=source, errors=errors, default_time=default_time,
                       path=source)
    finally:
        fh.close()


def decode_nmea_lines(
    lines: Iterable[str | bytes],
    *,
    source_name: str = "<lines>",
    errors: str = "ledger",
    default_time: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Decode NMEA lines held in memory, exactly as :func:`read_nmea` decodes a file.

    Parameters
    ----------
    lines : iterable of str or bytes
        One sentence (with optional tag block) per item; ``source_row`` counts items
        from 1.
    source_name : str, default "<lines>"
        Name to record in ``source_file``, the ledger and error messages.
    errors : {"ledger", "raise"}, default "ledger"
        As in :func:`read_nmea`.
    default_time : pandas.Timestamp, optional
        As in :func:`read_nmea`.

    Returns
    -------
    pandas.DataFrame
        The canonical table, as returned by :func:`read_nmea`.

    Examples
    --------
    >>> from caspian_ais.io.nmea import decode_nmea_lines
    >>> t = decode_nmea_lines(["!AIVDM,1,1,,B,15NBj>PP1gG>1PVKTDTUJOv00<0M,0*09", "junk"])
    >>> t.attrs["nmea_stats"]["positions"], t.attrs["nmea_stats"]["corrupt"]
    (1, 1)
    """
    encoded = (x.encode("utf-8", "backslashreplace") if isinstance(x, str) else x for x in lines)
    return _decode(encoded, source=source_name, errors=errors, default_time=default_time,
                   path=source_name)


def _default_ns(default_time: Any) -> int:
    if default_time is None:
        return _NAT_NS
    ts = pd.Timestamp(default_time)
    if ts is pd.NaT:
        return _NAT_NS
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def _decode(
    lines: Iterable[bytes],
    *,
    source: str,
    errors: str,
    default_time: Any,
    path: str,
) -> pd.DataFrame:
    """Decode ``lines``; the engine behind :func:`read_nmea` and :func:`decode_nmea_lines`.

    ``source`` is recorded in the table and the ledger, ``path`` named in exceptions.
    """
    if errors not in ("ledger", "raise"):
        raise ValueError(f"errors must be 'ledger' or 'raise', got {errors!r}")
    default_ns = _default_ns(default_time)
    rejects = _Rejects(source, raise_errors=errors == "raise", path=path)
    bad = rejects.add
    produce = NMEASentenceFactory.produce
    armour = _ARMOUR
    min_bits = _MIN_POSITION_BITS

    # position columns
    p_mmsi: list[int] = []
    p_time: list[int] = []
    p_lat: list[float] = []
    p_lon: list[float] = []
    p_sog: list[float] = []
    p_cog: list[float] = []
    p_head: list[int] = []
    p_status: list[int] = []
    p_type: list[int] = []
    p_line: list[int] = []
    # static columns
    s_mmsi: list[int] = []
    s_time: list[int] = []
    s_line: list[int] = []
    s_imo: list[float] = []
    s_name: list[str | None] = []
    s_call: list[str | None] = []
    s_type: list[float] = []
    s_len: list[float] = []
    s_draught: list[float] = []
    s_dest: list[str | None] = []
    nan = float("nan")

    pending: dict[tuple[Any, ...], _Pending] = {}
    n_lines = n_sentences = n_messages = n_other = 0
    gatehouse_ns: int | None = None
    lineno = 0

    def abandon(key: tuple[Any, ...], why: str) -> None:
        """Ledger the buffered fragments of ``pending[key]`` as incomplete."""
        group = pending.pop(key)
        first = group.parts[0]
        count = first.frag_cnt
        mmsi = first.bv.get(8, 30) if first.frag_num == 1 and len(first.bv) >= 38 else None
        seq = "" if first.seq_id is None else first.seq_id
        for part, raw_line, part_lineno in zip(group.parts, group.lines, group.linenos,
                                               strict=True):
            bad(part_lineno, "incomplete_nmea",
                f"fragment {part.frag_num} of {count} (sequence id {seq!s}, channel "
                f"{first.channel}): {why}",
                "all fragments of a multi-sentence message", raw_line, mmsi,
                group.time_ns if group.has_time else _NAT_NS)

    try:
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line:
                continue
            first_byte = line[0]
            if first_byte == _HASH:
                continue
            if first_byte == _DOLLAR:
                if line[1:5] == b"PGHP":
                    try:
                        gatehouse_ns = _gatehouse_ns(line)
                    except _BadLine as exc:
                        gatehouse_ns = None
                        bad(lineno, "corrupt_nmea", exc.problem, exc.expected, line)
                continue
            n_sentences += 1
            gh_ns, gatehouse_ns = gatehouse_ns, None  # a $PGHP header applies to one sentence
            if first_byte != _BANG and first_byte != _BACKSLASH:
                bad(lineno, "corrupt_nmea", "not an NMEA sentence",
                    "an AIS sentence starting with '!' or a tag block starting with '\\'", line)
                continue
            try:
                s = produce(line)
            except UnknownMessageException:
                if not _is_other_nmea(line):
                    bad(lineno, "corrupt_nmea", "not an AIS VDM/VDO sentence", _FRAMING, line)
                continue
            except Exception as exc:  # pyais raises several types for malformed input
                bad(lineno, "corrupt_nmea", f"bad framing ({exc})", _FRAMING, line)
                continue
            if not isinstance(s, AISSentence):  # a tag block in front of a $PGHP
                continue
            if not s.is_valid:
                if s.checksum < 0:
                    bad(lineno, "corrupt_nmea", "missing or malformed '*hh' checksum",
                        _FRAMING, line)
                else:
                    bad(lineno, "corrupt_nmea",
                        f"checksum mismatch (stated {s.checksum:02X}, computed "
                        f"{compute_checksum(s.raw):02X})", "a valid NMEA checksum", line)
                continue
            time_ns = _NAT_NS
            has_time = False
            tb = s.tag_block
            if tb is not None:
                tb.init()
                if not tb.is_valid:
                    problem = (
                        f"tag block checksum mismatch (stated {tb.expected_checksum:02X}, "
                        f"computed {tb.actual_checksum:02X})" if tb.expected_checksum >= 0
                        else "malformed tag block (no '*hh' checksum)")
                    bad(lineno, "corrupt_nmea", problem,
                        "\\<code>:<value>,...*hh\\ with a valid checksum", line)
                    continue
                c_time = tb.receiver_timestamp
                if c_time is not None:
                    try:
                        time_ns = _epoch_text_to_ns(c_time)
                    except ValueError:
                        bad(lineno, "corrupt_nmea", f"tag block time c:{c_time} is not a number",
                            "c:<Unix seconds or milliseconds>", line)
                        continue
                    has_time = True
            if not has_time and gh_ns is not None:
                time_ns = gh_ns
                has_time = True
            payload = s.payload
            if not payload:
                bad(lineno, "corrupt_nmea", "empty payload", "an AIS payload", line)
                continue
            if payload.translate(None, armour):
                bad(lineno, "corrupt_nmea", "payload has characters outside the AIS 6-bit "
                    "alphabet", "payload characters 0-W and `-w", line)
                continue

            if s.frag_cnt > 1:
                key = (s.seq_id, s.channel, s.talker_id, s.type, s.frag_cnt)
                group = pending.get(key)
                if s.frag_num == 1:
                    if group is not None:
                        abandon(key, "a new fragment 1 arrived before the message was complete")
                    pending[key] = _Pending(s, line, lineno, time_ns, has_time)
                    continue
                if group is None:
                    seq = "" if s.seq_id is None else s.seq_id
                    bad(lineno, "incomplete_nmea",
                        f"fragment {s.frag_num} of {s.frag_cnt} (sequence id {seq!s}, channel "
                        f"{s.channel}) without the fragments before it",
                        "all fragments of a multi-sentence message", line,
                        None, time_ns if has_time else _NAT_NS)
                    continue
                group.parts.append(s)
                group.lines.append(line)
                group.linenos.append(lineno)
                if s.frag_num != len(group.parts):
                    abandon(key, "the fragments arrived out of order")
                    continue
                if s.frag_num < s.frag_cnt:
                    continue
                del pending[key]
                if not group.has_time and has_time:
                    group.time_ns, group.has_time = time_ns, True
                time_ns, has_time = group.time_ns, group.has_time
                s = AISSentence.assemble_from_iterable(group.parts)
                line = b" ".join(group.lines)

            if not has_time:
                time_ns = default_ns
            ais_id = s.ais_id
            if ais_id in min_bits:
                nbits = len(s.bv)
                if nbits < min_bits[ais_id]:
                    bad(lineno, "corrupt_nmea", f"type {ais_id} payload has only {nbits} bits",
                        f"at least {min_bits[ais_id]} bits", line)
                    continue
                try:
                    m: Any = s.decode()
                except Exception as exc:  # pyais raises several types
                    bad(lineno, "corrupt_nmea", f"undecodable payload ({exc})",
                        "a decodable AIS payload", line)
                    continue
                n_messages += 1
                mmsi = m.mmsi
                p_mmsi.append(mmsi)
                p_time.append(time_ns)
                p_lat.append(m.lat)
                p_lon.append(m.lon)
                p_sog.append(m.speed)
                p_cog.append(m.course)
                p_head.append(m.heading)
                p_status.append(m.status if ais_id <= 3 else -1)
                p_type.append(ais_id)
                p_line.append(lineno)
                if ais_id == 19:
                    s_mmsi.append(mmsi)
                    s_time.append(time_ns)
                    s_line.append(lineno)
                    s_imo.append(nan)
                    s_name.append(m.shipname)  # a short payload gives None for these
                    s_call.append(None)
                    s_type.append(nan if m.ship_type is None else int(m.ship_type))
                    s_len.append(nan if m.to_stern is None else m.to_bow + m.to_stern)
                    s_draught.append(nan)
                    s_dest.append(None)
            elif ais_id == 5 or ais_id == 24:
                try:
                    m = s.decode()
                except Exception as exc:  # pyais raises several types
                    bad(lineno, "corrupt_nmea", f"undecodable payload ({exc})",
                        "a decodable AIS payload", line)
                    continue
                n_messages += 1
                s_mmsi.append(m.mmsi)
                s_time.append(time_ns)
                s_line.append(lineno)
                if ais_id == 5:
                    s_imo.append(nan if m.imo is None else m.imo)
                    s_name.append(m.shipname)
                    s_call.append(m.callsign)
                    s_type.append(nan if m.ship_type is None else int(m.ship_type))
                    s_len.append(nan if m.to_stern is None else m.to_bow + m.to_stern)
                    s_draught.append(nan if m.draught is None else m.draught)
                    s_dest.append(m.destination)
                elif m.partno == 0:
                    s_imo.append(nan)
                    s_name.append(m.shipname)
                    s_call.append(None)
                    s_type.append(nan)
                    s_len.append(nan)
                    s_draught.append(nan)
                    s_dest.append(None)
                else:
                    to_stern = getattr(m, "to_stern", None)  # absent for auxiliary craft
                    s_imo.append(nan)
                    s_name.append(None)
                    s_call.append(m.callsign)
                    s_type.append(nan if m.ship_type is None else int(m.ship_type))
                    s_len.append(nan if to_stern is None else m.to_bow + to_stern)
                    s_draught.append(nan)
                    s_dest.append(None)
            else:
                n_messages += 1
                n_other += 1
        n_lines = lineno
        for key in list(pending):
            abandon(key, "the input ended before the message was complete")
    except (OSError, EOFError) as exc:
        raise UnreadableFileError(
            path,
            f"line {lineno + 1}: cannot read or decompress ({exc}); expected a complete "
            "plain, gzip or Zstandard file") from None
    except Exception as exc:
        if type(exc).__module__.startswith("zstandard"):
            raise UnreadableFileError(
                path,
                f"line {lineno + 1}: cannot decompress ({exc}); expected a complete Zstandard "
                "file") from None
        raise

    positions = pd.DataFrame({
        "mmsi": np.asarray(p_mmsi, dtype=np.int64),
        "t": np.asarray(p_time, dtype=np.int64),
        "line": np.asarray(p_line, dtype=np.int64),
    })
    statics = pd.DataFrame({
        "mmsi": np.asarray(s_mmsi, dtype=np.int64),
        "t": np.asarray(s_time, dtype=np.int64),
        "line": np.asarray(s_line, dtype=np.int64),
        "imo": np.asarray(s_imo, dtype=np.float64),
        "name": pd.Series(s_name, dtype=object),
        "callsign": pd.Series(s_call, dtype=object),
        "ship_type": np.asarray(s_type, dtype=np.float64),
        "length_m": np.asarray(s_len, dtype=np.float64),
        "draught_m": np.asarray(s_draught, dtype=np.float64),
        "destination": pd.Series(s_dest, dtype=object),
    })
    static_values = _merge_static(positions, _clean_static(statics))

    status = np.asarray(p_status, dtype=np.int16)
    ais_type = np.asarray(p_type, dtype=np.int64)
    table = pd.DataFrame({
        "mmsi": positions["mmsi"],
        "timestamp": _ns_to_utc(positions["t"].to_numpy()),
        "lat": np.asarray(p_lat, dtype=np.float64),
        "lon": np.asarray(p_lon, dtype=np.float64),
        "sog_kn": np.asarray(p_sog, dtype=np.float64),
        "cog_deg": np.asarray(p_cog, dtype=np.float64),
        "heading_deg": np.asarray(p_head, dtype=np.float64),
        "nav_status": pd.array(status, dtype="Int16").copy(),
    })
    table.loc[status < 0, "nav_status"] = pd.NA
    for col in _STATIC_FIELDS:
        table[col] = static_values[col].to_numpy()
    table["ais_class"] = np.where(ais_type <= 3, "A", "B").astype(object)
    out = to_canonical(table, source_file=source)
    # line numbers, set after to_canonical so as not to depend on how it coerces them
    out["source_row"] = positions["line"].to_numpy()
    attach_rejected(out, rejects.ledger())
    out.attrs["nmea_stats"] = {
        "lines": n_lines,
        "sentences": n_sentences,
        "messages": n_messages,
        "positions": len(p_mmsi),
        "static": len(s_mmsi),
        "corrupt": rejects.corrupt,
        "incomplete": rejects.incomplete,
        "other_types": n_other,
    }
    return out


def _clean_static(statics: pd.DataFrame) -> pd.DataFrame:
    """Turn "not available" static values into missing ones, so they never win a merge."""
    st = statics
    st["imo"] = st["imo"].where((st["imo"] >= 1_000_000) & (st["imo"] <= 9_999_999))
    for col in ("ship_type", "length_m", "draught_m"):
        st[col] = st[col].where(st[col] > 0)
    for col in _TEXT_FIELDS:
        text = st[col]
        st[col] = text.where(text.notna() & (text != ""), None)
    return st


def _merge_static(positions: pd.DataFrame, statics: pd.DataFrame) -> pd.DataFrame:
    """Static fields for each position (see the module documentation), aligned on its index.

    ``positions`` has ``mmsi``, ``t`` (int64 ns, ``_NAT_NS`` when unknown) and ``line``;
    ``statics`` the same plus the static fields. Vectorised: one ``merge_asof`` by MMSI on
    time for positions with a time, one on line number for those without, then a backfill
    from each MMSI's first known values.
    """
    fields = list(_STATIC_FIELDS)
    result = statics.iloc[:0][fields].reindex(positions.index)
    if positions.empty or statics.empty:
        return result
    pos_timed = positions["t"].to_numpy() != _NAT_NS
    st_timed = statics["t"].to_numpy() != _NAT_NS
    pieces = []
    for key, pos_mask, st_mask in (("t", pos_timed, st_timed),
                                   ("line", ~pos_timed, np.ones(len(statics), dtype=bool))):
        if not pos_mask.any() or not st_mask.any():
            continue
        right = statics.loc[st_mask].sort_values(list(dict.fromkeys([key, "line"])),
                                                 kind="stable")
        # the state of each vessel after each static report: latest known value per field
        right[fields] = right.groupby("mmsi", sort=False)[fields].ffill()
        left = positions.loc[pos_mask, ["mmsi", key]].reset_index(names="_pos")
        left = left.sort_values(key, kind="stable")
        merged = pd.merge_asof(left, right[["mmsi", key, *fields]], on=key, by="mmsi",
                               direction="backward", allow_exact_matches=True)
        pieces.append(merged.set_index("_pos")[fields])
    if pieces:
        result = pd.concat(pieces).reindex(positions.index)
    # fields not known yet at a position's time: the vessel's first known value
    order_t = np.where(statics["t"].to_numpy() == _NAT_NS, np.iinfo(np.int64).max,
                       statics["t"].to_numpy())
    first = (statics.assign(_order=order_t).sort_values(["_order", "line"], kind="stable")
             .groupby("mmsi", sort=False)[fields].first())
    fill = first.reindex(positions["mmsi"].to_numpy()).set_axis(positions.index)
    for col in fields:
        result[col] = result[col].where(result[col].notna(), fill[col])
    return result
