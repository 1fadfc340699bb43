"""Shared helpers for the tabular-loader tests.

Expected tables are built *independently* of :mod:`caspian_ais.io`: the file is read
with :func:`pandas.read_csv` as text, each column is parsed with pandas/Python, and the
result goes through :func:`caspian_ais.schema.to_canonical` (the shared contract for
dtypes and sentinels). The loader under test must produce the same table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from caspian_ais.schema import to_canonical

DATA = Path(__file__).resolve().parent.parent / "data"
EXCERPT = DATA / "marinecadastre_2022-01-03_excerpt.csv"

MC_TO_CANONICAL = {
    "MMSI": "mmsi", "BaseDateTime": "timestamp", "LAT": "lat", "LON": "lon", "SOG": "sog_kn",
    "COG": "cog_deg", "Heading": "heading_deg", "VesselName": "name", "IMO": "imo",
    "CallSign": "callsign", "VesselType": "ship_type", "Status": "nav_status",
    "Length": "length_m", "Draft": "draught_m", "TransceiverClass": "ais_class",
}
#: 2015-2024 name -> 2025 name
MC_TO_2025 = {
    "MMSI": "mmsi", "BaseDateTime": "base_date_time", "LAT": "latitude", "LON": "longitude",
    "SOG": "sog", "COG": "cog", "Heading": "heading", "VesselName": "vessel_name",
    "IMO": "imo", "CallSign": "call_sign", "VesselType": "vessel_type", "Status": "status",
    "Length": "length", "Width": "width", "Draft": "draft", "Cargo": "cargo",
    "TransceiverClass": "transceiver",
}
HEADER_2025 = ["mmsi", "base_date_time", "longitude", "latitude", "sog", "cog", "heading",
               "vessel_name", "imo", "call_sign", "vessel_type", "status", "length", "width",
               "draft", "cargo", "transceiver"]


def raw_text(path: Path | str, **kw: object) -> pd.DataFrame:
    """The file as text, every value a string, empty fields as missing."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], **kw)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def expected_marinecadastre(raw: pd.DataFrame, source_file: str) -> pd.DataFrame:
    """Canonical table expected from MarineCadastre text columns (2015-2024 names)."""
    out = pd.DataFrame(index=raw.index)
    out["mmsi"] = _num(raw["MMSI"]).fillna(-1).astype("int64")
    out["timestamp"] = pd.to_datetime(raw["BaseDateTime"], utc=True, format="ISO8601",
                                      errors="coerce")
    for src, dst in (("LAT", "lat"), ("LON", "lon"), ("SOG", "sog_kn"), ("COG", "cog_deg"),
                     ("Heading", "heading_deg"), ("Length", "length_m"),
                     ("Draft", "draught_m"), ("VesselType", "ship_type"),
                     ("Status", "nav_status")):
        if src in raw:
            out[dst] = _num(raw[src])
    if "IMO" in raw:
        out["imo"] = _num(raw["IMO"].str.extract(r"^IMO(\d+)$", expand=False))
    for src, dst in (("VesselName", "name"), ("CallSign", "callsign"),
                     ("TransceiverClass", "ais_class")):
        if src in raw:
            out[dst] = raw[src]
    out["source_row"] = np.arange(1, len(raw) + 1, dtype=np.int64)
    return to_canonical(out.reset_index(drop=True), source_file=source_file)


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame, *,
                      ignore: tuple[str, ...] = ()) -> None:
    """Compare two canonical tables column by column (source_file compared as text)."""
    cols = [c for c in expected.columns if c not in ignore]
    assert [c for c in got.columns if c not in ignore] == cols
    g = got[cols].copy()
    e = expected[cols].copy()
    if "source_file" in cols:
        g["source_file"] = g["source_file"].astype(str)
        e["source_file"] = e["source_file"].astype(str)
    pd.testing.assert_frame_equal(g.reset_index(drop=True), e.reset_index(drop=True))


def write_2025(raw: pd.DataFrame, path: Path) -> Path:
    """Write MarineCadastre rows with the 2025 header (renamed, reordered)."""
    raw.rename(columns=MC_TO_2025)[HEADER_2025].to_csv(path, index=False)
    return path
