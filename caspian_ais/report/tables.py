"""Summary tables of an analysis: monthly counts, a vessel watch list, a port table.

Every function takes the tables the detectors produce (gaps, port calls, probable
dark port calls) and returns a plain :class:`pandas.DataFrame`. Only ``mmsi``,
``start_time``, ``end_time`` (and ``port`` for call tables) are required; every other
column (``suspicious``, ``flag_state``, ``ship_type``, ``start_port``, ...) is used
when present and derived or left missing when not, so the functions work on a bare
gap table too.

Conventions
-----------
* A gap counts in the month (UTC) of its start, the moment AIS went silent; its
  ``hours_dark`` are its whole duration, even when it runs into the next month.
* A dark port call counts in the month of its ``start_time``.
* ``suspicious_gaps`` and ``suspicious_hours_dark`` are missing (``<NA>``) when the
  gap table has no ``suspicious`` column; ``dark_port_calls`` is missing when no dark
  call table was given. Missing means "not assessed", never zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.report.style import flag_group, ship_category

__all__ = [
    "MONTHLY_KEYS",
    "monthly_summary",
    "watch_list",
    "port_table",
    "gap_ports",
    "default_ports",
]

#: Grouping keys understood by :func:`monthly_summary` besides plain gap columns.
MONTHLY_KEYS: dict[str, str] = {
    "flag_state": "ISO2 flag from the table, else from the MMSI's MID",
    "flag_group": "'RU', 'IR' or 'other flags'",
    "ship_type": "ITU ship-and-cargo type code",
    "ship_category": "readable ship category (cargo, tanker, ...)",
    "port": "port within port_radius_km of where AIS went off (else came back on), "
    "or 'open sea'; the port of a dark call",
}

_OPEN_SEA = "open sea"
_UNKNOWN = "unknown"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _utc(s: pd.Series) -> pd.Series:
    """A datetime column as tz-aware UTC (naive times are taken as UTC)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.dt.tz_localize("UTC")
    return pd.to_datetime(s, utc=True, errors="coerce")


def _month(s: pd.Series) -> pd.Series:
    """Calendar month (UTC) of each time, as ``period[M]``."""
    return _utc(s).dt.tz_localize(None).dt.to_period("M")


def _require(df: pd.DataFrame, cols: Iterable[str], name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(
            f"{name} lacks column(s) {', '.join(missing)}; has {', '.join(map(str, df.columns))}"
        )


def _empty_calls() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mmsi": pd.Series([], dtype="int64"),
            "port": pd.Series([], dtype=object),
            "start_time": pd.Series([], dtype="datetime64[ns, UTC]"),
            "end_time": pd.Series([], dtype="datetime64[ns, UTC]"),
        }
    )


def _flags(df: pd.DataFrame) -> pd.Series:
    """``flag_state`` of each row: the column where present, else from the MMSI."""
    from caspian_ais.flags import flag_state_from_mmsi

    derived = pd.Series(
        np.asarray(flag_state_from_mmsi(df["mmsi"].to_numpy(dtype="int64")), dtype=object),
        index=df.index,
        dtype=object,
    )
    if "flag_state" in df.columns:
        own = df["flag_state"].astype(object)
        derived = own.where(own.notna() & (own.astype(str) != ""), derived)
    derived = derived.where(derived.notna() & (derived.astype(str) != ""), _UNKNOWN)
    return derived.astype(object)


def _durations_h(df: pd.DataFrame) -> pd.Series:
    if "duration_h" in df.columns:
        return pd.to_numeric(df["duration_h"], errors="coerce").astype("float64")
    return (_utc(df["end_time"]) - _utc(df["start_time"])).dt.total_seconds() / 3600.0


def _suspicious(gaps: pd.DataFrame) -> pd.Series | None:
    if "suspicious" not in gaps.columns:
        return None
    return gaps["suspicious"].astype("boolean").fillna(False).astype(bool)


def _per_vessel_first(df: pd.DataFrame, col: str) -> pd.Series:
    """Most frequent non-missing value of ``col`` per MMSI (ties: first seen)."""
    if col not in df.columns or not len(df):
        return pd.Series(dtype=object)
    sub = df[["mmsi", col]].dropna()
    if col in ("name", "flag_state"):
        sub = sub[sub[col].astype(str).str.strip() != ""]
    if not len(sub):
        return pd.Series(dtype=object)
    counts = sub.groupby(["mmsi", col], sort=False, observed=True).size().reset_index(name="n")
    counts = counts.sort_values(["mmsi", "n"], ascending=[True, False], kind="stable")
    return counts.drop_duplicates("mmsi").set_index("mmsi")[col]


def default_ports() -> pd.DataFrame | None:
    """The bundled port gazetteer, or ``None`` when :mod:`caspian_ais.ports` is absent.

    Returns
    -------
    pandas.DataFrame or None
        Columns ``port, country, unlocode, lat, lon, ...`` (see
        :func:`caspian_ais.ports.load_ports`).
    """
    try:
        from caspian_ais.ports import load_ports
    except ImportError:
        return None
    try:
        return load_ports()
    except Exception:
        return None


def _nearest(
    lat: np.ndarray, lon: np.ndarray, ports: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest port name and distance (km) for each position."""
    from caspian_ais.geodesy import haversine_km

    names = ports["port"].astype(str).to_numpy()
    plat = ports["lat"].to_numpy(dtype="float64")
    plon = ports["lon"].to_numpy(dtype="float64")
    n = lat.size
    best = np.full(n, np.inf)
    who = np.full(n, "", dtype=object)
    for i in range(plat.size):  # a gazetteer has tens of ports: loop over ports, not rows
        d = haversine_km(lat, lon, plat[i], plon[i])
        closer = d < best
        best = np.where(closer, d, best)
        who[closer] = names[i]
    return who, best


def gap_ports(
    gaps: pd.DataFrame,
    ports: pd.DataFrame | None = None,
    port_radius_km: float = 50.0,
) -> pd.Series:
    """The port each gap belongs to: where AIS went off, else where it came back on.

    A gap is assigned to the nearest port within ``port_radius_km`` of its start
    (switch-off) position; failing that, of its end (switch-on) position; failing that
    it is ``"open sea"``. The gap table's own ``start_port``/``start_port_km`` and
    ``end_port``/``end_port_km`` columns are used when present, else the distances are
    computed from ``start_lat``/``start_lon`` and ``end_lat``/``end_lon``.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Gap table (see :func:`caspian_ais.detect_gaps`).
    ports : pandas.DataFrame, optional
        Gazetteer with ``port, lat, lon``; default the bundled one.
    port_radius_km : float, default 50.0
        Largest distance (km) from a port at which a switch-off still counts as at
        that port. Switch-offs on the approach to Caspian ports happen tens of km out.

    Returns
    -------
    pandas.Series of str
        Port names, ``"open sea"``, or ``"unknown"`` when there is no port information.

    Examples
    --------
    >>> import pandas as pd
    >>> g = pd.DataFrame({"start_lat": [37.5, 42.0], "start_lon": [49.5, 50.0],
    ...                   "end_lat": [37.6, 42.1], "end_lon": [49.4, 50.1]})
    >>> ports = pd.DataFrame({"port": ["Bandar Anzali"], "lat": [37.4769], "lon": [49.4718]})
    >>> gap_ports(g, ports).tolist()
    ['Bandar Anzali', 'open sea']
    """
    out = pd.Series(_OPEN_SEA, index=gaps.index, dtype=object)
    found = np.zeros(len(gaps), dtype=bool)
    have_any = False
    for end in ("start", "end"):
        name_col, km_col = f"{end}_port", f"{end}_port_km"
        if name_col in gaps.columns and km_col in gaps.columns:
            names = gaps[name_col].astype(object).to_numpy()
            km = pd.to_numeric(gaps[km_col], errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
            have_any = True
        elif f"{end}_lat" in gaps.columns and f"{end}_lon" in gaps.columns:
            if ports is None:
                ports = default_ports()
            if ports is None or not len(ports):
                continue
            have_any = True
            lat = pd.to_numeric(gaps[f"{end}_lat"], errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
            lon = pd.to_numeric(gaps[f"{end}_lon"], errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
            names, km = _nearest(lat, lon, ports)
        else:
            continue
        hit = ~found & (km <= port_radius_km) & pd.notna(names)
        out[hit] = names[hit]
        found |= hit
    if not have_any:
        out[:] = _UNKNOWN
    return out


def _keys(
    df: pd.DataFrame,
    by: Sequence[str],
    *,
    kind: str,
    gaps: pd.DataFrame | None,
    ports: pd.DataFrame | None,
    port_radius_km: float,
) -> pd.DataFrame:
    """Grouping key columns for gap (``kind="gap"``) or call (``kind="call"``) rows."""
    keys: dict[str, Any] = {}
    vessel_types: pd.Series | None = None
    for key in by:
        if key in ("flag_state", "flag_group"):
            flags = _flags(df)
            keys[key] = flags if key == "flag_state" else flag_group(flags)
        elif key in ("ship_type", "ship_category"):
            if "ship_type" in df.columns:
                codes = df["ship_type"]
            else:
                if vessel_types is None:
                    vessel_types = (
                        _per_vessel_first(gaps, "ship_type")
                        if gaps is not None
                        else pd.Series(dtype=object)
                    )
                codes = df["mmsi"].map(vessel_types)
            codes = pd.to_numeric(codes, errors="coerce").astype("Int64")
            keys[key] = codes if key == "ship_type" else ship_category(codes)
        elif key == "port":
            if kind == "call":
                keys[key] = df["port"].astype(object).where(df["port"].notna(), _UNKNOWN)
            elif "port" in df.columns:
                keys[key] = df["port"].astype(object).where(df["port"].notna(), _OPEN_SEA)
            else:
                keys[key] = gap_ports(df, ports, port_radius_km)
        elif key in df.columns:
            keys[key] = df[key]
        elif kind == "call":
            keys[key] = pd.Series(pd.NA, index=df.index, dtype=object)
        else:
            raise KeyError(
                f"cannot group by {key!r}: use one of {sorted(MONTHLY_KEYS)} or a gap column"
            )
    return pd.DataFrame(keys, index=df.index)


# ---------------------------------------------------------------------------------------
# monthly summary
# ---------------------------------------------------------------------------------------


def monthly_summary(
    gaps: pd.DataFrame,
    dark_port_calls: pd.DataFrame | None = None,
    by: str | Sequence[str] = ("flag_state",),
    *,
    ports: pd.DataFrame | None = None,
    port_radius_km: float = 50.0,
) -> pd.DataFrame:
    """Monthly counts of gaps, suspicious gaps, hours dark and dark port calls.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Gap table (at least ``mmsi``, ``start_time``, and ``duration_h`` or
        ``end_time``). A ``suspicious`` column adds the suspicious counts.
    dark_port_calls : pandas.DataFrame, optional
        Probable dark port calls (at least ``mmsi``, ``port``, ``start_time``).
    by : str or sequence of str, default ("flag_state",)
        Grouping keys besides the month: ``"flag_state"``, ``"flag_group"`` (RU, IR,
        other flags), ``"ship_type"`` (ITU code), ``"ship_category"`` (cargo,
        tanker, ...), ``"port"`` (see :func:`gap_ports`), or any gap column. ``()``
        gives one row per month.
    ports : pandas.DataFrame, optional
        Port gazetteer for ``by="port"`` when the gap table has no port columns;
        default the bundled one.
    port_radius_km : float, default 50.0
        Distance (km) within which a switch-off counts as at a port.

    Returns
    -------
    pandas.DataFrame
        One row per month and key combination that has a gap or a dark call, sorted by
        month then key: ``month`` (``period[M]``, UTC, month of the gap start), the
        keys, ``gaps`` (count), ``vessels`` (distinct MMSIs with a gap),
        ``hours_dark`` (h, sum of gap durations), ``suspicious_gaps`` (count),
        ``suspicious_hours_dark`` (h), ``dark_port_calls`` (count). Suspicious
        columns are ``<NA>`` without a ``suspicious`` column, ``dark_port_calls`` is
        ``<NA>`` without a dark call table.

    Examples
    --------
    >>> import pandas as pd
    >>> gaps = pd.DataFrame({"mmsi": [273000001, 422000001, 273000001],
    ...     "start_time": pd.to_datetime(["2023-06-02", "2023-06-09", "2023-07-01"], utc=True),
    ...     "duration_h": [10.0, 7.5, 20.0], "suspicious": [True, False, True]})
    >>> monthly_summary(gaps)[["month", "flag_state", "gaps", "hours_dark"]]
         month flag_state  gaps  hours_dark
    0  2023-06         IR     1         7.5
    1  2023-06         RU     1        10.0
    2  2023-07         RU     1        20.0
    """
    by = (by,) if isinstance(by, str) else tuple(by)
    _require(gaps, ("mmsi", "start_time"), "gaps")
    hours = _durations_h(gaps)
    susp = _suspicious(gaps)
    g = _keys(gaps, by, kind="gap", gaps=gaps, ports=ports, port_radius_km=port_radius_km)
    g.insert(0, "month", _month(gaps["start_time"]))
    g["mmsi"] = gaps["mmsi"].to_numpy()
    g["hours_dark"] = hours.to_numpy()
    g["suspicious"] = susp.to_numpy() if susp is not None else False
    g["suspicious_hours_dark"] = np.where(g["suspicious"], g["hours_dark"], 0.0)
    keys = ["month", *by]
    agg = g.groupby(keys, dropna=False, sort=False, observed=True).agg(
        gaps=("mmsi", "size"),
        vessels=("mmsi", "nunique"),
        hours_dark=("hours_dark", "sum"),
        suspicious_gaps=("suspicious", "sum"),
        suspicious_hours_dark=("suspicious_hours_dark", "sum"),
    )
    if dark_port_calls is not None:
        _require(dark_port_calls, ("mmsi", "port", "start_time"), "dark_port_calls")
        d = _keys(
            dark_port_calls, by, kind="call", gaps=gaps, ports=ports, port_radius_km=port_radius_km
        )
        d.insert(0, "month", _month(dark_port_calls["start_time"]))
        dagg = (
            d.groupby(keys, dropna=False, sort=False, observed=True)
            .size()
            .rename("dark_port_calls")
        )
        out = agg.join(dagg, how="outer")
    else:
        out = agg.copy()
        out["dark_port_calls"] = np.nan
    out = out.reset_index()
    for col in ("gaps", "vessels", "suspicious_gaps"):
        out[col] = out[col].fillna(0).astype("int64")
    for col in ("hours_dark", "suspicious_hours_dark"):
        out[col] = out[col].fillna(0.0).astype("float64")
    if dark_port_calls is None:
        out["dark_port_calls"] = pd.array([pd.NA] * len(out), dtype="Int64")
    else:
        out["dark_port_calls"] = out["dark_port_calls"].fillna(0).astype("int64")
    if susp is None:
        out["suspicious_gaps"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["suspicious_hours_dark"] = pd.array([pd.NA] * len(out), dtype="Float64")
    out = out.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)
    cols = [
        *keys,
        "gaps",
        "vessels",
        "hours_dark",
        "suspicious_gaps",
        "suspicious_hours_dark",
        "dark_port_calls",
    ]
    return out[cols]


# ---------------------------------------------------------------------------------------
# watch list
# ---------------------------------------------------------------------------------------


def _port_counts_text(calls: pd.DataFrame) -> pd.Series:
    """``"Bandar Anzali (3), Astrakhan (1)"`` per MMSI."""
    if not len(calls):
        return pd.Series(dtype=object)
    c = calls.groupby(["mmsi", "port"], observed=True).size().reset_index(name="n")
    c = c.sort_values(["mmsi", "n", "port"], ascending=[True, False, True], kind="stable")
    c["text"] = c["port"].astype(str) + " (" + c["n"].astype(str) + ")"
    return c.groupby("mmsi", sort=False)["text"].agg(", ".join)


def watch_list(
    gaps: pd.DataFrame,
    dark_port_calls: pd.DataFrame | None = None,
    tracks: Any = None,
    top: int | None = None,
) -> pd.DataFrame:
    """Vessels ranked by hours dark and probable dark port calls.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Gap table (at least ``mmsi``, ``start_time``, ``end_time`` or ``duration_h``).
    dark_port_calls : pandas.DataFrame, optional
        Probable dark port calls (``mmsi``, ``port``, ``start_time``, ``end_time``).
    tracks : pandas.DataFrame or movingpandas.TrajectoryCollection, optional
        The canonical track table, for ``name``, ``imo``, ``flag_state`` and
        ``ship_type`` (most frequent value per vessel). Without it they come from the
        gap and call tables where those carry them, and the flag from the MMSI.
    top : int, optional
        Keep only the first ``top`` vessels.

    Returns
    -------
    pandas.DataFrame
        One row per vessel with a gap or a dark call: ``rank`` (1 = first to look
        at), ``mmsi``, ``name``, ``imo``, ``flag_state``, ``ship_type``, ``gaps``,
        ``suspicious_gaps``, ``hours_dark`` (h, all gaps), ``suspicious_hours_dark``
        (h), ``longest_gap_h`` (h), ``dark_port_calls``, ``dark_call_ports`` (ports
        with their dark call counts), ``first_gap_start``, ``last_gap_end``.

        Ranking: by ``suspicious_hours_dark`` (``hours_dark`` when the gap table has
        no ``suspicious`` column), then ``dark_port_calls``, then ``gaps``, all
        descending; ties by MMSI.

    Examples
    --------
    >>> import pandas as pd
    >>> gaps = pd.DataFrame({"mmsi": [273000001, 422000001, 422000001],
    ...     "start_time": pd.to_datetime(["2023-06-02", "2023-06-09", "2023-07-01"], utc=True),
    ...     "duration_h": [10.0, 7.5, 20.0]})
    >>> watch_list(gaps)[["rank", "mmsi", "flag_state", "gaps", "hours_dark"]]
       rank       mmsi flag_state  gaps  hours_dark
    0     1  422000001         IR     2        27.5
    1     2  273000001         RU     1        10.0
    """
    _require(gaps, ("mmsi", "start_time"), "gaps")
    susp = _suspicious(gaps)
    g = pd.DataFrame(
        {
            "mmsi": gaps["mmsi"].to_numpy(dtype="int64"),
            "hours": _durations_h(gaps).to_numpy(),
            "start": _utc(gaps["start_time"]).to_numpy(),
            "end": (
                _utc(gaps["end_time"]) if "end_time" in gaps.columns else _utc(gaps["start_time"])
            ).to_numpy(),
            "susp": susp.to_numpy() if susp is not None else np.zeros(len(gaps), dtype=bool),
        }
    )
    g["susp_hours"] = np.where(g["susp"], g["hours"], 0.0)
    per = g.groupby("mmsi").agg(
        gaps=("hours", "size"),
        suspicious_gaps=("susp", "sum"),
        hours_dark=("hours", "sum"),
        suspicious_hours_dark=("susp_hours", "sum"),
        longest_gap_h=("hours", "max"),
        first_gap_start=("start", "min"),
        last_gap_end=("end", "max"),
    )
    calls = _empty_calls() if dark_port_calls is None else dark_port_calls
    if dark_port_calls is not None:
        _require(dark_port_calls, ("mmsi", "port"), "dark_port_calls")
    n_calls = calls.groupby("mmsi").size().rename("dark_port_calls")
    per = per.join(n_calls, how="outer")
    per["dark_call_ports"] = _port_counts_text(calls).reindex(per.index)
    per["dark_call_ports"] = per["dark_call_ports"].fillna("").astype(object)
    for col in ("gaps", "suspicious_gaps", "dark_port_calls"):
        per[col] = per[col].fillna(0).astype("int64")
    for col in ("hours_dark", "suspicious_hours_dark", "longest_gap_h"):
        per[col] = per[col].fillna(0.0).astype("float64")
    per.index = per.index.astype("int64")
    per.index.name = "mmsi"

    # identity: tracks first, then the gap / call tables, then the MMSI
    ident = pd.DataFrame(index=per.index)
    sources: list[pd.DataFrame] = []
    if tracks is not None:
        from caspian_ais.trajectories import as_tracks

        t = as_tracks(tracks)
        cols = [c for c in ("mmsi", "name", "imo", "flag_state", "ship_type") if c in t.columns]
        t = t.loc[t["mmsi"].isin(per.index), cols]
        sources.append(t)
    sources += [df for df in (gaps, calls) if df is not None]
    for col in ("name", "imo", "flag_state", "ship_type"):
        val = pd.Series(pd.NA, index=per.index, dtype=object)
        for src in sources:
            found = _per_vessel_first(src, col)
            if len(found):
                found.index = found.index.astype("int64")
                val = val.where(val.notna(), found.reindex(per.index).astype(object))
        ident[col] = val
    from caspian_ais.flags import flag_state_from_mmsi

    mid_flag = pd.Series(
        np.asarray(flag_state_from_mmsi(per.index.to_numpy()), dtype=object), index=per.index
    )
    mid_flag = mid_flag.where(mid_flag.astype(str) != "", pd.NA)
    ident["flag_state"] = ident["flag_state"].where(ident["flag_state"].notna(), mid_flag)
    ident["imo"] = pd.to_numeric(ident["imo"], errors="coerce").astype("Int64")
    ident["ship_type"] = pd.to_numeric(ident["ship_type"], errors="coerce").astype("Int16")
    for col in ("name", "flag_state"):
        ident[col] = ident[col].astype("string")
    out = ident.join(per).reset_index()

    primary = "suspicious_hours_dark" if susp is not None else "hours_dark"
    out = out.sort_values(
        [primary, "dark_port_calls", "gaps", "mmsi"],
        ascending=[False, False, False, True],
        kind="stable",
    ).reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1, dtype="int64"))
    if susp is None:
        out["suspicious_gaps"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["suspicious_hours_dark"] = pd.array([pd.NA] * len(out), dtype="Float64")
    cols = [
        "rank",
        "mmsi",
        "name",
        "imo",
        "flag_state",
        "ship_type",
        "gaps",
        "suspicious_gaps",
        "hours_dark",
        "suspicious_hours_dark",
        "longest_gap_h",
        "dark_port_calls",
        "dark_call_ports",
        "first_gap_start",
        "last_gap_end",
    ]
    out = out[cols]
    if top is not None:
        out = out.head(int(top)).reset_index(drop=True)
    return out


# ---------------------------------------------------------------------------------------
# port table
# ---------------------------------------------------------------------------------------


def _flag_mix(calls: pd.DataFrame) -> pd.Series:
    """``"RU 4, IR 2"`` per port: flags of the vessels making the calls."""
    if not len(calls):
        return pd.Series(dtype=object)
    c = pd.DataFrame({"port": calls["port"].to_numpy(), "flag": _flags(calls).to_numpy()})
    c = c.groupby(["port", "flag"], observed=True).size().reset_index(name="n")
    c = c.sort_values(["port", "n", "flag"], ascending=[True, False, True], kind="stable")
    c["text"] = c["flag"].astype(str) + " " + c["n"].astype(str)
    return c.groupby("port", sort=False)["text"].agg(", ".join)


def _call_stats(calls: pd.DataFrame, prefix: str) -> pd.DataFrame:
    if not len(calls):
        return pd.DataFrame(
            columns=[f"{prefix}_calls", f"{prefix}_vessels", f"median_{prefix}_call_h"],
            index=pd.Index([], name="port", dtype=object),
        )
    hours = (
        _durations_h(calls)
        if ("duration_h" in calls.columns or "end_time" in calls.columns)
        else pd.Series(np.nan, index=calls.index)
    )
    c = pd.DataFrame(
        {
            "port": calls["port"].astype(object).to_numpy(),
            "mmsi": calls["mmsi"].to_numpy(),
            "hours": hours.to_numpy(),
        }
    )
    return c.groupby("port").agg(
        **{
            f"{prefix}_calls": ("mmsi", "size"),
            f"{prefix}_vessels": ("mmsi", "nunique"),
            f"median_{prefix}_call_h": ("hours", "median"),
        }
    )


def port_table(
    port_calls: pd.DataFrame | None = None,
    dark_port_calls: pd.DataFrame | None = None,
    ports: pd.DataFrame | bool | None = None,
) -> pd.DataFrame:
    """Visible port calls against probable dark port calls, per port.

    Parameters
    ----------
    port_calls : pandas.DataFrame, optional
        Visible port calls (``mmsi``, ``port``, ``start_time``, ``end_time``).
    dark_port_calls : pandas.DataFrame, optional
        Probable dark port calls, same columns.
    ports : pandas.DataFrame, bool or None, default None
        Gazetteer (``port``, ``country``, ``unlocode``); ``None`` the bundled one.
        Every gazetteer port gets a row, with zero calls where it had none. ``False``:
        only the ports with calls, without country or UN/LOCODE.

    Returns
    -------
    pandas.DataFrame
        One row per port: ``port``, ``country``, ``unlocode``, ``visible_calls``,
        ``dark_calls``, ``dark_share`` (dark / (visible + dark), 0-1, ``NaN`` without
        calls), ``visible_vessels``, ``dark_vessels`` (distinct MMSIs),
        ``median_visible_call_h``, ``median_dark_call_h`` (h), ``dark_call_flags``
        (flags of the dark callers, e.g. ``"RU 4, IR 2"``). Sorted by dark calls,
        then visible calls, descending. A count is ``<NA>`` when its table was not
        given.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.to_datetime(["2023-06-01", "2023-06-02"], utc=True)
    >>> visible = pd.DataFrame({"mmsi": [273000001, 273000002], "port": ["Astrakhan"] * 2,
    ...                         "start_time": t, "end_time": t + pd.Timedelta("20h")})
    >>> dark = visible.iloc[:1].assign(port="Bandar Anzali")
    >>> port_table(visible, dark, ports=False)[["port", "visible_calls", "dark_calls"]]
                port  visible_calls  dark_calls
    0  Bandar Anzali              0           1
    1      Astrakhan              2           0
    """
    for name, df in (("port_calls", port_calls), ("dark_port_calls", dark_port_calls)):
        if df is not None:
            _require(df, ("mmsi", "port"), name)
    vis = _empty_calls() if port_calls is None else port_calls
    dark = _empty_calls() if dark_port_calls is None else dark_port_calls
    if ports is None or ports is True:
        ports = default_ports()
    elif ports is False:
        ports = None
    stats = _call_stats(vis, "visible").join(_call_stats(dark, "dark"), how="outer")
    if ports is not None and len(ports):
        base = ports[
            [c for c in ("port", "country", "unlocode") if c in ports.columns]
        ].drop_duplicates("port")
        base = base.set_index("port")
        stats = base.join(stats, how="outer")
    out = stats.reset_index().rename(columns={"index": "port"})
    for col in ("country", "unlocode"):
        if col not in out.columns:
            out[col] = pd.NA
    for col, given in (
        ("visible_calls", port_calls is not None),
        ("visible_vessels", port_calls is not None),
        ("dark_calls", dark_port_calls is not None),
        ("dark_vessels", dark_port_calls is not None),
    ):
        if col not in out.columns:
            out[col] = np.nan
        out[col] = (
            out[col].fillna(0).astype("int64")
            if given
            else pd.array([pd.NA] * len(out), dtype="Int64")
        )
    for col in ("median_visible_call_h", "median_dark_call_h"):
        if col not in out.columns:
            out[col] = np.nan
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    total = out["visible_calls"].astype("Float64").fillna(0) + out["dark_calls"].astype(
        "Float64"
    ).fillna(0)
    share = out["dark_calls"].astype("Float64") / total.where(total > 0)
    out["dark_share"] = share.astype("float64") if dark_port_calls is not None else np.nan
    flags_text = out["port"].map(_flag_mix(dark)).astype(object)
    out["dark_call_flags"] = flags_text.where(flags_text.notna(), "")
    out = out.sort_values(
        ["dark_calls", "visible_calls", "port"],
        ascending=[False, False, True],
        kind="stable",
        na_position="last",
    ).reset_index(drop=True)
    cols = [
        "port",
        "country",
        "unlocode",
        "visible_calls",
        "dark_calls",
        "dark_share",
        "visible_vessels",
        "dark_vessels",
        "median_visible_call_h",
        "median_dark_call_h",
        "dark_call_flags",
    ]
    return out[cols]
