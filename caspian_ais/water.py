"""Where the water is: the Caspian Sea polygon and the Volga-Caspian Ship Canal.

The sea is one polygon from Natural Earth 1:10m (public domain): the space between the
country polygons, with its islands as holes (``caspian_ais/data/caspian_sea_ne10m.geojson``).
Land masks published on PyPI (global-land-mask, roaring-landmask) treat the whole Caspian as
land, so they cannot be used here.

Astrakhan and Olya lie up the Volga, off the polygon. The ship canal that reaches them
(:func:`caspian_ais.ports.volga_canal`) counts as water within
:data:`CANAL_HALFWIDTH_KM` of its centre line when ``include_canal`` is true.

Buffers are taken in kilometres on an azimuthal equidistant projection centred on the
geometry (:func:`buffer_km`), accurate to well under 1 % across the Caspian.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry

__all__ = [
    "CANAL_HALFWIDTH_KM",
    "caspian_water",
    "canal_corridor",
    "navigable_water",
    "on_water",
    "buffer_km",
]

#: Half-width of the Volga canal corridor that counts as water, km. The canal itself is
#: 100-120 m wide, the river 0.3-1 km; the waypoints of :func:`caspian_ais.ports.volga_canal`
#: are approximate to a kilometre or two, hence the generous corridor.
CANAL_HALFWIDTH_KM: float = 1.5


@lru_cache(maxsize=1)
def caspian_water() -> Polygon:
    """Return the Caspian Sea water polygon (lon/lat, EPSG:4326), cached.

    Returns
    -------
    shapely.Polygon
        Natural Earth 1:10m: the water between the country polygons, islands as holes.

    Examples
    --------
    >>> from caspian_ais.water import caspian_water
    >>> caspian_water().contains(__import__("shapely").Point(50.0, 42.0))   # mid-Caspian
    True
    """
    path = files("caspian_ais").joinpath("data/caspian_sea_ne10m.geojson")
    with path.open("r", encoding="utf-8") as fh:
        data = json.load(fh)
    geoms = [shape(f["geometry"]) for f in data["features"]]
    geom = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
    if geom.geom_type == "MultiPolygon":  # keep the sea, drop slivers
        geom = max(geom.geoms, key=lambda g: g.area)
    shapely.prepare(geom)
    return geom


def buffer_km(geom: BaseGeometry, distance_km: float, *, quad_segs: int = 8) -> BaseGeometry:
    """Buffer a lon/lat geometry by a distance in kilometres.

    The geometry is projected to an azimuthal equidistant projection centred on its
    bounding box, buffered in metres and projected back.

    Parameters
    ----------
    geom : shapely geometry
        Geometry in lon/lat degrees (EPSG:4326).
    distance_km : float
        Buffer distance in km; negative values erode polygons.
    quad_segs : int, default 8
        Segments per quarter circle of round joins.

    Returns
    -------
    shapely geometry
        The buffered geometry in lon/lat degrees.

    Examples
    --------
    >>> import shapely
    >>> from caspian_ais.water import buffer_km
    >>> disc = buffer_km(shapely.Point(50.0, 42.0), 10.0)
    >>> round(disc.bounds[3] - 42.0, 3)   # 10 km north of 42N is 0.09 degrees
    0.09
    """
    from pyproj import CRS, Transformer

    minx, miny, maxx, maxy = geom.bounds
    lon0, lat0 = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    aeqd = CRS.from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
    fwd = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
    inv = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)

    def _fwd(xy: np.ndarray) -> np.ndarray:
        x, y = fwd.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    def _inv(xy: np.ndarray) -> np.ndarray:
        x, y = inv.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    projected = shapely.transform(geom, _fwd)
    buffered = projected.buffer(distance_km * 1000.0, quad_segs=quad_segs)
    return shapely.transform(buffered, _inv)


@lru_cache(maxsize=8)
def canal_corridor(halfwidth_km: float = CANAL_HALFWIDTH_KM) -> Polygon:
    """Return the Volga-Caspian Ship Canal corridor as a polygon, cached.

    Parameters
    ----------
    halfwidth_km : float, default :data:`CANAL_HALFWIDTH_KM`
        Distance from the canal's centre line, km.

    Returns
    -------
    shapely.Polygon
        The corridor in lon/lat degrees.

    Examples
    --------
    >>> from caspian_ais.water import canal_corridor
    >>> canal_corridor().contains(__import__("shapely").Point(47.5634, 45.7947))   # Olya
    True
    """
    from caspian_ais.ports import volga_canal

    geom = buffer_km(volga_canal(), halfwidth_km)
    shapely.prepare(geom)
    return geom


@lru_cache(maxsize=16)
def navigable_water(tolerance_km: float = 0.0, include_canal: bool = True) -> BaseGeometry:
    """Return the water polygon grown by ``tolerance_km``, with the canal corridor, cached.

    Parameters
    ----------
    tolerance_km : float, default 0
        Grow the sea polygon by this many km (negative values shrink it).
    include_canal : bool, default True
        Add :func:`canal_corridor`.

    Returns
    -------
    shapely geometry
        A prepared (Multi)Polygon in lon/lat degrees.
    """
    geom: BaseGeometry = caspian_water()
    if tolerance_km:
        geom = buffer_km(geom, tolerance_km)
    if include_canal:
        geom = shapely.union(geom, canal_corridor())
    shapely.prepare(geom)
    return geom


def on_water(
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    *,
    tolerance_km: float = 0.0,
    include_canal: bool = True,
) -> np.ndarray:
    """Test whether points lie on the Caspian (or in the Volga canal corridor).

    Parameters
    ----------
    lat, lon : array-like of float
        Coordinates in decimal degrees; broadcast against each other. NaN gives False.
    tolerance_km : float, default 0
        Points up to this many km from the water polygon also count as on water
        (Natural Earth's 1:10m shore is accurate to about a kilometre).
    include_canal : bool, default True
        Count the Volga-Caspian Ship Canal corridor (:func:`canal_corridor`) as water.

    Returns
    -------
    numpy.ndarray of bool
        True where the point is on water.

    Examples
    --------
    >>> from caspian_ais.water import on_water
    >>> on_water([42.0, 41.0, 45.7947], [50.0, 45.0, 47.5634]).tolist()   # sea, Georgia, Olya
    [True, False, True]
    """
    lat_a, lon_a = np.broadcast_arrays(
        np.asarray(lat, dtype="float64"), np.asarray(lon, dtype="float64")
    )
    geom = navigable_water(float(tolerance_km), bool(include_canal))
    return np.asarray(shapely.contains_xy(geom, lon_a, lat_a), dtype=bool)
