"""Visible port calls: port entry and exit with hysteresis, stops, in-port gaps.

Follows Global Fishing Watch's port-visit method (GFW anchorages; see
``docs/detection.md``): a vessel *enters* a port when it comes within the port's entry
radius (``area_radius_km``, 3 km by default) and *leaves* it only beyond the exit radius
(entry + 1 km = 4 km), so that a vessel wandering along the boundary does not make a new
call at every report. A *stop* starts when the speed drops below ``stop_start_kn``
(0.2 kn) and ends when it rises above ``stop_end_kn`` (0.5 kn). A silence inside the port
is part of the call (AIS off at berth is still a call: it is visible, it is not a dark
port call). Each call gets GFW's confidence level 1-4.

Everything is vectorised over all vessels: one sort by ``(mmsi, timestamp)``, a grid
search of the nearest port, a forward fill for the hysteresis state, and run-length
aggregates per call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.gaps import nearest_port_km, port_table, sort_tracks
from caspian_ais.ports import EXIT_HYSTERESIS_KM

__all__ = ["PORT_CALL_COLUMNS", "detect_port_calls"]

_NS_PER_H = 3_600_000_000_000

#: Columns of :func:`detect_port_calls`, in order.
PORT_CALL_COLUMNS: tuple[str, ...] = (
    "mmsi",
    "port",
    "start_time",
    "end_time",
    "duration_h",
    "call_id",
    "country",
    "unlocode",
    "entry_seen",
    "exit_seen",
    "stop_seen",
    "gap_seen",
    "confidence",
    "n_positions",
    "min_distance_km",
    "stop_h",
    "max_gap_h",
    "start_draught_m",
    "end_draught_m",
    "flag_state",
)


def _ffill_within(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Carry the last known value forward (the first row of each vessel must be known)."""
    idx = np.where(known, np.arange(values.size), 0)
    np.maximum.accumulate(idx, out=idx)
    return values[idx]


def _empty() -> pd.DataFrame:
    utc = "datetime64[ns, UTC]"
    dtypes: dict[str, Any] = {
        "mmsi": "int64", "port": "str", "start_time": utc, "end_time": utc,
        "duration_h": "float64", "call_id": "str", "country": "str", "unlocode": "str",
        "entry_seen": "bool", "exit_seen": "bool", "stop_seen": "bool", "gap_seen": "bool",
        "confidence": "int64", "n_positions": "int64", "min_distance_km": "float64",
        "stop_h": "float64", "max_gap_h": "float64", "start_draught_m": "float64",
        "end_draught_m": "float64", "flag_state": "str",
    }
    return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in PORT_CALL_COLUMNS})


def detect_port_calls(
    tracks: pd.DataFrame,
    ports: Any = None,
    *,
    entry_radius_km: float | None = None,
    exit_margin_km: float = EXIT_HYSTERESIS_KM,
    stop_start_kn: float = 0.2,
    stop_end_kn: float = 0.5,
    in_port_gap_h: float = 4.0,
    max_transition_h: float = 4.0,
    min_confidence: int = 2,
) -> pd.DataFrame:
    """Detect visible port calls of every vessel.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Canonical AIS table (cleaned), any row order. ``sog_kn`` is used for stops and
        ``draught_m`` / ``flag_state`` are reported when present.
    ports : pandas.DataFrame or path, optional
        Gazetteer (:func:`caspian_ais.ports.load_ports`); default the bundled Caspian one.
    entry_radius_km : float, optional
        Entry radius for every port, km. Default: each port's ``area_radius_km`` (3 km
        unless the gazetteer says otherwise; GFW: entry within 3 km).
    exit_margin_km : float, default 1.0
        The exit radius is the entry radius plus this, km (GFW: exit beyond 4 km).
    stop_start_kn, stop_end_kn : float, default 0.2, 0.5
        A stop starts below ``stop_start_kn`` and ends above ``stop_end_kn`` (GFW).
    in_port_gap_h : float, default 4.0
        A silence of at least this many hours inside the port is a *gap* event of the
        call (GFW: an in-port gap of 4 h or more is part of the visit).
    max_transition_h : float, default 4.0
        The entry (exit) counts as *seen* when the report before the first (after the
        last) in-port report lies outside the port at most this many hours away.
    min_confidence : int, default 2
        Keep calls with at least this confidence (1 keeps passages through a port area
        with neither a stop nor a gap).

    Returns
    -------
    pandas.DataFrame
        One row per call, ordered by ``(mmsi, start_time)``, columns
        :data:`PORT_CALL_COLUMNS`: ``start_time``/``end_time`` are the first and last
        in-port reports; ``confidence`` is GFW's level: 4 = entry, exit and a stop or gap
        seen; 3 = entry or exit, and a stop or gap; 2 = a stop or gap only; 1 = entry
        and/or exit only. ``call_id`` is ``"<mmsi>-<port row>-<start unix seconds>"``.

    Examples
    --------
    >>> ports = pd.DataFrame({"port": ["P"], "lat": [0.0], "lon": [0.0]})
    >>> lat = [0.2, 0.1, 0.02, 0.0, 0.0, 0.02, 0.1, 0.2]   # in, stop, out
    >>> t = pd.DataFrame({"mmsi": 273000001, "lat": lat, "lon": 0.0,
    ...     "sog_kn": [10, 10, 5, 0.0, 0.0, 5, 10, 10],
    ...     "timestamp": pd.date_range("2023-01-01", periods=8, freq="1h", tz="UTC")})
    >>> c = detect_port_calls(t, ports)
    >>> c[["port", "entry_seen", "exit_seen", "stop_seen", "confidence"]].values.tolist()
    [['P', True, True, True, 4]]
    """
    ptab = port_table(ports)
    n = len(tracks)
    if n == 0 or len(ptab) == 0:
        return _empty()
    st = sort_tracks(tracks)
    order = st.order
    identity = bool(order.size and order[0] == 0 and order[-1] == n - 1
                    and np.array_equal(order, np.arange(n)))

    def col(name: str) -> np.ndarray:
        v = tracks[name].to_numpy(dtype=np.float64, na_value=np.nan)
        return v if identity else v[order]

    lat, lon = col("lat"), col("lon")
    entry = (np.full(len(ptab), float(entry_radius_km)) if entry_radius_km is not None
             else ptab["area_radius_km"].to_numpy(dtype=np.float64))
    exit_r = entry + float(exit_margin_km)
    pidx, dist = nearest_port_km(lat, lon, ptab, max_km=float(exit_r.max()))
    has = pidx >= 0
    pi0 = np.maximum(pidx, 0)
    inside = has & (dist <= entry[pi0])
    outside = ~has | (dist > exit_r[pi0])
    code = st.code
    first = np.ones(n, dtype=bool)
    first[1:] = code[1:] != code[:-1]
    known = inside | outside | first
    val = np.where(inside, pidx, -1)
    state = _ffill_within(val, known)
    # a row in the hysteresis band of another port than the one carried is outside
    state = np.where(~known & (state != pidx), -1, state)
    # runs of constant state within a vessel
    change = first.copy()
    change[1:] |= state[1:] != state[:-1]
    run_start = np.flatnonzero(change)
    run_state = state[run_start]
    run_end = np.r_[run_start[1:], n] - 1
    keep = run_state >= 0
    f, last, port_i = run_start[keep], run_end[keep], run_state[keep]
    if f.size == 0:
        return _empty()
    t = st.t_ns
    max_tr = int(max_transition_h * _NS_PER_H)
    prev_ok = (f > 0) & ~first[f]
    pf = np.maximum(f - 1, 0)
    entry_seen = prev_ok & (state[pf] != port_i) & (t[f] - t[pf] <= max_tr)
    nl = np.minimum(last + 1, n - 1)
    next_ok = (last < n - 1) & ~first[nl]
    exit_seen = next_ok & (state[nl] != port_i) & (t[nl] - t[last] <= max_tr)
    # intervals inside a call: between consecutive rows of the same run
    in_run = np.zeros(n, dtype=bool)  # row i and i+1 in the same call
    dt = np.zeros(n, dtype=np.int64)
    dt[:-1] = t[1:] - t[:-1]
    seg = np.zeros(n, dtype=bool)
    seg[:-1] = ~change[1:] & (state[:-1] >= 0)
    in_run[:] = seg
    run_of_row = np.cumsum(change) - 1  # run index of each row
    call_of_run = np.full(run_start.size, -1, dtype=np.int64)
    call_of_run[np.flatnonzero(keep)] = np.arange(f.size)
    call_row = call_of_run[run_of_row]
    nc = f.size
    gap_ns = np.where(in_run, dt, 0)
    max_gap = np.zeros(nc, dtype=np.int64)
    np.maximum.at(max_gap, call_row[in_run], gap_ns[in_run])
    gap_seen = max_gap >= int(in_port_gap_h * _NS_PER_H)
    # stops with hysteresis
    stop_ns: np.ndarray
    if "sog_kn" in tracks:
        sog = col("sog_kn")
        s_known = (sog < stop_start_kn) | (sog > stop_end_kn) | first
        stopped = _ffill_within(np.where(sog < stop_start_kn, 1, 0), s_known).astype(bool)
        stop_start = np.zeros(nc, dtype=bool)
        rows = np.flatnonzero((call_row >= 0) & (sog < stop_start_kn))
        stop_start[np.unique(call_row[rows])] = True
        sdt = np.where(in_run & stopped, dt, 0)
        stop_ns = np.bincount(call_row[in_run], weights=sdt[in_run], minlength=nc)
    else:
        stop_start = np.zeros(nc, dtype=bool)
        stop_ns = np.zeros(nc)
    stop_seen = stop_start
    n_pos = last - f + 1
    dmin = np.full(nc, np.inf)
    rows = np.flatnonzero(call_row >= 0)
    np.minimum.at(dmin, call_row[rows], dist[rows])
    sg = stop_seen | gap_seen
    conf = np.where(entry_seen & exit_seen & sg, 4,
                    np.where((entry_seen | exit_seen) & sg, 3, np.where(sg, 2, 1)))
    mmsi = st.mmsis[code[f]]
    start_ns, end_ns = t[f], t[last]

    def utc(ns: np.ndarray) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")

    names = ptab["port"].astype(str).to_numpy()
    out = pd.DataFrame({
        "mmsi": mmsi,
        "port": pd.array(names[port_i], dtype="str"),
        "start_time": utc(start_ns),
        "end_time": utc(end_ns),
        "duration_h": (end_ns - start_ns) / _NS_PER_H,
        "call_id": pd.array(np.char.add(np.char.add(np.char.add(
            mmsi.astype(str), "-"), np.char.add(port_i.astype(str), "-")),
            (start_ns // 1_000_000_000).astype(str)).astype(object), dtype="str"),
        "country": pd.array(ptab["country"].to_numpy(dtype=object)[port_i], dtype="str")
        if "country" in ptab else pd.array([None] * nc, dtype="str"),
        "unlocode": pd.array(ptab["unlocode"].to_numpy(dtype=object)[port_i], dtype="str")
        if "unlocode" in ptab else pd.array([None] * nc, dtype="str"),
        "entry_seen": entry_seen,
        "exit_seen": exit_seen,
        "stop_seen": stop_seen,
        "gap_seen": gap_seen,
        "confidence": conf.astype(np.int64),
        "n_positions": n_pos.astype(np.int64),
        "min_distance_km": dmin,
        "stop_h": stop_ns / _NS_PER_H,
        "max_gap_h": max_gap / _NS_PER_H,
    })
    if "draught_m" in tracks:
        dr = col("draught_m")
        out["start_draught_m"] = dr[f]
        out["end_draught_m"] = dr[last]
    else:
        out["start_draught_m"] = np.nan
        out["end_draught_m"] = np.nan
    if "flag_state" in tracks:
        src = order[f]
        out["flag_state"] = pd.array(tracks["flag_state"].iloc[src].to_numpy(dtype=object),
                                     dtype="str")
    else:
        from caspian_ais.flags import flag_state_from_mmsi

        out["flag_state"] = flag_state_from_mmsi(mmsi).to_numpy()
    out = out[out["confidence"] >= int(min_confidence)]
    return out.reset_index(drop=True)[list(PORT_CALL_COLUMNS)]
