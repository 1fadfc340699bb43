"""A small, deterministic Caspian scenario for the report tests.

Eight vessels shuttle between Astrakhan (through the Volga canal) and Bandar Anzali or
Bandar Amirabad from September to November 2022, reporting every 20 minutes at sea and
hourly in port. The Russian- and Iranian-flagged ones switch AIS off 45 km before the
Iranian ports and back on 45 km after leaving them (probable dark port calls); one
Kazakh vessel has a mid-sea receiver outage. The port calls (visible and dark) are the
ground truth of the generator, so the tests do not depend on the detectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from caspian_ais.gaps import detect_gaps
from caspian_ais.geodesy import haversine_km
from caspian_ais.schema import to_canonical

CANAL = [
    (46.3498, 48.0326),
    (46.28, 47.99),
    (46.20, 47.90),
    (46.0959, 47.7318),
    (45.96, 47.62),
    (45.7947, 47.5634),
    (45.62, 47.60),
    (45.40, 47.66),
    (45.09, 47.6867),
    (44.925, 47.7417),
    (44.7633, 47.76),
]
TO_ANZALI = [
    (43.5, 48.6),
    (42.0, 49.6),
    (40.6, 50.75),
    (39.6, 50.5),
    (38.5, 49.8),
    (37.7, 49.55),
    (37.4769, 49.4718),
]
TO_AMIRABAD = [
    (43.5, 48.6),
    (42.0, 49.6),
    (40.6, 50.75),
    (39.0, 51.8),
    (37.5, 53.0),
    (36.85, 53.365),
]
PORTS = {
    "Astrakhan": (46.3498, 48.0326),
    "Bandar Anzali": (37.4769, 49.4718),
    "Bandar Amirabad": (36.85, 53.365),
}

VESSELS = [
    # mmsi, name, imo, ship_type, destination, goes dark
    (273310001, "VOLGA-DON 5071", 8951798, 70, "Bandar Anzali", True),
    (273310002, "KAPITAN RADCHENKO", 9148867, 70, "Bandar Amirabad", True),
    (273310003, "SORMOVSKIY 3054", 8925141, 79, "Bandar Anzali", False),
    (422010001, "IRAN SHAHR-E-KORD", 9346551, 70, "Bandar Amirabad", True),
    (422010002, "PARSA", 9210232, 70, "Bandar Anzali", True),
    (436000101, "AKTAU STAR", 9301001, 80, "Bandar Anzali", False),
    (423000201, "BAKU TRADER", 9302002, 70, "Bandar Amirabad", False),
    (434000301, "TURKMEN GULF", 9303003, 70, "Bandar Anzali", False),
]
START = pd.Timestamp("2022-09-01T00:00:00Z")
END = pd.Timestamp("2022-11-30T00:00:00Z")
SPEED_KMH = 10 * 1.852
DARK_RADIUS_KM = 45.0


@dataclass
class Scenario:
    tracks: pd.DataFrame
    gaps: pd.DataFrame
    port_calls: pd.DataFrame
    dark_port_calls: pd.DataFrame
    ports: pd.DataFrame


def _leg(
    points: list[tuple[float, float]], t0: pd.Timestamp, step_min: float
) -> tuple[np.ndarray, ...]:
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    seg = haversine_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    cum = np.r_[0.0, np.cumsum(seg)]
    hours = cum[-1] / SPEED_KMH
    t = np.arange(0.0, hours, step_min / 60.0)
    d = t * SPEED_KMH
    return (
        (t0 + pd.to_timedelta(t, unit="h")),
        np.interp(d, cum, lat),
        np.interp(d, cum, lon),
        d,
        cum[-1],
    )


def _build(seed: int = 7) -> Scenario:
    rng = np.random.default_rng(seed)
    rows: list[pd.DataFrame] = []
    calls: list[dict[str, object]] = []
    for k, (mmsi, _name, _imo, _stype, dest, dark) in enumerate(VESSELS):
        t = START + pd.Timedelta(hours=int(rng.integers(0, 72)) + 7 * k)
        route = CANAL + (TO_ANZALI if dest == "Bandar Anzali" else TO_AMIRABAD)
        outbound = True
        port = "Astrakhan"
        while t < END:
            # stay in port
            stay = pd.Timedelta(hours=float(rng.uniform(20, 50)))
            lat0, lon0 = PORTS[port]
            times = t + pd.to_timedelta(np.arange(0, stay / pd.Timedelta(hours=1), 1.0), unit="h")
            is_dark_port = dark and port != "Astrakhan"
            if not is_dark_port:
                rows.append(
                    pd.DataFrame(
                        {
                            "timestamp": times,
                            "lat": lat0 + rng.normal(0, 0.001, len(times)),
                            "lon": lon0 + rng.normal(0, 0.001, len(times)),
                            "sog_kn": 0.1,
                            "nav_status": 5,
                        }
                    ).assign(mmsi=mmsi)
                )
            calls.append(
                {
                    "mmsi": mmsi,
                    "port": port,
                    "start_time": t,
                    "end_time": t + stay,
                    "dark": is_dark_port,
                }
            )
            t = t + stay
            pts = route if outbound else route[::-1]
            times, lat, lon, d, total = _leg(pts, t, 20.0)
            keep = np.ones(len(times), dtype=bool)
            if dark and outbound:  # heading for Iran: off within 45 km of arrival
                keep &= (total - d) > DARK_RADIUS_KM
            if dark and not outbound:  # leaving Iran: on again 45 km out
                keep &= d > DARK_RADIUS_KM
            if mmsi == 436000101 and outbound and times[0] < pd.Timestamp("2022-10-15T00:00:00Z"):
                mid = len(times) // 2  # receiver outage mid-sea, about 8 h
                keep[mid : mid + 24] = False
            rows.append(
                pd.DataFrame(
                    {
                        "timestamp": times[keep],
                        "lat": lat[keep],
                        "lon": lon[keep],
                        "sog_kn": 10.0,
                        "nav_status": 0,
                    }
                ).assign(mmsi=mmsi)
            )
            t = times[-1] + pd.Timedelta(minutes=20)
            port = dest if outbound else "Astrakhan"
            outbound = not outbound
    raw = pd.concat(rows, ignore_index=True)
    raw = raw[raw["timestamp"] < END]
    meta = pd.DataFrame([v[:4] for v in VESSELS], columns=["mmsi", "name", "imo", "ship_type"])
    raw = raw.merge(meta, on="mmsi", how="left")
    raw["cog_deg"] = np.nan
    raw["heading_deg"] = np.nan
    tracks = to_canonical(raw)
    tracks = tracks.sort_values(["mmsi", "timestamp"], kind="stable").reset_index(drop=True)
    c = pd.DataFrame(calls)
    c = c[c["start_time"] < END]
    port_calls = c[~c["dark"]].drop(columns="dark").reset_index(drop=True)
    dark_port_calls = c[c["dark"]].drop(columns="dark").reset_index(drop=True)
    gaps = detect_gaps(tracks, "6h", enrich=False)
    near_iran = np.zeros(len(gaps), dtype=bool)
    for p in ("Bandar Anzali", "Bandar Amirabad"):
        la, lo = PORTS[p]
        near_iran |= haversine_km(gaps["start_lat"], gaps["start_lon"], la, lo) < 60
    gaps["suspicious"] = near_iran
    gaps["reason"] = np.where(near_iran, "dark_unscored", "poor_coverage")
    ports = pd.DataFrame(
        {
            "port": list(PORTS),
            "country": ["RU", "IR", "IR"],
            "unlocode": ["RUASF", "IRBAZ", "IRBAM"],
            "lat": [v[0] for v in PORTS.values()],
            "lon": [v[1] for v in PORTS.values()],
        }
    )
    return Scenario(tracks, gaps, port_calls, dark_port_calls, ports)


_CACHE: dict[int, Scenario] = {}


def build_scenario(seed: int = 7) -> Scenario:
    """The scenario (cached: treat its frames as read-only)."""
    if seed not in _CACHE:
        _CACHE[seed] = _build(seed)
    return _CACHE[seed]


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return build_scenario()
