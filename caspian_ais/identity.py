"""Identity and position anomalies: spoofing, shared MMSIs, teleports, land, frozen fixes.

:func:`detect_identity_anomalies` works on the **raw** table (as read, before
:func:`caspian_ais.clean`): cleaning removes exactly the rows that betray these anomalies
(position jumps, the minority track of a shared MMSI, invalid MMSIs), and keeps only a
ledger line for each. Passing a cleaned table still works but finds less. See
``docs/encounters_identity.md`` and ``/work/shared/method.md`` "Spoofing indicators".

Kinds (column ``kind``), each vectorised over all vessels:

``default_mmsi`` / ``invalid_mmsi``
    An MMSI from :data:`DEFAULT_MMSIS` (factory and test values such as 123456789,
    111111111, 0), or one that is not a 9-digit ship-station MMSI with an allocated MID
    and not a known non-vessel station either (ITU-R M.585). One row per MMSI.
``two_places``
    One MMSI reported from two places at once: an episode of at least
    ``min_two_places_jumps`` impossible steps (implied speed above ``max_speed_kn``) in at
    least ``min_two_places_bursts`` bursts (or one burst longer than ``max_teleport_min``),
    consecutive bursts at most ``episode_gap_h`` apart.
``teleport``
    At most ``max_teleport_rows`` reports far away, reached and left by impossible steps,
    with the track consistent before and after.
``spoofing``
    A longer excursion: an impossible step away and one back, the positions in between
    consistent with each other (a track broadcast off the true one). Offshore the steps
    onto and off a spoofed stretch often cross hours of silence at a plausible speed, so
    the stretch is also found by *dead reckoning*: a step that lands at least
    ``dr_offset_min_km`` off where the ship's own reported speeds and courses put it
    (after allowing for a change of speed and one turn during the step), and a later
    step, at most ``episode_gap_h`` after, that takes the offset back (the two offsets
    cancel to within ``dr_return_frac``), the ship reporting itself under way
    (``dr_min_sog_kn``) throughout. Such a stretch of at most ``max_teleport_rows``
    reports is a ``teleport``.
``position_jump``
    A single impossible step not otherwise explained (a spoofed or mis-attributed
    stretch whose other end went unheard).
``on_land``
    Reports on land: outside the Caspian water polygon grown by ``land_tolerance_km``
    and outside the Volga-Caspian canal corridor (which holds the river ports Astrakhan
    and Olya). Only points inside :data:`CASPIAN_BBOX` are tested.
``frozen_position``
    At least ``min_frozen_repeats`` consecutive reports at exactly the same position over
    at least ``min_frozen_h`` (or reporting a mean speed of at least
    ``frozen_moving_sog_kn``), more than ``frozen_min_port_distance_km`` from any port.
``name_change`` / ``imo_change``
    An MMSI starts transmitting a new name or IMO number (each value seen in at least
    ``min_identity_rows`` reports).
``flag_change`` / ``mmsi_change``
    An IMO number moves to another MMSI, with another MID (reflagging) or the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from caspian_ais.geodesy import EARTH_RADIUS_KM as _R_KM
from caspian_ais.geodesy import KM_PER_NM, haversine_km
from caspian_ais.schema import timestamp_ns

__all__ = [
    "ANOMALY_COLUMNS",
    "ANOMALY_KINDS",
    "CASPIAN_BBOX",
    "DEFAULT_MMSIS",
    "detect_identity_anomalies",
    "raw_from_ledger",
]

_NS_PER_H = 3_600_000_000_000

#: Default, test and filler MMSIs seen in real AIS.
DEFAULT_MMSIS: frozenset[int] = frozenset(
    {0, 1, 12345678, 123456789, 987654321, 100000000, 999999999, 111111111, 222222222,
     333333333, 444444444, 555555555, 666666666, 777777777, 888888888}
)
#: (lon_min, lat_min, lon_max, lat_max): where the on-land test applies, degrees.
CASPIAN_BBOX: tuple[float, float, float, float] = (45.5, 35.5, 56.0, 48.0)

#: ``kind`` codes, a public contract (add, never rename).
ANOMALY_KINDS: dict[str, str] = {
    "default_mmsi": "a default or test MMSI",
    "invalid_mmsi": "not a valid ship-station MMSI",
    "two_places": "one MMSI reported from two places at once",
    "teleport": "a few reports far away, then back",
    "spoofing": "a stretch of positions broadcast off the track, then back",
    "position_jump": "a single impossible step",
    "on_land": "positions on land",
    "frozen_position": "identical positions repeated in open water",
    "name_change": "the MMSI transmits a new name",
    "imo_change": "the MMSI transmits a new IMO number",
    "flag_change": "the IMO number moves to an MMSI of another flag",
    "mmsi_change": "the IMO number moves to another MMSI of the same flag",
}

#: Columns of :func:`detect_identity_anomalies`, in order.
ANOMALY_COLUMNS: tuple[str, ...] = (
    "anomaly_id",
    "mmsi",
    "kind",
    "start_time",
    "end_time",
    "n_rows",
    "lat",
    "lon",
    "max_speed_kn",
    "other_mmsi",
    "old_value",
    "new_value",
    "detail",
)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    utc = "datetime64[ns, UTC]"
    if not rows:
        dt = {"anomaly_id": "str", "mmsi": "int64", "kind": "str", "start_time": utc,
              "end_time": utc, "n_rows": "int64", "other_mmsi": "Int64", "old_value": "str",
              "new_value": "str", "detail": "str"}
        return pd.DataFrame({c: pd.Series([], dtype=dt.get(c, "float64")) for c in ANOMALY_COLUMNS})
    out = pd.DataFrame(rows)
    for c in ANOMALY_COLUMNS:
        if c not in out:
            out[c] = None
    out["start_time"] = pd.to_datetime(out["start_time"].astype("int64"), utc=True)
    out["end_time"] = pd.to_datetime(out["end_time"].astype("int64"), utc=True)
    out["mmsi"] = out["mmsi"].astype("int64")
    out["n_rows"] = out["n_rows"].astype("int64")
    out["other_mmsi"] = pd.array(out["other_mmsi"].tolist(), dtype="Int64")
    for c in ("lat", "lon", "max_speed_kn"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in ("kind", "old_value", "new_value", "detail"):
        out[c] = out[c].astype("str").where(out[c].notna(), None)
    out["anomaly_id"] = (out["mmsi"].astype(str) + "-" + out["kind"] + "-"
                         + (out["start_time"].astype("int64") // 1_000_000_000).astype(str))
    out = out.sort_values(["start_time", "mmsi", "kind"], kind="stable").reset_index(drop=True)
    return out[list(ANOMALY_COLUMNS)]


def _runs(key_change: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (inclusive) indices of runs where ``key_change`` marks run starts."""
    starts = np.flatnonzero(key_change)
    ends = np.r_[starts[1:], len(key_change)] - 1
    return starts, ends


def _step(lat: np.ndarray, lon: np.ndarray, t: np.ndarray, a: np.ndarray, b: np.ndarray,
          max_kmh: float, tol_km: float, soft_kmh: np.ndarray | None = None,
          soft_min_h: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(impossible?, implied speed kn) of steps a -> b.

    A step is impossible above ``max_kmh``, or, when it lasts at least ``soft_min_h``
    hours, above the vessel's own cap ``soft_kmh[a]``.
    """
    d = haversine_km(lat[a], lon[a], lat[b], lon[b])
    dt_h = (t[b] - t[a]) / _NS_PER_H
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(dt_h > 0, d / dt_h, np.inf)
    cap = np.full(len(v), max_kmh)
    if soft_kmh is not None:
        cap = np.where(dt_h >= soft_min_h, np.fmin(cap, soft_kmh[a]), cap)
    return (d > tol_km) & (v > cap), v / KM_PER_NM


def _north_km(lat: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Northward displacement of steps a -> b, km (local flat Earth)."""
    return np.radians(lat[b] - lat[a]) * _R_KM


def _east_km(lat: np.ndarray, lon: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Eastward displacement of steps a -> b, km (at the steps' mean latitude)."""
    dlon = (lon[b] - lon[a] + 180.0) % 360.0 - 180.0
    return np.radians(dlon) * _R_KM * np.cos(np.radians((lat[a] + lat[b]) / 2))


def _dr_residual(lat: np.ndarray, lon: np.ndarray, t: np.ndarray, sog: np.ndarray,
                 cog: np.ndarray, a: np.ndarray, b: np.ndarray, min_sog_kn: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dead-reckoning residual of steps a -> b: (north km, east km, unexplained km).

    The residual is the displacement minus the mean of the two reported velocity vectors
    (SOG, COG) times the step's duration: where the ship went, minus where its reports
    said it was going. Part of it the reports leave open: a change of speed from
    ``sog[a]`` to ``sog[b]`` at an unknown moment moves the ship up to
    ``|sog[b] - sog[a]| / 2 x duration`` along its course, and one turn from ``cog[a]``
    to ``cog[b]`` up to ``path length x sin(turn / 2)`` across it. What is left is
    *unexplained*. Steps whose ends do not both report at least ``min_sog_kn`` (or lack
    SOG or COG) get NaN.
    """
    dt_h = (t[b] - t[a]) / _NS_PER_H
    ca, cb = np.radians(cog[a]), np.radians(cog[b])
    vn = (sog[a] * np.cos(ca) + sog[b] * np.cos(cb)) / 2 * KM_PER_NM
    ve = (sog[a] * np.sin(ca) + sog[b] * np.sin(cb)) / 2 * KM_PER_NM
    rn = _north_km(lat, a, b) - vn * dt_h
    re = _east_km(lat, lon, a, b) - ve * dt_h
    spd = np.hypot(vn, ve)
    turn = np.abs((cog[b] - cog[a] + 180.0) % 360.0 - 180.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        along = (rn * vn + re * ve) / spd
        cross = (re * vn - rn * ve) / spd
        ok = ((sog[a] >= min_sog_kn) & (sog[b] >= min_sog_kn) & (dt_h > 0) & (spd > 0)
              & np.isfinite(along) & np.isfinite(cross))
    s_al = np.abs(sog[b] - sog[a]) / 2 * KM_PER_NM * dt_h
    s_cr = (sog[a] + sog[b]) / 2 * KM_PER_NM * dt_h * np.sin(np.radians(turn) / 2)
    un = np.hypot(np.maximum(np.abs(along) - s_al, 0.0), np.maximum(np.abs(cross) - s_cr, 0.0))
    nan = np.nan
    return np.where(ok, rn, nan), np.where(ok, re, nan), np.where(ok, un, nan)


def raw_from_ledger(tracks: pd.DataFrame, ledger: pd.DataFrame | None) -> pd.DataFrame:
    """Rebuild the raw positions from cleaned tracks and the rejected-rows ledger.

    :func:`caspian_ais.clean` keeps every dropped row in its ledger (``mmsi, timestamp,
    lat, lon, reason``), so the rows :func:`detect_identity_anomalies` needs are
    recoverable after cleaning, without keeping the raw table: this is what
    :func:`caspian_ais.analyze` does. Ledger rows have no speed, course, name or IMO number;
    rows whose time could not be read are left out.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Cleaned canonical table.
    ledger : pandas.DataFrame or None
        The rejected-rows ledger of the same run.

    Returns
    -------
    pandas.DataFrame
        ``tracks`` with the ledger's rows appended (missing columns empty).
    """
    if ledger is None or not len(ledger):
        return tracks
    cols = [c for c in ("mmsi", "timestamp", "lat", "lon") if c in ledger.columns]
    lg = ledger[cols]
    lg = lg[lg["timestamp"].notna() & lg["mmsi"].notna()] if {"timestamp", "mmsi"} <= set(cols) \
        else lg.iloc[:0]
    if not len(lg):
        return tracks
    lg = lg.assign(mmsi=pd.to_numeric(lg["mmsi"], errors="coerce").astype("int64"))
    keep = [c for c in tracks.columns if c in ("mmsi", "timestamp", "lat", "lon", "sog_kn",
                                                "cog_deg", "name", "imo")]
    return pd.concat([tracks[keep], lg], ignore_index=True)


def detect_identity_anomalies(
    raw: pd.DataFrame,
    ports: Any = None,
    *,
    max_speed_kn: float = 30.0,
    jump_tolerance_km: float = 1.0,
    vessel_speed_factor: float | None = 1.2,
    vessel_speed_margin_kn: float = 2.0,
    max_teleport_rows: int = 3,
    max_teleport_min: float = 15.0,
    min_two_places_jumps: int = 4,
    min_two_places_bursts: int = 3,
    episode_gap_h: float = 36.0,
    dr_offset_min_km: float | None = 15.0,
    dr_return_frac: float = 0.7,
    dr_min_sog_kn: float = 2.0,
    land_tolerance_km: float = 2.0,
    min_frozen_repeats: int = 3,
    min_frozen_h: float = 0.5,
    frozen_min_port_distance_km: float = 10.0,
    frozen_moving_sog_kn: float = 2.0,
    min_identity_rows: int = 2,
    kinds: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Find identity and position anomalies in a raw AIS table.

    Parameters
    ----------
    raw : pandas.DataFrame
        Canonical table as read by :func:`caspian_ais.read_ais`, **before** cleaning.
    ports : pandas.DataFrame or path, optional
        Port gazetteer (for the frozen-position test); default the bundled one.
    max_speed_kn : float, default 30
        A step between consecutive reports of one MMSI is impossible above this implied
        speed, knots. Caspian merchant ships sail at 8-15 kn; method.md cites 60 kn for
        world fleets with fast craft. Raise it for other seas.
    jump_tolerance_km : float, default 1
        Steps of at most this many km are never impossible (GPS jitter, receive-time
        noise).
    vessel_speed_factor : float or None, default 1.2
        Over a step of at least 15 minutes, an implied speed above ``vessel_speed_factor``
        × the vessel's own top speed (95th percentile of its reported SOG above 1 kn, at
        least 5 kn) + ``vessel_speed_margin_kn`` is impossible too ("implied speed above
        the vessel's maximum", method.md). Over hours-long gaps offshore a spoofed
        stretch is often reached at 15-20 kn, possible for a ship but not for this one.
        ``None`` uses ``max_speed_kn`` alone.
    vessel_speed_margin_kn : float, default 2
        See ``vessel_speed_factor``, knots.
    max_teleport_rows : int, default 3
        Longest excursion (reports) still called a teleport; longer ones are spoofing.
    max_teleport_min : float, default 15
        An episode of impossible steps lasting at most this many minutes is a teleport
        (a burst of far reports interleaved with the true ones), not two transmitters.
    min_two_places_jumps : int, default 4
        Impossible steps in one episode that make it ``two_places`` (a teleport or a
        spoofed stretch has two: out and back).
    min_two_places_bursts : int, default 3
        Bursts of impossible steps (steps at most ``max_teleport_min`` apart) in one
        episode that make it ``two_places``: one short burst is a teleport, two the ends of
        a spoofed stretch. A single burst lasting longer than ``max_teleport_min`` is
        ``two_places`` too.
    episode_gap_h : float, default 36
        Impossible steps at most this far apart belong to one episode, hours; also the
        longest stretch (first to last report) between the two ends of a spoofed stretch
        found by dead reckoning, inclusive.
    dr_offset_min_km : float or None, default 15
        Dead reckoning: a step between reports that both give SOG and COG is *offset*
        when it ends at least this far (km, inclusive) from where the mean of the two
        reported velocities puts it, after removing what a change of speed (up to
        ``|SOG_b - SOG_a| / 2`` × duration along the course) and one turn (up to path
        length × sin(turn / 2) across it) could explain. An offset step and a later one
        (or a lone impossible step) whose offsets cancel make a spoofed stretch. ``None``
        turns the test off. A modelling choice, tuned on the simulator (whose spoofs are
        offset 30-120 km): of the unspoofed steps of at least an hour on the tuning
        seeds, 99 % leave less than 14 km unexplained; the 0.9 % above 15 km (stops and
        port calls during a silence) find no partner, which ``dr_return_frac`` and
        ``dr_min_sog_kn`` ensure.
    dr_return_frac : float, default 0.7
        The two offsets cancel when the length of their vector sum is at most this
        fraction of the smaller one (inclusive).
    dr_min_sog_kn : float, default 2
        Dead reckoning needs a ship under way: both ends of each step, and every report
        from the first step's start to the second step's end, must report at least this
        speed, knots (inclusive; below 2 kn a ship is loitering or drifting, the GFW
        threshold of :func:`caspian_ais.loitering.detect_loitering`).
    land_tolerance_km : float, default 2
        Positions up to this far outside the water polygon still count as water, km
        (Natural Earth 1:10m shore is accurate to about a kilometre).
    min_frozen_repeats : int, default 3
        Shortest run of identical positions, reports (offshore, a stuck receiver is often
        heard only a few times, during satellite passes).
    min_frozen_h : float, default 0.5
        Shortest run of identical positions, hours, inclusive.
    frozen_min_port_distance_km : float, default 10
        A frozen run must lie strictly farther than this from every port, km.
    frozen_moving_sog_kn : float, default 2
        A run whose mean reported speed is at least this (knots) is frozen whatever its
        duration: a ship under way cannot keep exactly the same position.
    min_identity_rows : int, default 2
        A name, IMO number or MMSI must be seen in at least this many reports to count.
    kinds : tuple of str, optional
        Only these kinds (:data:`ANOMALY_KINDS`); default all.

    Returns
    -------
    pandas.DataFrame
        One row per anomaly, columns :data:`ANOMALY_COLUMNS`: ``anomaly_id``
        ``"<mmsi>-<kind>-<start unix seconds>"`` (stable); times UTC; ``n_rows`` reports
        involved; ``lat``/``lon`` a representative position (the far position of a jump,
        the frozen or on-land position); ``max_speed_kn`` the largest implied speed;
        ``other_mmsi`` the new MMSI of a flag or MMSI change; ``old_value``/``new_value``
        the identity values; ``detail`` a sentence.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"mmsi": [273000001] * 4,
    ...     "timestamp": pd.to_datetime(["2022-09-01 00:00", "2022-09-01 00:10",
    ...                                  "2022-09-01 00:11", "2022-09-01 00:20"], utc=True),
    ...     "lat": [42.0, 42.02, 41.0, 42.04], "lon": [50.0, 50.0, 51.0, 50.0]})
    >>> detect_identity_anomalies(raw)["kind"].tolist()
    ['teleport']
    """
    want = set(ANOMALY_KINDS) if kinds is None else set(kinds)
    unknown = want - set(ANOMALY_KINDS)
    if unknown:
        raise ValueError(f"unknown anomaly kind(s) {sorted(unknown)}")
    if max_speed_kn <= 0:
        raise ValueError(f"max_speed_kn must be positive, got {max_speed_kn}")
    out: list[dict[str, Any]] = []
    if len(raw) == 0:
        return _frame(out)
    from caspian_ais.flags import is_ship_mmsi, mid_of

    mmsi_all = raw["mmsi"].to_numpy(np.int64)
    t_all = timestamp_ns(raw["timestamp"])
    lat_all = raw["lat"].to_numpy(float)
    lon_all = raw["lon"].to_numpy(float)
    valid_pos = (~np.isnan(lat_all) & ~np.isnan(lon_all) & (np.abs(lat_all) <= 90)
                 & (np.abs(lon_all) <= 180) & ~((lat_all == 0) & (lon_all == 0))
                 & (t_all != np.iinfo(np.int64).min))

    # ---- MMSIs ---------------------------------------------------------------------
    ship = is_ship_mmsi(mmsi_all)
    non_vessel = ~ship & (mid_of(mmsi_all) > 0) & (mmsi_all >= 1_000_000)
    default = np.isin(mmsi_all, np.fromiter(DEFAULT_MMSIS, dtype=np.int64))
    bad = (default | (~ship & ~non_vessel)) & (t_all != np.iinfo(np.int64).min)
    if bad.any() and want & {"default_mmsi", "invalid_mmsi"}:
        b = pd.DataFrame({"mmsi": mmsi_all[bad], "t": t_all[bad], "lat": lat_all[bad],
                          "lon": lon_all[bad]})
        agg = b.groupby("mmsi").agg(t0=("t", "min"), t1=("t", "max"), n=("t", "size"),
                                    lat=("lat", "median"), lon=("lon", "median"))
        for m, r in agg.iterrows():
            kind = "default_mmsi" if int(m) in DEFAULT_MMSIS else "invalid_mmsi"
            if kind in want:
                out.append({"mmsi": int(m), "kind": kind, "start_time": r.t0, "end_time": r.t1,
                            "n_rows": r.n, "lat": r.lat, "lon": r.lon,
                            "detail": f"{int(r.n)} reports with MMSI {int(m)}"})

    # ---- positions: valid ship MMSIs, sorted, exact duplicates dropped ------------------
    sel = np.flatnonzero(valid_pos & ~bad)
    o = sel[np.lexsort((lon_all[sel], lat_all[sel], t_all[sel], mmsi_all[sel]))]
    mm, t, lat, lon = mmsi_all[o], t_all[o], lat_all[o], lon_all[o]
    if len(mm):
        dup = np.r_[False, (mm[1:] == mm[:-1]) & (t[1:] == t[:-1]) & (lat[1:] == lat[:-1])
                    & (lon[1:] == lon[:-1])]
        mm, t, lat, lon, o = mm[~dup], t[~dup], lat[~dup], lon[~dup], o[~dup]
    sog = raw["sog_kn"].to_numpy(float)[o] if "sog_kn" in raw else np.full(len(o), np.nan)
    cog = raw["cog_deg"].to_numpy(float)[o] if "cog_deg" in raw else np.full(len(o), np.nan)
    n = len(mm)
    ignore = np.zeros(n, dtype=bool)  # rows left out of the jump analysis

    # on land
    if n:
        from caspian_ais.water import on_water

        x0, y0, x1, y1 = CASPIAN_BBOX
        box = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
        land = np.zeros(n, dtype=bool)
        bi = np.flatnonzero(box)
        if len(bi):
            land[bi] = ~on_water(lat[bi], lon[bi], tolerance_km=land_tolerance_km,
                                 include_canal=True)
        ignore |= land
        if land.any() and "on_land" in want:
            li = np.flatnonzero(land)
            new = np.r_[True, (mm[li][1:] != mm[li][:-1])
                        | (t[li][1:] - t[li][:-1] > _NS_PER_H)]
            for s, e in zip(*_runs(new), strict=True):
                rows = li[s:e + 1]
                out.append({"mmsi": mm[rows[0]], "kind": "on_land", "start_time": t[rows[0]],
                            "end_time": t[rows[-1]], "n_rows": len(rows),
                            "lat": float(np.median(lat[rows])), "lon": float(np.median(lon[rows])),
                            "detail": f"{len(rows)} report(s) on land"})

    # frozen positions: consecutive identical fixes in open water
    if n > 1:
        same_fix = (mm[1:] == mm[:-1]) & (lat[1:] == lat[:-1]) & (lon[1:] == lon[:-1])
        starts, ends = _runs(np.r_[True, ~same_fix])
        # a run reporting speed while its position stays put needs no minimum duration
        csog = np.r_[0.0, np.cumsum(np.nan_to_num(sog))]
        cnt = np.r_[0, np.cumsum(~np.isnan(sog))]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_sog = (csog[ends + 1] - csog[starts]) / (cnt[ends + 1] - cnt[starts])
        long = (ends - starts + 1 >= min_frozen_repeats) & (
            ((t[ends] - t[starts]) >= min_frozen_h * _NS_PER_H - 1)
            | (mean_sog >= frozen_moving_sog_kn))
        starts, ends = starts[long], ends[long]
        if len(starts):
            from caspian_ais.encounters import offshore_ok

            ok, dist, _ = offshore_ok(lat[starts], lon[starts], ports,
                                      frozen_min_port_distance_km, None)
            for s, e, d in zip(starts[ok], ends[ok], dist[ok], strict=True):
                ignore[s:e + 1] = True
                if "frozen_position" in want:
                    med = np.nanmedian(sog[s:e + 1]) if np.isfinite(sog[s:e + 1]).any() else np.nan
                    out.append({"mmsi": mm[s], "kind": "frozen_position", "start_time": t[s],
                                "end_time": t[e], "n_rows": e - s + 1, "lat": lat[s],
                                "lon": lon[s],
                                "detail": f"{e - s + 1} reports at exactly the same position "
                                f"over {(t[e] - t[s]) / _NS_PER_H:.1f} h, {d:.0f} km from port; "
                                f"median reported speed {med:.1f} kn"})

    # ---- impossible steps ----------------------------------------------------------------
    jump_kinds = {"teleport", "spoofing", "two_places", "position_jump"}
    keep = np.flatnonzero(~ignore)
    if len(keep) > 1 and want & jump_kinds:
        max_kmh = max_speed_kn * KM_PER_NM
        m2, t2, la2, lo2 = mm[keep], t[keep], lat[keep], lon[keep]
        soft = np.full(len(keep), np.inf)
        if vessel_speed_factor is not None:
            # each vessel's own top speed: the 95th percentile of its reported SOG
            sg = pd.Series(sog[keep]).where(lambda x: x > 1.0)
            top = sg.groupby(m2).quantile(0.95)
            vs = pd.Series(m2).map(top).to_numpy(float)
            soft = np.where(np.isfinite(vs), (np.maximum(vs, 5.0) * vessel_speed_factor
                                              + vessel_speed_margin_kn) * KM_PER_NM, np.inf)
        idx = np.arange(len(keep))
        a, b = idx[:-1], idx[1:]
        bad_step, v = _step(la2, lo2, t2, a, b, max_kmh, jump_tolerance_km, soft)
        bad_step &= m2[a] == m2[b]
        # bursts of impossible steps (at most max_teleport_min apart), then episodes of
        # bursts (at most episode_gap_h apart). Many bursts: two transmitters on one MMSI;
        # a lone short burst of several steps: far reports interleaved with the track.
        bi = np.flatnonzero(bad_step)
        handled = np.zeros(len(keep), dtype=bool)
        if len(bi):
            mb, tb = m2[bi], t2[bi]
            burst = np.cumsum(np.r_[True, (mb[1:] != mb[:-1])
                                    | (tb[1:] - tb[:-1] > max_teleport_min * 60e9)])
            b_first = np.r_[True, burst[1:] != burst[:-1]]
            bs = np.flatnonzero(b_first)  # first step index (into bi) of each burst
            be = np.r_[bs[1:], len(bi)] - 1
            new = np.r_[True, (mb[bs][1:] != mb[bs][:-1])
                        | (tb[bs][1:] - tb[be][:-1] > episode_gap_h * _NS_PER_H)]
            for s, e in zip(*_runs(new), strict=True):
                steps = bi[bs[s]:be[e] + 1]
                r0, r1 = steps[0], steps[-1] + 1
                sp = float(np.max(v[steps]))
                n_bursts = e - s + 1
                longest = max(t2[bi[be[k]]] - t2[bi[bs[k]]] for k in range(s, e + 1))
                if len(steps) >= min_two_places_jumps and (
                        n_bursts >= min_two_places_bursts or longest > max_teleport_min * 60e9):
                    handled[r0:r1 + 1] = True
                    if "two_places" in want:
                        out.append({
                            "mmsi": m2[r0], "kind": "two_places", "start_time": t2[r0],
                            "end_time": t2[r1], "n_rows": len(steps),
                            "lat": float(la2[steps[0] + 1]), "lon": float(lo2[steps[0] + 1]),
                            "max_speed_kn": sp,
                            "detail": f"{len(steps)} impossible steps (up to {sp:.0f} kn) in "
                            f"{n_bursts} bursts between interleaved positions: two "
                            "transmitters on one MMSI"})
                    continue
                for k in range(s, e + 1):
                    st = bi[bs[k]:be[k] + 1]
                    if len(st) < 3:
                        continue  # one or two steps: an excursion, below
                    q0, q1 = st[0], st[-1] + 1
                    handled[q0:q1 + 1] = True
                    spk = float(np.max(v[st]))
                    if "teleport" in want:
                        out.append({
                            "mmsi": m2[q0], "kind": "teleport", "start_time": t2[st[0] + 1],
                            "end_time": t2[st[-1]], "n_rows": len(st) // 2,
                            "lat": float(la2[st[0] + 1]), "lon": float(lo2[st[0] + 1]),
                            "max_speed_kn": spk,
                            "detail": f"reports far away interleaved with the track for "
                            f"{(t2[q1] - t2[q0]) / 60e9:.0f} min ({len(st)} impossible "
                            f"steps, up to {spk:.0f} kn)"})
        # teleports: after an impossible step k -> k+1, the first row j <= k+1+max rows
        # reachable from row k ends the excursion
        tele = np.zeros(len(keep), dtype=bool)
        bi = bi[~handled[bi]]
        tele_rows: list[tuple[int, int, float]] = []
        if len(bi):
            offs = np.arange(2, max_teleport_rows + 2)
            cand = bi[:, None] + offs[None, :]
            inside = cand < len(keep)
            cc = np.where(inside, cand, len(keep) - 1)
            src = np.repeat(bi[:, None], len(offs), axis=1)
            imp, _ = _step(la2, lo2, t2, src.ravel(), cc.ravel(), max_kmh, jump_tolerance_km,
                           soft)
            reach = (~imp.reshape(cc.shape)) & inside & (m2[cc] == m2[src])
            has = reach.any(axis=1)
            j = bi + offs[np.argmax(reach, axis=1)]
            for k, jj, h in zip(bi, j, has, strict=True):
                if h and not tele[k + 1] and not tele[k]:  # not the step back
                    tele[k + 1:jj] = True
                    tele_rows.append((k + 1, jj - 1, float(v[k])))
        if "teleport" in want:
            for s, e, sp in tele_rows:
                out.append({"mmsi": m2[s], "kind": "teleport", "start_time": t2[s],
                            "end_time": t2[e], "n_rows": e - s + 1,
                            "lat": float(la2[s]), "lon": float(lo2[s]), "max_speed_kn": sp,
                            "detail": f"{e - s + 1} report(s) reached at {sp:.0f} kn, then back"})
        # the rest: an excursion out and back (spoofing) or a single jump
        rest = np.flatnonzero(~tele & ~handled)
        if len(rest) > 1:
            m3, t3 = m2[rest], t2[rest]
            a, b = np.arange(len(rest) - 1), np.arange(1, len(rest))
            bad3, v3 = _step(la2[rest], lo2[rest], t3, a, b, max_kmh, jump_tolerance_km,
                             soft[rest])
            adj = (m3[a] == m3[b]) & (rest[b] - rest[a] == 1)
            bad3 &= adj
            k3 = np.flatnonzero(bad3)
            single = np.zeros(len(a), dtype=bool)  # lone impossible steps
            if len(k3):
                new = np.r_[True, (m3[k3][1:] != m3[k3][:-1])
                            | (t3[k3][1:] - t3[k3][:-1] > episode_gap_h * _NS_PER_H)]
                for s, e in zip(*_runs(new), strict=True):
                    steps = k3[s:e + 1]
                    if len(steps) < 2:
                        single[steps[0]] = True
                        continue
                    sp = float(np.max(v3[steps]))
                    r0, r1 = rest[steps[0] + 1], rest[steps[-1]]
                    if "spoofing" in want:
                        out.append({
                            "mmsi": m2[r0], "kind": "spoofing", "start_time": t2[r0],
                            "end_time": t2[max(r1, r0)], "n_rows": len(steps),
                            "lat": float(la2[r0]), "lon": float(lo2[r0]), "max_speed_kn": sp,
                            "detail": f"positions {(t2[r1] - t2[r0]) / _NS_PER_H:.1f} h away "
                            f"from the track, reached and left at up to {sp:.0f} kn"})
            # dead reckoning: a stretch displaced off the track the ship reports sailing,
            # entered and left by steps whose offsets cancel
            if dr_offset_min_km is not None:
                kr = keep[rest]
                rn, re, unexpl = _dr_residual(lat[kr], lon[kr], t[kr], sog[kr], cog[kr], a, b,
                                              dr_min_sog_kn)
                with np.errstate(invalid="ignore"):
                    off = adj & ~bad3 & (unexpl >= dr_offset_min_km)
                # a lone impossible step may be one end of such a stretch; without a
                # usable speed and course its offset is its displacement
                no_dr = single & ~np.isfinite(rn)
                rn = np.where(no_dr, _north_km(la2[rest], a, b), rn)
                re = np.where(no_dr, _east_km(la2[rest], lo2[rest], a, b), re)
                cand = np.flatnonzero(off | single)
                if len(cand) > 1:
                    i, j = cand[:-1], cand[1:]
                    res = np.hypot(rn, re)
                    back = np.hypot(rn[i] + rn[j], re[i] + re[j])
                    # every report from the start of step i to the end of step j under way
                    slow = np.r_[0, np.cumsum(sog[kr] < dr_min_sog_kn)]
                    pair = ((m3[i] == m3[j])
                            & (t3[j] - t3[i + 1] <= episode_gap_h * _NS_PER_H)
                            & (back <= dr_return_frac * np.minimum(res[i], res[j]))
                            & (slow[j + 2] - slow[i] == 0))
                    # no step ends two stretches: in a run of pairs take every other one
                    first = pair & ~np.r_[False, pair[:-1]]
                    pos = np.arange(len(pair)) - np.maximum.accumulate(
                        np.where(first, np.arange(len(pair)), 0))
                    for q in np.flatnonzero(pair & (pos % 2 == 0)):
                        si, sj = i[q], j[q]
                        single[[si, sj]] = False
                        r0, r1 = rest[si + 1], rest[sj]
                        sp = float(max(v3[si], v3[sj]))
                        # a few reports: a teleport reached or left across a silence
                        kind = "teleport" if sj - si <= max_teleport_rows else "spoofing"
                        if kind in want:
                            out.append({
                                "mmsi": m2[r0], "kind": kind, "start_time": t2[r0],
                                "end_time": t2[r1], "n_rows": sj - si,
                                "lat": float(la2[r0]), "lon": float(lo2[r0]),
                                "max_speed_kn": sp,
                                "detail": f"{sj - si} report(s) over "
                                f"{(t2[r1] - t2[r0]) / _NS_PER_H:.1f} h displaced "
                                f"{res[si]:.0f} km off the course and speed the ship "
                                f"reported, and {res[sj]:.0f} km back (dead reckoning)"})
            if "position_jump" in want:
                for k in np.flatnonzero(single):
                    r0 = rest[k + 1]
                    out.append({"mmsi": m2[r0], "kind": "position_jump", "start_time": t2[r0],
                                "end_time": t2[r0], "n_rows": 1, "lat": float(la2[r0]),
                                "lon": float(lo2[r0]), "max_speed_kn": float(v3[k]),
                                "detail": f"one impossible step ({v3[k]:.0f} kn)"})

    # ---- identity over time ----------------------------------------------------------------
    ok_id = ~bad & (t_all != np.iinfo(np.int64).min)
    for col, kind in (("name", "name_change"), ("imo", "imo_change")):
        if col not in raw or kind not in want:
            continue
        vals = raw[col]
        has = ok_id & vals.notna().to_numpy()
        if not has.any():
            continue
        d = pd.DataFrame({"mmsi": mmsi_all[has], "t": t_all[has],
                          "v": vals[has].astype(str).str.strip().str.upper().to_numpy()})
        first = d.groupby(["mmsi", "v"], sort=False).agg(t=("t", "min"), n=("t", "size"))
        first = first[first["n"] >= min_identity_rows].reset_index().sort_values(["mmsi", "t"])
        prev_v = first.groupby("mmsi")["v"].shift(1)
        ch = first[prev_v.notna()].assign(old=prev_v[prev_v.notna()])
        for r in ch.itertuples():
            out.append({"mmsi": r.mmsi, "kind": kind, "start_time": r.t, "end_time": r.t,
                        "n_rows": r.n, "old_value": r.old, "new_value": r.v,
                        "detail": f"{col} {r.old} -> {r.v}"})
    if "imo" in raw and want & {"flag_change", "mmsi_change"}:
        imo = raw["imo"]
        has = ok_id & imo.notna().to_numpy()
        if has.any():
            d = pd.DataFrame({"imo": imo[has].astype("int64").to_numpy(), "mmsi": mmsi_all[has],
                              "t": t_all[has]})
            first = d.groupby(["imo", "mmsi"], sort=False).agg(t=("t", "min"), t_last=("t", "max"),
                                                               n=("t", "size"))
            first = first[first["n"] >= min_identity_rows].reset_index().sort_values(["imo", "t"])
            prev = first.groupby("imo")["mmsi"].shift(1)
            ch = first[prev.notna()].assign(old=prev[prev.notna()].astype("int64"))
            for r in ch.itertuples():
                kind = "flag_change" if int(r.old) // 1_000_000 != int(r.mmsi) // 1_000_000 \
                    else "mmsi_change"
                if kind in want:
                    out.append({"mmsi": int(r.old), "kind": kind, "start_time": r.t,
                                "end_time": r.t, "n_rows": r.n, "other_mmsi": int(r.mmsi),
                                "old_value": str(int(r.old)), "new_value": str(int(r.mmsi)),
                                "detail": f"IMO {r.imo} moved from MMSI {int(r.old)} to "
                                f"{int(r.mmsi)}"})
    return _frame(out)
