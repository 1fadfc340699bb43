"""Danish Maritime Authority (DMA) AIS CSV files (``aisdk-YYYY-MM-DD.csv``/``.zip``).

Header (older files have only the first 22 columns)::

    # Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,
    Heading,IMO,Callsign,Name,Ship type,Cargo type,Width,Length,
    Type of position fixing device,Draught,Destination,ETA,Data source type,A,B,C,D

Times are ``dd/mm/YYYY HH:MM:SS`` in UTC. Navigational status, ship type and cargo type
are text; they are mapped to ITU-R M.1371 codes:

* ``Navigational status`` ("Under way using engine", "Moored", "Reserved for future use
  [11]", "Unknown value", ...) -> ``nav_status`` 0-15.
* ``Ship type`` ("Cargo", "Tanker", "Passenger", "Towing long/wide", ...) -> the first
  code of the ITU range (Cargo 70, Tanker 80, ...); when ``Cargo type`` is a hazard
  category (``Category X``/``Y``/``Z``/``OS``) its digit 1-4 is added for the ranges that
  carry one (2x, 4x, 6x, 7x, 8x, 9x), e.g. Tanker + Category Y -> 82. "Undefined" and
  "Reserved" give a missing ship type.
* ``Type of mobile`` "Class A"/"Class B" -> ``ais_class`` "A"/"B". Rows from a
  "Base Station" or an "AtoN" (aid to navigation) are not vessel reports: they go to the
  ledger with reason ``base_station``. Other mobiles (SAR aircraft, SART) are kept with
  ``ais_class`` missing; :func:`caspian_ais.clean` judges their MMSIs.

The text "Unknown" in ``Callsign``, ``Name``, ``Destination`` and ``IMO`` is read as
missing. Duplicate rows are frequent in DMA files; the loader keeps them and
:func:`caspian_ais.clean` removes them with reason ``duplicate``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from caspian_ais.io.sources import SourceFile
from caspian_ais.io.tabular import Field, Layout, Loaded, Rejection, map_text, read_delimited

__all__ = ["LAYOUT", "HEADER", "NAV_STATUS_CODES", "SHIP_TYPE_CODES", "read_dma"]

#: The full 26-column header, in file order.
HEADER: tuple[str, ...] = (
    "# Timestamp", "Type of mobile", "MMSI", "Latitude", "Longitude", "Navigational status",
    "ROT", "SOG", "COG", "Heading", "IMO", "Callsign", "Name", "Ship type", "Cargo type",
    "Width", "Length", "Type of position fixing device", "Draught", "Destination", "ETA",
    "Data source type", "A", "B", "C", "D",
)

TIME_FORMAT = "%d/%m/%Y %H:%M:%S"

#: DMA navigational-status text (lower case) -> ITU code.
NAV_STATUS_CODES: dict[str, int] = {
    "under way using engine": 0,
    "at anchor": 1,
    "not under command": 2,
    "restricted maneuverability": 3,
    "restricted manoeuverability": 3,
    "restricted manoeuvrability": 3,
    "constrained by her draught": 4,
    "moored": 5,
    "aground": 6,
    "engaged in fishing": 7,
    "under way sailing": 8,
    "reserved for future amendment [hsc]": 9,
    "reserved for future amendment [wig]": 10,
    "power-driven vessel towing astern": 11,
    "power-driven vessel pushing ahead or towing alongside": 12,
    "reserved for future use": 13,
    "ais-sart": 14,
    "ais-sart (active)": 14,
    "unknown value": 15,
    "unknown": 15,
    "not defined": 15,
}

#: DMA ship-type text (lower case) -> first ITU code of the range.
SHIP_TYPE_CODES: dict[str, int] = {
    "wig": 20,
    "fishing": 30,
    "towing": 31,
    "towing long/wide": 32,
    "dredging": 33,
    "diving": 34,
    "military": 35,
    "sailing": 36,
    "pleasure": 37,
    "hsc": 40,
    "pilot": 50,
    "sar": 51,
    "tug": 52,
    "port tender": 53,
    "anti-pollution": 54,
    "law enforcement": 55,
    "spare 1": 56,
    "spare 2": 57,
    "medical": 58,
    "not party to conflict": 59,
    "passenger": 60,
    "cargo": 70,
    "tanker": 80,
    "other": 90,
}

#: Hazard category -> second digit of the ship type.
_CARGO_DIGIT: dict[str, int] = {"category x": 1, "category y": 2, "category z": 3,
                                "category os": 4}
_HAZARD_RANGES = pa.array([20, 40, 60, 70, 80, 90], type=pa.int16())

#: Mobiles that are not vessels and are rejected as ``base_station``.
NON_VESSEL_MOBILES: tuple[str, ...] = ("base station", "aton")


def _field(target: str, name: str, kind: str, required: bool = False) -> Field:
    return Field(target, (name.lstrip("# ").lower(),), kind, required, name)


LAYOUT = Layout(
    "dma",
    (
        _field("timestamp", "# Timestamp", "timestamp", True),
        _field("_mobile", "Type of mobile", "raw"),
        _field("mmsi", "MMSI", "mmsi", True),
        _field("lat", "Latitude", "float", True),
        _field("lon", "Longitude", "float", True),
        _field("_nav", "Navigational status", "raw"),
        _field("sog_kn", "SOG", "float"),
        _field("cog_deg", "COG", "float"),
        _field("heading_deg", "Heading", "float"),
        _field("imo", "IMO", "imo"),
        _field("callsign", "Callsign", "str"),
        _field("name", "Name", "str"),
        _field("_ship", "Ship type", "raw"),
        _field("_cargo", "Cargo type", "raw"),
        _field("length_m", "Length", "float"),
        _field("draught_m", "Draught", "float"),
        _field("destination", "Destination", "str"),
    ),
    (TIME_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"),
)


def _norm(arr: pa.Array) -> pa.Array:
    return pc.utf8_lower(pc.utf8_trim_whitespace(arr))


def _lookup(text: pa.Array, table: dict[str, int]) -> pa.Array:
    idx = pc.index_in(text, value_set=pa.array(list(table)))
    return pc.take(pa.array(list(table.values()), type=pa.int16()), idx)


def _digits(text: pa.Array) -> pa.Array:
    ok = pc.match_substring_regex(text, r"^\d{1,4}$")
    return pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.int16())


def nav_status_codes(arr: pa.Array) -> pa.Array:
    """Map DMA navigational-status text to ITU codes (int16; unknown text -> null).

    Examples
    --------
    >>> import pyarrow as pa
    >>> nav_status_codes(pa.array(["Moored", "Reserved for future use [11]", "x"])).to_pylist()
    [5, 11, None]
    """
    text = _norm(arr)
    numbered = pc.replace_substring_regex(text, r"^reserved for future use \[(\d+)\]$", r"\1")
    return pc.coalesce(_lookup(text, NAV_STATUS_CODES), _digits(numbered))


def ship_type_codes(ship: pa.Array, cargo: pa.Array | None = None) -> pa.Array:
    """Map DMA ship-type text (and cargo hazard category) to ITU ship-type codes.

    Examples
    --------
    >>> import pyarrow as pa
    >>> ship_type_codes(pa.array(["Tanker", "Cargo", "Undefined"]),
    ...                 pa.array(["Category Y", None, None])).to_pylist()
    [82, 70, None]
    """
    text = _norm(ship)
    code = pc.coalesce(_lookup(text, SHIP_TYPE_CODES), _digits(text))
    if cargo is None:
        return code
    digit = pc.fill_null(_lookup(_norm(cargo), _CARGO_DIGIT), 0)
    hazard_range = pc.is_in(code, value_set=_HAZARD_RANGES)
    return pc.if_else(hazard_range, pc.add(code, digit), code).cast(pa.int16())


def _unknown_to_null(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(pc.utf8_lower(arr), "unknown"), pa.scalar(None, arr.type), arr)


def _finish(cols: dict[str, pa.Array]) -> tuple[dict[str, pa.Array], list[Rejection]]:
    n = len(cols["mmsi"])
    rejections: list[Rejection] = []
    nav = cols.pop("_nav", None)
    if nav is not None:
        cols["nav_status"] = nav_status_codes(nav)
    ship = cols.pop("_ship", None)
    cargo = cols.pop("_cargo", None)
    if ship is not None:
        cols["ship_type"] = ship_type_codes(ship, cargo)
    for c in ("callsign", "name", "destination"):
        if c in cols:
            cols[c] = map_text(cols[c], _unknown_to_null)
    mobile = cols.pop("_mobile", None)
    if mobile is not None:
        kind = _norm(mobile)
        cls = pc.replace_substring_regex(pc.utf8_upper(pc.utf8_trim_whitespace(mobile)),
                                         r"^CLASS\s*", "")
        ok = pc.is_in(cls, value_set=pa.array(["A", "B"]))
        cols["ais_class"] = pc.if_else(ok, cls, pa.scalar(None, pa.string()))
        reject = pc.fill_null(pc.is_in(kind, value_set=pa.array(NON_VESSEL_MOBILES)), False)
        mask = reject.to_numpy(zero_copy_only=False)
        if mask.any():
            detail = np.full(n, "", dtype=object)
            detail[mask] = ["Type of mobile: " + str(m) for m in
                            mobile.filter(pa.array(mask)).to_pylist()]
            rejections.append(Rejection(mask, "base_station", detail))
    elif n:
        cols["ais_class"] = pa.nulls(n, type=pa.string())
    return cols, rejections


LAYOUT = Layout(LAYOUT.name, LAYOUT.fields, LAYOUT.timestamp_formats, _finish)


def read_dma(
    src: SourceFile,
    header: list[str],
    *,
    delimiter: str = ",",
    encoding: str = "utf8",
    decimal_comma: bool = False,
    errors: str = "ledger",
    text_dictionary: bool = False,
) -> Loaded:
    """Read one DMA CSV file (26- or 22-column variant).

    Parameters
    ----------
    src : SourceFile
        The file.
    header : list of str
        The column names of the file's first line.
    delimiter, encoding, decimal_comma : str, str, bool
        As sniffed by :func:`caspian_ais.io.detect.sniff`.
    errors : {"ledger", "raise"}
        Rows with the wrong number of fields go to the ledger, or raise.
    text_dictionary : bool, default False
        Give the text columns dictionary-encoded (see
        :func:`caspian_ais.io.tabular.read_delimited`).

    Returns
    -------
    caspian_ais.io.tabular.Loaded
        Staging table, and the ledger with base-station/AtoN rows (``base_station``) and
        rows with the wrong number of fields (``unparseable_row``).

    Examples
    --------
    >>> from caspian_ais.io import read_ais
    >>> t = read_ais("aisdk-2024-01-01.zip")                   # doctest: +SKIP
    >>> t.attrs["rejected_rows"].frame["reason"].unique()      # doctest: +SKIP
    array(['base_station'], dtype=object)
    """
    return read_delimited(src, LAYOUT, header, delimiter=delimiter, encoding=encoding,
                          decimal_comma=decimal_comma, errors=errors,
                          text_dictionary=text_dictionary)
