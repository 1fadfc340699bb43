"""Encounters: two vessels lying together at sea, the visible side of ship-to-ship transfers.

Definition (Global Fishing Watch's published encounter defaults, see ``/work/shared/method.md``
"Encounters and loitering" and ``docs/encounters_identity.md``): two vessels within
``max_distance_m`` (500 m) of each other for at least ``min_duration_h`` (2 h), at a median
speed below ``max_median_speed_kn`` (2 kn), more than ``min_port_distance_km`` (10 km) from
any port. Every threshold is a keyword.

Method, vectorised and never O(n²):

1. Each vessel's track is sampled at the centres of ``bin_min``-minute time bins by
   linear interpolation between its two bracketing reports, where they are at most
   ``max_interp_gap_h`` apart. Samples faster than ``candidate_speed_kn`` cannot belong to
   a slow encounter and are dropped early (most of the rows of a moving fleet).
2. Every sample gets an integer key (time bin, grid row, grid column) on a grid whose
   cells are at least ``max_distance_m`` wide; keys are sorted once, and each sample looks
   up the nine neighbouring cells of its bin with ``numpy.searchsorted``. Only samples
   sharing a bin and neighbouring cells are paired, then filtered on the great-circle
   distance.
3. Pairs are grouped per vessel pair into runs of bins with holes of at most
   ``max_bin_gap_h``; a run is an encounter when it lasts at least ``min_duration_h``,
   its median speed (both vessels' samples) is below ``max_median_speed_kn``, and its mean
   position lies more than ``min_port_distance_km`` from every port and outside the
   anchorages (by default the Volga-Caspian canal's roadstead, where ships wait together
   for the canal).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.geodesy import KM_PER_NM, haversine_km
from caspian_ais.schema import timestamp_ns

__all__ = [
    "ENCOUNTER_COLUMNS",
    "ROADSTEAD_BEYOND_AREA_KM",
    "default_anchorages",
    "detect_encounters",
    "offshore_ok",
    "track_samples",
]

_NS_PER_H = 3_600_000_000_000
_M_PER_DEG = 111_195.0

#: Columns of :func:`detect_encounters`, in order.
ENCOUNTER_COLUMNS: tuple[str, ...] = (
    "encounter_id",
    "mmsi_a",
    "mmsi_b",
    "start_time",
    "end_time",
    "duration_h",
    "lat",
    "lon",
    "median_distance_m",
    "min_distance_m",
    "median_speed_kn",
    "port_distance_km",
    "nearest_port",
    "n_bins",
    "flag_state_a",
    "flag_state_b",
)


#: How far beyond a port's area its roadstead (where ships wait at anchor) reaches, km.
ROADSTEAD_BEYOND_AREA_KM: float = 7.0


def default_anchorages(ports: Any = None) -> pd.DataFrame:
    """Anchorages where ships wait side by side: port roadsteads and the canal's sea end.

    GFW measures its 10 km from *anchorages*, the places where ships wait, not from a
    port's centre. Caspian ships wait at anchor 2.5-6 km outside a port's area (so up to
    10.5 km from Turkmenbashi's reference point), and at the sea end of the Volga-Caspian
    Ship Canal, 100+ km from Astrakhan and Olya.

    Parameters
    ----------
    ports : pandas.DataFrame or path, optional
        Gazetteer; default the bundled Caspian one.

    Returns
    -------
    pandas.DataFrame
        ``name, lat, lon, radius_km``: a disc of ``area_radius_km`` +
        :data:`ROADSTEAD_BEYOND_AREA_KM` around each port, and the canal roadstead
        (:data:`caspian_ais.ports.CANAL_ROADSTEAD_RADIUS_KM`, 20 km).
    """
    from caspian_ais.gaps import port_table
    from caspian_ais.ports import CANAL_ROADSTEAD_RADIUS_KM, volga_canal

    p = port_table(ports)
    lon_end, lat_end = volga_canal().coords[-1]
    return pd.DataFrame({
        "name": [f"{x} roadstead" for x in p["port"].astype(str)]
        + ["Volga-Caspian canal roadstead"],
        "lat": [*p["lat"].astype(float), float(lat_end)],
        "lon": [*p["lon"].astype(float), float(lon_end)],
        "radius_km": [*(p["area_radius_km"].astype(float) + ROADSTEAD_BEYOND_AREA_KM),
                      CANAL_ROADSTEAD_RADIUS_KM],
    })


def offshore_ok(
    lat: np.ndarray,
    lon: np.ndarray,
    ports: Any,
    min_port_distance_km: float,
    anchorages: pd.DataFrame | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which points lie more than ``min_port_distance_km`` from every port and outside
    every anchorage.

    Parameters
    ----------
    lat, lon : numpy.ndarray
        Points, degrees.
    ports : pandas.DataFrame, path or None
        Gazetteer (see :func:`caspian_ais.gaps.port_table`).
    min_port_distance_km : float
        A point must be strictly farther than this from the nearest port, km.
    anchorages : pandas.DataFrame or None
        ``lat, lon, radius_km``; points within ``radius_km`` of one are not offshore.

    Returns
    -------
    ok : numpy.ndarray of bool
    distance_km : numpy.ndarray of float
        Distance to the nearest port, km.
    port : numpy.ndarray of object
        Name of the nearest port.
    """
    from caspian_ais.gaps import nearest_port_km, port_table

    p = port_table(ports)
    idx, dist = nearest_port_km(lat, lon, p)
    names = p["port"].astype(str).to_numpy(object)
    port = np.where(idx >= 0, names[np.maximum(idx, 0)] if len(names) else None, None)
    ok = dist > min_port_distance_km
    if anchorages is not None and len(anchorages):
        d = haversine_km(np.asarray(lat)[:, None], np.asarray(lon)[:, None],
                         anchorages["lat"].to_numpy(float)[None, :],
                         anchorages["lon"].to_numpy(float)[None, :])
        ok &= ~(d <= anchorages["radius_km"].to_numpy(float)[None, :]).any(axis=1)
    return ok, dist, port


def _speeds(mmsi: np.ndarray, t: np.ndarray, lat: np.ndarray, lon: np.ndarray,
            sog: np.ndarray) -> np.ndarray:
    """Speed of each report: its SOG, or where missing the implied speed of the step into it
    (or out of it for a vessel's first report), knots."""
    n = len(t)
    imp = np.full(n, np.nan)
    if n > 1:
        same = mmsi[1:] == mmsi[:-1]
        dt_h = (t[1:] - t[:-1]) / _NS_PER_H
        d = haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(same & (dt_h > 0), d / dt_h / KM_PER_NM, np.nan)
        imp[1:] = v
        first = np.r_[True, ~same]
        imp[:-1] = np.where(first[:-1] & np.isnan(imp[:-1]), v, imp[:-1])
    return np.where(np.isnan(sog), imp, sog)


def track_samples(
    tracks: pd.DataFrame,
    *,
    bin_min: float = 10.0,
    max_interp_gap_h: float = 4.0,
    candidate_speed_kn: float | None = 6.0,
) -> pd.DataFrame:
    """Sample every vessel's track at the centres of fixed time bins, vectorised.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Canonical table (``mmsi, timestamp, lat, lon``, optionally ``sog_kn``).
    bin_min : float, default 10
        Bin length, minutes. Bin ``k`` is centred on ``k * bin_min`` minutes after the
        Unix epoch.
    max_interp_gap_h : float, default 4
        Interpolate only between reports at most this many hours apart.
    candidate_speed_kn : float or None, default 6
        Drop samples faster than this (knots); ``None`` keeps all.

    Returns
    -------
    pandas.DataFrame
        ``mmsi, bin, lat, lon, speed_kn`` (``bin`` an int64 bin number; ``speed_kn`` the
        reported speed of the nearer bracketing report, or the implied speed between them
        when neither reports one).
    """
    cols = ["mmsi", "bin", "lat", "lon", "speed_kn"]
    if len(tracks) == 0:
        return pd.DataFrame({c: pd.Series([], dtype="int64" if c in ("mmsi", "bin") else float)
                             for c in cols})
    mmsi = tracks["mmsi"].to_numpy(np.int64)
    t = timestamp_ns(tracks["timestamp"])
    lat = tracks["lat"].to_numpy(float)
    lon = tracks["lon"].to_numpy(float)
    sog = tracks["sog_kn"].to_numpy(float) if "sog_kn" in tracks else np.full(len(t), np.nan)
    ok = ~(np.isnan(lat) | np.isnan(lon)) & (t != np.iinfo(np.int64).min)
    o = np.lexsort((t, mmsi))
    o = o[ok[o]]
    mmsi, t, lat, lon, sog = mmsi[o], t[o], lat[o], lon[o], sog[o]
    speed = _speeds(mmsi, t, lat, lon, sog)
    bin_ns = int(round(bin_min * 60e9))
    # segments i -> i+1 of the same vessel, at most max_interp_gap_h long
    same = mmsi[1:] == mmsi[:-1]
    dt = t[1:] - t[:-1]
    seg_ok = same & (dt <= max_interp_gap_h * _NS_PER_H)
    if candidate_speed_kn is not None:
        fast = np.fmin(speed[:-1], speed[1:]) > candidate_speed_kn
        with np.errstate(divide="ignore", invalid="ignore"):
            imp = haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:]) / (dt / _NS_PER_H) / KM_PER_NM
        seg_ok &= ~fast & ~(imp > candidate_speed_kn)
    i = np.flatnonzero(seg_ok)
    # bin centres c with t[i] <= c <= t[i+1] (a centre on a report is kept once, below)
    k0 = -(-t[i] // bin_ns)
    k1 = t[i + 1] // bin_ns + 1  # exclusive
    cnt = np.maximum(k1 - k0, 0)
    seg = np.repeat(i, cnt)
    k = np.repeat(k0, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    c = k * bin_ns
    f = (c - t[seg]) / np.maximum(t[seg + 1] - t[seg], 1)
    s_lat = lat[seg] + f * (lat[seg + 1] - lat[seg])
    s_lon = lon[seg] + f * (lon[seg + 1] - lon[seg])
    s_speed = np.where(f <= 0.5, speed[seg], speed[seg + 1])
    s_speed = np.where(np.isnan(s_speed), np.where(f <= 0.5, speed[seg + 1], speed[seg]), s_speed)
    keep = np.r_[True, (mmsi[seg][1:] != mmsi[seg][:-1]) | (k[1:] != k[:-1])][:len(seg)]
    return pd.DataFrame({"mmsi": mmsi[seg][keep], "bin": k[keep].astype(np.int64),
                         "lat": s_lat[keep], "lon": s_lon[keep], "speed_kn": s_speed[keep]})


def _pairs(s: pd.DataFrame, max_distance_m: float) -> pd.DataFrame:
    """All pairs of samples in the same bin within ``max_distance_m``, via a sorted grid."""
    n = len(s)
    empty = pd.DataFrame({"a": np.zeros(0, np.int64), "b": np.zeros(0, np.int64),
                          "d_m": np.zeros(0)})
    if n < 2:
        return empty
    lat = s["lat"].to_numpy(float)
    lon = s["lon"].to_numpy(float)
    b = s["bin"].to_numpy(np.int64)
    mm = s["mmsi"].to_numpy(np.int64)
    max_lat = min(float(np.nanmax(np.abs(lat))), 85.0)
    g_lat = max_distance_m / _M_PER_DEG
    g_lon = max_distance_m / (_M_PER_DEG * np.cos(np.radians(max_lat)))
    r = np.floor(lat / g_lat).astype(np.int64)
    c = np.floor(lon / g_lon).astype(np.int64)
    r -= r.min() - 1
    c -= c.min() - 1
    b = b - b.min()
    nr, nc = int(r.max()) + 2, int(c.max()) + 2
    key = (b * nr + r) * nc + c
    o = np.argsort(key, kind="stable")
    ks = key[o]
    pa, pb = [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            q = key + dr * nc + dc
            lo = np.searchsorted(ks, q, side="left")
            hi = np.searchsorted(ks, q, side="right")
            cnt = hi - lo
            rows = np.flatnonzero(cnt)
            if not len(rows):
                continue
            cc = cnt[rows]
            a_i = np.repeat(rows, cc)
            within = np.arange(cc.sum()) - np.repeat(np.cumsum(cc) - cc, cc)
            b_i = o[np.repeat(lo[rows], cc) + within]
            keep = mm[a_i] < mm[b_i]
            pa.append(a_i[keep])
            pb.append(b_i[keep])
    if not pa:
        return empty
    a_i, b_i = np.concatenate(pa), np.concatenate(pb)
    d = haversine_km(lat[a_i], lon[a_i], lat[b_i], lon[b_i]) * 1000.0
    keep = d <= max_distance_m
    return pd.DataFrame({"a": a_i[keep], "b": b_i[keep], "d_m": d[keep]})


def _empty() -> pd.DataFrame:
    utc = "datetime64[ns, UTC]"
    dt = {"encounter_id": "str", "mmsi_a": "int64", "mmsi_b": "int64", "start_time": utc,
          "end_time": utc, "nearest_port": "str", "n_bins": "int64", "flag_state_a": "str",
          "flag_state_b": "str"}
    return pd.DataFrame({c: pd.Series([], dtype=dt.get(c, "float64")) for c in ENCOUNTER_COLUMNS})


def detect_encounters(
    tracks: pd.DataFrame,
    ports: Any = None,
    *,
    max_distance_m: float = 500.0,
    min_duration_h: float = 2.0,
    max_median_speed_kn: float = 2.0,
    min_port_distance_km: float = 10.0,
    anchorages: pd.DataFrame | None | bool = True,
    bin_min: float = 10.0,
    max_interp_gap_h: float = 4.0,
    max_bin_gap_h: float = 1.0,
    candidate_speed_kn: float = 6.0,
) -> pd.DataFrame:
    """Find encounters: two vessels close together, slow, away from ports, for hours.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Cleaned canonical table (:func:`caspian_ais.clean`): identity errors such as a
        shared MMSI would otherwise pair a vessel with its own clone.
    ports : pandas.DataFrame or path, optional
        Port gazetteer; default the bundled Caspian one.
    max_distance_m : float, default 500
        Two samples pair when at most this far apart, metres (GFW: 500 m).
    min_duration_h : float, default 2
        Shortest encounter, hours, inclusive: from the first to the last paired bin
        centre (GFW: 2 h).
    max_median_speed_kn : float, default 2
        The median speed of both vessels' samples must be strictly below this, knots
        (GFW: 2 kn).
    min_port_distance_km : float, default 10
        The encounter's mean position must lie strictly farther than this from every
        port, km (GFW: 10 km from an anchorage).
    anchorages : pandas.DataFrame, bool or None, default True
        Offshore anchorages to exclude (``lat, lon, radius_km``); ``True`` uses
        :func:`default_anchorages`, ``False``/``None`` none.
    bin_min : float, default 10
        Time bin, minutes (GFW interpolates tracks to 10 minutes).
    max_interp_gap_h : float, default 4
        Interpolate a track only between reports at most this far apart, hours.
    max_bin_gap_h : float, default 1
        A pair's run of bins may have holes up to this long, hours.
    candidate_speed_kn : float, default 6
        Samples faster than this never pair (they cannot be part of a slow encounter
        except as outliers), knots.

    Returns
    -------
    pandas.DataFrame
        One row per encounter, columns :data:`ENCOUNTER_COLUMNS`: ``mmsi_a < mmsi_b``;
        ``encounter_id`` ``"<mmsi_a>-<mmsi_b>-<start unix seconds>"`` (stable); times UTC
        (bin centres); ``lat``/``lon`` the mean position; distances in m, speed in kn,
        ``port_distance_km`` to ``nearest_port``; ``n_bins`` paired bins.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"mmsi": [273000001] * 2 + [422000002] * 2,
    ...     "timestamp": pd.to_datetime(["2022-09-01 00:00", "2022-09-01 03:00"] * 2, utc=True),
    ...     "lat": [42.0, 42.0, 42.002, 42.002], "lon": [50.0] * 4, "sog_kn": [0.3] * 4})
    >>> e = detect_encounters(t)
    >>> e[["mmsi_a", "mmsi_b"]].values.tolist(), e["duration_h"].tolist()
    ([[273000001, 422000002]], [3.0])
    """
    for name, v in (("max_distance_m", max_distance_m), ("bin_min", bin_min)):
        if not v > 0:
            raise ValueError(f"{name} must be positive, got {v}")
    s = track_samples(tracks, bin_min=bin_min, max_interp_gap_h=max_interp_gap_h,
                      candidate_speed_kn=candidate_speed_kn)
    pr = _pairs(s, max_distance_m)
    if pr.empty:
        return _empty()
    a, b = pr["a"].to_numpy(), pr["b"].to_numpy()
    mm = s["mmsi"].to_numpy(np.int64)
    bins = s["bin"].to_numpy(np.int64)
    lat = s["lat"].to_numpy(float)
    lon = s["lon"].to_numpy(float)
    sp = s["speed_kn"].to_numpy(float)
    p = pd.DataFrame({"ma": mm[a], "mb": mm[b], "bin": bins[a], "d_m": pr["d_m"].to_numpy(),
                      "lat": 0.5 * (lat[a] + lat[b]), "lon": 0.5 * (lon[a] + lon[b]),
                      "sa": sp[a], "sb": sp[b]})
    # one pair row per bin (a vessel appears once per bin, so this is already unique)
    p = p.sort_values(["ma", "mb", "bin"], kind="stable").reset_index(drop=True)
    gap_bins = max(1, int(np.floor(max_bin_gap_h * 60.0 / bin_min + 1e-9)))
    ma, mb, bb = p["ma"].to_numpy(), p["mb"].to_numpy(), p["bin"].to_numpy()
    new = np.r_[True, (ma[1:] != ma[:-1]) | (mb[1:] != mb[:-1]) | (bb[1:] - bb[:-1] > gap_bins)]
    p["run"] = np.cumsum(new)
    g = p.groupby("run", sort=False)
    ev = g.agg(mmsi_a=("ma", "first"), mmsi_b=("mb", "first"), b0=("bin", "min"),
               b1=("bin", "max"), lat=("lat", "mean"), lon=("lon", "mean"),
               median_distance_m=("d_m", "median"), min_distance_m=("d_m", "min"),
               n_bins=("bin", "size"))
    both = pd.concat([p[["run", "sa"]].rename(columns={"sa": "s"}),
                      p[["run", "sb"]].rename(columns={"sb": "s"})])
    ev["median_speed_kn"] = both.groupby("run")["s"].median()
    bin_ns = int(round(bin_min * 60e9))
    ev["duration_h"] = (ev["b1"] - ev["b0"]) * bin_ns / _NS_PER_H
    ev = ev[(ev["duration_h"] >= min_duration_h - 1e-9)
            & (ev["median_speed_kn"] < max_median_speed_kn)]
    if ev.empty:
        return _empty()
    anch = default_anchorages(ports) if anchorages is True else (
        anchorages if isinstance(anchorages, pd.DataFrame) else None)
    ok, dist, port = offshore_ok(ev["lat"].to_numpy(), ev["lon"].to_numpy(), ports,
                                 min_port_distance_km, anch)
    ev = ev.assign(port_distance_km=dist, nearest_port=port)[ok]
    if ev.empty:
        return _empty()
    ev["start_time"] = pd.to_datetime(ev["b0"] * bin_ns, utc=True)
    ev["end_time"] = pd.to_datetime(ev["b1"] * bin_ns, utc=True)
    ev["encounter_id"] = (ev["mmsi_a"].astype(str) + "-" + ev["mmsi_b"].astype(str) + "-"
                          + (ev["b0"] * bin_ns // 1_000_000_000).astype(str))
    from caspian_ais.flags import flag_state_from_mmsi

    ev["flag_state_a"] = flag_state_from_mmsi(ev["mmsi_a"].to_numpy()).to_numpy()
    ev["flag_state_b"] = flag_state_from_mmsi(ev["mmsi_b"].to_numpy()).to_numpy()
    out = ev.sort_values(["start_time", "mmsi_a", "mmsi_b"]).reset_index(drop=True)
    out["nearest_port"] = out["nearest_port"].astype("str")
    for c in ("flag_state_a", "flag_state_b", "encounter_id"):
        out[c] = out[c].astype("str")
    out["n_bins"] = out["n_bins"].astype("int64")
    return out[list(ENCOUNTER_COLUMNS)]
