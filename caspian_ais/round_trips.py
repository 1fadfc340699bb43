"""Dark round trips: leave port P, go dark at sea, come back to P without calling elsewhere.

"It is suspicious if a ship simply leaves one port and returns without calling another
port" (Lloyd's List Intelligence, via CNN 2023): the pattern of a ship-to-ship transfer
at sea. A dark round trip is a run of one or more suspicious gaps between two consecutive
visible port calls at the same port ``P``, with no visible call in between, no probable
dark port call at another port during the gaps, and the vessel out of ``P``'s port area
when it went dark.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.gaps import port_table
from caspian_ais.geodesy import haversine_km

__all__ = ["ROUND_TRIP_COLUMNS", "detect_round_trips"]

_NS_PER_H = 3_600_000_000_000

#: Columns of :func:`detect_round_trips`, in order.
ROUND_TRIP_COLUMNS: tuple[str, ...] = (
    "mmsi",
    "port",
    "start_time",
    "end_time",
    "dark_h",
    "n_gaps",
    "gap_ids",
    "depart_time",
    "return_time",
    "trip_h",
    "dark_share",
    "max_offshore_km",
    "flag_state",
)


def _empty() -> pd.DataFrame:
    utc = "datetime64[ns, UTC]"
    dt: dict[str, Any] = {
        "mmsi": "int64", "port": "str", "start_time": utc, "end_time": utc,
        "dark_h": "float64", "n_gaps": "int64", "gap_ids": "str", "depart_time": utc,
        "return_time": utc, "trip_h": "float64", "dark_share": "float64",
        "max_offshore_km": "float64", "flag_state": "str",
    }
    return pd.DataFrame({c: pd.Series([], dtype=dt[c]) for c in ROUND_TRIP_COLUMNS})


def detect_round_trips(
    gaps: pd.DataFrame,
    port_calls: pd.DataFrame,
    ports: Any = None,
    *,
    dark_port_calls: pd.DataFrame | None = None,
    require_suspicious: bool = True,
    max_trip_h: float = 30 * 24.0,
    min_dark_share: float = 0.0,
    min_offshore_km: float = 0.0,
) -> pd.DataFrame:
    """Find dark round trips from a port back to the same port.

    Parameters
    ----------
    gaps : pandas.DataFrame
        From :func:`caspian_ais.detect_gaps` (enriched: ``suspicious`` and
        ``start_in_port`` are used when present).
    port_calls : pandas.DataFrame
        From :func:`caspian_ais.port_calls.detect_port_calls`.
    ports : pandas.DataFrame or path, optional
        Gazetteer (for ``max_offshore_km``); default the bundled Caspian one.
    dark_port_calls : pandas.DataFrame, optional
        From :func:`caspian_ais.dark_port_calls.detect_dark_port_calls`: a gap that is a
        probable dark call at another port breaks the round trip.
    require_suspicious : bool, default True
        Use only gaps with ``suspicious`` true (when the column exists).
    max_trip_h : float, default 720.0
        Longest time from the departure to the return, hours (30 days).
    min_dark_share : float, default 0.0
        Smallest share of the trip spent dark (0-1).
    min_offshore_km : float, default 0.0
        Keep only trips whose farthest gap end lies at least this far from the port, km.

    Returns
    -------
    pandas.DataFrame
        One row per round trip, columns :data:`ROUND_TRIP_COLUMNS`: ``start_time`` /
        ``end_time`` are the first gap's start and the last gap's end; ``depart_time``
        and ``return_time`` the end of the call before and the start of the call after;
        ``gap_ids`` the gaps, ``;``-separated.

    Examples
    --------
    >>> calls = pd.DataFrame({"mmsi": [273000001] * 2, "port": ["P", "P"],
    ...     "start_time": pd.to_datetime(["2023-01-01", "2023-01-05"], utc=True),
    ...     "end_time": pd.to_datetime(["2023-01-02", "2023-01-06"], utc=True)})
    >>> g = pd.DataFrame({"mmsi": [273000001], "gap_id": ["a"], "is_closed": [True],
    ...     "start_time": pd.to_datetime(["2023-01-02 06:00"], utc=True),
    ...     "end_time": pd.to_datetime(["2023-01-04 12:00"], utc=True),
    ...     "duration_h": [54.0], "start_lat": [0.5], "start_lon": [0.0],
    ...     "end_lat": [0.4], "end_lon": [0.0], "suspicious": [True]})
    >>> ports = pd.DataFrame({"port": ["P"], "lat": [0.0], "lon": [0.0]})
    >>> detect_round_trips(g, calls, ports)[["port", "dark_h", "n_gaps"]].values.tolist()
    [['P', 54.0, 1]]
    """
    if len(gaps) == 0 or port_calls is None or len(port_calls) == 0:
        return _empty()
    g = gaps.reset_index(drop=True)
    ok = g["end_time"].notna().to_numpy().copy()
    if "is_closed" in g:
        ok &= g["is_closed"].to_numpy(dtype=bool)
    if require_suspicious and "suspicious" in g:
        ok &= g["suspicious"].to_numpy(dtype=bool)
    if "start_in_port" in g:
        ok &= ~g["start_in_port"].to_numpy(dtype=bool)
    if "end_in_port" in g:
        ok &= ~g["end_in_port"].to_numpy(dtype=bool)
    g = g[ok].reset_index(drop=True)
    if g.empty:
        return _empty()
    g["_i"] = np.arange(len(g))
    pc = port_calls[["mmsi", "port", "start_time", "end_time"]].copy()
    pc["port"] = pc["port"].astype(object)
    pc = pc.reset_index(drop=True)
    pc["_c"] = np.arange(len(pc))
    prev = pd.merge_asof(
        g[["mmsi", "start_time", "_i"]].sort_values("start_time"),
        pc.rename(columns={"start_time": "p_start", "end_time": "p_end", "port": "p_port",
                           "_c": "p_c"}).sort_values("p_end"),
        left_on="start_time", right_on="p_end", by="mmsi", direction="backward")
    nxt = pd.merge_asof(
        g[["mmsi", "end_time", "_i"]].sort_values("end_time"),
        pc.rename(columns={"start_time": "n_start", "end_time": "n_end", "port": "n_port",
                           "_c": "n_c"}).sort_values("n_start"),
        left_on="end_time", right_on="n_start", by="mmsi", direction="forward")
    g = g.merge(prev[["_i", "p_port", "p_end", "p_c"]], on="_i").merge(
        nxt[["_i", "n_port", "n_start", "n_c"]], on="_i")
    same = g["p_port"].notna() & (g["p_port"] == g["n_port"])
    g = g[same.to_numpy(dtype=bool)]
    if g.empty:
        return _empty()
    # consecutive calls of the vessel only: no other call between them
    calls_sorted = pc.sort_values(["mmsi", "start_time"]).reset_index(drop=True)
    pos = pd.Series(np.arange(len(calls_sorted)), index=calls_sorted["_c"].to_numpy())
    adjacent = (pos.loc[g["n_c"].to_numpy()].to_numpy()
                == pos.loc[g["p_c"].to_numpy()].to_numpy() + 1)
    g = g[adjacent]
    if dark_port_calls is not None and len(dark_port_calls) and "gap_id" in g:
        d = dark_port_calls[["gap_id", "port"]].astype(str)
        m = g[["gap_id", "p_port"]].astype(str).merge(d, on="gap_id", how="left")
        elsewhere = m["port"].notna() & (m["port"] != m["p_port"])
        g = g[~elsewhere.to_numpy()]
    if g.empty:
        return _empty()
    ptab = port_table(ports)
    names = ptab["port"].astype(str).to_numpy()
    lookup = pd.Series(np.arange(len(ptab)), index=names)
    pi = lookup.reindex(g["p_port"].astype(str).to_numpy()).to_numpy()
    has = ~np.isnan(pi)
    pi0 = np.where(has, pi, 0).astype(np.int64)
    plat, plon = ptab["lat"].to_numpy(float)[pi0], ptab["lon"].to_numpy(float)[pi0]
    off = np.fmax(haversine_km(g["start_lat"].to_numpy(float), g["start_lon"].to_numpy(float),
                               plat, plon),
                  haversine_km(g["end_lat"].to_numpy(float), g["end_lon"].to_numpy(float),
                               plat, plon))
    g = g.assign(_off=np.where(has, off, np.nan))
    if "gap_id" not in g:
        g["gap_id"] = g["mmsi"].astype(str) + "-" + g["_i"].astype(str)
    if "flag_state" not in g:
        from caspian_ais.flags import flag_state_from_mmsi

        g["flag_state"] = flag_state_from_mmsi(g["mmsi"].to_numpy()).to_numpy()
    g = g.sort_values(["mmsi", "start_time"])
    agg = g.groupby(["mmsi", "p_c"], sort=False).agg(
        port=("p_port", "first"),
        start_time=("start_time", "min"),
        end_time=("end_time", "max"),
        dark_h=("duration_h", "sum"),
        n_gaps=("gap_id", "size"),
        gap_ids=("gap_id", lambda s: ";".join(map(str, s))),
        depart_time=("p_end", "first"),
        return_time=("n_start", "first"),
        max_offshore_km=("_off", "max"),
        flag_state=("flag_state", "first"),
    ).reset_index()
    agg["trip_h"] = (agg["return_time"] - agg["depart_time"]).dt.total_seconds() / 3600.0
    agg["dark_share"] = np.where(agg["trip_h"] > 0, agg["dark_h"] / agg["trip_h"], np.nan)
    keep = ((agg["trip_h"] <= max_trip_h) & (agg["dark_share"].fillna(0) >= min_dark_share)
            & (agg["max_offshore_km"].fillna(np.inf) >= min_offshore_km))
    out = agg[keep].sort_values(["mmsi", "start_time"], ignore_index=True)
    if out.empty:
        return _empty()
    out["port"] = out["port"].astype("str")
    out["gap_ids"] = out["gap_ids"].astype("str")
    out["flag_state"] = out["flag_state"].astype("str")
    out["n_gaps"] = out["n_gaps"].astype("int64")
    return out[list(ROUND_TRIP_COLUMNS)]
