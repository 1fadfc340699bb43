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
   a slow encounter and are dropped early (most of the rows of a moving fleet). So are a
   vessel's *stays* (samples with holes of at most ``max_bin_gap_h``) lying wholly inside
   one port's exclusion disc (``min_port_distance_km``, or an anchorage) by more than
   half the pairing distance: every run of pairs they could form would have its mean
   position inside that disc (:func:`encounter_samples`). This leaves out the ships
   berthed or anchored side by side for days, nearly all of the pairs of a port-heavy
   fleet, without changing the result.
2. Every sample gets an integer key (time bin, grid row, grid column) on a grid whose
   cells are at least ``max_distance_m`` wide; keys are sorted once, and each sample looks
   up the nine neighbouring cells of its bin (three ranges of consecutive keys) with
   ``numpy.searchsorted``. Only samples sharing a bin and neighbouring cells are paired,
   then filtered on the great-circle distance.
3. Pairs are grouped per vessel pair into runs of bins with holes of at most
   ``max_bin_gap_h`` (:func:`encounters_from_samples`, which also takes the samples by
   time slice and carries the open runs across slices: the batch engine's pass); a run
   is an encounter when it lasts at least ``min_duration_h``, its median speed (both
   vessels' samples) is below ``max_median_speed_kn``, and its mean position lies more
   than ``min_port_distance_km`` from every port and outside the
   anchorages (by default the Volga-Caspian canal's roadstead, where ships wait together
   for the canal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.geodesy import KM_PER_NM, distance_bound_km, haversine_km
from caspian_ais.schema import timestamp_ns

__all__ = [
    "ENCOUNTER_COLUMNS",
    "ROADSTEAD_BEYOND_AREA_KM",
    "EncounterOptions",
    "default_anchorages",
    "detect_encounters",
    "encounter_samples",
    "encounters_from_samples",
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
    port = np.full(len(idx), None, dtype=object)
    found = idx >= 0
    port[found] = names[idx[found]]
    ok = dist > min_port_distance_km
    if anchorages is not None and len(anchorages):
        d = haversine_km(np.asarray(lat)[:, None], np.asarray(lon)[:, None],
                         anchorages["lat"].to_numpy(float)[None, :],
                         anchorages["lon"].to_numpy(float)[None, :])
        ok &= ~(d <= anchorages["radius_km"].to_numpy(float)[None, :]).any(axis=1)
    return ok, dist, port


def _resolve_anchorages(anchorages: Any, ports: Any) -> pd.DataFrame | None:
    """``anchorages`` as passed to the detectors: ``True`` -> :func:`default_anchorages`."""
    if anchorages is True:
        return default_anchorages(ports)
    return anchorages if isinstance(anchorages, pd.DataFrame) else None


def _in_order(mmsi: np.ndarray, t: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """Rows of ``ok`` in (MMSI, time) order, ties in table order: what
    ``np.lexsort((t, mmsi))`` restricted to ``ok`` gives. ``None`` when that is every row
    in table order already (a cleaned table is sorted), so nothing needs gathering."""
    n = len(t)
    if n > 1:
        dm = mmsi[1:] - mmsi[:-1]
        in_order = bool((dm >= 0).all()) and bool(((dm > 0) | (t[1:] >= t[:-1])).all())
    else:
        in_order = True
    if in_order:
        return None if ok.all() else np.flatnonzero(ok)
    o = np.lexsort((t, mmsi))
    return o[ok[o]]


def _sorted_columns(tracks: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """``mmsi, t (ns), lat, lon, sog`` of the rows with a position and a time, sorted by
    (MMSI, time) (stable)."""
    mmsi = tracks["mmsi"].to_numpy(np.int64)
    t = timestamp_ns(tracks["timestamp"])
    lat = tracks["lat"].to_numpy(float)
    lon = tracks["lon"].to_numpy(float)
    sog = tracks["sog_kn"].to_numpy(float) if "sog_kn" in tracks else np.full(len(t), np.nan)
    ok = ~(np.isnan(lat) | np.isnan(lon)) & (t != np.iinfo(np.int64).min)
    o = _in_order(mmsi, t, ok)
    if o is None:
        return mmsi, t, lat, lon, sog
    return mmsi[o], t[o], lat[o], lon[o], sog[o]


def _step_speed_kn(t: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                   k: np.ndarray) -> np.ndarray:
    """Implied speed of steps ``k -> k + 1``, knots (``d / dt_h / KM_PER_NM``; inf or NaN
    over a zero duration)."""
    d = haversine_km(lat[k], lon[k], lat[k + 1], lon[k + 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return d / ((t[k + 1] - t[k]) / _NS_PER_H) / KM_PER_NM


def _speeds(mmsi: np.ndarray, t: np.ndarray, lat: np.ndarray, lon: np.ndarray,
            sog: np.ndarray, same: np.ndarray | None = None) -> np.ndarray:
    """Speed of each report: its SOG, or where missing the implied speed of the step into it
    (or out of it for a vessel's first report), knots.

    Only the steps next to a report without SOG are measured.
    """
    n = len(t)
    miss = np.flatnonzero(np.isnan(sog))
    if not len(miss) or n < 2:
        return sog if not len(miss) else np.full(n, np.nan)
    if same is None:
        same = mmsi[1:] == mmsi[:-1]
    first = np.r_[True, ~same]
    # a vessel's first report: the step out of it (none for the table's last row)
    f = first[miss]
    step = np.where(f, miss, miss - 1)
    valid = np.where(f, miss < n - 1, True)
    k = step[valid]
    with np.errstate(invalid="ignore"):
        # the step must join two reports of one vessel with a positive duration
        good = same[k] & (t[k + 1] > t[k])
    v = np.full(len(k), np.nan)
    v[good] = _step_speed_kn(t, lat, lon, k[good])
    out = sog.copy()
    imp = np.full(len(miss), np.nan)
    imp[valid] = v
    out[miss] = imp
    return out


def _sample_arrays(
    tracks: pd.DataFrame, bin_min: float, max_interp_gap_h: float,
    candidate_speed_kn: float | None,
) -> tuple[np.ndarray, ...]:
    """:func:`track_samples` as arrays ``mmsi, bin, lat, lon, speed_kn``."""
    mmsi, t, lat, lon, sog = _sorted_columns(tracks)
    n = len(t)
    same = mmsi[1:] == mmsi[:-1]
    speed = _speeds(mmsi, t, lat, lon, sog, same)
    bin_ns = int(round(bin_min * 60e9))
    # segments i -> i+1 of the same vessel, at most max_interp_gap_h long
    seg_ok = same & ((t[1:] - t[:-1]) <= max_interp_gap_h * _NS_PER_H)
    if candidate_speed_kn is not None and n > 1:
        with np.errstate(invalid="ignore"):
            seg_ok &= ~(np.fmin(speed[:-1], speed[1:]) > candidate_speed_kn)
        i = np.flatnonzero(seg_ok)
        # the implied speed, measured only on the segments still in and not surely slow
        # (an upper bound of their length, well below the candidate speed: most are)
        thr_km = candidate_speed_kn * KM_PER_NM * ((t[i + 1] - t[i]) / _NS_PER_H)
        bound = distance_bound_km(lat[i], lon[i], lat[i + 1], lon[i + 1])
        slow = bound * (1 + 1e-6) + 1e-9 < thr_km
        check = np.flatnonzero(~slow)
        slow[check] = ~(_step_speed_kn(t, lat, lon, i[check]) > candidate_speed_kn)
        i = i[slow]
    else:
        i = np.flatnonzero(seg_ok)
    # bin centres c with t[i] <= c <= t[i+1] (a centre on a report is kept once, below)
    k0 = -(-t[i] // bin_ns)
    k1 = t[i + 1] // bin_ns + 1  # exclusive
    cnt = np.maximum(k1 - k0, 0)
    has = cnt > 0
    i, k0, cnt = i[has], k0[has], cnt[has]
    seg = np.repeat(i, cnt)
    k = np.repeat(k0 - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
    t0, t1 = t[seg], t[seg + 1]
    f = (k * bin_ns - t0) / np.maximum(t1 - t0, 1)
    la0, lo0 = lat[seg], lon[seg]
    s_lat = la0 + f * (lat[seg + 1] - la0)
    s_lon = lo0 + f * (lon[seg + 1] - lo0)
    near0 = f <= 0.5
    sp0, sp1 = speed[seg], speed[seg + 1]
    s_speed = np.where(near0, sp0, sp1)
    s_speed = np.where(np.isnan(s_speed), np.where(near0, sp1, sp0), s_speed)
    sm = mmsi[seg]
    keep = np.r_[True, (sm[1:] != sm[:-1]) | (k[1:] != k[:-1])][:len(seg)]
    if keep.all():
        return sm, k.astype(np.int64), s_lat, s_lon, s_speed
    return sm[keep], k[keep].astype(np.int64), s_lat[keep], s_lon[keep], s_speed[keep]


_SAMPLE_COLUMNS = ("mmsi", "bin", "lat", "lon", "speed_kn")


def _samples_frame(arrays: tuple[np.ndarray, ...] | None) -> pd.DataFrame:
    if arrays is None:
        return pd.DataFrame({c: pd.Series([], dtype="int64" if c in ("mmsi", "bin") else float)
                             for c in _SAMPLE_COLUMNS})
    return pd.DataFrame(dict(zip(_SAMPLE_COLUMNS, arrays, strict=True)))


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
        when neither reports one), sorted by ``mmsi`` and ``bin``.
    """
    if len(tracks) == 0:
        return _samples_frame(None)
    return _samples_frame(_sample_arrays(tracks, bin_min, max_interp_gap_h,
                                         candidate_speed_kn))


@dataclass(frozen=True)
class EncounterOptions:
    """The thresholds of :func:`detect_encounters` (see there), in one object."""

    max_distance_m: float = 500.0
    min_duration_h: float = 2.0
    max_median_speed_kn: float = 2.0
    min_port_distance_km: float = 10.0
    anchorages: Any = True
    bin_min: float = 10.0
    max_interp_gap_h: float = 4.0
    max_bin_gap_h: float = 1.0
    candidate_speed_kn: float = 6.0

    def __post_init__(self) -> None:
        for name in ("max_distance_m", "bin_min"):
            v = getattr(self, name)
            if not v > 0:
                raise ValueError(f"{name} must be positive, got {v}")

    @property
    def bin_ns(self) -> int:
        return int(round(self.bin_min * 60e9))

    @property
    def gap_bins(self) -> int:
        """Largest hole inside a run of paired bins, in bins."""
        return max(1, int(np.floor(self.max_bin_gap_h * 60.0 / self.bin_min + 1e-9)))


#: Margin (km) by which a vessel's stay must lie inside a port's exclusion disc to be left
#: out of the pairing: it absorbs rounding and the curvature of a disc in degrees.
_ZONE_MARGIN_KM = 0.1


def _exclusion_zones(ports: Any, opts: EncounterOptions) -> tuple[np.ndarray, ...]:
    """Discs (lat, lon, radius km) inside which an encounter's mean position is rejected:
    ``min_port_distance_km`` around each port, and the anchorages."""
    from caspian_ais.gaps import port_table

    p = port_table(ports)
    lat = [p["lat"].to_numpy(float)]
    lon = [p["lon"].to_numpy(float)]
    rad = [np.full(len(p), float(opts.min_port_distance_km))]
    anch = _resolve_anchorages(opts.anchorages, ports)
    if anch is not None and len(anch):
        lat.append(anch["lat"].to_numpy(float))
        lon.append(anch["lon"].to_numpy(float))
        rad.append(anch["radius_km"].to_numpy(float))
    return np.concatenate(lat), np.concatenate(lon), np.concatenate(rad)


def _drop_port_stays(arrays: tuple[np.ndarray, ...], ports: Any,
                     opts: EncounterOptions) -> tuple[np.ndarray, ...]:
    """Leave out every *stay* of a vessel (its samples with holes of at most
    ``max_bin_gap_h``) lying wholly inside one exclusion disc, shrunk by half the pairing
    distance and a margin.

    Exact: a run of paired bins lies within one stay of each of its two vessels (its bins
    are some of each vessel's samples, holes at most ``max_bin_gap_h``). Every pair of
    such a stay has its midpoint within the disc, so the run's mean position does too (a
    disc is convex), and the run is rejected as in port. This drops the ships berthed or
    anchored side by side for days, nearly all of a port-heavy fleet's pairs.
    """
    mm, b, lat, lon, sp = arrays
    if not len(mm):
        return arrays
    zlat, zlon, zrad = _exclusion_zones(ports, opts)
    r = zrad - (opts.max_distance_m / 2000.0 + _ZONE_MARGIN_KM)
    use = np.isfinite(zlat) & np.isfinite(zlon) & (r > 0)
    if not use.any():
        return arrays
    zlat, zlon, r = zlat[use], zlon[use], r[use]
    start = np.flatnonzero(np.r_[True, (mm[1:] != mm[:-1])
                                 | (b[1:] - b[:-1] > opts.gap_bins)])
    la0, la1 = np.minimum.reduceat(lat, start), np.maximum.reduceat(lat, start)
    lo0, lo1 = np.minimum.reduceat(lon, start), np.maximum.reduceat(lon, start)
    inside = np.zeros(len(start), dtype=bool)
    for z in range(len(r)):
        # the stay's bounding box: inside the (convex) disc when its four corners are
        cand = np.flatnonzero(~inside)
        ok = np.ones(len(cand), dtype=bool)
        for clat, clon in ((la0, lo0), (la0, lo1), (la1, lo0), (la1, lo1)):
            ok &= haversine_km(clat[cand], clon[cand], zlat[z], zlon[z]) <= r[z]
        inside[cand[ok]] = True
    if not inside.any():
        return arrays
    n = np.diff(np.r_[start, len(mm)])
    keep = np.repeat(~inside, n)
    return mm[keep], b[keep], lat[keep], lon[keep], sp[keep]


def encounter_samples(tracks: pd.DataFrame, ports: Any = None, **options: Any) -> pd.DataFrame:
    """The samples :func:`detect_encounters` pairs: :func:`track_samples`, without the
    stays that cannot be part of an encounter (wholly inside a port's exclusion disc).

    Per vessel: the samples of a table are the union of those of its vessels, so the batch
    engine computes them partition by partition.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Cleaned canonical table.
    ports : pandas.DataFrame or path, optional
        Port gazetteer; default the bundled Caspian one.
    **options
        Keywords of :func:`detect_encounters`.

    Returns
    -------
    pandas.DataFrame
        ``mmsi, bin, lat, lon, speed_kn``, sorted by ``mmsi`` and ``bin``.
    """
    opts = EncounterOptions(**options)
    if len(tracks) == 0:
        return _samples_frame(None)
    arrays = _sample_arrays(tracks, opts.bin_min, opts.max_interp_gap_h,
                            opts.candidate_speed_kn)
    return _samples_frame(_drop_port_stays(arrays, ports, opts))


_PAIR_COLUMNS = ("ma", "mb", "bin", "d_m", "lat", "lon", "sa", "sb")


def _pairs(s: pd.DataFrame, max_distance_m: float) -> pd.DataFrame:
    """All pairs of samples in the same bin within ``max_distance_m``, via a sorted grid.

    ``a`` and ``b`` are row positions in ``s`` with ``mmsi[a] < mmsi[b]``; ``d_m`` their
    great-circle distance, metres.
    """
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
        # the three cells (r + dr, c - 1 .. c + 1) are consecutive keys
        q = key + dr * nc
        lo = np.searchsorted(ks, q - 1, side="left")
        hi = np.searchsorted(ks, q + 1, side="right")
        cnt = hi - lo
        rows = np.flatnonzero(cnt)
        if not len(rows):
            continue
        cc = cnt[rows]
        a_i = np.repeat(rows, cc)
        b_i = o[np.repeat(lo[rows] - (np.cumsum(cc) - cc), cc) + np.arange(int(cc.sum()))]
        keep = mm[a_i] < mm[b_i]
        pa.append(a_i[keep])
        pb.append(b_i[keep])
    if not pa:
        return empty
    a_i, b_i = np.concatenate(pa), np.concatenate(pb)
    d = haversine_km(lat[a_i], lon[a_i], lat[b_i], lon[b_i]) * 1000.0
    keep = d <= max_distance_m
    return pd.DataFrame({"a": a_i[keep], "b": b_i[keep], "d_m": d[keep]})


def _pair_rows(s: pd.DataFrame, max_distance_m: float) -> dict[str, np.ndarray]:
    """The paired samples of ``s`` as columns :data:`_PAIR_COLUMNS`."""
    pr = _pairs(s, max_distance_m)
    a, b = pr["a"].to_numpy(), pr["b"].to_numpy()
    mm = s["mmsi"].to_numpy(np.int64)
    lat = s["lat"].to_numpy(float)
    lon = s["lon"].to_numpy(float)
    sp = s["speed_kn"].to_numpy(float)
    return {"ma": mm[a], "mb": mm[b], "bin": s["bin"].to_numpy(np.int64)[a],
            "d_m": pr["d_m"].to_numpy(), "lat": 0.5 * (lat[a] + lat[b]),
            "lon": 0.5 * (lon[a] + lon[b]), "sa": sp[a], "sb": sp[b]}


def _run_events(p: pd.DataFrame, opts: EncounterOptions) -> pd.DataFrame:
    """Candidate encounters of complete runs: pair rows sorted by (ma, mb, bin) ->
    one row per run passing the duration and speed tests."""
    gap_bins = opts.gap_bins
    ma, mb, bb = p["ma"].to_numpy(), p["mb"].to_numpy(), p["bin"].to_numpy()
    new = np.r_[True, (ma[1:] != ma[:-1]) | (mb[1:] != mb[:-1]) | (bb[1:] - bb[:-1] > gap_bins)]
    run = np.cumsum(new)
    # the duration test first (exact, on integers): most runs are short
    start = np.flatnonzero(new)
    end = np.r_[start[1:], len(p)] - 1
    dur_h = (bb[end] - bb[start]) * opts.bin_ns / _NS_PER_H
    long = dur_h >= opts.min_duration_h - 1e-9
    if not long.all():
        p = p[np.repeat(long, end - start + 1)]
        run = run[np.repeat(long, end - start + 1)]
    p = p.assign(run=run)
    g = p.groupby("run", sort=False)
    ev = g.agg(mmsi_a=("ma", "first"), mmsi_b=("mb", "first"), b0=("bin", "min"),
               b1=("bin", "max"), lat=("lat", "mean"), lon=("lon", "mean"),
               median_distance_m=("d_m", "median"), min_distance_m=("d_m", "min"),
               n_bins=("bin", "size"))
    both = pd.concat([p[["run", "sa"]].rename(columns={"sa": "s"}),
                      p[["run", "sb"]].rename(columns={"sb": "s"})])
    ev["median_speed_kn"] = both.groupby("run")["s"].median()
    ev["duration_h"] = (ev["b1"] - ev["b0"]) * opts.bin_ns / _NS_PER_H
    return ev[(ev["duration_h"] >= opts.min_duration_h - 1e-9)
              & (ev["median_speed_kn"] < opts.max_median_speed_kn)]


def encounters_from_samples(
    samples: pd.DataFrame | Iterable[tuple[pd.DataFrame, int | None]],
    ports: Any = None,
    **options: Any,
) -> pd.DataFrame:
    """Encounters from the samples of :func:`encounter_samples`, whole or by time slice.

    Parameters
    ----------
    samples : pandas.DataFrame or iterable of (pandas.DataFrame, int or None)
        All samples, or time slices of them in time order: ``(samples, end_bin)`` where
        the slice holds every sample with ``bin`` from the previous slice's ``end_bin``
        up to ``end_bin`` (exclusive; ``None`` for the last). Pairs are found slice by
        slice; the pairs of a run still open at a slice's end are carried into the next,
        so the result is the same as from all samples at once, in bounded memory.
    ports : pandas.DataFrame or path, optional
        Port gazetteer; default the bundled Caspian one.
    **options
        Keywords of :func:`detect_encounters`.

    Returns
    -------
    pandas.DataFrame
        As :func:`detect_encounters`.
    """
    opts = EncounterOptions(**options)
    chunks = [(samples, None)] if isinstance(samples, pd.DataFrame) else samples
    carry = pd.DataFrame({c: np.zeros(0, np.int64 if c in ("ma", "mb", "bin") else float)
                          for c in _PAIR_COLUMNS})
    events: list[pd.DataFrame] = []
    for s, end_bin in chunks:
        p = pd.DataFrame(_pair_rows(s, opts.max_distance_m))
        if len(carry):
            p = pd.concat([carry, p], ignore_index=True)
        if not len(p):
            continue
        p = p.iloc[np.lexsort((p["bin"].to_numpy(), p["mb"].to_numpy(),
                               p["ma"].to_numpy()))].reset_index(drop=True)
        if end_bin is None:
            done = np.ones(len(p), dtype=bool)
        else:
            # a run is complete when no later pair (bin >= end_bin) can extend it
            ma, mb, bb = p["ma"].to_numpy(), p["mb"].to_numpy(), p["bin"].to_numpy()
            last = np.r_[(ma[1:] != ma[:-1]) | (mb[1:] != mb[:-1])
                         | (bb[1:] - bb[:-1] > opts.gap_bins), True]
            run_last = bb[last][np.cumsum(np.r_[True, last[:-1]]) - 1]
            done = end_bin - run_last > opts.gap_bins
        if done.any():
            events.append(_run_events(p[done].reset_index(drop=True), opts))
        carry = p[~done].reset_index(drop=True)
    if len(carry):
        events.append(_run_events(carry, opts))
    ev = pd.concat(events, ignore_index=True) if events else pd.DataFrame()
    if ev.empty:
        return _empty()
    anch = _resolve_anchorages(opts.anchorages, ports)
    ok, dist, port = offshore_ok(ev["lat"].to_numpy(), ev["lon"].to_numpy(), ports,
                                 opts.min_port_distance_km, anch)
    ev = ev.assign(port_distance_km=dist, nearest_port=port)[ok]
    if ev.empty:
        return _empty()
    bin_ns = opts.bin_ns
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
    opts = EncounterOptions(
        max_distance_m=max_distance_m, min_duration_h=min_duration_h,
        max_median_speed_kn=max_median_speed_kn, min_port_distance_km=min_port_distance_km,
        anchorages=anchorages, bin_min=bin_min, max_interp_gap_h=max_interp_gap_h,
        max_bin_gap_h=max_bin_gap_h, candidate_speed_kn=candidate_speed_kn)
    kw = {f: getattr(opts, f) for f in opts.__dataclass_fields__}
    return encounters_from_samples(encounter_samples(tracks, ports, **kw), ports, **kw)
