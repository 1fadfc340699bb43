"""Write a canonical AIS table in the formats :func:`caspian_ais.io.read_ais` reads.

``write_ais(table, path, format)`` writes

``parquet``
    the canonical columns as they are (provenance columns left out);
``marinecadastre``
    NOAA MarineCadastre's 2015-2024 CSV: ``BaseDateTime`` ``YYYY-MM-DDTHH:MM:SS``, positions
    with 5 decimals, ``IMO1234567``, heading 511 when not available, an empty ``Status``,
    ``Draft`` or ``Width`` when missing; ``destination`` has no column there;
``dma``
    the Danish Maritime Authority's 26-column CSV: ``dd/mm/YYYY HH:MM:SS``, ``Class A`` /
    ``Class B``, navigational status and ship type as text ("Under way using engine",
    "Cargo", ...), 6 decimals, "Unknown" for a missing IMO, call sign, name or destination;
``nmea``
    ``!AIVDM`` sentences, each behind an NMEA 4.10 tag block ``\\c:<unix seconds>*hh\\``
    with the report time: type 1 (Class A) or 18 (Class B) per row; static data as type 5
    (Class A, two fragments) or type 24 parts A and B (Class B) at each vessel's first row
    of each day and whenever a static value changes.

CSV columns are built with vectorised Arrow string kernels; NMEA is encoded message by
message with :func:`pyais.encode_dict` (about 30 microseconds each: fine for samples and
tests, slow for hundreds of millions of rows).

Round trip: ``read_ais(write_ais(t))`` gives back ``t``'s rows in the same order, to the
precision of the format (MarineCadastre 1e-5 degree, DMA 1e-6 degree, NMEA 1/10000 minute;
speed and course 0.1, heading 1 degree, draught 0.1 m; NMEA text upper case, names 20
and call signs 7 characters).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from caspian_ais.schema import CANONICAL_COLUMNS, PROVENANCE_COLUMNS, to_canonical

__all__ = ["WRITE_FORMATS", "write_ais", "NAV_STATUS_TEXT", "SHIP_TYPE_TEXT"]

#: Formats :func:`write_ais` writes.
WRITE_FORMATS: tuple[str, ...] = ("parquet", "marinecadastre", "dma", "nmea")

MARINECADASTRE_HEADER: tuple[str, ...] = (
    "MMSI",
    "BaseDateTime",
    "LAT",
    "LON",
    "SOG",
    "COG",
    "Heading",
    "VesselName",
    "IMO",
    "CallSign",
    "VesselType",
    "Status",
    "Length",
    "Width",
    "Draft",
    "Cargo",
    "TransceiverClass",
)
DMA_HEADER: tuple[str, ...] = (
    "# Timestamp",
    "Type of mobile",
    "MMSI",
    "Latitude",
    "Longitude",
    "Navigational status",
    "ROT",
    "SOG",
    "COG",
    "Heading",
    "IMO",
    "Callsign",
    "Name",
    "Ship type",
    "Cargo type",
    "Width",
    "Length",
    "Type of position fixing device",
    "Draught",
    "Destination",
    "ETA",
    "Data source type",
    "A",
    "B",
    "C",
    "D",
)
#: ITU-R M.1371 navigational status code -> the text DMA files use.
NAV_STATUS_TEXT: dict[int, str] = {
    0: "Under way using engine",
    1: "At anchor",
    2: "Not under command",
    3: "Restricted maneuverability",
    4: "Constrained by her draught",
    5: "Moored",
    6: "Aground",
    7: "Engaged in fishing",
    8: "Under way sailing",
    9: "Reserved for future amendment [HSC]",
    10: "Reserved for future amendment [WIG]",
    11: "Power-driven vessel towing astern",
    12: "Power-driven vessel pushing ahead or towing alongside",
    13: "Reserved for future use",
    14: "AIS-SART",
    15: "Unknown value",
}
#: First code of each ITU ship-type range -> DMA text.
SHIP_TYPE_TEXT: dict[int, str] = {
    20: "WIG",
    30: "Fishing",
    31: "Towing",
    32: "Towing long/wide",
    33: "Dredging",
    34: "Diving",
    35: "Military",
    36: "Sailing",
    37: "Pleasure",
    40: "HSC",
    50: "Pilot",
    51: "SAR",
    52: "Tug",
    53: "Port tender",
    54: "Anti-pollution",
    55: "Law enforcement",
    56: "Spare 1",
    57: "Spare 2",
    58: "Medical",
    59: "Not party to conflict",
    60: "Passenger",
    70: "Cargo",
    80: "Tanker",
    90: "Other",
}
_HAZARD = {1: "Category X", 2: "Category Y", 3: "Category Z", 4: "Category OS"}
_WRITE_COLUMNS = [c for c in CANONICAL_COLUMNS if c not in PROVENANCE_COLUMNS]


def write_ais(
    table: pd.DataFrame | pa.Table, path: str | os.PathLike[str], format: str = "parquet"
) -> Path:
    """Write an AIS table to a file in one of the formats :func:`caspian_ais.io.read_ais` reads.

    Parameters
    ----------
    table : pandas.DataFrame or pyarrow.Table
        A canonical AIS table (:mod:`caspian_ais.schema`); other columns are ignored.
    path : str or path-like
        The file to write (its directory is created if needed).
    format : {"parquet", "marinecadastre", "dma", "nmea"}, default "parquet"
        Output format.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from caspian_ais.io.writers import write_ais
    >>> t = pd.DataFrame({"mmsi": [273123456],
    ...                   "timestamp": [pd.Timestamp("2022-09-01", tz="UTC")],
    ...                   "lat": [45.0], "lon": [48.5], "sog_kn": [10.2],
    ...                   "heading_deg": [float("nan")]})
    >>> p = write_ais(t, tempfile.mkdtemp() + "/AIS_2022_09_01.csv", format="marinecadastre")
    >>> p.read_text().splitlines()[1]
    '273123456,2022-09-01T00:00:00,45.0,48.5,10.2,,511,,,,,,,,,,'
    """
    if format not in WRITE_FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(WRITE_FORMATS)}")
    df = table.to_pandas() if isinstance(table, pa.Table) else table
    if not all(str(c) in df.columns for c in ("mmsi", "timestamp", "lat", "lon")):
        missing = [c for c in ("mmsi", "timestamp", "lat", "lon") if c not in df.columns]
        raise ValueError(f"table lacks canonical column(s) {', '.join(missing)}")
    df = (
        to_canonical(df, mask_sentinels=False, add_flag_state=False)
        if not _is_canonical(df)
        else df
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "parquet":
        cols = [c for c in _WRITE_COLUMNS if c in df.columns]
        pq.write_table(
            pa.Table.from_pandas(df[cols], preserve_index=False), path, compression="zstd"
        )
    elif format == "marinecadastre":
        _write_csv(_marinecadastre_columns(df), path)
    elif format == "dma":
        _write_csv(_dma_columns(df), path)
    else:
        _write_nmea(df, path)
    return path


def _is_canonical(df: pd.DataFrame) -> bool:
    from caspian_ais.schema import CANONICAL_DTYPES

    return all(
        str(df[c].dtype) == str(CANONICAL_DTYPES[c])
        or c in ("name", "callsign", "destination", "ais_class", "flag_state", "source_file")
        for c in df.columns
        if c in CANONICAL_DTYPES
    )


# ----------------------------------------------------------------------------- CSV helpers
def _col(df: pd.DataFrame, name: str, dtype: str = "float64") -> pa.Array:
    """A column as an Arrow array (all-null when the table lacks it)."""
    if name not in df.columns:
        return pa.nulls(len(df), pa.float64() if dtype == "float64" else pa.string())
    s = df[name]
    if dtype == "float64":
        return pa.array(
            pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(), from_pandas=True
        )
    return pa.array(
        s.astype("object").where(s.notna(), None).to_numpy(), pa.string(), from_pandas=True
    )


def _fixed(x: pa.Array, decimals: int, *, strip: bool = True, empty: str | None = None) -> pa.Array:
    """Format floats with at most ``decimals`` decimals (vectorised; nulls stay null or ``empty``).

    ``strip`` drops trailing zeros but keeps one decimal, as MarineCadastre does
    (``30.3706``, ``0.0``).
    """
    v = x.to_numpy(zero_copy_only=False).astype("float64")
    ok = np.isfinite(v)
    scale = 10**decimals
    a = np.where(ok, np.round(np.abs(v) * scale), 0).astype(np.int64)
    neg = ok & (v < 0) & (a > 0)
    ip = pc.cast(pa.array(a // scale), pa.string())
    fp = pc.utf8_lpad(pc.cast(pa.array(a % scale), pa.string()), decimals, "0")
    if strip:
        fp = pc.utf8_rtrim(fp, "0")
        fp = pc.if_else(pc.equal(pc.utf8_length(fp), 0), pa.scalar("0"), fp)
    text = pc.binary_join_element_wise(ip, fp, ".") if decimals > 0 else ip
    text = pc.if_else(pa.array(neg), pc.binary_join_element_wise(pa.scalar("-"), text, ""), text)
    fill = pa.scalar(empty, pa.string())
    return pc.if_else(pa.array(ok), text, fill)


def _int_text(x: pa.Array, *, empty: str | None = None) -> pa.Array:
    v = x.to_numpy(zero_copy_only=False).astype("float64")
    ok = np.isfinite(v)
    text = pc.cast(pa.array(np.where(ok, np.round(v), 0).astype(np.int64)), pa.string())
    return pc.if_else(pa.array(ok), text, pa.scalar(empty, pa.string()))


def _write_csv(cols: dict[str, pa.Array], path: Path) -> None:
    table = pa.table(cols)
    # plain fields and header, like the real files; quote only if some value needs it
    with open(path, "wb") as fh:
        fh.write((",".join(cols) + "\n").encode("utf-8"))
        try:
            pacsv.write_csv(
                table,
                fh,
                write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
            )
        except pa.ArrowInvalid:
            fh.seek(0)
            fh.truncate()
            fh.write((",".join(cols) + "\n").encode("utf-8"))
            pacsv.write_csv(
                table,
                fh,
                write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"),
            )


def _timestamps(df: pd.DataFrame) -> pa.Array:
    ts = df["timestamp"]
    ts = (
        ts.dt.tz_convert("UTC")
        if isinstance(ts.dtype, pd.DatetimeTZDtype)
        else ts.dt.tz_localize("UTC")
    )
    return pa.array(ts.dt.tz_localize(None).astype("datetime64[s]").to_numpy(), pa.timestamp("s"))


def _marinecadastre_columns(df: pd.DataFrame) -> dict[str, pa.Array]:
    n = len(df)
    imo = _col(df, "imo")
    imo_v = imo.to_numpy(zero_copy_only=False).astype("float64")
    imo_ok = np.isfinite(imo_v)
    imo_txt = pc.binary_join_element_wise(
        pa.scalar("IMO"), pc.utf8_lpad(_int_text(imo, empty=""), 7, "0"), ""
    )
    heading = _col(df, "heading_deg")
    return {
        "MMSI": pc.cast(pa.array(df["mmsi"].to_numpy(np.int64)), pa.string()),
        "BaseDateTime": pc.strftime(_timestamps(df), format="%Y-%m-%dT%H:%M:%S"),
        "LAT": _fixed(_col(df, "lat"), 5),
        "LON": _fixed(_col(df, "lon"), 5),
        "SOG": _fixed(_col(df, "sog_kn"), 1),
        "COG": _fixed(_col(df, "cog_deg"), 1),
        "Heading": _int_text(heading, empty="511"),
        "VesselName": _col(df, "name", "str"),
        "IMO": pc.if_else(pa.array(imo_ok), imo_txt, pa.scalar(None, pa.string())),
        "CallSign": _col(df, "callsign", "str"),
        "VesselType": _int_text(_col(df, "ship_type")),
        "Status": _int_text(_col(df, "nav_status")),
        "Length": _int_text(_col(df, "length_m")),
        "Width": pa.nulls(n, pa.string()),
        "Draft": _fixed(_col(df, "draught_m"), 1),
        "Cargo": pa.nulls(n, pa.string()),
        "TransceiverClass": _col(df, "ais_class", "str"),
    }


def _map_codes(codes: pa.Array, mapping: dict[int, str]) -> pa.Array:
    v = codes.to_numpy(zero_copy_only=False).astype("float64")
    keys = np.array(sorted(mapping))
    vals = pa.array([mapping[k] for k in keys], pa.string())
    ok = np.isfinite(v)
    iv = np.where(ok, v, -1).astype(np.int64)
    pos = np.clip(np.searchsorted(keys, iv), 0, len(keys) - 1)
    hit = ok & (keys[pos] == iv)
    return pc.if_else(pa.array(hit), pc.take(vals, pa.array(pos)), pa.scalar(None, pa.string()))


def _dma_columns(df: pd.DataFrame) -> dict[str, pa.Array]:
    n = len(df)
    unknown = pa.scalar("Unknown")

    def or_unknown(a: pa.Array) -> pa.Array:
        return pc.fill_null(a, unknown)

    cls = _col(df, "ais_class", "str")
    mobile = pc.if_else(
        pc.is_null(cls),
        pa.scalar("Undefined"),
        pc.binary_join_element_wise(pa.scalar("Class "), cls, ""),
    )
    st = _col(df, "ship_type").to_numpy(zero_copy_only=False).astype("float64")
    base = np.where(
        np.isfinite(st), np.where((st >= 30) & (st < 60), st, np.floor(st / 10) * 10), np.nan
    )
    digit = np.where(np.isfinite(st) & ~((st >= 30) & (st < 60)), st % 10, 0)
    ship = pc.fill_null(
        _map_codes(pa.array(base, from_pandas=True), SHIP_TYPE_TEXT), pa.scalar("Undefined")
    )
    cargo = _map_codes(pa.array(np.where(digit > 0, digit, np.nan), from_pandas=True), _HAZARD)
    nav = _col(df, "nav_status")
    imo = _col(df, "imo")
    length = _col(df, "length_m")
    return {
        "# Timestamp": pc.strftime(_timestamps(df), format="%d/%m/%Y %H:%M:%S"),
        "Type of mobile": mobile,
        "MMSI": pc.cast(pa.array(df["mmsi"].to_numpy(np.int64)), pa.string()),
        "Latitude": _fixed(_col(df, "lat"), 6, strip=False),
        "Longitude": _fixed(_col(df, "lon"), 6, strip=False),
        "Navigational status": _map_codes(nav, NAV_STATUS_TEXT),
        "ROT": pa.nulls(n, pa.string()),
        "SOG": _fixed(_col(df, "sog_kn"), 1),
        "COG": _fixed(_col(df, "cog_deg"), 1),
        "Heading": _int_text(_col(df, "heading_deg")),
        "IMO": or_unknown(_int_text(imo)),
        "Callsign": or_unknown(_col(df, "callsign", "str")),
        "Name": or_unknown(_col(df, "name", "str")),
        "Ship type": ship,
        "Cargo type": cargo,
        "Width": pa.nulls(n, pa.string()),
        "Length": _int_text(length),
        "Type of position fixing device": pc.if_else(
            pc.is_null(cls), pa.scalar("Undefined"), pa.scalar("GPS")
        ),
        "Draught": _fixed(_col(df, "draught_m"), 1),
        "Destination": or_unknown(_col(df, "destination", "str")),
        "ETA": pa.nulls(n, pa.string()),
        "Data source type": pa.array(["AIS"] * n, pa.string()),
        "A": pa.nulls(n, pa.string()),
        "B": pa.nulls(n, pa.string()),
        "C": pa.nulls(n, pa.string()),
        "D": pa.nulls(n, pa.string()),
    }


# ----------------------------------------------------------------------------- NMEA
def _tag(unix_s: int) -> str:
    body = f"c:{unix_s}"
    cs = 0
    for ch in body.encode("ascii"):
        cs ^= ch
    return f"\\{body}*{cs:02X}\\"


def _num(x: object, default: float) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return default if np.isnan(v) else v


def _text(x: object, width: int) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA:
        return ""
    return str(x).upper()[:width]


def _write_nmea(df: pd.DataFrame, path: Path) -> None:
    from pyais.encode import encode_dict

    n = len(df)
    ts = df["timestamp"]
    unix = ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    mmsi = df["mmsi"].to_numpy(np.int64)

    def col(name: str) -> np.ndarray:
        if name not in df.columns:
            return np.full(n, None, dtype=object)
        return df[name].astype(object).where(df[name].notna(), None).to_numpy()

    lat, lon, sog, cog, hdg, nav = (
        col(c) for c in ("lat", "lon", "sog_kn", "cog_deg", "heading_deg", "nav_status")
    )
    imo, name, callsign, stype, length, draught, dest, cls = (
        col(c)
        for c in (
            "imo",
            "name",
            "callsign",
            "ship_type",
            "length_m",
            "draught_m",
            "destination",
            "ais_class",
        )
    )
    static = pd.DataFrame(
        {
            "mmsi": mmsi,
            "t": unix,
            "imo": imo,
            "name": name,
            "callsign": callsign,
            "ship_type": stype,
            "length": length,
            "draught": draught,
            "dest": dest,
        }
    )
    # static messages: a vessel's first row of each day (in time order) and each change
    order = np.lexsort((np.arange(n), unix, mmsi))
    s = static.iloc[order]
    changed = np.zeros(n, dtype=bool)
    for c in ("imo", "name", "callsign", "ship_type", "length", "draught", "dest"):
        x = s[c]
        prev = x.shift()
        same = (x == prev).fillna(False).astype(bool) | (x.isna() & prev.isna())
        changed |= ~same.to_numpy(dtype=bool)
    day = (s["t"] // 86400).to_numpy()
    m = s["mmsi"].to_numpy()
    new_vessel = np.r_[True, m[1:] != m[:-1]]
    new_day = np.r_[True, day[1:] != day[:-1]]
    emit = pd.Series(new_vessel | new_day | changed)
    static_at = np.zeros(n, dtype=bool)
    static_at[order[emit.to_numpy()]] = True
    seq = 0
    lines: list[str] = []
    for i in range(n):
        tag = _tag(int(unix[i]))
        chan = "A" if i % 2 == 0 else "B"
        is_b = cls[i] == "B"
        if static_at[i] and any(
            v is not None
            for v in (imo[i], name[i], callsign[i], stype[i], length[i], draught[i], dest[i])
        ):
            ln = _num(length[i], 0.0)
            bow = min(int(round(ln)) // 2, 511)
            stern = min(int(round(ln)) - bow, 511)
            if is_b:
                msgs: list[dict[str, Any]] = [
                    {
                        "msg_type": 24,
                        "mmsi": int(mmsi[i]),
                        "partno": 0,
                        "shipname": _text(name[i], 20),
                    },
                    {
                        "msg_type": 24,
                        "mmsi": int(mmsi[i]),
                        "partno": 1,
                        "ship_type": int(_num(stype[i], 0)),
                        "callsign": _text(callsign[i], 7),
                        "to_bow": bow,
                        "to_stern": stern,
                    },
                ]
                for m in msgs:
                    lines.extend(
                        tag + x
                        for x in encode_dict(
                            m, talker_id="AI", sentence_type="VDM", radio_channel=chan
                        )
                    )
            else:
                m5: dict[str, Any] = {
                    "msg_type": 5,
                    "mmsi": int(mmsi[i]),
                    "imo": int(_num(imo[i], 0)),
                    "callsign": _text(callsign[i], 7),
                    "shipname": _text(name[i], 20),
                    "ship_type": int(_num(stype[i], 0)),
                    "to_bow": bow,
                    "to_stern": stern,
                    "draught": round(_num(draught[i], 0.0), 1),
                    "destination": _text(dest[i], 20),
                    "epfd": 1,
                }
                seq = (seq + 1) % 10
                lines.extend(
                    tag + x
                    for x in encode_dict(
                        m5, talker_id="AI", sentence_type="VDM", radio_channel=chan, seq_id=seq
                    )
                )
        la = _num(lat[i], 91.0)
        lo = _num(lon[i], 181.0)
        sec = int(unix[i] % 60)
        common: dict[str, Any] = {
            "mmsi": int(mmsi[i]),
            "lat": la,
            "lon": lo,
            "speed": round(_num(sog[i], 102.3), 1),
            "course": round(_num(cog[i], 360.0), 1),
            "heading": int(round(_num(hdg[i], 511.0))),
            "second": sec,
            "accuracy": 1,
        }
        if is_b:
            msg = {"msg_type": 18, **common, "cs": 1}
        else:
            msg = {"msg_type": 1, **common, "status": int(_num(nav[i], 15.0))}
        lines.extend(
            tag + x
            for x in encode_dict(msg, talker_id="AI", sentence_type="VDM", radio_channel=chan)
        )
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.write("\n".join(lines))
        if lines:
            fh.write("\n")
