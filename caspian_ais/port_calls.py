"""Visible port calls: port entry and exit with hysteresis, stops, in-port gaps.

Follows Global Fishing Watch's port-visit method (GFW anchorages; see
``docs/detection.md``): a vessel *enters* a port when it comes within the port's entry
radius (``area_radius_km``, 3 km by default) and *leaves* it only beyond the exit radius
(entry + 1 km = 4 km), so that a vessel wandering along the boundary does not make a new
call at every report. A *stop* starts when the speed drops below ``stop_start_kn``
(0.2 kn) and ends when it rises above ``stop_end_kn`` (0.5 kn). A silence inside the port
is part of the call (AIS off at berth is still a call: it is visible, it is not a dark
port call). Each call gets GFW's confidence level 1-4.

Everything is vectorised over all vessels: one sort by ``(mmsi, timestamp)`` (none for
a table already in that order), a grid search of the ports near each report
(:func:`caspian_ais.gaps.ports_within_km`), a forward fill for the hysteresis state over
the reports near a port only, and run-length aggregates per call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.gaps import port_table, ports_within_km
from caspian_ais.ordering import SortedTracks, sort_tracks
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


def _stopped(tracks: pd.DataFrame, st: SortedTracks, near: np.ndarray, sog: np.ndarray,
             first: np.ndarray, run_start: np.ndarray, stop_start_kn: float,
             stop_end_kn: float, identity: bool) -> np.ndarray:
    """Stop state (with hysteresis) at the near rows ``near`` (sorted positions).

    A speed below ``stop_start_kn`` starts a stop, one above ``stop_end_kn`` ends it; in
    between (or missing) the state carries from the vessel's previous report, from
    before the run of near rows where needed.
    """
    known = (sog < stop_start_kn) | (sog > stop_end_kn) | first
    value = sog < stop_start_kn
    open_ = np.flatnonzero(run_start & ~known)
    if open_.size:
        value[open_] = _stopped_before(tracks, st, near[open_], stop_start_kn, stop_end_kn,
                                       identity)
        known[open_] = True
    return _ffill_within(value, known)


def _stopped_before(tracks: pd.DataFrame, st: SortedTracks, rows: np.ndarray,
                    stop_start_kn: float, stop_end_kn: float, identity: bool,
                    max_steps: int = 64) -> np.ndarray:
    """Stop state carried into sorted rows ``rows`` (which have no known state).

    Steps back to the last report with a known state (a speed outside the hysteresis
    band, or the vessel's first), ``max_steps`` at a time, then with one forward fill
    over the whole table for any left.
    """
    sog_all = tracks["sog_kn"].to_numpy(dtype=np.float64, na_value=np.nan)
    code = st.code
    out = np.zeros(rows.size, dtype=bool)
    pending = np.arange(rows.size)
    back = rows - 1  # rows are never a vessel's first, so back >= 0
    for _ in range(max_steps):
        j = back[pending]
        s = sog_all[j if identity else st.order[j]]
        known = (s < stop_start_kn) | (s > stop_end_kn) | (j == 0)
        known |= code[j] != code[np.maximum(j - 1, 0)]
        out[pending[known]] = s[known] < stop_start_kn
        pending = pending[~known]
        if pending.size == 0:
            return out
        back[pending] -= 1
    sog_s = sog_all if identity else sog_all[st.order]
    first = np.ones(sog_s.size, dtype=bool)
    first[1:] = code[1:] != code[:-1]
    known_all = (sog_s < stop_start_kn) | (sog_s > stop_end_kn) | first
    out[pending] = _ffill_within(sog_s < stop_start_kn, known_all)[rows[pending]]
    return out


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
    identity = st.presorted

    def col(name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Column ``name`` as float, at sorted positions ``rows`` (default all)."""
        v = tracks[name].to_numpy(dtype=np.float64, na_value=np.nan)
        if rows is None:
            return v if identity else v[order]
        return v[rows if identity else order[rows]]

    lat, lon = col("lat"), col("lon")
    entry = (np.full(len(ptab), float(entry_radius_km)) if entry_radius_km is not None
             else ptab["area_radius_km"].to_numpy(dtype=np.float64))
    exit_r = entry + float(exit_margin_km)
    near, p_r, d_r = ports_within_km(lat, lon, ptab, float(exit_r.max()))
    del lat, lon
    # Only "near" rows, within the exit radius of their nearest port, can belong to a
    # call: every other row is outside (state -1). The state machine runs on near rows
    # alone (index k: sorted position near[k]); the rows between them are outside.
    within = d_r <= exit_r[p_r]
    near, p_r, d_r = near[within], p_r[within], d_r[within]
    if near.size == 0:
        return _empty()
    m = near.size
    code, t = st.code, st.t_ns
    # first row of its vessel: the vessels' first rows, looked up among the near rows
    v_first, _ = st.vessel_bounds()
    at = np.minimum(np.searchsorted(near, v_first), m - 1)
    first_r = np.zeros(m, dtype=bool)
    first_r[at[near[at] == v_first]] = True
    # first of a run of consecutive near rows: the row before it is outside (or none)
    run_start = np.ones(m, dtype=bool)
    run_start[1:] = near[1:] != near[:-1] + 1
    inside = d_r <= entry[p_r]
    known = inside | first_r  # (an outside row is known too; none is near)
    # hysteresis: a row in the band carries the state of the last known row, which
    # is the outside row before its run when its run has none (state -1)
    state = _ffill_within(np.where(inside, p_r, -1), known | run_start)
    # a row in the hysteresis band of another port than the one carried is outside
    state = np.where(~known & (state != p_r), -1, state)
    # runs of constant state within a vessel (a run of near rows ends at an outside row)
    change = first_r | run_start
    change[1:] |= state[1:] != state[:-1]
    run_first = np.flatnonzero(change)
    run_state = state[run_first]
    run_last = np.r_[run_first[1:], m] - 1
    keep = run_state >= 0
    kf, kl, port_i = run_first[keep], run_last[keep], run_state[keep]
    if kf.size == 0:
        return _empty()
    f, last = near[kf], near[kl]  # sorted positions of each call's first and last row
    max_tr = int(max_transition_h * _NS_PER_H)
    # the report before the first in-port report (outside when not a near row)
    pf = np.maximum(f - 1, 0)
    prev_ok = (f > 0) & ~first_r[kf]
    state_pf = np.where(run_start[kf], -1, state[np.maximum(kf - 1, 0)])
    entry_seen = prev_ok & (state_pf != port_i) & (t[f] - t[pf] <= max_tr)
    # the report after the last one
    nl = np.minimum(last + 1, n - 1)
    next_ok = (last < n - 1) & (code[nl] == code[np.maximum(nl - 1, 0)])
    kn = np.minimum(kl + 1, m - 1)
    state_nl = np.where((kl + 1 < m) & (near[kn] == last + 1), state[kn], -1)
    exit_seen = next_ok & (state_nl != port_i) & (t[nl] - t[last] <= max_tr)
    # intervals inside a call: between consecutive rows of the same run
    nc = kf.size
    call_of_run = np.full(run_first.size, -1, dtype=np.int64)
    call_of_run[np.flatnonzero(keep)] = np.arange(nc)
    call_row = call_of_run[np.cumsum(change) - 1]  # call of each near row, or -1
    ir = np.flatnonzero(~change[1:] & (state[:-1] >= 0))  # k and k + 1 in one call
    x = near[ir]
    dt = t[x + 1] - t[x]  # near[ir + 1] is x + 1: the same call
    call_ir = call_row[ir]
    max_gap = np.zeros(nc, dtype=np.int64)
    np.maximum.at(max_gap, call_ir, dt)
    gap_seen = max_gap >= int(in_port_gap_h * _NS_PER_H)
    # stops with hysteresis
    stop_ns: np.ndarray
    if "sog_kn" in tracks:
        sog = col("sog_kn", near)
        stop_start = np.zeros(nc, dtype=bool)
        stop_start[call_row[(call_row >= 0) & (sog < stop_start_kn)]] = True
        stopped = _stopped(tracks, st, near, sog, first_r, run_start, stop_start_kn,
                           stop_end_kn, identity)
        sdt = np.where(stopped[ir], dt, 0)
        stop_ns = np.bincount(call_ir, weights=sdt, minlength=nc)
    else:
        stop_start = np.zeros(nc, dtype=bool)
        stop_ns = np.zeros(nc)
    stop_seen = stop_start
    n_pos = last - f + 1
    dmin = np.minimum.reduceat(d_r, run_first)[keep]  # runs are contiguous near rows
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
        out["start_draught_m"] = col("draught_m", f)
        out["end_draught_m"] = col("draught_m", last)
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
