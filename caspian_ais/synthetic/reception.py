"""Reception model: terrestrial stations with outages, satellite passes, per-slot success.

Transmitters report at the ITU-R M.1371 rates (:func:`report_interval_s`). A dump thinned to
one report per ``thin_s`` seconds keeps, in each slot, the first message that was received;
a slot therefore holds ``n_tx = slot / ITU interval`` transmissions, and is received when
at least one of them was:

``p_slot = 1 - (1 - p_terr)^n_tx * (1 - p_sat)^n_tx``

* Terrestrial: each station (at a port or a coastal town) hears a message sent at distance
  ``d`` with probability ``p0 * (1 - (d / R)^4)`` inside its range ``R`` (40-60 km for
  Class A, times :data:`CLASS_B_RANGE_FACTOR` for the weaker Class B), and nothing while
  it is in an outage. Outages arrive as a Poisson process and last days.
* Satellite: passes arrive as a Poisson process over the whole (small) Caspian and last
  ~10 minutes; during one, a message is picked up with a small probability
  (collisions and Doppler make satellite AIS lossy, Class B more so).

Coverage is looked up on a 0.02-degree raster holding, per cell, the nearest
:data:`MAX_STATIONS_PER_CELL` stations and their distance as a fraction of the range; the
station state is looked up in a table of 10-minute bins. Both make the model cost a few
array operations per report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from caspian_ais.geodesy import haversine_km

__all__ = [
    "COASTAL_STATIONS",
    "CLASS_B_RANGE_FACTOR",
    "MAX_STATIONS_PER_CELL",
    "ReceptionModel",
    "make_stations",
    "make_outages",
    "make_satellite_passes",
    "report_interval_s",
]

#: Coastal AIS stations besides the ports (name, lat, lon): coastal towns and the Neft
#: Dashlari (Oil Rocks) platform town. Their positions are the towns' (OpenStreetMap); the
#: real stations' positions are not public.
COASTAL_STATIONS: tuple[tuple[str, float, float], ...] = (
    ("Lagan", 45.393, 47.371),
    ("Izberbash", 42.565, 47.871),
    ("Derbent", 42.058, 48.290),
    ("Nabran", 41.800, 48.660),
    ("Sumgait", 40.590, 49.668),
    ("Neft Dashlari", 40.226, 50.845),
    ("Lankaran", 38.754, 48.851),
    ("Ramsar", 36.920, 50.667),
    ("Babolsar", 36.703, 52.658),
    ("Bandar Torkaman", 36.900, 54.070),
    ("Hazar", 39.430, 53.100),
    ("Garabogaz", 41.550, 52.570),
    ("Fort-Shevchenko", 44.510, 50.260),
    ("Ikryanoye", 46.096, 47.732),
)
#: Class B transmits at 2 W against Class A's 12.5 W: its range is this fraction of Class A's.
CLASS_B_RANGE_FACTOR: float = 0.7
#: Stations kept per raster cell (overlaps of more than four stations do not occur here).
MAX_STATIONS_PER_CELL: int = 4
_RASTER_DEG = 0.02
_BIN_S = 600
_BBOX = (36.3, 46.8, 47.4, 55.0)  # lat0, lon0, lat1, lon1


def report_interval_s(
    ais_class: str, moving: np.ndarray, sog_kn: np.ndarray | None = None
) -> np.ndarray:
    """ITU-R M.1371 reporting interval, s.

    Class A: 10 s under way at 0-14 kn, 6 s at 14-23 kn, 2 s above 23 kn, 180 s at anchor or
    moored. Class B ("SO"): 30 s above 2 kn, 180 s below.

    Parameters
    ----------
    ais_class : {"A", "B"}
    moving : numpy.ndarray of bool
        Under way (not at anchor, moored or stopped).
    sog_kn : numpy.ndarray of float, optional
        Speed, knots (only the Class A bands above 14 kn need it).

    Returns
    -------
    numpy.ndarray of int64
    """
    moving = np.asarray(moving, dtype=bool)
    if ais_class == "B":
        return np.where(moving, 30, 180).astype(np.int64)
    out = np.where(moving, 10, 180).astype(np.int64)
    if sog_kn is not None:
        s = np.asarray(sog_kn, dtype=float)
        out = np.where(moving & (s > 14), 6, out)
        out = np.where(moving & (s > 23), 2, out)
    return out


def make_stations(
    ports: pd.DataFrame, rng: np.random.Generator, range_km: tuple[float, float] = (40.0, 60.0)
) -> pd.DataFrame:
    """Terrestrial AIS stations: one at each port and at each of :data:`COASTAL_STATIONS`.

    Parameters
    ----------
    ports : pandas.DataFrame
        Gazetteer.
    rng : numpy.random.Generator
    range_km : (float, float), default (40, 60)
        Range of the Class A reception ranges, km (uniform draw per station).

    Returns
    -------
    pandas.DataFrame
        ``station_id, name, lat, lon, range_km``.
    """
    names = [f"{p} port" for p in ports["port"]] + [c[0] for c in COASTAL_STATIONS]
    lat = np.concatenate([ports["lat"].to_numpy(), [c[1] for c in COASTAL_STATIONS]])
    lon = np.concatenate([ports["lon"].to_numpy(), [c[2] for c in COASTAL_STATIONS]])
    n = len(names)
    return pd.DataFrame(
        {
            "station_id": [f"S{i:02d}" for i in range(n)],
            "name": names,
            "lat": lat,
            "lon": lon,
            "range_km": np.round(rng.uniform(range_km[0], range_km[1], n), 1),
        }
    )


def make_outages(
    stations: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    rng: np.random.Generator,
    *,
    rate_per_day: float = 1 / 45,
    median_h: float = 36.0,
    max_h: float = 240.0,
) -> pd.DataFrame:
    """Station outages: Poisson arrivals, log-normal durations (multi-day on average).

    Parameters
    ----------
    stations : pandas.DataFrame
        From :func:`make_stations`.
    start, end : pandas.Timestamp
        Scenario period (UTC).
    rng : numpy.random.Generator
    rate_per_day : float, default 1/45
        Outages per station per day.
    median_h : float, default 36
        Median outage length, hours (log-normal, sigma 0.8).
    max_h : float, default 240
        Longest outage, hours.

    Returns
    -------
    pandas.DataFrame
        ``station_id, name, lat, lon, range_km, start_time, end_time``.
    """
    rows = []
    span_s = (end - start).total_seconds()
    lead_s = 10 * 86400.0  # outages that began before the scenario
    for st in stations.itertuples(index=False):
        t = -lead_s
        while True:
            t += rng.exponential(86400.0 / rate_per_day)
            if t >= span_s:
                break
            dur_h = float(np.clip(rng.lognormal(np.log(median_h), 0.8), 2.0, max_h))
            t1 = t + dur_h * 3600.0
            if t1 > 0:
                rows.append(
                    (
                        st.station_id,
                        st.name,
                        st.lat,
                        st.lon,
                        st.range_km,
                        start + pd.Timedelta(seconds=round(t)),
                        start + pd.Timedelta(seconds=round(t1)),
                    )
                )
    cols = ["station_id", "name", "lat", "lon", "range_km", "start_time", "end_time"]
    out = pd.DataFrame(rows, columns=cols)
    for c in ("start_time", "end_time"):
        out[c] = pd.to_datetime(out[c], utc=True)
    return out.sort_values(["start_time", "station_id"]).reset_index(drop=True)


def make_satellite_passes(
    start: pd.Timestamp,
    end: pd.Timestamp,
    rng: np.random.Generator,
    *,
    passes_per_day: float = 6.0,
    duration_min: tuple[float, float] = (6.0, 14.0),
) -> pd.DataFrame:
    """Satellite passes over the Caspian: Poisson arrivals, 6-14 minute windows.

    Parameters
    ----------
    start, end : pandas.Timestamp
        Scenario period.
    rng : numpy.random.Generator
    passes_per_day : float, default 6
        Mean passes per day.
    duration_min : (float, float), default (6, 14)
        Range of window lengths, minutes.

    Returns
    -------
    pandas.DataFrame
        ``pass_id, start_time, end_time``.
    """
    span_s = (end - start).total_seconds()
    n = int(rng.poisson(passes_per_day * span_s / 86400.0))
    t0 = np.sort(rng.uniform(0.0, span_s, n))
    dur = rng.uniform(duration_min[0], duration_min[1], n) * 60.0
    t1 = np.minimum(t0 + dur, np.r_[t0[1:], np.inf])  # windows do not overlap
    return pd.DataFrame(
        {
            "pass_id": np.arange(n),
            "start_time": start + pd.to_timedelta(np.round(t0), unit="s"),
            "end_time": start + pd.to_timedelta(np.round(t1), unit="s"),
        }
    )


def _epoch_s(times: pd.Series) -> np.ndarray:
    """Unix seconds of a tz-aware datetime Series, whatever its resolution."""
    return ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


@dataclass
class ReceptionModel:
    """Vectorised reception lookups for one scenario (picklable, a few MB).

    Build it with :meth:`build`; call :meth:`slot_probability` per batch of reports.
    """

    lat0: float
    lon0: float
    res_deg: float
    cell_station: np.ndarray  # (ny, nx, K) int16, -1 = none
    cell_frac: np.ndarray  # (ny, nx, K) float32, distance / range
    up: np.ndarray  # (n_stations, n_bins) bool
    t_origin_s: int
    pass_start_s: np.ndarray
    pass_end_s: np.ndarray
    terr_p_msg: tuple[float, float]  # (Class A, Class B) at the station
    sat_p_msg: tuple[float, float]

    @classmethod
    def build(
        cls,
        stations: pd.DataFrame,
        outages: pd.DataFrame,
        passes: pd.DataFrame,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        terr_p_msg: tuple[float, float] = (0.9, 0.8),
        sat_p_msg: tuple[float, float] = (0.08, 0.03),
    ) -> ReceptionModel:
        """Rasterise station coverage and tabulate station state.

        Parameters
        ----------
        stations, outages, passes : pandas.DataFrame
            From :func:`make_stations`, :func:`make_outages`, :func:`make_satellite_passes`.
        start, end : pandas.Timestamp
            Scenario period.
        terr_p_msg : (float, float), default (0.9, 0.8)
            Probability that a station hears a Class A / Class B message sent next to it.
        sat_p_msg : (float, float), default (0.08, 0.03)
            Probability that a passing satellite picks up a Class A / Class B message.
        """
        lat0, lon0, lat1, lon1 = _BBOX
        ny = int(np.ceil((lat1 - lat0) / _RASTER_DEG))
        nx = int(np.ceil((lon1 - lon0) / _RASTER_DEG))
        clat = lat0 + (np.arange(ny) + 0.5) * _RASTER_DEG
        clon = lon0 + (np.arange(nx) + 0.5) * _RASTER_DEG
        glat, glon = np.meshgrid(clat, clon, indexing="ij")
        n_st = len(stations)
        frac = np.full((ny, nx, n_st), np.inf, dtype=np.float32)
        for k, st in enumerate(stations.itertuples(index=False)):
            d = haversine_km(glat, glon, st.lat, st.lon)
            frac[:, :, k] = (d / st.range_km).astype(np.float32)
        order = np.argsort(frac, axis=2)[:, :, :MAX_STATIONS_PER_CELL]
        fk = np.take_along_axis(frac, order, axis=2)
        # Class B reaches CLASS_B_RANGE_FACTOR of the range: keep stations up to frac 1
        cell_station = np.where(fk < 1.0, order, -1).astype(np.int16)
        cell_frac = np.where(fk < 1.0, fk, np.inf).astype(np.float32)
        t_origin = int(start.value // 10**9)
        n_bins = int(np.ceil((end - start).total_seconds() / _BIN_S)) + 2
        up = np.ones((n_st, n_bins), dtype=bool)
        sid = {s: i for i, s in enumerate(stations["station_id"])}
        for o in outages.itertuples(index=False):
            a = max(0, int((o.start_time.value // 10**9 - t_origin) // _BIN_S))
            b = min(n_bins, int(np.ceil((o.end_time.value // 10**9 - t_origin) / _BIN_S)))
            if b > a:
                up[sid[o.station_id], a:b] = False
        return cls(
            lat0,
            lon0,
            _RASTER_DEG,
            cell_station,
            cell_frac,
            up,
            t_origin,
            _epoch_s(passes["start_time"]),
            _epoch_s(passes["end_time"]),
            (float(terr_p_msg[0]), float(terr_p_msg[1])),
            (float(sat_p_msg[0]), float(sat_p_msg[1])),
        )

    def _cells(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ny, nx, _ = self.cell_station.shape
        iy = np.clip(((lat - self.lat0) / self.res_deg).astype(np.int64), 0, ny - 1)
        ix = np.clip(((lon - self.lon0) / self.res_deg).astype(np.int64), 0, nx - 1)
        return iy, ix

    def slot_probability(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        t_s: np.ndarray,
        n_tx: np.ndarray,
        ais_class: str,
        slot_s: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probability that a slot is received, and why it may not be.

        Parameters
        ----------
        lat, lon : numpy.ndarray
            True transmitter positions, degrees.
        t_s : numpy.ndarray of int64
            Report times (the end of each slot), Unix seconds.
        n_tx : numpy.ndarray of int
            Transmissions in the slot.
        ais_class : {"A", "B"}
        slot_s : numpy.ndarray of int, optional
            Slot lengths, s. A satellite pass counts for the transmissions of the slot that
            fall inside it (default: a pass counts only if it covers the report time).

        Returns
        -------
        p : numpy.ndarray of float
            Probability that at least one transmission of the slot was received.
        in_range : numpy.ndarray of bool
            Some station's nominal range covers the position.
        outage : numpy.ndarray of bool
            Covered only by stations that are in an outage.
        """
        iy, ix = self._cells(lat, lon)
        st = self.cell_station[iy, ix]  # (n, K)
        fr = self.cell_frac[iy, ix]  # (n, K)
        ci = 0 if ais_class == "A" else 1
        if ci == 1:
            fr = fr / CLASS_B_RANGE_FACTOR
        valid = (st >= 0) & (fr < 1.0)
        b = np.clip((t_s - self.t_origin_s) // _BIN_S, 0, self.up.shape[1] - 1)
        up = self.up[np.where(st >= 0, st, 0), b[:, None]] & valid
        p_msg = np.where(up, self.terr_p_msg[ci] * (1.0 - np.minimum(fr, 1.0) ** 4), 0.0)
        miss_terr = np.prod(1.0 - p_msg, axis=1) ** n_tx
        # the last pass that began before the report; the part of the slot it covers
        k = np.searchsorted(self.pass_start_s, t_s, side="right") - 1
        kk = np.maximum(k, 0)
        slot = np.zeros_like(t_s) if slot_s is None else np.asarray(slot_s)
        lo = np.maximum(t_s - slot, self.pass_start_s[kk]) if len(self.pass_start_s) else t_s
        hi = np.minimum(t_s, self.pass_end_s[kk]) if len(self.pass_end_s) else t_s
        if slot_s is None:
            in_pass = (k >= 0) & (t_s < self.pass_end_s[kk]) if len(self.pass_end_s) else k >= 0
            n_sat = np.where(in_pass, n_tx, 0)
        else:
            covered = np.where(k >= 0, np.maximum(hi - lo, 0), 0)
            n_sat = np.minimum(np.ceil(covered * n_tx / np.maximum(slot, 1)), n_tx)
        miss_sat = (1.0 - self.sat_p_msg[ci]) ** n_sat
        in_range = valid.any(axis=1)
        outage = in_range & ~up.any(axis=1)
        return 1.0 - miss_terr * miss_sat, in_range, outage
