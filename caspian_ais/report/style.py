"""Colours, labels and small naming helpers shared by the report tables and figures.

This module imports neither matplotlib nor movingpandas: it only holds constants and
pandas/numpy helpers, so that ``import caspian_ais`` stays light.

Colours follow the Okabe-Ito palette, which stays distinguishable for readers with
the common forms of colour blindness.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "FLAG_NAMES",
    "FOCUS_FLAGS",
    "FLAG_COLORS",
    "OTHER_FLAGS_LABEL",
    "SUSPICIOUS_COLOR",
    "GAP_COLOR",
    "DARK_CALL_COLOR",
    "DARK_CALL_FACE",
    "VISIBLE_CALL_COLOR",
    "AIS_ON_COLOR",
    "TRACK_COLOR",
    "LAND_COLOR",
    "WATER_COLOR",
    "COAST_COLOR",
    "PORT_COLOR",
    "flag_label",
    "flag_group",
    "flag_color",
    "ship_category",
    "SHIP_CATEGORIES",
]

#: Country names of the flags that matter most in Caspian work (ISO 3166-1 alpha-2).
FLAG_NAMES: dict[str, str] = {
    "RU": "Russia",
    "IR": "Iran",
    "KZ": "Kazakhstan",
    "AZ": "Azerbaijan",
    "TM": "Turkmenistan",
    "US": "United States",
    "PA": "Panama",
    "LR": "Liberia",
    "MH": "Marshall Islands",
    "MT": "Malta",
}

#: The flags the published reporting singles out, in display order.
FOCUS_FLAGS: tuple[str, ...] = ("RU", "IR")

#: Label of every flag not in the focus list.
OTHER_FLAGS_LABEL = "other flags"

# Okabe-Ito colours
FLAG_COLORS: dict[str, str] = {
    "RU": "#0072B2",  # blue
    "IR": "#009E73",  # bluish green
    "KZ": "#56B4E9",  # sky blue
    "AZ": "#CC79A7",  # reddish purple
    "TM": "#E69F00",  # orange
    OTHER_FLAGS_LABEL: "#8C8C8C",  # grey
}
_EXTRA_COLORS = ("#E69F00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")

SUSPICIOUS_COLOR = "#D55E00"  # vermillion: suspicious gaps, AIS switched off
GAP_COLOR = "#6E6E6E"  # grey: gaps not judged suspicious
DARK_CALL_COLOR = "#D55E00"  # dark port calls share the "dark" colour...
DARK_CALL_FACE = "#F0E442"  # ...and are drawn as yellow stars with a dark edge on maps
VISIBLE_CALL_COLOR = "#0072B2"  # visible port calls
AIS_ON_COLOR = "#009E73"  # AIS transmitting
TRACK_COLOR = "#2F4F6F"  # tracks: dark slate, drawn thin and translucent
LAND_COLOR = "#EFEBE2"
WATER_COLOR = "#D7E7F3"
COAST_COLOR = "#8FA9BF"
PORT_COLOR = "#222222"

#: ITU-R M.1371 ship-and-cargo type codes grouped into readable categories.
SHIP_CATEGORIES: tuple[tuple[str, tuple[int, int]], ...] = (
    ("fishing", (30, 30)),
    ("tug / towing", (31, 32)),
    ("tug / towing", (52, 52)),
    ("service (pilot, SAR, port tender, ...)", (50, 59)),
    ("high-speed craft", (40, 49)),
    ("passenger", (60, 69)),
    ("cargo", (70, 79)),
    ("tanker", (80, 89)),
    ("pleasure / sailing", (36, 37)),
    ("other", (0, 99)),
)


def flag_label(code: object) -> str:
    """Readable label of an ISO2 flag code, e.g. ``"Russia (RU)"``.

    Parameters
    ----------
    code : str or missing
        ISO 3166-1 alpha-2 code.

    Returns
    -------
    str
        ``"Country (XX)"`` for known codes, the code itself otherwise, ``"unknown"``
        when missing.

    Examples
    --------
    >>> flag_label("IR")
    'Iran (IR)'
    >>> flag_label(None)
    'unknown'
    """
    if code is None or (isinstance(code, float) and np.isnan(code)) or code is pd.NA:
        return "unknown"
    text = str(code)
    if text == OTHER_FLAGS_LABEL:
        return text
    name = FLAG_NAMES.get(text)
    return f"{name} ({text})" if name else text


def flag_group(flags: pd.Series, focus: Iterable[str] = FOCUS_FLAGS) -> pd.Series:
    """Map flag codes to the focus flags or ``"other flags"``.

    Parameters
    ----------
    flags : pandas.Series of str
        ISO2 flag codes (missing allowed: they count as other flags).
    focus : iterable of str, default ("RU", "IR")
        Flags kept as they are.

    Returns
    -------
    pandas.Series of str

    Examples
    --------
    >>> flag_group(pd.Series(["RU", "KZ", None])).tolist()
    ['RU', 'other flags', 'other flags']
    """
    focus = list(focus)
    s = flags.astype(object)
    keep = s.isin(focus)
    return s.where(keep, OTHER_FLAGS_LABEL).astype(object)


def flag_color(group: str, i: int = 0) -> str:
    """Colour of a flag group (focus flag or ``"other flags"``)."""
    return FLAG_COLORS.get(group, _EXTRA_COLORS[i % len(_EXTRA_COLORS)])


def ship_category(codes: pd.Series) -> pd.Series:
    """Readable category of ITU ship-and-cargo type codes.

    Parameters
    ----------
    codes : pandas.Series of int
        ITU-R M.1371 ship type codes (``ship_type`` column). Missing codes and 0
        ("not available") become ``"unknown"``.

    Returns
    -------
    pandas.Series of str

    Examples
    --------
    >>> ship_category(pd.Series([70, 84, None, 0])).tolist()
    ['cargo', 'tanker', 'unknown', 'unknown']
    """
    num = pd.to_numeric(codes, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    out = np.full(num.shape, "unknown", dtype=object)
    done = np.isnan(num) | (num == 0) | (num > 99) | (num < 0)
    for label, (lo, hi) in SHIP_CATEGORIES:
        hit = ~done & (num >= lo) & (num <= hi)
        out[hit] = label
        done |= hit
    return pd.Series(out, index=codes.index, dtype=object)
