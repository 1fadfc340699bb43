"""Ports: the gazetteer, port areas, approach zones and the Volga-Caspian Ship Canal.

The bundled gazetteer (``caspian_ais/data/caspian_ports.csv``) lists the commercial ports of
the Caspian with the source of each coordinate. Users may pass their own table, for any sea.

Port areas follow Global Fishing Watch's anchorages method: a vessel enters a port within
``area_radius_km`` (3 km by default) and leaves it beyond ``area_radius_km`` +
:data:`EXIT_HYSTERESIS_KM` (4 km), the gap between the two giving hysteresis.

Approach zones are where a vessel that switches off its AIS is most likely doing so on
purpose: a disc of ``approach_radius_km`` (50 km for the Caspian sea ports, inside
terrestrial AIS range and Windward's 30 nm "close to shore" band) and, for the ports reached
through the Volga-Caspian Ship Canal (Astrakhan, Olya), a corridor
:data:`CANAL_APPROACH_HALFWIDTH_KM` either side of the canal down to its sea end, plus the
waiting area of :data:`CANAL_ROADSTEAD_RADIUS_KM` around the sea end.

Examples
--------
>>> from caspian_ais.ports import load_ports, nearest_port
>>> ports = load_ports()
>>> i, d = nearest_port([37.50], [49.47])
>>> ports.loc[i[0], "port"], round(float(d[0]), 1)
('Bandar Anzali', 2.6)
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import LineString, Polygon

from caspian_ais._compat import STRING_DTYPE
from caspian_ais.exceptions import InputError
from caspian_ais.geodesy import EARTH_RADIUS_KM, haversine_km

__all__ = [
    "PORT_COLUMNS",
    "DEFAULT_AREA_RADIUS_KM",
    "DEFAULT_APPROACH_RADIUS_KM",
    "EXIT_HYSTERESIS_KM",
    "CANAL_APPROACH_HALFWIDTH_KM",
    "CANAL_ROADSTEAD_RADIUS_KM",
    "load_ports",
    "port_index",
    "nearest_port",
    "port_areas",
    "approach_zones",
    "approach_membership",
    "in_approach",
    "volga_canal",
    "volga_canal_waypoints",
    "disc",
]

#: Columns of the table :func:`load_ports` returns (``volga_canal`` and ``note`` follow).
PORT_COLUMNS: tuple[str, ...] = (
    "port",
    "country",
    "unlocode",
    "lat",
    "lon",
    "area_radius_km",
    "approach_radius_km",
    "source",
)
#: Port entry radius, km (GFW anchorages: entry within 3 km).
DEFAULT_AREA_RADIUS_KM: float = 3.0
#: Exit is this far beyond the entry radius, km (GFW: exit beyond 4 km).
EXIT_HYSTERESIS_KM: float = 1.0
#: Approach disc radius when a user table gives none, km.
DEFAULT_APPROACH_RADIUS_KM: float = 50.0
#: Half-width of the canal corridor that belongs to the approaches of canal ports, km. It
#: holds the dredged channel and the anchorages beside it.
CANAL_APPROACH_HALFWIDTH_KM: float = 10.0
#: Radius of the waiting area around the canal's sea end (the roadstead), km.
CANAL_ROADSTEAD_RADIUS_KM: float = 20.0
_DISC_VERTICES = 72
_CANAL_NAMES = ("astrakhan", "olya")
_CANAL_LOCODES = ("RUASF", "RUOYA")


# --------------------------------------------------------------------------- gazetteer
def _read_bundled(name: str) -> pd.DataFrame:
    path = files("caspian_ais").joinpath(f"data/{name}")
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, comment="#", keep_default_na=False, na_values=[""])


@lru_cache(maxsize=1)
def _bundled_ports() -> pd.DataFrame:
    return _normalise(_read_bundled("caspian_ports.csv"), "caspian_ais/data/caspian_ports.csv")


def _normalise(t: pd.DataFrame, source: str) -> pd.DataFrame:
    """Turn a user or bundled table into the gazetteer layout, with checks."""
    t = t.rename(columns={c: str(c).strip().lower() for c in t.columns})
    if "port" not in t.columns and "name" in t.columns:
        t = t.rename(columns={"name": "port"})
    missing = [c for c in ("port", "lat", "lon") if c not in t.columns]
    if missing:
        raise InputError(
            source,
            f"port table lacks column(s) {', '.join(missing)}; "
            "expected port,lat,lon[,country,unlocode,area_radius_km,approach_radius_km]",
        )
    n = len(t)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    out["port"] = t["port"].astype(STRING_DTYPE).str.strip()
    for col in ("country", "unlocode"):
        out[col] = (
            t[col].astype(STRING_DTYPE).str.strip()
            if col in t.columns
            else pd.Series([pd.NA] * n, dtype=STRING_DTYPE)
        )
    for col in ("lat", "lon"):
        out[col] = pd.to_numeric(t[col], errors="coerce").astype("float64")
    bad = (
        out["lat"].isna()
        | out["lon"].isna()
        | ~out["lat"].between(-90, 90)
        | ~out["lon"].between(-180, 180)
    )
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            source, f"port {out.loc[first, 'port']!r} (row {first + 1}) has no valid lat/lon"
        )
    for col, default in (
        ("area_radius_km", DEFAULT_AREA_RADIUS_KM),
        ("approach_radius_km", DEFAULT_APPROACH_RADIUS_KM),
    ):
        vals = (
            pd.to_numeric(t[col], errors="coerce")
            if col in t.columns
            else pd.Series(np.nan, index=out.index)
        )
        out[col] = vals.fillna(default).astype("float64").to_numpy()
    out["source"] = (
        t["source"].astype(STRING_DTYPE)
        if "source" in t.columns
        else pd.Series([source] * n, dtype=STRING_DTYPE)
    )
    if "volga_canal" in t.columns:
        canal = t["volga_canal"].astype(str).str.strip().str.lower().isin(["true", "1", "yes"])
    else:
        canal = out["port"].str.casefold().isin(_CANAL_NAMES) | out["unlocode"].fillna(
            ""
        ).str.upper().isin(_CANAL_LOCODES)
    out["volga_canal"] = canal.to_numpy(dtype=bool)
    out["note"] = (
        t["note"].astype(STRING_DTYPE)
        if "note" in t.columns
        else pd.Series([pd.NA] * n, dtype=STRING_DTYPE)
    )
    return out


def load_ports(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load a port gazetteer.

    Parameters
    ----------
    path : str or Path, optional
        A CSV with columns ``port, lat, lon`` and optionally ``country, unlocode,
        area_radius_km, approach_radius_km, source, volga_canal``, or a GeoJSON of Point
        features with a ``port`` or ``name`` property (other properties as in the CSV).
        Default: the bundled Caspian gazetteer.

    Returns
    -------
    pandas.DataFrame
        Columns ``port, country, unlocode, lat, lon, area_radius_km, approach_radius_km,
        source, volga_canal, note``; radii in km (defaults 3 and 50 km). ``volga_canal``
        is true for ports reached through the Volga-Caspian Ship Canal (by default
        Astrakhan and Olya, matched on name or UN/LOCODE).

    Examples
    --------
    >>> from caspian_ais.ports import load_ports
    >>> p = load_ports()
    >>> p.loc[p["port"] == "Astrakhan", ["unlocode", "area_radius_km"]].to_numpy().tolist()
    [['RUASF', 6.0]]
    """
    if path is None:
        return _bundled_ports().copy()
    path = Path(path)
    if not path.exists():
        from caspian_ais.exceptions import SourceNotFoundError

        raise SourceNotFoundError(str(path), "no such port table")
    if path.suffix.lower() in (".geojson", ".json"):
        with path.open("r", encoding="utf-8") as fh:
            data = json.load(fh)
        rows = []
        for feat in data.get("features", []):
            geom = feat.get("geometry") or {}
            if geom.get("type") != "Point":
                continue
            props = dict(feat.get("properties") or {})
            lon, lat = geom["coordinates"][:2]
            props["lat"], props["lon"] = lat, lon
            rows.append(props)
        if not rows:
            raise InputError(
                str(path),
                "GeoJSON holds no Point feature; expected Point features "
                "with a 'port' or 'name' property",
            )
        return _normalise(pd.DataFrame(rows), str(path))
    return _normalise(pd.read_csv(path, comment="#"), str(path))


def _ports(ports: pd.DataFrame | None) -> pd.DataFrame:
    return _bundled_ports() if ports is None else ports


def port_index(name: str, ports: pd.DataFrame | None = None) -> int:
    """Return the row of the port called ``name`` (case-insensitive; UN/LOCODE also works).

    Parameters
    ----------
    name : str
        Port name (or its first word, e.g. ``"Alat"``) or UN/LOCODE.
    ports : pandas.DataFrame, optional
        Gazetteer; default :func:`load_ports`.

    Returns
    -------
    int
        Row position in ``ports``.

    Examples
    --------
    >>> from caspian_ais.ports import port_index
    >>> port_index("olya"), port_index("IRBAZ")
    (5, 0)
    """
    p = _ports(ports)
    key = name.strip().casefold()
    names = p["port"].str.casefold()
    for hit in (
        names == key,
        p["unlocode"].fillna("").str.casefold() == key,
        names.str.split(" ").str[0] == key,
        names.str.contains(key, regex=False),
    ):
        idx = np.flatnonzero(hit.to_numpy(dtype=bool))
        if len(idx):
            return int(idx[0])
    raise KeyError(f"no port {name!r} in the gazetteer")


# --------------------------------------------------------------------------- geometry
def disc(lat: float, lon: float, radius_km: float, n: int = _DISC_VERTICES) -> Polygon:
    """Return a geodesic disc (on the sphere) as a lon/lat polygon.

    Parameters
    ----------
    lat, lon : float
        Centre, degrees.
    radius_km : float
        Radius, km.
    n : int, default 72
        Number of vertices.

    Returns
    -------
    shapely.Polygon

    Examples
    --------
    >>> from caspian_ais.ports import disc
    >>> round(disc(45.0, 50.0, 111.2).bounds[3], 2)
    46.0
    """
    brg = np.radians(np.linspace(0.0, 360.0, n, endpoint=False))
    p1, l1 = np.radians(lat), np.radians(lon)
    dr = radius_km / EARTH_RADIUS_KM
    p2 = np.arcsin(np.sin(p1) * np.cos(dr) + np.cos(p1) * np.sin(dr) * np.cos(brg))
    l2 = l1 + np.arctan2(
        np.sin(brg) * np.sin(dr) * np.cos(p1), np.cos(dr) - np.sin(p1) * np.sin(p2)
    )
    return Polygon(np.column_stack([np.degrees(l2), np.degrees(p2)]))


@lru_cache(maxsize=1)
def volga_canal_waypoints() -> pd.DataFrame:
    """Return the Volga-Caspian Ship Canal waypoints with their sources.

    Returns
    -------
    pandas.DataFrame
        Columns ``seq, lat, lon, name, approximate, source``, ordered from Astrakhan
        (``seq`` 0) to the sea end. See ``caspian_ais/data/volga_canal.csv``.
    """
    t = _read_bundled("volga_canal.csv")
    t["approximate"] = t["approximate"].astype(str).str.lower() == "true"
    return t.sort_values("seq").reset_index(drop=True)


@lru_cache(maxsize=1)
def volga_canal() -> LineString:
    """Return the centre line of the Volga-Caspian Ship Canal, Astrakhan to the open sea.

    The line runs from Astrakhan down the Volga and its Bakhtemir branch past Olya, then
    along the dredged sea canal (turning points N3, N2, N1 of the Astrakhan port
    regulations) to its sea end at 44.76 N 47.76 E. River waypoints are approximate (to a
    kilometre or two): not for navigation.

    Returns
    -------
    shapely.LineString
        Lon/lat coordinates, first point at Astrakhan, last at the sea end.

    Examples
    --------
    >>> from caspian_ais.ports import volga_canal
    >>> line = volga_canal()
    >>> [round(c, 2) for c in line.coords[-1]]   # sea end (lon, lat)
    [47.76, 44.76]
    """
    w = volga_canal_waypoints()
    return LineString(np.column_stack([w["lon"].to_numpy(), w["lat"].to_numpy()]))


@lru_cache(maxsize=1)
def _canal_approach_corridor() -> shapely.Geometry:
    from caspian_ais.water import buffer_km

    line = volga_canal()
    lon_end, lat_end = line.coords[-1]
    geom = shapely.union(
        buffer_km(line, CANAL_APPROACH_HALFWIDTH_KM),
        disc(lat_end, lon_end, CANAL_ROADSTEAD_RADIUS_KM),
    )
    shapely.prepare(geom)
    return geom


def _frame(ports: pd.DataFrame, geoms: list[shapely.Geometry]):  # -> geopandas.GeoDataFrame
    import geopandas as gpd

    cols = [c for c in (*PORT_COLUMNS, "volga_canal") if c in ports.columns]
    return gpd.GeoDataFrame(ports[cols].reset_index(drop=True), geometry=geoms, crs="EPSG:4326")


def port_areas(ports: pd.DataFrame | None = None, *, exit: bool = False):
    """Return each port's area as a polygon (the entry disc, or the exit disc).

    Parameters
    ----------
    ports : pandas.DataFrame, optional
        Gazetteer; default :func:`load_ports`.
    exit : bool, default False
        Give the exit discs (``area_radius_km`` + :data:`EXIT_HYSTERESIS_KM`) instead.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per port (the gazetteer columns), geometry in EPSG:4326.

    Examples
    --------
    >>> from caspian_ais.ports import port_areas
    >>> port_areas().geometry.iloc[0].geom_type
    'Polygon'
    """
    p = _ports(ports)
    extra = EXIT_HYSTERESIS_KM if exit else 0.0
    geoms = [
        disc(la, lo, r + extra)
        for la, lo, r in zip(
            p["lat"].to_numpy(), p["lon"].to_numpy(), p["area_radius_km"].to_numpy(), strict=True
        )
    ]
    return _frame(p, geoms)


def approach_zones(ports: pd.DataFrame | None = None):
    """Return each port's approach zone as a polygon.

    The zone is a disc of ``approach_radius_km``; for ports with ``volga_canal`` true it
    also holds the canal corridor (:data:`CANAL_APPROACH_HALFWIDTH_KM` either side of
    :func:`volga_canal`) and the roadstead disc at the canal's sea end. The port area
    itself is part of the zone.

    Parameters
    ----------
    ports : pandas.DataFrame, optional
        Gazetteer; default :func:`load_ports`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per port, geometry in EPSG:4326.

    Examples
    --------
    >>> from caspian_ais.ports import approach_zones, volga_canal
    >>> z = approach_zones().set_index("port")
    >>> bool(z.loc["Astrakhan", "geometry"].covers(volga_canal()))
    True
    """
    p = _ports(ports)
    geoms = []
    for la, lo, r, canal in zip(
        p["lat"].to_numpy(),
        p["lon"].to_numpy(),
        p["approach_radius_km"].to_numpy(),
        p["volga_canal"].to_numpy(),
        strict=True,
    ):
        g = disc(la, lo, r)
        if canal:
            g = shapely.union(g, _canal_approach_corridor())
        geoms.append(g)
    return _frame(p, geoms)


# --------------------------------------------------------------------------- queries
_BLOCK = 1_000_000


def nearest_port(
    lat: npt.ArrayLike, lon: npt.ArrayLike, ports: pd.DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Find the nearest port of each point (great-circle distance).

    Parameters
    ----------
    lat, lon : array-like of float
        Points, decimal degrees.
    ports : pandas.DataFrame, optional
        Gazetteer; default :func:`load_ports`.

    Returns
    -------
    index : numpy.ndarray of int64
        Row position of the nearest port in ``ports`` (-1 where the point is NaN).
    distance_km : numpy.ndarray of float64
        Distance to it, km (NaN where the point is NaN).

    Examples
    --------
    >>> from caspian_ais.ports import nearest_port
    >>> idx, d = nearest_port([40.0, 46.3], [52.9, 48.0])
    >>> idx.tolist()
    [11, 4]
    """
    p = _ports(ports)
    la = np.atleast_1d(np.asarray(lat, dtype="float64")).ravel()
    lo = np.atleast_1d(np.asarray(lon, dtype="float64")).ravel()
    plat, plon = p["lat"].to_numpy(), p["lon"].to_numpy()
    idx = np.full(la.shape, -1, dtype=np.int64)
    dist = np.full(la.shape, np.nan)
    if len(p) == 0:
        return idx, dist
    for s in range(0, len(la), max(1, _BLOCK // max(1, len(p)))):
        e = min(len(la), s + max(1, _BLOCK // max(1, len(p))))
        d = haversine_km(la[s:e, None], lo[s:e, None], plat[None, :], plon[None, :])
        ok = ~np.isnan(la[s:e]) & ~np.isnan(lo[s:e])
        if ok.any():
            j = np.argmin(np.where(np.isnan(d), np.inf, d), axis=1)
            idx[s:e] = np.where(ok, j, -1)
            dist[s:e] = np.where(ok, d[np.arange(e - s), j], np.nan)
    return idx, dist


def approach_membership(
    lat: npt.ArrayLike, lon: npt.ArrayLike, ports: pd.DataFrame | None = None
) -> np.ndarray:
    """Which approach zones contain each point (all of them, not only the first).

    Parameters
    ----------
    lat, lon : array-like of float
        Points, decimal degrees.
    ports : pandas.DataFrame, optional
        Gazetteer; default :func:`load_ports`.

    Returns
    -------
    numpy.ndarray of bool, shape (n_points, n_ports)
        ``[i, j]`` is true when port ``j``'s approach zone (disc, or canal corridor for
        ``volga_canal`` ports) contains point ``i``.

    Examples
    --------
    >>> from caspian_ais.ports import approach_membership, port_index
    >>> m = approach_membership([45.0], [47.7])        # on the sea canal
    >>> bool(m[0, port_index("Astrakhan")]), bool(m[0, port_index("Olya")])
    (True, True)
    """
    m, _ = _membership(lat, lon, _ports(ports))
    return m


def _membership(
    lat: npt.ArrayLike, lon: npt.ArrayLike, p: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """(disc-or-corridor membership, distance to each port or inf) for the points."""
    la = np.atleast_1d(np.asarray(lat, dtype="float64")).ravel()
    lo = np.atleast_1d(np.asarray(lon, dtype="float64")).ravel()
    n, m = len(la), len(p)
    member = np.zeros((n, m), dtype=bool)
    dist = np.full((n, m), np.inf)
    canal_ports = (
        p["volga_canal"].to_numpy(dtype=bool) if "volga_canal" in p.columns else np.zeros(m, bool)
    )
    in_corridor = None
    if canal_ports.any():
        in_corridor = shapely.contains_xy(_canal_approach_corridor(), lo, la)
    for j, (plat, plon, r) in enumerate(
        zip(
            p["lat"].to_numpy(),
            p["lon"].to_numpy(),
            p["approach_radius_km"].to_numpy(),
            strict=True,
        )
    ):
        dlat = r / 110.0 + 0.01
        dlon = dlat / max(np.cos(np.radians(min(abs(plat) + dlat, 89.0))), 0.01)
        cand = np.flatnonzero((np.abs(la - plat) <= dlat) & (np.abs(lo - plon) <= dlon))
        if len(cand):
            d = haversine_km(la[cand], lo[cand], plat, plon)
            inside = d <= r
            member[cand[inside], j] = True
            dist[cand[inside], j] = d[inside]
        if canal_ports[j] and in_corridor is not None:
            member[:, j] |= in_corridor
    return member, dist


def in_approach(
    lat: npt.ArrayLike, lon: npt.ArrayLike, ports: pd.DataFrame | None = None
) -> np.ndarray:
    """Return the port whose approach zone contains each point (-1 if none).

    Where zones overlap, a port whose *disc* contains the point wins over a port that
    contains it only through the canal corridor, and among discs the nearest port wins.
    Among corridor-only memberships the first canal port in table order wins (Astrakhan
    before Olya in the bundled gazetteer). Use :func:`approach_membership` to see all.

    Parameters
    ----------
    lat, lon : array-like of float
        Points, decimal degrees.
    ports : pandas.DataFrame, optional
        Gazetteer; default :func:`load_ports`.

    Returns
    -------
    numpy.ndarray of int64
        Row position in ``ports`` or -1.

    Examples
    --------
    >>> from caspian_ais.ports import in_approach, load_ports
    >>> p = load_ports()
    >>> idx = in_approach([37.7, 42.0, 44.8], [49.5, 50.0, 47.75])
    >>> [p["port"][i] if i >= 0 else None for i in idx]
    ['Bandar Anzali', None, 'Astrakhan']
    """
    p = _ports(ports)
    member, dist = _membership(lat, lon, p)
    out = np.full(member.shape[0], -1, dtype=np.int64)
    if member.shape[1] == 0:
        return out
    has_disc = np.isfinite(dist).any(axis=1)
    out[has_disc] = np.argmin(dist[has_disc], axis=1)
    corridor_only = ~has_disc & member.any(axis=1)
    out[corridor_only] = np.argmax(member[corridor_only], axis=1)
    return out
