"""Tests for caspian_ais.flags: MID extraction, flag states and the ITU MID table."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from caspian_ais.flags import flag_state_from_mmsi, is_ship_mmsi, mid_of, mid_table

CASPIAN = {273: "RU", 422: "IR", 436: "KZ", 423: "AZ", 434: "TM"}


# --------------------------------------------------------------------------- mid_of


@pytest.mark.parametrize(
    ("mmsi", "mid", "kind"),
    [
        (273123456, 273, "ship MIDXXXXXX"),
        (201000000, 201, "ship, lowest MID"),
        (775999999, 775, "ship, highest MID"),
        (27312345, 273, "group 0MIDXXXXX"),
        (42299999, 422, "group 0MIDXXXXX"),
        (2731234, 273, "coast station 00MIDXXXX"),
        (4360001, 436, "coast station 00MIDXXXX"),
        (111273123, 273, "SAR aircraft 111MIDXXX"),
        (111423001, 423, "SAR aircraft 111MIDXXX"),
        (982731234, 273, "craft associated with a parent ship 98MIDXXXX"),
        (984340001, 434, "craft associated with a parent ship 98MIDXXXX"),
        (992731234, 273, "aid to navigation 99MIDXXXX"),
        (994220001, 422, "aid to navigation 99MIDXXXX"),
    ],
)
def test_mid_of_station_kinds(mmsi: int, mid: int, kind: str) -> None:
    assert mid_of([mmsi]).tolist() == [mid], kind


@pytest.mark.parametrize(
    "mmsi",
    [
        0,
        123,  # too short for any format
        970123456,  # AIS-SART: no MID
        972123456,  # MOB device: no MID
        974123456,  # EPIRB-AIS: no MID
        1_000_000_000,  # ten digits
        -273123456,
    ],
)
def test_mid_of_without_mid_is_zero(mmsi: int) -> None:
    assert mid_of([mmsi]).tolist() == [0]


def test_mid_of_vectorised_keeps_shape_and_dtype() -> None:
    m = np.array([[273123456, 2731234], [111422001, 992731234]])
    out = mid_of(m)
    assert out.dtype == np.int64
    assert out.shape == (2, 2)
    assert out.tolist() == [[273, 273], [422, 273]]


def test_mid_of_accepts_series() -> None:
    s = pd.Series([423000001, 434000001], index=[10, 20])
    assert mid_of(s).tolist() == [423, 434]


# --------------------------------------------------------------------------- flag_state


def test_flag_state_caspian_states() -> None:
    mmsis = [mid * 1_000_000 + 123_456 for mid in CASPIAN]
    assert flag_state_from_mmsi(mmsis).tolist() == list(CASPIAN.values())


@pytest.mark.parametrize(
    ("mmsi", "iso2"),
    [
        (338123456, "US"),
        (366999999, "US"),
        (369000001, "US"),
        (351000001, "PA"),
        (357000001, "PA"),
        (370000001, "PA"),
        (373000001, "PA"),
        (636012345, "LR"),
        (637012345, "LR"),
        (215000001, "MT"),
        (229000001, "MT"),
        (248000001, "MT"),
        (249000001, "MT"),
        (256000001, "MT"),
        (538001234, "MH"),
        (477123456, "HK"),
        (412123456, "CN"),
        (414123456, "CN"),
        (209123456, "CY"),
        (212123456, "CY"),
        (211123456, "DE"),
        (218123456, "DE"),
        (230123456, "FI"),
        (244123456, "NL"),
        (246123456, "NL"),
        (257123456, "NO"),
        (259123456, "NO"),
        (659123456, "NA"),  # Namibia: must not be read as a missing value
        (2731234, "RU"),  # coast station
        (27312345, "RU"),  # group call
        (111436001, "KZ"),  # SAR aircraft
        (984231234, "AZ"),  # craft associated with a parent ship
        (994341234, "TM"),  # aid to navigation
    ],
)
def test_flag_state_examples(mmsi: int, iso2: str) -> None:
    out = flag_state_from_mmsi([mmsi])
    assert out.notna().all()
    assert out.iloc[0] == iso2


@pytest.mark.parametrize(
    "mmsi",
    [
        200123456,  # MID 200 unallocated
        217123456,  # gap in the European block
        776000000,  # just above the last MID
        799999999,
        800123456,  # 8MIDXXXXX handheld with MID 001: no flag
        123,
        0,
        970123456,  # AIS-SART
        2001234,  # coast station with unallocated MID 200
        992001234,  # AtoN with unallocated MID 200
    ],
)
def test_flag_state_missing_for_unallocated(mmsi: int) -> None:
    out = flag_state_from_mmsi([mmsi])
    assert len(out) == 1
    assert out.isna().all()


def test_flag_state_mixed_vector() -> None:
    out = flag_state_from_mmsi([273123456, 422000001, 123, 659000001, 200000000])
    assert isinstance(out, pd.Series)
    assert len(out) == 5
    assert out.isna().tolist() == [False, False, True, False, True]
    assert out[~out.isna()].tolist() == ["RU", "IR", "NA"]
    assert pd.api.types.is_string_dtype(out.dtype)


def test_flag_state_empty() -> None:
    out = flag_state_from_mmsi(np.array([], dtype="int64"))
    assert len(out) == 0


# --------------------------------------------------------------------------- is_ship_mmsi


@pytest.mark.parametrize(
    ("mmsi", "expected"),
    [
        (199999999, False),
        (200000000, False),  # MID 200 unallocated
        (200999999, False),
        (201000000, True),
        (273123456, True),
        (775000000, True),
        (775999999, True),
        (776000000, False),
        (799999999, False),
        (800000000, False),
        (217000000, False),  # unallocated MID inside the range
        (2731234, False),  # coast station
        (27312345, False),  # group call
        (111273123, False),  # SAR aircraft
        (982731234, False),  # craft associated with a parent ship
        (992731234, False),  # aid to navigation
        (970123456, False),  # AIS-SART
        (0, False),
    ],
)
def test_is_ship_mmsi_boundaries(mmsi: int, expected: bool) -> None:
    out = is_ship_mmsi([mmsi])
    assert out.dtype == bool
    assert out.tolist() == [expected]


def test_is_ship_mmsi_every_allocated_mid() -> None:
    mids = mid_table()["mid"].to_numpy()
    assert is_ship_mmsi(mids * 1_000_000).all()
    assert is_ship_mmsi(mids * 1_000_000 + 999_999).all()
    unallocated = np.setdiff1d(np.arange(200, 800), mids)
    assert unallocated.size > 0
    assert not is_ship_mmsi(unallocated * 1_000_000 + 123_456).any()


# --------------------------------------------------------------------------- the table


def test_table_columns_and_dtypes() -> None:
    t = mid_table()
    assert list(t.columns) == ["mid", "iso2", "country"]
    assert t["mid"].dtype == np.int64
    assert t["country"].map(lambda c: isinstance(c, str) and c.strip() != "").all()


def test_table_size_and_unique_mids() -> None:
    t = mid_table()
    assert len(t) >= 250
    assert t["mid"].is_unique
    assert t["mid"].between(201, 775).all()
    assert t["mid"].min() == 201
    assert t["mid"].max() == 775


def test_table_iso2_codes_are_two_uppercase_letters() -> None:
    t = mid_table()
    bad = [c for c in t["iso2"] if not (isinstance(c, str) and re.fullmatch(r"[A-Z]{2}", c))]
    assert bad == []


def test_table_caspian_states_present() -> None:
    t = mid_table().set_index("mid")
    for mid, iso2 in CASPIAN.items():
        assert t.loc[mid, "iso2"] == iso2
    assert set(CASPIAN.values()) <= set(t["iso2"])


def test_table_multi_mid_administrations() -> None:
    t = mid_table()
    by_iso = t.groupby("iso2")["mid"].apply(lambda s: sorted(s.tolist()))
    assert by_iso["US"] == [303, 338, 366, 367, 368, 369]
    assert by_iso["PA"] == [*range(351, 358), *range(370, 375)]
    assert by_iso["MT"] == [215, 229, 248, 249, 256]
    assert by_iso["CY"] == [209, 210, 212]
    assert by_iso["NL"] == [244, 245, 246]
    assert by_iso["NO"] == [257, 258, 259]
    assert by_iso["LR"] == [636, 637]
    assert by_iso["CN"] == [412, 413, 414]
    assert by_iso["GB"] == [232, 233, 234, 235]


def test_table_namibia_is_a_string_not_missing() -> None:
    t = mid_table().set_index("mid")
    assert t.loc[659, "iso2"] == "NA"
    assert t.loc[659, "country"] == "Namibia"
    assert not t["iso2"].isna().any()


def test_table_country_with_comma_parsed_whole() -> None:
    t = mid_table().set_index("mid")
    assert t.loc[440, "country"] == "Korea, Republic of"
    assert t.loc[440, "iso2"] == "KR"


# --------------------------------------------------------------------------- fast path


def test_flag_index_matches_mid_of_everywhere() -> None:
    from caspian_ais.flags import _flag_index, _lookup

    lut, _ = _lookup()
    edges = np.array([
        -(2**62), -5_000_000, -1, 0, 1, 999_999, 1_000_000, 2731234, 9_999_999, 10_000_000,
        27312345, 99_999_999, 100_000_000, 110_999_999, 111_000_000, 111273123, 111_999_999,
        112_000_000, 199_999_999, 200_000_000, 273123456, 659000001, 799_999_999,
        800_000_000, 979_999_999, 980_000_000, 982731234, 992731234, 999_999_999,
        1_000_000_000, 2**62])
    rng = np.random.default_rng(0)
    m = np.concatenate([edges, rng.integers(-(10**9), 2 * 10**9, 200_000),
                        rng.integers(0, 10**9, 200_000)])
    assert np.array_equal(_flag_index(m), lut[mid_of(m)])


def test_flag_state_arrow_and_series_agree() -> None:
    from caspian_ais.flags import flag_state_arrow

    m = np.array([273123456, 659000001, 123, 982731234, -1])
    expected = ["RU", "NA", None, "RU", None]  # Namibia's code is the text "NA"
    assert flag_state_arrow(m).to_pylist() == expected
    s = flag_state_from_mmsi(pd.Series(m, index=[5, 6, 7, 8, 9]))
    assert s.index.tolist() == [5, 6, 7, 8, 9]
    assert [None if pd.isna(v) else v for v in s] == expected
