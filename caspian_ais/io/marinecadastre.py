"""NOAA MarineCadastre (AccessAIS) daily files, 2015-2024 and 2025 on.

2015-2024: daily ``AIS_YYYY_MM_DD.zip`` holding one CSV with the header::

    MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,
    Status,Length,Width,Draft,Cargo,TransceiverClass

(older years lack ``TransceiverClass``). 2025 on: daily ``ais-YYYY-MM-DD.csv.zst``::

    mmsi,base_date_time,longitude,latitude,sog,cog,heading,vessel_name,imo,call_sign,
    vessel_type,status,length,width,draft,cargo,transceiver

Times are UTC (``2022-01-03T00:00:00``, no offset). ``IMO`` is written ``IMO9198731``.
``Width`` and ``Cargo`` have no canonical column and are not read.
"""

from __future__ import annotations

from caspian_ais.io.sources import SourceFile
from caspian_ais.io.tabular import ISO_FORMATS, Field, Layout, Loaded, read_delimited

__all__ = ["LAYOUT", "LAYOUT_2025", "HEADER", "HEADER_2025", "read_marinecadastre"]

#: The 2015-2024 header, in file order.
HEADER: tuple[str, ...] = (
    "MMSI", "BaseDateTime", "LAT", "LON", "SOG", "COG", "Heading", "VesselName", "IMO",
    "CallSign", "VesselType", "Status", "Length", "Width", "Draft", "Cargo",
    "TransceiverClass",
)
#: The 2025+ header, in file order (longitude before latitude).
HEADER_2025: tuple[str, ...] = (
    "mmsi", "base_date_time", "longitude", "latitude", "sog", "cog", "heading",
    "vessel_name", "imo", "call_sign", "vessel_type", "status", "length", "width", "draft",
    "cargo", "transceiver",
)

# (canonical target, 2015-2024 name, 2025 name, converter, required)
_COLUMNS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("mmsi", "MMSI", "mmsi", "mmsi", True),
    ("timestamp", "BaseDateTime", "base_date_time", "timestamp", True),
    ("lat", "LAT", "latitude", "float", True),
    ("lon", "LON", "longitude", "float", True),
    ("sog_kn", "SOG", "sog", "float", False),
    ("cog_deg", "COG", "cog", "float", False),
    ("heading_deg", "Heading", "heading", "float", False),
    ("name", "VesselName", "vessel_name", "str", False),
    ("imo", "IMO", "imo", "imo", False),
    ("callsign", "CallSign", "call_sign", "str", False),
    ("ship_type", "VesselType", "vessel_type", "int16", False),
    ("nav_status", "Status", "status", "int16", False),
    ("length_m", "Length", "length", "float", False),
    ("draught_m", "Draft", "draft", "float", False),
    ("ais_class", "TransceiverClass", "transceiver", "class", False),
)

LAYOUT = Layout(
    "marinecadastre",
    tuple(Field(t, (old.lower(),), kind, req, old) for t, old, _, kind, req in _COLUMNS),
    ISO_FORMATS,
)
LAYOUT_2025 = Layout(
    "marinecadastre2025",
    tuple(Field(t, (new,), kind, req, new) for t, _, new, kind, req in _COLUMNS),
    ISO_FORMATS,
)


def read_marinecadastre(
    src: SourceFile,
    header: list[str],
    *,
    variant: str = "marinecadastre",
    delimiter: str = ",",
    encoding: str = "utf8",
    decimal_comma: bool = False,
    errors: str = "ledger",
    text_dictionary: bool = False,
) -> Loaded:
    """Read one MarineCadastre CSV (plain, or a member of a zip/gz/zst).

    Parameters
    ----------
    src : SourceFile
        The file.
    header : list of str
        The column names of the file's first line.
    variant : {"marinecadastre", "marinecadastre2025"}
        The header generation.
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
        Staging table and ledger; :func:`caspian_ais.io.read_ais` turns it into the
        canonical table.

    Examples
    --------
    >>> from caspian_ais.io import read_ais
    >>> t = read_ais("AIS_2022_01_03.zip")                     # doctest: +SKIP
    >>> t.columns[:4].tolist()                                 # doctest: +SKIP
    ['mmsi', 'timestamp', 'lat', 'lon']
    """
    layout = LAYOUT_2025 if variant == "marinecadastre2025" else LAYOUT
    return read_delimited(src, layout, header, delimiter=delimiter, encoding=encoding,
                          decimal_comma=decimal_comma, errors=errors,
                          text_dictionary=text_dictionary)
