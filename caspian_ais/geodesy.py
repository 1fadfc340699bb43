"""Vectorised geodesy on the WGS84 sphere approximation.

Distances use the haversine formula on a sphere of radius :data:`EARTH_RADIUS_KM`
(the IUGG mean radius, 6371.0088 km). Over the distances AIS work cares about the
error against the ellipsoid is below 0.5 %, well inside AIS position noise.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["EARTH_RADIUS_KM", "KM_PER_NM", "angle_diff_deg", "bearing_deg",
           "distance_bound_km", "haversine_km", "knots_from_km_h"]

EARTH_RADIUS_KM: float = 6371.0088
#: One international nautical mile in kilometres.
KM_PER_NM: float = 1.852
#: km per degree of arc on the sphere, a little over (for :func:`distance_bound_km`)
_KM_PER_DEG_BOUND = EARTH_RADIUS_KM * np.pi / 180.0 * (1.0 + 1e-9)

ArrayLike = npt.ArrayLike


def haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Great-circle distance in km between points given in decimal degrees.

    Parameters
    ----------
    lat1, lon1, lat2, lon2 : array-like of float
        Coordinates in degrees; broadcast against each other. NaN in, NaN out.

    Returns
    -------
    numpy.ndarray
        Distances in kilometres.

    Examples
    --------
    >>> round(float(haversine_km(0, 0, 0, 1)), 2)
    111.2
    """
    p1 = np.radians(np.asarray(lat1, dtype="float64"))
    p2 = np.radians(np.asarray(lat2, dtype="float64"))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype="float64") - np.asarray(lon1, dtype="float64"))
    a = np.sin(dp * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def distance_bound_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike,
                      lon2: ArrayLike) -> np.ndarray:
    """An upper bound of :func:`haversine_km`, without trigonometry.

    The length of a path along the meridian, then along the parallel,
    ``R * (|dlat| + |dlon|)`` in radians: the great circle is never longer. Cheap enough
    to rule out most pairs of a test ``distance <= threshold`` before measuring them
    (the bound overestimates by at most a factor of about 1.42 over short distances).
    A relative margin of 1e-9 and 1e-9 km are added, far above floating-point rounding,
    so that the bound is never below the computed haversine distance.

    Examples
    --------
    >>> bool(distance_bound_km(45.0, 50.0, 45.1, 50.1) >= haversine_km(45.0, 50.0, 45.1, 50.1))
    True
    """
    bound = np.abs(np.asarray(lat2, dtype="float64") - np.asarray(lat1, dtype="float64"))
    bound += np.abs(np.asarray(lon2, dtype="float64") - np.asarray(lon1, dtype="float64"))
    bound *= _KM_PER_DEG_BOUND
    bound += 1e-9
    return bound


def knots_from_km_h(km_per_h: ArrayLike) -> np.ndarray:
    """Convert km/h to knots."""
    return np.asarray(km_per_h, dtype="float64") / KM_PER_NM


def bearing_deg(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
                ) -> np.ndarray:
    """Initial great-circle bearing from point 1 to point 2, degrees true in [0, 360).

    Examples
    --------
    >>> round(float(bearing_deg(45.0, 50.0, 46.0, 50.0)), 6)   # due north
    0.0
    """
    p1 = np.radians(np.asarray(lat1, dtype="float64"))
    p2 = np.radians(np.asarray(lat2, dtype="float64"))
    dl = np.radians(np.asarray(lon2, dtype="float64") - np.asarray(lon1, dtype="float64"))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return np.degrees(np.arctan2(y, x)) % 360.0


def angle_diff_deg(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Absolute difference of two directions, degrees in [0, 180].

    Examples
    --------
    >>> float(angle_diff_deg(350.0, 10.0))
    20.0
    """
    d = np.asarray(a, dtype="float64") - np.asarray(b, dtype="float64")
    return np.abs((d + 180.0) % 360.0 - 180.0)
