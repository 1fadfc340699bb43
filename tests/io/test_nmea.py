"""Tests of the raw NMEA loader, :mod:`caspian_ais.io.nmea`.

Real logs come from ``tests/data/nmea`` (pyais test data, MIT); everything else is
generated here with :func:`pyais.encode.encode_dict` and checked against an independent
:func:`pyais.decode` of the same lines.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence
from functools import reduce
from operator import xor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyais
import pytest
from pyais.encode import encode_dict

from caspian_ais.exceptions import SourceNotFoundError, UnreadableFileError
from caspian_ais.io.nmea import decode_nmea_lines, read_nmea
from caspian_ais.ledger import LEDGER_COLUMNS, rejected_of
from caspian_ais.schema import CANONICAL_DTYPES, REQUIRED_COLUMNS, validate

DATA = Path(__file__).resolve().parent.parent / "data" / "nmea"
T0 = 1_662_000_000  # 2022-09-01 02:40:00 UTC
MMSI_A = 273_345_000
MMSI_B = 273_999_111


# ----------------------------------------------------------------------------- helpers


def _xor(text: str) -> int:
    return reduce(xor, text.encode("ascii"), 0)


def tag(body: str) -> str:
    """A NMEA 4.10 tag block ``\\body*hh\\``; the checksum is the XOR of ``body``."""
    return f"\\{body}*{_xor(body):02X}\\"


def with_checksum(sentence: str) -> str:
    """Replace the checksum of ``!...*hh`` by the correct one (XOR between ``!`` and ``*``)."""
    body = sentence.split("*", 1)[0]
    return f"{body}*{_xor(body[1:]):02X}"


def pos1(mmsi: int = MMSI_A, lat: float = 45.0, lon: float = 50.0, **fields: Any) -> str:
    data = {"type": 1, "mmsi": mmsi, "lat": lat, "lon": lon, "speed": 10.5, "course": 90.0,
            "heading": 92, "status": 0, **fields}
    (sentence,) = encode_dict(data, talker_id="AI", sentence_type="VDM")
    return sentence


def pos18(mmsi: int = MMSI_B, lat: float = 44.0, lon: float = 51.0, **fields: Any) -> str:
    data = {"type": 18, "mmsi": mmsi, "lat": lat, "lon": lon, "speed": 5.2, "course": 180.0,
            "heading": 181, **fields}
    (sentence,) = encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel="B")
    return sentence


def static5(mmsi: int = MMSI_A, seq_id: int = 1, channel: str = "A", **fields: Any) -> list[str]:
    data = {"type": 5, "mmsi": mmsi, "imo": 9_123_456, "shipname": "VOLGA STAR",
            "callsign": "UBCD7", "ship_type": 80, "to_bow": 100, "to_stern": 41,
            "draught": 6.3, "destination": "ASTRAKHAN", **fields}
    sentences = encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel=channel,
                            seq_id=seq_id)
    assert len(sentences) == 2
    return sentences


def at(t: int, sentence: str) -> str:
    """Prefix ``sentence`` with a tag block giving receive time ``t`` (Unix seconds)."""
    return tag(f"s:test,c:{t}") + sentence


def write(tmp_path: Path, lines: Sequence[str], name: str = "log.nmea") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def utc(t: float) -> pd.Timestamp:
    return pd.Timestamp(t, unit="s", tz="UTC")


def cell(frame: pd.DataFrame, row: Any, col: str) -> Any:
    """One value of ``frame`` (typed ``Any`` for mypy)."""
    return frame.loc[row, col]


def by_line(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("source_row")


def ledger_of(table: pd.DataFrame) -> pd.DataFrame:
    return rejected_of(table).set_index("source_row")


# ------------------------------------------------------------------------ real samples


def _expected_from_pyais(path: Path) -> dict[int, dict[str, Any]]:
    """Independent decoding of the single-fragment position lines of a sample file."""
    expected = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        if raw.startswith("!AIVDM,1,1,"):
            msg = pyais.decode(raw, error_if_checksum_invalid=True).asdict()
            if msg["msg_type"] in (1, 2, 3):
                expected[lineno] = msg
    return expected


@pytest.mark.parametrize("name", ["ais_test_messages", "messages.ais", "sample.ais",
                                  "gatehouse.nmea", "timestamped.ais"])
def test_real_samples_decode_like_pyais(name: str) -> None:
    path = DATA / name
    table = read_nmea(str(path))
    validate(table)
    expected = _expected_from_pyais(path)
    assert expected, "the sample should hold plain single-fragment position reports"
    rows = by_line(table)
    for lineno, msg in expected.items():
        row = rows.loc[lineno]
        assert row["mmsi"] == msg["mmsi"]
        assert row["lat"] == pytest.approx(msg["lat"], abs=1e-9)
        assert row["lon"] == pytest.approx(msg["lon"], abs=1e-9)
        assert row["sog_kn"] == pytest.approx(msg["speed"])
        assert row["cog_deg"] == pytest.approx(msg["course"])
        if msg["heading"] == 511:
            assert pd.isna(row["heading_deg"])
        else:
            assert row["heading_deg"] == msg["heading"]
        assert row["nav_status"] == int(msg["status"])
        assert row["ais_class"] == "A"
    assert table["source_file"].astype(str).eq(str(path)).all()


def test_sample_ais_counts_and_ledger() -> None:
    table = read_nmea(str(DATA / "sample.ais"), source_name="sample.ais")
    assert table["source_row"].tolist() == [2, 3, 4, 5, 6, 7, 20, 22]
    ledger = rejected_of(table)
    assert list(ledger.columns) == list(LEDGER_COLUMNS)
    assert ledger["source_file"].eq("sample.ais").all()
    reasons = dict(zip(ledger["source_row"].tolist(), ledger["reason"], strict=True))
    # 10: garbage; 12: no '*hh' checksum; 15, 16: tag block checksums wrong;
    # 17: fragment count 0; 21: $PGHP whose checksum was not updated after an edit
    assert reasons == {n: "corrupt_nmea" for n in (10, 12, 15, 16, 17, 21)}
    details = dict(zip(ledger["source_row"].tolist(), ledger["detail"], strict=True))
    assert "IamNotAnAisMessage1111" in details[10]
    assert "tag block" in details[15]
    assert "$PGHP" in details[21]
    assert table.attrs["nmea_stats"] == {
        "lines": 22, "sentences": 15, "messages": 9, "positions": 8, "static": 1,
        "corrupt": 6, "incomplete": 0, "other_types": 0,
    }


def test_real_two_fragment_type5_is_joined_and_merged(tmp_path: Path) -> None:
    raw = (DATA / "ais_test_messages").read_text().splitlines()
    fragments = [line for line in raw if line.startswith("!AIVDM,2,")]
    assert len(fragments) == 2
    reference: dict[str, Any] = pyais.decode(*fragments).asdict()
    path = write(tmp_path, [*fragments, pos1(mmsi=reference["mmsi"])])
    table = read_nmea(str(path))
    assert table.attrs["nmea_stats"]["static"] == 1
    row = table.iloc[0]
    assert row["source_row"] == 3
    assert row["imo"] == reference["imo"] == 9134270
    assert row["name"] == reference["shipname"] == "EVER DIADEM"
    assert row["callsign"] == reference["callsign"]
    assert row["ship_type"] == int(reference["ship_type"])
    assert row["length_m"] == reference["to_bow"] + reference["to_stern"]
    assert row["draught_m"] == pytest.approx(reference["draught"])
    assert row["destination"] == reference["destination"]


def test_gatehouse_time_applies_to_the_next_sentence_only() -> None:
    table = read_nmea(str(DATA / "gatehouse.nmea"))
    rows = by_line(table)
    assert rows.loc[2, "timestamp"] == pd.Timestamp("2008-05-09 00:00:00.010", tz="UTC")
    # line 6 follows no header (line 1's was used by line 2); line 8 follows the header of
    # line 7, whose checksum is wrong, so it has no time either
    assert rows.loc[[6, 8, 9], "timestamp"].isna().all()
    ledger = ledger_of(table)
    assert ledger.index.tolist() == [7]
    assert ledger.loc[7, "reason"] == "corrupt_nmea"
    # trailing $PGHP lines with no sentence after them are harmless
    assert table.attrs["nmea_stats"]["positions"] == 4


def test_default_time_fills_only_untimed_messages() -> None:
    default = pd.Timestamp("2020-01-02 03:04:05")  # naive: taken as UTC
    table = read_nmea(str(DATA / "gatehouse.nmea"), default_time=default)
    rows = by_line(table)
    assert rows.loc[2, "timestamp"] == pd.Timestamp("2008-05-09 00:00:00.010", tz="UTC")
    assert (rows.loc[[6, 8, 9], "timestamp"] == default.tz_localize("UTC")).all()


# --------------------------------------------------------------- generated positions


def test_positions_with_tag_block_times(tmp_path: Path) -> None:
    lines = [
        "# receiver log",
        at(T0, pos1(lat=45.1, lon=50.2, speed=12.3, course=45.6, heading=47, status=5)),
        "",
        at(T0 + 10, pos18(lat=-44.5, lon=-51.25)),
        tag(f"c:{(T0 + 20) * 1000 + 250}") + pos1(lat=45.2),  # milliseconds
        "$PXYZ,some,proprietary,sentence*00",
    ]
    table = read_nmea(str(write(tmp_path, lines)), source_name="gen.nmea")
    validate(table)
    assert table["source_row"].tolist() == [2, 4, 5]
    assert table["timestamp"].tolist() == [utc(T0), utc(T0 + 10), utc(T0 + 20.25)]
    assert table["mmsi"].tolist() == [MMSI_A, MMSI_B, MMSI_A]
    assert table["ais_class"].tolist() == ["A", "B", "A"]
    first, second = table.iloc[0], table.iloc[1]
    assert (first["lat"], first["lon"]) == (pytest.approx(45.1), pytest.approx(50.2))
    assert (first["sog_kn"], first["cog_deg"], first["heading_deg"]) == (
        pytest.approx(12.3), pytest.approx(45.6), 47.0)
    assert first["nav_status"] == 5
    assert (second["lat"], second["lon"]) == (pytest.approx(-44.5), pytest.approx(-51.25))
    assert pd.isna(cell(table, 1, "nav_status"))  # class B reports have no navigational status
    assert second["heading_deg"] == 181
    for col in REQUIRED_COLUMNS:
        assert str(table[col].dtype) == str(CANONICAL_DTYPES[col])
    assert table["source_file"].astype(str).eq("gen.nmea").all()
    assert len(rejected_of(table)) == 0
    stats = table.attrs["nmea_stats"]
    assert stats["lines"] == 6 and stats["sentences"] == 3 and stats["positions"] == 3


def test_not_available_sentinels_become_missing() -> None:
    sentence = pos1(lat=91.0, lon=181.0, heading=511, speed=102.3, course=360.0)
    decoded = pyais.decode(sentence).asdict()
    assert (decoded["lat"], decoded["lon"], decoded["heading"]) == (91.0, 181.0, 511)
    table = decode_nmea_lines([sentence, pos18(heading=511)])
    assert table.loc[0, ["lat", "lon", "sog_kn", "cog_deg", "heading_deg"]].isna().all()
    assert pd.isna(cell(table, 1, "heading_deg")) and table.loc[1, "lat"] == pytest.approx(44.0)


def test_type2_type3_and_aivdo_are_class_a() -> None:
    (t2,) = encode_dict({"type": 2, "mmsi": MMSI_A, "lat": 40.0, "lon": 50.0})
    (t3,) = encode_dict({"type": 3, "mmsi": MMSI_A, "lat": 41.0, "lon": 50.0},
                        sentence_type="VDO")
    assert t3.startswith("!AIVDO")
    (t4,) = encode_dict({"type": 4, "mmsi": 273_000_001, "lat": 41.0, "lon": 50.0})
    table = decode_nmea_lines([t2, t3, t4])
    assert table["lat"].tolist() == [40.0, 41.0]
    assert table["ais_class"].tolist() == ["A", "A"]
    assert table.attrs["nmea_stats"]["other_types"] == 1  # the base station report


# ------------------------------------------------------------------------ static data


def test_type5_static_fields_merged_latest_at_or_before(tmp_path: Path) -> None:
    first_static = static5(draught=6.3, seq_id=1)
    second_static = static5(draught=8.8, destination="BAKU", seq_id=2)
    lines = [
        at(T0, pos1(lat=45.0)),                      # 1: before any static report
        at(T0 + 100, first_static[0]), first_static[1],  # 2-3
        at(T0 + 290, pos1(lat=45.1)),                # 4: closer to the second report
        at(T0 + 300, second_static[0]), second_static[1],  # 5-6
        at(T0 + 300, pos1(lat=45.2)),                # 7: same time as the second report
        at(T0 + 400, pos1(lat=45.3)),                # 8
        at(T0 + 150, pos1(lat=45.4)),                # 9: late line, time between reports
        at(T0 + 500, pos1(mmsi=MMSI_B, lat=44.0)),   # 10: another vessel, no static data
    ]
    table = read_nmea(str(write(tmp_path, lines)))
    rows = by_line(table)
    assert rows.index.tolist() == [1, 4, 7, 8, 9, 10]
    assert table.attrs["nmea_stats"]["static"] == 2
    assert rows.loc[[1, 4, 7, 8, 9], "imo"].eq(9_123_456).all()
    assert rows.loc[[1, 4, 7, 8, 9], "name"].eq("VOLGA STAR").all()
    assert rows.loc[[1, 4, 7, 8, 9], "callsign"].eq("UBCD7").all()
    assert rows.loc[[1, 4, 7, 8, 9], "ship_type"].eq(80).all()
    assert rows.loc[[1, 4, 7, 8, 9], "length_m"].eq(141.0).all()
    # before the first report: the first values; afterwards: the latest at or before
    assert rows.loc[[1, 4, 9], "draught_m"].tolist() == pytest.approx([6.3, 6.3, 6.3])
    assert rows.loc[[7, 8], "draught_m"].tolist() == pytest.approx([8.8, 8.8])
    assert rows.loc[[1, 4, 9], "destination"].tolist() == ["ASTRAKHAN"] * 3
    assert rows.loc[[7, 8], "destination"].tolist() == ["BAKU", "BAKU"]
    assert rows.loc[10, ["imo", "name", "draught_m", "destination"]].isna().all()


def test_static_merge_without_times_uses_line_order() -> None:
    first_static = static5(draught=6.3, seq_id=3)
    second_static = static5(draught=8.8, seq_id=4)
    lines = [pos1(), *first_static, pos1(), *second_static, pos1()]
    table = decode_nmea_lines(lines)
    assert table["timestamp"].isna().all()
    assert table["source_row"].tolist() == [1, 4, 7]
    assert table["draught_m"].tolist() == pytest.approx([6.3, 6.3, 8.8])


def test_not_available_static_values_do_not_overwrite_known_ones() -> None:
    good = static5(seq_id=1)
    blank = static5(seq_id=2, imo=0, shipname="", callsign="", ship_type=0, to_bow=0,
                    to_stern=0, draught=0.0, destination="")
    table = decode_nmea_lines([*good, *blank, pos1()])
    row = table.iloc[0]
    assert (row["imo"], row["name"], row["callsign"], row["ship_type"]) == (
        9_123_456, "VOLGA STAR", "UBCD7", 80)
    assert (row["length_m"], row["draught_m"], row["destination"]) == (
        141.0, pytest.approx(6.3), "ASTRAKHAN")


def test_class_b_static_from_type24_parts_and_type19() -> None:
    (part_a,) = encode_dict({"type": 24, "mmsi": MMSI_B, "partno": 0, "shipname": "KASPIY"},
                            sentence_type="VDM")
    (part_b,) = encode_dict({"type": 24, "mmsi": MMSI_B, "partno": 1, "ship_type": 37,
                             "callsign": "UAB12", "to_bow": 8, "to_stern": 4},
                            sentence_type="VDM")
    type19 = encode_dict({"type": 19, "mmsi": 273_777_000, "lat": 42.0, "lon": 49.0,
                          "speed": 3.0, "course": 10.0, "heading": 12, "shipname": "ORLAN",
                          "ship_type": 36, "to_bow": 9, "to_stern": 3}, sentence_type="VDM")
    lines = [at(T0, pos18()), at(T0 + 1, part_a), at(T0 + 2, pos18()), at(T0 + 3, part_b),
             at(T0 + 4, pos18()), *[at(T0 + 5, s) for s in type19[:1]], *type19[1:]]
    table = decode_nmea_lines(lines)
    rows = by_line(table)
    stats = table.attrs["nmea_stats"]
    assert stats["static"] == 3 and stats["positions"] == 4
    # per field: name known from line 2, callsign/type/length from line 4; earlier
    # positions get each field's first known value
    assert rows.loc[[1, 3, 5], "name"].tolist() == ["KASPIY"] * 3
    assert rows.loc[[1, 3, 5], "callsign"].tolist() == ["UAB12"] * 3
    assert rows.loc[[1, 3, 5], "ship_type"].tolist() == [37] * 3
    assert rows.loc[[1, 3, 5], "length_m"].tolist() == [12.0] * 3
    assert rows.loc[[1, 3, 5], "imo"].isna().all()
    last = rows.loc[6 if len(type19) == 1 else 7]
    assert (last["mmsi"], last["ais_class"], last["name"], last["ship_type"], last["length_m"]) \
        == (273_777_000, "B", "ORLAN", 36, 12.0)
    assert (last["lat"], last["heading_deg"]) == (pytest.approx(42.0), 12.0)


# ------------------------------------------------------------------- multi-fragment


def test_fragments_are_joined_by_sequence_id_and_channel() -> None:
    a = static5(mmsi=MMSI_A, seq_id=1, channel="A", shipname="ALPHA")
    b = static5(mmsi=MMSI_B, seq_id=1, channel="B", shipname="BRAVO")
    c = static5(mmsi=273_555_000, seq_id=2, channel="A", shipname="CHARLIE")
    lines = [a[0], b[0], c[0], c[1], b[1], a[1],
             pos1(mmsi=MMSI_A), pos1(mmsi=MMSI_B), pos1(mmsi=273_555_000)]
    table = decode_nmea_lines(lines)
    assert table["name"].tolist() == ["ALPHA", "BRAVO", "CHARLIE"]
    assert len(rejected_of(table)) == 0
    assert table.attrs["nmea_stats"]["messages"] == 6


def test_missing_and_orphan_fragments_are_incomplete(tmp_path: Path) -> None:
    lost = static5(seq_id=7)
    orphan = static5(mmsi=MMSI_B, seq_id=8, channel="B")
    superseded = static5(mmsi=MMSI_B, seq_id=9)
    complete = static5(mmsi=MMSI_B, seq_id=9, shipname="SECOND TRY")
    lines = [
        at(T0, lost[0]),                     # 1: its fragment 2 never comes
        at(T0 + 1, pos1()),                  # 2
        orphan[1],                           # 3: fragment 2 without fragment 1
        superseded[0],                       # 4: replaced by a new fragment 1 (line 5)
        complete[0], complete[1],            # 5-6
        at(T0 + 2, pos1(mmsi=MMSI_B)),       # 7
        static5(seq_id=5)[0],                # 8: file ends before fragment 2
    ]
    table = read_nmea(str(write(tmp_path, lines)), source_name="frag.nmea")
    assert table["source_row"].tolist() == [2, 7]
    assert table["name"].isna().tolist() == [True, False]
    assert table.loc[1, "name"] == "SECOND TRY"
    ledger = ledger_of(table)
    assert sorted(ledger.index.tolist()) == [1, 3, 4, 8]
    assert ledger["reason"].eq("incomplete_nmea").all()
    assert ledger.loc[1, "mmsi"] == MMSI_A  # read from the first fragment's payload
    assert ledger.loc[1, "timestamp"] == utc(T0)
    assert ledger.loc[4, "mmsi"] == MMSI_B
    assert "fragment 1 of 2" in cell(ledger, 1, "detail")
    assert "fragment 2 of 2" in cell(ledger, 3, "detail")
    stats = table.attrs["nmea_stats"]
    assert (stats["incomplete"], stats["corrupt"], stats["static"]) == (4, 0, 1)


def test_out_of_order_fragments_are_incomplete() -> None:
    data: dict[str, Any] = {"type": 8, "mmsi": MMSI_A, "dac": 200, "fid": 99,
                            "data": bytes(range(100))}
    one, two, three = encode_dict(data, sentence_type="VDM", seq_id=4)
    in_order = decode_nmea_lines([one, two, three])
    assert in_order.attrs["nmea_stats"]["other_types"] == 1
    assert len(rejected_of(in_order)) == 0
    shuffled = decode_nmea_lines([one, three, two, pos1()])
    ledger = ledger_of(shuffled)
    assert ledger.index.tolist() == [1, 2, 3]
    assert ledger["reason"].eq("incomplete_nmea").all()
    assert "out of order" in cell(ledger, 1, "detail")
    assert shuffled.attrs["nmea_stats"]["other_types"] == 0
    assert shuffled["source_row"].tolist() == [4]


def test_corrupt_fragment_leaves_the_other_incomplete() -> None:
    first, second = static5(seq_id=3)
    broken = second[:-2] + ("00" if not second.endswith("00") else "01")
    table = decode_nmea_lines([first, broken, pos1()])
    ledger = ledger_of(table)
    assert ledger.loc[2, "reason"] == "corrupt_nmea"
    assert ledger.loc[1, "reason"] == "incomplete_nmea"
    assert table["name"].isna().all()


# --------------------------------------------------------------------- bad input


def test_bad_checksums_are_ledgered_with_line_numbers(tmp_path: Path) -> None:
    good = [at(T0 + i, pos1(lat=45.0 + i / 100)) for i in range(6)]
    bad_sentence = pos1(lat=10.0)
    stated = int(bad_sentence[-2:], 16)
    corrupted = bad_sentence[:-2] + f"{(stated + 1) % 256:02X}"
    flipped = good[4].replace(",0*", ",0*", 1)
    flipped = flipped[: flipped.index(",A,") + 5] + "X" + flipped[flipped.index(",A,") + 6:]
    lines = [good[0], good[1], corrupted, good[2], "", good[3], flipped, good[5]]
    table = read_nmea(str(write(tmp_path, lines)))
    assert table["source_row"].tolist() == [1, 2, 4, 6, 8]
    assert table["lat"].tolist() == pytest.approx([45.0, 45.01, 45.02, 45.03, 45.05])
    ledger = ledger_of(table)
    assert ledger.index.tolist() == [3, 7]
    assert ledger["reason"].eq("corrupt_nmea").all()
    assert "checksum" in cell(ledger, 3, "detail") and corrupted in cell(ledger, 3, "detail")
    assert "checksum" in cell(ledger, 7, "detail")
    assert ledger["mmsi"].isna().all()
    assert table.attrs["nmea_stats"]["corrupt"] == 2


def test_garbage_and_undecodable_lines(tmp_path: Path) -> None:
    sentence = pos1()
    payload = sentence.split(",")[5]
    bad_alphabet = with_checksum(sentence.replace(payload, payload[:-1] + "x"))
    truncated = with_checksum(sentence.replace(payload, payload[:15]))
    lines = [
        "hello world",                                         # 1
        "!AIVDM,garbage",                                      # 2
        bad_alphabet,                                          # 3 (valid checksum)
        truncated,                                             # 4 (valid checksum)
        with_checksum("!AIVDM,1,1,,A,,0*00"),                  # 5 empty payload
        tag("c:notanumber") + pos1(),                          # 6
        "\\c:1662000000*00\\" + pos1(),                        # 7 tag block checksum
        "x" * 500,                                             # 8 long garbage
        with_checksum("!AIALR,120000,001,A,V,Alarm*00"),       # 9 other NMEA: skipped
        "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",  # 10 skipped
        "   # indented comment",                               # 11 skipped
        pos1(lat=40.0),                                        # 12 the only good one
        "\xe9\xe8 non-ascii",                                  # 13
    ]
    path = tmp_path / "garbage.nmea"
    path.write_bytes("\n".join(lines).encode("latin-1"))
    table = read_nmea(str(path))
    assert table["source_row"].tolist() == [12]
    ledger = ledger_of(table)
    assert ledger.index.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 13]
    assert ledger["reason"].eq("corrupt_nmea").all()
    assert "6-bit" in cell(ledger, 3, "detail")
    assert "bits" in cell(ledger, 4, "detail")
    assert "tag block" in cell(ledger, 7, "detail")
    assert len(cell(ledger, 8, "detail")) < 300  # the line is truncated to 200 characters
    stats = table.attrs["nmea_stats"]
    assert (stats["lines"], stats["sentences"], stats["corrupt"]) == (13, 11, 9)


def test_errors_raise_names_the_first_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path, [pos1(), "# fine", pos1()[:-2] + "00", "junk"])
    with pytest.raises(UnreadableFileError) as info:
        read_nmea(str(path), errors="raise")
    message = str(info.value)
    assert message.startswith(f"{path}: line 3: ")
    assert "checksum" in message and "expected" in message
    assert info.value.path == str(path)
    with pytest.raises(UnreadableFileError, match=r"^archive\.zip:log\.nmea: line 3: "):
        read_nmea(str(path), errors="raise", source_name="archive.zip:log.nmea")


def test_errors_raise_on_incomplete_message(tmp_path: Path) -> None:
    path = write(tmp_path, [pos1(), static5()[0], pos1()])
    with pytest.raises(UnreadableFileError, match=r"line 2: fragment 1 of 2 .*expected all"):
        read_nmea(str(path), errors="raise")
    # the same file loads with errors="ledger"
    assert len(read_nmea(str(path))) == 2


def test_errors_argument_is_checked() -> None:
    with pytest.raises(ValueError, match="errors"):
        decode_nmea_lines([pos1()], errors="ignore")


def test_out_of_range_tag_time_is_nat_without_fallback() -> None:
    # 12415440354 s is in the year 2363, beyond datetime64[ns]
    lines = [tag("c:12415440354") + pos1(), pos1()]
    table = decode_nmea_lines(lines, default_time=pd.Timestamp("2021-01-01", tz="UTC"))
    assert pd.isna(cell(table, 0, "timestamp"))
    assert table.loc[1, "timestamp"] == pd.Timestamp("2021-01-01", tz="UTC")


# ------------------------------------------------------------------- files and shapes


def test_gzip_and_zstd_files(tmp_path: Path) -> None:
    lines = [at(T0, pos1()), *static5(), at(T0 + 1, pos18())]
    text = ("\n".join(lines) + "\n").encode()
    gz = tmp_path / "log.nmea.gz"
    gz.write_bytes(gzip.compress(text))
    plain = read_nmea(str(write(tmp_path, lines)))
    from_gz = read_nmea(gz, source_name="x.gz")
    pd.testing.assert_frame_equal(plain.drop(columns="source_file"),
                                  from_gz.drop(columns="source_file"))
    assert from_gz["source_file"].astype(str).eq("x.gz").all()
    zstandard = pytest.importorskip("zstandard")
    zst = tmp_path / "log.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(text))
    pd.testing.assert_frame_equal(plain.drop(columns="source_file"),
                                  read_nmea(str(zst)).drop(columns="source_file"))
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(text * 50)[:200])
    with pytest.raises(UnreadableFileError, match="decompress"):
        read_nmea(str(broken))


def test_missing_file() -> None:
    with pytest.raises(SourceNotFoundError):
        read_nmea("/nonexistent/dir/log.nmea")


def test_empty_input_gives_empty_canonical_table(tmp_path: Path) -> None:
    table = read_nmea(str(write(tmp_path, ["# nothing here", ""])))
    validate(table)
    assert len(table) == 0
    assert {"name", "imo", "ais_class", "source_file", "source_row"} <= set(table.columns)
    assert table.attrs["nmea_stats"]["lines"] == 2
    assert len(rejected_of(table)) == 0


def test_many_messages_keep_file_order_and_values() -> None:
    rng = np.random.default_rng(7)
    lats = np.round(rng.uniform(36, 47, 300), 4)
    lons = np.round(rng.uniform(46, 55, 300), 4)
    mmsis = 273_000_000 + rng.integers(0, 20, 300)
    lines = [at(T0 + i, pos1(mmsi=int(m), lat=float(a), lon=float(o)))
             for i, (m, a, o) in enumerate(zip(mmsis, lats, lons, strict=True))]
    table = decode_nmea_lines(lines)
    assert table["source_row"].tolist() == list(range(1, 301))
    assert table["mmsi"].tolist() == mmsis.tolist()
    np.testing.assert_allclose(table["lat"], lats, atol=1e-5)
    np.testing.assert_allclose(table["lon"], lons, atol=1e-5)
    expected_t = pd.to_datetime(T0 + np.arange(300), unit="s", utc=True)
    assert (table["timestamp"].to_numpy() == expected_t.to_numpy()).all()
    assert not math.isnan(table["sog_kn"].sum())
