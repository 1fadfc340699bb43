"""Loitering: a vessel lingering at sea at low speed for hours, away from ports and anchorages.

Definition (Global Fishing Watch's loitering event, see ``/work/shared/method.md``
"Encounters and loitering" and ``docs/encounters_identity.md``): average speed below
``max_mean_speed_kn`` (2 kn) for at least ``min_duration_h`` (4 h), farther than
``min_port_distance_km`` from every port and outside the offshore anchorages. GFW measures
"20 nm offshore"; this library measures from the ports of its gazetteer (default 20 km,
beyond the 2.5-10 km where Caspian ships wait at anchor off a port) and excludes the
Volga-Caspian canal's roadstead, where ships wait for the canal far from any port.

One vectorised pass over all vessels: a *slow step* joins two consecutive reports of a
vessel at most ``max_gap_h`` apart whose speed is below ``max_mean_speed_kn``. The speed of
a step of at most ``max_sog_step_h`` (1 h) is the mean of the two reported speeds over
ground (or the implied speed when a report has none); the speed of a longer step is its
implied speed, displacement over duration, because the reported speeds only describe its
two ends: a silence can hide a voyage (reported slow at both ends, far apart) as well as a
stop (reported stopped at one end and under way at the other: the ship was heard arriving
or leaving). A long step between two reports *both* under way is never slow, however near
its ends lie: the ship may have gone somewhere and come back (a port call in a silence).
Runs of consecutive slow steps are candidate episodes; an episode is kept when it lasts at
least ``min_duration_h``, its time-weighted mean speed is below ``max_mean_speed_kn`` and
its mean position is offshore.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.encounters import _resolve_anchorages, _sorted_columns, offshore_ok
from caspian_ais.geodesy import KM_PER_NM, haversine_km

__all__ = ["LOITERING_COLUMNS", "detect_loitering"]

_NS_PER_H = 3_600_000_000_000

#: Columns of :func:`detect_loitering`, in order.
LOITERING_COLUMNS: tuple[str, ...] = (
    "loitering_id",
    "mmsi",
    "start_time",
    "end_time",
    "duration_h",
    "lat",
    "lon",
    "mean_speed_kn",
    "max_radius_km",
    "n_positions",
    "port_distance_km",
    "nearest_port",
    "flag_state",
)


def _run_sums(values: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Sums of ``values[start[j]:stop[j]]`` for disjoint, increasing, non-empty ranges,
    each summed on its own (``numpy.add.reduceat``)."""
    v = np.r_[values, 0.0]
    return np.add.reduceat(v, np.column_stack([start, stop]).ravel())[::2]


def _empty() -> pd.DataFrame:
    utc = "datetime64[ns, UTC]"
    dt = {"loitering_id": "str", "mmsi": "int64", "start_time": utc, "end_time": utc,
          "n_positions": "int64", "nearest_port": "str", "flag_state": "str"}
    return pd.DataFrame({c: pd.Series([], dtype=dt.get(c, "float64")) for c in LOITERING_COLUMNS})


def detect_loitering(
    tracks: pd.DataFrame,
    ports: Any = None,
    *,
    max_mean_speed_kn: float = 2.0,
    min_duration_h: float = 4.0,
    min_port_distance_km: float = 20.0,
    anchorages: pd.DataFrame | None | bool = True,
    max_gap_h: float = 6.0,
    max_sog_step_h: float = 1.0,
) -> pd.DataFrame:
    """Find loitering episodes: slow for hours at sea, away from ports and anchorages.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Cleaned canonical table (``mmsi, timestamp, lat, lon``, ideally ``sog_kn``).
    ports : pandas.DataFrame or path, optional
        Port gazetteer; default the bundled Caspian one.
    max_mean_speed_kn : float, default 2
        Steps and episodes must be strictly slower than this on average, knots (GFW: 2 kn).
    min_duration_h : float, default 4
        Shortest episode, hours, inclusive, from its first to its last report (GFW: 4 h).
    min_port_distance_km : float, default 20
        The episode's mean position must lie strictly farther than this from every port,
        km.
    anchorages : pandas.DataFrame, bool or None, default True
        Offshore anchorages to exclude (``lat, lon, radius_km``); ``True`` uses
        :func:`caspian_ais.encounters.default_anchorages`.
    max_gap_h : float, default 6
        Longest silence inside an episode, hours (offshore, a vessel is often heard only
        during satellite passes a few hours apart).
    max_sog_step_h : float, default 1
        Steps up to this long (inclusive), hours, move at the mean of their two reported
        speeds over ground; longer steps at their implied speed (displacement over
        duration), and are slow only when at least one of their two reports (if both
        give a speed) is below ``max_mean_speed_kn``.

    Returns
    -------
    pandas.DataFrame
        One row per episode, columns :data:`LOITERING_COLUMNS`: ``loitering_id``
        ``"<mmsi>-<start unix seconds>"``; times UTC (first and last report); ``lat``/``lon``
        the mean position; ``mean_speed_kn`` time-weighted; ``max_radius_km`` the largest
        distance of a report from the mean position; ``port_distance_km`` to
        ``nearest_port``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"mmsi": [273000001] * 3,
    ...     "timestamp": pd.to_datetime(["2022-09-01 00:00", "2022-09-01 02:00",
    ...                                  "2022-09-01 04:00"], utc=True),
    ...     "lat": [42.0, 42.001, 42.0], "lon": [50.0] * 3, "sog_kn": [0.4, 0.2, 0.3]})
    >>> lo = detect_loitering(t)
    >>> lo["mmsi"].tolist(), lo["duration_h"].tolist()
    ([273000001], [4.0])
    """
    if len(tracks) < 2:
        return _empty()
    mmsi, t, lat, lon, sog = _sorted_columns(tracks)
    if len(t) < 2:
        return _empty()
    same = mmsi[1:] == mmsi[:-1]
    dt_h = (t[1:] - t[:-1]) / _NS_PER_H
    has_sog = ~np.isnan(sog)
    both = has_sog[:-1] & has_sog[1:]
    with np.errstate(invalid="ignore"):
        step_v = 0.5 * (sog[:-1] + sog[1:])
    # the implied speed, measured only where it decides: steps without both SOGs, and
    # steps longer than max_sog_step_h (their ends' SOGs say nothing of the silence
    # between: a voyage or a stop may hide there)
    in_gap = same & (dt_h <= max_gap_h)
    need = np.flatnonzero(in_gap & (~both | (dt_h > max_sog_step_h)))
    d_km = haversine_km(lat[need], lon[need], lat[need + 1], lon[need + 1])
    dn = dt_h[need]
    with np.errstate(divide="ignore", invalid="ignore"):
        step_v[need] = np.where(dn > 0, d_km / dn / KM_PER_NM, 0.0)
        slow = in_gap & (step_v < max_mean_speed_kn)
    # a long step between two reports under way is no stop, however near its ends lie:
    # the ship may have gone somewhere and come back (a port call in a silence)
    k = need[both[need] & (dn > max_sog_step_h)]
    k = k[slow[k]]
    slow[k[~(np.fmin(sog[k], sog[k + 1]) < max_mean_speed_kn)]] = False
    if not slow.any():
        return _empty()
    # runs of consecutive slow steps: step k joins reports k and k+1
    edges = np.diff(np.r_[0, slow.astype(np.int8), 0])
    s0 = np.flatnonzero(edges == 1)  # first step of a run
    s1 = np.flatnonzero(edges == -1)  # one past its last step
    first, last = s0, s1  # report indices: first .. last inclusive
    dur_h = (t[last] - t[first]) / _NS_PER_H
    keep = dur_h >= min_duration_h - 1e-9
    first, last, s0, s1, dur_h = first[keep], last[keep], s0[keep], s1[keep], dur_h[keep]
    if not len(first):
        return _empty()
    # time-weighted mean speed and mean position of each run, summed run by run (the
    # values of a vessel do not depend on the other vessels of the table)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_v = _run_sums(dt_h * step_v, s0, s1) / _run_sums(dt_h, s0, s1)
    n_pos = last - first + 1
    mlat = _run_sums(lat, first, last + 1) / n_pos
    mlon = _run_sums(lon, first, last + 1) / n_pos
    keep = mean_v < max_mean_speed_kn
    anch = _resolve_anchorages(anchorages, ports)
    off, dist, port = offshore_ok(mlat, mlon, ports, min_port_distance_km, anch)
    keep &= off
    if not keep.any():
        return _empty()
    # the largest distance from the mean position, for the episodes kept
    first, last, n_pos, dur_h, mean_v, mlat, mlon, dist, port = (
        x[keep] for x in (first, last, n_pos, dur_h, mean_v, mlat, mlon, dist, port))
    run = np.repeat(np.arange(len(first)), n_pos)
    idx = np.repeat(first - (np.cumsum(n_pos) - n_pos), n_pos) + np.arange(int(n_pos.sum()))
    rad = np.zeros(len(first))
    np.maximum.at(rad, run, haversine_km(lat[idx], lon[idx], mlat[run], mlon[run]))

    from caspian_ais.flags import flag_state_from_mmsi

    m = mmsi[first]
    t0 = t[first]
    out = pd.DataFrame({
        "loitering_id": [f"{a}-{b // 1_000_000_000}"
                         for a, b in zip(m.tolist(), t0.tolist(), strict=True)],
        "mmsi": m,
        "start_time": pd.to_datetime(t0, utc=True),
        "end_time": pd.to_datetime(t[last], utc=True),
        "duration_h": dur_h,
        "lat": mlat,
        "lon": mlon,
        "mean_speed_kn": mean_v,
        "max_radius_km": rad,
        "n_positions": n_pos.astype(np.int64),
        "port_distance_km": dist,
        "nearest_port": port.astype(str),
        "flag_state": flag_state_from_mmsi(m).astype("str").to_numpy(),
    })
    out["loitering_id"] = out["loitering_id"].astype("str")
    out["nearest_port"] = out["nearest_port"].astype("str")
    out["flag_state"] = out["flag_state"].astype("str")
    return out.sort_values(["start_time", "mmsi"]).reset_index(drop=True)[list(LOITERING_COLUMNS)]
